"""The audio adapter on generated sound files: FD-MFCC, its inversion, the loaders and their bad input,
the networks, the DM recipe end to end (CLI, eval, export). Never reads ../shared."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from mmdistill.cli import main as cli_main  # noqa: E402
from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.io import load_synthetic, load_tensors_with_metadata  # noqa: E402
from mmdistill.load_report import is_report  # noqa: E402
from mmdistill.resolve import config_sources  # noqa: E402
from mmdistill.modalities.audio.config import DDFADConfig  # noqa: E402
from mmdistill.modalities.audio.datasets import TONE_CLASSES, load_audio_dataset, tone_clip  # noqa: E402
from mmdistill.modalities.audio.decode import fix_length, resample_clips, Clip  # noqa: E402
from mmdistill.modalities.audio.features import FDMFCC, FDMFCCParams, extract_fdmfcc, fdmfcc_to_waveform  # noqa: E402
from mmdistill.nets import build_network  # noqa: E402
from mmdistill.schema import CROSS_ARCH_NETWORKS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _tone(freq: float, sr: int = 8000, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_tree(root: Path, classes=("rising", "steady", "warble"), per_class: int = 6, rates=(8000,)) -> Path:
    """root/<class>/<i>.wav: generated clips of each tone class, the i-th at rates[i % len(rates)]."""
    for c, kind in enumerate(classes):
        (root / kind).mkdir(parents=True)
        rng = np.random.default_rng(c)
        for i in range(per_class):
            sr = rates[i % len(rates)]
            sf.write(root / kind / f"{i}.wav", tone_clip(kind, rng, sr, 0.4), sr)
    return root


# --------------------------------------------------------------------------- FD-MFCC
def test_fdmfcc_shape_batching_and_gradient():
    p = FDMFCCParams(sample_rate=8000)
    waves = torch.from_numpy(np.stack([_tone(300), _tone(900), np.zeros(4000, np.float32)]))
    maps = FDMFCC(p)(waves)
    assert maps.shape == (3, 3, p.n_mfcc, p.frames(4000)) == (3, 3, 13, 51)
    one_by_one = torch.stack([FDMFCC(p)(w) for w in waves])
    assert torch.allclose(maps, one_by_one, atol=1e-5)  # the dB floor is per clip, not per batch
    assert torch.allclose(extract_fdmfcc(waves, p, batch_size=2), maps, atol=1e-5)
    x = waves[:2].clone().requires_grad_(True)
    FDMFCC(p)(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_fdmfcc_channels_are_mfcc_and_its_deltas():
    import torchaudio.functional as AF

    p = FDMFCCParams(sample_rate=8000)
    wave = torch.from_numpy(_tone(440) * np.linspace(0.2, 1.0, 4000, dtype=np.float32))  # rising loudness
    m = FDMFCC(p)(wave)
    assert torch.allclose(m[1], AF.compute_deltas(m[0], win_length=5), atol=1e-4)
    assert torch.allclose(m[2], AF.compute_deltas(m[1], win_length=5), atol=1e-4)
    steady = FDMFCC(p)(torch.from_numpy(_tone(400)))  # 4 periods per 10 ms hop: every inner frame alike
    assert steady[1:, :, 5:-5].abs().max() < 1e-3 * steady[0].abs().max()


def test_empty_mel_bands_are_logged_with_counts_not_warned(caplog):
    """AVDD's 128 mel bands on an FFT of 400 at 11 kHz leave one band without a bin: one log line with the counts,
    no torchaudio UserWarning on every run."""
    import warnings

    from dataclasses import replace

    p = replace(FDMFCCParams(sample_rate=11000, n_mfcc=128, n_mels=128, win_ms=400 / 11, hop_ms=200 / 11, preemphasis=0.0,
                             top_db=None, window="hann"), n_fft=400)
    from mmdistill.modalities.audio import features

    features._EMPTY_BANDS_SAID.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level("INFO", logger="mmdistill.modalities.audio.features"):
            FDMFCC(p)
            FDMFCC(p)
    assert sum("1 of 128 mel bands hold no FFT bin" in r.getMessage() for r in caplog.records) == 1, caplog.text  # once
    caplog.clear()
    with caplog.at_level("INFO", logger="mmdistill.modalities.audio.features"):
        FDMFCC(FDMFCCParams())
    assert "mel bands hold no FFT bin" not in caplog.text


def test_inversion_sounds_like_the_input():
    p = FDMFCCParams(sample_rate=8000)
    for freq in (300.0, 1500.0):
        wave = torch.from_numpy(_tone(freq))
        maps = FDMFCC(p)(wave)[None]
        back = fdmfcc_to_waveform(maps, p, num_samples=4000)
        assert back.shape == (1, 4000) and back.abs().max() <= 0.9 + 1e-6
        again = FDMFCC(p)(back[0])
        corr = np.corrcoef(maps[0, 0, 1:, 5:-5].flatten(), again[0, 1:, 5:-5].flatten())[0, 1]
        assert corr > 0.8, (freq, corr)  # the spectral envelope survives MFCC -> Griffin-Lim -> MFCC
        spectrum = np.abs(np.fft.rfft(back[0].numpy()))
        peak_hz = np.argmax(spectrum) * 8000 / 4000
        assert abs(peak_hz - freq) < 0.25 * freq, (freq, peak_hz)


def test_a_loud_map_inverts_to_a_waveform_not_a_square_wave():
    """A distilled map is louder than a real one (its c0 far above the real maps'); torchaudio's deemphasis clamped the
    waveform to [-1, 1] before the peak scaling, so exports were a clipped square wave (99.98 % of samples at +-0.9)."""
    p = FDMFCCParams(sample_rate=8000)
    maps = FDMFCC(p)(torch.from_numpy(_tone(440)))[None]
    maps[:, 0, 0] += 300.0  # c0: the frame energy, as a distilled map's reached +260
    back = fdmfcc_to_waveform(maps, p, num_samples=4000)
    assert float((back.abs() > 0.85).float().mean()) < 0.05 and back.abs().max() <= 0.9 + 1e-6


def test_bad_feature_parameters_are_named():
    with pytest.raises(ConfigError, match="n_mfcc"):
        FDMFCCParams(n_mfcc=50, n_mels=40)
    with pytest.raises(ConfigError, match="delta_win"):
        FDMFCCParams(delta_win=4)
    with pytest.raises(ConfigError, match="f_max"):
        FDMFCCParams(sample_rate=8000, f_max=6000.0)


# --------------------------------------------------------------------------- decoding
def test_resampling_keeps_pitch_and_fix_length_pads_and_crops():
    (up,) = resample_clips([Clip(_tone(500, sr=16000), 16000)], 8000)
    assert up.shape == (4000,)
    peak_hz = np.argmax(np.abs(np.fft.rfft(up.numpy()))) * 8000 / 4000
    assert abs(peak_hz - 500) < 5
    x = torch.arange(1.0, 6.0)
    assert fix_length(x, 3, "center").tolist() == [2.0, 3.0, 4.0]
    assert fix_length(x, 3, "start").tolist() == [1.0, 2.0, 3.0]
    assert fix_length(x, 8, "center").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]


# --------------------------------------------------------------------------- loaders
def test_folder_tree_mixed_rates_stereo_and_bad_files(tmp_path, capsys):
    root = _write_tree(tmp_path / "data", rates=(8000, 16000, 11025))
    stereo = np.stack([_tone(400, 16000, 0.3), _tone(400, 16000, 0.3)], axis=1)
    sf.write(root / "steady" / "stereo.wav", stereo, 16000)
    sf.write(root / "rising" / "empty.wav", np.zeros(0, np.float32), 8000)
    (root / "warble" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.5, test_fraction=0.34)
    assert ds.classes == ["rising", "steady", "warble"]
    assert ds.x_train.shape[1:] == (3, 13, 51) and ds.params.sample_rate == 8000 and ds.num_samples == 4000
    assert len(ds.x_train) + len(ds.x_test) == 19  # 18 generated + the stereo file; two bad ones skipped
    assert sorted(Path(b.name).name for b in ds.skipped) == ["broken.wav", "empty.wav"]
    assert torch.allclose(ds.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)  # normalised per channel
    with pytest.raises(DataError, match="empty.wav|broken.wav"):
        load_audio_dataset("folder", root, sample_rate=8000, duration=0.5, strict=True)


def test_coefficient_normalisation_round_trips(tmp_path):
    from mmdistill.modalities.audio.features import denormalize

    root = _write_tree(tmp_path / "data", per_class=4)
    per_channel = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4)
    per_coef = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, normalization="coefficient")
    assert torch.tensor(per_coef.mean).shape == (3, 13)
    assert torch.allclose(per_coef.x_train.mean(dim=(0, 3)), torch.zeros(3, 13), atol=1e-4)
    raw = denormalize(per_channel.x_train, per_channel.mean, per_channel.std)
    assert torch.allclose(denormalize(per_coef.x_train, per_coef.mean, per_coef.std), raw, atol=1e-3)


@pytest.mark.parametrize("normalization", ["channel", "coefficient"])
def test_deltas_derived_from_the_mfcc_channel_rebuild_real_maps(tmp_path, normalization):
    from mmdistill.modalities.audio.features import fdmfcc_from_mfcc

    root = _write_tree(tmp_path / "data", per_class=3)
    ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, normalization=normalization)
    mfcc = ds.x_train[:, 0].clone().requires_grad_(True)
    maps = fdmfcc_from_mfcc(mfcc, ds.mean, ds.std, delta_win=5)
    assert maps.shape == ds.x_train.shape
    assert torch.allclose(maps, ds.x_train, atol=1e-4)  # the loader's deltas, normalised the same way
    maps[:, 1:].square().sum().backward()  # the delta channels carry gradient back to the MFCC channel
    assert mfcc.grad is not None and mfcc.grad.abs().sum() > 0
    with pytest.raises(DataError, match="n_mfcc, frames"):
        fdmfcc_from_mfcc(ds.x_train, ds.mean, ds.std, delta_win=5)


def test_folder_duration_defaults_to_the_longest_clip(tmp_path):
    root = _write_tree(tmp_path / "data", per_class=3)
    sf.write(root / "steady" / "long.wav", _tone(300, 8000, 0.9), 8000)
    ds = load_audio_dataset("folder", root, sample_rate=8000)
    assert ds.num_samples == 7200


def test_csv_with_split_column(tmp_path):
    root = _write_tree(tmp_path / "data", per_class=4)
    rows = ["path,label,split"] + [f"data/{c}/{i}.wav,{c},{'test' if i == 0 else 'train'}" for c in ("rising", "steady") for i in range(4)]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    ds = load_audio_dataset("folder", tmp_path / "list.csv", sample_rate=8000, duration=0.4)
    assert ds.classes == ["rising", "steady"] and len(ds.x_train) == 6 and len(ds.x_test) == 2
    (tmp_path / "bad.csv").write_text("data/rising/0.wav,rising,holdout\n")
    with pytest.raises(DataError, match="row 1"):
        load_audio_dataset("folder", tmp_path / "bad.csv")


def _fsdd_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for digit in range(3):
        for speaker in ("ann", "bob"):
            for take in (0, 4, 5, 9):
                f = folder / f"{digit}_{speaker}_{take}.wav"
                sf.write(f, _tone(200 + 150 * digit + (7 if speaker == "bob" else 0), 8000, 0.3 + 0.05 * take), 8000)
                files.append(f)
    return files


def test_fsdd_layout_split_and_tar(tmp_path):
    files = _fsdd_files(tmp_path / "fsdd" / "recordings")
    ds = load_audio_dataset("fsdd", tmp_path / "fsdd")
    assert ds.classes == [str(d) for d in range(10)]
    assert len(ds.x_train) == 12 and len(ds.x_test) == 12  # takes 0-4 are the test split
    assert ds.x_train.shape[1:] == (3, 13, 101) and ds.params.sample_rate == 8000
    with tarfile.open(tmp_path / "recordings.tar", "w") as tf:
        for f in files:
            tf.add(f, arcname=f"recordings/{f.name}")
    from_tar = load_audio_dataset("fsdd", tmp_path / "recordings.tar")
    assert torch.equal(from_tar.x_train, ds.x_train) and torch.equal(from_tar.y_test, ds.y_test)


def test_fsdd_misnamed_file_is_skipped_or_refused(tmp_path):
    _fsdd_files(tmp_path / "rec")
    sf.write(tmp_path / "rec" / "hello.wav", _tone(300), 8000)
    ds = load_audio_dataset("fsdd", tmp_path / "rec")
    assert [Path(b.name).name for b in ds.skipped] == ["hello.wav"]
    with pytest.raises(DataError, match="hello.wav"):
        load_audio_dataset("fsdd", tmp_path / "rec", strict=True)


def test_missing_roots_are_named(tmp_path):
    with pytest.raises(DataError, match="needs a local root"):
        load_audio_dataset("fsdd", None)
    with pytest.raises(DataError, match="does not exist"):
        load_audio_dataset("folder", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_audio_dataset("folder", tmp_path / "empty")


def test_speechcommands_through_torchaudio_file_lists(tmp_path):
    base = tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    for word, freq in (("yes", 300), ("no", 700)):
        (base / word).mkdir(parents=True)
        for i in range(3):
            sf.write(base / word / f"spk{i}_nohash_0.wav", _tone(freq + 10 * i, 16000, 0.6), 16000)
    (base / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\nno/spk2_nohash_0.wav\n")
    (base / "validation_list.txt").write_text("")
    ds = load_audio_dataset("speechcommands", tmp_path)
    assert ds.classes == ["no", "yes"] and len(ds.x_train) == 4 and len(ds.x_test) == 2
    assert ds.num_samples == 16000 and ds.x_train.shape[-1] == 101


def test_tones_are_generated_and_seeded():
    a = load_audio_dataset("tones", seed=3)
    b = load_audio_dataset("tones", seed=3)
    assert a.classes == list(TONE_CLASSES) and torch.equal(a.x_train, b.x_train)
    assert a.x_train.shape == (150, 3, 13, 51) and a.x_test.shape == (50, 3, 13, 51)


# --------------------------------------------------------------------------- networks, configs
@pytest.mark.parametrize("name", ["convnet", "convnet1d", *CROSS_ARCH_NETWORKS[1:]])
def test_networks_take_fdmfcc_maps(name):
    import mmdistill.modalities.audio  # noqa: F401  (registers convnet1d)

    net = build_network(name, (3, 13, 101), 10)
    x = torch.randn(2, 3, 13, 101)
    assert net(x).shape == (2, 10) and net.embed(x).shape[0] == 2


def test_convnet_sizes_itself_to_the_maps():
    net = build_network("convnet", (3, 13, 101), 10)
    assert net.feature_dim == 128 * 1 * 12  # 13x101 -> 6x50 -> 3x25 -> 1x12, padding 1 everywhere


def test_ddfad_config_takes_the_per_ipc_trajectory_defaults():
    from mmdistill.recipes import audio_ddfad

    one, ten = audio_ddfad.RECIPE.config(ipc=1), audio_ddfad.RECIPE.config(ipc=10)
    assert (one.syn_steps, one.expert_epochs, one.max_start_epoch, one.lr_lr, one.lr_data) == (50, 2, 5, 1e-07, 1000.0)
    assert (ten.syn_steps, ten.max_start_epoch, ten.lr_lr) == (30, 15, 1e-05)
    assert one.batch_train is None  # resolved from the training split's size
    assert audio_ddfad.RECIPE.config(ipc=10, syn_steps=12).syn_steps == 12
    assert "tables/mtt.yaml" in config_sources(ten)["syn_steps"]  # MTT's rows, not a copy of them
    with pytest.raises(ConfigError, match="max_start_epoch"):
        audio_ddfad.RECIPE.config(ipc=10, max_start_epoch=60)
    assert isinstance(one, DDFADConfig)


# --------------------------------------------------------------------------- the recipe end to end
FAST = ["--ipc", "2", "--iterations", "3", "--batch-real", "4", "--eval-runs", "1", "--eval-epochs", "2",
        "--herding-epochs", "1", "--no-progress", "--sample-rate", "8000", "--duration", "0.4"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audio")
    root = _write_tree(tmp / "data", rates=(8000, 16000))
    out = tmp / "run"
    assert cli_main(["run", "audio-dm", "--dataset", "folder", "--data-root", str(root), *FAST, "--baselines", "random_real",
                     "--out", str(out)]) == 0
    return out


def test_recipe_runs_on_a_custom_folder(folder_run):
    manifest = json.loads((folder_run / "manifest.json").read_text())
    assert (manifest["recipe"], manifest["modality"], manifest["method"]) == ("audio-dm", "audio", "dm")
    assert {"distilled", "random_real"} <= set(manifest["metrics"])
    assert "torchaudio" in manifest["versions"]
    syn, _ = load_synthetic(folder_run)
    assert syn.x.shape == (6, 3, 13, 41) and syn.meta["features"]["sample_rate"] == 8000
    # audio-dm's default normalisation is per coefficient (global CMVN): one mean/std per channel and cepstrum
    assert manifest["config"]["normalize"] == "coefficient" and torch.tensor(syn.meta["std"]).shape == (3, 13)
    assert (folder_run / "preview.png").stat().st_size > 0


def test_export_writes_wav_per_class_and_tensors(folder_run, tmp_path):
    assert cli_main(["export", str(folder_run), "--to", str(tmp_path / "wav")]) == 0
    wavs = sorted((tmp_path / "wav").rglob("*.wav"))
    assert sorted({w.parent.name for w in wavs}) == ["rising", "steady", "warble"] and len(wavs) == 6
    data, rate = sf.read(wavs[0])
    assert rate == 8000 and len(data) == 3200 and np.abs(data).max() > 0.1
    tensors, meta = load_tensors_with_metadata(tmp_path / "wav" / "fdmfcc.safetensors")
    syn, _ = load_synthetic(folder_run)
    assert tensors["fdmfcc"].shape == (6, 3, 13, 41) and json.loads(meta["classes"]) == ["rising", "steady", "warble"]
    assert json.loads(meta["params"])["n_mfcc"] == 13 and torch.equal(tensors["labels"], syn.labels)
    index = json.loads((tmp_path / "wav" / "classes.json").read_text(encoding="utf-8"))["classes"]
    assert [(r["label"], r["class"], r["folder"], r["samples"]) for r in index] == [
        (0, "rising", "rising", 2), (1, "steady", "steady", 2), (2, "warble", "warble", 2)]


def test_export_keeps_unicode_class_folders(tmp_path):
    from mmdistill.modalities.audio.export import export_audio_set

    params = FDMFCCParams(sample_rate=8000)
    x = torch.randn(3, 3, 13, 11)
    out = export_audio_set(x, torch.tensor([0, 1, 2]), ["d?g", "dåg", "dög"], tmp_path / "wav", params=params,
                           mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], num_samples=800, n_iter=2)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["d_g", "dåg", "dög"]  # before: 000_d_g ...
    index = json.loads((out / "classes.json").read_text(encoding="utf-8"))["classes"]
    assert [(r["class"], r["folder"]) for r in index] == [("d?g", "d_g"), ("dåg", "dåg"), ("dög", "dög")]
    unsorted = export_audio_set(x, torch.tensor([0, 1, 2]), ["dög", "dåg", "d?g"], tmp_path / "wav2", params=params,
                                mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], num_samples=800, n_iter=2)
    assert sorted(p.name for p in unsorted.iterdir() if p.is_dir()) == ["000_dög", "001_dåg", "002_d_g"]  # label order


def test_eval_of_a_saved_set_reproduces_its_metrics(folder_run, capsys):
    saved = json.loads((folder_run / "manifest.json").read_text())["metrics"]["distilled"]
    assert cli_main(["eval", str(folder_run), "--no-baselines"]) == 0
    assert f"distilled {100 * saved['mean']:.2f}" in capsys.readouterr().out


def test_ddfad_trains_its_experts_and_matches_trajectories(tmp_path, capsys):
    root = _write_tree(tmp_path / "data", rates=(8000,))
    out = tmp_path / "ddfad"
    code = cli_main(["run", "audio-ddfad", "--dataset", "folder", "--data-root", str(root), "--ipc", "1", "--iterations", "2",
                     "--syn-steps", "2", "--expert-epochs", "1", "--max-start-epoch", "1", "--num-experts", "2",
                     "--expert-train-epochs", "2", "--eval-runs", "1", "--eval-epochs", "2", "--herding-epochs", "1",
                     "--no-progress", "--sample-rate", "8000", "--duration", "0.4", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["recipe"], manifest["method"]) == ("audio-ddfad", "ddfad")
    assert manifest["config"]["batch_train"] == 16  # resolved from the 12 training clips
    index = json.loads((out / "experts" / "index.json").read_text())
    assert index["spec"]["dataset"] == "folder" and len(index["experts"]) == 2
    syn, _ = load_synthetic(out)
    assert syn.x.shape == (3, 3, 13, 41)
    assert manifest["metrics"]["protocol"]["distilled_lr"] == pytest.approx(float(syn.data["syn_lr"]))  # the learned step size


def test_derive_deltas_learns_the_mfcc_channel_and_saves_consistent_maps(tmp_path, capsys):
    import torchaudio.functional as AF

    from mmdistill.modalities.audio import MODALITY
    from mmdistill.modalities.audio.features import denormalize

    root = _write_tree(tmp_path / "data", rates=(8000,))
    out = tmp_path / "tied"
    code = cli_main(["run", "audio-dm", "--dataset", "folder", "--data-root", str(root), *FAST, "--derive-deltas",
                     "--baselines", "random_real", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    syn, manifest = load_synthetic(out)
    assert set(syn.data) == {"mfcc"} and syn.data["mfcc"].shape == (6, 13, 41) and manifest["config"]["derive_deltas"]
    maps = denormalize(MODALITY.decode(syn), syn.meta["mean"], syn.meta["std"])
    assert maps.shape == (6, 3, 13, 41)
    assert torch.allclose(maps[:, 1], AF.compute_deltas(maps[:, 0], win_length=5), atol=1e-3)  # still an FD-MFCC map
    assert cli_main(["export", str(out), "--to", str(tmp_path / "wav")]) == 0
    assert len(list((tmp_path / "wav").rglob("*.wav"))) == 6


def test_class_with_fewer_clips_than_ipc_is_named(tmp_path, capsys):
    root = _write_tree(tmp_path / "data", per_class=6)
    for f in sorted((root / "warble").iterdir())[2:]:
        f.unlink()
    code = cli_main(["run", "audio-dm", "--dataset", "folder", "--data-root", str(root), *FAST, "--ipc", "3",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 3 and "'warble'" in err and "ipc=3" in err, err  # a DataError: exit code 3


def test_recipe_is_a_script():
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / "audio_dm.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--n-mfcc" in proc.stdout and "--sample-rate" in proc.stdout


# --------------------------------------------------------------------------- bad input: what is named, counted and refused
def test_csv_header_missing_and_duplicate_files_are_named_by_line(tmp_path):
    root = _write_tree(tmp_path / "data", per_class=3)
    rows = [f"data/{c}/{i}.wav,{c}" for c in ("rising", "steady") for i in range(3)]

    def load(name: str, lines: list[str]):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return load_audio_dataset("folder", tmp_path / name, sample_rate=8000, duration=0.4)

    with pytest.raises(DataError, match=r"wrong.csv, row 1: \['file', 'class'\] is neither the header path,label"):
        load("wrong.csv", ["file,class", *rows])  # before: the header became a class 'class' of one missing file
    with pytest.raises(DataError, match=r"1 listed file\(s\) do not exist .*row 8: data/steady/9.wav"):
        load("missing.csv", ["path,label", *rows, "data/steady/9.wav,steady"])
    with pytest.raises(DataError, match=r"listed more than once .*data/rising/0.wav on rows 2 and 8"):
        load("dup.csv", ["path,label", *rows, "data/rising/0.wav,steady"])  # before: kept twice, under two labels
    with pytest.raises(DataError, match=r"bad.csv, row 3: split must be"):  # the file's line, counting header and blank lines
        load("bad.csv", ["path,label,split", "", "data/rising/0.wav,rising,holdout"])
    assert root.is_dir()


def test_held_out_split_is_drawn_from_the_readable_clips(tmp_path):
    from mmdistill.modalities.audio.datasets import find_audio_items

    root = _write_tree(tmp_path / "data", per_class=2)
    for c in ("rising", "steady", "warble"):
        (root / c / "zz_broken.wav").write_bytes(b"RIFF not really a wave file")
    for seed in range(4):  # an unreadable file never takes its class's only test place
        ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, seed=seed)
        assert torch.bincount(ds.y_test, minlength=3).tolist() == [1, 1, 1] and len(ds.skipped) == 3
    # valid data: the same split and order as before (find_audio_items' draw, written as a split column)
    clean = _write_tree(tmp_path / "clean", per_class=5)
    items, _ = find_audio_items("folder", clean, seed=3)
    (tmp_path / "split.csv").write_text("path,label,split\n" + "".join(f"{it.name},{it.label},{it.split}\n" for it in items))
    a = load_audio_dataset("folder", clean, sample_rate=8000, duration=0.4, seed=3)
    b = load_audio_dataset("folder", tmp_path / "split.csv", sample_rate=8000, duration=0.4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)


def test_load_report_counts_and_names_what_was_not_taken_as_it_was(tmp_path, caplog):
    import logging

    root = _write_tree(tmp_path / "data", per_class=4, rates=(8000, 16000))
    sf.write(root / "steady" / "long.wav", _tone(300, 8000, 0.9), 8000)
    (root / "rising" / "notes.txt").write_text("not a clip")
    (root / "warble" / "empty.wav").write_bytes(b"")
    sf.write(root / "warble" / "quiet.wav", np.zeros(3200, dtype=np.float32), 8000)  # was trained on without a word
    with caplog.at_level(logging.INFO):
        ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4)
    rep = ds.report.as_dict()
    assert rep["counts"] == {"unreadable": 1, "ignored": 1, "resampled": 6, "downmixed": 0, "padded": 0, "cropped": 1, "silent": 1}
    assert rep["files"] == {"unreadable": ["warble/empty.wav"], "ignored": ["rising/notes.txt"], "silent": ["warble/quiet.wav"]}
    assert rep["root"] == "data"
    assert rep["facts"] == {"clips": 14, "sample_rate": 8000, "duration_s": 0.4, "align": "center", "resampled_from_hz": {"16000": 6}}
    assert str(tmp_path) not in json.dumps(rep)
    for text in ("empty (0 bytes)", "ignored 1 file under the data root", "kept 1 all-zero clip (digital silence", "resampled 6 clip(s) from 16000 Hz", "cropped 1 clip(s) longer than 0.4 s"):
        assert text in caplog.text, text
    with pytest.raises(DataError, match=r"notes.txt .*strict mode"):
        load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, strict=True)


def test_hidden_files_are_named_and_a_class_without_test_clips_is_warned(tmp_path, caplog):
    import logging
    import shutil

    root = _write_tree(tmp_path / "data", per_class=3)
    (root / "steady" / ".DS_Store").write_bytes(b"\0")
    (root / "rising" / ".git").mkdir()
    (root / "rising" / ".git" / "x.wav").write_bytes(b"")  # inside a hidden folder: not read, the folder named
    (root / ".DS_Store").write_bytes(b"\0")
    for extra in ("1.wav", "2.wav"):  # warble keeps a single clip: nothing to hold out
        (root / "warble" / extra).unlink()
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4)
    rep = ds.report.as_dict()
    assert sorted(rep["files"]["ignored"]) == [".DS_Store", "rising/.git", "steady/.DS_Store"]
    assert "steady/.DS_Store (hidden)" in caplog.text
    assert rep["facts"]["classes_without_test"] == ["warble"] and "'warble' have training clips but no test clip" in caplog.text
    load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, strict=True)  # hidden entries never fail strict
    # a train/test layout whose test/ lacks a class folder: warned, as the image loader does
    split = tmp_path / "split"
    shutil.copytree(root / "rising", split / "train" / "rising")
    shutil.copytree(root / "steady", split / "train" / "steady")
    shutil.copytree(root / "rising", split / "test" / "rising")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("folder", split, sample_rate=8000, duration=0.4)
    assert ds.report.facts["classes_without_test"] == ["steady"] and "'steady' have training clips" in caplog.text


def test_the_load_report_reaches_the_manifest(folder_run):
    rep = json.loads((folder_run / "manifest.json").read_text())["synthetic"]["meta"]["load_report"]
    assert rep["counts"]["resampled"] == 9 and rep["facts"]["resampled_from_hz"] == {"16000": 9}
    assert rep["counts"]["unreadable"] == 0 and rep["root"] == "data" and is_report(rep)


def test_generated_tones_store_no_load_report_and_a_folder_keeps_it(folder_run):
    """Generated data gets no load line on its card (before: tones stored a report, "nothing skipped, padded or left
    out"); a set read from files keeps its report and line."""
    from mmdistill.card import card_summary, loading_counts
    from mmdistill.modalities.audio import MODALITY
    from mmdistill.recipes import audio_dm

    meta = MODALITY.load(audio_dm.RECIPE.config(dataset="tones", sample_rate=8000, duration=0.4, progress=False)).meta
    tones = {"recipe": "audio-dm", "synthetic": {"meta": meta}}
    assert "load_report" not in meta and loading_counts(tones) is None and "loading:" not in card_summary(tones)
    manifest = json.loads((folder_run / "manifest.json").read_text())
    assert loading_counts(manifest) == "resampled 9" and "loading: resampled 9" in card_summary(manifest)


def test_bad_arguments_and_tensors_are_named(tmp_path):
    from mmdistill.modalities.audio.decode import decode

    root = _write_tree(tmp_path / "data", per_class=2)
    for kw, msg in ((dict(sample_rate=0), "sample_rate must be >= 1000"), (dict(duration=float("inf")), "finite number of seconds"),
                    (dict(batch_files=0), "batch_files"), (dict(normalization="cmvn"), "normalize must be one of")):
        with pytest.raises(ConfigError, match=msg):  # before: 0 Hz silently the default, inf an OverflowError, 0 a ValueError
            load_audio_dataset("folder", root, **kw)
    p = FDMFCCParams(sample_rate=8000)
    with pytest.raises(DataError, match="longer than half an FFT frame"):  # before: torch's padding RuntimeError
        FDMFCC(p)(torch.randn(1, 10))
    waves = torch.randn(3, 4000)
    waves[1, 7] = float("nan")
    with pytest.raises(DataError, match=r"NaN or infinite samples: rows \[1\]"):  # before: NaN maps
        extract_fdmfcc(waves, p)
    with pytest.raises(DataError, match="does not exist"):
        decode("gone.wav", str(tmp_path / "gone.wav"))
    with pytest.raises(ConfigError, match=r"sample_rate / 2 \(4000 Hz\)"):
        FDMFCCParams(sample_rate=8000, f_max=6000)


# --------------------------------------------------------------------------- walk34A: duration, CSV, decoders, preview labels
def test_default_duration_is_the_longest_readable_clip_and_names_its_file(tmp_path, caplog):
    """Before: a 2 s WAV holding a NaN (skipped as unreadable) set the duration: every 0.4 s clip padded to 2 s."""
    import logging

    root = _write_tree(tmp_path / "data", per_class=3)
    bad = _tone(300, 8000, 2.0)
    bad[5] = np.nan
    sf.write(root / "steady" / "nan.wav", bad, 8000, subtype="FLOAT")
    sf.write(root / "warble" / "long.wav", _tone(500, 8000, 0.5), 8000)
    with caplog.at_level(logging.INFO):
        ds = load_audio_dataset("folder", root, sample_rate=8000)
    assert ds.num_samples == 4000 and ds.x_train.shape[-1] == 51 and [Path(b.name).name for b in ds.skipped] == ["nan.wav"]
    assert "duration 0.5 s: the longest readable clip" in caplog.text and "long.wav" in caplog.text
    assert "nan.wav (2 s)" in caplog.text  # the longer file passed over is named
    (root / "warble" / "long.wav").unlink()
    (root / "steady" / "nan.wav").unlink()
    # every file readable: the duration (and so the maps) as before, from the longest header
    assert load_audio_dataset("folder", root, sample_rate=8000).num_samples == 3200


def test_csv_without_test_rows_a_folder_row_and_extra_columns_are_named(tmp_path, caplog):
    """Before: "no readable test clips" for a split column of only 'train', a folder "does not exist", and extra
    columns ignored without a word."""
    import logging

    _write_tree(tmp_path / "data", per_class=3)
    rows = [(f"data/{c}/{i}.wav", c) for c in ("rising", "steady") for i in range(3)]

    def load(name: str, lines: list[str]):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return load_audio_dataset("folder", tmp_path / name, sample_rate=8000, duration=0.4)

    with pytest.raises(DataError, match=r"train.csv names no test rows: its split column \(column 3\) is 'train' on all 6 rows"):
        load("train.csv", [f"{p},{c},train,extra" for p, c in rows])
    with pytest.raises(DataError, match=r"1 listed path\(s\) are folders, not audio files .*row 8: data/warble"):
        load("dir.csv", ["path,label", *[f"{p},{c}" for p, c in rows], "data/warble,warble"])
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ds = load("extra.csv", ["path,label,split,speaker,", *[f"{p},{c},{'test' if p.endswith('0.wav') else 'train'},spk{i}," for i, (p, c) in
                                                             enumerate(rows)]])
    assert len(ds.x_train) == 4 and len(ds.x_test) == 2
    assert caplog.text.count("column(s) not read") == 1 and "extra.csv: 1 column(s) not read" in caplog.text
    assert "'speaker' (column 4)" in caplog.text and "column 5" not in caplog.text  # a trailing comma names nothing


def test_a_format_librosa_cannot_decode_says_what_is_missing(tmp_path, monkeypatch):
    """Before: "librosa: NoBackendError: " (audioread's error has no message), and nothing said ffmpeg was needed."""
    import shutil

    audioread = pytest.importorskip("audioread")
    from mmdistill.modalities.audio.decode import decode

    def no_backend(*args, **kwargs):
        raise audioread.exceptions.NoBackendError()

    monkeypatch.setattr(audioread, "audio_open", no_backend)
    clip = tmp_path / "clip.m4a"
    clip.write_bytes(b"\0\0\0\x20ftypM4A " + bytes(64))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"clip.m4a .*ffmpeg is not installed .*convert the file to WAV or FLAC"):
        decode(str(clip), str(clip))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffmpeg")
    with pytest.raises(DataError, match=r"ffmpeg is installed but could not read it"):
        decode(str(clip), str(clip))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a clip")
    with pytest.raises(DataError, match=r"a \.txt file: not audio\?"):
        decode(str(notes), str(notes))


def test_fdmfcc_preview_labels_a_class_the_font_lacks_by_index_without_glyph_warnings(tmp_path, caplog, monkeypatch):
    """Before: the 鳥の声 row of preview.png read □□□ and stderr got matplotlib's warning once per glyph."""
    import logging
    import warnings

    from mmdistill.modalities.audio.export import save_fdmfcc_preview
    from mmdistill.plots import missing_glyphs, pyplot

    if missing_glyphs("鳥の声") != "鳥の声":
        pytest.skip("the installed plot font draws CJK")
    figures = []
    close = pyplot().close
    monkeypatch.setattr(pyplot(), "close", lambda fig=None: figures.append(fig))
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        save_fdmfcc_preview(torch.randn(3, 3, 13, 20), torch.tensor([0, 1, 1]), ["low hum", "鳥の声"], tmp_path / "preview.png")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert [ax.get_ylabel() for ax in figures[0].axes if ax.get_ylabel()] == ["low hum", "class 1"]
    close(figures[0])
    assert caplog.text.count("class name(s) use characters") == 1 and "'class 1' is '鳥の声'" in caplog.text


def test_a_hop_that_rounds_to_no_sample_names_hop_ms_not_the_window():
    """--hop-ms 0.001 said "a 20.0 ms window at 16000 Hz is only 320 samples; use longer frames" (one message for both
    cases, no key named); the hop and the window are now refused apart, each naming its key and the smallest value."""
    with pytest.raises(ConfigError, match=r"^hop_ms=0\.001 is 0 samples at 16000 Hz; .*use hop_ms >= 0\.0625 at this rate$") as hop:
        FDMFCCParams(hop_ms=0.001)
    assert hop.value.key == "hop_ms" and "window" not in str(hop.value)
    with pytest.raises(ConfigError, match=r"^win_ms=0\.1 is only 2 samples at 16000 Hz; .*at least 8 samples: use win_ms >= 0\.5 "
                                          r"at this rate$") as win:
        FDMFCCParams(win_ms=0.1)
    assert win.value.key == "win_ms"
    with pytest.raises(ConfigError, match=r"use hop_ms >= 0\.125 at this rate"):  # the smallest value follows the rate
        FDMFCCParams(sample_rate=8000, hop_ms=0.05)
    assert FDMFCCParams(hop_ms=0.0625).hop_length == 1 and FDMFCCParams(win_ms=0.5).win_length == 8  # the values named work


def test_stereo_clips_averaged_to_mono_are_counted_as_downmixed(tmp_path, caplog):
    """A stereo file was averaged to mono without a word (decode.py's data.mean(axis=1)); it is now counted in the load
    report (kind downmixed) and logged with its channel count, like a resampled clip."""
    import logging

    from mmdistill.modalities.audio.decode import decode

    root = _write_tree(tmp_path / "data", per_class=3)
    left, right = _tone(300, 8000, 0.4), _tone(500, 8000, 0.4)
    sf.write(root / "steady" / "stereo.wav", np.stack([left, right], axis=1), 8000)
    clip = decode("stereo.wav", str(root / "steady" / "stereo.wav"))
    assert clip.channels == 2 and np.allclose(clip.samples, (left + right) / 2, atol=1e-4)
    assert decode("0.wav", str(root / "steady" / "0.wav")).channels == 1
    with caplog.at_level(logging.INFO):
        ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4)
    assert ds.report.as_dict()["counts"]["downmixed"] == 1 and ds.report.counts()["resampled"] == 0
    assert "downmixed 1 clip(s) from 2 channels to mono" in caplog.text
    assert any("1 multi-channel clip(s) averaged to mono" in line for line in ds.report.lines())


