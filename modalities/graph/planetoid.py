"""Planetoid's raw files (Cora, CiteSeer, PubMed) read without running code from them.

``ind.<name>.{x,tx,allx,y,ty,ally,graph}`` are Python 2 pickles: ``x``/``tx``/``allx`` sparse feature
matrices of the labelled training, test and all non-test nodes, ``y``/``ty``/``ally`` their one-hot labels,
``graph`` a dict ``node -> [neighbours]``; ``ind.<name>.test.index`` is text, one test node id per line.
They are read by :class:`~modalities.safe_pickle.RestrictedUnpickler` and assembled exactly as
``torch_geometric.io.planetoid.read_planetoid_data`` does (same tensors as PyG's ``Planetoid``), without
writing a ``processed/`` folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport

from ..safe_pickle import read_pickle

logger = logging.getLogger(__name__)

PICKLED = ("x", "tx", "allx", "y", "ty", "ally", "graph")
RAW_SUFFIXES = (*PICKLED, "test.index")
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
VAL_NODES = 500  # Planetoid's public split: the 500 nodes after the training nodes validate


def raw_paths(raw_dir: Path, key: str) -> dict[str, Path]:
    """``suffix -> raw_dir/ind.<key>.<suffix>`` for the eight raw files."""
    return {s: raw_dir / f"ind.{key}.{s}" for s in RAW_SUFFIXES}


def missing_raw_files(raw_dir: Path, key: str) -> list[str]:
    """Names of the raw files of ``key`` absent from ``raw_dir``."""
    return [p.name for p in raw_paths(raw_dir, key).values() if not p.is_file()]


def download_raw_files(raw_dir: Path, key: str) -> None:
    """Fetch the missing raw files of ``key`` from Planetoid's repository into ``raw_dir``."""
    from torch_geometric.data import download_url

    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in missing_raw_files(raw_dir, key):
        try:
            download_url(f"{PLANETOID_URL}/{name}", str(raw_dir), log=False)
        except OSError as exc:
            raise DataError(f"could not download {name} from {PLANETOID_URL} into {raw_dir} ({exc})") from None


# ---------------------------------------------------------------------------------------------- files
def _float_matrix(obj: Any, path: Path) -> Tensor:
    """A 2-D float32 tensor of a pickled scipy sparse matrix or numpy array (PyG: ``todense`` then float)."""
    import scipy.sparse as sp

    try:
        if sp.issparse(obj):
            cls = sp.csr_matrix if obj.format == "csr" else sp.csc_matrix
            obj = cls((np.asarray(obj.data), np.asarray(obj.indices), np.asarray(obj.indptr)), shape=obj.shape).toarray()
        arr = np.asarray(obj)
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise ValueError(f"a {arr.ndim}-D array of {arr.dtype}")
        return torch.from_numpy(np.ascontiguousarray(arr)).to(torch.float)
    except DataError:
        raise
    except Exception as exc:  # a malformed matrix: wrong index arrays, object dtype ...
        raise DataError(f"{path}: expected a 2-D numeric scipy sparse matrix or numpy array, got {exc}") from None


def _adjacency_lists(obj: Any, path: Path) -> dict[int, list[int]]:
    """The pickled ``graph``: a dict of integer node ids -> lists of integer neighbour ids."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict node id -> list of neighbour ids, got {type(obj).__name__}")
    out: dict[int, list[int]] = {}
    for k, v in obj.items():
        if not isinstance(k, (int, np.integer)) or not isinstance(v, (list, tuple)) or \
                not all(isinstance(u, (int, np.integer)) for u in v):
            raise DataError(f"{path}: entry {k!r} is not an integer node id -> list of integer neighbour ids")
        out[int(k)] = [int(u) for u in v]
    return out


def _test_index(path: Path) -> Tensor:
    """(T,) int64 node ids, one per line of ``ind.<name>.test.index``."""
    try:
        ids = np.loadtxt(path, dtype=np.int64, ndmin=1, comments=None)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: expected one integer node id per line ({exc})") from None
    if ids.ndim != 1 or ids.size == 0:
        raise DataError(f"{path}: expected one integer node id per line, got shape {ids.shape}")
    return torch.from_numpy(ids)


def read_raw_files(raw_dir: Path, key: str) -> dict[str, Any]:
    """The eight raw files of ``key``: float tensors for the matrices, a dict for ``graph``, (T,) test ids."""
    paths = raw_paths(raw_dir, key)
    items: dict[str, Any] = {}
    for s in PICKLED:
        obj = read_pickle(paths[s])
        items[s] = _adjacency_lists(obj, paths[s]) if s == "graph" else _float_matrix(obj, paths[s])
    items["test.index"] = _test_index(paths["test.index"])
    return items


# ---------------------------------------------------------------------------------------------- assembly
def _check_shapes(items: dict[str, Any], paths: dict[str, Path]) -> None:
    for feats, labels in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if items[feats].shape[0] != items[labels].shape[0]:
            raise DataError(f"{paths[feats]} has {items[feats].shape[0]} rows but {paths[labels].name} has "
                            f"{items[labels].shape[0]}; features and labels list the same nodes")
    for group in (("x", "tx", "allx"), ("y", "ty", "ally")):
        widths = {s: int(items[s].shape[1]) for s in group}
        if len(set(widths.values())) != 1:
            raise DataError(f"{paths[group[0]].parent}: {', '.join(f'ind.*.{s}' for s in group)} must have the same "
                            f"number of columns, got {widths}")


def _citeseer_isolated(tx: Tensor, ty: Tensor, test_index: Tensor, sorted_test: Tensor) -> tuple[Tensor, Tensor]:
    """CiteSeer's test ids skip isolated nodes: zero rows of ``tx``/``ty`` fill the gaps (as PyG)."""
    lo = test_index.min()
    size = int(test_index.max() - lo) + 1
    tx_ext = torch.zeros(size, tx.size(1), dtype=tx.dtype)
    tx_ext[sorted_test - lo, :] = tx
    ty_ext = torch.zeros(size, ty.size(1), dtype=ty.dtype)
    ty_ext[sorted_test - lo, :] = ty
    return tx_ext, ty_ext


