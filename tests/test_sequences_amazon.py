"""The TD3 / Farzi papers' datasets from their raw releases (walk 55F): Amazon review files (2014 / 2018 JSON lines,
gzip-compressed; 2023 JSONL; the header-less item-first ratings CSV; the 2023 ratings CSV with a header), titles from
``meta_<Cat>``, TD3's Magazine / Epinions rows and its item-then-user filter. Every file is generated here."""

from __future__ import annotations

import gzip
import json

import pytest

from mmdistill.errors import DataError
from mmdistill.modalities.sequences.data import SequenceLoadOptions, load_sequences
from mmdistill.modalities.sequences.log_readers import sniff_format
from mmdistill.recipes import sequences_farzi, sequences_td3

OPTS = SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1)
#: (reviewer, ASIN, unix seconds, stars): three reviewers of four magazines, written out of time order
REVIEWS = [("A1USER", "B0ITEM1", 300, 5.0), ("A1USER", "B0ITEM2", 100, 4.0), ("A2USER", "B0ITEM3", 50, 3.0),
           ("A1USER", "B0ITEM3", 200, 5.0), ("A2USER", "B0ITEM1", 60, 1.0), ("A2USER", "B0ITEM4", 70, 2.0),
           ("A3USER", "B0ITEM2", 10, 5.0), ("A3USER", "B0ITEM4", 20, 5.0), ("A3USER", "B0ITEM1", 30, 4.0)]
#: each user's items oldest first
ORDER = {"A1USER": ["B0ITEM2", "B0ITEM3", "B0ITEM1"], "A2USER": ["B0ITEM3", "B0ITEM1", "B0ITEM4"],
         "A3USER": ["B0ITEM2", "B0ITEM4", "B0ITEM1"]}


def _sequences(data) -> dict[str, list[str]]:
    """Each user's items in time order: training items, then the validation and test targets."""
    out = {}
    for u, user in enumerate(data.users):
        seq = [int(i) for i in data.train[u]] + [int(data.valid_target[u]), int(data.test_target[u])]
        out[user] = [data.item_ids[i] for i in seq]
    return out


def _reviews_2014(path, extra: list[str] = ()) -> str:
    lines = [json.dumps({"reviewerID": u, "asin": i, "reviewerName": "x, y", "overall": r, "unixReviewTime": t,
                         "reviewTime": "01 1, 2014", "summary": "Good"}) for u, i, t, r in REVIEWS]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join([*lines, *extra]) + "\n")
    return str(path)


def test_a_2014_review_file_gzip_json_lines_loads_with_its_meta_titles(tmp_path):
    """Before, a reviews_<Cat>_5.json.gz was refused as 'line 1 is not UTF-8 (byte 0x8b ...); save the file as UTF-8'
    (the gzip header), and nothing read JSON lines at all."""
    path = _reviews_2014(tmp_path / "reviews_Magazine_Subscriptions_5.json.gz")
    with gzip.open(tmp_path / "meta_Magazine_Subscriptions.json.gz", "wt", encoding="utf-8") as fh:  # 2014 meta: Python literals
        fh.write("{'asin': 'B0ITEM1', 'title': 'Caf\u00e9 Monthly', 'price': 3.5}\n{'asin': 'B0ITEM2', 'categories': [['Books']]}\n"
                 "{'asin': 'B0ITEM9', 'title': 'Not in the log'}\nnot a record\n")
    assert sniff_format(tmp_path / "reviews_Magazine_Subscriptions_5.json.gz") == "amazon"
    data = load_sequences("file", path, OPTS)
    assert _sequences(data) == ORDER
    assert data.stats["format"] == "amazon"
    titles = dict(zip(data.item_ids, data.titles))
    assert titles["B0ITEM1"] == "Caf\u00e9 Monthly" and titles["B0ITEM2"] == "B0ITEM2"  # no title: its ASIN


def test_the_header_less_ratings_csv_is_read_item_first(tmp_path):
    """Amazon's 2014 / 2018 ratings-only CSV is item,user,rating,timestamp without a header. As --dataset csv it is
    refused (4 fields), and the refusal now names --dataset amazon, which reads the item from the FIRST column."""
    path = tmp_path / "Magazine_Subscriptions.csv"
    path.write_text("".join(f"{i},{u},{r},{t}\n" for u, i, t, r in REVIEWS))
    with pytest.raises(DataError, match=r"none of the 9 lines .*item,user,rating,timestamp without a header.*--dataset amazon"):
        load_sequences("csv", str(path), OPTS)
    data = load_sequences("amazon", str(path), OPTS)
    assert _sequences(data) == ORDER  # users are the reviewers, not the magazines
    assert data.titles is None


