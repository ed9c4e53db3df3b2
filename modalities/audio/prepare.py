"""Your own audio as a distilled audio set's inputs: :func:`maps_like` decodes files (or takes waveforms), downmixes,
resamples, pads or crops and transforms them exactly as the loader did for the set's real clips, and normalises them
with the set's statistics -- so a classifier trained on the set can be tested on recordings it never saw.

Everything it needs is in the set's metadata (``synthetic.meta``): the FD-MFCC parameters with their sample rate
(``features``), the clip length in samples (``num_samples``), the alignment (``preprocessing.align``) and the
normalisation (``mean``, ``std``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.inputs_like import as_items, source_meta

from .adapter import feature_meta
from .clips import decode_fitted
from .decode import ALIGNMENTS, Crop, describe_bad, fix_length
from .features import FDMFCC, extract_fdmfcc, normalize

if TYPE_CHECKING:
    from mmdistill.share import DistilledSet
    from mmdistill.synthetic import SyntheticSet


def set_meta(source: DistilledSet | SyntheticSet | Mapping[str, Any]) -> Mapping[str, Any]:
    """The metadata of an audio set: ``source`` is a :class:`~mmdistill.share.DistilledSet` (``mmdistill.load``), a
    :class:`~mmdistill.data.SyntheticSet` or its ``meta`` mapping (:func:`mmdistill.inputs_like.source_meta`).
    ArtifactError when it lacks what :func:`maps_like` needs (a set of another modality)."""
    return source_meta(source, "maps_like", "a distilled audio set (audio-dm or audio-ddfad)", ("features", "mean", "std", "num_samples"))


def maps_like(source: DistilledSet | SyntheticSet | Mapping[str, Any], clips: Sequence[str | Path] | Tensor, *, sample_rate: int | None = None) -> Tensor:
    """``clips`` as the set's normalised FD-MFCC maps, (N, 3, n_mfcc, frames) float32 -- the shape of ``ds.x``.

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta``.
        clips: audio file paths (any format the loader reads: a multi-channel file's channels are averaged), or
            waveforms (N, T) float in [-1, 1] at ``sample_rate`` Hz.
        sample_rate: the waveforms' rate in Hz (required for a tensor; resampled to the set's rate); not used for files.

    Raises:
        DataError: a file that cannot be read, naming each one (nothing is skipped: a test set must be whole).
        ConfigError: a tensor without ``sample_rate``, or not (N, T) floats.
    """
    meta = set_meta(source)
    params, mean, std = feature_meta(meta)
    num_samples = int(meta["num_samples"])
    align = str((meta.get("preprocessing") or {}).get("align", "center"))
    if align not in ALIGNMENTS:
        raise ArtifactError(f"the set's preprocessing.align is {align!r}; expected one of {ALIGNMENTS}")
    clips = as_items(clips)  # one clip: iterating the string would decode each of its characters
    if isinstance(clips, Tensor):
        waves = fit_waveforms(clips, sample_rate, params.sample_rate, num_samples, align)
    else:
        items = [(str(p), (lambda p=p: str(Path(p).expanduser()))) for p in clips]
        _, fitted, bad = decode_fitted(items, Crop(num_samples, params.sample_rate, align), strict=False)
        if bad:
            raise DataError(describe_bad(bad, verb="not read"))
        if not fitted:
            return torch.empty(0, 3, params.n_mfcc, params.frames(num_samples))
        waves = torch.stack([w for w, _ in fitted])
    return normalize(extract_fdmfcc(waves, params, transform=FDMFCC(params)), mean, std)


def fit_waveforms(x: Tensor, rate: int | None, target: int, num_samples: int, align: str = "center", *,
                  who: str = "maps_like") -> Tensor:
    """Waveforms (N, T) floats in [-1, 1] at ``rate`` Hz as the set's clips: (N, ``num_samples``) float32 on the CPU at
    ``target`` Hz (torchaudio's resampler), padded or cropped by ``align`` (:func:`~.decode.fix_length`).

    Raises:
        ConfigError: ``rate`` is None, or ``x`` is not (N, T) floats; the message starts with ``who``.
    """
    if rate is None:
        raise ConfigError(f"{who}: waveforms need sample_rate= (their rate in Hz, resampled to the set's); files carry their own")
    if x.dim() != 2 or not x.is_floating_point():
        raise ConfigError(f"{who}: waveforms must be (N, T) floats in [-1, 1], got {tuple(x.shape)} {x.dtype}")
    x = x.detach().float().cpu()
    if int(rate) != target:
        import torchaudio.functional as AF

        x = AF.resample(x, int(rate), target)
    return fix_length(x, num_samples, align)


__all__ = ["fit_waveforms", "maps_like", "set_meta"]
