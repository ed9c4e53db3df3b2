"""Shared config, matcher and optimizer of the GCond recipes (graph_gcond, graph_gcond_x).

GCond's defaults (Jin et al., ICLR 2022; reference ChandlerBang/GCond, ``scripts/run_main.sh`` and
``get_loops``), by dataset — a key left at ``None`` takes the row of its dataset:

=============  ========  ========  ==========  =====  =====
dataset        lr_feat   lr_adj    iterations  outer  inner
=============  ========  ========  ==========  =====  =====
cora           1e-4      1e-4      600         20     15
citeseer       1e-4      1e-4      600         20     15
ogbn-arxiv     0.01      0.01      1000        20     3
flickr         0.005     0.005     1000        10     1
reddit         0.1       0.1       1000        10     1
other graphs   0.01      0.01      2000        20     10
=============  ========  ========  ==========  =====  =====

(PubMed has no command in the reference scripts and takes the code's defaults, the last row.) The rest is
shared: SGC matching network (K = 2, no dropout, re-drawn every iteration, trained by Adam lr 0.01 in the
inner loop), the layer-wise gradient distance ("ours"), up to 256 real training nodes per class, Adam on
X' (``lr_feat``) and on the generator (``lr_adj``), the generator updated on the first 10 of every 50
iterations and the features on the other 40, features initialised from real training nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmdistill.errors import ConfigError
from mmdistill.modalities.graph.config import GraphDistillConfig, dataset_key
from mmdistill.modalities.graph.matching import GCondMatcher, gcond_matcher
from mmdistill.modalities.graph.nets import reinitialize_graph_net
from mmdistill.modalities.graph.pge import PREFIX
from mmdistill.context import MatchContext
from mmdistill.recipe import Recipe
from mmdistill.synthetic import SyntheticSet

GCOND_DEFAULTS: dict[str, dict[str, float | int]] = {
    "cora": {"lr_feat": 1e-4, "lr_adj": 1e-4, "iterations": 600, "outer_loop": 20, "inner_loop": 15},
    "citeseer": {"lr_feat": 1e-4, "lr_adj": 1e-4, "iterations": 600, "outer_loop": 20, "inner_loop": 15},
    "ogbn-arxiv": {"lr_feat": 0.01, "lr_adj": 0.01, "iterations": 1000, "outer_loop": 20, "inner_loop": 3},
    "flickr": {"lr_feat": 0.005, "lr_adj": 0.005, "iterations": 1000, "outer_loop": 10, "inner_loop": 1},
    "reddit": {"lr_feat": 0.1, "lr_adj": 0.1, "iterations": 1000, "outer_loop": 10, "inner_loop": 1},
}
GENERIC_DEFAULTS: dict[str, float | int] = {"lr_feat": 0.01, "lr_adj": 0.01, "iterations": 2000, "outer_loop": 20, "inner_loop": 10}


@dataclass
class GCondConfig(GraphDistillConfig):
    """GCond's keys on top of the graph adapter's (see the module table for the per-dataset defaults).

    ``lr_feat`` / ``lr_adj``: Adam learning rates of X' and of the adjacency generator. ``lr_model``: Adam
    learning rate of the matching network's inner training. ``outer_loop``: synthetic updates per
    iteration; ``inner_loop``: network steps between them. ``structure_period`` / ``structure_steps``:
    the generator is updated when ``iteration % period < steps``, the features otherwise.
    """

    iterations: int | None = None  # type: ignore[assignment]
    lr_feat: float | None = None
    lr_adj: float | None = None
    lr_model: float = 0.01
    outer_loop: int | None = None
    inner_loop: int | None = None
    structure_period: int = 50
    structure_steps: int = 10
    dis_metric: str = "ours"
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        table = GCOND_DEFAULTS.get(dataset_key(self.dataset), GENERIC_DEFAULTS)
        for key, value in table.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        super().__post_init__()
        if self.lr_feat <= 0 or self.lr_adj < 0 or self.lr_model <= 0:  # type: ignore[operator]
            raise ConfigError(f"lr_feat and lr_model must be > 0 and lr_adj >= 0, got {self.lr_feat}, {self.lr_adj}, {self.lr_model}")
        if self.outer_loop < 1 or self.inner_loop < 0:  # type: ignore[operator]
            raise ConfigError(f"outer_loop must be >= 1 and inner_loop >= 0, got {self.outer_loop}, {self.inner_loop}")
        if self.structure_period < 1 or not 0 <= self.structure_steps <= self.structure_period:
            raise ConfigError("structure_steps must lie in 0..structure_period (GCond: 10 of 50)")
        if self.dis_metric not in ("ours", "mse", "cos"):
            raise ConfigError(f"dis_metric must be 'ours', 'mse' or 'cos', got {self.dis_metric!r}")


def make_gcond_matcher(ctx: MatchContext) -> GCondMatcher:
    cfg: GCondConfig = ctx.config
    assert ctx.syn is not None
    return gcond_matcher(
        ctx.net, reinitialize_graph_net, ctx.data, ctx.syn, outer_loop=cfg.outer_loop, inner_loop=cfg.inner_loop,  # type: ignore[arg-type]
        lr_model=cfg.lr_model, batch_real=cfg.batch_real, dis_metric=cfg.dis_metric, period=cfg.structure_period,
        structure_steps=cfg.structure_steps, task=ctx.task,
    )


def make_graph_optimizer(syn: SyntheticSet, cfg: GCondConfig) -> torch.optim.Optimizer:
    """Adam on X' (``lr_feat``) and, in a second group, on the generator's weights (``lr_adj``)."""
    groups = [{"params": [syn.data["x"]], "lr": cfg.lr_feat}]
    pge = [v for k, v in syn.data.items() if k.startswith(PREFIX)]
    if pge:
        groups.append({"params": pge, "lr": cfg.lr_adj})
    return torch.optim.Adam(groups)


#: a CPU-sized GCond run: a third of the paper's iterations on Cora with the paper's loops, 5 evaluation
#: networks (see docs/results.md for what it reaches)
CPU_BUDGET = {"iterations": 200, "eval_runs": 5, "checkpoint_every": 25}


def gcond_recipe(name: str, method: str, summary: str, paper: str, config_cls: type[GCondConfig]) -> Recipe:
    """A GCond-family recipe: GCond's matcher and optimizer, the CPU budget."""
    return Recipe(name=name, modality="graph", method=method, summary=summary, paper=paper, config_cls=config_cls,
                  make_matcher=make_gcond_matcher, make_optimizer=make_graph_optimizer,  # type: ignore[arg-type]
                  budgets={"cpu": CPU_BUDGET})
