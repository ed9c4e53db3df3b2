"""Graph condensation by gradient matching with a learned structure (GCond; Jin et al., ICLR 2022).

    python recipes/graph_gcond.py --dataset cora --data-root ~/planetoid --reduction-rate 0.026
    mmdistill run graph-gcond --dataset sbm --budget cpu
    from mmdistill.recipes import graph_gcond; graph_gcond.run(dataset="sbm", budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.recipes._graph import GCondConfig, gcond_recipe


@dataclass
class Config(GCondConfig):
    """GCond: X' and the adjacency generator (PGE), SGC matching network, GCN evaluation."""

    structure: Literal["pge", "identity"] = "pge"


RECIPE = gcond_recipe("graph-gcond", "gcond", "Graph condensation by gradient matching with a generated adjacency (GCond)",
                      "Jin et al., Graph Condensation for Graph Neural Networks, ICLR 2022", Config)
run = RECIPE.run
main = RECIPE.main
