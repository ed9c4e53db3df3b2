"""The sequences loader's array path (codes, np.unique / bincount / lexsort) against a small pure-Python reference of
the same rules: duplicates dropped (first kept), k-core once or iterated, users below 3 removed, users in order of
their first row left, each user's events by (timestamp, file order), items numbered in order of first appearance."""

from __future__ import annotations

import math
from pathlib import Path
import random

import pytest
import torch

from mmdistill.errors import DataError
from mmdistill.modalities.sequences.data import SequenceLoadOptions, build_sequences, load_sequences


def reference(rows, opts):
    """The rules, one Python object per row (what the loader did before it used arrays)."""
    parsed = []
    for n, (u, i, ts) in enumerate(rows):
        try:
            t = float(ts)
        except ValueError:
            continue
        if math.isfinite(t):
            parsed.append((u, i, t, n))
    seen, unique = set(), []
    for r in parsed:
        if r[:3] not in seen:
            seen.add(r[:3])
            unique.append(r)
    dup = len(parsed) - len(unique)
    rows_, rounds = unique, 0
    while True:
        rounds += 1
        uc, ic = {}, {}
        for u, i, _, _ in rows_:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        kept = [r for r in rows_ if uc[r[0]] >= opts.min_user_inter and ic[r[1]] >= opts.min_item_inter]
        changed, rows_ = len(kept) != len(rows_), kept
        if opts.kcore != "iterate" or not changed:
            break
    counts = {}
    for r in rows_:
        counts[r[0]] = counts.get(r[0], 0) + 1
    short = {u for u, c in counts.items() if c < 3}
    rows_ = [r for r in rows_ if r[0] not in short]
    by_user = {}
    for u, i, t, n in rows_:
        by_user.setdefault(u, []).append((t, n, i))
    index, seqs = {}, []
    for u in by_user:
        seqs.append([index.setdefault(i, len(index)) for _, _, i in sorted(by_user[u])])
    return {"users": list(by_user), "items": list(index), "seqs": seqs, "duplicates": dup, "rounds": rounds,
            "short": len(short), "interactions": len(rows_)}


def random_log(rng: random.Random, n: int):
    users = [f"u{k}" for k in range(rng.randint(5, 40))] + ["ü", "用户"]
    items = [f"i{k}" for k in range(rng.randint(5, 30))] + ["电影"]
    rows = []
    for _ in range(n):
        t = rng.choice(["1", "2", "2.0", "3", "-0", "0", "1e0", str(rng.randint(0, 9))])
        rows.append((rng.choice(users[: rng.choice([3, len(users)])]), items[min(int(rng.paretovariate(0.8)) - 1, len(items) - 1)], t))
        if rng.random() < 0.1:
            rows.append(rng.choice(rows))  # a duplicate of an earlier row
    for k in range(4):  # a chain that the iterated k-core removes round by round
        rows += [(f"c{k}", f"ci{(k + j) % 5}" if j < 3 else f"rare{k}", str(j)) for j in range(4)]
    if rng.random() < 0.3:
        rows.append(("x", "i0", "soon"))
    rng.shuffle(rows)
    return rows


def sequences(d):
    return [d.train[u].tolist() + [int(d.valid_target[u]), int(d.test_target[u])] for u in range(d.num_users)]


@pytest.mark.parametrize("seed", range(12))
def test_arrays_equal_the_python_reference(seed):
    rng = random.Random(seed)
    rows = random_log(rng, rng.randint(50, 600))
    for opts in (SequenceLoadOptions(on_bad="skip"), SequenceLoadOptions(on_bad="skip", kcore="iterate", min_item_inter=4),
                 SequenceLoadOptions(on_bad="skip", min_user_inter=1, min_item_inter=1)):
        ref = reference(rows, opts)
        try:
            d = build_sequences("r", rows, opts)
        except DataError as exc:
            assert not ref["seqs"] and "empty after filtering" in str(exc)
            continue
        assert d.users == ref["users"] and d.item_ids == ref["items"] and sequences(d) == ref["seqs"]
        assert d.stats.get("duplicate_rows", 0) == ref["duplicates"] and d.stats["kcore_rounds"] == ref["rounds"]
        assert d.stats["users_below_3_removed"] == ref["short"] and d.stats["interactions"] == ref["interactions"]
        assert all(s.dtype == torch.long and s.is_contiguous() and s.untyped_storage().nbytes() == 8 * s.numel() for s in d.train)
        assert d.valid_target.dtype == d.test_target.dtype == torch.long
        assert all(type(v) in (int, str) for v in d.stats.values())


def test_a_file_read_into_columns_gives_what_the_rows_give(tmp_path):
    rng = random.Random(7)
    rows = [r for r in random_log(rng, 400) if r[2] != "soon"]
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    opts = SequenceLoadOptions(kcore="iterate", min_user_inter=3, min_item_inter=3)
    a, b = load_sequences("csv", str(path), opts), build_sequences("log", rows, opts)
    assert a.users == b.users and a.item_ids == b.item_ids and sequences(a) == sequences(b)
    assert {k: v for k, v in a.stats.items() if k != "format"} == b.stats


