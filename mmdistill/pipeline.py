"""One distillation run from configuration to artifact, for any modality.

``distill`` loads the real data through the adapter, initialises the synthetic set, drives the recipe's
matcher through the outer loop (checkpointing, resuming), has the adapter evaluate the result next to the
baselines of the same size, and writes the distilled-set directory.

:func:`evaluate_distilled` is the evaluation of classification modalities (image, audio, video): fresh
networks trained on the set with the papers' protocol, next to a random real subset and a herding coreset.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill import __version__
from mmdistill.baselines import herding_subset, random_subset
from mmdistill.config import fingerprint, to_dict
from mmdistill.data import LabeledTensors
from mmdistill.errors import ConfigError
from mmdistill.evaluate import EvalResult, TrainProtocol, evaluate_set, results_table, train_from_scratch
from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE, PREVIEW_FILE, MetricsLog, save_synthetic, write_json
from mmdistill.loop import Matcher, run_loop
from mmdistill.modality import ClassificationData, ClassificationModality, Modality
from mmdistill.nets import reinitialize
from mmdistill.plots import plot_accuracy_bars, plot_loss_curve
from mmdistill.seeding import generator, seed_everything
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

#: networks of the papers' cross-architecture tables
CROSS_ARCH_NETWORKS = ["convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18"]
BASELINES = ("random_real", "herding")


@dataclass
class DistillConfig:
    """Keys every classification recipe shares. Recipes subclass it with the paper's defaults.

    ``dsa_strategy="auto"`` takes the paper's augmentation for the dataset (the DSA authors drop flip for
    digit datasets). Units: learning rates are SGD step sizes; ``batch_real`` is real samples per class per iteration;
    ``eval_epochs`` are passes over the evaluated set; ``checkpoint_every`` counts outer iterations.

    Labels, for every matcher: ``label_mode`` ``hard`` (class indices), ``soft`` (fixed logits of an expert of
    ``buffer`` at epoch ``label_expert_epoch``, -1 = its last) or ``learnable`` (those logits, optimised with
    ``lr_labels``). Evaluation then reports the set with its soft labels and with hard labels side by side.
    """

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    ipc: int = 10
    seed: int = 0
    out: str | None = None
    init: str = "real"
    network: str = "convnet"
    iterations: int = 1000
    lr_data: float = 0.1
    momentum_data: float = 0.5
    batch_real: int = 256
    dsa: bool = False
    dsa_strategy: str = "auto"
    eval_dsa: bool = False
    eval_runs: int = 20
    eval_epochs: int = 300
    eval_lr: float = 0.01
    eval_batch: int = 256
    eval_networks: list[str] = field(default_factory=list)
    cross_arch: bool = False
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    herding_epochs: int = 2
    label_mode: str = "hard"
    label_expert_epoch: int = -1
    lr_labels: float = 2.0
    buffer: str | None = None
    evaluate: bool = True
    checkpoint_every: int = 100
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    compile: bool = False
    budget: str = "paper"
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.ipc, bool) or not isinstance(self.ipc, int) or self.ipc <= 0:
            raise ConfigError(f"ipc must be a positive integer (samples per class), got {self.ipc!r}")
        for key in ("iterations", "eval_epochs", "eval_batch", "batch_real", "checkpoint_every"):
            if getattr(self, key) < (0 if key == "iterations" else 1):
                raise ConfigError(f"{key} must be positive, got {getattr(self, key)!r}")
        if self.eval_runs < 1:
            raise ConfigError(f"eval_runs must be >= 1, got {self.eval_runs}")
        if self.init not in ("real", "noise"):
            raise ConfigError(f"init must be 'real' or 'noise', got {self.init!r}")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise ConfigError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
        if self.lr_data <= 0:
            raise ConfigError(f"lr_data must be > 0, got {self.lr_data}")
        if self.label_mode not in ("hard", "soft", "learnable"):
            raise ConfigError(f"label_mode must be 'hard', 'soft' or 'learnable', got {self.label_mode!r}")

    def out_dir(self, recipe: str) -> Path:
        return Path(self.out) if self.out else Path("runs") / f"{recipe}-{self.dataset}-ipc{self.ipc}-seed{self.seed}"


#: keys that do not change the optimisation trajectory (a run may be resumed with other values)
NON_TRAJECTORY_KEYS = (
    "out", "resume", "overwrite", "progress", "device", "budget", "iterations", "checkpoint_every", "evaluate",
    "eval_dsa", "eval_runs", "eval_epochs", "eval_lr", "eval_batch", "eval_networks", "cross_arch", "baselines",
    "herding_epochs", "eval_lr_from_set",
)


@dataclass
class MatchContext:
    """Everything a recipe needs to build its matcher.

    ``syn`` is the freshly initialised synthetic set: a matcher factory may set its labels (soft labels from
    an expert) before the optimizer is built. ``out_dir`` is the run directory (e.g. for expert buffers the
    recipe trains on the fly).
    """

    config: Any
    data: Any
    modality: Modality
    net: nn.Module
    augment: Callable[..., Tensor] | None
    task: Any
    device: torch.device
    syn: SyntheticSet | None = None
    out_dir: Path | None = None
    reinit: Callable[[nn.Module, torch.Generator], None] = reinitialize


@dataclass
class RunResult:
    out_dir: Path
    synthetic: SyntheticSet
    manifest: dict[str, Any]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device (use auto, cpu, cuda, cuda:0 ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use device=cpu")
    return dev


def versions(modality: Modality | None = None) -> dict[str, str]:
    out = {"mmdistill": __version__, "torch": torch.__version__, "python": platform.python_version()}
    if modality is not None:
        out.update(modality.versions())
    return out


def classification_data_on(data: ClassificationData, device: torch.device) -> ClassificationData:
    """``data`` with its training split on ``device`` (the matchers sample it there; the test split stays)."""
    train = LabeledTensors(data.train.x.to(device), data.train.y.to(device), data.train.classes)
    return dataclasses.replace(data, train=train)


def describe_classification(data: ClassificationData) -> str:
    return (f"{data.name}, {data.num_classes} classes, {len(data.train)} train / {len(data.test)} test samples "
            f"of shape {tuple(data.sample_shape)}")


def _prepare_out_dir(out: Path, cfg: DistillConfig) -> None:
    holds_run = (out / CHECKPOINT_FILE).exists() or (out / MANIFEST_FILE).exists()
    if holds_run and not cfg.resume:
        if not cfg.overwrite:
            raise ConfigError(
                f"{out} already holds a run; pass resume=true (--resume) to continue it, overwrite=true "
                "(--overwrite) to start over, or choose another out"
            )
        for name in (CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def network_factory(modality: ClassificationModality, name: str, data: ClassificationData, device: torch.device) -> Callable[[torch.Generator], nn.Module]:
    """``make_net(generator)``: a fresh network of ``name``, weights drawn from ``generator``."""

    def make_net(gen: torch.Generator) -> nn.Module:
        net = modality.build_network(name, data.sample_shape, data.num_classes).to(device)
        reinitialize(net, gen)
        return net

    return make_net


def evaluation_networks(cfg: DistillConfig) -> list[str]:
    """The networks a set is evaluated on: the cross-architecture list, ``eval_networks``, or the recipe's."""
    return CROSS_ARCH_NETWORKS if cfg.cross_arch else (cfg.eval_networks or [cfg.network])


