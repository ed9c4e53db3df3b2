"""Readers of paired audio-visual data into :class:`~.data.AVData`.

Sources (``dataset``):

* ``video``: clips with sound (``data_root`` laid out as the video adapter reads it: class folders, train/test
  folders, or a ``path,label,split`` CSV such as kinetics-tiny's ``clips.csv``); the middle frame through decord's
  ``VideoReader`` and the sound track through decord's ``AudioReader`` (mono), resampled with torchaudio; decord's
  own C++ log lines are kept off the terminal (the loader names the file). Class folders have no split: the video
  adapter's ``test_fraction`` of each class drawn with ``split_seed``, drawn again among the readable clips (as the CSV loader draws) when
  one cannot be read (``group_by``, a pattern over the clips' file names such as ``spk(\\d+)``: ``test_fraction`` of the
  groups held out whole, :mod:`.folder_groups`); train/test folders and split files are kept as given (a group on both
  sides refused with ``group_by``). Files under the root that are not clips of the layout, clips the layout leaves
  out and hidden entries are named in the log and the load report (``ignored``, ``unused``); a ``.gif`` clip (which
  the video adapter reads) is skipped and named as having no audio track;
* ``csv``: a CSV ``image_path,audio_path,label[,split]`` (column names matched without case or spaces, as a spreadsheet
  may save them; a field holding a line break, which an unclosed quote makes of the lines after it, is refused naming
  the line it starts on; row numbers are physical line numbers; paths relative to the CSV; optional ``image_label`` and
  ``audio_label`` columns must agree with each other; without a split column, or with it empty on every row,
  ``test_fraction`` of each class's readable pairs is held out, drawn with ``split_seed``, as the audio loader does, the pairs that
  share a file held out together; a split given on some rows and empty on others is refused naming the rows). A
  file (image or audio) used by several pairs is named and counted (``reused``); one whose pairs the split puts in
  both train and test is refused naming the file and its rows (its test pairs would not be held out);
* a name registered with :func:`register_tensors` (in-memory tensors);
* ``tones-digits``: generated, no files (tones of the audio adapter paired with scikit-learn digits).

Bad input is named with counts: a clip without an audio track, or a file that exists but cannot be decoded, is
skipped (listed, and named in the set's ``load_report``) or fails in ``strict`` mode; a class all of whose files were
skipped stays a class (and is refused by the per-class check, naming it); audio at another sample rate is resampled
and counted per source rate; clips padded or cropped to ``duration`` are counted; a frame image converted to grey or RGB
(alpha dropped, palette, CMYK, 16-bit) is named and counted (``converted``), one turned upright by its EXIF
orientation tag too (``exif_rotated``, as the image adapter reads photos); frames of mixed channel counts (grey and
colour) with ``image_channels="auto"`` are refused naming a file of each; a pair whose labels disagree, a row
listed twice, a row without a label, a label spelled two ways that print the same (``café`` composed and
decomposed, or with different inner whitespace: refused naming both spellings and their rows or clips), a listed file that does not exist (a wrong path is a listing error, not a bad
file: refused with or without ``strict``, as the audio CSV loader and the video split file refuse it), NaN or
out-of-range tensors fail naming the rows. Every message names the file.

This module reads ``dataset`` and hands it to its reader; each job has a module of its own, whose names are
importable from here as before: in-memory sets and the dataset names (:mod:`.tensor_sets`), the pairs CSV
(:mod:`.pairs_csv`), the folder of clips (:mod:`.video_pairs`) and decord's side of it (:mod:`.decord_clips`), frame
images (:mod:`.frame_images`), the held-out draws (:mod:`.pair_split`), raw pairs into :class:`AVData`
(:mod:`.raw_pairs`), the released layouts (:mod:`.releases`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.validation import SPLIT_DRAWN_WITH, drawn_by

from ..groups import said_group_by
from ..in_memory import GIVEN_SPLIT
from ..sources import warn_unused_split_config
from .data import AVData
from .decord_clips import _native_rate
from .folder_groups import folder_group_rule
from .frame_images import _read_image
from .pair_split import SPLIT_RULE, SPLIT_RULE_SHARED, group_rule
from .pairs_csv import CSV_KINDS, _read_csv, read_csv_pairs
from .raw_pairs import featurise
from .releases import RELEASE_NAMES, load_release
from .tensor_sets import _TENSOR_SETS, _from_tensors, canonical_dataset, register_tensors
from .video_pairs import FOLDER_GROUP_REMEDY, VIDEO_KINDS, _read_video, read_video_pairs

log = logging.getLogger(__name__)


def load_pairs(cfg: Any) -> AVData:
    """The dataset ``cfg.dataset`` as normalised :class:`AVData` (see the module docstring)."""
    name = canonical_dataset(cfg.dataset)
    if name not in ("csv", "video") and getattr(cfg, "group_by", None):
        raise ConfigError(f"{said_group_by(cfg.group_by)} names a column of a pairs CSV (dataset csv) or a pattern over "
                          f"clip file names (dataset video); dataset {name!r} has neither", key="group_by")
    if name in _TENSOR_SETS:
        warn_unused_split_config(cfg, name, GIVEN_SPLIT, log)
        return _from_tensors(name, cfg)
    if name == "tones-digits":
        warn_unused_split_config(cfg, name, "generated with split_seed: the last quarter of each class's pairs", log,
                                 keys=("test_fraction",))
        from ..audio.tones import generated_data_seed
        from .digits import tones_digits_pairs, tones_digits_per_class

        per_class = tones_digits_per_class(cfg.ipc * int(getattr(cfg, "multi_formation", 1)) ** 2)
        seed = generated_data_seed(cfg)
        pairs = tones_digits_pairs(seed, per_class, sample_rate=cfg.sample_rate, duration=cfg.duration)
        data = featurise(name, pairs, cfg)  # drawn with split_seed (generated_seed): every --seed sees the same pairs
        data.meta[SPLIT_DRAWN_WITH] = drawn_by(cfg.test_fraction, seed)  # the seed that drew them: a validation digest's
        return data
    if name == "csv":
        root = Path(_root(cfg, name))
        report = LoadReport(descriptions=dict(CSV_KINDS))
        group_by = getattr(cfg, "group_by", None)
        pairs, classes, bad, drawn = _read_csv(root, cfg.test_fraction, cfg.split_seed, cfg.strict, report, group_by)
        data = featurise(root.stem, pairs, cfg, classes=classes, skipped=bad, root=root.parent, report=report)
        if not drawn:
            warn_unused_split_config(cfg, name, "its split column", log)
        data.meta[SPLIT_DRAWN_WITH] = drawn_by(cfg.test_fraction, cfg.split_seed) if drawn else None
        if drawn:  # recorded in the set's meta: mmdistill.share.warn_split_rule names a set made under the earlier rule
            data.meta["split_rule"] = (group_rule(report.facts["group_by"]) if group_by else
                                       SPLIT_RULE_SHARED if report.counts().get("reused") else SPLIT_RULE)
        return data
    if name in RELEASE_NAMES:
        return load_release(name, cfg)
    if name == "video":
        root = Path(_root(cfg, name))
        report = LoadReport(descriptions=dict(VIDEO_KINDS))
        pairs, classes, bad, mismatched = _read_video(root, cfg, report)
        report.extend("length_mismatch", ((m, "") for m in mismatched))
        if not report.facts.get("split_drawn", True):  # train/ + test/ folders, a path,label,split CSV
            warn_unused_split_config(cfg, name, str(report.facts.get("layout", "a split given with the clips")), log)
        data = featurise(root.name, pairs, cfg, classes=classes, skipped=bad, root=root, report=report, skipped_what="unreadable clip")
        data.meta[SPLIT_DRAWN_WITH] = drawn_by(cfg.test_fraction, cfg.split_seed) if report.facts.get("split_drawn") else None
        if report.facts.get("split_drawn") and report.facts.get("group_by"):  # whole groups held out (folder_groups)
            data.meta["split_rule"] = folder_group_rule(report.facts["group_by"])
        elif report.facts.get("split_redrawn"):  # drawn among the readable clips (unreadable ones would leave a class untested)
            data.meta["split_rule"] = SPLIT_RULE
        return data
    raise AssertionError(name)  # canonical_dataset refused any other name


def _root(cfg: Any, name: str) -> str:
    if not cfg.data_root:
        raise ConfigError(f"dataset {name!r} needs --data-root (a {'CSV file' if name == 'csv' else 'folder of clips'})")
    root = Path(cfg.data_root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    return str(root)


#: the names importable from here: the loader's own, and those its callers imported from here before the split
__all__ = ["CSV_KINDS", "FOLDER_GROUP_REMEDY", "SPLIT_RULE", "SPLIT_RULE_SHARED", "VIDEO_KINDS", "_TENSOR_SETS", "_native_rate",
           "_read_image", "canonical_dataset", "featurise", "load_pairs", "read_csv_pairs", "read_video_pairs", "register_tensors"]
