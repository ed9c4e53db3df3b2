"""The expert buffer of a run: found, checked against the run, or trained on the fly (and the
``mmdistill experts`` command), for any :class:`~mmdistill.modality.TrajectoryModality`.

The experts' epoch, held-out score, initial network and optimizer are the adapter's hooks; the loop, the
files and the checks are :mod:`mmdistill.experts` and :mod:`mmdistill.buffer`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mmdistill.buffer import ExpertBuffer, ExpertSpec, ParamLayout, buffer_finished
from mmdistill.concurrency import default_threads, training_draws_global_rng
from mmdistill.context import MatchContext
from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError
from mmdistill.experts import Workers, close_workers, init_workers, train_experts
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modality import Modality, TrajectoryModality
from mmdistill.schema import BufferKeys
from mmdistill.seeding import seed_everything
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
    """Where the run's experts live: ``cfg.buffer``, else ``<out>/experts``."""
    if cfg.buffer:
        return Path(cfg.buffer)
    if out_dir is None:
        raise ConfigError("no expert buffer given; pass buffer=DIR (made by `mmdistill experts`)")
    return Path(out_dir) / "experts"


def trajectory_network(ctx: MatchContext) -> nn.Module:
    """A network with the experts' trainable parameters: ``ctx.net``, or a fresh matching network when a
    matcher froze ``ctx.net`` (distribution matching's embedding network)."""
    if any(p.requires_grad for p in ctx.net.parameters()):
        return ctx.net
    return ctx.modality.matching_network(ctx.config, ctx.data).to(ctx.device)


def expert_spec(cfg: Any, data: Any, net: nn.Module) -> ExpertSpec:
    """The :class:`ExpertSpec` a buffer for ``cfg`` must match: ``data.name`` (else ``cfg.dataset``), ``cfg.network``,
    ``data.num_classes`` (0 when absent), ``net``'s parameter layout and ``data.sample_shape`` (None when absent)."""
    shape = getattr(data, "sample_shape", None)
    return ExpertSpec(
        dataset=str(getattr(data, "name", cfg.dataset)), network=str(cfg.network), num_classes=int(getattr(data, "num_classes", 0)),
        layout=ParamLayout.of(net), sample_shape=list(shape) if shape is not None else None,
    )


def train_buffer(ctx: MatchContext, path: Path, workers: Workers = Workers()) -> ExpertBuffer:
    """Train (or finish training) the experts of ``ctx.config`` into ``path``."""
    cfg, modality, data = ctx.config, ctx.modality, ctx.data
    resolve_batch_train(cfg, data)
    modality = trajectory_modality(modality, "train expert trajectories")
    device = workers.device if workers.world > 1 else ctx.device
    strategy = cfg.expert_augmentation()
    augment = modality.augmenter(strategy, getattr(data, "name", cfg.dataset)) if strategy else None
    if device != ctx.device:
        data = modality.to_device(data, device)

    def make_net(gen: torch.Generator) -> nn.Module:
        return modality.fresh_network(cfg, data, gen).to(device)

    training = cfg.expert_training()
    if workers.rank == 0:
        log.info("training %d experts for %d epochs into %s%s", training.num_experts, training.epochs, path,
                 f" on {workers.world} processes" if workers.world > 1 else "")
    return train_experts(
        path, expert_spec(cfg, data, trajectory_network(ctx)), training, make_net,
        lambda net, opt, gen: modality.train_epoch(cfg, net, opt, data, augment, gen),
        score=lambda net: modality.score(cfg, net, data),
        make_optimizer=lambda net: modality.expert_optimizer(cfg, net), workers=workers, progress=cfg.progress,
        threads=expert_threads(cfg, modality, make_net, augment, device),
    )


def expert_threads(cfg: Any, modality: TrajectoryModality, make_net: Callable[[torch.Generator], nn.Module], augment: Any,
                   device: torch.device) -> int:
    """Experts trained at the same time: ``expert_threads`` when set, else the device's default
    (:func:`mmdistill.concurrency.default_threads`) for an adapter that declares ``seeded_experts`` and a
    network and augmentation that draw nothing from torch's global generator, else 1."""
    if getattr(cfg, "expert_threads", None):
        return int(cfg.expert_threads)
    if not getattr(modality, "seeded_experts", False) or training_draws_global_rng(make_net, augment):
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
        buffer = train_buffer(ctx, path, ctx.workers)
    else:
        buffer = ExpertBuffer(path)
    buffer.check(expert_spec(cfg, ctx.data, trajectory_network(ctx)))
    if ctx.workers.rank == 0:
        note_buffer_differences(cfg, buffer)
    return buffer


def warn_new_buffer(path: Path, cfg: Any) -> None:
    """Warn, before any expert trains, that an explicitly named ``buffer`` holds no finished buffer and will be
    trained there: a mistyped folder name would otherwise cost the whole expert training (hours at a paper's
    scale) without a word. A folder with some experts already is finished, not restarted."""
    training = cfg.expert_training()
    state = "does not exist" if not path.exists() else "holds no finished expert buffer"
    log.warning("buffer=%s %s: training %d experts of %d epochs into it before distilling. If you meant an existing "
                "buffer, stop now (Ctrl-C) and correct --buffer; `mmdistill experts RECIPE --buffer DIR` trains one on its own",
                path, state, training.num_experts, training.epochs)


def note_buffer_differences(cfg: Any, buffer: ExpertBuffer) -> None:
    """Log, naming both values, where a finished buffer's experts differ in count or length from what the run's
    keys ask for. The run uses the buffer as it is (every expert in it, each as long as it was trained), so the
    manifest's ``num_experts`` / ``expert_train_epochs`` are then not what was matched."""
    held = {"num_experts": buffer.num_experts, "expert_train_epochs": buffer.epochs}
    asked = {key: getattr(cfg, key, None) for key in held}  # None: the run's config has no such key (e.g. DM's labels)
    diff = [f"{key}: buffer {held[key]}, this run's keys {asked[key]}" for key in held
            if asked[key] is not None and int(asked[key]) != held[key]]
    if diff:
        log.warning("%s holds other experts than this run's keys ask for (%s); the run matches the buffer as it is. "
                    "`mmdistill experts RECIPE --buffer %s num_experts=N` adds experts to it, with the same training keys",
                    buffer.path, "; ".join(diff), buffer.path)


def run_experts_command(recipe: Any, cfg: Any) -> ExpertBuffer:
    """``mmdistill experts RECIPE ...``: load the recipe's data and train its expert buffer, sharded over the
    processes of ``torchrun`` when started by it."""
    device = resolve_device(cfg.device)
    workers = init_workers(device)
    try:
        seed_everything(cfg.seed)
        modality = recipe.get_modality()
        data = modality.to_device(load_data(modality, cfg), workers.device)
        net = modality.matching_network(cfg, data).to(workers.device)
        ctx = MatchContext(config=cfg, data=data, modality=modality, net=net, augment=None, task=modality.task(cfg),
                           device=workers.device, out_dir=cfg.out_dir(recipe.name))
        path = buffer_dir(cfg, ctx.out_dir)
        buffer = train_buffer(ctx, path, workers)
        buffer.check(expert_spec(cfg, data, net))
        return buffer
    finally:
        close_workers(workers)


__all__ = ["buffer_dir", "expert_spec", "expert_threads", "experts_batch", "open_buffer", "resolve_batch_train", "run_experts_command",
           "train_buffer", "trajectory_modality", "trajectory_network"]
