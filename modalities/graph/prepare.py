"""Your own nodes' features as a condensed graph's inputs: :func:`features_like` brings raw node features (M, F) into the
feature space the set was learned in, by the rule the loader applied to the source graph (``meta["normalize_features"]``:
``row`` divides each node's features by their sum, ``standard`` subtracts the training nodes' ``feature_mean`` and
divides by their ``feature_std``, ``none`` keeps them), so a GNN trained on the set can be run on a graph of your own
(its edges are yours: only the features have the set's scale)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.inputs_like import source_meta

from .datasets import FEATURE_STATISTICS, normalize_features

if TYPE_CHECKING:
    from mmdistill.share import DistilledSet
    from mmdistill.synthetic import SyntheticSet


def features_like(source: DistilledSet | SyntheticSet | Mapping[str, Any], features: Tensor) -> Tensor:
    """``features`` (M, F) raw node features as the set's node features ``ds.x`` are, (M, F) float32.

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set, or its ``meta``.
        features: (M, F) node features in the source dataset's raw units (bag-of-words counts, ...), F the set's.

    Raises:
        ConfigError: ``features`` is not a 2-D tensor of the set's F features.
        ArtifactError: the set records no ``normalize_features`` (made before it was recorded, or not a graph set), or a
            standardised set lacks its statistics.
    """
    meta = source_meta(source, "features_like", "a condensed graph")
    rule = meta.get("normalize_features")
    if rule not in ("row", "standard", "none"):
        raise ArtifactError(f"features_like: the set's metadata records normalize_features={rule!r}, not row, standard or none: "
                            "it was not made by the graph adapter, or before the rule was recorded")
    want = meta.get("num_features")
    if not isinstance(features, Tensor) or features.dim() != 2 or (isinstance(want, int) and features.shape[1] != want):
        got = f"{tuple(features.shape)}" if isinstance(features, Tensor) else type(features).__name__
        raise ConfigError(f"features_like: expected node features (M, {want if isinstance(want, int) else 'F'}) as a tensor, got {got}")
    stats = None
    if rule == "standard":
        if any(meta.get(k) is None for k in FEATURE_STATISTICS):
            raise ArtifactError(f"features_like: the set was standardised but records no {' / '.join(FEATURE_STATISTICS)}")
        stats = tuple(torch.tensor(meta[k], dtype=torch.float32) for k in FEATURE_STATISTICS)
    x = features.detach().cpu().float()
    return normalize_features(x, rule, torch.arange(x.shape[0]), stats)  # type: ignore[arg-type]


__all__ = ["features_like"]
