"""An interaction log's rows ``(user, item, timestamp)`` kept as columns: what the log readers
(:mod:`.log_readers`) append to and sequence building (:mod:`.build`) reads, in a module of its own so that neither
imports the other for it."""

from __future__ import annotations

import math
from array import array

from .timestamps import ISO_NAIVE, iso_seconds

#: one row of a log as a reader gives it: user, item and timestamp, as strings
Row = tuple[str, str, str]


class LogColumns:
    """Rows ``(user, item, timestamp)`` kept as columns: user and item codes (indices into :attr:`user_ids` /
    :attr:`item_ids`, the distinct ids in order of first appearance) and the timestamps as float64, read with
    ``float`` as they are appended, or an ISO 8601 date-time's seconds since 1970 UTC
    (:func:`.timestamps.timestamp_seconds`; counted in :attr:`iso`, those without an offset also in :attr:`iso_naive`,
    the first such row and the first numeric one kept to name a mix); a timestamp that is neither is kept as NaN and
    listed in :attr:`bad` (``(row, text)``). About 24 bytes a row instead of a tuple of three strings (≈ 230)."""

    def __init__(self) -> None:
        self.user_index: dict[str, int] = {}
        self.item_index: dict[str, int] = {}
        self.users = array("q")
        self.items = array("q")
        self.times = array("d")
        self.bad: list[tuple[int, str]] = []
        self.iso = self.iso_naive = 0
        self.first_iso: tuple[int, str] | None = None
        self.first_number: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self.times)

    def append(self, row: Row) -> None:
        u, i, ts = row
        users, items = self.user_index, self.item_index
        self.users.append(users.setdefault(u, len(users)))
        self.items.append(items.setdefault(i, len(items)))
        try:
            t = float(ts)
            if not math.isfinite(t):
                raise ValueError(ts)
            if self.first_number is None:
                self.first_number = (len(self.times), ts)
        except ValueError:
            t = self._not_a_number(ts)
        self.times.append(t)

    def _not_a_number(self, ts: str) -> float:
        """Seconds of an ISO 8601 timestamp (counted), else NaN (listed in :attr:`bad`); ``ts`` has already failed to read
        as a finite number (:meth:`append`), which is not tried again on every row of an ISO log."""
        got = iso_seconds(ts.strip())
        if got is None:
            self.bad.append((len(self.times), ts))
            return math.nan
        if self.first_iso is None:
            self.first_iso = (len(self.times), ts)
        self.iso += 1
        self.iso_naive += got[1] == ISO_NAIVE
        return got[0]

    @property
    def user_ids(self) -> list[str]:
        return list(self.user_index)

    @property
    def item_ids(self) -> list[str]:
        return list(self.item_index)
