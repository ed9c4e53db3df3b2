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
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.csv_lines import line_list, numbered_records, quote_error, refuse_line_breaks
from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8
from mmdistill.load_report import LoadReport, relative_name
from mmdistill.modality import registration_name

from ..artifacts import check_class_ids, classes_without_test, one_spelling_per_label
from ..image.decode import to_8bit, upright
from ..audio.decode import BadFile, Clip, decode, describe_bad, downmix_counts, fix_length, length_counts, resample_clips
from ..groups import said_group_by, tell_nested_split
from ..sources import dataset_name, warn_unused_split_config
from ..groups import group_no_test_reason, group_test_flags, no_group_column, refuse_groups_in_both, rows_without_group
from .data import AVData, check_pair_labels, image_tensor, log_mel, normalise_pairs
from .folder_groups import AV_SPLIT_HINT, folder_group_rule, redraw_groups
from .releases import RELEASE_NAMES, load_release

log = logging.getLogger(__name__)

#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {"unreadable": "unreadable pair(s) or clip(s) without a usable audio track skipped",
                "resampled": "audio file(s) resampled", "padded": "clip(s) padded with silence", "cropped": "clip(s) cropped",
                "silent": "all-zero audio clip(s) (digital silence) kept and trained on"}
#: the CSV reader's kinds, beside :data:`REPORT_KINDS`
CSV_KINDS = {"downmixed": "multi-channel audio file(s) averaged to mono",
             "reused": "file(s) each used by more than one pair (kept; a file's pairs are never split between train and test)",
             "converted": "frame image(s) converted to grey or RGB (alpha dropped, palette, CMYK, 16-bit scaled)",
             "exif_rotated": "frame image(s) turned upright by their EXIF orientation tag (as the image adapter reads them)"}
#: the video reader's kinds, beside :data:`REPORT_KINDS`
VIDEO_KINDS = {"length_mismatch": "clip(s) whose sound track and video differ in length (kept)",
               "ignored": "file(s) or folder(s) under the data root not used (not clips of the layout, or hidden)",
               "unused": "clip(s) the layout leaves out (a val split beside a test split, not listed by the split file)"}

BUILT_IN = ("tones-digits", "csv", "video", *RELEASE_NAMES)  # the releases: .releases

#: in-memory sets registered by API users (:func:`register_tensors`): name -> AVData-making arguments
_TENSOR_SETS: dict[str, dict[str, Any]] = {}


@dataclass
class RawPair:
    """One pair before featurising: its name, the decoded clip, the frame (C, h, w) in [0, 1], class, split, where
    its frame came from (``image_file``: the image file or the clip; empty for generated pairs), and its ``group``
    when the reader knows it (a ``group_by`` speaker, a UCF clip's recording, pairs that share a file): the
    training pairs' groups become ``AVData.train_groups`` (:func:`train_groups`), so ``validation=`` holds them out whole."""

    name: str
    clip: Clip
    image: Tensor
    label: str
    split: str
    image_file: str = ""
    group: str | None = None


def train_groups(pairs: list[RawPair]) -> list[str] | None:
    """The group of each training pair, in the training split's order (:func:`featurise`'s), or None when a pair's
    group is not known (pairs drawn one by one)."""
    train = [p for p in pairs if p.split == "train"]
    return [str(p.group) for p in train] if train and all(p.group is not None for p in train) else None


def register_tensors(name: str, audio_train: Tensor, image_train: Tensor, y_train: Tensor, audio_test: Tensor, image_test: Tensor,
                     y_test: Tensor, classes: list[str] | None = None) -> str:
    """Make in-memory pairs loadable as ``dataset=name``: waveforms (N, T), float amplitudes in [-1, 1] at the config's
    ``sample_rate`` (integer PCM is refused: ``pcm.float() / 32768`` scales int16), frames (N, C, h, w) in [0, 1] (or
    uint8), class ids (N,) 0..K-1 with every class in ``y_train`` (K = the number of ``classes`` names, a list, or the
    largest label + 1); other input is a DataError here naming the argument. All-zero waveforms and ones beyond [-1, 1] are kept, counted in a
    warning. The tensors are copied, detached from autograd: later edits of the caller's tensors do not change the
    registered set. Returns ``name``."""
    registration_name("register_tensors", name, lambda n: f"{n!r} is a built-in dataset name ({n.strip().lower()}); choose another"
                      if n.strip().lower() in BUILT_IN else None)  # any spelling: a registered "CSV" took that spelling over from the CSV loader
    args = {"audio_train": audio_train, "image_train": image_train, "y_train": y_train, "audio_test": audio_test,
            "image_test": image_test, "y_test": y_test}
    for arg, t in args.items():
        if not isinstance(t, Tensor):
            raise DataError(f"register_tensors({name!r}): {arg} must be a torch.Tensor, got {type(t).__name__} "
                            "(torch.from_numpy converts an array)")
    snap = {arg: t.detach().clone() for arg, t in args.items()}  # the caller's tensors are neither kept nor differentiated
    for what in ("train", "test"):
        a, i, y = snap[f"audio_{what}"], snap[f"image_{what}"], snap[f"y_{what}"]
        where = f"register_tensors({name!r}): {what}"
        if a.dim() != 2 or i.dim() != 4 or y.dim() != 1 or not len(a) == len(i) == len(y):
            raise DataError(f"{where} needs audio (N, T), frames (N, C, h, w) and labels (N,) of one N; got "
                            f"{tuple(a.shape)}, {tuple(i.shape)}, {tuple(y.shape)}")
        if len(y) == 0:
            raise DataError(f"{where} holds no pairs")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise DataError(f"{where}: labels must be integer class ids, got dtype {y.dtype}")
        if not a.is_floating_point():
            raise DataError(f"{where}: audio_{what} must be float waveforms with amplitudes in [-1, 1], got dtype {a.dtype} "
                            "(int16 PCM: pcm.float() / 32768; uint8 PCM: (pcm.float() - 128) / 128)")
        for side, t in (("audio", a), ("frames", i)):
            if t.is_floating_point():
                rows = (~torch.isfinite(t.reshape(len(t), -1))).any(dim=1).nonzero().flatten().tolist()
                if rows:
                    raise DataError(f"{where} {side} hold NaN or infinite values in {len(rows)} pair(s): rows {rows[:10]}"
                                    f"{' ...' if len(rows) > 10 else ''}")
        if i.dtype != torch.uint8:
            if not i.is_floating_point():
                raise DataError(f"{where}: frames must be floats in [0, 1] or uint8, got dtype {i.dtype}")
            lo, hi = float(i.min()), float(i.max())
            if lo < -1e-3 or hi > 1.0 + 1e-3:
                raise DataError(f"{where}: float frames must lie in [0, 1] (uint8 for 0..255), got values in [{lo:g}, {hi:g}]")
    names = check_class_ids(f"register_tensors({name!r})", snap["y_train"], snap["y_test"], classes)  # 0..K-1, every class trained
    for what in ("train", "test"):
        i = snap[f"image_{what}"]
        if i.shape[1] not in (1, 3) and i.shape[-1] in (1, 3):
            log.warning("register_tensors(%r): image_%s has shape %s, read as (N, C, h, w) with C = %d channels; frames in "
                        "(N, h, w, C) layout need .permute(0, 3, 1, 2)", name, what, tuple(i.shape), i.shape[1])
    for what in ("train", "test"):
        a = snap[f"audio_{what}"]
        silent = (a == 0).all(dim=1).nonzero().flatten().tolist()
        if silent:
            log.warning("register_tensors(%r): %s: kept %d all-zero audio clip(s) (digital silence) of %d: rows %s%s", name, what,
                        len(silent), len(a), silent[:10], " ..." if len(silent) > 10 else "")
        loud = (a.abs() > 1.0 + 1e-3).any(dim=1).nonzero().flatten().tolist()
        if loud:
            log.warning("register_tensors(%r): %s: %d waveform(s) of %d reach beyond [-1, 1] (up to %.4g; rows %s%s), kept as "
                        "they are; integer PCM made float without scaling? (int16: pcm.float() / 32768)", name, what, len(loud),
                        len(a), float(a.abs().max()), loud[:10], " ..." if len(loud) > 10 else "")
    _TENSOR_SETS[name] = dict(audio=(snap["audio_train"], snap["audio_test"]), image=(snap["image_train"], snap["image_test"]),
                              y=(snap["y_train"], snap["y_test"]), classes=names)
    return name


