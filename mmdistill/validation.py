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

Data that is not :class:`ClassificationData` takes the same split through its adapter's ``hold_out_validation`` hook
(:class:`~mmdistill.modality.AdapterDefaults`), which draws with :func:`draw_validation` and records it with
:func:`validation_meta`: the audio-visual pairs (``AVData.train_groups``: a ``group_by`` group, UCF-named clips'
recordings, pairs that share a file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from mmdistill.data import ClassificationData, LabeledTensors, emptied_classes, held_count
from mmdistill.errors import ConfigError
from mmdistill.schema import ClassSubsetKeys, ValidationKeys
from mmdistill.seeding import generator

log = logging.getLogger(__name__)

#: the stream of the split: fixed, so every seed of a sweep scores on the same held-out samples
SPLIT_STREAM = ("validation-split",)


@dataclass(frozen=True)
class ValidationDraw:
    """Which training samples a validation split keeps and holds out: ``keep`` (K,) and ``held`` (V,) sorted int64
    indices into the training split (together every index once); ``groups``: the whole groups held out, None when the
    samples were drawn one by one (no groups known); ``digest``: :func:`split_digest` of the draw (which split it is)."""

    keep: Tensor
    held: Tensor
    groups: int | None
    digest: str


def split_digest(labels: Tensor, held: Tensor) -> str:
    """Which validation split a draw is: 16 hex digits over the training split's labels (N,) in order and the held-out
    indices (V,), as :mod:`mmdistill.compare` tells splits apart. Another fraction (another count per class), another
    drawn test split (``split_seed``, ``test_fraction``: other samples in another order), other classes, grouping or data
    give another digest; fractions that round to the same counts draw the same samples, and give the same one. The
    samples' values are not hashed (their normalisation's last bits depend on the thread count), so a drawn test split
    that keeps the training samples in class order with the same counts is told apart by the keys that drew it, which
    :func:`load_data` folds in."""
    from mmdistill.buffer import content_digest

    return content_digest(SPLIT_STREAM[0], labels.long().cpu(), held.long().cpu())


def draw_validation(labels: Tensor, classes: Sequence[str], groups: Sequence[str] | None, fraction: float,
                    name: str) -> ValidationDraw:
    """The validation split of a training split of any modality (``labels`` (N,) int64 class ids into ``classes``;
    ``groups``: N group names in the same order, or None): ``fraction`` of each class's samples, or of its groups held
    out whole, drawn from :data:`SPLIT_STREAM` with :func:`~mmdistill.data.held_count`'s rule. ConfigError (key
    ``validation``) for a fraction outside (0, 1), a draw that holds out nothing, or whole groups that leave a class
    of ``name`` without a training sample. :func:`hold_out_validation` and an adapter's ``hold_out_validation`` hook
    (:class:`~mmdistill.modality.AdapterDefaults`) carve their data with it."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation must lie in (0, 1) to carve a validation split, got {fraction}", key="validation")
    gen = generator(0, *SPLIT_STREAM)
    labels = labels.long().cpu()
    order = torch.argsort(labels, stable=True)
    per_class = list(torch.split(order, torch.bincount(labels, minlength=len(classes)).tolist()))
    if groups is not None:
        keep, val, whole = _held_groups(labels, per_class, list(groups), classes, fraction, gen, name)
    else:
        train, held = [], []
        for idx in per_class:
            shuffled = idx[torch.randperm(idx.numel(), generator=gen)]
            k = held_count(idx.numel(), fraction)
            held.append(shuffled[:k])
            train.append(shuffled[k:])
        keep, val, whole = torch.cat(train).sort().values, torch.cat(held).sort().values, None
    if val.numel() == 0:
        raise ConfigError(f"validation={fraction} holds out no sample of {name} ({len(labels)} training samples"
                          f"{', no class with two groups' if whole is not None else ''})", key="validation")
    return ValidationDraw(keep, val, whole, split_digest(labels, val))


def validation_meta(meta: dict[str, Any], fraction: float, draw: ValidationDraw, noun: str = "sample") -> dict[str, Any]:
    """``meta`` with ``scored_on: "validation"`` and the ``validation`` block the card, ``show`` and ``compare`` read
    (fraction, samples held out and kept, whole groups held out, the draw's ``split`` digest), and the INFO line saying so (``noun``: what a sample
    is, the adapter's ``sample_noun``)."""
    log.info("validation=%s: %d of %d training %ss held out%s and scored in place of the test split (not read)",
             fraction, draw.held.numel(), draw.held.numel() + draw.keep.numel(), noun,
             f" ({draw.groups} whole group(s): no group on both sides)" if draw.groups is not None else "")
    return {**meta, "scored_on": "validation", "validation": {"fraction": fraction, "held_out": int(draw.held.numel()),
                                                              "train_kept": int(draw.keep.numel()), "test_split_scored": False,
                                                              "split": draw.digest,
                                                              **({"held_out_groups": draw.groups} if draw.groups is not None else {})}}


def hold_out_validation(data: ClassificationData, fraction: float, by_groups: bool = True) -> ClassificationData:
    """``data`` with ``fraction`` of each class's training samples moved to the scored split (``test``);
    ``meta["scored_on"]`` says ``"validation"`` and how many samples were held out (:func:`draw_validation`).
    Raises ConfigError for a fraction outside (0, 1), and naming the key for data that is not classification data (an
    adapter of other data implements the hook, :class:`~mmdistill.modality.AdapterDefaults`). ``by_groups`` false
    (``validation_groups=false``, a set saved before it): samples drawn one by one even where ``data.train_groups`` knows
    their groups."""
    if not isinstance(data, ClassificationData):
        raise ConfigError(f"validation splits are carved from classification data; {type(data).__name__} has none (its "
                          "adapter has no hold_out_validation hook)", key="validation")
    src = data.train
    draw = draw_validation(src.y, [str(c) for c in src.classes], data.train_groups if by_groups else None, fraction, data.name)
    keep, val = draw.keep.to(src.y.device), draw.held.to(src.y.device)
    return replace(data, train=LabeledTensors(src.x[keep], src.y[keep], list(src.classes)),
                   test=LabeledTensors(src.x[val], src.y[val], list(src.classes)),
                   meta=validation_meta(data.meta, fraction, draw), train_groups=None)


def _held_groups(labels: Tensor, per_class: list[Tensor], groups: list[str], classes: Sequence[str], fraction: float,
                 gen: torch.Generator, name: str) -> tuple[Tensor, Tensor, int]:
    """(kept indices, held-out indices, groups held out) of a training split (``per_class``: each class's sample
    indices): class by class, ``fraction`` of the class's groups (at least one of a class with two or more, never all),
    counting those already chosen for an earlier class (a speaker of every digit is chosen once, not once per digit)
    and drawing the rest with ``gen`` (sorted groups); every sample of a chosen group held out, whatever its class.
    ConfigError naming a class left without training samples (its groups all chosen through other classes)."""
    chosen: set[str] = set()
    for idx in per_class:
        own = sorted({groups[i] for i in idx.tolist()})
        order = torch.randperm(len(own), generator=gen).tolist()
        k = held_count(len(own), fraction)
        more = [own[i] for i in order if own[i] not in chosen][:max(k - sum(g in chosen for g in own), 0)]
        chosen.update(more)
    flags = torch.tensor([g in chosen for g in groups], dtype=torch.bool)
    keep, val = torch.nonzero(~flags).flatten(), torch.nonzero(flags).flatten()
    emptied = [str(classes[i]) for i in emptied_classes(labels.tolist(), flags.tolist())]
    if emptied:
        raise ConfigError(f"validation={fraction}: holding out whole groups left class(es) {', '.join(map(repr, emptied[:5]))} of "
                          f"{name} without a training sample (their groups hold clips of other classes too); use a smaller "
                          "validation fraction", key="validation")
    return keep, val, len(chosen)


def keep_classes(data: ClassificationData, names: list[str], *, quiet: bool = False) -> ClassificationData:
    """``data`` with only the classes ``names`` (train and test), relabelled 0..k-1 in the data's class order (a class-
    incremental task, a client's classes); ``meta`` keeps the whole data's normalisation, so sets of different subsets
    share one (``mmdistill merge`` joins them). Logs the classes kept (at debug level when ``quiet``: a caller that
    says which classes it works on itself, or keeps classes a run it made already logged). ConfigError naming a class
    the data lacks."""
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
    log.log(logging.DEBUG if quiet else logging.INFO, "classes: %d of %s's %d classes kept (%s)", len(kept), data.name,
            len(every), ", ".join(kept))
    return replace(data, train=train, test=test,
                   meta={**data.meta, "classes": list(kept), "class_subset_of": every}, train_groups=groups)


def load_data(modality: Any, cfg: Any) -> Any:
    """``modality.load(cfg)``, with only the classes of ``cfg.classes`` kept (:func:`keep_classes`; a config with
    :class:`ClassSubsetKeys`, classification data only) and the validation split of ``cfg.validation`` carved out when
    the config has :class:`ValidationKeys` and asks for one: :func:`hold_out_validation` for classification data, else
    the adapter's ``hold_out_validation(data, fraction, by_groups)`` hook (:class:`~mmdistill.modality.AdapterDefaults`; the
    audio-visual adapter's carves its pairs with :func:`draw_validation`)."""
    data = modality.load(cfg)
    names = list(getattr(cfg, "classes", None) or []) if isinstance(cfg, ClassSubsetKeys) else []
    if names:
        if not isinstance(data, ClassificationData):
            raise ConfigError(f"classes picks classes of classification data; {type(data).__name__} has none", key="classes")
        data = keep_classes(data, [str(n) for n in names])
    fraction = cfg.validation if isinstance(cfg, ValidationKeys) else 0.0
    if fraction:  # the adapter's hook (AdapterDefaults': the core's), or the core's for a bare Modality
        data = (getattr(modality, "hold_out_validation", None) or hold_out_validation)(data, fraction, cfg.validation_groups)
        data = _drawn_with(data, cfg)
    return data


#: the ``meta`` entry where an adapter records the keys that drew its data's test split (a dict of their values, as
#: :func:`_drawn_with` folds them into the validation digest; :func:`drawn_by`) or None where the data gives its own
#: split (a named set's files, train/ and test/ folders, a split file or column, tensors given to register_tensors)
SPLIT_DRAWN_WITH = "split_drawn_with"


def drawn_by(test_fraction: float, split_seed: int | None) -> dict[str, Any]:
    """The :data:`SPLIT_DRAWN_WITH` record of a test split drawn (or generated data drawn, ``tones``) with ``test_fraction``
    of each class and the seed ``split_seed`` that really drew it: the two keys the validation digest has folded in since
    it took them, so a run saved before keeps its digest."""
    return {"test_fraction": test_fraction, "split_seed": split_seed}


def _drawn_with(data: Any, cfg: Any) -> Any:
    """``data`` whose validation split's digest (``meta["validation"]["split"]``, :func:`split_digest`) also takes the
    keys that drew its test split: an ImageFolder tree keeps its training images in class order, so another split_seed
    holds out other images under the same labels and indices. The keys are those the adapter records in
    ``meta[SPLIT_DRAWN_WITH]`` (:data:`SPLIT_DRAWN_WITH`; None: a given split, nothing folded). Every built-in adapter
    records it; for data of an adapter that records none (a plugin's), the config's ``test_fraction`` and ``split_seed``
    are folded in, as for every adapter before the record: another split_seed is then another split, never one taken for
    another."""
    meta = getattr(data, "meta", None)
    drawn = meta.get("validation") if isinstance(meta, dict) else None
    if not isinstance(drawn, dict) or not isinstance(drawn.get("split"), str):
        return data
    keys = (meta[SPLIT_DRAWN_WITH] or {}) if SPLIT_DRAWN_WITH in meta else \
        {k: getattr(cfg, k) for k in ("test_fraction", "split_seed") if hasattr(cfg, k)}
    if not keys:
        return data
    from mmdistill.buffer import content_digest

    return replace(data, meta={**meta, "validation": {**drawn, "split": content_digest(drawn["split"], keys)}})


__all__ = ["SPLIT_DRAWN_WITH", "SPLIT_STREAM", "ValidationDraw", "draw_validation", "drawn_by", "hold_out_validation", "keep_classes", "load_data", "split_digest", "validation_meta"]
