"""Plots a person would rather look at than read: the loss curve and the accuracy comparison; and what every figure
needs: titles and labels that fit, class names the installed font can draw."""

from __future__ import annotations

import functools
import logging
import math
import re
import textwrap
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmdistill.io import atomic_path
from mmdistill.series_style import bar_style, line_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

log = logging.getLogger(__name__)



class _AggFigures:
    """The part of pyplot the library uses (``subplots``, ``figure``, ``close``, ``get_cmap``), making figures with
    their own Agg canvas: the calling program's backend (a notebook's inline one) is left as it is, and the figures
    never enter pyplot's registry, so one a failed drawing leaves behind is freed with its last reference (a notebook
    shows no stray figure, a long program keeps none)."""

    @staticmethod
    def figure(**kwargs: Any) -> Figure:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(**kwargs)
        FigureCanvasAgg(fig)
        return fig

    def subplots(self, nrows: int = 1, ncols: int = 1, *, sharex: Any = False, sharey: Any = False, squeeze: bool = True,
                 width_ratios: Any = None, height_ratios: Any = None, subplot_kw: Any = None, gridspec_kw: Any = None,
                 **fig_kw: Any) -> tuple[Figure, Any]:
        fig = self.figure(**fig_kw)
        axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze, width_ratios=width_ratios,
                            height_ratios=height_ratios, subplot_kw=subplot_kw, gridspec_kw=gridspec_kw)
        return fig, axes

    @staticmethod
    def close(fig: Any = None) -> None:
        """Nothing to unregister (the figure was never in pyplot's registry); its memory goes with its references."""

    @staticmethod
    def get_cmap(name: str) -> Any:
        import matplotlib

        return matplotlib.colormaps[name]


_AGG_FIGURES = _AggFigures()


def pyplot() -> _AggFigures:
    """Figures on an Agg canvas of their own, through a pyplot-like object (one per process): ``subplots``,
    ``figure``, ``close``, ``get_cmap``. Neither the process's matplotlib backend nor pyplot's list of open figures is
    touched (``import matplotlib.pyplot`` is left to the calling program)."""
    return _AGG_FIGURES


def _titles(fig: Figure) -> list[tuple[Text, Axes | None]]:
    """``(text, axes or None)`` for the figure's suptitle and every axes' centred title that has text (matplotlib keeps
    the suptitle in a private attribute; read with a default so another matplotlib only loses the suptitle's fit)."""
    out: list[tuple[Text, Axes | None]] = [(fig._suptitle, None)] if getattr(fig, "_suptitle", None) is not None else []
    out += [(ax.title, ax) for ax in fig.axes]
    return [(t, ax) for t, ax in out if t.get_text()]


def _renderer(fig: Figure) -> Any:
    """The renderer of ``fig``'s canvas: pyplot's Agg canvas has one; a ``matplotlib.figure.Figure()`` made without
    pyplot has a bare ``FigureCanvasBase``, which has none, so an Agg canvas is attached to it first."""
    canvas = fig.canvas
    if not hasattr(canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)  # sets itself as fig.canvas
    return canvas.get_renderer()


def fit_titles(fig: Figure) -> bool:
    """Wrap every title that runs past the figure's edges onto more lines (``tight_layout`` makes room for a
    title's height but never shortens it, so a long ``recipe · dataset · size`` title was cut at both sides).
    A centred axes title may span twice the distance from its axes' centre to the nearer figure edge. Returns
    whether any title changed."""
    renderer = _renderer(fig)
    fig_w = fig.bbox.width
    changed = False
    for text, ax in _titles(fig):
        centre = fig_w / 2 if ax is None else (ax.bbox.x0 + ax.bbox.x1) / 2
        room = 0.96 * 2 * min(centre, fig_w - centre)
        changed |= _wrap_to_fit(text, text.get_window_extent(renderer).width, room)
    return changed


def _wrap_to_fit(text: Any, length: float, room: float) -> bool:
    """Wrap matplotlib ``text`` (:func:`wrap_line`) when its ``length`` along its line (pixels) exceeds ``room``,
    at a line width in characters scaled from its longest line; returns whether it changed."""
    if length <= room:
        return False
    lines = text.get_text().split("\n")
    chars = max(12, int(max(len(line) for line in lines) * room / length))
    text.set_text("\n".join(wrap_line(line, chars) for line in lines))
    return True


