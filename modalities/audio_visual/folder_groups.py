"""``group_by`` for a folder of clips with sound (``dataset video``): the video adapter's way (:mod:`..video.groups`),
a regular expression over each clip's file name without its extension (its first capture group, else the whole
match, names the group: ``spk(\\d+)`` reads speaker ``03`` from ``spk03_take2.mp4``), or ``ucf`` for UCF101's
``v_<Class>_g<group>_c<clip>`` names. Class folders hold out ``test_fraction`` of the groups with all their clips,
drawn with ``split_seed`` (as the pairs CSV's ``group_by`` column holds out groups: :func:`~..groups.group_test_flags`);
a given split (train/ and test/ folders, a ``path,label,split`` CSV) that puts a group on both sides is refused.

The video layout (:func:`~..video.layout.discover`) reads the groups and draws the split over the files; this module
draws it again among the readable clips when some cannot be read (as the class folders' per-class draw is), names the
rule in the data's meta (``split_rule``) and names the audio-visual loader's remedy (:data:`AV_SPLIT_HINT`), which the
caller passes to the video layout's readers in place of the video adapter's (no ``--split-file``: ``data_root`` is the
CSV)."""

from __future__ import annotations

from pathlib import Path

from mmdistill.load_report import LoadReport

from ..groups import folder_group_rule

#: where the audio-visual loader reads a given split, said in the video layout's group errors (their ``split_hint``)
AV_SPLIT_HINT = "a CSV path,label,split (data_root the CSV, or clips.csv in the folder)"


def redraw_groups(names: list[str], labels: list[str], group_by: str, test_fraction: float, seed: int, root: Path,
                  report: LoadReport) -> list[bool]:
    """Whether each readable clip (``names``: its path; ``labels``: its class) is held out as test, the groups of
    ``group_by`` drawn again among the readable clips (:func:`~..video.groups.hold_out_groups`); the held-out groups
    replace ``report.facts["test_groups"]``. Raises as that function (one group left, a class whose groups were all
    held out), with :data:`AV_SPLIT_HINT`."""
    from ..video.groups import hold_out_groups

    flags, held = hold_out_groups([Path(n) for n in names], labels, group_by, test_fraction, seed, str(root), AV_SPLIT_HINT,
                                  root=root)
    report.facts["test_groups"] = held
    return flags


__all__ = ["AV_SPLIT_HINT", "folder_group_rule", "redraw_groups"]