def test_the_2023_releases_jsonl_and_rating_csv_key_items_by_parent_asin(tmp_path):
    jsonl = tmp_path / "Magazine_Subscriptions.jsonl"
    jsonl.write_text("".join(json.dumps({"rating": r, "title": "review title", "text": "x", "asin": i + "-v", "parent_asin": i,
                                         "user_id": u, "timestamp": t * 1000, "verified_purchase": True}) + "\n"
                             for u, i, t, r in REVIEWS))
    (tmp_path / "meta_Magazine_Subscriptions.jsonl").write_text(json.dumps({"parent_asin": "B0ITEM4", "title": "Four"}) + "\n")
    assert sniff_format(jsonl) == "amazon"
    data = load_sequences("file", str(jsonl), OPTS)
    assert _sequences(data) == ORDER
    assert dict(zip(data.item_ids, data.titles))["B0ITEM4"] == "Four"
    csv_2023 = tmp_path / "rating_only.csv"
    csv_2023.write_text("user_id,parent_asin,rating,timestamp\n" + "".join(f"{u},{i},{r},{t * 1000}\n" for u, i, t, r in REVIEWS))
    assert _sequences(load_sequences("amazon", str(csv_2023), OPTS)) == ORDER


def test_bad_review_lines_are_named_with_their_line_and_counted(tmp_path):
    path = _reviews_2014(tmp_path / "reviews_Magazine_Subscriptions_5.json.gz",
                         ['{"reviewerID": "A9", "asin": "B0ITEM1"}', "{not json", "[1, 2]"])
    with pytest.raises(DataError, match=r"3 of 12 lines are not Amazon review JSON .*line 10: no unixReviewTime / timestamp "
                                        r"field; line 11: not a JSON object \(.* at column 2\); line 12: not a JSON object"):
        load_sequences("amazon", path, OPTS)
    data = load_sequences("amazon", path, SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, on_bad="skip"))
    assert data.stats["malformed_lines"] == 3 and _sequences(data) == ORDER


def test_a_damaged_or_non_utf8_gzip_is_named(tmp_path):
    bad_utf8 = tmp_path / "r.json.gz"
    with gzip.open(bad_utf8, "wb") as fh:
        fh.write(b'{"reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}\n{"reviewerID": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"r.json.gz: line 2 is not UTF-8 \(byte 0xe9"):
        load_sequences("amazon", str(bad_utf8), OPTS)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(("\n".join(json.dumps({"reviewerID": f"A{n}", "asin": "B", "unixReviewTime": n})
                                            for n in range(2000)) + "\n").encode())[:300])
    with pytest.raises(DataError, match=r"cut.json.gz: the gzip stream is damaged after line \d+ .*download it again"):
        load_sequences("amazon", str(cut), OPTS)


def test_a_gzip_log_given_to_a_text_format_is_named_as_gzip(tmp_path):
    """Before: 'line 1 is not UTF-8 (byte 0x8b at offset 1); save the file as UTF-8'."""
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress(b"user,item,timestamp\nu,i,1\n"))
    with pytest.raises(DataError, match=r"log.csv.gz is gzip-compressed; the csv format reads plain text.*gunzip it first"):
        load_sequences("csv", str(path), OPTS)


def test_kcore_items_first_counts_users_after_the_items_are_removed(tmp_path):
    """TD3's Magazine preprocessing (src/data.py): items with fewer than 3 ratings out, then users with fewer than 5 on
    what is left. One pass on the original counts (kcore=once) keeps a user who falls below 5 once rare items go."""
    rows = [("u1", f"rare{k}", k) for k in range(2)] + [("u1", "pop", 10 + k) for k in range(4)]
    rows += [(f"u{n}", "pop", 100 + 10 * n + k) for n in range(2, 5) for k in range(5)]
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    once = load_sequences("csv", str(path), SequenceLoadOptions(min_user_inter=5, min_item_inter=3))
    first = load_sequences("csv", str(path), SequenceLoadOptions(min_user_inter=5, min_item_inter=3, kcore="items_first"))
    assert "u1" in once.users and "u1" not in first.users
    assert first.stats["kcore_users_removed"] == 1 and first.stats["kcore_items_removed"] == 2


@pytest.mark.parametrize("recipe", [sequences_td3, sequences_farzi])
def test_the_reference_rows_for_magazine_and_epinions(recipe):
    """TD3's script/magazine.sh and script/epinions.sh; before, these names were refused as 'not a sequences
    dataset' and --dataset recbole / csv ran them with the `release *` row (20 x 50, ranks 64)."""
    from mmdistill.resolve import config_sources

    mag = recipe.RECIPE.config(dataset="magazine", data_root="Magazine_Subscriptions.jsonl")
    assert (mag.seq_num, mag.learner_batch, mag.rank_user, mag.seq_len, mag.max_len, mag.batch_real) == (30, 15, 8, 20, 20, 1024)
    assert (mag.min_item_inter, mag.min_user_inter, mag.kcore, mag.seq_lr, mag.net_lr) == (3, 5, "items_first", 0.01, 0.005)
    assert "script/magazine.sh" in config_sources(mag)["kcore"]
    ep = recipe.RECIPE.config(dataset="epinions", data_root="epinions.inter")
    assert (ep.seq_num, ep.seq_len, ep.max_len, ep.n_layers, ep.inner_size, ep.net_lr) == (15, 30, 30, 2, 32, 0.003)


