"""HMDB51's official split files (``testTrainMulti_7030_splits/<action>_test_split<N>.txt``): one file per class and
split number, each line ``<video>.avi <id>``, id 1 a training clip, 2 a test clip, 0 a clip of neither (HMDB51's
``split_readme.txt``: 70 training and 30 test clips a class, the rest 0)."""

from __future__ import annotations

import re
from pathlib import Path

from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8

from .split_rows import Row

#: a split file's name: the class, then the split number
NAME = re.compile(r"(?P<label>.+)_test_split(?P<number>\d+)\.txt")
#: what an id of a split line means
IDS = {"1": "train", "2": "test", "0": "unused"}


def is_hmdb(path: Path) -> bool:
    """Whether ``path`` is one of HMDB51's split files or a folder holding them."""
    if path.is_dir():
        return any(NAME.fullmatch(p.name) for p in path.iterdir())
    return NAME.fullmatch(path.name) is not None


def split_files(path: Path, number: int | None) -> tuple[list[Path], int]:
    """The split files of split ``number`` in the folder ``path`` (or, ``path`` being one of them, in its folder) and
    the number read, one file per class. ``number`` None (not given): 1 for a folder, the file's own for a file.
    DataError naming the folder and the numbers it holds when it has no file of that number.

    Raises:
        ConfigError: (key ``split_number``) ``path`` is a file of another split than a ``number`` given (1 included:
            the file's number was read silently before, while the manifest recorded ``number``).
    """
    if path.is_file():
        own = int(NAME.fullmatch(path.name)["number"])
        if number not in (None, own):
            raise ConfigError(f"split_number={number}, but the split file {path} is one of split {own}'s: give the "
                              f"folder {path.parent} (each class's <action>_test_split{number}.txt is read from it) or "
                              f"the file {path.name.replace(f'_test_split{own}', f'_test_split{number}')}, or leave "
                              f"split_number out to read split {own}", key="split_number")
        number = own
        path = path.parent
    number = 1 if number is None else number
    found = sorted(p for p in path.iterdir() if (m := NAME.fullmatch(p.name)) and int(m["number"]) == number)
    if not found:
        numbers = sorted({int(m["number"]) for p in path.iterdir() if (m := NAME.fullmatch(p.name))})
        raise DataError(f"split file folder {path} has no HMDB51 split file of split_number={number} (<action>_test_split"
                        f"{number}.txt); it holds split(s) {', '.join(map(str, numbers)) or 'none'}")
    return found, number


def read_hmdb(path: Path, number: int | None) -> tuple[list[Row], str]:
    """The rows of HMDB51 split ``number`` (:func:`split_files`): each clip named by its file name, its class the
    file's ``<action>``, its split ``train``, ``test`` or ``unused`` (id 0), and the layout read, in words. DataError
    naming the file and line of a line that is not ``<video> <0|1|2>``."""
    files, number = split_files(path, number)
    rows = []
    for f in files:
        label = NAME.fullmatch(f.name)["label"]
        for n, line in enumerate(decode_utf8(f.read_bytes(), f"split file {f}").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.strip().rsplit(None, 1)
            if len(parts) != 2 or parts[1] not in IDS:
                raise DataError(f"{f}, line {n}: expected '<video>.avi <id>' with id 1 (train), 2 (test) or 0 (neither), "
                                f"as HMDB51's split files, got {line.strip()!r}")
            rows.append(Row(parts[0], label, IDS[parts[1]], f"{f.name}, line {n}"))
    return rows, (f"HMDB51 split files {files[0].parent.name}/*_test_split{number}.txt ({len(files)} classes, split "
                  f"{number}; id 0 clips left out)")


__all__ = ["is_hmdb", "read_hmdb", "split_files"]
