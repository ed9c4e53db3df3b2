"""Walk 52K: one's own nodes' raw features brought into a condensed graph's feature space (``features_like``,
``ds.inputs_like``), by the rule the loader applied (before: the card said it in words; each user rebuilt it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.inputs_like import prepare_like

pytest.importorskip("torch_geometric")


@pytest.mark.parametrize("rule", ["standard", "row", "none"])
def test_raw_features_become_the_loaders_features(rule):
    from mmdistill.modalities.graph import MODALITY, features_like
    from mmdistill.modalities.graph.datasets import GraphLoadOptions, load_graph_dataset, make_sbm

    raw = make_sbm(90, 3, 8, seed=0)["x"]  # the generated graph's raw features, as the loader read them
    data = load_graph_dataset("sbm:90:3:8", None, GraphLoadOptions(normalize_features=rule))
    syn = SimpleNamespace(meta={**data.meta, "num_features": 8})
    got = prepare_like(MODALITY, syn, raw, reference=torch.zeros(5, 8))
    torch.testing.assert_close(got, data.graph.x)
    with pytest.raises(ConfigError, match=r"expected node features \(M, 8\) as a tensor, got \(4, 7\)"):
        features_like(syn, torch.zeros(4, 7))
    with pytest.raises(ArtifactError, match="records normalize_features=None"):
        features_like({"num_features": 8}, torch.zeros(4, 8))
