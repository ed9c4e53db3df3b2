"""The figure of benchmarks/nas_proxy.py: each proxy's accuracy against the whole split's, one point per candidate,
one panel per proxy, its Spearman rank correlation and the candidate it picks in the panel's title."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdistill.plots import pyplot, save_figure

PROXIES = ("distilled", "random_real")


def plot_ranking(records: list[dict[str, Any]], summary: dict[str, Any], path: Path, title: str) -> Path:
    """Write the scatter of ``records`` (each ``{"candidate", "distilled": {"mean"}, "random_real": {...},
    "whole": {...}}``, accuracies as fractions, drawn in %) to the PNG ``path``; the candidate each proxy picks is
    ringed (``summary[proxy]["picked"]``), the best on the whole split starred. ``summary[proxy]["spearman"]`` (None:
    undefined) heads each panel."""
    fig, axes = pyplot().subplots(1, len(PROXIES), figsize=(5.2 * len(PROXIES), 4.6), squeeze=False)
    whole = [100 * r["whole"]["mean"] for r in records]
    best = max(range(len(records)), key=lambda i: whole[i])
    for ax, proxy in zip(axes[0], PROXIES):
        scores = [100 * r[proxy]["mean"] for r in records]
        pick = [r["candidate"] for r in records].index(summary[proxy]["picked"])  # summarise's pick, not a second max
        rho = summary[proxy]["spearman"]
        ax.scatter(scores, whole, s=18, alpha=0.7)
        ax.scatter([scores[pick]], [whole[pick]], s=120, facecolors="none", edgecolors="tab:red", label="picked by the proxy")
        ax.scatter([scores[best]], [whole[best]], s=90, marker="*", color="tab:green", label="best on the whole split")
        ax.set_xlabel(f"accuracy trained on {proxy.replace('_', ' ')} (%)")
        ax.set_ylabel("accuracy trained on the whole split (%)")
        ax.set_title(f"{proxy.replace('_', ' ')}: Spearman {'undefined' if rho is None else f'{rho:.3f}'}, "
                     f"{len(records)} candidates\npicks {records[pick]['candidate']} ({whole[pick]:.2f} % whole)", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
