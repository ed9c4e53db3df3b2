"""Interaction logs -> time-ordered user sequences with a leave-one-out split.

:func:`load_sequences` reads a log file with the reader of its format (:mod:`.log_readers`: MovieLens, RecBole
``.inter``, CSV/TSV ``user,item,timestamp``, SASRec ``user item`` text; :mod:`.amazon_log`: Amazon's review and
ratings releases; each gives rows of ``(user, item, timestamp)``
as strings, in file order, kept as :class:`~.log_columns.LogColumns`) or makes ``generated[:USERS:ITEMS]``, a seeded
Markov-ish log (no files), the default; :func:`build_sequences` turns the rows into :class:`SequenceData`.
Timestamps are numbers or ISO 8601 date-times (seconds since 1970 UTC: :mod:`.timestamps`); a log mixing them is refused.

Preprocessing, as in TD3's reference (``data/preprocess.ipynb`` of USTC-StarTeam/TD3): users and items with
fewer than ``min_user_inter`` / ``min_item_inter`` (5) interactions are removed (one pass, as the reference;
``kcore="iterate"`` repeats until stable; ``kcore="items_first"`` removes the items, then the users below the threshold
on what is left, as the reference's ``src/data.py`` does for Amazon Magazine), each user's interactions are sorted by timestamp (stable: file order
breaks ties), users left with fewer than 3 interactions are removed (leave-one-out needs 3) and counted, item ids
are remapped to 0..N-1 in order of first appearance (the mapping is kept and saved with every set). The split is
leave-one-out: the last item of a user is the test target, the one before it the validation target, the rest
the training sequence. Inputs are the last ``max_len`` items before the target.

Bad input is named with counts and file lines: logs are read as UTF-8 (a line that is not stops the load);
lines that are not rows of the format (a wrong number of fields, an empty user or item) and non-numeric or
non-finite timestamps stop the load (``on_bad="error"``) or are dropped and counted (``"skip"``); rows that
repeat an earlier ``(user, item, timestamp)`` are dropped and counted (a copied last event would make a user's
test item their validation item); the k-core filter's removals are logged and
counted; users below 3 interactions are dropped and counted; test items never seen in training are kept and
counted; a log empty after filtering stops, with the count removed by each filter. The counts are
``SequenceData.stats``; they are also its ``report`` (:class:`mmdistill.load_report.LoadReport`: those of what was
dropped or removed as counts, the other stats as facts), which a set distilled from a log read from a file stores as
``load_report`` in the shape every adapter uses (a generated log's set stores the stats as ``data_stats``).

This module loads a dataset by name (:func:`load_sequences`, :func:`check_dataset_name`); the data and load options are
:mod:`.sequence_data`'s, the generated log :mod:`.generated`'s, the building :mod:`.build`'s (the filters
:mod:`.events`'); the names callers import from here (:class:`SequenceData`, :class:`SequenceLoadOptions`,
:func:`build_sequences`, :func:`generated_log`, :func:`right_padded`, :func:`~.log_readers.read_csv_log`) still are; the
readers' column names and file names are :mod:`.log_rows`', the readers :mod:`.log_readers`' and :mod:`.movielens_log`'.
"""

from __future__ import annotations

import functools
import logging
import re
from array import array
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmdistill.errors import ConfigError, DataError
from mmdistill.keys import close_matches
from mmdistill.words import shown, written_name

from .amazon_log import read_amazon_into
from .build import SKIP_HINT, build_sequences
from .config import AMAZON_DATASETS, RELEASES, REFERENCE_DATASETS
from .generated import generated_log
from .log_columns import LogColumns
from .log_readers import (COLUMN_KEYS, read_csv_log, read_csv_log_into, read_recbole_into, read_sasrec_text_into,
                          sniff_format)
from .log_rows import LogRows
from .movielens_log import read_movielens_into
from .sequence_data import SequenceData, SequenceLoadOptions, right_padded
from .timestamps import rating_like

log = logging.getLogger(__name__)


def _warn_rating_like(times: np.ndarray, source: str, stats: dict[str, Any]) -> None:
    """A warning, and the fact ``rating_like_timestamps`` (distinct values), when the timestamps ``times`` (N,) of a
    header-less csv log look like ratings (:func:`.timestamps.rating_like`)."""
    got = rating_like(times)
    if got is None:
        return
    distinct, low, high = got
    stats["rating_like_timestamps"] = distinct
    log.warning("%s: the timestamp column holds only %d distinct whole numbers, from %g to %g, over %d rows: a rating "
                "column? Each user's events are ordered by it (ties in file order). A header-less csv is read as "
                "user,item,timestamp: give the file a header naming its columns (or --time-column), or the sasrec format "
                "(user item, in time order) for a log without times", source, distinct, low, high, len(times))


