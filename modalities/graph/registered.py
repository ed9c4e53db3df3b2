"""In-memory graphs a Python user registers by name (:func:`register_graph`), loadable as ``dataset=<name>``.

A user holding a PyG ``Data`` (``x`` (N, F), ``edge_index`` (2, E), ``y`` (N,), optional ``edge_weight`` (E,) and boolean
``train_mask``/``val_mask``/``test_mask`` (N,)) condenses it without writing it to disk first; it is checked as every
loaded graph is (:func:`~.datasets.build_data`: labels, edges, split). Registrations live in this process only: a run
of such a set is re-evaluated (``mmdistill eval``) from Python after registering the graph again under its name.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.modality import registration_name

#: the tensors a graph's raw dict takes from a PyG ``Data`` (``edge_attr``: named as not used by the loader)
GRAPH_FIELDS = ("x", "edge_index", "edge_weight", "edge_attr", "y", "train_mask", "val_mask", "test_mask")
#: dataset names a registration may not take (the built-in loaders')
BUILT_IN = ("cora", "citeseer", "pubmed", "flickr", "reddit", "ogbn-arxiv", "saved", "files", "sbm")

_REGISTERED: dict[str, dict[str, Any]] = {}


def graph_tensors(data: Any) -> dict[str, Any]:
    """The :data:`GRAPH_FIELDS` of ``data`` (a PyG ``Data``, or a mapping of the same names), None where absent; a 2-D
    mask (several fixed splits, e.g. WikiCS) gives its first column."""
    get = data.get if isinstance(data, dict) else (lambda k: getattr(data, k, None))
    raw = {k: get(k) for k in GRAPH_FIELDS}
    for split in ("train", "val", "test"):
        m = raw[f"{split}_mask"]
        if isinstance(m, Tensor) and m.dim() == 2:
            raw[f"{split}_mask"] = m[:, 0]
    return raw


def register_graph(name: str, data: Any, classes: list[str] | None = None) -> str:
    """Make the graph ``data`` (a PyG ``Data`` or a dict of its tensors; labels ``-1`` for nodes without one) loadable as
    ``dataset=name``; ``classes``: the C class names in class-id order. Tensors are copied (detached): later edits of
    the caller's graph do not change the registered one. Returns ``name``."""
    registration_name("register_graph", name, lambda n: f"register_graph: {n!r} is a built-in graph dataset name; choose another"
                      if n.lower() in BUILT_IN or n.lower().startswith(("sbm:", "pyg:")) else None)
    if classes is not None and (isinstance(classes, str) or not isinstance(classes, (list, tuple))):
        raise ConfigError(f"register_graph({name!r}): classes must be a list of class names, got {type(classes).__name__}")
    raw = graph_tensors(data)
    for k in ("x", "edge_index", "y"):
        if raw[k] is None:
            raise DataError(f"register_graph({name!r}): the graph has no {k!r}; give a PyG Data with x, edge_index and y")
    raw = {k: (v.detach().clone() if isinstance(v, Tensor) else v) for k, v in raw.items() if v is not None}
    raw.update(name=name, source=f"in-memory graph registered as {name!r}",
               classes=list(classes) if classes is not None else None)
    _REGISTERED[name] = raw
    return name


def registered_graph(name: str) -> dict[str, Any] | None:
    """A shallow copy of the raw dict registered as ``name`` (None when none is): a load never changes the registration."""
    raw = _REGISTERED.get(name)
    return dict(raw) if raw is not None else None


__all__ = ["BUILT_IN", "GRAPH_FIELDS", "graph_tensors", "register_graph", "registered_graph"]
