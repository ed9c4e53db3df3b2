"""The run's pictures: titles stay inside the figure, the accuracy chart shows every run and every network."""

from __future__ import annotations

import pytest

from mmdistill.plots import accuracy_figure, fit_axis_labels, fit_titles, pyplot, wrap_line

LONG = "video-static-dynamic · moving-digits · 1 clip/class, 125.2 KiB stored (39 % of full clips)"


def _title_extents(fig):
    renderer = fig.canvas.get_renderer()
    return [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.title.get_text()]


def _inside(fig) -> bool:
    return all(e.x0 >= -0.5 and e.x1 <= fig.bbox.width + 0.5 for e in _title_extents(fig))


def _set(mean: float, runs: list[float]) -> dict:
    return {"mean": mean, "std": 0.01, "runs": runs}


def test_a_long_title_is_wrapped_inside_the_figure():
    fig = accuracy_figure({"distilled": _set(0.5, [0.49, 0.51]), "random_real": _set(0.4, [0.39, 0.41])}, LONG)
    fig.tight_layout()
    assert not _inside(fig)  # what tight_layout alone leaves: the title cut at both sides
    assert fit_titles(fig)
    fig.tight_layout()
    assert _inside(fig)
    assert "\n" in fig.axes[0].title.get_text()
    assert not fit_titles(fig)  # a fitted title is left alone
    pyplot().close(fig)


def test_wrapping_breaks_between_parts_and_keeps_a_number_with_its_unit():
    lines = wrap_line(LONG, 40).split("\n")
    assert lines[0] == "video-static-dynamic · moving-digits"
    assert all(len(line) <= 40 for line in lines)
    assert "39\u00a0%" in "".join(lines)
    assert wrap_line("image-dm · digits · ipc 10", 40) == "image-dm · digits · ipc 10"


def test_every_evaluation_run_is_a_dot_over_its_bar():
    sets = {"distilled": _set(0.9, [0.88, 0.9, 0.92]), "random_real": _set(0.8, [0.79, 0.8, 0.81]), "herding": _set(0.85, [0.85])}
    fig = accuracy_figure(sets, "image-dm · digits · ipc 10")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["distilled", "random real", "herding"]
    assert len(ax.patches) == 3
    from matplotlib.collections import PathCollection

    dots = [c for c in ax.collections if isinstance(c, PathCollection)]  # scatter; the error bars are lines
    assert sorted(c.get_offsets().shape[0] for c in dots) == [3, 3]  # a single run draws no dot
    labels = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert labels["90.0"] >= 92.0 and labels["80.0"] >= 81.0  # above the highest run and the error bar
    assert ax.get_ylim()[1] == 105
    pyplot().close(fig)


def test_cross_architecture_results_are_one_group_of_bars_per_network():
    rows = {"distilled": _set(0.52, [0.5, 0.54]), "random_real": _set(0.44, [0.43, 0.45])}
    networks = {"convnet3d": rows, "framepool": {"distilled": _set(0.24, [0.23, 0.25]), "random_real": _set(0.17, [0.16, 0.18])},
                "framegru": rows}
    fig = accuracy_figure(rows, "video-dm", networks=networks)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["convnet3d", "framepool", "framegru"]
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["distilled", "random real"]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [17.0, 24.0, 44.0, 44.0, 52.0, 52.0]
    pyplot().close(fig)
    one = accuracy_figure(rows, "video-dm", networks={"convnet3d": rows})  # one network: the plain chart
    assert [t.get_text() for t in one.axes[0].get_xticklabels()] == ["distilled", "random real"]
    pyplot().close(one)


