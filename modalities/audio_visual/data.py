"""Paired audio-visual data: (log-mel spectrogram, frame) pairs with one class label, and the features.

Audio goes through the audio adapter's front end (:class:`~mmdistill.modalities.audio.features.FDMFCC`'s mel filter
bank, with AVDD's Hann window and FFT by default and an optional per-clip dB floor; files decoded and resampled by
:mod:`mmdistill.modalities.audio.decode`), stopping at the log-mel spectrogram AVDD distils: (N, 1, n_mels, frames) in
dB. Frames are resized with the image adapter's resize. ``scaling`` (:func:`normalise_pairs`): AVDD's (dB as it is,
frames by fixed per-channel constants, the default) or the training split's statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
from torch import Tensor

from mmdistill.data import check_class_list, clean_class_names
from mmdistill.errors import ConfigError, DataError

from ..artifacts import CONSTANT_STD, constant_channels
from ..audio.features import FDMFCC, FDMFCCParams

log = logging.getLogger(__name__)


@dataclass
class AVPairs:
    """One split: ``audio`` (N, 1, n_mels, frames) normalised log-mel, ``image`` (N, C, H, W) normalised frames,
    ``y`` (N,) int64 class ids, ``names`` (N,) where each pair came from (file names; may be empty)."""

    audio: Tensor
    image: Tensor
    y: Tensor
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = {len(self.audio), len(self.image), len(self.y)}
        if len(n) != 1:
            raise DataError(f"a split's audio ({len(self.audio)}), frames ({len(self.image)}) and labels ({len(self.y)}) differ in length")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: Tensor) -> "AVPairs":
        """The pairs ``idx`` (K,) int64, their ``names`` with them when the split has them."""
        names = [self.names[i] for i in idx.tolist()] if len(self.names) == len(self) else []
        return AVPairs(self.audio[idx], self.image[idx], self.y[idx], names)

    def to(self, device: torch.device) -> "AVPairs":
        return AVPairs(self.audio.to(device), self.image.to(device), self.y.to(device), self.names)

    def class_indices(self, num_classes: int) -> list[Tensor]:
        return [torch.nonzero(self.y == c).flatten() for c in range(num_classes)]


@dataclass
class AVData:
    """Train/test pairs, class names and what decoding a synthetic set needs (``meta``: audio ``features`` params,
    ``audio_mean``/``audio_std`` (dB), ``image_mean``/``image_std`` per channel, ``num_samples``; ``scored_on``:
    ``"validation"`` when ``test`` holds pairs held out of the training split, :func:`hold_out_validation`).
    ``train_groups``: the group of each training pair (a recording, a speaker, pairs that share a file: N names in
    ``train``'s order) when the loader knows them, so a validation split holds out whole groups; never stored. A
    DataError for groups whose count is not ``train``'s."""

    name: str
    train: AVPairs
    test: AVPairs
    classes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    """computed once per data object: herding indices by (seed, ipc, epochs)"""
    train_groups: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """The class names cleaned as every classification adapter's are (:func:`mmdistill.data.clean_class_names`: a
        folder or CSV label holding a tab or U+202E is named one way by the run, its set and ``merge --dataset``)."""
        if self.train_groups is not None and len(self.train_groups) != len(self.train):
            raise DataError(f"dataset {self.name!r}: train_groups names {len(self.train_groups)} group(s) for "
                            f"{len(self.train)} training pairs; expected one group per training pair, in train's order")
        self.classes = clean_class_names(f"dataset {self.name!r}", self.classes)
        if isinstance(self.meta.get("classes"), list):
            self.meta["classes"] = clean_class_names(f"dataset {self.name!r}", self.meta["classes"])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def audio_shape(self) -> tuple[int, ...]:
        return tuple(self.train.audio.shape[1:])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train.image.shape[1:])

    def require_per_class(self, k: int, what: str = "ipc") -> None:
        """DataError naming every class with fewer than ``k`` training pairs, with its count."""
        counts = torch.bincount(self.train.y.cpu(), minlength=self.num_classes).tolist()
        short = [f"{self.classes[c]!r} ({n})" for c, n in enumerate(counts) if n < k]
        if short:
            raise DataError(f"{self.name}: {len(short)} class(es) hold fewer training pairs than {what} = {k}: {', '.join(short[:10])}"
                            f"{' ...' if len(short) > 10 else ''}; lower {what} or add pairs")


