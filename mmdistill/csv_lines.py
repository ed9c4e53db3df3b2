"""CSV records named by the physical lines they stand on, for loaders whose messages name a line.

A quoted field may run over several lines, so a record's number in the file (``enumerate(reader, 2)``) is not its
line once one has; and an unclosed quote (``"``) makes one field of every line after it, which a loader that never
looks for line breaks takes as data (a label or a path holding the rest of the file). :func:`numbered_records` gives
each record with its first and last line; :func:`refuse_line_breaks` is the check for fields that are never several
lines (paths, labels, splits).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from mmdistill.errors import DataError


def numbered_records(reader: Any, on_error: Callable[[csv.Error, int, int], Exception] | None = None
                     ) -> Iterator[tuple[int, int, list[str]]]:
    """``(first line, last line, fields)`` of each record of the ``csv.reader`` ``reader`` (its ``line_num`` read before
    and after the record), blank lines skipped. A ``csv.Error`` is raised as ``on_error(error, first line, line reached)``
    when given (a strict reader's "unexpected end of data": a quote open to the end of the file), else as it is."""
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader, None)
        except csv.Error as exc:
            if on_error is None:
                raise
            raise on_error(exc, start, reader.line_num) from None
        if values is None:
            return
        if values:
            yield start, reader.line_num, values


def refuse_line_breaks(path: Path, start: int, end: int, fields: Mapping[str, str]) -> None:
    """DataError naming line ``start`` and the field when one of ``fields`` (name -> value of a record on lines
    ``start``..``end``, fields that are never several lines) holds a line break: a quote opened there and not closed
    took the lines after it."""
    for name, value in fields.items():
        if "\n" in value or "\r" in value:
            raise DataError(f"{path} line {start}: the '{name}' field holds a line break ({value[:40]!r}"
                            f"{'...' if len(value) > 40 else ''}): an unclosed quote (\") on line {start} likely swallowed the "
                            f"lines after it (up to line {end}); close or remove the quote")


def quote_error(path: Path, exc: csv.Error, start: int, line: int) -> DataError:
    """The DataError for the record starting on line ``start`` that a CSV reader refused on line ``line`` (``exc``): a
    field longer than the csv module's limit (on one line: a field that long; over several: an unclosed quote that took the
    lines after it), a quote left open to the end of the file (a strict reader), or text after a closing quote (a quote inside a quoted field not doubled,
    or one left open further up and closed by a quote of a later row)."""
    text = str(exc)
    if "field larger than field limit" in text:
        if line == start:  # within one line: a field that long (quoted or not), not lines taken by an open quote
            return DataError(f"{path} line {start}: a field on this line is longer than {csv.field_size_limit():,} characters "
                             "(the longest field the CSV reader takes); expected a caption, path or label of ordinary length: "
                             "shorten or remove it")
        return DataError(f"{path} line {start}: a field starting in this row runs past line {line} and over "
                         f"{csv.field_size_limit():,} characters: an unclosed quote (\") on line {start} likely swallowed "
                         "the lines after it; close or remove the quote")
    if "unexpected end of data" in text:
        return DataError(f"{path} line {start}: a quote (\") opened in this row is never closed: it runs to the end of the "
                         f"file (line {line}), taking every row after it into one field; close or remove the quote")
    if line == start:
        return DataError(f"{path} line {start}: text follows the closing quote of a quoted field ({exc}); write a quote "
                         "inside a quoted field as two quotes (\"\")")
    return DataError(f"{path} line {start}: a quote (\") opened in this row is only closed on line {line}, where text "
                     f"follows it ({exc}): an unclosed quote on line {start} likely swallowed the lines after it; close or "
                     "remove the quote")


#: characters of text split into lines at a time by :func:`text_lines` / :func:`newline_lines`
LINE_BLOCK = 1 << 20


def _blocks(text: str, block: int) -> Iterator[str]:
    """``text`` in pieces of about ``block`` characters, each cut just after a ``\n`` (or at the end): a line, and a
    ``\r\n`` pair, never spans two pieces."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", start + block)
        end = n if end < 0 else end + 1
        yield text[start:end]
        start = end


def text_lines(text: str, *, block: int = LINE_BLOCK) -> Iterator[str]:
    """The lines of ``text`` exactly as ``text.splitlines()`` gives them, made a block of ``block`` characters at a time:
    a loader walking a large file's lines holds one block's list, not a string object per line of the file (~50 bytes
    of overhead each: 150 MB for a 3-million-row log)."""
    for piece in _blocks(text, block):
        yield from piece.splitlines()


def newline_lines(text: str, *, block: int = LINE_BLOCK) -> Iterator[str]:
    """The lines of ``text`` split at ``\n`` only, each with its ``\n`` (the last one without when ``text`` does not
    end in one): what iterating ``io.StringIO(text)`` gives, without that copy of the whole file (4 bytes a character,
    ASCII too); the input ``csv.reader`` reads a decoded file from."""
    for piece in _blocks(text, block):
        parts = piece.split("\n")
        for part in parts[:-1]:
            yield part + "\n"
        if parts[-1]:
            yield parts[-1]


def line_list(numbers: list[int], limit: int = 10) -> str:
    """``2, 3, 9``: the first ``limit`` line (or row) numbers, `` ...`` after them."""
    return ", ".join(map(str, numbers[:limit])) + (" ..." if len(numbers) > limit else "")


__all__ = ["LINE_BLOCK", "line_list", "newline_lines", "numbered_records", "quote_error", "refuse_line_breaks",
           "text_lines"]
