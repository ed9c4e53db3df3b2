"""DC's augmentation of the evaluation networks' training batches (Zhao, Mopuri & Bilen, ICLR 2021).

DC's reference code (github.com/VICO-UoE/DatasetCondensation, ``utils.py``) trains the evaluation networks of
some settings on augmented batches: ``augment()`` (lines 365-424) picks, for each sample of a batch, ONE op of the
strategy at random and applies it; ``get_daparam()`` (lines 428-445) chooses the strategy (``crop_scale_rotate`` on
MNIST, ``crop_noise`` for a ConvNetBN evaluation network, none otherwise) with crop 4 px, scale 0.2, rotate 45°,
noise 0.001 (``ipc`` is an argument but unused); ``main.py`` (lines 117-123) then trains 1,000 epochs instead of 300,
and mutes it under DSA (line 113). The ops, per sample, as there:

* ``crop``: the image padded by ``crop`` pixels of each channel's batch mean, then an ``H x W`` window at a row and
  column offset drawn from ``[0, 2 * crop)`` (a shift of ``-crop`` to ``crop - 1`` pixels);
* ``scale``: resized (nearest neighbour, ``F.interpolate``'s default) to ``int(u_h * H) x int(u_w * W)`` with
  ``u`` uniform in ``[1 - scale, 1 + scale]``, centred on a zero canvas, the centre ``H x W`` kept (the reference
  takes both sides from ``H``; equal for its square images);
* ``rotate``: ``scipy.ndimage.rotate`` (cubic spline, the output enlarged, filled with the mean of the channel
  means) by an integer angle drawn from ``[-rotate, rotate)`` degrees, the centre ``H x W`` kept;
* ``noise``: ``x + noise * N(0, 1)`` per pixel.

Unlike DSA (:mod:`mmdistill.augment`) it is not differentiable and runs per sample (rotate on the CPU: scipy is
installed with scikit-learn, a dependency). The
randomness comes only from ``seed``, through a local CPU generator (the reference draws from NumPy's global RNG):
the same seed gives the same batch on any device, and torch's global RNG is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.augment import validated_groups
from mmdistill.errors import ConfigError

__all__ = ["DCAugment", "DCAugmentParams", "DC_OPS", "dc_ops"]

#: the ops a strategy joins with ``_``
DC_OPS = ("crop", "scale", "rotate", "noise")


@dataclass(frozen=True)
class DCAugmentParams:
    """Magnitudes of the ops: the reference's ``get_daparam`` values.

    Attributes:
        crop: padding and maximum shift, in pixels.
        scale: each side is scaled by a factor uniform in ``[1 - scale, 1 + scale]``.
        rotate: the angle is an integer in ``[-rotate, rotate)``, in degrees.
        noise: standard deviation of the added Gaussian noise, in the images' (normalised) units.
    """

    crop: int = 4
    scale: float = 0.2
    rotate: int = 45
    noise: float = 0.001


def dc_ops(strategy: str, key: str | None = None) -> list[str]:
    """The op names of ``strategy`` (``"crop_scale_rotate"``; ``"none"`` or ``""``: no op).

    Raises:
        ConfigError: an unknown op (naming ``key`` and the known ops).
    """
    if not isinstance(strategy, str):
        raise ConfigError(f"DC augmentation strategy must be op names joined by '_', got {strategy!r}", key=key)
    names = [] if strategy.strip().lower() in ("", "none") else strategy.strip().lower().split("_")
    unknown = [n for n in names if n not in DC_OPS]
    if unknown:
        raise ConfigError(f"unknown DC augmentation op(s) {', '.join(repr(n) for n in unknown)} in {strategy!r}; "
                          f"known ops: {', '.join(DC_OPS)} (joined by '_'), or none", key=key)
    return names


def crop_one(img: Tensor, fill: Tensor, crop: int, row: int, col: int) -> Tensor:
    """``img`` (C, H, W) padded by ``crop`` pixels of ``fill`` (C,) per channel, the window at (``row``, ``col``)."""
    c, h, w = img.shape
    canvas = fill.view(c, 1, 1).expand(c, h + 2 * crop, w + 2 * crop).clone()
    canvas[:, crop:crop + h, crop:crop + w] = img
    return canvas[:, row:row + h, col:col + w]


def centre_crop(x: Tensor, h: int, w: int) -> Tensor:
    """The centre ``h x w`` window of ``x`` (..., H', W') with ``H' >= h``, ``W' >= w`` (offsets rounded down)."""
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def centre_on_zeros(x: Tensor, side: int) -> Tensor:
    """``x`` (C, h, w) placed at the centre (offsets rounded down) of a (C, side, side) zero canvas, ``side >= h, w``."""
    h, w = x.shape[-2:]
    top, left = (side - h) // 2, (side - w) // 2
    return F.pad(x, (left, side - w - left, top, side - h - top))


def scale_one(img: Tensor, new_h: int, new_w: int) -> Tensor:
    """``img`` (C, H, W) resized to (``new_h``, ``new_w``) by nearest neighbour, centred on a zero square canvas of
    side ``max(new_h, new_w, H, W)``, its centre (C, H, W) kept."""
    h, w = img.shape[-2:]
    resized = F.interpolate(img[None], size=(new_h, new_w), mode="nearest")[0]
    return centre_crop(centre_on_zeros(resized, max(new_h, new_w, h, w)), h, w)


def rotate_one(img: Tensor, angle: int, fill: float) -> Tensor:
    """``img`` (C, H, W) rotated by ``angle`` degrees with ``scipy.ndimage.rotate`` (cubic spline, the output
    enlarged, ``fill`` outside), its centre (C, H, W) kept; computed on the CPU (float32, float64 kept)."""
    from scipy.ndimage import rotate

    src = img.detach().cpu()
    src = src if src.dtype in (torch.float32, torch.float64) else src.float()
    turned = torch.from_numpy(rotate(src.numpy(), angle=angle, axes=(-2, -1), cval=fill))
    return centre_crop(turned, *img.shape[-2:]).contiguous().to(img.device, img.dtype)


class DCAugment:
    """DC's per-sample augmentation (not differentiable), called as the core calls an augmentation.

    Args:
        strategy: op names from :data:`DC_OPS` joined by ``_`` (``crop_scale_rotate``); ``"none"``: identity.
        params: magnitudes (:class:`DCAugmentParams`, the reference's).

    Raises:
        ConfigError: ``strategy`` names an unknown op.
    """

    def __init__(self, strategy: str, params: DCAugmentParams | None = None) -> None:
        self.ops: list[str] = dc_ops(strategy)
        self.strategy: str = "_".join(self.ops) or "none"
        self.params: DCAugmentParams = params if params is not None else DCAugmentParams()

    def __repr__(self) -> str:
        return f"DCAugment({self.strategy!r}, params={self.params!r})"

    def describe(self) -> dict[str, object]:
        """What the manifest's evaluation protocol records: the strategy and the magnitudes."""
        p = self.params
        return {"strategy": self.strategy, "crop": p.crop, "scale": p.scale, "rotate": p.rotate, "noise": p.noise}

    @torch.no_grad()
    def __call__(self, x: Tensor, seed: int, groups: Tensor | None = None, num_groups: int = 1) -> Tensor:
        """An augmented copy of ``x`` (``x`` is not changed).

        Args:
            x: (N, C, H, W) images.
            seed: the only source of randomness (op choices and parameters).
            groups: optional (N,) integer tensor in ``[0, num_groups)``: the samples of a group share one draw
                (the evaluation gives each sample its own, as the reference does). None: one draw for the batch.
            num_groups: number of draws; only used with ``groups``.

        Returns:
            (N, C, H, W) tensor of ``x``'s dtype and device, without gradient.

        Raises:
            ConfigError: ``x`` is not 4-D, or ``groups`` is invalid.
        """
        if x.dim() != 4:
            raise ConfigError(f"DC's augmentation takes images of shape (N, C, H, W), got shape {tuple(x.shape)}", key="eval_dc_augment")
        n = x.shape[0]
        ids, count = validated_groups(groups, num_groups, n, torch.device("cpu"), "DC augmentation")
        if not self.ops or n == 0:
            return x
        gen = torch.Generator().manual_seed(int(seed) % (2**63))
        draws = [self._draw(gen, x.shape[1:]) for _ in range(count)]
        ids = ids.tolist()
        fill = x.mean(dim=(0, 2, 3))  # (C,): each channel's mean over the batch, as the reference's ``mean``
        return torch.stack([self._apply(x[i], draws[ids[i]], fill) for i in range(n)])

    def _draw(self, gen: torch.Generator, shape: torch.Size) -> tuple:
        """One draw: the op (uniform among the strategy's), then its parameters, in that order from ``gen``."""
        p = self.params
        op = self.ops[int(torch.randint(len(self.ops), (), generator=gen))]
        if op == "crop":
            span = max(2 * p.crop, 1)
            return op, int(torch.randint(span, (), generator=gen)), int(torch.randint(span, (), generator=gen))
        if op == "scale":
            u = torch.rand(2, generator=gen, dtype=torch.float64) * (2 * p.scale) + (1 - p.scale)
            return op, max(1, int(float(u[0]) * shape[1])), max(1, int(float(u[1]) * shape[2]))
        if op == "rotate":
            return op, int(torch.randint(-p.rotate, p.rotate, (), generator=gen)) if p.rotate > 0 else 0
        return op, torch.randn(tuple(shape), generator=gen, dtype=torch.float32)

    def _apply(self, img: Tensor, draw: tuple, fill: Tensor) -> Tensor:
        op = draw[0]
        if op == "crop":
            return crop_one(img, fill, self.params.crop, draw[1], draw[2])
        if op == "scale":
            return scale_one(img, draw[1], draw[2])
        if op == "rotate":
            return rotate_one(img, draw[1], float(fill.double().mean()))
        return img + self.params.noise * draw[1].to(img.device, img.dtype)