def load_pairs(cfg: Any) -> AVData:
    """The dataset ``cfg.dataset`` as normalised :class:`AVData` (see the module docstring)."""
    name = canonical_dataset(cfg.dataset)
    if name not in ("csv", "video") and getattr(cfg, "group_by", None):
        raise ConfigError(f"{said_group_by(cfg.group_by)} names a column of a pairs CSV (dataset csv) or a pattern over "
                          f"clip file names (dataset video); dataset {name!r} has neither", key="group_by")
    if name in _TENSOR_SETS:
        warn_unused_split_config(cfg, name, "the train and test tensors given to register_tensors", log)
        return _from_tensors(name, cfg)
    if name == "tones-digits":
        warn_unused_split_config(cfg, name, "generated with split_seed: the last quarter of each class's pairs", log,
                                 keys=("test_fraction",))
        from ..audio.tones import generated_data_seed
        from .digits import tones_digits_pairs, tones_digits_per_class

        per_class = tones_digits_per_class(cfg.ipc * int(getattr(cfg, "multi_formation", 1)) ** 2)
        pairs = tones_digits_pairs(generated_data_seed(cfg), per_class, sample_rate=cfg.sample_rate, duration=cfg.duration)
        return featurise(name, pairs, cfg)  # drawn with split_seed (generated_seed): every --seed sees the same pairs
    if name == "csv":
        root = Path(_root(cfg, name))
        report = LoadReport(descriptions=dict(CSV_KINDS))
        group_by = getattr(cfg, "group_by", None)
        pairs, classes, bad, drawn = _read_csv(root, cfg.test_fraction, cfg.split_seed, cfg.strict, report, group_by)
        data = featurise(root.stem, pairs, cfg, classes=classes, skipped=bad, root=root.parent, report=report)
        if not drawn:
            warn_unused_split_config(cfg, name, "its split column", log)
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
        if report.facts.get("split_drawn") and report.facts.get("group_by"):  # whole groups held out (folder_groups)
            data.meta["split_rule"] = folder_group_rule(report.facts["group_by"])
        elif report.facts.get("split_redrawn"):  # drawn among the readable clips (unreadable ones would leave a class untested)
            data.meta["split_rule"] = SPLIT_RULE
        return data
    raise AssertionError(name)  # canonical_dataset refused any other name


def canonical_dataset(name: object) -> str:
    """``name`` itself when :func:`register_tensors` registered it (as spelt), else stripped and lower-cased, one of
    :data:`BUILT_IN`; ConfigError (key ``dataset``) naming the closest built-in names and the registered ones for another
    name or a value that is not a string (:func:`~modalities.sources.dataset_name`)."""
    if isinstance(name, str) and name in _TENSOR_SETS:
        return name
    registered = ", ".join(sorted(_TENSOR_SETS)) or "none registered"
    return dataset_name(name, BUILT_IN, {}, "audio-visual", also=f"or a name given to register_tensors ({registered})")


