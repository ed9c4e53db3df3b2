"""A shop's own interaction log, as exported: ISO 8601 timestamps, its own column names (walk 52B)."""

from __future__ import annotations

import datetime as dt

import pytest
import torch

from mmdistill.errors import DataError
from mmdistill.modalities.sequences.data import SequenceLoadOptions, load_sequences
from mmdistill.modalities.sequences.timestamps import ISO, ISO_NAIVE, NUMBER, timestamp_seconds

OPTS = SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1)
T0 = dt.datetime(2024, 3, 1, 9, 0, 0, tzinfo=dt.timezone.utc)
#: (customer, sku, hours after T0): C-2's two events tie, C-1 buys SKU-a twice
EVENTS = [("C-1", "SKU-a", 0), ("C-2", "SKU-b", 1), ("C-1", "SKU-b", 5), ("C-2", "SKU-c", 3), ("C-2", "SKU-a", 3),
          ("C-1", "SKU-a", 7), ("C-2", "SKU-d", 2), ("C-1", "SKU-c", 9)]


def _write(path, when, header="user,item,timestamp", sep=","):
    lines = [header] + [sep.join([u, i, when(T0 + dt.timedelta(hours=h))]) for u, i, h in EVENTS]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_timestamp_seconds_reads_numbers_and_iso_8601():
    assert timestamp_seconds("1709283600") == (1709283600.0, NUMBER)
    assert timestamp_seconds("2024-03-01T09:00:00Z") == (1709283600.0, ISO)
    assert timestamp_seconds("2024-03-01T11:00:00+02:00") == (1709283600.0, ISO)
    assert timestamp_seconds("2024-03-01 09:00:00") == (1709283600.0, ISO_NAIVE)
    assert timestamp_seconds("2024-03-01") == (1709251200.0, ISO_NAIVE)
    for bad in ("yesterday", "nan", "inf", "2024-02-30", "2024-13-01T00:00:00Z", ""):
        assert timestamp_seconds(bad) is None, bad


@pytest.mark.parametrize("fmt", [lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"), lambda t: t.isoformat(),
                                 lambda t: t.strftime("%Y-%m-%d %H:%M:%S")], ids=["Z", "offset", "space-naive"])
def test_a_log_of_iso_timestamps_gives_the_sequences_of_its_epoch_seconds(tmp_path, fmt):
    """Before, every ISO 8601 row was 'a non-numeric or non-finite timestamp' and the hint was on_bad=skip, which drops
    them all: a shop's export had to be rewritten to epoch seconds first."""
    epoch = load_sequences("csv", _write(tmp_path / "epoch.csv", lambda t: str(int(t.timestamp()))), OPTS)
    iso = load_sequences("csv", _write(tmp_path / "iso.csv", fmt), OPTS)
    assert iso.users == epoch.users and iso.item_ids == epoch.item_ids
    assert all(torch.equal(a, b) for a, b in zip(iso.train, epoch.train))
    assert torch.equal(iso.test_target, epoch.test_target) and torch.equal(iso.valid_target, epoch.valid_target)
    assert iso.stats["timestamp_format"] == "iso8601" and "timestamp_format" not in epoch.stats
    assert iso.report.as_dict()["facts"]["timestamp_format"] == "iso8601"


