"""A clip found by the layout (:class:`Item`), a row of an official split file (:mod:`.split_hmdb`, :mod:`.split_kinetics`, :mod:`.split_ssv2`) and finding its
clip under the data root (:func:`walk_clips`, :func:`place`): those formats name a clip by its file name without a
folder (HMDB51: ``<video>.avi``, Kinetics: ``<youtube_id>_<start>_<end>``, SSv2: ``<id>``), and the downloads keep
the clips in class folders, split folders or none, as video files or as folders of extracted frames."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

from mmdistill.errors import DataError

from .decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Item:
    """One clip found by :func:`discover`: its ``path`` (a video file, or a folder of frame images), its class
    ``label`` and its ``split`` (``"train"`` or ``"test"``)."""

    path: Path
    label: str
    split: str  # "train" | "test" ("val" only while a split file is read: see _val_rows)


@dataclass(frozen=True)
class Row:
    """One clip a split file lists: its ``name`` (a file name, with or without its extension), ``label``, ``split``
    (``train``, ``test`` or ``unused``: listed as neither), ``where`` (``<file>, line <n>``, for messages) and
    ``alias``, a second name it may be stored under (a Kinetics clip named by its YouTube id alone; empty: none)."""

    name: str
    label: str
    split: str
    where: str
    alias: str = ""


def clip_key(name: str) -> str:
    """The name a clip is found by: ``name`` without a video extension (``x.avi`` and the frame folder ``x`` are one),
    in composed Unicode (a list written on one system names ``Café`` composed, macOS stores it decomposed)."""
    stem, ext = os.path.splitext(unicodedata.normalize("NFC", name))
    return stem if ext.lower() in VIDEO_EXTENSIONS else stem + ext


@dataclass(frozen=True)
class ClipWalk:
    """Every clip under a data root, from one walk (:func:`walk_clips`): ``index``, the clips by :func:`clip_key`;
    ``clips`` and ``hidden``, the clips and the hidden entries (not walked into) as paths under the root, in walk order
    (top-down, names sorted)."""

    index: dict[str, list[Path]]
    clips: list[str]
    hidden: list[str]


def walk_clips(root: Path, kind: str) -> ClipWalk:
    """Every clip under ``root``: video files (:data:`VIDEO_EXTENSIONS`, ``kind="files"``) or folders holding frame
    images (:data:`IMAGE_EXTENSIONS`, ``kind="frames"``; ``root`` itself is none), at any depth; hidden entries are
    named, not looked into. The one walk both a split file's clips are found by and its unlisted clips are named by."""
    index: dict[str, list[Path]] = {}
    clips: list[str] = []
    hidden: list[str] = []
    for here, dirs, files in os.walk(root):
        hidden += [os.path.join(here, n) for n in sorted(dirs) + sorted(files) if n.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if kind == "files":
            for f in sorted(files):
                if not f.startswith(".") and os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS:
                    index.setdefault(clip_key(f), []).append(Path(here, f))
                    clips.append(os.path.join(here, f))
        elif Path(here) != root and any(os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS for f in files):
            index.setdefault(clip_key(os.path.basename(here)), []).append(Path(here))
            clips.append(here)
    return ClipWalk(index, clips, hidden)


def place(row: Row, index: dict[str, list[Path]], root: Path, folders: tuple[str, ...] = ()) -> Path | None:
    """The clip of ``row`` under ``root`` (None: not there). Of several of one name, the one inside a folder named as
    its class (spaces or underscores) or as one of ``folders`` (its split's); DataError naming them when that does not
    decide."""
    found = index.get(clip_key(row.name), []) or (index.get(clip_key(row.alias), []) if row.alias else [])
    if len(found) > 1:
        names = {row.label, row.label.replace(" ", "_"), *folders}
        found = [p for p in found if names & set(p.relative_to(root).parts[:-1])] or found
    if len(found) > 1:
        raise DataError(f"{row.where}: clip {row.name!r} is found {len(found)} times under {root} ("
                        f"{', '.join(str(p) for p in found[:3])}): keep one, or put each in its class folder")
    return found[0] if found else None


def missing_clips(source: str, missing: Sequence[Row], found: Collection[str], root: Path, clips: str, looked: str,
                  strict: bool, hint: str = "") -> list[tuple[str, str]]:
    """The one policy for the listed clips not found under ``root`` (a video split file's, an audio-visual release's):
    ``missing``, those rows (train or test), are returned as ``unused`` entries ``(name, reason)`` naming their file
    and line, as a release loses clips (YouTube takedowns, a broken archive part). A DataError names them when a split
    has none of its clips found (``found``: the splits of the clips found, one per clip; a wrong ``data_root``, a split
    not extracted), or, under ``strict``, when any is missing. ``source`` (the listing, for the message), ``clips``
    (what it lists: ``HMDB51 clip(s)``), ``looked`` (how they are looked for), ``hint`` (words after the names)."""
    empty = [side for side in ("train", "test") if side not in found and any(r.split == side for r in missing)]
    if missing and (strict or empty):
        names = ", ".join(f"{r.name} ({r.where})" for r in missing[:5])
        why = (f"no {' and no '.join(empty)} clip of it is found" if empty else "--strict makes a missing clip an error "
               "(without it: named as unused and counted)")
        raise DataError(f"{source}: {len(missing)} of the {len(missing) + len(found)} {clips} it lists are not under "
                        f"{root} ({looked}), and {why}: {names}{' ...' if len(missing) > 5 else ''}{hint}")
    return [(r.name, f"listed in {r.where}, not found under the data root") for r in missing]


__all__ = ["ClipWalk", "Item", "Row", "clip_key", "missing_clips", "place", "walk_clips"]
