"""Graph condensation by gradient matching with a learned structure (GCond; Jin et al., ICLR 2022).

    python recipes/graph_gcond.py --dataset cora --data-root ~/planetoid --reduction-rate 0.026
    mmdistill run graph-gcond --dataset sbm --budget cpu
    from mmdistill.recipes import graph_gcond; graph_gcond.run(dataset="sbm", budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from mmdistill.recipe import Recipe
from mmdistill.recipes._graph import CPU_BUDGET, GCondConfig, make_gcond_matcher, make_graph_optimizer


@dataclass
class Config(GCondConfig):
    """GCond: X' and the adjacency generator (PGE), SGC matching network, GCN evaluation."""

    structure: str = "pge"


RECIPE = Recipe(
    name="graph-gcond",
    modality="graph",
    method="gcond",
    summary="Graph condensation by gradient matching with a generated adjacency (GCond)",
    paper="Jin et al., Graph Condensation for Graph Neural Networks, ICLR 2022",
    config_cls=Config,
    make_matcher=make_gcond_matcher,
    make_optimizer=make_graph_optimizer,  # type: ignore[arg-type]
    budgets={"cpu": CPU_BUDGET},
)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
