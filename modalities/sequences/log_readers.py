"""Interaction log files -> rows ``(user, item, timestamp)`` as strings, in file order, with each row's file line and
the lines that are not rows of the format (:class:`LogRows`); :mod:`.build` builds the sequences from them.

- MovieLens: the GroupLens zips or folders — ``ratings.csv`` (ml-latest*, ``userId,movieId,rating,timestamp``),
  ``ratings.dat`` (ml-1m, ``::``) or ``u.data`` (ml-100k, tabs); read from inside the zip. Titles come from
  ``movies.csv`` / ``movies.dat`` / ``u.item`` beside that ratings file. A zip or folder holding more than one ratings
  file (two releases), or a zip storing one member twice, is refused naming them.
- RecBole atomic ``.inter`` files (a typed header ``user_id:token  item_id:token  ...  timestamp:float``).
- A plain CSV/TSV log ``user,item,timestamp`` (delimiter from the first line; a header naming the columns is
  read by name, in any order, with more columns allowed).
- SASRec's text format: ``user item`` per line, already time-ordered (file order is the time).

The MovieLens reader is :mod:`.movielens_log`'s (``read_movielens_into`` is importable from here beside the other
formats' readers) and what the readers share (column and file names, :class:`~.log_rows.LogRows`) :mod:`.log_rows`'.

Each format has a reader giving lists (``read_movielens`` ...) and one appending to the rows and lines it is given
(``read_movielens_into`` ...: :func:`mmdistill.modalities.sequences.data.load_sequences` passes a
:class:`~.log_columns.LogColumns` and a line array, a few bytes a row). Logs are read as UTF-8 (a line that is not
stops the load).
"""

from __future__ import annotations

import csv
import itertools
import logging
import zipfile
from array import array
from pathlib import Path

from mmdistill.csv_lines import text_lines
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.words import shown

from .log_columns import LogColumns, Row
from .log_rows import GZIP_MAGIC, ITEM_NAMES, RATINGS_FILES, TIME_NAMES, USER_NAMES, LogRows, _fields, _header_name
from .movielens_log import read_movielens_into

log = logging.getLogger(__name__)


def _read_file(path: Path, dataset: str) -> bytes:
    if path.is_dir():
        raise DataError(f"data_root {path} is a folder; dataset {dataset!r} reads one log file (a folder is read only as "
                        "a MovieLens release: --dataset movielens)")
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        raise DataError(f"{shown(str(path))} is gzip-compressed; the {dataset} format reads plain text: an Amazon review or "
                        "ratings file (reviews_<Cat>_5.json.gz, <Cat>.jsonl.gz) is --dataset amazon, another log: gunzip it first")
    return raw


def read_recbole(path: Path) -> LogRows:
    """Rows of a RecBole atomic ``.inter`` file (tab-separated, typed header ``name:type``). Without a timestamp
    field the file order is the time order."""
    return read_recbole_into(path, [], [])


