"""In-memory pairs loadable by name (:func:`register_tensors`) and the dataset names they share with the built-in
sources (:data:`BUILT_IN`, which no registered set may take; :func:`canonical_dataset`); :func:`_from_tensors` makes a
registered set's :class:`~.data.AVData` (log-mel spectrograms of the waveforms, the frames resized)."""

from __future__ import annotations

import logging
from typing import Any

from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.modality import registration_name
from mmdistill.validation import SPLIT_DRAWN_WITH

from ..artifacts import check_class_ids, classes_without_test
from ..audio.decode import fix_length
from ..in_memory import (a_tensor, built_in_refusal, check_unit_range, choices_words, registered_meta, rows_named, unit_pixels,
                         waveforms)
from ..sources import dataset_name
from .data import AVData, check_pair_labels, image_tensor, log_mel, normalise_pairs
from .raw_pairs import _log_lengths, _meta
from .releases import RELEASE_NAMES

log = logging.getLogger(__name__)


BUILT_IN = ("tones-digits", "csv", "video", *RELEASE_NAMES)  # the releases: .releases


#: in-memory sets registered by API users (:func:`register_tensors`): name -> AVData-making arguments
_TENSOR_SETS: dict[str, dict[str, Any]] = {}


def register_tensors(name: str, audio_train: Tensor, image_train: Tensor, y_train: Tensor, audio_test: Tensor, image_test: Tensor,
                     y_test: Tensor, classes: list[str] | None = None) -> str:
    """Make in-memory pairs loadable as ``dataset=name``: waveforms (N, T), float amplitudes in [-1, 1] at the config's
    ``sample_rate`` (integer PCM is refused: ``pcm.float() / 32768`` scales int16), frames (N, C, h, w) in [0, 1] (or
    uint8), class ids (N,) 0..K-1 with every class in ``y_train`` (K = the number of ``classes`` names, a list, or the
    largest label + 1); other input is a DataError here naming the argument. All-zero waveforms and ones beyond [-1, 1] are kept, counted in a
    warning. The tensors are copied, detached from autograd: later edits of the caller's tensors do not change the
    registered set. Returns ``name``."""
    # any spelling: a registered "CSV" took that spelling over from the CSV loader
    registration_name("register_tensors", name, lambda n: built_in_refusal(n, BUILT_IN, {}))
    head = f"register_tensors({name!r})"
    args = {"audio_train": audio_train, "image_train": image_train, "y_train": y_train, "audio_test": audio_test,
            "image_test": image_test, "y_test": y_test}
    snap = {arg: a_tensor(head, arg, t) for arg, t in args.items()}  # detached; copied below: the caller's are not kept
    for what in ("train", "test"):
        a, i, y = snap[f"audio_{what}"], snap[f"image_{what}"], snap[f"y_{what}"]
        where = f"{head}: {what}"
        if a.dim() != 2 or i.dim() != 4 or y.dim() != 1 or not len(a) == len(i) == len(y):
            raise DataError(f"{where} needs audio (N, T), frames (N, C, h, w) and labels (N,) of one N; got "
                            f"{tuple(a.shape)}, {tuple(i.shape)}, {tuple(y.shape)}")
        if len(y) == 0:
            raise DataError(f"{where} holds no pairs")
        snap[f"audio_{what}"] = waveforms(head, f"audio_{what}", a)  # float32; integer PCM, NaN refused; loud ones warned
        check_unit_range(head, f"image_{what}", i, "frame")
    names = check_class_ids(head, snap["y_train"], snap["y_test"], classes)  # 0..K-1, every class trained
    for what in ("train", "test"):
        i = snap[f"image_{what}"]
        if i.shape[1] not in (1, 3) and i.shape[-1] in (1, 3):
            log.warning("register_tensors(%r): image_%s has shape %s, read as (N, C, h, w) with C = %d channels; frames in "
                        "(N, h, w, C) layout need .permute(0, 3, 1, 2)", name, what, tuple(i.shape), i.shape[1])
    for what in ("train", "test"):
        a = snap[f"audio_{what}"]
        silent = (a == 0).all(dim=1).nonzero().flatten().tolist()
        if silent:
            log.warning("register_tensors(%r): %s: kept %d all-zero audio clip(s) (digital silence) of %d: rows %s", name, what,
                        len(silent), len(a), rows_named(silent))
    _TENSOR_SETS[name] = dict(audio=(snap["audio_train"], snap["audio_test"]),  # waveforms() copied them
                              image=(snap["image_train"].clone(), snap["image_test"].clone()),
                              y=(snap["y_train"].clone(), snap["y_test"].clone()), classes=names)
    return name


def canonical_dataset(name: object) -> str:
    """``name`` itself when :func:`register_tensors` registered it (as spelt), else stripped and lower-cased, one of
    :data:`BUILT_IN`; ConfigError (key ``dataset``) naming the closest built-in names and the registered ones for another
    name or a value that is not a string (:func:`~modalities.sources.dataset_name`)."""
    if isinstance(name, str) and name in _TENSOR_SETS:
        return name
    return dataset_name(name, BUILT_IN, {}, "audio-visual", also=choices_words(sorted(_TENSOR_SETS)))


def _from_tensors(name: str, cfg: Any) -> AVData:
    spec = _TENSOR_SETS[name]
    params = cfg.feature_params()
    n = int(round(cfg.duration * cfg.sample_rate))
    parts = []
    for s in (0, 1):
        y = spec["y"][s].long()
        check_pair_labels(y, len(spec["classes"]), f"register_tensors({name!r})")
        img = unit_pixels(spec["image"][s])
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
    meta = {**_meta(cfg, n), **({"load_report": report.as_dict()} if report.facts else {}),
            **registered_meta("mmdistill.modalities.audio_visual.register_tensors", name),  # eval elsewhere names the call
            SPLIT_DRAWN_WITH: None}  # the tensors given: no key drew the test split, none folded into a validation digest
    return normalise_pairs(name, spec["classes"], parts[0], parts[1], meta, cfg.scaling)


__all__ = ["BUILT_IN", "canonical_dataset", "register_tensors"]
