"""Sequences adapter on small generated logs: loaders, leave-one-out, bad input, learners, metrics, the
summary's parameterizations, TD3's meta-learning (RaT-BPTT gradient checked against full unrolling and finite
differences) and a whole run through the core."""

from __future__ import annotations

import json
import logging
import math
import re
import zipfile
from pathlib import Path

import pytest
import torch

from mmdistill.errors import ConfigError, DataError
from mmdistill.modalities.sequences import MODALITY
from mmdistill.modalities.sequences.data import SequenceLoadOptions, build_sequences, generated_log, load_sequences
from mmdistill.modalities.sequences.evaluate import check_budget, most_active_users, one_hot_sequences
from mmdistill.modalities.sequences.matching import AdamState, MetaMatcher, adam_update
from mmdistill.modalities.sequences.nets import GRU4Rec, SASRec
from mmdistill.modalities.sequences.summary import decode_summary, learnable_keys, summary_optimizer
from mmdistill.modalities.sequences.train import (NO_NEGATIVE, metrics_from_ranks, pretrained_learner, sample_negatives,
                                                  short_negative_users, target_ranks)
from mmdistill.recipes import sequences_farzi, sequences_td3
from mmdistill.seeding import generator

TINY = dict(dataset="generated:40:40", max_len=10, seq_len=8, seq_num=4, learner_batch=2, rank_user=3, rank_time=3,
            hidden_size=8, inner_size=16, gru_embedding=8, gru_hidden=8, hidden_dropout=0.0, attn_dropout=0.0, gru_dropout=0.0,
            inner_steps=6, window=3, batch_real=16, pretrain_epochs=1, whole_epochs=1, eval_runs=1, iterations=2,
            checkpoint_every=1, progress=False)


def tiny(recipe=sequences_td3, **kw):
    return recipe.RECIPE.config(**{**TINY, **kw})


ROWS = [("u1", "a", "1"), ("u1", "b", "2"), ("u1", "c", "3"), ("u1", "d", "4"),
        ("u2", "b", "5"), ("u2", "a", "3"), ("u2", "c", "9"),
        ("u3", "c", "1"), ("u3", "d", "2"), ("u3", "a", "3"), ("u3", "b", "4")]
OPTS = SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1)


# ---------------------------------------------------------------------------------------------- data
def test_leave_one_out_split_in_time_order_with_remapped_ids():
    d = build_sequences("toy", ROWS, OPTS)
    assert d.num_users == 3 and d.num_items == 4 and d.item_ids == ["a", "b", "c", "d"]
    u2 = d.users.index("u2")  # u2's events sorted by time: a(3) b(5) c(9)
    assert d.train[u2].tolist() == [0] and int(d.valid_target[u2]) == 1 and int(d.test_target[u2]) == 2
    x, lens, t = d.eval_inputs("test")
    assert x[u2, :2].tolist() == [0, 1] and int(lens[u2]) == 2 and x[u2, 2] == d.pad
    assert d.mapping()["items"] == ["a", "b", "c", "d"]


def _write_logs(tmp: Path) -> dict[str, Path]:
    csv_rows = "\n".join(f"{u},{i},{t}" for u, i, t in ROWS)
    paths = {}
    zpath = tmp / "ml-toy.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ml-toy/ratings.csv", "userId,movieId,rating,timestamp\n" + "\n".join(f"{u},{i},4.0,{t}" for u, i, t in ROWS))
        zf.writestr("ml-toy/movies.csv", "movieId,title,genres\na,Alpha (1990),x\nb,\"Beta, The (1991)\",y\nc,Gamma,z\nd,Delta,z\n")
    paths["movielens"] = zpath
    (tmp / "log.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                   + "\n".join(f"{u}\t{i}\t1\t{t}" for u, i, t in ROWS))
    paths["recbole"] = tmp / "log.inter"
    (tmp / "log.csv").write_text("user,item,timestamp\n" + csv_rows)
    paths["csv"] = tmp / "log.csv"
    ordered = sorted(ROWS, key=lambda r: (r[0], float(r[2])))
    (tmp / "log.txt").write_text("\n".join(f"{u} {i}" for u, i, _ in ordered))
    paths["sasrec"] = tmp / "log.txt"
    return paths


def test_every_reader_gives_the_same_sequences(tmp_path):
    ref = build_sequences("toy", ROWS, OPTS)
    expect = {u: [ref.item_ids[i] for i in ref.train[k].tolist()] + [ref.item_ids[int(ref.valid_target[k])],
                                                                       ref.item_ids[int(ref.test_target[k])]]
              for k, u in enumerate(ref.users)}
    for fmt, path in _write_logs(tmp_path).items():
        d = load_sequences(fmt, str(path), OPTS)
        got = {u: [d.item_ids[i] for i in d.train[k].tolist()] + [d.item_ids[int(d.valid_target[k])], d.item_ids[int(d.test_target[k])]]
               for k, u in enumerate(d.users)}
        assert got == expect, fmt
        if fmt == "movielens":
            assert d.titles is not None and "Beta, The (1991)" in d.titles


def test_kcore_filter_counts_what_it_removes():
    rows = generated_log(30, 40, seed=1) + [("lonely", "i0", "1"), ("lonely", "i1", "2")]
    d = build_sequences("g", rows, SequenceLoadOptions(min_user_inter=5, min_item_inter=5))
    assert "lonely" not in d.users and d.stats["kcore_users_removed"] >= 1
    d2 = build_sequences("g", rows, SequenceLoadOptions(min_user_inter=5, min_item_inter=5, kcore="iterate"))
    assert d2.stats["kcore_rounds"] >= 1


def test_bad_input_is_named_with_counts(tmp_path):
    bad = ROWS + [("u1", "e", "yesterday"), ("u2", "e", "n/a")]
    with pytest.raises(DataError, match=r"2 of 13 rows have a non-numeric or non-finite timestamp.*'yesterday'"):
        build_sequences("toy", bad, OPTS)
    d = build_sequences("toy", bad, SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, on_bad="skip"))
    assert d.stats["non_numeric_timestamps"] == 2
    short = ROWS + [("u4", "a", "1"), ("u4", "b", "2")]  # two interactions: no leave-one-out possible
    d = build_sequences("toy", short, OPTS)
    assert "u4" not in d.users and d.stats["users_below_3_removed"] == 1
    unseen = ROWS + [("u4", "a", "1"), ("u4", "b", "2"), ("u4", "z", "3")]  # z only ever a test target
    d = build_sequences("toy", unseen, OPTS)
    assert d.stats["unseen_test_items"] == 1 and "z" in d.item_ids
    with pytest.raises(DataError, match=r"empty after filtering.*min_user_inter=50"):
        build_sequences("toy", ROWS, SequenceLoadOptions(min_user_inter=50))
    with pytest.raises(DataError, match=r"only 3 users"):
        check_budget(build_sequences("toy", ROWS, OPTS), 5)
    with pytest.raises(DataError, match="data-root"):
        load_sequences("csv", None, OPTS)



def _sequences_of(d):
    return {u: [d.item_ids[i] for i in d.train[k].tolist()] + [d.item_ids[int(d.valid_target[k])], d.item_ids[int(d.test_target[k])]]
            for k, u in enumerate(d.users)}


def test_csv_header_names_the_columns_in_any_order(tmp_path):
    expect = _sequences_of(build_sequences("toy", ROWS, OPTS))
    ratings = {"a": "5", "b": "1", "c": "3", "d": "2"}  # read as the timestamp, they would reorder every user
    logs = {"reordered.csv": "timestamp,user,item\n" + "\n".join(f"{t},{u},{i}" for u, i, t in ROWS),
            "swapped.tsv": "item\tuserId\ttimestamp\n" + "\n".join(f"{i}\t{u}\t{t}" for u, i, t in ROWS),
            "wide.csv": "user_id,item_id,rating,timestamp\n" + "\n".join(f"{u},{i},{ratings[i]},{t}" for u, i, t in ROWS),
            "bom_quoted.csv": "\ufeffuser,item,timestamp\n" + "\n".join(f'"{u}","{i}","{t}"' for u, i, t in ROWS)}
    for name, text in logs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert _sequences_of(load_sequences("csv", str(tmp_path / name), OPTS)) == expect, name
    (tmp_path / "no_time.csv").write_text("user,item\n" + "\n".join(f"{u},{i}" for u, i, _ in ROWS))
    with pytest.raises(DataError, match=r"no_time.csv: line 1 is a header .* without a timestamp column"):
        load_sequences("csv", str(tmp_path / "no_time.csv"), OPTS)
    # no header: exactly user,item,timestamp; a 4th column is not guessed at
    (tmp_path / "four.csv").write_text("\n".join(f"{u},{i},4,{t}" for u, i, t in ROWS))
    with pytest.raises(DataError, match=r"none of the 11 lines is a user,item,timestamp row \(line 1: 4 comma-separated fields, expected 3"):
        load_sequences("csv", str(tmp_path / "four.csv"), OPTS)
    (tmp_path / "unnamed.csv").write_text("a,b,c\n" + "\n".join(f"{u},{i},{t}" for u, i, t in ROWS))
    with pytest.raises(DataError, match=r"line 1: 'c'\); if line 1 is a header, name its columns"):
        load_sequences("csv", str(tmp_path / "unnamed.csv"), OPTS)


