"""A graph's train/val/test split: the masks a saved graph or a ``dataset=files`` folder must hold for ``split=masks``
(their absence named with the way out) and GCond's seeded stratified split for graphs without one (:func:`random_split`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.seeding import generator

from .data import UNLABELLED


def _check_saved_masks(raw: dict[str, Any], source: str, y: Tensor, num_classes: int) -> None:
    """A ``dataset=saved`` graph without one of train/val/test_mask (an exported condensed graph holds only
    ``train_mask``: every node is a training node): a DataError naming the file, the missing masks and how it loads."""
    missing = [f"{s}_mask" for s in ("train", "val", "test") if raw.get(f"{s}_mask") is None]
    if not missing:
        return
    header = raw.get("header") or {}
    have = [f"{s}_mask" for s in ("train", "val", "test") if raw.get(f"{s}_mask") is not None]
    what = (f"holds {', '.join(have) or 'no mask'} but no {', '.join(missing)}" +
            (" (an exported condensed graph marks every node as a training node)" if "adj_threshold" in header else ""))
    counts = torch.bincount(y[y != UNLABELLED], minlength=num_classes)  # nodes without a label are in no split
    small = [c for c in range(num_classes) if counts[c] < 3]
    random = ("pass split=random (--split random) for a seeded stratified 10 % / 10 % / 80 % split of its "
              f"{y.numel()} nodes (it needs >= 3 nodes of every class, which this graph has), or") if not small else (
        f"split=random (--split random) cannot split it either (it needs >= 3 nodes of every class; class(es) "
        f"{small} have fewer, counts {counts.tolist()}):")
    raise DataError(
        f"{source}: {what}; split=masks (--split masks, the default) needs train_mask, val_mask and test_mask — "
        f"{random} save it with all three masks (modalities.graph.save_graph_data(..., masks={{'train': ..., "
        "'val': ..., 'test': ...})); modalities.graph.load_condensed reads it as a PyG Data without a split")


def _check_split_files(raw: dict[str, Any], root: Path) -> None:
    """A ``dataset=files`` folder without one of train.txt / val.txt / test.txt: a DataError naming the missing
    file(s) (the masks of other formats are named by :func:`check_split`)."""
    missing = [f"{s}.txt" for s in ("train", "val", "test") if raw.get(f"{s}_mask") is None]
    if missing:
        raise DataError(
            f"{root}: no {', '.join(missing)}; dataset=files reads its split from train.txt, val.txt and test.txt (node "
            f"ids, one per line; .csv also read) or from a node table's 'split' column (nodes.csv: train, val, test) — "
            f"add {' and '.join(missing)}, or pass split=random (--split random) for "
            "a seeded stratified 10 % / 10 % / 80 % split (GCond's split for graphs without one)")


def random_split(y: Tensor, num_classes: int, seed: int) -> dict[str, Tensor]:
    """GCond's split for graphs without one: 10 % train, 10 % val, 80 % test, stratified by class (at
    least one node of each class in each part) and seeded."""
    counts = torch.bincount(y[y != UNLABELLED], minlength=num_classes)  # nodes without a label are in no split
    small = [c for c in range(num_classes) if 0 < counts[c] < 3]
    if small:
        raise DataError(f"split=random needs >= 3 nodes of every class; class(es) {small} have fewer (counts {counts.tolist()})")
    g = generator(seed, "graph-split")
    parts: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        nodes = (y == c).nonzero().reshape(-1)
        nodes = nodes[torch.randperm(nodes.numel(), generator=g)]
        n_train = max(1, round(0.1 * nodes.numel()))
        n_val = max(1, min(round(0.1 * nodes.numel()), nodes.numel() - n_train - 1))
        parts["train"].append(nodes[:n_train])
        parts["val"].append(nodes[n_train:n_train + n_val])
        parts["test"].append(nodes[n_train + n_val:])
    return {k: torch.cat(v).sort().values for k, v in parts.items()}
