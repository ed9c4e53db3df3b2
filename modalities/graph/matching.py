"""Graph condensation on the core matchers.

- :func:`gcond_matcher`: GCond's gradient matching as the core :class:`GradientMatching` with graph hooks.
  Class c's real loss is the cross-entropy of a fresh matching network on up to ``batch_real`` of c's
  training nodes, read off a forward of the real graph; its synthetic loss is read off one forward of the
  whole synthetic graph (message passing mixes classes, so a class's synthetic nodes are not fed alone);
  class distances are weighted by ``n_c / max n_c``; between synthetic updates the network takes
  ``inner_loop`` full-graph Adam steps on the synthetic graph. :class:`GCondSchedule` alternates what one
  outer iteration updates: the adjacency generator on the first ``structure_steps`` of every ``period``
  iterations, the features otherwise (GCond: 10 of 50).
- :func:`graph_distribution_matcher`: the core :class:`DistributionMatching` with :class:`GraphEmbeddings`
  hooks: per-class mean embeddings of a freshly drawn GNN on the real graph versus the synthetic graph,
  updating features and generator.

The real side runs the network on the whole graph it may see (GCond samples 10 and 5 neighbours per hop
to bound memory on large graphs; a full-neighbourhood forward gives the exact gradient and fits in memory
for the Planetoid graphs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.matchers.gradient import GradientMatching
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

from .data import Graph, NodeClassificationData
from .pge import generate_adjacency, pge_weights, sparsify

def synthetic_graph(syn: SyntheticSet, *, phase: str = "both", threshold: float | None = None) -> Graph:
    """The synthetic graph of ``syn``: features ``data["x"]`` and the generated dense adjacency.

    ``phase`` decides where gradients flow: ``"features"`` detaches the generator's weights (the features
    still receive the gradient through the adjacency, as in GCond's feature steps), ``"structure"``
    detaches the features, ``"both"`` detaches nothing. ``threshold`` sparsifies the adjacency
    (evaluation). A structure-free set (no generator) has an all-zero adjacency: with the self-loops of
    GCN normalisation it propagates with the identity (GCond-X).
    """
    x = syn.data["x"]
    weights = pge_weights(syn.data)
    if not weights:
        return Graph(x, adj=torch.zeros(x.shape[0], x.shape[0], dtype=x.dtype, device=x.device))
    if phase == "features":
        weights = {k: v.detach() for k, v in weights.items()}
    elif phase == "structure":
        x = x.detach()
    adj = generate_adjacency(x, weights)
    if threshold is not None:
        adj = sparsify(adj, threshold)
    return Graph(syn.data["x"] if phase != "structure" else x, adj=adj)


@dataclass
class GCondSchedule:
    """Which tensors an outer iteration updates: the generator when ``it % period < structure_steps``
    (and the set has one), the features otherwise.

    :meth:`decode` also saves one generator forward per outer step: the inner loop's graph (asked for
    without gradient, after a synthetic update) is exactly the graph the next matching step needs (no
    update happens in between), so it is built once with its autograd graph, handed to the inner loop
    detached, and handed to the matching step as is.
    """

    period: int = 50
    structure_steps: int = 10
    has_structure: bool = True
    phase: str = "features"
    _cached: tuple[tuple, Graph] | None = field(default=None, repr=False)

    def start_iteration(self, it: int) -> None:
        structure = self.has_structure and self.period > 0 and it % self.period < self.structure_steps
        self.phase = "structure" if structure else "features"
        self._cached = None

    def decode(self, syn: SyntheticSet) -> Graph:
        key = (self.phase, *((id(t), t._version) for t in syn.data.values()))
        if torch.is_grad_enabled():  # a matching step
            if self._cached is not None and self._cached[0] == key:
                graph = self._cached[1]
                self._cached = None
                return graph
            return synthetic_graph(syn, phase=self.phase)
        with torch.enable_grad():  # the inner loop: build once, with history, for the next matching step
            graph = synthetic_graph(syn, phase=self.phase)
        self._cached = (key, graph)
        return Graph(graph.x.detach(), adj=graph.adj.detach())  # type: ignore[union-attr]


@dataclass
class GraphLosses:
    """The graph hooks of :class:`GradientMatching` for one real graph and one synthetic set."""

    data: NodeClassificationData
    labels_syn: Tensor
    class_slices: list[slice]
    batch_real: int = 256
    task: ClassificationTask = field(default_factory=ClassificationTask)

    def __post_init__(self) -> None:
        self.graph, _ = self.data.view("train")
        self.y_graph = torch.full((self.graph.num_nodes,), -1, dtype=torch.long, device=self.data.y.device)
        self.y_graph[self.data.view("train")[1]] = self.data.labels("train")
        self.nodes_by_class = self.data.train_nodes_by_class()

    def real_class_losses(self, net: nn.Module, gen: torch.Generator) -> list[Tensor]:
        """One forward of the real graph; class c's loss on up to ``batch_real`` of its training nodes."""
        out = net(self.graph)
        losses = []
        for nodes in self.nodes_by_class:
            pick = nodes[torch.randperm(nodes.numel(), generator=gen)[: self.batch_real].to(nodes.device)]
            losses.append(self.task.loss(out[pick], self.y_graph[pick]))
        return losses

    def syn_class_losses(self, net: nn.Module, graph: Graph) -> list[Tensor]:
        out = net(graph)
        return [self.task.loss(out[sl], self.labels_syn[sl]) for sl in self.class_slices]

    def syn_train_loss(self, net: nn.Module, graph: Graph) -> Tensor:
        return self.task.loss(net(graph), self.labels_syn)


