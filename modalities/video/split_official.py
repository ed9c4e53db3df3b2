"""The video datasets' own split files as ``split_file`` (:func:`read_official`): HMDB51's
``testTrainMulti_7030_splits`` (:mod:`.split_hmdb`, the split ``split_number``), Kinetics' ``train.csv`` with its
validation CSV (:mod:`.split_kinetics`) and SSv2's ``labels/`` JSON files (:mod:`.split_ssv2`); each listed clip is found
under the data root by its name (:mod:`.split_rows`)."""

from __future__ import annotations

from pathlib import Path

from .split_hmdb import is_hmdb, read_hmdb
from .split_kinetics import is_kinetics, read_kinetics
from .split_rows import ClipWalk, Row, missing_clips, place, walk_clips
from .split_ssv2 import is_ssv2, read_ssv2

#: a listed clip: its path, class and split (``train`` or ``test``)
Listed = tuple[Path, str, str]
#: the split folders a Kinetics downloader writes each split's clips into
KINETICS_FOLDERS = {"train": ("train",), "test": ("val", "validate", "valid")}


def official_format(path: Path) -> str | None:
    """Which of the formats :func:`read_official` reads ``path`` is (``"HMDB51"``, ``"Kinetics"``, ``"SSv2"``), None
    when none: asked once, its answer handed to :func:`read_official`."""
    for fmt, test in (("HMDB51", is_hmdb), ("Kinetics", is_kinetics), ("SSv2", is_ssv2)):
        if test(path):
            return fmt
    return None


def read_official(path: Path, root: Path, kind: str, split_number: int | None = None, fmt: str | None = None,
                  walk: ClipWalk | None = None, strict: bool = False) -> tuple[list[Listed], list[tuple[str, str]], list[Path], str]:
    """The clips of the split file (or folder) ``path`` found under ``root`` (``kind``: video files or frame folders),
    what it lists but leaves out, as ``(path, reason)`` (HMDB51's id 0 clips; Kinetics clips not under ``root``:
    YouTube removes videos, so every download misses some, and the reference skips them too), the paths of those
    left-out clips found, and the layout read, in words. One policy for the three: a listed clip not found under
    ``root`` is named as unused (with its file and line) and counted in the layout, as a release loses clips (YouTube
    takedowns, a broken archive part); a DataError names them when a split (train or test) has none of its clips found
    (a wrong ``data_root``, a split not extracted), or, under ``strict``, when any is missing (:func:`.split_rows.missing_clips`, the audio-visual releases' policy too).
    ``fmt``: :func:`official_format`'s answer for ``path`` (None: asked here); ``walk``: :func:`walk_clips` of ``root``
    (None: walked here)."""
    fmt = fmt or official_format(path)
    if fmt == "HMDB51":
        rows, layout = read_hmdb(path, split_number)
    elif fmt == "Kinetics":
        rows, _, layout = read_kinetics(path)
    else:
        rows, layout = read_ssv2(path)
    index = (walk or walk_clips(root, kind)).index
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
    unused += missing_clips(str(path), missing, [split for _, _, split in listed], root, f"{fmt} clip(s)",
                            f"{what} named as listed, in any folder", strict)
    if missing:
        layout += f"; {len(missing)} listed clip(s) not found"
    return listed, unused, left, layout


__all__ = ["official_format", "read_official"]