def test_a_format_libsndfile_cannot_read_is_decoded_through_audioread_whatever_librosa_does(tmp_path, monkeypatch):
    """Review 38: a stereo file libsndfile cannot read (.m4a, .aac) is counted as two channels. Walk 48A: it went through
    librosa.load, and librosa >= 1.0 (what Python >= 3.12 installs) reads only what libsndfile reads, so every such
    file was skipped as "librosa: LibsndfileError" even with ffmpeg installed. Here libsndfile refuses the file and
    librosa.load fails as 1.0's does; audioread's own WAV reader decodes it (no ffmpeg needed for the test)."""
    pytest.importorskip("audioread")
    sf = pytest.importorskip("soundfile")
    from mmdistill.modalities.audio.decode import decode

    left, right = np.linspace(-0.5, 0.5, 400, dtype=np.float32), np.full(400, 0.25, dtype=np.float32)
    path = tmp_path / "song.m4a"
    sf.write(path, np.stack([left, right], axis=1), 8000, format="WAV", subtype="PCM_16")

    def not_recognised(*args, **kwargs):
        raise RuntimeError("Error opening 'song.m4a': Format not recognised.")

    for name in ("read", "SoundFile", "info"):
        monkeypatch.setattr(sf, name, not_recognised)
    try:
        import librosa
    except ImportError:
        pass
    else:
        monkeypatch.setattr(librosa, "load", not_recognised)
    clip = decode(path.name, str(path))
    assert clip.channels == 2 and clip.sample_rate == 8000 and clip.samples.dtype == np.float32
    assert np.abs(clip.samples - (left + right) / 2).max() < 2 / 32768  # 16-bit PCM, averaged


