"""The checks of a graph's edges: ``edge_index`` (2, E) integer, in range and symmetric (:func:`check_edges`), its
``edge_weight`` (E,) finite, >= 0 and symmetric (:func:`check_edge_weights`), each symmetrised on request; self-loops,
repeated edges and isolated nodes counted in the load report (:data:`EDGE_KINDS`)."""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import quantity

from .node_names import NodeName

logger = logging.getLogger(__name__)


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



__all__ = ["EDGE_KINDS", "check_edge_weights", "check_edges"]
