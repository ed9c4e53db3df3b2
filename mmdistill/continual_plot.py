"""The class-incremental protocol's picture (:mod:`mmdistill.continual`): test accuracy on the classes seen against
their number, one line per memory (distilled, random real, herding), as DM's continual-learning figure draws it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from mmdistill.plots import SMALLEST_FONT_PT, pyplot, save_figure
from mmdistill.series_style import line_style

#: the memories drawn, in the order of the evaluation tables (the distilled set first: its style is series 0's)
DRAWN = ("distilled", "random_real", "herding")


def plot_continual(steps: Sequence[dict[str, Any]], path: str | Path, title: str) -> Path | None:
    """Accuracy (%) against classes seen: each memory a line of its own colour, marker and dash pattern (told apart in
    grey print), ± std as error bars, every evaluation run a small dot; chance (1 / classes seen) dotted. ``steps``:
    the records of :class:`~mmdistill.continual.ContinualResult` (``classes_seen``, ``accuracy[memory]``: ``mean``,
    ``std``, ``runs`` in [0, 1]). None when there is no step to draw."""
    if not steps:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.8), dpi=110)
    seen = [len(s["classes_seen"]) for s in steps]
    for j, name in enumerate(DRAWN):
        rows = [s["accuracy"].get(name) for s in steps]
        if any(r is None for r in rows):
            continue
        style = line_style(j)
        means = [100 * float(r["mean"]) for r in rows]
        stds = [100 * float(r["std"]) for r in rows]
        offset = (j - 1) * 0.015 * (seen[-1] - seen[0] if len(seen) > 1 else 1)  # the error bars of near points apart
        xs = [x + offset for x in seen]
        ax.errorbar(xs, means, yerr=stds, capsize=3, lw=1.4, markersize=5, label=name.replace("_", " "), **style)
        for x, r in zip(xs, rows):
            runs = [100 * float(v) for v in r.get("runs") or []]
            ax.scatter([x] * len(runs), runs, s=6, color=style["color"], alpha=0.5, zorder=3)
    ax.plot(seen, [100 / k for k in seen], color="grey", ls=(0, (1, 4)), lw=1, label="chance")
    ax.set_xticks(seen)
    ax.set_xlabel("classes seen")
    ax.set_ylabel("test accuracy on the classes seen (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=SMALLEST_FONT_PT, frameon=False, loc="lower left")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


__all__ = ["plot_continual"]
