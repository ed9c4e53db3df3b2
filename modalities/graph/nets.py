"""Graph neural networks built from PyG layers, registered by name in the core registry.

Every network maps a :class:`~modalities.graph.graph_tensors.Graph` to logits (N, C) (``net(graph)``) and has
``embed(graph) -> (N, D)``, the representation its last layer reads. Edge weights are honoured everywhere,
so the same network trains on the sparse real graph and on the dense, weighted synthetic graph. On a
sparse graph the PyG layers run their own message passing over a cached normalised adjacency; on a dense
graph the same parameters multiply the dense normalised adjacency (the synthetic graph has a few hundred
nodes, all pairs connected, where a dense product is the cheap and exact form — as in GCond's code).
GCN-type propagation is ``D^-1/2 (A + I) D^-1/2`` (PyG's ``gcn_norm``, GCond's ``normalize_adj``).

=============  =====================================================================================
``sgc``        ``Â^K X W + b`` (K = 2): GCond's matching network; the linear map first, then propagation
``sgc-multi``  a two-layer MLP (hidden 256, ReLU), then K = 2 propagations ``Â^K``: GCond's matching network
               for ogbn-arxiv and Flickr (its ``models/sgc_multi.py``)
``gcn``        two ``GCNConv`` layers (hidden 256, ReLU, dropout)
``graphsage``  two ``SAGEConv`` layers (root weight; the neighbour mean weighted by the edge weights)
``appnp``      MLP (hidden 256), then K = 2 steps of personalised-PageRank propagation, alpha 0.1 (GCond's)
``cheby``      two ``ChebConv`` layers, K = 2
``mlp``        two linear layers; ignores the edges (registered as ``graph-mlp``; ``mlp`` in the graph
               recipes means this one)
=============  =====================================================================================
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import build_network, register_network
from mmdistill.seeding import draw_seed

from .graph_tensors import Graph

#: names a user may write -> registry names
ALIASES = {"sgc": "sgc", "sgc-multi": "sgc-multi", "gcn": "gcn", "sage": "graphsage", "graphsage": "graphsage", "appnp": "appnp",
           "cheby": "cheby", "chebnet": "cheby", "mlp": "graph-mlp", "graph-mlp": "graph-mlp"}
#: GCond's cross-architecture table (Table 3)
CROSS_ARCH = ["sgc", "gcn", "graphsage", "appnp", "cheby", "mlp"]


class GraphNet(nn.Module):
    """``forward(graph) -> (N, C)`` logits and ``embed(graph) -> (N, D)``."""

    def embed(self, graph: Graph) -> Tensor:
        raise NotImplementedError


class SGC(GraphNet):
    """Simplified graph convolution ``Â^K X W + b``; ``embed`` is ``Â^K X`` (parameter-free)."""

    def __init__(self, in_dim: int, num_classes: int, k: int = 2) -> None:
        super().__init__()
        self.k = k
        self.lin = nn.Linear(in_dim, num_classes, bias=False)
        self.bias = nn.Parameter(torch.empty(num_classes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(±1/sqrt(F)) for weight and bias, as GCond's layer."""
        bound = 1.0 / math.sqrt(self.lin.in_features)
        with torch.no_grad():
            self.lin.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def forward(self, graph: Graph) -> Tensor:
        return graph.propagate(self.lin(graph.x), "gcn", self.k) + self.bias

    def embed(self, graph: Graph) -> Tensor:
        return graph.propagate(graph.x, "gcn", self.k)


class _TwoLayer(GraphNet):
    """``layer2(dropout(relu(layer1(x))))``; ``embed`` is ``relu(layer1(x))``."""

    dropout: float

    def layer(self, i: int, h: Tensor, graph: Graph) -> Tensor:
        raise NotImplementedError

    def embed(self, graph: Graph) -> Tensor:
        return F.relu(self.layer(0, graph.x, graph))

    def forward(self, graph: Graph) -> Tensor:
        h = F.dropout(self.embed(graph), self.dropout, training=self.training)
        return self.layer(1, h, graph)


class GCN(_TwoLayer):
    """Two ``GCNConv`` layers (``hidden`` units, ReLU, ``dropout``) over the graph's GCN-normalised adjacency
    (``normalize=False``: the graph supplies it); on a dense graph the same weights multiply the dense adjacency."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.dropout = float(dropout)
        self.convs = nn.ModuleList([GCNConv(in_dim, hidden, normalize=False), GCNConv(hidden, num_classes, normalize=False)])

    def layer(self, i: int, h: Tensor, graph: Graph) -> Tensor:
        conv = self.convs[i]
        if graph.is_dense:
            return graph.propagate(conv.lin(h), "gcn") + conv.bias
        return conv(h, graph.operator("gcn"))


class GraphSAGE(_TwoLayer):
    """SAGEConv (root weight) whose neighbour aggregation is the mean weighted by the edge weights."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        from torch_geometric.nn import SAGEConv

        self.dropout = float(dropout)
        # sum aggregation over the row-normalised adjacency = weighted mean
        self.convs = nn.ModuleList([SAGEConv(in_dim, hidden, aggr="sum"), SAGEConv(hidden, num_classes, aggr="sum")])

    def layer(self, i: int, h: Tensor, graph: Graph) -> Tensor:
        conv = self.convs[i]
        if graph.is_dense:
            return conv.lin_l(graph.propagate(h, "mean")) + conv.lin_r(h)
        return conv(h, graph.operator("mean"))


