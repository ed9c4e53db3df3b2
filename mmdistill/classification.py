"""Classification on the evaluation skeleton: the plan of a set of fixed-shape samples with class labels
(images, audio maps, video clips), evaluated with the papers' protocol next to its baselines.

Every set trains fresh networks from scratch (:func:`mmdistill.training.train_from_scratch`: SGD, momentum
0.9, weight decay 5e-4, lr x0.1 at half) and reports test accuracy. The sets, per evaluation network:

- ``distilled``: the set with its labels (and trained with its learned step size when the recipe learned one
  and ``eval_lr_from_set``); with soft labels also ``distilled_hard_labels`` (the gain of the data alone);
- ``random_real``: ``ipc`` random real samples per class, a new draw per run from
  ``(seed, "random_real", r)``; with soft labels also ``random_real_soft_labels`` (the same teacher's labels
  on real samples: the gain of the labels alone);
- ``herding``: the herding coreset in the embedding of the recipe's network trained ``herding_epochs`` on
  the whole training split (the DC paper's coreset protocol), drawn from ``(seed, "herding")``.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.baselines import herding_subset, random_subset
from mmdistill.scored_on import imbalance_heading, imbalanced_split, scored_protocol
from mmdistill.concurrency import default_threads, training_draws_global_rng
from mmdistill.data import ClassificationData, LabeledTensors
from mmdistill.dc_augment import DCAugment, dc_ops
from mmdistill.distributed import current_workers
from mmdistill.errors import ConfigError
from mmdistill.ensemble import can_vectorize, default_vectorize, train_many_from_scratch
from mmdistill.evaluation import (EvalResult, EvalSet, EvaluationPlan, NetworkPlan, TrainAndScore, TrainAndScoreMany,
                                  evaluate_network, score_runs)
from mmdistill.modality import ClassificationModality
from mmdistill.nets import reinitialize
from mmdistill.network_check import network_takes, untrainable
from mmdistill.schema import chosen_networks
from mmdistill.seeding import draw_seed, generator, seeded_global_rng
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask
from mmdistill.training import TrainProtocol, scores_on, train_from_scratch
from mmdistill.words import quantity

log = logging.getLogger(__name__)

Labeler = Callable[[Tensor], Tensor]


def majority_share(labels: Tensor) -> float:
    """The share of ``labels`` (N,) held by the most common class (0 for none): what always answering it scores."""
    return round(float(torch.bincount(labels.long()).max()) / len(labels), 6) if len(labels) else 0.0


def scored_classes(labels: Tensor) -> int:
    """How many classes the scored split's ``labels`` (N,) hold (a class without samples is not averaged by balanced
    accuracy: answering one class scores 1 / this)."""
    return int((torch.bincount(labels.long()) > 0).sum())


def classification_data_on(data: ClassificationData, device: torch.device) -> ClassificationData:
    """``data`` with its training split on ``device`` (the matchers sample it there; the test split stays)."""
    train = LabeledTensors(data.train.x.to(device), data.train.y.to(device), data.train.classes)
    return dataclasses.replace(data, train=train)


def describe_classification(data: ClassificationData) -> str:
    """One line on ``data``: its name, class count, train / test (or, tuning with ``validation=``, validation)
    sample counts and sample shape."""
    return (f"{data.name}, {data.num_classes} classes, {len(data.train)} train / {len(data.test)} "
            f"{data.meta.get('scored_on', 'test')} samples of shape {tuple(data.sample_shape)}")


def network_factory(modality: ClassificationModality, name: str, data: ClassificationData, device: torch.device) -> Callable[[torch.Generator], nn.Module]:
    """``make_net(generator)``: a fresh network of ``name``, weights drawn from ``generator``, one output per class of
    ``data``, or ``data.meta["network_outputs"]`` when set (class-incremental scoring: one per class of the whole dataset,
    those past ``data``'s classes never a target, :mod:`mmdistill.continual`)."""
    outputs = int(data.meta.get("network_outputs", data.num_classes))

    def make_net(gen: torch.Generator) -> nn.Module:
        net = modality.build_network(name, data.sample_shape, outputs)
        if any(t.is_meta for t in [*net.parameters(), *net.buffers()]):
            raise ConfigError(f"network {name!r} was built on the meta device (its tensors hold no values): build it on the "
                              "CPU; the evaluation moves it to its device")
        net = net.to(device)
        reinitialize(net, gen)
        return net

    return make_net


def evaluation_networks(cfg: Any, modality: ClassificationModality) -> list[str]:
    """The networks a set is evaluated on: with ``cross_arch`` the modality's ``cross_arch_networks``, else
    ``eval_networks``, or the recipe's network."""
    return chosen_networks(cfg, modality.cross_arch_networks) or [cfg.network]


def check_evaluation_networks(cfg: Any, modality: ClassificationModality, data: ClassificationData) -> None:
    """ConfigError naming ``eval_networks`` (or ``cross_arch`` / ``network``) when a network the evaluation will train
    does not take ``data``'s samples: each is built and run once on two samples of the data's shape, on PyTorch's
    ``meta`` device (no memory, no arithmetic), or on the CPU under ``no_grad`` when the network does something the
    meta device cannot (reads a value, draws from a CPU generator), so a video set asked to be scored by the image
    ConvNet stops before its distillation, not after it. Also ConfigError naming ``eval_dc_augment`` when it is on and
    the samples are not images (C, H, W), and naming ``baselines`` when herding is one and the recipe's network has no
    ``embed``."""
    key = "cross_arch" if cfg.cross_arch else "eval_networks" if cfg.eval_networks else "network"
    shape = tuple(data.sample_shape)
    if dc_ops(getattr(cfg, "eval_dc_augment", "none")) and len(shape) != 3:
        raise ConfigError(f"eval_dc_augment={cfg.eval_dc_augment} augments images of shape (C, H, W), but {data.name}'s samples "
                          f"have shape {shape}: set eval_dc_augment=none", key="eval_dc_augment")
    dtype = data.train.x.dtype
    built: dict[str, nn.Module] = {}
    for name in evaluation_networks(cfg, modality):
        try:
            net = network_takes(partial(modality.build_network, name, shape, data.num_classes), shape, data.num_classes, dtype)
        except Exception as exc:  # whatever the network raised on two samples of the data's shape: named, not a traceback
            raise ConfigError(f"config key {key}: network {name!r} does not take {data.name}'s samples of shape {shape} "
                              f"({exc}); choose one of the networks for them (the modality's cross-architecture list: "
                              f"{', '.join(modality.cross_arch_networks)})", key=key) from exc
        fault = untrainable(net, dtype)
        if fault:
            raise ConfigError(f"config key {key}: network {name!r} cannot be trained by the evaluation: {fault}", key=key)
        built[name] = net
    if "herding" in getattr(cfg, "baselines", ()):  # herding embeds with the recipe's network: refused now, not after distilling
        try:
            with torch.device("meta"):
                net = built.get(cfg.network) or modality.build_network(cfg.network, shape, data.num_classes)
        except Exception:  # a network the meta device cannot build: herding_indices names it if it has no embed
            return
        if not callable(getattr(net, "embed", None)):
            raise ConfigError(_no_embed(cfg.network, net), key="baselines")


def _no_embed(name: str, net: nn.Module) -> str:
    return (f"network {name!r} ({type(net).__name__}) has no embed(x) -> (N, D) method, which the herding baseline selects "
            "real samples with: give it one, or leave herding out of baselines")


def evaluation_protocol(cfg: Any) -> TrainProtocol:
    """The train-from-scratch protocol of ``cfg`` (epochs, learning rate, batch) for every evaluated set."""
    return TrainProtocol(epochs=cfg.eval_epochs, lr=cfg.eval_lr, batch_size=cfg.eval_batch)


def set_protocol(cfg: Any, syn: SyntheticSet, protocol: TrainProtocol) -> TrainProtocol:
    """The protocol a network trains on ``syn`` with: ``protocol`` (:func:`evaluation_protocol`), its learning rate the
    step size learned with the set (``syn.data["syn_lr"]``, a scalar) where ``cfg.learned_lr_evaluation()`` asks for it
    and the set has one. ConfigError naming eval_lr_from_set for a learned step size that is not > 0 (or NaN)."""
    learned = syn.data.get("syn_lr") if cfg.learned_lr_evaluation() else None
    if learned is None:
        return protocol
    if not float(learned) > 0:
        raise ConfigError(f"the set's learned step size is {float(learned):.4g}, which evaluation cannot train with; "
                          "evaluate it with eval_lr instead (eval_lr_from_set=false)", key="eval_lr_from_set")
    return dataclasses.replace(protocol, lr=float(learned))


def evaluation_augment(cfg: Any, data: ClassificationData, modality: ClassificationModality) -> Callable[..., Tensor] | None:
    """The augmentation every evaluated set is trained with: DC's (:class:`~mmdistill.dc_augment.DCAugment`) when
    ``eval_dc_augment`` names ops, the modality's DSA when ``eval_dsa``, else None (also when the modality has no
    augmentation: a warning says ``eval_dsa`` has no effect, and the protocol records none)."""
    if dc_ops(getattr(cfg, "eval_dc_augment", "none")):
        return DCAugment(cfg.eval_dc_augment)
    augment = modality.augmenter(cfg.dsa_strategy, data.name) if cfg.eval_dsa else None
    if cfg.eval_dsa and augment is None and cfg.dsa_strategy.lower() not in ("", "none"):
        log.warning("eval_dsa=true has no effect: modality %s has no augmentation for %s; the sets are evaluated without it",
                    getattr(modality, "name", type(modality).__name__), data.name)
    return augment


def trainer(make_net: Callable[[torch.Generator], nn.Module], test: LabeledTensors, protocol: TrainProtocol, *,
            task: ClassificationTask, augment: Callable[..., Tensor] | None, balanced: bool = False) -> TrainAndScore:
    """``train_and_score((x, targets), gen) -> {"accuracy"}``: a fresh network trained under ``protocol``; with
    ``balanced`` (an imbalanced scored split) also ``"balanced_accuracy"`` (:func:`~mmdistill.training.scores_on`)."""

    def train_and_score(train_set: tuple[Tensor, Tensor], gen: torch.Generator) -> dict[str, float]:
        x, targets = train_set
        net = make_net(gen)
        train_from_scratch(net, x, targets, protocol, gen, task=task, augment=augment)
        return scores_on(net, test, balanced=balanced)

    return train_and_score


def many_trainer(make_net: Callable[[torch.Generator], nn.Module], test: LabeledTensors, protocol: TrainProtocol, *,
                 task: ClassificationTask, augment: Callable[..., Tensor] | None, balanced: bool = False) -> TrainAndScoreMany:
    """The batched twin of :func:`trainer`: K fresh networks (network k drawn from ``gens[k]``, as
    ``trainer`` draws it) trained as one vectorised ensemble (:mod:`mmdistill.ensemble`); None when they
    cannot be (BatchNorm, dropout, sets of different sizes), so the skeleton trains them one at a time."""

    def train_and_score_many(train_sets: list[tuple[Tensor, Tensor]], gens: list[torch.Generator]) -> list[dict[str, float]] | None:
        nets = [make_net(g) for g in gens]
        if not can_vectorize(nets, [len(x) for x, _ in train_sets], sample_shape=tuple(train_sets[0][0].shape[1:])):
            return None
        train_many_from_scratch(nets, [x for x, _ in train_sets], [t for _, t in train_sets], protocol, gens,
                                task=task, augment=augment)
        return [scores_on(net, test, balanced=balanced) for net in nets]

    return train_and_score_many


def evaluate_tensors(train_set: tuple[Tensor, Tensor], test: LabeledTensors, make_net: Callable[[torch.Generator], nn.Module],
                     protocol: TrainProtocol, *, runs: int, seed: int, task: ClassificationTask = ClassificationTask(),
                     augment: Callable[..., Tensor] | None = None, desc: str = "evaluating", progress: bool = True) -> EvalResult:
    """``runs`` fresh networks trained on ``train_set`` = (x (N, ...), targets (N,) or (N, C)) and tested on
    ``test``, through the skeleton (run ``r`` seeded by ``(seed, "eval", r)``); test accuracies in [0, 1]."""
    return score_runs(EvalSet(train_set), trainer(make_net, test, protocol, task=task, augment=augment), metric="accuracy",
                      runs=runs, seed=seed, desc=desc, progress=progress)


def herding_indices(cfg: Any, data: ClassificationData, modality: ClassificationModality, device: torch.device) -> Tensor:
    """Herding in the embedding of the recipe's network trained on the whole real training set for
    ``herding_epochs`` epochs (the DC paper's coreset protocol; 0: the freshly initialised network's embedding)."""
    gen = generator(cfg.seed, "herding")
    net = network_factory(modality, cfg.network, data, device)(gen)
    if not callable(getattr(net, "embed", None)):
        raise ConfigError(_no_embed(cfg.network, net), key="baselines")
    if cfg.herding_epochs:  # 0 (the key's range allows it): herding in the untrained network's embedding
        protocol = TrainProtocol(epochs=cfg.herding_epochs, lr=cfg.eval_lr, batch_size=cfg.eval_batch, lr_decay_at=1.0)
        # dropout (ConvNet3D's) draws from torch's global generators, whose state here depends on what ran before (a
        # distillation in `run`, data loading in `eval`): seed them from (seed, "herding", "global") for the training
        with seeded_global_rng(draw_seed(generator(cfg.seed, "herding", "global")), [device]):
            train_from_scratch(net, data.train.x, data.train.y, protocol, gen)
    net.eval()
    return herding_subset(data.train, cfg.ipc, net.embed).to(data.train.x.device)


def baseline_sets(cfg: Any, data: ClassificationData, herd_idx: Tensor | None, labeler: Labeler | None) -> dict[str, EvalSet]:
    """``random_real`` (a new draw per run), its soft-label twin when ``labeler`` is given, ``herding``, and ``whole``
    (the whole training split: the accuracy the set stands in for) when ``cfg.baselines`` names it."""
    train = data.train
    sets: dict[str, EvalSet] = {}
    if "random_real" in cfg.baselines:
        def random_data(r: int) -> tuple[Tensor, Tensor]:
            idx = random_subset(train, cfg.ipc, generator(cfg.seed, "random_real", r)).to(train.x.device)
            return train.x[idx], train.y[idx]

        sets["random_real"] = EvalSet(random_data, per_run=True)
        if labeler is not None:  # the same teacher's soft labels on real samples: the gain of the labels alone
            def random_soft(r: int) -> tuple[Tensor, Tensor]:
                x, _ = random_data(r)
                return x, labeler(x)

            sets["random_real_soft_labels"] = EvalSet(random_soft, per_run=True)
    if herd_idx is not None:
        sets["herding"] = EvalSet((train.x[herd_idx], train.y[herd_idx]))
    if "whole" in cfg.baselines:
        sets["whole"] = EvalSet((train.x, train.y), size=len(train))
    return sets


def _title(scored_on: str, runs: int, ipc: int, noun: str, share: float | None = None, k: int = 0) -> str:
    """``"test accuracy, 5 runs each, 10 images per class"`` (the evaluation table's heading; singular for 1), and on
    a scored split whose most common class holds the ``share`` of it, imbalanced among ``k`` classes
    (:func:`~mmdistill.scored_on.imbalance_heading`), that the accuracy is plain and what answering that class alone scores."""
    return (f"{scored_on} accuracy, {quantity(runs, 'run')} each, {quantity(ipc, noun)} per class"
            + imbalance_heading(share, k, scored_on))


def classification_plan(
    cfg: Any, syn: SyntheticSet | None, data: ClassificationData, modality: ClassificationModality, *,
    device: torch.device, task: ClassificationTask = ClassificationTask(), labeler: Labeler | None = None,
) -> EvaluationPlan:
    """The evaluation of ``syn`` (None: the baselines alone) and ``cfg.baselines`` at ``cfg.ipc`` per class on
    each evaluation network, in the order distilled, distilled_hard_labels, random_real,
    random_real_soft_labels, herding."""
    protocol = evaluation_protocol(cfg)
    syn_protocol = set_protocol(cfg, syn, protocol) if syn is not None else protocol
    augment = evaluation_augment(cfg, data, modality)
    herd_idx = herding_indices(cfg, data, modality, device) if "herding" in cfg.baselines else None
    baselines = baseline_sets(cfg, data, herd_idx, labeler)
    majority = majority_share(data.test.y)
    balanced = imbalanced_split(majority, data.num_classes)  # then balanced accuracy is scored beside plain accuracy
    if syn is not None:  # decoded once, shared by every evaluation network
        x_syn, t_syn = modality.decode(syn).detach().to(device), syn.targets().detach().to(device)
    networks = []
    for name in evaluation_networks(cfg, modality):
        make_net = network_factory(modality, name, data, device)
        default = trainer(make_net, data.test, protocol, task=task, augment=augment, balanced=balanced)
        default_many = many_trainer(make_net, data.test, protocol, task=task, augment=augment, balanced=balanced)
        sets: dict[str, EvalSet] = {}
        if syn is not None:
            if syn_protocol is protocol:
                own, own_many = default, default_many
            else:
                own = trainer(make_net, data.test, syn_protocol, task=task, augment=augment, balanced=balanced)
                own_many = many_trainer(make_net, data.test, syn_protocol, task=task, augment=augment, balanced=balanced)
            sets["distilled"] = EvalSet((x_syn, t_syn), own, train_and_score_many=own_many)
            if syn.label_mode != "hard":  # the same data with hard labels: the gain of the data alone
                sets["distilled_hard_labels"] = EvalSet((x_syn, syn.labels.to(device)), own, train_and_score_many=own_many)
        sets.update(baselines)
        networks.append(NetworkPlan(name, default, sets, train_and_score_many=default_many,
                                    draws_no_global_rng=not training_draws_global_rng(make_net, augment, data.sample_shape)))
    dc = augment if isinstance(augment, DCAugment) else None
    dsa = augment is not None and dc is None
    protocol_block: dict[str, Any] = {**dataclasses.asdict(protocol), "runs": cfg.eval_runs, "dsa": dsa,
                                      **({"dc_augment": dc.describe()} if dc is not None else {}),
                                      # the op list the adapter resolved ("auto" differs per modality): DistilledSet.augmentation()
                                      **({"dsa_strategy": getattr(augment, "strategy", str(cfg.dsa_strategy))} if dsa else {}),
                                      **scored_protocol(data.meta, len(data.test)),
                                      "majority_share": majority,
                                      **({"scored_classes": scored_classes(data.test.y)} if balanced else {})}
    if syn is not None:
        protocol_block.update(distilled_lr=syn_protocol.lr, labels=syn.label_mode)
    return EvaluationPlan(metric="accuracy", networks=networks, runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress,
                          vectorize=cfg.eval_vectorize or default_vectorize(device, cfg.eval_runs, current_workers().world),
                          seeded_runs=True, threads=cfg.eval_threads or default_threads(device),
                          title=_title(data.meta.get("scored_on", "test"), cfg.eval_runs, cfg.ipc,
                                       getattr(modality, "sample_noun", "sample"), protocol_block["majority_share"], data.num_classes),
                          protocol=protocol_block)


def evaluate_baselines(cfg: Any, data: ClassificationData, modality: ClassificationModality, *, device: torch.device,
                       task: ClassificationTask = ClassificationTask(), labeler: Labeler | None = None) -> dict[str, dict[str, EvalResult]]:
    """The baselines alone (no distilled set), ``{network: {"random_real": ..., "herding": ...}}``: the same
    numbers a run reports, so they can be computed once per (dataset, ipc, seed) and shared by several
    methods, or in a process beside a distillation."""
    plan = classification_plan(cfg, None, data, modality, device=device, task=task, labeler=labeler)
    return {network.name: evaluate_network(plan, network) for network in plan.networks}


__all__ = ["EvalResult", "baseline_sets", "check_evaluation_networks", "classification_data_on", "classification_plan", "describe_classification", "set_protocol",
           "evaluate_baselines", "evaluate_tensors", "evaluation_augment", "evaluation_networks", "evaluation_protocol", "herding_indices",
           "many_trainer", "network_factory", "scored_classes", "trainer"]
