"""Splits that keep a group of clips together: the folder CSV's ``group_by`` column (a speaker, a recording
session, a device), so no group has clips in both the training and the test split -- a classifier scored on a
speaker it trained on measures that speaker, not the class.

:func:`group_test_flags` draws the held-out groups of data without a split; :func:`groups_in_both` finds the groups
a given split column puts on both sides (the CSV loader refuses them, naming the rows). Used by the audio and
audio-visual CSV loaders and by video's recordings (:mod:`.video.groups`); their messages log as ``mmdistill.audio``,
where they logged before this module left ``audio/``."""

from __future__ import annotations

import logging

import torch

from mmdistill.csv_lines import line_list
from mmdistill.errors import DataError

log = logging.getLogger("mmdistill.audio")


def group_test_flags(groups: list[str], fraction: float, seed: int, *, column: str, where: str,
                     noun: str = "clips") -> tuple[list[bool], list[str]]:
    """Whether each clip is held out as test, drawn by group: of the ``G`` distinct groups (sorted by name, then
    permuted by a generator seeded with ``seed``, the recipe's ``split_seed``) ``round(G * fraction)`` are held out,
    at least 1 and at most ``G - 1``, with every clip of theirs. Returns the flags (one per entry of ``groups``) and
    the held-out group names (sorted). ``noun``: what a group holds, for the log line (``clips``, ``pairs``).

    Raises:
        DataError: fewer than two groups (nothing could be held out without a group on both sides), naming
            ``column`` and ``where`` (the CSV file).
    """
    names = sorted(set(groups))
    if len(names) < 2:
        raise DataError(f"{where}: group_by={column!r} (--group-by) holds out whole groups, but column {column!r} names "
                        f"{len(names)} group(s) among the readable {noun} ({', '.join(map(repr, names)) or 'none'}); it needs "
                        "two or more, or leave group_by out to hold out a share of each class's clips")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(int(seed))).tolist()
    n_test = min(max(int(round(len(names) * float(fraction))), 1), len(names) - 1)
    held = sorted(names[i] for i in order[:n_test])
    chosen = set(held)
    log.info("held out %d of %d groups of column %r with all their %s (test_fraction %g of the groups, split_seed %d): %s",
             len(held), len(names), column, noun, fraction, seed, ", ".join(held))
    return [g in chosen for g in groups], held


def check_group_classes(labels: list[str], test: list[bool], groups: list[str], *, column: str, where: str,
                        noun: str = "clips", named: str | None = None,
                        fix: str = "give the CSV a split column") -> None:
    """DataError when the drawn group split (``test``: each entry's flag from :func:`group_test_flags`; ``labels`` and
    ``groups``: its class and group) leaves a class without training entries: every group holding that class was held
    out (a class recorded by one speaker only), so nothing of it can be distilled. Names each such class with its
    groups and the fixes, where the per-class checks that follow would blame unreadable files or missing labels.
    ``named``: how the groups are read, in words (default ``column 'speaker' (group_by)``; the video loader's
    ``group_by='ucf' (--group-by)``); ``fix``: the last fix named (a split the data itself gives)."""
    train = {lab for lab, t in zip(labels, test) if not t}
    absent = sorted({lab for lab in labels} - train)
    if absent:
        held = {c: sorted({g for lab, g in zip(labels, groups) if lab == c}) for c in absent}
        listed = "; ".join(f"{c!r} (group(s) {', '.join(map(repr, held[c][:5]))}{' ...' if len(held[c]) > 5 else ''})"
                          for c in absent[:5])
        said = named or f"column {column!r} (group_by)"
        raise DataError(f"{where}: the groups of {said} held out as test hold all the {noun} of "
                        f"{len(absent)} class(es), which then have no training {noun}: {listed}{' ...' if len(absent) > 5 else ''}; "
                        f"give those classes more groups, or draw another split (split_seed, a smaller test_fraction), or {fix}")


def group_no_test_reason(column: str, noun: str = "clips", named: str | None = None) -> str:
    """Why a class of a group split has no test entries (:func:`~modalities.artifacts.classes_without_test`'s ``why``):
    its groups were all kept for training. ``named``: as :func:`check_group_classes`'s."""
    return (f"every group of {named or f'column {column!r} (group_by)'} holding its {noun} was kept for training; group_by "
            "holds out whole groups, not a share of each class")


def groups_in_both(groups: list[str], splits: list[str], lines: list[int]) -> list[str]:
    """The groups that have rows in both splits, each described with its rows (``lines``: the CSV line of each
    entry), sorted by group name: ``"'ann' (train rows 2, 3; test rows 9)"``."""
    rows: dict[str, dict[str, list[int]]] = {}
    for g, s, line in zip(groups, splits, lines):
        rows.setdefault(g, {}).setdefault(s, []).append(line)
    return [f"{g!r} (train rows {line_list(r['train'], 5)}; test rows {line_list(r['test'], 5)})"
            for g, r in sorted(rows.items()) if "train" in r and "test" in r]


__all__ = ["check_group_classes", "group_no_test_reason", "group_test_flags", "groups_in_both"]
