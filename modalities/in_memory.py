"""What every adapter's ``register_tensors`` checks of in-memory data before a name makes it loadable (images, audio,
video, audio-visual): a tensor (an array is named with ``torch.from_numpy``), pixels in [0, 1] or uint8, waveforms as
float amplitudes; and the words a loader adds to its list of dataset names and its unused-split warning. Each check that
returns a tensor returns a new one (copied, detached from autograd), so the caller's later edits never reach the
registered set, and training never writes the caller's ``.grad``. What is particular to one adapter (video's clip
layout, the audio-visual pairs' one N) stays in its module (``video.datasets.from_tensors``,
``audio_visual.tensor_sets.register_tensors``), which calls these."""

from __future__ import annotations

import logging
from typing import Any, Callable, Collection, Iterable, Mapping

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.modality import REGISTERED_META

from .artifacts import check_class_ids
from .sources import name_key

log = logging.getLogger(__name__)

#: the given split of a registered set, in words (the unused-split warning: ``test_fraction``/``split_seed`` draw nothing)
GIVEN_SPLIT = "the train and test tensors given to register_tensors"


def registered_meta(function: str, name: str) -> dict[str, str]:
    """The data's meta entry of a registered set: ``{REGISTERED_META: "mmdistill.modalities.image.register_tensors('mine',
    ...)"}``, the call that registered ``name`` (:data:`mmdistill.modality.REGISTERED_META`;
    :func:`mmdistill.modality.registered_call` reads it back). That no key drew its test split (the tensors given:
    :data:`mmdistill.validation.SPLIT_DRAWN_WITH` None) each adapter records where it records every split's keys."""
    return {REGISTERED_META: f"{function}({name!r}, ...)"}


def choices_words(names: Iterable[str]) -> str:
    """The end of a loader's list of dataset names: ``or a name given to register_tensors (a, b)`` (``none registered``)."""
    return f"or a name given to register_tensors ({', '.join(names) or 'none registered'})"


def a_tensor(where: str, arg: str, value: Any) -> Tensor:
    """``value`` detached when it is a :class:`torch.Tensor`; a :class:`DataError` starting with ``where`` and naming
    ``arg`` otherwise (an array: ``torch.from_numpy`` converts it)."""
    if not isinstance(value, Tensor):
        hint = " (torch.from_numpy converts an array)" if hasattr(value, "shape") else ""
        raise DataError(f"{where}: {arg} must be a torch.Tensor, got {type(value).__name__}{hint}")
    return value.detach()


def built_in_refusal(name: str, names: Collection[str], aliases: Mapping[str, str]) -> str | None:
    """The refusal of ``name`` for a registration when it is one of a loader's built-in ``names`` in any spelling or
    through one of its ``aliases`` (:func:`~.sources.name_key`), else None (``registration_name``'s ``built_in``)."""
    key = name_key(name, aliases)
    return f"{name!r} is a built-in dataset name ({key}); choose another" if key in names else None


