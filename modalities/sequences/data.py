"""Interaction logs -> time-ordered user sequences with a leave-one-out split.

:func:`load_sequences` reads a log file with the reader of its format (:mod:`.log_readers`: MovieLens, RecBole
``.inter``, CSV/TSV ``user,item,timestamp``, SASRec ``user item`` text; :mod:`.amazon_log`: Amazon's review and
ratings releases; each gives rows of ``(user, item, timestamp)``
as strings, in file order, kept as :class:`~.log_columns.LogColumns`) or makes ``generated[:USERS:ITEMS]``, a seeded
Markov-ish log (no files), the default; :func:`build_sequences` turns the rows into :class:`SequenceData`.
Timestamps are numbers or ISO 8601 date-times (seconds since 1970 UTC: :mod:`.timestamps`); a log mixing them is refused.

Preprocessing, as in TD3's reference (``data/preprocess.ipynb`` of USTC-StarTeam/TD3): users and items with
fewer than ``min_user_inter`` / ``min_item_inter`` (5) interactions are removed (one pass, as the reference;
``kcore="iterate"`` repeats until stable; ``kcore="items_first"`` removes the items, then the users below the threshold
on what is left, as the reference's ``src/data.py`` does for Amazon Magazine), each user's interactions are sorted by timestamp (stable: file order
breaks ties), users left with fewer than 3 interactions are removed (leave-one-out needs 3) and counted, item ids
are remapped to 0..N-1 in order of first appearance (the mapping is kept and saved with every set). The split is
leave-one-out: the last item of a user is the test target, the one before it the validation target, the rest
the training sequence. Inputs are the last ``max_len`` items before the target.

Bad input is named with counts and file lines: logs are read as UTF-8 (a line that is not stops the load);
lines that are not rows of the format (a wrong number of fields, an empty user or item) and non-numeric or
non-finite timestamps stop the load (``on_bad="error"``) or are dropped and counted (``"skip"``); rows that
repeat an earlier ``(user, item, timestamp)`` are dropped and counted (a copied last event would make a user's
test item their validation item); the k-core filter's removals are logged and
counted; users below 3 interactions are dropped and counted; test items never seen in training are kept and
counted; a log empty after filtering stops, with the count removed by each filter. The counts are
``SequenceData.stats``; they are also its ``report`` (:class:`mmdistill.load_report.LoadReport`: those of what was
dropped or removed as counts, the other stats as facts), which a set distilled from a log read from a file stores as
``load_report`` in the shape every adapter uses (a generated log's set stores the stats as ``data_stats``).
"""

from __future__ import annotations

import functools
import logging
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.keys import close_matches
from mmdistill.load_report import LoadReport
from mmdistill.words import shown, written_name

from .amazon_log import read_amazon_into
from .config import AMAZON_DATASETS, RELEASES, REFERENCE_DATASETS
from .log_columns import LogColumns, Row
from .log_readers import (COLUMN_KEYS, ITEM_NAMES, RATINGS_FILES, ROLES, TIME_NAMES, TITLE_FILES, TITLES_OF, USER_NAMES,
                          LogRows, read_csv_log, read_csv_log_into, read_movielens, read_movielens_into, read_recbole,
                          read_recbole_into, read_sasrec_text, read_sasrec_text_into, sniff_format)
from .timestamps import rating_like

log = logging.getLogger(__name__)

MIN_LEAVE_ONE_OUT = 3
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


