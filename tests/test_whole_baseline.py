"""baselines=whole for classification: the whole training split scored under the set's protocol (the accuracy a set
stands in for), off by default; modalities without it refuse the name instead of ignoring it."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError


def test_whole_split_is_scored_beside_the_set_when_asked_and_not_by_default():
    from mmdistill.classification import classification_plan
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dm

    common = dict(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, eval_networks=["mlp"], progress=False, memory_check=False)
    assert "whole" not in image_dm.RECIPE.config(**common).baselines
    cfg = image_dm.RECIPE.config(**common, baselines=["random_real", "whole"])
    data = MODALITY.load(cfg)
    plan = classification_plan(cfg, None, data, MODALITY, device=torch.device("cpu"))
    sets = plan.networks[0].sets
    assert list(sets) == ["random_real", "whole"]
    x, y = sets["whole"].data
    assert sets["whole"].size == len(data.train) == len(x) and torch.equal(y, data.train.y)


def test_a_modality_without_a_whole_baseline_refuses_the_name():
    from mmdistill.recipes import get_recipe

    with pytest.raises(ConfigError, match="baselines"):
        get_recipe("graph-gcond").config(baselines=["whole"])


def test_the_card_does_not_call_the_whole_training_data_a_baseline_of_the_sets_size():
    from mmdistill.scored_on import baseline_sizes

    assert baseline_sizes(["distilled", "random_real", "whole"]) == (
        " (the baselines have the same size as the distilled set; whole: the whole training data)")
    assert baseline_sizes(["distilled", "random_real"]) == " (the baselines have the same size as the distilled set)"
    assert baseline_sizes(["distilled", "whole_graph"]) == " (whole graph: the whole training data)"
    assert baseline_sizes(["distilled"]) == ""
