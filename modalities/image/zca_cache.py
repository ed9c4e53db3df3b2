"""The ZCA fit of a training split, kept in the cache so a second load of the same data reads it instead of fitting again.

:func:`fit_zca` sums a D x D covariance over the whole training split and eigendecomposes it: for CIFAR (N = 50,000,
D = 3,072) about a minute on one core, at every ``run``, ``eval``, ``import`` and ``experts`` of a ``zca=true`` recipe.
The fit depends only on the training pixels and ``eps``, so :func:`cached_fit` keeps it in
``<cache>/zca/<dataset>-<key>.safetensors`` (:func:`mmdistill.cache_dir.cache_root`; ``mmdistill cache`` lists and
clears the ``zca`` kind), the key a SHA-256 of the pixels, their shape, ``eps`` and :data:`FORMAT`.

The pixels are hashed rounded to 2^-16 (a [0, 1] pixel): a loader normalises with statistics summed in floating point, and
taking them back to pixels may differ in the last bits with the thread count; the same images must find their fit. An
entry is trusted only when its metadata name this key and its tensors' SHA-256 matches the one written beside them; a
damaged, truncated or foreign entry is fitted again (a warning) and replaced. A cache that cannot be written (read-only,
full, no cache folder) costs only the time: the fit is used, a warning says so.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import torch
from torch import Tensor

from mmdistill.buffer import content_digest
from mmdistill.cache_dir import cache_root
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.io import load_tensors_with_metadata, save_tensors
from .zca import ZCAWhitening, fit_zca

log = logging.getLogger(__name__)

#: the cache entry's format (a change of the fit or its storage changes every key)
FORMAT = "mmdistill.zca-fit/2"
#: rows hashed at a time (bounds the extra memory of the rounded copy)
_ROWS = 4096


def pixels_key(pixels: Tensor, eps: float) -> str:
    """24 hex digits of a SHA-256 over :data:`FORMAT`, ``eps``, the shape of ``pixels`` (N, C, H, W) and its values
    rounded to 2^-16, hashed in blocks of rows."""
    h = hashlib.sha256(f"{FORMAT}|eps {float(eps)!r}|shape {list(pixels.shape)}|".encode())
    flat = pixels.detach().cpu().reshape(pixels.shape[0], -1)
    for start in range(0, flat.shape[0], _ROWS):
        h.update((flat[start:start + _ROWS].float() * 65536.0).round().to(torch.int32).numpy().tobytes())  # x 2^16: exact in float32
    return h.hexdigest()[:24]


def _tensors_digest(tensors: dict[str, Tensor]) -> str:
    """The entry's damage check: :func:`mmdistill.buffer.content_digest` of its tensors by name, in sorted order."""
    return content_digest(*[part for name in sorted(tensors) for part in (name, tensors[name])])


def cache_file(dataset: str, key: str) -> Path:
    """``<cache>/zca/<dataset>-<key>.safetensors``; the dataset's name only makes the folder readable."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(dataset).lower()).strip("-")[:40] or "images"
    return cache_root() / "zca" / f"{slug}-{key}.safetensors"


def _read(path: Path, key: str, eps: float, features: int) -> tuple[ZCAWhitening | None, str]:
    """The fit in ``path`` and '', or None and why it is not usable."""
    try:
        tensors, meta = load_tensors_with_metadata(path)
        if meta.get("format") != FORMAT or meta.get("key") != key:
            return None, f"it is the entry of other data or another format ({meta.get('format')!r}, key {meta.get('key')!r})"
        if meta.get("tensors_sha256") != _tensors_digest(tensors):
            return None, "its tensors do not match the SHA-256 written with them (a damaged file)"
        fit = ZCAWhitening.from_tensors(tensors, float(meta.get("eps", "nan")), str(path))
    except (ArtifactError, ValueError) as exc:
        return None, str(exc)
    if fit.features != features or fit.eps != float(eps):
        return None, f"it fits {fit.features} values per sample at eps {fit.eps}; expected {features} at eps {eps}"
    return fit, ""


def cached_fit(pixels: Tensor, eps: float, dataset: str) -> ZCAWhitening:
    """:func:`fit_zca` of the training ``pixels`` (N, C, H, W), read from the cache when this data's fit is there (see the
    module), else fitted and written there."""
    key = pixels_key(pixels, eps)
    try:
        path = cache_file(dataset, key)
    except ConfigError as exc:  # no cache folder at all (no home, nothing set): fit, as a run without a cache would
        log.warning("ZCA whitening of %s is fitted without caching it (%s)", dataset, exc)
        return fit_zca(pixels, eps)
    features = int(pixels[0].numel())
    if path.is_file():
        fit, why = _read(path, key, eps, features)
        if fit is not None:
            log.info("ZCA whitening of %s read from the cache (%s)", dataset, path)
            return fit
        log.warning("ZCA cache entry %s is not usable (%s); fitting the whitening again and replacing it", path, why)
    log.info("fitting the ZCA whitening of %s (%d samples of %d values; cached in %s for the next load)", dataset,
             int(pixels.shape[0]), features, path.parent)
    fit = fit_zca(pixels, eps)
    tensors = fit.tensors()
    meta = {"format": FORMAT, "key": key, "eps": repr(float(eps)), "dataset": str(dataset), "samples": str(int(pixels.shape[0])),
            "tensors_sha256": _tensors_digest(tensors)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, tensors, metadata=meta)
    except OSError as exc:  # as the other caches: a warning, never the run's end (the fit is in hand)
        log.warning("ZCA cache %s cannot be written (%s); the whitening is used without caching it (the next load fits "
                    "it again; set MMDISTILL_CACHE to a writable folder)", path, exc.strerror or exc)
    return fit


__all__ = ["FORMAT", "cache_file", "cached_fit", "pixels_key"]
