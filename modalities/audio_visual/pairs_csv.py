"""The pairs CSV (``dataset csv``): rows ``image_path,audio_path,label[,split]`` read into pairs (:class:`~.raw_pairs.RawPair`;
see :mod:`.loaders` for what is refused, skipped and counted): the header matched without case or spaces, one
spelling per label, labels that agree, no pair listed twice, every listed file present, no file on both sides of a
given split; without a split, the held-out draw of :mod:`.pair_split`."""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path

from mmdistill.csv_lines import line_list, numbered_records, quote_error, refuse_line_breaks
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.load_report import LoadReport, relative_name

from ..artifacts import one_spelling_per_label
from ..audio.decode import BadFile, decode, describe_bad
from ..groups import no_group_column, refuse_groups_in_both, rows_without_group
from .frame_images import _read_image
from .pair_split import _hold_out, _hold_out_groups, _set_groups
from .raw_pairs import RawPair, _natural

log = logging.getLogger(__name__)


#: the CSV reader's kinds, beside :data:`REPORT_KINDS`
CSV_KINDS = {"downmixed": "multi-channel audio file(s) averaged to mono",
             "reused": "file(s) each used by more than one pair (kept; a file's pairs are never split between train and test)",
             "converted": "frame image(s) converted to grey or RGB (alpha dropped, palette, CMYK, 16-bit scaled)",
             "exif_rotated": "frame image(s) turned upright by their EXIF orientation tag (as the image adapter reads them)"}


# --------------------------------------------------------------------------- CSV
REQUIRED = ("image_path", "audio_path", "label")


def read_csv_pairs(path: Path, test_fraction: float = 0.2, seed: int = 0, strict: bool = True, group_by: str | None = None) -> list[RawPair]:
    """The rows of a CSV ``image_path,audio_path,label[,split][,image_label,audio_label]`` as pairs. DataError naming
    the file and rows for a missing column or file, an empty field, an unknown split, a split given on some rows and
    empty on others, a pair listed twice, a file whose pairs the split puts in both train and test, or labels that
    disagree (``image_label`` vs ``audio_label`` on a row, or one file listed under two labels). A file that cannot be
    decoded fails (``strict``) or is skipped and logged. ``group_by``: a column whose groups (speakers) are never split
    (:func:`_hold_out_groups`; a given split putting a group on both sides is refused naming its rows)."""
    return _read_csv(path, test_fraction, seed, strict, group_by=group_by)[0]


