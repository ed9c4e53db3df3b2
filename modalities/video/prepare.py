"""Your own clips as a distilled video set's inputs: :func:`clips_like` decodes video files (or frame folders) with the
frame sampling and resize the loader used for the set's real clips, and normalises them with the set's statistics --
so a classifier trained on the set (or on its export) can be tested on clips it never saw.

What it needs is in the set's metadata (``synthetic.meta``): ``decoding`` (:func:`decoding_meta`: frames, gap,
offset, short-clip rule, square side, resize mode, sample rate, written by the loader of a folder of clips) and the normalisation (``mean``,
``std``)."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.inputs_like import as_items, source_meta

from .datasets import offset_key
from .decode import FrameSampling, _decode_file, _decode_frame_dir
from .frame_fit import RESIZE_WORDS

if TYPE_CHECKING:
    from mmdistill.share import DistilledSet
    from mmdistill.synthetic import SyntheticSet

#: how frames are shaped, in words, by resize mode (recorded with the settings: a user preparing clips elsewhere reads it)
RESIZE = RESIZE_WORDS["squeeze"]
TIMING = ("frames are picked by index (num_frames frames frame_gap apart), not by time: the clip's frame rate is not read, "
          "so a 60 fps clip's sampled frames span a quarter of the time a 15 fps clip's do")
#: :data:`TIMING` under sample_fps
TIMING_BY_TIME = ("frames are picked by time: each clip is resampled to sample_fps frames a second from the frame rate its file "
                  "states (frame i is the file's frame floor(i x fps / sample_fps)), then num_frames frames frame_gap apart are "
                  "taken, so every clip's sampled frames span (num_frames - 1) x frame_gap / sample_fps seconds")


#: the :class:`FrameSampling` fields, by name: a set's ``decoding`` holds each (``resize`` as ``resize_mode``)
_SAMPLING_FIELDS = tuple(f.name for f in dataclass_fields(FrameSampling))


def decoding_meta(sampling: FrameSampling, kind: str) -> dict[str, Any]:
    """The decode settings of a loaded folder (``kind``: ``files`` or ``frames``), as the set's ``meta["decoding"]``:
    every :class:`FrameSampling` field (``seed`` seeds the random offset, with each clip's path under the data root;
    ``sample_fps`` only when set), the resize mode as ``resize_mode`` unless ``squeeze`` (``resize`` holds it in words: :data:`RESIZE` for
    ``squeeze``; a set without ``resize_mode``, made before the mode existed too, was squeezed) and the timing in words."""
    fields = sampling.settings()  # resize left out at squeeze, the value sets had before the mode existed
    mode = fields.pop("resize", None)
    return {**fields, "kind": kind, "resize": RESIZE_WORDS[sampling.resize], **({"resize_mode": mode} if mode else {}),
            "timing": TIMING_BY_TIME if sampling.sample_fps else TIMING,
            "offset_key": "the clip's path under the data root (random offset)"}


def set_meta(source: DistilledSet | SyntheticSet | Mapping[str, Any]) -> Mapping[str, Any]:
    """The metadata of a video set: ``source`` is a :class:`~mmdistill.share.DistilledSet` (``mmdistill.load``), a
    :class:`~mmdistill.data.SyntheticSet` or its ``meta`` mapping.

    Raises:
        ConfigError: ``source`` is none of those.
        ArtifactError: it lacks ``mean``/``std`` (not a video set). Its ``decoding`` (missing for clips not read from
            files: moving digits or in-memory tensors, or a set made before the loader recorded it) is asked for when
            files are prepared (pass ``sampling=``).
    """
    return source_meta(source, "clips_like", "a distilled video set", ("mean", "std"))


def _sampling(meta: Mapping[str, Any], sampling: FrameSampling | None) -> tuple[FrameSampling, str]:
    if sampling is not None:
        return sampling, "files"
    dec = meta.get("decoding")
    if not isinstance(dec, Mapping):
        raise ArtifactError("clips_like: the set's metadata has no `decoding` (its clips were not read from files -- moving "
                            "digits or in-memory tensors -- or it was made before the loader recorded it); pass "
                            "sampling=FrameSampling(num_frames=..., frame_gap=..., frame_size=...) as the run's config says")
    fields = {k: dec[k] for k in _SAMPLING_FIELDS if k != "resize" and k in dec}  # resize: resize_mode (words in "resize")
    return FrameSampling(**fields, resize=str(dec.get("resize_mode", "squeeze"))), str(dec.get("kind", "files"))


def clips_like(source: DistilledSet | SyntheticSet | Mapping[str, Any], clips: Sequence[str | Path] | Tensor, *, root: str | Path | None = None,
               offset: str | None = None, sampling: FrameSampling | None = None) -> Tensor:
    """``clips`` as the set's normalised model inputs, (N, 3, T, H, W) float32 -- the shape of ``ds.x``
    (``ds.inputs["x"]``: ``ds.inputs`` maps input names to tensors).

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta``.
        clips: video files (any the loader reads, GIFs too) or frame folders (a set of ``dataset=frames``), or clips
            already sampled and resized, (N, 3, T, H, W) uint8 or float in [0, 1] (only normalised). One path (a
            ``str`` or ``Path``, not in a list) is one clip, N = 1 (a string is not read as a sequence of paths).
        root: the folder the random offset's key is taken under (each clip's path relative to it, as the loader keys
            a clip under its data root, so a clip of the set's own folder gets the frames the loader took); none: the
            file name.
        offset: ``random`` or ``center`` instead of the set's (``center`` needs no key).
        sampling: the decode settings, for a set whose metadata lacks them (:func:`set_meta`).

    Raises:
        DataError: clips that cannot be decoded, or are shorter than the sampled span under the set's ``short=skip``,
            naming each one (nothing is skipped: a test set must be whole); native-size clips of different sizes.
        ConfigError: a tensor that is not (N, 3, T, H, W), or a set of other than 3 channels given files.
    """
    meta = set_meta(source)
    mean, std = (torch.tensor([float(v) for v in meta[k]]).view(1, -1, 1, 1, 1) for k in ("mean", "std"))
    if isinstance(clips, Tensor):
        if clips.dim() != 5 or clips.shape[1] != mean.shape[1]:
            raise ConfigError(f"clips_like: a tensor must be clips (N, {mean.shape[1]}, T, H, W), got {tuple(clips.shape)}")
        x = clips.detach().cpu().float() / (255.0 if clips.dtype == torch.uint8 else 1.0)
        return (x - mean) / std
    if mean.shape[1] != 3:
        raise ConfigError(f"clips_like: the set has {mean.shape[1]} channel(s); decoded files have 3 (RGB)")
    clips = as_items(clips)  # one clip: iterating the string would decode each of its characters
    s, kind = _sampling(meta, sampling)
    if offset is not None:
        s = FrameSampling(**{**s.__dict__, "offset": offset})
    frames, bad = [], []
    for c in clips:
        path = Path(c).expanduser()
        key = offset_key(path, Path(root).expanduser()) if root is not None else path.name
        f, length, what = (_decode_frame_dir(path, s, key) if path.is_dir() else _decode_file(path, s, key))
        if f is None:
            bad.append(f"{path} ({what[len('unreadable: '):] if what.startswith('unreadable') else f'{s.short_reason(length)}, short=skip'})")
        else:
            frames.append((path, f))
    if bad:
        raise DataError(f"clips_like: {len(bad)} clip(s) not prepared: {'; '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
    if not frames:
        side = s.frame_size or 0
        return torch.empty(0, 3, s.num_frames, side, side)
    sizes = {f.shape[1:3]: p for p, f in frames}
    if len(sizes) > 1:
        desc = ", ".join(f"{w}x{h} ({p.name})" for (h, w), p in sizes.items())
        raise DataError(f"clips_like: clips of different frame sizes at the set's native size: {desc}")
    x = torch.from_numpy(np.stack([f.transpose(3, 0, 1, 2) for _, f in frames])).float() / 255.0  # (N, 3, T, H, W)
    return (x - mean) / std


__all__ = ["RESIZE", "TIMING", "TIMING_BY_TIME", "clips_like", "decoding_meta", "set_meta"]