def test_a_window_longer_than_the_clip_is_refused_naming_both_keys():
    """Walk 38: --win-ms 500 with --duration 0.3 ran without a word (every frame mostly padding)."""
    from mmdistill.recipes import audio_dm

    with pytest.raises(ConfigError, match=r"win_ms=500 is longer than a clip \(duration=0.3 s\).*win_ms <= 300") as err:
        audio_dm.RECIPE.config(win_ms=500, duration=0.3)
    assert err.value.key == "win_ms"
    assert audio_dm.RECIPE.config(win_ms=300, duration=0.3).win_ms == 300


def _forged_wav(path: Path, rate: int, frames: int = 1600) -> Path:
    """A PCM16 mono WAV of ``frames`` zero samples whose header declares ``rate`` Hz (soundfile writes no such rate)."""
    import struct

    data = np.zeros(frames, dtype="<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("rate", [1, 8, 99])
def test_a_clip_whose_header_declares_a_rate_below_100_hz_is_skipped_not_the_duration(tmp_path, caplog, rate):
    """Walk 39A #4: one 3 KB WAV declaring 1 Hz (1600 frames: 1600 s) set the folder's duration, and every clip was
    padded to 1600 s (GBs, a torch allocation traceback). A rate below 100 Hz (not what low-rate recordings use): the clip is skipped as
    unreadable (named, in the load report), never sets the duration; strict mode refuses it."""
    root = _write_tree(tmp_path / "data", per_class=3)
    bad = _forged_wav(root / "steady" / "bad.wav", rate)
    with caplog.at_level("INFO", logger="mmdistill.modalities.audio.datasets"):
        ds = load_audio_dataset("folder", root)
    assert ds.num_samples == int(round(0.4 * 16000))  # the longest real clip (0.4 s), not 1600 s
    assert [(b.name, b.reason) for b in ds.skipped] == [
        (str(bad), f"audio file {bad} declares a sample rate of {rate} Hz, below the 100 Hz the loader reads "
                   "(a damaged or forged header?)")]
    report = ds.report.as_dict()
    assert report["counts"]["unreadable"] == 1 and report["files"]["unreadable"] == ["steady/bad.wav"]  # relative to the root
    assert f"declares a sample rate of {rate} Hz" in caplog.text
    with pytest.raises(DataError, match=rf"^audio file .*bad\.wav declares a sample rate of {rate} Hz.*\(strict mode"):
        load_audio_dataset("folder", root, strict=True)


def test_a_set_too_large_for_memory_is_refused_before_decoding_naming_the_duration_and_its_file(tmp_path, monkeypatch, caplog):
    """Walk 39A #4: the loader had no memory estimate (images have one). Clips x duration x rate (waveforms, spectra,
    maps) are compared with the host's available memory before decoding: the refusal names the file that set a folder's
    duration and --duration (DataError), or the given duration (ConfigError, key duration); check_memory=False skips it.
    A longest clip far beyond the median is named in a warning."""
    from mmdistill.modalities.audio import datasets as ad

    root = _write_tree(tmp_path / "data", per_class=3)
    sf.write(root / "rising" / "long.wav", _tone(300, 8000, 6.0), 8000)
    params = FDMFCCParams(sample_rate=16000)
    need = ad.audio_memory_bytes(10, 6 * 16000, params)
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: need - 1)
    with caplog.at_level("INFO", logger="mmdistill.modalities.audio.datasets"):
        with pytest.raises(DataError, match=r"^dataset 'folder' at .*: 10 clips of 6 s at 16000 Hz \(the duration 6 s set by its longest "
                                            r"readable clip, .*long\.wav\) need about .* GiB .*--duration SECONDS.*memory_check=false"):
            load_audio_dataset("folder", root)
    assert "is 15 times the median clip's 0.4 s" in caplog.text
    with pytest.raises(ConfigError, match=r"duration=6\.0 s \(--duration\)") as err:
        load_audio_dataset("folder", root, duration=6.0)
    assert err.value.key == "duration"
    assert load_audio_dataset("folder", root, duration=6.0, check_memory=False).num_samples == 6 * 16000
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: need)
    assert load_audio_dataset("folder", root).num_samples == 6 * 16000  # it fits: read as before
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 0)  # unknown: nothing to check against
    assert load_audio_dataset("folder", root, duration=0.4).num_samples == 6400


