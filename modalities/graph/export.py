"""Graphs on disk without pickle, and a picture of a condensed graph.

A saved graph is a directory of two files:

- ``graph.safetensors``: ``x`` (N, F) float32, ``edge_index`` (2, E) int64, ``y`` (N,) int64 and, when
  present, ``edge_weight`` (E,) float32 and ``train_mask`` / ``val_mask`` / ``test_mask`` (N,) bool;
- ``graph.json``: ``{"format": "mmdistill.graph/1", "name", "num_nodes", "num_classes", "classes",
  "tensors": {name: shape}, ...}``.

:func:`load_graph_data` reads it back without executing code; :func:`to_pyg` makes it a PyG ``Data``.
The same format is an input (``dataset=saved``). A condensed graph's export holds only ``train_mask`` (every node is a
training node), so it loads as a dataset with ``split=random`` (or once saved with val and test masks).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.integrity import class_names
from mmdistill.io import load_tensors, read_json, save_tensors, write_json
from mmdistill.plots import drawable_labels, pyplot, save_figure
from mmdistill.series_style import COLOURS, class_style, class_style_words
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import id_list, quantity

from ..artifacts import PREVIEW_FONT_PT, fitted_label
from .datasets import FEATURE_STATISTICS

if TYPE_CHECKING:
    from torch_geometric.data import Data

TENSORS_FILE = "graph.safetensors"
HEADER_FILE = "graph.json"
FORMAT = "mmdistill.graph/1"
_OPTIONAL = ("edge_weight", "train_mask", "val_mask", "test_mask")


def save_graph_data(out_dir: str | Path, *, x: Tensor, edge_index: Tensor, y: Tensor, edge_weight: Tensor | None = None,
                    masks: dict[str, Tensor] | None = None, classes: list[str] | None = None, name: str = "",
                    meta: dict[str, Any] | None = None) -> Path:
    """Write a node-classification graph as ``graph.safetensors`` + ``graph.json`` (atomically, JSON last)."""
    out_dir = Path(out_dir)
    n = int(x.shape[0])
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise DataError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if y.shape[0] != n:
        raise DataError(f"y has {y.shape[0]} entries for {n} nodes")
    tensors = {"x": x.detach().float(), "edge_index": _integer_ids("edge_index", edge_index), "y": _integer_ids("y", y)}
    if edge_weight is not None:
        tensors["edge_weight"] = edge_weight.detach().float()
    for split, m in (masks or {}).items():
        if split not in ("train", "val", "test"):
            raise DataError(f"masks: unknown split {split!r}; use train, val and test")
        if m.dtype != torch.bool or m.reshape(-1).numel() != n:
            raise DataError(f"masks[{split!r}] must be a boolean mask with one entry per node ({n}), got "
                            f"{m.dtype} of shape {tuple(m.shape)}")
        tensors[f"{split}_mask"] = m.detach().reshape(-1)
    num_classes = len(classes) if classes else (int(tensors["y"].max()) + 1 if y.numel() else 0)
    save_tensors(out_dir / TENSORS_FILE, tensors, metadata={"format": FORMAT})
    write_json(out_dir / HEADER_FILE, {
        "format": FORMAT, "name": name, "num_nodes": n, "num_classes": num_classes,
        "classes": list(classes) if classes else [str(c) for c in range(num_classes)],
        "tensors": {k: list(v.shape) for k, v in tensors.items()}, **(meta or {}),
    })
    return out_dir


def _integer_ids(name: str, t: Tensor) -> Tensor:
    """``t`` (node ids or class ids) as int64; a floating tensor is taken only when every value is a whole number
    (``.long()`` would truncate 0.7 to class 0 and NaN to garbage). DataError naming ``name`` and the first bad value."""
    t = t.detach()
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t) | (t != torch.round(t)) if not t.is_complex() else torch.ones_like(t, dtype=torch.bool)
        if bool(bad.any()):
            first = t.reshape(-1)[bad.reshape(-1)][0].item()
            raise DataError(f"{name} must hold integer ids, got {int(bad.sum())} non-integer value(s) (first: {first:g}); "
                            f"pass integer ids (a {t.dtype} tensor is read only when every value is a whole number)")
    elif t.dtype == torch.bool:
        raise DataError(f"{name} must hold integer ids, got a bool tensor")
    return t.long()


def load_graph_data(path: str | Path) -> dict[str, Any]:
    """Read a saved graph (no code executed): a dict with ``x``, ``edge_index``, ``y``, the optional
    tensors, ``classes``, ``name`` and the JSON header under ``header``. ArtifactError on a damaged copy."""
    path = Path(path)
    if not (path / HEADER_FILE).is_file():
        raise DataError(f"{path} holds no {HEADER_FILE}; a saved graph is a folder with {TENSORS_FILE} and {HEADER_FILE}")
    header = read_json(path / HEADER_FILE)
    if header.get("format") != FORMAT:
        raise ArtifactError(f"{path / HEADER_FILE} is not a saved mmdistill graph (format {header.get('format')!r})")
    tensors = load_tensors(path / TENSORS_FILE)
    for key in ("x", "edge_index", "y"):
        if key not in tensors:
            raise ArtifactError(f"{path / TENSORS_FILE} lacks the tensor {key!r}")
    for key, shape in header.get("tensors", {}).items():
        if key not in tensors or list(tensors[key].shape) != list(shape):
            raise ArtifactError(f"{path / TENSORS_FILE}: tensor {key!r} does not match the header's shape {shape}")
    out: dict[str, Any] = {k: tensors[k] for k in ("x", "edge_index", "y")}
    out.update({k: tensors[k] for k in _OPTIONAL if k in tensors})
    out.update(classes=header.get("classes"), name=header.get("name", ""), header=header, source=str(path))
    return out


def to_pyg(raw: dict[str, Any]) -> Data:
    """A ``torch_geometric.data.Data`` of a graph read by :func:`load_graph_data`."""
    from torch_geometric.data import Data

    return Data(**{k: raw[k] for k in ("x", "edge_index", "y", *_OPTIONAL) if raw.get(k) is not None})


def load_condensed(path: str | Path) -> Data:
    """The exported condensed graph at ``path`` as a PyG ``Data`` (x, edge_index, edge_weight, y, train_mask), with
    ``classes``: the class names in class-id order (``y == i`` is ``classes[i]``; a user's own labels in another order
    map through them: walk 52C's own GNN scored 46 % with its labels in its own order)."""
    raw = load_graph_data(path)
    data = to_pyg(raw)
    data.classes = list(raw.get("classes") or [])
    return data


#: what an exported graph's features are, per the source's ``normalize_features``: a model trained on the export reads
#: real graphs normalised the same way (a GCN trained on a Cora export scored 36.7 % on raw Planetoid features, 60.4 %
#: with NormalizeFeatures)
FEATURE_NOTES = {
    "row": "learned in the source's row-normalised feature space (each node's features divided by their sum, PyG's "
           "NormalizeFeatures): normalise real graphs the same way before using a model trained on this graph",
    "standard": "learned in the source's standardised feature space (zero mean, unit variance per feature, the training "
                "nodes' statistics, feature_mean and feature_std here): standardise real graphs with them, (x - "
                "feature_mean) / feature_std, before using a model trained on this graph",
    "none": "learned in the source's feature space, unnormalised",
}


def export_condensed(syn: SyntheticSet, out_dir: str | Path) -> Path:
    """Write the condensed graph of ``syn`` (adjacency sparsified at the set's threshold) as a saved graph;
    every node is a training node. Raises ConfigError (key ``to``) if ``out_dir`` exists and is not empty."""
    from .matching import synthetic_graph

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):  # the --to argument's fault (exit 2), as every export's
        raise ConfigError(f"export target {out_dir} exists and is not empty; choose another --to", key="to")
    with torch.no_grad():
        g = synthetic_graph(syn, threshold=syn.meta.get("adj_threshold"))
    n = g.num_nodes
    edge_index, edge_weight = g.edges()
    return save_graph_data(
        out_dir, x=g.x, edge_index=edge_index, y=syn.labels, edge_weight=edge_weight,
        masks={"train": torch.ones(n, dtype=torch.bool)}, classes=list(syn.meta.get("classes", [])) or None,
        name=f"condensed {syn.meta.get('dataset', '')}".strip(),
        meta={"structure": syn.meta.get("structure"), "adj_threshold": syn.meta.get("adj_threshold"),
              **({"normalize_features": syn.meta["normalize_features"],
                  "features": FEATURE_NOTES.get(syn.meta["normalize_features"], "")} if "normalize_features" in syn.meta else {}),
              **{k: syn.meta[k] for k in FEATURE_STATISTICS if syn.meta.get(k) is not None}},
    )


