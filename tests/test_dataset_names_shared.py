"""The image-text, audio-visual and graph loaders check a dataset name as the image and audio loaders do (walk 54J):
``modalities/sources.py``'s ``dataset_name`` (the closest names, key ``dataset``, a name with spaces around it or in
capitals read, a non-string refused), keeping each adapter's own names (registered sets, graph patterns). Before, an
image-text typo was named only after the encoders were built (or their download refused), with no close name; an
audio-visual name in capitals (``Tones-Digits``) was unknown; none of the three named the closest names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from mmdistill.errors import ConfigError


def test_image_text_config_refuses_a_typo_with_the_closest_name_before_any_encoder():
    from mmdistill.modalities.image_text.config import ImageTextDistillConfig

    with pytest.raises(ConfigError, match=r"unknown image-text dataset 'flickr' \(did you mean flickr30k\?\); choose from csv") as err:
        ImageTextDistillConfig(dataset="flickr")
    assert err.value.key == "dataset"
    assert ImageTextDistillConfig(dataset=" Shapes").dataset == " Shapes"  # accepted: the loader reads it as shapes


def test_clip_finetune_config_checks_the_image_text_name_too():
    from mmdistill.recipes.clip_finetune import Config

    with pytest.raises(ConfigError, match=r"unknown image-text dataset 'cocoo' \(did you mean coco\?\)"):
        Config(dataset="cocoo")


def test_image_text_loader_reads_a_name_in_capitals_with_spaces():
    from mmdistill.modalities.image_text.config import canonical_dataset

    assert canonical_dataset(" Flickr30K ") == "flickr30k"
    with pytest.raises(ConfigError, match="dataset must be a dataset name"):
        canonical_dataset(3)


def test_audio_visual_name_in_capitals_is_the_built_in_and_a_typo_names_the_closest():
    from mmdistill.modalities.audio_visual.loaders import canonical_dataset, load_pairs

    assert canonical_dataset("Tones-Digits ") == "tones-digits"
    with pytest.raises(ConfigError, match=r"unknown audio-visual dataset 'tone-digits' \(did you mean tones-digits\?\); choose "
                       r"from tones-digits, csv, video, ave, vggsound, vggsound-10k, music-21 or a name given to register_tensors") as err:
        load_pairs(SimpleNamespace(dataset="tone-digits", group_by=None))
    assert err.value.key == "dataset"


def test_audio_visual_registered_name_keeps_its_spelling_and_is_listed():
    from mmdistill.modalities.audio_visual.loaders import _TENSOR_SETS, canonical_dataset, register_tensors

    name = "Walk54J-Pairs"
    y = torch.tensor([0, 1])
    register_tensors(name, torch.zeros(2, 8) + 0.1, torch.rand(2, 1, 4, 4), y, torch.zeros(2, 8) + 0.1, torch.rand(2, 1, 4, 4), y)
    try:
        assert canonical_dataset(name) == name
        with pytest.raises(ConfigError, match=r"register_tensors \(.*Walk54J-Pairs"):
            canonical_dataset("nosuch")
    finally:
        _TENSOR_SETS.pop(name, None)


def test_graph_typo_names_the_closest_name_and_the_patterns():
    from mmdistill.modalities.graph.datasets import fixed_name, load_graph_dataset

    with pytest.raises(ConfigError, match=r"unknown graph dataset 'coraa' \(did you mean cora\?\); choose from cora, .*"
                       r"pyg:<Class>\[/<name>\], sbm:N:C:F or a name given to modalities.graph.register_graph") as err:
        load_graph_dataset("coraa", None)
    assert err.value.key == "dataset"
    assert fixed_name(" SBM ") == "sbm"
    with pytest.raises(ConfigError, match="dataset must be a dataset name"):
        load_graph_dataset(3, None)  # type: ignore[arg-type]
