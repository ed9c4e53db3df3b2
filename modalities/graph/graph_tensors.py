"""The graph the networks eat: node features and either a sparse edge list (a real graph) or a dense weighted
adjacency (a synthetic graph), with its normalised propagation operators (GCN, mean, ChebNet), cached per graph."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mmdistill.errors import ConfigError


@dataclass(eq=False)
class Graph:
    """A graph as the networks see it: node features and either a sparse edge list or a dense adjacency.

    Attributes:
        x: (N, F) float node features.
        edge_index: (2, E) int64 directed edges ``source -> target`` (an undirected graph lists both
            directions), or None for a dense graph.
        edge_weight: (E,) float weights of ``edge_index``, or None (all 1).
        adj: (N, N) dense weighted adjacency (``adj[i, j]``: weight of edge i -> j), or None for a sparse
            graph. The synthetic graph is dense: its few nodes are all connected with learned weights.

    :meth:`operator` gives the normalised propagation matrices the networks use (cached per graph: a real
    graph normalises once, a synthetic graph once per decoding).
    """

    x: Tensor
    edge_index: Tensor | None = None
    edge_weight: Tensor | None = None
    adj: Tensor | None = None
    _ops: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.edge_index is None) == (self.adj is None):
            raise ConfigError("a Graph has either edge_index (sparse) or adj (dense), not both or neither")

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def is_dense(self) -> bool:
        return self.adj is not None

    @property
    def num_edges(self) -> int:
        """Directed edges with a non-zero weight (an undirected edge counts twice)."""
        if self.adj is not None:
            return int((self.adj.detach() != 0).sum()) - int((self.adj.detach().diagonal() != 0).sum())
        return int(self.edge_index.shape[1])  # type: ignore[union-attr]

    @property
    def num_undirected_edges(self) -> int:
        """Undirected edges of a symmetric graph: each non-loop pair ``u -> v`` / ``v -> u`` once, each self-loop
        (listed once, as its own reverse) once; a dense graph's diagonal is not an edge (see :attr:`num_edges`)."""
        if self.adj is not None:
            return self.num_edges // 2
        loops = int((self.edge_index[0] == self.edge_index[1]).sum())  # type: ignore[index]
        return (self.num_edges - loops) // 2 + loops

    def to(self, device: torch.device | str) -> "Graph":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Graph(self.x.to(device), mv(self.edge_index), mv(self.edge_weight), mv(self.adj))

    def edges(self) -> tuple[Tensor, Tensor]:
        """``(edge_index, edge_weight)`` of the graph (the non-zero off-diagonal entries of a dense one)."""
        if self.adj is not None:
            a = self.adj * (1 - torch.eye(self.num_nodes, dtype=self.adj.dtype, device=self.adj.device))
            idx = (a != 0).nonzero().t()
            return idx, a[idx[0], idx[1]]
        w = self.edge_weight
        if w is None:
            w = torch.ones(self.edge_index.shape[1], dtype=self.x.dtype, device=self.x.device)  # type: ignore[union-attr]
        return self.edge_index, w  # type: ignore[return-value]

    def subgraph(self, nodes: Tensor) -> "Graph":
        """The subgraph induced by ``nodes`` (K,) with nodes renumbered 0..K-1 in the given order."""
        nodes = nodes.to(self.x.device)
        if self.adj is not None:
            return Graph(self.x[nodes], adj=self.adj[nodes][:, nodes])
        from torch_geometric.utils import subgraph

        table = torch.full((self.num_nodes,), -1, dtype=torch.long, device=nodes.device)
        table[nodes] = torch.arange(nodes.numel(), device=nodes.device)
        ei, ew = subgraph(nodes, self.edge_index, self.edge_weight, num_nodes=self.num_nodes, relabel_nodes=False)
        return Graph(self.x[nodes], table[ei], ew)

    # ------------------------------------------------------------------ propagation
    def operator(self, kind: str) -> Tensor:
        """The (N, N) matrix M of a propagation ``h -> M @ h`` (dense, or sparse CSR for a sparse graph):

        - ``"gcn"``: ``D^-1/2 (A + I) D^-1/2`` (GCN/SGC/APPNP; PyG ``gcn_norm``, GCond's ``normalize_adj``);
        - ``"mean"``: the weighted mean over in-neighbours (GraphSAGE);
        - ``"cheb"``: ``-D^-1/2 A D^-1/2`` without self-loops, the scaled Laplacian ``2L/2 - I`` of ChebNet.
        """
        if kind not in self._ops:
            self._ops[kind] = self._dense_operator(kind) if self.adj is not None else self._sparse_operator(kind)
        return self._ops[kind]

    def propagate(self, h: Tensor, kind: str = "gcn", steps: int = 1) -> Tensor:
        m = self.operator(kind)
        for _ in range(steps):
            h = m @ h
        return h

    def _dense_operator(self, kind: str) -> Tensor:
        a = self.adj.t()  # type: ignore[union-attr]  # dense: called only when adj is set; rows: targets
        eye = torch.eye(self.num_nodes, dtype=a.dtype, device=a.device)
        if kind == "gcn":
            m = a + eye
            d = m.sum(dim=1).clamp_min(1e-12).pow(-0.5)
            return d[:, None] * m * d[None, :]
        if kind == "mean":
            return a / a.sum(dim=1, keepdim=True).clamp_min(1e-12)
        if kind == "cheb":
            a = a * (1 - eye)
            d = a.sum(dim=0)  # degree by source, as PyG's get_laplacian
            d = torch.where(d > 0, d.clamp_min(1e-12).pow(-0.5), torch.zeros_like(d))
            return -(d[:, None] * a * d[None, :])
        raise ConfigError(f"unknown propagation {kind!r}")

    def _sparse_operator(self, kind: str) -> Tensor:
        from torch_geometric.nn.conv.gcn_conv import gcn_norm
        from torch_geometric.utils import remove_self_loops, to_torch_csr_tensor

        n = self.num_nodes
        ei, w = self.edges()
        if kind == "gcn":
            ei, w = gcn_norm(ei, w, n, add_self_loops=True)
        elif kind == "mean":
            deg = torch.zeros(n, dtype=w.dtype, device=w.device).index_add_(0, ei[1], w)
            w = w / deg.clamp_min(1e-12)[ei[1]]
        elif kind == "cheb":
            ei, w = remove_self_loops(ei, w)
            deg = torch.zeros(n, dtype=w.dtype, device=w.device).index_add_(0, ei[0], w)
            d = torch.where(deg > 0, deg.clamp_min(1e-12).pow(-0.5), torch.zeros_like(deg))
            w = -(d[ei[0]] * w * d[ei[1]])
        else:
            raise ConfigError(f"unknown propagation {kind!r}")
        with warnings.catch_warnings():  # torch flags CSR tensors as beta on every construction
            warnings.simplefilter("ignore", UserWarning)
            return to_torch_csr_tensor(ei.flip(0), w, (n, n))  # rows: targets


__all__ = ["Graph"]