def test_negative_zero_and_equal_texts_are_one_timestamp():
    rows = [("a", "x", "-0"), ("a", "y", "0"), ("a", "x", "0.0"), ("a", "z", "1"), ("a", "w", "1.0")]
    d = build_sequences("t", rows, SequenceLoadOptions(min_user_inter=1, min_item_inter=1))
    assert d.stats["duplicate_rows"] == 1 and d.item_ids == ["x", "y", "z", "w"]  # ties keep file order


def test_bad_timestamps_name_their_lines_from_the_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\na,x,1\na,y,later\na,z,3\n")
    with pytest.raises(DataError, match=r"1 of 3 rows have a non-numeric or non-finite timestamp \(line 3: 'later'\)"):
        load_sequences("csv", str(path), SequenceLoadOptions(min_user_inter=1, min_item_inter=1))


def _read_peak(reader, path: Path) -> int:
    """Peak bytes Python allocates while ``reader`` reads ``path`` into the columns load_sequences uses."""
    import tracemalloc
    from array import array

    from mmdistill.modalities.sequences.log_columns import LogColumns

    tracemalloc.start()
    try:
        reader(path, LogColumns(), array("q"))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["movielens", "csv", "dat", "recbole"])
def test_a_log_is_read_without_a_copy_per_line(tmp_path, kind):
    """Scale walk 48B: the MovieLens ratings.csv went through io.StringIO (a second copy of the file at 4 bytes a
    character) and the other readers kept a list of every line (~60 bytes each). Python's peak per row read (tracemalloc,
    which also counts an array's old block while it grows): ratings.csv 173 before, 129 now; ratings.dat 167 / 103; csv
    and RecBole logs 127 / 98. The growth of the peak between two sizes is measured, so the fixed cost of one block of
    lines does not count."""
    import zipfile

    from mmdistill.modalities.sequences import log_readers as R

    def write(n: int) -> Path:
        rows = [(1 + k % 997, 1 + (k * 7) % 1999, (k % 10) / 2 + 0.5, 1_000_000_000 + k) for k in range(n)]
        folder = tmp_path / f"{kind}{n}"
        folder.mkdir()
        if kind == "movielens":
            with zipfile.ZipFile(folder / "ml.zip", "w") as z:
                z.writestr("ml/ratings.csv", "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
            return folder / "ml.zip"
        if kind == "dat":
            (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows))
            return folder / "ratings.dat"
        if kind == "recbole":
            (folder / "log.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                                              + "".join(f"{u}\t{i}\t{t}\n" for u, i, _, t in rows))
            return folder / "log.inter"
        (folder / "log.csv").write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, _, t in rows))
        return folder / "log.csv"

    reader = {"movielens": R.read_movielens_into, "dat": R.read_movielens_into, "csv": R.read_csv_log_into,
              "recbole": R.read_recbole_into}[kind]
    small, large = 20_000, 80_000
    per_row = (_read_peak(reader, write(large)) - _read_peak(reader, write(small))) / (large - small)
    assert per_row < (150 if kind == "movielens" else 115), f"{per_row:.0f} bytes a row"


@pytest.mark.parametrize("text", ["", "a", "a\n", "\n\n", "a,b\r\nc,d\rx\x0by\u2028z\n\nlast", "é\n" * 40 + "tail\r\n"])
def test_the_line_helpers_give_what_splitlines_and_stringio_give(text):
    import io

    from mmdistill.csv_lines import newline_lines, text_lines

    for block in (1, 2, 3, 7, 1 << 20):
        assert list(text_lines(text, block=block)) == text.splitlines()
        assert list(newline_lines(text, block=block)) == list(io.StringIO(text))


def test_a_large_log_is_named_with_its_size_before_it_is_read(tmp_path, caplog, monkeypatch):
    """A 3M-row log took ~17 s of CPU to read with nothing shown until 'read N interactions' (scale walk 48B): a file
    of at least ANNOUNCE_BYTES is named with its size first; a small one is not."""
    import logging

    from mmdistill.modalities.sequences import data as D

    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\n" + "".join(f"u{k % 7},i{k % 5},{k}\n" for k in range(200)))
    opts = SequenceLoadOptions(min_user_inter=1, min_item_inter=1)
    with caplog.at_level(logging.INFO, logger="mmdistill.modalities.sequences.data"):
        load_sequences("csv", str(path), opts)
    assert "reading" not in caplog.text
    monkeypatch.setattr(D, "ANNOUNCE_BYTES", 100)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mmdistill.modalities.sequences.data"):
        load_sequences("csv", str(path), opts)
    first = caplog.records[0].getMessage()
    assert "reading 0 MB (csv format)" in first and str(path) in first