def test_accuracy_png_draws_chance_for_a_classification_set(tmp_path):
    """A dashed line at 1 / classes, named in the right margin, for accuracy; none for a ranking metric (there was
    no chance line)."""
    from mmdistill.report import chance_level, write_accuracy_plot

    metrics = {"metric": "accuracy", "distilled": _set(0.52, [0.5, 0.54]), "random_real": _set(0.44, [0.43, 0.45])}
    assert chance_level({"num_classes": 4, "metrics": metrics}) == 0.25
    assert chance_level({"num_classes": 4, "metrics": {**metrics, "metric": "hr@10"}}) is None
    assert chance_level({"num_classes": 5, "metrics": {**metrics, "metric": "fused accuracy"}}) == 0.2  # audio-visual
    assert chance_level({"num_classes": 1, "metrics": metrics}) is None and chance_level({"metrics": metrics}) is None
    # walk 35A D6: on imbalanced data (a 62.8 % majority class of 2) the line drew 50 %, below a constant answer
    from mmdistill.report import chance_label

    skewed = {"num_classes": 2, "metrics": {**metrics, "protocol": {"majority_share": 0.628}}}
    assert chance_level(skewed) == 0.628 and chance_label(skewed) == "majority class"
    balanced = {"num_classes": 4, "metrics": {**metrics, "protocol": {"majority_share": 0.25}}}
    assert chance_level(balanced) == 0.25 and chance_label(balanced) == "chance"
    six = {"num_classes": 6, "metrics": {**metrics, "protocol": {"majority_share": round(1 / 6, 6)}}}  # rounded up: still chance
    assert chance_label(six) == "chance"
    near = {"num_classes": 10, "metrics": {**metrics, "protocol": {"majority_share": 0.103}}}  # digits' test split: 37 of 360
    assert chance_level(near) == 0.1 and chance_label(near) == "chance"
    fig = accuracy_figure(metrics, "image-dm", chance=0.25)
    ax = fig.axes[0]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == 25.0
    assert "chance\n25.0" in [t.get_text() for t in ax.texts]
    pyplot().close(fig)
    manifest = {"recipe": "image-dm", "dataset": "d", "ipc": 1, "num_classes": 4, "metrics": metrics}
    assert write_accuracy_plot(tmp_path, manifest).stat().st_size > 0


def test_a_ranking_metric_of_a_few_percent_gets_an_axis_it_can_be_read_on():
    fig = accuracy_figure({"distilled": _set(0.065, [0.06, 0.07]), "whole": _set(0.097, [0.095, 0.099])}, "td3", "test HR@10 (%)")
    top = fig.axes[0].get_ylim()[1]
    assert 10 < top < 15
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["6.50", "9.70"]  # two decimals for values of a few %
    pyplot().close(fig)
    assert accuracy_figure({"metric": "accuracy"}, "nothing evaluated") is None


def test_running_mean_is_centred_and_keeps_the_ends():
    from mmdistill.plots import running_mean

    assert running_mean([0.0, 3.0, 6.0, 9.0], 3) == [1.5, 3.0, 6.0, 7.5]
    assert running_mean([5.0], 7) == [5.0]


def test_a_long_noisy_loss_gets_its_running_mean_drawn_over_it(tmp_path, monkeypatch):
    from mmdistill import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    noisy = [{"it": 10 * i, "loss": 1.0 + (i % 2)} for i in range(40)]
    plots.plot_loss_curve(noisy, tmp_path / "a.png")
    plots.plot_loss_curve(noisy[:5], tmp_path / "b.png")
    long_ax, short_ax = figures[0].axes[0], figures[1].axes[0]
    assert [line.get_label() for line in long_ax.get_lines()] == ["loss (logged)", "running mean"]
    assert max(long_ax.get_lines()[1].get_ydata()) < 2.0  # the alternation averaged out
    assert [line.get_label() for line in short_ax.get_lines()] == ["loss"]
    assert short_ax.get_yscale() == "linear"  # 1 to 2: within a decade, where a log axis showed no numbers
    plots.plot_loss_curve([{"it": i, "loss": 100.0 / (i + 1) ** 2} for i in range(4)], tmp_path / "c.png")
    wide_ax = figures[2].axes[0]
    assert wide_ax.get_yscale() == "log" and wide_ax.yaxis.get_major_formatter()(1.0, 0) == "1"
    assert all(float(t).is_integer() for t in wide_ax.get_xticks())  # whole iterations (0.5, 1.25 before)


def test_saving_a_figure_wraps_its_overlong_title(tmp_path, monkeypatch):
    from mmdistill import plots

    fig = accuracy_figure({"distilled": _set(0.5, [0.49, 0.51])}, LONG)
    seen = []
    monkeypatch.setattr(plots, "fit_titles", lambda f: seen.append(f) or False)
    plots.save_figure(fig, tmp_path / "a.png")
    assert seen == [fig] and (tmp_path / "a.png").stat().st_size > 0