def evaluation_protocol(cfg: DistillConfig) -> TrainProtocol:
    """The train-from-scratch protocol of ``cfg`` (epochs, learning rate, batch) for every evaluated set."""
    return TrainProtocol(epochs=cfg.eval_epochs, lr=cfg.eval_lr, batch_size=cfg.eval_batch)


def evaluation_augment(cfg: DistillConfig, data: ClassificationData, modality: ClassificationModality) -> Callable[..., Tensor] | None:
    """The augmentation every evaluated set is trained with: the modality's DSA when ``eval_dsa``, else None."""
    return modality.augmenter(cfg.dsa_strategy, data.name) if cfg.eval_dsa else None


def evaluate_baselines(
    cfg: DistillConfig,
    data: ClassificationData,
    modality: ClassificationModality,
    *,
    device: torch.device,
    task: ClassificationTask = ClassificationTask(),
    labeler: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, dict[str, EvalResult]]:
    """The baselines of ``cfg.baselines`` at ``cfg.ipc`` per class, on each evaluation network:
    ``{network: {"random_real": ..., "random_real_soft_labels": ..., "herding": ...}}``.

    They do not depend on a distilled set, so they can be computed once per (dataset, ipc, seed) and shared
    by several methods, or in a process of their own beside a distillation: run ``r`` of the random subset
    draws from ``(seed, "random_real", r)`` and trains from ``(seed, "eval", r)``, the same numbers as
    :func:`evaluate_distilled` reports. ``labeler`` (N, ...) -> (N, C) adds the random subset with a
    teacher's soft labels.
    """
    protocol = evaluation_protocol(cfg)
    augment = evaluation_augment(cfg, data, modality)
    train = data.train
    herd_idx = _herding_indices(cfg, data, modality, device) if "herding" in cfg.baselines else None
    per_net: dict[str, dict[str, EvalResult]] = {}
    for name in evaluation_networks(cfg):
        make_net = network_factory(modality, name, data, device)
        common = dict(runs=cfg.eval_runs, augment=augment, task=task, progress=cfg.progress, seed=cfg.seed)
        rows: dict[str, EvalResult] = {}
        if "random_real" in cfg.baselines:
            def random_data(r: int) -> tuple[Tensor, Tensor]:
                idx = random_subset(train, cfg.ipc, generator(cfg.seed, "random_real", r)).to(train.x.device)
                return train.x[idx], train.y[idx]

            rows["random_real"] = evaluate_set(random_data, data.test, make_net, protocol, desc=f"eval random real [{name}]", **common)
            if labeler is not None:  # the same teacher's soft labels on real samples: the gain of the labels alone
                def random_soft(r: int) -> tuple[Tensor, Tensor]:
                    x, _ = random_data(r)
                    return x, labeler(x)

                rows["random_real_soft_labels"] = evaluate_set(random_soft, data.test, make_net, protocol,
                                                               desc=f"eval random real, soft labels [{name}]", **common)
        if herd_idx is not None:
            rows["herding"] = evaluate_set((train.x[herd_idx], train.y[herd_idx]), data.test, make_net, protocol,
                                           desc=f"eval herding [{name}]", **common)
        per_net[name] = rows
    return per_net


