"""Shared config of the trajectory-matching image recipes (MTT and TESLA).

The per-dataset, per-IPC values are rows of ``tables/mtt.yaml`` (``syn_steps``, ``expert_epochs``,
``max_start_epoch``, ``lr_data``, ``lr_lr``, ``batch_syn``, and ``zca`` where MTT's setting of that row whitens) and ``tables/mtt_datasets.yaml`` (the network and
expert batch of datasets far smaller than CIFAR's); the CPU budget is a row of ``tables/budgets.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modalities.image.config import ImageDistillConfig, ZCAKeys
from mmdistill.recipes import tables

#: MTT's tables, then the budget table
MTT_TABLES = tables("mtt", "mtt_datasets")
#: TESLA's: MTT's, then the rows its authors publish apart from MTT's (``tables/tesla.yaml``), then the budget table
TESLA_TABLES = tables("mtt", "tesla", "mtt_datasets")


@dataclass
class MTTConfig(ZCAKeys, ClassificationTrajectoryKeys, ImageDistillConfig):
    """MTT defaults (reference distill.py / buffer.py): 5,000 iterations; 100 experts of 50 epochs (SGD lr 0.01,
    no momentum, DSA); real initialisation; DSA while matching and evaluating; the distilled set evaluated
    with its learned step size, 1,000 epochs, 5 networks; the matching keys per dataset and IPC from
    ``tables/mtt.yaml``; ConvNet-3 and expert batch 256 except for the datasets of ``tables/mtt_datasets.yaml``."""

    iterations: int = 5000
    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000
    eval_runs: int = 5
    momentum_data: float = 0.5
    checkpoint_every: int = 100