def fit_axis_labels(fig: Figure) -> bool:
    """Wrap every y-axis label longer than the figure is tall (a retrieval metric's ``test R@10 (mean of image->text
    and text->image) (%)`` was cut at both ends); it is centred on its axes, so it may span twice the distance from
    the axes' centre to the nearer figure edge. Returns whether any label changed."""
    renderer = _renderer(fig)
    fig_h = fig.bbox.height
    changed = False
    for ax in fig.axes:
        label = ax.yaxis.label
        if not label.get_text() or not label.get_visible():
            continue
        centre = (ax.bbox.y0 + ax.bbox.y1) / 2
        room = 0.96 * 2 * min(centre, fig_h - centre)
        changed |= _wrap_to_fit(label, label.get_window_extent(renderer).height, room)
    return changed


def wrap_line(line: str, chars: int) -> str:
    """``line`` on lines of at most ``chars`` characters where it can: broken first between its `` · `` parts
    (``recipe · dataset · size``), then between words, never between a number and its ``%``."""
    out: list[str] = []
    for part in line.replace(" %", "\u00a0%").split(" · "):
        if out and len(out[-1]) + 3 + len(part) <= chars:
            out[-1] += " · " + part
        else:
            out += textwrap.wrap(part, chars, break_on_hyphens=False) or [part]
    return "\n".join(out)


def save_figure(fig: Figure, path: str | Path, what: str = "text") -> Path:
    """Lay out ``fig`` (titles wider than the figure and y labels taller than it wrapped), write it as PNG atomically,
    close it. Characters the installed font lacks (a CJK dataset name in a title) give one log line for the figure
    (:func:`missing_glyph_note`, naming them as ``what``: "caption" for a caption grid), not matplotlib's warning per
    character and drawing."""
    plt = pyplot()
    with missing_glyph_note(Path(path).name, what):
        fig.tight_layout()
        if fit_titles(fig) | fit_axis_labels(fig):  # both run: each may wrap
            fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


#: matplotlib's warning for a character the font lacks (drawn as a box): "Glyph 19978 (...) missing from font(s) DejaVu
#: Sans."; older matplotlib (3.7, the floor) says "... missing from current font." and names no font (group 2: None)
MISSING_GLYPH = re.compile(r"Glyph (\d+) .*missing from (?:font\(s\) (.*?)|current font)\.?$", re.S)
#: what a missing character becomes in a class label that keeps its other characters
GLYPH_STANDIN = "?"


def _plot_fonts() -> tuple[frozenset[int], str]:
    """The code points the figures' text font can draw (matplotlib's default font family, with the fallback fonts it
    tries after the first) and the fonts' family names."""
    from matplotlib import font_manager as fm

    prop = fm.FontProperties()  # rcParams' family: what a label without a font of its own is drawn in
    find = getattr(fm.fontManager, "_find_fonts_by_props", None)  # the fallback list (matplotlib >= 3.6; private)
    try:
        paths = tuple(find(prop)) if find is not None else (fm.findfont(prop),)
    except Exception:  # noqa: BLE001 - another matplotlib's private API: the first font only
        paths = (fm.findfont(prop),)
    return _charmap(paths)


@functools.lru_cache(maxsize=8)
def _charmap(paths: tuple[Any, ...]) -> tuple[frozenset[int], str]:
    from matplotlib import font_manager as fm

    codes: set[int] = set()
    names: list[str] = []
    for path in paths:
        font = fm.get_font(path)
        codes.update(font.get_charmap())
        names.append(font.family_name)
    return frozenset(codes), ", ".join(dict.fromkeys(names))


def missing_glyphs(text: str) -> str:
    """The characters of ``text`` (each once, in order) that the figures' font cannot draw: matplotlib draws each as
    a box and warns once per character. Spaces and other non-printing characters never count."""
    codes, _ = _plot_fonts()
    return "".join(dict.fromkeys(ch for ch in text if ord(ch) not in codes and ch.isprintable() and not ch.isspace()))


