"""Walk 54J: the loss and accuracy plots a card embeds drew their legends, a log axis's minor ticks, the bar values of a
cross-architecture chart and the chance line's name at 7-8 pt; they are plots.SMALLEST_FONT_PT points (the previews'
artifacts.PREVIEW_FONT_PT), none over another."""

from __future__ import annotations

import math


import mmdistill.plots as plots
from figure_checks import apart, text_boxes
from mmdistill.plots import SMALLEST_FONT_PT


def _apart(fig, texts) -> bool:
    return apart(text_boxes(fig, texts))


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


def test_memorisation_plot_text_is_readable_inside_the_figure_and_the_legend_clear_of_the_bars(tmp_path, drawn):
    from types import SimpleNamespace

    import torch

    from mmdistill import memorisation

    g = torch.Generator().manual_seed(0)
    space = {"distances": torch.rand(40, generator=g).tolist(), "real_distances": (torch.rand(200, generator=g) + 0.3).tolist()}
    pictures = lambda idx: torch.rand(len(idx), 3, 8, 8)  # noqa: E731
    block = {"input": space, "feature": space, "input_space": "flattened model inputs", "feature_space": "a ConvNet's features",
             "closest": [{"synthetic": i, "real_pool_index": i, "distance": 0.123456 + i} for i in range(8)]}
    memorisation.plot(block, SimpleNamespace(syn_pictures=pictures, real_pictures=pictures), tmp_path / "m.png", "toy")
    fig = drawn[0]
    hist = fig.axes[0]
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    labels = [a.label for ax in fig.axes for a in (ax.xaxis, ax.yaxis) if a.label.get_text()]
    ticks = [t for t in hist.get_xticklabels() + hist.get_yticklabels() if t.get_text()]
    legend = hist.get_legend()
    assert min(t.get_fontsize() for t in titles + labels + ticks + legend.get_texts()) >= SMALLEST_FONT_PT
    assert _apart(fig, [t for t in titles if t.get_text().startswith("d=")])
    renderer = plots._renderer(fig)
    h = fig.canvas.get_width_height()[1]
    assert all(0 <= t.get_window_extent(renderer).y0 and t.get_window_extent(renderer).y1 <= h for t in labels)
    top = max(p.get_height() for p in hist.containers[0])  # the legend above the real distances' tallest bar
    assert legend.get_window_extent(renderer).y0 >= hist.transData.transform((0, top))[1]