# ---------------------------------------------------------------------------------------------- data
def right_padded(seqs: Sequence[Tensor | Sequence[int]], length: int, pad: int) -> tuple[Tensor, Tensor]:
    """The last ``length`` item indices of each sequence, right-padded with ``pad``: (B, length) long inputs and (B,)
    long lengths (a sequence of no item is all padding, length 0)."""
    out = torch.full((len(seqs), length), pad, dtype=torch.long)
    lens = torch.zeros(len(seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        kept = torch.as_tensor(s[-length:], dtype=torch.long)
        out[i, : kept.numel()] = kept
        lens[i] = kept.numel()
    return out, lens


@dataclass
class SequenceData:
    """User sequences split leave-one-out; items are 0..num_items-1, ``num_items`` is the padding id.

    ``train[u]`` is user u's training sequence (time order), ``valid_target[u]`` / ``test_target[u]`` the
    held-out items; the test input is ``train[u] + [valid_target[u]]``.
    """

    name: str
    num_items: int
    item_ids: list[str]
    users: list[str]
    train: list[Tensor]
    valid_target: Tensor
    test_target: Tensor
    max_len: int
    titles: list[str] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: the counts of ``stats`` that say what was dropped or removed (:data:`REPORT_KINDS`), the rest as facts
    report: LoadReport = field(default_factory=LoadReport, repr=False)

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def pad(self) -> int:
        return self.num_items

    def describe(self) -> str:
        n = sum(int(s.numel()) for s in self.train) + 2 * self.num_users
        return (f"{self.name}: {self.num_users} users, {self.num_items} items, {n} interactions "
                f"(leave-one-out; inputs up to {self.max_len} items)")

    def to(self, device: torch.device) -> "SequenceData":
        return self  # kept on the CPU; batches are moved where they are used

    # ------------------------------------------------------------------ views
    def padded(self, seqs: list[Tensor], length: int | None = None) -> tuple[Tensor, Tensor]:
        """Right-padded (B, L) inputs of the last ``length`` (max_len) items of each sequence, and lengths."""
        return right_padded(seqs, length or self.max_len, self.pad)

    def eval_inputs(self, split: str) -> tuple[Tensor, Tensor, Tensor]:
        """(inputs (U, max_len), lengths (U,), targets (U,)) of the ``valid`` or ``test`` split."""
        key = ("eval_inputs", split)
        if key not in self.cache:
            if split == "valid":
                seqs, targets = self.train, self.valid_target
            else:
                seqs = [torch.cat([s, self.valid_target[u : u + 1]]) for u, s in enumerate(self.train)]
                targets = self.test_target
            x, lens = self.padded(seqs)
            self.cache[key] = (x, lens, targets)
        return self.cache[key]

    def history(self, split: str) -> list[Tensor]:
        """Items each user interacted with before the ``split`` target (excluded from full ranking)."""
        if split == "valid":
            return self.train
        return [torch.cat([s, self.valid_target[u : u + 1]]) for u, s in enumerate(self.train)]

    def windows(self, users: Iterable[int] | None = None, length: int | None = None) -> tuple[Tensor, Tensor]:
        """Training windows of ``length + 1`` items cut from the end of each user's training sequence
        (stride ``length``): every training transition appears once, with up to ``length`` items of context.
        Returns (inputs (W, length), targets (W, length)), both padded with ``pad``."""
        length = length or self.max_len
        xs, ys = [], []
        for u in (range(self.num_users) if users is None else users):
            s = self.train[u]
            end = s.numel()
            while end >= 2:
                start = max(0, end - length - 1)
                w = s[start:end]
                xs.append(w[:-1])
                ys.append(w[1:])
                end = start + 1 if start > 0 else 0
        x, _ = self.padded(xs, length) if xs else (torch.empty(0, length, dtype=torch.long), None)
        y, _ = self.padded(ys, length) if ys else (torch.empty(0, length, dtype=torch.long), None)
        return x, y

    def last_items(self, users: list[int], length: int) -> list[Tensor]:
        """Each user's last ``length`` training items."""
        return [self.train[u][-length:] for u in users]

    def activity(self) -> Tensor:
        """Training interactions per user."""
        return torch.tensor([int(s.numel()) for s in self.train])

    def mapping(self) -> dict[str, Any]:
        """The item and user id mappings (saved with every set)."""
        return {"items": list(self.item_ids), "users": list(self.users)}


# ---------------------------------------------------------------------------------------------- generated log
def generated_log(num_users: int = 300, num_items: int = 200, seed: int = 0) -> list[Row]:
    """A seeded Markov-ish log: items form clusters of 20; each user prefers two clusters and mostly walks
    to the next item of its cluster (70 %), else jumps within its clusters (20 %) or anywhere (10 %);
    sequence lengths 15-60. A sequential model learns it far better than popularity."""
    gen = torch.Generator().manual_seed(seed)
    cluster = min(20, num_items)  # fewer than 20 items: one cluster of all of them
    n_clusters = max(1, num_items // cluster)
    rows: list[Row] = []
    t = 0
    for u in range(num_users):
        prefs = torch.randint(0, n_clusters, (2,), generator=gen).tolist()
        length = int(torch.randint(15, 61, (1,), generator=gen))
        c = prefs[0]
        item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
        for _ in range(length):
            rows.append((f"u{u}", f"i{item}", str(t)))
            t += 1
            r = float(torch.rand(1, generator=gen))
            if r < 0.7:
                item = (item // cluster) * cluster + (item % cluster + 1) % cluster
            elif r < 0.9:
                c = prefs[int(torch.randint(0, 2, (1,), generator=gen))]
                item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
            else:
                item = int(torch.randint(0, n_clusters * cluster, (1,), generator=gen))
    return rows


# ---------------------------------------------------------------------------------------------- building
@dataclass
class SequenceLoadOptions:
    """How a log becomes user sequences: the learner input length ``max_len`` (items), the k-core thresholds
    ``min_user_inter`` / ``min_item_inter`` (interactions) applied ``once`` or until stable (``kcore="iterate"``),
    ``on_bad`` (``error`` or ``skip`` bad rows), the file's ``log_format`` (``auto``: from the name and the file) and
    the ``seed`` of a generated log, and ``columns``: a csv header's user, item and timestamp column names
    (``user_column``, ``item_column``, ``time_column``)."""

    max_len: int = 50
    min_user_inter: int = 5
    min_item_inter: int = 5
    kcore: str = "once"
    on_bad: str = "error"
    log_format: str = "auto"
    seed: int = 0
    #: a csv log's header names of the user, item and timestamp columns (None: found by the usual names)
    columns: tuple[str | None, str | None, str | None] = (None, None, None)


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


def _warn_rating_like(times: np.ndarray, source: str, stats: dict[str, Any]) -> None:
    """A warning, and the fact ``rating_like_timestamps`` (distinct values), when the timestamps ``times`` (N,) of a
    header-less csv log look like ratings (:func:`.timestamps.rating_like`)."""
    got = rating_like(times)
    if got is None:
        return
    distinct, low, high = got
    stats["rating_like_timestamps"] = distinct
    log.warning("%s: the timestamp column holds only %d distinct whole numbers, from %g to %g, over %d rows: a rating "
                "column? Each user's events are ordered by it (ties in file order). A header-less csv is read as "
                "user,item,timestamp: give the file a header naming its columns (or --time-column), or the sasrec format "
                "(user item, in time order) for a log without times", source, distinct, low, high, len(times))


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
        ucount = np.bincount(ev.user)
        icount = np.bincount(ev.item)
        if opts.kcore == "items_first":  # items below the threshold out first, then users counted on what is left
            ev = ev.take(icount[ev.item] >= opts.min_item_inter)
            ucount = np.bincount(ev.user) if len(ev) else ucount
        keep = (ucount[ev.user] >= opts.min_user_inter) & (icount[ev.item] >= opts.min_item_inter)
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
    set by :func:`load_sequences` for a log read from a file (a generated log has none, and no stored report)."""
    report = LoadReport(descriptions=dict(REPORT_KINDS), facts={k: v for k, v in stats.items() if k not in REPORT_KINDS})
    for kind in REPORT_KINDS:
        report.count(kind, int(stats.get(kind, 0)))
    return report




def _check_malformed(read: LogRows, source: str, on_bad: str, stats: dict[str, Any]) -> None:
    if not read.malformed:
        return
    n, total = len(read.malformed), len(read.malformed) + len(read.rows)
    examples = "; ".join(f"line {line}: {why}" for line, why in read.malformed[:3])
    if not read.rows:
        raise DataError(f"{source}: none of the {n} lines is a {read.expected} row ({examples}); check the format "
                        "(log_format, --dataset) and the delimiter (tab, comma or whitespace)"
                        + ("; a log with more than three columns needs a header line naming its user, item and timestamp "
                           "columns; an Amazon ratings-only CSV (item,user,rating,timestamp without a header: the item "
                           "first) is --dataset amazon" if read.expected == "user,item,timestamp" else ""))
    if on_bad != "skip":
        raise DataError(f"{source}: {n} of {total} lines are not {read.expected} rows ({examples}); {SKIP_HINT}")
    log.warning("%s: dropped %d of %d lines that are not %s rows (%s)", source, n, total, read.expected, examples)
    stats["malformed_lines"] = n


#: a log file at least this large is named with its size before it is read (20 MB: about a million rows, several seconds
#: with no other output until the rows are counted)
ANNOUNCE_BYTES = 20_000_000


#: the dataset names a log file is read by (besides ``generated[:USERS:ITEMS]``): the MovieLens releases with rows of
#: their own in ``tables/td3.yaml``, ``movielens`` (any other release; its row from data_root's name) and the formats
FILE_DATASETS = (*RELEASES, *REFERENCE_DATASETS, "movielens", "recbole", "csv", "sasrec", "amazon", "file")


def check_dataset_name(dataset: str) -> None:
    """ConfigError (key ``dataset``) for a name outside ``generated[:USERS:ITEMS]`` and :data:`FILE_DATASETS`
    (case-insensitive), with the close matches: an unknown name was sniffed and became the set's label, and a
    typo'd release (``ml-1n``) read MovieLens with another release's hyper-parameters."""
    key = dataset.lower()
    if key.startswith("generated") or key in FILE_DATASETS:
        return
    close = close_matches(key, [*FILE_DATASETS, "generated"])
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    if key.startswith(("ml-", "movielens")):
        what = (f"is not a MovieLens release with hyper-parameters of its own (tables/td3.yaml has {', '.join(RELEASES)}); "
                "for another release's zip or folder pass --dataset movielens")
    else:
        what = ("is not a sequences dataset; for your own log pass its format (csv, recbole, sasrec, amazon, or file to sniff "
                "it: the set is named after the file)")
    raise ConfigError(f"dataset {dataset!r} {what}{hint} (valid: generated[:USERS:ITEMS], {', '.join(FILE_DATASETS)})",
                      key="dataset")


def _file_set_name(path: Path) -> str:
    """The name of a set read from ``path``: its file name without ``.zip``/``.inter``/``.csv``/``.tsv``/``.txt``, as a
    manifest holds it (:func:`mmdistill.words.written_name`: a saved set's name holds no control or bidi-reordering
    character, so a file called ``ev\\nil.zip`` would give a set its own ``show`` refuses; a replacement is logged)."""
    return written_name(re.sub(r"\.(zip|inter|csv|tsv|txt)$", "", path.name), str(path))


def load_sequences(dataset: str, data_root: str | None, opts: SequenceLoadOptions) -> SequenceData:
    """``dataset``: ``generated[:USERS:ITEMS]`` (no files), ``movielens`` / ``ml-latest-small`` / ``ml-100k``
    / ``ml-1m`` (a GroupLens zip or folder at ``data_root``), ``recbole`` (a ``.inter`` file), ``csv``
    (``user,item,timestamp``), ``sasrec`` (``user item`` lines) or ``file`` (format sniffed); another name is sniffed
    as ``file`` (a new run refuses it first: :func:`check_dataset_name`; a set saved under it still loads)."""
    key = dataset.lower()
    if key.startswith("generated"):
        parts = key.split(":")
        try:
            if len(parts) > 3 or (key != "generated" and parts[0] != "generated"):
                raise ValueError(dataset)
            users = int(parts[1]) if len(parts) > 1 else 300
            items = int(parts[2]) if len(parts) > 2 else 200
            if users < 1 or items < 1:
                raise ValueError(dataset)
        except ValueError:
            raise DataError(f"generated log spec is generated[:USERS:ITEMS] with USERS, ITEMS >= 1, got {dataset!r}") from None
        return build_sequences(dataset, generated_log(users, items, opts.seed), opts)
    if not data_root:
        raise DataError(f"dataset {dataset!r} reads a file: pass --data-root (a MovieLens zip or folder, a RecBole "
                        ".inter file, a user,item,timestamp CSV/TSV or a SASRec 'user item' text file)")
    path = Path(data_root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {shown(str(path))} does not exist")
    fmt = opts.log_format
    if fmt == "auto":
        fmt = {"recbole": "recbole", "csv": "csv", "sasrec": "sasrec", "amazon": "amazon",
               **dict.fromkeys(AMAZON_DATASETS, "amazon")}.get(key) or (
            "movielens" if key.startswith(("movielens", "ml-")) else sniff_format(path))
    reader = {"movielens": read_movielens_into, "recbole": read_recbole_into, "csv": read_csv_log_into,
              "sasrec": read_sasrec_text_into, "amazon": read_amazon_into}.get(fmt)
    if reader is None:
        raise DataError(f"log_format must be auto, movielens, recbole, csv, sasrec or amazon, got {fmt!r}")
    if any(opts.columns):
        if fmt != "csv":
            named = next(k for k, c in zip(COLUMN_KEYS, opts.columns) if c)
            raise ConfigError(f"{named} names a column of a csv log's header, but {shown(str(path))} is read as {fmt}; pass "
                              "--dataset csv (or log_format=csv) for a csv log", key=named)
        reader = functools.partial(read_csv_log_into, columns=opts.columns)
    size = path.stat().st_size if path.is_file() else 0
    if size >= ANNOUNCE_BYTES:  # ~6 s of CPU a million rows here, with nothing else shown until the count
        log.info("%s: reading %.0f MB (%s format)", shown(str(path)), size / 1e6, fmt)
    # rows read straight into columns (codes and float timestamps) and lines into an array: a few bytes a row
    read = reader(path, LogColumns(), array("q"))
    source = shown(f"{path}:{read.member}" if fmt == "movielens" and read.member != str(path) else str(path))
    stats: dict[str, Any] = {"format": fmt}
    _check_malformed(read, source, opts.on_bad, stats)
    if not read.rows:
        why = "the file has a header and no rows" if read.header else "the file is empty"
        raise DataError(f"{source}: no interactions could be read (the {fmt} reader expects {read.expected} rows; {why})")
    log.info("%s: read %d interactions (%s format)", source, len(read.rows), fmt)
    if fmt == "csv" and not read.header and isinstance(read.rows, LogColumns):  # the third field taken as the time unnamed
        _warn_rating_like(np.frombuffer(read.rows.times, dtype=np.float64), source, stats)
    name = dataset if key not in ("file", "csv", "recbole", "sasrec", "amazon", "movielens") else _file_set_name(path)
    data = build_sequences(name, read.rows, opts, read.titles, source, read.lines, stats)
    data.report.root = str(path)
    return data


__all__ = ["COLUMN_KEYS", "FILE_DATASETS", "ITEM_NAMES", "LogColumns", "LogRows", "RATINGS_FILES", "REPORT_KINDS", "ROLES",
           "Row", "SequenceData", "SequenceLoadOptions", "TIME_NAMES", "TITLES_OF", "TITLE_FILES", "USER_NAMES",
           "build_sequences", "check_dataset_name", "generated_log", "load_sequences", "read_csv_log", "read_movielens",
           "read_recbole", "read_sasrec_text", "right_padded", "stats_report"]