def _check_malformed(read: LogRows, source: str, on_bad: str, stats: dict[str, Any]) -> None:
    if not read.malformed:
        return
    n, total = len(read.malformed), len(read.malformed) + len(read.rows)
    examples = "; ".join(f"line {line}: {why}" for line, why in read.malformed[:3])
    if not read.rows:
        raise DataError(f"{source}: none of the {n} lines is a {read.expected} row ({examples}); check the format "
                        "(log_format, --dataset) and the delimiter (tab, comma or whitespace)"
                        + ("; a log with more than three columns needs a header line naming its user, item and timestamp "
                           "columns; an Amazon ratings-only CSV (item,user,rating,timestamp without a header: the item "
                           "first) is --dataset amazon" if read.expected == "user,item,timestamp" else ""))
    if on_bad != "skip":
        raise DataError(f"{source}: {n} of {total} lines are not {read.expected} rows ({examples}); {SKIP_HINT}")
    log.warning("%s: dropped %d of %d lines that are not %s rows (%s)", source, n, total, read.expected, examples)
    stats["malformed_lines"] = n


#: a log file at least this large is named with its size before it is read (20 MB: about a million rows, several seconds
#: with no other output until the rows are counted)
ANNOUNCE_BYTES = 20_000_000


#: each log format (``log_format``, and the dataset name that reads a file of it) and its reader, which fills
#: :class:`~.log_columns.LogColumns` and a line array from a path: the one list of the formats (the config's
#: ``log_format`` Literal is checked against it by the tests)
READERS: dict[str, Callable[..., LogRows]] = {"movielens": read_movielens_into, "recbole": read_recbole_into,
                                              "csv": read_csv_log_into, "sasrec": read_sasrec_text_into,
                                              "amazon": read_amazon_into}

#: the dataset names a log file is read by (besides ``generated[:USERS:ITEMS]``): the MovieLens releases with rows of
#: their own in ``tables/td3.yaml``, ``movielens`` (any other release; its row from data_root's name) and the formats
FILE_DATASETS = (*RELEASES, *REFERENCE_DATASETS, *READERS, "file")


def check_dataset_name(dataset: str) -> None:
    """ConfigError (key ``dataset``) for a name outside ``generated[:USERS:ITEMS]`` and :data:`FILE_DATASETS`
    (case-insensitive), with the close matches: an unknown name was sniffed and became the set's label, and a
    typo'd release (``ml-1n``) read MovieLens with another release's hyper-parameters."""
    key = dataset.lower()
    if key.startswith("generated") or key in FILE_DATASETS:
        return
    close = close_matches(key, [*FILE_DATASETS, "generated"])
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    if key.startswith(("ml-", "movielens")):
        what = (f"is not a MovieLens release with hyper-parameters of its own (tables/td3.yaml has {', '.join(RELEASES)}); "
                "for another release's zip or folder pass --dataset movielens")
    else:
        what = ("is not a sequences dataset; for your own log pass its format (csv, recbole, sasrec, amazon, or file to sniff "
                "it: the set is named after the file)")
    raise ConfigError(f"dataset {dataset!r} {what}{hint} (valid: generated[:USERS:ITEMS], {', '.join(FILE_DATASETS)})",
                      key="dataset")


def _file_set_name(path: Path) -> str:
    """The name of a set read from ``path``: its file name without ``.zip``/``.inter``/``.csv``/``.tsv``/``.txt``, as a
    manifest holds it (:func:`mmdistill.words.written_name`: a saved set's name holds no control or bidi-reordering
    character, so a file called ``ev\\nil.zip`` would give a set its own ``show`` refuses; a replacement is logged)."""
    return written_name(re.sub(r"\.(zip|inter|csv|tsv|txt)$", "", path.name), str(path))


#: the files a user is pointed at when an Amazon dataset is given without ``data_root`` (walk 55N: the message named only
#: MovieLens, RecBole, CSV and SASRec files)
_AMAZON_FILES = {"amazon": "<Cat>.jsonl[.gz] (2023), <Cat>[_5].json.gz (2018) or reviews_<Cat>[_5].json.gz (2014)",
                 "magazine": "Magazine_Subscriptions.jsonl.gz or Magazine_Subscriptions.csv (Amazon Reviews 2023)"}


