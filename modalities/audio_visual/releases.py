"""``--dataset ave | vggsound | vggsound-10k | music-21``: AVDD's datasets (Kushwaha et al., TMLR 2024) read from their
released layouts under ``--data-root`` (:mod:`.ave_lists`, :mod:`.vggsound_lists`, :mod:`.music21_lists`; the clips
by :mod:`.release_clips`). Nothing is downloaded: the clips are YouTube videos no release ships."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.validation import SPLIT_DRAWN_WITH, drawn_by

from .data import AVData

log = logging.getLogger(__name__)

#: name -> what the dataset card says of its source (:data:`.adapter.DATASET_FACTS`)
RELEASE_FACTS = {
    "ave": {"licence": "AVE annotations: no licence stated (YapengTian/AVE-ECCV18); clips: YouTube videos under their "
            "uploaders' terms", "licence_id": "unknown", "source": "https://github.com/YapengTian/AVE-ECCV18 (local copy)"},
    "vggsound": {"licence": "VGGSound annotations CC BY 4.0; the videos' copyright stays with their owners (VGGSound README)",
                 "licence_id": "other", "source": "https://www.robots.ox.ac.uk/~vgg/data/vggsound/ (local copy)"},
    "music-21": {"licence": "MUSIC ids: no licence stated (roudimit/MUSIC_dataset); clips: YouTube videos under their "
                 "uploaders' terms", "licence_id": "unknown", "source": "https://github.com/roudimit/MUSIC_dataset (local copy)"},
}
RELEASE_FACTS["vggsound-10k"] = dict(RELEASE_FACTS["vggsound"])
#: the released layouts' dataset names
RELEASE_NAMES = ("ave", "vggsound", "vggsound-10k", "music-21")


def load_release(name: str, cfg: Any) -> AVData:
    """Dataset ``name`` of :data:`RELEASE_NAMES` from ``cfg.data_root``, featurised as the other audio-visual files are
    (:func:`.raw_pairs.featurise`); the load report names the ``unused`` (a val split, no file) and unreadable clips."""
    from .pair_split import _hold_out
    from .raw_pairs import featurise
    from .release_clips import read_listed
    from ..sources import warn_unused_split_config

    if not cfg.data_root:
        raise ConfigError(f"dataset {name!r} needs --data-root (the folder of its release: {_layout(name)})", key="data_root")
    root = Path(cfg.data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"{name}: data_root {root} is not a folder; expected {_layout(name)}")
    listed, find, drawn = _listing(name, root)
    report = LoadReport()  # the kinds: featurise's and RELEASE_KINDS (read_listed)
    pairs, classes, bad = read_listed(name, root, listed, find, cfg, report, _layout(name))
    if drawn:  # MUSIC-21 without AVDD's split: test_fraction of each instrument's readable clips
        _hold_out(pairs, classes, cfg.test_fraction, cfg.split_seed)
    else:
        warn_unused_split_config(cfg, name, "its release's split", log)
    report.facts["layout"] = name
    data = featurise(name, pairs, cfg, classes=classes, skipped=bad, root=root, report=report, skipped_what="unreadable clip")
    data.meta[SPLIT_DRAWN_WITH] = drawn_by(cfg.test_fraction, cfg.split_seed) if drawn else None  # a validation digest's
    if drawn:
        from .pair_split import SPLIT_RULE

        data.meta["split_rule"] = SPLIT_RULE
    return data


def _listing(name: str, root: Path) -> tuple[list, Callable, bool]:
    """(the listed clips, their finder, whether the split is drawn) of release ``name`` under ``root``: a listed clip is
    found by its id as the video split files' rows are (:func:`..video.split_rows.place`: of several files of one id, the
    one in its class's folder; a DataError naming them when that does not decide)."""
    from ..video.split_rows import Row, place, walk_clips

    vggsound = name in ("vggsound", "vggsound-10k")
    if name == "ave":
        from .ave_lists import read_ave_lists

        listed, drawn = read_ave_lists(root), False
    elif vggsound:
        from .vggsound_lists import VGGSOUND_10K, read_vggsound_csv

        listed, drawn = read_vggsound_csv(root, VGGSOUND_10K if name == "vggsound-10k" else None), False
    else:
        from .music21_lists import read_music21

        listed, given = read_music21(root)
        drawn = not given
    index = walk_clips(root, "files").index
    if vggsound:
        from .vggsound_lists import by_clip_key

        index = by_clip_key(index)

    def find(it) -> Path | None:  # a VGGSound clip keyed <id>_<start> may be stored as <id> alone
        alias = it.key.rsplit("_", 1)[0] if vggsound else ""
        return place(Row(it.key, it.label, it.split, it.where, alias=alias), index, root)
    return listed, find, drawn


def _layout(name: str) -> str:
    from . import ave_lists, music21_lists, vggsound_lists

    return {"ave": ave_lists.LAYOUT, "music-21": music21_lists.LAYOUT}.get(name, vggsound_lists.LAYOUT)


__all__ = ["RELEASE_FACTS", "RELEASE_NAMES", "load_release"]