#: how the metrics of a set were measured, per its ``setting`` (the card of an export says it to a user testing their own GNN)
SETTING_NOTES = {
    "transductive": "transductively: each network trained on the condensed graph ran on the whole real graph (every node "
                    "and edge) and was scored on its test nodes, the best validation epoch kept",
    "inductive": "inductively: each network trained on the condensed graph ran on the subgraph induced by the real test "
                 "nodes (validation: the validation nodes' subgraph, the best epoch kept)",
}


def export_note(meta: dict[str, Any]) -> str:
    """The card's words on an export of the condensed graph whose ``syn.meta`` is ``meta``: the files and tensors, the
    loading line, the feature space a model trained on it expects of real graphs, and the evaluation setting."""
    structure = ("the learned adjacency kept above its threshold "
                 f"{meta.get('adj_threshold')}" if meta.get("structure") == "pge" else
                 "empty: a structure-free graph (A' = I), a GCN's self-loops are its only edges")
    rule = meta.get("normalize_features")
    feats = f" Its node features are {FEATURE_NOTES[rule]}." if rule in FEATURE_NOTES else ""
    setting = SETTING_NOTES.get(str(meta.get("setting")), "")
    return (f"`{TENSORS_FILE}` holds the condensed graph: `x` (N, F) node features in the source's feature order, "
            f"`edge_index` (2, E) and `edge_weight` (E,) ({structure}), `y` (N,) class ids and `train_mask` (every node "
            f"is a training node); `{HEADER_FILE}` names the classes in class-id order (`classes`) and the feature "
            "space (`normalize_features`, `features`). Read it as a PyG `Data`, no pickle: `from mmdistill.modalities.graph "
            "import load_condensed; data = load_condensed(\"PATH/TO/THIS/FOLDER\")` (or "
            f"`safetensors.torch.load_file(\"{TENSORS_FILE}\")`), and train a GNN on all its nodes with "
            f"`edge_weight=data.edge_weight`.{feats}" + (f" The metrics above were measured {setting}." if setting else ""))


