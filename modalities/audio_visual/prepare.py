"""Your own (audio, image) pairs as an audio-visual set's inputs: :func:`av_like` decodes audio files (or takes
waveforms) and reads image files as the CSV loader read the set's real pairs -- the audio adapter's decoder (channels
averaged), resampled to the set's rate, padded or cropped to its length, the dB log-mel spectrogram of its front end
(:func:`~.data.log_mel`); each frame upright by EXIF, grey or RGB as the set's channels, resized to its side
(antialiased bilinear, :func:`~.data.image_tensor`) -- and scales both with the set's statistics, so an audio-visual
classifier trained on the set can be tested on pairs it never saw.

What it reads is the set's metadata: ``features`` (the front end, with its sample rate), ``num_samples``,
``audio_frames``, ``audio_mean``/``audio_std``, ``image_mean``/``image_std`` (one per channel) and ``image_size``
(recorded since walk 53B; for an older set ``DistilledSet.inputs_like`` passes its run config's ``image_size``, and
this function takes ``image_size=``). A set read from video clips took each clip's middle frame and sound track: give
the frame as an image file and the track as an audio file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.inputs_like import as_items, source_meta

from ..audio.decode import decode, fix_length, resample_clips
from ..audio.features import FDMFCCParams
from ..audio.prepare import fit_waveforms
from ..groups import some
from .data import image_tensor, log_mel

WHAT = "a distilled audio-visual set"
NEEDS = ("features", "num_samples", "audio_frames", "audio_mean", "audio_std", "image_mean", "image_std")


def _absent(paths: Sequence[Path], what: str) -> None:
    gone = [str(p) for p in paths if not p.is_file()]
    if gone:
        raise DataError(f"av_like: {len(gone)} {what} file(s) do not exist: {some(gone)}")


def audio_of(meta: Mapping[str, Any], audio: Sequence[str | Path] | Tensor, sample_rate: int | None = None) -> Tensor:
    """Audio files, or waveforms (N, T) floats in [-1, 1] at ``sample_rate`` Hz, as the set's scaled log-mel
    spectrograms (N, 1, n_mels, audio_frames)."""
    params = FDMFCCParams.from_dict(meta["features"])
    n, frames = int(meta["num_samples"]), int(meta["audio_frames"])
    if isinstance(audio, Tensor):
        waves = fit_waveforms(audio, sample_rate, params.sample_rate, n, who="av_like")
    else:
        paths = [Path(p).expanduser() for p in as_items(audio)]
        _absent(paths, "audio")
        clips = [decode(str(p), str(p)) for p in paths]  # DataError naming the file, as the loader's
        waves = torch.stack([fix_length(w, n) for w in resample_clips(clips, params.sample_rate)]) if clips else torch.empty(0, n)
    return (log_mel(waves, params, frames) - float(meta["audio_mean"])) / float(meta["audio_std"])


def frames_of(meta: Mapping[str, Any], images: Sequence[str | Path] | Tensor, image_size: int | None = None) -> Tensor:
    """Image files, or frames (N, C, h, w) uint8 or floats in [0, 1] as :func:`~.loaders.register_tensors` takes them
    (C 1 or 3), as the set's scaled frames (N, C, S, S), C the set's channels (grey or RGB)."""
    from .frame_images import _read_image

    mean, std = (torch.tensor([float(v) for v in meta[k]]) for k in ("image_mean", "image_std"))
    size = image_size if image_size is not None else meta.get("image_size")
    if size is None:
        raise ArtifactError("av_like: the set's metadata has no image_size (made before it was recorded): pass image_size= "
                            "(the side of the set's frames, ds.inputs['image'].shape[-1])")
    if isinstance(images, Tensor):
        frames = _unit_frames(images)
        if not len(frames):
            return torch.empty(0, len(mean), int(size), int(size))
        return (image_tensor(frames, int(size), str(len(mean))) - mean[:, None, None]) / std[:, None, None]
    paths = [Path(p).expanduser() for p in as_items(images)]
    _absent(paths, "image")
    if not paths:
        return torch.empty(0, len(mean), int(size), int(size))
    x = image_tensor([_read_image(p) for p in paths], int(size), str(len(mean)), [str(p) for p in paths])
    return (x - mean[:, None, None]) / std[:, None, None]


def _unit_frames(frames: Tensor) -> Tensor:
    """Frames (N, C, h, w), C 1 or 3, uint8 or floats in [0, 1] (the tensor loader's rule), as floats in [0, 1]."""
    if frames.dim() != 4 or frames.shape[1] not in (1, 3):
        raise ConfigError(f"av_like: image frames must be (N, C, h, w) with C 1 or 3 (uint8, or floats in [0, 1]), got "
                          f"{tuple(frames.shape)}" + (" (channels last? .permute(0, 3, 1, 2))" if frames.dim() == 4 and
                                                      frames.shape[-1] in (1, 3) else ""))
    if frames.dtype == torch.uint8:
        return frames.detach().cpu().float() / 255.0
    if not frames.is_floating_point():
        raise ConfigError(f"av_like: image frames must be uint8 or floats in [0, 1], got dtype {frames.dtype}")
    x = frames.detach().cpu().float()
    if x.numel() and (not bool(torch.isfinite(x).all()) or float(x.min()) < -1e-3 or float(x.max()) > 1.0 + 1e-3):
        raise ConfigError(f"av_like: float image frames must lie in [0, 1] (uint8 for 0..255), got values in "
                          f"[{float(x.min()):g}, {float(x.max()):g}]")
    return x


def av_like(source: Any, raw: Mapping[str, Any] | Sequence[tuple[Any, Any]], *, sample_rate: int | None = None,
            image_size: int | None = None) -> dict[str, Tensor]:
    """Your pairs as the set's inputs: ``{"audio": (N, 1, n_mels, frames), "image": (N, C, S, S)}``, the keys of what
    you gave (``ds.inputs``' names).

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta``.
        raw: ``{"audio": files or waveforms (N, T), "image": files or frames (N, C, h, w)}`` (either or both; frames
            uint8 or floats in [0, 1], as ``register_tensors`` takes them), or a list of ``(audio file, image file)`` pairs.
        sample_rate: the waveforms' rate in Hz (a tensor only; resampled to the set's).
        image_size: the frames' side, for a set made before ``image_size`` was recorded.

    Raises:
        DataError: a file that does not exist or cannot be read, naming it (nothing is skipped: a test set must be
            whole). ConfigError: another key, a pair that is not two paths, waveforms without ``sample_rate``,
            frames of another layout or range.
        ArtifactError: the set is not an audio-visual one (naming the keys it lacks).
    """
    meta = source_meta(source, "av_like", WHAT, NEEDS)
    if isinstance(raw, Mapping):
        parts = dict(raw)
    elif isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in raw):
        parts = {"audio": [a for a, _ in raw], "image": [i for _, i in raw]}
    else:
        raise ConfigError("av_like: expected {'audio': [...], 'image': [...]} (either or both) or a list of (audio file, image "
                          f"file) pairs, got a {type(raw).__name__}")
    other = sorted(set(parts) - {"audio", "image"})
    if other or not parts:
        raise ConfigError(f"av_like: expected the keys 'audio' and/or 'image', got {other or 'none'}")
    out: dict[str, Tensor] = {}
    if "audio" in parts:
        out["audio"] = audio_of(meta, parts["audio"], sample_rate)
    if "image" in parts:
        out["image"] = frames_of(meta, parts["image"], image_size)
    return out


__all__ = ["audio_of", "av_like", "frames_of"]
