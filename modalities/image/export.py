"""Pictures and files of a distilled image set: a preview grid (PNG) and ImageFolder export (PNGs, with the class
folders' ``classes.json`` index of :mod:`modalities.artifacts`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.plots import save_figure

from ..artifacts import check_labels, class_grid, export_folder_names, new_tree, warn_absent_classes, write_class_index
from .datasets import denormalize

log = logging.getLogger(__name__)


def to_pixels(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Normalised images (N, C, H, W) back to [0, 1] pixels, clamped (non-finite values become 0)."""
    return torch.nan_to_num(denormalize(x, mean, std), nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)


def clamped_share(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> float:
    """The share (0-1) of the values of normalised images ``x`` (N, C, H, W) that de-normalise outside [0, 1] or to a
    non-finite number: what an 8-bit export clamps."""
    raw = denormalize(x, mean, std)
    return float(((raw < 0) | (raw > 1) | ~torch.isfinite(raw)).float().mean()) if raw.numel() else 0.0


def _check(x: Tensor, labels: Tensor, classes: list[str], mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """DataError unless x is (N, C, H, W) with C in (1, 3), labels (N,) in [0, len(classes)), mean/std per channel."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(x.shape)}")
    check_labels(labels, len(x), classes)
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise DataError(f"mean {tuple(mean)} and std {tuple(std)} need one value per channel ({x.shape[1]} channels)")


#: images per class row in the preview (its alt text, the adapter's preview_words, says the same)
PREVIEW_PER_CLASS = 10


def save_preview_grid(
    x: Tensor,
    labels: Tensor,
    classes: list[str],
    path: str | Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    max_per_class: int = PREVIEW_PER_CLASS,
    title: str | None = None,
) -> Path:
    """Write a PNG of ``x`` (N, C, H, W), normalised with per-channel ``mean``/``std`` (in [0, 1] pixel units):
    one row per class present in ``labels`` (N,), its name at the row start, up to ``max_per_class`` images
    per row, de-normalised and clamped to [0, 1]. Each image is drawn in a cell of about 90x90 px with
    nearest-neighbour upscaling (an 8x8 digit stays crisp); grayscale uses the gray colour map. The file is
    written to a temporary sibling and renamed into place. Returns ``path``."""
    labels = labels.detach().cpu().long()
    _check(x, labels, classes, mean, std)
    pixels = to_pixels(x.detach().float().cpu(), mean, std)
    cell = 0.9 if pixels.shape[-1] <= 32 else 1.3
    fig, rows = class_grid(labels, classes, max_per_class=max_per_class, cell=(cell, cell), title=title)
    for axes, indices in rows:
        for ax, i in zip(axes, indices):
            img = pixels[i].permute(1, 2, 0).numpy()
            if img.shape[2] == 1:
                ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
    return save_figure(fig, path)


def export_image_folder(
    x: Tensor,
    labels: Tensor,
    classes: list[str],
    out_dir: str | Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> Path:
    """Write ``x`` (N, C, H, W; normalised with per-channel ``mean``/``std``) as an ImageFolder tree
    ``out_dir/<class>/<index:05d>.png``: de-normalised, clamped, 8-bit L or RGB PNGs; ``index`` is the
    sample's position in ``x``. Folder names keep the class names, unicode letters included, with only what
    common file systems refuse replaced (:func:`export_folder_names`); ``classes.json`` maps each folder to its
    class name and label index (:func:`write_class_index`); classes without samples get no folder (the others then
    carry their label index as prefix, with a warning: :func:`warn_absent_classes`). The tree is
    built in a temporary sibling and renamed into place, so an interrupted export
    leaves nothing half-written. Loading it back with ``load_image_dataset("imagefolder", out_dir)``
    numbers classes by sorted folder name. Raises ConfigError (key ``to``) if ``out_dir`` exists and is not empty.
    Returns ``out_dir``."""
    from PIL import Image

    out_dir = Path(out_dir)
    labels = labels.detach().cpu().long()
    _check(x, labels, classes, mean, std)
    outside = clamped_share(x.detach().float().cpu(), mean, std)
    if outside > 0:
        log.warning("%s: %.1f %% of the pixel values lie outside [0, 1] and are clamped to it (8-bit PNGs hold [0, 1] only): "
                    "the exported images are not exactly the set that was evaluated; load the run folder for that", out_dir,
                    100 * outside)
    pixels = (to_pixels(x.detach().float().cpu(), mean, std) * 255.0 + 0.5).to(torch.uint8)
    names = export_folder_names(classes, labels)
    warn_absent_classes(out_dir, classes, labels)
    with new_tree(out_dir) as tmp:
        for i, (img, label) in enumerate(zip(pixels, labels.tolist())):
            folder = tmp / names[label]
            folder.mkdir(exist_ok=True)
            arr = img.permute(1, 2, 0).numpy()
            Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr)).save(folder / f"{i:05d}.png")
        write_class_index(tmp, classes, names, labels)
    return out_dir


__all__ = ["PREVIEW_PER_CLASS", "clamped_share", "export_image_folder", "save_preview_grid", "to_pixels"]