#: edges per node the layout panel of the preview draws (the strongest ones): a condensed adjacency is dense
#: (GCond keeps every weight above a small threshold) and drawing all of it hides the structure
PREVIEW_EDGES_PER_NODE = 3

#: a class name in the preview's legend: characters per line and lines (longer names wrapped and cut with an ellipsis)
LEGEND_CHARS, LEGEND_LINES = 24, 2
#: the legend under the structured preview: at most this many entries a row, fewer when the names are long
LEGEND_COLUMNS, LEGEND_ROW_CHARS = 7, 90


def strongest_edges(edges: list[tuple[int, int, float]], per_node: int) -> list[tuple[int, int, float]]:
    """The union over nodes of each node's ``per_node`` heaviest edges (``(u, v, weight)`` with u < v), in the
    input's order."""
    by_node: dict[int, list[tuple[float, int]]] = {}
    for i, (u, v, w) in enumerate(edges):
        by_node.setdefault(u, []).append((w, i))
        by_node.setdefault(v, []).append((w, i))
    keep = {i for lst in by_node.values() for _, i in sorted(lst, key=lambda t: (-t[0], t[1]))[:per_node]}
    return [e for i, e in enumerate(edges) if i in keep]


def draw_condensed(syn: SyntheticSet, path: str | Path, title: str = "") -> Path:
    """A PNG of the condensed graph in two panels: left, one dot per synthetic node coloured by class with each
    node's :data:`PREVIEW_EDGES_PER_NODE` strongest kept edges, weight as opacity (spring layout of those edges,
    seeded); right, the kept adjacency A' as a matrix, nodes ordered by class with the class blocks outlined (how
    much weight stays within a class). A structure-free set (A' = I) draws the nodes alone."""
    import networkx as nx
    from matplotlib.collections import LineCollection

    g, edges, drawn = _kept_edges(syn)
    n = g.num_nodes
    labels = syn.labels.cpu().tolist()
    names = drawable_labels(class_names(syn.meta, syn.num_classes), Path(path).name)
    classes = [fitted_label(c, LEGEND_CHARS, LEGEND_LINES) for c in names]
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from(drawn)
    pos = nx.spring_layout(graph, seed=0, weight="weight") if n else {}
    plt = pyplot()
    structured = _structured(syn, edges)
    fig, axes = plt.subplots(1, 2 if structured else 1, figsize=(11.0 if structured else 6.4, 5.2), dpi=110, squeeze=False)
    ax = axes[0][0]
    if drawn:
        segs = [(pos[u], pos[v]) for u, v, _ in drawn]
        top = max(x for *_, x in drawn)
        colors = [(0.2, 0.2, 0.2, 0.05 + 0.75 * x / top) for *_, x in drawn]
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=0.8, zorder=1))
    for c in range(syn.num_classes):
        pts = [pos[i] for i in range(n) if labels[i] == c]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=46, edgecolors="white", linewidths=0.6, zorder=2,
                       label=classes[c], **class_style(c))  # a colour and a shape: a class is told apart without colour
    ax.set_axis_off()
    if structured:
        ax.set_title(f"nodes by class, {_drawn_words(edges, drawn)}", fontsize=PREVIEW_FONT_PT)
        _draw_adjacency(axes[0][1], g, labels, syn.num_classes)
        longest = max((len(line) for c in classes for line in c.split("\n")), default=1)
        columns = max(1, min(syn.num_classes, LEGEND_COLUMNS, LEGEND_ROW_CHARS // (longest + 5)))  # + the marker's room
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=columns, fontsize=PREVIEW_FONT_PT, frameon=False,
                  title="class", title_fontsize=PREVIEW_FONT_PT)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=PREVIEW_FONT_PT, frameon=False, title="class",
                  title_fontsize=PREVIEW_FONT_PT)
    structure = _structure_words(syn, edges)
    fig.suptitle(f"{title}\n{structure}" if title else f"{n} nodes, {structure}", fontsize=PREVIEW_FONT_PT + 1)
    return save_figure(fig, path)