def test_dataset_magazine_reads_the_amazon_format_whatever_the_file(tmp_path):
    path = tmp_path / "ratings_Magazine_Subscriptions.csv"  # header-less, item first: sniffed alone it would be csv
    path.write_text("".join(f"{i},{u},{r},{t}\n" for u, i, t, r in REVIEWS))
    data = load_sequences("magazine", str(path), OPTS)
    assert _sequences(data) == ORDER and data.name == "magazine"


def test_a_header_less_user_item_rating_file_is_not_read_silently(tmp_path, caplog):
    """A header-less user,item,rating file (no times) read as user,item,timestamp: the stars ordered every user's events
    and the only word was 'dropped N rows that repeat an earlier row's (user, item, timestamp)'."""
    path = tmp_path / "user_item_rating.csv"
    path.write_text("".join(f"u{n % 5},i{n},{1 + n % 5}\n" for n in range(30)))
    with caplog.at_level("WARNING"):
        data = load_sequences("csv", str(path), OPTS)
    assert "the timestamp column holds only 5 distinct whole numbers, from 1 to 5, over 30 rows: a rating column?" in caplog.text
    assert data.stats["rating_like_timestamps"] == 5
    caplog.clear()
    path.write_text("".join(f"u{n % 5},i{n},{1_600_000_000 + n}\n" for n in range(30)))  # real times: no word
    with caplog.at_level("WARNING"):
        load_sequences("csv", str(path), OPTS)
    assert "rating column" not in caplog.text


def test_a_ratings_csv_row_of_another_width_is_named_against_the_first_lines(tmp_path):
    """Review R3 (minor): the first CSV line was parsed twice (its columns, its width); parsed once, the width a row is
    held to is still the first line's, with a header or without."""
    rows = "".join(f"{i},{u},{r},{t}\n" for u, i, t, r in REVIEWS)
    for head in ("", "parent_asin,user_id,rating,timestamp\n"):
        path = tmp_path / "ratings.csv"
        path.write_text(head + rows + "m9,u9,5\n")
        with pytest.raises(DataError, match=r"line %d: 3 comma-separated fields, expected 4" % (len(REVIEWS) + 1 + bool(head))):
            load_sequences("amazon", str(path), OPTS)


def test_a_review_or_meta_line_nested_too_deeply_is_a_bad_line_not_a_recursion_error(tmp_path):
    """A review line (or a meta line) nested past the recursion limit raised an uncaught RecursionError from a bare
    json.loads (as SSv2's label files did, review R3.7); read with json_text.parse_json it is a bad line like any other."""
    deep = "[" * 100_000 + "]" * 100_000
    path = _reviews_2014(tmp_path / "reviews_Magazine_Subscriptions_5.json.gz", [deep])
    with gzip.open(tmp_path / "meta_Magazine_Subscriptions.json.gz", "wt", encoding="utf-8") as fh:
        fh.write(deep + "\n{'asin': 'B0ITEM1', 'title': 'Monthly'}\n")
    with pytest.raises(DataError, match=r"1 of 10 lines are not Amazon review JSON .*line 10: not a JSON object \(nested too deeply"):
        load_sequences("amazon", path, OPTS)
    data = load_sequences("amazon", path, SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1, on_bad="skip"))
    assert data.stats["malformed_lines"] == 1 and _sequences(data) == ORDER
    assert dict(zip(data.item_ids, data.titles))["B0ITEM1"] == "Monthly"


@pytest.mark.parametrize("name, expected", [("magazine", "Magazine_Subscriptions.jsonl.gz"),
                                            ("amazon", "<Cat>.jsonl[.gz] (2023)"),
                                            ("epinions", "RecBole's epinions.inter")])
def test_an_amazon_or_reference_dataset_without_data_root_names_its_files(name, expected):
    """Walk 55N: ``--dataset magazine`` without ``--data-root`` asked for "a MovieLens zip or folder, a RecBole .inter
    file, ...", not for the Amazon file it reads."""
    with pytest.raises(DataError, match=rf"dataset '{name}' reads a file: pass --data-root \(.*") as err:
        load_sequences(name, None, SequenceLoadOptions())
    assert expected in str(err.value) and (name == "epinions" or "MovieLens" not in str(err.value))


def test_a_gzipped_review_file_of_one_endless_line_is_refused_at_the_line_limit_not_read_whole(tmp_path):
    """A 64 KiB ``.json.gz`` inflating to one 64 MiB line without a line break (a gzip bomb: a real one declares GiBs) was
    read into memory whole as one line; it is refused at 16 MiB, naming the file and line 2, its memory bounded."""
    import tracemalloc
    import zlib

    path = tmp_path / "reviews_Magazine_Subscriptions_5.json.gz"
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    with open(path, "wb") as fh:
        fh.write(packer.compress(json.dumps({"reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}).encode() + b"\n{"))
        for _ in range(64):
            fh.write(packer.compress(b"a" * (1 << 20)))
        fh.write(packer.flush())
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"reviews_Magazine_Subscriptions_5\.json\.gz: line 2 is longer than 16 MiB"):
            load_sequences("amazon", str(path), OPTS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20, f"reading one line took {peak / 2**20:.0f} MiB"
