"""UCF101's split lists (``ucfTrainTestlist/trainlist0N.txt`` with ``testlist0N.txt`` beside it): each line
``Class/clip.avi [index]``, the class the folder of its path."""

from __future__ import annotations

import re
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.io import decode_utf8

from .split_rows import Item


def _read_ucf_lists(trainlist: Path, root: Path) -> list[Item]:
    """UCF101's ``trainlist0N.txt`` (``Class/v_Class_gXX_cYY.avi [index]``) and its ``testlist0N.txt`` beside it;
    the class is the folder of each path."""
    testlist = trainlist.with_name(trainlist.name.replace("train", "test"))
    if testlist == trainlist or not testlist.exists():
        raise DataError(f"split file {trainlist}: no matching test list {testlist.name} beside it "
                        "(a CSV split file needs the .csv suffix)")
    items = []
    for split, path in (("train", trainlist), ("test", testlist)):
        lines = decode_utf8(path.read_bytes(), f"split file {path}").splitlines()
        for n, line in enumerate(lines, 1):
            if (name := _ucf_path(line)) is not None:
                rel = Path(name)
                if not rel.parent.name:
                    raise DataError(f"{path}, line {n}: {name!r} has no class folder (expected Class/clip [index], as "
                                    "UCF101's ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1)")
                items.append(Item(root / rel, rel.parent.name, split))
    return items


def _ucf_path(line: str) -> str | None:
    """The clip path of a UCF101 list line ``Class/clip.avi [index]`` (None for a blank line): the class index, when
    present, is the last whitespace-separated token and an integer; everything before it is the path, spaces included
    (``Move Right/clip.avi 1`` -> ``Move Right/clip.avi``)."""
    text = line.strip()
    if not text:
        return None
    parts = text.rsplit(None, 1)
    if len(parts) == 2 and re.fullmatch(r"[+-]?\d+", parts[1]):
        return parts[0].rstrip()
    return text


__all__ = ["_read_ucf_lists", "_ucf_path"]