def test_an_oversized_fsdd_member_is_skipped_unread_and_duplicate_clip_names_refused(tmp_path, monkeypatch):
    """Walk 39A #5: a 1.5 MB tar holding a sparse member of 3 GB apparent size was read whole (MemoryError). A member
    (or file) above MAX_FSDD_BYTES is not read: skipped as unreadable naming it (strict: refused). A tar holding one clip
    name twice (two folders) was read as two clips: refused naming both members."""
    from mmdistill.modalities.audio import fsdd

    files = _fsdd_files(tmp_path / "rec")
    monkeypatch.setattr(fsdd, "MAX_FSDD_BYTES", max(f.stat().st_size for f in files))
    big = tmp_path / "rec" / "9_ann_7.wav"
    sf.write(big, _tone(300, 8000, 2.0), 8000)
    with tarfile.open(tmp_path / "big.tar", "w") as tf:
        for f in sorted((tmp_path / "rec").iterdir()):
            tf.add(f, arcname=f"recordings/{f.name}")
    extracted: list[str] = []
    extractfile = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda tf, m: extracted.append(m.name) or extractfile(tf, m))
    ds = load_audio_dataset("fsdd", tmp_path / "big.tar")
    assert len(extracted) == 24 and "recordings/9_ann_7.wav" not in extracted  # never read
    assert [b.name for b in ds.skipped] == [f"{tmp_path / 'big.tar'}:recordings/9_ann_7.wav"]
    assert "MiB; an FSDD clip is a few KB" in ds.skipped[0].reason and len(ds.x_train) + len(ds.x_test) == 24
    with pytest.raises(DataError, match=r"9_ann_7\.wav is .* MiB; an FSDD clip is a few KB.*strict mode"):
        load_audio_dataset("fsdd", tmp_path / "big.tar", strict=True)
    from_folder = load_audio_dataset("fsdd", tmp_path / "rec")  # the same bound for a folder of FSDD files
    assert [Path(b.name).name for b in from_folder.skipped] == ["9_ann_7.wav"]
    big.unlink()
    with tarfile.open(tmp_path / "dup.tar", "w") as tf:
        for f in files:
            tf.add(f, arcname=f"recordings/{f.name}")
        tf.add(files[0], arcname=f"other/{files[0].name}")
    with pytest.raises(DataError, match=rf"dup\.tar: 1 clip name\(s\) are held more than once: {files[0].name} "
                                        rf"\(recordings/{files[0].name}, other/{files[0].name}\)"):
        load_audio_dataset("fsdd", tmp_path / "dup.tar")


