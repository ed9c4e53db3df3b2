"""Amazon review releases (McAuley lab, 2014 / 2018 / 2023) -> rows ``(user, item, timestamp)`` as strings, in file
order, with each row's file line and the lines that are not rows (:class:`~.log_rows.LogRows`), and the items'
titles from the release's metadata file where one lies beside the log.

The layout is sniffed from the file (gzip-compressed or not) by its first non-blank line:

- JSON lines, one review a line: 2014 ``reviews_<Cat>[_5].json.gz`` and 2018 ``<Cat>[_5].json.gz`` (``reviewerID``,
  ``asin``, ``unixReviewTime`` in seconds, ``overall``); 2023 ``<Cat>.jsonl[.gz]`` (``user_id``, ``parent_asin`` —
  read before ``asin``, as the 2023 rating-only files key items by it —, ``timestamp`` in milliseconds, ``rating``).
- The ratings-only CSV of 2014 (``ratings_<Cat>.csv``) and 2018 (``<Cat>.csv``): no header, ``item,user,rating,timestamp``
  — the ITEM first (read as ``user,item,...`` it would make every product a user).
- The 2023 ratings-only CSV: a header ``user_id,parent_asin,rating,timestamp`` (columns taken by name).

Titles come from ``meta_<Cat>.json[l][.gz]`` in the same folder (``asin`` / ``parent_asin`` and ``title``; 2014's
metadata lines are Python literals, read with :func:`ast.literal_eval`), only for the items the log holds; without
one the items are named by their ASINs. A review line that is not a JSON object or lacks a user, item or timestamp
is listed with its line (the loader stops on them, or counts them with ``on_bad=skip``); metadata lines that cannot
be read are counted in one warning (titles are optional).
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import logging
import re
from array import array
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from mmdistill.errors import DataError
from mmdistill.json_text import parse_json
from mmdistill.words import shown

from .log_columns import LogColumns, Row
from .log_rows import GZIP_MAGIC, LogRows

log = logging.getLogger(__name__)

#: JSON fields of a review's user, item and time, in the order they are looked for (2014/2018 names, then 2023's)
USER_FIELDS = ("reviewerID", "user_id")
ITEM_FIELDS = ("parent_asin", "asin")
TIME_FIELDS = ("unixReviewTime", "timestamp")
#: the 2023 ratings-only CSV header's names of the user, item and time columns
CSV_USER, CSV_ITEMS, CSV_TIME = "user_id", ("parent_asin", "asin", "item_id"), "timestamp"
#: the columns of a header-less 2014 / 2018 ratings-only CSV
HEADERLESS = "item,user,rating,timestamp"
#: the longest line a review or metadata file may hold, in bytes: a review record (2014 / 2018 / 2023 JSON, or a ratings
#: CSV row) is a few KiB and a metadata record (a description, feature and image-URL lists) larger, but not by thousands
#: of times; 16 MiB leaves that room while one line is never inflated whole (a gzip of one endless line, a gzip bomb,
#: is refused at this many bytes, a small part of any machine's memory, kept twice at most: bytes, then text)
MAX_LINE_BYTES = 16 << 20


def is_gzip(path: Path) -> bool:
    """Whether ``path`` is a regular file starting with gzip's magic bytes."""
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _open(path: Path) -> BinaryIO:
    try:
        return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # type: ignore[return-value]
    except OSError as exc:
        raise DataError(f"cannot read {shown(str(path))}: {exc.strerror or exc}") from None


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line of ``path`` (gunzipped where it is gzip), decoded as UTF-8 one line at a time
    (a 20 GB review file is never held whole); DataError naming the line that is not UTF-8, a line longer than
    :data:`MAX_LINE_BYTES` (read no further than that: one line of a gzip bomb would otherwise be inflated whole) or a
    damaged gzip stream."""
    with _open(path) as fh:
        n = 0
        try:
            while raw := fh.readline(MAX_LINE_BYTES + 1):
                n += 1
                if len(raw) > MAX_LINE_BYTES:
                    raise DataError(f"{shown(str(path))}: line {n} is longer than {MAX_LINE_BYTES >> 20} MiB (read no further); "
                                    "a review or metadata record is a few KiB, so the file is damaged or not a review file "
                                    "(a gzip-compressed one may be a gzip bomb)")
                try:
                    yield n, raw.decode("utf-8-sig" if n == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"{shown(str(path))}: line {n} is not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                                    f"{exc.start + 1}); save the file as UTF-8") from None
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{shown(str(path))}: the gzip stream is damaged after line {n} ({exc}); download it again") from None


def _field(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = record.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _json_row(line: str) -> Row | str:
    """The row of one review line, or why it is not one."""
    try:
        record = parse_json(line, unique_keys=False)  # (a line nested past the recursion limit: malformed, not a RecursionError)
    except ValueError as exc:
        return f"not a JSON object ({exc.msg} at column {exc.pos + 1})" if isinstance(exc, json.JSONDecodeError) else "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    got = [_field(record, names) for names in (USER_FIELDS, ITEM_FIELDS, TIME_FIELDS)]
    missing = [" / ".join(names) for names, value in zip((USER_FIELDS, ITEM_FIELDS, TIME_FIELDS), got) if value is None]
    if missing:
        return f"no {', no '.join(missing)} field"
    return got[0], got[1], got[2]  # type: ignore[return-value]


def _csv_columns(path: Path, line: int, fields: list[str]) -> tuple[list[int], bool, str]:
    """``([user, item, time] column indices, header?, what a row is)`` from the CSV's first line ``fields``."""
    names = [f.strip().strip('"').lower() for f in fields]
    if CSV_USER in names:
        item = next((names.index(n) for n in CSV_ITEMS if n in names), None)
        if item is None or CSV_TIME not in names:
            raise DataError(f"{shown(str(path))}: line {line} is a header ({','.join(fields)}) without "
                            f"{'an item column (parent_asin / asin)' if item is None else 'a timestamp column'}; an Amazon "
                            "2023 ratings file's header is user_id,parent_asin,rating,timestamp")
        return [names.index(CSV_USER), item, names.index(CSV_TIME)], True, ",".join(fields)
    return [1, 0, 3], False, f"{HEADERLESS} (no header)"


