"""Loading clip-classification sets: video files (decord), folders of frame images, in-memory tensors and the
generated moving digits. This module loads a layout's clips into a :class:`VideoSet`; finding and splitting them
(:func:`discover`) is :mod:`.layout`'s, the decoded-clip cache :mod:`.clip_cache`'s, the :class:`LoadReport`
:mod:`.report`'s and decoding one clip (:class:`FrameSampling`, the decoders) :mod:`.decode`'s; their public names are
importable from here as before.

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

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor

from mmdistill.cache_slots import remove_superseded
from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport as CoreLoadReport, base_folder

from .clip_cache import _cache_exists, _fingerprint, _read_cache, _slot, _write_cache, default_cache_dir, offset_key
from .decode import (IMAGE_EXTENSIONS, OFFSETS, SHORT_POLICIES, VIDEO_EXTENSIONS, FrameSampling, _decode_file,
                     _decode_frame_dir, _frame_files, _other_files)
from .layout import Item, _discover, discover
from .rates import rate_counts, tell_mixed_rates, too_long_for_every_clip
from .report import LEFT_OUT_KINDS, REPORT_KINDS, SHORT_KINDS, STRICT_KINDS, LoadReport
from .groups import said_group_by
from .train_groups import NOT_DECODED, train_groups
from ..groups import group_no_test_reason, tell_nested_split
from ..in_memory import check_unit_range, checked_splits, unit_pixels
from ..artifacts import classes_without_test

log = logging.getLogger(__name__)

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
    #: the recording of each training clip, in x_train's order, when known (:mod:`.train_groups`: ``group_by``'s groups,
    #: UCF-style names' recordings): a validation split holds them out whole (ClassificationData.train_groups)
    train_groups: list[str] | None = None



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
                     progress: bool = False, group_by: str | None = None, split_number: int | None = None,
                     validation: float | None = None) -> VideoSet:
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
    :mod:`.groups`): class folders hold out whole recordings, and a given split with one on both sides is refused.
    ``split_number``: which of HMDB51's three splits its split folder as ``split_file`` gives (:mod:`.split_hmdb`);
    None (not given): 1, or the split of the one split file given. ``validation``: the fraction of the training clips a
    recipe's ``validation`` holds out later (0 or None: none), only said where clips in sub-folders are drawn one by one."""
    if kind not in ("files", "frames"):
        raise ConfigError(f"kind must be 'files' or 'frames', got {kind!r}")
    if kind == "frames" and sampling.sample_fps:
        raise ConfigError(f"sample_fps={sampling.sample_fps:g} picks frames by time, and a folder of frame images has no frame "
                          "rate: pick them by index (frame_gap), or decode video files (dataset folder)", key="sample_fps")
    facts: dict[str, Any] = {}
    seed = sampling.seed if split_seed is None else split_seed
    items, all_classes, ignored, unused, layout = _discover(root, kind, split_file, test_fraction, seed, group_by, facts,
                                                            split_number=split_number, strict=strict)
    # what decides the split, in the cache entry's slot (clip_cache._slot): the keys that drew it, or the file that gave it
    split_settings = ({"test_fraction": test_fraction, "split_seed": seed, "group_by": group_by} if facts.get("split_drawn")
                      else {"split_file": os.path.realpath(Path(split_file).expanduser()) if split_file else None,
                            "split_number": split_number})
    base = base_folder(root)
    name = Path(root).name  # a CSV given as the root names the set (and its buffers' dataset) by its file name, as always
    report = LoadReport(root=str(base))
    report.extend("ignored", ignored)
    report.extend("unused", unused)
    report.facts["layout"] = layout
    report.facts.update(facts)
    log.info("video layout under %s: %s", root, layout)
    if not group_by and facts.get("split_drawn"):  # clips in sub-folders of class folders, drawn clip by clip: say so
        tell_nested_split(str(root), [it.path for it in items], [it.label for it in items], [it.split for it in items], root,
                          log, report.facts, validation=validation)
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
            tell_mixed_rates(info["frame_rates"], sampling.num_frames, sampling.frame_gap, report.facts, bool(sampling.sample_fps))
            classes_without_test(name, info["classes"], tensors["y_train"], tensors["y_test"], _unscored_why(report), report)
            for line in report.lines():
                log.warning("%s", line)
            if strict and (err := report.strict_error()) is not None:
                raise err
            # copies: a view of the mapped cache file would keep all of it (the clips' pages too) in memory
            ytr, yte = (tensors.pop(k).to(torch.long, copy=True) for k in ("y_train", "y_test"))
            del cached
            xtr, xte = _float_clips(tensors, mapped=True)
            return VideoSet(name, xtr, ytr, xte, yte, info["classes"], report, {"native_sizes": info["native_sizes"]},
                            train_groups(items, report, group_by, root, len(ytr)))
    from mmdistill.logs import progress_bar

    decode = _decode_file if kind == "files" else _decode_frame_dir
    # each split's clips go straight into one uint8 (N, 3, T, H, W) array, made (for every clip of the split, untouched
    # rows cost no memory) when its first clip gives the frame size: no list of clips, stacked and permuted copies
    clips: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {"train": [], "test": []}
    sizes: dict[tuple[int, int], list[str]] = {}
    rates: list[float] = []  # frame rates of the decoded files
    longest = -1  # frames of the longest clip decoded or skipped as too short (-1: none)
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
            longest = longest if frames is None and what.startswith("unreadable") else max(longest, length)
            for note, why in notes.items():
                report.add(note, it.path, why)
            if frames is None:
                if what.startswith("unreadable"):
                    reason = what[len("unreadable: "):] or "unreadable"
                    report.add("unreadable", it.path, reason)
                    why = f"cannot be decoded ({reason})"
                else:
                    reason = sampling.short_reason(length)
                    report.add("skipped_short", it.path, reason)
                    why = f"is shorter than (num_frames - 1) x frame_gap + 1 frames ({reason}; short=skip)"
                if strict:
                    raise DataError(f"{it.path} {why}; --strict makes a skipped clip an error (without it: skipped, counted "
                                    "and logged)")
                continue
            if what in ("pad", "gap+pad"):
                report.add("padded", it.path, sampling.short_reason(length))
            if what in ("gap", "gap+pad"):
                report.add("shrunk_gap", it.path, f"{sampling.short_reason(length)}, gap {max(1, length // sampling.num_frames)}")
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
    too_long_for_every_clip(sampling, longest, report)
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
            lost = sum(p in listed for k in NOT_DECODED for p, _ in report.items(k))
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
    tell_mixed_rates(counts := rate_counts(rates), sampling.num_frames, sampling.frame_gap, report.facts, bool(sampling.sample_fps))
    if cache_path is not None:
        wrote = _write_cache(cache_path, {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte},
                             {"classes": json.dumps(classes), "report": json.dumps({k: report.items(k) for k in REPORT_KINDS}),
                              "sampling": json.dumps(sampling.settings()), "native_sizes": json.dumps(native), "frame_rates": json.dumps(counts),
                              "slot": (slot := _slot(root, sampling, kind, split_settings))})
        if wrote:
            remove_superseded(cache_path, slot, "decoded-clip cache", log)
        report.facts["cache"] = f"{'wrote' if wrote else 'not written'} {cache_path.name}"
    u8 = {"x_train": xtr, "x_test": xte}
    del xtr, xte
    xtr, xte = _float_clips(u8)
    return VideoSet(name, xtr, ytr, xte, yte, classes, report, {"native_sizes": native},
                    train_groups(items, report, group_by, root, len(ytr)))


