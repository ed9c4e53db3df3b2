"""Evaluation of a set of image-text pairs: fresh dual encoders trained on it, retrieval on the real test split.

Each evaluated set (the distilled pairs, ``random_real`` pairs of the same count — a new draw per run —, a
``herding`` coreset of the same count and, optionally, the ``whole_train`` split) is trained ``eval_runs``
times with the papers' protocol (:func:`~.training.train_on_pairs`) and scored with image->text and
text->image recall@1/5/10 on the test split. Run ``r`` of every set starts from the same model draw
(``generator(seed, "eval", r)``; the core skeleton, :mod:`mmdistill.evaluation`). An entry's
``mean``/``std``/``runs`` are the headline metric, the mean of the two R@10 (values in [0, 1]); ``scores``
holds mean, std and runs of every recall.

Unlike the reference code, which reports the best of ten test evaluations during training, each model is
scored once, after its last epoch (no selection on the test split).

Coresets pick distinct images with one caption each: ``random_real`` draws images uniformly and one of
their captions; ``herding`` runs Welling's herding on the images' joint embedding (the image embedding next
to the mean embedding of its captions) under a dual encoder trained ``herding_epochs`` on the whole training
split, and keeps each picked image's caption that the model aligns best with it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from mmdistill.baselines import herding_select
from mmdistill.errors import ConfigError, DataError
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan, TrainAndScore
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import quantity

from .data import ImageTextData, PairBatch, PairSplit
from .model import DualEncoder
from .task import HEADLINE, HEADLINE_KEY, RECALL_KEYS, ContrastiveTask, saturated_recalls_note
from .training import embed_split, expert_optimizer, retrieval_on, train_epoch, train_on_pairs
from .trajectory import sized_expert_batch

log = logging.getLogger(__name__)

MakeNet = Callable[[torch.Generator], DualEncoder]


@dataclass(frozen=True)
class PairProtocol:
    """How a fresh dual encoder is trained on a set of pairs (the evaluation protocol)."""

    epochs: int = 100
    lr_image: float = 0.1
    lr_text: float = 0.1
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4


def random_pairs(split: PairSplit, k: int, gen: torch.Generator) -> Tensor:
    """Caption indices (k,) of ``k`` distinct random images with one random caption each (distinct random
    captions when ``k`` exceeds the images)."""
    require_pairs(split, k, "random real pairs")
    if k > split.num_images:
        return torch.randperm(split.num_pairs, generator=gen)[:k]
    caps = split.captions_of()
    images = torch.randperm(split.num_images, generator=gen)[:k].tolist()
    return torch.stack([caps[i][int(torch.randint(len(caps[i]), (1,), generator=gen))] for i in images])


def require_pairs(split: PairSplit, k: int, what: str) -> None:
    """DataError naming ``what`` when the budget of ``k`` pairs exceeds the caption pairs of ``split``."""
    if k > split.num_pairs:
        raise DataError(f"{what}: the training split has {split.num_pairs} pairs ({split.num_images} images), "
                        f"fewer than the budget of {k} pairs; lower ipc or use a larger split")


@torch.no_grad()
def herding_pairs(split: PairSplit, k: int, net: DualEncoder) -> Tensor:
    """Caption indices (k,) of a herding coreset of ``k`` images under ``net`` (module docstring)."""
    require_pairs(split, k, "herding")
    if k > split.num_images:
        raise DataError(f"herding picks distinct images: the training split has {split.num_images} images, fewer than {k}")
    img, txt = embed_split(net, split)
    caps = split.captions_of()
    joint = torch.cat([img, torch.stack([txt[c.to(txt.device)].mean(0) for c in caps])], dim=1).cpu()
    chosen = herding_select(joint, k).tolist()
    return torch.stack([caps[i][int((txt[caps[i].to(txt.device)] @ img[i]).argmax())] for i in chosen])


def trainer(make_net: MakeNet, test: PairSplit, protocol: PairProtocol, task: ContrastiveTask) -> TrainAndScore:
    """``train_and_score(pairs, gen) -> {recall: value}``: a fresh dual encoder trained on ``pairs`` with
    ``protocol``, scored by retrieval on ``test`` (every recall of :data:`RECALL_KEYS` and the headline)."""

    def train_and_score(pairs: PairBatch, gen: torch.Generator) -> dict[str, float]:
        net = make_net(gen)
        train_on_pairs(net, pairs, epochs=protocol.epochs, lr_image=protocol.lr_image, lr_text=protocol.lr_text,
                       batch_size=protocol.batch_size, gen=gen, task=task, momentum=protocol.momentum,
                       weight_decay=protocol.weight_decay)
        scores = retrieval_on(net, test)
        return {HEADLINE_KEY: scores[HEADLINE_KEY], **{k: scores[k] for k in RECALL_KEYS}}

    return train_and_score


def learned_learning_rates(syn: SyntheticSet) -> tuple[float, float] | None:
    """The student step sizes a trajectory matcher learned with the set (``syn.data["lr_image"]`` and
    ``["lr_text"]``, or the same keys in ``syn.meta``), which the papers train evaluation models with."""
    for source in (syn.data, syn.meta):
        if "lr_image" in source and "lr_text" in source:
            return float(torch.as_tensor(source["lr_image"]).reshape(-1)[0]), float(torch.as_tensor(source["lr_text"]).reshape(-1)[0])
    return None


def image_text_plan(
    cfg: Any, syn: SyntheticSet | None, data: ImageTextData, make_net: MakeNet, task: ContrastiveTask,
    decode: Callable[[SyntheticSet], PairBatch], device: torch.device,
) -> EvaluationPlan:
    """The evaluation of ``syn`` (when given) and the baselines ``cfg.baselines`` (+ ``whole_train`` with
    ``cfg.eval_whole_split``) of ``cfg.ipc`` pairs, in that order. The projection head's dropout draws from
    the global generator, so the herding model is trained when its set comes up (lazily), as before."""
    train, test = data.train, data.test
    k = cfg.ipc
    protocol = PairProtocol(cfg.eval_epochs, cfg.eval_lr_image, cfg.eval_lr_text, cfg.eval_batch, cfg.eval_momentum, cfg.eval_weight_decay)
    default = trainer(make_net, test, protocol, task)
    sets: dict[str, EvalSet] = {}
    learned = learned_learning_rates(syn) if syn is not None and cfg.learned_lr_evaluation() else None
    if learned is not None and not min(learned) > 0:  # an older set (the matcher now stops a run that drives one there)
        raise ConfigError(f"the set's learned step sizes are {learned[0]:.4g} (image) and {learned[1]:.4g} (text); evaluation "
                          "cannot train with one that is not positive: evaluate it with eval_lr_image / eval_lr_text "
                          "(eval_lr_from_set=false)", key="eval_lr_from_set")
    if syn is not None:
        syn_protocol = protocol if learned is None else dataclasses.replace(protocol, lr_image=learned[0], lr_text=learned[1])
        pairs = decode(syn).detached().to(device)
        sets["distilled"] = EvalSet(pairs, trainer(make_net, test, syn_protocol, task), size=len(pairs))
    if "random_real" in cfg.baselines:
        require_pairs(train, k, "random real pairs")
        sets["random_real"] = EvalSet(lambda r: train.pairs(random_pairs(train, k, generator(cfg.seed, "random_real", r))),
                                      per_run=True, size=k)
    if "herding" in cfg.baselines:
        @functools.lru_cache(maxsize=1)
        def herding_set() -> PairBatch:
            gen = generator(cfg.seed, "herding")
            net = make_net(gen)
            opt = expert_optimizer(net, cfg.expert_lr_image, cfg.expert_lr_text)
            batch = cfg.expert_batch  # None until the adapter's load sizes it; evaluated directly (the API, benchmarks): sized here
            batch = sized_expert_batch(train.num_pairs, int(getattr(cfg, "syn_steps", None) or 1)) if batch is None else batch
            for _ in range(cfg.herding_epochs):
                train_epoch(net, train, opt, gen, batch_size=batch, task=task, augment=cfg.expert_augment)
            return train.pairs(herding_pairs(train, k, net))

        sets["herding"] = EvalSet(lambda r: herding_set(), per_run=True, size=k)
    if cfg.eval_whole_split:
        whole = dataclasses.replace(protocol, epochs=cfg.whole_epochs)
        sets["whole_train"] = EvalSet(train.pairs(torch.arange(train.num_pairs)), trainer(make_net, test, whole, task),
                                      size=train.num_pairs)
    block: dict[str, Any] = {
        "epochs": protocol.epochs, "lr_image": protocol.lr_image, "lr_text": protocol.lr_text, "batch_size": protocol.batch_size,
        "momentum": protocol.momentum, "weight_decay": protocol.weight_decay, "lr_decay": "x0.1 after epochs // 2",
        "runs": cfg.eval_runs, "whole_train_epochs": cfg.whole_epochs, "herding_epochs": cfg.herding_epochs,
        "test_images": test.num_images, "test_captions": test.num_pairs, "scored": "after the last epoch",
        # the card's words (mmdistill.card): the whole split trains for whole_epochs, the text side is not from scratch
        "training": f"{protocol.epochs} epochs each" + (f" (the whole training split: {cfg.whole_epochs})" if cfg.eval_whole_split else ""),
        "trained_as": ("dual encoders trained on each set: the image tower from its initial weights, the frozen text "
                       "encoder's embeddings through a trained projection (the baselines: as many real pairs as the set"
                       + ("; the whole split: every training pair)" if cfg.eval_whole_split else ")")),
    }
    if learned is not None:
        block["distilled_learning_rates"] = list(learned)
    note = saturated_recalls_note(test.num_images, test.num_pairs)
    if note:  # in the log and in the metrics' protocol (so the card carries it)
        log.warning("%s", note)
        block["note"] = note
    return EvaluationPlan(
        metric=HEADLINE_KEY, label=HEADLINE, networks=[NetworkPlan(str(cfg.image_encoder), default, sets)], runs=cfg.eval_runs, seed=cfg.seed,
        progress=cfg.progress, protocol=block,
        title=f"retrieval on {test.num_images} test images / {test.num_pairs} captions, {quantity(cfg.eval_runs, 'run')} each (recall %)",
    )


__all__ = ["PairProtocol", "herding_pairs", "image_text_plan", "learned_learning_rates", "random_pairs", "require_pairs",
           "trainer"]
