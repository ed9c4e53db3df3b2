"""Splits that keep a group of clips together: the folder CSV's ``group_by`` column (a speaker, a recording
session, a device), so no group has clips in both the training and the test split -- a classifier scored on a
speaker it trained on measures that speaker, not the class.

:func:`group_test_flags` draws the held-out groups of data without a split; :func:`groups_in_both` finds the groups
a given split column puts on both sides (the CSV loader refuses them, naming the rows). Used by the audio and
audio-visual CSV loaders and by video's recordings (:mod:`.video.groups`); their messages log as ``mmdistill.audio``,
where they logged before this module left ``audio/``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mmdistill.csv_lines import line_list
from mmdistill.data import emptied_classes, held_count
from mmdistill.errors import DataError

log = logging.getLogger("mmdistill.audio")


def group_test_flags(groups: list[str], fraction: float, seed: int, *, column: str, where: str,
                     noun: str = "clips", labels: list[str] | None = None, named: str | None = None,
                     source: str | None = None, fix: str = "give the CSV a split column") -> tuple[list[bool], list[str]]:
    """Whether each clip is held out as test, drawn by group: of the ``G`` distinct groups (sorted by name, then
    permuted by a generator seeded with ``seed``, the recipe's ``split_seed``) ``round(G * fraction)`` are held out,
    at least 1 and at most ``G - 1``, with every clip of theirs. Returns the flags (one per entry of ``groups``) and
    the held-out group names (sorted). ``noun``: what a group holds, for the log line (``clips``, ``pairs``).
    ``labels`` (each entry's class): the draw is checked to leave every class training entries
    (:func:`check_group_classes`, with ``named`` and ``fix``). ``named``: how the groups are read, in words (default
    ``group_by='speaker' (--group-by)``); ``source``: where they come from, before their count (default ``column
    'speaker' names``, counted among the readable ``noun``; the video loader's ``the clips' names give``).

    Raises:
        DataError: fewer than two groups (nothing could be held out without a group on both sides), naming
            ``column`` and ``where`` (the CSV file); a class left without training entries (``labels``).
    """
    names = sorted(set(groups))
    if len(names) < 2:
        found = f"{source} {len(names)} group(s)" if source else \
            f"column {column!r} names {len(names)} group(s) among the readable {noun}"
        raise DataError(f"{where}: {named or said_group_by(column)} holds out whole groups, but {found} "
                        f"({', '.join(map(repr, names)) or 'none'}); it needs two or more, or leave group_by out to hold out a "
                        f"share of each class's {noun}")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(int(seed))).tolist()
    n_test = held_count(len(names), fraction)  # at least 1, at most G - 1 (G >= 2 here)
    held = sorted(names[i] for i in order[:n_test])
    chosen = set(held)
    log.info("held out %d of %d groups of %s with all their %s (test_fraction %g of the groups, split_seed %d): %s",
             len(held), len(names), named or f"column {column!r}", noun, fraction, seed, ", ".join(held))
    flags = [g in chosen for g in groups]
    if labels is not None:
        check_group_classes(labels, flags, groups, column=column, where=where, noun=noun, named=named, fix=fix)
    return flags, held


def check_group_classes(labels: list[str], test: list[bool], groups: list[str], *, column: str, where: str,
                        noun: str = "clips", named: str | None = None,
                        fix: str = "give the CSV a split column") -> None:
    """DataError when the drawn group split (``test``: each entry's flag from :func:`group_test_flags`; ``labels`` and
    ``groups``: its class and group) leaves a class without training entries: every group holding that class was held
    out (a class recorded by one speaker only), so nothing of it can be distilled. Names each such class with its
    groups and the fixes, where the per-class checks that follow would blame unreadable files or missing labels.
    ``named``: how the groups are read, in words (default ``column 'speaker' (group_by)``; the video loader's
    ``group_by='ucf' (--group-by)``); ``fix``: the last fix named (a split the data itself gives)."""
    absent = emptied_classes(labels, test)
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


def _rows(lines: list[int]) -> str:
    return f"rows {line_list(lines, 5)}"


def groups_on_both_sides(groups: Sequence[str], splits: Sequence[str], entries: Sequence[Any]) -> dict[str, dict[str, list]]:
    """The groups that have entries in both splits (``splits``: each entry's ``train`` or ``test``), sorted by group
    name, each with its entries (``entries``: a CSV line, a clip name, a fold) by side: ``{"ann": {"train": [2, 3],
    "test": [9]}}``."""
    sides: dict[str, dict[str, list]] = {}
    for g, s, entry in zip(groups, splits, entries):
        sides.setdefault(g, {}).setdefault(s, []).append(entry)
    return {g: r for g, r in sorted(sides.items()) if "train" in r and "test" in r}


def groups_in_both(groups: Sequence[str], splits: Sequence[str], entries: Sequence[int] | Sequence[str],
                   shown: Callable[[list], str] = _rows) -> list[str]:
    """The groups that have entries in both splits (:func:`groups_on_both_sides`), each described with its entries on
    each side (``entries``: the CSV line of each entry, shown as ``rows 2, 3``; or what ``shown`` makes of a side's
    entries, such as the video loader's first clip name), sorted by group name: ``"'ann' (train rows 2, 3; test rows 9)"``."""
    return [f"{g!r} (train {shown(r['train'])}; test {shown(r['test'])})"
            for g, r in groups_on_both_sides(groups, splits, entries).items()]


def some(described: list[str], limit: int = 5) -> str:
    """Up to ``limit`` entries of ``described``, joined, with ``...`` when there are more."""
    return "; ".join(described[:limit]) + (" ..." if len(described) > limit else "")


def refuse_groups_in_both(where: str, column: str, groups: Sequence[str], splits: Sequence[str],
                          entries: Sequence[int] | Sequence[str], noun: str = "clips", *,
                          shown: Callable[[list], str] = _rows, held: str = "rows", named: str | None = None,
                          fix: str | None = None) -> None:
    """DataError when a given split puts a group on both sides (:func:`groups_in_both`), naming the groups with their
    entries; ``where``: the file or folder as the loader names it; ``noun``: what the test entries are (``clips``,
    ``pairs``). ``entries``: each entry's CSV line, shown by ``shown`` (``rows 2, 3``; the video loader: its clip
    names, shown by the first); ``held``: what those entries are, in words (``rows``; ``clips``). ``named``: how the
    groups are read (default ``column 'speaker' (group_by)`` of ``column``); ``fix``: what to do (default: one split
    per group, or the split column left empty to draw the held-out groups)."""
    both = groups_in_both(groups, splits, entries, shown)
    if both:
        said = named or f"column {column!r} (group_by)"
        todo = fix or ("put each group's rows in one split, or leave the split empty on every row to have the held-out "
                       "groups drawn (test_fraction of the groups, split_seed)")
        raise DataError(f"{where}: {len(both)} group(s) of {said} have {held} in both splits, so the test {noun} score groups "
                        f"the model trained on: {some(both)}; {todo}")


def no_group_column(where: str, group_by: str, columns: Sequence[str], noun: str = "clip", after: str = "",
                    other: str = "") -> DataError:
    """The refusal of a ``group_by`` the CSV's header row (``columns``) lacks; ``where``: the file as the loader names it;
    ``noun``: what a row lists (``clip``, ``pair``); ``after``: where the column must stand (`` after path,label``);
    ``other``: what else the key reads where the data is not a CSV, appended (the audio folder's file-name patterns)."""
    return DataError(f"{where}: {said_group_by(group_by)} is not a column of its header row ({', '.join(columns)}); "
                     f"expected a column{after} naming each {noun}'s group (a speaker){other}")


def rows_without_group(lines: list[int], column: str, noun: str = "clip") -> str:
    """What is wrong with the CSV rows (``lines``) that leave the group_by column ``column`` empty, in words."""
    return f"{len(lines)} row(s) have no value in the group_by column {column!r} (every {noun} needs its group): {_rows(lines)}"


def quoted(text: str) -> str:
    r"""``text`` between single quotes as a shell reads it back, a pattern's backslashes single (``'spk(\d+)'``, which
    ``repr`` writes ``'spk(\\d+)'``: copied to a command line, that pattern matches a backslash); ``repr`` where the
    text holds a quote or a character that is not printable."""
    return f"'{text}'" if "'" not in text and text.isprintable() else repr(text)


def said_group_by(group_by: str) -> str:
    """How messages name the ``group_by`` key as given (a column, a pattern, ``ucf``, ``folder``), in words:
    ``group_by='spk(\\d+)' (--group-by)``, the value as a shell reads it back (:func:`quoted`)."""
    return f"group_by={quoted(group_by)} (--group-by)"


def folder_group_rule(group_by: str) -> str:
    """The split rule (a set's ``meta["split_rule"]``) of class folders whose held-out groups ``group_by`` (a pattern)
    reads from the clips' file names, or from their paths below their class folders (``folder``, a pattern with a
    ``/``: :func:`~.video.groups.reads_folders`), drawn among the readable clips (audio, audio-visual clips)."""
    from .video.groups import group_pattern, reads_folders

    read = "paths below their class folders" if reads_folders(group_pattern(group_by)) else "file names"
    return (f"by the groups group_by={quoted(group_by)} reads from the clips' {read} (test_fraction of the groups, seeded, "
            "among the readable clips)")


def tell_nested_split(where: str, paths: Sequence[str | Path], labels: Sequence[str], splits: Sequence[str],
                      root: str | Path | None, logger: logging.Logger, facts: dict | None = None, noun: str = "clips",
                      validation: float | None = None) -> int:
    """Say, once per load, that the clips of a split drawn clip by clip (no ``group_by``) lie in sub-folders of their
    class folders (``<class>/<speaker>/take1.wav``, as VoxCeleb and LibriSpeech keep a speaker; ``paths``, ``labels``:
    each clip's path and class; ``splits``: ``train`` or ``test``; ``root``: the data root, :func:`~.video.groups.below_class`),
    when every clip of at least one class does. A sub-folder is named as ``group_by folder`` reads it (the first one
    below the class folder, one name across classes: a speaker of every class). When the draw put a sub-folder's clips
    on both sides, a warning names them (up to five, with a clip of each side) and points at ``--group-by folder``: if
    a sub-folder is one speaker or recording, the test clips score what the model trained on; ``facts`` (a load report's)
    receives their count as ``subfolders_in_both``. Else an info line gives the same hint. ``where``: the data root as
    the loader names it; ``noun``: what the clips are (``clips``, ``pairs``). ``validation`` (the config's fraction, as
    the config holds it; 0 or None: none): the validation split is drawn from the training clips one by one too (the sub-folders are no groups it knows),
    so the line says so and is a warning whatever the test split's draw. Returns the number of sub-folders on both
    sides of the test split."""
    from .video.groups import below_class

    validation = float(validation or 0.0)  # the config's value as is: None (no validation key) or a fraction
    base = Path(root).expanduser() if root is not None else None
    within = [below_class(Path(p), lab, base) for p, lab in zip(paths, labels)]
    nested = {lab for lab in labels} - {lab for lab, w in zip(labels, within) if not (w and "/" in w)}
    if not nested:
        return 0
    keep = [i for i, lab in enumerate(labels) if lab in nested]
    both = groups_in_both([within[i].split("/", 1)[0] for i in keep], [splits[i] for i in keep], [within[i] for i in keep],
                          shown=lambda names: names[0])
    said = (f"{where}: the {noun} of {len(nested)} of {len({*labels})} class(es) lie in sub-folders of their class folders "
            f"(e.g. {within[keep[0]]}) and the split was drawn {noun[:-1]} by {noun[:-1]} (no group_by)")
    one = noun[:-1]
    fix = "pass --group-by folder (group_by=folder) to hold out whole sub-folders" + (
        " (of the test and the validation split)" if validation > 0 else "")
    held = f"validation={validation:g} holds out training {noun} {one} by {one} too, not whole sub-folders"
    if both:
        if facts is not None:
            facts["subfolders_in_both"] = len(both)
        logger.warning("%s: %d sub-folder(s) have %s in both the training and the test split, so if a sub-folder is one "
                       "speaker, actor or recording the test %s score what the model trained on: %s%s; %s", said, len(both),
                       noun, noun, some(both), f"; {held} (the validation {noun} likewise)" if validation > 0 else "", fix)
    elif validation > 0:
        logger.warning("%s; %s: if a sub-folder is one speaker, actor or recording, the validation %s score what the model "
                       "trained on; %s", said, held, noun, fix)
    else:
        logger.info("%s; if a sub-folder is one speaker, actor or recording, %s", said, fix)
    return len(both)


__all__ = ["check_group_classes", "folder_group_rule", "group_no_test_reason", "group_test_flags", "groups_in_both", "groups_on_both_sides", "no_group_column",
           "refuse_groups_in_both", "quoted", "rows_without_group", "said_group_by", "some", "tell_nested_split"]