def test_a_figure_made_without_pyplot_is_saved(tmp_path):
    """``matplotlib.figure.Figure()`` has a bare canvas with no renderer: save_figure attaches an Agg one (it raised
    AttributeError); a pyplot figure keeps its own canvas."""
    from matplotlib.figure import Figure

    from mmdistill.plots import save_figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().set_title(LONG)
    fig.axes[0].set_ylabel("test R@10 (mean of image->text and text->image) (%)")
    out = save_figure(fig, tmp_path / "bare.png")
    assert out == tmp_path / "bare.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "\n" in fig.axes[0].title.get_text()  # the title was still fitted
    pyfig = pyplot().figure()
    canvas = pyfig.canvas
    pyfig.add_subplot().set_title("a title")
    assert not fit_titles(pyfig) and not fit_axis_labels(pyfig) and pyfig.canvas is canvas  # its own Agg canvas
    assert save_figure(pyfig, tmp_path / "py.png").read_bytes()[:4] == b"\x89PNG"


def test_a_long_y_label_is_wrapped_inside_the_figure():
    """A retrieval metric's axis label is longer than the figure is tall: wrapped, not cut at both ends."""
    fig = accuracy_figure({"distilled": _set(0.5, [0.49, 0.51])}, "image-text-lors · clean · ipc 10",
                          ylabel="test R@10 (mean of image->text and text->image) (%)")
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    label = fig.axes[0].yaxis.label
    assert label.get_window_extent(renderer).y0 < 0  # what tight_layout alone leaves: the label runs off the figure
    assert fit_axis_labels(fig)
    fig.tight_layout()
    extent = label.get_window_extent(renderer)
    assert "\n" in label.get_text() and extent.y0 >= -0.5 and extent.y1 <= fig.bbox.height + 0.5
    assert not fit_axis_labels(fig)  # a fitted label is left alone
    pyplot().close(fig)


# --------------------------------------------------------------------------- class names the font cannot draw
CJK = "鳥の声"


def _font_lacks_cjk() -> bool:
    from mmdistill.plots import missing_glyphs

    return missing_glyphs(CJK) == CJK


def _glyph_warnings(caught) -> list:
    return [w for w in caught if "missing from font" in str(w.message) or "missing from current font" in str(w.message)]


