"""Plots a person would rather look at than read: the loss curve and the accuracy comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdistill.io import atomic_path


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it as PNG atomically, close it."""
    plt = pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_loss_curve(records: list[dict[str, Any]], path: str | Path, title: str = "matching loss",
                    selection: dict[str, Any] | None = None) -> Path | None:
    """Matching loss against iteration from metrics.jsonl records; None when there is nothing to plot. With a
    run's ``selection`` (the manifest's block), its held-out scores on a second axis and the kept iteration marked."""
    pts = [(r["it"], r["loss"]) for r in records if "it" in r and isinstance(r.get("loss"), (int, float))]
    if not pts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label="loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if min(p[1] for p in pts) > 0:
        ax.set_yscale("log")
    if selection and selection.get("scores"):
        right = ax.twinx()
        its, scores = zip(*selection["scores"])
        right.plot(its, scores, "o-", color="tab:orange", ms=3, lw=1, label=selection.get("metric", "selection score"))
        right.axvline(selection["selected_iteration"], color="tab:orange", ls="--", lw=0.8)
        right.set_ylabel(str(selection.get("metric", "selection score")).split(" (")[0], color="tab:orange")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_accuracy_bars(metrics: dict[str, dict[str, Any]], path: str | Path, title: str, ylabel: str = "test accuracy (%)") -> Path | None:
    """Bar chart of mean ± std of each evaluated set's metric (values in [0, 1], drawn in percent)."""
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, dict) and "mean" in v]
    if not rows:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=110)
    names = [k.replace("_", " ") for k, _ in rows]
    means = [100 * v["mean"] for _, v in rows]
    stds = [100 * v["std"] for _, v in rows]
    palette = ["#3b7dd8", "#9aa5b1", "#c9a227", "#6aa84f", "#b45f06", "#8e7cc3", "#45818e", "#cc4125"]
    bars = ax.bar(names, means, yerr=stds, capsize=4, color=[palette[i % len(palette)] for i in range(len(rows))])
    for b, m in zip(bars, means):
        ax.text(b.get_x() + b.get_width() / 2, m + 1, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel(ylabel)
    if len(rows) > 4:
        ax.tick_params(axis="x", labelrotation=25, labelsize=8)
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)