def evaluate_distilled(
    cfg: DistillConfig,
    syn: SyntheticSet,
    data: ClassificationData,
    modality: ClassificationModality,
    *,
    device: torch.device,
    task: ClassificationTask = ClassificationTask(),
) -> dict[str, Any]:
    """Evaluate ``syn`` and the configured baselines (:func:`evaluate_baselines`) on each evaluation network.

    Returns ``{"network": primary, "distilled": {...}, "random_real": {...}, "herding": {...},
    "cross_arch": {network: {...}}}`` with accuracies in [0, 1] (``cross_arch`` only with several networks).
    """
    networks = evaluation_networks(cfg)
    protocol = evaluation_protocol(cfg)
    learned_lr = syn.data.get("syn_lr") if getattr(cfg, "eval_lr_from_set", False) else None
    syn_protocol = protocol if learned_lr is None else dataclasses.replace(protocol, lr=float(learned_lr))
    augment = evaluation_augment(cfg, data, modality)
    x_syn, t_syn = modality.decode(syn).detach().to(device), syn.targets().detach().to(device)
    soft = syn.label_mode != "hard"
    labeler = None
    if soft and "random_real" in cfg.baselines:
        from mmdistill.trajectory import soft_labeler

        labeler = soft_labeler(syn, modality, cfg, data, device)
    baselines = evaluate_baselines(cfg, data, modality, device=device, task=task, labeler=labeler)
    per_net: dict[str, dict[str, EvalResult]] = {}
    for name in networks:
        make_net = network_factory(modality, name, data, device)
        common = dict(runs=cfg.eval_runs, augment=augment, task=task, progress=cfg.progress, seed=cfg.seed)
        rows: dict[str, EvalResult] = {}
        rows["distilled"] = evaluate_set((x_syn, t_syn), data.test, make_net, syn_protocol, desc=f"eval distilled [{name}]", **common)
        if soft:  # the same data with hard labels: the gain of the data alone
            rows["distilled_hard_labels"] = evaluate_set((x_syn, syn.labels.to(device)), data.test, make_net, syn_protocol,
                                                         desc=f"eval distilled, hard labels [{name}]", **common)
        rows.update(baselines[name])
        per_net[name] = rows
        print(f"\n[{name}] test accuracy, {cfg.eval_runs} runs each, {cfg.ipc} per class:\n{results_table(rows)}")
    primary = networks[0]
    metrics: dict[str, Any] = {"metric": "accuracy", "network": primary, **{k: v.as_dict() for k, v in per_net[primary].items()}}
    if len(networks) > 1:
        metrics["cross_arch"] = {n: {k: v.as_dict() for k, v in rows.items()} for n, rows in per_net.items()}
    metrics["protocol"] = {**dataclasses.asdict(protocol), "runs": cfg.eval_runs, "dsa": cfg.eval_dsa, "test_samples": len(data.test),
                           "distilled_lr": syn_protocol.lr, "labels": syn.label_mode}
    return metrics


