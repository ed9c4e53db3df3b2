"""Splits that keep the clips of one recording together (``group_by``): UCF101 cuts each recording into several
clips named ``v_<Class>_g<group>_c<clip>.avi`` (the same actor, background and viewpoint), and its own split lists
hold out whole groups. A split drawn clip by clip puts clips of one recording on both sides, so the test clips
measure recognising that recording, not the class.

:func:`group_pattern` reads the ``group_by`` key (``ucf`` or a regular expression over file names);
:func:`hold_out_groups` draws the held-out groups of class folders (no split given); :func:`groups_in_both`
finds the groups a given split puts on both sides (refused with ``group_by``); :func:`ucf_groups_in_both` warns of
them when ``group_by`` is not set and the names are UCF-style.

Many sets keep the group as a folder inside each class folder instead (``<class>/<speaker>/take1.wav``, as VoxCeleb and
LibriSpeech do): ``group_by folder`` (:data:`FOLDER_GROUP`) names each clip's group by the first sub-folder of its
class folder, and a pattern with a ``/`` (outside a character class: ``([^/]+)/``, ``^[^/]+/(sess[0-9]+)/``) is
searched in the clip's path below its class folder (``speaker3/take1``, ``/``-separated, without the extension:
:func:`below_class`); a pattern without one reads the file name as before. The audio loader and the audio-visual
folder of clips read their groups here too."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from mmdistill.errors import ConfigError, DataError

from ..groups import group_test_flags, quoted, said_group_by, some
from ..groups import groups_in_both as _groups_in_both

log = logging.getLogger(__name__)

#: UCF101's clip names: ``v_ApplyEyeMakeup_g08_c01.avi`` is clip 1 of group (recording) 8
UCF_GROUP = re.compile(r"_g(\d+)_c\d+$", re.IGNORECASE)


#: ``group_by folder``: the first sub-folder of a clip's class folder names its group (``<class>/<speaker>/take1.wav``),
#: searched in the clip's path below its class folder (:func:`below_class`)
FOLDER_GROUP = re.compile(r"^([^/]+)/")

#: the split folders a path below the data root may start with before its class folder (``train/<class>/...``)
_SPLIT_FOLDERS = ("train", "test", "val", "valid", "validation")


#: what the warning of recordings on both sides of a split (:func:`ucf_groups_in_both`) tells the video loader's user
GROUP_BY_REMEDY = "pass --group-by ucf (group_by=ucf) to hold out whole groups"

#: how the group readers' errors (:func:`item_groups`, :func:`hold_out_groups`) tell the video loader's user to give a
#: split instead; a caller that reads its split another way passes its own words (``split_hint``)
SPLIT_HINT = "a CSV path,label,split (--split-file)"


def group_pattern(group_by: str) -> re.Pattern[str]:
    """The pattern ``group_by`` names: ``ucf`` (:data:`UCF_GROUP`, UCF101's ``v_<Class>_g<group>_c<clip>`` names),
    ``folder`` (:data:`FOLDER_GROUP`, the first sub-folder of the class folder) or a regular expression searched in
    each clip's file name without its extension, or, when it holds a ``/`` (:func:`reads_folders`), in its path below
    the class folder (its first capture group, else the whole match, names the group).

    Raises:
        ConfigError: a regular expression that does not compile, naming the key ``group_by``.
    """
    if group_by.strip().lower() == "ucf":
        return UCF_GROUP
    if group_by.strip().lower() == "folder":
        return FOLDER_GROUP
    try:
        return re.compile(group_by)
    except re.error as exc:
        raise ConfigError(f"{said_group_by(group_by)} is neither 'ucf' nor a regular expression over clip file names "
                          f"({exc})", key="group_by") from None


@functools.lru_cache(maxsize=64)
def reads_folders(pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` is searched in a clip's path below its class folder rather than in its file name:
    :data:`FOLDER_GROUP`, or a pattern with a ``/`` outside a character class (``[^/]`` alone reads file names, as
    before: a file name holds no ``/``). Remembered per pattern: :func:`clip_group` asks it for every clip."""
    if pattern is FOLDER_GROUP:
        return True
    text, i, in_class = pattern.pattern, 0, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1:i + 2] == "/" and not in_class:
                return True
            i += 2
            continue
        if in_class:
            in_class = not (c == "]" and text[i - 1] != "[" and text[i - 2:i] != "[^")
        elif c == "[":
            in_class = True
        elif c == "/":
            return True
        i += 1
    return False


