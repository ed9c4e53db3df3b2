"""Pictures and files of a distilled image-text set.

* :func:`save_pair_preview`: a PNG grid of the distilled images, each with the nearest real caption to its
  distilled text embedding underneath;
* :func:`export_pairs`: ``images/00000.png ...`` (de-normalised 8-bit RGB), ``captions.csv`` (``image,caption``
  with the nearest real caption: the CSV loader reads it back), ``embeddings.safetensors`` (``text`` (K, D)
  and, for LoRS sets, ``similarity`` (K, K); its metadata: :func:`export_metadata`).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.export_record import public_name
from mmdistill.io import save_tensors
from mmdistill.plots import pyplot, save_figure

from ..artifacts import PREVIEW_FONT_PT, fitted_label, new_tree

log = logging.getLogger(__name__)


def to_pixels(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Normalised (K, 3, H, W) images back to [0, 1] pixels (non-finite values become 0, then clamped)."""
    x = images.detach().float().cpu() * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    return torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)


#: a caption under its image in the preview: wrapped at this many characters (a cell is 1.9 in wide), on at most this many
#: lines (the rest cut with an ellipsis)
CAPTION_CHARS, CAPTION_LINES = 24, 4


def save_pair_preview(images: Tensor, captions: list[str], path: str | Path, *, mean: tuple[float, ...], std: tuple[float, ...],
                      title: str | None = None, max_pairs: int = 40, cols: int = 8) -> Path:
    """A grid of up to ``max_pairs`` images (K, 3, H, W), normalised with ``mean``/``std``, each with its
    caption below, :data:`~mmdistill.modalities.artifacts.PREVIEW_FONT_PT` points, wrapped at :data:`CAPTION_CHARS` characters on up to :data:`CAPTION_LINES` lines and cut with an
    ellipsis after them (:func:`~mmdistill.modalities.artifacts.fitted_label`); written atomically. Returns ``path``. Caption characters the installed font
    lacks (CJK with matplotlib's DejaVu Sans) show as boxes: one log line says how many (:func:`save_figure`), instead
    of matplotlib's warning per glyph."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise DataError(f"expected images of shape (K, 3, H, W), got {tuple(images.shape)}")
    if len(captions) != images.shape[0]:
        raise DataError(f"{len(captions)} captions for {images.shape[0]} images")
    k = min(max_pairs, images.shape[0])
    pixels = to_pixels(images[:k], mean, std)
    cols = max(1, min(cols, k))
    rows = max(1, -(-k // cols))
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.9, rows * 2.6 + (0.4 if title else 0)), squeeze=False, dpi=100)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < k:
            ax.imshow(pixels[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xlabel(fitted_label(captions[i], CAPTION_CHARS, CAPTION_LINES), fontsize=PREVIEW_FONT_PT, labelpad=2)
    if title:
        fig.suptitle(title + (f" (first {k} of {images.shape[0]})" if k < images.shape[0] else ""), fontsize=10)
    return save_figure(fig, path, what="caption")


def export_metadata(meta: dict) -> dict[str, str]:
    """What ``embeddings.safetensors`` records of a set with metadata ``meta``, for a training loop of the user's own that
    reads it without mmdistill: the ``text_encoder`` and its ``text_pooling`` (the same encoder pooled otherwise is
    another space; empty for open_clip towers, whose ``encode_text`` pools), the ``image_encoder``, the ``image_size``
    (pixels) and the images' per-channel ``mean`` / ``std`` (JSON lists, of [0, 1] pixels). An encoder read from a local
    folder is named by its last folder (``hf:bert-base-uncased``), not the sender's path (:func:`~mmdistill.export_record.public_name`)."""
    return {"text_encoder": str(public_name(meta.get("text_encoder", ""))), "text_pooling": str(meta.get("text_pooling") or ""),
            "image_encoder": str(public_name(meta.get("image_encoder", ""))), "image_size": str(meta.get("image_size", "")),
            "mean": json.dumps([float(v) for v in meta.get("mean", [])]), "std": json.dumps([float(v) for v in meta.get("std", [])])}


def export_pairs(images: Tensor, captions: list[str], text: Tensor, out_dir: str | Path, *, mean: tuple[float, ...],
                 std: tuple[float, ...], similarity: Tensor | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Write the pairs to ``out_dir`` (module docstring), built in a temporary sibling and renamed into
    place (:func:`~mmdistill.modalities.artifacts.new_tree`). Raises ConfigError (key ``to``) if ``out_dir`` exists and is not
    an empty directory. Returns ``out_dir``."""
    from PIL import Image

    if not (images.shape[0] == len(captions) == text.shape[0]):
        raise DataError(f"{images.shape[0]} images, {len(captions)} captions and {text.shape[0]} text embeddings differ in number")
    with new_tree(out_dir) as tmp:
        (tmp / "images").mkdir()
        pixels = (to_pixels(images, mean, std) * 255.0 + 0.5).to(torch.uint8)
        names = []
        for i, img in enumerate(pixels):
            name = f"images/{i:05d}.png"
            Image.fromarray(np.ascontiguousarray(img.permute(1, 2, 0).numpy())).save(tmp / name)
            names.append(name)
        with open(tmp / "captions.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image", "caption"])
            writer.writerows(zip(names, captions))
        tensors = {"text": text.detach().float().cpu()}
        if similarity is not None:
            tensors["similarity"] = similarity.detach().float().cpu()
        save_tensors(tmp / "embeddings.safetensors", tensors, metadata=metadata)
    return Path(out_dir)


__all__ = ["export_metadata", "export_pairs", "save_pair_preview", "to_pixels"]