def _herding_indices(cfg: DistillConfig, data: ClassificationData, modality: ClassificationModality, device: torch.device) -> Tensor:
    """Herding in the embedding of the recipe's network trained on the whole real training set for
    ``herding_epochs`` epochs (the DC paper's coreset protocol)."""
    gen = generator(cfg.seed, "herding")
    net = network_factory(modality, cfg.network, data, device)(gen)
    protocol = TrainProtocol(epochs=cfg.herding_epochs, lr=cfg.eval_lr, batch_size=cfg.eval_batch, lr_decay_at=1.0)
    train_from_scratch(net, data.train.x, data.train.y, protocol, gen)
    net.eval()
    return herding_subset(data.train, cfg.ipc, net.embed).to(data.train.x.device)


def distill(
    recipe: str,
    method: str,
    cfg: DistillConfig,
    modality: Modality,
    make_matcher: Callable[[MatchContext], Matcher],
    make_optimizer: Callable[[SyntheticSet, DistillConfig], torch.optim.Optimizer] | None = None,
    *,
    stop_after: int | None = None,
) -> RunResult:
    """Run recipe ``recipe`` (method ``method``) with ``cfg`` on ``modality`` and write its artifact.

    ``stop_after`` stops the loop after that many iterations (leaving a resumable checkpoint and no
    artifact), which is how tests interrupt a run.
    """
    started = time.perf_counter()
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    out = cfg.out_dir(recipe)
    _prepare_out_dir(out, cfg)
    data = modality.to_device(modality.load(cfg), device)
    task = modality.task(cfg)
    syn = modality.init_synthetic(data, cfg, generator(cfg.seed, "init"))
    syn.to(device).requires_grad_(True)
    net = modality.matching_network(cfg, data).to(device)
    augment = modality.augmenter(cfg.dsa_strategy, getattr(data, "name", cfg.dataset)) if cfg.dsa else None
    ctx = MatchContext(config=cfg, data=data, modality=modality, net=net, augment=augment, task=task, device=device,
                       syn=syn, out_dir=out)
    matcher = make_matcher(ctx)
    if cfg.label_mode != "hard" and syn.label_mode == "hard":  # the factory did not assign labels itself
        from mmdistill.trajectory import apply_label_mode

        apply_label_mode(ctx)
    syn.requires_grad_(True)  # labels may have become learnable
    if make_optimizer is None:
        from mmdistill.trajectory import synthetic_optimizer as make_optimizer
    optimizer = make_optimizer(syn, cfg)
    print(f"{recipe}: {modality.describe(data)}, {len(syn)} synthetic samples, {cfg.iterations} iterations on {device}")
    if device.type == "cpu" and cfg.budget == "paper":
        print("note: these are the paper's settings, sized for a GPU; on a CPU the run can take hours. "
              "--budget cpu shrinks it (the progress bar shows the estimate).")
    loop = run_loop(
        matcher, syn, optimizer, iterations=cfg.iterations, seed=cfg.seed, out_dir=out,
        fingerprint=fingerprint(cfg, NON_TRAJECTORY_KEYS), checkpoint_every=cfg.checkpoint_every,
        resume=cfg.resume, progress=cfg.progress, desc=f"{recipe} ipc={cfg.ipc}", stop_after=stop_after,
    )
    manifest: dict[str, Any] = {
        "format": "mmdistill.set/1",
        "recipe": recipe,
        "modality": modality.name,
        "method": method,
        "dataset": getattr(data, "name", cfg.dataset),
        "ipc": cfg.ipc,
        "seed": cfg.seed,
        "num_classes": syn.num_classes,
        "config": to_dict(cfg),
        "versions": versions(modality),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "timing": {"seconds": loop.seconds, "iterations": loop.iterations, "resumed_from": loop.resumed_from},
    }
    if syn.meta.get("budget_label"):  # a set whose size is not "ipc per class" (e.g. a graph's reduction rate)
        manifest["budget_label"] = syn.meta["budget_label"]
    if loop.iterations < cfg.iterations:
        print(f"stopped after {loop.iterations} of {cfg.iterations} iterations; resume with --resume --out {out}")
        return RunResult(out, syn.detached(), manifest)
    final = syn.detached().to("cpu")
    if cfg.evaluate:
        t_eval = time.perf_counter()
        manifest["metrics"] = modality.evaluate(cfg, final, data, device)
        manifest["timing"]["eval_seconds"] = time.perf_counter() - t_eval
    manifest["timing"]["total_seconds"] = time.perf_counter() - started
    write_artifact(out, final, manifest, modality)
    return RunResult(out, final, manifest)


