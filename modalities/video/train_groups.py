"""The recording of each training clip a folder of clips gives (``VideoSet.train_groups``), so a validation split
carved from the training clips (``validation=``, :func:`mmdistill.validation.hold_out_validation`) holds out whole
recordings too: UCF101 cuts one recording into several ``v_<Class>_g<group>_c<clip>`` clips, and a share of single
clips drawn for validation would put clips of one recording on both sides of it (the score would measure recognising
the recording, as a test split drawn so does: :mod:`.groups`).

The groups are those the split itself reads (:func:`~.groups.recordings`): ``group_by``'s (a pattern over file names,
``folder``, ``ucf``), or, without ``group_by``, UCF's groups when every training clip is named as UCF101's (one
class's ``g08``: ``'JumpUp g8'``). Used by the video loader (:func:`~.datasets.load_clip_folder`, a cache hit too) and the audio-visual folder loader (:func:`clip_groups`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mmdistill.load_report import LoadReport, base_folder

from .groups import recordings, ucf_recordings

#: the report kinds of clips found but not decoded: they are not among the training tensors
NOT_DECODED = ("unreadable", "skipped_short")


def train_groups(items: Iterable, report: LoadReport, group_by: str | None, root: str | Path, n: int) -> list[str] | None:
    """The recording of each of the ``n`` decoded training clips, in the training tensors' order, or None when
    unknown: no ``group_by`` and a clip not named as UCF101's, or not ``n`` decoded training clips (a stand-in loader,
    a cache that disagrees). ``items``: the clips found (``path``, ``label``, ``split``), of which the training ones
    (``split == "train"``) less those the report lists as not decoded (:data:`NOT_DECODED`) are the tensors' clips;
    ``root``: the data root (or the CSV in it), below which a ``group_by`` that reads folders finds each clip's class
    folder (:func:`~mmdistill.load_report.base_folder`)."""
    lost = {p for kind in NOT_DECODED for p, _ in report.items(kind)}
    train = [it for it in items if it.split == "train" and str(it.path) not in lost]
    if len(train) != n:
        return None
    return clip_groups([Path(it.path) for it in train], [it.label for it in train], group_by, root)


def clip_groups(paths: Sequence[Path], labels: Sequence[str], group_by: str | None, root: str | Path) -> list[str] | None:
    """The recording of each clip at ``paths`` (``labels``: their classes), or None when unknown (no clips, or no
    ``group_by`` and a clip not named as UCF101's): ``group_by``'s groups, read below each clip's class folder under
    ``root`` (the data root, or the CSV in it) when it reads folders, else UCF's. Video's training clips
    (:func:`train_groups`) and the audio-visual loader's pairs take their groups from it."""
    if not paths:
        return None
    if group_by:
        return recordings(list(paths), list(labels), group_by, str(root), root=base_folder(root))
    return ucf_recordings(list(paths), list(labels))


__all__ = ["NOT_DECODED", "clip_groups", "train_groups"]