def test_class_names_the_font_lacks_are_labelled_by_index_with_one_note(caplog):
    """Before: a class named 鳥の声 was drawn as three boxes, with matplotlib's warning per glyph (walk34A #7)."""
    import logging

    import pytest

    from mmdistill.plots import drawable_labels, missing_glyphs

    if not _font_lacks_cjk():
        pytest.skip("the installed plot font draws CJK")
    assert missing_glyphs("vögel ç, Δ x\n") == "" and missing_glyphs("dög 汽車汽") == "汽車"
    with caplog.at_level(logging.INFO, logger="mmdistill.plots"):
        labels = drawable_labels(["low hum", "vögel ç", CJK, "dög 汽車", "猫"], "p.png", shown=[0, 1, 2, 3])
    assert labels == ["low hum", "vögel ç", "class 2", "dög ?? (class 3)", "class 4"]
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and notes[0].startswith("p.png: 2 class name(s)")  # one note, the classes shown only
    assert f"'class 2' is '{CJK}'" in notes[0] and "'dög ?? (class 3)' is 'dög 汽車'" in notes[0] and "猫" not in notes[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mmdistill.plots"):
        assert drawable_labels(["a", "b"], "q.png") == ["a", "b"]
    assert not caplog.records


def test_audio_visual_preview_labels_a_class_the_font_lacks_by_index_without_glyph_warnings(tmp_path, caplog, monkeypatch):
    """The pair preview's rows: before, the 汽車 row read □□ and stderr got one matplotlib warning per glyph."""
    import logging
    import warnings

    import pytest
    import torch

    pytest.importorskip("torchaudio")
    if not _font_lacks_cjk():
        pytest.skip("the installed plot font draws CJK")
    from mmdistill.modalities.audio.features import FDMFCCParams
    from mmdistill.modalities.audio_visual import export

    meta = {"features": FDMFCCParams(n_mels=16).to_dict(), "audio_mean": -40.0, "audio_std": 10.0, "image_mean": [0.5],
            "image_std": [0.25]}
    figures = []
    close = pyplot().close
    monkeypatch.setattr(pyplot(), "close", lambda fig=None: figures.append(fig))  # keep the figure to read its labels
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        export.save_pair_preview(torch.randn(4, 1, 16, 12), torch.rand(4, 1, 8, 8), torch.tensor([0, 0, 1, 1]), ["cat", "汽車"],
                                 meta, tmp_path / "preview.png", title="av")
    assert not _glyph_warnings(caught)
    assert (tmp_path / "preview.png").stat().st_size > 0
    assert [ax.get_ylabel() for ax in figures[0].axes if ax.get_ylabel()] == ["cat", "class 1"]
    close(figures[0])
    notes = [r.getMessage() for r in caplog.records if "class name(s)" in r.getMessage()]
    assert notes == [notes[0]] and "preview.png: 1 class name(s)" in notes[0] and "'class 1' is '汽車'" in notes[0]


def test_missing_glyph_note_turns_the_warnings_of_a_figure_into_one_line(tmp_path, caplog):
    import logging
    import warnings

    import pytest

    from mmdistill.plots import missing_glyph_note

    if not _font_lacks_cjk():
        pytest.skip("the installed plot font draws CJK")
    fig, ax = pyplot().subplots()
    ax.set_title(CJK)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        with missing_glyph_note("t.png", "title"):
            fig.savefig(tmp_path / "t.png")
            warnings.warn("another warning")  # passed on as it came
    pyplot().close(fig)
    assert not _glyph_warnings(caught) and [str(w.message) for w in caught] == ["another warning"]
    assert caplog.text.count("3 title character(s) are not in the installed font") == 1


def test_missing_glyph_note_knows_the_words_of_an_older_matplotlib(caplog):
    """Walk 48A: matplotlib 3.7 (pyproject's floor) words the warning "Glyph 40165 (...) missing from current font."
    (3.10 and 3.11: "missing from font(s) DejaVu Sans."), so at the floor every glyph warning was passed on, one per character."""
    import logging
    import warnings

    from mmdistill.plots import missing_glyph_note

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        with missing_glyph_note("t.png", "title"):
            warnings.warn("Glyph 40165 (\\N{CJK UNIFIED IDEOGRAPH-9CE5}) missing from current font.", UserWarning)
            warnings.warn("Glyph 12398 (\\N{HIRAGANA LETTER NO}) missing from font(s) DejaVu Sans.", UserWarning)
            warnings.warn("Glyph 40165 (\\N{CJK UNIFIED IDEOGRAPH-9CE5}) missing from current font.", UserWarning)
    assert not caught
    assert caplog.text.count("2 title character(s) are not in the installed font (") == 1 and "DejaVu Sans" in caplog.text


def test_save_figure_turns_glyph_warnings_of_any_picture_into_one_line(tmp_path, caplog):
    """A CJK dataset name in a picture's title gave one matplotlib warning per character and drawing (previews of
    video, graph, image sets; loss.png, accuracy.png); save_figure logs one line for the figure instead."""
    import logging
    import warnings

    from mmdistill.plots import missing_glyphs, save_figure

    if missing_glyphs("鳥の声") != "鳥の声":
        pytest.skip("the installed font draws these characters")
    fig, ax = pyplot().subplots()
    ax.set_title("鳥の声 data")
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.INFO, logger="mmdistill"):
        warnings.simplefilter("always")
        save_figure(fig, tmp_path / "t.png")
    assert not [w for w in seen if "Glyph" in str(w.message)]
    assert "t.png: 3 text character(s) are not in the installed font" in caplog.text