def test_malformed_lines_stop_the_load_or_are_skipped_and_counted(tmp_path):
    ordered = sorted(ROWS, key=lambda r: (r[0], float(r[2])))
    sasrec = "\n".join(f"{u} {i}" for u, i, _ in ordered)
    inter = "user_id:token\titem_id:token\ttimestamp:float\n" + "\n".join(f"{u}\t{i}\t{t}" for u, i, t in ROWS)
    with zipfile.ZipFile(tmp_path / "ml-1m.zip", "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "\n".join(f"{u}::{i}::4::{t}" for u, i, t in ROWS) + "\nu9::a::4\n")
    cases = {"sasrec": ("three.txt", sasrec + "\nu1 a 7\n", r"line 12: 3 whitespace-separated fields, expected 2"),
             "recbole": ("short.inter", inter + "\nu1\ta\n", r"line 13: 2 tab-separated fields, expected 3"),
             "csv": ("short.csv", "user,item,timestamp\n" + "\n".join(f"{u},{i},{t}" for u, i, t in ROWS) + "\nu1,,5\n",
                     r"line 13: an empty user or item"),
             "ml-1m": ("ml-1m.zip", None, r"ratings.dat: 1 of 12 lines .*line 12: 3 fields, expected 4")}
    skip = SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, on_bad="skip")
    for fmt, (name, text, message) in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=message + r".*on_bad=skip"):
            load_sequences(fmt, str(tmp_path / name), OPTS)
        d = load_sequences(fmt, str(tmp_path / name), skip)
        assert d.stats["malformed_lines"] == 1 and d.num_users == 3, fmt
    (tmp_path / "semicolon.csv").write_text("\n".join(f"{u};{i};{t}" for u, i, t in ROWS))
    for opts in (OPTS, skip):  # nothing readable: skipping cannot help, the message names the separator
        with pytest.raises(DataError, match=r"semicolon.csv: line 1 \(u1;a;1\) is separated by ';'"):
            load_sequences("csv", str(tmp_path / "semicolon.csv"), opts)


def test_logs_are_utf8_and_titles_may_be_latin1(tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"user,item,timestamp\nu1,a,1\ncaf\xe9,b,2\n")
    with pytest.raises(DataError, match=r"latin.csv: line 3 is not UTF-8 \(byte 0xe9"):
        load_sequences("csv", str(tmp_path / "latin.csv"), OPTS)
    with zipfile.ZipFile(tmp_path / "ml-100k.zip", "w") as zf:
        zf.writestr("ml-100k/u.data", "\n".join(f"{u}\t{i}\t4\t{t}" for u, i, t in ROWS))
        zf.writestr("ml-100k/u.item", "a|Mis\xe9rables, Les (1995)|x\nb|B|x\n".encode("latin-1"))
    d = load_sequences("ml-100k", str(tmp_path / "ml-100k.zip"), OPTS)
    assert "Misérables, Les (1995)" in d.titles


def test_non_finite_timestamps_duplicates_and_empty_logs(tmp_path):
    with pytest.raises(DataError, match=r"1 of 12 rows have a non-numeric or non-finite timestamp \(row 12: 'inf'\)"):
        build_sequences("toy", ROWS + [("u1", "e", "inf")], OPTS)
    # a copied last event would make u1's test item its validation item: dropped and counted
    d = build_sequences("toy", ROWS + [("u1", "d", "4"), ("u2", "a", "3")], OPTS)
    u1 = d.users.index("u1")
    assert d.stats["duplicate_rows"] == 2 and d.stats["interactions"] == len(ROWS)
    assert int(d.valid_target[u1]) != int(d.test_target[u1])
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("user,item,timestamp\n\n")
    with pytest.raises(DataError, match=r"empty.csv: no interactions could be read .*the file is empty"):
        load_sequences("csv", str(tmp_path / "empty.csv"), OPTS)
    with pytest.raises(DataError, match=r"header.csv: no interactions .*a header and no rows"):
        load_sequences("csv", str(tmp_path / "header.csv"), OPTS)
    with pytest.raises(DataError, match=r"is a folder; dataset 'csv' reads one log file"):
        load_sequences("csv", str(tmp_path), OPTS)
    with zipfile.ZipFile(tmp_path / "ml-x.zip", "w") as zf:
        zf.writestr("ml-x/movies.csv", "movieId,title\n")
    with pytest.raises(DataError, match=r"no ratings.csv, ratings.dat or u.data in this zip \(it holds 1 files: ml-x/movies.csv\)"):
        load_sequences("movielens", str(tmp_path / "ml-x.zip"), OPTS)
    with pytest.raises(DataError, match=r"not a MovieLens release.*--dataset csv"):
        load_sequences("ml-latest-small", str(tmp_path / "header.csv"), OPTS)
    for spec in ("generated:0:10", "generated:abc", "generated_big", "generated:1:2:3"):
        with pytest.raises(DataError, match=r"generated\[:USERS:ITEMS\]"):
            load_sequences(spec, None, OPTS)
    assert build_sequences("g", generated_log(10, 5), OPTS).num_items <= 5


def test_kcore_counts_every_round_and_is_logged(caplog):
    # round 1 drops item z (one interaction), leaving u3 one; round 2 drops u3, round 3 changes nothing. A count of
    # round 1 alone would report no user removed
    rows = [(u, i, str(t)) for t, (u, i) in enumerate([("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"),
                                                     ("u3", "z"), ("u4", "a"), ("u4", "b")])]
    opts = SequenceLoadOptions(min_user_inter=2, min_item_inter=2, kcore="iterate")
    with caplog.at_level("INFO", logger="mmdistill.modalities.sequences.data"):
        with pytest.raises(DataError, match="empty after filtering"):  # every user is left below 3
            build_sequences("toy", rows, opts)
    assert "k-core filter (min_user_inter=2, min_item_inter=2, kcore=iterate, 3 rounds) removed 2 of 8 interactions, " \
           "1 of 4 users and 1 of 3 items" in caplog.text


def test_cli_names_a_bad_log_without_a_traceback(tmp_path, capsys):
    from mmdistill.cli import main as cli_main

    (tmp_path / "log.csv").write_text("user,item,timestamp\n" + "\n".join(f"{u},{i},{t}" for u, i, t in ROWS) + "\nu1,b,soon\n")
    code = cli_main(["run", "sequences-td3", "--dataset", "csv", "--data-root", str(tmp_path / "log.csv"),
                     "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3 and "line 13: 'soon'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_loader_counts_travel_with_the_set_and_export_refuses_a_used_folder(tmp_path):
    from mmdistill.modalities.sequences.export import export_summary

    cfg = tiny(sequences_farzi)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert syn.meta["data_stats"]["users"] == data.num_users and "kcore_interactions_removed" in syn.meta["data_stats"]
    assert "load_report" not in syn.meta  # a generated log: nothing read from a file
    export_summary(syn, tmp_path / "export")
    with pytest.raises(ConfigError, match="exists and is not empty; choose another --to"):  # the argument: exit 2, as run's --out
        export_summary(syn, tmp_path / "export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder left behind


@pytest.mark.parametrize("key", ["item_ids", "num_items"])
def test_item_metadata_that_does_not_match_the_summary_is_named_not_a_traceback(key, tmp_path):
    """A manifest whose item ids were cut to 3 while the summary ranks every item: export stopped on an IndexError
    and mmdistill.load accepted it. Now both name the metadata and the tensors."""
    from mmdistill.errors import ArtifactError
    from mmdistill.modalities.sequences.export import export_summary

    cfg = tiny(sequences_farzi)
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    items = syn.meta["num_items"]
    syn.meta[key] = syn.meta[key][:3] if key == "item_ids" else items - 1
    said = f"has {'3 item_ids' if key == 'item_ids' else f'num_items {items - 1}'}, but its summary (synthetic.safetensors) ranks {items} items"
    with pytest.raises(ArtifactError, match=re.escape(said)):
        export_summary(syn, tmp_path / "export")
    with pytest.raises(ArtifactError, match=re.escape(said)):
        MODALITY.inputs(syn)  # what mmdistill.load and export --to hf call
    assert not (tmp_path / "export").exists()


def test_what_the_log_loader_dropped_is_a_load_report_in_the_one_shape(tmp_path):
    """The counts of what was dropped or removed are the set's load_report (the card's line); the other stats (rows
    read, users, items ...) are its facts. Before, only data_stats was stored and the card listed every positive
    stat, rows read and users included."""
    from mmdistill.card import card_summary, loading_counts

    log = tmp_path / "log.csv"
    rows = ROWS + [("u1", "d", "4"), ("u9", "z", "1")]  # a copied event; a user of one interaction
    log.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows) + "u1,e\n")  # a short line
    data = load_sequences("csv", str(log), SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, on_bad="skip"))
    rep = data.report.as_dict()
    assert rep["root"] == "log.csv" and rep["files"] == {}
    nonzero = {k: n for k, n in rep["counts"].items() if n}
    assert nonzero == {"malformed_lines": 1, "duplicate_rows": 1, "users_below_3_removed": 1, "users_below_3_interactions_removed": 1}
    assert rep["facts"]["rows_read"] == len(rows) and rep["facts"]["users"] == data.num_users and rep["facts"]["format"] == "csv"
    manifest = {"synthetic": {"meta": {"data_stats": dict(data.stats), "load_report": rep}}}
    assert loading_counts(manifest) == ("malformed lines 1, duplicate rows 1, users below 3 removed 1, "
                                        "users below 3 interactions removed 1")
    # the adapter stores the report of a log read from a file; a generated log has none, so its card has no load line
    # (before: the generated set stored one, "nothing skipped, padded or left out")
    big = tmp_path / "big.csv"
    big.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in generated_log(40, 40, 0)))
    big_stats = MODALITY.load(tiny(sequences_farzi, dataset="csv", data_root=str(big))).stats
    for dataset, root in (("csv", str(big)), ("generated:40:40", None)):
        cfg = tiny(sequences_farzi, dataset=dataset, data_root=root)
        syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
        manifest = {"recipe": "sequences-farzi", "synthetic": {"meta": syn.meta}}
        # the stats once: a file's as its report (counts and facts), a generated log's as data_stats
        assert ("data_stats" in syn.meta) == (root is None) and ("load_report" in syn.meta) == (root is not None), dataset
        if root:
            stored = syn.meta["load_report"]
            assert stored["counts"].keys() == rep["counts"].keys() and stored["root"] == "big.csv"
            merged = {**stored["counts"], **stored["facts"]}  # every stat (and zeros of the kinds the log did not meet)
            assert {k: v for k, v in merged.items() if k in big_stats or v} == big_stats
            assert "loading: " in card_summary(manifest)
        else:
            assert loading_counts(manifest) is None and "loading:" not in card_summary(manifest)