def hold_out_validation(data: AVData, fraction: float, by_groups: bool = True) -> AVData:
    """``data`` with ``fraction`` of each class's training pairs (of its groups, held out whole, when ``train_groups``
    knows them) moved to the scored split, by the core's rules (:func:`mmdistill.validation.draw_validation`: one
    fixed stream whatever the seed); ``meta`` says ``scored_on: "validation"``. The scaling stays the one the loader
    computed (``scaling=split``: the whole training split's statistics, as the core keeps a classification dataset's
    normalisation). ``by_groups`` false (``validation_groups=false``): pairs drawn one by one. ConfigError (key
    ``validation``) as the core's."""
    from mmdistill.validation import draw_validation, validation_meta

    draw = draw_validation(data.train.y, data.classes, data.train_groups if by_groups else None, fraction, data.name)
    keep, held = (i.to(data.train.y.device) for i in (draw.keep, draw.held))
    return replace(data, train=data.train.subset(keep), test=data.train.subset(held), meta=validation_meta(data.meta, fraction, draw, "pair"),
                   cache={}, train_groups=None)


def log_mel(waves: Tensor, params: FDMFCCParams, frames: int, batch_size: int = 256) -> Tensor:
    """Waveforms (N, T) -> dB log-mel spectrograms (N, 1, n_mels, frames): the audio adapter's mel filter bank and
    per-clip ``top_db`` floor (:class:`FDMFCC`'s), cropped or edge-padded to ``frames``."""
    front = FDMFCC(params).mfcc
    outs = []
    with torch.no_grad():
        for s in range(0, len(waves), batch_size):
            x = waves[s:s + batch_size].float()
            mel = front.MelSpectrogram(x[:, None, :])  # (n, 1, n_mels, F)
            outs.append(front.amplitude_to_DB(mel))
    out = torch.cat(outs) if outs else torch.empty(0, 1, params.n_mels, frames)
    if out.shape[-1] >= frames:
        return out[..., :frames].contiguous()
    return torch.nn.functional.pad(out, (0, frames - out.shape[-1], 0, 0), mode="replicate")


def image_tensor(images: Sequence[Tensor] | Tensor, size: int, channels: str, names: Sequence[str] = ()) -> Tensor:
    """Frames (N, C, h, w) in [0, 1] (or a list of (C, h, w)) -> (N, C', size, size) float in [0, 1], bilinear
    (antialiased); ``channels`` ``"1"`` averages RGB, ``"3"`` repeats grey, ``"auto"`` keeps C (frames of different
    C are a DataError naming, from ``names`` (one per frame) when given, a frame of each)."""
    out = []
    for img in images:
        x = img.float()[None]
        if channels == "1" and x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        elif channels == "3" and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(x[0].clamp(0.0, 1.0))
    if not out:
        raise DataError("no frames to stack")
    first: dict[int, int] = {}
    for i, t in enumerate(out):
        first.setdefault(int(t.shape[0]), i)
    if len(first) > 1:
        (c1, i1), (c2, i2) = sorted(first.items())[:2]
        named = len(names) == len(out)
        a, b = (names[i1], names[i2]) if named else (f"frame {i1}", f"frame {i2}")
        raise DataError(f"frames have different channel counts: {a} has {c1} channel(s), {b} has {c2}; pass image_channels=1 or 3 "
                        "(--image-channels) to convert every frame to grey or RGB")
    return torch.stack(out)


#: AVDD's frame normalisation (``utils/data_utils.py``): fixed per-channel mean and std of [0, 1] RGB frames
AVDD_FRAME_MEAN = (0.425, 0.396, 0.370)
AVDD_FRAME_STD = (0.229, 0.224, 0.221)


