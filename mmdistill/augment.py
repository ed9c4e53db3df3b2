"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021).

Colour (brightness, saturation, contrast), crop (translation), cutout, flip, scale and rotate, all
differentiable with respect to the input. *Siamese*: a call with the same ``seed`` applies the same
transform, so the real and the synthetic batch of a matching step are augmented alike whatever their sizes.

As in the reference (``aug_mode='S'``) each call picks ONE op of the strategy at random. Parameters are
drawn per *group*: ``groups`` (N,) assigns each sample to one of ``num_groups`` independent draws, so
distribution matching can batch all classes (group = class) and evaluation can draw per sample
(group = sample index). ``groups=None`` uses one draw for the whole batch. Randomness comes only from
``seed`` through a local generator; torch's global RNG is never touched.

Tensors are (N, C, H, W) images or (N, C, T, H, W) clips; a clip's frames share their clip's draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.errors import ConfigError


@dataclass(frozen=True)
class DSAParams:
    """The reference's ``ParamDiffAug`` defaults (scale ratio, degrees, crop/cutout fractions, colour)."""

    scale: float = 1.2
    rotate: float = 15.0
    crop: float = 0.125
    cutout: float = 0.5
    flip: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


class _Draw:
    """Per-group random numbers from one generator, expanded to per-sample tensors on ``device``."""

    def __init__(self, gen: torch.Generator, groups: Tensor, num_groups: int, device: torch.device, dtype: torch.dtype) -> None:
        self.gen, self.groups, self.num_groups, self.device, self.dtype = gen, groups, num_groups, device, dtype

    def uniform(self) -> Tensor:
        """(N,) values in [0, 1), one per group."""
        return torch.rand(self.num_groups, generator=self.gen).to(self.device, self.dtype)[self.groups]

    def integers(self, low: int, high: int) -> Tensor:
        """(N,) integers in [low, high), one per group."""
        return torch.randint(low, high, (self.num_groups,), generator=self.gen).to(self.device)[self.groups]


