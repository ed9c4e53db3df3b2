"""Kinetics' annotation CSVs (``train.csv``, ``val.csv`` or ``validate.csv``, ``test.csv``: the columns
``label,youtube_id,time_start,time_end,split``, and ``is_cc`` in later releases): a clip is the file
``<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>`` (ActivityNet's downloader's name; the reference's
``Kinetics400`` reads frame folders of that name), else ``<youtube_id>.<ext>`` (some downloaders' name). Given the training CSV, its validation CSV beside it is the test split, as the
reference's ``utils.get_dataset`` scores Kinetics-400 on ``split="val"``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.io import decode_utf8

from .split_rows import Row

COLUMNS = ("label", "youtube_id", "time_start", "time_end")
#: the validation CSV's names, beside train.csv (the 2017 release: validate.csv; later ones: val.csv)
HELD_OUT = ("val.csv", "validate.csv")


def _header(path: Path) -> list[str]:
    """The columns of the CSV ``path``'s first line, lower case: only that line is read (every CSV split file, the
    loader's own ``path,label,split`` too, is asked whether it is Kinetics')."""
    with path.open("rb") as f:
        head = f.readline()
    first = next(csv.reader(io.StringIO(decode_utf8(head, f"split file {path}"))), [])
    return [c.strip().lower() for c in first]


def is_kinetics(path: Path) -> bool:
    """Whether ``path`` is a CSV whose header has Kinetics' columns."""
    return path.is_file() and path.suffix.lower() == ".csv" and set(COLUMNS) <= set(_header(path))


def _rows(path: Path, split: str) -> tuple[list[Row], set[str], DataError | None]:
    """The rows of the Kinetics CSV ``path`` (each of split ``split``), in one pass: its ``split`` column's values
    (lower case, blanks dropped) and the first row that is not a clip (a DataError, returned so that the caller names
    a CSV of the wrong split first; a row after it is not kept). DataError when the header lacks :data:`COLUMNS` or
    the text is not a CSV."""
    text = decode_utf8(path.read_bytes(), f"split file {path}")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = [c.strip().lower() for c in reader.fieldnames or []]
    if not set(COLUMNS) <= set(reader.fieldnames):
        raise DataError(f"{path}, line 1: a Kinetics CSV has the columns {','.join(COLUMNS)},split; got "
                        f"{','.join(reader.fieldnames)!r}")
    rows: list[Row] = []
    splits: set[str] = set()
    bad: DataError | None = None
    try:
        for rec in reader:
            n = reader.line_num
            splits.add((rec.get("split") or "").strip().lower())
            vals = {k: (rec.get(k) or "").strip() for k in COLUMNS}
            if bad is not None:
                continue
            if not all(vals.values()) or not vals["time_start"].isdigit() or not vals["time_end"].isdigit():
                bad = DataError(f"{path}, line {n}: expected a label, a YouTube id and whole-second time_start and "
                                f"time_end, got {','.join(vals.values())!r}")
                continue
            name = f"{vals['youtube_id']}_{int(vals['time_start']):06d}_{int(vals['time_end']):06d}"
            rows.append(Row(name, vals["label"], split, f"{path.name}, line {n}", alias=vals["youtube_id"]))
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: not a CSV: {exc}") from None
    return rows, splits - {""}, bad


def read_kinetics(path: Path) -> tuple[list[Row], Path, str]:
    """The rows of the training CSV ``path`` (split ``train``) and of the validation CSV beside it (its name with
    ``train`` read ``val`` or ``validate``: ``kinetics_400_train.csv`` -> ``kinetics_400_val.csv``, or :data:`HELD_OUT`;
    split ``test``), that CSV and the layout read, in words. DataError when ``path`` is not the training CSV (its
    ``split`` column says another split) or no validation CSV (or two) lies beside it."""
    rows, splits, bad = _rows(path, "train")
    if splits - {"train", "training"}:
        raise DataError(f"split file {path} holds {', '.join(sorted(splits - {'train', 'training'}))} rows: give the "
                        f"training CSV (train.csv) as split_file; the test split is its validation CSV beside it "
                        f"({' or '.join(HELD_OUT)})")
    names = dict.fromkeys([path.name.replace("train", v) for v in ("val", "validate") if "train" in path.name] + list(HELD_OUT))
    held = [path.with_name(n) for n in names if path.with_name(n).is_file()]
    if len(held) != 1:
        raise DataError(f"split file {path}: expected one validation CSV beside it ({' or '.join(HELD_OUT)}), the test "
                        f"split (the reference scores Kinetics-400 on it), found {len(held) or 'none'}")
    if bad is not None:
        raise bad
    test, _, bad = _rows(held[0], "test")
    if bad is not None:
        raise bad
    return rows + test, held[0], f"Kinetics CSVs {path.name} + {held[0].name} (its test split)"


__all__ = ["HELD_OUT", "is_kinetics", "read_kinetics"]
