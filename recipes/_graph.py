"""Shared config, matcher and optimizer of the GCond recipes (graph_gcond, graph_gcond_x).

GCond's defaults (Jin et al., ICLR 2022; reference ChandlerBang/GCond) by dataset are rows of
``tables/gcond.yaml`` (``lr_feat``, ``lr_adj``, ``iterations``, ``outer_loop``, ``inner_loop``: Cora and
CiteSeer 1e-4, 1e-4, 600, 20, 15; ogbn-arxiv 0.01, 0.01, 1000, 20, 3; Flickr 0.005, 0.005, 1000, 10, 1;
Reddit 0.1, 0.1, 1000, 10, 1; other graphs 0.01, 0.01, 2000, 20, 10, or with ``setting=inductive`` the reference's
inductive script's 0.01, 0.01, 600, 20, 5) and of the graph tables every graph
recipe shares (``tables/graph.yaml``, ``tables/graph_eval_dropout.yaml``). The rest is shared: SGC matching
network (K = 2, no dropout, re-drawn every iteration, trained by Adam lr 0.01 in the inner loop; on ogbn-arxiv
and Flickr ``sgc-multi``, a 2-layer MLP then K = 2, as the reference's commands: a row of ``gcond.yaml``), the
layer-wise gradient distance ("ours"), up to 256 real training nodes per class, Adam on X' (``lr_feat``) and
on the generator (``lr_adj``), the generator updated on the first 10 of every 50 iterations and the features
on the other 40, features initialised from real training nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch

from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.methods.gradient import GradientKeys
from mmdistill.modalities.graph.config import GraphDistillConfig
from mmdistill.modalities.graph.matching import GCondMatcher, gcond_matcher
from mmdistill.modalities.graph.nets import reinitialize_graph_net
from mmdistill.modalities.graph.pge import PREFIX
from mmdistill.optim import RATE_KEY
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.synthetic import SyntheticSet

#: the tables every graph recipe looks its defaults up in (after its method's own)
GRAPH_TABLES = ("graph", "graph_eval_dropout")


@dataclass
class GCondConfig(GradientKeys, GraphDistillConfig):
    """GCond: the matching network's inner training and the alternation of structure and features.

    GCond's keys on top of the graph adapter's (per-dataset defaults: ``tables/gcond.yaml``).

    ``lr_model``: Adam learning rate of the matching network's inner training. ``outer_loop``: synthetic
    updates per iteration; ``inner_loop``: network steps between them. ``structure_period`` /
    ``structure_steps``: the generator is updated when ``iteration % period < steps``, the features otherwise.
    """

    lr_model: float = key(0.01, help="Adam learning rate of the matching network's inner training", unit="step size", range="(0, inf)")
    structure_period: int = key(50, help="period of GCond's alternation between generator and feature updates", unit="iterations",
                                range="[1, inf)")
    structure_steps: int = key(10, help="iterations of each period that update the adjacency generator (the rest update X')",
                               unit="iterations", range="[0, inf)")
    iterations: int = 2000
    outer_loop: int = 20
    inner_loop: int = 10
    checkpoint_every: int = 50

    def check(self) -> None:
        super().check()
        if self.structure_steps > self.structure_period:
            raise ConfigError(f"structure_steps ({self.structure_steps}) must lie in 0..structure_period ({self.structure_period}); "
                              "GCond: 10 of 50", key="structure_steps")


def make_gcond_matcher(ctx: MatchContext) -> GCondMatcher:
    cfg: GCondConfig = ctx.config
    assert ctx.syn is not None
    return gcond_matcher(
        ctx.net, reinitialize_graph_net, ctx.data, ctx.syn, outer_loop=cfg.outer_loop, inner_loop=cfg.inner_loop,
        lr_model=cfg.lr_model, batch_real=cfg.batch_real, dis_metric=cfg.dis_metric, period=cfg.structure_period,
        structure_steps=cfg.structure_steps, task=ctx.task,
    )


def make_graph_optimizer(syn: SyntheticSet, cfg: GraphDistillConfig) -> torch.optim.Optimizer:
    """Adam on X' (``lr_feat``) and, in a second group, on the generator's weights (``lr_adj``); every graph recipe's
    (GCond's and graph-dm's)."""
    groups = [{"params": [syn.data["x"]], "lr": cfg.lr_feat, RATE_KEY: "lr_feat"}]
    pge = [v for k, v in syn.data.items() if k.startswith(PREFIX)]
    if pge:
        groups.append({"params": pge, "lr": cfg.lr_adj, RATE_KEY: "lr_adj"})
    return torch.optim.Adam(groups)


_C = TypeVar("_C", bound=GCondConfig)


def gcond_recipe(name: str, method: str, summary: str, paper: str, config_cls: type[_C]) -> Recipe[_C]:
    """A GCond-family recipe: GCond's matcher and optimizer, GCond's and the graph tables."""
    return Recipe(name=name, modality="graph", method=method, summary=summary, paper=paper, config_cls=config_cls,
                  make_matcher=make_gcond_matcher, make_optimizer=make_graph_optimizer,
                  tables=tables("gcond", *GRAPH_TABLES))
