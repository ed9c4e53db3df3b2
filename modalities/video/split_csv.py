"""A split file of the loader's own format: a CSV ``path,label,split`` (a header row optional), each path relative to
the data root, each split ``train``, ``test`` or ``val`` (``validation``, ``valid``). The reference's own CSVs
(``distill_utils/data/UCF101/ucf101_splits1.csv``, ``ucf50_splits1.csv``, ``HMDB51/hmdb51_splits.csv``: the header
``folder_name,label,split``, each row a frame folder of its flat ``jpegs_112/``) are this format under another header."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.io import decode_utf8

from .split_rows import Item


#: the headers a split CSV may have: the loader's, the reference's
HEADERS = (["path", "label", "split"], ["folder_name", "label", "split"])


def _read_csv(path: Path, root: Path) -> list[Item]:
    """The clips the CSV ``path`` lists, each path under ``root``; DataError naming the line of a row that is not
    ``path,label,split`` or of a header other than :data:`HEADERS`."""
    reader = csv.reader(io.StringIO(decode_utf8(path.read_bytes(), f"split file {path}"), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DataError(f"split file {path} is not a CSV of path,label,split: {exc}") from None
    if rows:
        head = [c.strip().lower() for c in rows[0][1]]
        if head[:3] in HEADERS:
            rows = rows[1:]
        elif any(h in ("path", "label", "split", "file", "class", "filename", "folder_name") for h in head):
            raise DataError(f"{path}, line {rows[0][0]}: the header must be path,label,split, got {','.join(rows[0][1])!r} "
                            "(the reference's folder_name,label,split is read too)")
    items = []
    for n, row in rows:
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{path}, line {n}: expected path,label,split (a path, a class label and train, test or val), got {row}")
        split = row[2].strip().lower()
        split = {"validation": "val", "valid": "val"}.get(split, split)
        if split not in ("train", "test", "val"):
            raise DataError(f"{path}, line {n}: split must be train, test or val, got {row[2]!r}")
        items.append(Item(root / row[0].strip(), row[1].strip(), split))
    return items


__all__ = ["_read_csv"]