def test_config_names_bad_keys():
    with pytest.raises(ConfigError, match="eval_protocol"):
        tiny(eval_protocol="uni100")
    with pytest.raises(ConfigError, match="min_window"):
        tiny(inner_steps=4, window=5)
    with pytest.raises(ConfigError, match="unknown learner"):
        tiny(network="bert4rec")
    cfg = sequences_td3.RECIPE.config(dataset="ml-1m")
    assert (cfg.seq_num, cfg.learner_batch, cfg.rank_user, cfg.seq_lr, cfg.net_lr, cfg.window, cfg.inner_steps) == (50, 25, 16, 0.03, 0.01, 40, 200)
    assert sequences_td3.RECIPE.config(dataset="ml-100k").seq_num == 30 and cfg.ipc == 50


def test_baselines_of_the_same_size():
    d = build_sequences("g", generated_log(50, 40, seed=2), SequenceLoadOptions(max_len=10))
    top = most_active_users(d, 5)
    acts = d.activity()
    assert sorted(acts.tolist(), reverse=True)[:5] == [int(acts[u]) for u in top]
    oh = one_hot_sequences(d, top, 8)
    assert oh.shape == (5, 8, d.num_items) and torch.allclose(oh.sum(-1), torch.ones(5, 8))
    assert oh[0, -1].argmax() == d.train[top[0]][-1]


def test_a_catalogue_no_larger_than_k_is_warned(caplog):
    """Walk 39B: a catalogue of 10 items or fewer scored HR@10 = 1 for every set, without a note."""
    from mmdistill.modalities.sequences.evaluate import sequence_plan

    cfg = tiny(dataset="generated:30:8", baselines=["random_real"])
    data = MODALITY.load(cfg)
    assert data.num_items <= 10
    with caplog.at_level("WARNING"):
        sequence_plan(cfg, None, data, torch.device("cpu"))
    assert f"the catalogue holds {data.num_items} items, so every user's test item ranks within the top 10" in caplog.text
    assert "HR@10/20 is 1 for every set" in caplog.text


# ---------------------------------------------------------------------------------------------- learners, metrics
@pytest.mark.parametrize("cls", [SASRec, GRU4Rec])
def test_learners_are_causal_and_read_distributions(cls):
    torch.manual_seed(0)
    net = cls(12, 6, hidden=8, inner=16, embedding=8, gru_hidden=8, hidden_dropout=0.0, attn_dropout=0.0, gru_dropout=0.0).eval()
    x = torch.randint(0, 12, (2, 6))
    y = x.clone()
    y[:, 4:] = (y[:, 4:] + 1) % 12
    a, b = net.encode(net.embed_ids(x)), net.encode(net.embed_ids(y))
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6) and not torch.allclose(a[:, 4:], b[:, 4:])
    one_hot = torch.nn.functional.one_hot(x, 12).float()
    assert torch.allclose(net.encode(net.embed_dist(one_hot)), a, atol=1e-5)


def test_ranking_metrics():
    m = metrics_from_ranks(torch.tensor([0.0, 4.0, 9.0, 15.0, 30.0]))
    assert m["hr@5"] == pytest.approx(2 / 5) and m["hr@10"] == pytest.approx(3 / 5) and m["hr@20"] == pytest.approx(4 / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(6) + 1 / math.log2(11)) / 5)



def test_sampled_negatives_on_a_small_catalogue_are_distinct_and_never_score_below_full(caplog):
    data = build_sequences("small", generated_log(60, 45, seed=3), SequenceLoadOptions(max_len=10))
    assert data.num_items < 100
    neg = sample_negatives(data, 100, seed=0)
    for u in range(data.num_users):
        row = [int(i) for i in neg[u] if i != NO_NEGATIVE]
        seen = set(data.train[u].tolist()) | {int(data.valid_target[u]), int(data.test_target[u])}
        assert len(row) == len(set(row)) == data.num_items - len(seen) and not set(row) & seen  # all unseen, once each
    assert short_negative_users(neg) == data.num_users
    assert any("fewer than 100 unseen items" in r.getMessage() for r in caplog.records)
    torch.manual_seed(0)
    net = SASRec(data.num_items, 10, hidden=8, inner=16, hidden_dropout=0.0, attn_dropout=0.0)
    full = target_ranks(net, data, "test", "full")
    sampled = target_ranks(net, data, "test", "sampled", neg)
    assert bool((sampled <= full).all())  # a subset of the full candidates can never rank the target lower
    mf, ms = metrics_from_ranks(full), metrics_from_ranks(sampled)
    assert all(ms[f"hr@{k}"] >= mf[f"hr@{k}"] for k in (5, 10, 20))
    big = sample_negatives(build_sequences("g", generated_log(30, 200, seed=1), SequenceLoadOptions(max_len=10)), 20, seed=0)
    assert short_negative_users(big) == 0 and all(len(set(r.tolist())) == 20 for r in big)

# ---------------------------------------------------------------------------------------------- summary
def test_tucker_summary_keeps_v_frozen_and_out_of_the_optimizer():
    cfg = tiny()
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init")).requires_grad_(True)
    assert set(syn.data) == {"U", "T", "G", "V"} and syn.data["V"].shape == (data.num_items, cfg.hidden_size)
    dist = MODALITY.decode(syn)
    assert dist.shape == (4, 8, data.num_items) and torch.allclose(dist.sum(-1), torch.ones(4, 8), atol=1e-5)
    opt = summary_optimizer(syn, cfg)
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(syn.data[k]) for k in ("U", "T", "G")}
    v0 = syn.data["V"].detach().clone()
    m = MetaMatcher(cfg, data, pretrained_learner(data, cfg, "sasrec"), torch.device("cpu"))
    m.step(syn, opt, generator(0, "it", 0))
    assert syn.data["V"].grad is None and torch.equal(syn.data["V"], v0)
    assert syn.data["U"].grad is not None and syn.data["U"].grad.abs().sum() > 0


def test_farzi_summary():
    cfg = tiny(sequences_farzi)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert set(syn.data) == {"Z", "D"} and syn.data["Z"].shape == (4, 8, 32) and syn.data["D"].shape == (32, data.num_items)
    assert learnable_keys(syn) == ["Z", "D"] and decode_summary(syn).shape == (4, 8, data.num_items)


# ---------------------------------------------------------------------------------------------- RaT-BPTT
@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _full_unroll_reference(m: MetaMatcher, syn, gen_seed: int, detach_first: int, steps: int) -> torch.Tensor:
    """An independent full unroll: ``steps`` differentiable Adam steps of the learner on the summary, the
    summary detached in the first ``detach_first`` of them (what RaT-BPTT's truncation means); the same
    randomness as ``m.outer`` (fresh weights, positions, real batch) drawn in the same order."""
    cfg = m.cfg
    gen = generator(gen_seed)
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
    module, params = m.fresh(gen)
    high = cfg.inner_steps - cfg.window
    if high > cfg.min_window:
        torch.randint(cfg.min_window, high + 1, (1,), generator=gen)
    params = {k: p.requires_grad_(True) for k, p in params.items()}
    m_state = {k: torch.zeros_like(p) for k, p in params.items()}
    v_state = {k: torch.zeros_like(p) for k, p in params.items()}
    for step in range(steps):
        dist = decode_summary(syn)
        if step < detach_first:
            dist = dist.detach()
        loss = m.inner_loss(module, params, dist, step, gen, m.frozen_inputs(module, dist))
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        new = {}
        t = step + 1
        for (k, p), g in zip(params.items(), grads):
            g = g + cfg.net_weight_decay * p
            m_state[k] = 0.9 * m_state[k] + 0.1 * g
            v_state[k] = 0.999 * v_state[k] + 0.001 * g * g
            new[k] = p - cfg.net_lr * (m_state[k] / (1 - 0.9 ** t)) / torch.sqrt(v_state[k] / (1 - 0.999 ** t) + 1e-16)
        params = new
    return m.outer_loss(module, params, gen)[0]


def _setup(window: int, inner_steps: int, **kw):
    cfg = tiny(window=window, inner_steps=inner_steps, net_lr=0.05, **kw)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    with torch.no_grad():  # a summary away from uniform, so the gradient is not tiny
        syn.data["U"].normal_(0, 1.0, generator=generator(1))
        syn.data["T"].normal_(0, 1.0, generator=generator(2))
    syn.requires_grad_(True)
    m = MetaMatcher(cfg, data, pretrained_learner(data, cfg, "sasrec"), torch.device("cpu"))
    return m, syn