class Cheby(_TwoLayer):
    """ChebConv with K = 2: ``W_0 h + W_1 L̂ h + b``, L̂ the scaled normalised Laplacian."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        from torch_geometric.nn import ChebConv

        self.dropout = float(dropout)
        self.convs = nn.ModuleList([ChebConv(in_dim, hidden, K=2), ChebConv(hidden, num_classes, K=2)])

    def layer(self, i: int, h: Tensor, graph: Graph) -> Tensor:
        conv = self.convs[i]
        return conv.lins[0](h) + conv.lins[1](graph.propagate(h, "cheb")) + conv.bias


class APPNPNet(GraphNet):
    """A two-layer MLP, then K steps ``z <- (1 - alpha) Â z + alpha h`` (PyG's APPNP propagation)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0, k: int = 2,
                 alpha: float = 0.1) -> None:
        super().__init__()
        self.lin1, self.lin2, self.dropout = nn.Linear(in_dim, hidden), nn.Linear(hidden, num_classes), float(dropout)
        self.k, self.alpha = k, alpha

    def embed(self, graph: Graph) -> Tensor:
        return F.relu(self.lin1(graph.x))

    def forward(self, graph: Graph) -> Tensor:
        h = self.lin2(F.dropout(self.embed(graph), self.dropout, training=self.training))
        z = h
        for _ in range(self.k):
            z = (1 - self.alpha) * graph.propagate(z, "gcn") + self.alpha * h
        return z


class GraphMLP(GraphNet):
    """Two linear layers on the node features; the edges are ignored (GCond's MLP baseline)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        self.lin1, self.lin2, self.dropout = nn.Linear(in_dim, hidden), nn.Linear(hidden, num_classes), float(dropout)

    def embed(self, graph: Graph) -> Tensor:
        return F.relu(self.lin1(graph.x))

    def forward(self, graph: Graph) -> Tensor:
        return self.lin2(F.dropout(self.embed(graph), self.dropout, training=self.training))


class SGCMulti(GraphMLP):
    """GCond's SGC with two transformations (``models/sgc_multi.py``, ``ntrans=2``): ``Â^K (ReLU(X W1) W2)`` (N, C),
    K = 2 GCN-normalised propagations after the MLP; the matching network of GCond's ogbn-arxiv and Flickr commands."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0, k: int = 2) -> None:
        super().__init__(in_dim, num_classes, hidden, dropout)
        self.k = k

    def forward(self, graph: Graph) -> Tensor:
        return graph.propagate(super().forward(graph), "gcn", self.k)


# ---------------------------------------------------------------------------------------------- registry
def _dim(in_shape: tuple[int, ...]) -> int:
    if len(in_shape) != 1:
        raise ConfigError(f"graph networks take node features of shape (F,), got {in_shape}")
    return int(in_shape[0])


@register_network("sgc")
def _sgc(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0, k: int = 2) -> SGC:
    return SGC(_dim(in_shape), num_classes, k=k)  # hidden/dropout accepted for a uniform call; SGC has neither


@register_network("sgc-multi")
def _sgc_multi(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0, k: int = 2) -> SGCMulti:
    return SGCMulti(_dim(in_shape), num_classes, hidden, dropout, k)


@register_network("gcn")
def _gcn(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0) -> GCN:
    return GCN(_dim(in_shape), num_classes, hidden, dropout)


@register_network("graphsage")
def _sage(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0) -> GraphSAGE:
    return GraphSAGE(_dim(in_shape), num_classes, hidden, dropout)


@register_network("appnp")
def _appnp(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0, k: int = 2,
           alpha: float = 0.1) -> APPNPNet:
    return APPNPNet(_dim(in_shape), num_classes, hidden, dropout, k, alpha)


@register_network("cheby")
def _cheby(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0) -> Cheby:
    return Cheby(_dim(in_shape), num_classes, hidden, dropout)


@register_network("graph-mlp")
def _mlp(in_shape: tuple[int, ...], num_classes: int, hidden: int = 256, dropout: float = 0.0) -> GraphMLP:
    return GraphMLP(_dim(in_shape), num_classes, hidden, dropout)


def registry_name(name: str) -> str:
    """The registry name of a user-facing graph network name (``mlp`` -> ``graph-mlp``, ``sage`` -> ``graphsage``)."""
    key = name.lower().replace("_", "-")
    if key not in ALIASES:
        raise ConfigError(f"unknown graph network {name!r}; choose from sgc, sgc-multi, gcn, graphsage (sage), appnp, cheby, mlp")
    return ALIASES[key]


def build_graph_network(name: str, num_features: int, num_classes: int, **kw: Any) -> GraphNet:
    """The graph network ``name`` for ``num_features`` input features and ``num_classes`` outputs."""
    return build_network(registry_name(name), (num_features,), num_classes, **kw)  # type: ignore[return-value]


def reinitialize_graph_net(net: nn.Module, gen: torch.Generator) -> None:
    """Redraw every parameter of ``net`` with its layers' own initialisation, one seed per layer drawn
    from ``gen`` (deterministic; torch's global generator is left as it was)."""
    for m in net.modules():
        if not any(True for _ in m.parameters(recurse=False)):
            continue
        reset = getattr(m, "reset_parameters", None)
        if not callable(reset):
            raise ConfigError(f"cannot redraw the parameters of {type(m).__name__}: it has no reset_parameters()")
        seed = draw_seed(gen)
        cuda = sorted({p.device.index or 0 for p in m.parameters(recurse=False) if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)  # seeds the CUDA generators too
            reset()


__all__ = ["ALIASES", "CROSS_ARCH", "GraphNet", "SGC", "GCN", "GraphSAGE", "APPNPNet", "Cheby", "GraphMLP", "SGCMulti",
           "build_graph_network", "registry_name", "reinitialize_graph_net"]
