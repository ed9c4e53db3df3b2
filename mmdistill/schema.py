"""The configuration schema shared by every recipe: the run's keys, the choices they take, and which keys
change the distillation (and so block ``--resume`` when changed).

Method families add their keys in :mod:`mmdistill.methods`; modalities in ``modalities/<name>/config.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mmdistill.errors import ConfigError

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

    ``BASELINE_CHOICES`` names the baselines ``baselines`` may list; a modality whose task has others (a
    ranking task's most active users, the whole training data) widens it in its config class.
    """

    BASELINE_CHOICES: ClassVar[tuple[str, ...]] = BASELINES

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
        unknown = [b for b in self.baselines if b not in self.BASELINE_CHOICES]
        if unknown:
            raise ConfigError(f"unknown baseline(s) {unknown}; choose from {list(self.BASELINE_CHOICES)}")
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




__all__ = ["BASELINES", "CROSS_ARCH_NETWORKS", "DistillConfig", "NON_TRAJECTORY_KEYS"]
