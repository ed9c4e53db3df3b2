"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021).

Colour (brightness, saturation, contrast in sequence), crop (translation), cutout, flip, scale and rotate,
all differentiable with respect to the input. *Siamese*: a call with the same ``seed`` applies the same
transform, so the real and the synthetic batch of one matching step are augmented alike whatever their
sizes (the reference re-seeds torch's RNG and copies sample 0's parameters to the whole batch).

As in the reference (``ParamDiffAug.aug_mode = 'S'``) each call picks ONE op of the strategy at random,
from the same seed. Parameters are drawn per *group*: ``groups`` (N,) assigns each sample to one of
``num_groups`` independent draws, so distribution matching can batch all classes into one call
(group = class id: class c's real and synthetic samples share a draw, other classes get other draws) and
network training can draw per sample (group = sample index). ``groups=None`` uses one draw for the whole
batch. The randomness comes only from ``seed`` through a local CPU generator; torch's global RNG is never
touched.

Tensors are (N, C, H, W) images or (N, C, T, H, W) clips; every frame of a clip gets its clip's draw
(contrast uses the mean over the whole clip, so the clip is transformed as one).

Geometric ops follow the reference: scale and rotate resample with ``affine_grid`` / ``grid_sample``
(bilinear, zero padding, ``align_corners=True``, the behaviour of torch 1.2 the reference was written
for); crop pads one pixel of zeros and gathers a shifted window; cutout zeroes a square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.errors import ConfigError

__all__ = ["DEFAULT_STRATEGY", "DSA", "DSAParams", "OPS", "dsa_strategy_for", "validated_groups"]

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    """Magnitudes of the ops: the reference's ``ParamDiffAug`` defaults.

    Attributes:
        scale: maximum scale ratio r; each axis is scaled by a factor uniform in [1/r, r].
        rotate: maximum rotation in degrees; the angle is uniform in [-rotate, rotate].
        crop: maximum translation as a fraction of the side (0.125: up to 4 px of 32).
        cutout: side of the zeroed square as a fraction of the image side.
        flip: probability of a horizontal flip.
        brightness: ``x + (u - 0.5) * brightness``.
        saturation: ``mean_c + (x - mean_c) * u * saturation`` (mean over channels, per pixel).
        contrast: ``mean + (x - mean) * (u + contrast)`` (mean over all pixels of the sample).
    """

    scale: float = 1.2
    rotate: float = 15.0
    crop: float = 0.125
    cutout: float = 0.5
    flip: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


class _Draw:
    """Per-group random numbers from one generator, expanded to per-frame tensors on ``device``.

    ``groups`` (M,) maps each of the M frames (N samples x T frames) to its group; ``frames`` is T.
    """

    def __init__(self, gen: torch.Generator, groups: Tensor, num_groups: int, frames: int, device: torch.device, dtype: torch.dtype) -> None:
        self.gen, self.groups, self.num_groups, self.frames = gen, groups, num_groups, frames
        self.device, self.dtype = device, dtype

    def uniform(self) -> Tensor:
        """(M,) values in [0, 1), one per group, in ``dtype`` on ``device``."""
        return torch.rand(self.num_groups, generator=self.gen, dtype=torch.float64).to(self.device, self.dtype)[self.groups]

    def bernoulli(self, prob: float) -> Tensor:
        """(M,) booleans, True with probability ``prob``, one per group, on ``device``."""
        return (torch.rand(self.num_groups, generator=self.gen, dtype=torch.float64) < prob).to(self.device)[self.groups]

    def integers(self, low: int, high: int) -> Tensor:
        """(M,) int64 values in [low, high), one per group, on ``device``."""
        return torch.randint(low, high, (self.num_groups,), generator=self.gen).to(self.device)[self.groups]


def _brightness(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    return x + (d.uniform() - 0.5).view(-1, 1, 1, 1) * p.brightness


def _saturation(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (d.uniform() * p.saturation).view(-1, 1, 1, 1) + mean


def _contrast(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (M, 1, 1, 1)
    if d.frames > 1:  # one mean per clip: frames of a clip are consecutive
        mean = mean.view(-1, d.frames).mean(dim=1).repeat_interleave(d.frames).view(-1, 1, 1, 1)
    return (x - mean) * (d.uniform() + p.contrast).view(-1, 1, 1, 1) + mean


def _crop(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Translate by up to ``crop`` of each side, filling with zeros (pad by one pixel, clamp, gather)."""
    m, _, h, w = x.shape
    sh, sw = int(h * p.crop + 0.5), int(w * p.crop + 0.5)
    dy, dx = d.integers(-sh, sh + 1), d.integers(-sw, sw + 1)
    rows = torch.clamp(torch.arange(h, device=x.device)[None, :] + dy[:, None] + 1, 0, h + 1)  # (M, H)
    cols = torch.clamp(torch.arange(w, device=x.device)[None, :] + dx[:, None] + 1, 0, w + 1)  # (M, W)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (M, H+2, W+2, C)
    b = torch.arange(m, device=x.device)[:, None, None]
    return padded[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Zero a square of ``cutout`` of each side centred at a random position (clipped at the border)."""
    _, _, h, w = x.shape
    ch, cw = int(h * p.cutout + 0.5), int(w * p.cutout + 0.5)
    cy, cx = d.integers(0, h + (1 - ch % 2)), d.integers(0, w + (1 - cw % 2))
    r0, c0 = (cy - ch // 2)[:, None], (cx - cw // 2)[:, None]  # (M, 1) first row / column
    r = torch.arange(h, device=x.device)[None, :]
    c = torch.arange(w, device=x.device)[None, :]
    in_r = (r >= r0) & (r < r0 + ch)  # (M, H)
    in_c = (c >= c0) & (c < c0 + cw)  # (M, W)
    keep = ~(in_r[:, :, None] & in_c[:, None, :])  # (M, H, W)
    return x * keep[:, None].to(x.dtype)


def _flip(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Mirror left-right with probability ``flip``."""
    return torch.where(d.bernoulli(p.flip).view(-1, 1, 1, 1), x.flip(3), x)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    """Resample ``x`` (M, C, H, W) on the grid of ``theta`` (M, 2, 3), zeros outside."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _scale(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Scale the sampling grid by factors uniform in [1/scale, scale] per axis (>1 zooms out)."""
    lo, hi = 1.0 / p.scale, p.scale
    sx = d.uniform() * (hi - lo) + lo
    sy = d.uniform() * (hi - lo) + lo
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, zero], 1), torch.stack([zero, sy, zero], 1)], 1)
    return _affine(x, theta)


def _rotate(x: Tensor, d: _Draw, p: DSAParams) -> Tensor:
    """Rotate by an angle uniform in [-rotate, rotate] degrees."""
    a = (d.uniform() - 0.5) * 2 * p.rotate / 180.0 * math.pi
    zero = torch.zeros_like(a)
    cos, sin = a.cos(), a.sin()
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _affine(x, theta)


Op = Callable[[Tensor, _Draw, DSAParams], Tensor]
#: Strategy op name -> the functions it applies in sequence.
OPS: dict[str, tuple[Op, ...]] = {
    "color": (_brightness, _saturation, _contrast),
    "crop": (_crop,),
    "cutout": (_cutout,),
    "flip": (_flip,),
    "scale": (_scale,),
    "rotate": (_rotate,),
}

# The reference's readme: flip "is not good for digit datasets" (MNIST, SVHN); these use the strategy
# without it. Fashion-MNIST and CIFAR keep flip.
_DIGIT_DATASETS = frozenset({"mnist", "svhn", "usps", "digits"})


def dsa_strategy_for(dataset_name: str, strategy: str = DEFAULT_STRATEGY) -> str:
    """The DSA strategy the reference uses for the IMAGE dataset ``dataset_name`` (what the image adapter resolves
    ``dsa_strategy="auto"`` to).

    ``strategy`` without its ``flip`` op for digit datasets (MNIST, SVHN, USPS and scikit-learn's
    ``digits``), as the reference's readme prescribes; ``strategy`` unchanged for every other dataset
    (Fashion-MNIST, CIFAR-10/100, ...). It knows nothing of other modalities: audio, video and audio-visual
    adapters resolve ``"auto"`` otherwise (audio: ``crop_cutout``). For a distilled set, use the op list its
    evaluation recorded (``metrics.protocol.dsa_strategy`` in the manifest) or ``mmdistill.load(path).augmentation()``,
    which builds the augmenter from it, rather than calling this with the set's dataset name.
    """
    key = dataset_name.strip().lower().replace("-", "").replace("_", "")
    if key not in _DIGIT_DATASETS or strategy.strip().lower() in ("", "none"):
        return strategy
    return "_".join(op for op in strategy.split("_") if op != "flip") or "none"


def validated_groups(groups: Tensor | None, num_groups: int, n: int, device: torch.device, who: str = "DSA") -> tuple[Tensor, int]:
    """An augmentation's ``groups`` argument checked: (N,) int64 group ids on ``device`` and the number of draws (one
    draw for the batch when ``groups`` is None); a ConfigError naming ``who`` otherwise."""
    if groups is None:
        return torch.zeros(n, dtype=torch.long, device=device), 1
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1:
        raise ConfigError(f"{who} num_groups must be a positive int, got {num_groups!r}")
    if not isinstance(groups, Tensor) or groups.dtype.is_floating_point or groups.dtype.is_complex or groups.dtype == torch.bool:
        raise ConfigError(f"{who} groups must be an integer tensor of shape ({n},), got {groups!r:.80}")
    if tuple(groups.shape) != (n,):
        raise ConfigError(f"{who} groups must have shape ({n},), one id per sample of x, got {tuple(groups.shape)}")
    if n:
        lo, hi = int(groups.min()), int(groups.max())
        if lo < 0 or hi >= num_groups:
            raise ConfigError(f"{who} groups must lie in [0, num_groups={num_groups}), got values in [{lo}, {hi}]")
    return groups.to(device=device, dtype=torch.long), num_groups


class DSA:
    """Differentiable siamese augmentation.

    Args:
        strategy: op names joined by ``_`` from :data:`OPS` (default ``color_crop_cutout_flip_scale_rotate``);
            ``"none"`` or ``""`` is the identity.
        params: magnitudes (:class:`DSAParams`, the paper's defaults).
        single_op: pick one op per call at random (the reference's mode ``'S'``); False applies every op in
            order (mode ``'M'``).

    Raises:
        ConfigError: ``strategy`` names an unknown op (the message lists the known ones).

    >>> import torch
    >>> aug, x = DSA("crop_flip"), torch.rand(4, 3, 8, 8)
    >>> aug(x, seed=1).shape, torch.equal(aug(x, seed=1), aug(x, seed=1))
    (torch.Size([4, 3, 8, 8]), True)
    """

    def __init__(self, strategy: str = DEFAULT_STRATEGY, params: DSAParams | None = None, single_op: bool = True) -> None:
        if not isinstance(strategy, str):
            raise ConfigError(f"DSA strategy must be a string of op names joined by '_', got {strategy!r}")
        names = [] if strategy.strip().lower() in ("", "none") else strategy.strip().split("_")
        unknown = [n for n in names if n not in OPS]
        if unknown:
            raise ConfigError(
                f"unknown DSA op(s) {', '.join(repr(n) for n in unknown)} in strategy {strategy!r}; "
                f"known ops: {', '.join(OPS)}"
            )
        self.strategy: str = strategy
        self.ops: list[str] = names
        self.params: DSAParams = params if params is not None else DSAParams()
        self.single_op: bool = single_op

    def __repr__(self) -> str:
        return f"DSA({self.strategy!r}, params={self.params!r}, single_op={self.single_op})"

    def __call__(self, x: Tensor, seed: int, groups: Tensor | None = None, num_groups: int = 1) -> Tensor:
        """Augment a batch; the same ``seed`` (and groups) gives the same transform.

        Args:
            x: (N, C, H, W) images or (N, C, T, H, W) clips (a clip's T frames share its draw).
            seed: the only source of randomness (op choice and parameters).
            groups: optional (N,) integer tensor with values in [0, num_groups): samples of a group share
                one draw, groups draw independently. None: one draw for the whole batch.
            num_groups: number of groups (draws); only used with ``groups``.

        Returns:
            Tensor of the shape, dtype and device of ``x``, differentiable w.r.t. ``x``.

        Raises:
            ConfigError: ``x`` is not 4-D or 5-D, or ``groups`` / ``num_groups`` are invalid.
        """
        if x.dim() not in (4, 5):
            raise ConfigError(f"DSA takes x of shape (N, C, H, W) or (N, C, T, H, W), got shape {tuple(x.shape)}")
        n = x.shape[0]
        g, k = self._groups(groups, num_groups, n, x.device)
        if not self.ops or n == 0:
            return x
        if x.dim() == 5:
            _, c, t, h, w = x.shape
            frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)  # clip-major: clip i = rows i*t..i*t+t-1
            out = self._apply(frames, seed, g.repeat_interleave(t), k, t)
            return out.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4).contiguous()
        return self._apply(x, seed, g, k, 1)

    @staticmethod
    def _groups(groups: Tensor | None, num_groups: int, n: int, device: torch.device) -> tuple[Tensor, int]:
        return validated_groups(groups, num_groups, n, device, "DSA")

    def chosen_ops(self, seed: int) -> list[str]:
        """The op names a call with ``seed`` applies, in order (one drawn at random in single-op mode)."""
        return self._pick(_seeded(seed))

    def _pick(self, gen: torch.Generator) -> list[str]:
        if not self.single_op:
            return list(self.ops)
        return [self.ops[int(torch.randint(len(self.ops), (1,), generator=gen))]]

    def _apply(self, x: Tensor, seed: int, groups: Tensor, num_groups: int, frames: int) -> Tensor:
        gen = _seeded(seed)
        names = self._pick(gen)  # the op draw comes first from the seed's stream, the parameters after it
        draw = _Draw(gen, groups, num_groups, frames, x.device, x.dtype)
        for name in names:
            for op in OPS[name]:
                x = op(x, draw, self.params)
        return _standard_strides(x)


def _seeded(seed: int) -> torch.Generator:
    """The local CPU generator of a call with ``seed`` (torch's global RNG is never touched)."""
    return torch.Generator().manual_seed(int(seed) % (2**63))


def _standard_strides(x: Tensor) -> Tensor:
    """``x`` with row-major (NCHW) strides. ``contiguous()`` is not enough: with one channel a permuted
    tensor counts as contiguous while its strides are channels-last, and the convolution after it then
    propagates channels-last through the network, where the CPU's instance norm runs 8x slower (measured on
    digits: 244 ms against 32 ms per 30 training steps)."""
    x = x.contiguous()
    expected, step = [], 1
    for size in reversed(x.shape):
        expected.append(step)
        step *= max(int(size), 1)
    if x.stride() == tuple(reversed(expected)):
        return x
    return x.clone(memory_format=torch.contiguous_format)