def below_class(path: Path, label: str, root: Path | None) -> str | None:
    """The path of the clip at ``path`` below its class folder ``label``, ``/``-separated, without the extension
    (``speaker3/take1`` for ``root/<label>/speaker3/take1.wav``, ``root/train/<label>/...`` alike): the class folder is
    the first folder of the path below ``root`` named ``label`` (after a split folder, ``train``, ``test``...), or,
    for a clip outside ``root`` (a split file's path), the nearest folder above it named ``label``. None when no
    folder above the clip is named ``label`` (a clip a split file lists outside any class folder)."""
    path = Path(path)
    parts: tuple[str, ...] = path.parts
    nearest = False
    try:
        parts = path.relative_to(Path(root).expanduser()).parts if root is not None else parts
        nearest = root is None
    except ValueError:
        nearest = True
    folders = [i for i, part in enumerate(parts[:-1]) if part == label]
    if not folders:
        return None
    start = folders[-1] if nearest else folders[1] if (
        folders[0] == 0 and parts[0].lower() in _SPLIT_FOLDERS and len(folders) > 1 and folders[1] == 1) else folders[0]
    inner = list(parts[start + 1:])
    inner[-1] = Path(inner[-1]).stem if Path(inner[-1]).suffix else inner[-1]
    return "/".join(inner)


def clip_group(path: Path, pattern: re.Pattern[str], within: str | None = None) -> str | None:
    """The group of the clip at ``path`` (a video file or a frame folder), from its name without the extension, or,
    for a pattern that reads folders (:func:`reads_folders`), from ``within`` (its path below its class folder:
    :func:`below_class`); None when the name (or path) does not match. UCF groups are named ``g<number>`` (``g08``
    and ``g8`` are one group)."""
    if reads_folders(pattern):
        if within is None:
            return None
        stem = within
    else:
        stem = path.stem if path.suffix else path.name
    m = pattern.search(stem)
    if m is None:
        return None
    if pattern is UCF_GROUP:
        return f"g{int(m.group(1))}"
    return m.group(1) if pattern.groups else m.group(0)


def read_groups(paths: Sequence[Path], pattern: re.Pattern[str], labels: Sequence[str] | None = None,
                root: Path | None = None) -> list[str | None]:
    """The group of each clip (:func:`clip_group`), None where it does not match; a pattern that reads folders
    (:func:`reads_folders`) is searched in each clip's path below its class folder (``labels``: each clip's class;
    ``root``: the data root: :func:`below_class`)."""
    if not reads_folders(pattern):
        return [clip_group(Path(p), pattern) for p in paths]
    if labels is None:
        return [None] * len(paths)
    return [clip_group(Path(p), pattern, below_class(Path(p), lab, root)) for p, lab in zip(paths, labels)]


def nested_hint(paths: Sequence[Path], labels: Sequence[str], root: Path | None) -> str:
    """What a file-name pattern's refusal adds when clips lie in sub-folders of their class folders
    (``<class>/<speaker>/take1.wav``): ``group_by folder`` reads those; empty when every clip is directly in its class
    folder."""
    nested = next((w for p, lab in zip(paths, labels) if (w := below_class(Path(p), lab, root)) and "/" in w), None)
    if nested is None:
        return ""
    return (f"; the clips lie in sub-folders of their class folders (e.g. {nested}): group_by=folder (--group-by folder) "
            "reads each clip's group from its first sub-folder")


def said_reading(pattern: re.Pattern[str]) -> str:
    """How ``pattern`` reads a clip's group, in words, for the messages of clips it does not match."""
    if pattern is FOLDER_GROUP:
        return "its path below its class folder as the first sub-folder (<class>/<group>/<clip>)"
    if reads_folders(pattern):
        return f"its path below its class folder (<group>/<clip>, without the extension) as the pattern {quoted(pattern.pattern)}"
    return "its file name as " + ("UCF101's v_<Class>_g<group>_c<clip>" if pattern is UCF_GROUP else f"the pattern {quoted(pattern.pattern)}")


def item_groups(paths: Sequence[Path], group_by: str, where: str, split_hint: str = SPLIT_HINT, *,
                labels: Sequence[str] | None = None, root: Path | None = None) -> list[str]:
    """The group of each clip (:func:`read_groups`; ``labels`` and ``root`` for a pattern that reads folders).

    Raises:
        DataError: clips whose names (or paths below their class folders) the pattern does not match, counted and
            named (up to five), with ``where`` (the data root) and the pattern; the remedy gives the split in
            ``split_hint`` (:data:`SPLIT_HINT`: the video loader's ``--split-file``).
    """
    pattern = group_pattern(group_by)
    groups = read_groups(paths, pattern, labels, root)
    bad = [str(p) for p, g in zip(paths, groups) if g is None]
    if bad:
        fix = "move them into a sub-folder of their class folder" if reads_folders(pattern) else "rename them"
        raise DataError(f"{where}: {said_group_by(group_by)} reads each clip's recording from {said_reading(pattern)}, "
                        f"but {len(bad)} clip(s) do not match: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; "
                        f"{fix}, or give the split in {split_hint}"
                        f"{'' if reads_folders(pattern) or labels is None else nested_hint(paths, labels, root)}")
    return [str(g) for g in groups]


