"""A graph's train/val/test split: the masks checked (:func:`check_split`: disjoint, labelled nodes, every class
trained), the masks a saved graph or a ``dataset=files`` folder must hold for ``split=masks`` (their absence named with
the way out) and GCond's seeded stratified split for graphs without one (:func:`random_split`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.seeding import generator
from mmdistill.words import id_list, quantity

from .node_labels import UNLABELLED
from .node_names import NodeName


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
            if m.numel() and (m.dtype.is_floating_point or m.dtype.is_complex):  # [] is float32: an empty id list
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


__all__ = ["check_split", "random_split"]
