"""Your own images as a distilled image set's inputs: :func:`images_like` reads files (or takes PIL images or pixel
tensors) as the ImageFolder loader read the set's real images -- turned upright by EXIF, 16-bit scaled to 8, converted
to the set's channels, resized to its height and width (PIL bilinear; the whole image, the aspect ratio not kept, or,
for a set loaded with ``resize=center_crop``, scaled to cover it and cut about the centre: ``meta["input_space"]``) --
and normalises them with the set's per-channel mean and std, then, for a ZCA-whitened set (``zca=true``), whitens them
with the set's own fit, so a classifier trained on the set (or on its export) can be tested on images it never saw.

What it needs is the set itself: its sample shape (C, H, W), ``meta["mean"]``/``meta["std"]`` and, when whitened,
its ``fixed.zca_*`` tensors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.inputs_like import as_items, is_pil, source_meta

from .config import RESIZE_MODES
from .decode import _read_images, _unit_pixels, to_8bit, to_channels, to_size, upright
from .folder import REPORT_KINDS

if TYPE_CHECKING:
    from mmdistill.share import DistilledSet
    from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)


def set_shape(source: DistilledSet | SyntheticSet | Mapping[str, Any]) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """The sample shape (C, H, W) and metadata of an image set: ``source`` is a
    :class:`~mmdistill.share.DistilledSet` (``mmdistill.load``), its :class:`~mmdistill.synthetic.SyntheticSet` or
    its ``meta`` (:func:`mmdistill.inputs_like.source_meta`). The shape is ``meta["sample_shape"]``, recorded by the
    loader; a set made before that gives it by its decoded samples (a DistilledSet's ``x``; a synthetic set is decoded
    once: another parameterization stores other shapes).

    Raises:
        ConfigError: ``source`` is none of those. ArtifactError: a metadata mapping without ``sample_shape``, samples
            that are not (C, H, W) with 1 or 3 channels, or no ``mean``/``std`` of one value per channel (not made by
            the image adapter).
    """
    meta = source_meta(source, "images_like", "a distilled image set")
    recorded = meta.get("sample_shape")
    if isinstance(recorded, list) and all(isinstance(d, int) for d in recorded):
        shape = tuple(recorded)
    elif hasattr(source, "inputs") and hasattr(source, "synthetic"):
        shape = tuple(int(d) for d in source.x.shape[1:])  # decoded when it was loaded
    elif hasattr(source, "data"):
        from . import MODALITY

        with torch.no_grad():
            shape = tuple(int(d) for d in MODALITY.decode(source).shape[1:])
    else:
        raise ArtifactError("images_like: the set's metadata has no sample_shape (made before it was recorded): pass the set "
                            "(mmdistill.load) or its synthetic set, whose samples give it")
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ArtifactError(f"images_like: the set's samples are {shape}, not images (C, H, W) of 1 or 3 channels")
    for k in ("mean", "std"):
        if not isinstance(meta.get(k), list) or len(meta[k]) != shape[0]:
            raise ArtifactError(f"images_like: the set's metadata has no {k} of {shape[0]} value(s) (one per channel): it was "
                                "not made by the image adapter")
    return shape, dict(meta)  # type: ignore[return-value]


def images_like(source: DistilledSet | SyntheticSet | Mapping[str, Any], images: Sequence[str | Path | Any] | Tensor) -> Tensor:
    """``images`` as the set's model inputs, (N, C, H, W) float32 -- the shape and space of ``ds.x``: normalised, and
    ZCA-whitened with the set's own fit when the set is (``meta["zca"]``, as its test split was).

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta`` (:func:`set_shape`).
        images: image files (any the loader reads) or PIL images, in one list; or a uint8 tensor (N, C, H, W) of pixels
            0..255 (C 1 or 3, any size: each read as a PIL image); or float pixels in [0, 1] already of the set's shape
            (only normalised); a tensor (N, H, W) is grey, as ``register_tensors`` reads it.

    Files are read exactly as an ImageFolder tree's (:func:`~.decode._read_images`: the same pixels for the same
    file); a set of a built-in dataset resized by ``--image-size`` was resized on tensors (torch's antialiased
    bilinear), so a file of another size is close to, not bit-equal with, what that loader would give. An image of
    another size or mode than the set's is resized or converted, and a warning counts them.

    Raises:
        DataError: a file that cannot be read, naming it (nothing is skipped: a test set must be whole).
        ConfigError: a tensor of another form, an item that is neither a path nor a PIL image.
    """
    (c, h, w), meta = set_shape(source)
    images = as_items(images)  # one path or PIL image: a string iterated would be read letter by letter
    mean, std = (torch.tensor(meta[k], dtype=torch.float32).view(1, -1, 1, 1) for k in ("mean", "std"))
    if isinstance(images, Tensor):
        if images.dim() == 3:  # grey (N, H, W), as register_tensors takes them
            images = images.unsqueeze(1)
        if images.is_floating_point() and tuple(images.shape[1:]) == (c, h, w):
            return _whitened(source, (images.detach().cpu().float() - mean) / std)
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            last = ("; channels-last (N, H, W, C) images: .permute(0, 3, 1, 2)" if images.dim() == 4 and images.shape[1] not in (1, 3)
                    and images.shape[-1] in (1, 3) else "")
            raise ConfigError(f"images_like: a tensor must be uint8 pixels (N, 1 or 3, H, W) or grey (N, H, W), or floats in "
                              f"[0, 1] of the set's shape (N, {c}, {h}, {w}); got {tuple(images.shape)} {images.dtype}{last}")
        images = [_from_pixels(p) for p in images.cpu().numpy()]
    altered: dict[str, list[tuple[Path, str]]] = {}
    resize = str((meta.get("input_space") or {}).get("resize", "squeeze"))  # a set without it was squeezed
    if resize not in RESIZE_MODES:
        raise ArtifactError(f"the set's meta input_space records resize {resize!r}, which this mmdistill does not know "
                            f"(one of {', '.join(RESIZE_MODES)}): its images cannot be prepared alike")
    arrays = [_pil_pixels(im, c, (h, w), altered, resize) if is_pil(im) else
              _read_images([_path(im)], (h, w), c, False, None, altered, resize=resize)[0] for im in images]
    said = {"upscaled": f"image(s) smaller than the set's {w}x{h} (width x height) enlarged to it (bilinear)",
            "channels_converted": f"image(s) converted to the set's {'greyscale' if c == 1 else 'RGB'}"}
    for kind, items in altered.items():
        log.warning("images_like: %d %s, e.g. %s (%s)", len(items), said.get(kind, REPORT_KINDS.get(kind, kind)), items[0][0], items[0][1])
    if not arrays:
        return torch.empty(0, c, h, w)
    return _whitened(source, (_unit_pixels(np.stack(arrays)) - mean) / std)  # the loader's own uint8 -> [0, 1], (N, C, H, W)


def _whitened(source: DistilledSet | SyntheticSet | Mapping[str, Any], x: Tensor) -> Tensor:
    """``x`` (N, C, H, W) normalised, whitened by the set's own ZCA fit when the set was distilled whitened, else as is.
    ConfigError for a whitened set's ``meta`` alone: the fit is in the set's tensors, not in its metadata."""
    from .zca import set_whitening

    if isinstance(source, Mapping):
        if source.get("zca"):
            raise ConfigError("images_like: the set was distilled on ZCA-whitened images and its meta mapping does not hold "
                              "the whitening (the set's tensors do): pass the set (mmdistill.load(RUN)) or its synthetic set")
        return x
    fit = set_whitening(source.synthetic if hasattr(source, "synthetic") else source)
    return x if fit is None else fit.whiten(x)


def _path(item: Any) -> Path:
    if not isinstance(item, (str, Path)):
        raise ConfigError(f"images_like: expected image files (paths) or PIL images, got a {type(item).__name__}")
    return Path(item).expanduser()


def _from_pixels(p: np.ndarray) -> Any:
    """One (C, H, W) uint8 array as a PIL image (``L`` or ``RGB``)."""
    from PIL import Image

    return Image.fromarray(p[0] if p.shape[0] == 1 else p.transpose(1, 2, 0).copy())


def _pil_pixels(img: Any, channels: int, size: tuple[int, int], altered: dict[str, list[tuple[Path, str]]],
                resize: str = "squeeze") -> np.ndarray:
    """An in-memory PIL image as the loader reads a file's (:func:`~.decode._read_images`' steps): upright, 8-bit,
    ``channels``, made ``size`` (H, W) by ``resize`` with PIL's bilinear; (H, W, C) uint8."""
    where = Path(f"<PIL image {img.size[0]}x{img.size[1]} {img.mode}>")
    img, _ = upright(img.copy())
    img = to_size(to_channels(to_8bit(img, where), where, channels, altered), where, size, altered, resize)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


__all__ = ["images_like", "set_shape"]
