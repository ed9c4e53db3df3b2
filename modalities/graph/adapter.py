"""The graph adapter object: load, synthetic-graph initialisation, networks, evaluation, preview, export.

The synthetic set of a graph holds, in ``data``:

- ``x``: (n, F) learnable node features X';
- ``pge.*``: the learnable weights of GCond's adjacency generator (absent when ``structure="identity"``),

with class-major hard labels Y' in the class proportions of the training nodes, and in ``meta`` the
structure, the evaluation threshold, the class names and the budget. ``decode`` gives the evaluation graph
(adjacency sparsified at the threshold).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmdistill.errors import DataError
from mmdistill.evaluation import EvaluationPlan
from mmdistill.modality import AdapterDefaults
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

from ..sources import warn_unused_split_config
from .budget import check_budget_keys, resolve_budget
from .data import Graph, NodeClassificationData
from .datasets import FEATURE_STATISTICS, GraphLoadOptions, load_graph_dataset
from .pge import init_pge
from .share import DATASET_FACTS, NODE_FEATURES_COLUMN, graph_dataset, graph_from_hf, graph_hf_columns, graph_inputs, graph_memorisation_views

log = logging.getLogger(__name__)


class GraphModality(AdapterDefaults):
    """Node classification on one graph (GCond's transductive and inductive settings)."""

    name = "graph"
    sample_noun = "node"

    def load(self, config: Any) -> NodeClassificationData:
        """The graph of ``config`` (its budget keys checked first: :func:`~.budget.check_budget_keys`)."""
        check_budget_keys(config)
        opts = GraphLoadOptions(
            download=config.download, setting=config.setting,
            split=config.split, normalize_features=config.normalize_features,
            symmetrize=config.symmetrize, seed=config.seed, split_seed=config.split_seed,
        )
        if config.split == "masks":  # the data's own train/val/test masks: split_seed draws nothing
            warn_unused_split_config(config, str(config.dataset), "its train/val/test masks; --split random draws a split with "
                                     "split_seed", log, ("split_seed",))
        return load_graph_dataset(config.dataset, config.data_root, opts)

    def to_device(self, data: NodeClassificationData, device: torch.device) -> NodeClassificationData:
        return data.to(device)

    def describe(self, data: NodeClassificationData) -> str:
        return data.describe()

    def task(self, config: Any) -> ClassificationTask:
        return ClassificationTask()

    def init_synthetic(self, data: NodeClassificationData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """X' from random training nodes of each class (``init="real"``, GCond) or N(0, 1) noise, Y' in the
        training class proportions of the budget, and a fresh adjacency generator unless structure-free."""
        budget = resolve_budget(data.train_class_counts(), data.visible_nodes, reduction_rate=config.reduction_rate,
                                label_rate=config.label_rate, nodes_per_class=config.ipc)
        graph, _ = data.view("train")
        rows, labels = [], []
        for c, nodes in enumerate(data.train_nodes_by_class()):
            k = budget.per_class[c]
            if config.init == "real":
                if k > nodes.numel():
                    raise DataError(
                        f"{data.name}: the budget gives class {data.classes[c]!r} {k} synthetic nodes but it has only "
                        f"{nodes.numel()} training nodes to initialise them from; use init=noise or a smaller budget"
                    )
                pick = nodes[torch.randperm(nodes.numel(), generator=gen)[:k].to(nodes.device)]
                rows.append(graph.x[pick].detach().float().cpu().clone())
            else:
                rows.append(torch.randn(k, data.num_features, generator=gen))
            labels.append(torch.full((k,), c, dtype=torch.long))
        tensors = {"x": torch.cat(rows)}
        if config.structure == "pge":
            tensors.update(init_pge(data.num_features, config.pge_hidden, config.pge_layers, gen))
        return SyntheticSet(
            data=tensors, labels=torch.cat(labels), num_classes=data.num_classes,
            meta={"classes": list(data.classes), "dataset": data.name, "structure": config.structure,
                  "adj_threshold": config.adj_threshold, "setting": data.setting, "init": config.init,
                  "per_class": list(budget.per_class), "budget_label": budget.label(),
                  "num_features": data.num_features,
                  **{k: data.meta[k] for k in ("load_report", "normalize_features", *FEATURE_STATISTICS) if k in data.meta}},
        )

    def matching_network(self, config: Any, data: NodeClassificationData) -> nn.Module:
        from .nets import build_graph_network

        return build_graph_network(config.network, data.num_features, data.num_classes, hidden=config.hidden)

    def augmenter(self, strategy: str, dataset: str) -> None:
        return None  # graphs: no differentiable augmentation

    def decode(self, syn: SyntheticSet) -> Graph:
        """The evaluation graph: X' and A' sparsified at the set's threshold (A' = I when structure-free)."""
        from .matching import synthetic_graph

        return synthetic_graph(syn, threshold=syn.meta.get("adj_threshold"))

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: NodeClassificationData, device: torch.device) -> EvaluationPlan:
        from .evaluate import graph_plan

        return graph_plan(config, syn, data, device)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import draw_condensed

        return draw_condensed(syn, path, title)

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws: its panels, the edges drawn and the class key (colour, shape, node count)."""
        from .export import condensed_words

        return condensed_words(syn)

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_condensed

        return export_condensed(syn, out_dir)

    def export_note(self, syn: SyntheticSet) -> str | None:
        """What the export's two files hold, how to read them as a PyG ``Data`` without the run folder (the card's *How
        to load* reads a run), how to feed a model trained on it real graphs, and in which setting the metrics were
        measured (transductive: the whole real graph; inductive: the test nodes' own subgraph)."""
        from .export import export_note

        return export_note(syn.meta)

    # ------------------------------------------------------------------ sharing (mmdistill.sharing, .share)
    DATASET_FACTS = DATASET_FACTS

    def inputs(self, syn: SyntheticSet) -> dict[str, Tensor]:
        """The evaluation graph as ``x`` (n, F), ``edge_index`` (2, E), ``edge_weight`` (E,)."""
        return graph_inputs(self.decode(syn))

    def dataset_view(self, inputs: dict[str, Tensor], labels: Tensor, soft_labels: Tensor | None):
        return graph_dataset(inputs, labels, soft_labels)

    def hf_columns(self, syn: SyntheticSet, inputs: dict, labels: Tensor, soft_labels: Tensor | None) -> tuple[dict, dict]:
        return graph_hf_columns(syn, inputs, labels, soft_labels)

    def from_hf(self, ds: Any) -> dict[str, Tensor]:
        return graph_from_hf(ds)

    #: the export's column of ``x``, by which the hf description keys the statistics of a standardised graph
    hf_input_names = {"x": NODE_FEATURES_COLUMN}

    def expects_normalization(self, meta: dict[str, Any]) -> bool:
        """Only a standardised graph carries statistics (row-normalised and raw features are not normalised by them)."""
        return meta.get("normalize_features") == "standard"

    def input_note(self, meta: dict[str, Any]) -> str | None:
        """How the node features of a set that carries no mean/std are scaled (``row``: divided by each node's sum;
        ``none``: raw), for the card and the ``--to hf`` description: a model trained on the set reads real graphs
        scaled alike (a GCN trained on a Cora export scored 36.7 % on raw features, 60.4 % row-normalised)."""
        from .export import FEATURE_NOTES

        rule = meta.get("normalize_features")
        return f"node features {FEATURE_NOTES[rule]}" if rule in ("row", "none") else None

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> Tensor:
        """Your own nodes' raw features (M, F) in the set's feature space: :func:`~.prepare.features_like`, the sharing
        hook behind ``DistilledSet.inputs_like`` (the edges of your graph are yours)."""
        from .prepare import features_like

        return features_like(syn, raw, **options)

    def normalization(self, meta: dict[str, Any]) -> dict[str, dict[str, Tensor]]:
        """``x``: the training nodes' per-feature ``mean``/``std`` (F,) of the raw features when they were standardised
        (``meta["normalize_features"] == "standard"``); none otherwise (``row``: each node's features divided by their
        sum, which a consumer applies to their own nodes alike; ``none``: raw features)."""
        if meta.get("feature_mean") is None or meta.get("feature_std") is None:
            return {}
        return {"x": {k: torch.tensor(meta[f"feature_{k}"], dtype=torch.float32) for k in ("mean", "std")}}

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: NodeClassificationData, max_real: int, gen: torch.Generator):
        return graph_memorisation_views(syn, data, self.decode(syn), max_real, gen)

    def versions(self) -> dict[str, str]:
        import networkx
        import torch_geometric

        return {"torch_geometric": torch_geometric.__version__, "networkx": networkx.__version__}


__all__ = ["GraphModality"]
