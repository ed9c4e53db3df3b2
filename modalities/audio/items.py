"""What a source finds before anything is decoded: :class:`AudioItem` (one clip: a name, how to open it, its class and
split), :class:`_Found` (a source's items, classes, files not used and whether the split is still to be drawn) and
the openers an item holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .decode import BadFile, Opener


@dataclass
class AudioItem:
    """One clip to load: a name for messages, how to get its bytes or path (or its decoded clip), its class, its split."""

    name: str
    open: Opener
    label: str
    split: str  # "train" or "test"
    group: str | None = None  # its group_by group (a speaker; the CSV's column or its file name's): kept on one side


@dataclass
class _Found:
    """What a source holds before decoding: items (split ``train`` placeholders when ``needs_split``), class names,
    files under the root that are not used (``ignored``), and whether the held-out split is still to be drawn."""

    items: list[AudioItem]
    classes: list[str]
    ignored: list[BadFile] = field(default_factory=list)
    needs_split: bool = False
    group_by: str | None = None  # the CSV column, or the file-name pattern, whose groups the split keeps together (items' ``group``)
    group_from_names: bool = False  # ``group_by`` is a pattern over file names (class folders), not a CSV column
    #: ``group_by`` is a group the source's own names give (FSDD's ``speaker``), and where from in words (None: not)
    group_source: str | None = None
    #: a split the source gives by a rule of its own (an official fold held out: :mod:`.folds`), in words: the data's
    #: ``split_rule``; and what the load report records of it (``test_fold``)
    rule: str | None = None
    facts: dict = field(default_factory=dict)


def _path_opener(path: Path) -> Callable[[], str]:
    return lambda: str(path)


def _bytes_opener(data: bytes) -> Callable[[], bytes]:
    return lambda: data



def _raise(exc: Exception) -> Callable[[], bytes]:
    def opener() -> bytes:
        raise exc

    return opener