class GCondMatcher:
    """GCond's outer iteration: the core gradient matcher driven by graph hooks and GCond's schedule."""

    name = "gcond"

    def __init__(self, inner: GradientMatching, schedule: GCondSchedule) -> None:
        self.inner, self.schedule = inner, schedule

    def start_iteration(self, it: int) -> None:
        self.schedule.start_iteration(it)

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        stats = self.inner.step(syn, optimizer, gen)
        return {**stats, "structure_step": float(self.schedule.phase == "structure")}


def gcond_matcher(net: nn.Module, reinit: Callable[[nn.Module, torch.Generator], None], data: NodeClassificationData,
                  syn: SyntheticSet, *, outer_loop: int, inner_loop: int, lr_model: float, batch_real: int,
                  dis_metric: str = "ours", period: int = 50, structure_steps: int = 10,
                  task: ClassificationTask = ClassificationTask()) -> GCondMatcher:
    """GCond's matcher for ``syn`` (class-major labels) on ``data`` with matching network ``net``."""
    counts = torch.bincount(syn.labels.cpu(), minlength=syn.num_classes).tolist()
    losses = GraphLosses(data, syn.labels, syn.class_slices(), batch_real, task)
    schedule = GCondSchedule(period, structure_steps, has_structure=bool(pge_weights(syn.data)))
    inner = GradientMatching(
        net=net, reinit=reinit, real=None, task=task, outer_loop=outer_loop, inner_loop=inner_loop, lr_net=lr_model,
        dis_metric=dis_metric, decode=schedule.decode, real_class_losses=losses.real_class_losses,
        syn_class_losses=losses.syn_class_losses, syn_train_loss=losses.syn_train_loss,
        class_weights=[n / max(counts) for n in counts],
        make_net_optimizer=lambda params: torch.optim.Adam(params, lr=lr_model),
    )
    return GCondMatcher(inner, schedule)


@dataclass
class GraphEmbeddings:
    """The graph hooks of the core :class:`~mmdistill.matchers.distribution.DistributionMatching`: per class,
    up to ``batch_real`` training nodes' embeddings read off one forward of the real graph (no autograd
    graph), and the synthetic nodes' embeddings read off one forward of the synthetic graph."""

    data: NodeClassificationData
    batch_real: int = 256

    def __post_init__(self) -> None:
        self.graph, _ = self.data.view("train")
        self.nodes_by_class = self.data.train_nodes_by_class()

    def real_embeddings(self, net: nn.Module, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        picks, ys = [], []
        for c, nodes in enumerate(self.nodes_by_class):
            pick = nodes[torch.randperm(nodes.numel(), generator=gen)[: self.batch_real].to(nodes.device)]
            picks.append(pick)
            ys.append(torch.full_like(pick, c))
        with torch.no_grad():
            emb = net.embed(self.graph)[torch.cat(picks)]
        return emb, torch.cat(ys)

    def syn_embeddings(self, net: nn.Module, graph: Graph) -> Tensor:
        return net.embed(graph)


def graph_distribution_matcher(net: nn.Module, reinit: Callable[[nn.Module, torch.Generator], None], data: NodeClassificationData,
                               *, batch_real: int = 256) -> DistributionMatching:
    """Graph DM: the core distribution matcher with :class:`GraphEmbeddings` hooks; features and generator
    are both updated (the synthetic graph is decoded with gradients to both)."""
    hooks = GraphEmbeddings(data, batch_real)
    return DistributionMatching(net=net, reinit=reinit, real=None, batch_real=batch_real, decode=synthetic_graph,
                                real_embeddings=hooks.real_embeddings, syn_embeddings=hooks.syn_embeddings)


__all__ = ["GCondMatcher", "GCondSchedule", "GraphEmbeddings", "GraphLosses", "gcond_matcher", "graph_distribution_matcher",
           "synthetic_graph"]
