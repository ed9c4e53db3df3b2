"""What every trajectory-matching recipe shares, whatever the modality: its configuration keys, the expert
buffer (found, checked, or trained on the fly), the learnable step size, expert soft labels and the
optimizer's parameter groups.

A modality takes part by providing, besides the :class:`~mmdistill.modality.Modality` protocol:

* ``train_epoch(config, net, optimizer, data, augment, gen) -> float``: one epoch of training on the real
  training set (the experts' protocol);
* ``score(config, net, data) -> float``: a held-out score logged per expert epoch (e.g. test accuracy);
* ``student(config, net, task, augment) -> StudentObjective``: the student's loss on a synthetic minibatch.

Classification adapters get all three from ``modalities/base.py``. Optional hooks, for modalities whose
networks or trajectories differ from a classifier's:

* ``fresh_network(config, data, gen) -> nn.Module``: an expert's initial network (default: the matching
  network re-initialised from ``gen``; a pretrained encoder must be copied instead);
* ``expert_optimizer(config, net) -> Optimizer``: the experts' optimizer (default: SGD with ``lr_teacher``);
* ``trajectory_parts(config, layout) -> list[TrajectoryPart]``: slices of the flat parameter vector matched
  separately, each with its own learnable step size (bi-trajectory matching); default: one part, MTT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmdistill.errors import ConfigError
from mmdistill.experts import ExpertBuffer, ExpertSpec, ExpertTraining, ParamLayout, Workers, train_experts
from mmdistill.matchers.trajectory import STEP_SIZE, TrajectoryMatching, add_step_size, expert_logits, step_size_keys
from mmdistill.pipeline import MatchContext
from mmdistill.synthetic import SyntheticSet


@dataclass
class TrajectoryConfig:
    """Keys of trajectory matching (mixed into a recipe's config after the modality's config class).

    Expert training (MTT's buffer.py): ``num_experts`` networks, ``expert_train_epochs`` epochs each, plain SGD
    with ``lr_teacher`` (``momentum_teacher``, ``weight_decay_teacher``), batch ``batch_train``, the DSA strategy
    on real samples when ``expert_dsa``. ``buffer``: directory of the experts (default ``<out>/experts``; trained
    there when it holds none).

    Matching (MTT's distill.py): ``syn_steps`` student steps starting at a random epoch below
    ``max_start_epoch``, matched ``expert_epochs`` later; ``lr_data`` moves the synthetic data (momentum 0.5),
    ``lr_lr`` the learnable step size initialised to ``lr_teacher``; ``batch_syn`` samples per student step
    (None = all); ``method``: ``mtt`` (unrolled) or ``tesla`` (constant memory, same gradient).
    ``eval_lr_from_set``: evaluation networks train the distilled set with its learned step size (MTT's protocol).
    """

    method: str = "mtt"
    num_experts: int = 100
    expert_train_epochs: int = 50
    lr_teacher: float = 0.01
    momentum_teacher: float = 0.0
    weight_decay_teacher: float = 0.0
    batch_train: int = 256
    expert_dsa: bool = True
    syn_steps: int = 20
    expert_epochs: int = 3
    max_start_epoch: int = 20
    lr_lr: float = 1e-5
    batch_syn: int | None = None
    divergence: float = 1e3
    eval_lr_from_set: bool = True

    def check_trajectory(self) -> None:
        """Validate the trajectory keys (call from the recipe config's ``__post_init__``)."""
        if self.method not in ("mtt", "tesla"):
            raise ConfigError(f"method must be 'mtt' or 'tesla', got {self.method!r}")
        for key in ("num_experts", "expert_train_epochs", "syn_steps", "expert_epochs", "max_start_epoch", "batch_train"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.max_start_epoch - 1 + self.expert_epochs > self.expert_train_epochs:
            raise ConfigError(
                f"max_start_epoch ({self.max_start_epoch}) - 1 + expert_epochs ({self.expert_epochs}) must not exceed "
                f"expert_train_epochs ({self.expert_train_epochs})"
            )
        if self.lr_teacher <= 0 or self.lr_lr < 0:
            raise ConfigError(f"lr_teacher must be > 0 and lr_lr >= 0, got {self.lr_teacher}, {self.lr_lr}")

    def expert_training(self) -> ExpertTraining:
        return ExpertTraining(
            num_experts=self.num_experts, epochs=self.expert_train_epochs, lr=self.lr_teacher, momentum=self.momentum_teacher,
            weight_decay=self.weight_decay_teacher, batch_size=self.batch_train,
            augment=self.dsa_strategy if self.expert_dsa else "none", seed=self.seed,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class TrajectoryPart:
    """A named slice of the flat parameter vector matched on its own (its normalised distance is one term of
    the loss) with its own learnable step size ``syn.data[step_key]``, initialised to ``initial_step``."""

    name: str
    params: slice
    step_key: str
    initial_step: float


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
    """Fill ``cfg.batch_train=None`` with :func:`experts_batch` of the training split's size."""
    if getattr(cfg, "batch_train", 0) is None:
        cfg.batch_train = experts_batch(len(data.train))


#: keys of :class:`TrajectoryConfig` that do not change the distillation (evaluation only)
TRAJECTORY_EVAL_KEYS = ("eval_lr_from_set",)


def buffer_dir(cfg: Any, out_dir: Path | None) -> Path:
    """Where the run's experts live: ``cfg.buffer``, else ``<out>/experts``."""
    if getattr(cfg, "buffer", None):
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
    shape = getattr(data, "sample_shape", None)
    return ExpertSpec(
        dataset=str(getattr(data, "name", cfg.dataset)), network=str(cfg.network), num_classes=int(getattr(data, "num_classes", 0)),
        layout=ParamLayout.of(net), sample_shape=list(shape) if shape is not None else None,
    )


def train_buffer(ctx: MatchContext, path: Path, workers: Workers = Workers()) -> ExpertBuffer:
    """Train (or finish training) the experts of ``ctx.config`` into ``path``."""
    cfg, modality, data = ctx.config, ctx.modality, ctx.data
    resolve_batch_train(cfg, data)
    for hook in ("train_epoch", "score"):
        if not hasattr(modality, hook):
            raise ConfigError(f"modality {modality.name!r} has no {hook}(); it cannot train expert trajectories")
    device = workers.device if workers.world > 1 else ctx.device
    augment = modality.augmenter(cfg.dsa_strategy, getattr(data, "name", cfg.dataset)) if cfg.expert_dsa else None
    if device != ctx.device:
        data = modality.to_device(data, device)

    def make_net(gen: torch.Generator) -> nn.Module:
        if hasattr(modality, "fresh_network"):
            return modality.fresh_network(cfg, data, gen).to(device)  # type: ignore[attr-defined]
        net = modality.matching_network(cfg, data).to(device)
        ctx.reinit(net, gen)
        return net

    make_optimizer = (lambda net: modality.expert_optimizer(cfg, net)) if hasattr(modality, "expert_optimizer") else None  # type: ignore[attr-defined]

    training = cfg.expert_training()
    if workers.rank == 0:
        print(f"training {training.num_experts} experts for {training.epochs} epochs into {path}"
              + (f" on {workers.world} processes" if workers.world > 1 else ""))
    return train_experts(
        path, expert_spec(cfg, data, trajectory_network(ctx)), training, make_net,
        lambda net, opt, gen: modality.train_epoch(cfg, net, opt, data, augment, gen),  # type: ignore[attr-defined]
        score=lambda net: modality.score(cfg, net, data),  # type: ignore[attr-defined]
        make_optimizer=make_optimizer, workers=workers, progress=cfg.progress,
    )


def open_buffer(ctx: MatchContext, *, train_if_missing: bool) -> ExpertBuffer:
    """The run's expert buffer, checked against this run's dataset, network and class count; trained first
    (into ``<out>/experts`` or ``buffer``) when it holds no finished index and ``train_if_missing``."""
    cfg = ctx.config
    resolve_batch_train(cfg, ctx.data)
    path = buffer_dir(cfg, ctx.out_dir)
    if not (path / "index.json").exists():
        if not train_if_missing:
            raise ConfigError(f"{path} holds no expert buffer; make one with `mmdistill experts RECIPE --buffer {path} ...`")
        buffer = train_buffer(ctx, path)
    else:
        buffer = ExpertBuffer(path)
    buffer.check(expert_spec(cfg, ctx.data, trajectory_network(ctx)))
    return buffer


def assign_expert_labels(ctx: MatchContext, syn: SyntheticSet, buffer: ExpertBuffer, mode: str, epoch: int) -> None:
    """Soft (fixed) or learnable labels for ``syn``: the logits of expert 0 at ``epoch`` (-1: its last epoch)
    on the synthetic samples (TESLA's soft-label assignment). The source is recorded in ``syn.meta`` so
    evaluation can label a random real subset with the same teacher."""
    if mode not in ("soft", "learnable"):
        raise ConfigError(f"label_mode must be 'hard', 'soft' or 'learnable', got {mode!r}")
    epoch = buffer.epochs if epoch < 0 else epoch
    if epoch > buffer.epochs:
        raise ConfigError(f"label_expert_epoch {epoch} is beyond the experts' {buffer.epochs} epochs")
    flat = buffer.rows(0, [epoch])[0].to(ctx.device)
    net = trajectory_network(ctx)
    logits = expert_logits(net, ParamLayout.of(net), flat, ctx.modality.decode(syn).detach())
    syn.soft_labels = logits.detach().clone()
    syn.label_mode = mode
    syn.meta["soft_label_source"] = {"buffer": str(buffer.path), "expert": 0, "epoch": epoch, "network": buffer.network}


def apply_label_mode(ctx: MatchContext, buffer: ExpertBuffer | None = None) -> None:
    """Honour ``config.label_mode`` for any matcher: hard labels stay; soft and learnable labels come from an
    expert of ``buffer`` (or of the configured one)."""
    cfg, syn = ctx.config, ctx.syn
    mode = getattr(cfg, "label_mode", "hard")
    if mode == "hard" or syn is None:
        return
    if buffer is None:
        buffer = open_buffer(ctx, train_if_missing=hasattr(cfg, "num_experts"))
    assign_expert_labels(ctx, syn, buffer, mode, getattr(cfg, "label_expert_epoch", -1))


def make_trajectory_matcher(ctx: MatchContext) -> TrajectoryMatching:
    """The recipe's matcher: the buffer (trained when missing), the learnable step size, labels, the student."""
    cfg, syn, modality = ctx.config, ctx.syn, ctx.modality
    if syn is None:
        raise ConfigError("trajectory matching needs the synthetic set in the match context")
    buffer = open_buffer(ctx, train_if_missing=True)
    layout = ParamLayout.of(ctx.net)
    parts = modality.trajectory_parts(cfg, layout) if hasattr(modality, "trajectory_parts") else None  # type: ignore[attr-defined]
    parts = parts or [TrajectoryPart("all", slice(0, layout.num_params), STEP_SIZE, cfg.lr_teacher)]  # MTT: one part, one step size
    for part in parts:
        if part.step_key not in syn.data:
            add_step_size(syn, part.initial_step, part.step_key)
    apply_label_mode(ctx, buffer)
    if not hasattr(modality, "student"):
        raise ConfigError(f"modality {modality.name!r} has no student(); it cannot be distilled by trajectory matching")
    return TrajectoryMatching(
        student=modality.student(cfg, ctx.net, ctx.task, ctx.augment),  # type: ignore[attr-defined]
        layout=layout, buffer=buffer, syn_steps=cfg.syn_steps, expert_epochs=cfg.expert_epochs,
        max_start_epoch=cfg.max_start_epoch, batch_syn=cfg.batch_syn, method=cfg.method, divergence=cfg.divergence,
        device=ctx.device, segments={p.name: p.params for p in parts}, step_sizes={p.name: p.step_key for p in parts},
    )


def synthetic_optimizer(syn: SyntheticSet, cfg: Any, data_lrs: dict[str, float] | None = None) -> torch.optim.Optimizer:
    """SGD with momentum ``momentum_data`` over the set's groups: data at ``lr_data`` (or the rate
    ``data_lrs[key]`` a recipe gives a tensor of ``syn.data``), the student step sizes at ``lr_lr`` (MTT: all
    momentum 0.5), learnable labels at ``lr_labels``."""
    steps = step_size_keys(syn)
    own: dict[str, float] = dict(data_lrs or {})
    data = [t for k, t in syn.data.items() if k not in steps and k not in own]
    groups: list[dict[str, Any]] = [{"params": data, "lr": cfg.lr_data}] if data else []
    groups += [{"params": [syn.data[k]], "lr": lr} for k, lr in own.items() if k in syn.data]
    if steps:
        groups.append({"params": [syn.data[k] for k in steps], "lr": getattr(cfg, "lr_lr", 0.0)})
    if syn.label_mode == "learnable" and syn.soft_labels is not None:
        groups.append({"params": [syn.soft_labels], "lr": getattr(cfg, "lr_labels", cfg.lr_data)})
    return torch.optim.SGD(groups, lr=cfg.lr_data, momentum=cfg.momentum_data)


def soft_labeler(syn: SyntheticSet, modality: Any, cfg: Any, data: Any, device: torch.device):
    """``label(x) -> logits`` with the teacher that gave ``syn`` its soft labels, or None when the set has hard
    labels or its buffer is not on this machine (then the soft-label baseline is skipped)."""
    source = syn.meta.get("soft_label_source")
    if not source or syn.label_mode == "hard":
        return None
    path = Path(source["buffer"])
    if not (path / "index.json").exists():
        print(f"note: the soft-label teacher's buffer {path} is not here; skipping the random-real soft-label baseline")
        return None
    net = modality.matching_network(cfg, data).to(device)
    buffer = ExpertBuffer(path)
    buffer.check(expert_spec(cfg, data, net))
    flat = buffer.rows(int(source["expert"]), [int(source["epoch"])])[0].to(device)
    layout = ParamLayout.of(net)
    return lambda x: expert_logits(net, layout, flat, x.to(device))


def run_experts_command(recipe: Any, cfg: Any) -> ExpertBuffer:
    """``mmdistill experts RECIPE ...``: load the recipe's data and train its expert buffer, sharded over the
    processes of ``torchrun`` when started by it."""
    from mmdistill.experts import close_workers, init_workers
    from mmdistill.pipeline import resolve_device
    from mmdistill.seeding import seed_everything

    device = resolve_device(cfg.device)
    workers = init_workers(device)
    try:
        seed_everything(cfg.seed)
        modality = recipe.get_modality()
        data = modality.to_device(modality.load(cfg), workers.device)
        net = modality.matching_network(cfg, data).to(workers.device)
        ctx = MatchContext(config=cfg, data=data, modality=modality, net=net, augment=None, task=modality.task(cfg),
                           device=workers.device, out_dir=cfg.out_dir(recipe.name))
        path = buffer_dir(cfg, ctx.out_dir)
        buffer = train_buffer(ctx, path, workers)
        buffer.check(expert_spec(cfg, data, net))
        return buffer
    finally:
        close_workers(workers)


__all__ = [
    "TRAJECTORY_EVAL_KEYS", "TrajectoryConfig", "TrajectoryPart", "apply_label_mode", "experts_batch", "resolve_batch_train", "assign_expert_labels", "buffer_dir", "expert_spec",
    "make_trajectory_matcher", "open_buffer", "run_experts_command", "soft_labeler", "synthetic_optimizer", "train_buffer",
]
