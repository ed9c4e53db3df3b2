"""Clips of a released audio-visual dataset (AVE, VGGSound, MUSIC-21) found by their YouTube id under a local root and
cut into (frame, 1 s of sound) pairs: the engine behind ``--dataset ave|vggsound|vggsound-10k|music-21``
(:mod:`.releases`).

A release's annotation file (:mod:`.ave_lists`, :mod:`.vggsound_lists`, :mod:`.music21_lists`) lists each clip as a
:class:`Listed` entry. The clips themselves are YouTube content, which no release ships and mmdistill never downloads:
the user's own copies are looked up by file name anywhere under the root (:func:`..video.split_rows.walk_clips`). A
listed clip with no file (taken down, never fetched) is named as *unused* in the log and the load report, never dropped
silently, as a video split file's (:func:`..video.split_rows.missing_clips`: an error when a split has none found, or
any under ``strict``); a clip that cannot be decoded is skipped as the folder-of-clips loader skips one
(``unreadable``). Frames and sound are decoded with decord, as the folder of clips reads a clip
(:func:`.decord_clips.open_clip`)."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport

from ..audio.decode import BadFile, Clip, describe_bad

log = logging.getLogger(__name__)

#: one pair of a clip: (sound start, sound end, frame time), in seconds from the clip's first sample
Window = tuple[float, float, float]

#: the load report's kinds a release adds (beside the audio-visual loaders' own)
RELEASE_KINDS = {"unused": "listed clip(s) not used: of a split the reference leaves out (a val split beside the test split), "
                           "or with no file under the data root (taken down or not downloaded)"}


@dataclass(frozen=True)
class Listed:
    """One clip an annotation file lists: ``key`` its id (the YouTube id), ``label``, ``split`` (``train``, ``test``, or
    ``unused``: listed in a split the reference does not use, AVE's val), ``where`` the file and line that list it, and
    ``windows``: the pairs the clip gives as a function of its length in seconds (:data:`Window`s)."""

    key: str
    label: str
    split: str
    where: str
    windows: Callable[[float], list[Window]]


def parent_hint(root: Path, files: tuple[str, ...]) -> str:
    """`` (its parent P holds NAME: pass --data-root P)`` when ``root``'s parent holds the first of ``files`` (the user
    named the release's clip folder, ``AVE/``, in place of the release's folder), else empty."""
    parent = root.resolve().parent
    return f" (its parent {parent} holds {files[0]}: pass --data-root {parent})" if (parent / files[0]).is_file() else ""


def cut_pairs(path: Path, windows: Callable[[float], list[Window]]) -> tuple[list[tuple[torch.Tensor, Clip, Window]], str]:
    """The pairs of clip ``path``: per window its frame (C, h, w) in [0, 1] (the frame nearest the window's frame time)
    and its sound (mono, the track's own rate; the part of the window the track holds). Returns ``(pairs, "")``, or
    ``([], why)`` when the clip cannot be read (its video, its sound track or its rate, or a window's frame: a download
    cut short) or holds no sound in a window."""
    import decord

    from .decord_clips import _decord_why, open_clip

    tracks, why = open_clip(decord, path)
    if tracks is None:
        return [], why
    samples, rate, fps, n = tracks.samples, tracks.rate, tracks.fps, len(tracks.video)
    length = samples.size / rate
    out = []
    for w in windows(length):
        sound = samples[int(round(w[0] * rate)):int(round(w[1] * rate))]
        if sound.size == 0:
            return [], f"no sound in {w[0]:g}-{w[1]:g} s (its track lasts {length:.2f} s)"
        index = min(n - 1, max(0, int(round(w[2] * fps)))) if fps > 0 else n // 2
        try:
            frame = tracks.frame(index)
        except Exception as exc:  # noqa: BLE001 - a download cut short opens, and its later frames raise DECORDError
            return [], f"frame {index} ({w[2]:g} s) cannot be decoded: {_decord_why(tracks.native, exc, path)}"
        out.append((frame, Clip(sound.copy(), rate), w))
    tracks.log_native(path)
    return out, ""


def read_listed(name: str, root: Path, listed: list[Listed], find: Callable[[Listed], Path | None], cfg: Any,
                report: LoadReport, layout: str) -> tuple[list, list[str], list[BadFile]]:
    """(pairs, every class the listing names in the order first listed, the clips skipped as unreadable) of ``listed``:
    each found by ``find`` and cut by :func:`cut_pairs` (a pair per window, its group the clip's id, so ``validation=``
    holds a clip's seconds out together). ``unused`` entries and the clips with no file are named in ``report`` as
    ``unused``, under the video split files' policy (:func:`..video.split_rows.missing_clips`: a DataError naming them
    when a split has none of its clips found, or under ``cfg.strict`` when any is missing; naming ``layout``, the
    release's expected files, when no listed clip has a file under ``root``)."""
    from ..video.split_rows import Row, missing_clips
    from .raw_pairs import RawPair

    if importlib.util.find_spec("decord") is None:  # the clips are read with it
        raise ConfigError("reading video files needs decord: pip install \"mmdistill[video]\"")
    report.descriptions.update(RELEASE_KINDS)
    used = [it for it in listed if it.split != "unused"]
    if not used:
        raise DataError(f"{name}: the lists under {root} name no train or test clip; expected {layout}")
    report.extend("unused", ((f"{it.key} ({it.label})", f"{it.where}: {it.split} not used") for it in listed if it.split == "unused"))
    found = [(it, find(it)) for it in used]
    missing = [Row(it.key, it.label, it.split, it.where) for it, path in found if path is None]
    none = not any(path for _, path in found)
    report.extend("unused", missing_clips(name, missing, [it.split for it, path in found if path is not None], root,
                                          "clip(s)", "video files named by their YouTube id, in any folder", cfg.strict,
                                          f"; expected {layout}; the clips are YouTube videos no release ships and mmdistill "
                                          "does not download: give your own copies" if none else ""))
    if missing:
        log.warning("%s: %d of %d listed clips have no video file under %s (named as unused in the load report): %s%s", name,
                    len(missing), len(used), root, ", ".join(f"{r.name} ({r.where})" for r in missing[:5]),
                    f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    pairs, bad = [], []
    for it, path in found:
        if path is None:
            continue
        cut, why = cut_pairs(path, it.windows)
        if why:
            bad.append(BadFile(str(path), why))
            continue
        for frame, clip, w in cut:
            label = f"{path}@{w[0]:g}s" if len(cut) > 1 else str(path)
            pairs.append(RawPair(label, clip, frame, it.label, it.split, str(path), group=it.key))
    if bad:
        msg = f"{name}: {describe_bad(bad, what='unreadable clip')} (of {len(found) - len(missing)} clips)"
        if cfg.strict:
            raise DataError(f"{msg} (strict mode; leave strict off to skip them)")
        log.warning("%s", msg)
    classes = list(dict.fromkeys(it.label for it in used))
    return pairs, classes, bad


__all__ = ["Listed", "RELEASE_KINDS", "Window", "cut_pairs", "parent_hint", "read_listed"]