def evaluated_sets(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of ``metrics`` that are evaluated sets (``{"mean", "std", ...}``), in order."""
    return {k: v for k, v in metrics.items() if isinstance(v, dict) and "mean" in v and "std" in v}


def write_artifact(out: Path, syn: SyntheticSet, manifest: dict[str, Any], modality: Modality) -> None:
    """Preview, plots, then tensors and manifest (manifest last: its presence marks a complete set)."""
    title = f"{manifest['recipe']} · {manifest.get('dataset', '')} · {budget_label(manifest)}"
    modality.write_preview(syn, out / PREVIEW_FILE, title)
    plot_loss_curve(MetricsLog(out / METRICS_FILE).read(), out / "loss.png", title=f"{title}: matching loss")
    metrics = manifest.get("metrics", {})
    plot_accuracy_bars(evaluated_sets(metrics), out / "accuracy.png", title, ylabel=f"test {metrics.get('metric', 'accuracy')} (%)")
    save_synthetic(out, syn, manifest)


def budget_label(manifest: dict[str, Any]) -> str:
    """How big the set is: the manifest's ``budget_label`` when the modality wrote one, else ``ipc K``."""
    return str(manifest.get("budget_label") or f"ipc {manifest['ipc']}")


def summary_line(manifest: dict[str, Any]) -> str:
    """``recipe on dataset at ipc K: distilled m ± s %, random real m ± s %, ...`` (the metric is named
    unless it is accuracy)."""
    m = manifest.get("metrics", {})
    metric = m.get("metric", "accuracy")
    head = f"{manifest['recipe']} on {manifest.get('dataset')} at {budget_label(manifest)}"
    head += ":" if metric == "accuracy" else f" ({metric}):"
    parts = [f"{key.replace('_', ' ')} {100 * v['mean']:.2f} ± {100 * v['std']:.2f} %" for key, v in evaluated_sets(m).items()]
    return head + " " + ", ".join(parts)


__all__ = [
    "CROSS_ARCH_NETWORKS", "DistillConfig", "MatchContext", "RunResult", "budget_label", "classification_data_on",
    "describe_classification", "distill", "evaluate_baselines", "evaluate_distilled", "evaluation_augment",
    "evaluation_networks", "evaluation_protocol", "evaluated_sets", "network_factory", "resolve_device",
    "summary_line", "write_artifact",
]