def load_sequences(dataset: str, data_root: str | None, opts: SequenceLoadOptions) -> SequenceData:
    """``dataset``: ``generated[:USERS:ITEMS]`` (no files), ``movielens`` / ``ml-latest-small`` / ``ml-100k``
    / ``ml-1m`` (a GroupLens zip or folder at ``data_root``), ``recbole`` (a ``.inter`` file), ``csv``
    (``user,item,timestamp``), ``sasrec`` (``user item`` lines) or ``file`` (format sniffed); another name is sniffed
    as ``file`` (a new run refuses it first: :func:`check_dataset_name`; a set saved under it still loads)."""
    key = dataset.lower()
    if key.startswith("generated"):
        parts = key.split(":")
        try:
            if len(parts) > 3 or (key != "generated" and parts[0] != "generated"):
                raise ValueError(dataset)
            users = int(parts[1]) if len(parts) > 1 else 300
            items = int(parts[2]) if len(parts) > 2 else 200
            if users < 1 or items < 1:
                raise ValueError(dataset)
        except ValueError:
            raise DataError(f"generated log spec is generated[:USERS:ITEMS] with USERS, ITEMS >= 1, got {dataset!r}") from None
        return build_sequences(dataset, generated_log(users, items, opts.seed), opts)
    if not data_root:
        what = (f"an Amazon review or ratings file, gzip-compressed or not, such as {_AMAZON_FILES[key]}"
                if key in _AMAZON_FILES else "RecBole's epinions.inter, the reference's file, or another log"
                if key == "epinions" else "a MovieLens zip or folder, a RecBole .inter file, a user,item,timestamp CSV/TSV "
                "or a SASRec 'user item' text file")
        raise DataError(f"dataset {dataset!r} reads a file: pass --data-root ({what})")
    path = Path(data_root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {shown(str(path))} does not exist")
    fmt = opts.log_format
    if fmt == "auto":
        fmt = (key if key in READERS else "amazon" if key in AMAZON_DATASETS else
               "movielens" if key.startswith(("movielens", "ml-")) else sniff_format(path))
    reader = READERS.get(fmt)
    if reader is None:
        *first, last = ("auto", *READERS)
        raise DataError(f"log_format must be {', '.join(first)} or {last}, got {fmt!r}")
    if any(opts.columns):
        if fmt != "csv":
            named = next(k for k, c in zip(COLUMN_KEYS, opts.columns) if c)
            raise ConfigError(f"{named} names a column of a csv log's header, but {shown(str(path))} is read as {fmt}; pass "
                              "--dataset csv (or log_format=csv) for a csv log", key=named)
        reader = functools.partial(read_csv_log_into, columns=opts.columns)
    size = path.stat().st_size if path.is_file() else 0
    if size >= ANNOUNCE_BYTES:  # ~6 s of CPU a million rows here, with nothing else shown until the count
        log.info("%s: reading %.0f MB (%s format)", shown(str(path)), size / 1e6, fmt)
    # rows read straight into columns (codes and float timestamps) and lines into an array: a few bytes a row
    read = reader(path, LogColumns(), array("q"))
    source = shown(f"{path}:{read.member}" if fmt == "movielens" and read.member != str(path) else str(path))
    stats: dict[str, Any] = {"format": fmt}
    _check_malformed(read, source, opts.on_bad, stats)
    if not read.rows:
        why = "the file has a header and no rows" if read.header else "the file is empty"
        raise DataError(f"{source}: no interactions could be read (the {fmt} reader expects {read.expected} rows; {why})")
    log.info("%s: read %d interactions (%s format)", source, len(read.rows), fmt)
    if fmt == "csv" and not read.header and isinstance(read.rows, LogColumns):  # the third field taken as the time unnamed
        _warn_rating_like(np.frombuffer(read.rows.times, dtype=np.float64), source, stats)
    name = dataset if key not in (*READERS, "file") else _file_set_name(path)
    data = build_sequences(name, read.rows, opts, read.titles, source, read.lines, stats)
    data.report.root = str(path)
    return data


__all__ = ["COLUMN_KEYS", "FILE_DATASETS", "LogColumns", "LogRows", "READERS", "SequenceData", "SequenceLoadOptions",
           "build_sequences", "check_dataset_name", "generated_log", "load_sequences", "read_csv_log", "right_padded"]
