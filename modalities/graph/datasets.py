"""Loaders of node-classification graphs, each returning a checked :class:`NodeClassificationData`.

``dataset`` names (``data_root`` is a local folder; nothing is downloaded unless ``download=True``):

==================  ==========================================================================================
``cora``,           Planetoid's raw files ``data_root/<Name>/raw/ind.<name>.*``, read by our restricted
``citeseer``,       unpickler (:mod:`.planetoid`; the tensors of PyG's ``Planetoid``: public split,
``pubmed``          row-normalised features, transductive — GCond's setting)
``flickr``,         PyG ``Flickr`` / ``Reddit`` (GraphSAINT's splits, features standardised on the training
``reddit``          nodes, inductive — GCond's setting)
``ogbn-arxiv``      OGB's ``PygNodePropPredDataset`` (needs the ``ogb`` package; symmetrised, standardised,
                    transductive)
``pyg:Class``,      any ``torch_geometric.datasets`` class whose first graph has ``x``, ``y`` and masks,
``pyg:Class/name``  built as ``Class(dir)`` or ``Class(dir, name)``; its ``edge_weight`` is kept, its ``edge_attr`` (edge
                    features) named as not used
``saved``           a graph saved without pickle: ``data_root/graph.safetensors`` + ``graph.json``
                    (:func:`modalities.graph.export.save_graph_data`; a condensed graph's export is one, its
                    ``edge_weight`` kept; it holds only ``train_mask``, so it loads with ``split=random``)
``files``           ``data_root/edges.{csv,tsv,txt}`` (two node ids per line, optionally a third column: the
                    edge's weight), ``features.{npy,csv,txt}`` (one row per node), ``labels.{npy,csv,txt}`` (one
                    class id per node, -1 for a node without a label) and optional ``train.txt``, ``val.txt``, ``test.txt`` (node ids); a first
                    line of column names in a text file is skipped; a folder with ``nodes.csv`` (``id``,
                    ``label``, ``split`` columns) is read by its ids and class names (:mod:`.node_table`)
``sbm``,            a generated stochastic block model with class-dependent features (embedded default,
``sbm:N:C:F``       N nodes, C classes, F features; default 700:7:32), Planetoid-style split
==================  ==========================================================================================

``data_root`` is only read. The PyG/OGB classes (Flickr, Reddit, ogbn-arxiv, ``pyg:``) run in a mirror of
it under our cache (:func:`mmdistill.cache_dir.cache_root`: ``$MMDISTILL_CACHE``, else ``$XDG_CACHE_HOME/mmdistill``,
else ``~/.cache/mmdistill``), where their ``processed/`` files go, and under
:func:`~modalities.safe_pickle.guarded_loading`: pickles they read pass the restricted unpickler, ``torch.load`` is
weights-only. ``download=True`` fetches missing Planetoid files into ``<cache>/graph/download/``.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from mmdistill.cache_dir import cache_root
from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.seeding import generator
from mmdistill.words import id_list, quantity, shown, unsafe

from ..artifacts import one_spelling_per_label
from .data import (UNLABELLED, Graph, NodeClassificationData, NodeName, check_edge_weights, check_edges, check_labels,
                   check_split, node_namer)
from .planetoid import download_raw_files, missing_raw_files, read_planetoid
from .pyg_cache import is_reused, pyg_workdir
from .registered import graph_tensors, registered_graph
from ..safe_pickle import PickleRefused, UnreadableFile, guarded_loading

logger = logging.getLogger(__name__)

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
GRAPHSAINT = {"flickr": "Flickr", "reddit": "Reddit"}
INDUCTIVE = frozenset(GRAPHSAINT)  # GCond's inductive datasets
#: the ``meta`` keys of a ``"standard"`` graph's training-node statistics (lists of F floats; :func:`standard_statistics`)
FEATURE_STATISTICS = ("feature_mean", "feature_std")
#: the load report's words for the nodes labelled :data:`~.data.UNLABELLED`
UNLABELLED_WORDS = "node(s) without a label (-1) kept in the graph (features and edges), in no split"
STANDARDISED = frozenset({"flickr", "reddit", "ogbn-arxiv"})  # GCond standardises these on the training nodes


@dataclass(frozen=True)
class GraphLoadOptions:
    """What a loader needs besides the name and root (the config's keys of the same names)."""

    download: bool = False
    setting: str = "auto"
    split: str = "masks"
    normalize_features: str = "auto"
    symmetrize: bool = False
    seed: int = 0
    #: seed of ``split="random"``'s draw; None: ``seed`` (a recipe passes its ``split_seed``: the split is the data's)
    split_seed: int | None = None


def default_setting(name: str) -> str:
    """GCond's setting of ``name``: inductive for Flickr and Reddit, transductive otherwise."""
    return "inductive" if name.lower() in INDUCTIVE else "transductive"


def load_graph_dataset(name: str, root: str | None, opts: GraphLoadOptions = GraphLoadOptions()) -> NodeClassificationData:
    """Load ``name`` (see the module table) from ``root`` and check it; raises DataError/ConfigError naming
    the file, field or option at fault."""
    key = name.lower()
    if key in PLANETOID:
        raw = _planetoid(key, _need_root(name, root), opts)
    elif key in GRAPHSAINT:
        raw = _pyg_class(GRAPHSAINT[key], None, _need_root(name, root), opts, label=key)
    elif key == "ogbn-arxiv":
        raw = _ogbn_arxiv(_need_root(name, root), opts)
    elif key.startswith("pyg:"):
        cls, _, sub = name[4:].partition("/")
        raw = _pyg_class(cls, sub or None, root, opts, label=name)
    elif key == "saved":
        from .export import HEADER_FILE, TENSORS_FILE, load_graph_data

        folder = _need_root(name, root)
        raw = load_graph_data(folder)
        raw["name"] = raw.get("name") or Path(folder).name
        raw["source"] = f"saved graph {Path(folder).name}"  # the folder's name, not the machine's path
        raw["files"] = {k: str(Path(folder) / TENSORS_FILE) for k in ("x", "y", "edge_index")}  # errors name the file
        raw["files"]["classes"] = str(Path(folder) / HEADER_FILE)
    elif key == "files":
        raw = _edge_list_files(Path(_need_root(name, root)))
    elif key == "sbm" or key.startswith("sbm:"):
        raw = make_sbm(*_sbm_spec(name), seed=opts.seed)
    elif registered_graph(name) is not None:
        raw = registered_graph(name)  # type: ignore[assignment]
        key = "registered"
    else:
        raise ConfigError(
            f"unknown graph dataset {name!r}; use cora, citeseer, pubmed, flickr, reddit, ogbn-arxiv, pyg:<Class>[/<name>], "
            "saved, files, sbm[:N:C:F] or a name given to modalities.graph.register_graph in this process"
        )
    if not key.startswith("sbm"):  # read from files: what loading merged or kept as given goes into the set's manifest
        if not isinstance(raw.get("load_report"), LoadReport):
            raw["load_report"] = LoadReport()
        raw["load_report"].root = str(Path(root).expanduser()) if root else ""
    return build_data(raw, key if not key.startswith("sbm") else "sbm", opts)


# ---------------------------------------------------------------------------------------------- assembly
def build_data(raw: dict[str, Any], key: str, opts: GraphLoadOptions) -> NodeClassificationData:
    """Check the loaded tensors (``x``, ``edge_index``, ``y``, masks), split, normalise the features. A
    :class:`~mmdistill.load_report.LoadReport` in ``raw["load_report"]`` (the Planetoid reader's merges) gets the
    self-loops and repeated edges counted and becomes ``meta["load_report"]``."""
    name = str(raw.get("name", key))
    files: dict[str, str] = {k: str(v) for k, v in (raw.get("files") or {}).items()}  # field -> the file it came from
    x_src = files.get("x", name)
    x = raw.get("x")
    if x is None:
        raise DataError(f"{name}: the graph has no node features x; give an (N, F) feature matrix (e.g. one-hot ids)")
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if x.is_sparse:
        x = x.to_dense()
    if x.dim() != 2:
        raise DataError(f"{x_src}: node features must have shape (N, F), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{x_src}: node features have shape {tuple(x.shape)}; a graph needs >= 1 node and >= 1 feature "
                        "column (give one-hot node ids if the graph has no features)")
    x = x.float()
    finite = torch.isfinite(x)
    if not finite.all():
        node, col = (int(v) for v in (~finite).nonzero()[0])
        raise DataError(f"{x_src}: node features contain {int((~finite).sum())} NaN or infinite value(s) (first at node "
                        f"{node}, feature {col}); fill or drop them first")
    n = int(x.shape[0])
    if raw.get("y") is None:
        raise DataError(f"{name}: the graph has no node labels y; node classification needs one class id per node")
    y = check_labels(files.get("y", name), torch.as_tensor(raw["y"]), n)
    if raw.get("edge_index") is None:
        raise DataError(f"{name}: the graph has no edge_index; give its edges as (2, E) node ids")
    report = raw.get("load_report")
    _report_unlabelled(y, files.get("y", name), report)
    node_name = node_namer(raw.get("node_ids"))
    edge_index, edge_weight = _edges(raw, n, files.get("edge_index", f"{name} edge_index"),
                                     opts.symmetrize or key == "ogbn-arxiv", report, node_name)
    _report_edge_features(raw, name, report)
    classes = _class_names(raw, y, files.get("y", name), files.get("classes", name))
    sources = {s: files[f"{s}_mask"] for s in ("train", "val", "test") if f"{s}_mask" in files}
    if opts.split == "random":
        _report_unused_masks(raw, name, sources, report)
        split = random_split(y, len(classes), opts.seed if opts.split_seed is None else opts.split_seed)
    elif opts.split == "masks":
        if key == "files":
            _check_split_files(raw, Path(files["edge_index"]).parent)
        elif key == "saved":
            _check_saved_masks(raw, files.get("x", name), y, len(classes))
        split = check_split(name, y, {s: raw.get(f"{s}_mask") for s in ("train", "val", "test")}, len(classes), sources,
                            node_name)
    else:
        raise ConfigError(f"split must be 'masks' or 'random', got {opts.split!r}")
    if opts.split == "random":
        check_split(name, y, {s: split[s] for s in split}, len(classes))
    setting = default_setting(key) if opts.setting == "auto" else opts.setting
    norm = opts.normalize_features
    if norm == "auto":
        norm = "row" if key in PLANETOID else "standard" if key in STANDARDISED else "none"
    stats = standard_statistics(x, split["train"]) if norm == "standard" else None
    x = normalize_features(x, norm, split["train"], stats)
    return NodeClassificationData(
        name=name, graph=Graph(x, edge_index, edge_weight), y=y, train_idx=split["train"], val_idx=split["val"],
        test_idx=split["test"],
        setting=setting, classes=classes,
        meta={"source": raw.get("source", key), "normalize_features": norm, "setting": setting, "split": opts.split,
              **(dict(zip(FEATURE_STATISTICS, (t.tolist() for t in stats))) if stats is not None else {}),
              **({"load_report": report.as_dict()} if isinstance(report, LoadReport) else {})},
    )


def _class_names(raw: dict[str, Any], y: Tensor, label_src: str, classes_src: str) -> list[str]:
    """The class names of ``raw`` (its ``classes``, or ``"0".."C-1"`` when it names none) checked against the labels
    ``y``: a DataError naming ``label_src`` for a label id >= the number of nodes (each class needs a training node, so
    such ids are never valid; refused before anything is built per class id), and naming ``classes_src``, field
    ``classes``, for names that are not a list of strings, that repeat (or spell one name two ways: Unicode form or whitespace, :func:`~modalities.artifacts.one_spelling_per_label`), hold a control or bidi-reordering character, or
    are fewer than the labels need."""
    top, n = int(y.max()), int(y.numel())
    if top >= n:
        node = int((y == top).nonzero()[0])
        distinct = int(torch.unique(y[y != UNLABELLED]).numel())
        raise DataError(f"{label_src}: label {top} at node {node}, but only {quantity(distinct, 'distinct label')} among "
                        f"{quantity(n, 'node')}; class ids run 0..C-1 with every class holding a training node, so "
                        f"renumber the classes 0..{distinct - 1}")
    given = raw.get("classes")
    if given is None or (isinstance(given, (list, tuple)) and not given):
        return [str(c) for c in range(top + 1)]
    where = f"{classes_src}: field 'classes'"
    if not isinstance(given, (list, tuple)) or not all(isinstance(c, str) for c in given):
        at = -1 if not isinstance(given, (list, tuple)) else next(i for i, c in enumerate(given) if not isinstance(c, str))
        got = f"{type(given).__name__}" if at < 0 else f"list whose item {at} is {type(given[at]).__name__}"
        raise DataError(f"{where} must be a list of strings, one class name per class id 0..C-1, got a {got} "
                        f"({shown(json.dumps(given, default=str)[:60])})")
    names = list(given)
    counts: Counter[str] = Counter()
    twice = []  # in the order each name's second mention comes
    for c in names:
        counts[c] += 1
        if counts[c] == 2:
            twice.append(c)
    if twice:
        raise DataError(f"{where} names {id_list((shown(repr(c)) for c in twice), 5)} more than once; give each class id its own name")
    one_spelling_per_label(where, dict(enumerate(names)), "class")
    bad = next((i for i, c in enumerate(names) if any(map(unsafe, c))), None)
    if bad is not None:
        raise DataError(f"{where}: class {bad}'s name {shown(repr(names[bad]))} holds a control or bidi-reordering "
                        "character (a line break, tab, escape sequence or direction override); rename the class")
    if top >= len(names):
        raise DataError(f"{label_src}: label {top} but {where} names only {quantity(len(names), 'class', 'classes')}")
    return names


def _edges(raw: dict[str, Any], n: int, source: str, symmetrize: bool,
           report: LoadReport | None, node_name: NodeName = str) -> tuple[Tensor, Tensor | None]:
    """``(edge_index (2, E), edge_weight (E,) or None)`` of ``raw`` checked (:func:`check_edges`, and
    :func:`check_edge_weights` when the data has ``edge_weight``: a saved condensed graph, a weighted edge list)."""
    given = torch.as_tensor(raw["edge_index"])
    edge_index = check_edges(given, n, source=source, symmetrize=symmetrize, report=report, node_name=node_name)
    if raw.get("edge_weight") is None:
        return edge_index, None
    return check_edge_weights(torch.as_tensor(raw["edge_weight"]), given.long(), n, source=source, symmetrize=symmetrize,
                              node_name=node_name)


#: the load report's kind for data the load did not use, and what it says
UNUSED_KIND = {"ignored": "split file(s) or mask(s) not used (split=random draws its own split)"}


def _report_unlabelled(y: Tensor, source: str, report: LoadReport | None) -> None:
    """Count the nodes whose label is :data:`~.data.UNLABELLED` (kept in the graph, in no split): logged, and in
    ``report`` as ``unlabelled_nodes``."""
    count = int((y == UNLABELLED).sum())
    if report is not None:
        report.descriptions = {**report.descriptions, "unlabelled_nodes": UNLABELLED_WORDS}
        report.count("unlabelled_nodes", count)
    if count:
        logger.warning("%s: %s %s", source, quantity(count, "node"), UNLABELLED_WORDS.replace("node(s) ", ""))


def _report_unused_masks(raw: dict[str, Any], name: str, sources: dict[str, str], report: LoadReport | None) -> None:
    """``split=random`` on data that has its own split: each mask (or split file, as named in ``sources``) it
    leaves out is logged in a warning and listed in ``report`` as ``ignored``. A generated graph (no report)
    says nothing: its split is not the user's input."""
    unused = [s for s in ("train", "val", "test") if raw.get(f"{s}_mask") is not None]
    if not unused or report is None:
        return
    report.descriptions = {**report.descriptions, **UNUSED_KIND}
    for s in unused:
        report.add("ignored", sources.get(s, f"{s}_mask"), "split=random draws its own split")
    shown = ", ".join(report.relative(sources[s]) if s in sources else f"{s}_mask" for s in unused)
    logger.warning("%s: split=random: not using the data's own split (%s); pass split=masks (--split masks) to use it",
                   name, shown)


#: the load report's kind for edge features the networks do not take, and what it says
EDGE_FEATURES_KIND = {"edge_features_ignored": "edge features (edge_attr) not used (GCond's networks take edge weights only)"}


def _report_edge_features(raw: dict[str, Any], name: str, report: LoadReport | None) -> None:
    """Data with edge features (a PyG graph's ``edge_attr``): GCond's networks take node features and edge weights, no
    edge features, so they are left out, named in a warning and listed in ``report`` as ``edge_features_ignored``."""
    attr = raw.get("edge_attr")
    if attr is None:
        return
    shape = tuple(torch.as_tensor(attr).shape)
    hint = ""
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        hint = ("; if they are edge weights, save the graph with edge_weight=edge_attr "
                "(modalities.graph.save_graph_data) and load it as dataset=saved")
    if report is not None:
        report.descriptions = {**report.descriptions, **EDGE_FEATURES_KIND}
        report.add("edge_features_ignored", "edge_attr", f"edge features of shape {shape}: GCond's networks take none")
    logger.warning("%s: edge_attr %s (edge features) not used: GCond's networks take node features and edge weights "
                   "only%s", name, shape, hint)


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


def normalize_features(x: Tensor, how: str, train_idx: Tensor, statistics: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``"row"``: each row divided by its sum (PyG ``NormalizeFeatures``, GCond's Planetoid setting);
    ``"standard"``: zero mean, unit variance per feature, statistics of the training nodes (GCond's
    GraphSAINT/OGB setting; ``statistics``: those already computed by :func:`standard_statistics`); ``"none"``."""
    if how == "none":
        return x
    if how == "row":
        if negative := int((x < 0).any(dim=1).sum()):  # row sums near 0 blow their features up, signs flip
            logger.warning("normalize_features=row divides each node's features by their sum (made for non-negative features "
                        "such as bag-of-words counts), but %s of %s hold negative values; standard suits such features",
                        quantity(negative, "node"), x.shape[0])
        s = x.sum(dim=1, keepdim=True)
        return x / s.masked_fill(s == 0, 1.0)
    if how == "standard":
        mean, std = statistics if statistics is not None else standard_statistics(x, train_idx)
        return (x - mean) / std
    raise ConfigError(f"normalize_features must be auto, row, standard or none, got {how!r}")


def standard_statistics(x: Tensor, train_idx: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean, std)`` (F,) of the training nodes' raw features (population std; a constant feature's std is 1, so
    ``(x - mean) / std`` leaves it at zero): what ``"standard"`` normalises with and what a set keeps for its consumers."""
    ref = x[train_idx]
    std = ref.std(dim=0, unbiased=False)
    return ref.mean(dim=0), std.masked_fill(std == 0, 1.0)


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


# ---------------------------------------------------------------------------------------------- sources
def _need_root(name: str, root: str | None) -> str:
    if not root:
        raise ConfigError(f"dataset {name!r} needs data_root (--data-root PATH), the folder that holds it")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {root} does not exist; give the folder that holds dataset {name!r}")
    if not path.is_dir():
        raise DataError(f"data_root {root} is a file; give the folder that holds dataset {name!r}")
    return str(path)


def _first_graph(ds: Any, label: str) -> dict[str, Any]:
    """The raw dict of ``ds[0]``: its tensors :func:`build_data` reads, ``edge_weight`` (kept, checked) and
    ``edge_attr`` (left out, named: :func:`_report_edge_features`) among them."""
    raw = graph_tensors(ds[0])  # several fixed splits (e.g. WikiCS): the first
    raw["name"] = label
    raw["source"] = f"torch_geometric.datasets.{type(ds).__name__}"
    return raw


def _planetoid(key: str, root: str, opts: GraphLoadOptions) -> dict[str, Any]:
    """Cora/CiteSeer/PubMed from ``root/<Name>/raw`` (or, with ``download``, the cache's download folder)
    by the restricted reader of :mod:`.planetoid`; nothing is written into ``root``."""
    pname = PLANETOID[key]
    raw_dir = Path(root) / pname / "raw"
    missing = missing_raw_files(raw_dir, key)
    if missing and not opts.download:
        raise DataError(
            f"{pname}: {raw_dir} lacks {', '.join(missing)}; put Planetoid's raw files there "
            f"(data_root is the folder holding {pname}/raw/), or pass download=true (--download) when online"
        )
    if missing:
        raw_dir = cache_root() / "graph" / "download" / pname / "raw"
        logger.info("%s: %s lacks %s; downloading into %s", pname, root, ", ".join(missing), raw_dir)
        download_raw_files(raw_dir, key)
    return read_planetoid(raw_dir, key)


_PYG_OPTIONS = frozenset({"transform", "pre_transform", "pre_filter", "force_reload", "log"})  # not a dataset name


_OFFLINE_HINT = "; offline runs need the dataset's files there"


def _named_failure(exc: BaseException) -> BaseException | None:
    """The guard's refusal or a DataError that ``exc`` is or was raised from (a library wraps what it calls), else None."""
    named = exc if isinstance(exc, (DataError, PickleRefused)) else exc.__cause__ or exc.__context__
    return named if isinstance(named, (DataError, PickleRefused)) else None


def _refusal(exc: BaseException) -> BaseException | None:
    """:func:`_named_failure`, unless it is a truncated or corrupt file (:class:`~modalities.safe_pickle.UnreadableFile`):
    damage, which a cache entry of ours may be built again for, where a refused global is news to report."""
    named = _named_failure(exc)
    return None if isinstance(named, UnreadableFile) else named


def _load_failure(label: str, root: str, exc: BaseException, hint: str = _OFFLINE_HINT) -> DataError:
    """A DataError naming ``label`` for a dataset class that failed: the guard's refusal or named failure (itself, or
    the cause of a library's error) or the library's error."""
    named = _named_failure(exc)
    if named is not None:
        msg = str(named)
        return DataError(msg if msg.startswith(f"{label}: ") else f"{label}: {msg}")
    return DataError(f"{label}: could not load from {root} ({type(exc).__name__}: {exc}){hint}")


def _guarded_class(cls: type, label: str, root: str | None, download: bool) -> type:
    """A subclass of the dataset class ``cls`` (same name) that prints nothing (PyG's "Processing..." lines;
    the cache's progress is logged instead) and, unless ``download``, cannot download: a missing raw file is
    a DataError naming it under ``root`` instead of a silent fetch from the internet."""
    from torch_geometric.data import Dataset, InMemoryDataset

    attrs: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                             "log": property(lambda self: False, lambda self, value: None)}
    downloads = any("download" in c.__dict__ for c in cls.__mro__ if c not in (Dataset, InMemoryDataset, object))
    if downloads and not download:
        def download_refused(self: Any) -> None:  # PyG calls it only when a raw file is missing
            base = cache_root() / "graph"  # the mirror of data_root is base/<entry>/
            missing = [Path(p) for p in self.raw_paths if not Path(p).exists()]
            names = [str(Path(*p.relative_to(base).parts[1:])) if p.is_relative_to(base) else p.name for p in missing]
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            raise DataError(f"{label}: {root} lacks {shown} (the raw files torch_geometric.datasets.{cls.__name__} "
                            "reads, relative to data_root); put them there, or pass download=true (--download) when "
                            "online")

        attrs["download"] = download_refused
    return type(cls.__name__, (cls,), attrs)


def _pyg_class(cls_name: str, sub: str | None, root: str | None, opts: GraphLoadOptions, *, label: str) -> dict[str, Any]:
    """The first graph of ``torch_geometric.datasets.<cls_name>``, built (and its ``processed/`` written) in a
    mirror of ``root`` under our cache, ``sub`` the dataset's name argument; classes that ship their data
    (KarateClub) take no root. Runs under :func:`guarded_loading`; downloads only with ``opts.download``."""
    import inspect

    import torch_geometric.datasets as pyg_datasets

    cls = getattr(pyg_datasets, cls_name, None) if cls_name.isidentifier() else None
    if cls is None or not inspect.isclass(cls):
        raise ConfigError(f"torch_geometric.datasets has no class {cls_name!r} (dataset {label!r})")
    params = inspect.signature(cls).parameters
    takes_root = "root" in params
    others = [n for n in params if n != "root"]
    args = (sub,) if sub else ()
    named = bool(others) and others[0] not in _PYG_OPTIONS
    try:
        if sub and not named:
            raise TypeError("it takes no name argument")
        inspect.signature(cls).bind(*(("root",) if takes_root else ()), *args)
    except TypeError as exc:
        how = f"pyg:{cls_name}/<name>" if not sub else f"pyg:{cls_name}"
        raise ConfigError(f"dataset {label!r}: torch_geometric.datasets.{cls_name} cannot be built from it ({exc}); "
                          f"write {how}") from None
    if not takes_root:
        with guarded_loading():
            try:
                return _first_graph(_guarded_class(cls, label, root, opts.download)(*args), label)
            except (Exception, PickleRefused) as exc:  # noqa: BLE001  (any failure of the library becomes a named DataError)
                raise _load_failure(label, "its shipped data", exc, hint="") from None
    root = _need_root(label, root)
    if not opts.download and not any(Path(root).iterdir()):
        raise DataError(f"{label}: {root} is empty; put the dataset's files there, or pass download=true when online")
    return _in_workdir(label, root, lambda work: _first_graph(_guarded_class(cls, label, root, opts.download)(str(work), *args), label))


def _in_workdir(label: str, root: str, load: Callable[[Path], Any]) -> Any:
    """``load(work)`` in the cache's mirror of ``root`` (:func:`pyg_workdir`), under :func:`guarded_loading`; a reused
    cache entry whose processed files do not load (damaged: truncated, not a torch file) is built again once, with a
    warning naming it (walk 49A: every later run failed, blaming data_root); a refused pickle or a DataError is not
    damage (:func:`_refusal`: a crafted file is named), and neither is a failure of a fresh build: both are a DataError
    naming ``label``."""
    for rebuild in (False, True):
        with pyg_workdir(Path(root), label, rebuild=rebuild) as work, guarded_loading():
            try:
                return load(work)
            except (Exception, PickleRefused) as exc:  # noqa: BLE001  (refused pickle, missing file, malformed file ...)
                if rebuild or not is_reused(work) or _refusal(exc) is not None:  # a refused pickle is news, not damage
                    raise _load_failure(label, root, exc) from None
                logger.warning("%s: the cache entry %s does not load (%s: %s); building it again from %s", label, work,
                               type(exc).__name__, str(exc)[:400], root)
    raise AssertionError("unreachable")


def _ogbn_arxiv(root: str, opts: GraphLoadOptions) -> dict[str, Any]:
    try:
        from ogb.nodeproppred import PygNodePropPredDataset
    except ImportError:
        raise ConfigError(
            "ogbn-arxiv is read with OGB's loader: pip install ogb — or save the graph once as "
            "dataset=saved (modalities.graph.export.save_graph_data) and load that"
        ) from None
    def load(work: Path) -> tuple[dict[str, Any], Any]:
        ds = _guarded_class(PygNodePropPredDataset, "ogbn-arxiv", root, opts.download)("ogbn-arxiv", root=str(work))
        return _first_graph(ds, "ogbn-arxiv"), ds.get_idx_split()

    raw, split = _in_workdir("ogbn-arxiv", root, load)
    raw.update(train_mask=split["train"], val_mask=split["valid"], test_mask=split["test"])
    return raw


def _find(root: Path, stem: str, exts: tuple[str, ...], required: bool = True) -> Path | None:
    for ext in exts:
        p = root / f"{stem}.{ext}"
        if p.is_file():
            return p
    if required:
        raise DataError(f"{root}: no {stem}.{{{','.join(exts)}}} file (dataset=files needs edges, features and labels)")
    return None


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _text_rows(path: Path, delim: str | None, skip: int = 0) -> Iterator[tuple[int, list[str]]]:
    """``(0-based line number, fields)`` of each line of the text table ``path`` after its first ``skip`` lines that
    holds anything but a ``#`` comment, as ``np.loadtxt`` counts rows."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:  # a byte-order mark (Excel's CSV UTF-8) is no value
        for number, line in enumerate(f):
            text = line.split("#", 1)[0].strip()
            if number >= skip and text:
                yield number, [v.strip() for v in text.split(delim)]


def _is_header(first: list[str], second: list[str]) -> bool:
    """Whether ``first`` (the fields of a table's first line) are column names above the row ``second``: one of them
    is not a number and every field of ``second`` is, or none of them is and ``second`` has as many fields (string
    ids such as ``n16,n20`` under ``source,target``: the header is skipped, so an error names the first value line)."""
    if all(_is_number(v) for v in second):
        return not all(_is_number(v) for v in first)
    return len(first) == len(second) and not any(_is_number(v) for v in first)


def _header_rows(path: Path, delim: str | None, announce: bool = True) -> int:
    """Lines of the text table ``path`` to skip before its values: through its first line when that line is a header
    (:func:`_is_header`; logged unless not ``announce``), else 0; ``#`` comments are no lines."""
    lines = list(itertools.islice(_text_rows(path, delim), 2))  # the first two value lines
    if len(lines) < 2 or not _is_header(lines[0][1], lines[1][1]):
        return 0
    if announce:
        logger.info("%s: line %d (%s) is a header of column names; not read", path, lines[0][0] + 1,
                    (delim or " ").join(lines[0][1]))
    return lines[0][0] + 1


def _read_table(path: Path, dtype: Any, ndmin: int) -> np.ndarray:
    """A numeric table from ``.npy`` (no pickle), ``.csv`` (commas) or whitespace-separated text (a first line
    of column names is skipped: :func:`_header_rows`); integers are read exactly, also when written as floats (``1.0``,
    ``np.savetxt``'s ``1.000000000000000000e+00``); a non-integer value is a DataError naming it and its line, never
    truncated."""
    want = np.dtype(dtype)
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
                what = f"a {arr.dtype} array" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise DataError(f"{path}: expected a numeric .npy array, got {what}")
            if want.kind in "iu" and arr.dtype.kind == "f":
                odd = ~np.isfinite(arr) | (arr != np.round(arr))
                if odd.any():
                    raise DataError(f"{path}: expected integers, found {int(odd.sum())} non-integer value(s) "
                                    f"(e.g. {arr[odd].reshape(-1)[0].item()!r})")
            return arr.astype(want)
        delim = "," if path.suffix == ".csv" else None
        with warnings.catch_warnings():  # numpy warns on an empty file; the callers name that case
            warnings.simplefilter("ignore", UserWarning)
            skip = _header_rows(path, delim)
            # numpy < 2.3 reads '1.5' into an integer dtype as 1 with only a DeprecationWarning: made an error here,
            # so every float-written value takes the checked path below on any numpy
            warnings.simplefilter("error", DeprecationWarning)
            try:
                return np.loadtxt(path, delimiter=delim, dtype=want, ndmin=ndmin, comments="#", skiprows=skip,
                                  encoding="utf-8-sig")
            except (ValueError, DeprecationWarning) as exc:
                if want.kind not in "iu":
                    raise _table_error(path, want, exc, skip, delim) from None
                try:  # integers written as floats ('1.0', np.savetxt's '1.000000000000000000e+00'): read, then checked
                    table = np.loadtxt(path, delimiter=delim, dtype=np.float64, ndmin=2, comments="#", skiprows=skip,
                                       encoding="utf-8-sig")
                except ValueError as float_exc:
                    raise _table_error(path, want, exc if isinstance(exc, ValueError) else float_exc, skip, delim) from None
        return _exact_integers(path, table, want, ndmin, skip, delim)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read it as a table of {want.name} ({exc})") from None


def _value_line(path: Path, skip: int, delim: str | None, row: int) -> tuple[int, list[str]]:
    """The 1-based line number and the fields of value row ``row`` (0-based, as numpy counts rows) of the text table
    ``path`` read after its first ``skip`` lines; ``#`` comments and blank lines are no rows. ``(0, [])`` past the end."""
    number, fields = next(itertools.islice(_text_rows(path, delim, skip), row, None), (-1, []))
    return number + 1, fields


def _table_error(path: Path, want: np.dtype, exc: ValueError, skip: int, delim: str | None) -> DataError:
    """numpy's error on a value it cannot convert ("could not convert string 'x' to int64 at row 0, column 1", the row
    0-based among the value rows) as a DataError naming the file's 1-based line; other errors as numpy words them."""
    m = re.search(r"^(.*) at row (\d+), column (\d+)\.?$", str(exc))
    line = _value_line(path, skip, delim, int(m.group(2)))[0] if m else 0
    if not m or not line:
        return DataError(f"{path}: cannot read it as a table of {want.name} ({exc})")
    return DataError(f"{path}: cannot read it as a table of {want.name}: line {line}, column {m.group(3)}: {m.group(1)}")


def _not_exact_integers(table: np.ndarray) -> np.ndarray:
    """Where the float values of ``table`` are no integer a float64 holds exactly: not finite, fractional, or beyond 2**53."""
    return ~np.isfinite(table) | (table != np.round(table)) | (np.abs(table) > 2**53)


def _exact_integers(path: Path, table: np.ndarray, want: np.dtype, ndmin: int, skip: int, delim: str | None) -> np.ndarray:
    """The float64 table ``table`` (rows x columns) of the text file ``path`` as integers ``want`` in the shape
    ``np.loadtxt(ndmin=ndmin)`` gives: each value integral and exact (|v| <= 2**53), else a DataError naming the
    file, the first such value and its 1-based line."""
    odd = _not_exact_integers(table)
    if odd.any():
        row, col = (int(v) for v in np.argwhere(odd)[0])
        line, fields = _value_line(path, skip, delim, row)
        value = fields[col] if col < len(fields) else repr(float(table[row, col]))
        raise DataError(f"{path}: expected integers, found {int(odd.sum())} non-integer value(s): line {line} holds "
                        f"{value!r} (column {col + 1}); write whole numbers (1 or 1.0, not 1.5)")
    if ndmin < 2:  # np.loadtxt's shape: a single row or column is 1-D
        table = np.atleast_1d(table.squeeze())
    return table.astype(want)


_EDGE_LINE = "one edge per line: two node ids (source target), optionally its weight as a third column"


def _first_bad_node_id(path: Path) -> str | None:
    """``line N: node id 'n16' is not an integer``: the first node id (the first two fields of a value line of the
    text edge list ``path``, after its header) that is not a number, and the header line skipped if any; None when
    every id is a number or ``path`` is ``.npy``."""
    if path.suffix == ".npy":
        return None
    delim = "," if path.suffix == ".csv" else None
    skip = _header_rows(path, delim, announce=False)  # _read_table logged it
    for number, fields in _text_rows(path, delim, skip):
        bad = next((v for v in fields[:2] if not _is_number(v)), None)
        if bad is not None:
            header = next(_text_rows(path, delim), (0, []))[1] if skip else []
            read_as = f" (line {skip}, {(delim or ' ').join(header)!r}, read as the header)" if skip else ""
            return f"line {number + 1}: node id {bad!r} is not an integer{read_as}"
    return None


def _read_edges(path: Path, features: Path | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The edge list ``path``: ``(edges (E, 2) int64, weights (E,) float32 or None)``, from lines ``u v`` or
    ``u v w`` (commas in ``.csv``; node ids are integers, checked exactly: the 0-based rows of ``features``).
    DataError naming the file and the line format otherwise; a node id that is not a number (``n16``) is named with
    its line."""
    try:
        table = _read_table(path, np.float64, 2)
    except DataError as exc:
        bad = _first_bad_node_id(path)
        if bad is not None:
            rows = features.name if features is not None else "the features file"
            raise DataError(f"{path}: {bad}: node ids are the 0-based row numbers of {rows} (0 for its first row); renumber "
                            f"the nodes and write {_EDGE_LINE}") from None
        raise DataError(f"{exc}; an edge list holds {_EDGE_LINE}, a first line of column names is skipped") from None
    if table.size == 0:
        raise DataError(f"{path}: holds no edges; write {_EDGE_LINE}")
    if table.shape[1] not in (2, 3):
        raise DataError(f"{path}: each line must hold two node ids (source target) and optionally a weight, got "
                        f"{table.shape[1]} columns; write {_EDGE_LINE}")
    ids = table[:, :2]
    odd = ~np.isfinite(ids) | (ids != np.round(ids))
    big = ~odd & (np.abs(ids) > 2**53)  # integers, but no node's row number (and beyond what float64 holds exactly)
    if big.any() and not odd.any():
        row, col = (int(v) for v in np.argwhere(big)[0])
        rows = features.name if features is not None else "the features file"
        raise DataError(f"{path}: edge {row} (0-based, in file order) has node id {float(ids[row, col]):.0f} in column "
                        f"{col + 1}, out of range ({int(big.any(axis=1).sum())} such edge(s)): node ids are the 0-based "
                        f"row numbers of {rows} (0 for its first row); write {_EDGE_LINE}")
    if odd.any():
        row, col = (int(v) for v in np.argwhere(odd)[0])
        raise DataError(f"{path}: node ids must be integers; edge {row} (0-based, in file order) has "
                        f"{float(ids[row, col])!r} in column {col + 1} ({int(odd.any(axis=1).sum())} such edge(s)); "
                        f"write {_EDGE_LINE}")
    weights = np.ascontiguousarray(table[:, 2], dtype=np.float32) if table.shape[1] == 3 else None
    return ids.astype(np.int64), weights


def _edge_list_files(root: Path) -> dict[str, Any]:
    """The raw dict of a ``dataset=files`` folder; ``files`` maps each field to the file it came from. A folder with a
    node table (``nodes.csv``: ids, labels, split; :mod:`.node_table`) is read by its ids instead of row numbers."""
    from .node_table import node_table, read_node_table

    table = node_table(root)
    if table is not None:
        return read_node_table(root, table, _find, _read_table)
    paths = {"edge_index": _find(root, "edges", ("csv", "tsv", "txt")), "x": _find(root, "features", ("npy", "csv", "txt")),
             "y": _find(root, "labels", ("npy", "csv", "txt"))}
    edges, weights = _read_edges(paths["edge_index"], paths["x"])  # type: ignore[arg-type]
    x = _read_table(paths["x"], np.float32, 2)  # type: ignore[arg-type]
    y = _read_table(paths["y"], np.int64, 1)  # type: ignore[arg-type]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.size == 0 or y.size == 0:
        raise DataError(f"{paths['x'] if x.size == 0 else paths['y']}: holds no values; give one row per node")
    if x.shape[0] != y.shape[0]:
        x_name, y_name = Path(str(paths["x"])).name, Path(str(paths["y"])).name
        raise DataError(f"{root}: {x_name} has {x.shape[0]} rows but {y_name} has {y.shape[0]} (one row per node in both)")
    raw: dict[str, Any] = {"x": torch.from_numpy(np.ascontiguousarray(x)), "y": torch.from_numpy(np.ascontiguousarray(y)),
                           "edge_index": torch.from_numpy(np.ascontiguousarray(edges.T)), "name": root.name, "source": f"local folder {root.name}"}
    if weights is not None:
        raw["edge_weight"] = torch.from_numpy(weights)
    for split in ("train", "val", "test"):
        p = _find(root, split, ("txt", "csv"), required=False)
        if p is not None:
            raw[f"{split}_mask"] = torch.from_numpy(_read_table(p, np.int64, 1).reshape(-1))
            paths[f"{split}_mask"] = p
    raw["files"] = {k: str(v) for k, v in paths.items()}
    logger.info("%s: read %s", root, ", ".join(v.name for v in paths.values() if v is not None))
    return raw


# ---------------------------------------------------------------------------------------------- generated
#: the largest ``sbm:`` graph: PyG's generator holds every node pair (8 bytes x N^2: 3.2 GB at 20,000 nodes), and the
#: features are N x F float32 (plus one copy: 800 MB at the cap of N x F)
SBM_MAX_NODES = 20_000
SBM_MAX_FEATURES = 100_000
SBM_MAX_CELLS = 100_000_000  # N x F
_SBM_NUMBER = re.compile(r"-?[0-9]{1,30}")  # ASCII digits only: int() would also read "9_0" and full-width digits


def _sbm_spec(name: str) -> tuple[int, int, int]:
    """``(N, C, F)`` of ``sbm:N:C:F`` (``sbm``: 700, 7, 32); a one-line ConfigError naming the part out of its range
    (:data:`SBM_MAX_NODES`, :data:`SBM_MAX_FEATURES`, :data:`SBM_MAX_CELLS`) or a split that leaves no test node."""
    if name.lower() == "sbm":
        return 700, 7, 32
    parts = name.split(":")[1:]
    if len(parts) != 3 or not all(_SBM_NUMBER.fullmatch(p.strip()) for p in parts):
        raise ConfigError(f"dataset {name!r}: write sbm:NODES:CLASSES:FEATURES in decimal digits, e.g. sbm:700:7:32")
    n, c, f = (int(p) for p in parts)
    for part, value, low, high in (("CLASSES", c, 2, SBM_MAX_NODES // 10), ("NODES", n, 10 * max(c, 2), SBM_MAX_NODES),
                                   ("FEATURES", f, 1, max(1, min(SBM_MAX_FEATURES, SBM_MAX_CELLS // max(n, 1))))):
        if not low <= value <= high:
            why = {"CLASSES": "", "NODES": f" (>= 10 nodes per class; at most {SBM_MAX_NODES:,}: the generator holds "
                                           "every node pair)",
                   "FEATURES": f" (NODES x FEATURES at most {SBM_MAX_CELLS:,})"}[part]
            raise ConfigError(f"dataset {name!r}: {part} is {value}, expected {low}..{high:,}{why}; write "
                              "sbm:NODES:CLASSES:FEATURES, e.g. sbm:700:7:32")
    if not _sbm_split_fits(n, c):
        smallest = max(n + 1, 200 * c // 9 + 1)  # the split fits once ceil(0.9 m) > 20 C (m >= 20 C)
        while not _sbm_split_fits(smallest, c):  # a step or two at most: the closed form, checked
            smallest += 1
        raise ConfigError(f"dataset {name!r}: its Planetoid-style split takes 20 training nodes per class and 10 % of "
                          f"the nodes for validation, which leaves no test node; use >= {smallest} nodes for {c} classes")
    return n, c, f


def _sbm_split_fits(num_nodes: int, num_classes: int) -> bool:
    """Whether :func:`make_sbm`'s split of ``num_nodes`` nodes leaves >= 1 validation and >= 1 test node."""
    sizes = [num_nodes // num_classes + (1 if c < num_nodes % num_classes else 0) for c in range(num_classes)]
    rest = num_nodes - sum(min(20, s) for s in sizes)
    return num_nodes // 10 >= 1 and rest - num_nodes // 10 >= 1


def make_sbm(num_nodes: int = 700, num_classes: int = 7, num_features: int = 32, *, seed: int = 0,
             p_in: float = 0.03, p_out: float = 0.004, signal: float = 0.3) -> dict[str, Any]:
    """A stochastic block model whose class decides both the edges and the features.

    Nodes split evenly into ``num_classes`` blocks; an edge joins two nodes with probability ``p_in``
    inside a block and ``p_out`` across (undirected). Features: a class centre drawn from N(0, I) times
    ``signal`` plus N(0, I) noise, so features alone are ambiguous and neighbours help. Split like
    Planetoid: 20 training nodes per class, 10 % of the nodes for validation, the rest for testing.
    Returns the raw dict :func:`build_data` checks.
    """
    from torch_geometric.utils import stochastic_blockmodel_graph

    g = generator(seed, "sbm", num_nodes, num_classes, num_features)
    sizes = [num_nodes // num_classes + (1 if c < num_nodes % num_classes else 0) for c in range(num_classes)]
    probs = torch.full((num_classes, num_classes), p_out)
    probs.fill_diagonal_(p_in)
    with torch.random.fork_rng(devices=[]):  # PyG draws from the global generator; keep it untouched
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        try:
            edge_index = stochastic_blockmodel_graph(sizes, probs, directed=False)
        except (MemoryError, RuntimeError) as exc:  # PyG's generator holds every node pair: O(N^2) memory
            raise ConfigError(f"sbm:{num_nodes}:{num_classes}:{num_features}: generating the graph needs memory for all "
                              f"{num_nodes * (num_nodes - 1) // 2:,} node pairs and failed ({type(exc).__name__}); use "
                              "fewer nodes") from None
    y = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
    centres = torch.randn(num_classes, num_features, generator=g)
    x = signal * centres[y] + torch.randn(num_nodes, num_features, generator=g)
    perm = torch.randperm(num_nodes, generator=g)
    train = torch.cat([perm[y[perm] == c][:20] for c in range(num_classes)])
    rest = perm[~torch.isin(perm, train)]
    n_val = num_nodes // 10
    masks = {}
    for split, idx in (("train", train), ("val", rest[:n_val]), ("test", rest[n_val:])):
        m = torch.zeros(num_nodes, dtype=torch.bool)
        m[idx] = True
        masks[f"{split}_mask"] = m
    return {"x": x, "edge_index": edge_index, "y": y, **masks, "name": f"sbm:{num_nodes}:{num_classes}:{num_features}",
            "classes": [f"block{c}" for c in range(num_classes)], "source": "generated stochastic block model"}


__all__ = ["FEATURE_STATISTICS", "GraphLoadOptions", "INDUCTIVE", "PLANETOID", "build_data", "default_setting", "load_graph_dataset",
           "make_sbm", "normalize_features", "random_split", "standard_statistics"]
