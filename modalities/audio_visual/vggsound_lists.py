"""VGGSound (Chen et al., ICASSP 2020) in its released layout: ``vggsound.csv``, rows ``youtube_id,start_seconds,label,
split`` (split ``train``/``test``, no header; a ``# YouTube ID`` or ``youtube_id`` header line is skipped), and the
user's clips, named by the downloader: ``<id>.mp4``, ``<id>_<start:06d>.mp4``, ``<id>_<start>_<end>.mp4`` or
``<id>_<start>.000_<end>.000.mp4`` (any video extension, any folder under the root).

What AVDD (sakshamsingh1/AVDD) makes of it:

* VGGSound-10k (``--dataset vggsound-10k``, AVDD's ``VGG_subset``) is the ten classes of
  ``preprocess/vgg_subset_create_meta.py:3-12`` (:data:`VGGSOUND_10K`), with the csv's own split (``:28-35``);
* a pair per clip: the sound of its fifth second, 4 s to 5 s (``preprocess/VGG_subset_input_file.py:46-52``,
  ``sec=4``), and one frame (``{vid}.jpg``, ``VGG_subset_input_file.py:79``: how that frame was taken is not in the
  released code; mmdistill takes the frame at 4.5 s, the middle of the sound). A clip shorter than 5 s gives its last
  second (padded by the loader when shorter than one).

AVDD keeps only the clips it had (``vgg_subset_create_meta.py:37-47``, silently); here a listed clip without a file is
named as ``unused``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from mmdistill.errors import DataError

from .release_clips import Listed, Window, parent_hint

#: VGGSound-10k's classes, AVDD's label ids 0-9 in this order (``preprocess/vgg_subset_create_meta.py:3-12``)
VGGSOUND_10K = ("chicken crowing", "toilet flushing", "playing acoustic guitar", "playing piano", "ocean burbling",
                "fireworks banging", "child speech, kid speaking", "basketball bounce", "police radio chatter", "driving buses")
#: the second of each clip whose sound is taken (AVDD's ``sec=4``)
SOUND_SECOND = 4
LAYOUT = ("the VGGSound release: ROOT/vggsound.csv (youtube_id,start_seconds,label,split rows) and the clips anywhere under "
          "ROOT, named <id>.mp4, <id>_<start:06d>.mp4 or <id>_<start>_<end>.mp4")
#: what a downloader appends to the 11-character YouTube id: nothing, or up to two numbers (start, end seconds)
_TAIL = re.compile(r"(?:_(\d+)(?:\.\d+)?)?(?:_\d+(?:\.\d+)?)?")


def fifth_second(length: float) -> list[Window]:
    """The window of a clip of ``length`` seconds: 4-5 s (its last second when shorter), the frame at its middle."""
    a = float(SOUND_SECOND) if length >= SOUND_SECOND + 1 else max(0.0, length - 1.0)
    return [(a, a + 1.0, a + 0.5)]


def read_vggsound_csv(root: Path, classes: tuple[str, ...] | None = None) -> list[Listed]:
    """The clips ``ROOT/vggsound.csv`` lists (only those of ``classes`` when given), one :class:`Listed` per row, keyed
    ``<id>_<start>``. DataError naming the layout when the file is absent, naming the line of a row that is not
    ``youtube_id,start_seconds,label,split`` with split train or test, and the classes of ``classes`` it never lists."""
    path = root / "vggsound.csv"
    if not path.is_file():
        raise DataError(f"vggsound: {root} holds no vggsound.csv{parent_hint(root, ('vggsound.csv',))}; expected {LAYOUT}")
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or (n == 1 and row[0].strip().lower() in ("# youtube id", "youtube_id", "ytid", "vid")):
                continue
            try:
                vid, start, label, split = (v.strip() for v in row)
                s = int(float(start))
            except ValueError:
                raise DataError(f"vggsound: {path} line {n}: expected youtube_id,start_seconds,label,split, got {','.join(row)[:120]!r}") from None
            if split not in ("train", "test"):
                raise DataError(f"vggsound: {path} line {n}: split {split!r}, expected train or test")
            if classes is None or label in classes:
                out.append(Listed(f"{vid}_{s}", label, split, f"vggsound.csv:{n}", fifth_second))
    absent = [c for c in classes or () if not any(it.label == c for it in out)]
    if absent:
        raise DataError(f"vggsound-10k: {path} lists no clip of {', '.join(map(repr, absent))} (VGGSound-10k's classes, "
                        "AVDD's preprocess/vgg_subset_create_meta.py)")
    return out


def by_clip_key(index: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """:func:`..video.split_rows.walk_clips`'s ``index`` (files by name without extension) keyed as
    :func:`read_vggsound_csv` keys a clip: a downloader's ``<id>_<start:06d>``, ``<id>_<start>_<end>`` (and their
    ``.000`` forms) as ``<id>_<start>``, a bare ``<id>`` as itself; names that are no YouTube id with such a tail are
    left out."""
    by_key: dict[str, list[Path]] = {}
    for stem, paths in index.items():
        m = _TAIL.fullmatch(stem[11:])
        if len(stem) >= 11 and m:
            key = stem[:11] if m.group(1) is None else f"{stem[:11]}_{int(m.group(1))}"
            by_key.setdefault(key, []).extend(paths)
    return by_key


__all__ = ["LAYOUT", "SOUND_SECOND", "VGGSOUND_10K", "by_clip_key", "fifth_second", "read_vggsound_csv"]
