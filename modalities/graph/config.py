"""Configuration keys of the graph adapter, shared by every graph recipe.

Keys left at ``None`` / ``"auto"`` take GCond's value for the dataset when the config is built (the
resolved value is what the manifest records):

===================  ============================================================================
``setting``          inductive for Flickr and Reddit, transductive otherwise
``adj_threshold``    0.05 for Cora and CiteSeer, 0.01 otherwise (GCond's evaluation sparsification)
``pge_hidden``       256 for ogbn-arxiv, Flickr and Reddit, 128 otherwise
``eval_dropout``     0.5 in the transductive setting (GCond's ``test_with_val``), 0 in the inductive
                     one, 0.5 on Reddit
===================  ============================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig

from .datasets import default_setting
from .nets import registry_name

STRUCTURES = ("pge", "identity")


def dataset_key(name: str) -> str:
    return name.lower()


@dataclass
class GraphDistillConfig(DistillConfig):
    """``DistillConfig`` plus the graph loader, budget, parameterization and evaluation keys.

    Data: ``dataset`` (see :mod:`modalities.graph.datasets`), ``data_root``, ``setting``
    (auto/transductive/inductive), ``split`` (``masks``: the data's own; ``random``: a seeded stratified
    10/10/80 % split), ``normalize_features`` (auto/row/standard/none), ``symmetrize`` (add reverse edges).

    Budget (first given wins): ``reduction_rate`` (synthetic / visible nodes, GCond's paper definition:
    Cora 0.013 / 0.026 / 0.052 -> 35 / 70 / 140 nodes), ``label_rate`` (synthetic / training nodes, the
    reference code's ``--reduction_rate``), ``ipc`` (synthetic nodes per class).

    Parameterization: ``structure`` (``pge``: GCond's adjacency generator of ``pge_layers`` layers and
    ``pge_hidden`` units; ``identity``: A' = I, GCond-X), ``init`` (``real``: features of random training
    nodes of the class, as GCond; ``noise``: N(0, 1)), ``adj_threshold`` (evaluation sparsification).

    Evaluation: ``eval_network`` (GCN) trained ``eval_runs`` times for ``eval_epochs`` with Adam
    (``eval_lr``, ``eval_weight_decay``, ``eval_dropout``, ``hidden`` units), best validation accuracy
    kept; ``cross_arch`` evaluates SGC, GCN, GraphSAGE, APPNP, Cheby and MLP; ``whole_graph`` adds the
    whole real graph's score; ``baselines`` the random-node and herding coresets.
    """

    dataset: str = "sbm"
    setting: str = "auto"
    split: str = "masks"
    normalize_features: str = "auto"
    symmetrize: bool = False
    reduction_rate: float | None = None
    label_rate: float | None = None
    structure: str = "pge"
    pge_hidden: int | None = None
    pge_layers: int = 3
    adj_threshold: float | None = None
    network: str = "sgc"
    hidden: int = 256
    batch_real: int = 256
    eval_network: str = "gcn"
    eval_epochs: int = 600
    eval_runs: int = 10
    eval_lr: float = 0.01
    eval_weight_decay: float = 5e-4
    eval_dropout: float | None = None
    whole_graph: bool = True

    def __post_init__(self) -> None:
        key = dataset_key(self.dataset)
        if self.setting == "auto":
            self.setting = default_setting(key)
        if self.setting not in ("transductive", "inductive"):
            raise ConfigError(f"setting must be auto, transductive or inductive, got {self.setting!r}")
        if self.structure not in STRUCTURES:
            raise ConfigError(f"structure must be one of {STRUCTURES} (pge: GCond; identity: A' = I, GCond-X), got {self.structure!r}")
        if self.adj_threshold is None:
            self.adj_threshold = 0.05 if key in ("cora", "citeseer") else 0.01
        if self.pge_hidden is None:
            self.pge_hidden = 256 if key in ("ogbn-arxiv", "flickr", "reddit") else 128
        if self.eval_dropout is None:
            self.eval_dropout = 0.5 if (self.setting == "transductive" or key == "reddit") else 0.0
        for name in (self.network, self.eval_network, *self.eval_networks):
            registry_name(name)  # ConfigError for an unknown graph network
        if not 0.0 <= self.adj_threshold < 1.0:
            raise ConfigError(f"adj_threshold must lie in [0, 1), got {self.adj_threshold}")
        if not 0.0 <= self.eval_dropout < 1.0:
            raise ConfigError(f"eval_dropout must lie in [0, 1), got {self.eval_dropout}")
        if self.hidden < 1 or self.pge_hidden < 1:
            raise ConfigError("hidden and pge_hidden must be >= 1")
        if self.split not in ("masks", "random"):
            raise ConfigError(f"split must be 'masks' or 'random', got {self.split!r}")
        if self.reduction_rate is not None and not 0 < self.reduction_rate <= 1:
            raise ConfigError(f"reduction_rate is a fraction in (0, 1] of the graph's nodes (Cora 2.6 % is 0.026), got {self.reduction_rate}")
        if self.label_rate is not None and self.label_rate <= 0:
            raise ConfigError(f"label_rate must be > 0, got {self.label_rate}")
        super().__post_init__()

    def budget_tag(self) -> str:
        if self.reduction_rate is not None:
            return f"r{self.reduction_rate:g}"
        if self.label_rate is not None:
            return f"lr{self.label_rate:g}"
        return f"ipc{self.ipc}"

    def out_dir(self, recipe: str) -> Path:
        if self.out:
            return Path(self.out)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.dataset)
        return Path("runs") / f"{recipe}-{safe}-{self.budget_tag()}-seed{self.seed}"


__all__ = ["GraphDistillConfig", "STRUCTURES"]