def _root(cfg: Any, name: str) -> str:
    if not cfg.data_root:
        raise ConfigError(f"dataset {name!r} needs --data-root (a {'CSV file' if name == 'csv' else 'folder of clips'})")
    root = Path(cfg.data_root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    return str(root)


def _from_tensors(name: str, cfg: Any) -> AVData:
    spec = _TENSOR_SETS[name]
    params = cfg.feature_params()
    n = int(round(cfg.duration * cfg.sample_rate))
    parts = []
    for s in (0, 1):
        y = spec["y"][s].long()
        check_pair_labels(y, len(spec["classes"]), f"register_tensors({name!r})")
        img = spec["image"][s]
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        waves = fix_length(spec["audio"][s].float(), n)
        parts.append((log_mel(waves, params, cfg.audio_frames), image_tensor(img, cfg.image_size, cfg.image_channels), y, []))
    c_train, c_test = parts[0][1].shape[1], parts[1][1].shape[1]
    if c_train != c_test:  # the file loaders refuse grey next to colour frames too (image_tensor)
        raise DataError(f"register_tensors({name!r}): image_train has {c_train} channel(s) per frame and image_test "
                        f"{c_test}: a network trained on one cannot read the other; give both splits the same channels, "
                        "or pass image_channels=1 or 3 to convert every frame to grey or RGB")
    lengths = [spec["audio"][s].shape[-1] for s in (0, 1) for _ in range(len(spec["y"][s]))]
    _log_lengths(name, lengths, n, cfg)  # in memory: logged, no load report
    report = LoadReport()  # in memory: a load report only to state a class the test split lacks (the card's fact)
    classes_without_test(name, spec["classes"], parts[0][2], parts[1][2], "y_test holds no label of it; add test pairs of it "
                         "to score it", report, what="pair")
    meta = {**_meta(cfg, n), **({"load_report": report.as_dict()} if report.facts else {})}
    return normalise_pairs(name, spec["classes"], parts[0], parts[1], meta, cfg.scaling)


def _meta(cfg: Any, num_samples: int) -> dict[str, Any]:
    return {"features": cfg.feature_params().to_dict(), "num_samples": num_samples, "audio_frames": cfg.audio_frames}


def featurise(name: str, pairs: list[RawPair], cfg: Any, *, classes: list[str] | None = None, skipped: list[BadFile] | None = None,
              root: Path | None = None, report: LoadReport | None = None, skipped_what: str = "unreadable pair") -> AVData:
    """Resample every clip to ``cfg.sample_rate`` (counted per source rate, logged), fix its length (padded and cropped
    clips counted), take the log-mel spectrogram; resize the frames; scale both by ``cfg.scaling`` (:func:`.data.normalise_pairs`).
    ``classes``: every class the source names (None: those of ``pairs``), so a class whose files were all skipped is
    kept, and refused by the per-class check naming it; ``skipped``: the files left out (``skipped_what``: what each is, in
    words: a CSV's pairs, or clips), named in the load report
    (``report``: one the reader began, or a new one; its root is ``root``), which ``meta["load_report"]`` holds
    when the pairs were read from files (``root`` given; generated pairs get none)."""
    if not pairs:
        raise DataError(f"{name}: no readable pairs" + (f" ({describe_bad(skipped, what=skipped_what)})" if skipped else ""))
    other = {}
    for p in pairs:
        if p.clip.sample_rate != cfg.sample_rate:
            other.setdefault(p.clip.sample_rate, []).append(p.name)
    for rate, names in sorted(other.items()):
        log.warning("%s: resampled %d audio file(s) from %d Hz to %d Hz: %s%s", name, len(names), rate, cfg.sample_rate,
                    ", ".join(names[:3]), " ..." if len(names) > 3 else "")
    classes = list(classes) if classes is not None else sorted({p.label for p in pairs}, key=_natural)
    empty = [c for c in classes if not any(p.label == c for p in pairs)]
    if empty:
        log.warning("%s: %d class(es) kept no readable pair (all their files were skipped): %s", name, len(empty), ", ".join(map(repr, empty[:10])))
    if cfg.image_channels == "auto":
        _same_channels(name, pairs)
    n = int(round(cfg.duration * cfg.sample_rate))
    params = cfg.feature_params()
    parts, lengths, silent = [], [], []
    for split in ("train", "test"):
        members = [p for p in pairs if p.split == split]
        if not members:
            raise DataError(f"{name}: the {split} split holds no pairs")
        resampled = resample_clips([p.clip for p in members], cfg.sample_rate)
        lengths += [len(w) for w in resampled]
        silent += [p.name for p, w in zip(members, resampled) if not bool(w.any())]
        waves = torch.stack([fix_length(w, n) for w in resampled])
        frames = image_tensor([p.image for p in members], cfg.image_size, cfg.image_channels, [p.image_file or p.name for p in members])
        parts.append((log_mel(waves, params, cfg.audio_frames), frames, torch.tensor([classes.index(p.label) for p in members]),
                      [p.name for p in members]))
    report = report if report is not None else LoadReport()
    report.root, report.descriptions = str(root) if root is not None else "", {**REPORT_KINDS, **report.descriptions}
    padded, cropped = _log_lengths(name, lengths, n, cfg)
    report.count("padded", padded)
    report.count("cropped", cropped)
    report.facts.update(pairs=len(lengths), duration_s=float(cfg.duration))
    report.extend("unreadable", ((b.name, b.reason) for b in skipped or []))
    report.extend("silent", ((p, "every sample is 0") for p in silent))
    if silent:
        log.warning("%s: %s", name, describe_bad([BadFile(p, "every sample is 0") for p in silent], what="silent pair", verb="kept",
                                                 note=" (audio all zero: digital silence, a recording or export that wrote no sound?)"))
    report.count("resampled", sum(len(v) for v in other.values()))
    downmixed = downmix_counts(p.clip for p in pairs)  # CSV pairs; a clip's sound track is read mono by decord
    for channels, count in sorted(downmixed.items()):
        log.info("%s: downmixed %d audio file(s) from %d channels to mono (the channels averaged)", name, count, channels)
    if "downmixed" in report.descriptions:  # CSV pairs (a video's track is read mono by decord, its channels never known)
        report.count("downmixed", sum(downmixed.values()))
    report.facts["resampled_from_hz"] = {str(k): len(v) for k, v in sorted(other.items())}
    shared = " (pairs that share a file count as one)" if report.counts().get("reused") else ""
    group = report.facts.get("group_by")
    named = None
    if group and "layout" in report.facts:  # clip names' groups: the video layout's reader said them (video imported)
        named = said_group_by(group)
    classes_without_test(name, classes, parts[0][2], parts[1][2], group_no_test_reason(group, "pairs", named) if group else
                         f"a class needs two readable pairs{shared} to hold one out, or the split gives it no test row", report,
                         what="pair")
    meta = {**_meta(cfg, n), "resampled_files": {str(k): len(v) for k, v in other.items()},
            **({"load_report": report.as_dict()} if report.root else {})}
    # the training pairs' groups given where the data is made, so AVData checks their count
    return dataclasses.replace(normalise_pairs(name, classes, parts[0], parts[1], meta, cfg.scaling), train_groups=train_groups(pairs))


def _same_channels(name: str, pairs: list[RawPair]) -> None:
    """DataError naming a frame of each channel count when ``pairs``' frames (C, h, w) differ in C (grey and colour
    images, with ``image_channels="auto"``, which keeps each frame's own)."""
    first: dict[int, RawPair] = {}
    for p in pairs:
        first.setdefault(int(p.image.shape[0]), p)
    if len(first) > 1:
        (c1, a), (c2, b) = sorted(first.items())[:2]
        raise DataError(f"{name}: frames have different channel counts: {a.image_file or a.name} has {c1} channel(s), "
                        f"{b.image_file or b.name} has {c2}; pass image_channels=1 or 3 (--image-channels) to convert every frame "
                        "to grey or RGB")


def _log_lengths(name: str, lengths: list[int], n: int, cfg: Any) -> tuple[int, int]:
    """Log how many of the clips of ``lengths`` samples are padded / cropped (centred) to ``n`` samples; returns
    ``(padded, cropped)``."""
    padded, cropped = length_counts(lengths, n)
    if padded:
        log.info("%s: padded %d clip(s) shorter than %g s with silence (centred)", name, padded, cfg.duration)
    if cropped:
        log.info("%s: cropped %d clip(s) longer than %g s to their middle %g s (--duration)", name, cropped, cfg.duration, cfg.duration)
    return padded, cropped


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


# --------------------------------------------------------------------------- CSV
REQUIRED = ("image_path", "audio_path", "label")


def read_csv_pairs(path: Path, test_fraction: float = 0.2, seed: int = 0, strict: bool = True, group_by: str | None = None) -> list[RawPair]:
    """The rows of a CSV ``image_path,audio_path,label[,split][,image_label,audio_label]`` as pairs. DataError naming
    the file and rows for a missing column or file, an empty field, an unknown split, a split given on some rows and
    empty on others, a pair listed twice, a file whose pairs the split puts in both train and test, or labels that
    disagree (``image_label`` vs ``audio_label`` on a row, or one file listed under two labels). A file that cannot be
    decoded fails (``strict``) or is skipped and logged. ``group_by``: a column whose groups (speakers) are never split
    (:func:`_hold_out_groups`; a given split putting a group on both sides is refused naming its rows)."""
    return _read_csv(path, test_fraction, seed, strict, group_by=group_by)[0]


#: how the CSV reader holds out pairs when the CSV has no split (since 5 December 2026; before, each row was drawn
#: on its own); stored as ``meta["split_rule"]`` of such data and of the sets distilled from it (and of class folders
#: of clips, whose split is drawn among the readable clips since the same rule came to them)
SPLIT_RULE = "per class (test_fraction of each class's readable pairs, seeded)"
#: the rule when some pairs share a file: they are held out together (before, pair by pair, so a file could be in both
#: splits); a set distilled from such a CSV under :data:`SPLIT_RULE` is then warned about
SPLIT_RULE_SHARED = SPLIT_RULE[:-1] + "; pairs that share a file held out together)"


def group_rule(column: str) -> str:
    """The split rule of a CSV drawn with ``group_by`` (:func:`_hold_out_groups`)."""
    return f"by the groups of column {column!r} (test_fraction of the groups, seeded; pairs that share a file held out together)"


def _read_csv(path: Path, test_fraction: float, seed: int, strict: bool,
              report: LoadReport | None = None, group_by: str | None = None) -> tuple[list[RawPair], list[str], list[BadFile], bool]:
    """(pairs, every class the CSV names, the skipped files, whether the split was drawn): see :func:`read_csv_pairs`.
    ``report`` (when given) receives the files used by several pairs (``reused``) and the frame images converted
    (``converted``), and the fact ``pairs_sharing_a_file``."""
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: holds no rows after its header; expected {HEADER} rows")
    empty = [f"row {n} ({', '.join(c for c in REQUIRED if not r.get(c))})" for n, r in rows.items() if not all(r.get(c) for c in REQUIRED)]
    if empty:
        raise DataError(f"{path}: {len(empty)} row(s) with an empty {'/'.join(REQUIRED)} field: {'; '.join(empty[:5])}"
                        f"{' ...' if len(empty) > 5 else ''}")
    group = _group_column(path, rows, group_by)
    disagree, seen, twice, pair_rows = [], {}, [], {}
    for n, r in rows.items():
        labels = {r["label"]} | {r[c] for c in ("image_label", "audio_label") if r.get(c)}
        if len(labels) > 1:
            disagree.append(f"row {n} ({r['image_path']}, {r['audio_path']}: {sorted(labels)})")
        for col in ("image_path", "audio_path"):
            first = seen.setdefault((col, r[col]), (n, r["label"]))
            if first[1] != r["label"]:
                disagree.append(f"row {n} ({r[col]} labelled {r['label']!r}, row {first[0]} {first[1]!r})")
        pair = (r["image_path"], r["audio_path"])
        if pair in pair_rows:
            twice.append(f"rows {pair_rows[pair]} and {n} ({pair[0]}, {pair[1]})")
        pair_rows.setdefault(pair, n)
    one_spelling_per_label(str(path), {n: r["label"] for n, r in rows.items()}, "row")
    if disagree:
        raise DataError(f"{path}: {len(disagree)} pair(s) whose labels disagree: {'; '.join(disagree[:5])}{' ...' if len(disagree) > 5 else ''}")
    if twice:
        raise DataError(f"{path}: {len(twice)} pair(s) listed more than once (a pair counts once, in one split): {'; '.join(twice[:5])}"
                        f"{' ...' if len(twice) > 5 else ''}")
    root = path.parent
    absent = [f"row {n}: {root / r[c]}" for n, r in rows.items() for c in ("image_path", "audio_path") if not (root / r[c]).is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} file(s) do not exist: {'; '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                        f"(paths are relative to the CSV's folder {root}; a listed file that does not exist is a listing "
                        "error, with or without strict, as in the audio CSV loader: fix the path or remove the row; a file "
                        "that exists but cannot be decoded is skipped and counted instead)")
    splits = {n: _split(r.get("split", ""), path, n) for n, r in rows.items()}
    drawn = all(s is None for s in splits.values())
    blank = [n for n, s in splits.items() if s is None]
    if blank and not drawn:  # before: such rows became training rows without a word
        raise DataError(f"{path}, row {blank[0]}: split must be train, test or val, got '' ({len(blank)} row(s) with an empty split: "
                        f"rows {line_list(blank)}; the other rows give one): give every row a split, or leave it empty on every row "
                        "to hold out test_fraction of each class's readable pairs")
    report = report if report is not None else LoadReport()
    if group and not drawn:
        refuse_groups_in_both(str(path), group, [rows[n][group] for n in rows], [str(splits[n]) for n in rows], list(rows), "pairs")
    files = _no_file_in_both_splits(path, rows, splits)
    pairs, bad, converted, rotated, kept = [], [], [], [], []
    for n, r in rows.items():
        split = splits[n]
        try:
            clip = decode(str(root / r["audio_path"]), str(root / r["audio_path"]))
            image = _read_image(root / r["image_path"], converted, rotated)
        except DataError as exc:
            if strict:
                raise DataError(f"{path}, row {n}: {exc} (strict mode; leave strict off to skip unreadable files)") from None
            pair = ", ".join(relative_name(r[c], root) for c in ("image_path", "audio_path"))  # each named under the CSV's folder
            bad.append(BadFile(pair, f"row {n}: {exc}"))
            continue
        pairs.append(RawPair(r["audio_path"], clip, image, r["label"], split or "train", str(root / r["image_path"])))
        kept.append(n)
    if bad:
        log.warning("%s: %s (of %d rows)", path, describe_bad(bad, what="unreadable pair"), len(rows))
    if converted:
        report.extend("converted", converted)
        log.warning("%s: %s", path, describe_bad([BadFile(p, why) for p, why in converted], what="frame image", verb="converted",
                                                 note=" to grey or RGB"))
    if rotated:
        report.extend("exif_rotated", rotated)
        log.info("%s: %d frame image(s) turned upright by their EXIF orientation tag (%s)", path, len(rotated),
                 ", ".join(relative_name(p, root) for p, _ in rotated[:3]) + (" ..." if len(rotated) > 3 else ""))
    _name_shared(path, rows, files, kept, drawn, report)
    classes = sorted({r["label"] for r in rows.values()}, key=_natural)
    shared = _set_groups(pairs, [files[n] for n in kept], [rows[n][group] for n in kept] if group else None)
    if drawn and group:
        report.facts.update(group_by=group, test_groups=_hold_out_groups(pairs, test_fraction, seed, group, path))
    elif drawn:
        _hold_out(pairs, classes, test_fraction, seed, shared)
        if pairs and all(p.split == "train" for p in pairs) and report.counts().get("reused"):
            raise DataError(f"{path}: no pair can be held out as test: the pairs of each class share files (named above), and "
                            "the pairs of a file are held out together, so that no file is in both splits; give the CSV a "
                            "split column, or more pairs that do not share a file")
    return pairs, classes, bad, drawn


#: what the pairs CSV's header must name, in words (for messages)
HEADER = "image_path,audio_path,label[,split]"


def _csv_rows(path: Path) -> dict[int, dict[str, str]]:
    """The rows of the pairs CSV ``path`` by the physical line each starts on (blank lines skipped), fields stripped
    and named by the header's columns (matched without case, spaces or a byte-order mark, as a spreadsheet saves them;
    a short row's missing fields are empty). DataError naming the file for a header without the :data:`REQUIRED`
    columns (and the header found) and naming the line for a field holding a line break (an unclosed quote:
    :func:`~mmdistill.csv_lines.refuse_line_breaks`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read CSV file {path} (a UTF-8 text file of {HEADER} rows): {exc}") from None
    reader = csv.reader(io.StringIO(decode_utf8(raw, path), newline=""))
    try:
        records = numbered_records(reader, lambda exc, start, line: quote_error(path, exc, start, line))
        _, _, header = next(records, (1, 1, []))
        fields = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; expected a header {HEADER} (column names are matched without "
                            f"case; found {header})")
        rows = {}
        for line, end, values in records:
            refuse_line_breaks(path, line, end, {fields[i] if i < len(fields) and fields[i] else f"column {i + 1}": v
                                                 for i, v in enumerate(values)})
            rows[line] = {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(fields) if k}
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: cannot read it as CSV ({exc}); expected a UTF-8 text file of {HEADER} "
                        "rows") from None
    return rows


def _no_file_in_both_splits(path: Path, rows: dict[int, dict[str, str]], splits: dict[int, str | None]) -> dict[int, tuple[str, str]]:
    """The files of each row (``rows`` and ``splits`` by line number), ``(image, audio)`` normalised (a file named two
    ways is one file). DataError naming the file and its rows when the rows of one file give both train and test: a
    test pair whose frame or sound was trained on is not held out (the audio-only or visual-only score would measure
    memory). With no split given (``splits`` all None) the held-out draw keeps such rows together instead
    (:func:`_hold_out`)."""
    root = path.parent
    keys = {n: (os.path.normpath(str(root / r["image_path"])), os.path.normpath(str(root / r["audio_path"]))) for n, r in rows.items()}
    both = []
    for (col, file), ns in _uses(keys).items():
        by_split = {s: [n for n in ns if splits[n] == s] for s in ("train", "test")}
        if by_split["train"] and by_split["test"]:
            both.append(f"{col} file {rows[ns[0]][col + '_path']} in rows {line_list(by_split['train'])} (train) and "
                        f"{line_list(by_split['test'])} (test)")
    if both:
        raise DataError(f"{path}: {len(both)} file(s) used by both train and test pairs (a test pair whose frame or sound was trained on "
                        f"is not held out): {'; '.join(both[:5])}{' ...' if len(both) > 5 else ''}; give all the pairs of a file one "
                        "split, or leave the split empty on every row to hold them out together")
    return keys


def _uses(keys: dict[int, tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
    """``(column, file) -> row numbers`` for the files (``keys``: ``(image, audio)`` by row number) that more than one
    of those rows uses; ``column`` is ``image`` or ``audio``."""
    uses: dict[tuple[str, str], list[int]] = {}
    for n, key in keys.items():
        for col, file in zip(("image", "audio"), key):
            uses.setdefault((col, file), []).append(n)
    return {k: v for k, v in uses.items() if len(v) > 1}


def _name_shared(path: Path, rows: dict[int, dict[str, str]], keys: dict[int, tuple[str, str]], kept: list[int], drawn: bool,
                 report: LoadReport) -> None:
    """Name, in a warning and in ``report`` (``reused``, one entry per file, and the fact ``pairs_sharing_a_file``),
    the files that more than one of the readable rows ``kept`` (row numbers; ``rows``, ``keys``: every row and its
    files by row number) use: kept, a file's pairs in one split (given, or held out together when ``drawn``)."""
    shared = _uses({n: keys[n] for n in kept})
    if not shared:
        return
    root = path.parent
    entries = [(str(root / rows[ns[0]][col + "_path"]), f"the {col} of {len(ns)} pairs: rows {line_list(ns)}") for (col, _), ns in shared.items()]
    pairs = len({n for ns in shared.values() for n in ns})
    report.extend("reused", entries)
    report.facts["pairs_sharing_a_file"] = pairs
    log.warning("%s: %d file(s) used by more than one pair (%d pairs share them; kept, %s): %s", path, len(entries), pairs,
                "each file's pairs held out together" if drawn else "each file's pairs in one split",
                "; ".join(f"{relative_name(p, root)} ({why})" for p, why in entries[:5]) + (" ..." if len(entries) > 5 else ""))


def _hold_out(pairs: list[RawPair], classes: list[str], test_fraction: float, seed: int,
              shared: list[int] | None = None) -> None:
    """Mark a seeded ``test_fraction`` of every class's readable pairs as test, the rest train (in place): the
    audio loader's rule (:func:`mmdistill.data.held_out_flags`, at least one test pair of a class with two or
    more), drawn after decoding so that an unreadable file never leaves a class without test pairs. ``shared``: each
    pair's group of pairs that share a file (:func:`_groups` of their ``(image, audio)`` files, as :func:`_set_groups`
    returns it); such pairs are drawn as one (all test or all train), so no file is in both splits; pairs of their own
    are drawn as before."""
    group = shared if shared else list(range(len(pairs)))
    order: list[int] = []  # the groups, class-major, each in the order of its first pair
    label = {}
    for c in classes:
        for g, p in zip(group, pairs):
            if p.label == c and g not in label:
                label[g] = c
                order.append(g)
    test = {g for g, t in zip(order, held_out_flags([label[g] for g in order], classes, test_fraction, seed)) if t}
    for g, p in zip(group, pairs):
        p.split = "test" if g in test else "train"


def _group_column(path: Path, rows: dict[int, dict[str, str]], group_by: str | None) -> str | None:
    """The header's name (lower case, as :func:`_csv_rows` keys the fields) of the ``group_by`` column, or None
    without one. DataError naming the file when the header has no such column, and the rows that leave it empty."""
    if not group_by:
        return None
    column = group_by.strip().lower()
    if column not in next(iter(rows.values())):
        raise no_group_column(str(path), group_by, list(next(iter(rows.values()))), "pair")
    empty = [n for n, r in rows.items() if not r[column]]
    if empty:
        raise DataError(f"{path}: {rows_without_group(empty, column, 'pair')}")
    return column


def _set_groups(pairs: list[RawPair], files: list[tuple[str, str]], groups: list[str] | None) -> list[int]:
    """Set each pair's ``group`` (in place): with a ``group_by`` column (``groups``: each pair's value), its group,
    where groups whose pairs share a file (``files``: each pair's ``(image, audio)``) are one, named ``a+b``, so that
    neither a group nor a file is on both sides of a split drawn over them; without one, pairs that share a file are one
    group, named by the first pair's audio file, and a pair of its own its own group; no group (None) when no pair shares
    a file (the pairs are drawn one by one). Returns each pair's joined group (:func:`_groups`: the index of its group's
    first pair), which a draw without ``group_by`` holds out whole (:func:`_hold_out`)."""
    joined = _groups([(*f, g) for f, g in zip(files, groups)] if groups is not None else files)
    if groups is None:
        if len(set(joined)) < len(joined):
            for j, p in zip(joined, pairs):
                p.group = pairs[j].name
        return joined
    members: dict[int, set[str]] = {}
    for j, g in zip(joined, groups):
        members.setdefault(j, set()).add(g)
    for j, p in zip(joined, pairs):
        p.group = "+".join(sorted(members[j]))
    return joined


def _hold_out_groups(pairs: list[RawPair], test_fraction: float, seed: int, column: str, path: Path) -> list[str]:
    """Mark the pairs of a seeded ``test_fraction`` of the groups as test, the rest train (in place), and return the
    held-out groups: :func:`~..groups.group_test_flags` over each pair's ``group`` (:func:`_set_groups`: column
    ``column``'s, groups whose pairs share a file drawn as one), so that neither a group nor a file is in both splits."""
    flags, held = group_test_flags([str(p.group) for p in pairs], test_fraction, seed, column=column, where=str(path), noun="pairs",
                                   labels=[p.label for p in pairs])
    for p, t in zip(pairs, flags):
        p.split = "test" if t else "train"
    return held


def _groups(files: list[tuple[str, ...]]) -> list[int]:
    """A group id per item of ``files`` (each a tuple of file names): items that share a file, directly or through
    others, get one id (the index of the group's first item)."""
    parent = list(range(len(files)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, str], int] = {}
    for i, names in enumerate(files):
        for col, name in enumerate(names):
            j = owner.setdefault((col, name), i)
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(files))]