def test_rat_bptt_with_full_window_matches_finite_differences(float64):
    """Window = every inner step (no truncation): the outer gradient is the full unroll's; checked against
    central finite differences of the outer loss in float64."""
    m, syn = _setup(window=4, inner_steps=4)
    loss = m.outer(syn, generator(7))[0]
    grads = torch.autograd.grad(loss, [syn.data["U"], syn.data["G"]])
    ref = _full_unroll_reference(m, syn, 7, detach_first=0, steps=4)
    ref_grads = torch.autograd.grad(ref, [syn.data["U"], syn.data["G"]])
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-8, atol=1e-12)
    eps = 1e-6
    for key, grad in (("U", grads[0]), ("G", grads[1])):
        flat = syn.data[key].detach().view(-1)
        for j in (0, 3, flat.numel() - 1):
            flat_orig = float(flat[j])
            values = []
            for shift in (eps, -eps):
                with torch.no_grad():
                    syn.data[key].view(-1)[j] = flat_orig + shift
                values.append(float(m.outer(syn, generator(7))[0].detach()))
            with torch.no_grad():
                syn.data[key].view(-1)[j] = flat_orig
            up, down = values
            fd = (up - down) / (2 * eps)
            assert grad.view(-1)[j].item() == pytest.approx(fd, rel=1e-4, abs=1e-9), (key, j)


def test_rat_bptt_truncated_gradient_is_the_full_unroll_with_a_detached_prefix(float64):
    """A window of 3 after a random curriculum: the gradient equals that of a full unroll in which the
    summary is detached during the curriculum steps, and differs from the untruncated full unroll."""
    m, syn = _setup(window=3, inner_steps=8)
    loss, _, _, curriculum = m.outer(syn, generator(11))
    assert 0 < curriculum <= 5
    g = torch.autograd.grad(loss, [syn.data["U"]])[0]
    ref = _full_unroll_reference(m, syn, 11, detach_first=curriculum, steps=curriculum + 3)
    r = torch.autograd.grad(ref, [syn.data["U"]])[0]
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    assert torch.allclose(g, r, rtol=1e-8, atol=1e-12)
    full = _full_unroll_reference(m, syn, 11, detach_first=0, steps=curriculum + 3)
    f = torch.autograd.grad(full, [syn.data["U"]])[0]
    assert float(full.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)  # same forward, only the gradient is truncated
    assert not torch.allclose(g, f)
    cos = torch.nn.functional.cosine_similarity(g.flatten(), f.flatten(), dim=0)
    assert cos > 0


def test_matching_learner_with_fresh_embeddings_trains_them_and_keeps_the_exact_gradient(float64):
    """match_pretrained_embedding=false: the inner learner starts from drawn (not pretrained) item embeddings,
    they are trained (part of the unrolled parameters, no precomputed frozen inputs), and the outer gradient is
    still the full unroll's."""
    m, syn = _setup(window=4, inner_steps=4, match_pretrained_embedding=False)
    module, params = m.fresh(generator(3))
    names = [f"learner.{n}" for n in module.learner.embedding_names()]
    assert names and all(n in params for n in names)
    for n in module.learner.embedding_names():
        assert not torch.equal(module.learner.get_parameter(n).detach(), m.pre.state[n])
    assert m.frozen_inputs(module, decode_summary(syn)) is None
    loss = m.outer(syn, generator(7))[0]
    g = torch.autograd.grad(loss, [syn.data["U"]])[0]
    ref = _full_unroll_reference(m, syn, 7, detach_first=0, steps=4)
    r = torch.autograd.grad(ref, [syn.data["U"]])[0]
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    assert torch.allclose(g, r, rtol=1e-8, atol=1e-12) and g.abs().sum() > 0
    ref_matcher = _setup(window=4, inner_steps=4)[0]  # the default: the pretrained embeddings, frozen
    pretrained, ref_params = ref_matcher.fresh(generator(3))
    for n in module.learner.embedding_names():
        assert torch.equal(pretrained.learner.get_parameter(n).detach(), ref_matcher.pre.state[n]) and f"learner.{n}" not in ref_params


def test_differentiable_adam_matches_torch_adam():
    p = torch.randn(5, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1, weight_decay=0.01, eps=1e-8)
    q = {"p": p.detach().clone()}
    state = AdamState({"p": torch.zeros(5)}, {"p": torch.zeros(5)})
    for _ in range(3):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        q = adam_update(q, {"p": g}, state, 0.1, 0.01)
    assert torch.allclose(p.detach(), q["p"], atol=1e-5)


# ---------------------------------------------------------------------------------------------- whole runs
@pytest.mark.parametrize("recipe", [sequences_td3, sequences_farzi])
def test_recipe_runs_and_writes_its_artifacts(recipe, tmp_path):
    res = recipe.RECIPE.run(**{**TINY, "out": str(tmp_path / "run"), "eval_protocol": "both"})
    metrics = res.manifest["metrics"]
    assert metrics["metric"] == "hr@10 (full ranking)" and {"distilled", "random_real", "most_active", "whole"} <= set(metrics)
    assert "s100:hr@10" in metrics["distilled"]["scores"] and "ranking_name" in metrics["protocol"]
    assert 0 < metrics["protocol"]["short_negative_users"] <= metrics["protocol"]["test_users"]  # 40 items < 100 negatives
    short = metrics["protocol"]["short_negative_users"]  # ... and the protocol's name says so, not only the count
    assert f"{short} of {metrics['protocol']['test_users']} users have fewer unseen items" in metrics["protocol"]["also"]
    assert set(metrics["train_seconds"]["sasrec"]) == {"distilled", "random_real", "most_active", "whole"}
    for name in ("synthetic.safetensors", "manifest.json", "preview.png", "decoded.json", "loss.png", "accuracy.png"):
        assert (tmp_path / "run" / name).exists(), name
    decoded = json.loads((tmp_path / "run" / "decoded.json").read_text())
    assert len(decoded["sequences"]) == 4 and len(decoded["sequences"][0]) == 8
    card = (tmp_path / "run" / "README.md").read_text()  # it said "networks trained from scratch ... 300 epochs each"
    assert "learners trained on each set" in card and "Adam steps on a small set" in card and "epochs each" not in card
    assert res.manifest["storage"]["real_basis"] == "a real user's last 8 item ids as int64 (a learner's input window)"  # not float32
    out = MODALITY.export(res.synthetic, tmp_path / "export")
    assert (out / "factors.safetensors").exists() and (out / "items.json").exists()
    back = load_sequences("sasrec", str(out / "sequences.txt"), SequenceLoadOptions(min_user_inter=1, min_item_inter=1))
    assert back.num_users == 4


def test_resume_ends_in_the_same_summary(tmp_path):
    a = sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "a"), "iterations": 3, "evaluate": False})
    sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "b"), "iterations": 3, "evaluate": False}, stop_after=1)
    b = sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "b"), "iterations": 3, "evaluate": False, "resume": True})
    for k in ("U", "T", "G"):
        assert torch.allclose(a.synthetic.data[k], b.synthetic.data[k], atol=1e-6)


def test_cross_architecture_evaluation_trains_gru4rec():
    cfg = tiny(cross_arch=True, baselines=["random_real"])
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    metrics = MODALITY.evaluate(cfg, syn.detached(), data, torch.device("cpu"))
    assert set(metrics["cross_arch"]) == {"sasrec", "gru4rec"}


def test_config_rows_come_from_the_td3_table_and_the_budget_table():
    from mmdistill.resolve import config_sources

    small = sequences_farzi.RECIPE.config(dataset="movielens", data_root="/data/ml-latest-small.zip")
    assert (small.seq_num, small.learner_batch, small.rank_user, small.iterations, small.batch_real) == (50, 25, 16, 720, 4096)
    assert config_sources(small)["seq_num"].startswith("tables/td3.yaml: release ml-latest-small (mmdistill (ours)")
    other = sequences_td3.RECIPE.config(dataset="generated")
    assert (other.seq_num, other.rank_user, other.seq_lr, other.iterations) == (20, 64, 0.01, 1000)
    assert other.ipc == other.seq_num  # one source of truth for the summary's size
    cpu = sequences_td3.RECIPE.rebuild(small, {"budget": "cpu"})
    assert (cpu.seq_num, cpu.iterations, cpu.inner_steps, cpu.window, cpu.batch_real, cpu.whole_epochs) == (50, 200, 200, 40, 4096, 10)
    assert config_sources(cpu)["iterations"].startswith("tables/budgets.yaml: recipe sequences-td3/sequences-farzi, budget cpu")
    assert sequences_td3.RECIPE.config(dataset="ml-1m", seq_num=7).seq_num == 7  # explicit wins over the row
    with pytest.raises(ConfigError, match="'ipc' .*does not apply to recipe sequences-td3: use seq_num"):
        sequences_td3.RECIPE.config(ipc=5)
    with pytest.raises(ConfigError, match=r"baselines=\['herding'\]: expected a list, each one of popularity, random_real, most_active, whole"):
        sequences_td3.RECIPE.config(baselines=["herding"])


@pytest.mark.parametrize("pretrained", [True, False])
def test_evaluation_freezes_only_pretrained_embeddings(pretrained, monkeypatch):
    """Frozen fresh embeddings would leave every learner at chance: with eval_pretrained_embedding=false they train."""
    import mmdistill.modalities.sequences.evaluate as evaluate

    seen = []
    real = evaluate.train_on_summary

    def spy(*args, **kwargs):
        seen.append(kwargs["freeze_embedding"])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "train_on_summary", spy)
    cfg = tiny(baselines=["random_real"], eval_pretrained_embedding=pretrained, eval_runs=1)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    MODALITY.evaluate(cfg, syn.detached(), data, torch.device("cpu"))
    assert seen and set(seen) == {pretrained}


