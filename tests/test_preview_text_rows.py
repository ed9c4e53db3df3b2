"""Walk 54J, after 54E's video, image-text and sequences previews: the image and audio class rows (8 pt, a long class
name cut at the figure's left edge), the colour bars of the audio and audio-visual previews (7 pt ticks), the
audio-visual preview's column titles (7 pt, over one another and over the class name) and the graph preview's legend
(7 pt, a long class name squeezing the drawing to a strip) are drawn at artifacts.PREVIEW_FONT_PT points, long names
wrapped and cut with an ellipsis, no label over another and none outside the figure."""

from __future__ import annotations


import pytest
import torch

import mmdistill.plots as plots
from figure_checks import apart, inside, text_boxes
from mmdistill.modalities.artifacts import PREVIEW_FONT_PT

LONG = "Playing the Daf drum with both hands in a crowded room at night"
CLASSES = ["Run", LONG, "Sit", "a_very_long_single_token_class_name_without_spaces"]
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])


def _row_labels(fig):
    return [ax.yaxis.label for ax in fig.axes if ax.get_ylabel()]


def _check_rows(fig):
    rows = _row_labels(fig)
    assert len(rows) == 4 and min(t.get_fontsize() for t in rows) >= PREVIEW_FONT_PT >= 9
    long = rows[1].get_text()
    assert long.endswith("…") and len(long.split("\n")) <= 3 and max(map(len, long.split("\n"))) <= 16
    assert rows[0].get_text() == "Run"
    boxes = text_boxes(fig, rows)
    assert apart(boxes) and inside(fig, boxes)


def test_image_preview_class_rows_are_readable_and_a_long_name_is_wrapped_inside_the_figure(tmp_path, drawn, monkeypatch):
    import mmdistill.modalities.image.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    export.save_preview_grid(torch.rand(8, 3, 8, 8), LABELS, CLASSES, tmp_path / "p.png", mean=(0, 0, 0), std=(1, 1, 1), title="t")
    _check_rows(drawn[0])


def test_audio_preview_class_rows_are_readable_and_a_long_name_is_wrapped_inside_the_figure(tmp_path, drawn, monkeypatch):
    import mmdistill.modalities.audio.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    export.save_fdmfcc_preview(torch.randn(8, 3, 12, 16), LABELS, CLASSES, tmp_path / "p.png", title="t", hop_ms=10)
    _check_rows(drawn[0])


def _tick_labels(fig):
    """The tick labels drawn on ``fig``'s axes and their insets (the colour bars)."""
    axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]
    return [t for ax in axes for t in ax.get_yticklabels() + ax.get_xticklabels() if t.get_text() and t.get_visible()]


def test_audio_colour_bar_ticks_and_channel_names_are_readable_and_apart(tmp_path, drawn, monkeypatch):
    import mmdistill.modalities.audio.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    export.save_fdmfcc_preview(torch.randn(8, 3, 12, 16), LABELS, CLASSES, tmp_path / "p.png", title="t", hop_ms=10)
    fig = drawn[0]
    ticks = _tick_labels(fig)
    texts = ticks + [ax.xaxis.label for ax in fig.axes if ax.get_xlabel()]
    assert {"MFCC", "0"} <= {t.get_text() for t in ticks} and len(ticks) >= 3 + 3 * 2
    assert min(t.get_fontsize() for t in texts) >= PREVIEW_FONT_PT
    assert apart(text_boxes(fig, ticks)) and inside(fig, text_boxes(fig, texts))


def test_audio_visual_preview_rows_titles_and_db_bar_are_readable_and_apart(tmp_path, drawn, monkeypatch):
    from mmdistill.modalities.audio.features import FDMFCCParams
    import mmdistill.modalities.audio_visual.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    meta = {"features": FDMFCCParams(n_mels=16).to_dict(), "audio_mean": -40.0, "audio_std": 10.0, "image_mean": [0.5],
            "image_std": [0.25]}
    export.save_pair_preview(torch.randn(8, 1, 16, 12), torch.randn(8, 1, 8, 8), LABELS, CLASSES, meta, tmp_path / "p.png", title="t")
    fig = drawn[0]
    _check_rows(fig)
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    texts = titles + _row_labels(fig) + _tick_labels(fig)
    assert [t.get_text() for t in titles] == ["frame", "log-mel (dB)"] * 2
    assert min(t.get_fontsize() for t in texts) >= PREVIEW_FONT_PT
    assert apart(text_boxes(fig, texts)) and inside(fig, text_boxes(fig, texts))


@pytest.mark.parametrize("structured", [True, False])
def test_graph_preview_legend_is_readable_a_long_name_cut_and_the_entries_apart(tmp_path, drawn, monkeypatch, structured):
    from types import SimpleNamespace

    import mmdistill.modalities.graph.export as export
    from mmdistill.synthetic import SyntheticSet

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    n = 12
    edges = [(i, i + 1, 0.5) for i in range(n - 1)]
    ei = torch.tensor([[u for u, v, _ in edges] + [v for u, v, _ in edges], [v for u, v, _ in edges] + [u for u, v, _ in edges]])
    graph = SimpleNamespace(num_nodes=n, edges=lambda: (ei, torch.full((ei.shape[1],), 0.5)))
    monkeypatch.setattr(export, "_kept_edges", lambda syn: (graph, edges, edges))
    syn = SyntheticSet({"x": torch.randn(n, 4)}, torch.arange(n) % 4, 4,
                       meta={"structure": "pge" if structured else "identity", "classes": CLASSES, "adj_threshold": 0.01})
    export.draw_condensed(syn, tmp_path / "p.png", "t")
    fig = drawn[0]
    legend = fig.axes[0].get_legend()
    entries = legend.get_texts()
    texts = [*entries, legend.get_title(), *(ax.title for ax in fig.axes if ax.get_title())]
    assert min(t.get_fontsize() for t in texts) >= PREVIEW_FONT_PT
    long = entries[1].get_text()
    assert long.endswith("…") and len(long.split("\n")) <= 2
    boxes = text_boxes(fig, texts)
    assert apart(boxes) and inside(fig, boxes)