def test_an_audio_class_folder_linked_to_another_is_refused(tmp_path):
    """Walk 39A #13 for audio folders (the same class-folder walk as images): ``steady_too -> steady`` is refused."""
    root = _write_tree(tmp_path / "data", per_class=2)
    (root / "steady_too").symlink_to(root / "steady")
    with pytest.raises(DataError, match=r"class folder 'steady_too' of .* is a link to the same folder as class folder 'steady'"):
        load_audio_dataset("folder", root, duration=0.4)


def test_a_test_clip_that_is_a_training_clip_through_a_link_is_refused(tmp_path):
    """train/ and test/ class folders: a test file linking to a training clip would be scored as unseen; refused."""
    import os

    _write_tree(tmp_path / "train", per_class=3)
    _write_tree(tmp_path / "test", per_class=1)
    os.symlink(tmp_path / "train" / "steady" / "2.wav", tmp_path / "test" / "steady" / "linked.wav")
    with pytest.raises(DataError, match=r"1 test audio file\(s\) are training audio files too .*linked\.wav is .*train/steady/2\.wav"):
        load_audio_dataset("folder", str(tmp_path))


# --------------------------------------------------------------------------- fix40A: the rate floor in decode(), partial reads
def test_decode_all_refuses_a_rate_below_min_rate_strict_or_skipped_in_item_order(tmp_path):
    """Review 39: the 100 Hz floor was a second pass over decode_all's result (datasets._decode_checked) rebuilding its
    list; decode(min_rate=) now refuses such a file itself. Skipped files keep item order; strict mode names the first
    bad file in item order (the former pass raised an unreadable file before an earlier one below the floor);
    the default min_rate=0 (the audio-visual loader) reads any rate; a file at the floor is read, and an empty low-rate
    file is still named for having no samples."""
    from mmdistill.modalities.audio.decode import decode_all

    sf.write(tmp_path / "g0.wav", _tone(300), 8000)
    low = _forged_wav(tmp_path / "low.wav", 50)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(tmp_path / "at100.wav", np.zeros(50, np.float32), 100)
    _forged_wav(tmp_path / "low_empty.wav", 1, frames=0)
    names = ["g0.wav", "low.wav", "broken.wav", "at100.wav", "low_empty.wav"]
    items = [(n, (lambda p=str(tmp_path / n): p)) for n in names]
    clips, bad = decode_all(items, strict=False, min_rate=100)
    assert [c is None for c in clips] == [False, True, True, False, True]
    assert [b.name for b in bad] == ["low.wav", "broken.wav", "low_empty.wav"]
    assert bad[0].reason == "audio file low.wav declares a sample rate of 50 Hz, below the 100 Hz the loader reads (a damaged or forged header?)"
    assert bad[1].reason.startswith("cannot decode audio file broken.wav") and bad[2].reason.endswith("holds no samples (zero length)")
    assert clips[3].sample_rate == 100
    # strict: the first bad file in item order, whichever the reason
    with pytest.raises(DataError, match=r"^audio file low\.wav declares a sample rate of 50 Hz, below the 100 Hz .*\(strict mode; leave strict off"):
        decode_all(items, strict=True, min_rate=100)
    with pytest.raises(DataError, match=r"^cannot decode audio file broken\.wav .*\(strict mode; leave strict off"):
        decode_all(items[2:], strict=True, min_rate=100)
    clips, bad = decode_all(items[:2], strict=True)  # min_rate=0: every rate read, as the audio-visual loader does
    assert clips[1].sample_rate == 50 and len(clips[1].samples) == 1600 and not bad
    assert low.exists()