def hold_out_groups(paths: Sequence[Path], labels: Sequence[str], group_by: str, fraction: float, seed: int,
                    where: str, split_hint: str = SPLIT_HINT, *, root: Path | None = None,
                    groups: Sequence[str] | None = None) -> tuple[list[bool], list[str]]:
    """Whether each clip (``labels``: its class) is held out as test, drawn by group over every class (as UCF101's
    split lists hold out groups 1-7 of every class): ``round(G * fraction)`` of the ``G`` groups, at least 1 and at
    most ``G - 1``, seeded with ``seed`` (the recipe's ``split_seed``). Returns the flags and the held-out group names.
    ``root``: the data root, below which a pattern that reads folders finds each clip's class folder; ``groups``: the
    clips' groups when already read (:func:`item_groups`), else read here.

    Raises:
        DataError: a name the pattern does not match (:func:`item_groups`), fewer than two groups, or a class whose
            groups were all held out (no training clips: :func:`~..groups.check_group_classes`); the remedy gives the
            split in ``split_hint`` (:data:`SPLIT_HINT`).
    """
    groups = list(groups) if groups is not None else item_groups(paths, group_by, where, split_hint, labels=labels, root=root)
    return group_test_flags(groups, fraction, seed, column=f"group_by={group_by}", where=where, labels=list(labels),
                            named=said_group_by(group_by), source="the clips' names give",
                            fix=f"give the split in {split_hint}")


def groups_in_both(paths: Sequence[Path], splits: Sequence[str], groups: Sequence[str]) -> list[str]:
    """The groups with clips in both the ``train`` and the ``test`` split, each described with one clip of each
    side, sorted by group: ``"'g5' (train v_A_g05_c01.avi; test v_A_g05_c02.avi)"`` (:func:`~..groups.groups_in_both`)."""
    return _groups_in_both(groups, splits, [Path(p).name for p in paths], shown=lambda names: names[0])


def recordings(paths: Sequence[Path], labels: Sequence[str], group_by: str, where: str,
               split_hint: str = SPLIT_HINT, *, root: Path | None = None) -> list[str]:
    """The recording of each clip, for telling which are on both sides of a split: a UCF group is one class's
    (``g08`` of two classes are two recordings, ``'JumpUp g8'``); a regular expression's group (a sub-folder's too)
    is global (a person in every class). Raises as :func:`item_groups` (``split_hint`` its remedy; ``root`` its)."""
    return recording_names(labels, item_groups(paths, group_by, where, split_hint, labels=labels, root=root), group_by)


def recording_names(labels: Sequence[str], groups: Sequence[str], group_by: str) -> list[str]:
    """The recording each clip's group of ``group_by`` (``groups``, one per clip; ``labels``: the clips' classes)
    names: a UCF group is one class's (``'JumpUp g8'``), any other group is global (as it is)."""
    return [f"{c} {g}" for c, g in zip(labels, groups)] if group_pattern(group_by) is UCF_GROUP else [str(g) for g in groups]


def ucf_recordings(paths: Sequence[Path], labels: Sequence[str]) -> list[str] | None:
    """The recording of each clip (``labels``: their classes) when every clip is named as UCF101's
    (``v_<Class>_g<group>_c<clip>``: ``'JumpUp g8'``, :func:`recording_names`), each name read once; None when any
    is not."""
    groups = [clip_group(Path(p), UCF_GROUP) for p in paths]
    if any(g is None for g in groups):
        return None
    return recording_names(labels, [str(g) for g in groups], "ucf")


def ucf_groups_in_both(paths: Sequence[Path], splits: Sequence[str], labels: Sequence[str]) -> list[str]:
    """:func:`groups_in_both` for clips named as UCF101's (``v_<Class>_g<group>_c<clip>``): the recordings (a class's
    group) a split without ``group_by`` put on both sides; empty when any clip's name is not UCF-style."""
    named = ucf_recordings(paths, labels) if paths else None
    return groups_in_both(paths, splits, named) if named else []


__all__ = ["FOLDER_GROUP", "GROUP_BY_REMEDY", "SPLIT_HINT", "UCF_GROUP", "below_class", "clip_group", "group_pattern", "groups_in_both", "hold_out_groups", "item_groups", "nested_hint", "read_groups", "reads_folders", "recording_names", "recordings", "said_group_by", "said_reading", "some",
           "ucf_groups_in_both", "ucf_recordings"]
