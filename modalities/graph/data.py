"""The real data of node classification: one graph, its labels and its split, checked on construction.

A :class:`Graph` is what the networks eat: node features, an edge list and optional edge weights. A
:class:`NodeClassificationData` is a graph with labels and train/val/test nodes in one of GCond's two
settings:

- **transductive** (Cora, CiteSeer, PubMed, ogbn-arxiv): the whole graph is visible while training; the
  loss uses the training nodes, validation and test nodes are read off the same graph.
- **inductive** (Flickr, Reddit): training sees only the subgraph induced by the training nodes; validation
  and test run on the subgraphs induced by the validation and test nodes.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from mmdistill.data import check_class_list, clean_class_names
from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import id_list, quantity

logger = logging.getLogger(__name__)

SETTINGS = ("transductive", "inductive")
#: the label of a node without one (PyG's convention): in the graph, in no split
UNLABELLED = -1
#: how a message names node ``i`` (its number by default; :func:`node_namer`)
NodeName = Callable[[int], str]


def node_namer(ids: list[str] | None) -> NodeName:
    """``str`` without ``ids``; else ``i`` -> ``"358 (id 'paper12345')"``: a node table's id beside the node's number (its
    0-based row), so a message names a node as the user's files do."""
    if not ids:
        return str
    return lambda i: f"{i} (id {ids[i]!r})" if 0 <= i < len(ids) else str(i)


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


