"""The real data of node classification: one graph, its labels and its split, checked on construction.

A :class:`Graph` is what the networks eat: node features, an edge list and optional edge weights. A
:class:`NodeClassificationData` is a graph with labels and train/val/test nodes in one of GCond's two
settings:

- **transductive** (Cora, CiteSeer, PubMed, ogbn-arxiv): the whole graph is visible while training; the
  loss uses the training nodes, validation and test nodes are read off the same graph.
- **inductive** (Flickr, Reddit): training sees only the subgraph induced by the training nodes; validation
  and test run on the subgraphs induced by the validation and test nodes.

This module holds :class:`NodeClassificationData`; the graph, the checks and the label convention live in their own
modules (:mod:`.graph_tensors`, :mod:`.edge_checks`, :mod:`.node_labels`, :mod:`.node_split`, :mod:`.node_names`), and
their public names are importable from here as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mmdistill.data import check_class_list, clean_class_names
from mmdistill.errors import ConfigError
from mmdistill.words import quantity

from .edge_checks import EDGE_KINDS, check_edge_weights, check_edges
from .graph_tensors import Graph
from .node_labels import UNLABELLED, check_labels
from .node_names import NodeName, node_namer
from .node_split import check_split

SETTINGS = ("transductive", "inductive")


@dataclass
class NodeClassificationData:
    """A labelled graph with its split, in GCond's transductive or inductive setting.

    Attributes:
        name: dataset name.
        graph: the whole graph (features may be normalised already).
        y: (N,) int64 labels in 0..C-1.
        train_idx, val_idx, test_idx: node indices into ``graph``.
        setting: ``"transductive"`` or ``"inductive"``.
        classes: class names (C of them).
        meta: JSON facts (source, feature normalisation ...).
    """

    name: str
    graph: Graph
    y: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    setting: str = "transductive"
    classes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ConfigError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
        if not self.classes:
            self.classes = [str(c) for c in range(int(self.y.max()) + 1 if self.y.numel() else 0)]
        check_class_list(f"graph {self.name!r}", self.classes)
        self.classes = clean_class_names(f"graph {self.name!r}", self.classes)
        self._views: dict[str, tuple[Graph, Tensor]] = {}

    # ------------------------------------------------------------------ sizes
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return int(self.graph.x.shape[1])

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    @property
    def visible_nodes(self) -> int:
        """Nodes of the graph seen while condensing: the whole graph (transductive) or the training
        subgraph (inductive). GCond's reduction rate is relative to this number."""
        return self.num_nodes if self.setting == "transductive" else int(self.train_idx.numel())

    def train_class_counts(self) -> list[int]:
        return torch.bincount(self.y[self.train_idx].cpu(), minlength=self.num_classes).tolist()

    # ------------------------------------------------------------------ views
    def view(self, split: str) -> tuple[Graph, Tensor]:
        """``(graph, nodes)`` of ``split`` ("train", "val", "test"): the graph a network runs on and the
        nodes (indices into that graph) whose predictions count. Transductive: the whole graph; inductive:
        the subgraph induced by the split's nodes (then ``nodes`` is 0..K-1)."""
        if split not in ("train", "val", "test"):
            raise ConfigError(f"split must be train, val or test, got {split!r}")
        if split not in self._views:
            idx = {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx}[split]
            if self.setting == "transductive":
                self._views[split] = (self.graph, idx)
            else:
                self._views[split] = (self.graph.subgraph(idx), torch.arange(idx.numel(), device=idx.device))
        return self._views[split]

    def labels(self, split: str) -> Tensor:
        """Labels of the nodes of :meth:`view` ``(split)``, in the same order."""
        idx = {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx}[split]
        return self.y[idx]

    def train_nodes_by_class(self) -> list[Tensor]:
        """For each class, its training nodes as indices into ``view("train")[0]``."""
        _, nodes = self.view("train")
        y = self.labels("train")
        return [nodes[y == c] for c in range(self.num_classes)]

    def to(self, device: torch.device | str) -> "NodeClassificationData":
        out = NodeClassificationData(
            self.name, self.graph.to(device), self.y.to(device), self.train_idx.to(device), self.val_idx.to(device),
            self.test_idx.to(device), self.setting, list(self.classes), dict(self.meta),
        )
        return out

    def describe(self) -> str:
        und = self.graph.num_undirected_edges
        weighted = " (weighted)" if self.graph.edge_weight is not None else ""
        none = int((self.y == UNLABELLED).sum())
        unlabelled = f", {quantity(none, 'node')} without a label (in no split)" if none else ""
        return (f"{self.name} ({self.setting}): {self.num_nodes} nodes, {und} undirected edges{weighted}, "
                f"{self.num_features} features, {self.num_classes} classes; {self.train_idx.numel()}/{self.val_idx.numel()}/"
                f"{self.test_idx.numel()} train/val/test nodes{unlabelled}")


__all__ = ["EDGE_KINDS", "Graph", "NodeClassificationData", "NodeName", "SETTINGS", "UNLABELLED", "check_edge_weights", "check_edges", "check_labels",
           "check_split", "node_namer"]