def test_eval_split_valid_scores_the_second_last_item(monkeypatch):
    import mmdistill.modalities.sequences.evaluate as evaluate

    splits = []
    real = evaluate.rank_metrics
    monkeypatch.setattr(evaluate, "rank_metrics", lambda learner, data, split, *a, **k: splits.append(split) or real(learner, data, split, *a, **k))
    cfg = tiny(baselines=["random_real"], eval_split="valid", eval_runs=1)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    metrics = MODALITY.evaluate(cfg, syn.detached(), data, torch.device("cpu"))
    assert splits and set(splits) == {"valid"}
    assert metrics["protocol"]["scored"].startswith("validation")


def test_selection_on_the_validation_item_keeps_the_best_state_and_is_recorded():
    """eval_select_every k: each small-set learner is scored on the validation item every k steps and keeps its
    best state (as the whole baseline keeps its best epoch); the kept learner scores what the selection saw."""
    from mmdistill.modalities.sequences.train import LearnerProtocol, fresh_learner, rank_metrics, train_on_summary

    cfg = tiny(eval_pretrained_embedding=False)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    dist = decode_summary(syn.detached())
    learner = fresh_learner("sasrec", data, cfg, None, generator(0, "eval"))
    info = train_on_summary(learner, dist, LearnerProtocol(lr=0.01, weight_decay=0.0, steps=7, batch=2), generator(1, "x"),
                            data=data, select_every=3)
    assert info["best_step"] in (3, 6, 7) and info["steps"] == 7
    assert rank_metrics(learner, data, "valid", "full")["hr@10"] == pytest.approx(info["valid_hr@10"])
    plain = train_on_summary(fresh_learner("sasrec", data, cfg, None, generator(0, "eval")), dist,
                             LearnerProtocol(lr=0.01, weight_decay=0.0, steps=7, batch=2), generator(1, "x"))
    assert "best_step" not in plain  # the reference's protocol: the last step

    cfg = tiny(baselines=["random_real"], eval_steps=5, eval_select_every=2)
    metrics = MODALITY.evaluate(cfg, syn.detached(), data, torch.device("cpu"))
    assert metrics["protocol"]["summary_training"]["steps"] == 5
    assert metrics["protocol"]["summary_training"]["selection"] == "best validation hr@10 of every 2 steps"
    assert set(metrics["selected_steps"]["sasrec"]) == {"distilled", "random_real"}
    assert all(s in (2, 4, 5) for runs in metrics["selected_steps"]["sasrec"].values() for s in runs)
    with pytest.raises(ConfigError, match="eval_select_every=2 selects each learner on the validation item") as err:
        tiny(eval_select_every=2, eval_split="valid")
    assert err.value.key == "eval_select_every"


def test_mmdistill_eval_takes_evaluation_keys_only():
    from mmdistill.saved_cli import evaluation_overrides

    cls = sequences_td3.RECIPE.config_cls
    assert evaluation_overrides(cls, ["eval_steps=400", "eval-select-every=50"]) == {"eval_steps": "400", "eval_select_every": "50"}
    with pytest.raises(ConfigError, match="seq_lr changes the distillation") as err:
        evaluation_overrides(cls, ["seq_lr=0.1"])
    assert err.value.key == "seq_lr"
    with pytest.raises(ConfigError, match="sequences-td3 has no evaluation key 'eval_stepz'. Did you mean eval_steps"):
        evaluation_overrides(cls, ["eval_stepz=4"], "sequences-td3")


def test_td3_keeps_its_best_validation_summary_as_the_reference(tmp_path):
    """select_every k: the summary is scored on the validation item (MRR@10) before the first outer step and every
    k steps; the run ends with the best one (the reference's best checkpoint), recorded in the manifest."""
    from mmdistill.modalities.sequences.select import selection_interval

    res = sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "sel"), "iterations": 3, "select_every": 1,
                                     "baselines": ["random_real"]})
    sel = res.manifest["selection"]
    assert sel["metric"].startswith("validation mrr@10") and [it for it, _ in sel["scores"]] == [0, 1, 2, 3]
    assert sel["selected_score"] == max(s for _, s in sel["scores"])
    kept = sel["selected_iteration"]
    plain = sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "plain"), "iterations": 3, "select_every": 0, "evaluate": False},
                                     stop_after=kept)  # the same trajectory, stopped at the kept iteration
    for k in ("U", "T", "G"):
        assert torch.equal(res.synthetic.data[k], plain.synthetic.data[k])
    assert "selection" not in plain.manifest
    assert f"kept the set of iteration {kept} of 3" in (tmp_path / "sel" / "README.md").read_text()
    cfg = tiny(batch_real=16)
    assert selection_interval(cfg, 100) == 7 and selection_interval(tiny(select_every=0), 100) == 0
    with pytest.raises(ConfigError, match="select_every=-1 selects the summary on the validation item") as err:
        sequences_td3.RECIPE.run(**{**TINY, "out": str(tmp_path / "valid"), "eval_split": "valid"})
    assert err.value.key == "select_every"


def test_a_three_column_header_with_other_names_and_trailing_tabs_still_load(tmp_path):
    """Logs the loaders read before the header-by-name change: a three-column header naming the item otherwise
    (columns taken in order), and a RecBole file whose lines end in a tab."""
    rows = generated_log(40, 30, seed=0)
    csv_path = tmp_path / "shop.csv"
    csv_path.write_text("user_id,product_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    inter = tmp_path / "shop.inter"
    inter.write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(f"{u}\t{i}\t{t}\t\n" for u, i, t in rows))
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(f"{u},{i},{t}\n" for u, i, t in rows))
    opts = SequenceLoadOptions()
    want = load_sequences("csv", str(plain), opts)
    for ds, path in (("csv", csv_path), ("recbole", inter)):
        got = load_sequences(ds, str(path), opts)
        assert len(got.train) == len(want.train) and all(torch.equal(a, b) for a, b in zip(got.train, want.train)), ds
        assert torch.equal(got.test_target, want.test_target) and got.item_ids == want.item_ids, ds
    four = tmp_path / "four.csv"
    four.write_text("".join(f"{u},{i},{t},5\n" for u, i, t in rows))
    with pytest.raises(DataError, match="more than three columns needs a header line"):
        load_sequences("csv", str(four), opts)


def test_a_three_column_header_naming_the_user_elsewhere_is_read_by_name(tmp_path):
    """``product_id,user_id,timestamp`` was read by position: users and items swapped, silently. The columns it names
    are taken by name, the one it does not name is the item."""
    rows = generated_log(40, 30, seed=0)
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(f"{u},{i},{t}\n" for u, i, t in rows))
    swapped = tmp_path / "amazon.csv"
    swapped.write_text("product_id,user_id,timestamp\n" + "".join(f"{i},{u},{t}\n" for u, i, t in rows))
    last = tmp_path / "last.csv"
    last.write_text("timestamp,user_id,asin\n" + "".join(f"{t},{u},{i}\n" for u, i, t in rows))
    opts = SequenceLoadOptions()
    want = load_sequences("csv", str(plain), opts)
    for path in (swapped, last):
        got = load_sequences("csv", str(path), opts)
        assert got.item_ids == want.item_ids and len(got.train) == len(want.train), path.name
        assert all(torch.equal(a, b) for a, b in zip(got.train, want.train)) and torch.equal(got.test_target, want.test_target)


def test_evaluation_learners_take_the_registry_names_once_and_cross_arch_adds_both():
    """Before: cross_arch replaced eval_learners, and network='SASRec' gave ['SASRec', 'sasrec', 'gru4rec'] (SASRec twice)."""
    from types import SimpleNamespace

    from mmdistill.modalities.sequences.evaluate import evaluation_learners

    cfg = SimpleNamespace(eval_learners=[], network="SASRec", cross_arch=True)
    assert evaluation_learners(cfg) == ["sasrec", "gru4rec"]
    cfg = SimpleNamespace(eval_learners=["gru4rec"], network="sasrec", cross_arch=False)
    assert evaluation_learners(cfg) == ["gru4rec"]
    cfg.cross_arch = True
    assert evaluation_learners(cfg) == ["gru4rec", "sasrec"]
    with pytest.raises(ConfigError, match="unknown learner 'bert4rec'"):
        evaluation_learners(SimpleNamespace(eval_learners=[], network="bert4rec", cross_arch=False))


def test_a_tucker_summary_without_its_item_factor_is_a_config_error():
    from mmdistill.modalities.sequences.summary import init_summary

    cfg = sequences_td3.RECIPE.config(**TINY)
    with pytest.raises(ConfigError, match="parameterization=tucker needs the pretrained item embedding"):
        init_summary(cfg, 40, None, generator(0), {})


def test_a_max_len_whose_attention_cannot_fit_is_refused_naming_it():
    """max_len=100000 padded every window to 100,000 items and ended in a traceback asking for 640 GB."""
    cfg = tiny(max_len=100_000)
    with pytest.raises(ConfigError, match=r"max_len=100000: every learner window is padded to max_len items") as err:
        MODALITY.load(cfg)
    assert err.value.key == "max_len"


def test_eval_epochs_is_no_resume_key():
    """Made a derived key today, it first blocked every checkpoint written before ("eval_epochs: (no such key) -> 300")."""
    from mmdistill.keys import resume_values

    assert "eval_epochs" not in resume_values(tiny())


def test_decoded_json_holds_every_sequence_and_the_preview_says_how_many_it_shows(tmp_path):
    """decoded.json held the first 4 sequences (the preview's), silently; probabilities like 1/60 showed as 0.02."""
    cfg = tiny(sequences_farzi, seq_num=6)
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    MODALITY.write_preview(syn.detached(), tmp_path / "preview.png", "t")
    assert len(json.loads((tmp_path / "decoded.json").read_text())["sequences"]) == 6


