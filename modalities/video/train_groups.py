"""The recording of each training clip a folder of clips gives (``VideoSet.train_groups``), so a validation split
carved from the training clips (``validation=``, :func:`mmdistill.validation.hold_out_validation`) holds out whole
recordings too: UCF101 cuts one recording into several ``v_<Class>_g<group>_c<clip>`` clips, and a share of single
clips drawn for validation would put clips of one recording on both sides of it (the score would measure recognising
the recording, as a test split drawn so does: :mod:`.groups`).

The groups are those the split itself reads (:func:`~.groups.recordings`): ``group_by``'s (a pattern over file names,
``folder``, ``ucf``), or, without ``group_by``, UCF's groups when every training clip is named as UCF101's (one
class's ``g08``: ``'JumpUp g8'``). Used by the video loader and by the audio-visual folder of clips."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mmdistill.load_report import LoadReport, base_folder

from .groups import recordings, ucf_recordings

#: the report kinds of clips found but not decoded: they are not among the training tensors
NOT_DECODED = ("unreadable", "skipped_short")


def decoded_train(items: Iterable, report: LoadReport) -> list:
    """The training items (``split == "train"``) that were decoded, in their order (the training tensors' order):
    ``items`` less those the report lists as unreadable or too short (:data:`NOT_DECODED`)."""
    lost = {p for kind in NOT_DECODED for p, _ in report.items(kind)}
    return [it for it in items if it.split == "train" and str(it.path) not in lost]


def clip_train_groups(paths: Sequence[Path], labels: Sequence[str], group_by: str | None, root: str | Path,
                      expected: int) -> list[str] | None:
    """The recording of each training clip (``paths``, ``labels``: their classes, in the training tensors' order),
    or None when unknown: no ``group_by`` and a clip not named as UCF101's, or not ``expected`` clips (the training
    tensors' count: a stand-in loader, a cache that disagrees). ``root``: the data root (or the CSV in it), below
    which a ``group_by`` that reads folders finds each clip's class folder."""
    if len(paths) != expected or not paths:
        return None
    base = base_folder(root)
    if group_by:
        return recordings(list(paths), list(labels), group_by, str(root), root=base)
    return ucf_recordings(paths, labels)


__all__ = ["NOT_DECODED", "clip_train_groups", "decoded_train"]
