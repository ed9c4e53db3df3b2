"""Walk 54E: the video, image-text and sequences previews drew their labels at 6.5-7 pt (hard to read at a card's width,
under the 8 pt of figure guidance in print) and cut a long caption or item name without saying so. Their text is now
artifacts.PREVIEW_FONT_PT points, long names wrapped and cut with an ellipsis, and no two labels overlap."""

from __future__ import annotations


import torch

import mmdistill.plots as plots
from figure_checks import apart, text_boxes
from mmdistill.modalities.artifacts import PREVIEW_FONT_PT, fitted_label
from mmdistill.modality import get_modality
from mmdistill.synthetic import SyntheticSet

LONG = "Playing the Daf drum with both hands in a crowded room at night"


def test_fitted_label_wraps_and_cuts_with_an_ellipsis():
    assert fitted_label("ApplyEyeMakeup", 16, 3) == "ApplyEyeMakeup"
    assert fitted_label(LONG, 16, 2) == "Playing the Daf\ndrum with both …"
    assert fitted_label("x" * 40, 16, 3) == "x" * 16 + "\n" + "x" * 16 + "\n" + "x" * 8  # a word longer than a line is broken
    assert fitted_label("a\n  b", 16, 1) == "a b"


def test_video_preview_labels_are_readable_and_a_long_class_name_is_wrapped(tmp_path, drawn, monkeypatch):
    import mmdistill.modalities.video.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    monkeypatch.setattr(export, "_save_gif", lambda *a, **k: None)
    syn = SyntheticSet({"x": torch.rand(3, 3, 8, 8, 8)}, torch.tensor([0, 1, 2]), 3,
                       meta={"classes": ["Run", LONG, "Sit"], "mean": [0.0] * 3, "std": [1.0] * 3})
    get_modality("video").write_preview(syn, tmp_path / "p.png", "video-dm · toy")
    fig = drawn[0]
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    rows = [ax.yaxis.label for ax in fig.axes if ax.get_ylabel()]
    assert [t.get_text() for t in titles][:2] == ["t=0", "t=1"] and min(t.get_fontsize() for t in titles + rows) >= PREVIEW_FONT_PT >= 9
    label = rows[1].get_text()
    assert label.endswith("…") and len(label.split("\n")) <= 3 and max(map(len, label.split("\n"))) <= 16
    assert apart(text_boxes(fig, rows)) and min(b.x0 for b in text_boxes(fig, rows)) >= 0  # inside the figure, none over another


def test_image_text_captions_are_readable_cut_with_an_ellipsis_and_apart(tmp_path, drawn, monkeypatch):
    import mmdistill.modalities.image_text.export as export

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    captions = [LONG + " " + LONG, "dog", "https://example.com/" + "a" * 80, "Zwei Kinder spielen im Schnee vor einem großen Haus"]
    export.save_pair_preview(torch.rand(4, 3, 8, 8), captions, tmp_path / "p.png", mean=(0, 0, 0), std=(1, 1, 1), title="t")
    labels = [ax.xaxis.label for ax in drawn[0].axes if ax.get_xlabel()]
    assert len(labels) == 4 and min(t.get_fontsize() for t in labels) >= 9
    assert labels[0].get_text().endswith("…") and labels[1].get_text() == "dog"
    assert apart(text_boxes(drawn[0], labels))


def test_sequences_table_is_readable_and_cuts_a_long_name_with_an_ellipsis(tmp_path, drawn, monkeypatch):
    from test_sequences import tiny

    import mmdistill.modalities.sequences.export as export
    from mmdistill.modalities.sequences import MODALITY
    from mmdistill.seeding import generator

    monkeypatch.setattr(export, "save_figure", plots.save_figure)
    cfg = tiny()
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    syn.meta["titles"] = [f"{LONG} ({i})" for i in range(len(syn.meta["item_ids"]))]
    MODALITY.write_preview(syn, tmp_path / "p.png", "t")
    table = drawn[0].axes[0].tables[0]
    texts = [cell.get_text() for (r, c), cell in table.get_celld().items() if r > 0 and c >= 0]
    assert texts and all(t.get_fontsize() >= 9 for t in texts)
    assert all("… (" in t.get_text() for t in texts)