#: the load report's kinds the reader counts (counts only) and what each says
READER_KINDS = {"self_loops_removed": "self-loop(s) removed (as PyG's Planetoid)",
                "repeated_entries_merged": "repeated neighbour entries merged (as PyG's Planetoid)"}


def _edge_index(graph: dict[int, list[int]], num_nodes: int, path: Path, report: LoadReport | None = None) -> Tensor:
    """(2, E) edges ``key -> neighbour`` without self-loops, coalesced (PyG's ``edge_index_from_dict``); the
    self-loops removed and entries merged are logged and counted in ``report``."""
    from torch_geometric.utils import coalesce, remove_self_loops

    rows = [k for k, v in graph.items() for _ in v]
    cols = [u for v in graph.values() for u in v]
    edge_index = torch.stack([torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)])
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise DataError(f"{path}: names node {int(edge_index.max())} (or a negative id) but the graph has "
                        f"{num_nodes} nodes (allx + tx rows)")
    listed = edge_index.shape[1]
    edge_index, _ = remove_self_loops(edge_index)
    loops = listed - edge_index.shape[1]
    edge_index = coalesce(edge_index, num_nodes=num_nodes, sort_by_row=False)
    if loops or listed - loops != edge_index.shape[1]:
        logger.info("%s: %d neighbour entries -> %d edges (%d self-loops removed, %d repeated entries merged; as PyG's "
                    "Planetoid)", path, listed, edge_index.shape[1], loops, listed - loops - edge_index.shape[1])
    if report is not None:
        report.descriptions = {**report.descriptions, **READER_KINDS}
        report.count("self_loops_removed", loops)
        report.count("repeated_entries_merged", listed - loops - edge_index.shape[1])
    return edge_index


def _mask(index: Tensor, size: int) -> Tensor:
    mask = torch.zeros(size, dtype=torch.bool)
    mask[index] = True
    return mask


def assemble(items: dict[str, Any], key: str, paths: dict[str, Path], report: LoadReport | None = None) -> dict[str, Tensor]:
    """``x`` (N, F) float, ``edge_index`` (2, E), ``y`` (N,) and boolean train/val/test masks (N,), as
    ``read_planetoid_data``: nodes are allx's then tx's (test rows moved to their ids), train = the first
    ``len(y)`` nodes, val = the next 500, test = the ids of ``test.index``."""
    _check_shapes(items, paths)
    x, tx, allx, y, ty, ally = (items[s] for s in ("x", "tx", "allx", "y", "ty", "ally"))
    test_index: Tensor = items["test.index"]
    sorted_test = test_index.sort()[0]
    if key == "citeseer":
        tx, ty = _citeseer_isolated(tx, ty, test_index, sorted_test)
    n = allx.size(0) + tx.size(0)
    miscounted = key != "citeseer" and sorted_test.numel() != tx.size(0)
    if int(test_index.min()) < allx.size(0) or int(test_index.max()) >= n or miscounted:
        raise DataError(f"{paths['test.index']}: test ids must be {tx.size(0)} ids in {allx.size(0)}..{n - 1} "
                        f"(the rows of {paths['tx'].name} after those of {paths['allx'].name})")
    if y.size(0) + VAL_NODES > n:
        raise DataError(f"{paths['y'].parent}: Planetoid's split takes the {VAL_NODES} nodes after the {y.size(0)} "
                        f"training nodes for validation, but the graph has only {n} nodes")
    feats = torch.cat([allx, tx], dim=0)
    feats[test_index] = feats[sorted_test]
    labels = torch.cat([ally, ty], dim=0).max(dim=1)[1]
    labels[test_index] = labels[sorted_test]
    return {
        "x": feats, "y": labels,
        "edge_index": _edge_index(items["graph"], n, paths["graph"], report),
        "train_mask": _mask(torch.arange(y.size(0)), n),
        "val_mask": _mask(torch.arange(y.size(0), y.size(0) + VAL_NODES), n),
        "test_mask": _mask(test_index, n),
    }


def read_planetoid(raw_dir: Path, key: str) -> dict[str, Any]:
    """The graph of ``raw_dir/ind.<key>.*`` as the raw dict :func:`~modalities.graph.datasets.build_data`
    checks; DataError naming the file for a refused global, a truncated file or inconsistent shapes."""
    paths = raw_paths(raw_dir, key)
    report = LoadReport()
    out: dict[str, Any] = assemble(read_raw_files(raw_dir, key), key, paths, report)
    out.update(name=key, source=f"Planetoid raw files {raw_dir} (restricted unpickler)", load_report=report)
    logger.info("read %s from %s: %d nodes, %d edges", key, raw_dir, out["x"].shape[0], out["edge_index"].shape[1])
    return out


__all__ = ["PICKLED", "RAW_SUFFIXES", "assemble", "download_raw_files", "missing_raw_files", "raw_paths",
           "read_planetoid", "read_raw_files"]
