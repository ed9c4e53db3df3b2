"""GCond's evaluation protocol: train a fresh GNN on a (small) labelled graph, keep the weights with the
best validation accuracy, report test accuracy on the real graph.

Protocol (reference ``fit_with_val``): full-batch Adam, lr 0.01, weight decay 5e-4, 600 epochs, the
learning rate divided by 10 at half (a fresh Adam, as the reference restarts it); after every epoch the
network predicts the validation nodes (transductive: on the whole real graph; inductive: on the graph
induced by the validation nodes) and the weights of the best validation accuracy are kept; test accuracy
is then read on the test nodes (the whole graph, or the test-induced graph).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.seeding import draw_seed, seeded_global_rng
from mmdistill.task import ClassificationTask
from mmdistill.training import balanced_accuracy

from .data import Graph, NodeClassificationData


@dataclass(frozen=True)
class GraphTrainProtocol:
    """How a GNN is trained on an evaluated graph (GCond's defaults)."""

    epochs: int = 600
    lr: float = 0.01
    weight_decay: float = 5e-4
    lr_decay_at: float = 0.5

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"evaluation epochs must be >= 1, lr > 0 and weight decay >= 0, got {self}")


@dataclass
class LabelledGraph:
    """A training graph for evaluation: a graph, the nodes with a loss and their targets."""

    graph: Graph
    nodes: Tensor | None  # None: every node carries a label
    targets: Tensor

    def __post_init__(self) -> None:
        n = self.graph.num_nodes if self.nodes is None else self.nodes.numel()
        if self.targets.shape[0] != n:
            raise ConfigError(f"{self.targets.shape[0]} targets for {n} labelled nodes")


@torch.no_grad()
def accuracy(net: nn.Module, graph: Graph, nodes: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy of ``net`` on ``nodes`` of ``graph`` (eval mode)."""
    net.eval()
    out = net(graph)
    return ClassificationTask.correct(out[nodes], labels) / max(int(nodes.numel()), 1)


def train_with_validation(net: nn.Module, train: LabelledGraph, data: NodeClassificationData,
                          protocol: GraphTrainProtocol, gen: torch.Generator,
                          task: ClassificationTask = ClassificationTask()) -> float:
    """Train ``net`` on ``train`` under ``protocol``, load the weights of the best validation accuracy on
    ``data``, return that accuracy. Dropout draws from a generator seeded by ``gen``."""
    device = next(net.parameters()).device
    graph = train.graph.to(device)
    targets = train.targets.to(device)
    nodes = None if train.nodes is None else train.nodes.to(device)
    val_graph, val_nodes = data.view("val")
    val_labels = data.labels("val")
    decay = int(protocol.epochs * protocol.lr_decay_at)
    best_acc, best_state = -1.0, None
    with seeded_global_rng(draw_seed(gen), [device]):
        opt = torch.optim.Adam(net.parameters(), lr=protocol.lr, weight_decay=protocol.weight_decay)
        for epoch in range(protocol.epochs):
            if epoch == decay and epoch > 0:
                opt = torch.optim.Adam(net.parameters(), lr=protocol.lr * 0.1, weight_decay=protocol.weight_decay)
            net.train()
            out = net(graph)
            loss = task.loss(out if nodes is None else out[nodes], targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc = accuracy(net, val_graph, val_nodes, val_labels)
            if acc > best_acc:
                best_acc, best_state = acc, copy.deepcopy(net.state_dict())
    if best_state is not None:
        net.load_state_dict(best_state)
    return best_acc


@torch.no_grad()
def scores_on_test(net: nn.Module, data: NodeClassificationData, *, balanced: bool = False) -> dict[str, float]:
    """``{"accuracy"}`` on the real graph's test nodes (GCond: the whole graph, or the test-induced graph), and with ``balanced`` (an
    imbalanced test split) ``"balanced_accuracy"``, the mean of the per-class recalls
    (:func:`mmdistill.training.balanced_accuracy`)."""
    graph, nodes = data.view("test")
    labels = data.labels("test")
    net.eval()
    out = net(graph)[nodes]
    scores = {"accuracy": ClassificationTask.correct(out, labels) / max(int(nodes.numel()), 1)}
    if balanced:
        scores["balanced_accuracy"] = balanced_accuracy(out.argmax(dim=-1), labels)
    return scores


__all__ = ["GraphTrainProtocol", "LabelledGraph", "accuracy", "scores_on_test", "train_with_validation"]
