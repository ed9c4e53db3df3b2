"""Evaluation of a condensed graph next to GCond's baselines of the same size.

Every evaluated set is a small labelled graph on which ``eval_runs`` fresh networks are trained with
:func:`~modalities.graph.train.train_with_validation` and tested on the real graph's test nodes:

- ``distilled``: (X', A' sparsified at the threshold, Y').
- ``random_real``: the same number of training nodes per class drawn at random (a new draw per run), as
  the subgraph they induce in the real graph (GCond's coreset baselines).
- ``herding``: the training nodes per class picked by herding on the class probabilities of a GCN trained
  on the whole graph (GCond's ``train_coreset.py``), as their induced subgraph.
- ``whole_graph``: the whole real training graph (transductive: every node, loss on the training nodes).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import Tensor

from mmdistill.baselines import herding_select
from mmdistill.scored_on import imbalance_heading, imbalanced_split
from mmdistill.classification import majority_share, scored_classes
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan, TrainAndScore
from mmdistill.schema import chosen_networks
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import id_list, quantity

from .budget import resolve_budget
from .data import NodeClassificationData
from .matching import synthetic_graph
from .nets import CROSS_ARCH, build_graph_network, registry_name, reinitialize_graph_net
from .train import GraphTrainProtocol, LabelledGraph, scores_on_test, train_with_validation

log = logging.getLogger(__name__)

NetFactory = Callable[[torch.Generator], torch.nn.Module]


def network_factory(name: str, data: NodeClassificationData, device: torch.device, *, hidden: int,
                    dropout: float) -> NetFactory:
    """``make_net(generator)``: a fresh ``name`` network on ``device`` with weights drawn from ``generator``."""

    def make_net(gen: torch.Generator) -> torch.nn.Module:
        net = build_graph_network(name, data.num_features, data.num_classes, hidden=hidden, dropout=dropout).to(device)
        reinitialize_graph_net(net, gen)
        return net

    return make_net


def trainer(make_net: NetFactory, data: NodeClassificationData, protocol: GraphTrainProtocol, *,
            balanced: bool = False) -> TrainAndScore:
    """``train_and_score(labelled_graph, gen) -> {"accuracy"}``: a fresh network trained on the graph with
    GCond's protocol (best validation epoch kept), tested on the real graph's test nodes; with ``balanced`` (an
    imbalanced test split) also ``"balanced_accuracy"``."""

    def train_and_score(train: LabelledGraph, gen: torch.Generator) -> dict[str, float]:
        net = make_net(gen)
        train_with_validation(net, train, data, protocol, gen)
        return scores_on_test(net, data, balanced=balanced)

    return train_and_score


# ---------------------------------------------------------------------------------------------- sets
def condensed_training_graph(syn: SyntheticSet, threshold: float | None) -> LabelledGraph:
    """(X', A', Y') as a training graph, the adjacency sparsified at ``threshold``."""
    with torch.no_grad():
        g = synthetic_graph(syn, threshold=threshold)
    return LabelledGraph(g, None, syn.labels)


def coreset_graph(data: NodeClassificationData, nodes: Tensor) -> LabelledGraph:
    """The subgraph of the real training graph induced by ``nodes``, every node labelled."""
    graph, _ = data.view("train")
    y = data.y if data.setting == "transductive" else data.labels("train")
    return LabelledGraph(graph.subgraph(nodes), None, y[nodes.to(y.device)])


def whole_training_graph(data: NodeClassificationData) -> LabelledGraph:
    """The whole real training graph as a training set: ``data.view("train")`` with its training nodes and their
    labels (transductive: the full graph, the loss on the training nodes; inductive: the training subgraph)."""
    graph, nodes = data.view("train")
    return LabelledGraph(graph, nodes, data.labels("train"))


def random_nodes(data: NodeClassificationData, per_class: list[int], gen: torch.Generator) -> Tensor:
    """``per_class[c]`` random training nodes of each class c (indices into the training graph)."""
    picks = []
    for c, nodes in enumerate(data.train_nodes_by_class()):
        picks.append(nodes[torch.randperm(nodes.numel(), generator=gen)[: per_class[c]].to(nodes.device)])
    return torch.cat(picks)


def herding_nodes(data: NodeClassificationData, per_class: list[int], make_net: NetFactory,
                  protocol: GraphTrainProtocol, seed: int) -> Tensor:
    """Herding per class on the log-probabilities of a network trained on the whole graph (GCond)."""
    gen = generator(seed, "herding")
    net = make_net(gen)
    train_with_validation(net, whole_training_graph(data), data, protocol, gen)
    net.eval()
    graph, _ = data.view("train")
    with torch.no_grad():
        feats = torch.log_softmax(net(graph), dim=-1).float().cpu()
    picks = []
    for c, nodes in enumerate(data.train_nodes_by_class()):
        chosen = herding_select(feats[nodes.cpu()], per_class[c])
        picks.append(nodes[chosen.to(nodes.device)])
    return torch.cat(picks)


def baseline_note(data: NodeClassificationData, per_class: list[int]) -> tuple[int, str] | None:
    """None when every class has as many training nodes as ``per_class`` (the synthetic nodes per class) asks of the
    coresets; else (the coresets' node count, the phrase saying they are smaller and why), logged as a warning: a
    condensed graph initialised from noise (``init=noise``) may give a class more nodes than it has training nodes, and
    :func:`random_nodes` and herding then take every one of them (walk 51A: 5 real nodes beside 6 synthetic ones)."""
    counts = data.train_class_counts()
    short = [(c, n, k) for c, (n, k) in enumerate(zip(counts, per_class)) if n < k]
    if not short:
        return None
    nodes, want = sum(min(n, k) for n, k in zip(counts, per_class)), sum(per_class)
    why = id_list((f"{data.classes[c]!r} ({quantity(n, 'training node')} for {k} synthetic)" for c, n, k in short), 5)
    said = f"{nodes} real nodes, fewer than the condensed graph's {want}: class(es) {why} hold fewer training nodes than the condensed graph gives them"
    log.warning("the random-real and herding baselines hold %s", said)
    return nodes, said


# ---------------------------------------------------------------------------------------------- all
def graph_plan(cfg: Any, syn: SyntheticSet | None, data: NodeClassificationData, device: torch.device) -> EvaluationPlan:
    """The evaluation of ``syn`` (None: the baselines alone, at the config's budget) on each evaluation network
    next to the coresets of the same size and the whole graph, in the order distilled, random_real, herding,
    whole_graph (the GNNs' dropout draws from the global generator, so the order is part of the result)."""
    # the evaluation network first: the headline of a --cross-arch evaluation is the network of a plain one (it was SGC)
    networks = chosen_networks(cfg, [cfg.eval_network, *(n for n in CROSS_ARCH if n != cfg.eval_network)]) or [cfg.eval_network]
    networks = [n if registry_name(n) != "graph-mlp" else "mlp" for n in networks]
    protocol = GraphTrainProtocol(epochs=cfg.eval_epochs, lr=cfg.eval_lr, weight_decay=cfg.eval_weight_decay)
    data = data.to(device)
    if syn is not None:
        syn = syn.detached().to(device)
        per_class = torch.bincount(syn.labels.cpu(), minlength=syn.num_classes).tolist()
    else:
        per_class = list(resolve_budget(data.train_class_counts(), data.visible_nodes, reduction_rate=cfg.reduction_rate,
                                        label_rate=cfg.label_rate, nodes_per_class=cfg.ipc).per_class)
    share = majority_share(data.labels("test"))  # what answering the most common class alone scores
    balanced = imbalanced_split(share, data.num_classes)  # then balanced accuracy is scored beside plain accuracy
    baselines = baseline_note(data, per_class) if {"random_real", "herding"} & set(cfg.baselines) else None
    factory = lambda name: network_factory(name, data, device, hidden=cfg.hidden, dropout=cfg.eval_dropout)  # noqa: E731
    herd = herding_nodes(data, per_class, factory("gcn"), protocol, cfg.seed) if "herding" in cfg.baselines else None
    condensed = condensed_training_graph(syn, cfg.adj_threshold) if syn is not None else None
    plans = []
    for name in networks:
        sets: dict[str, EvalSet] = {}
        if condensed is not None:
            sets["distilled"] = EvalSet(condensed)
        if "random_real" in cfg.baselines:
            sets["random_real"] = EvalSet(lambda r: coreset_graph(data, random_nodes(data, per_class, generator(cfg.seed, "random_real", r))),
                                          per_run=True)
        if herd is not None:
            sets["herding"] = EvalSet(coreset_graph(data, herd))
        if cfg.whole_graph:
            sets["whole_graph"] = EvalSet(whole_training_graph(data))
        plans.append(NetworkPlan(name, trainer(factory(name), data, protocol, balanced=balanced), sets))
    extra: dict[str, Any] = {}
    if condensed is not None:
        extra["synthetic"] = {"nodes": int(sum(per_class)), "per_class": per_class, "edges": condensed.graph.num_undirected_edges,
                              "adj_threshold": cfg.adj_threshold}
    return EvaluationPlan(
        metric="accuracy", networks=plans, runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress,
        title=f"test accuracy, {quantity(cfg.eval_runs, 'run')} each, {sum(per_class)} synthetic nodes"
              + imbalance_heading(share, data.num_classes),
        protocol={"epochs": protocol.epochs, "lr": protocol.lr, "weight_decay": protocol.weight_decay,
                  "lr_decay_at": protocol.lr_decay_at, "optimizer": "adam", "dropout": cfg.eval_dropout,
                  "hidden": cfg.hidden, "runs": cfg.eval_runs, "selection": "best validation accuracy",
                  "test_nodes": int(data.test_idx.numel()), "majority_share": share,
                  **({"scored_classes": scored_classes(data.labels("test"))} if balanced else {}),
                  **({"baseline_nodes": baselines[0]} if baselines else {}),
                  "trained_as": "networks trained from scratch on each graph (the baselines: "
                                + (baselines[1] if baselines else "as many real nodes as the condensed graph")
                                + ", with their edges; the whole graph: every training node)"},
        extra=extra,
    )


__all__ = ["condensed_training_graph", "coreset_graph", "graph_plan", "herding_nodes", "network_factory", "random_nodes",
           "trainer", "whole_training_graph"]
