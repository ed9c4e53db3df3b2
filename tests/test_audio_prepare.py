"""maps_like: one's own recordings as a distilled audio set's inputs, prepared as the loader prepared the set's real clips
(walk 52E: before, a user testing a classifier trained on an exported set had to rebuild decoding, downmixing,
resampling, centring/cropping, FD-MFCC and the normalisation from private loader functions)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from mmdistill.errors import ArtifactError, ConfigError, DataError  # noqa: E402
from mmdistill.modalities.audio import maps_like  # noqa: E402
from mmdistill.modalities.audio.config import AudioDistillConfig  # noqa: E402
from mmdistill.modalities.audio.datasets import tone_clip  # noqa: E402


def _own_csv(tmp_path):
    """Two classes of tones at 8 / 16 / 44.1 kHz, mono and stereo, 16-bit, 24-bit and float, 0.05-0.9 s long; the
    last clip of each class is a test row."""
    rows, rng = ["path,label,split"], np.random.default_rng(0)
    formats = [(8000, "PCM_16", 1), (16000, "FLOAT", 2), (44100, "PCM_24", 1), (16000, "PCM_16", 2)]
    for kind in ("rising", "steady"):
        (tmp_path / kind).mkdir()
        for i, length in enumerate((0.05, 0.3, 0.9, 0.5, 0.7)):
            rate, subtype, channels = formats[i % len(formats)]
            wave = tone_clip(kind, rng, rate, length)
            sf.write(tmp_path / kind / f"{i}.wav", np.stack([wave, 0.5 * wave], 1) if channels == 2 else wave, rate, subtype=subtype)
            rows.append(f"{kind}/{i}.wav,{kind},{'test' if i == 4 else 'train'}")
    (tmp_path / "meta.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "meta.csv"


def test_own_files_become_the_maps_the_loader_made(tmp_path):
    from mmdistill.modalities.audio import MODALITY

    csv = _own_csv(tmp_path)
    config = AudioDistillConfig(dataset="folder", data_root=str(csv), sample_rate=16000, duration=0.6, normalize="coefficient")
    data = MODALITY.load(config)
    loaded = SimpleNamespace(synthetic=SimpleNamespace(meta={**data.meta, "dataset": data.name}))  # as mmdistill.load gives it
    test_files = [tmp_path / k / "4.wav" for k in ("rising", "steady")]
    maps = maps_like(loaded, test_files)
    assert maps.shape == data.test.x.shape and torch.allclose(maps, data.test.x, atol=1e-4)
    for one in (test_files[0], str(test_files[0])):  # one path, not in a list: one clip (not a clip per character)
        assert torch.allclose(maps_like(loaded, one), data.test.x[:1], atol=1e-4)
    train_files = [tmp_path / k / f"{i}.wav" for k in ("rising", "steady") for i in range(4)]  # short, long, stereo, 44.1 kHz
    assert torch.allclose(maps_like(data.meta, train_files), data.train.x, atol=1e-4)
    wave, rate = sf.read(tmp_path / "rising" / "4.wav", dtype="float32")
    wave = wave.mean(1) if wave.ndim == 2 else wave
    assert torch.allclose(maps_like(data.meta, torch.from_numpy(wave)[None], sample_rate=rate), data.test.x[:1], atol=1e-4)


def test_mistakes_are_named(tmp_path):
    from mmdistill.modalities.audio import MODALITY

    csv = _own_csv(tmp_path)
    data = MODALITY.load(AudioDistillConfig(dataset="folder", data_root=str(csv), sample_rate=8000, duration=0.3))
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEnothing")
    with pytest.raises(DataError, match=r"not read 1 unreadable or empty audio file: .*broken.wav"):
        maps_like(data.meta, [tmp_path / "rising" / "0.wav", tmp_path / "broken.wav"])
    with pytest.raises(ConfigError, match="waveforms need sample_rate="):
        maps_like(data.meta, torch.zeros(2, 800))
    with pytest.raises(ArtifactError, match=r"lacks \['features', 'mean', 'std', 'num_samples'\]"):
        maps_like({"classes": ["a"]}, [tmp_path / "rising" / "0.wav"])


def test_a_set_of_another_modality_is_refused_in_one_wording():
    """Walk 53C: maps_like's metadata check and the adapter's (decode, preview, export) were two copies; the adapter's
    is feature_meta, maps_like's the shared inputs_like.source_meta (walk 53B: every *_like function's refusal begins
    with its name); both name the recipes that make an audio set."""
    from mmdistill.modalities.audio.adapter import feature_meta
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet(data={"x": torch.zeros(1, 3, 4, 4)}, labels=torch.zeros(1, dtype=torch.long), num_classes=1,
                       meta={"classes": ["a"], "mean": [0.0]})
    with pytest.raises(ArtifactError, match=r"^the set's metadata lacks \['features', 'std'\]: it was not made by the audio "
                                            r"adapter \(an audio-dm or audio-ddfad set\)$"):
        feature_meta(syn)
    with pytest.raises(ArtifactError, match=r"^maps_like: the set's metadata lacks \['features', 'std', 'num_samples'\]: it is not a "
                                            r"distilled audio set \(audio-dm or audio-ddfad\)"):
        maps_like(syn, torch.zeros(1, 800), sample_rate=8000)


def test_the_export_records_how_a_clip_became_a_map(tmp_path):
    """Before: fdmfcc.safetensors held the FD-MFCC parameters but not the clip length or alignment, so a consumer of
    the export folder could not prepare its test audio as the set's clips were."""
    import json

    from mmdistill.io import load_tensors_with_metadata
    from mmdistill.modalities.audio import MODALITY

    config = AudioDistillConfig(dataset="folder", data_root=str(_own_csv(tmp_path)), sample_rate=8000, duration=0.6, align="start", ipc=1)
    data = MODALITY.load(config)
    syn = MODALITY.init_synthetic(data, config, torch.Generator().manual_seed(0))
    out = MODALITY.export(syn, tmp_path / "export")
    _, meta = load_tensors_with_metadata(out / "fdmfcc.safetensors")
    assert json.loads(meta["preprocessing"]) == {"sample_rate": 8000, "num_samples": 4800, "duration_s": 0.6, "align": "start",
                                                 "channels": "averaged to mono"}
