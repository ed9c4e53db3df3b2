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
