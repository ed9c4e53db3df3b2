"""How the figures tell compared series apart (the distilled set, random real, herding, ...) without colour alone: a
colour-blind-safe palette, and for each series a second cue that survives a grey-scale printout and any colour
vision (a bar's hatch, a line's marker and dash pattern)."""

from __future__ import annotations

from typing import Any

#: Okabe & Ito's colour-blind-safe colours, in set order: the distilled set first (blue), then the baselines (random
#: real: grey, herding: orange, ...). Two of them may print as the same grey (grey and orange do): the hatches and
#: markers below tell them apart there.
COLOURS = ("#0072B2", "#999999", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")
#: a bar's fill pattern per series: the distilled set plain, each baseline its own pattern
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")
#: a line's marker and dash pattern per series
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES = ("-", "--", ":", "-.", "-", "--", ":", "-.")
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


def class_style(c: int) -> dict[str, Any]:
    """``ax.scatter`` keywords of class ``c`` (points told apart by class, a graph's nodes): a colour and a marker shape,
    the pair distinct for each of the first 64 classes (the shape shifts by one each time the colours start over)."""
    k = c % len(COLOURS)
    return {"color": COLOURS[k], "marker": MARKERS[(k + c // len(COLOURS)) % len(MARKERS)]}


__all__ = ["COLOURS", "DASHES", "EDGE", "HATCHES", "MARKERS", "bar_style", "class_style", "line_style"]