def _brightness(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    return x + (d.uniform() - 0.5).view(-1, 1, 1, 1) * p.brightness


def _saturation(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (d.uniform() * p.saturation).view(-1, 1, 1, 1) + mean


def _contrast(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (d.uniform() + p.contrast).view(-1, 1, 1, 1) + mean


def _crop(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Translate by up to ``crop`` of the size, filling with zeros (reference: pad 1, clamp, gather)."""
    n, _, h, w = x.shape
    sh, sw = int(h * p.crop + 0.5), int(w * p.crop + 0.5)
    tx, ty = d.integers(-sh, sh + 1), d.integers(-sw, sw + 1)
    rows = torch.clamp(torch.arange(h, device=x.device)[None, :] + tx[:, None] + 1, 0, h + 1)  # (N, H)
    cols = torch.clamp(torch.arange(w, device=x.device)[None, :] + ty[:, None] + 1, 0, w + 1)  # (N, W)
    padded = F.pad(x, [1, 1, 1, 1])
    b = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Zero a square of ``cutout`` of the size centred at a random position."""
    _, _, h, w = x.shape
    ch, cw = int(h * p.cutout + 0.5), int(w * p.cutout + 0.5)
    ox, oy = d.integers(0, h + (1 - ch % 2)), d.integers(0, w + (1 - cw % 2))
    r = torch.arange(h, device=x.device)[None, :]
    c = torch.arange(w, device=x.device)[None, :]
    r0, c0 = (ox - ch // 2)[:, None], (oy - cw // 2)[:, None]
    in_r = (r >= r0.clamp(min=0)) & (r <= (r0 + ch - 1).clamp(max=h - 1))  # (N, H)
    in_c = (c >= c0.clamp(min=0)) & (c <= (c0 + cw - 1).clamp(max=w - 1))  # (N, W)
    mask = 1.0 - (in_r[:, :, None] & in_c[:, None, :]).to(x.dtype)
    return x * mask[:, None]


def _flip(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    return torch.where((d.uniform() < p.flip).view(-1, 1, 1, 1), x.flip(3), x)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def _scale(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    lo, hi = 1.0 / p.scale, p.scale
    sx, sy = d.uniform() * (hi - lo) + lo, d.uniform() * (hi - lo) + lo
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, zero], 1), torch.stack([zero, sy, zero], 1)], 1)
    return _affine(x, theta)


def _rotate(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    a = (d.uniform() - 0.5) * 2 * p.rotate / 180.0 * math.pi
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([a.cos(), -a.sin(), zero], 1), torch.stack([a.sin(), a.cos(), zero], 1)], 1)
    return _affine(x, theta)


Op = Callable[[Tensor, _Draw, DSAParams], Tensor]
OPS: dict[str, list[Op]] = {
    "color": [_brightness, _saturation, _contrast],
    "crop": [_crop],
    "cutout": [_cutout],
    "flip": [_flip],
    "scale": [_scale],
    "rotate": [_rotate],
}


class DSA:
    """Differentiable siamese augmentation.

    Args:
        strategy: ops joined by ``_`` (default ``color_crop_cutout_flip_scale_rotate``); ``none`` or ``""``
            is the identity.
        params: magnitudes (:class:`DSAParams`, the paper's defaults).
        single_op: pick one op per call (the reference's mode ``'S'``); False applies them all in order.
    """

    def __init__(self, strategy: str = "color_crop_cutout_flip_scale_rotate", params: DSAParams | None = None, single_op: bool = True) -> None:
        names = [] if strategy.lower() in ("", "none") else strategy.split("_")
        unknown = [n for n in names if n not in OPS]
        if unknown:
            raise ConfigError(f"unknown DSA op(s) {unknown} in strategy {strategy!r}; known ops: {', '.join(OPS)}")
        self.strategy, self.ops, self.params, self.single_op = strategy, names, params or DSAParams(), single_op

    def __repr__(self) -> str:
        return f"DSA({self.strategy!r}, single_op={self.single_op})"

    def __call__(self, x: Tensor, seed: int, groups: Tensor | None = None, num_groups: int = 1) -> Tensor:
        """Augment ``x`` (N, C, H, W) or (N, C, T, H, W); same ``seed`` -> same transform."""
        if not self.ops:
            return x
        if x.dim() == 5:
            n, c, t, h, w = x.shape
            frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
            g = self._groups(groups, num_groups, n, x.device).repeat_interleave(t)
            out = self._apply(frames, seed, g, num_groups if groups is not None else 1)
            return out.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4)
        if x.dim() != 4:
            raise ConfigError(f"DSA takes (N, C, H, W) or (N, C, T, H, W) tensors, got shape {tuple(x.shape)}")
        g = self._groups(groups, num_groups, x.shape[0], x.device)
        return self._apply(x, seed, g, num_groups if groups is not None else 1)

    @staticmethod
    def _groups(groups: Tensor | None, num_groups: int, n: int, device: torch.device) -> Tensor:
        if groups is None:
            return torch.zeros(n, dtype=torch.long, device=device)
        if groups.shape != (n,):
            raise ConfigError(f"DSA groups must have shape ({n},), one id per sample, got {tuple(groups.shape)}")
        if n and (int(groups.min()) < 0 or int(groups.max()) >= num_groups):
            raise ConfigError(f"DSA groups must lie in [0, num_groups={num_groups}), got range [{int(groups.min())}, {int(groups.max())}]")
        return groups.to(device=device, dtype=torch.long)

    def _apply(self, x: Tensor, seed: int, groups: Tensor, num_groups: int) -> Tensor:
        gen = torch.Generator().manual_seed(int(seed) % (2**63))
        draw = _Draw(gen, groups, num_groups, x.device, x.dtype)
        names = [self.ops[int(torch.randint(len(self.ops), (1,), generator=gen))]] if self.single_op else self.ops
        for name in names:
            for op in OPS[name]:
                x = op(x, draw, self.params)
        return x.contiguous()
