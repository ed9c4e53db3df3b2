"""A node's label: a class id in 0..C-1, or :data:`UNLABELLED` (-1, PyG's convention) for a node without one, and
the check of a graph's label vector (:func:`check_labels`)."""

from __future__ import annotations

import torch
from torch import Tensor

from mmdistill.errors import DataError

#: the label of a node without one (PyG's convention): in the graph, in no split
UNLABELLED = -1


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



__all__ = ["UNLABELLED", "check_labels"]