def from_tensors(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, classes: Iterable[str] | None = None,
                 name: str = "tensors", where: str = "from_tensors") -> VideoSet:
    """A set from in-memory clips (N, C, T, H, W) (float in [0, 1], or uint8) and integer labels (N,): class ids
    0..K-1 with every class in ``y_train`` (K = the number of ``classes`` names, or the largest label + 1; see
    :func:`~modalities.artifacts.check_class_ids`); anything else is a :class:`DataError` naming the
    argument (label errors start with ``where``). The tensors are copied, detached from autograd: the set does not
    change when the caller's tensors do later, and training never writes the caller's ``.grad``. A class of
    ``y_train`` that ``y_test`` lacks is named in a warning and the set's report (fact ``classes_without_test``, on the
    card), as the file loaders name it."""
    xs, ys, classes = checked_splits(where, x_train, y_train, x_test, y_test, classes, _clips, "clip")  # new tensors
    x_train, x_test = xs["train"], xs["test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{where}: train clips {tuple(x_train.shape[1:])} and test clips {tuple(x_test.shape[1:])} differ in shape")
    if x_train.shape[1] not in (1, 3) and x_train.shape[2] in (1, 3):
        log.warning("%s: x_train has shape %s, read as (N, C, T, H, W) with C = %d channels and T = %d frames; clips in "
                    "(N, T, C, H, W) layout need .transpose(1, 2)", where, tuple(x_train.shape), x_train.shape[1], x_train.shape[2])
    report = LoadReport()
    classes_without_test(name, classes, ys["train"], ys["test"], "y_test holds no label of it; add test clips of it to score it", report)
    return VideoSet(name, x_train, ys["train"], x_test, ys["test"], classes, report)


def _clips(where: str, arg: str, x: Tensor) -> Tensor:
    """Clips ``x`` (N, C, T, H, W), N >= 1, float in [0, 1] or uint8 (:func:`~..in_memory.check_unit_range`), as a new
    float tensor in [0, 1] (:func:`~..in_memory.unit_pixels`: the caller's clips are not kept); a :class:`DataError`
    starting with ``where`` and naming ``arg`` otherwise (:func:`from_tensors`' ``check_x`` of
    :func:`~..in_memory.checked_splits`)."""
    if x.dim() != 5:
        raise DataError(f"{where}: {arg}: clips must be (N, C, T, H, W), got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise DataError(f"{where}: {arg} holds no clip (shape {tuple(x.shape)})")
    check_unit_range(where, arg, x, "clip")
    return unit_pixels(x)


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