def condensed_words(syn: SyntheticSet) -> str:
    """What :func:`draw_condensed` draws, in words (the card's alt text of the preview): its panels, the edges drawn
    and the class key (each class's colour and marker shape, :func:`mmdistill.series_style.class_style_words`, and its
    node count; up to 12 classes named, :func:`mmdistill.words.id_list`)."""
    g, edges, drawn = _kept_edges(syn)
    n, labels = g.num_nodes, syn.labels.cpu()
    names = class_names(syn.meta, syn.num_classes)
    key = id_list(f"{names[c]} {class_style_words(c)} ({int((labels == c).sum())})" for c in range(syn.num_classes)
                  if (labels == c).any())
    said = f"the condensed graph's {quantity(n, 'synthetic node')}, one marker per node coloured and shaped by class"
    if _structured(syn, edges):
        said += (f", in two panels: left, the nodes placed by a spring layout of {_drawn_words(edges, drawn)}, an edge's "
                 f"weight as its opacity; right, the kept adjacency A' as a {n} x {n} matrix shaded white (0) to black "
                 "(the largest weight), nodes ordered by class with each class's block outlined")
    said += f"; {_structure_words(syn, edges)}; class key: {key}"
    return said


#: the last set's :func:`_kept_edges` (one slot): an artifact's write draws the preview and then asks for its words
#: (:func:`condensed_words`), and each call ran the generator on all n^2 node pairs (an (n^2, h) activation per layer),
#: sparsified and sorted the edges again. Held with a weak reference to the set, its data tensors themselves and their
#: in-place versions and the threshold: a changed tensor or threshold builds the graph again.
_KEPT: list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]] = []


