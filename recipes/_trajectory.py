"""Shared config of the trajectory-matching image recipes (MTT and TESLA): the paper's per-dataset table."""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.methods.trajectory_keys import TrajectoryConfig

#: MTT's hyper-parameters for ConvNet-3 (Cazenavette et al. 2022, appendix table; no-ZCA settings as published
#: by the MTT/TESLA authors, since mmdistill has no ZCA whitening): (dataset, ipc) -> syn_steps, expert_epochs,
#: max_start_epoch, lr_data (pixels), lr_lr (step size), batch_syn. lr_teacher is 0.01 throughout. Datasets the
#: paper did not distil (MNIST, Fashion-MNIST, SVHN, digits, ImageFolder trees) take CIFAR-10's rows.
MTT_TABLE: dict[tuple[str, int], dict[str, object]] = {
    ("cifar10", 1): dict(syn_steps=50, expert_epochs=2, max_start_epoch=5, lr_data=1000.0, lr_lr=1e-7, batch_syn=None),
    ("cifar10", 10): dict(syn_steps=30, expert_epochs=2, max_start_epoch=15, lr_data=1000.0, lr_lr=1e-5, batch_syn=None),
    ("cifar10", 50): dict(syn_steps=30, expert_epochs=2, max_start_epoch=40, lr_data=1000.0, lr_lr=1e-5, batch_syn=None),
    ("cifar100", 1): dict(syn_steps=20, expert_epochs=3, max_start_epoch=20, lr_data=1000.0, lr_lr=1e-5, batch_syn=None),
    ("cifar100", 10): dict(syn_steps=20, expert_epochs=2, max_start_epoch=20, lr_data=1000.0, lr_lr=1e-5, batch_syn=None),
    ("cifar100", 50): dict(syn_steps=80, expert_epochs=2, max_start_epoch=40, lr_data=1000.0, lr_lr=1e-5, batch_syn=125),
}

#: datasets whose images are far smaller or fewer than CIFAR's: the network depth follows MTT's rule of one
#: ConvNet block per octave of resolution above 4x4 (ConvNet-3 at 32x32, D4 at 64x64, D5 at 128x128), here
#: depth 2 for 8x8 digits (at depth 3 the last instance norm normalises 2x2 maps, which makes the unrolled
#: second-order gradient explode), and the experts' batch shrinks so an epoch of 1,437 images is ~45 SGD steps
#: rather than 6 (with 256, two expert epochs move the expert less than the student's first steps).
DATASET_ROWS: dict[str, dict[str, object]] = {
    "digits": dict(network="convnetd2", batch_train=32),
}


def mtt_defaults(dataset: str, ipc: int) -> dict[str, object]:
    """The table's row for ``dataset`` at the listed IPC nearest ``ipc`` (CIFAR-10's rows for other datasets)."""
    key = dataset.lower().replace("-", "").replace("_", "")
    key = key if any(k == key for k, _ in MTT_TABLE) else "cifar10"
    ipcs = sorted(i for k, i in MTT_TABLE if k == key)
    nearest = min(ipcs, key=lambda i: (abs(i - ipc), i))
    return dict(MTT_TABLE[(key, nearest)])


@dataclass
class MTTConfig(ImageDistillConfig, TrajectoryConfig):
    """MTT defaults (reference distill.py / buffer.py): 5,000 iterations; 100 experts of 50 epochs (SGD lr 0.01,
    no momentum, DSA); real initialisation; DSA while matching and evaluating; the distilled set evaluated
    with its learned step size, 1,000 epochs, 5 networks. ``syn_steps``, ``expert_epochs``,
    ``max_start_epoch``, ``lr_data``, ``lr_lr`` and ``batch_syn`` left at None take the paper's value for
    the dataset and ipc (:data:`MTT_TABLE`); ``network`` and ``batch_train`` left at None are ConvNet-3 and
    256 except for the datasets of :data:`DATASET_ROWS`."""

    iterations: int = 5000
    network: str | None = None  # type: ignore[assignment]
    batch_train: int | None = None  # type: ignore[assignment]
    init: str = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000
    eval_runs: int = 5
    momentum_data: float = 0.5
    lr_data: float | None = None  # type: ignore[assignment]
    syn_steps: int | None = None  # type: ignore[assignment]
    expert_epochs: int | None = None  # type: ignore[assignment]
    max_start_epoch: int | None = None  # type: ignore[assignment]
    lr_lr: float | None = None  # type: ignore[assignment]
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        key = self.dataset.lower().replace("-", "").replace("_", "")
        row = {"network": "convnet", "batch_train": 256, **mtt_defaults(self.dataset, self.ipc), **DATASET_ROWS.get(key, {})}
        for name, value in row.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        super().__post_init__()
        self.check_trajectory()


#: a CPU-sized run: 5 experts of 10 epochs, start epochs below 5, 200 iterations, 300 evaluation epochs, 5 runs
CPU_BUDGET = {"num_experts": 5, "expert_train_epochs": 10, "max_start_epoch": 5, "iterations": 200, "eval_epochs": 300,
              "eval_runs": 5, "herding_epochs": 2, "checkpoint_every": 25}
