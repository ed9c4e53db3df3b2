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

from typing import Any, Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mmdistill.baselines import herding_select
from mmdistill.evaluate import EvalResult, results_table
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet

from .data import NodeClassificationData
from .matching import synthetic_graph
from .nets import CROSS_ARCH, build_graph_network, registry_name, reinitialize_graph_net
from .train import GraphTrainProtocol, LabelledGraph, accuracy_on_test, train_with_validation

NetFactory = Callable[[torch.Generator], torch.nn.Module]


def network_factory(name: str, data: NodeClassificationData, device: torch.device, *, hidden: int,
                    dropout: float) -> NetFactory:
    """``make_net(generator)``: a fresh ``name`` network on ``device`` with weights drawn from ``generator``."""

    def make_net(gen: torch.Generator) -> torch.nn.Module:
        net = build_graph_network(name, data.num_features, data.num_classes, hidden=hidden, dropout=dropout).to(device)
        reinitialize_graph_net(net, gen)
        return net

    return make_net


def evaluate_graph_set(train: LabelledGraph | Callable[[int], LabelledGraph], data: NodeClassificationData,
                       make_net: NetFactory, protocol: GraphTrainProtocol, *, runs: int, seed: int,
                       desc: str = "evaluating", progress: bool = True) -> EvalResult:
    """Train ``runs`` fresh networks on ``train`` (or on ``train(r)`` for run r) and test each on the real
    graph; run r is seeded by ``(seed, "eval", r)``, so every set sees the same initialisations."""
    result = EvalResult()
    for r in tqdm(range(runs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        gen = generator(seed, "eval", r)
        net = make_net(gen)
        train_with_validation(net, train(r) if callable(train) else train, data, protocol, gen)
        result.runs.append(accuracy_on_test(net, data))
    return result


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
        feats = torch.log_softmax(net(graph), dim=-1).float().cpu()  # type: ignore[operator]
    picks = []
    for c, nodes in enumerate(data.train_nodes_by_class()):
        chosen = herding_select(feats[nodes.cpu()], per_class[c])
        picks.append(nodes[chosen.to(nodes.device)])
    return torch.cat(picks)


# ---------------------------------------------------------------------------------------------- all
def evaluate_condensed(cfg: Any, syn: SyntheticSet, data: NodeClassificationData, device: torch.device) -> dict[str, Any]:
    """Metrics of ``syn`` on ``data``: each evaluation network trained on the condensed graph and on the
    baselines of the same size; ``{"metric", "network", "distilled", "random_real", "herding",
    "whole_graph", "cross_arch", "protocol", "synthetic"}`` with accuracies in [0, 1]."""
    networks = list(CROSS_ARCH) if cfg.cross_arch else list(cfg.eval_networks or [cfg.eval_network])
    networks = [n if registry_name(n) != "graph-mlp" else "mlp" for n in networks]
    protocol = GraphTrainProtocol(epochs=cfg.eval_epochs, lr=cfg.eval_lr, weight_decay=cfg.eval_weight_decay)
    data = data.to(device)
    syn = syn.detached().to(device)
    condensed = condensed_training_graph(syn, cfg.adj_threshold)
    per_class = torch.bincount(syn.labels.cpu(), minlength=syn.num_classes).tolist()
    factory = lambda name: network_factory(name, data, device, hidden=cfg.hidden, dropout=cfg.eval_dropout)  # noqa: E731
    herd = None
    if "herding" in cfg.baselines:
        herd = herding_nodes(data, per_class, factory("gcn"), protocol, cfg.seed)
    common = dict(runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress)
    per_net: dict[str, dict[str, EvalResult]] = {}
    for name in networks:
        make_net = factory(name)
        rows = {"distilled": evaluate_graph_set(condensed, data, make_net, protocol, desc=f"eval condensed [{name}]", **common)}
        if "random_real" in cfg.baselines:
            rows["random_real"] = evaluate_graph_set(
                lambda r: coreset_graph(data, random_nodes(data, per_class, generator(cfg.seed, "random_real", r))),
                data, make_net, protocol, desc=f"eval random nodes [{name}]", **common)
        if herd is not None:
            rows["herding"] = evaluate_graph_set(coreset_graph(data, herd), data, make_net, protocol,
                                                 desc=f"eval herding [{name}]", **common)
        if cfg.whole_graph:
            rows["whole_graph"] = evaluate_graph_set(whole_training_graph(data), data, make_net, protocol,
                                                     desc=f"eval whole graph [{name}]", **common)
        per_net[name] = rows
        print(f"\n[{name}] test accuracy, {cfg.eval_runs} runs each, {len(syn)} synthetic nodes:\n{results_table(rows)}")
    primary = networks[0]
    metrics: dict[str, Any] = {"metric": "accuracy", "network": primary,
                               **{k: v.as_dict() for k, v in per_net[primary].items()}}
    if len(networks) > 1:
        metrics["cross_arch"] = {n: {k: v.as_dict() for k, v in rows.items()} for n, rows in per_net.items()}
    metrics["protocol"] = {"epochs": protocol.epochs, "lr": protocol.lr, "weight_decay": protocol.weight_decay,
                           "lr_decay_at": protocol.lr_decay_at, "optimizer": "adam", "dropout": cfg.eval_dropout,
                           "hidden": cfg.hidden, "runs": cfg.eval_runs, "selection": "best validation accuracy",
                           "test_nodes": int(data.test_idx.numel())}
    metrics["synthetic"] = {"nodes": len(syn), "per_class": per_class, "edges": condensed.graph.num_edges // 2,
                            "adj_threshold": cfg.adj_threshold}
    return metrics


__all__ = ["condensed_training_graph", "coreset_graph", "evaluate_condensed", "evaluate_graph_set", "herding_nodes",
           "network_factory", "random_nodes", "whole_training_graph"]