def _read_csv(path: Path, test_fraction: float, seed: int, strict: bool,
              report: LoadReport | None = None, group_by: str | None = None) -> tuple[list[RawPair], list[str], list[BadFile], bool]:
    """(pairs, every class the CSV names, the skipped files, whether the split was drawn): see :func:`read_csv_pairs`.
    ``report`` (when given) receives the files used by several pairs (``reused``) and the frame images converted
    (``converted``), and the fact ``pairs_sharing_a_file``."""
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: holds no rows after its header; expected {HEADER} rows")
    empty = [f"row {n} ({', '.join(c for c in REQUIRED if not r.get(c))})" for n, r in rows.items() if not all(r.get(c) for c in REQUIRED)]
    if empty:
        raise DataError(f"{path}: {len(empty)} row(s) with an empty {'/'.join(REQUIRED)} field: {'; '.join(empty[:5])}"
                        f"{' ...' if len(empty) > 5 else ''}")
    group = _group_column(path, rows, group_by)
    disagree, seen, twice, pair_rows = [], {}, [], {}
    for n, r in rows.items():
        labels = {r["label"]} | {r[c] for c in ("image_label", "audio_label") if r.get(c)}
        if len(labels) > 1:
            disagree.append(f"row {n} ({r['image_path']}, {r['audio_path']}: {sorted(labels)})")
        for col in ("image_path", "audio_path"):
            first = seen.setdefault((col, r[col]), (n, r["label"]))
            if first[1] != r["label"]:
                disagree.append(f"row {n} ({r[col]} labelled {r['label']!r}, row {first[0]} {first[1]!r})")
        pair = (r["image_path"], r["audio_path"])
        if pair in pair_rows:
            twice.append(f"rows {pair_rows[pair]} and {n} ({pair[0]}, {pair[1]})")
        pair_rows.setdefault(pair, n)
    one_spelling_per_label(str(path), {n: r["label"] for n, r in rows.items()}, "row")
    if disagree:
        raise DataError(f"{path}: {len(disagree)} pair(s) whose labels disagree: {'; '.join(disagree[:5])}{' ...' if len(disagree) > 5 else ''}")
    if twice:
        raise DataError(f"{path}: {len(twice)} pair(s) listed more than once (a pair counts once, in one split): {'; '.join(twice[:5])}"
                        f"{' ...' if len(twice) > 5 else ''}")
    root = path.parent
    absent = [f"row {n}: {root / r[c]}" for n, r in rows.items() for c in ("image_path", "audio_path") if not (root / r[c]).is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} file(s) do not exist: {'; '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                        f"(paths are relative to the CSV's folder {root}; a listed file that does not exist is a listing "
                        "error, with or without strict, as in the audio CSV loader: fix the path or remove the row; a file "
                        "that exists but cannot be decoded is skipped and counted instead)")
    splits = {n: _split(r.get("split", ""), path, n) for n, r in rows.items()}
    drawn = all(s is None for s in splits.values())
    blank = [n for n, s in splits.items() if s is None]
    if blank and not drawn:  # before: such rows became training rows without a word
        raise DataError(f"{path}, row {blank[0]}: split must be train, test or val, got '' ({len(blank)} row(s) with an empty split: "
                        f"rows {line_list(blank)}; the other rows give one): give every row a split, or leave it empty on every row "
                        "to hold out test_fraction of each class's readable pairs")
    report = report if report is not None else LoadReport()
    if group and not drawn:
        refuse_groups_in_both(str(path), group, [rows[n][group] for n in rows], [str(splits[n]) for n in rows], list(rows), "pairs")
    files = _no_file_in_both_splits(path, rows, splits)
    pairs, bad, converted, rotated, kept = [], [], [], [], []
    for n, r in rows.items():
        split = splits[n]
        try:
            clip = decode(str(root / r["audio_path"]), str(root / r["audio_path"]))
            image = _read_image(root / r["image_path"], converted, rotated)
        except DataError as exc:
            if strict:
                raise DataError(f"{path}, row {n}: {exc} (strict mode; leave strict off to skip unreadable files)") from None
            pair = ", ".join(relative_name(r[c], root) for c in ("image_path", "audio_path"))  # each named under the CSV's folder
            bad.append(BadFile(pair, f"row {n}: {exc}"))
            continue
        pairs.append(RawPair(r["audio_path"], clip, image, r["label"], split or "train", str(root / r["image_path"])))
        kept.append(n)
    if bad:
        log.warning("%s: %s (of %d rows)", path, describe_bad(bad, what="unreadable pair"), len(rows))
    if converted:
        report.extend("converted", converted)
        log.warning("%s: %s", path, describe_bad([BadFile(p, why) for p, why in converted], what="frame image", verb="converted",
                                                 note=" to grey or RGB"))
    if rotated:
        report.extend("exif_rotated", rotated)
        log.info("%s: %d frame image(s) turned upright by their EXIF orientation tag (%s)", path, len(rotated),
                 ", ".join(relative_name(p, root) for p, _ in rotated[:3]) + (" ..." if len(rotated) > 3 else ""))
    _name_shared(path, rows, files, kept, drawn, report)
    classes = sorted({r["label"] for r in rows.values()}, key=_natural)
    shared = _set_groups(pairs, [files[n] for n in kept], [rows[n][group] for n in kept] if group else None)
    if drawn and group:
        report.facts.update(group_by=group, test_groups=_hold_out_groups(pairs, test_fraction, seed, group, path))
    elif drawn:
        _hold_out(pairs, classes, test_fraction, seed, shared)
        if pairs and all(p.split == "train" for p in pairs) and report.counts().get("reused"):
            raise DataError(f"{path}: no pair can be held out as test: the pairs of each class share files (named above), and "
                            "the pairs of a file are held out together, so that no file is in both splits; give the CSV a "
                            "split column, or more pairs that do not share a file")
    return pairs, classes, bad, drawn


#: what the pairs CSV's header must name, in words (for messages)
HEADER = "image_path,audio_path,label[,split]"