def test_resume_with_another_selection_protocol_names_the_key(tmp_path):
    """A resume whose selection would score with other eval_steps is refused naming the key and both values (it
    named the metric's two long descriptions)."""
    run = {**TINY, "out": str(tmp_path / "sel"), "iterations": 3, "select_every": 1, "evaluate": False}
    sequences_td3.RECIPE.run(**run, stop_after=1)
    with pytest.raises(ConfigError, match=r"differ \(eval_steps: 0 -> 4\)"):
        sequences_td3.RECIPE.run(**{**run, "eval_steps": 4, "resume": True})


def test_the_pretrained_learner_is_kept_on_disk_and_read_back(tmp_path, caplog, monkeypatch):
    """A resume, an eval or a second run on the same data reads the pretrained learner from the cache (it pretrained
    again: about 140 s on ml-latest-small at the cpu budget); other settings or data get another file; a damaged file
    is a warning and is replaced; pretrain_cache=false writes nothing."""
    import logging

    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_cache import cache_file

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    cfg = tiny()
    data = MODALITY.load(cfg)
    first = seq_train.pretrained_learner(data, cfg, "sasrec")
    path = cache_file(data, cfg, "sasrec")
    assert path.is_file() and path.parent == tmp_path / "cache" / "sequences"
    calls = []
    monkeypatch.setattr(seq_train, "train_on_windows", lambda *a, **k: calls.append(1) or {})
    with caplog.at_level(logging.INFO):
        again = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")  # a new process's data object
    assert not calls and "read from the cache" in caplog.text and again.info["read_from_cache"]
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)
    assert cache_file(data, tiny(pretrain_epochs=2), "sasrec") != path and cache_file(data, cfg, "gru4rec") != path
    other = MODALITY.load(tiny(dataset="generated:41:40"))
    assert cache_file(other, cfg, "sasrec") != path
    path.write_bytes(b"not safetensors")
    monkeypatch.undo()
    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    assert "cannot be used" in caplog.text and str(path) in caplog.text
    assert seq_train.read_pretrained(path, seq_train.pretrain_key(data, cfg, "sasrec")) is not None  # replaced
    off = tiny(pretrain_cache=False, pretrain_cache_dir=str(tmp_path / "off"))
    seq_train.pretrained_learner(MODALITY.load(off), off, "sasrec")
    assert not (tmp_path / "off").exists()


def _drop_a_tensor(state, info):
    state.pop(sorted(state)[0])


@pytest.mark.parametrize("edit, said", [
    (_drop_a_tensor, "its weights are not this learner's"),
    (lambda s, i: s[sorted(s)[0]].view(-1).__setitem__(0, float("nan")), "hold NaN or infinite values"),
    (lambda s, i: i.update(epochs="x"), "its info field 'epochs' is 'x'"),
    (lambda s, i: i.pop("test"), "its info has no 'test'"),
], ids=["tensor-missing", "nan", "info-epochs-text", "info-no-test"])
def test_a_cached_learner_that_is_not_this_learner_is_pretrained_again(tmp_path, caplog, monkeypatch, edit, said):
    """Walk 49A: a cached pretrained learner (a shared or damaged cache) was checked for its key only: a tensor missing
    failed load_state_dict in the matcher with a traceback, NaN weights were the teacher, an info field of text printed
    a logging traceback and one missing ('test') a KeyError at evaluation. Each is a warning and a new pretraining."""
    import logging

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_cache import cache_file

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    cfg = tiny()
    first = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    path = cache_file(MODALITY.load(cfg), cfg, "sasrec")
    state = load_file(str(path))
    with safe_open(str(path), "pt") as fh:
        meta = dict(fh.metadata())
    info = json.loads(meta["info"])
    edit(state, info)
    save_file(state, str(path), metadata={**meta, "info": json.dumps(info)})
    with caplog.at_level(logging.WARNING):
        again = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    assert f"pretrained-learner cache {path} cannot be used" in caplog.text and said in caplog.text, caplog.text
    assert "read_from_cache" not in again.info and all(torch.equal(first.state[k], again.state[k]) for k in first.state)


def test_an_unknown_dataset_name_is_refused_with_the_close_match_and_the_valid_names(tmp_path):
    """``--dataset cvs --data-root log.csv`` was sniffed and the set labelled "cvs"; ``ml-1n`` read MovieLens with the
    ``release *`` row of tables/td3.yaml instead of ml-1m's. A new run refuses names outside the documented set (key
    dataset); a set saved under such a name before still loads (eval, check), its log sniffed as before."""
    from mmdistill.modalities.sequences.data import check_dataset_name

    paths = _write_logs(tmp_path)
    for name, hint in (("cvs", "did you mean csv?"), ("recbol", "did you mean recbole?"), ("ml-1n", "did you mean ml-1m")):
        with pytest.raises(ConfigError, match=rf"^dataset '{name}' .*{hint}.*\(valid: generated\[:USERS:ITEMS\], ml-100k, ml-1m, "
                                              r"ml-latest-small, magazine, epinions, movielens, recbole, csv, sasrec, amazon, file\)$") as err:
            check_dataset_name(name)
        assert err.value.key == "dataset"
    with pytest.raises(ConfigError, match=r"'ml-20m' is not a MovieLens release with hyper-parameters of its own .*--dataset movielens"):
        check_dataset_name("ml-20m")
    with pytest.raises(ConfigError, match=r"'foo' is not a sequences dataset; for your own log pass its format"):
        sequences_td3.RECIPE.run(dataset="foo", data_root=str(paths["csv"]), out=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    for name in ("CSV", "file", "movielens", "generated:20:15", "ml-1m"):
        check_dataset_name(name)
    assert load_sequences("cvs", str(paths["csv"]), OPTS).num_users == 3  # a set saved under it re-loads its log
    assert load_sequences("file", str(paths["csv"]), OPTS).name == "log"
    assert load_sequences("movielens", str(paths["movielens"]), OPTS).num_items == 4

def _ml_ratings(rows=ROWS) -> str:
    return "userId,movieId,rating,timestamp\n" + "\n".join(f"{u},{i},4.0,{t}" for u, i, t in rows)


def _ml_movies(tag: str) -> str:
    return "movieId,title,genres\n" + "".join(f"{i},{tag} {i},x\n" for i in "abcd")


def test_two_ratings_files_or_a_member_stored_twice_are_refused_naming_them(tmp_path):
    """Walk 39A #3: a zip (or folder) of two releases read the first ratings file without a word, and the other release's
    movies.csv named its items; a member stored twice was read from its last copy. Both are refused, naming the files."""
    import warnings

    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("ml-a/ratings.csv", _ml_ratings())
        zf.writestr("ml-b/ratings.csv", _ml_ratings())
        zf.writestr("ml-b/movies.csv", _ml_movies("B"))
    with pytest.raises(DataError, match=r"two\.zip holds 2 ratings files \(ml-a/ratings\.csv, ml-b/ratings\.csv\).*--data-root"):
        load_sequences("movielens", str(two), OPTS)
    dup = tmp_path / "dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(dup, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name" warning
        zf.writestr("ml/ratings.csv", _ml_ratings())
        zf.writestr("ml/ratings.csv", _ml_ratings(ROWS[:7]))
    with pytest.raises(DataError, match=r"dup\.zip: the zip stores the member ml/ratings\.csv 2 times"):
        load_sequences("movielens", str(dup), OPTS)
    folder = tmp_path / "releases"
    for release in ("ml-a", "ml-b"):
        (folder / release).mkdir(parents=True)
        (folder / release / "ratings.csv").write_text(_ml_ratings())
    with pytest.raises(DataError, match=r"holds 2 ratings files \(.*ml-a/ratings\.csv, .*ml-b/ratings\.csv\)"):
        load_sequences("movielens", str(folder), OPTS)
    assert load_sequences("movielens", str(folder / "ml-a"), OPTS).num_users == 3  # the release chosen by its folder


def test_a_release_folder_is_walked_once_finding_the_same_files_in_the_same_order(tmp_path, caplog, monkeypatch):
    """Review 40C: a data folder was walked once per ratings and titles file name (up to 6 walks); it is walked once,
    bucketed by name: the same refusal of two ratings files (in the same order), titles from the ratings file's
    folder only, the titles elsewhere named in the same order."""
    from pathlib import Path

    walks = []
    real = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: walks.append(pattern) or real(self, pattern))
    folder = tmp_path / "tree"
    for sub in ("ml-b", "ml-a", "old"):
        (folder / sub).mkdir(parents=True)
    (folder / "ml-b" / "u.data").write_text("1\t1\t5\t1\n")
    (folder / "ml-a" / "ratings.csv").write_text(_ml_ratings())
    (folder / "old" / "ratings.dat").write_text("1::1::5::1\n")
    with pytest.raises(DataError, match=r"holds 3 ratings files \(.*ml-a/ratings\.csv, .*old/ratings\.dat, .*ml-b/u\.data\)"):
        load_sequences("movielens", str(folder), OPTS)
    assert walks == ["*"]
    (folder / "ml-b" / "u.data").unlink()
    (folder / "old" / "ratings.dat").unlink()
    for titles in ("old/movies.dat", "old/movies.csv", "ml-b/u.item", "movies.csv"):
        (folder / titles).write_text(_ml_movies("X"))
    walks.clear()
    with caplog.at_level("WARNING", logger="mmdistill.modalities.sequences.data"):
        assert load_sequences("movielens", str(folder), OPTS).titles is None
    assert walks == ["*"]
    named = [str(folder / f) for f in ("movies.csv", "old/movies.csv", "old/movies.dat", "ml-b/u.item")]
    assert ", ".join(named) in caplog.text  # by name as RATINGS_FILES / TITLE_FILES list them, each name's sorted


