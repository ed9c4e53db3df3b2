"""The image-text recipes' cpu budget runs at the image size its rows were measured and chosen at (walk 52A: the README's
own-data command with --budget cpu ran EfficientNet-Lite0 at its 224 px, about 2 minutes per LoRS iteration on one
core, where the budget's learning rates and its 3.6-7.8 s per iteration are at 64 px)."""

from __future__ import annotations

import pytest

from mmdistill.recipes import image_text_bitrajectory, image_text_lors


@pytest.mark.parametrize("recipe", [image_text_bitrajectory.RECIPE, image_text_lors.RECIPE])
@pytest.mark.parametrize("ipc", [20, 100, 200])
def test_the_cpu_budget_sets_64_px_and_an_explicit_size_wins(recipe, ipc):
    assert recipe.config(dataset="csv", data_root="my.csv", budget="cpu", ipc=ipc).image_size == 64
    assert recipe.config(dataset="csv", data_root="my.csv", budget="cpu", ipc=ipc, image_size=32).image_size == 32
    assert recipe.config(dataset="csv", data_root="my.csv", ipc=ipc).image_size is None  # the paper budget: the encoder's own
