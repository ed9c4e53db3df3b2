"""MUSIC-21 (Zhao et al., "The Sound of Motions", ICCV 2019; ids in roudimit/MUSIC_dataset) in its released layout:
``MUSIC21_solo_videos.json``, ``{"videos": {"<instrument>": ["<YouTube id>", ...], ...}}`` (21 instruments), and the
user's clips ``<id>.mp4`` (any video extension, any folder under the root: ``<instrument>/<id>.mp4`` too).

The release has no split. AVDD (sakshamsingh1/AVDD) gives its own, ``preprocess/meta_data/music_21.csv`` (``vid,split,
label``: 754 train, 99 val, 238 test videos); put that file beside the JSON to use it (its val videos counted as
``unused``, as AVE's val set: AVDD's ``utils/data_utils.py`` reads train and test only). Without it ``test_fraction``
of each instrument's readable clips is held out, drawn with ``split_seed``.

A pair per clip: how AVDD cut MUSIC-21's clips is not in its released code (only the name of its herding file,
``Music_21_center``, ``utils/data_utils.py``); mmdistill takes the clip's middle second and the frame at its middle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mmdistill.errors import DataError

from .release_clips import Listed, Window, parent_hint

JSON_NAME = "MUSIC21_solo_videos.json"
#: AVDD's split file (``preprocess/meta_data/music_21.csv``), read when it lies beside the JSON
AVDD_SPLIT = "music_21.csv"
LAYOUT = (f"the MUSIC-21 release: ROOT/{JSON_NAME} ({{\"videos\": {{instrument: [YouTube ids]}}}}) and the clips <id>.mp4 anywhere "
          f"under ROOT; optionally AVDD's split ROOT/{AVDD_SPLIT} (vid,split,label)")


def middle_second(length: float) -> list[Window]:
    """The window of a clip of ``length`` seconds: its middle second, the frame at its middle."""
    mid = length / 2
    a = max(0.0, mid - 0.5)
    return [(a, a + 1.0, mid)]


def read_music21(root: Path) -> tuple[list[Listed], bool]:
    """(the clips the JSON lists, whether AVDD's split file gave their split). Each clip's split is ``train``, ``test``,
    ``unused`` (val) from :data:`AVDD_SPLIT`, or ``train`` to be drawn (the flag false). DataError naming the layout
    when the JSON is absent or not of that shape; naming the split file's line of a video it gives another label than
    the JSON, a split other than train/val/test, or a video the JSON lists that it does not give."""
    path = root / JSON_NAME
    if not path.is_file():
        raise DataError(f"music-21: {root} holds no {JSON_NAME}{parent_hint(root, (JSON_NAME,))}; expected {LAYOUT}")
    try:
        videos = json.loads(path.read_text(encoding="utf-8"))["videos"]
        lists = {str(k): [str(v) for v in ids] for k, ids in videos.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"music-21: {path} is not {{\"videos\": {{instrument: [YouTube ids]}}}} ({exc})") from None
    splits: dict[str, tuple[str, str, int]] = {}
    split_path = root / AVDD_SPLIT
    if split_path.is_file():
        with split_path.open(encoding="utf-8-sig", newline="") as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                split = {"val": "unused"}.get(row.get("split", "").strip(), row.get("split", "").strip())
                if split not in ("train", "test", "unused"):
                    raise DataError(f"music-21: {split_path} line {n}: split {row.get('split')!r}, expected train, val or test "
                                    "(AVDD's vid,split,label)")
                splits[row.get("vid", "").strip()] = (split, row.get("label", "").strip(), n)
    out = []
    for label, ids in lists.items():
        for i, vid in enumerate(ids):
            where, split = f"{JSON_NAME} {label}[{i}]", "train"
            if splits:
                if vid not in splits:
                    raise DataError(f"music-21: {split_path} gives no split for {vid} ({where})")
                split, other, n = splits[vid]
                if other and other != label:
                    raise DataError(f"music-21: {split_path} line {n} labels {vid} {other!r}, {path} lists it under {label!r}")
            out.append(Listed(vid, label, split, where, middle_second))
    return out, bool(splits)


__all__ = ["AVDD_SPLIT", "JSON_NAME", "LAYOUT", "middle_second", "read_music21"]