def test_titles_come_only_from_the_ratings_files_folder(tmp_path, caplog):
    """Walk 39A #3: titles were the first movies.csv anywhere in the zip or folder, another release's in a zip of two.
    They are read beside the ratings file only; a titles file elsewhere is named in a warning and not read."""
    zpath = tmp_path / "mixed.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ml-b/movies.csv", _ml_movies("B"))
        zf.writestr("ml-a/ratings.csv", _ml_ratings())
    with caplog.at_level("WARNING", logger="mmdistill.modalities.sequences.data"):
        data = load_sequences("movielens", str(zpath), OPTS)
    assert data.titles is None
    assert "no movies.csv beside ml-a/ratings.csv; the titles file(s) ml-b/movies.csv are not read" in caplog.text
    with zipfile.ZipFile(zpath, "a") as zf:
        zf.writestr("ml-a/movies.csv", _ml_movies("A"))
    assert load_sequences("movielens", str(zpath), OPTS).titles == ["A a", "A b", "A c", "A d"]
    folder = tmp_path / "tree"
    (folder / "ml-a").mkdir(parents=True)
    (folder / "ml-a" / "ratings.csv").write_text(_ml_ratings())
    (folder / "movies.csv").write_text(_ml_movies("top"))  # not the release's folder
    caplog.clear()
    with caplog.at_level("WARNING", logger="mmdistill.modalities.sequences.data"):
        assert load_sequences("movielens", str(folder), OPTS).titles is None
    assert "are not read" in caplog.text and str(folder / "movies.csv") in caplog.text
    (folder / "ml-a" / "movies.csv").write_text(_ml_movies("A"))
    assert load_sequences("movielens", str(folder), OPTS).titles == ["A a", "A b", "A c", "A d"]


@pytest.mark.parametrize("bad", ["ev\nil\x1b[31m", "rtl\u202eexe", "c1\x85x", "tab\tz"])
def test_a_set_named_after_a_file_gets_no_control_or_format_characters(tmp_path, caplog, bad):
    """Walk 39A #9: a zip named ``ev\\nil\\x1b[31m.zip`` named the set so; the run wrote a manifest that its own show and
    load refused as edited, and the escape reached the terminal. The name's control and format characters become
    ``_`` (logged, escaped), and the messages show the file name escaped."""
    from mmdistill.words import clean_name, shown

    zpath = tmp_path / f"{bad}.zip"
    zpath.write_bytes(_write_logs(tmp_path)["movielens"].read_bytes())
    with caplog.at_level("INFO", logger="mmdistill.modalities.sequences.data"):
        data = load_sequences("movielens", str(zpath), OPTS)
    assert data.name == clean_name(bad) and all(ch.isprintable() for ch in data.name) and data.name.count("_") >= 1
    assert not any(ord(ch) < 32 or ord(ch) == 127 or 0x80 <= ord(ch) < 0xA0 or ch == "\u202e" for ch in caplog.text.replace("\n", ""))
    assert caplog.text.count("\n") == len(caplog.records)  # no record holds a line break of the file name
    assert "they are replaced by '_'" in caplog.text
    # review 40C: the one cleaning a manifest's name gets (words.written_name, report's too), naming the file
    assert f"the set records it as {shown(data.name)}" in caplog.text and f"(named after the file {shown(str(zpath))})" in caplog.text
    assert load_sequences("movielens", str(_write_logs(tmp_path)["movielens"]), OPTS).name == "ml-toy"  # a plain name as it was


def test_a_control_character_file_name_gives_a_set_that_its_own_show_accepts(tmp_path):
    """Walk 39A #9 through a whole run: the set named after ``ev\\nil.csv`` is written and shown without the refusal
    'a name holds no line break' (the manifest's dataset is the cleaned name)."""
    from mmdistill.cli import main as cli

    log = tmp_path / "ev\nil\x1b[31m.csv"
    log.write_text("user,item,timestamp\n" + "\n".join(f"u{u},i{(u * 3 + k) % 12},{k}" for u in range(12) for k in range(8)))
    out = tmp_path / "run"
    sequences_td3.RECIPE.run(**{**TINY, "dataset": "csv", "data_root": str(log), "out": str(out), "iterations": 1,
                                "min_user_inter": 1, "min_item_inter": 1, "evaluate": False})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"] == "ev_il_[31m"
    assert cli(["show", str(out)]) == 0


def test_a_stop_while_pretraining_says_the_learner_is_not_kept_yet(tmp_path, monkeypatch):
    """A Ctrl-C / SIGTERM while the learner pretrains gave the run's generic "--resume (from the last checkpoint, when one
    was written)"; it says what is kept (the cache file, once pretraining finishes) and how to go on."""
    from mmdistill.errors import InterruptedRun
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_cache import cache_file
    from mmdistill.stop_signals import Terminated

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    cfg = tiny()
    data = MODALITY.load(cfg)

    def stopped(*a, **k):
        raise Terminated()

    monkeypatch.setattr(seq_train, "train_on_windows", stopped)
    with pytest.raises(InterruptedRun) as stop:
        seq_train.pretrained_learner(data, cfg, "sasrec")
    assert str(stop.value) == (f"stopped by SIGTERM; the sasrec learner was being pretrained (no epoch finished; "
                               f"{cache_file(data, cfg, 'sasrec')} keeps it once it finishes): run the same command again to "
                               "pretrain it from its first epoch")
    assert stop.value.signum == 15 and not cache_file(data, cfg, "sasrec").exists()
    with pytest.raises(InterruptedRun, match=r"\(pretrain_cache=false keeps nothing\)"):
        seq_train.pretrained_learner(data, tiny(pretrain_cache=False), "sasrec")


def _pretrain_stopped_at_validation(monkeypatch, seq_train, data, cfg, stop_at: int):
    """Pretrain, raising SIGTERM's Terminated in the ``stop_at``-th validation (so ``stop_at - 1`` epochs finished)."""
    from mmdistill.errors import InterruptedRun
    from mmdistill.stop_signals import Terminated

    real, calls = seq_train.rank_metrics, []

    def stopping(*a, **k):
        calls.append(1)
        if len(calls) == stop_at:
            raise Terminated()
        return real(*a, **k)

    monkeypatch.setattr(seq_train, "rank_metrics", stopping)
    with pytest.raises(InterruptedRun) as stop:
        seq_train.pretrained_learner(data, cfg, "sasrec")
    monkeypatch.setattr(seq_train, "rank_metrics", real)
    return str(stop.value)


def test_a_stopped_pretraining_keeps_its_finished_epochs_and_continues_bit_for_bit(tmp_path, monkeypatch, caplog):
    """A stop while the learner pretrains (100 epochs by default: an hour or more on MovieLens-1M on a CPU) lost every
    epoch; the finished ones are kept beside the cache file and the same command continues from them, to the learner
    an uninterrupted pretraining gives, bit for bit; the partial file goes once the learner is cached."""
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_cache import cache_file
    from mmdistill.modalities.sequences.pretrain_progress import partial_file

    cfg = tiny(pretrain_epochs=5, hidden_dropout=0.2, pretrain_cache_dir=str(tmp_path / "whole"))
    whole = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    cfg = tiny(pretrain_epochs=5, hidden_dropout=0.2, pretrain_cache_dir=str(tmp_path / "stopped"))
    data = MODALITY.load(cfg)
    path = cache_file(data, cfg, "sasrec")
    said = _pretrain_stopped_at_validation(monkeypatch, seq_train, data, cfg, stop_at=3)
    assert said == (f"stopped by SIGTERM; the sasrec learner was being pretrained: {partial_file(path)} keeps its first 2 "
                    "of 5 epochs: run the same command again to continue from there")
    assert partial_file(path).is_file() and not path.exists()
    with caplog.at_level(logging.INFO, logger="mmdistill.modalities.sequences"):
        again = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    assert "pretraining continues from" in caplog.text and again.info["continued_from_epoch"] == 2
    assert whole.state.keys() == again.state.keys() and all(torch.equal(whole.state[k], again.state[k]) for k in whole.state)
    assert again.info["best_epoch"] == whole.info["best_epoch"] and again.info["valid_hr@10"] == whole.info["valid_hr@10"]
    assert path.is_file() and not partial_file(path).exists()


def test_a_stop_when_the_kept_epochs_could_not_be_written_says_so(tmp_path, monkeypatch):
    """Walk 45A: on a full disk the partial file's writes fail (a warning each); the stop then said "no epoch finished"
    when two had. It says they finished and could not be kept, and why."""
    import errno

    from mmdistill.modalities.sequences import pretrain_progress
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_progress import partial_file
    from mmdistill.modalities.sequences.pretrain_cache import cache_file

    def full(path, tensors, metadata=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pretrain_progress, "save_tensors", full)
    cfg = tiny(pretrain_epochs=5, pretrain_cache_dir=str(tmp_path / "c"))
    data = MODALITY.load(cfg)
    said = _pretrain_stopped_at_validation(monkeypatch, seq_train, data, cfg, stop_at=3)
    assert said == (f"stopped by SIGTERM; the sasrec learner was being pretrained: its finished epochs could not be kept in "
                    f"{partial_file(cache_file(data, cfg, 'sasrec'))} (No space left on device): run the same command again "
                    "to pretrain it from its first epoch")


@pytest.mark.parametrize("damage", ["bytes", "other key"])
def test_a_damaged_or_foreign_partial_pretraining_is_a_warning_and_a_fresh_start(damage, tmp_path, monkeypatch, caplog):
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.pretrain_cache import cache_file
    from mmdistill.modalities.sequences.pretrain_progress import partial_file

    cfg = tiny(pretrain_epochs=3, pretrain_cache_dir=str(tmp_path / "whole"))
    whole = seq_train.pretrained_learner(MODALITY.load(cfg), cfg, "sasrec")
    cfg = tiny(pretrain_epochs=3, pretrain_cache_dir=str(tmp_path / "here"))
    data = MODALITY.load(cfg)
    partial = partial_file(cache_file(data, cfg, "sasrec"))
    if damage == "bytes":
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"not a safetensors file")
    else:  # another seed's stopped pretraining, renamed to this key's file
        other = tiny(pretrain_epochs=3, seed=7, pretrain_cache_dir=str(tmp_path / "here"))
        _pretrain_stopped_at_validation(monkeypatch, seq_train, MODALITY.load(other), other, stop_at=2)
        partial_file(cache_file(MODALITY.load(other), other, "sasrec")).rename(partial)
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.sequences"):
        again = seq_train.pretrained_learner(data, cfg, "sasrec")
    assert f"pretraining progress {partial} cannot be used" in caplog.text
    assert "continued_from_epoch" not in again.info and all(torch.equal(whole.state[k], again.state[k]) for k in whole.state)


