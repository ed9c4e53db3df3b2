"""Raw pairs into :class:`~.data.AVData`: a :class:`RawPair` (a decoded clip, a frame, a class, a split) is what every
reader gives (the pairs CSV, :mod:`.pairs_csv`; the folder of clips, :mod:`.video_pairs`; the released layouts,
:mod:`.release_clips`; the generated digits); :func:`featurise` resamples each clip to the config's rate and fixes its
length, takes its log-mel spectrogram, resizes the frames, and fills the load report (:data:`REPORT_KINDS`)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport

from ..artifacts import classes_without_test
from ..audio.decode import BadFile, Clip, describe_bad, downmix_counts, fix_length, length_counts, resample_clips
from ..groups import group_no_test_reason, said_group_by
from .data import AVData, image_tensor, log_mel, normalise_pairs

log = logging.getLogger(__name__)


#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {"unreadable": "unreadable pair(s) or clip(s) without a usable audio track skipped",
                "resampled": "audio file(s) resampled", "padded": "clip(s) padded with silence", "cropped": "clip(s) cropped",
                "silent": "all-zero audio clip(s) (digital silence) kept and trained on"}


@dataclass
class RawPair:
    """One pair before featurising: its name, the decoded clip, the frame (C, h, w) in [0, 1], class, split, where
    its frame came from (``image_file``: the image file or the clip; empty for generated pairs), and its ``group``
    when the reader knows it (a ``group_by`` speaker, a UCF clip's recording, pairs that share a file): the
    training pairs' groups become ``AVData.train_groups`` (:func:`train_groups`), so ``validation=`` holds them out whole."""

    name: str
    clip: Clip
    image: Tensor
    label: str
    split: str
    image_file: str = ""
    group: str | None = None


def train_groups(pairs: list[RawPair]) -> list[str] | None:
    """The group of each training pair, in the training split's order (:func:`featurise`'s), or None when a pair's
    group is not known (pairs drawn one by one)."""
    train = [p for p in pairs if p.split == "train"]
    return [str(p.group) for p in train] if train and all(p.group is not None for p in train) else None


def _meta(cfg: Any, num_samples: int) -> dict[str, Any]:
    return {"features": cfg.feature_params().to_dict(), "num_samples": num_samples, "audio_frames": cfg.audio_frames}


def featurise(name: str, pairs: list[RawPair], cfg: Any, *, classes: list[str] | None = None, skipped: list[BadFile] | None = None,
              root: Path | None = None, report: LoadReport | None = None, skipped_what: str = "unreadable pair") -> AVData:
    """Resample every clip to ``cfg.sample_rate`` (counted per source rate, logged), fix its length (padded and cropped
    clips counted), take the log-mel spectrogram; resize the frames; scale both by ``cfg.scaling`` (:func:`.data.normalise_pairs`).
    ``classes``: every class the source names (None: those of ``pairs``), so a class whose files were all skipped is
    kept, and refused by the per-class check naming it; ``skipped``: the files left out (``skipped_what``: what each is, in
    words: a CSV's pairs, or clips), named in the load report
    (``report``: one the reader began, or a new one; its root is ``root``), which ``meta["load_report"]`` holds
    when the pairs were read from files (``root`` given; generated pairs get none)."""
    if not pairs:
        raise DataError(f"{name}: no readable pairs" + (f" ({describe_bad(skipped, what=skipped_what)})" if skipped else ""))
    other = {}
    for p in pairs:
        if p.clip.sample_rate != cfg.sample_rate:
            other.setdefault(p.clip.sample_rate, []).append(p.name)
    for rate, names in sorted(other.items()):
        log.warning("%s: resampled %d audio file(s) from %d Hz to %d Hz: %s%s", name, len(names), rate, cfg.sample_rate,
                    ", ".join(names[:3]), " ..." if len(names) > 3 else "")
    classes = list(classes) if classes is not None else sorted({p.label for p in pairs}, key=_natural)
    empty = [c for c in classes if not any(p.label == c for p in pairs)]
    if empty:
        log.warning("%s: %d class(es) kept no readable pair (all their files were skipped): %s", name, len(empty), ", ".join(map(repr, empty[:10])))
    if cfg.image_channels == "auto":
        _same_channels(name, pairs)
    n = int(round(cfg.duration * cfg.sample_rate))
    params = cfg.feature_params()
    parts, lengths, silent = [], [], []
    for split in ("train", "test"):
        members = [p for p in pairs if p.split == split]
        if not members:
            raise DataError(f"{name}: the {split} split holds no pairs")
        resampled = resample_clips([p.clip for p in members], cfg.sample_rate)
        lengths += [len(w) for w in resampled]
        silent += [p.name for p, w in zip(members, resampled) if not bool(w.any())]
        waves = torch.stack([fix_length(w, n) for w in resampled])
        frames = image_tensor([p.image for p in members], cfg.image_size, cfg.image_channels, [p.image_file or p.name for p in members])
        parts.append((log_mel(waves, params, cfg.audio_frames), frames, torch.tensor([classes.index(p.label) for p in members]),
                      [p.name for p in members]))
    report = report if report is not None else LoadReport()
    report.root, report.descriptions = str(root) if root is not None else "", {**REPORT_KINDS, **report.descriptions}
    padded, cropped = _log_lengths(name, lengths, n, cfg)
    report.count("padded", padded)
    report.count("cropped", cropped)
    report.facts.update(pairs=len(lengths), duration_s=float(cfg.duration))
    report.extend("unreadable", ((b.name, b.reason) for b in skipped or []))
    report.extend("silent", ((p, "every sample is 0") for p in silent))
    if silent:
        log.warning("%s: %s", name, describe_bad([BadFile(p, "every sample is 0") for p in silent], what="silent pair", verb="kept",
                                                 note=" (audio all zero: digital silence, a recording or export that wrote no sound?)"))
    report.count("resampled", sum(len(v) for v in other.values()))
    downmixed = downmix_counts(p.clip for p in pairs)  # CSV pairs; a clip's sound track is read mono by decord
    for channels, count in sorted(downmixed.items()):
        log.info("%s: downmixed %d audio file(s) from %d channels to mono (the channels averaged)", name, count, channels)
    if "downmixed" in report.descriptions:  # CSV pairs (a video's track is read mono by decord, its channels never known)
        report.count("downmixed", sum(downmixed.values()))
    report.facts["resampled_from_hz"] = {str(k): len(v) for k, v in sorted(other.items())}
    shared = " (pairs that share a file count as one)" if report.counts().get("reused") else ""
    group = report.facts.get("group_by")
    named = None
    if group and "layout" in report.facts:  # clip names' groups: the video layout's reader said them (video imported)
        named = said_group_by(group)
    classes_without_test(name, classes, parts[0][2], parts[1][2], group_no_test_reason(group, "pairs", named) if group else
                         f"a class needs two readable pairs{shared} to hold one out, or the split gives it no test row", report,
                         what="pair")
    meta = {**_meta(cfg, n), "resampled_files": {str(k): len(v) for k, v in other.items()},
            **({"load_report": report.as_dict()} if report.root else {})}
    # the training pairs' groups given where the data is made, so AVData checks their count
    return dataclasses.replace(normalise_pairs(name, classes, parts[0], parts[1], meta, cfg.scaling), train_groups=train_groups(pairs))


def _same_channels(name: str, pairs: list[RawPair]) -> None:
    """DataError naming a frame of each channel count when ``pairs``' frames (C, h, w) differ in C (grey and colour
    images, with ``image_channels="auto"``, which keeps each frame's own)."""
    first: dict[int, RawPair] = {}
    for p in pairs:
        first.setdefault(int(p.image.shape[0]), p)
    if len(first) > 1:
        (c1, a), (c2, b) = sorted(first.items())[:2]
        raise DataError(f"{name}: frames have different channel counts: {a.image_file or a.name} has {c1} channel(s), "
                        f"{b.image_file or b.name} has {c2}; pass image_channels=1 or 3 (--image-channels) to convert every frame "
                        "to grey or RGB")


def _log_lengths(name: str, lengths: list[int], n: int, cfg: Any) -> tuple[int, int]:
    """Log how many of the clips of ``lengths`` samples are padded / cropped (centred) to ``n`` samples; returns
    ``(padded, cropped)``."""
    padded, cropped = length_counts(lengths, n)
    if padded:
        log.info("%s: padded %d clip(s) shorter than %g s with silence (centred)", name, padded, cfg.duration)
    if cropped:
        log.info("%s: cropped %d clip(s) longer than %g s to their middle %g s (--duration)", name, cropped, cfg.duration, cfg.duration)
    return padded, cropped


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


__all__ = ["REPORT_KINDS", "RawPair", "featurise", "train_groups"]
