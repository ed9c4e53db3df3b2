"""Loading clip-classification sets: video files (decord), folders of frame images, in-memory tensors and the
generated moving digits. This module finds a layout's clips, splits them and caches the decoded clips; decoding one
clip (:class:`FrameSampling`, the decoders) is :mod:`.decode`'s.

Every loader returns a :class:`VideoSet`: float clips (N, C, T, H, W) in [0, 1] per split, labels, class
names and a :class:`LoadReport` of what was skipped, padded or shortened (each named with a count).

Frame sampling (the reference's ``distill_utils/dataset.py``: 16 frames, a gap of 4 frames, a random start;
a clip shorter than ``(num_frames - 1) x frame_gap + 1 frames`` gets a gap of ``length // num_frames``): ``num_frames``
frames ``frame_gap`` apart, starting at a random offset (``offset="random"``, seeded per clip) or in the
middle of the clip (``offset="center"``); ``short`` says what happens to a clip shorter than
``(num_frames - 1) x frame_gap + 1`` frames: ``gap`` (the reference: the gap shrinks to fit; a clip with
fewer than ``num_frames`` frames is then padded by repeating its last frame), ``pad`` (keep the gap, repeat
the last frame) or ``skip`` (drop the clip). Each case is counted and named in the log and the manifest, as are unreadable files
and files found under the root that are not clips of the layout (``ignored``) or that the layout leaves out by design
(``unused``: a val split beside a test split, clips a split file does not list); ``strict`` makes an unreadable or
ignored item and every short clip (skipped, padded or shrunk) an error, never an unused one. Every class of the layout is kept: a class
left with no training clip is refused by name.

A folder of frame images (``kind="frames"``) is one clip: its images in natural order (numbers in names compare as
numbers: ``frame_2`` before ``frame_10``, as frame-extraction tools name frames without zero padding). A clip folder
holding several image sequences (names with different prefixes before their number: mmaction2's rawframes layout keeps
``img_*`` RGB frames beside ``x_*``/``y_*`` optical flow) gives its RGB frames (:data:`RGB_PREFIXES`); the others
are named as ``unused``, and several sequences without an RGB one are refused by name. 16-bit frames are scaled to
8 bits (value / 257), as the image loaders do; frames not stored as RGB (greyscale, palette, alpha) are read as RGB, and
such clips counted and named (``converted_rgb``), as are clips whose frames differ in size (``mixed_sizes``).

Decoded clips are cached as one uint8 safetensors file per split, keyed by the layout's classes, the file list
(paths, sizes, modification times, inodes and status-change times; for a frame folder, those of every file in it) and
the decode settings, so a second run with the
same settings does not decode again (an INFO line names the cache file read or written); a cache file that cannot be
read (or holds other settings) is decoded again and replaced, and a cache that cannot be written (a file where its
folder should be, a folder the system refuses) leaves the clips uncached, each with a warning: the cache never
costs the run.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import logging
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor

from mmdistill.cache_dir import cache_root
from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import atomic_path, decode_utf8
from mmdistill.load_report import LoadReport as CoreLoadReport
from mmdistill.words import shown

from . import decode as _decode
from .decode import (IMAGE_EXTENSIONS, OFFSETS, SHORT_POLICIES, VIDEO_EXTENSIONS, FrameSampling, _decode_file,
                     _decode_frame_dir, _frame_files, _other_files, _why)
from .rates import rate_counts, tell_mixed_rates
from .groups import GROUP_BY_REMEDY, groups_in_both, hold_out_groups, recordings, said_group_by, some, ucf_groups_in_both
from ..groups import group_no_test_reason
from ..artifacts import HIDDEN, check_class_ids, check_distinct_folder, classes_without_test, refuse_shared_files, scan_files

log = logging.getLogger(__name__)

#: names this module had before decoding moved to :mod:`.decode`, which earlier code imports from here
_decode_gif, _gif_repeats, plain_reason = _decode._decode_gif, _decode._gif_repeats, _decode.plain_reason
_native_lines, _native_stderr = _decode._native_lines, _decode._native_stderr

#: why a class can end up without a test clip (the warning of :func:`~modalities.artifacts.classes_without_test`)
UNSCORED_WHY = ("a drawn split holds out test_fraction of a class's clips, rounded, so a class of few clips may give none; "
                "or its test clips were unreadable or too short")


def _unscored_why(report: CoreLoadReport) -> str:
    """Why a class has no test clip: :data:`UNSCORED_WHY`, or under a drawn ``group_by`` split (the report's fact
    ``group_by``) that every recording of the class was kept for training."""
    group_by = report.facts.get("group_by")
    return group_no_test_reason("group_by", named=said_group_by(group_by)) if group_by else UNSCORED_WHY




#: bytes of memory per decoded value at the load's peak: the uint8 clips (decoded into one array per split, or read
#: from the cache) and the float32 copy of the larger split (divided by 255 in place), up to 1 + 4 when one split
#: holds nearly every clip, and a margin for the decoders' and the cache's transients. Measured peak RSS over the
#: import baseline (800 clips of 16 frames of 64x64, 640 train / 160 test, one CPU): 4.25 on a decode, 4.44 on a
#: cache hit (8.4 and 7.2 before the clips were decoded in place)
BYTES_PER_VALUE = 5.5


def _check_memory(root: str | Path, clips: int, sampling: FrameSampling) -> None:
    """ConfigError naming ``num_frames`` and ``frame_size`` when ``clips`` clips of ``num_frames`` RGB frames of
    ``frame_size``^2 (native size: at least 1 pixel, a lower bound) cannot fit, as uint8 and their float32 copy
    (:data:`BYTES_PER_VALUE` bytes a value), in the host's available memory; checked before anything is decoded
    (:func:`load_clip_folder`'s ``check_memory=False``, the config's ``memory_check=false``, skips it)."""
    from mmdistill.memory import host_shortfall

    side = sampling.frame_size or 1
    need = int(clips * sampling.num_frames * side * side * 3 * BYTES_PER_VALUE)
    if available := host_shortfall(need):
        gib = 1024.0**3
        size = (f"frame_size={side}, {side}x{side}" if sampling.frame_size else
                "frame_size=0, the native size, counted as at least 1x1")
        raise ConfigError(f"{root}: {clips} clips of num_frames={sampling.num_frames} frames ({size}) need about "
                          f"{need / gib:,.1f} GiB of memory as uint8 frames and their float32 copy, more than the "
                          f"{available / gib:,.1f} GiB available; pass a smaller num_frames (--num-frames N) or frame_size "
                          "(--frame-size N), or memory_check=false to try anyway")


REPORT_KINDS = ("unreadable", "skipped_short", "ignored", "unused", "padded", "shrunk_gap", "mixed_sizes", "converted_rgb",
                "exif_rotated")
#: the kinds that leave an item out
LEFT_OUT_KINDS = ("unreadable", "skipped_short", "ignored")
#: the kinds of a clip shorter than (num_frames - 1) x frame_gap + 1 frames that the ``short`` policy kept
SHORT_KINDS = ("padded", "shrunk_gap")
#: the kinds ``strict`` turns into errors: everything that leaves an item out, and every too-short clip
STRICT_KINDS = LEFT_OUT_KINDS + SHORT_KINDS


class LoadReport(CoreLoadReport):
    """:class:`mmdistill.load_report.LoadReport` with the video loader's kinds; entries are ``(path, reason)``.
    ``ignored``: files and folders found under the root that are not clips of the layout (a file beside the class
    folders, a file of a type that is not a video in a class folder, a file that is not a frame image in a clip
    folder); ``unused``: clips the layout leaves out by design (``val/`` when ``test/`` exists, a split file's ``val``
    rows when it has ``test`` rows, a clip under the root the split file does not list) and the other image sequences
    of a clip folder that holds RGB frames (``img_*``) beside optical flow (``x_*``, ``y_*``: mmaction2's rawframes
    layout; one entry ``<clip>/<prefix>*`` per sequence), named and never made an error by ``strict``.
    ``facts["layout"]`` says which layout was read. The kinds read as attributes (``report.unreadable``: a copy of the
    entries; fill through ``add``) and ``cache`` is the ``cache`` fact (``hit``, ``wrote`` or ``not written`` (a
    warning said why) and the cache file's name)."""

    KINDS = {"unreadable": "unreadable or empty file(s) skipped",
             "skipped_short": "clip(s) shorter than (num_frames - 1) x frame_gap + 1 frames skipped (short=skip)",
             "ignored": "file(s) or folder(s) under the data root not used (not a clip of the layout)",
             "unused": "clip(s) or frame sequence(s) the layout leaves out (a val split beside a test split, not listed by the "
                       "split file, or optical flow beside a clip folder's img_ frames)",
             "padded": "short clip(s) padded by repeating the last frame",
             "shrunk_gap": "short clip(s) sampled with a smaller frame gap (short=gap, the reference's rule)",
             "mixed_sizes": "clip(s) whose frame images differ in size, each frame resized to frame_size x frame_size",
             "converted_rgb": "clip(s) whose frame images are not stored as RGB (greyscale, palette or with alpha: mode L, P, "
                              "RGBA ...), read as RGB",
             "exif_rotated": "clip(s) whose frame images were turned upright by their EXIF orientation tag (as the image "
                             "loader reads photos)"}

    unreadable = property(lambda self: self.items("unreadable"))
    skipped_short = property(lambda self: self.items("skipped_short"))
    ignored = property(lambda self: self.items("ignored"))
    unused = property(lambda self: self.items("unused"))
    padded = property(lambda self: self.items("padded"))
    shrunk_gap = property(lambda self: self.items("shrunk_gap"))
    mixed_sizes = property(lambda self: self.items("mixed_sizes"))
    converted_rgb = property(lambda self: self.items("converted_rgb"))

    @property
    def cache(self) -> str:
        return str(self.facts.get("cache", ""))

    def strict_error(self, kinds: Iterable[str] = STRICT_KINDS, **kw: str) -> "DataError | None":
        """The error ``strict`` raises for what this report, among ``kinds``, left out or kept although too short
        (None: nothing): items left out first, then short clips, naming the ``short`` policy that padded or shrank them.
        ``kw``: the core's ``flag``, ``noun``, ``would`` and ``without``, which word the error for items left out as the
        core's does; ``flag`` also names the option in the error for short clips."""
        kinds = list(kinds)  # hidden entries are named, never an error (the core's rule for every loader)
        if (left := super().strict_error([k for k in kinds if k in LEFT_OUT_KINDS], **kw)) is not None:
            return left
        flag = {"flag": kw["flag"]} if "flag" in kw else {}
        if "shrunk_gap" in kinds and self.total(["shrunk_gap"]):
            padded = self.total(["padded"]) if "padded" in kinds else 0
            what = ("would be sampled with a smaller frame gap (short=gap, the reference's rule"
                    + (f"; {padded} of them also padded by repeating the last frame" if padded else "") + ")")
            return super().strict_error(["shrunk_gap"], noun="clip(s)", would=f"are shorter than (num_frames - 1) x frame_gap + 1 frames and {what}",
                                        without="short=gap shrinks their gap, counts and logs them", **flag)
        if "padded" not in kinds:
            return None
        return super().strict_error(["padded"], noun="clip(s)", would="are shorter than (num_frames - 1) x frame_gap + 1 frames and would be padded by "
                                    "repeating the last frame (short=pad)", without="short=pad pads them, counts and logs them", **flag)


@dataclass
class VideoSet:
    """Float clips (N, C, T, H, W) in [0, 1] and labels of both splits."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    report: LoadReport = field(default_factory=LoadReport)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """One clip found by :func:`discover`: its ``path`` (a video file, or a folder of frame images), its class
    ``label`` and its ``split`` (``"train"`` or ``"test"``)."""

    path: Path
    label: str
    split: str  # "train" | "test" ("val" only while a split file is read: see _val_rows)


# --------------------------------------------------------------------------- discovery
#: the reason :func:`~modalities.artifacts.scan_files` gives a file of another type in a class folder (reworded)
_NOT_VIDEO = "not a video file"


def _class_tree(root: Path, split: str, kind: str, ignored: list[tuple[str, str]], classes: set[str]) -> list[Item]:
    """Clips of ``root/<class>/...``. Every class folder counts as a class (an empty one too, so it is refused by
    name rather than vanishing); with ``kind="files"`` every file of a video type (:data:`VIDEO_EXTENSIONS`) in it is
    tried (one that does not decode is named as unreadable) and any other file is ``ignored``, as are hidden entries,
    links to folders (not followed) and broken links (:func:`~modalities.artifacts.scan_files`, the image and audio
    loaders' walk); with ``kind="frames"`` every sub-folder is a clip and a file beside them is ``ignored``. Hidden
    entries are named, never a ``strict`` error. A class folder that is, through a link, another class folder (or
    inside one) is a DataError naming both (:func:`~modalities.artifacts.check_distinct_folder`, for either kind), and
    so is a clip folder linked into two classes (:func:`_one_clip_per_folder`)."""
    items = []
    for p in sorted(root.iterdir()):  # clips beside the class folders belong to no class
        if p.name.startswith("."):
            ignored.append((str(p), HIDDEN))
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
            ignored.append((str(p), "not inside a class folder"))
    for cls in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        classes.add(cls.name)
        if kind == "files":
            members, skipped = scan_files(cls, VIDEO_EXTENSIONS, _NOT_VIDEO)
            ignored += [(str(p), f"not a video file ({p.suffix or 'no suffix'}: not a video type the loader reads)"
                         if why == _NOT_VIDEO else why) for p, why in skipped]
        else:
            check_distinct_folder(cls)  # (scan_files checks it for kind="files")
            members = []
            for p in sorted(cls.iterdir()):
                if p.name.startswith("."):
                    ignored.append((str(p), HIDDEN))
                    continue
                if p.is_dir():
                    members.append(p)
                else:
                    ignored.append((str(p), "a file beside the clip folders; dataset=frames takes one folder of frame images per clip"))
        items += [Item(p, cls.name, split) for p in members]
    return _one_clip_per_folder(items, ignored) if kind == "frames" else items


def _one_clip_per_folder(items: list[Item], ignored: list[tuple[str, str]]) -> list[Item]:
    """The clip folders ``items`` of one class tree, each folder once. A clip folder that is, through a link, one
    found before (the same device and inode) is, in the same class, appended to ``ignored`` (``the same folder as
    <first>``, as the video-file walk names a second name of one file: else a drawn split could put one clip in both
    splits); in another class, a DataError naming both folders (its frames would be read as both classes). A folder
    that cannot be looked at is kept: the decoder names it."""
    seen: dict[tuple[int, int], Item] = {}
    kept = []
    for it in items:
        try:
            st = os.stat(it.path)
        except OSError:
            kept.append(it)
            continue
        first = seen.setdefault((st.st_dev, st.st_ino), it)
        if first is it:
            kept.append(it)
        elif first.label == it.label:
            ignored.append((str(it.path), f"the same folder as {first.path.name} (a link to it, or its target)"))
        else:
            raise DataError(f"clip folders {first.path} (class {shown(repr(first.label))}) and {it.path} (class "
                            f"{shown(repr(it.label))}) are one folder, {os.path.realpath(it.path)}, through a link: its frames "
                            "would be read as both classes; remove the link or keep the clip in the folder of its own class")
    return kept


def _read_csv(path: Path, root: Path) -> list[Item]:
    reader = csv.reader(io.StringIO(decode_utf8(path.read_bytes(), f"split file {path}"), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DataError(f"split file {path} is not a CSV of path,label,split: {exc}") from None
    if rows:
        head = [c.strip().lower() for c in rows[0][1]]
        if head[:3] == ["path", "label", "split"]:
            rows = rows[1:]
        elif any(h in ("path", "label", "split", "file", "class", "filename") for h in head):
            raise DataError(f"{path}, line {rows[0][0]}: the header must be path,label,split, got {','.join(rows[0][1])!r}")
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


def _read_ucf_lists(trainlist: Path, root: Path) -> list[Item]:
    """UCF101's ``trainlist0N.txt`` (``Class/v_Class_gXX_cYY.avi [index]``) and its ``testlist0N.txt`` beside it;
    the class is the folder of each path."""
    testlist = trainlist.with_name(trainlist.name.replace("train", "test"))
    if testlist == trainlist or not testlist.exists():
        raise DataError(f"split file {trainlist}: no matching test list {testlist.name} beside it "
                        "(a CSV split file needs the .csv suffix)")
    items = []
    for split, path in (("train", trainlist), ("test", testlist)):
        lines = decode_utf8(path.read_bytes(), f"split file {path}").splitlines()
        for n, line in enumerate(lines, 1):
            if (name := _ucf_path(line)) is not None:
                rel = Path(name)
                if not rel.parent.name:
                    raise DataError(f"{path}, line {n}: {name!r} has no class folder (expected Class/clip [index], as "
                                    "UCF101's ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1)")
                items.append(Item(root / rel, rel.parent.name, split))
    return items


def _ucf_path(line: str) -> str | None:
    """The clip path of a UCF101 list line ``Class/clip.avi [index]`` (None for a blank line): the class index, when
    present, is the last whitespace-separated token and an integer; everything before it is the path, spaces included
    (``Move Right/clip.avi 1`` -> ``Move Right/clip.avi``)."""
    text = line.strip()
    if not text:
        return None
    parts = text.rsplit(None, 1)
    if len(parts) == 2 and re.fullmatch(r"[+-]?\d+", parts[1]):
        return parts[0].rstrip()
    return text


def _on_disk(path: Path, root: Path) -> Path:
    """``path``, or its part under ``root`` spelled in the other Unicode normal form when only that one exists (a split
    file written on one system lists ``Café`` composed, macOS stores it decomposed: the same name, which "does not
    exist" hid); ``root`` itself is kept as given."""
    if path.exists():
        return path
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path
    for form in ("NFC", "NFD"):
        other = root / unicodedata.normalize(form, str(rel))
        if other.exists():
            return other
    return path


def _no_duplicates(items: list[Item], source: Path) -> None:
    """DataError when ``source`` lists one clip twice: the same path, or two paths of one file (a link and its
    target), which would put one clip in both splits."""
    seen: dict[str, Item] = {}
    for it in items:
        key = os.path.realpath(it.path)
        if key in seen:
            first = seen[key]
            same = ("" if os.path.normpath(first.path) == os.path.normpath(it.path)
                    else f" (as {first.path}: the same file through a link)")
            where = (f"{first.split} and {it.split}" if first.label == it.label else
                     f"{first.split} as class {shown(repr(first.label))} and {it.split} as class {shown(repr(it.label))}")
            raise DataError(f"split file {source} names {it.path} more than once{same} ({where}); each clip belongs to "
                            "one split and one class")
        seen[key] = it


def _val_rows(items: list[Item], source: Path, unused: list[tuple[str, str]]) -> tuple[list[Item], str]:
    """A split file's ``val`` rows follow the folder layout's rule for ``val/``: left out when the file has ``test``
    rows (test is the held-out split; each val clip is named in ``unused``), the test split when it has none.
    Returns the items (splits ``train``/``test`` only) and what was done, in words (empty: no val row)."""
    val = [it for it in items if it.split == "val"]
    if not val:
        return items, ""
    if any(it.split == "test" for it in items):
        unused += [(str(it.path), f"a val row of {source.name}: its test rows are the held-out split") for it in val]
        return [it for it in items if it.split != "val"], f"; its {len(val)} val row(s) left out (its test rows are the held-out split)"
    return [Item(it.path, it.label, "test" if it.split == "val" else it.split) for it in items], "; its val rows are the test split (no test rows)"


def _unlisted(root: Path, listed: list[Item], kind: str, source: Path, ignored: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Clips under ``root`` that the split file ``source`` does not list, as ``(path, reason)``: video files
    (:data:`VIDEO_EXTENSIONS`) with ``kind="files"``, folders holding frame images with ``kind="frames"``. Hidden
    entries are appended to ``ignored`` (``(path, HIDDEN)``: named, never a strict error, as the class-folder walk
    names them) and, as the listed clip folders, not walked into."""
    names = {os.path.normpath(str(it.path)) for it in listed}
    out = []
    for here, dirs, files in os.walk(root):
        ignored += [(os.path.join(here, n), HIDDEN) for n in sorted(dirs) + sorted(files)
                    if n.startswith(".") and os.path.normpath(os.path.join(here, n)) not in names]  # (a listed clip is a clip)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.normpath(os.path.join(here, d)) not in names)
        if kind == "files":
            out += [(os.path.join(here, f), f"not listed in {source.name}") for f in sorted(files)
                    if not f.startswith(".") and os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS
                    and os.path.normpath(os.path.join(here, f)) not in names]
        elif Path(here) != root and any(os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS for f in files):
            out.append((here, f"a folder of frame images not listed in {source.name}"))
    return out


def _discover(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
              group_by: str | None = None, facts: dict[str, Any] | None = None, remedy: str = GROUP_BY_REMEDY
              ) -> tuple[list[Item], list[str], list[tuple[str, str]], list[tuple[str, str]], str]:
    """(items, every class named by the layout, what was found that is not a clip of the layout, the clips the layout
    leaves out by design (val beside test, not listed by the split file), the layout read, in words).

    ``group_by`` (:mod:`.groups`): class folders hold out whole groups (recordings); a given split with a group on
    both sides is refused. ``facts`` receives ``group_by`` and ``test_groups`` (a drawn split), or
    ``groups_in_both`` (the number of UCF-style recordings a split without ``group_by`` put on both sides, warned
    with ``remedy``: what the caller's user can do, :data:`~.groups.GROUP_BY_REMEDY` for this loader)."""
    items, classes, ignored, unused, layout = _discover_layout(root, kind, split_file, test_fraction, seed, group_by, facts)
    _check_groups(root, items, group_by, layout == _drawn_layout(test_fraction, seed, group_by), {} if facts is None else facts,
                  remedy)
    return items, classes, ignored, unused, layout


def _check_groups(root: str | Path, items: list[Item], group_by: str | None, drawn: bool, facts: dict[str, Any],
                  remedy: str = GROUP_BY_REMEDY) -> None:
    """Refuse a given split that puts a ``group_by`` group on both sides; without ``group_by``, warn of UCF-style
    recordings (``v_<Class>_g<group>_c<clip>``) on both sides of any split, and count them in ``facts``."""
    paths, splits, labels = [it.path for it in items], [it.split for it in items], [it.label for it in items]
    if group_by and not drawn:
        both = groups_in_both(paths, splits, recordings(paths, labels, group_by, str(root)))
        if both:
            raise DataError(f"{root}: {len(both)} group(s) of group_by={group_by!r} (--group-by) have clips in both the training "
                            f"and the test split, so test clips share recordings with training ones: {some(both)}; move each "
                            "group's clips to one side, or leave group_by out")
    if not group_by and (both := ucf_groups_in_both(paths, splits, labels)):
        facts["groups_in_both"] = len(both)
        log.warning("%d recording(s) of UCF-style clip names (v_<Class>_g<group>_c<clip>: clips cut from one recording) have "
                    "clips in both the training and the test split, so the test clips share recordings with training ones and "
                    "the accuracy measures recognising them: %s; %s", len(both), some(both), remedy)


def _discover_layout(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
                     group_by: str | None, facts: dict[str, Any] | None
                     ) -> tuple[list[Item], list[str], list[tuple[str, str]], list[tuple[str, str]], str]:
    """:func:`_discover` before its group checks."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    csv_path = Path(split_file).expanduser() if split_file else None
    found = ""
    if csv_path is None and root.is_file() and root.suffix.lower() == ".csv":
        csv_path, root = root, root.parent
    if csv_path is None and (root / "clips.csv").exists():
        csv_path, found = root / "clips.csv", " found in the data root (it replaces the class-folder layout)"
    ignored: list[tuple[str, str]] = []
    unused: list[tuple[str, str]] = []
    if csv_path is not None:
        if not csv_path.is_file():
            raise DataError(f"split file {csv_path} does not exist")
        if csv_path.suffix.lower() == ".csv":
            items, layout = _read_csv(csv_path, root), f"split file {csv_path.name} (CSV path,label,split){found}"
        else:
            testlist = csv_path.with_name(csv_path.name.replace("train", "test"))
            items, layout = _read_ucf_lists(csv_path, root), f"UCF101 split files {csv_path.name} + {testlist.name}"
        items = [Item(_on_disk(it.path, root), it.label, it.split) for it in items]
        missing = [it for it in items if not it.path.exists()]
        if missing:
            names = ", ".join(str(it.path) for it in missing[:5])
            raise DataError(f"split file {csv_path} names {len(missing)} clip(s) that do not exist: {names}"
                            f"{' ...' if len(missing) > 5 else ''}")
        _no_duplicates(items, csv_path)
        unlisted = _unlisted(root, items, kind, csv_path, ignored)
        items, val = _val_rows(items, csv_path, unused)
        unused += unlisted
        layout += val + (f"; {len(unlisted)} clip(s) under the root it does not list left out" if unlisted else "")
        return items, sorted({it.label for it in items}), ignored, unused, layout
    if not root.is_dir():
        raise DataError(f"data_root {root} is neither a folder nor a CSV of path,label,split")
    classes: set[str] = set()
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    subdirs = {d.name.lower(): d for d in dirs}
    if "train" in subdirs and ("test" in subdirs or "val" in subdirs):
        read = ("train", "test" if "test" in subdirs else "val")
        named = Counter(d.name.lower() for d in dirs)
        alike = [d.name for d in dirs if d.name.lower() in read and named[d.name.lower()] > 1]
        if alike:  # one shadowed the other: which tree was read followed the file system's listing order (walk 47B)
            raise DataError(f"{root} holds split folders whose names differ only in case ({', '.join(n + '/' for n in alike)}); "
                            "split folders are matched without regard to case, so the loader does not choose: rename or remove "
                            "all but one")
        held_out = subdirs.get("test") or subdirs["val"]
        layout = f"train/ and {held_out.name}/ class folders" + ("" if "test" in subdirs else f" ({held_out.name}/ is the test split)")
        items = _class_tree(subdirs["train"], "train", kind, ignored, classes) + _class_tree(held_out, "test", kind, ignored, classes)
        refuse_shared_files([it.path for it in items if it.split == "train"], [it.path for it in items if it.split == "test"], "clip")
        for d in dirs:
            name = d.name.lower()
            if d in (subdirs["train"], held_out):
                continue
            if name == "val":  # test/ is the held-out split; val/'s clips are named, not silently left out (its hidden entries too)
                in_val: list[tuple[str, str]] = []
                unused += [(str(it.path), "val/ is not used: test/ is the held-out split")
                            for it in _class_tree(d, "test", kind, in_val, set())]
                ignored += [e for e in in_val if e[1] == HIDDEN]
            else:
                ignored.append((str(d), "not train/, test/ or val/"))
        for p in sorted(root.iterdir()):
            if p.name.startswith("."):
                ignored.append((str(p), HIDDEN))
            elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
                ignored.append((str(p), "not inside train/ or test/"))
        return items, sorted(classes), ignored, unused, layout
    items = _class_tree(root, "train", kind, ignored, classes)
    labels = sorted({it.label for it in items})
    members = [it for label in labels for it in items if it.label == label]
    if group_by and members:
        flags, held = hold_out_groups([it.path for it in members], [it.label for it in members], group_by, test_fraction, seed,
                                      str(root))
        if facts is not None:
            facts.update(group_by=group_by, test_groups=held)
    else:
        flags = held_out_flags([it.label for it in members], labels, test_fraction, seed, at_least_one=False)
    out = [Item(it.path, it.label, "test" if t else "train") for it, t in zip(members, flags)]
    return out, sorted(classes), ignored, unused, _drawn_layout(test_fraction, seed, group_by)


def _drawn_layout(test_fraction: float, seed: int, group_by: str | None = None) -> str:
    """The layout of class folders whose split :func:`_discover` draws, in words (how :func:`discover` tells it)."""
    if group_by:
        return (f"class folders, test_fraction {test_fraction:g} of the recordings (group_by={group_by}) drawn as test with "
                f"all their clips (split_seed {seed})")
    return f"class folders, test_fraction {test_fraction:g} of each class drawn as test (split_seed {seed})"


def discover(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
             report: CoreLoadReport | None = None, group_by: str | None = None, remedy: str = GROUP_BY_REMEDY) -> list[Item]:
    """The clips of ``root`` (``kind``: ``files`` or ``frames``) with their class and split.

    Layouts, the first that applies: a CSV ``path,label,split`` (``split_file``, or ``root`` itself, or
    ``root/clips.csv``, which then replaces the class folders) or UCF101's ``trainlist0N.txt`` as ``split_file`` (its
    ``testlist0N.txt`` beside it); ``root/train/<class>/...`` + ``root/test/<class>/...``; ``root/<class>/<clip>``
    (a split is drawn: ``test_fraction`` of each class, seeded with ``seed``: a recipe's ``split_seed``). ``val`` (a
    ``val/`` folder, a split file's ``val``
    rows) is the test split when there is no ``test``, else left out. The layout read is logged; files and folders
    found but not used (a clip beside the class folders, a file that is not a video, a hidden entry under any layout,
    ``val`` next to ``test``, a clip the split file does not list) are logged with a count.

    ``report``: when given, it receives those as ``ignored`` and ``unused`` entries ``(path, reason)`` (the kinds of
    :class:`LoadReport`), and the facts ``layout`` (the layout read, in words) and ``split_drawn`` (True for class
    folders, whose split is drawn here over the files, before any is decoded: a caller that decodes them may draw
    its own among the readable ones). ``group_by``: see :mod:`.groups` (its facts go to ``report`` too). ``remedy``:
    what the warning of UCF-style recordings on both sides of the split tells the user to do (a caller that takes no
    ``group_by``, the audio-visual folder of clips, names its own way)."""
    facts: dict[str, Any] = {}
    items, _, ignored, unused, layout = _discover(root, kind, split_file, test_fraction, seed, group_by, facts, remedy)
    log.info("video layout under %s: %s", root, layout)
    found = LoadReport()
    found.extend("ignored", ignored)
    found.extend("unused", unused)
    for line in found.lines():
        log.warning("%s", line)
    if report is not None:
        report.extend("ignored", ignored)
        report.extend("unused", unused)
        report.facts.update(layout=layout, split_drawn=layout == _drawn_layout(test_fraction, seed, group_by), **facts)
    return items




CACHE_VERSION = 8  # 2: the Pillow fallback for sizes decord cannot scale to, ``ignored`` in the report, every class kept;
# 3: a val split beside test and clips a split file does not list are ``unused`` (never a strict error), not ``ignored``;
# 4: frames in natural order, one image sequence per clip folder, 16-bit frames scaled to 8 bits;
# 5: the random offset seeded by the clip's path under the data root (offset_key), GIFs read, hidden entries named;
# 6: a GIF frame shown k times as long as the shortest read as k frames (_gif_repeats)
# 7: frame images not stored as RGB counted in the report (converted_rgb; a cached report lacked it)
# 8: frame images turned upright by their EXIF orientation tag (exif_rotated); a clip folder holding a frame twice
# (frame_1.png and frame_01.png) refused (a cached clip read it twice)


def offset_key(path: Path, base: Path) -> str:
    """What seeds a clip's random frame offset: its path relative to the data root's folder ``base`` (POSIX, links
    not resolved), so the same folder gives the same frames wherever it lies and however ``data_root`` is spelled
    (relative or absolute); a split file's clip outside the folder as ``../...``."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()


def _clip_stamp(path: Path) -> str:
    """What the cache key takes of one clip: a video file's size, modification time, inode and status-change time
    (ns; the last two no copy tool sets back, so a file replaced by ``cp -p``/``rsync -a`` with the old size and time is
    decoded again); for a folder of frame images, the same of each entry in it (one ``stat`` each, nothing read), so
    frames replaced under the same names, which leave the folder's own time as it was, are decoded again."""
    if not path.is_dir():
        return _stat_text(path.stat())
    with os.scandir(path) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        stats = [(e.name, e.stat()) for e in entries]
    return ";".join(f"{name}|{_stat_text(s)}" for name, s in stats)


def _stat_text(st: os.stat_result) -> str:
    return f"{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"


def _fingerprint(items: list[Item], sampling: FrameSampling, kind: str, ignored: list[tuple[str, str]] = (),
                 classes: list[str] = (), stamps: bool = True) -> str:
    """The decoded-clip cache key: the decode settings, every class of the layout (an empty class folder too: a hit
    must not skip its refusal), each clip's path, class, split and :func:`_clip_stamp`, and what the load named as not
    used. Without ``stamps``, the entry's slot: what it is of, apart from its files' state. Two entries of one slot are
    the same clips read at two states of their files (re-copied in place, ``chmod``-ed, edited): only the newest can
    still be hit, so writing it removes the others (:func:`_remove_superseded`); another split or setting is another slot."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "sampling": sampling.__dict__, "version": CACHE_VERSION, "classes": list(classes)},
                        sort_keys=True).encode())
    for it in items:
        h.update(f"{it.path.resolve()}|{it.label}|{it.split}{f'|{_clip_stamp(it.path)}' if stamps else ''}\n".encode())
    for path, _ in ignored:
        h.update(f"ignored|{path}\n".encode())
    return h.hexdigest()[:24]


def _remove_superseded(cache_path: Path, slot: str) -> None:
    """Remove the other entries of ``cache_path``'s folder and name that record ``slot`` (walk 40A: a re-copied or
    ``chmod``-ed folder added a full entry each time and the superseded ones stayed); an entry that cannot be read or
    removed is left (``mmdistill cache clear`` removes it)."""
    from safetensors import safe_open

    prefix = cache_path.name.rsplit("-", 1)[0] + "-"
    removed = []
    for other in cache_path.parent.glob(f"{glob.escape(prefix)}*.safetensors"):
        if other == cache_path or other.is_symlink() or not other.is_file():
            continue
        try:
            with safe_open(str(other), "pt") as fh:
                if (fh.metadata() or {}).get("slot") != slot:
                    continue
            other.unlink()
            removed.append(other.name)
        except Exception:  # noqa: BLE001 - not a cache of this loader, damaged, or gone: not ours to judge here
            continue
    if removed:
        log.info("removed %d decoded-clip cache(s) of the same folder and settings that its files' changes superseded (%s)",
                 len(removed), ", ".join(removed))


def default_cache_dir() -> Path:
    """``<cache>/video`` (:func:`mmdistill.cache_dir.cache_root`): where decoded clips are cached."""
    return cache_root() / "video"


def _cached_content_error(tensors: dict[str, Tensor], classes: Any, sampling: FrameSampling, layout_classes: list[str],
                          room: dict[str, int]) -> str:
    """Why the tensors of a cache entry whose name matched are not clips of this layout, or "": the name is the key, the
    content another's (a shared or damaged cache). Each split's clips must be uint8 (N, 3, num_frames, H, W) (H = W =
    frame_size when set), at most as many as the layout lists, with as many labels in [0, classes), and the entry's
    classes the layout's (walk 49A: swapped names swapped every label; a label past them was an IndexError)."""
    if classes != layout_classes:
        return f"its classes {str(classes)[:120]} are not this layout's {str(layout_classes)[:120]}"
    side = sampling.frame_size
    for split in ("train", "test"):
        x, y = tensors[f"x_{split}"], tensors[f"y_{split}"]
        if x.dtype != torch.uint8 or x.dim() != 5 or x.shape[1] != 3 or x.shape[2] != sampling.num_frames or (
                side is not None and tuple(x.shape[3:]) != (side, side)) or x.shape[0] > room[split]:
            return (f"x_{split} is {str(x.dtype).replace('torch.', '')} {list(x.shape)}, expected uint8 [at most {room[split]} clips, 3, {sampling.num_frames}, "
                    f"{side or 'H'}, {side or 'W'}]")
        if y.dtype != torch.long or y.dim() != 1 or len(y) != len(x) or (len(y) and not 0 <= int(y.min()) <= int(y.max()) < len(classes)):
            return f"y_{split} is not {len(x)} int64 labels in [0, {len(classes)})"
    return ""


def _read_cache(cache_path: Path, sampling: FrameSampling, report: LoadReport, classes: list[str],
                room: dict[str, int]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """The cached tensors and metadata, or None (with a warning) when the file cannot be read, is not a cache of
    this loader, was written with other decode settings or holds other clips than the layout's (``classes``; ``room``:
    clips listed per split): the clips are then decoded again and the file replaced."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(cache_path), "pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(cache_path))
        saved = json.loads(meta["report"])
        info = {"classes": json.loads(meta["classes"]), "native_sizes": json.loads(meta["native_sizes"]),
                "sampling": json.loads(meta["sampling"]), "frame_rates": json.loads(meta.get("frame_rates", "{}"))}
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(tensors)
        if missing:
            raise ValueError(f"no tensor(s) {sorted(missing)}")
        if any(t.dtype != torch.uint8 for k, t in tensors.items() if k.startswith("x_")) or tensors["x_train"].dim() != 5:
            raise ValueError("the clips are not uint8 (N, C, T, H, W)")
        if info["sampling"] != json.loads(json.dumps(sampling.__dict__)):
            raise ValueError(f"written with other decode settings ({info['sampling']})")
        if why := _cached_content_error(tensors, info["classes"], sampling, classes, room):
            raise ValueError(why)
        entries = {k: [(str(p), str(r)) for p, r in saved.get(k, [])] for k in REPORT_KINDS}
    except Exception as exc:  # noqa: BLE001 - a damaged cache costs a decode, never the run
        log.warning("decoded-clip cache %s cannot be used (%s: %s); decoding the clips again and replacing it",
                    cache_path, type(exc).__name__, _why(exc))
        return None
    report.entries.update(entries)  # what the load that wrote the cache found (``ignored`` too)
    return tensors, info


def _cache_exists(cache_path: Path) -> bool:
    """Whether the cache file is there; a location the system will not even look into is a warning (the clips are
    decoded), never the run's end."""
    try:
        return cache_path.exists()
    except OSError as exc:
        log.warning("decoded-clip cache %s cannot be read (%s); decoding the clips", cache_path, _os_why(cache_path.parent, exc))
        return False


def _os_why(folder: Path, exc: BaseException) -> str:
    """Why the cache ``folder`` cannot be used, in words: a file standing where it or a folder above it should be
    (``File exists`` and ``Not a directory`` say so badly), else the system's reason."""
    for p in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            if p.exists():
                if not p.is_dir():
                    return f"{p} is a file, not a folder"
                break
    reason = getattr(exc, "strerror", None) or _why(exc)
    return f"{type(exc).__name__}: {reason}"


def _write_cache(cache_path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> bool:
    """Atomically (:func:`mmdistill.io.atomic_path`: a private temporary folder beside the cache, which takes
    safetensors' own temporary file too, then renamed over it). A cache that cannot be written is a warning naming it
    and why (the clips are decoded; the cache only saves the next load's decoding), and False."""
    from safetensors.torch import save_file

    try:
        with atomic_path(cache_path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except Exception as exc:  # noqa: BLE001 - OSError, or safetensors' own error for a file it cannot create
        log.warning("decoded-clip cache %s cannot be written (%s); the clips are used without caching them (cache_dir "
                    "(--cache-dir) sets a writable folder, cache=False (--no-cache) turns the cache off)",
                    cache_path, _os_why(cache_path.parent, exc))
        return False
    log.info("decoded clips cached in %s", cache_path)
    return True


def _frames_hint(report: LoadReport, kind: str) -> str:
    """``"; frame images were found: --dataset frames ..."`` when video files were asked for (``kind="files"``) and
    frame images were found instead (ignored as not a video type, or unreadable); else empty."""
    found = report.unreadable + report.ignored
    if kind == "files" and any(Path(p).suffix.lower() in IMAGE_EXTENSIONS for p, _ in found):
        return "; frame images were found: --dataset frames reads one folder of frame images per clip"
    return ""


def _unit_float(clips: Tensor) -> Tensor:
    """uint8 clips as float32 in [0, 1]: one float copy divided by 255 in place (the same values as
    ``clips.float() / 255``, without a second float tensor)."""
    x = clips.to(torch.float32)
    x.div_(255)
    return x


def _float_clips(u8: dict[str, Tensor], mapped: bool = False) -> tuple[Tensor, Tensor]:
    """The float clips of ``u8["x_train"]`` and ``u8["x_test"]``, taken out of ``u8`` so that each uint8 tensor is
    freed once converted (the caller holds no other reference). ``mapped``: the tensors are views of one cache file
    mapped into memory (safetensors), whose pages stay resident until every view of it is gone; the smaller split is
    then copied out first, so the file is let go once the larger one is converted, before the smaller one is."""
    small, large = sorted(("x_train", "x_test"), key=lambda k: u8[k].numel())
    rest = u8.pop(small).clone() if mapped else u8.pop(small)
    out = {large: _unit_float(u8.pop(large))}
    out[small] = _unit_float(rest)
    return out["x_train"], out["x_test"]


def load_clip_folder(root: str | Path, *, kind: str = "files", sampling: FrameSampling = FrameSampling(), split_file: str | None = None,
                     test_fraction: float = 0.2, strict: bool = False, cache_dir: str | Path | None = None,
                     use_cache: bool = True, split_seed: int | None = None, check_memory: bool = True,
                     progress: bool = False, group_by: str | None = None) -> VideoSet:
    """Clips of a folder of video files (``kind="files"``, decoded with decord) or of frame-image folders
    (``kind="frames"``: one folder of ``*.jpg``/``*.png`` per clip, the reference's layout, read in natural order,
    one image sequence per folder); see
    :func:`discover` for the layouts and the module docstring for sampling, short clips and the cache.

    Unreadable clips, clips shorter than ``(num_frames - 1) x frame_gap + 1 frames`` (skipped, padded or sampled with a smaller gap,
    as ``sampling.short`` says) and files found but not used are counted and named in the log and
    :class:`LoadReport`; ``strict`` makes any of them a :class:`DataError` (a cached load too). Every class of the
    layout is kept, so a class none of whose clips decodes is refused by name. Class folders (no split given) hold out
    ``test_fraction`` of each class drawn with ``split_seed`` (None: ``sampling.seed``, the rule before a recipe's
    ``split_seed`` existed; a recipe passes its ``split_seed``, so every distillation seed is scored on the same clips).
    ``check_memory`` (the config's ``memory_check``): refuse, before decoding, clips whose uint8 frames and float32 copy
    cannot fit in the host's available memory (a :class:`ConfigError` naming ``num_frames`` and ``frame_size``); not a
    decode setting, so not part of the cache key. ``progress`` (a recipe's ``progress``) shows a bar (tqdm, on stderr)
    while the clips are decoded (not on a cache hit). ``group_by`` (``ucf`` or a regular expression over file names,
    :mod:`.groups`): class folders hold out whole recordings, and a given split with one on both sides is refused."""
    if kind not in ("files", "frames"):
        raise ConfigError(f"kind must be 'files' or 'frames', got {kind!r}")
    facts: dict[str, Any] = {}
    items, all_classes, ignored, unused, layout = _discover(root, kind, split_file, test_fraction,
                                                            sampling.seed if split_seed is None else split_seed, group_by, facts)
    base = Path(root).expanduser()
    name = Path(root).name  # a CSV given as the root names the set (and its buffers' dataset) by its file name, as always
    report = LoadReport(root=str(base.parent if base.is_file() else base))
    report.extend("ignored", ignored)
    report.extend("unused", unused)
    report.facts["layout"] = layout
    report.facts.update(facts)
    log.info("video layout under %s: %s", root, layout)
    if not items:
        raise DataError(f"no clips found under {root} (expected {'video files' if kind == 'files' else 'folders of frame images'} "
                        "in one sub-folder per class, or a CSV path,label,split)"
                        + (f"; found but not used: {'; '.join(report.lines())}" if ignored or unused else "")
                        + _frames_hint(report, kind))
    if strict and (err := report.strict_error()) is not None:
        raise err
    if check_memory:
        _check_memory(root, len(items), sampling)
    room = {split: sum(it.split == split for it in items) for split in ("train", "test")}  # clips listed per split
    cache_path = None
    if use_cache:
        cache_path = (Path(cache_dir or default_cache_dir()).expanduser()
                      / f"{name}-{_fingerprint(items, sampling, kind, ignored + unused, all_classes)}.safetensors")
        cached = _read_cache(cache_path, sampling, report, list(all_classes), room) if _cache_exists(cache_path) else None
        if cached is not None:
            tensors, info = cached
            report.facts["cache"] = f"hit {cache_path.name}"
            log.info("decoded clips read from the cache %s (not decoded again)", cache_path)
            tell_mixed_rates(info["frame_rates"], sampling.num_frames, sampling.frame_gap, report.facts)
            classes_without_test(name, info["classes"], tensors["y_train"], tensors["y_test"], _unscored_why(report), report)
            for line in report.lines():
                log.warning("%s", line)
            if strict and (err := report.strict_error()) is not None:
                raise err
            # copies: a view of the mapped cache file would keep all of it (the clips' pages too) in memory
            ytr, yte = (tensors.pop(k).to(torch.long, copy=True) for k in ("y_train", "y_test"))
            del cached
            xtr, xte = _float_clips(tensors, mapped=True)
            return VideoSet(name, xtr, ytr, xte, yte, info["classes"], report, {"native_sizes": info["native_sizes"]})
    from mmdistill.logs import progress_bar

    decode = _decode_file if kind == "files" else _decode_frame_dir
    # each split's clips go straight into one uint8 (N, 3, T, H, W) array, made (for every clip of the split, untouched
    # rows cost no memory) when its first clip gives the frame size: no list of clips, stacked and permuted copies
    clips: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {"train": [], "test": []}
    sizes: dict[tuple[int, int], list[str]] = {}
    rates: list[float] = []  # frame rates of the decoded files
    with progress_bar(total=len(items), desc="decoding clips", unit="clip", disable=not progress, leave=False) as bar:
        for it in items:
            if kind == "frames" and (other := _other_files(it.path)):
                report.extend("ignored", other)
                if strict:
                    raise report.strict_error(LEFT_OUT_KINDS)
            if kind == "frames":
                report.extend("unused", _frame_files(it.path)[1])  # optical flow beside a rawframes clip's RGB frames
            notes: dict[str, str] = {}  # report kind -> why, for a clip folder read otherwise than as stored
            key = offset_key(it.path, report.base_folder() or base)
            try:
                rate: dict[str, float] = {}
                frames, length, what = decode(it.path, sampling, key, rate) if kind == "files" else decode(it.path, sampling, key, notes)
            except MemoryError:  # the estimate is a lower bound for native sizes, and memory_check=false skips it
                raise ConfigError(f"{it.path}: out of memory decoding {sampling.num_frames} frames (num_frames) of "
                                  f"{f'{sampling.frame_size}x{sampling.frame_size} (frame_size)' if sampling.frame_size else 'native size'}; "
                                  "pass a smaller num_frames or frame_size") from None
            bar.update()
            for note, why in notes.items():
                report.add(note, it.path, why)
            if frames is None:
                if what.startswith("unreadable"):
                    reason = what[len("unreadable: "):] or "unreadable"
                    report.add("unreadable", it.path, reason)
                    why = f"cannot be decoded ({reason})"
                else:
                    reason = f"{length} frames < {sampling.span}"
                    report.add("skipped_short", it.path, reason)
                    why = f"is shorter than (num_frames - 1) x frame_gap + 1 frames ({reason}; short=skip)"
                if strict:
                    raise DataError(f"{it.path} {why}; --strict makes a skipped clip an error (without it: skipped, counted "
                                    "and logged)")
                continue
            if what in ("pad", "gap+pad"):
                report.add("padded", it.path, f"{length} frames < {sampling.span}")
            if what in ("gap", "gap+pad"):
                report.add("shrunk_gap", it.path, f"{length} frames < {sampling.span}, gap {max(1, length // sampling.num_frames)}")
            sizes.setdefault((frames.shape[1], frames.shape[2]), []).append(str(it.path))
            rates += [rate["fps"]] if "fps" in rate else []
            if it.split not in clips:
                clips[it.split] = np.empty((room[it.split], frames.shape[3], *frames.shape[:3]), dtype=np.uint8)
            if clips[it.split].shape[3:] == frames.shape[1:3]:  # else mixed frame sizes, refused by name below
                clips[it.split][len(labels[it.split])] = frames.transpose(3, 0, 1, 2)
            labels[it.split].append(it.label)
            del frames
    if strict and (err := report.strict_error(SHORT_KINDS)) is not None:  # every short clip named, not just the first
        raise err
    for line in report.lines():
        log.warning("%s", line)
    if not labels["train"] and not labels["test"]:
        hint = _frames_hint(report, kind)
        raise DataError(f"no decodable clip under {root}: {len(report.unreadable)} unreadable, {len(report.skipped_short)} too short "
                        f"({'; '.join(report.lines())}){hint}")
    if len(sizes) > 1:
        desc = ", ".join(f"{w}x{h} ({len(v)} clips, e.g. {v[0]})" for (h, w), v in sizes.items())
        raise DataError(f"clips under {root} have mixed frame sizes: {desc}; pass --frame-size N to resize every frame to NxN")
    classes = list(all_classes)
    empty = [c for c in classes if c not in labels["train"]]
    if empty:
        def why(c: str) -> str:
            listed = [str(it.path) for it in items if it.label == c and it.split == "train"]
            lost = sum(p in listed for k in ("unreadable", "skipped_short") for p, _ in report.items(k))
            return f"{c!r} ({len(listed)} training clip(s) listed, {lost} unreadable or skipped, {labels['test'].count(c)} test clip(s))"
        raise DataError(f"class(es) without a usable training clip under {root}: {', '.join(why(c) for c in empty)}; "
                        "add clips or remove the class")
    if not labels["test"]:
        raise DataError(f"no test clip under {root}: give a split (train/ and test/ folders, a CSV or a split file)")

    def stack(split: str) -> tuple[Tensor, Tensor]:
        x = torch.from_numpy(clips.pop(split)[: len(labels[split])])  # (N, 3, T, H, W) uint8, contiguous
        y = torch.tensor([classes.index(c) for c in labels[split]], dtype=torch.long)
        return x, y

    (xtr, ytr), (xte, yte) = stack("train"), stack("test")
    classes_without_test(name, classes, ytr, yte, _unscored_why(report), report)
    native = {f"{w}x{h}": len(v) for (h, w), v in sizes.items()}
    tell_mixed_rates(counts := rate_counts(rates), sampling.num_frames, sampling.frame_gap, report.facts)
    if cache_path is not None:
        wrote = _write_cache(cache_path, {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte},
                             {"classes": json.dumps(classes), "report": json.dumps({k: report.items(k) for k in REPORT_KINDS}),
                              "sampling": json.dumps(sampling.__dict__), "native_sizes": json.dumps(native), "frame_rates": json.dumps(counts),
                              "slot": (slot := _fingerprint(items, sampling, kind, ignored + unused, all_classes, stamps=False))})
        if wrote:
            _remove_superseded(cache_path, slot)
        report.facts["cache"] = f"{'wrote' if wrote else 'not written'} {cache_path.name}"
    u8 = {"x_train": xtr, "x_test": xte}
    del xtr, xte
    xtr, xte = _float_clips(u8)
    return VideoSet(name, xtr, ytr, xte, yte, classes, report, {"native_sizes": native})


def from_tensors(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, classes: Iterable[str] | None = None,
                 name: str = "tensors", where: str = "from_tensors") -> VideoSet:
    """A set from in-memory clips (N, C, T, H, W) (float in [0, 1], or uint8) and integer labels (N,): class ids
    0..K-1 with every class in ``y_train`` (K = the number of ``classes`` names, or the largest label + 1; see
    :func:`~modalities.artifacts.check_class_ids`); anything else is a :class:`DataError` naming the
    argument (label errors start with ``where``). The tensors are copied, detached from autograd: the set does not
    change when the caller's tensors do later, and training never writes the caller's ``.grad``. A class of
    ``y_train`` that ``y_test`` lacks is named in a warning and the set's report (fact ``classes_without_test``, on the
    card), as the file loaders name it."""
    args = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for arg, t in args.items():
        if not isinstance(t, Tensor):
            raise DataError(f"{arg} must be a torch.Tensor, got {type(t).__name__} (torch.from_numpy converts an array)")
    x_train, y_train, x_test, y_test = (t.detach() for t in (x_train, y_train, x_test, y_test))
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dim() != 5:
            raise DataError(f"x_{split}: clips must be (N, C, T, H, W), got shape {tuple(x.shape)}")
        if len(x) == 0:
            raise DataError(f"x_{split} holds no clip (shape {tuple(x.shape)})")
        if y.dim() != 1 or len(y) != len(x):
            raise DataError(f"y_{split}: labels must be (N,) with N = {len(x)}, got shape {tuple(y.shape)}")
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise DataError(f"y_{split}: labels must be integers (class indices), got {y.dtype}")
        if x.dtype != torch.uint8:
            if not x.dtype.is_floating_point:
                raise DataError(f"x_{split}: clips must be float in [0, 1] or uint8, got {x.dtype}")
            if not bool(torch.isfinite(x).all()):
                raise DataError(f"x_{split} holds NaN or infinite values")
            lo, hi = float(x.min()), float(x.max())
            if lo < -1e-3 or hi > 1 + 1e-3:
                raise DataError(f"x_{split}: float clips must be in [0, 1], got values in [{lo:g}, {hi:g}] "
                                "(divide 0-255 pixels by 255, or pass uint8)")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"train clips {tuple(x_train.shape[1:])} and test clips {tuple(x_test.shape[1:])} differ in shape")
    if x_train.shape[1] not in (1, 3) and x_train.shape[2] in (1, 3):
        log.warning("%s: x_train has shape %s, read as (N, C, T, H, W) with C = %d channels and T = %d frames; clips in "
                    "(N, T, C, H, W) layout need .transpose(1, 2)", where, tuple(x_train.shape), x_train.shape[1], x_train.shape[2])
    classes = check_class_ids(where, y_train, y_test, classes)
    report = LoadReport()
    classes_without_test(name, classes, y_train, y_test, "y_test holds no label of it; add test clips of it to score it", report)

    def f(x: Tensor) -> Tensor:  # a new tensor either way (clamp copies): the caller's clips are not kept
        return x.float() / 255 if x.dtype == torch.uint8 else x.float().clamp(0, 1)

    return VideoSet(name, f(x_train), y_train.long().clone(), f(x_test), y_test.long().clone(), classes, report)


def moving_digits_set(spec: Any = None) -> VideoSet:
    """The generated moving-digits :class:`VideoSet` of ``spec`` (default :class:`MovingDigitsSpec`): clips
    (N, 1, T, size, size) float in [0, 1], 10 classes, the spec in ``meta["spec"]``."""
    from .moving_digits import MovingDigitsSpec, generate

    spec = spec or MovingDigitsSpec()
    xtr, ytr, xte, yte, classes = generate(spec)
    return VideoSet("moving-digits", xtr, ytr, xte, yte, classes, meta={"spec": dict(spec.__dict__)})


__all__ = ["FrameSampling", "IMAGE_EXTENSIONS", "Item", "LEFT_OUT_KINDS", "LoadReport", "OFFSETS", "REPORT_KINDS", "SHORT_KINDS",
           "SHORT_POLICIES", "STRICT_KINDS", "VIDEO_EXTENSIONS",
           "VideoSet", "default_cache_dir", "discover", "from_tensors", "load_clip_folder", "moving_digits_set"]
