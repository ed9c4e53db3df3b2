"""Raw ``(user, item, timestamp)`` rows -> :class:`~.sequence_data.SequenceData` (:func:`build_sequences`): the
timestamps parsed (numbers or ISO 8601; bad ones refused or dropped by ``on_bad``), repeats dropped and the filters of
:mod:`.events` applied, each user's events ordered by time, items numbered in order of first appearance, the last two
events held out (leave-one-out), and the stats and their load report (:func:`stats_report`)."""

from __future__ import annotations

import logging
from array import array
from typing import Any

import numpy as np
import torch

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport

from .events import MIN_LEAVE_ONE_OUT, _events, _filter, _first_of_each
from .log_columns import LogColumns, Row
from .sequence_data import SequenceData, SequenceLoadOptions

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".data")  # the loader's logger, as before the split

#: the stats that count what the loader dropped or removed: the load report's kinds (counts only) and what each says
REPORT_KINDS = {
    "malformed_lines": "lines that are not rows of the format dropped (on_bad=skip)",
    "non_numeric_timestamps": "rows with a non-numeric or non-finite timestamp dropped (on_bad=skip)",
    "duplicate_rows": "rows repeating an earlier row's (user, item, timestamp) dropped",
    "kcore_interactions_removed": "interactions removed by the k-core filter",
    "kcore_users_removed": "users removed by the k-core filter",
    "kcore_items_removed": "items removed by the k-core filter",
    "users_below_3_removed": f"users left with fewer than {MIN_LEAVE_ONE_OUT} interactions removed",
    "users_below_3_interactions_removed": f"interactions of users left with fewer than {MIN_LEAVE_ONE_OUT} removed",
}


SKIP_HINT = "fix the log or pass on_bad=skip to drop them (they are then counted in the log and the manifest)"


def _where(n: int, lines: list[int] | array[int] | None) -> str:
    return f"line {lines[n]}" if lines is not None else f"row {n + 1}"


def _parse_time(rows: list[Row] | LogColumns, source: str, on_bad: str, stats: dict[str, Any],
                lines: list[int] | array[int] | None = None) -> LogColumns:
    if not isinstance(rows, LogColumns):
        columns = LogColumns()
        for row in rows:
            columns.append(row)
        rows = columns
    bad = rows.bad
    if rows.iso and rows.first_number is not None:
        (n_iso, iso), (n_num, num) = rows.first_iso or (0, ""), rows.first_number
        raise DataError(f"{source}: the timestamps mix ISO 8601 date-times ({rows.iso} rows, {_where(n_iso, lines)}: {iso!r}) "
                        f"and numbers ({len(rows) - rows.iso - len(bad)} rows, {_where(n_num, lines)}: {num!r}), which do "
                        "not order against each other (a number's unit is unknown); write one kind in the log")
    if rows.iso:
        stats["timestamp_format"] = "iso8601"
        if rows.iso_naive:
            stats["timestamps_without_offset"] = rows.iso_naive
        log.info("%s: read %d ISO 8601 timestamps as seconds since 1970-01-01 UTC%s", source, rows.iso,
                 f" ({rows.iso_naive} without an offset, read as UTC)" if rows.iso_naive else "")
    if bad:
        examples = ", ".join(f"{_where(n, lines)}: {ts!r}" for n, ts in bad[:3])
        if on_bad != "skip":
            hint = ""
            if bad[0][0] == 0 and lines is not None and lines[0] == 1:
                hint = ("; if line 1 is a header, name its columns (user / user_id / userId, item / item_id / movieId, "
                        "timestamp / time / ts)")
            # skipping every row leaves nothing: then the message says what a timestamp may be, and no more
            what = "fix the log" if len(bad) == len(rows) else SKIP_HINT
            raise DataError(f"{source}: {len(bad)} of {len(rows)} rows have a non-numeric or non-finite timestamp "
                            f"({examples}){hint}; a timestamp is a number (epoch seconds) or an ISO 8601 date-time "
                            f"(2024-03-25T11:01:15Z, 2024-03-25 11:01:15+02:00): {what}")
        log.warning("%s: dropped %d of %d rows with a non-numeric or non-finite timestamp (%s)", source, len(bad), len(rows),
                    examples)
        stats["non_numeric_timestamps"] = len(bad)
    return rows


def _in_order_of_first(codes: np.ndarray) -> np.ndarray:
    """The distinct values of ``codes`` in order of first appearance."""
    distinct, first = np.unique(codes, return_index=True)
    return distinct[np.argsort(first, kind="stable")]


