"""``group_by`` of the audio ``folder`` source: one key, read by what ``data_root`` is. A CSV file: a column of its header
row (``path,label,speaker``: :mod:`.folder`'s CSV reader). Class folders (``<class>/spk03_take2.wav``) or ``train/`` +
``test/`` folders: a regular expression searched in each clip's file name without its extension, whose first capture
group (else the whole match) names the group (``spk(\\d+)`` reads ``03``), or ``ucf`` for ``v_<Class>_g<group>_c<clip>``
names -- the video adapter's reading (:mod:`..video.groups`, used as it is, with this loader's remedy as its ``split_hint``).

Either way a drawn split holds out ``test_fraction`` of the groups with all their clips, drawn with ``split_seed`` among
the readable clips (:func:`draw_groups`), and a given split that puts a group on both sides is refused
(:func:`refuse_split_groups`, the CSV reader's own check for its rows); :func:`split_rule` says the rule for the data's
``meta["split_rule"]``."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from mmdistill.errors import DataError

from mmdistill.load_report import LoadReport

from ..groups import folder_group_rule, group_test_flags, quoted, refuse_groups_in_both, said_group_by, some
from .items import AudioItem, _Found

log = logging.getLogger(__name__)

#: what the audio loader reads in place of the video adapter's ``--split-file``: the ``split_hint`` of the video group readers
AUDIO_SPLIT_HINT = ("a CSV path,label,split, or a CSV path,label,<group column> with group_by naming the column "
                    "(dataset folder, data_root the CSV)")


def name_groups(items: list[AudioItem], group_by: str, root: Path) -> list[AudioItem]:
    """``items`` with their ``group`` read from their file names by the pattern ``group_by``, or from their paths below
    their class folders (``folder``, a pattern with a ``/``: ``<class>/<speaker>/take1.wav``) (:func:`~..video.groups.item_groups`).

    Raises:
        ConfigError: a pattern that does not compile (key ``group_by``).
        DataError: a pattern that matches no file name (a CSV column's name given for class folders?), or no path
            (files directly in their class folders), with the count; file names (paths) the pattern does not match,
            counted and named (up to five), with ``root``.
    """
    from ..video.groups import group_pattern, item_groups, nested_hint, read_groups, reads_folders

    pattern = group_pattern(group_by)
    paths, labels = [Path(it.name) for it in items], [it.label for it in items]
    groups = read_groups(paths, pattern, labels, root)  # each clip's group, read once
    if items and all(g is None for g in groups):
        if reads_folders(pattern):
            raise DataError(f"{root}: {said_group_by(group_by)} reads each clip's group from its path below its class folder "
                            f"(folder: the first sub-folder, <class>/<speaker>/take1.wav; a pattern with a / searched in "
                            f"<speaker>/take1, without the extension), but it matches none of the {len(items)} clips' paths (e.g. "
                            f"{paths[0].relative_to(root) if paths[0].is_relative_to(root) else paths[0]}): put each group's clips "
                            r"in a sub-folder of their class folder, or write a file-name pattern such as 'spk(\d+)' (spk03_take2.wav: "
                            "group 03)")
        raise DataError(f"{root}: {said_group_by(group_by)} reads each clip's group from its file name (class folders: a "
                        f"regular expression searched in the name without its extension, its first capture group the group, or "
                        f"ucf), but it matches none of the {len(items)} clips' names (e.g. {Path(items[0].name).stem}): write a "
                        r"pattern such as 'spk(\d+)' (spk03_take2.wav: group 03), or, for groups listed in a column, pass "
                        f"{AUDIO_SPLIT_HINT.split(', or ', 1)[1]}{nested_hint(paths, labels, root)}")
    if any(g is None for g in groups):  # some match, some not: the video reader's refusal names those that do not
        item_groups(paths, group_by, str(root), AUDIO_SPLIT_HINT, labels=labels, root=root)
    return [dataclasses.replace(it, group=g) for it, g in zip(items, groups)]


def refuse_split_groups(root: Path, items: list[AudioItem], group_by: str) -> None:
    """DataError when the ``train/`` and ``test/`` folders under ``root`` put a group of ``group_by`` (``items`` with
    their ``group``, read by :func:`name_groups`) on both sides, naming each group with a clip of each side; as the video
    adapter, a ``ucf`` group is one class's recording (:func:`~..video.groups.recordings`: ``'JumpUp g8'``)."""
    from ..video.groups import recording_names

    recorded = recording_names([it.label for it in items], [str(it.group) for it in items], group_by)
    refuse_groups_in_both(str(root), group_by, recorded, [it.split for it in items], [Path(it.name).name for it in items],
                          shown=lambda names: names[0], held="clips", named=said_group_by(group_by),
                          fix="move each group's clips to one side, or leave group_by out")


def said_group_by_of(found: _Found) -> str | None:
    """How messages name ``found``'s ``group_by``: a file-name pattern as typed (``group_by='spk(\\d+)' (--group-by)``),
    a source's own groups with their source (FSDD's speakers), else None (a CSV column: the messages name the column)."""
    if found.group_from_names:
        return said_group_by(str(found.group_by))
    return f"group_by={found.group_by!r} (--group-by: {found.group_source})" if found.group_source else None


def draw_groups(found: _Found, items: list[AudioItem], fraction: float, seed: int, root: str | Path | None) -> tuple[list[bool], list[str]]:
    """Whether each of ``items`` (the readable clips of ``found``, a source whose split is still to be drawn with
    ``found.group_by``) is held out as test, and the held-out group names: ``round(G * fraction)`` of the ``G`` groups
    (at least 1, at most ``G - 1``), seeded with ``seed`` (the recipe's ``split_seed``).

    A source that names its own groups (``found.group_source``: FSDD's speakers) draws among the items with a group
    (a misnamed FSDD clip, unreadable when decoded, has none and stays a training placeholder).

    Raises:
        DataError: fewer than two groups, or a class whose groups were all held out, naming ``group_by`` and ``root``
            (:func:`~..groups.group_test_flags`).
    """
    labels = [it.label for it in items]
    if found.group_source:
        named = [i for i, it in enumerate(items) if it.group is not None]
        drawn, held = group_test_flags([str(items[i].group) for i in named], fraction, seed, column=str(found.group_by),
                                       where=f"data root {root}", labels=[labels[i] for i in named],
                                       named=said_group_by_of(found),
                                       source=f"{found.group_source} give",
                                       fix="leave group_by out for the dataset's own split")
        flags = [False] * len(items)
        for i, t in zip(named, drawn):
            flags[i] = t
        return flags, held
    if found.group_from_names:
        from ..video.groups import hold_out_groups

        return hold_out_groups([Path(it.name) for it in items], labels, str(found.group_by), fraction, seed, str(root),
                               AUDIO_SPLIT_HINT, groups=[str(it.group) for it in items])  # read by name_groups
    return group_test_flags([str(it.group) for it in items], fraction, seed, column=str(found.group_by), where=f"CSV file {root}",
                            labels=labels)


def split_rule(found: _Found) -> str | None:
    """How the held-out split of ``found`` was drawn, for the data's ``meta["split_rule"]`` (a set distilled under
    another rule is then warned about: :func:`mmdistill.share.warn_split_rule`): by ``group_by`` groups (FSDD's speakers
    too), a rule of the source's own (``found.rule``: an official fold held out), or None (each class's clips, the rule
    the audio loader always used, or a given split such as FSDD's own)."""
    if not (found.needs_split and found.group_by):
        return found.rule
    if found.group_source:
        return f"by {found.group_source}, group_by={found.group_by!r} (test_fraction of the groups, seeded, among the readable clips)"
    if found.group_from_names:
        return folder_group_rule(found.group_by)
    return f"by the groups of column {quoted(found.group_by)} (test_fraction of the groups, seeded, among the readable clips)"


def warn_recordings_in_both(items: list[AudioItem], test: list[bool], report: LoadReport) -> None:
    """Without ``group_by``, warn as the video loader does when clips named as UCF101's (``v_<Class>_g<group>_c<clip>``:
    clips cut from one recording) have clips of one recording in both splits (``items``: the readable clips of a folder
    tree; ``test``: each one's side), naming them and the remedy (``--group-by ucf``); their number is the report's fact
    ``groups_in_both``. Nothing when any name is not UCF-style."""
    from ..video.groups import GROUP_BY_REMEDY, ucf_groups_in_both

    both = ucf_groups_in_both([Path(it.name) for it in items], ["test" if t else "train" for t in test], [it.label for it in items])
    if both:
        report.facts["groups_in_both"] = len(both)
        log.warning("%d recording(s) of UCF-style clip names (v_<Class>_g<group>_c<clip>: clips cut from one recording) have "
                    "clips in both the training and the test split, so the test clips share recordings with training ones and "
                    "the accuracy measures recognising them: %s; %s", len(both), some(both), GROUP_BY_REMEDY)


__all__ = ["AUDIO_SPLIT_HINT", "said_group_by_of", "draw_groups", "name_groups", "refuse_split_groups", "split_rule",
           "warn_recordings_in_both"]
