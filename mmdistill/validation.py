"""A validation split carved from the training data, scored in place of the test split.

Hyper-parameters (a CPU budget's learning rate, an iteration count) are chosen by looking at scores; chosen on
the test split they overstate what a user will see. With ``validation=0.1`` a run holds out 10 % of every
class's *training* samples (stratified, at least one per class that has two or more), distils and trains its
experts on the rest, and scores every set (distilled and baselines) on the held-out samples; the test split is
not scored at all. The split is drawn from a fixed stream (not the run's ``seed``), so runs of different seeds
share one validation split and their scores are comparable. When the data knows the group of each training sample
(``ClassificationData.train_groups``: ESC-50's source recordings, UrbanSound8K's, a ``group_by`` speaker, a video
clip's ``group_by`` group or UCF-style recording) the share is
of each class's groups, held out whole with all their samples, so no recording or speaker is on both sides of the
validation split either (clips of one recording in both would score memory of the recording, as a test split mixed so).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from mmdistill.data import ClassificationData, LabeledTensors, emptied_classes, held_count
from mmdistill.errors import ConfigError
from mmdistill.schema import ValidationKeys
from mmdistill.seeding import generator

log = logging.getLogger(__name__)

#: the stream of the split: fixed, so every seed of a sweep scores on the same held-out samples
SPLIT_STREAM = ("validation-split",)


def hold_out_validation(data: ClassificationData, fraction: float, by_groups: bool = True) -> ClassificationData:
    """``data`` with ``fraction`` of each class's training samples moved to the scored split (``test``);
    ``meta["scored_on"]`` says ``"validation"`` and how many samples were held out. Raises ConfigError for a
    fraction outside (0, 1). ``by_groups`` false (``validation_groups=false``, a set saved before it):
    samples drawn one by one even where ``data.train_groups`` knows their groups."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation must lie in (0, 1) to carve a validation split, got {fraction}", key="validation")
    gen = generator(0, *SPLIT_STREAM)
    groups = data.train_groups if by_groups else None  # one per training sample (ClassificationData checks)
    if groups is not None:
        keep, val, whole = _held_groups(data, groups, fraction, gen)
    else:
        train, held = [], []
        for idx in data.train.class_indices():
            order = idx[torch.randperm(idx.numel(), generator=gen).to(idx.device)]
            k = held_count(idx.numel(), fraction)
            held.append(order[:k])
            train.append(order[k:])
        keep, val, whole = torch.cat(train).sort().values, torch.cat(held).sort().values, None
    if val.numel() == 0:
        raise ConfigError(f"validation={fraction} holds out no sample of {data.name} ({len(data.train)} training samples"
                          f"{', no class with two groups' if whole is not None else ''})", key="validation")
    src = data.train
    meta = {**data.meta, "scored_on": "validation", "validation": {"fraction": fraction, "held_out": int(val.numel()),
                                                                    "train_kept": int(keep.numel()), "test_split_scored": False,
                                                                    **({"held_out_groups": whole} if whole is not None else {})}}
    log.info("validation=%s: %d of %d training samples held out%s and scored in place of the test split (not read)",
             fraction, val.numel(), len(src), f" ({whole} whole group(s): no group on both sides)" if whole is not None else "")
    return replace(data, train=LabeledTensors(src.x[keep], src.y[keep], list(src.classes)),
                   test=LabeledTensors(src.x[val], src.y[val], list(src.classes)), meta=meta, train_groups=None)


