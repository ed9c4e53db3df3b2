"""Review 56 R5.1: a validation split's digest folded in ``split_seed`` for every adapter but image (which recorded the
keys that drew its test split in ``meta["split_drawn_with"]``), so tensors given to video's, audio's or the audio-visual
``register_tensors`` (split_seed draws nothing: the loader even warns so) gave split_seed 0 and 1 two digests, and
``mmdistill compare`` lettered one validation split as two. Every built-in adapter now records the keys (None: given)."""

from __future__ import annotations

import importlib
import math
from types import SimpleNamespace

import pytest
import torch

from mmdistill.validation import SPLIT_DRAWN_WITH, load_data


def _digest(modality: str, recipe: str, **kw) -> str:
    """The validation digest of ``recipe``'s config with ``kw`` loaded by ``modality``'s adapter (validation 0.25)."""
    adapter = importlib.import_module(f"mmdistill.modalities.{modality}").MODALITY
    cfg = importlib.import_module(f"mmdistill.recipes.{recipe}").RECIPE.config(validation=0.25, progress=False, **kw)
    return load_data(adapter, cfg).meta["validation"]["split"]


@pytest.fixture
def forget():
    """Drop the names a test registers (video, audio, audio-visual, image), whatever it registered before."""
    tables = [importlib.import_module(m)._TENSOR_SETS for m in ("mmdistill.modalities.video.adapter",
                                                               "mmdistill.modalities.audio.registered",
                                                               "mmdistill.modalities.audio_visual.tensor_sets",
                                                               "mmdistill.modalities.image.registered")]
    before = [dict(t) for t in tables]
    yield
    for t, b in zip(tables, before):
        t.clear()
        t.update(b)


def _waves(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(n) % 3
    t = torch.arange(2000) / 8000
    return 0.4 * torch.sin(2 * math.pi * (200.0 + 100 * y.float().view(-1, 1)) * t), y


def test_registered_video_clips_are_one_validation_split_whatever_split_seed_says(forget):
    """The reviewer's case: split_seed 0 and 1 gave e528451c... and 5fd66e27... for one split."""
    from mmdistill.modalities.video import register_tensors

    x, y = torch.rand(12, 1, 2, 4, 4, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 3
    register_tensors("mine", x, y, x[:3], y[:3], ["a", "b", "c"])
    assert _digest("video", "video_dm", dataset="mine", split_seed=0) == _digest("video", "video_dm", dataset="mine", split_seed=1)


def test_registered_waveforms_are_one_validation_split_whatever_split_seed_says(forget):
    from mmdistill.modalities.audio import register_tensors

    x, y = _waves(12)
    register_tensors("beeps", x, y, x[:3], y[:3], ["a", "b", "c"], sample_rate=8000)
    kw = dict(dataset="beeps", sample_rate=8000)
    assert _digest("audio", "audio_dm", split_seed=0, **kw) == _digest("audio", "audio_dm", split_seed=1, **kw)


def test_registered_pairs_are_one_validation_split_whatever_split_seed_says(forget):
    from mmdistill.modalities.audio_visual import register_tensors

    waves, y = _waves(12)
    frames = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    register_tensors("pairs", waves, frames, y, waves[:3], frames[:3], y[:3], ["a", "b", "c"])
    kw = dict(dataset="pairs", image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25)
    assert _digest("audio_visual", "audio_visual_dm", split_seed=0, **kw) == \
        _digest("audio_visual", "audio_visual_dm", split_seed=1, **kw)


def test_each_adapter_records_a_registered_split_once_and_the_call_entry_holds_only_the_call(forget):
    """Review 56 R6.5: registered_meta also wrote SPLIT_DRAWN_WITH None, which image and audio overwrote with their own
    record and video's overwrote (dict order decided); it now holds the call alone and each adapter records the split
    (image through validation.drawn_by): every registered set still records None, and split_seed draws nothing."""
    from mmdistill.modalities.image import register_tensors
    from mmdistill.modalities.in_memory import registered_meta
    from mmdistill.modality import REGISTERED_META

    assert set(registered_meta("f", "n")) == {REGISTERED_META}
    x, y = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 3
    register_tensors("mine-images", x, y, x[:3], y[:3], ["a", "b", "c"])
    kw = dict(dataset="mine-images", image_size=8)
    assert _digest("image", "image_dm", split_seed=0, **kw) == _digest("image", "image_dm", split_seed=1, **kw)
    adapter = importlib.import_module("mmdistill.modalities.image").MODALITY
    cfg = importlib.import_module("mmdistill.recipes.image_dm").RECIPE.config(progress=False, **kw)
    assert adapter.load(cfg).meta[SPLIT_DRAWN_WITH] is None


def test_generated_tones_record_the_seed_that_drew_them():
    """tones are drawn with split_seed, or with seed under generated_seed='seed' (where the config's split_seed, folded
    before, drew nothing): the seed that drew them is recorded, with the keys' names a drawn split has always folded."""
    from mmdistill.modalities.audio.datasets import load_audio_dataset
    from mmdistill.validation import drawn_by

    assert load_audio_dataset("tones", seed=3, split_seed=5, test_fraction=0.2).drawn_with == drawn_by(0.2, 5)
    assert load_audio_dataset("tones", seed=3, test_fraction=0.2).drawn_with == {"test_fraction": 0.2, "split_seed": 3}


def test_video_records_the_keys_that_drew_its_split():
    """Class folders: test_fraction and split_seed (the digest a drawn split had before, kept); given folders: None;
    moving digits: md_seed, the seed that drew every clip (split_seed draws nothing there)."""
    from mmdistill.modalities.video.adapter import split_drawn_with
    from mmdistill.recipes import get_recipe
    from mmdistill.validation import drawn_by

    def vs(drawn: bool | None) -> SimpleNamespace:
        return SimpleNamespace(report=SimpleNamespace(facts={} if drawn is None else {"split_drawn": drawn}))

    folder = get_recipe("video-dm").config(dataset="folder", data_root="clips", test_fraction=0.3, split_seed=4)
    assert split_drawn_with(folder, vs(True)) == drawn_by(0.3, 4)
    assert split_drawn_with(folder, vs(False)) is None
    assert split_drawn_with(get_recipe("video-dm").config(md_seed=7, split_seed=4), vs(None)) == {"md_seed": 7}


def test_an_adapter_that_records_nothing_folds_the_config_s_keys():
    """A plugin's data without the record: split_seed 0 and 1 stay two splits (never one taken for another); the load
    report's split_drawn fact no longer decides (one rule: the record)."""
    from mmdistill.data import ClassificationData, LabeledTensors
    from mmdistill.recipes import get_recipe

    def digest(split_seed: int, record: bool) -> str:
        y = torch.arange(12) % 3
        data = ClassificationData("toy", LabeledTensors(torch.zeros(12, 1, 1, 1), y, ["a", "b", "c"]),
                                  LabeledTensors(torch.zeros(3, 1, 1, 1), y[:3], ["a", "b", "c"]),
                                  meta={"load_report": {"facts": {"split_drawn": False}},
                                        **({SPLIT_DRAWN_WITH: None} if record else {})})
        cfg = get_recipe("image-dm").config(dataset="digits", validation=0.25, split_seed=split_seed)
        return load_data(SimpleNamespace(load=lambda cfg: data), cfg).meta["validation"]["split"]

    assert digest(0, False) != digest(1, False)
    assert digest(0, True) == digest(1, True)
