"""Mend 55V (review R5.7): the sequences modules re-exported names nobody imported from them (data.py the readers'
column and file names, read_movielens / read_recbole / read_sasrec_text, stats_report, REPORT_KINDS, Row; log_readers
TITLES_OF and read_movielens only for data.py), and amazon_log took log_rows' GZIP_MAGIC and LogRows through
log_readers. Pinned: each module's ``__all__`` names what it defines plus the re-exports its callers use."""

from __future__ import annotations

import importlib

import pytest

#: module -> the names of its __all__ defined elsewhere that callers import from it (tests included)
KEPT = {"data": {"COLUMN_KEYS", "LogColumns", "LogRows", "SequenceData", "SequenceLoadOptions", "build_sequences",
                 "generated_log", "read_csv_log", "right_padded"},
        "log_readers": {"read_movielens_into"}}


@pytest.mark.parametrize("name", sorted(KEPT))
def test_all_names_its_own_and_the_re_exports_callers_use(name):
    module = importlib.import_module(f"mmdistill.modalities.sequences.{name}")
    elsewhere = {n for n in module.__all__ if getattr(getattr(module, n), "__module__", module.__name__) != module.__name__
                 or n in KEPT[name]}
    assert elsewhere <= KEPT[name], elsewhere - KEPT[name]
    for n in module.__all__:
        assert hasattr(module, n), n


def test_amazon_log_takes_the_shared_row_names_from_log_rows():
    from mmdistill.modalities.sequences import amazon_log, log_readers, log_rows

    assert amazon_log.GZIP_MAGIC is log_rows.GZIP_MAGIC and amazon_log.LogRows is log_rows.LogRows
    assert "GZIP_MAGIC" not in log_readers.__all__ and "TITLES_OF" not in log_readers.__all__