def test_a_log_mixing_iso_and_numbers_is_refused_naming_a_line_of_each(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("user,item,timestamp\nC-1,SKU-a,2024-03-01T09:00:00Z\nC-1,SKU-b,1709290000\nC-1,SKU-c,1709299000\n")
    with pytest.raises(DataError, match=r"mix ISO 8601 date-times \(1 rows, line 2: '2024-03-01T09:00:00Z'\) and numbers "
                                        r"\(2 rows, line 3: '1709290000'\)"):
        load_sequences("csv", str(path), OPTS)


def test_timestamps_that_are_all_unreadable_do_not_advise_skipping_them(tmp_path):
    """on_bad=skip would drop every row; the message says what a timestamp may be instead."""
    path = _write(tmp_path / "words.csv", lambda t: t.strftime("%d %B %Y"))
    with pytest.raises(DataError, match=r"8 of 8 rows .*a timestamp is a number \(epoch seconds\) or an ISO 8601 "
                                        r"date-time") as err:
        load_sequences("csv", path, OPTS)
    assert "on_bad=skip" not in str(err.value)


def test_the_csv_columns_are_named_by_keys_without_rewriting_the_header(tmp_path):
    """Before, a header of the shop's own names (customer,sku,ts,qty) was refused ('without a user column') and the only
    way on was to rename the columns in the file."""
    from mmdistill.modalities.sequences.config import SequenceDistillConfig

    plain = load_sequences("csv", _write(tmp_path / "plain.csv", lambda t: str(int(t.timestamp()))), OPTS)
    lines = ["customer\tsku\tts\tqty"] + [f"{u}\t{i}\t{int((T0 + dt.timedelta(hours=h)).timestamp())}\t1" for u, i, h in EVENTS]
    own = tmp_path / "own.tsv"
    own.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"without a user column; .*or pass user_column=NAME"):
        load_sequences("csv", str(own), OPTS)
    opts = SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, columns=("Customer", "sku", None))
    data = load_sequences("csv", str(own), opts)  # ts is found by its usual name
    assert data.users == plain.users and data.item_ids == plain.item_ids
    assert all(torch.equal(a, b) for a, b in zip(data.train, plain.train))
    # the keys exist on the recipe's config and reach the loader (the adapter builds the options from them)
    cfg = SequenceDistillConfig(dataset="csv", data_root=str(own), user_column="customer", item_column="sku",
                                min_user_inter=1, min_item_inter=1, max_len=5, seq_len=4)
    from mmdistill.modalities.sequences.adapter import SequenceModality
    assert SequenceModality().load(cfg).users == plain.users


def test_a_named_column_the_header_lacks_or_shares_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "own.csv"
    path.write_text("customer,sku,when\nC-1,SKU-a,1\nC-1,SKU-b,2\nC-1,SKU-c,3\n")
    with pytest.raises(DataError, match=r"user_column='client', but the header on line 1 has no such column \(its columns: "
                                        r"customer, sku, when\)"):
        load_sequences("csv", str(path), SequenceLoadOptions(columns=("client", "sku", "when")))
    with pytest.raises(DataError, match=r"is a header \(customer, sku, when\) without a timestamp column; name it .*, or "
                                        r"pass time_column=NAME"):
        load_sequences("csv", str(path), SequenceLoadOptions(columns=("customer", "sku", None)))
    # the usual names found twice (no key given): one refusal, whichever way the columns are found
    twice = tmp_path / "twice.csv"
    twice.write_text("user,user_id,item,timestamp\nu1,u1,a,1\nu1,u1,b,2\n")
    with pytest.raises(DataError, match=r"the header on line 1 has 2 user columns \(user, user_id\); keep one, or name one "
                                        r"with user_column=NAME"):
        load_sequences("csv", str(twice), OPTS)
    with pytest.raises(DataError, match=r"user_column='customer', item_column='customer', .* name one column for two roles"):
        load_sequences("csv", str(path), SequenceLoadOptions(columns=("customer", "customer", "when")))
    from mmdistill.errors import ConfigError
    with pytest.raises(ConfigError, match=r"user_column names a column of a csv log's header, but .* is read as sasrec"):
        load_sequences("sasrec", str(path), SequenceLoadOptions(columns=("customer", None, None)))


