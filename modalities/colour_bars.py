"""Colour bars of the modalities' previews, so a picture printed without colour still tells a low value from a high
one: each map drawn with a colour map whose lightness rises with the value (viridis, cividis, magma), and a bar beside
it ticked at the ends of the set's colour range, with its unit (:func:`value_bar`). Used by the audio preview
(one bar per FD-MFCC channel) and the audio-visual preview (one bar of the log-mel level in dB)."""

from __future__ import annotations

from typing import Any

from .artifacts import PREVIEW_FONT_PT


def value_bar(ax: Any, image: Any, rect: tuple[float, float, float, float], lo: float, hi: float, *, label: str = "",
              tick: str = "{:+.2g}", zero: bool = True, fontsize: float = PREVIEW_FONT_PT) -> Any:
    """A colour bar of ``image`` (what ``imshow`` returned, drawn from ``lo`` to ``hi``) in an inset of ``ax`` at
    ``rect`` (x, y, width, height in fractions of ``ax``; x > 1 is right of it), ticked at ``lo`` and ``hi`` with
    ``tick`` (a format; ``0`` is written ``0``) and labelled ``label`` (the unit, beside the bar). ``zero``: a signed
    range (lo < 0 < hi) is ticked at 0 too, with a line across the bar there (white under black, seen on any colour),
    for values whose sign matters (a delta); off for a level such as dB, whose 0 is no boundary. Ticks and label are
    ``fontsize`` points (:data:`~.artifacts.PREVIEW_FONT_PT`, every preview's smallest text). Returns the bar."""
    cax = ax.inset_axes(rect)
    bar = ax.figure.colorbar(image, cax=cax)
    signed = zero and lo < 0 < hi
    ticks = [lo, 0.0, hi] if signed else [lo, hi]
    bar.set_ticks(ticks, labels=[tick.format(t) if t else "0" for t in ticks], fontsize=fontsize)
    if signed:
        cax.axhline(0.0, color="white", linewidth=1.2)
        cax.axhline(0.0, color="black", linewidth=0.6)
    if label:
        bar.set_label(label, fontsize=fontsize, labelpad=1)
    return bar


__all__ = ["value_bar"]