def _csv_rows(path: Path) -> dict[int, dict[str, str]]:
    """The rows of the pairs CSV ``path`` by the physical line each starts on (blank lines skipped), fields stripped
    and named by the header's columns (matched without case, spaces or a byte-order mark, as a spreadsheet saves them;
    a short row's missing fields are empty). DataError naming the file for a header without the :data:`REQUIRED`
    columns (and the header found) and naming the line for a field holding a line break (an unclosed quote:
    :func:`~mmdistill.csv_lines.refuse_line_breaks`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read CSV file {path} (a UTF-8 text file of {HEADER} rows): {exc}") from None
    reader = csv.reader(io.StringIO(decode_utf8(raw, path), newline=""))
    try:
        records = numbered_records(reader, lambda exc, start, line: quote_error(path, exc, start, line))
        _, _, header = next(records, (1, 1, []))
        fields = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; expected a header {HEADER} (column names are matched without "
                            f"case; found {header})")
        rows = {}
        for line, end, values in records:
            refuse_line_breaks(path, line, end, {fields[i] if i < len(fields) and fields[i] else f"column {i + 1}": v
                                                 for i, v in enumerate(values)})
            rows[line] = {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(fields) if k}
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: cannot read it as CSV ({exc}); expected a UTF-8 text file of {HEADER} "
                        "rows") from None
    return rows


def _no_file_in_both_splits(path: Path, rows: dict[int, dict[str, str]], splits: dict[int, str | None]) -> dict[int, tuple[str, str]]:
    """The files of each row (``rows`` and ``splits`` by line number), ``(image, audio)`` normalised (a file named two
    ways is one file). DataError naming the file and its rows when the rows of one file give both train and test: a
    test pair whose frame or sound was trained on is not held out (the audio-only or visual-only score would measure
    memory). With no split given (``splits`` all None) the held-out draw keeps such rows together instead
    (:func:`_hold_out`)."""
    root = path.parent
    keys = {n: (os.path.normpath(str(root / r["image_path"])), os.path.normpath(str(root / r["audio_path"]))) for n, r in rows.items()}
    both = []
    for (col, file), ns in _uses(keys).items():
        by_split = {s: [n for n in ns if splits[n] == s] for s in ("train", "test")}
        if by_split["train"] and by_split["test"]:
            both.append(f"{col} file {rows[ns[0]][col + '_path']} in rows {line_list(by_split['train'])} (train) and "
                        f"{line_list(by_split['test'])} (test)")
    if both:
        raise DataError(f"{path}: {len(both)} file(s) used by both train and test pairs (a test pair whose frame or sound was trained on "
                        f"is not held out): {'; '.join(both[:5])}{' ...' if len(both) > 5 else ''}; give all the pairs of a file one "
                        "split, or leave the split empty on every row to hold them out together")
    return keys


def _uses(keys: dict[int, tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
    """``(column, file) -> row numbers`` for the files (``keys``: ``(image, audio)`` by row number) that more than one
    of those rows uses; ``column`` is ``image`` or ``audio``."""
    uses: dict[tuple[str, str], list[int]] = {}
    for n, key in keys.items():
        for col, file in zip(("image", "audio"), key):
            uses.setdefault((col, file), []).append(n)
    return {k: v for k, v in uses.items() if len(v) > 1}


def _name_shared(path: Path, rows: dict[int, dict[str, str]], keys: dict[int, tuple[str, str]], kept: list[int], drawn: bool,
                 report: LoadReport) -> None:
    """Name, in a warning and in ``report`` (``reused``, one entry per file, and the fact ``pairs_sharing_a_file``),
    the files that more than one of the readable rows ``kept`` (row numbers; ``rows``, ``keys``: every row and its
    files by row number) use: kept, a file's pairs in one split (given, or held out together when ``drawn``)."""
    shared = _uses({n: keys[n] for n in kept})
    if not shared:
        return
    root = path.parent
    entries = [(str(root / rows[ns[0]][col + "_path"]), f"the {col} of {len(ns)} pairs: rows {line_list(ns)}") for (col, _), ns in shared.items()]
    pairs = len({n for ns in shared.values() for n in ns})
    report.extend("reused", entries)
    report.facts["pairs_sharing_a_file"] = pairs
    log.warning("%s: %d file(s) used by more than one pair (%d pairs share them; kept, %s): %s", path, len(entries), pairs,
                "each file's pairs held out together" if drawn else "each file's pairs in one split",
                "; ".join(f"{relative_name(p, root)} ({why})" for p, why in entries[:5]) + (" ..." if len(entries) > 5 else ""))


def _group_column(path: Path, rows: dict[int, dict[str, str]], group_by: str | None) -> str | None:
    """The header's name (lower case, as :func:`_csv_rows` keys the fields) of the ``group_by`` column, or None
    without one. DataError naming the file when the header has no such column, and the rows that leave it empty."""
    if not group_by:
        return None
    column = group_by.strip().lower()
    if column not in next(iter(rows.values())):
        raise no_group_column(str(path), group_by, list(next(iter(rows.values()))), "pair")
    empty = [n for n, r in rows.items() if not r[column]]
    if empty:
        raise DataError(f"{path}: {rows_without_group(empty, column, 'pair')}")
    return column


def _split(value: str, path: Path, row: int) -> str | None:
    v = {"val": "test", "validation": "test", "valid": "test"}.get(value.lower(), value.lower())
    if v and v not in ("train", "test"):
        raise DataError(f"{path}, row {row}: split must be train, test or val, got {value!r}")
    return v or None


__all__ = ["CSV_KINDS", "HEADER", "REQUIRED", "read_csv_pairs"]
