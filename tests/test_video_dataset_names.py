"""Mend 54K: the video loader's dataset name is read as the image and audio loaders' are
(:func:`mmdistill.modalities.sources.dataset_name`): ``--dataset movingdigit`` was "unknown video dataset
'movingdigit': choose moving-digits, ..." with no closest name and no key, ``Moving-Digits`` was unknown, a non-string
reached the comparisons, and a path given as the dataset was called an unknown name."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError


def test_an_unknown_name_names_the_closest_the_key_and_the_registered_names():
    from mmdistill.modalities.video.adapter import video_dataset

    with pytest.raises(ConfigError, match=r"unknown video dataset 'movingdigit' \(did you mean moving-digits\?\); choose from "
                                          r"moving-digits, folder, frames or a name given to register_tensors") as err:
        video_dataset("movingdigit")
    assert err.value.key == "dataset"
    with pytest.raises(ConfigError, match="must be a dataset name") as err:
        video_dataset(3)
    assert err.value.key == "dataset"
    assert video_dataset(" Moving_Digits ") == "moving-digits" and video_dataset("FRAMES") == "frames"


def test_a_path_given_as_the_dataset_says_dataset_folder_and_data_root(tmp_path):
    from mmdistill.modalities.video.adapter import video_dataset

    with pytest.raises(ConfigError, match=rf"looks like a path.*--dataset folder --data-root {tmp_path}") as err:
        video_dataset(str(tmp_path))
    assert err.value.key == "dataset"
    with pytest.raises(ConfigError, match="looks like a video file.*--dataset folder --data-root"):
        video_dataset("clip01.mp4")


def test_a_registered_name_loads_and_a_built_in_spelling_cannot_be_registered():
    from mmdistill.modalities.video import adapter

    x, y = torch.rand(4, 1, 2, 8, 8), torch.tensor([0, 1, 0, 1])
    name = adapter.register_tensors("Mend54K-clips", x, y, x, y)
    try:
        assert adapter.video_dataset(name) == name
        with pytest.raises(ConfigError, match=r"register_tensors \(.*Mend54K-clips"):  # listed among the choices
            adapter.video_dataset("mend54k-clipz")
    finally:
        adapter._TENSOR_SETS.pop(name, None)
    with pytest.raises(ConfigError, match="built-in dataset name"):
        adapter.register_tensors("Moving_Digits", x, y, x, y)


def test_the_config_reads_a_built_in_in_any_spelling():
    from mmdistill.recipes.video_dm import RECIPE

    with pytest.raises(ConfigError, match="needs --data-root") as err:
        RECIPE.config(dataset="Folder")
    assert err.value.key == "data_root"
    with pytest.raises(ConfigError, match="has none: leave resize at squeeze"):
        RECIPE.config(dataset="Moving-Digits", resize="pad", frame_size=16)