def _old_path(paths: list[Path], rate: int, num_samples: int, align: str) -> list[torch.Tensor]:
    """What the loader did before reading in part: the whole files decoded, resampled (one batch), padded or cropped."""
    from mmdistill.modalities.audio.decode import decode

    return [fix_length(w, num_samples, align) for w in resample_clips([decode(p.name, str(p)) for p in paths], rate)]


@pytest.mark.parametrize("src,target,channels,align,fmt", [
    (8000, 8000, 1, "center", "PCM_16"), (16000, 16000, 2, "center", "FLOAT"), (44100, 44100, 1, "start", "PCM_24"),
    (22050, 22050, 2, "center", "FLAC"), (48000, 48000, 1, "start", "FLAC"), (11025, 16000, 2, "center", "PCM_16"),
])
def test_a_long_file_is_read_only_for_the_kept_samples_with_the_whole_files_samples(tmp_path, monkeypatch, src, target, channels, align, fmt):
    """Review 39: a file far longer than the clip was decoded whole before the crop (an hour of audio for 1 s). At the
    clip's rate it is read in part now (soundfile is asked for the kept frames only), and the kept samples are
    bit-identical to the whole file cropped; a shorter clip, and a file to be resampled (torchaudio's conv1d rounds the
    last bits differently on a shorter input), are read whole as before."""
    from mmdistill.modalities.audio.decode import Crop, decode, fit_clip

    rng = np.random.default_rng(src + channels)
    long_x = (rng.standard_normal((int(7.3 * src) + 3, channels)) * 0.2).clip(-1, 1).astype(np.float32)
    path = tmp_path / ("long.flac" if fmt == "FLAC" else "long.wav")
    sf.write(path, long_x, src, **({} if fmt == "FLAC" else {"subtype": fmt}))
    short = tmp_path / "short.wav"
    sf.write(short, long_x[: int(0.2 * src)], src, subtype="FLOAT")
    num_samples = int(0.5 * target) + 1
    crop = Crop(num_samples, target, align)
    asked = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, frames=-1, *a, **k: asked.append(frames) or real_read(self, frames, *a, **k))
    clips = [decode(p.name, str(p), crop=crop) for p in (path, short)]
    whole = src != target or fmt == "FLAC"  # resampled, or compressed (review 40: a FLAC header's length may be wrong)
    assert asked == [len(long_x) if whole else num_samples, int(0.2 * src)]  # frames asked of soundfile
    assert clips[0].frames == (None if whole else len(long_x)) and clips[1].frames is None
    waves = resample_clips(clips, target)  # the two batched together, as the loader does
    got = [fit_clip(w, c, target, num_samples, align) for w, c in zip(waves, clips)]
    monkeypatch.setattr(sf.SoundFile, "read", real_read)
    for (wave, _), old in zip(got, _old_path([path, short], target, num_samples, align)):
        assert torch.equal(wave, old)
    assert got[0][1] == int(np.ceil(len(long_x) * target / src)) > num_samples > got[1][1]  # cropped / padded, as counted
    if not whole:
        with pytest.raises(ConfigError, match="read for another crop"):
            fit_clip(waves[0], clips[0], target, num_samples, "start" if align == "center" else "center")


