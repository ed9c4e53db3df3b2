"""Shared config of the trajectory-matching image recipes (MTT and TESLA).

The per-dataset, per-IPC values are rows of ``tables/mtt.yaml`` (``syn_steps``, ``expert_epochs``,
``max_start_epoch``, ``lr_data``, ``lr_lr``, ``batch_syn``, and ``zca`` where MTT's setting of that row whitens),
``tables/mtt_datasets.yaml`` (the network and expert batch of datasets far smaller than CIFAR's) and
``tables/mtt_resolution.yaml`` (the network by ``image_size``: ConvNetD5 at 128x128, MTT's ImageNet subsets); the CPU
budget is a row of ``tables/budgets.yaml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modalities.image.config import ImageDistillConfig, ZCAKeys
from mmdistill.recipes import tables

log = logging.getLogger("mmdistill.recipes.trajectory")

#: MTT's tables (the network by resolution last: ``tables/mtt_resolution.yaml``), then the budget table
MTT_TABLES = tables("mtt", "mtt_datasets", "mtt_resolution")
#: TESLA's: MTT's, then the rows its authors publish apart from MTT's (``tables/tesla.yaml``), then the budget table
TESLA_TABLES = tables("mtt", "tesla", "mtt_datasets", "mtt_resolution")


@dataclass
class MTTConfig(ZCAKeys, ClassificationTrajectoryKeys, ImageDistillConfig):
    """MTT defaults (reference distill.py / buffer.py): 5,000 iterations; 100 experts of 50 epochs (SGD lr 0.01,
    no momentum, DSA); real initialisation; DSA while matching and evaluating; the distilled set evaluated
    with its learned step size, 1,000 epochs, 5 networks; the matching keys per dataset and IPC from
    ``tables/mtt.yaml``; ConvNet-3 and expert batch 256 except for the datasets of ``tables/mtt_datasets.yaml`` and the
    image sizes of ``tables/mtt_resolution.yaml``."""

    iterations: int = 5000
    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000
    eval_runs: int = 5
    momentum_data: float = 0.5
    checkpoint_every: int = 100


def unwhitened_rates_note(cfg: Any) -> str | None:
    """A warning for ``zca=true`` given by the user where the table row that set the matching rates is one published
    for un-whitened images (any dataset but MTT's whitened CIFAR rows): whitened pixels take other rates (MTT's
    whitened CIFAR-10 rows: ``lr_data`` 100, not 1,000), so such a run may diverge. None otherwise."""
    from mmdistill.expert_space import row_of

    if not getattr(cfg, "zca", False) or row_of(cfg, "zca").startswith("tables/"):
        return None  # no whitening, or a row that whitens: its rates are the whitened ones
    row = row_of(cfg, "lr_data")
    return (f"zca=true, but lr_data={cfg.lr_data:g} and the other matching rates come from {row}, a setting published for "
            "images that are not whitened (MTT's whitened CIFAR-10 rows take lr_data 100 where its un-whitened ones take "
            "1,000): if the run diverges or its pictures clip, lower lr_data (tables/mtt.yaml lists the whitened rows)")


def make_mtt_matcher(ctx: Any) -> Any:
    """:func:`~mmdistill.methods.trajectory.make_trajectory_matcher`, after :func:`unwhitened_rates_note`'s warning."""
    if note := unwhitened_rates_note(ctx.config):
        log.warning("%s", note)
    return make_trajectory_matcher(ctx)