def test_the_popularity_floor_is_scored_next_to_the_learned_sets():
    """Before, the table had random real users, the most active ones and the whole data, all learners on pretrained
    embeddings, but not the non-personalised floor (every user gets the items by training count) a recommender must
    beat: a summary scoring near it taught the learner nothing of the users."""
    import math

    from mmdistill.modalities.sequences.data import build_sequences
    from mmdistill.modalities.sequences.evaluate import sequence_plan
    from mmdistill.recipes import sequences_td3

    rows = [("u1", "a", "1"), ("u1", "b", "2"), ("u1", "c", "3"), ("u1", "d", "4"), ("u2", "b", "5"), ("u2", "a", "3"),
            ("u2", "c", "9"), ("u3", "c", "1"), ("u3", "d", "2"), ("u3", "a", "3"), ("u3", "b", "4")]
    data = build_sequences("toy", rows, OPTS)
    cfg = sequences_td3.RECIPE.config(seq_num=2, seq_len=4, max_len=5, eval_runs=2, eval_pretrained_embedding=False)
    assert cfg.baselines[0] == "popularity"  # on by default: it trains nothing
    plan = sequence_plan(cfg, None, data, torch.device("cpu"))
    pop = plan.networks[0].sets["popularity"]
    assert pop.runs == 1 and pop.size == data.num_users
    # training counts a 2, b 1, c 1, d 1; test items d (u1: a, b, c seen), c (u2: a, b seen; d ties it), b (u3)
    got = pop.train_and_score(pop.for_run(0), torch.Generator())
    assert got["hr@5"] == 1.0
    assert got["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1) / 3)
    assert "popularity: no learner, the items ranked by their training count" in plan.protocol["trained_as"]


def test_the_export_holds_the_distributions_a_model_of_ones_own_trains_on(tmp_path):
    """Before, the export held the Tucker factors (which only mmdistill's decoder turns into the summary), the top-5
    JSON and each position's argmax: a GRU of the user's own, in another environment, could not train on the soft
    distributions the evaluation's learners trained on; the card did not say how, nor with which embeddings the
    metrics were measured."""
    import json

    from safetensors import safe_open

    from mmdistill.modalities.sequences import SequenceModality
    from mmdistill.modalities.sequences.summary import decode_summary
    from mmdistill.recipes import sequences_td3
    from mmdistill.seeding import generator

    modality = SequenceModality()
    cfg = sequences_td3.RECIPE.config(dataset="generated:30:12", seq_num=3, seq_len=6, max_len=8, pretrain_epochs=1,
                                      pretrain_cache=False)
    syn = modality.init_synthetic(modality.load(cfg), cfg, generator(0, "init"))
    out = modality.export(syn, tmp_path / "export")
    with safe_open(str(out / "distributions.safetensors"), "pt") as f:
        x, meta = f.get_tensor("x"), f.metadata()
    with torch.no_grad():
        assert torch.allclose(x, decode_summary(syn.detached()).float())
    items = json.loads((out / "items.json").read_text())["items"]
    assert x.shape == (3, 6, len(items)) and torch.allclose(x.sum(-1), torch.ones(3, 6))
    assert "items.json's order" in meta["x"]
    note = modality.export_note(syn)
    assert "`distributions.safetensors`" in note and "`data.V` in `factors.safetensors` is that embedding" in note


def test_a_tsv_row_of_the_wrong_width_is_named_without_a_tab_in_the_message(tmp_path):
    path = tmp_path / "shop.tsv"
    path.write_text("customer\tsku\tts\tqty\nC-1\tSKU-a\t1\t1\nC-1\tSKU-b\n")
    with pytest.raises(DataError, match=r"1 of 2 lines are not customer,sku,ts,qty \(tab-separated\) rows \(line 3: 2 "
                                        r"tab-separated fields, expected 4\)") as err:
        load_sequences("csv", str(path), SequenceLoadOptions(columns=("customer", "sku", None)))
    assert "\t" not in str(err.value)


def test_held_out_items_tied_in_time_with_the_event_before_are_counted_and_said(caplog):
    """A basket's items share a timestamp, so the log's line order chose which one became the test item, silently
    (15 % of ml-latest-small's users, 19 of 227 on the shop log)."""
    from mmdistill.modalities.sequences.data import build_sequences

    rows = [("C-1", "a", "1"), ("C-1", "b", "2"), ("C-1", "c", "3"), ("C-1", "d", "3"),  # test d ties c
            ("C-2", "a", "1"), ("C-2", "b", "1"), ("C-2", "c", "5"),  # validation b ties a
            ("C-3", "a", "1"), ("C-3", "b", "2"), ("C-3", "c", "3")]
    with caplog.at_level("INFO"):
        data = build_sequences("shop", rows, OPTS)
    assert data.item_ids[int(data.test_target[0])] == "d"  # the line order decided
    facts = data.report.as_dict()["facts"]
    assert (facts["tied_test_targets"], facts["tied_valid_targets"]) == (1, 1)
    assert "1 users' test item and 1 users' validation item share their timestamp with the event before" in caplog.text