def _held_groups(data: ClassificationData, groups: list[str], fraction: float, gen: torch.Generator) -> tuple[Tensor, Tensor, int]:
    """(kept indices, held-out indices, groups held out) of ``data.train``: class by class, ``fraction`` of the class's
    groups (at least one of a class with two or more, never all), counting those already chosen for an earlier class
    (a speaker of every digit is chosen once, not once per digit) and drawing the rest with ``gen`` (sorted groups); every
    sample of a chosen group held out, whatever its class. ConfigError naming a class left without training samples (its
    groups all chosen through other classes)."""
    chosen: set[str] = set()
    for idx in data.train.class_indices():
        own = sorted({groups[i] for i in idx.tolist()})
        order = torch.randperm(len(own), generator=gen).tolist()
        k = held_count(len(own), fraction)
        more = [own[i] for i in order if own[i] not in chosen][:max(k - sum(g in chosen for g in own), 0)]
        chosen.update(more)
    flags = torch.tensor([g in chosen for g in groups], dtype=torch.bool)
    keep, val = torch.nonzero(~flags).flatten(), torch.nonzero(flags).flatten()
    emptied = [str(data.train.classes[i]) for i in emptied_classes(data.train.y.tolist(), flags.tolist())]
    if emptied:
        raise ConfigError(f"validation={fraction}: holding out whole groups left class(es) {', '.join(map(repr, emptied[:5]))} of "
                          f"{data.name} without a training sample (their groups hold clips of other classes too); use a smaller "
                          "validation fraction", key="validation")
    return keep, val, len(chosen)


def keep_classes(data: ClassificationData, names: list[str]) -> ClassificationData:
    """``data`` with only the classes ``names`` (train and test), relabelled 0..k-1 in the data's class order (a class-
    incremental task, a client's classes); ``meta`` keeps the whole data's normalisation, so sets of different subsets
    share one (``mmdistill merge`` joins them). ConfigError naming a class the data lacks."""
    every = [str(c) for c in data.train.classes]
    unknown = [n for n in names if n not in every]
    if unknown:
        raise ConfigError(f"classes: {', '.join(map(repr, unknown[:5]))} not among {data.name}'s classes "
                          f"({', '.join(map(repr, every[:12]))}{' ...' if len(every) > 12 else ''})", key="classes")
    kept = [c for c in every if c in set(names)]
    if len(kept) < 2:  # as a loader refuses data of one class: every model would score 100 %
        raise ConfigError(f"classes={','.join(names)} keeps one class of {data.name}; classification needs at least 2 (a task of "
                          "one class is distilled with another, or merged from parts with mmdistill merge)", key="classes")
    new_label = torch.full((len(every),), -1, dtype=torch.long)
    new_label[[every.index(c) for c in kept]] = torch.arange(len(kept))

    def part(split: LabeledTensors) -> tuple[LabeledTensors, Tensor]:
        """The kept samples of ``split``, relabelled, and which samples they are (N,) bool."""
        mapped = new_label.to(split.y.device)[split.y]
        mask = mapped >= 0
        return LabeledTensors(split.x[mask], mapped[mask], list(kept)), mask

    (train, in_train), (test, _) = part(data.train), part(data.test)
    groups = data.train_groups
    if groups is not None:  # the kept samples' groups, in their order
        groups = [g for g, m in zip(groups, in_train.tolist()) if m]
    log.info("classes: %d of %s's %d classes kept (%s)", len(kept), data.name, len(every), ", ".join(kept))
    return replace(data, train=train, test=test,
                   meta={**data.meta, "classes": list(kept), "class_subset_of": every}, train_groups=groups)


def load_data(modality: Any, cfg: Any) -> Any:
    """``modality.load(cfg)``, with only the classes of ``cfg.classes`` kept (:func:`keep_classes`) and the validation
    split of ``cfg.validation`` carved out when the config has :class:`ValidationKeys` and asks for them (classification
    data only)."""
    data = modality.load(cfg)
    names = list(getattr(cfg, "classes", None) or []) if isinstance(cfg, ValidationKeys) else []
    if names:
        if not isinstance(data, ClassificationData):
            raise ConfigError(f"classes picks classes of classification data; {type(data).__name__} has none", key="classes")
        data = keep_classes(data, [str(n) for n in names])
    fraction = cfg.validation if isinstance(cfg, ValidationKeys) else 0.0
    if fraction:
        if not isinstance(data, ClassificationData):
            raise ConfigError(f"validation splits are carved from classification data; {type(data).__name__} has none",
                              key="validation")
        data = hold_out_validation(data, fraction, by_groups=bool(getattr(cfg, "validation_groups", True)))
    return data


__all__ = ["SPLIT_STREAM", "hold_out_validation", "keep_classes", "load_data"]
