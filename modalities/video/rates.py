"""Frame rates of decoded video files. Without ``sample_fps``, frames are sampled by index (``num_frames`` frames
``frame_gap`` apart), not by time, so clips of different frame rates give sampled frames spanning different times --
the same motion at different speeds. :func:`rate_counts` tallies the rates decord reports; :func:`tell_mixed_rates` records them in the load report
(``facts.frame_rates``) and warns when they differ by more than :data:`MIXED` (unless ``sample_fps`` picks frames by time);
:func:`too_long_for_every_clip` refuses a time no clip lasts."""

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


def tell_mixed_rates(counts: dict[str, int], num_frames: int, frame_gap: int, facts: dict[str, Any],
                     by_time: bool = False) -> None:
    """Store ``counts`` (:func:`rate_counts`) as ``facts["frame_rates"]`` and warn when the highest rate is more than
    :data:`MIXED` times the lowest, with the time ``num_frames`` frames ``frame_gap`` apart span at each end (seconds);
    ``by_time`` (``sample_fps`` set: every clip's frames span the same time) records them without a warning."""
    if not counts:
        return
    facts["frame_rates"] = counts
    if by_time:
        return
    low, high = float(min(counts, key=float)), float(max(counts, key=float))
    if high <= MIXED * low:
        return
    frames = (num_frames - 1) * frame_gap + 1
    log.warning("clips of frame rates from %g to %g fps (clips per rate: %s): frames are sampled by index (%d frames %d apart), "
                "not by time, so a %g fps clip's frames span %.2f s and a %g fps clip's %.2f s -- one motion at different "
                "speeds; sample_fps (--sample-fps N) picks them by time instead, N frames a second of every clip",
                low, high, ", ".join(f"{r} fps: {n}" for r, n in counts.items()), num_frames, frame_gap,
                high, frames / high, low, frames / low)


def too_long_for_every_clip(sampling: Any, longest: int, report: Any) -> None:
    """Under ``sampling.sample_fps``, a :class:`~mmdistill.errors.ConfigError` naming ``sample_fps``, ``num_frames`` and
    ``frame_gap`` when the time the sampled frames span is longer than every clip (``longest``: frames of the longest
    clip decoded or skipped as too short, resampled; -1: none was): each would be padded, skipped or sampled with a
    smaller gap (``short``), so no clip would span the time asked. By index (no ``sample_fps``) nothing is checked: the
    short clips are counted, as they always were."""
    from mmdistill.errors import ConfigError

    if not sampling.sample_fps or longest < 0 or longest >= sampling.span:
        return
    raise ConfigError(f"sample_fps={sampling.sample_fps:g}: num_frames={sampling.num_frames} frames frame_gap={sampling.frame_gap} "
                      f"apart span {sampling.seconds(sampling.span):.2f} s, longer than every clip (the longest lasts "
                      f"{sampling.seconds(longest):.2f} s; {len(report.skipped_short)} skipped, {len(report.padded)} padded, "
                      f"{len(report.shrunk_gap)} with a smaller gap); expected a span of at most {sampling.seconds(longest):.2f} s: "
                      "raise sample_fps or lower num_frames or frame_gap", key="sample_fps")


__all__ = ["MIXED", "rate_counts", "tell_mixed_rates", "too_long_for_every_clip"]
