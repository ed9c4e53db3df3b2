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

This module checks and assembles what a source gives (:func:`build_data`); the sources are :mod:`.pyg_sources`'
(Planetoid, PyG, OGB), :mod:`.files_folder`'s (``dataset=files``) and :mod:`.sbm`'s (generated), the split checks and
the random split :mod:`.node_split`'s; their public names are importable from here as before.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import id_list, quantity, shown, unsafe

from ..artifacts import one_spelling_per_label
from ..sources import dataset_name
from .data import NodeClassificationData
from .edge_checks import check_edge_weights, check_edges
from .files_folder import _edge_list_files
from .graph_tensors import Graph
from .node_labels import UNLABELLED, check_labels
from .node_names import NodeName, node_namer
from .node_split import _check_saved_masks, _check_split_files, check_split, random_split
from .pyg_sources import GRAPHSAINT, PLANETOID, _need_root, _ogbn_arxiv, _planetoid, _pyg_class
from .registered import registered_graph
from .sbm import _sbm_spec, make_sbm

logger = logging.getLogger(__name__)

INDUCTIVE = frozenset(GRAPHSAINT)  # GCond's inductive datasets
#: the ``meta`` keys of a ``"standard"`` graph's training-node statistics (lists of F floats; :func:`standard_statistics`)
FEATURE_STATISTICS = ("feature_mean", "feature_std")
#: the load report's words for the nodes labelled :data:`~.node_labels.UNLABELLED`
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


#: the graph dataset names that are not patterns or registered names (``pyg:<Class>[/<name>]``, ``sbm:N:C:F``)
FIXED_NAMES = (*PLANETOID, *GRAPHSAINT, "ogbn-arxiv", "saved", "files", "sbm")


def fixed_name(name: object) -> str:
    """``name`` stripped and lower-cased, one of :data:`FIXED_NAMES`; ConfigError (key ``dataset``) naming the closest
    names, the patterns and the registered names for another name or a value that is not a string
    (:func:`~modalities.sources.dataset_name`)."""
    return dataset_name(name, FIXED_NAMES, {}, "graph", also="(also pyg:<Class>[/<name>], sbm:N:C:F or a name given to "
                        "modalities.graph.register_graph in this process)")


def load_graph_dataset(name: str, root: str | None, opts: GraphLoadOptions = GraphLoadOptions()) -> NodeClassificationData:
    """Load ``name`` (see the module table) from ``root`` and check it; raises DataError/ConfigError naming
    the file, field or option at fault."""
    key = name.lower() if isinstance(name, str) else fixed_name(name)
    if key in PLANETOID:
        raw = _planetoid(key, _need_root(name, root), opts.download)
    elif key in GRAPHSAINT:
        raw = _pyg_class(GRAPHSAINT[key], None, _need_root(name, root), opts.download, label=key)
    elif key == "ogbn-arxiv":
        raw = _ogbn_arxiv(_need_root(name, root), opts.download)
    elif key.startswith("pyg:"):
        cls, _, sub = name[4:].partition("/")
        raw = _pyg_class(cls, sub or None, root, opts.download, label=name)
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
    else:  # a fixed name with spaces around it is that name; any other name a ConfigError naming the closest names
        return load_graph_dataset(fixed_name(name), root, opts)
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
    """Count the nodes whose label is :data:`~.node_labels.UNLABELLED` (kept in the graph, in no split): logged, and in
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



__all__ = ["FEATURE_STATISTICS", "GraphLoadOptions", "INDUCTIVE", "PLANETOID", "build_data", "default_setting", "load_graph_dataset",
           "make_sbm", "normalize_features", "random_split", "standard_statistics"]