def _count_ties(times: np.ndarray, ends: np.ndarray, stats: dict[str, Any], source: str) -> None:
    """Count (``tied_test_targets``, ``tied_valid_targets``) and log the users whose held-out item shares its timestamp
    with the event before it (a basket bought at once): the file order, not the time, chose which one is held out.
    ``times``: every user's timestamps in sequence order; ``ends``: each user's end in it (users hold >= 3 events)."""
    tied_test = int(np.count_nonzero(times[ends - 1] == times[ends - 2]))
    tied_valid = int(np.count_nonzero(times[ends - 2] == times[ends - 3]))
    stats.update({"tied_test_targets": tied_test, "tied_valid_targets": tied_valid})
    if tied_test or tied_valid:
        log.info("%s: %d users' test item and %d users' validation item share their timestamp with the event before "
                 "(logged at the same time: a basket, a batch of ratings); the log's line order decides which is held out", source, tied_test,
                 tied_valid)


def build_sequences(name: str, rows: list[Row] | LogColumns, opts: SequenceLoadOptions, titles: dict[str, str] | None = None,
                    source: str | None = None, lines: list[int] | array[int] | None = None,
                    stats: dict[str, Any] | None = None) -> SequenceData:
    """Time-ordered user sequences split leave-one-out from raw ``(user, item, timestamp)`` rows. ``lines``: the
    file line of each row (errors name lines, else rows); ``stats``: counts a reader already made."""
    source = source or name
    stats = {"rows_read": len(rows), **(stats or {})}
    if not rows:
        raise DataError(f"{source}: no interactions could be read")
    columns = _parse_time(rows, source, opts.on_bad, stats, lines)
    user_ids, item_ids_read = columns.user_ids, columns.item_ids
    ev = _events(columns)
    del columns
    # a row repeating an earlier (user, item, timestamp) is a copy of the same event: kept, it can make a user's
    # test item their validation item (a leak the ranking rewards), so it is dropped and counted
    keep = _first_of_each(ev)
    if not keep.all():
        log.warning("%s: dropped %d rows that repeat an earlier row's (user, item, timestamp)", source,
                    len(ev) - int(keep.sum()))
        stats["duplicate_rows"] = len(ev) - int(keep.sum())
        ev = ev.take(keep)
    del keep
    ev = _filter(ev, opts, stats, source)
    # users in order of their first row left; each user's events by (timestamp, row); items numbered in order of
    # first appearance in those sequences
    user_order = _in_order_of_first(ev.user)
    rank = np.empty(len(user_ids), dtype=np.int64)
    rank[user_order] = np.arange(len(user_order))
    user_rank = rank[ev.user]
    order = np.lexsort((ev.row, ev.time, user_rank))
    seq = ev.item[order]
    sizes = np.bincount(user_rank, minlength=len(user_order))
    ends = np.cumsum(sizes)
    _count_ties(ev.time[order], ends, stats, source)
    del order, user_rank, rank
    item_order = _in_order_of_first(seq)
    new_id = np.empty(len(item_ids_read), dtype=np.int64)
    new_id[item_order] = np.arange(len(item_order))
    seq = new_id[seq]
    in_train = np.ones(len(seq), dtype=bool)
    in_train[ends - 1] = False
    in_train[ends - 2] = False
    train_items = torch.from_numpy(seq[in_train])
    train = [s.clone() for s in train_items.split((sizes - 2).tolist())]
    valid = torch.tensor(seq[ends - 2], dtype=torch.long)
    test = torch.tensor(seq[ends - 1], dtype=torch.long)
    users = [user_ids[c] for c in user_order.tolist()]
    item_ids = [item_ids_read[c] for c in item_order.tolist()]
    seen = torch.zeros(len(item_ids), dtype=torch.bool)
    seen[train_items] = True
    del train_items, seq, in_train
    unseen_test = int((~seen[test]).sum())
    unseen_valid = int((~seen[valid]).sum())
    if unseen_test or unseen_valid:
        log.warning("%s: %d test and %d validation targets are items never seen in training; they are kept "
                    "(only their initial embedding can rank them)", source, unseen_test, unseen_valid)
    stats.update({"users": len(users), "items": len(item_ids), "interactions": len(ev),
                  "unseen_test_items": unseen_test, "unseen_valid_items": unseen_valid})
    title_list = [titles.get(i, i) for i in item_ids] if titles else None
    return SequenceData(name=name, num_items=len(item_ids), item_ids=item_ids, users=users, train=train,
                        valid_target=valid, test_target=test, max_len=opts.max_len, titles=title_list, stats=stats,
                        report=stats_report(stats))


def stats_report(stats: dict[str, Any]) -> LoadReport:
    """The load report of a log's ``stats``: the counts of what was dropped or removed (every kind of
    :data:`REPORT_KINDS`, zeros too), the other stats (format, rows read, users, items ...) as facts. Its root is
    set by :func:`.data.load_sequences` for a log read from a file (a generated log has none, and no stored report)."""
    report = LoadReport(descriptions=dict(REPORT_KINDS), facts={k: v for k, v in stats.items() if k not in REPORT_KINDS})
    for kind in REPORT_KINDS:
        report.count(kind, int(stats.get(kind, 0)))
    return report
