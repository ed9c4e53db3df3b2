"""Helpers shared by the adapters' previews and exports: label checks, a grid of samples with one row per
class, file-system safe class folder names and an all-or-nothing file tree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mmdistill.errors import DataError
from mmdistill.io import new_tree

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from torch import Tensor


def check_labels(labels: Tensor, n: int, classes: list[str]) -> None:
    """DataError unless ``labels`` is (n,) with values in [0, len(classes))."""
    if labels.dim() != 1 or len(labels) != n:
        raise DataError(f"expected {n} labels of shape (N,), got {tuple(labels.shape)}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise DataError(f"labels range over {int(labels.min())}..{int(labels.max())} but there are {len(classes)} classes")


def class_grid(labels: Tensor, classes: list[str], *, max_per_class: int, cell: tuple[float, float],
               title: str | None = None) -> tuple[Figure, list[tuple[list[Axes], list[int]]]]:
    """A figure with one row per class present in ``labels`` (N,) and up to ``max_per_class`` cells per row,
    each cell ``cell`` = (width, height) inches without ticks or frame, the class name at the row start and
    ``title`` on top. Returns ``(fig, rows)``; ``rows`` lists ``(axes of the row, indices of the row's samples)``
    with at most one index per axis (draw sample ``indices[k]`` on ``axes[k]``)."""
    from mmdistill.plots import pyplot

    plt = pyplot()
    present = [c for c in range(len(classes)) if (labels == c).any()]
    cols = max(1, min(max_per_class, max(int((labels == c).sum()) for c in present) if present else 1))
    fig, axes = plt.subplots(max(1, len(present)), cols, squeeze=False, dpi=100,
                             figsize=(cols * cell[0] + 1.4, max(1, len(present)) * cell[1] + (0.5 if title else 0.1)))
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
    rows = []
    for r, c in enumerate(present):
        axes[r][0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=8)
        rows.append((list(axes[r]), (labels == c).nonzero().flatten()[:cols].tolist()))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, rows


def safe_name(name: str) -> str:
    """``name`` with characters outside ``A-Za-z0-9._ -`` replaced by ``_`` (never empty)."""
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .")
    return cleaned or "class"


def class_folder_names(classes: list[str]) -> list[str]:
    """File-system safe folder names of ``classes``; on a collision (also case-insensitive) every folder
    gets its class index as a prefix (``003_name``)."""
    names = [safe_name(c) for c in classes]
    if len({n.lower() for n in names}) != len(names):
        names = [f"{i:03d}_{n}" for i, n in enumerate(names)]
    return names


__all__ = ["check_labels", "class_folder_names", "class_grid", "new_tree", "safe_name"]