def _windows_training(cfg, epochs: int):
    """``train(progress=None) -> (state dict, info)``: a fresh SASRec of ``cfg``'s data trained on its windows for
    ``epochs`` epochs (batch 4, seeded), keeping its progress in ``progress`` when given."""
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.modalities.sequences.nets import build_learner

    data = MODALITY.load(cfg)
    x, y = data.windows()
    p = seq_train.LearnerProtocol(lr=0.01, weight_decay=0.0, steps=0, batch=4, epochs=epochs)

    def train(progress=None):
        learner = build_learner("sasrec", data.num_items, data.max_len, cfg)
        gen = generator(0, "pretrain")
        learner.init_weights(gen)
        info = seq_train.train_on_windows(learner, x, y, p, gen, progress=progress)
        return learner.state_dict(), info

    train.batches = -(-x.shape[0] // p.batch)  # type: ignore[attr-defined]
    return train


def _stopped_in_epoch_3(monkeypatch, train, progress) -> None:
    """``train(progress)`` stopped by a SIGTERM (:class:`Terminated`) at the third batch of its third epoch."""
    from mmdistill.modalities.sequences import train as seq_train
    from mmdistill.stop_signals import Terminated

    real, calls = seq_train.real_loss, []

    def stopping(*a, **k):
        calls.append(1)
        if len(calls) == 2 * train.batches + 2:  # inside epoch 3
            raise Terminated()
        return real(*a, **k)

    monkeypatch.setattr(seq_train, "real_loss", stopping)
    with pytest.raises(Terminated):
        train(progress)
    monkeypatch.setattr(seq_train, "real_loss", real)


def test_training_on_windows_continued_from_kept_epochs_equals_the_uninterrupted_training(tmp_path, monkeypatch):
    """Every part of the kept state counts (weights, Adam's moments, the shuffling generator, the global generator
    that draws dropout): the weights after a stop in epoch 3 and a continuation equal 4 uninterrupted epochs'."""
    from mmdistill.modalities.sequences.pretrain_progress import PretrainingProgress

    train = _windows_training(tiny(hidden_dropout=0.3, attn_dropout=0.3), epochs=4)
    whole, _ = train()
    key = {"test": 1}
    kept = PretrainingProgress(tmp_path / "p.partial.safetensors", key)
    _stopped_in_epoch_3(monkeypatch, train, kept)
    assert kept.kept_epochs == 2
    again, info = train(PretrainingProgress(tmp_path / "p.partial.safetensors", key))
    assert info["continued_from_epoch"] == 2 and all(torch.equal(whole[k], again[k]) for k in whole)


def _first_key(tensors, prefix):
    return next(k for k in sorted(tensors) if k.startswith(prefix) and tensors[k].dim() > 0)


@pytest.mark.parametrize("edit", [
    lambda t: t.update({_first_key(t, "opt."): torch.zeros(3)}),  # an Adam moment of another shape
    lambda t: t.update({_first_key(t, "opt."): t[_first_key(t, "opt.")].fill_(float("nan"))}),
    lambda t: t[_first_key(t, "learner.")].view(-1).__setitem__(0, float("nan")),
    lambda t: t.update({"rng.global": t["rng.global"][:10].clone()}),
    lambda t: t.update({"best.nonsense": torch.zeros(2)}),
], ids=["moment-shape", "moment-nan", "learner-nan", "rng-size", "best-foreign"])
def test_a_crafted_partial_pretraining_is_a_warning_and_a_fresh_start(tmp_path, monkeypatch, caplog, edit):
    """Walk 49A: the partial pretraining's Adam moments went into the optimizer unchecked (one of another shape stopped
    the run at its next step with a traceback from torch.optim), NaN weights or moments were trained on, a 'best' state
    of other tensors became the pretrained learner at the end. Each is a warning and a fresh start, as damage is."""
    from safetensors.torch import load_file, save_file

    from mmdistill.modalities.sequences.pretrain_progress import PretrainingProgress

    train = _windows_training(tiny(), epochs=3)
    whole, _ = train()
    path = tmp_path / "p.partial.safetensors"
    _stopped_in_epoch_3(monkeypatch, train, PretrainingProgress(path, {"test": 1}))
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = dict(fh.metadata())
    edit(tensors)
    save_file(tensors, str(path), metadata=meta)
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.sequences"):
        again, info = train(PretrainingProgress(path, {"test": 1}))
    assert f"pretraining progress {path} cannot be used" in caplog.text, caplog.text
    assert "continued_from_epoch" not in info and all(torch.equal(whole[k], again[k]) for k in whole)


def test_several_processes_are_refused_before_the_data_is_loaded_or_the_learner_pretrained(tmp_path, monkeypatch):
    """Under torchrun every rank loaded the log and pretrained the learner (100 epochs by default) before the one-line
    refusal (walk 44C); the adapter says it does not shard and the run refuses first."""
    from mmdistill import run as run_module
    from mmdistill.distributed import Workers

    monkeypatch.setattr(MODALITY, "load", lambda cfg: pytest.fail("loaded before the refusal"))
    with pytest.raises(ConfigError, match=r"sequences-td3 does not shard its matching over processes .*start it without torchrun"):
        run_module._distill("sequences-td3", "td3", tiny(), MODALITY, lambda ctx: pytest.fail("matcher built"), None,
                            out=tmp_path / "out", device=torch.device("cpu"), started=0.0, stop_after=None, resume_keys={},
                            workers=Workers(0, 2))


def test_pretraining_shows_a_progress_bar_over_its_batches(tmp_path, capsys):
    """Scale walk 48B: pretraining (100 epochs by default; one epoch took over 15 minutes on a generated log of 1M rows,
    20,000 users and 25,000 items on one busy core) printed nothing until it ended; with ``progress`` it now shows a
    bar over every epoch's batches, and the learner is the same with or without it."""
    from mmdistill.modalities.sequences import train as seq_train

    shown, quiet = (tiny(pretrain_cache=False, pretrain_epochs=2, progress=flag) for flag in (True, False))
    first = seq_train.pretrained_learner(MODALITY.load(shown), shown, "sasrec")
    err = capsys.readouterr().err
    assert "pretraining sasrec (2 epochs)" in err and "batch" in err
    second = seq_train.pretrained_learner(MODALITY.load(quiet), quiet, "sasrec")
    assert "pretraining" not in capsys.readouterr().err
    assert all(torch.equal(first.state[k], second.state[k]) for k in first.state)


def test_the_memorisation_pool_of_item_profiles_has_a_size_cap(monkeypatch):
    """The real item profiles are dense users x items: a 1M-row log's 20,000 users x 24,979 items were 1.9 GB of the
    check (scale walk 48B); their values are capped (PROFILE_VALUES), so a log with many items compares fewer users."""
    from mmdistill.modalities.sequences import share

    cfg = tiny(dataset="generated:60:40")
    data = MODALITY.load(cfg)
    decoded = torch.softmax(torch.randn(4, 8, data.num_items), -1)
    full = share.sequence_memorisation_views(None, decoded, data, 1000, generator(0, "pool"))
    assert full.real_input.shape == (data.num_users, data.num_items)
    monkeypatch.setattr(share, "PROFILE_VALUES", 10 * data.num_items)
    capped = share.sequence_memorisation_views(None, decoded, data, 1000, generator(0, "pool"))
    assert capped.real_input.shape == (10, data.num_items)


def test_right_padded_keeps_the_last_items_of_lists_and_tensors_alike():
    """Review 53: items_like's keep-the-last-max_len-and-right-pad loop repeated SequenceData.padded; both call
    data.right_padded, which takes item-index lists (items_like) and tensors (the learner's batches)."""
    from mmdistill.modalities.sequences.data import right_padded

    out, lens = right_padded([[1, 2, 3, 4], torch.tensor([5]), []], 3, 9)
    assert out.tolist() == [[2, 3, 4], [5, 9, 9], [9, 9, 9]] and lens.tolist() == [3, 1, 0]
    assert out.dtype == lens.dtype == torch.long


def test_eval_epochs_flag_on_a_sequence_set_is_named_as_the_flag(tmp_path, capsys):
    """Walk 55O: ``mmdistill eval RUN --epochs 2`` on a sequence set said "config key 'eval_epochs' (in changes) does not
    apply to recipe sequences-td3": a key and a layer the user never typed. Now the flag and what to give instead."""
    from mmdistill.cli import main as cli_main

    sequences_td3.run(**dict(TINY, evaluate=False), out=str(tmp_path / "run"))
    assert cli_main(["eval", str(tmp_path / "run"), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "--epochs does not apply to sequences-td3: its evaluation has no eval_epochs; use eval_steps" in err
    assert "in changes" not in err
