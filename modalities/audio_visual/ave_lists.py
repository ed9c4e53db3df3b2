"""AVE (Tian et al., "Audio-Visual Event Localization in Unconstrained Videos", ECCV 2018) in its released layout:
``trainSet.txt``, ``valSet.txt``, ``testSet.txt`` (and ``Annotations.txt``), each line ``Category&VideoID&Quality&
StartTime&EndTime`` (a ``Category&VideoID...`` header line is skipped), 28 categories, the clips ``AVE/<VideoID>.mp4``.

What AVDD (sakshamsingh1/AVDD) makes of it, read here the same way:

* a pair per second of the annotated event, ``StartTime`` <= s < ``EndTime`` (``preprocess/AVE_input_file.py:124-131``):
  that second's sound (``preprocess/extract_audio_and_frames.py:40-46``: ``ss=second, t=1``) and its frame 3/8 s in
  (the fourth, ``_04``, of the eight a second it extracts: ``extract_audio_and_frames.py:22-27``, ``AVE_input_file.py:125``);
* train ``trainSet.txt``, test ``testSet.txt``; ``valSet.txt`` is not used (``AVE_input_file.py:87``, its val part
  commented out): its clips are counted as ``unused`` in the load report, neither trained on nor scored;
* the classes are the annotations' categories as written (AVDD renames them, ``AVE_input_file.py:46-75``; the names
  change nothing else). AVDD also drops six training videos "with processing issues" (``AVE_input_file.py:79-85``):
  they are kept here (a clip that cannot be decoded is skipped and named)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from mmdistill.errors import DataError

from .release_clips import Listed, Window, parent_hint

#: the split files and the split each is read as (valSet: AVDD's val part is commented out)
SPLIT_FILES = {"trainSet.txt": "train", "testSet.txt": "test", "valSet.txt": "unused"}
#: the frame's offset in each second: the fourth of eight frames a second (AVDD's ``_04`` at ``fps=8``)
FRAME_OFFSET_S = 3 / 8
LAYOUT = ("the AVE release: ROOT/trainSet.txt, ROOT/testSet.txt (and valSet.txt), lines Category&VideoID&Quality&StartTime&"
          "EndTime, and the clips ROOT/AVE/<VideoID>.mp4 (found anywhere under ROOT by their VideoID)")


def event_seconds(start: int, end: int) -> Callable[[float], list[Window]]:
    """The windows of an event ``start`` <= s < ``end``: per second its sound and its frame 3/8 s in."""
    def windows(_length: float) -> list[Window]:
        return [(float(s), float(s + 1), s + FRAME_OFFSET_S) for s in range(start, end)]
    return windows


def read_ave_lists(root: Path) -> list[Listed]:
    """The clips the AVE split files under ``root`` list, one :class:`Listed` per line. DataError naming the layout when
    ``trainSet.txt`` or ``testSet.txt`` is absent, naming the file and line of a line that is not five ``&``-separated
    fields with whole seconds ``0 <= StartTime < EndTime``."""
    absent = [f for f in ("trainSet.txt", "testSet.txt") if not (root / f).is_file()]
    if absent:
        raise DataError(f"ave: {root} holds no {' or '.join(absent)}{parent_hint(root, tuple(absent))}; expected {LAYOUT}")
    out = []
    for fname, split in SPLIT_FILES.items():
        path = root / fname
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip() or (n == 1 and line.lower().startswith("category&")):
                continue
            fields = [f.strip() for f in line.split("&")]
            where = f"{fname}:{n}"
            try:
                category, video, _quality, start, end = fields
                s, e = int(start), int(end)
            except ValueError:
                raise DataError(f"ave: {path} line {n}: expected Category&VideoID&Quality&StartTime&EndTime with whole seconds, "
                                f"got {line.strip()[:120]!r}") from None
            if not category or not video or not 0 <= s < e:
                raise DataError(f"ave: {path} line {n}: needs a category, a VideoID and 0 <= StartTime < EndTime, got {line.strip()[:120]!r}")
            out.append(Listed(video, category, split, where, event_seconds(s, e)))
    return out


__all__ = ["FRAME_OFFSET_S", "LAYOUT", "SPLIT_FILES", "event_seconds", "read_ave_lists"]
