"""Every adapter's ``register_tensors`` checks in-memory data with modalities/in_memory.py's helpers (reviews 56 R3.3,
R4.1): the audio-visual and video registrations kept their own copies of the tensor, waveform and pixel checks with
words of their own (video named no row holding NaN, audio-visual said "pair(s)" of a waveform), so a wording change had
to be made three times. One input gets one message whichever adapter takes it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mmdistill.errors import DataError


def _image(name, pixels, y):
    from mmdistill.modalities.image import register_tensors

    return register_tensors(name, pixels, y, pixels, y)


def _video(name, pixels, y):
    from mmdistill.modalities.video import register_tensors

    return register_tensors(name, pixels[:, :, None].expand(-1, -1, 2, -1, -1), y, pixels[:, :, None].expand(-1, -1, 2, -1, -1), y)


def _av(name, pixels, y):
    from mmdistill.modalities.audio_visual import register_tensors

    waves = torch.zeros(len(y), 64).uniform_(-0.5, 0.5)
    return register_tensors(name, waves, pixels, y, waves, pixels, y)


REGISTER = {"image": _image, "video": _video, "audio_visual": _av}


@pytest.mark.parametrize("adapter", sorted(REGISTER))
def test_one_bad_input_gets_the_shared_words_from_every_adapter(adapter):
    y = torch.tensor([0, 0, 1, 1])
    pixels = torch.rand(4, 1, 8, 8)
    nan = pixels.clone()
    nan[2, 0, 1, 1] = float("nan")
    first = {"image": "x_train", "video": "x_train", "audio_visual": "image_train"}[adapter]
    head = rf"register_tensors\('shared-{adapter}'\): "
    cases = [(nan, head + rf"{first} holds NaN or infinite values in 1 \w+\(s\): rows \[2\]"),
             (pixels * 255, head + rf"float {first} must lie in \[0, 1\], got values in .*divide 0-255 pixels by 255"),
             (pixels.long(), head + rf"{first} must be float pixels in \[0, 1\] or uint8 0..255, got dtype torch.int64")]
    for bad, msg in cases:
        with pytest.raises(DataError, match=msg):
            REGISTER[adapter](f"shared-{adapter}", bad, y)
    with pytest.raises(DataError, match=head + r"y_train must be a torch.Tensor, got list$"):  # no array: no from_numpy hint
        REGISTER[adapter](f"shared-{adapter}", pixels, [0, 0, 1, 1])


def test_the_audio_visual_waveforms_get_the_audio_words():
    from mmdistill.modalities.audio import register_tensors as audio
    from mmdistill.modalities.audio_visual import register_tensors as av

    y = torch.tensor([0, 0, 1, 1])
    waves = torch.zeros(4, 64).uniform_(-0.5, 0.5)
    waves[3, 5] = float("inf")
    frames = torch.rand(4, 1, 8, 8)
    with pytest.raises(DataError, match=r"register_tensors\('w'\): x_train holds NaN or infinite samples in 1 clip\(s\): rows \[3\]"):
        audio("w", waves, y, waves, y, sample_rate=16000)
    with pytest.raises(DataError, match=r"register_tensors\('w'\): audio_train holds NaN or infinite samples in 1 clip\(s\): rows \[3\]"):
        av("w", waves, frames, y, waves, frames, y)
    with pytest.raises(DataError, match=r"audio_train must be a torch.Tensor, got ndarray \(torch.from_numpy converts an array\)"):
        av("w", np.zeros((4, 64), np.float32), frames, y, waves, frames, y)


def _video_config(name):
    from mmdistill.recipes import video_dm

    return video_dm.RECIPE.config(dataset=name, budget="cpu", ipc=1)


def _av_config(name):
    from mmdistill.recipes import audio_visual_dm

    return audio_visual_dm.RECIPE.config(dataset=name, budget="cpu", ipc=1, sample_rate=8000, duration=0.05, n_mels=8,
                                          audio_frames=4, image_size=8)


@pytest.mark.parametrize("adapter", ["video", "audio_visual"])
def test_a_set_of_registered_clips_or_pairs_names_the_call_where_they_are_not_registered(adapter):
    """Image and audio sets recorded their ``register_tensors`` call (``registered_with``), so eval in a process
    without the registration named it; video and audio-visual sets did not: the error said only "none registered"."""
    import importlib

    from mmdistill.card import _facts
    from mmdistill.errors import ConfigError
    from mmdistill.modality import REGISTERED_META, registered_call
    from mmdistill.share import saved_run_data

    module = importlib.import_module(f"mmdistill.modalities.{adapter}")
    sets = (importlib.import_module("mmdistill.modalities.video.adapter") if adapter == "video" else
            importlib.import_module("mmdistill.modalities.audio_visual.tensor_sets"))._TENSOR_SETS
    name = f"gone-{adapter}"
    y = torch.tensor([0, 0, 1, 1])
    pixels = torch.rand(4, 1, 8, 8)
    REGISTER[adapter](name, pixels, y)
    try:
        cfg = (_video_config if adapter == "video" else _av_config)(name)
        data = module.MODALITY.load(cfg)
        call = f"mmdistill.modalities.{adapter}.register_tensors('{name}', ...)"
        assert data.meta[REGISTERED_META] == call
        syn = module.MODALITY.init_synthetic(data, cfg, torch.Generator().manual_seed(0))
        assert registered_call(syn.meta) == call  # the set carries it (the manifest's synthetic.meta)
        facts = _facts({"dataset": name, "synthetic": {"meta": syn.meta}}, module.MODALITY)
        assert facts["source"] == f"data in memory given to {call}"
    finally:
        sets.pop(name, None)  # another process
    with pytest.raises(ConfigError, match=rf"This set was distilled from data in memory, {re.escape(call)}"):
        saved_run_data(module.MODALITY, cfg, root_given=False, meta=syn.meta)


def test_checked_splits_is_the_one_split_check_of_the_image_and_audio_registrations():
    """Review 56 R3.4: image/registered.py and audio/registered.py each carried the same split loop (a tensor, the x
    check, labels of one N, class ids) and the same built-in-name refusal; both call in_memory's now."""
    from mmdistill.errors import ConfigError
    from mmdistill.modalities import in_memory
    from mmdistill.modalities.audio import register_tensors as audio
    from mmdistill.modalities.image import register_tensors as image

    seen = []

    def check_x(where, arg, x):
        seen.append(arg)
        return x.float().clone()

    x, y = torch.rand(4, 3), torch.tensor([0, 1, 1, 0], dtype=torch.int32)
    xs, ys, names = in_memory.checked_splits("w", x, y, x[:2], y[:2], None, check_x, "row")
    assert seen == ["x_train", "x_test"] and names == ["0", "1"]
    assert ys["train"].dtype == torch.int64 and ys["train"].data_ptr() != y.data_ptr() and xs["test"].shape == (2, 3)
    with pytest.raises(DataError, match=r"^w: y_test must be labels \(N,\) with N = 2 \(one per row of x_test\), got shape \(3,\)$"):
        in_memory.checked_splits("w", x, y, x[:2], y[:3], None, check_x, "row")
    assert in_memory.built_in_refusal(" CIFAR-10 ", ["cifar10"], {"cifar-10": "cifar10"}) == (
        "' CIFAR-10 ' is a built-in dataset name (cifar10); choose another")
    assert in_memory.built_in_refusal("mine", ["cifar10"], {}) is None
    with pytest.raises(ConfigError, match=r"'CIFAR-10' is a built-in dataset name \(cifar10\)"):
        image("CIFAR-10", torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match=r"'FSDD' is a built-in dataset name \(fsdd\)"):
        audio("FSDD", torch.zeros(2, 8), torch.tensor([0, 1]), torch.zeros(2, 8), torch.tensor([0, 1]), sample_rate=8000)
    with pytest.raises(DataError, match=r"y_train must be labels \(N,\) with N = 2 \(one per waveform of x_train\)"):
        audio("short", torch.zeros(2, 8), torch.tensor([0, 1, 1]), torch.zeros(2, 8), torch.tensor([0, 1]), sample_rate=8000)
