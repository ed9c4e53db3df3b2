"""How pairs read without a split are held out (in place, on :class:`~.raw_pairs.RawPair` objects): per class
(:func:`_hold_out`, seeded, as the audio loader draws; pairs that share a file drawn as one, :func:`_groups`), or by
the groups of a ``group_by`` column (:func:`_hold_out_groups`); and the rules' names stored as ``meta["split_rule"]``
(:data:`SPLIT_RULE`, :data:`SPLIT_RULE_SHARED`, :func:`group_rule`). The pairs CSV (:mod:`.pairs_csv`), class folders
of clips (:mod:`.video_pairs`) and MUSIC-21 without AVDD's split (:mod:`.releases`) draw with them."""

from __future__ import annotations

from pathlib import Path

from mmdistill.data import held_out_flags

from ..groups import group_test_flags
from .raw_pairs import RawPair


#: how the CSV reader holds out pairs when the CSV has no split (since 5 December 2026; before, each row was drawn
#: on its own); stored as ``meta["split_rule"]`` of such data and of the sets distilled from it (and of class folders
#: of clips, whose split is drawn among the readable clips since the same rule came to them)
SPLIT_RULE = "per class (test_fraction of each class's readable pairs, seeded)"
#: the rule when some pairs share a file: they are held out together (before, pair by pair, so a file could be in both
#: splits); a set distilled from such a CSV under :data:`SPLIT_RULE` is then warned about
SPLIT_RULE_SHARED = SPLIT_RULE[:-1] + "; pairs that share a file held out together)"


def group_rule(column: str) -> str:
    """The split rule of a CSV drawn with ``group_by`` (:func:`_hold_out_groups`)."""
    return f"by the groups of column {column!r} (test_fraction of the groups, seeded; pairs that share a file held out together)"


def _hold_out(pairs: list[RawPair], classes: list[str], test_fraction: float, seed: int,
              shared: list[int] | None = None) -> None:
    """Mark a seeded ``test_fraction`` of every class's readable pairs as test, the rest train (in place): the
    audio loader's rule (:func:`mmdistill.data.held_out_flags`, at least one test pair of a class with two or
    more), drawn after decoding so that an unreadable file never leaves a class without test pairs. ``shared``: each
    pair's group of pairs that share a file (:func:`_groups` of their ``(image, audio)`` files, as :func:`_set_groups`
    returns it); such pairs are drawn as one (all test or all train), so no file is in both splits; pairs of their own
    are drawn as before."""
    group = shared if shared else list(range(len(pairs)))
    order: list[int] = []  # the groups, class-major, each in the order of its first pair
    label = {}
    for c in classes:
        for g, p in zip(group, pairs):
            if p.label == c and g not in label:
                label[g] = c
                order.append(g)
    test = {g for g, t in zip(order, held_out_flags([label[g] for g in order], classes, test_fraction, seed)) if t}
    for g, p in zip(group, pairs):
        p.split = "test" if g in test else "train"


def _set_groups(pairs: list[RawPair], files: list[tuple[str, str]], groups: list[str] | None) -> list[int]:
    """Set each pair's ``group`` (in place): with a ``group_by`` column (``groups``: each pair's value), its group,
    where groups whose pairs share a file (``files``: each pair's ``(image, audio)``) are one, named ``a+b``, so that
    neither a group nor a file is on both sides of a split drawn over them; without one, pairs that share a file are one
    group, named by the first pair's audio file, and a pair of its own its own group; no group (None) when no pair shares
    a file (the pairs are drawn one by one). Returns each pair's joined group (:func:`_groups`: the index of its group's
    first pair), which a draw without ``group_by`` holds out whole (:func:`_hold_out`)."""
    joined = _groups([(*f, g) for f, g in zip(files, groups)] if groups is not None else files)
    if groups is None:
        if len(set(joined)) < len(joined):
            for j, p in zip(joined, pairs):
                p.group = pairs[j].name
        return joined
    members: dict[int, set[str]] = {}
    for j, g in zip(joined, groups):
        members.setdefault(j, set()).add(g)
    for j, p in zip(joined, pairs):
        p.group = "+".join(sorted(members[j]))
    return joined


def _hold_out_groups(pairs: list[RawPair], test_fraction: float, seed: int, column: str, path: Path) -> list[str]:
    """Mark the pairs of a seeded ``test_fraction`` of the groups as test, the rest train (in place), and return the
    held-out groups: :func:`~..groups.group_test_flags` over each pair's ``group`` (:func:`_set_groups`: column
    ``column``'s, groups whose pairs share a file drawn as one), so that neither a group nor a file is in both splits."""
    flags, held = group_test_flags([str(p.group) for p in pairs], test_fraction, seed, column=column, where=str(path), noun="pairs",
                                   labels=[p.label for p in pairs])
    for p, t in zip(pairs, flags):
        p.split = "test" if t else "train"
    return held


def _groups(files: list[tuple[str, ...]]) -> list[int]:
    """A group id per item of ``files`` (each a tuple of file names): items that share a file, directly or through
    others, get one id (the index of the group's first item)."""
    parent = list(range(len(files)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, str], int] = {}
    for i, names in enumerate(files):
        for col, name in enumerate(names):
            j = owner.setdefault((col, name), i)
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(files))]


__all__ = ["SPLIT_RULE", "SPLIT_RULE_SHARED", "group_rule"]