def checked_splits(where: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any, classes: Any,
                   check_x: Callable[[str, str, Tensor], Tensor], noun: str) -> tuple[dict[str, Tensor], dict[str, Tensor], list[str]]:
    """The samples (``check_x(where, "x_train", x)``: :func:`image_pixels`, :func:`waveforms`) and labels of both
    splits, each a tensor (:func:`a_tensor`), the labels (N,) int64 of one N with the samples (``noun``: what a sample
    is, ``image``, ``waveform``) and class ids (:func:`~.artifacts.check_class_ids`), as new tensors keyed by ``train``
    and ``test``, with the K class names. A :class:`DataError` starting with ``where`` naming the argument otherwise."""
    xs, ys = {}, {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        xs[split] = check_x(where, f"x_{split}", a_tensor(where, f"x_{split}", x))
        ys[split] = a_tensor(where, f"y_{split}", y)
        if ys[split].dim() != 1 or len(ys[split]) != len(xs[split]):
            raise DataError(f"{where}: y_{split} must be labels (N,) with N = {len(xs[split])} (one per {noun} of x_{split}), "
                            f"got shape {tuple(ys[split].shape)}")
    names = check_class_ids(where, ys["train"], ys["test"], classes)
    return xs, {split: y.long().clone() for split, y in ys.items()}, names


def rows_named(rows: list[int]) -> str:
    """The first ten of ``rows`` and ``...`` when there are more."""
    return f"{rows[:10]}{' ...' if len(rows) > 10 else ''}"


def image_pixels(where: str, arg: str, x: Tensor) -> Tensor:
    """Images ``x`` (N, C, H, W) with C 1 (grey) or 3 (RGB), or (N, H, W) grey, as a new tensor (N, C, H, W): uint8 kept
    as uint8 (0..255: a quarter of float32's memory; :func:`unit_pixels` reads it), floats as float32 checked to lie in
    [0, 1] (to 1e-3, then clamped). A :class:`DataError`
    starting with ``where`` and naming ``arg`` for another shape, dtype or range: channels-last images (N, H, W, C),
    as numpy and PIL hold them, are named with the ``.permute(0, 3, 1, 2)`` that makes them (N, C, H, W)."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or len(x) == 0:
        raise DataError(f"{where}: {arg} must be images (N, C, H, W) or grey (N, H, W) with N >= 1, got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        last = (f"; it looks channels-last (N, H, W, C): pass {arg}.permute(0, 3, 1, 2)" if x.shape[-1] in (1, 3) else "")
        raise DataError(f"{where}: {arg} has shape {tuple(x.shape)}, read as (N, C, H, W) with C = {x.shape[1]} channels; "
                        f"images need 1 (grey) or 3 (RGB){last}")
    if x.dtype == torch.uint8:
        return x.clone()
    check_unit_range(where, arg, x, "image")
    return x.float().clamp(0.0, 1.0)  # a new tensor either way: the caller's images are not kept


def check_unit_range(where: str, arg: str, x: Tensor, what: str) -> None:
    """Pixels ``x`` (N, ...) of any layout are uint8, or floats that are finite and lie in [0, 1] (to 1e-3; a reader
    clamps them: :func:`unit_pixels`); else a :class:`DataError` starting with ``where`` and naming ``arg``, the rows
    (``what``: ``image``, ``clip``, ``frame``) holding NaN or infinite values, or the values' range."""
    if x.dtype == torch.uint8:
        return
    if not x.is_floating_point():
        raise DataError(f"{where}: {arg} must be float pixels in [0, 1] or uint8 0..255, got dtype {x.dtype}")
    bad = (~torch.isfinite(x.reshape(len(x), -1))).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise DataError(f"{where}: {arg} holds NaN or infinite values in {len(bad)} {what}(s): rows {rows_named(bad)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise DataError(f"{where}: float {arg} must lie in [0, 1], got values in [{lo:g}, {hi:g}] (divide 0-255 pixels "
                        f"by 255, or pass uint8; normalised {what}s: undo the normalisation, the loader computes its own)")


def unit_pixels(x: Tensor) -> Tensor:
    """Pixels :func:`check_unit_range` passed (any layout), as a new float32 tensor in [0, 1]: uint8 divided by 255,
    floats clamped (values within its 1e-3 of the range)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float().clamp(0.0, 1.0)


def waveforms(where: str, arg: str, a: Tensor) -> Tensor:
    """Mono waveforms ``a`` (N, T) of float amplitudes in [-1, 1] as a new float32 tensor. A :class:`DataError` starting
    with ``where`` and naming ``arg`` for another shape (several channels: averaged by ``.mean(1)``), integer PCM (the
    scaling named) or NaN/infinite samples; waveforms reaching beyond [-1, 1] are kept, named in a warning."""
    if a.dim() != 2 or len(a) == 0 or a.shape[1] == 0:
        more = f"; several channels (N, C, T): {arg}.mean(1) averages them to mono" if a.dim() == 3 else ""
        raise DataError(f"{where}: {arg} must be mono waveforms (N, T) with N, T >= 1, got shape {tuple(a.shape)}{more}")
    if not a.is_floating_point():
        raise DataError(f"{where}: {arg} must be float waveforms with amplitudes in [-1, 1], got dtype {a.dtype} "
                        "(int16 PCM: pcm.float() / 32768; uint8 PCM: (pcm.float() - 128) / 128)")
    bad = (~torch.isfinite(a)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise DataError(f"{where}: {arg} holds NaN or infinite samples in {len(bad)} clip(s): rows {rows_named(bad)}")
    loud = (a.abs() > 1.0 + 1e-3).any(dim=1).nonzero().flatten().tolist()
    if loud:
        log.warning("%s: %d waveform(s) of %s of %d reach beyond [-1, 1] (up to %.4g; rows %s), kept as they are; integer "
                    "PCM made float without scaling? (int16: pcm.float() / 32768)", where, len(loud), arg, len(a),
                    float(a.abs().max()), rows_named(loud))
    return a.float().clone()


__all__ = ["GIVEN_SPLIT", "a_tensor", "built_in_refusal", "check_unit_range", "checked_splits", "choices_words", "image_pixels", "registered_meta", "rows_named", "unit_pixels", "waveforms"]