def normalise_pairs(name: str, classes: list[str], train: tuple[Tensor, Tensor, Tensor, list[str]],
                    test: tuple[Tensor, Tensor, Tensor, list[str]], meta: dict[str, Any], scaling: str = "split") -> AVData:
    """Raw dB spectrograms and [0, 1] frames of both splits -> :class:`AVData` scaled by ``scaling`` (the config's
    key of that name): ``"split"``, the training split's statistics (one mean/std for the dB values, one per frame
    channel); ``"avdd"``, AVDD's: the dB values as they are (mean 0, std 1) and frames by :data:`AVDD_FRAME_MEAN` /
    :data:`AVDD_FRAME_STD` (their channel means for grey frames). The statistics are stored in ``meta``. Under
    ``"split"`` a constant side (std below 1e-6: the dB values, or a frame channel) gets std 1, so its test values are
    not multiplied by 1e6, and is named in a warning (as the graph loader's ``standard`` scaling treats a constant
    feature)."""
    check_class_list(f"dataset {name!r}", classes)
    a_tr, i_tr, y_tr, n_tr = train
    a_te, i_te, y_te, n_te = test
    if len(y_tr) == 0 or len(y_te) == 0:
        raise DataError(f"{name}: the {'training' if len(y_tr) == 0 else 'test'} split holds no pairs")
    if scaling == "avdd":
        a_mean, a_std = 0.0, 1.0
        i_mean, i_std = (torch.tensor(c, dtype=torch.float32) for c in (AVDD_FRAME_MEAN, AVDD_FRAME_STD))
        if i_tr.shape[1] != 3:
            i_mean, i_std = i_mean.mean().repeat(i_tr.shape[1]), i_std.mean().repeat(i_tr.shape[1])
    elif scaling == "split":
        a_mean, a_sd = float(a_tr.mean()), a_tr.std()
        flat_audio = bool(a_sd < CONSTANT_STD)
        a_std = 1.0 if flat_audio else float(a_sd)
        if flat_audio:
            _warn_constant(name, float(a_sd), "the training log-mel (dB) values are")
        i_mean = i_tr.mean(dim=(0, 2, 3))
        sd = i_tr.std(dim=(0, 2, 3))
        i_std, ids = constant_channels(sd)  # (its constant channels' std 1)
        if ids:
            _warn_constant(name, float(sd[ids].max()), f"frame channel(s) {', '.join(map(str, ids))} ({len(ids)} of {len(sd)}) "
                                                       "of the training split are")
    else:
        raise ConfigError(f"scaling must be 'avdd' or 'split', got {scaling!r}", key="scaling")

    def norm(a: Tensor, i: Tensor) -> tuple[Tensor, Tensor]:
        return (a - a_mean) / a_std, (i - i_mean[:, None, None]) / i_std[:, None, None]

    at, it = norm(a_tr, i_tr)
    ae, ie = norm(a_te, i_te)
    # image_size: the frames' side, with which av_like resizes a consumer's own images as the loader did
    meta = {**meta, "classes": list(classes), "image_size": int(i_tr.shape[-1]), "audio_mean": a_mean, "audio_std": a_std, "image_mean": i_mean.tolist(),
            "image_std": i_std.tolist()}
    return AVData(name, AVPairs(at, it, y_tr.long(), n_tr), AVPairs(ae, ie, y_te.long(), n_te), list(classes), meta)


def _warn_constant(name: str, std: float, what: str) -> None:
    """Warn that ``what`` (ending in "are") constant (``std`` below 1e-6) and scaled with std 1."""
    log.warning("%s: %s constant (std %.3g < 1e-6): kept and scaled with std 1 (mean subtracted only), not divided by ~0",
                name, what, std)


def check_pair_labels(y: Tensor, num_classes: int, where: str) -> None:
    """ConfigError naming ``where`` unless every label in ``y`` lies in 0..``num_classes`` - 1 (an empty ``y``
    passes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ConfigError(f"{where}: labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")


__all__ = ["AVDD_FRAME_MEAN", "AVDD_FRAME_STD", "AVData", "AVPairs", "check_pair_labels", "hold_out_validation", "image_tensor", "log_mel", "normalise_pairs"]