def drawable_labels(names: Sequence[str], where: str = "figure", shown: Iterable[int] | None = None) -> list[str]:
    """Class ``names`` (label index = position) as a figure can draw them: a name whose every character the font has
    stays as it is; one with characters it lacks (CJK in matplotlib's DejaVu Sans) becomes ``class <index>``, or,
    when some of its letters can be drawn, the name with each missing character as ``?`` and `` (class <index>)``
    after it (``dög ?? (class 3)``), so every row still leads back to its class. One log line for ``where`` (a
    figure or file name) names the classes changed among ``shown`` (label indices drawn; default all), instead of
    matplotlib's warning per character and drawing."""
    out: list[str] = []
    changed: list[str] = []
    shown_set = set(range(len(names)) if shown is None else shown)
    for i, name in enumerate(names):
        name = str(name)
        lacking = missing_glyphs(name)
        if not lacking:
            out.append(name)
            continue
        kept = "".join(GLYPH_STANDIN if ch in lacking else ch for ch in name)
        has_letters = any(ch.isalnum() for ch in name if ch not in lacking)
        out.append(f"{kept} (class {i})" if has_letters else f"class {i}")
        if i in shown_set:
            changed.append(f"{out[-1]!r} is {name!r}")
    if changed:
        log.info("%s: %d class name(s) use characters the installed font (%s) lacks, which would show as boxes; labelled by "
                 "their index instead: %s (install a font that has them, e.g. Noto Sans CJK, for matplotlib to draw them)",
                 where, len(changed), _plot_fonts()[1], "; ".join(changed))
    return out


