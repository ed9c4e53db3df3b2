"""The video datasets' own split files as ``split_file`` (:func:`read_official`): HMDB51's
``testTrainMulti_7030_splits`` (:mod:`.split_hmdb`, the split ``split_number``), Kinetics' ``train.csv`` with its
validation CSV (:mod:`.split_kinetics`) and SSv2's ``labels/`` JSON files (:mod:`.split_ssv2`); each listed clip is found
under the data root by its name (:mod:`.split_rows`)."""

from __future__ import annotations

from pathlib import Path

from mmdistill.errors import DataError

from .split_hmdb import is_hmdb, read_hmdb
from .split_kinetics import is_kinetics, read_kinetics
from .split_rows import Row, clip_index, place
from .split_ssv2 import is_ssv2, read_ssv2

#: a listed clip: its path, class and split (``train`` or ``test``)
Listed = tuple[Path, str, str]
#: the split folders a Kinetics downloader writes each split's clips into
KINETICS_FOLDERS = {"train": ("train",), "test": ("val", "validate", "valid")}


def is_official(path: Path) -> bool:
    """Whether ``path`` is one of the formats :func:`read_official` reads."""
    return is_hmdb(path) or is_kinetics(path) or is_ssv2(path)


def read_official(path: Path, root: Path, kind: str, split_number: int = 1
                  ) -> tuple[list[Listed], list[tuple[str, str]], list[Path], str]:
    """The clips of the split file (or folder) ``path`` found under ``root`` (``kind``: video files or frame folders),
    what it lists but leaves out, as ``(path, reason)`` (HMDB51's id 0 clips; Kinetics clips not under ``root``:
    YouTube removes videos, so every download misses some, and the reference skips them too), the paths of those
    left-out clips found, and the layout read, in words. A clip of HMDB51 or SSv2 not found is a DataError naming
    them (a wrong ``data_root``, an unfinished extraction), as is a Kinetics list none of whose clips is found."""
    if is_hmdb(path):
        rows, layout = read_hmdb(path, split_number)
        fmt, lenient = "HMDB51", False
    elif is_kinetics(path):
        rows, _, layout = read_kinetics(path)
        fmt, lenient = "Kinetics", True
    else:
        rows, layout = read_ssv2(path)
        fmt, lenient = "SSv2", False
    index = clip_index(root, kind)
    listed: list[Listed] = []
    unused: list[tuple[str, str]] = []
    left: list[Path] = []
    missing: list[Row] = []
    for row in rows:
        clip = place(row, index, root, KINETICS_FOLDERS.get(row.split, ()) if fmt == "Kinetics" else ())
        if clip is None:
            missing.append(row)
        elif row.split == "unused":
            unused.append((str(clip), f"id 0 in {row.where}: neither a training nor a test clip of this split"))
            left.append(clip)
        else:
            listed.append((clip, row.label, row.split))
    missing = [r for r in missing if r.split != "unused"]
    what = "video files" if kind == "files" else "folders of frame images"
    if missing and (not lenient or not listed):
        names = ", ".join(f"{r.name} ({r.where})" for r in missing[:5])
        raise DataError(f"{path}: {len(missing)} of the {len(missing) + len(listed)} {fmt} clip(s) it lists are not under "
                        f"{root} ({what} named as listed, in any folder): {names}{' ...' if len(missing) > 5 else ''}")
    unused += [(r.name, f"listed in {r.where}, not found under the data root") for r in missing]
    if missing:
        layout += f"; {len(missing)} listed clip(s) not found"
    return listed, unused, left, layout


__all__ = ["is_official", "read_official"]