def _split(value: str, path: Path, row: int) -> str | None:
    v = {"val": "test", "validation": "test", "valid": "test"}.get(value.lower(), value.lower())
    if v and v not in ("train", "test"):
        raise DataError(f"{path}, row {row}: split must be train, test or val, got {value!r}")
    return v or None


#: Pillow modes read as one grey channel (``I``/``F`` after :func:`~..image.decode.to_8bit`); others become RGB
GREY_MODES = ("1", "L", "I", "F")  # grey with alpha (LA) is read as RGB, as before: sets and CSVs mixing it with RGB keep working


def _read_image(path: Path, converted: list[tuple[str, str]] | None = None,
                rotated: list[tuple[str, str]] | None = None) -> Tensor:
    """The image file ``path`` as a frame (C, h, w) float in [0, 1]: C = 1 for grey images (:data:`GREY_MODES`;
    16-bit grey scaled to 8 bits, not saturated), 3 for the others; turned upright by its EXIF orientation tag, as the
    image adapter reads photos (appended to ``rotated`` as ``(path, how)``). A conversion that changes what the file
    holds (alpha dropped, a palette or CMYK turned into RGB, 16- or 32-bit grey into 8 bits) is appended to
    ``converted`` as ``(path, what was done)``. DataError naming the file when it cannot be read: not an image,
    damaged, or larger than Pillow's decompression-bomb limit (as the image adapter's reader)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode, transparent, fmt = im.mode, "transparency" in im.info, im.format
            im, how = upright(im)
            if how is not None and rotated is not None:
                rotated.append((str(path), how))
            if mode.startswith("I") or mode == "F":  # 16-bit (and 32-bit) grayscale: scaled, not saturated to white
                im = to_8bit(im, path)
            im = im.convert("L") if im.mode in GREY_MODES else im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image file {path} (corrupt, not an image, or too large?): {exc}") from None
    if converted is not None and (why := _conversion(mode, transparent, fmt)):
        converted.append((str(path), why))
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


def _conversion(mode: str, transparent: bool, fmt: str | None = None) -> str:
    """What reading an image of Pillow ``mode`` (``transparent``: it has a transparency key; ``fmt``: its file format)
    as grey or RGB does to it, in words; empty when nothing is lost or rescaled (L, RGB, 1-bit)."""
    if mode in ("1", "L", "RGB"):
        return ""
    if mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        return f"mode {mode}: alpha channel dropped"
    if mode == "P":
        return "palette image (mode P) read as RGB" + (" (its transparency dropped)" if transparent else "")
    if mode == "CMYK":
        return "CMYK converted to RGB"
    if mode.startswith("I;16") or (mode == "I" and fmt == "PNG"):  # older Pillow opens a 16-bit PNG as mode I
        return "16-bit grey scaled to 8 bits"
    if mode in ("I", "F"):
        return f"{'32-bit integer' if mode == 'I' else 'floating-point'} grey (mode {mode}) read as 8 bits"
    return f"mode {mode} converted to RGB"


# --------------------------------------------------------------------------- video files
def read_video_pairs(root: Path, cfg: Any) -> list[RawPair]:
    """Each clip's middle frame (decord ``VideoReader``) and its sound track (decord ``AudioReader``, mono, the
    file's own rate). A clip without an audio track or that cannot be decoded is skipped and listed (``strict``:
    DataError naming it). Class folders (no split given) hold out ``test_fraction`` of each class's readable clips,
    drawn with ``cfg.split_seed`` (:func:`_hold_out`); train/test folders and split files keep their split."""
    return _read_video(root, cfg)[0]


def _read_video(root: Path, cfg: Any, report: LoadReport | None = None) -> tuple[list[RawPair], list[str], list[BadFile], list[str]]:
    """(pairs, every class the layout names, the skipped clips, the clips whose sound track and video differ in
    length by more than 10 % and 0.1 s: logged, kept): see :func:`read_video_pairs`. ``report`` (when given)
    receives what the layout does not use (``ignored``: files that are not clips of the layout and hidden entries;
    ``unused``) and the facts ``layout`` and ``split_drawn``. decord's C++ log lines are captured (the video loader's
    :func:`~..video.decode._native_stderr`): the reason of a clip that does not open is its last line."""
    from ..video.datasets import discover
    from ..video.decode import _native_lines, _native_stderr
    from ..video.train_groups import clip_groups

    try:
        import decord
    except ImportError:
        raise ConfigError("reading video files needs decord: pip install \"mmdistill[video]\"") from None
    report = report if report is not None else LoadReport()
    group_by = getattr(cfg, "group_by", None) or None
    items = discover(root, "files", None, cfg.test_fraction, cfg.split_seed, report=report, group_by=group_by,
                     remedy=FOLDER_GROUP_REMEDY, split_hint=AV_SPLIT_HINT)  # names hidden entries too; group_by: .folder_groups
    one_spelling_per_label(str(root), {relative_name(str(it.path), root): it.label for it in items}, "clip")
    pairs, bad, mismatched = [], [], []
    for it in items:
        if it.path.suffix.lower() == ".gif":  # listed by the video layout (read with Pillow there); decord cannot open one
            bad.append(BadFile(str(it.path), NO_SOUND_GIF))
            continue
        native: list[str] = []  # decord's C++ lines while it reads this clip
        try:
            with _native_stderr(native):
                vr = decord.VideoReader(str(it.path))
                frame = torch.from_numpy(vr[len(vr) // 2].asnumpy()).permute(2, 0, 1).float() / 255.0
                fps = float(vr.get_avg_fps())
            video_s = len(vr) / fps if fps > 0 else None
        except Exception as exc:  # noqa: BLE001 - decord raises DECORDError and RuntimeError
            bad.append(BadFile(str(it.path), f"no readable video stream: {_decord_why(native, exc, it.path)}"))
            continue
        try:
            with _native_stderr(native):
                ar = decord.AudioReader(str(it.path), sample_rate=-1, mono=True)
                samples = np.asarray(ar[:].asnumpy(), dtype=np.float32).reshape(-1)
        except Exception:  # noqa: BLE001 - a file without an audio stream raises DECORDError
            _native_lines(native, it.path)
            bad.append(BadFile(str(it.path), "no audio track"))
            continue
        if samples.size == 0:
            bad.append(BadFile(str(it.path), "empty audio track"))
            continue
        if not np.isfinite(samples).all():
            bad.append(BadFile(str(it.path), "audio track holds NaN or infinite samples"))
            continue
        try:
            with _native_stderr(native):
                rate = _stream_rate(decord, str(it.path), samples.size)
        except Exception as exc:  # noqa: BLE001 - decord's resampler failed on this stream
            bad.append(BadFile(str(it.path), f"cannot tell the audio track's sample rate: {_decord_why(native, exc, it.path)}"))
            continue
        for line in _native_lines(native, it.path):
            log.debug("decord on %s: %s", it.path, line)
        audio_s = samples.size / rate
        if video_s is not None and abs(audio_s - video_s) > max(0.1, 0.1 * max(audio_s, video_s)):
            mismatched.append(f"{it.path} (sound {audio_s:.2f} s, video {video_s:.2f} s)")
        pairs.append(RawPair(str(it.path), Clip(samples, rate), frame, it.label, it.split, str(it.path)))
    if bad:
        msg = f"{root}: {describe_bad(bad, what='unreadable clip')} (of {len(items)} clips)"
        if cfg.strict:
            raise DataError(f"{msg} (strict mode; leave strict off to skip them)")
        log.warning("%s", msg)
    if mismatched:
        log.info("%s: %d clip(s) whose sound track and video differ in length (kept: the middle frame with the centred %g s of "
                 "sound): %s%s", root, len(mismatched), cfg.duration, "; ".join(mismatched[:3]), " ..." if len(mismatched) > 3 else "")
    classes = sorted({it.label for it in items}, key=_natural)
    if report.facts.get("split_drawn") and bad and pairs:  # class folders with unreadable clips: drawn again among the readable ones
        if group_by:  # whole groups of the readable clips
            flags = redraw_groups([p.name for p in pairs], [p.label for p in pairs], group_by, cfg.test_fraction, cfg.split_seed,
                                  root, report)
            for p, t in zip(pairs, flags):
                p.split = "test" if t else "train"
        else:
            _hold_out(pairs, classes, cfg.test_fraction, cfg.split_seed)  # (every clip readable: discover's split, as before)
        report.facts["split_redrawn"] = True
    if report.facts.get("split_drawn") and not group_by and pairs:  # clips in sub-folders of class folders: say so
        tell_nested_split(str(root), [p.name for p in pairs], [p.label for p in pairs], [p.split for p in pairs], root, log,
                          report.facts, validation=float(getattr(cfg, "validation", 0.0) or 0.0))
    known = clip_groups([Path(p.name) for p in pairs], [p.label for p in pairs], group_by, root)
    for p, g in zip(pairs, known or []):  # group_by's groups, or UCF-named clips' recordings: validation= holds them out whole
        p.group = g
    return pairs, classes, bad, [m.split(" (sound ")[0] for m in mismatched]


#: what the video layout's warning of UCF-style recordings on both sides of a split tells a user of the folder of clips
#: (:mod:`.folder_groups`)
FOLDER_GROUP_REMEDY = ("pass --group-by ucf (group_by=ucf) to hold out whole groups, or give the split yourself with each recording "
                       "on one side: train/ and test/ folders, or data_root a CSV path,label,split")


#: why a ``.gif`` clip is skipped: the picture is fine, but the format carries no sound
NO_SOUND_GIF = "a GIF has no audio track (audio-visual pairs need clips with sound)"


def _decord_why(native: list[str], exc: BaseException, path: Path) -> str:
    """Why decord failed on ``path``, in at most 160 characters: its own last C++ line captured in ``native``
    (``ERROR opening: PATH, Invalid data ...``, the path shortened to the file's name: the message names it), else the
    first line of its error, as the video loader says it."""
    from ..video.decode import _native_lines, _why

    said = _native_lines(native, path)
    text = (said[-1] if said else _why(exc)).replace(str(path), path.name)
    return text if len(text) <= 160 else "..." + text[-157:]


#: sample rates a container's audio stream is assumed to be stored at (decord reports samples and duration, not the rate)
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


#: the rate a track is decoded at a second time to measure its own rate (see :func:`_stream_rate`)
PROBE_RATE = 48000


def _stream_rate(decord: Any, path: str, num_samples: int) -> int:
    """The sample rate of ``path``'s audio stream, which held ``num_samples`` samples per channel at that rate.

    decord's ``AudioReader(sample_rate=-1)`` keeps the stream's rate without reporting it, and its ``duration()`` is
    truncated to whole seconds (0 for a clip under a second, 1 for 1.9 s), so samples / duration is no measure of it.
    The track is decoded again resampled to :data:`PROBE_RATE` Hz: rate = samples x PROBE_RATE / resampled samples,
    the nearest standard rate when within 0.5 % of one."""
    probe = decord.AudioReader(path, sample_rate=PROBE_RATE, mono=True)
    resampled = int(probe.shape[-1])
    if resampled <= 0:
        raise DataError(f"{path}: the audio track resampled to {PROBE_RATE} Hz holds no samples")
    return _native_rate(num_samples, resampled / PROBE_RATE)


def _native_rate(num_samples: int, duration: float) -> int:
    """The rate of a track holding ``num_samples`` samples over ``duration`` seconds: the nearest standard rate when
    within 0.5 % of one, else the estimate rounded to a whole Hz."""
    est = num_samples / max(duration, 1e-9)
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - est))
    return nearest if abs(nearest - est) <= 0.005 * nearest else int(round(est))


__all__ = ["BUILT_IN", "RawPair", "canonical_dataset", "featurise", "load_pairs", "read_csv_pairs", "read_video_pairs", "register_tensors"]
