"""A clip found by the layout (:class:`Item`): the value every split reader (:mod:`.split_csv`, :mod:`.split_ucf`) and
:func:`~.layout.discover` give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """One clip found by :func:`discover`: its ``path`` (a video file, or a folder of frame images), its class
    ``label`` and its ``split`` (``"train"`` or ``"test"``)."""

    path: Path
    label: str
    split: str  # "train" | "test" ("val" only while a split file is read: see _val_rows)


__all__ = ["Item"]