def test_the_loader_reads_long_files_in_part_with_the_same_maps_and_report(tmp_path, monkeypatch):
    """Through load_audio_dataset: a 20 s file among 0.4 s clips (duration 0.4 s, center and start) gives the same maps,
    skipped files and load report (cropped) as reading every file whole (decode's window turned off), reading no file at
    the set's rate whole. A long file whose tail holds non-finite samples is read (its tail never is) when only its head
    or middle is kept; it was skipped when read whole."""
    from mmdistill.modalities.audio import decode as decode_module

    root = _write_tree(tmp_path / "data", per_class=3, rates=(8000, 16000))
    rng = np.random.default_rng(5)
    sf.write(root / "steady" / "long.wav", (rng.standard_normal((20 * 8000, 2)) * 0.1).astype(np.float32), 8000)
    sf.write(root / "rising" / "long.flac", (rng.standard_normal(9 * 8000 + 1) * 0.1).astype(np.float32), 8000)
    (root / "rising" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    asked = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, frames=-1, *a, **k: asked.append((self.samplerate, frames)) or real_read(self, frames, *a, **k))

    def load(align):
        return load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, align=align)

    part = {align: load(align) for align in ("center", "start")}
    at_8k = {n for rate, n in asked if rate == 8000}
    assert 3200 in at_8k and 20 * 8000 not in at_8k and 9 * 8000 + 1 in at_8k  # the 20 s WAV read in part (0.4 s), the 9 s FLAC whole
    assert max(n for rate, n in asked if rate == 16000) == 6400  # resampled clips read whole (0.4 s at 16 kHz)
    monkeypatch.setattr(decode_module, "_window", lambda *a: None)  # every file read whole, as before
    whole = {align: load(align) for align in ("center", "start")}
    for align in ("center", "start"):
        a, b = part[align], whole[align]
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
        assert [(s.name, s.reason) for s in a.skipped] == [(s.name, s.reason) for s in b.skipped] and len(a.skipped) == 1
        assert a.report.as_dict() == b.report.as_dict() and a.report.as_dict()["counts"]["cropped"] == 2
    monkeypatch.undo()
    nan_tail = (rng.standard_normal(5 * 8000) * 0.1).astype(np.float32)
    nan_tail[-5:] = np.nan
    sf.write(root / "warble" / "nan_tail.wav", nan_tail, 8000, subtype="FLOAT")
    for align in ("center", "start"):
        ds = load(align)
        assert [Path(s.name).name for s in ds.skipped] == ["broken.wav"] and ds.report.as_dict()["counts"]["cropped"] == 3
    monkeypatch.setattr(decode_module, "_window", lambda *a: None)
    assert sorted(Path(s.name).name for s in load("start").skipped) == ["broken.wav", "nan_tail.wav"]


def test_a_clip_is_silent_when_what_the_set_keeps_of_it_is_silent_whatever_its_rate(tmp_path):
    """Review 40: silence was judged on the samples read, the kept window for a file read in part but the whole file for
    one resampled, so two copies of one recording disagreed by sample rate. It is judged on the kept clip for every file."""
    root = tmp_path / "data"
    tone = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            sf.write(root / cls / f"tone{k}.wav", np.roll(tone, 97 * k + (cls == "b") * 13), 8000)
    quiet = np.zeros(10 * 8000, np.float32)
    quiet[:8000], quiet[-8000:] = tone, tone  # sound in the first and last second only
    sf.write(root / "a" / "mid_silent_8k.wav", quiet, 8000)
    sf.write(root / "b" / "mid_silent_16k.wav", np.repeat(quiet, 2), 16000)
    ds = load_audio_dataset("folder", root, sample_rate=8000, duration=0.4, align="center")
    silent = sorted(Path(n).name for n, _ in ds.report.items("silent"))
    assert silent == ["mid_silent_16k.wav", "mid_silent_8k.wav"]


def test_fdmfcc_takes_float64_waveforms_and_names_what_it_cannot_take():
    """numpy and librosa give float64: FD-MFCC reads it as float32 (a differentiable cast); integer PCM and arrays get
    a DataError saying what to pass (torch's and torchaudio's own errors named neither)."""
    p = FDMFCCParams(sample_rate=8000)
    waves = torch.from_numpy(np.stack([_tone(300), _tone(900)]))
    as64 = waves.double().requires_grad_(True)
    maps = FDMFCC(p)(as64)
    assert maps.dtype == torch.float32 and torch.allclose(maps, FDMFCC(p)(waves), atol=1e-5)
    maps.square().mean().backward()
    assert as64.grad is not None and as64.grad.abs().sum() > 0
    with pytest.raises(DataError, match=r"got dtype torch.int16 \(int16 PCM: pcm.float\(\) / 32768\)"):
        FDMFCC(p)((waves * 32767).to(torch.int16))
    with pytest.raises(DataError, match=r"got ndarray \(torch.from_numpy converts an array\)"):
        FDMFCC(p)(waves.numpy())