def _kept_key(syn: SyntheticSet) -> tuple[Any, ...]:
    return syn.meta.get("adj_threshold"), tuple((k, v, v._version) for k, v in syn.data.items())


def _same_key(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(
        ka == kb and ta is tb and va == vb for (ka, ta, va), (kb, tb, vb) in zip(a[1], b[1]))


def _kept_edges(syn: SyntheticSet) -> tuple[Any, list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """The set's kept graph (``synthetic_graph`` at its threshold), its edges ``(u, v, weight)`` with u < v, and those
    the preview draws (:func:`strongest_edges`); built once for the preview and its words (:data:`_KEPT`)."""
    key = _kept_key(syn)
    if _KEPT and _KEPT[0][0]() is syn and _same_key(_KEPT[0][1], key):
        return _KEPT[0][2]  # type: ignore[return-value]
    kept = _build_kept_edges(syn)
    _KEPT[:] = [(weakref.ref(syn), key, kept)]
    return kept


def _build_kept_edges(syn: SyntheticSet) -> tuple[Any, list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    from .matching import synthetic_graph

    with torch.no_grad():
        g = synthetic_graph(syn, threshold=syn.meta.get("adj_threshold"))
    ei, w = (t.cpu() for t in g.edges())
    keep = ei[0] < ei[1]
    edges = [(int(u), int(v), float(x)) for (u, v), x in zip(ei[:, keep].t().tolist(), w[keep].tolist())]
    return g, edges, strongest_edges(edges, PREVIEW_EDGES_PER_NODE)


def _structured(syn: SyntheticSet, edges: list[tuple[int, int, float]]) -> bool:
    """Whether the preview draws the edges and the adjacency panel (a set with structure and a kept edge)."""
    return syn.meta.get("structure") != "identity" and bool(edges)


def _drawn_words(edges: list[tuple[int, int, float]], drawn: list[tuple[int, int, float]]) -> str:
    return ("every kept edge" if len(drawn) == len(edges) else
            f"each node's {PREVIEW_EDGES_PER_NODE} strongest edges ({len(drawn)} of {len(edges)})")


def _structure_words(syn: SyntheticSet, edges: list[tuple[int, int, float]]) -> str:
    return ("A' = I (structure-free)" if syn.meta.get("structure") == "identity" else
            f"{len(edges)} edges (weight >= {syn.meta.get('adj_threshold')})")


def _draw_adjacency(ax: Any, g: Any, labels: list[int], num_classes: int) -> None:
    """The dense kept adjacency (n, n) with rows and columns ordered by class, class blocks outlined."""
    from matplotlib.patches import Rectangle

    n = g.num_nodes
    order = sorted(range(n), key=lambda i: (labels[i], i))
    dense = torch.zeros(n, n)
    ei, w = (t.cpu() for t in g.edges())
    dense[ei[0], ei[1]] = w.float()
    idx = torch.tensor(order, dtype=torch.long)
    image = ax.imshow(dense[idx][:, idx].numpy(), cmap="Greys", interpolation="nearest", vmin=0)
    start = 0
    for c in range(num_classes):
        size = sum(1 for y in labels if y == c)
        if size:
            for edge, width in (("white", 2.4), (COLOURS[5], 1.0)):  # a white rim under the line: seen on dark and light
                ax.add_patch(Rectangle((start - 0.5, start - 0.5), size, size, fill=False, edgecolor=edge, linewidth=width))  # cells
        start += size
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("kept adjacency A', nodes ordered by class (class blocks outlined)", fontsize=PREVIEW_FONT_PT)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="edge weight")


__all__ = ["FORMAT", "SETTING_NOTES", "PREVIEW_EDGES_PER_NODE", "condensed_words", "draw_condensed", "strongest_edges", "export_condensed", "export_note", "load_condensed", "load_graph_data", "save_graph_data", "to_pyg"]
