"""Pictures and files of a distilled image set: a preview grid (PNG) and ImageFolder export (PNGs)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.io import atomic_path


def to_pixels(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Normalised images (N, C, H, W) back to [0, 1] pixels, clamped."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x * s + m).clamp(0.0, 1.0)


def save_preview_grid(
    x: Tensor,
    labels: Tensor,
    classes: list[str],
    path: str | Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    max_per_class: int = 10,
    title: str | None = None,
) -> Path:
    """One row per class (its name on the left), up to ``max_per_class`` images per row; PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = to_pixels(x.detach().float().cpu(), mean, std)
    labels = labels.cpu()
    present = [c for c in range(len(classes)) if (labels == c).any()]
    cols = max(1, min(max_per_class, max(int((labels == c).sum()) for c in present) if present else 1))
    rows = max(1, len(present))
    cell = 0.9 if pixels.shape[-1] <= 32 else 1.3
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell + 1.4, rows * cell + (0.5 if title else 0.1)), squeeze=False, dpi=100)
    for r, c in enumerate(present):
        imgs = pixels[labels == c][:cols]
        for k in range(cols):
            ax = axes[r][k]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if k < len(imgs):
                img = imgs[k].permute(1, 2, 0).numpy()
                if img.shape[2] == 1:
                    ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(img, interpolation="nearest")
        axes[r][0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .")
    return cleaned or "class"


def export_image_folder(
    x: Tensor,
    labels: Tensor,
    classes: list[str],
    out_dir: str | Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> Path:
    """Write ``out_dir/<class>/<index>.png`` (de-normalised, uint8). The tree is built in a temporary
    sibling and renamed into place, so an interrupted export leaves nothing half-written."""
    from PIL import Image

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DataError(f"export target {out_dir} exists and is not empty; choose another --to")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    pixels = (to_pixels(x.detach().float().cpu(), mean, std) * 255.0 + 0.5).to(torch.uint8)
    names = [_safe_name(c) for c in classes]
    if len(set(names)) != len(names):
        names = [f"{i:03d}_{n}" for i, n in enumerate(names)]
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for i, (img, label) in enumerate(zip(pixels, labels.tolist())):
            folder = tmp / names[label]
            folder.mkdir(exist_ok=True)
            arr = img.permute(1, 2, 0).numpy()
            Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr)).save(folder / f"{i:05d}.png")
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
