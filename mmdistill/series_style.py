"""How the figures tell compared series apart (the distilled set, random real, herding, ...) without colour alone: a
colour-blind-safe palette, and for each series a second cue that survives a grey-scale printout and any colour
vision (a bar's hatch, a line's marker and dash pattern)."""

from __future__ import annotations

from typing import Any

#: Okabe & Ito's colour-blind-safe colours, in set order: the distilled set first (blue), then the baselines (random
#: real: grey, herding: orange, ...). Two of them may print as the same grey (grey and orange do): the hatches and
#: markers below tell them apart there.
COLOURS = ("#0072B2", "#999999", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")
#: :data:`COLOURS` in words (Okabe & Ito's names), for alt text that gives a picture's colour key
COLOUR_NAMES = ("blue", "grey", "orange", "bluish green", "reddish purple", "vermilion", "sky blue", "yellow")
#: a bar's fill pattern per series: the distilled set plain, each baseline its own pattern
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")
#: a line's marker and dash pattern per series
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES = ("-", "--", ":", "-.", "-", "--", ":", "-.")
#: :data:`MARKERS` in words (plural: a class's points)
MARKER_NAMES = ("circles", "squares", "triangles", "diamonds", "downward triangles", "plus signs", "crosses", "stars")
#: the edge (and hatch) colour of a bar: dark on every fill
EDGE = "#333333"


def bar_style(j: int) -> dict[str, Any]:
    """``ax.bar`` keywords of series ``j`` (0 = the distilled set): its colour, hatch and a dark edge that draws the
    hatch (series past the palette's length repeat it)."""
    k = j % len(COLOURS)
    return {"color": COLOURS[k], "hatch": HATCHES[k] or None, "edgecolor": EDGE, "linewidth": 0.6}


def line_style(j: int) -> dict[str, Any]:
    """``ax.plot`` keywords of series ``j`` (0 = the distilled set or the main curve): colour, marker and dash
    pattern, so two lines differ in more than colour."""
    k = j % len(COLOURS)
    return {"color": COLOURS[k], "marker": MARKERS[k], "linestyle": DASHES[k]}


def _class_index(c: int) -> tuple[int, int]:
    """Class ``c``'s index in :data:`COLOURS` and in :data:`MARKERS`: the pair distinct for each of the first 64 classes
    (the shape shifts by one each time the colours start over)."""
    k = c % len(COLOURS)
    return k, (k + c // len(COLOURS)) % len(MARKERS)


def class_style(c: int) -> dict[str, Any]:
    """``ax.scatter`` keywords of class ``c`` (points told apart by class, a graph's nodes): a colour and a marker shape
    (:func:`_class_index`)."""
    colour, marker = _class_index(c)
    return {"color": COLOURS[colour], "marker": MARKERS[marker]}


def class_style_words(c: int) -> str:
    """:func:`class_style` of class ``c`` in words, for a colour key in alt text: ``"blue circles"``."""
    colour, marker = _class_index(c)
    return f"{COLOUR_NAMES[colour]} {MARKER_NAMES[marker]}"


__all__ = ["COLOURS", "COLOUR_NAMES", "DASHES", "EDGE", "HATCHES", "MARKERS", "MARKER_NAMES", "bar_style", "class_style",
           "class_style_words", "line_style"]
