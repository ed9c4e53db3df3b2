"""Review R3.6 of session 55: the sequences log formats were listed five times in data.py (the dataset names that read
a file, the auto-format lookup, the reader table, the error text, the names a set is named after its file for) and in
config.py's ``log_format`` Literal; data.READERS is now the one list. The names, lookups and messages are pinned here as
they were."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from mmdistill.errors import DataError
from mmdistill.modalities.sequences import data
from mmdistill.modalities.sequences.config import AMAZON_DATASETS, SequenceDataKeys
from mmdistill.modalities.sequences.data import SequenceLoadOptions, load_sequences


def test_one_list_of_formats_gives_the_names_the_lookup_and_the_literal():
    assert tuple(data.READERS) == ("movielens", "recbole", "csv", "sasrec", "amazon")
    assert data.FILE_DATASETS[-6:] == ("movielens", "recbole", "csv", "sasrec", "amazon", "file")
    assert typing.get_args(typing.get_type_hints(SequenceDataKeys)["log_format"]) == ("auto", *data.READERS)


def _log(tmp_path: Path) -> Path:
    lines = [f"u{u},i{(u + k) % 7},{k}" for u in range(6) for k in range(6)]
    path = tmp_path / "my log.csv"
    path.write_text("user,item,timestamp\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("dataset, name", [("csv", "my log"), ("file", "my log"), ("CSV", "my log"), ("mylabel", "mylabel")])
def test_a_set_is_named_after_its_file_for_a_format_name_as_before(tmp_path, dataset, name):
    opts = SequenceLoadOptions(min_user_inter=0, min_item_inter=0, log_format="auto" if dataset != "mylabel" else "csv")
    got = load_sequences(dataset, str(_log(tmp_path)), opts)
    assert got.name == name and got.stats["format"] == "csv"


def test_a_bad_log_format_names_every_format(tmp_path):
    with pytest.raises(DataError, match=r"^log_format must be auto, movielens, recbole, csv, sasrec or amazon, got 'parquet'$"):
        load_sequences("csv", str(_log(tmp_path)), SequenceLoadOptions(log_format="parquet"))


class _Read(Exception):
    """Raised by a stand-in reader: the format it was asked for is its argument."""


def test_auto_reads_an_amazon_name_as_amazon_and_a_release_as_movielens(tmp_path, monkeypatch):
    def stand_in(fmt):
        def read(*_a, **_kw):
            raise _Read(fmt)
        return read

    for fmt in data.READERS:
        monkeypatch.setitem(data.READERS, fmt, stand_in(fmt))
    path, seen = _log(tmp_path), []
    for dataset in (next(iter(AMAZON_DATASETS)), "amazon", "ml-1m", "movielens", "recbole", "sasrec", "csv", "file"):
        with pytest.raises(_Read) as exc:
            load_sequences(dataset, str(path), SequenceLoadOptions())
        seen.append(exc.value.args[0])
    assert seen == ["amazon", "amazon", "movielens", "movielens", "recbole", "sasrec", "csv", "csv"]  # file: sniffed


@pytest.mark.parametrize("kcore", ["once", "iterate", "items_first"])
def test_the_kcore_filter_keeps_what_it_kept(kcore):
    """Review R3 (minor): kcore=items_first counted the users before the item filter and threw the count away, and
    tested the item counts again after removing the items below them; each mode is pinned here against the filter as
    it was written (a few random logs, an item filter that empties the log too)."""
    import numpy as np

    from mmdistill.modalities.sequences.events import _Events, _filter

    def before(ev, opts):  # the filter's rounds as they were (c35a386)
        while True:
            ucount, icount = np.bincount(ev.user), np.bincount(ev.item)
            if opts.kcore == "items_first":
                ev = ev.take(icount[ev.item] >= opts.min_item_inter)
                ucount = np.bincount(ev.user) if len(ev) else ucount
            keep = (ucount[ev.user] >= opts.min_user_inter) & (icount[ev.item] >= opts.min_item_inter)
            changed = not bool(keep.all())
            ev = ev.take(keep) if changed else ev
            if opts.kcore != "iterate" or not changed:
                counts = np.bincount(ev.user, minlength=1)
                return ev.take(counts[ev.user] >= 3)  # then users left below 3 interactions, as _filter goes on

    rng = np.random.default_rng(0)
    for trial in range(6):
        n = int(rng.integers(1, 300))
        user, item = rng.integers(0, 30, n), rng.integers(0, 20 if trial else 300, n)
        ev = _Events(user, item, np.arange(n, dtype=np.float64), np.arange(n))
        opts = SequenceLoadOptions(min_user_inter=int(rng.integers(0, 8)), min_item_inter=int(rng.integers(0, 8)), kcore=kcore)
        want = before(ev, opts)
        if not len(want):
            with pytest.raises(DataError, match="the log is empty after filtering"):
                _filter(ev, opts, {}, "log")
            continue
        got = _filter(ev, opts, {}, "log")
        assert np.array_equal(got.user, want.user) and np.array_equal(got.item, want.item) and np.array_equal(got.row, want.row)
