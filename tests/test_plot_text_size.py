"""Walk 54J: the loss and accuracy plots a card embeds drew their legends, a log axis's minor ticks, the bar values of a
cross-architecture chart and the chance line's name at 7-8 pt; they are plots.SMALLEST_FONT_PT points (the previews'
artifacts.PREVIEW_FONT_PT), none over another."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import mmdistill.plots as plots
from mmdistill.plots import SMALLEST_FONT_PT


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots draw, laid out as save_figure lays them out but not written (closed at the end)."""
    figs = []

    def keep(fig, path, what="text"):
        fig.tight_layout()
        if plots.fit_titles(fig) | plots.fit_axis_labels(fig):
            fig.tight_layout()
        fig.canvas.draw()
        figs.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "save_figure", keep)
    yield figs
    for fig in figs:
        plots.pyplot().close(fig)


def _apart(fig, texts) -> bool:
    renderer = plots._renderer(fig)
    boxes = [t.get_window_extent(renderer) for t in texts if t.get_text() and t.get_visible()]
    return not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_the_modalities_preview_size_is_the_plots_size():
    from mmdistill.modalities.artifacts import PREVIEW_FONT_PT

    assert PREVIEW_FONT_PT == SMALLEST_FONT_PT >= 9


def test_loss_plot_legend_and_log_ticks_are_readable_and_apart(tmp_path, drawn):
    records = [{"it": i, "loss": 1000 * math.exp(-i / 12) + 0.5} for i in range(100)]
    selection = {"scores": [(i, 0.3 + i / 300) for i in range(0, 100, 10)], "metric": "validation accuracy (held out)",
                 "selected_iteration": 60}
    plots.plot_loss_curve(records, tmp_path / "loss.png", "image-dm · toy", selection=selection)
    fig = drawn[0]
    ax = fig.axes[0]
    legend = ax.get_legend().get_texts()
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.yaxis.get_ticklabels(which="both") if t.get_text() and lo <= t.get_position()[1] <= hi]  # drawn
    assert ax.get_yscale() == "log" and len(legend) == 4 and len(ticks) > 4
    assert min(t.get_fontsize() for t in legend + ticks) >= SMALLEST_FONT_PT
    assert _apart(fig, legend + [ax.title]) and _apart(fig, ticks)


def test_cross_architecture_bars_values_legend_and_chance_are_readable_and_apart(drawn):
    names = ["distilled", "random_real", "herding", "random_real (earlier)", "herding (earlier)"]
    sets = {k: {"mean": 0.05 + 0.011 * i, "std": 0.002, "runs": [0.05 + 0.011 * i]} for i, k in enumerate(names)}  # 1 run each
    fig = plots.accuracy_figure(sets, "toy", networks={"convnet": sets, "resnet18": sets}, chance=0.02)
    fig.tight_layout()
    fig.canvas.draw()
    ax = fig.axes[0]
    values = [t for t in ax.texts]
    legend = ax.get_legend().get_texts()
    assert len(values) == 2 * len(names) + 1 and min(t.get_fontsize() for t in values + legend) >= SMALLEST_FONT_PT
    assert _apart(fig, values) and _apart(fig, legend)
    plots.pyplot().close(fig)


def test_single_network_bars_long_names_are_readable_and_apart(drawn):
    names = ["distilled", "random_real", "herding", "random_real (earlier)", "herding (earlier)"]
    fig = plots.accuracy_figure({k: {"mean": 0.4, "std": 0.01, "runs": [0.39, 0.41]} for k in names}, "toy")
    fig.tight_layout()
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticklabels()
    assert min(t.get_fontsize() for t in ticks) >= SMALLEST_FONT_PT and ticks[0].get_rotation() == 25  # slanted: apart
    plots.pyplot().close(fig)
