"""Configuration keys of the graph adapter, shared by every graph recipe.

A graph config has the run, synthetic-set and evaluation keys of the core, the graph's evaluation networks,
the real batch of the matchers, and the graph keys below — no image keys (augmentation, labels, evaluation
minibatches). GCond's per-dataset values (the ``setting``, ``adj_threshold``, ``pge_hidden`` and
``eval_dropout`` of the reference's scripts) are rows of ``tables/graph.yaml`` and
``tables/graph_eval_dropout.yaml``; the class defaults are those of a generated or other graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from mmdistill.keys import key
from mmdistill.schema import ConfigKeys, DistillConfig, NetworkEvalKeys, RealBatchKeys

from .nets import registry_name

STRUCTURES = ("pge", "identity")


def dataset_key(name: str) -> str:
    """``name`` as a lookup key: lower-cased (not stripped, no alias resolved)."""
    return name.lower()


@dataclass
class GraphKeys(ConfigKeys):
    """Graphs: loading, budget, the synthetic graph's parameterization and optimizer, GCond's evaluation."""

    setting: Literal["transductive", "inductive"] = key(
        "transductive", help="transductive (training sees the whole graph) or inductive (only the training subgraph)")
    split: Literal["masks", "random"] = key("masks", help="masks: the data's own split; random: a stratified 10/10/80 % split drawn "
                                            "with split_seed")
    split_seed: int = key(0, help="seed of split=random's draw, a property of the data: the same for every --seed, so sets of "
                          "several seeds are scored on one test split (a set saved before this key was drawn at its seed, and "
                          "keeps that split)", range="[0, inf)")
    normalize_features: Literal["auto", "row", "standard", "none"] = key(
        "auto", help="node features: row-normalised, standardised on the training nodes, or as stored; auto: GCond's per dataset")
    symmetrize: bool = key(False, help="add the reverse of every edge (for data with one-directional edges)")
    reduction_rate: float | None = key(None, help="synthetic nodes / nodes seen in training (GCond's budget; Cora 0.026 = 70 nodes)",
                                       range="(0, 1]")
    label_rate: float | None = key(None, help="synthetic nodes / training nodes (the reference code's --reduction_rate)", range="(0, inf)")
    structure: Literal["pge", "identity"] = key("pge", help="pge: GCond's generated adjacency; identity: A' = I (GCond-X)")
    pge_hidden: int = key(128, help="hidden units of the adjacency generator", unit="units", range="[1, inf)")
    pge_layers: int = key(3, help="layers of the adjacency generator", unit="layers", range="[1, inf)")
    lr_feat: float = key(0.01, help="Adam learning rate of the synthetic features X'", unit="step size", range="(0, inf)")
    lr_adj: float = key(0.01, help="Adam learning rate of the adjacency generator (0: frozen)", unit="step size", range="[0, inf)")
    hidden: int = key(256, help="hidden units of the matching and evaluation networks", unit="units", range="[1, inf)")
    adj_threshold: float = key(0.01, help="edges of the synthetic graph below this weight are dropped for evaluation", range="[0, 1)",
                               resume=False)
    eval_network: str = key("gcn", help="the evaluation network (graph registry name)", resume=False)
    eval_weight_decay: float = key(5e-4, help="Adam weight decay of the evaluation networks", range="[0, inf)", resume=False)
    eval_dropout: float = key(0.5, help="dropout of the evaluation networks", range="[0, 1)", resume=False)
    whole_graph: bool = key(True, help="also evaluate the whole real graph", resume=False)


@dataclass
class GraphDistillConfig(GraphKeys, NetworkEvalKeys, RealBatchKeys, DistillConfig):
    """The keys of a graph recipe.

    Budget, one of: ``reduction_rate`` (synthetic / visible nodes, GCond's paper definition: Cora 0.013 / 0.026 /
    0.052 -> 35 / 70 / 140 nodes), ``label_rate`` (synthetic / training nodes, the reference code's
    ``--reduction_rate``), ``ipc`` (synthetic nodes per class); two are a ConfigError naming both
    (:func:`.budget.check_budget_keys`, when the graph is loaded).

    Evaluation: ``eval_network`` (GCN) trained ``eval_runs`` times for ``eval_epochs`` with Adam
    (``eval_lr``, ``eval_weight_decay``, ``eval_dropout``, ``hidden`` units), best validation accuracy
    kept; ``cross_arch`` evaluates SGC, GCN, GraphSAGE, APPNP, Cheby and MLP; ``whole_graph`` adds the
    whole real graph's score; ``baselines`` the random-node and herding coresets.
    """

    REPLACED_KEYS: ClassVar[dict[str, str]] = {
        "lr_data": "lr_feat (the synthetic features) and lr_adj (the adjacency generator)",
        "momentum_data": "lr_feat / lr_adj (the synthetic graph is optimised by Adam)",
    }

    dataset: str = "sbm"
    network: str = "sgc"
    eval_epochs: int = 600
    eval_runs: int = 10

    def check(self) -> None:
        super().check()
        for name in (self.network, self.eval_network, *self.eval_networks):
            registry_name(name)  # ConfigError for an unknown graph network

    def budget_tag(self) -> str:
        if self.reduction_rate is not None:
            return f"r{self.reduction_rate:g}"
        if self.label_rate is not None:
            return f"lr{self.label_rate:g}"
        return f"ipc{self.ipc}"

    def out_dir(self, recipe: str) -> Path:
        if self.out:
            return Path(self.out).expanduser()
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.dataset)
        return Path("runs") / f"{recipe}-{safe}-{self.budget_tag()}-seed{self.seed}"


__all__ = ["GraphDistillConfig", "GraphKeys", "STRUCTURES", "dataset_key"]
