"""Graph adapter: condense node-classification graphs (GCond, GCond-X, distribution matching) with PyG.

``MODALITY`` is the adapter object the core finds by name (``mmdistill.modalities.graph``). Importing this
package registers the graph networks (sgc, gcn, graphsage, appnp, cheby, graph-mlp) in the core registry.
"""

from __future__ import annotations

from . import nets  # noqa: F401  (registers the graph networks)
from .adapter import GraphModality
from .config import GraphDistillConfig
from .data import Graph, NodeClassificationData
from .datasets import load_graph_dataset, make_sbm
from .export import export_condensed, load_condensed, load_graph_data, save_graph_data
from .prepare import features_like
from .registered import register_graph

MODALITY = GraphModality()

__all__ = ["MODALITY", "Graph", "GraphDistillConfig", "GraphModality", "NodeClassificationData", "export_condensed",
           "features_like", "load_condensed", "load_graph_data", "load_graph_dataset", "make_sbm", "register_graph", "save_graph_data"]
