"""The membership check's picture (:mod:`mmdistill.membership`): ROC curves of each attack on log-log axes, as
Carlini et al. draw them (the low-FPR corner, where confident member guesses show, is the left of the plot), one
line per target model (distilled, random real, whole training split) told apart by marker and dash as well as colour."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mmdistill.plots import SMALLEST_FONT_PT, pyplot, save_figure
from mmdistill.series_style import line_style

TITLES = {"loss": "loss attack (Yeom et al.)", "lira_offline": "offline LiRA (Carlini et al.)"}


def plot_membership(roc: Mapping[str, Any], path: str | Path, title: str) -> Path:
    """One panel per attack: TPR against FPR, both on log axes from 1 / non-members to 1, each model's curve averaged
    over its runs (``roc``: :attr:`~mmdistill.membership.MembershipResult.roc`: ``fpr`` (G,) and ``roc[model][attack]``
    (G,) TPRs), chance (TPR = FPR) dotted; a TPR of 0 is drawn at the axis floor."""
    plt = pyplot()
    fpr = [float(v) for v in roc["fpr"]]
    floor = fpr[0] / 2
    models = [m for m in roc if m != "fpr"]
    attacks = list(roc[models[0]]) if models else []
    fig, axes = plt.subplots(1, max(1, len(attacks)), figsize=(4.2 * max(1, len(attacks)), 4.0), dpi=110, squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        for j, model in enumerate(models):
            tpr = [max(float(v), floor) for v in roc[model][attack]]
            style = line_style(j)
            ax.plot(fpr, tpr, lw=1.4, markersize=4, markevery=max(1, len(fpr) // 8), label=model.replace("_", " "), **style)
        ax.plot([floor, 1], [floor, 1], color="grey", ls=(0, (1, 4)), lw=1, label="chance")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(fpr[0], 1)
        ax.set_ylim(floor, 1.05)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_title(TITLES.get(attack, attack), fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=SMALLEST_FONT_PT, frameon=False, loc="lower right")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


__all__ = ["plot_membership"]