# ---------------------------------------------------------------------------------------------- checks
def _edge_multiset(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """The distinct directed edges of ``edge_index`` as sorted keys ``u * N + v`` and how often each occurs."""
    return torch.unique(edge_index[0] * num_nodes + edge_index[1], sorted=True, return_counts=True)


_LOOPS = "GCN, SGC and APPNP take a listed self-loop as the one they add; GraphSAGE counts it as a neighbour"
#: the load report's kinds :func:`check_edges` counts (counts only) and what each says
EDGE_KINDS = {"self_loops_kept": "self-loop(s) kept as given",
              "repeated_edges_kept": "repeated edge(s) kept as given (each listing counts in the propagation)",
              "repeated_edges_merged": "repeated edge(s) merged (symmetrize)"}


def check_edges(edge_index: Tensor, num_nodes: int, *, source: str, symmetrize: bool, report: LoadReport | None = None,
                node_name: NodeName = str) -> Tensor:
    """``edge_index`` (2, E) checked: integer, in range, symmetric; returns it (symmetrised on request).

    Self-loops and repeated edges are kept as given (a repeated edge counts once per listing in the
    propagation) and counted in a logged warning. Symmetric means every edge ``u -> v`` is listed as often as
    ``v -> u``. With ``symmetrize`` the reverse edges are added and repeats merged (PyG ``to_undirected``),
    which is logged with its counts. Raises :class:`DataError` naming ``source``, the first offending edge and
    the fix. ``report``: counts the self-loops and repeated edges (:data:`EDGE_KINDS`) there too. ``node_name``: how a
    message names node ``i`` (a node table's id beside its number: :func:`node_namer`).
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise DataError(f"{source}: edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise DataError(f"{source}: edge_index must hold integer node ids, got {edge_index.dtype}")
    edge_index = edge_index.long()
    if not edge_index.numel():
        return edge_index
    bad = (edge_index < 0) | (edge_index >= num_nodes)
    if bad.any():
        col = int(bad.any(dim=0).nonzero()[0])
        u, v = edge_index[:, col].tolist()
        raise DataError(
            f"{source}: edge {col} ({u} -> {v}) names a node outside 0..{num_nodes - 1} ({int(bad.any(dim=0).sum())} "
            f"such edges); node ids must index the feature rows — remove these edges or renumber the nodes"
        )
    keys, counts = _edge_multiset(edge_index, num_nodes)
    loops = int((edge_index[0] == edge_index[1]).sum())
    repeats = int((counts - 1).sum())
    if report is not None:
        report.descriptions = {**report.descriptions, **EDGE_KINDS}
        report.count("self_loops_kept", loops)
        report.count("repeated_edges_merged" if symmetrize else "repeated_edges_kept", repeats)
        linked = torch.zeros(num_nodes, dtype=torch.bool)
        linked[edge_index[:, edge_index[0] != edge_index[1]].flatten()] = True
        if isolated := int((~linked).sum()):  # kept: a GCN reads their own features only (walk 52C: said nowhere)
            report.facts["isolated_nodes"] = isolated
            logger.info("%s: %s without an edge to another node (kept: a GCN reads their own features only)", source,
                        quantity(isolated, "node"))
    if symmetrize:
        from torch_geometric.utils import to_undirected

        out = to_undirected(edge_index, num_nodes=num_nodes)
        logger.info("%s: symmetrize: %d edges in, %d out (%d reverse edges added, %d repeated edges merged)", source,
                    edge_index.shape[1], out.shape[1], out.shape[1] - keys.numel(), repeats)
        if loops:
            logger.warning("%s: %d self-loop(s) kept (%s)", source, loops, _LOOPS)
        return out
    if loops or repeats:
        logger.warning(
            "%s: %d self-loop(s) and %d repeated edge(s) kept as given (a repeated edge counts once per listing "
            "in the propagation; %s); remove them from the input to count every edge once", source, loops, repeats,
            _LOOPS)
    rev = (keys % num_nodes) * num_nodes + torch.div(keys, num_nodes, rounding_mode="floor")
    pos = torch.searchsorted(keys, rev).clamp_max(keys.numel() - 1)
    rev_counts = torch.where(keys[pos] == rev, counts[pos], torch.zeros_like(counts))
    excess = counts > rev_counts  # each asymmetric pair once: the direction listed more often
    if excess.any():
        first = int(excess.nonzero()[0])
        u, v = (node_name(i) for i in divmod(int(keys[first]), num_nodes))
        absent = int((rev_counts == 0).sum())
        detail = (f"e.g. {u} -> {v} without {v} -> {u}" if int(rev_counts[first]) == 0 else
                  f"e.g. {u} -> {v} listed {int(counts[first])} times but {v} -> {u} {int(rev_counts[first])} times")
        uneven = int(excess.sum()) - absent
        what = f"{absent} edges have no reverse edge" if absent else ""
        what += (" and " if absent and uneven else "") + (
            f"{uneven} edges are listed more often than their reverse" if uneven else "")
        raise DataError(
            f"{source}: the graph is not symmetric: {what} ({detail}); "
            "GCond condenses undirected graphs — pass symmetrize=true (--symmetrize) to add the reverse edges "
            "and merge repeats"
        )
    return edge_index


def check_edge_weights(edge_weight: Tensor, edge_index: Tensor, num_nodes: int, *, source: str,
                       symmetrize: bool, node_name: NodeName = str) -> tuple[Tensor, Tensor]:
    """``(edge_index, edge_weight)`` of a weighted graph, checked: ``edge_weight`` (E,) finite and >= 0 (GCN/SGC/APPNP
    normalise by the weighted degree), one weight per column of ``edge_index`` (2, E) as given (already passed
    :func:`check_edges`). Symmetric weights: the weights of ``u -> v`` (summed over its listings) equal those of
    ``v -> u``. With ``symmetrize`` the reverse edges are added and each edge's weight becomes the mean of its listings
    in either direction (PyG ``to_undirected(reduce="mean")``; the same edges as :func:`check_edges` returns). Returns
    float32 weights; raises :class:`DataError` naming ``source``, the first offending edge and the fix."""
    w = torch.as_tensor(edge_weight)
    if w.dim() != 1 or w.numel() != edge_index.shape[1]:
        raise DataError(f"{source}: edge_weight must have shape ({edge_index.shape[1]},), one weight per edge, got "
                        f"{tuple(w.shape)}")
    if w.dtype == torch.bool or w.dtype.is_complex:
        raise DataError(f"{source}: edge weights must be real numbers, got {w.dtype}")
    w = w.float()
    bad = ~torch.isfinite(w) | (w < 0)
    if bad.any():
        i = int(bad.nonzero()[0])
        u, v = (node_name(j) for j in edge_index[:, i].tolist())
        raise DataError(f"{source}: edge weights must be finite and >= 0 (GCN normalises by the weighted degree); edge {i} "
                        f"({u} -> {v}) has weight {float(w[i])} ({int(bad.sum())} such edge(s))")
    if not w.numel():
        return edge_index, w
    if symmetrize:
        from torch_geometric.utils import to_undirected

        out, out_w = to_undirected(edge_index, w, num_nodes=num_nodes, reduce="mean")
        logger.info("%s: symmetrize: the weight of each edge is the mean of its listings in either direction", source)
        return out, out_w
    keys, inverse = torch.unique(edge_index[0] * num_nodes + edge_index[1], sorted=True, return_inverse=True)
    total = torch.zeros(keys.numel(), dtype=w.dtype).index_add_(0, inverse, w)
    rev = (keys % num_nodes) * num_nodes + torch.div(keys, num_nodes, rounding_mode="floor")
    back = total[torch.searchsorted(keys, rev).clamp_max(keys.numel() - 1)]  # every reverse exists: check_edges ran
    odd = ~torch.isclose(total, back, rtol=1e-5, atol=1e-8)
    if odd.any():
        first = int(odd.nonzero()[0])
        u, v = (node_name(i) for i in divmod(int(keys[first]), num_nodes))
        raise DataError(
            f"{source}: the edge weights are not symmetric: {int(odd.sum()) // 2} edge(s) weigh other than their reverse "
            f"(e.g. {u} -> {v} weighs {float(total[first]):g} but {v} -> {u} {float(back[first]):g}); GCond condenses "
            "undirected graphs — pass symmetrize=true (--symmetrize) to give each edge the mean weight of both directions")
    return edge_index, w


def check_split(name: str, y: Tensor, masks: dict[str, Tensor | None], num_classes: int,
                sources: dict[str, str] | None = None, node_name: NodeName = str) -> dict[str, Tensor]:
    """Node indices of the train/val/test masks (boolean masks over the nodes, or lists of node ids);
    DataError for a missing or empty mask, an id out of range or listed twice, a node in two splits, or a
    class without training nodes, naming the fix. ``sources`` names where each split came from (a file)."""
    out: dict[str, Tensor] = {}
    where = lambda split: (sources or {}).get(split) or f"{name}: {split}_mask"  # noqa: E731
    for split in ("train", "val", "test"):
        m = masks.get(split)
        if m is None:
            raise DataError(
                f"{name}: no {split}_mask; node classification needs train/val/test masks — add train_mask, "
                "val_mask and test_mask to the data, or pass split=random (--split random) for a seeded "
                "stratified 10 % / 10 % / 80 % split (GCond's split for graphs without one)"
            )
        m = torch.as_tensor(m).reshape(-1)
        if m.dtype == torch.bool:  # a boolean mask over the nodes
            if m.numel() != y.numel():
                raise DataError(f"{where(split)} has {m.numel()} entries for {y.numel()} nodes")
            idx = m.nonzero().reshape(-1)
        else:  # node indices
            if m.dtype.is_floating_point or m.dtype.is_complex:
                raise DataError(f"{where(split)}: expected node ids (integers) or a boolean mask, got {m.dtype}")
            idx = m.long()
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= y.numel()):
                bad = idx[(idx < 0) | (idx >= y.numel())]
                raise DataError(f"{where(split)}: {split} node ids must lie in 0..{y.numel() - 1}; found "
                                f"{bad.numel()} outside (e.g. {int(bad[0])})")
            uniq, counts = torch.unique(idx, return_counts=True)
            if uniq.numel() != idx.numel():
                node = int(uniq[counts > 1][0])
                raise DataError(
                    f"{where(split)}: {idx.numel() - uniq.numel()} repeated {split} node id(s) (e.g. node {node_name(node)} "
                    f"listed {int(counts[uniq == node])} times); list each node once (a 0/1 flag per node is "
                    "not a list of ids)")
        if idx.numel() == 0:
            raise DataError(f"{where(split)} selects no node; give it at least one node, or pass split=random")
        if bool((y[idx] == UNLABELLED).any()):
            none = idx[y[idx] == UNLABELLED]
            raise DataError(
                f"{where(split)}: {quantity(none.numel(), f'{split} node')} without a label ({UNLABELLED}; e.g. node "
                f"{node_name(int(none[0]))}); a split holds labelled nodes only — remove them from the {split} split, or pass "
                "split=random (it draws from the labelled nodes)")
        out[split] = idx
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = out[a][torch.isin(out[a], out[b])]
        if both.numel():
            raise DataError(
                f"{name}: {both.numel()} node(s) are in both the {a} and the {b} split (e.g. node {node_name(int(both[0]))}); "
                "the splits must be disjoint — fix the masks, or pass split=random")
    counts = torch.bincount(y[out["train"]], minlength=num_classes)
    absent = [c for c in range(num_classes) if counts[c] == 0]
    if absent:
        raise DataError(
            f"{name}: class(es) [{id_list(absent)}] have no training node (train counts per class: "
            f"[{id_list(counts.tolist())}]); a "
            "condensed graph cannot learn a class it never sees — add training nodes of those classes to "
            "train_mask, or drop the class's nodes and renumber the labels 0..C-1"
        )
    return out


def check_labels(name: str, y: Tensor, num_nodes: int) -> Tensor:
    """(N,) int64 labels in 0..C-1, or :data:`UNLABELLED` (-1, PyG's convention) for a node without a label: it keeps
    its features and edges (a transductive GNN propagates through it) but may be in no split (:func:`check_split`);
    DataError otherwise (multi-label and float targets are not supported) and when no node has a label."""
    if y.dim() == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.dim() != 1 or y.numel() != num_nodes:
        hint = " (one-hot or multi-label rows are not supported: give the class id, e.g. the argmax)" \
            if y.dim() == 2 and y.shape[0] == num_nodes else ""
        raise DataError(f"{name}: labels must have shape ({num_nodes},), one class id per node, got {tuple(y.shape)}{hint}")
    if y.dtype == torch.bool or y.dtype.is_complex:
        raise DataError(f"{name}: labels must be integer class ids, got {y.dtype}")
    if y.dtype.is_floating_point:
        odd = ~torch.isfinite(y) | (y != y.round())
        if odd.any():
            node = int(odd.nonzero()[0])
            raise DataError(f"{name}: labels must be integer class ids, got {int(odd.sum())} non-integer value(s) "
                            f"(e.g. {float(y[node])} at node {node})")
    y = y.long()
    if y.numel() and int(y.min()) < UNLABELLED:
        node = int((y < UNLABELLED).nonzero()[0])
        raise DataError(f"{name}: labels must be class ids >= 0, or {UNLABELLED} for a node without a label; found "
                        f"{int(y[node])} at node {node} ({int((y < UNLABELLED).sum())} such node(s))")
    if y.numel() and bool((y == UNLABELLED).all()):
        raise DataError(f"{name}: every node's label is {UNLABELLED} (no label); node classification needs labelled "
                        "training, validation and test nodes")
    return y


__all__ = ["EDGE_KINDS", "Graph", "NodeClassificationData", "NodeName", "SETTINGS", "UNLABELLED", "check_edge_weights", "check_edges", "check_labels",
           "check_split", "node_namer"]
