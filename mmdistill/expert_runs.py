"""The expert buffer of a run: found, checked against the run, or trained on the fly (and the
``mmdistill experts`` command), for any :class:`~mmdistill.modality.TrajectoryModality`.

The experts' epoch, held-out score, initial network and optimizer are the adapter's hooks; the loop, the
files and the checks are :mod:`mmdistill.experts` and :mod:`mmdistill.buffer`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from mmdistill.buffer import INPUT_SPACE, ExpertBuffer, ExpertSpec, ParamLayout, buffer_finished, content_digest, shard_name
from mmdistill.concurrency import default_threads, training_draws_global_rng
from mmdistill.context import MatchContext
from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError
from mmdistill.experts import Workers, close_workers, init_workers, train_experts
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modality import Modality, TrajectoryModality
from mmdistill.network_identity import network_identity
from mmdistill.schema import BufferKeys
from mmdistill.seeding import seeded_run
from mmdistill.stop_signals import GO_ON, stop_says
from mmdistill.validation import load_data

log = logging.getLogger(__name__)


def trajectory_modality(modality: Modality, what: str) -> TrajectoryModality:
    """``modality`` as a :class:`TrajectoryModality`; ConfigError naming the adapter when it is not one."""
    if not isinstance(modality, TrajectoryModality):
        raise ConfigError(f"modality {modality.name!r} does not implement the trajectory hooks (train_epoch, score, student, "
                          f"fresh_network, expert_optimizer, trajectory_parts); it cannot {what}")
    return modality


def experts_batch(num_train: int, paper: int = 256, min_steps: int = 50) -> int:
    """The experts' batch for ``batch_train=None``: MTT's 256 when an epoch still has ``min_steps`` SGD steps
    (CIFAR's 50,000 images make 196), else the largest power of two (at least 16) that gives a small set that
    many (FSDD's 2,700 clips: 32). With 256, two epochs of a small set move an expert less than the student's
    first steps, and the normalised distance starts far above 1."""
    if num_train >= paper * min_steps:
        return paper
    size = 16
    while size * 2 * min_steps <= num_train:
        size *= 2
    return size


def resolve_batch_train(cfg: Any, data: Any) -> None:
    """Size ``batch_train=None`` (a classification trajectory config's experts' batch) with :func:`experts_batch`
    of the training split; the manifest then records the size used."""
    if isinstance(cfg, ClassificationTrajectoryKeys) and cfg.batch_train is None:
        cfg.batch_train = experts_batch(len(data.train))


def buffer_dir(cfg: BufferKeys, out_dir: Path | None) -> Path:
    """Where the run's experts live: ``cfg.buffer``, else ``<out>/experts``. A ``buffer`` that is a run's folder (its
    ``manifest.json`` or ``synthetic.safetensors``, and no buffer of its own) is a ConfigError pointing at the run's
    ``experts`` folder: a new buffer would be trained beside the run's files; so is a folder of MTT's
    ``replay_buffer_*.pt`` files (``mmdistill import`` converts them)."""
    if cfg.buffer:
        path = Path(cfg.buffer).expanduser()
        if not buffer_finished(path) and any((path / f).is_file() for f in ("manifest.json", "synthetic.safetensors")):
            inner = " (it holds a finished buffer)" if buffer_finished(path / "experts") else ""
            raise ConfigError(f"buffer={path} is a run's folder, not an expert buffer: a run keeps the experts it trained "
                              f"in {path / 'experts'}{inner}; pass that, or a folder of its own", key="buffer")
        if not buffer_finished(path) and path.is_dir() and any(path.glob("replay_buffer_*.pt")):  # MTT's buffer.py layout
            raise ConfigError(f"buffer={path} holds MTT's replay_buffer_*.pt files, not an mmdistill buffer (experts would be "
                              f"trained into it beside them): convert them with `mmdistill import RECIPE {path} --buffer NEW_DIR "
                              "--dataset ...`, then pass --buffer NEW_DIR", key="buffer")
        return path
    if out_dir is None:
        raise ConfigError("no expert buffer given; pass buffer=DIR (made by `mmdistill experts`)")
    return Path(out_dir) / "experts"


def trajectory_network(ctx: MatchContext) -> nn.Module:
    """A network with the experts' trainable parameters: ``ctx.net``, or a fresh matching network when a
    matcher froze ``ctx.net`` (distribution matching's embedding network)."""
    if any(p.requires_grad for p in ctx.net.parameters()):
        return ctx.net
    return ctx.modality.matching_network(ctx.config, ctx.data).to(ctx.device)


def data_fingerprint(data: Any) -> dict[str, Any] | None:
    """A cheap fingerprint of the training split experts of ``data`` train on, recorded in a buffer's spec so a
    buffer trained on other data (another file of the same name, another split) is refused: ``data.fingerprint()``
    when the data object defines it (image-text: pair count and a digest of image ids and captions), else for a
    training split with a label tensor ``train.y`` (every :class:`~mmdistill.data.ClassificationData`: image, audio,
    video) ``{"train_samples": N, "train_labels": digest of the labels in order}``; None when the data offers
    neither (not checked). A loader that shapes the inputs by settings the sample shape does not show (audio's
    normalisation, video's frame gap) records them in ``data.meta["preprocessing"]`` (a JSON mapping), and it joins the
    fingerprint: experts trained on inputs prepared otherwise are refused, naming the settings. A transform no buffer of an
    earlier version can have seen (an image's ZCA whitening) is ``data.meta["input_space"]``: it joins the fingerprint too,
    and a buffer that does not record one was trained without it (:data:`~mmdistill.buffer.ABSENT_MEANS_NONE`)."""
    hook = getattr(data, "fingerprint", None)
    if callable(hook):
        return dict(hook())
    labels = getattr(getattr(data, "train", None), "y", None)
    if isinstance(labels, Tensor):
        out = {"train_samples": int(labels.shape[0]), "train_labels": content_digest(labels.long())}
        for field in ("preprocessing", INPUT_SPACE):
            if isinstance(prep := (getattr(data, "meta", None) or {}).get(field), dict):
                out[field] = json.loads(json.dumps(prep, sort_keys=True, default=str))  # as the index stores it
        return out
    return None


def expert_spec(cfg: Any, data: Any, net: nn.Module) -> ExpertSpec:
    """The :class:`ExpertSpec` a buffer for ``cfg`` must match: ``data.name`` (else ``cfg.dataset``), ``cfg.network``,
    ``data.num_classes`` (0 when absent), ``net``'s parameter layout and layers' digest, ``data.sample_shape`` (None
    when absent) and :func:`data_fingerprint` of ``data``."""
    shape = getattr(data, "sample_shape", None)
    return ExpertSpec(
        dataset=str(getattr(data, "name", cfg.dataset)), network=str(cfg.network), num_classes=int(getattr(data, "num_classes", 0)),
        layout=ParamLayout.of(net), sample_shape=list(shape) if shape is not None else None, data=data_fingerprint(data),
        layers=network_identity(net)["layout"],
    )


def train_buffer(ctx: MatchContext, path: Path, workers: Workers = Workers()) -> ExpertBuffer:
    """Train (or finish training) the experts of ``ctx.config`` into ``path``."""
    cfg, modality, data = ctx.config, ctx.modality, ctx.data
    resolve_batch_train(cfg, data)
    modality = trajectory_modality(modality, "train expert trajectories")
    device = workers.device if workers.world > 1 else ctx.device
    strategy = cfg.expert_augmentation()
    augment = modality.augmenter(strategy, getattr(data, "name", cfg.dataset)) if strategy else None
    if strategy and augment is None and strategy.lower() != "none":  # as run.distill says of dsa: nothing claims it ran
        log.warning("expert_dsa (strategy %r) has no effect: modality %s has no augmentation; the experts train without it",
                    strategy, modality.name)
    if device != ctx.device:
        data = modality.to_device(data, device)

    def make_net(gen: torch.Generator) -> nn.Module:
        return modality.fresh_network(cfg, data, gen).to(device)

    return train_experts(
        path, expert_spec(cfg, data, trajectory_network(ctx)), cfg.expert_training(), make_net,
        lambda net, opt, gen: modality.train_epoch(cfg, net, opt, data, augment, gen),
        score=lambda net: modality.score(cfg, net, data),
        make_optimizer=lambda net: modality.expert_optimizer(cfg, net), workers=workers, progress=cfg.progress,
        threads=expert_threads(cfg, modality, make_net, augment, device, getattr(data, "sample_shape", None)),
    )


def expert_threads(cfg: Any, modality: TrajectoryModality, make_net: Callable[[torch.Generator], nn.Module], augment: Any,
                   device: torch.device, sample_shape: Sequence[int] | None = None) -> int:
    """Experts trained at the same time: ``expert_threads`` when set, else the device's default
    (:func:`mmdistill.concurrency.default_threads`) for an adapter that declares ``seeded_experts`` and a
    network and augmentation that draw nothing from torch's global generator, else 1. A network or augmentation that
    draws from it (dropout) trains its experts one at a time whatever ``expert_threads`` says (logged): on threads they
    would draw from one generator in an order the scheduling picks, and each trajectory would not be its own. With
    ``sample_shape`` a draw in the network's forward (``F.dropout``) counts too."""
    global_draws = training_draws_global_rng(make_net, augment, sample_shape)
    if getattr(cfg, "expert_threads", None):
        if global_draws and int(cfg.expert_threads) > 1:
            log.warning("expert_threads=%d ignored: the network or augmentation draws from torch's global generator (dropout), so "
                        "its experts train one at a time (on threads their trajectories would depend on the scheduling)",
                        int(cfg.expert_threads))
            return 1
        return int(cfg.expert_threads)
    if not getattr(modality, "seeded_experts", False) or global_draws:
        return 1
    return default_threads(device)


def open_buffer(ctx: MatchContext, *, train_if_missing: bool) -> ExpertBuffer:
    """The run's expert buffer, checked against this run's dataset, network and class count; trained first
    (into ``<out>/experts`` or ``buffer``) when it holds no finished index and ``train_if_missing``, by the
    run's processes together under torchrun (``ctx.workers``)."""
    cfg = ctx.config
    resolve_batch_train(cfg, ctx.data)
    path = buffer_dir(cfg, ctx.out_dir)
    if not buffer_finished(path):
        if not train_if_missing:
            raise ConfigError(f"{path} holds no expert buffer; make one with `mmdistill experts RECIPE --buffer {path} ...`")
        if cfg.buffer and ctx.workers.rank == 0:
            warn_new_buffer(path, cfg)
        buffer = train_keeping_experts(ctx, path, f"{GO_ON}; it trains the rest, then distils")
    else:
        buffer = ExpertBuffer(path)
        if not cfg.buffer and ctx.workers.rank == 0:
            note_reused_out_buffer(path, cfg)
    buffer.check(expert_spec(cfg, ctx.data, trajectory_network(ctx)))
    record_buffer_training(ctx, buffer, warn=ctx.workers.rank == 0)
    return buffer


def train_keeping_experts(ctx: MatchContext, path: Path, remedy: str, workers: Workers | None = None) -> ExpertBuffer:
    """:func:`train_buffer` into ``path``; a stop (Ctrl-C, SIGTERM) becomes an :class:`~mmdistill.errors.InterruptedRun` saying that the
    finished experts and the interrupted one's finished epochs are kept, and ``remedy``: how to continue."""
    with stop_says(f"{path} keeps every finished expert and the interrupted one's finished epochs: {remedy}"):
        return train_buffer(ctx, path, workers or ctx.workers)


def note_reused_out_buffer(path: Path, cfg: Any) -> None:
    """Say that the finished buffer in ``<out>/experts`` (left by an earlier run into the same folder) is used as it
    is: ``--overwrite`` replaces the run's set, checkpoint and log but keeps its experts, the expensive part, once
    they pass the checks against this run (dataset, network, layout, sample shape, training data)."""
    if getattr(cfg, "overwrite", False):
        log.warning("--overwrite keeps the expert buffer %s (experts are the expensive part to train) and reuses it, checked "
                    "against this run's data and network; delete that folder to train new experts", path)
    else:
        log.info("reusing the expert buffer %s trained by an earlier run into this folder; delete it to train new experts", path)


#: ExpertTraining fields a difference in is not reported: the seed is the run's (one buffer distilled with several
#: seeds is the usual protocol), the experts' own seed is in the buffer's index
NOT_COMPARED = ("seed",)


def _asked_training(cfg: Any) -> dict[str, Any]:
    """What the run's keys ask of the experts: ``cfg.expert_training()`` as a dict, else (a config without one: DM's
    soft labels read a buffer too) the experts' count and epochs it names."""
    make = getattr(cfg, "expert_training", None)
    if callable(make):
        try:
            return dataclasses.asdict(make())
        except (NotImplementedError, ConfigError):
            pass
    return {f: getattr(cfg, k) for k, f in (("num_experts", "num_experts"), ("expert_train_epochs", "epochs"))
            if getattr(cfg, k, None) is not None}


def buffer_training(buffer: ExpertBuffer) -> dict[str, Any]:
    """How ``buffer``'s experts were trained (its index's ``training``), with the count and length they have."""
    return {**buffer.index["training"], "num_experts": buffer.num_experts, "epochs": buffer.epochs}


def training_differences(cfg: Any, held: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """ExpertTraining field -> (the buffer's value, what this run's keys ask for) where they differ
    (:data:`NOT_COMPARED` left out)."""
    return {f: (held.get(f), v) for f, v in _asked_training(cfg).items() if f not in NOT_COMPARED and held.get(f) != v}


def record_buffer_training(ctx: MatchContext, buffer: ExpertBuffer, *, warn: bool = True) -> dict[str, tuple[Any, Any]]:
    """Record in the set's meta (and so in its manifest, ``synthetic.meta.expert_buffer``) which buffer the run matched
    (its folder's name) and how its experts were trained, and name in one warning every expert-training value that differs from what the
    run's keys ask for; returns those differences. The run matches the buffer as it is; its config keeps the run's
    own keys (a trajectory student's initial step size, for one, is the run's ``lr_student`` or ``lr_teacher``), so the manifest states
    both."""
    held = buffer_training(buffer)
    if ctx.syn is not None:
        # the folder's name, not its path: a shared set carries no machine paths (as the load report)
        ctx.syn.meta["expert_buffer"] = {"folder": Path(buffer.path).name, "training": held}
    diff = training_differences(ctx.config, held)
    if diff and warn:
        log.warning("the expert buffer %s holds experts trained otherwise than this run's keys ask for (%s); the run matches "
                    "the buffer as it is (its training is recorded in the manifest's synthetic.meta.expert_buffer). To match "
                    "experts trained with this run's keys, point --buffer at a new folder (`mmdistill experts RECIPE --buffer "
                    "%s num_experts=N` adds experts to this one when given the buffer's values above, which it checks)", buffer.path,
                    "; ".join(f"{f}: buffer {b!r}, this run's keys {a!r}" for f, (b, a) in diff.items()), buffer.path)
    return diff


def warn_new_buffer(path: Path, cfg: Any) -> None:
    """Warn, before any expert trains, that an explicitly named ``buffer`` holds no finished buffer and will be
    trained there: a mistyped folder name would otherwise cost the whole expert training (hours at a paper's
    scale) without a word. A folder with some experts already is finished, not restarted."""
    training = cfg.expert_training()
    n = training.num_experts
    there = sum((path / shard_name(i)).exists() for i in range(n)) if path.is_dir() else 0
    if there == n:  # an interrupted buffer's shards, no index yet: checked and indexed, nothing trained (walk 52A)
        log.info("buffer=%s holds the files of all %d experts this run asks for but no index (an interrupted training): "
                 "they are checked and indexed, nothing is trained", path, n)
        return
    state = ("does not exist" if not path.exists() else "holds no finished expert buffer"
             + (f" ({there} of the {n} experts' files are there and are kept)" if there else ""))
    log.warning("buffer=%s %s: training %d experts of %d epochs into it before distilling. If you meant an existing "
                "buffer, stop now (Ctrl-C) and correct --buffer; `mmdistill experts RECIPE --buffer DIR` trains one on its own",
                path, state, n - there, training.epochs)


def run_experts_command(recipe: Any, cfg: Any) -> ExpertBuffer:
    """``mmdistill experts RECIPE ...``: load the recipe's data and train its expert buffer, sharded over the
    processes of ``torchrun`` when started by it."""
    device = resolve_device(cfg.device)
    workers = init_workers(device)
    try:
        with seeded_run(cfg.seed):  # the caller's global generators and torch modes given back after
            modality = recipe.get_modality()
            data = modality.to_device(load_data(modality, cfg), workers.device)
            net = modality.matching_network(cfg, data).to(workers.device)
            ctx = MatchContext(config=cfg, data=data, modality=modality, net=net, augment=None, task=modality.task(cfg),
                               device=workers.device, out_dir=cfg.out_dir(recipe.name))
            path = buffer_dir(cfg, ctx.out_dir)
            buffer = train_keeping_experts(ctx, path, "run the same command again to continue (no --resume needed)", workers)
            buffer.check(expert_spec(cfg, data, net))
            return buffer
    finally:
        close_workers(workers)


__all__ = ["buffer_dir", "buffer_training", "data_fingerprint", "expert_spec", "expert_threads", "experts_batch",
           "note_reused_out_buffer", "open_buffer", "record_buffer_training", "resolve_batch_train", "run_experts_command", "train_buffer", "train_keeping_experts", "training_differences",
           "trajectory_modality", "trajectory_network"]