def read_recbole_into(path: Path, rows: list[Row] | LogColumns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_recbole` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`LogColumns` and line array :func:`.data.load_sequences` reads into)."""
    text = decode_utf8(_read_file(path, "recbole"), str(path))
    numbered = enumerate(text_lines(text))  # the lines a block at a time, not a list of every line
    first, head_line = next(((n, line) for n, line in numbered if line.strip()), (None, ""))
    if first is None:
        raise DataError(f"{path}: empty .inter file")
    fields = head_line.split("\t")
    header = [_header_name(h) for h in fields]
    try:
        iu, ii = header.index("user_id"), header.index("item_id")
    except ValueError:
        raise DataError(f"{path}: a RecBole .inter file starts with a tab-separated typed header naming user_id and item_id "
                        f"(user_id:token<TAB>item_id:token<TAB>timestamp:float), got {fields}") from None
    it = header.index("timestamp") if "timestamp" in header else None
    if it is None:
        log.info("%s: no timestamp field; the file order is the time order", path)
    bad: list[tuple[int, str]] = []
    for n, line in numbered:
        if not line.strip():
            continue
        parts = line.split("\t")
        while len(parts) > len(header) and not parts[-1].strip():  # trailing tabs: empty fields past the header's
            parts.pop()
        if len(parts) != len(header):
            bad.append((n + 1, f"{_fields(len(parts), 'tab-separated ')}, expected {len(header)}"))
            continue
        if not parts[iu].strip() or not parts[ii].strip():
            bad.append((n + 1, "an empty user_id or item_id"))
            continue
        rows.append((parts[iu].strip(), parts[ii].strip(), parts[it].strip() if it is not None else str(n)))
        lines.append(n + 1)
    return LogRows(rows, lines, bad, f"tab-separated {' / '.join(fields)}", header=True)


def read_csv_log(path: Path) -> LogRows:
    """Rows of a ``user,item,timestamp`` CSV/TSV log. The delimiter comes from the first line (tab, comma, else
    whitespace). A first line naming its columns (``user``/``user_id``/``userId``/``uid``, ``item``/``item_id``/
    ``movieId``/``iid``, ``timestamp``/``time``/``ts``; more columns are allowed) is a header and the columns are
    taken by name; without one every row is exactly ``user,item,timestamp``."""
    return read_csv_log_into(path, [], [])


def _header_shown(head: list[str], delim: str | None) -> str:
    """A header as messages name the rows it expects: ``user,item,ts`` (a tab-separated one said so: a tab inside a
    message reads as spaces, and a terminal may expand it)."""
    if delim == "\t":
        return ",".join(head) + " (tab-separated)"
    return delim.join(head) if delim else " ".join(head)


def read_csv_log_into(path: Path, rows: list[Row] | LogColumns, lines: list[int] | array[int],
                      columns: tuple[str | None, str | None, str | None] = (None, None, None)) -> LogRows:
    """:func:`read_csv_log` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`LogColumns` and line array :func:`.data.load_sequences` reads into); ``columns``: the header's user, item and
    timestamp column names where given (:func:`_named_columns`)."""
    text = decode_utf8(_read_file(path, "csv"), str(path))
    numbered = enumerate(text_lines(text))  # the lines a block at a time, not a list of every line
    first, head_line = next(((n, line) for n, line in numbered if line.strip()), (None, ""))
    if first is None:
        return LogRows([], [], [], "user,item,timestamp")
    delim = "\t" if "\t" in head_line else ("," if "," in head_line else None)
    if delim is None and len(head_line.split()) == 1 and (other := next((c for c in ";|" if c in head_line), None)):
        raise DataError(f"{path}: line {first + 1} ({head_line.strip()[:60]}) is separated by {other!r}; the csv format reads "
                        "tab-, comma- or whitespace-separated user,item,timestamp rows: convert the file (a spreadsheet's "
                        "'CSV (comma delimited)', or replace the separator)")

    def split(line: str) -> list[str]:
        if delim is None:
            return line.split()
        return [p.strip() for p in next(csv.reader([line], delimiter=delim))]

    head = split(head_line)
    names = [_header_name(h) for h in head]
    known = set(USER_NAMES + ITEM_NAMES + TIME_NAMES)
    sep_name = {"\t": "tab", ",": "comma", None: "whitespace"}[delim]
    roles = [[k for k, n in enumerate(names) if n in options] for options in (USER_NAMES, ITEM_NAMES, TIME_NAMES)]
    header = any(columns) or any(n in known for n in names)
    if not any(columns) and header and len(head) == 3 and not all(roles) and all(len(r) <= 1 for r in roles):
        # a three-column header naming some columns otherwise (product_id,user_id,timestamp): the named ones are taken
        # by name, the others fill the remaining roles in their order
        free = iter(k for k in range(3) if not any(k in r for r in roles))
        cols = [r[0] if r else next(free) for r in roles]
        log.info("%s: line %d (%s) is a header; read as user = %s, item = %s, timestamp = %s (columns it does not name "
                 "take the remaining roles in order)", path, first + 1, ",".join(head), *(repr(head[c]) for c in cols))
        width, start = 3, first + 1
        expected = _header_shown(head, delim)
    elif header:  # columns named by the keys or by the usual names
        cols = _named_columns(path, first + 1, head, names, columns)
        width, start = len(head), first + 1
        expected = _header_shown(head, delim)
    else:
        cols, width, start = [0, 1, 2], 3, first
        expected = "user,item,timestamp"
    bad: list[tuple[int, str]] = []
    for n, line in itertools.chain([(first, head_line)] if start == first else [], numbered):
        if not line.strip():
            continue
        try:
            parts = split(line)
        except csv.Error as exc:
            bad.append((n + 1, f"not a {sep_name}-separated row ({exc})"))
            continue
        if len(parts) != width:
            bad.append((n + 1, f"{_fields(len(parts), sep_name + '-separated ')}, expected {width}"))
            continue
        u, i, t = (parts[c] for c in cols)
        if not u or not i:
            bad.append((n + 1, "an empty user or item"))
            continue
        rows.append((u, i, t))
        lines.append(n + 1)
    return LogRows(rows, lines, bad, expected, header=start > first)


ROLES = ("user", "item", "timestamp")
#: the keys that name a csv header's columns, in the order of :data:`ROLES`
COLUMN_KEYS = ("user_column", "item_column", "time_column")


def _named_columns(path: Path, line: int, head: list[str], names: list[str],
                   columns: tuple[str | None, str | None, str | None]) -> list[int]:
    """The user, item and timestamp column indices of the header ``head`` (on file line ``line``; ``names``: its
    normalised names): a role ``columns`` names is found by that name (case-insensitive), the others by the usual
    names (:data:`USER_NAMES` ...). DataError naming the key of a column the header lacks, holds twice, or that two
    roles share."""
    cols = []
    for what, options, key_name, given in zip(ROLES, (USER_NAMES, ITEM_NAMES, TIME_NAMES), COLUMN_KEYS, columns):
        hit = [k for k, n in enumerate(names) if (n == _header_name(given) if given else n in options)]
        if not hit and given:
            raise DataError(f"{path}: {key_name}={given!r}, but the header on line {line} has no such column (its columns: "
                            f"{', '.join(head)})")
        if not hit:
            raise DataError(f"{path}: line {line} is a header ({', '.join(head)}) without a {what} column; name it "
                            f"{', '.join(options)}, or pass {key_name}=NAME ({' / '.join(COLUMN_KEYS)} name yours)")
        if len(hit) > 1:
            raise DataError(f"{path}: the header on line {line} has {len(hit)} {what} columns ({', '.join(head[k] for k in hit)})"
                            f"; keep one{'' if given else f', or name one with {key_name}=NAME'}")
        cols.append(hit[0])
    if len(set(cols)) < 3:
        raise DataError(f"{path}: {', '.join(f'{k}={head[c]!r}' for k, c in zip(COLUMN_KEYS, cols))} name one column for "
                        "two roles; the user, item and timestamp columns must differ")
    return cols


def read_sasrec_text(path: Path) -> LogRows:
    """Rows of SASRec's ``user item`` text format; the file order is the time order. A first line naming the
    columns (``user item``) is skipped as a header."""
    return read_sasrec_text_into(path, [], [])


def read_sasrec_text_into(path: Path, rows: list[Row] | LogColumns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_sasrec_text` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`LogColumns` and line array :func:`.data.load_sequences` reads into)."""
    bad: list[tuple[int, str]] = []
    seen_first = False
    for n, line in enumerate(text_lines(decode_utf8(_read_file(path, "sasrec"), str(path))), start=1):
        parts = line.split()
        if not parts:
            continue
        if not seen_first:
            seen_first = True
            if len(parts) == 2 and _header_name(parts[0]) in USER_NAMES and _header_name(parts[1]) in ITEM_NAMES:
                log.info("%s: line %d (%s) is a header; skipped", path, n, line.strip())
                continue
        if len(parts) != 2:
            bad.append((n, f"{_fields(len(parts), 'whitespace-separated ')}, expected 2"))
            continue
        rows.append((parts[0], parts[1], str(n)))
        lines.append(n)
    return LogRows(rows, lines, bad, "'user item'")



def sniff_format(path: Path) -> str:
    """The log format of ``path`` for ``log_format=auto`` without a format in the dataset name: ``movielens`` (a zip, a
    folder or a ratings file by name), ``recbole`` (``.inter``), ``amazon`` (a gzip file, or a first line that is a JSON
    object: Amazon's review releases, :mod:`.amazon_log`), ``sasrec`` (a first line of two fields without a comma),
    else ``csv``."""
    if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
        return "movielens"
    if path.suffix == ".inter":
        return "recbole"
    if path.name in RATINGS_FILES:
        return "movielens"
    with open(path, "rb") as fh:
        head_bytes = fh.read(1 << 16)
    if head_bytes[:2] == GZIP_MAGIC:
        return "amazon"
    head = head_bytes.decode("utf-8", errors="replace")  # only to choose a reader; it decodes strictly
    first = next((line for line in head.splitlines() if line.strip()), "")
    if first.lstrip("\ufeff ").startswith("{"):
        return "amazon"
    if len(first.split()) == 2 and "," not in first:
        return "sasrec"
    return "csv"


__all__ = ["COLUMN_KEYS", "ROLES", "read_csv_log", "read_csv_log_into", "read_movielens_into", "read_recbole", "read_recbole_into",
           "read_sasrec_text", "read_sasrec_text_into", "sniff_format"]
