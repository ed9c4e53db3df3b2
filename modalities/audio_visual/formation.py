"""Multi-formation: one stored sample holds ``factor x factor`` downscaled samples (IDC; AVDD's ``--idm_aug``).

A stored tensor (K, C, H, W) is cut into ``factor x factor`` tiles of (H / factor, W / factor); each tile is
upsampled (bilinear) back to (H, W), giving ``factor**2 * K`` samples, tile by tile: for a factor of 2 the
top-left tiles of all K samples, then the bottom-left, the top-right and the bottom-right ones (the reference's
``number_sign_augment`` order, columns outer, rows inner), with the labels repeated in the same order
(``labels.repeat(factor**2)``). :func:`tile` is the inverse used to initialise: ``factor**2 * K`` real samples
in that order, downscaled into the tiles of K stored ones. The storage budget (K per class) is unchanged; the
learner trains on four times as many (smaller-detail) samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.errors import ConfigError


def _tiles(height: int, width: int, factor: int) -> list[tuple[slice, slice]]:
    h, w = height // factor, width // factor
    return [(slice(i * h, (i + 1) * h), slice(j * w, (j + 1) * w)) for j in range(factor) for i in range(factor)]


def check_divisible(shape: tuple[int, ...], factor: int, what: str) -> None:
    """ConfigError unless the last two sizes of ``shape`` divide by ``factor``."""
    if factor > 1 and (shape[-2] % factor or shape[-1] % factor):
        raise ConfigError(f"multi_formation={factor}: the {what} ({shape[-2]} x {shape[-1]}) must divide by {factor} on both sides")


def untile(stored: Tensor, factor: int) -> Tensor:
    """(K, C, H, W) stored samples -> (factor**2 * K, C, H, W) decoded ones (differentiable)."""
    if factor == 1:
        return stored
    height, width = stored.shape[-2:]
    return torch.cat([F.interpolate(stored[..., rows, cols], size=(height, width), mode="bilinear", align_corners=False)
                      for rows, cols in _tiles(height, width, factor)])


def tile(samples: Tensor, factor: int) -> Tensor:
    """(factor**2 * K, C, H, W) samples in decoding order -> (K, C, H, W) stored samples whose tiles are the
    samples downscaled (bilinear)."""
    if factor == 1:
        return samples.clone()
    n = samples.shape[0] // factor**2
    height, width = samples.shape[-2:]
    out = samples.new_empty((n, *samples.shape[1:]))
    for k, (rows, cols) in enumerate(_tiles(height, width, factor)):
        out[..., rows, cols] = F.interpolate(samples[k * n:(k + 1) * n], size=(height // factor, width // factor), mode="bilinear",
                                             align_corners=False)
    return out


def repeat_labels(labels: Tensor, factor: int) -> Tensor:
    """The labels of :func:`untile`'s samples."""
    return labels.repeat(factor**2)


__all__ = ["check_divisible", "repeat_labels", "tile", "untile"]