def read_amazon_into(path: Path, rows: list[Row] | LogColumns, lines: list[int] | array[int]) -> LogRows:
    """The rows of an Amazon review or ratings file at ``path`` appended to ``rows`` and their file lines to ``lines``
    (lists, or the :class:`LogColumns` and line array :func:`.data.load_sequences` reads into): a
    :class:`~.log_rows.LogRows` with the titles of ``meta_<Cat>`` beside it (:func:`read_titles`)."""
    if path.is_dir():
        raise DataError(f"data_root {shown(str(path))} is a folder; dataset 'amazon' reads one review file "
                        "(reviews_<Cat>_5.json.gz, <Cat>.jsonl, ratings_<Cat>.csv ...)")
    bad: list[tuple[int, str]] = []
    numbered = ((n, text) for n, text in _text_lines(path) if text.strip())
    first = next(numbered, None)
    if first is None:
        return LogRows(rows, lines, bad, "Amazon review")
    is_json = first[1].lstrip().startswith("{")
    header = False
    if is_json:
        expected = "Amazon review JSON (reviewerID / user_id, asin / parent_asin, unixReviewTime / timestamp)"
        todo: Iterator[tuple[int, str]] = _chain(first, numbered)
    else:
        fields = next(csv.reader([first[1]]))
        cols, header, expected = _csv_columns(path, first[0], fields)
        todo = numbered if header else _chain(first, numbered)
        width = len(fields)
    for n, text in todo:
        if is_json:
            got = _json_row(text)
        else:
            parts = next(csv.reader([text.strip()]), [])
            if len(parts) != width:
                got = f"{len(parts)} comma-separated fields, expected {width}"
            elif not parts[cols[0]].strip() or not parts[cols[1]].strip():
                got = "an empty user or item"
            else:
                got = (parts[cols[0]].strip(), parts[cols[1]].strip(), parts[cols[2]].strip())
        if isinstance(got, str):
            bad.append((n, got))
            continue
        rows.append(got)
        lines.append(n)
    items = set(rows.item_index) if isinstance(rows, LogColumns) else {r[1] for r in rows}
    meta = meta_file(path)
    titles = read_titles(meta, items) if meta is not None else None
    if meta is None and rows:
        log.info("%s: no meta_%s.json[l][.gz] beside it; items are named by their ASINs", shown(str(path)), category(path))
    return LogRows(rows, lines, bad, expected, titles, header=header)


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def category(path: Path) -> str:
    """The category of a review file's name: ``reviews_Magazine_Subscriptions_5.json.gz`` -> ``Magazine_Subscriptions``
    (``reviews_`` / ``ratings_`` and ``_5`` dropped, and the ``.json`` / ``.jsonl`` / ``.csv`` / ``.gz`` suffixes)."""
    name = re.sub(r"(\.(json|jsonl|csv))?(\.gz)?$", "", path.name)
    name = re.sub(r"^(reviews|ratings)_", "", name)
    return re.sub(r"_5$", "", name)


def meta_file(path: Path) -> Path | None:
    """The metadata file of ``path``'s category in its folder (``meta_<Cat>.json.gz``, ``.json``, ``.jsonl``,
    ``.jsonl.gz``), or None."""
    cat = category(path)
    for ext in (".json.gz", ".json", ".jsonl", ".jsonl.gz"):
        found = path.parent / f"meta_{cat}{ext}"
        if found.is_file():
            return found
    return None


def _meta_record(text: str) -> dict[str, Any] | None:
    try:
        record = parse_json(text, unique_keys=False)
    except ValueError:
        try:  # 2014's metadata: Python literals ({'asin': '...', 'title': '...'}), which literal_eval reads safely
            record = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return record if isinstance(record, dict) else None


def read_titles(meta: Path, items: set[str]) -> dict[str, str]:
    """Titles by ASIN of the ``items`` the log holds, from the metadata file ``meta`` (``asin`` or ``parent_asin``,
    ``title``); lines that cannot be read are counted in one warning, items without a title in one INFO line."""
    titles: dict[str, str] = {}
    unreadable: list[int] = []
    for n, text in _text_lines(meta):
        if not text.strip():
            continue
        record = _meta_record(text)
        if record is None:
            unreadable.append(n)
            continue
        title = record.get("title")
        if not isinstance(title, str) or not title.strip():
            continue
        for key in ("parent_asin", "asin"):
            asin = record.get(key)
            if isinstance(asin, str) and asin in items:
                titles[asin] = title.strip()
    if unreadable:
        log.warning("%s: %d line(s) are not metadata records and are not read (line%s %s); those items keep their ASINs",
                    shown(str(meta)), len(unreadable), "" if len(unreadable) == 1 else "s",
                    ", ".join(map(str, unreadable[:5])) + (" ..." if len(unreadable) > 5 else ""))
    log.info("%s: titles for %d of %d items", shown(str(meta)), len(titles), len(items))
    return titles