# --------------------------------------------------------------------------- walk53N: readable without colour
def test_fdmfcc_preview_has_a_colour_bar_per_channel_with_zero_and_a_lightness_ordered_map(tmp_path, monkeypatch):
    """Before: the Δ/ΔΔ bands used coolwarm (both signs print as the same grey) with no colour bar, no zero and no unit."""
    import matplotlib.colors as mcolors
    import numpy as np

    import mmdistill.modalities.audio.export as export

    figs = []
    real_save = export.save_figure
    monkeypatch.setattr(export, "save_figure", lambda fig, path: (figs.append(fig), real_save(fig, path))[1])
    export.save_fdmfcc_preview(torch.randn(4, 3, 13, 20), torch.tensor([0, 0, 1, 1]), ["hum", "rain"], tmp_path / "p.png")
    fig = figs[0]
    bars = [child for ax in fig.axes for child in ax.child_axes]
    assert len(bars) == 3  # MFCC, Δ, ΔΔ
    for cax in bars[1:]:
        assert "0" in [t.get_text() for t in cax.get_yticklabels()]
    assert "Δ: normalised" in fig._suptitle.get_text()
    for cmap_name, _, _ in export.CHANNEL_KEYS:  # lightness (sRGB luma) rises along every map: a sign survives grey print
        rgb = mcolors.to_rgba_array(__import__("matplotlib").colormaps[cmap_name](np.linspace(0, 1, 32)))[:, :3]
        luma = rgb @ np.array([0.299, 0.587, 0.114])
        assert (np.diff(luma) > 0).all(), cmap_name


def test_the_audio_previews_alt_text_names_its_classes_counts_and_layout(tmp_path):
    """Before: the run card's alt text of an audio set's preview.png was "preview of the 4 clips of ... as the modality
    draws them": which classes, how many clips and what a map's axes and colours mean were in no text."""
    from mmdistill.card_pictures import picture_lines
    from mmdistill.modality import get_modality
    from mmdistill.report import _preview_words
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.randn(5, 3, 13, 20)}, torch.tensor([0, 0, 1, 1, 2]), 3,
                       meta={"classes": ["dog", "rain", "siren"], "features": {"hop_ms": 10.0}})
    manifest = {"recipe": "audio-dm", "dataset": "tones", "sample_noun": "clip", "synthetic": {"tensors": {"labels": [5]}}}
    _preview_words(manifest, get_modality("audio"), syn)
    (tmp_path / "preview.png").write_bytes(b"\x89PNG")
    alt = "\n".join(picture_lines(tmp_path, manifest))
    assert "3 rows, one per class, its first 2 clips: dog, rain, siren (1)" in alt
    assert "13 coefficients (up) by 20 frames of 10 ms (right)" in alt and "Δ: normalised" in alt
    assert "as the modality draws them" not in alt


def test_an_unknown_audio_dataset_is_refused_with_the_closest_names_and_its_key():
    """Walk 54F: audio's canonical_name twinned image's without its closest-name hint (``dataset=fsd`` gave only the
    list) or its key (``dataset``), and a name that is not a string was an AttributeError ('int' object has no attribute
    'strip'); both call modalities.sources.dataset_name."""
    from mmdistill.modalities.audio.datasets import canonical_name

    with pytest.raises(ConfigError, match=r"^unknown audio dataset 'fsd' \(did you mean fsdd\?\); choose from tones, fsdd, folder") as err:
        load_audio_dataset("fsd")
    assert err.value.key == "dataset"
    with pytest.raises(ConfigError, match=r"^dataset must be a dataset name \(a string\), got int 3; names: tones, fsdd") as err:
        canonical_name(3)
    assert err.value.key == "dataset"
    assert canonical_name(" Free-Spoken-Digit ") == "fsdd"


def test_a_failed_fsdd_download_leaves_no_folders_and_a_root_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    """Walk 54F: the image loader removes the folders download=True made when the download fails; the audio loader's
    twin of its data root left them (an offline FSDD download kept new/data/), made the root without catching its
    OSError (a file in the way was a FileExistsError traceback) and took any value as a path (data_root=3: TypeError).
    Both loaders use modalities.sources' root_path, made_root, first_missing and remove_empty_folders."""
    import torch.hub

    def offline(url, dst, progress=True):
        raise OSError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(DataError, match=r"could not download FSDD .* This machine may be offline"):
        load_audio_dataset("fsdd", tmp_path / "new" / "data", download=True)
    assert not (tmp_path / "new").exists()
    (tmp_path / "afile").write_text("not a folder\n")
    with pytest.raises(DataError, match=r"^cannot create data root .*afile.*x for dataset 'fsdd'"):
        load_audio_dataset("fsdd", tmp_path / "afile" / "x", download=True)
    with pytest.raises(ConfigError, match=r"^data_root must be a path \(str or Path\), got int 3") as err:
        load_audio_dataset("fsdd", 3)
    assert err.value.key == "data_root"


@pytest.mark.parametrize("folders", [("Train", "Test"), ("test",), ("valid",)])
def test_audio_split_folders_without_train_are_not_read_as_classes(tmp_path, folders):
    """Walk 54F: a folder root of Train/<class>/ and Test/<class>/ (capitals) was read as two classes, 'Test' and
    'Train', each holding every clip of its split (the image loader refuses it); both loaders call
    modalities.sources.refuse_split_lookalikes. A class named like a split that holds its clips is still a class."""
    for f in folders:
        for c in ("yes", "no"):
            for i in range(2):
                (tmp_path / "data" / f / c).mkdir(parents=True, exist_ok=True)
                sf.write(tmp_path / "data" / f / c / f"{i}.wav", _tone(300 + 50 * i, 8000, 0.2), 8000)
    with pytest.raises(DataError, match=rf"{folders[-1]} looks like a split folder \(it holds sub-folders, no audio files\).*no train/"):
        load_audio_dataset("folder", tmp_path / "data")
    for i in range(2):
        (tmp_path / "cls" / "test").mkdir(parents=True, exist_ok=True)
        (tmp_path / "cls" / "bus").mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / "cls" / "test" / f"{i}.wav", _tone(300, 8000, 0.2), 8000)
        sf.write(tmp_path / "cls" / "bus" / f"{i}.wav", _tone(500, 8000, 0.2), 8000)
    assert load_audio_dataset("folder", tmp_path / "cls").classes == ["bus", "test"]


def test_an_fsdd_download_that_is_not_a_zip_is_named_and_removed(tmp_path, monkeypatch):
    """Walk 54F: a download that was not a zip archive (a proxy's HTML page) raised zipfile.BadZipFile as a traceback
    and left the archive and an empty recordings/ folder in the data root. It is a DataError naming the download; the
    archive is removed, and so are the folders download=True made."""
    import torch.hub

    def portal(url, dst, progress=True):
        Path(dst).write_bytes(b"<html>please log in</html>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", portal)
    with pytest.raises(DataError, match=r"^the FSDD download from .* is not a readable zip archive \(BadZipFile"):
        load_audio_dataset("fsdd", tmp_path / "dl" / "fsdd", download=True)
    assert not (tmp_path / "dl").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError, match=r"not a readable zip archive"):
        load_audio_dataset("fsdd", tmp_path / "kept", download=True)
    assert list((tmp_path / "kept").iterdir()) == []  # the user's own folder stays, with nothing of the download in it


@pytest.mark.parametrize("value", ["x", None, 1.5, True])
def test_an_audio_test_fraction_out_of_range_is_refused_by_its_key(value):
    """Walk 54F: the audio loader's test_fraction check twinned the image loader's without its type check or key:
    'x' was a ValueError traceback (could not convert string to float), None a TypeError, 1.5 a ConfigError with no key;
    both call modalities.sources.check_test_fraction."""
    with pytest.raises(ConfigError, match=r"^test_fraction must be a number in \(0, 1\), got ") as err:
        load_audio_dataset("tones", test_fraction=value)
    assert err.value.key == "test_fraction"