def test_drawing_leaves_the_callers_backend_and_figures_alone(tmp_path):
    """A library run inside a notebook switched its inline backend to Agg (matplotlib.use), and a picture that failed
    to save stayed open in pyplot's registry (walk 42C): the library's figures have their own Agg canvas now."""
    import matplotlib
    import matplotlib.pyplot as plt

    before, open_before = matplotlib.get_backend(), plt.get_fignums()
    fig, ax = pyplot().subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    from mmdistill.plots import save_figure

    save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    leaked, _ = pyplot().subplots()  # a drawing that failed before save_figure closed it
    assert matplotlib.get_backend() == before and plt.get_fignums() == open_before
    assert pyplot().get_cmap("tab10") is not None and pyplot().figure(figsize=(1, 1)).canvas.get_renderer() is not None


def test_a_retrieval_plot_draws_the_random_ranking_line():
    """Walk 44E: R@10 on a small test split is far from 0 at random (16 % on the cpu run's split), and the plot drew no
    line: random real and herding at chance read as real gaps."""
    from math import comb

    from mmdistill.report import chance_label, chance_level

    metrics = {"metric": "R@10 (mean of image->text and text->image)", "protocol": {"test_images": 100, "test_captions": 500}}
    i2t = 1 - comb(495, 10) / comb(500, 10)  # 5 own captions among 10 drawn from 500
    assert abs(chance_level({"num_classes": 1, "metrics": metrics}) - 0.5 * (0.1 + i2t)) < 1e-12
    assert chance_label({"num_classes": 1, "metrics": metrics}) == "random ranking"
    assert chance_level({"num_classes": 1, "metrics": {"metric": "HR@10 (full ranking)"}}) is None


def test_compared_sets_differ_in_hatch_not_only_colour():
    """Grey and the old gold printed as the same grey, and the legend of a cross-architecture chart named the sets by
    colour alone: each set now has its own hatch (the distilled set plain), in every group and in the legend."""
    rows = {"distilled": _set(0.6, [0.59, 0.61]), "random_real": _set(0.5, [0.49, 0.51]), "herding": _set(0.55, [0.54, 0.56])}
    fig = accuracy_figure(rows, "image-dm", networks={"convnet": rows, "mlp": rows})
    ax = fig.axes[0]
    by_set: dict[str, set] = {}
    for k, patch in enumerate(ax.patches):  # drawn set by set, each over the networks
        by_set.setdefault(list(rows)[k // 2], set()).add(patch.get_hatch())
    assert all(len(h) == 1 for h in by_set.values())  # the same pattern in every group
    assert len({h.pop() for h in by_set.values()}) == 3
    legend = [h.get_hatch() for h in ax.get_legend().legend_handles]
    assert len(set(legend)) == 3
    pyplot().close(fig)


def test_the_selection_scores_are_a_dashed_line_of_squares_named_in_the_legend(tmp_path, monkeypatch):
    """The held-out scores on the right axis were an orange line of the loss's own markers and style, in no legend:
    told from the loss by colour alone. They are dashed, with square markers, named (and the kept iteration) in the
    legend."""
    from mmdistill import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    selection = {"scores": [(5, 0.4), (10, 0.5)], "selected_iteration": 10, "metric": "validation accuracy (10 %)"}
    plots.plot_loss_curve([{"it": i, "loss": 1.0 / (i + 1)} for i in range(12)], tmp_path / "a.png", selection=selection)
    loss_ax, right = figures[0].axes
    loss_line, score_line = loss_ax.get_lines()[0], right.get_lines()[0]
    assert (score_line.get_marker(), score_line.get_linestyle()) != (loss_line.get_marker(), loss_line.get_linestyle())
    assert score_line.get_linestyle() == "--" and score_line.get_marker() == "s"
    names = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert names == ["loss", "validation accuracy (10 %) (right axis)", "kept: iteration 10"]


def test_a_run_dot_inside_a_hatched_bar_has_a_white_rim():
    """The runs were small grey dots without an edge, lost on a hatched bar: they are black with a white rim."""
    from matplotlib.collections import PathCollection

    rows = {"distilled": _set(0.6, [0.5, 0.7]), "random_real": _set(0.5, [0.4, 0.6])}
    fig = accuracy_figure(rows, "image-dm")
    dots = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert dots and all(tuple(c.get_edgecolor()[0]) == (1.0, 1.0, 1.0, 1.0) and c.get_alpha() in (None, 1.0) for c in dots)
    pyplot().close(fig)
