"""Walk 56H: the audio adapter had no route for waveforms already in memory (only files on disk);
``mmdistill.modalities.audio.register_tensors`` makes them loadable by name, with the audio-visual adapter's waveform
contract (float in [-1, 1], integer PCM refused) and the file loader's pipeline (resampled, padded/cropped, counted)."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from mmdistill.errors import ConfigError, DataError
from mmdistill.modalities.audio import MODALITY, register_tensors
from mmdistill.modalities.audio.datasets import canonical_name, load_audio_dataset
from mmdistill.modalities.audio.registered import _TENSOR_SETS
from registrations import forgotten_after  # tests/registrations.py

RATE = 8000


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield from forgotten_after(_TENSOR_SETS)


def _waves(n: int = 12, classes: int = 3, samples: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    t = torch.arange(samples) / RATE
    f = 300 + 200 * y.float().view(-1, 1)
    return 0.5 * torch.sin(2 * math.pi * f * t) + 0.01 * torch.randn(n, samples, generator=g), y


def test_registered_waveforms_load_as_fdmfcc_maps_at_their_rate_and_length():
    x, y = _waves()
    xt, yt = _waves(6, seed=1)
    assert register_tensors("beeps", x, y, xt, yt, ["low", "mid", "high"], sample_rate=RATE) == "beeps"
    ds = load_audio_dataset("beeps")
    assert ds.name == "beeps" and ds.classes == ["low", "mid", "high"] and ds.num_samples == 2000
    assert ds.params.sample_rate == RATE and ds.x_train.shape[:2] == (12, 3) and len(ds.x_test) == 6
    assert torch.equal(ds.y_train, y) and torch.equal(ds.y_test, yt)
    assert ds.x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-4  # normalised with the training split's statistics
    again = load_audio_dataset("beeps", sample_rate=16000, duration=0.1)  # resampled and cropped, counted
    assert again.num_samples == 1600 and again.report.counts()["resampled"] == 18 and again.report.counts()["cropped"] == 18


def test_registered_waveforms_are_copies_detached_from_the_callers_tensors():
    w = torch.ones(1, requires_grad=True)
    x, y = _waves(4, classes=2)
    x = x * w
    register_tensors("snap", x, y, x[:2], y[:2], sample_rate=RATE)
    held = _TENSOR_SETS["snap"]
    assert not held.waves["train"].requires_grad and w.grad is None
    kept = held.waves["train"].clone()
    with torch.no_grad():
        x.zero_()
    y[:] = 1 - y
    assert torch.equal(kept, held.waves["train"]) and held.labels["train"].tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("x, match", [
    ((torch.rand(12, 100) * 30000).to(torch.int16), r"x_train must be float waveforms with amplitudes in \[-1, 1\], got dtype "
                                                    r"torch.int16 \(int16 PCM: pcm.float\(\) / 32768"),
    (torch.rand(12, 2, 100), r"x_train must be mono waveforms \(N, T\).*x_train.mean\(1\) averages them to mono"),
    (torch.rand(12, 100).numpy(), r"x_train must be a torch.Tensor, got ndarray \(torch.from_numpy converts an array\)"),
    (torch.full((12, 100), float("inf")), r"x_train holds NaN or infinite samples in 12 clip\(s\)"),
])
def test_waveforms_that_are_not_float_mono_are_refused_naming_the_argument(x, match):
    y = torch.arange(12) % 3
    with pytest.raises(DataError, match=r"register_tensors\('bad'\): " + match):
        register_tensors("bad", x, y, torch.rand(3, 100), y[:3], sample_rate=RATE)
    assert "bad" not in _TENSOR_SETS


def test_loud_waveforms_are_kept_and_warned(caplog):
    x, y = _waves()
    with caplog.at_level(logging.WARNING):
        register_tensors("loud", x * 4, y, x[:3], y[:3], sample_rate=RATE)
    assert "12 waveform(s) of x_train of 12 reach beyond [-1, 1]" in caplog.text and "loud" in _TENSOR_SETS


@pytest.mark.parametrize("name", ["tones", " FSDD ", "us8k", "audio-folder"])
def test_a_built_in_name_or_alias_is_refused(name):
    x, y = _waves()
    with pytest.raises(ConfigError, match="is a built-in dataset name"):
        register_tensors(name, x, y, x, y, sample_rate=RATE)


@pytest.mark.parametrize("rate", [None, 8000.0, 50, True])
def test_the_sample_rate_must_be_an_integer_number_of_hertz(rate):
    x, y = _waves()
    with pytest.raises(ConfigError, match=r"register_tensors\('r'\): sample_rate must be the waveforms' rate in Hz"):
        register_tensors("r", x, y, x, y, sample_rate=rate)  # type: ignore[arg-type]


def test_unknown_names_list_the_registered_ones_and_labels_must_train_every_class():
    x, y = _waves()
    register_tensors("beeps", x, y, x, y, sample_rate=RATE)
    with pytest.raises(ConfigError, match=r"unknown audio dataset 'beep'.* or a name given to register_tensors \(beeps\)"):
        canonical_name("beep")
    with pytest.raises(DataError, match=r"register_tensors\('sparse'\): y_train holds labels 0, 2 .*without a training sample"):
        register_tensors("sparse", x, torch.tensor([0, 2] * 6), x[:3], torch.tensor([0, 1, 2]), sample_rate=RATE)


def test_the_adapter_records_the_load_report_and_warns_of_unused_split_keys(caplog):
    from mmdistill.recipes import audio_dm

    x, y = _waves()
    register_tensors("few", x, y, x[:2], y[:2], ["a", "b", "c"], sample_rate=RATE)
    cfg = audio_dm.RECIPE.config(dataset="few", test_fraction=0.3, budget="cpu")
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    report = data.meta["load_report"]
    assert report["facts"]["classes_without_test"] == ["c"] and report["facts"]["sample_rate"] == RATE
    assert "y_test holds no label of it" in caplog.text
    assert "the train and test tensors given to register_tensors" in caplog.text and "test_fraction" in caplog.text


def test_a_saved_set_of_registered_waveforms_names_the_call_where_they_are_not_registered():
    from mmdistill.recipes import audio_dm
    from mmdistill.share import saved_run_data

    x, y = _waves()
    register_tensors("gone", x, y, x[:3], y[:3], sample_rate=RATE)
    cfg = audio_dm.RECIPE.config(dataset="gone", budget="cpu")
    meta = MODALITY.load(cfg).meta
    assert meta["registered_with"] == "mmdistill.modalities.audio.register_tensors('gone', ...)"
    _TENSOR_SETS.clear()  # another process
    with pytest.raises(ConfigError, match=r"unknown audio dataset 'gone'.*This set was distilled from data in memory, "
                                          r"mmdistill.modalities.audio.register_tensors\('gone', ...\)"):
        saved_run_data(MODALITY, cfg, root_given=False, meta=meta)
    with pytest.raises(ConfigError) as plain:  # a set without the record: the loader's message alone
        saved_run_data(MODALITY, cfg, root_given=False, meta={})
    assert "distilled from data in memory" not in str(plain.value)


def test_registered_waveforms_are_read_as_clips_without_a_wav_round_trip(monkeypatch):
    """Review 56 R3.7: each registered waveform was written to float WAV bytes and decoded again on every load (about
    1 ms a 1 s clip); the item's opener gives its clip, and the maps are the same bits as through the WAV bytes
    (resampled, cropped and padded alike, the same counts)."""
    from mmdistill.modalities.audio import registered, tones
    from mmdistill.modalities.audio.items import AudioItem

    x, y = _waves()
    x[0, 1500:] = 0.0
    xt, yt = _waves(6, samples=1200, seed=1)  # shorter: padded
    register_tensors("direct", x, y, xt, yt, sample_rate=RATE)
    kw = dict(sample_rate=11025, duration=0.2)
    with monkeypatch.context() as m:
        m.setattr(tones, "_wav_bytes", lambda *a: (_ for _ in ()).throw(AssertionError("encoded to WAV")))
        direct = load_audio_dataset("direct", **kw)
        held = _TENSOR_SETS["direct"]
        assert torch.equal(held.waves["train"], x.float())  # the loader did not reach the registered set

    def via_wav(self, name):  # the earlier opener: float WAV bytes, decoded by the loader
        return [AudioItem(f"{name}/{s}/{i}", (lambda w: lambda: tones._wav_bytes(w.numpy(), self.sample_rate))(w),
                          self.classes[int(c)], s) for s in ("train", "test") for i, (w, c) in enumerate(zip(self.waves[s], self.labels[s]))]

    monkeypatch.setattr(registered.TensorClips, "items", via_wav)
    wav = load_audio_dataset("direct", **kw)
    assert torch.equal(direct.x_train, wav.x_train) and torch.equal(direct.x_test, wav.x_test)
    assert direct.report.counts() == wav.report.counts() and direct.report.counts()["padded"] == 6
