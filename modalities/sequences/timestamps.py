"""An interaction log's timestamp text as seconds.

A timestamp is a number (epoch seconds, milliseconds, or any number that orders the events: it is used as written)
or an ISO 8601 date-time — ``2024-03-25T11:01:15Z``, ``2024-03-25 11:01:15+02:00``, ``2024-03-25T11:01:15.250``,
``2024-03-25`` — read as seconds since 1970-01-01 UTC; one without an offset is read as UTC (a shop's export in
local time keeps its order, a change of daylight-saving time aside). A log mixing the two kinds is refused by the
loader: numbers in an unknown unit do not order against date-times.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: the kinds of :func:`timestamp_seconds`
NUMBER, ISO, ISO_NAIVE = "number", "iso", "iso_naive"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def timestamp_seconds(text: str) -> tuple[float, str] | None:
    """``(seconds, kind)`` of a timestamp's text: a finite number as it is (kind ``number``), an ISO 8601 date or
    date-time as seconds since 1970-01-01 UTC (kind ``iso``, or ``iso_naive`` when it has no offset and was read as
    UTC); None for anything else (a word, ``nan``, ``inf``, an impossible date such as ``2024-02-30``)."""
    try:
        value = float(text)
    except ValueError:
        return iso_seconds(text.strip())
    return (value, NUMBER) if math.isfinite(value) else None


def iso_seconds(text: str) -> tuple[float, str] | None:
    """``(seconds, kind)`` of an ISO 8601 date or date-time ``text`` (stripped) as :func:`timestamp_seconds` reads it,
    None for anything else: for a caller that has already failed to read it as a number."""
    if len(text) < 10 or not text[:4].isdigit() or text[4] != "-":
        return None
    if text[-1] in "Zz":  # Python 3.10's fromisoformat does not read the Z suffix
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return (when.replace(tzinfo=dt.timezone.utc) - _EPOCH).total_seconds(), ISO_NAIVE
    return (when - _EPOCH).total_seconds(), ISO


__all__ = ["ISO", "ISO_NAIVE", "NUMBER", "iso_seconds", "timestamp_seconds"]


#: a timestamp column of at most this many distinct whole numbers, all in [0, RATING_MAX], over at least
#: RATING_MIN_ROWS rows, reads as a rating column (1-5 stars, 0-10 scores) rather than times
RATING_DISTINCT, RATING_MAX, RATING_MIN_ROWS = 10, 10.0, 20


def rating_like(times: np.ndarray) -> tuple[int, float, float] | None:
    """``(distinct values, lowest, highest)`` when the float timestamps ``times`` (N,) look like ratings, not times:
    few distinct whole numbers, all within 0 to 10 (a header-less ``user,item,rating`` file read as
    ``user,item,timestamp``); else None. Epoch seconds, milliseconds and event counters have many distinct values."""
    import numpy as np

    finite = times[np.isfinite(times)]
    if len(finite) < RATING_MIN_ROWS or finite.min() < 0 or finite.max() > RATING_MAX or not np.all(finite == np.round(finite)):
        return None
    distinct = np.unique(finite)
    if len(distinct) > RATING_DISTINCT:
        return None
    return len(distinct), float(distinct[0]), float(distinct[-1])
