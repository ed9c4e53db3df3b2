"""Splits that keep the clips of one recording together (``group_by``): UCF101 cuts each recording into several
clips named ``v_<Class>_g<group>_c<clip>.avi`` (the same actor, background and viewpoint), and its own split lists
hold out whole groups. A split drawn clip by clip puts clips of one recording on both sides, so the test clips
measure recognising that recording, not the class.

:func:`group_pattern` reads the ``group_by`` key (``ucf`` or a regular expression over file names);
:func:`hold_out_groups` draws the held-out groups of class folders (no split given); :func:`groups_in_both`
finds the groups a given split puts on both sides (refused with ``group_by``); :func:`ucf_groups_in_both` warns of
them when ``group_by`` is not set and the names are UCF-style."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from mmdistill.errors import ConfigError, DataError

from ..groups import group_test_flags, quoted, some
from ..groups import groups_in_both as _groups_in_both

log = logging.getLogger(__name__)

#: UCF101's clip names: ``v_ApplyEyeMakeup_g08_c01.avi`` is clip 1 of group (recording) 8
UCF_GROUP = re.compile(r"_g(\d+)_c\d+$", re.IGNORECASE)


#: what the warning of recordings on both sides of a split (:func:`ucf_groups_in_both`) tells the video loader's user
GROUP_BY_REMEDY = "pass --group-by ucf (group_by=ucf) to hold out whole groups"

#: how the group readers' errors (:func:`item_groups`, :func:`hold_out_groups`) tell the video loader's user to give a
#: split instead; a caller that reads its split another way passes its own words (``split_hint``)
SPLIT_HINT = "a CSV path,label,split (--split-file)"


def group_pattern(group_by: str) -> re.Pattern[str]:
    """The pattern ``group_by`` names: ``ucf`` (:data:`UCF_GROUP`, UCF101's ``v_<Class>_g<group>_c<clip>`` names) or a
    regular expression searched in each clip's file name without its extension (its first capture group, else the
    whole match, names the group).

    Raises:
        ConfigError: a regular expression that does not compile, naming the key ``group_by``.
    """
    if group_by.strip().lower() == "ucf":
        return UCF_GROUP
    try:
        return re.compile(group_by)
    except re.error as exc:
        raise ConfigError(f"group_by={quoted(group_by)} (--group-by) is neither 'ucf' nor a regular expression over clip file names "
                          f"({exc})", key="group_by") from None


def clip_group(path: Path, pattern: re.Pattern[str]) -> str | None:
    """The group of the clip at ``path`` (a video file or a frame folder), from its name without the extension; None
    when the name does not match. UCF groups are named ``g<number>`` (``g08`` and ``g8`` are one group)."""
    stem = path.stem if path.suffix else path.name
    m = pattern.search(stem)
    if m is None:
        return None
    if pattern is UCF_GROUP:
        return f"g{int(m.group(1))}"
    return m.group(1) if pattern.groups else m.group(0)


def item_groups(paths: Sequence[Path], group_by: str, where: str, split_hint: str = SPLIT_HINT) -> list[str]:
    """The group of each clip (:func:`clip_group`).

    Raises:
        DataError: clips whose names the pattern does not match, counted and named (up to five), with ``where`` (the
            data root) and the pattern; the remedy gives the split in ``split_hint`` (:data:`SPLIT_HINT`: the video
            loader's ``--split-file``).
    """
    pattern = group_pattern(group_by)
    groups = [clip_group(p, pattern) for p in paths]
    bad = [str(p) for p, g in zip(paths, groups) if g is None]
    if bad:
        said = "UCF101's v_<Class>_g<group>_c<clip>" if pattern is UCF_GROUP else f"the pattern {quoted(pattern.pattern)}"
        raise DataError(f"{where}: group_by={quoted(group_by)} (--group-by) reads each clip's recording from its file name as "
                        f"{said}, but {len(bad)} clip(s) do not match: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; "
                        f"rename them, or give the split in {split_hint}")
    return [str(g) for g in groups]


def hold_out_groups(paths: Sequence[Path], labels: Sequence[str], group_by: str, fraction: float, seed: int,
                    where: str, split_hint: str = SPLIT_HINT) -> tuple[list[bool], list[str]]:
    """Whether each clip (``labels``: its class) is held out as test, drawn by group over every class (as UCF101's
    split lists hold out groups 1-7 of every class): ``round(G * fraction)`` of the ``G`` groups, at least 1 and at
    most ``G - 1``, seeded with ``seed`` (the recipe's ``split_seed``). Returns the flags and the held-out group names.

    Raises:
        DataError: a name the pattern does not match (:func:`item_groups`), fewer than two groups, or a class whose
            groups were all held out (no training clips: :func:`~..groups.check_group_classes`); the remedy gives the
            split in ``split_hint`` (:data:`SPLIT_HINT`).
    """
    groups = item_groups(paths, group_by, where, split_hint)
    return group_test_flags(groups, fraction, seed, column=f"group_by={group_by}", where=where, labels=list(labels),
                            named=said_group_by(group_by), source="the clips' names give",
                            fix=f"give the split in {split_hint}")


def said_group_by(group_by: str) -> str:
    """How the video loader's groups are read, in words: ``group_by='ucf' (--group-by)``."""
    return f"group_by={quoted(group_by)} (--group-by)"


def groups_in_both(paths: Sequence[Path], splits: Sequence[str], groups: Sequence[str]) -> list[str]:
    """The groups with clips in both the ``train`` and the ``test`` split, each described with one clip of each
    side, sorted by group: ``"'g5' (train v_A_g05_c01.avi; test v_A_g05_c02.avi)"`` (:func:`~..groups.groups_in_both`)."""
    return _groups_in_both(groups, splits, [Path(p).name for p in paths], shown=lambda names: names[0])


def recordings(paths: Sequence[Path], labels: Sequence[str], group_by: str, where: str,
               split_hint: str = SPLIT_HINT) -> list[str]:
    """The recording of each clip, for telling which are on both sides of a split: a UCF group is one class's
    (``g08`` of two classes are two recordings, ``'JumpUp g8'``); a regular expression's group is global (a person
    in every class). Raises as :func:`item_groups` (``split_hint`` its remedy)."""
    groups = item_groups(paths, group_by, where, split_hint)
    return [f"{c} {g}" for c, g in zip(labels, groups)] if group_pattern(group_by) is UCF_GROUP else groups


def ucf_groups_in_both(paths: Sequence[Path], splits: Sequence[str], labels: Sequence[str]) -> list[str]:
    """:func:`groups_in_both` for clips named as UCF101's (``v_<Class>_g<group>_c<clip>``): the recordings (a class's
    group) a split without ``group_by`` put on both sides; empty when any clip's name is not UCF-style."""
    if not paths or any(clip_group(Path(p), UCF_GROUP) is None for p in paths):
        return []
    return groups_in_both(paths, splits, recordings(paths, labels, "ucf", ""))


__all__ = ["GROUP_BY_REMEDY", "SPLIT_HINT", "UCF_GROUP", "clip_group", "group_pattern", "groups_in_both", "hold_out_groups", "item_groups", "recordings", "said_group_by", "some",
           "ucf_groups_in_both"]