@contextmanager
def missing_glyph_note(where: str, what: str = "label") -> Iterator[None]:
    """Collect matplotlib's "Glyph ... missing from font(s)" warnings raised inside (one per character and drawing;
    the characters show as boxes) and log one line for ``where`` (a figure or file name) saying how many characters
    of ``what`` the installed font lacks. Any other warning is passed on as it came."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=r"Glyph \d+ .*missing from (font|current font)", category=UserWarning)
        yield
    glyphs: set[str] = set()
    fonts: set[str] = set()
    for w in caught:
        found = MISSING_GLYPH.search(str(w.message)) if issubclass(w.category, UserWarning) else None
        if found:
            glyphs.add(found.group(1))
            fonts.add(found.group(2) or _plot_fonts()[1])
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if glyphs:
        log.info("%s: %d %s character(s) are not in the installed font (%s) and show as boxes; install a font that has "
                 "them (e.g. Noto Sans CJK) for matplotlib to draw them", where, len(glyphs), what, ", ".join(sorted(fonts)))


#: the smallest text of a figure a card embeds (points; previews: artifacts.PREVIEW_FONT_PT): 8 pt is hard to read in print
SMALLEST_FONT_PT = 9
#: the ratio of the largest to the smallest loss from which loss.png's y-axis is logarithmic (linear below: a loss
#: that moves within one decade got no tick labels on a log axis)
LOG_SCALE_FROM = 10.0


def drawable_image(a: Any) -> Any:
    """An image array (H, W, C) -> what ``imshow`` draws: (H, W) grey for C = 1 and, of C = 2 (optical flow x/y, grey +
    alpha), channel 0; (H, W, 3) RGB for C = 3 and, of C > 3, the first 3 channels (:func:`shown_channels` says which)."""
    return a[..., 0] if a.shape[-1] in (1, 2) else a[..., :3]


def shown_channels(c: int) -> str:
    """What :func:`drawable_image` draws of an image of ``c`` channels, in words for a title; empty for 1 and 3 (all)."""
    return "channel 0 of 2 shown as grey" if c == 2 else f"channels 0-2 of {c} shown as RGB" if c > 3 else ""


def loss_points(records: list[dict[str, Any]]) -> list[tuple[Any, float]]:
    """``(iteration, loss)`` of each metrics.jsonl record that logged a numeric loss, in order."""
    return [(r["it"], r["loss"]) for r in records if "it" in r and isinstance(r.get("loss"), (int, float))]


def plot_loss_curve(records: list[dict[str, Any]], path: str | Path, title: str = "matching loss",
                    selection: dict[str, Any] | None = None) -> Path | None:
    """Matching loss against iteration from metrics.jsonl records; None when there is nothing to plot. With a
    run's ``selection`` (the manifest's block), its held-out scores on a second axis and the kept iteration marked."""
    pts = loss_points(records)
    if not pts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    its, losses = [p[0] for p in pts], [p[1] for p in pts]
    smooth = running_mean(losses, max(3, len(losses) // 15)) if len(losses) >= 20 else None
    main = line_style(0)
    ax.plot(its, losses, lw=1.2 if smooth is None else 0.8, alpha=1.0 if smooth is None else 0.35, color=main["color"],
            label="loss" if smooth is None else "loss (logged)", marker="o" if smooth is None else None, ms=3)  # a few
    # logged points (every log_every iterations) are marked, so straight segments between them are not read as data
    if smooth is not None:
        ax.plot(its, smooth, lw=1.6, color=main["color"], label="running mean")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers (a short run showed 0.5, 1.25)
    if min(losses) > 0 and max(losses) / min(losses) >= LOG_SCALE_FROM:  # within a decade a log axis shows no numbers
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 1, 10 rather than 10^0, 10^1
        decades = math.log10(max(losses) / min(losses))  # 9 pt minor labels: fewer the more decades share the axis
        minor = (2, 3, 5) if decades <= 2 else (2, 5) if decades <= 6 else ()
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if _mantissa(v) in minor else ""))
        ax.tick_params(axis="y", which="minor", labelsize=SMALLEST_FONT_PT)
    handles = ax.get_lines() if smooth is not None else []
    if selection and selection.get("scores"):  # squares on a dashed line, named in the legend: told from the loss
        right = ax.twinx()  # by more than colour (a grey print, any colour vision)
        its, scores = zip(*selection["scores"])
        metric = str(selection.get("metric", "selection score"))
        style = {**line_style(5), "marker": "s", "linestyle": "--"}
        handles = ax.get_lines() + right.plot(its, scores, ms=4, lw=1, label=f"{metric} (right axis)", **style)
        handles.append(right.axvline(selection["selected_iteration"], color=style["color"], ls=":", lw=1,
                                     label=f"kept: iteration {selection['selected_iteration']}"))
        right.set_ylabel(metric.split(" (")[0])
    if handles:  # above the axes: clear of both curves
        ax.legend(handles=handles, fontsize=SMALLEST_FONT_PT, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    ax.set_title(title, fontsize=10, pad=10 + 1.6 * SMALLEST_FONT_PT * ((len(handles) + 1) // 2))  # over the legend's rows
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _mantissa(v: float) -> int:
    """The leading digit of ``v`` > 0 (0.3 -> 3, 50 -> 5)."""
    return round(v / 10 ** math.floor(math.log10(v))) if v > 0 else 0


def running_mean(values: list[float], window: int) -> list[float]:
    """The centred running mean of ``values`` over ``window`` points (shorter at both ends, never shifted)."""
    half = window // 2
    out = []
    for i in range(len(values)):
        part = values[max(0, i - half): i + half + 1]
        out.append(sum(part) / len(part))
    return out


def accuracy_figure(sets: Mapping[str, Mapping[str, Any]], title: str, ylabel: str = "test accuracy (%)",
                    networks: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                    chance: float | None = None, chance_label: str = "chance") -> Figure | None:
    """The figure of :func:`plot_accuracy_bars` (not saved); None when there is no evaluated set.

    ``sets``: ``{name: {"mean", "std", "runs"?}}`` with values in [0, 1], drawn in percent: one bar per set
    (mean, ± std as an error bar, its value written above the bar's error bar) and each evaluation run as a dot,
    so the spread of a few runs is seen, not only summarised. ``networks`` (a metrics block's ``cross_arch``:
    ``{network: {set: {...}}}``), when it holds more than one network, draws one group of bars per network,
    the sets in the same colours in every group. The y axis runs to 100 % when a value passes 50 %, else to
    1.3 × the highest bar (ranking metrics such as HR@10 sit at a few percent and would be invisible).
    ``chance`` (in [0, 1]): the score of guessing, drawn as a dashed line across the bars when given, named
    ``chance_label``."""
    from mmdistill.evaluation import evaluated_sets

    groups = {n: evaluated_sets(rows) for n, rows in (networks or {}).items()}
    groups = {n: rows for n, rows in groups.items() if rows}
    if len(groups) < 2:
        rows = evaluated_sets(sets)
        groups = {"": rows} if rows else {}
    if not groups:
        return None
    names: list[str] = []
    for rows in groups.values():
        names += [k for k in rows if k not in names]
    plt = pyplot()
    wide = len(groups) > 1
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 0.55 * len(names) * len(groups)) if wide else 5.0, 3.6), dpi=110)
    width = 0.8 / len(names) if wide else 0.7
    decimals = 2 if max(100 * float(v["mean"]) for rows in groups.values() for v in rows.values()) < 20 else 1  # HR@10 of a few %
    tops = []
    for j, name in enumerate(names):
        style = bar_style(j)  # colour and hatch: a set is told apart in grey print and by every colour vision
        for g, rows in enumerate(groups.values()):
            v = rows.get(name)
            if v is None:
                continue
            x = g + (j - (len(names) - 1) / 2) * width if wide else j
            m, s = 100 * float(v["mean"]), 100 * float(v["std"])
            single = len(v.get("runs") or []) == 1  # one run has no spread: no error bar, not a bar of height 0
            ax.bar(x, m, width=width * 0.92, yerr=None if single else s, capsize=3, alpha=0.85, **style,
                   label=name.replace("_", " ") if g == 0 else None, error_kw={"lw": 1})
            runs = [100 * float(r) for r in v.get("runs") or []]
            if len(runs) > 1:
                spread = width * 0.5
                xs = [x - spread / 2 + spread * i / (len(runs) - 1) for i in range(len(runs))]
                ax.scatter(xs, runs, s=12, color="black", edgecolors="white", linewidths=0.6, zorder=3)  # seen on a hatch
            top = max([m + s] + runs)
            tops.append(top)
            ax.text(x, top, f"{m:.{decimals}f}" + ("\n1 run" if single else ""), ha="center", va="bottom",
                    fontsize=SMALLEST_FONT_PT)
    if chance is not None:  # named in the right margin, clear of the bars and the legend
        ax.axhline(100 * chance, color="grey", ls="--", lw=1, zorder=1)
        ax.text(1.01, 100 * chance, f"{chance_label}\n{100 * chance:.{decimals}f}", transform=ax.get_yaxis_transform(), ha="left",
                va="center", fontsize=SMALLEST_FONT_PT, color="dimgrey")
        tops.append(100 * chance)
    high = max(tops)
    ax.set_ylim(0, 105 if high > 50 else max(high * 1.3, 1e-3))
    ax.set_ylabel(ylabel)
    if wide:
        ax.set_xticks(range(len(groups)), list(groups))
        ax.set_xlabel("evaluation network")
        ax.legend(fontsize=SMALLEST_FONT_PT, frameon=False, ncol=min(len(names), 4), loc="upper right")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    else:
        ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names])
        if len(names) > 4 or max(len(n) for n in names) > 16:  # "random_real (earlier)" beside "herding (earlier)" touched
            ax.tick_params(axis="x", labelrotation=25, labelsize=SMALLEST_FONT_PT)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10)
    return fig


def plot_accuracy_bars(metrics: Mapping[str, Mapping[str, Any]], path: str | Path, title: str, ylabel: str = "test accuracy (%)",
                       networks: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                       chance: float | None = None, chance_label: str = "chance") -> Path | None:
    """Bar chart of mean ± std of each evaluated set's metric (values in [0, 1], drawn in percent), every run a
    dot; with ``networks`` (a ``cross_arch`` block of several networks) one group of bars per network. None when
    there is nothing to draw. See :func:`accuracy_figure` (``chance``: the dashed line of guessing)."""
    fig = accuracy_figure(metrics, title, ylabel, networks, chance, chance_label)
    return None if fig is None else save_figure(fig, path)
