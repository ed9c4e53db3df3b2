"""Interactions as arrays in file order (:class:`_Events`: user and item codes, timestamps, row numbers): the rows
with a numeric timestamp, the rows repeating an earlier ``(user, item, timestamp)``, and the filters before the split:
the k-core thresholds and the users left with fewer than :data:`MIN_LEAVE_ONE_OUT` interactions (logged and counted in
the stats)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmdistill.errors import DataError

from .log_columns import LogColumns
from .sequence_data import SequenceLoadOptions

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".data")  # the loader's logger, as before the split

MIN_LEAVE_ONE_OUT = 3


@dataclass
class _Events:
    """Interactions as arrays in file order: user and item codes, timestamps and row numbers (the row's index in
    what the reader gave, which breaks ties of equal timestamps)."""

    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def take(self, keep: np.ndarray) -> "_Events":
        return _Events(self.user[keep], self.item[keep], self.time[keep], self.row[keep])


def _events(columns: LogColumns) -> _Events:
    """The rows with a numeric timestamp; ``-0.0`` is read as ``0.0`` (they are equal, as Python compares them)."""
    time = np.frombuffer(columns.times, dtype=np.float64)
    ok = ~np.isnan(time)
    row = np.flatnonzero(ok)
    return _Events(np.frombuffer(columns.users, dtype=np.int64)[row], np.frombuffer(columns.items, dtype=np.int64)[row],
                   time[row] + 0.0, row)


def _first_of_each(ev: _Events) -> np.ndarray:
    """Mask of the rows that do not repeat an earlier row's (user, item, timestamp)."""
    if len(ev) == 0:
        return np.ones(0, dtype=bool)
    _, tcode = np.unique(ev.time, return_inverse=True)
    order = np.lexsort((ev.row, tcode.reshape(-1), ev.item, ev.user))
    u, i, t = ev.user[order], ev.item[order], tcode.reshape(-1)[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1]) | (t[1:] != t[:-1])
    keep = np.zeros(len(order), dtype=bool)
    keep[order[first]] = True
    return keep


def _distinct(codes: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _filter(ev: _Events, opts: SequenceLoadOptions, stats: dict[str, Any], source: str) -> _Events:
    before = len(ev)
    users_before = _distinct(ev.user)
    items_before = _distinct(ev.item)
    rounds = 0
    while True:
        rounds += 1
        if opts.kcore == "items_first":  # items below the threshold out first, then users counted on what is left
            ev = ev.take(np.bincount(ev.item)[ev.item] >= opts.min_item_inter)
            keep = np.bincount(ev.user)[ev.user] >= opts.min_user_inter
        else:
            keep = (np.bincount(ev.user)[ev.user] >= opts.min_user_inter) & (np.bincount(ev.item)[ev.item] >= opts.min_item_inter)
        changed = not bool(keep.all())
        if changed:
            ev = ev.take(keep)
        if opts.kcore != "iterate" or not changed:
            break
    # users / items with no interaction left (below the threshold themselves, or left without rows by the other filter)
    stats["kcore_users_removed"] = users_before - _distinct(ev.user)
    stats["kcore_items_removed"] = items_before - _distinct(ev.item)
    stats["kcore_rounds"] = rounds
    stats["kcore_interactions_removed"] = before - len(ev)
    if before - len(ev):
        log.info("%s: k-core filter (min_user_inter=%d, min_item_inter=%d, kcore=%s, %d round%s) removed %d of %d "
                 "interactions, %d of %d users and %d of %d items", source, opts.min_user_inter, opts.min_item_inter,
                 opts.kcore, rounds, "" if rounds == 1 else "s", before - len(ev), before, stats["kcore_users_removed"],
                 users_before, stats["kcore_items_removed"], items_before)
    counts = np.bincount(ev.user) if len(ev) else np.zeros(0, dtype=np.int64)
    short = (counts > 0) & (counts < MIN_LEAVE_ONE_OUT)
    n_short, n_short_rows = int(np.count_nonzero(short)), int(counts[short].sum())
    if n_short:
        log.warning("%s: %d users have fewer than %d interactions after filtering and are removed (%d interactions)",
                    source, n_short, MIN_LEAVE_ONE_OUT, n_short_rows)
    stats["users_below_3_removed"] = n_short
    stats["users_below_3_interactions_removed"] = n_short_rows
    if n_short:
        ev = ev.take(~short[ev.user])
    if not len(ev):
        raise DataError(
            f"{source}: the log is empty after filtering ({before} interactions of {users_before} users and {items_before} "
            f"items read; k-core with min_user_inter={opts.min_user_inter}, min_item_inter={opts.min_item_inter} removed "
            f"{stats['kcore_interactions_removed']} interactions, {stats['kcore_users_removed']} users and "
            f"{stats['kcore_items_removed']} items; {n_short} users had fewer than {MIN_LEAVE_ONE_OUT} interactions "
            "left); lower min_user_inter / min_item_inter")
    return ev
