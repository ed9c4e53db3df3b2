"""Frame rates of decoded video files. Frames are sampled by index (``num_frames`` frames ``frame_gap`` apart), not by
time, so clips of different frame rates give sampled frames spanning different times -- the same motion at different
speeds. :func:`rate_counts` tallies the rates decord reports; :func:`tell_mixed_rates` records them in the load report
(``facts.frame_rates``) and warns when they differ by more than :data:`MIXED`."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: the ratio of the highest to the lowest frame rate above which the clips' sampled frames are told to span
#: different times (25 against 30 fps is not warned of; 15 against 30 is)
MIXED = 1.5


def rate_counts(rates: list[float]) -> dict[str, int]:
    """Clips per frame rate, ``{"15": 3, "29.97": 2}`` (fps rounded to 2 decimals; rates decord gives as 0 or less,
    unknown, left out), sorted by rate."""
    out: dict[float, int] = {}
    for r in rates:
        if r > 0:
            out[round(float(r), 2)] = out.get(round(float(r), 2), 0) + 1
    return {f"{r:g}": n for r, n in sorted(out.items())}


def tell_mixed_rates(counts: dict[str, int], num_frames: int, frame_gap: int, facts: dict[str, Any]) -> None:
    """Store ``counts`` (:func:`rate_counts`) as ``facts["frame_rates"]`` and warn when the highest rate is more than
    :data:`MIXED` times the lowest, with the time ``num_frames`` frames ``frame_gap`` apart span at each end (seconds)."""
    if not counts:
        return
    facts["frame_rates"] = counts
    low, high = float(min(counts, key=float)), float(max(counts, key=float))
    if high <= MIXED * low:
        return
    frames = (num_frames - 1) * frame_gap + 1
    log.warning("clips of frame rates from %g to %g fps (clips per rate: %s): frames are sampled by index (%d frames %d apart), "
                "not by time, so a %g fps clip's frames span %.2f s and a %g fps clip's %.2f s -- one motion at different "
                "speeds; re-encode the clips to one frame rate (ffmpeg -i IN -r 25 OUT) if that matters",
                low, high, ", ".join(f"{r} fps: {n}" for r, n in counts.items()), num_frames, frame_gap,
                high, frames / high, low, frames / low)


__all__ = ["MIXED", "rate_counts", "tell_mixed_rates"]
