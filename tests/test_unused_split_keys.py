"""Split keys a data set's own split leaves unused (walk 55B): only the audio loader warned that ``test_fraction`` /
``split_seed`` drew nothing where the data has its own test split (train/ + test/ folders, a CSV's split column,
generated splits); video, audio-visual, image-text and graph runs took them in silence, so a user who asked for a 30 %
test split got the data's own without a word. One helper (:func:`modalities.sources.warn_unused_split_keys`) now says
it in the same words for each; a key left at its default is never named."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

NOT_USED = "not used: dataset"


def _recipe(name: str):
    return importlib.import_module(f"mmdistill.recipes.{name}").RECIPE


def test_the_helper_names_only_keys_set_off_their_defaults(caplog):
    from mmdistill.modalities.sources import warn_unused_split_keys

    log = logging.getLogger("mmdistill.test")
    with caplog.at_level(logging.WARNING):
        assert warn_unused_split_keys("x", "its split column", {"test_fraction": 0.2, "split_seed": 0}, log) == []
        assert caplog.text == ""
        said = warn_unused_split_keys("x", "its split column", {"test_fraction": 0.3, "split_seed": 0, "split_order": "random"}, log,
                                      defaults={"split_order": "sorted"})
    assert said == ["test_fraction=0.3 (--test-fraction)", "split_order='random' (--split-order)"]
    assert ("test_fraction=0.3 (--test-fraction) and split_order='random' (--split-order) not used: dataset 'x' has its own "
            "test split (its split column)") in caplog.text



def test_one_helper_reads_a_configs_split_keys_for_every_loader(caplog):
    """Review R3.4: the video and audio-visual loaders each had a wrapper building {key: getattr(cfg, key, None)} and
    image-text built it inline; sources.warn_unused_split_config is the one (the keys asked for, a key the config lacks
    not named), in the same words."""
    from mmdistill.modalities import sources

    log = logging.getLogger("mmdistill.test")
    cfg = SimpleNamespace(test_fraction=0.3, split_seed=4, split_order="random")
    with caplog.at_level(logging.WARNING):
        assert sources.warn_unused_split_config(cfg, "x", "its split column", log) == [
            "test_fraction=0.3 (--test-fraction)", "split_seed=4 (--split-seed)"]
        assert sources.warn_unused_split_config(SimpleNamespace(split_seed=4), "g", "its masks", log,
                                                ("split_seed", "test_fraction")) == [
            "split_seed=4 (--split-seed)"]
        assert sources.warn_unused_split_config(cfg, "t", "the split its captions name", log, ("split_order",),
                                                defaults={"split_order": "random"}) == []
    assert ("test_fraction=0.3 (--test-fraction) and split_seed=4 (--split-seed) not used: dataset 'x' has its own test split "
            "(its split column)") in caplog.text
    from mmdistill.modalities.audio_visual import loaders
    from mmdistill.modalities.video import adapter

    assert not hasattr(adapter, "_unused_split_keys") and not hasattr(loaders, "_unused_split_keys")

def test_video_train_and_test_folders_warn_of_a_test_fraction_set(tmp_path, caplog):
    from frame_folders import write_frames

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(2):
                write_frames(tmp_path / "clips" / split / cls / f"c{i}", 4, 8, 8, rng)
    recipe = _recipe("video_dm")
    kw = dict(dataset="frames", data_root=str(tmp_path / "clips"), num_frames=4, frame_size=8, cache=False)
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(**kw))
    assert NOT_USED not in caplog.text
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(test_fraction=0.3, split_seed=4, **kw))
    assert ("test_fraction=0.3 (--test-fraction) and split_seed=4 (--split-seed) not used: dataset 'frames' has its own test "
            "split (train/ and test/ class folders)") in caplog.text



def test_video_tells_a_drawn_split_by_the_loaders_fact_not_its_wording(tmp_path, caplog, monkeypatch):
    """Review R3.3: the adapter parsed the layout's words ("class folders, test_fraction ...") to tell a drawn split;
    the loader records it once (the fact ``split_drawn``), so rewording the layout no longer makes class folders warn
    that their test_fraction is not used."""
    from frame_folders import write_frames

    from mmdistill.modalities.video import layout

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(4):
            write_frames(tmp_path / "clips" / cls / f"c{i}", 4, 8, 8, rng)
    reworded = layout._drawn_layout
    monkeypatch.setattr(layout, "_drawn_layout", lambda *a, **kw: "drawn: " + reworded(*a, **kw))
    recipe = _recipe("video_dm")
    with caplog.at_level(logging.WARNING):
        data = recipe.get_modality().load(recipe.config(dataset="frames", data_root=str(tmp_path / "clips"), num_frames=4,
                                                        frame_size=8, cache=False, test_fraction=0.5, split_seed=4))
    assert NOT_USED not in caplog.text
    facts = data.meta["load_report"]["facts"]
    assert facts["split_drawn"] is True and facts["layout"].startswith("drawn: class folders")

def test_audio_visual_registered_pairs_warn_of_a_split_seed_set(caplog):
    import torch

    from mmdistill.modalities.audio_visual.loaders import register_tensors

    y = torch.tensor([0, 1, 0, 1])
    name = register_tensors("walk55b-av", torch.zeros(4, 1000).uniform_(-0.5, 0.5), torch.rand(4, 3, 8, 8), y,
                            torch.zeros(4, 1000).uniform_(-0.5, 0.5), torch.rand(4, 3, 8, 8), y)
    recipe = _recipe("audio_visual_dm")
    kw = dict(dataset=name, image_size=8, n_mels=8, audio_frames=4, sample_rate=4000, duration=0.25, progress=False)
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(**kw))
    assert NOT_USED not in caplog.text
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(split_seed=5, **kw))
    assert ("split_seed=5 (--split-seed) not used: dataset 'walk55b-av' has its own test split (the train and test tensors "
            "given to register_tensors)") in caplog.text


def test_image_text_captions_with_a_split_warn_of_split_keys_set(tmp_path, monkeypatch, caplog):
    from PIL import Image

    from mmdistill.modalities.image_text import datasets as it_datasets

    class Stop(Exception):
        pass

    def build_splits(records, opener, **kw):
        raise Stop

    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 80, 120)).save(tmp_path / split / f"{i}.png")
            (tmp_path / split / f"{i}.txt").write_text(f"a red dog {i}\n")
    monkeypatch.setattr(it_datasets, "build_splits", build_splits)
    image = SimpleNamespace(image_size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    recipe = _recipe("image_text_lors")
    for kw in ({}, {"test_fraction": 0.4, "split_order": "random"}):
        with caplog.at_level(logging.WARNING), pytest.raises(Stop):
            it_datasets.load_image_text(recipe.config(dataset="folder", data_root=str(tmp_path), **kw), image)
        if not kw:
            assert NOT_USED not in caplog.text
    assert ("test_fraction=0.4 (--test-fraction) and split_order='random' (--split-order) not used: dataset "
            f"'{Path(tmp_path).name}' has its own test split (the split its captions name)") in caplog.text


def test_graph_masks_warn_of_a_split_seed_set_and_split_random_does_not(monkeypatch, caplog):
    from mmdistill.modalities.graph import adapter

    monkeypatch.setattr(adapter, "load_graph_dataset", lambda name, root, opts: None)  # the warning comes before the graph
    recipe = _recipe("graph_gcond")
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(dataset="sbm", download=False))
        recipe.get_modality().load(recipe.config(dataset="sbm", download=False, split="random", split_seed=3))
    assert NOT_USED not in caplog.text
    with caplog.at_level(logging.WARNING):
        recipe.get_modality().load(recipe.config(dataset="sbm", download=False, split_seed=3))
    assert "split_seed=3 (--split-seed) not used: dataset 'sbm' has its own test split (its train/val/test masks" in caplog.text


def test_split_keys_are_the_split_key_fields():
    """SPLIT_KEYS is SplitKeys' fields (R4 minor: it was spelled out beside SPLIT_DEFAULTS): the same two keys as before."""
    import dataclasses

    from mmdistill.modalities.sources import SPLIT_DEFAULTS, SPLIT_KEYS
    from mmdistill.schema import SplitKeys

    assert SPLIT_KEYS == ("test_fraction", "split_seed") == tuple(f.name for f in dataclasses.fields(SplitKeys)) == tuple(SPLIT_DEFAULTS)
