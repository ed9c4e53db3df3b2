"""Audio-visual adapter (AVDD): loaders and their bad input, the matching loss, the matcher, the fused evaluation,
preview/export, the recipes' defaults and CPU budget, a short run of each recipe."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdistill.errors import ConfigError, DataError
from mmdistill.seeding import generator

TINY = dict(image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25, width=8, depth=2, batch_real=4, eval_runs=1,
            eval_epochs=2, herding_epochs=1, progress=False)


def _waves(y: torch.Tensor, rate: int = 8000, seconds: float = 0.25) -> torch.Tensor:
    """A sine per class (200 Hz x (class + 1)) with a little seeded noise: (N, T)."""
    t = torch.arange(int(rate * seconds)) / rate
    g = torch.Generator().manual_seed(0)
    return torch.stack([0.5 * torch.sin(2 * math.pi * 200.0 * (int(c) + 1) * t) for c in y]) + 0.01 * torch.randn(len(y), len(t), generator=g)


def _images(y: torch.Tensor) -> torch.Tensor:
    """A bright row per class on an 8x8 frame with seeded noise: (N, 1, 8, 8) in [0, 1]."""
    x = 0.2 * torch.rand(len(y), 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for i, c in enumerate(y.tolist()):
        x[i, 0, 2 * c + 1] = 1.0
    return x


@pytest.fixture
def tensors_set():
    from mmdistill.modalities.audio_visual import register_tensors

    y_tr, y_te = torch.arange(3).repeat_interleave(4), torch.arange(3).repeat_interleave(2)
    return register_tensors("tiny-av", _waves(y_tr), _images(y_tr), y_tr, _waves(y_te), _images(y_te), y_te, ["a", "b", "c"])


def _cfg(recipe: str = "audio_visual_avdd", **kw):
    import importlib

    return importlib.import_module(f"mmdistill.recipes.{recipe}").RECIPE.config(**{**TINY, **kw})


def test_tensors_load_to_normalised_pairs(tensors_set):
    from mmdistill.modalities.audio_visual import MODALITY

    data = MODALITY.load(_cfg(dataset=tensors_set, scaling="split"))
    assert data.audio_shape == (1, 8, 8) and data.image_shape == (1, 8, 8) and data.num_classes == 3
    assert "load_report" not in data.meta  # in-memory: no files, no load line on the card
    assert len(data.train) == 12 and len(data.test) == 6
    assert abs(float(data.train.audio.mean())) < 1e-4 and abs(float(data.train.audio.std()) - 1.0) < 1e-3
    assert abs(float(data.train.image.mean())) < 1e-4
    # AVDD's scaling (the default): the dB values as they are, grey frames by the mean of its fixed channel constants
    avdd = MODALITY.load(_cfg(dataset=tensors_set))
    assert avdd.meta["audio_mean"] == 0.0 and avdd.meta["audio_std"] == 1.0
    assert torch.allclose(avdd.train.audio, data.train.audio * data.meta["audio_std"] + data.meta["audio_mean"], atol=1e-3)
    assert torch.allclose(avdd.train.image * 0.2247 + 0.397, _images(avdd.train.y), atol=1e-3)
    # the classes' tones sit in different mel bands: the class means of the spectrograms differ
    means = torch.stack([data.train.audio[data.train.y == c].mean(0) for c in range(3)])
    assert torch.cdist(means.flatten(1), means.flatten(1)).triu(1).max() > 1.0


def test_matching_loss_terms():
    from mmdistill.modalities.audio_visual.matching import av_matching_loss

    g = torch.Generator().manual_seed(0)
    ra, rv = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    # the synthetic pairs equal the real ones: every term is 0
    total, parts = av_matching_loss(ra, rv, y, ra, rv, y, 2, 10.0, 10.0)
    assert float(total) == pytest.approx(0.0, abs=1e-10) and all(v == pytest.approx(0.0, abs=1e-10) for v in parts.values())
    # shift both synthetic modalities by the same vector: the gap is kept (cgm 0), the sums are not (icm > 0)
    d = torch.ones(5)
    total, parts = av_matching_loss(ra, rv, y, ra + d, rv + d, y, 2, 10.0, 10.0)
    assert parts["cgm"] == pytest.approx(0.0, abs=1e-8)
    assert parts["dm_audio"] == pytest.approx(5.0, rel=1e-5) and parts["icm"] == pytest.approx(20.0, rel=1e-5)
    assert float(total) == pytest.approx(2 * (5 + 5 + 10 * 20), rel=1e-5)  # summed over the 2 classes
    # AV-DM (weights 0) is the two DM terms alone
    dm, _ = av_matching_loss(ra, rv, y, ra + d, rv - d, y, 2)
    assert float(dm) == pytest.approx(2 * 10.0, rel=1e-5)


def test_matcher_step_moves_both_sides_and_avdd_differs_from_dm(tensors_set):
    from mmdistill.context import MatchContext
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.optim import synthetic_optimizer
    from mmdistill.recipes._audio_visual import make_av_matcher

    stepped = {}
    for recipe in ("audio_visual_dm", "audio_visual_avdd"):
        cfg = _cfg(recipe, dataset=tensors_set, ipc=1, init="real")
        data = MODALITY.load(cfg)
        syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
        before = {k: v.clone() for k, v in syn.data.items()}
        for t in syn.data.values():
            t.requires_grad_(True)
        ctx = MatchContext(cfg, data, MODALITY, MODALITY.matching_network(cfg, data), MODALITY.augmenter("auto", data.name), None,
                           torch.device("cpu"))
        stats = make_av_matcher(ctx).step(syn, synthetic_optimizer(syn, cfg), generator(0, "iteration", 0))
        assert math.isfinite(stats["loss"]) and stats["dm_audio"] > 0 and stats["dm_image"] > 0
        assert all(not torch.equal(before[k], syn.data[k].detach()) for k in ("audio", "image"))
        stepped[recipe] = syn.data["audio"].detach().clone()
    assert not torch.allclose(stepped["audio_visual_dm"], stepped["audio_visual_avdd"])


def test_short_runs_report_fused_audio_and_visual_accuracy(tensors_set, tmp_path):
    from mmdistill.recipes import audio_visual_avdd, audio_visual_dm

    for recipe in (audio_visual_dm, audio_visual_avdd):
        res = recipe.run(dataset=tensors_set, ipc=1, iterations=2, checkpoint_every=1, out=str(tmp_path / recipe.RECIPE.name), **TINY)
        m = res.manifest["metrics"]
        assert m["metric"] == "fused accuracy"
        for name in ("distilled", "random_real", "herding"):
            assert set(m[name]["scores"]) == {"accuracy", "audio_accuracy", "visual_accuracy"}
            assert all(0.0 <= m[name]["scores"][k]["mean"] <= 1.0 for k in m[name]["scores"])
        assert (res.out_dir / "preview.png").stat().st_size > 1000
        assert res.synthetic.data["audio"].shape == (3, 1, 8, 8) and res.synthetic.data["image"].shape == (3, 1, 8, 8)
    # the same run twice: the same set (seeded)
    again = audio_visual_avdd.run(dataset=tensors_set, ipc=1, iterations=2, checkpoint_every=1, out=str(tmp_path / "again"), **TINY)
    assert torch.equal(again.synthetic.data["audio"], res.synthetic.data["audio"])


def test_herding_init_and_export(tensors_set, tmp_path):
    import soundfile as sf
    from safetensors.torch import load_file

    from mmdistill.modalities.audio_visual import MODALITY

    cfg = _cfg(dataset=tensors_set, ipc=2, multi_formation=1)
    data = MODALITY.load(cfg)
    a = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    b = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(5, "other"))
    assert torch.equal(a.data["audio"], b.data["audio"])  # herding does not depend on the init generator
    assert a.labels.tolist() == [0, 0, 1, 1, 2, 2] and a.meta["init"] == "herding"
    out = MODALITY.export(a, tmp_path / "export")
    wavs = sorted(out.rglob("*.wav"))
    assert len(wavs) == 6 and len(list(out.rglob("*.png"))) == 6
    wave, rate = sf.read(wavs[0])
    assert rate == 8000 and len(wave) == 2000 and np.abs(wave).max() > 0.1
    stored = load_file(out / "pairs.safetensors")
    assert stored["image"].min() >= 0 and stored["image"].max() <= 1 and stored["audio"].shape == (6, 1, 8, 8)
    index = json.loads((out / "classes.json").read_text(encoding="utf-8"))["classes"]
    assert [r["samples"] for r in index] == [2, 2, 2] and all((out / r["folder"]).is_dir() for r in index)


def test_paper_defaults_and_cpu_budget():
    from mmdistill.recipes import audio_visual_avdd, audio_visual_dm

    paper = audio_visual_avdd.RECIPE.config()
    assert (paper.image_size, paper.n_mels, paper.audio_frames, paper.iterations, paper.lr_data, paper.batch_real) == (224, 128, 56, 5000, 0.2, 128)
    assert (paper.lam_icm, paper.lam_cgm, paper.init, paper.eval_epochs, paper.eval_batch) == (10.0, 10.0, "herding", 30, 32)
    cpu = audio_visual_avdd.RECIPE.config(budget="cpu")
    assert cpu.image_size < paper.image_size and cpu.iterations < paper.iterations and cpu.eval_runs >= 3
    assert cpu.lam_icm == 10.0 and cpu.eval_epochs == paper.eval_epochs
    assert not hasattr(audio_visual_dm.RECIPE.config(), "lam_icm")


# --------------------------------------------------------------------------- bad input
def _write_csv_set(root: Path, rows_extra: list[tuple[str, str, str, str]] | None = None, rate_of=lambda i: 8000, per_class=3) -> Path:
    import soundfile as sf
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in range(2):
        for i in range(per_class + 1):
            rate = rate_of(i)
            t = np.arange(int(rate * 0.25)) / rate
            sf.write(root / f"a{c}{i}.wav", (0.4 * np.sin(2 * np.pi * 300 * (c + 1) * t)).astype(np.float32), rate)
            Image.fromarray(np.full((8, 8), 60 + 100 * c, dtype=np.uint8), mode="L").save(root / f"i{c}{i}.png")
            rows.append((f"i{c}{i}.png", f"a{c}{i}.wav", str(c), "test" if i == per_class else "train"))
    with open(root / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_path", "audio_path", "label", "split"])
        w.writerows(rows + (rows_extra or []))
    return root / "pairs.csv"


def test_csv_resamples_other_rates_and_counts_them(tmp_path, caplog):
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", rate_of=lambda i: 16000 if i == 0 else 8000)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert data.meta["resampled_files"] == {"16000": 2}
    assert "resampled 2 audio file(s) from 16000 Hz to 8000 Hz" in caplog.text and "a00.wav" in caplog.text
    assert len(data.train) == 6 and len(data.test) == 2 and data.image_shape == (1, 8, 8)


def test_a_class_without_a_test_pair_is_named_and_reported(tmp_path, caplog):
    """A class whose only pair is a training pair was trained on and never scored, without a word (the audio loader
    names such classes); now a warning names it and the load report holds ``classes_without_test``."""
    import soundfile as sf
    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY

    root = _write_csv_set(tmp_path / "set").parent
    t = np.arange(2000) / 8000
    sf.write(root / "solo.wav", (0.4 * np.sin(2 * np.pi * 900 * t)).astype(np.float32), 8000)
    Image.fromarray(np.full((8, 8), 250, dtype=np.uint8), mode="L").save(root / "solo.png")
    with open(root / "pairs.csv", "a") as fh:
        fh.write("solo.png,solo.wav,solo,train\n")
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(root / "pairs.csv")))
    assert "class(es) 'solo' have training pairs but no test pair" in caplog.text
    assert data.meta["load_report"]["facts"]["classes_without_test"] == ["solo"]


def test_csv_label_disagreement_is_named(tmp_path):
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", rows_extra=[("i00.png", "a11.wav", "1", "train")])
    with pytest.raises(DataError, match=r"1 pair\(s\) whose labels disagree: row 10 \(i00.png labelled '1', row 2 '0'\)"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    # per-modality label columns that disagree on one row
    rows = list(csv.reader(path.read_text().splitlines()))[:9]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0] + ["image_label", "audio_label"])
        w.writerows([r + [r[2], r[2]] for r in rows[1:-1]] + [rows[-1] + ["1", "0"]])
    with pytest.raises(DataError, match=r"1 pair\(s\) whose labels disagree: row 9"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))


def test_class_with_fewer_pairs_than_the_budget_is_named(tmp_path):
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", per_class=3)
    cfg = _cfg(dataset="csv", data_root=str(path), ipc=5, multi_formation=1)
    data = MODALITY.load(cfg)
    with pytest.raises(DataError, match=r"2 class\(es\) hold fewer training pairs than ipc = 5: '0' \(3\), '1' \(3\)"):
        MODALITY.init_synthetic(data, cfg, generator(0))
    cfg = _cfg(dataset="csv", data_root=str(path), ipc=1)  # multi-formation 2: 4 real pairs per stored pair
    with pytest.raises(DataError, match=r"fewer training pairs than ipc x multi_formation² = 4: '0' \(3\)"):
        MODALITY.init_synthetic(data, cfg, generator(0))


def test_csv_missing_column_and_file(tmp_path):
    from mmdistill.modalities.audio_visual import MODALITY

    bad = tmp_path / "bad.csv"
    bad.write_text("image,audio_path,label\nx.png,y.wav,0\n")
    with pytest.raises(DataError, match=r"bad.csv: missing column\(s\) \['image_path'\]"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(bad)))
    path = _write_csv_set(tmp_path / "set")
    (tmp_path / "set" / "a01.wav").unlink()
    for strict in (False, True):  # a missing file is a listing error either way (an unreadable one is skipped unless strict)
        with pytest.raises(DataError, match=r"1 file\(s\) do not exist: row 3: .*a01.wav .*relative to the CSV's folder.*"
                                            r"with or without strict"):
            MODALITY.load(_cfg(dataset="csv", data_root=str(path), strict=strict))


def test_video_clip_without_audio_track_is_skipped_and_named(kinetics_tiny_folder, monkeypatch, caplog):
    decord = pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = kinetics_tiny_folder
    silent = sorted((root / "typing").iterdir())[0]
    real_reader = decord.AudioReader

    def reader(path, *a, **kw):  # decord raises for a container without an audio stream
        if Path(path) == silent:
            raise decord.DECORDError("Can't find audio stream")
        return real_reader(path, *a, **kw)

    monkeypatch.setattr(decord, "AudioReader", reader)
    cfg = _cfg(dataset="video", data_root=str(root), test_fraction=0.34, sample_rate=16000)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    assert len(data.train) + len(data.test) == 5 and data.image_shape == (3, 8, 8)
    assert f"skipped 1 unreadable clip: {silent} (no audio track)" in caplog.text and "(of 6 clips)" in caplog.text
    with pytest.raises(DataError, match=f"{silent.name} \\(no audio track\\).*strict mode"):
        MODALITY.load(_cfg(dataset="video", data_root=str(root), test_fraction=0.34, strict=True))


def test_resume_gives_the_same_pairs(tensors_set, tmp_path):
    from mmdistill.recipes import audio_visual_avdd

    kw = dict(TINY, dataset=tensors_set, ipc=1, checkpoint_every=1, evaluate=False)
    straight = audio_visual_avdd.run(iterations=4, out=str(tmp_path / "straight"), **kw)
    audio_visual_avdd.run(iterations=2, out=str(tmp_path / "resumed"), **kw)
    resumed = audio_visual_avdd.run(iterations=4, out=str(tmp_path / "resumed"), resume=True, **kw)
    for k in ("audio", "image"):
        assert torch.equal(straight.synthetic.data[k], resumed.synthetic.data[k])


def test_cross_architecture_evaluation_trains_pairs_of_core_networks(tensors_set, tmp_path, capsys):
    """Before: `mmdistill eval --cross-arch` on an audio-visual set said the recipe had no cross_arch."""
    from mmdistill.cli import main as cli_main
    from mmdistill.io import read_json
    from mmdistill.recipes import audio_visual_avdd

    run = audio_visual_avdd.run(**dict(TINY, dataset=tensors_set, ipc=1, evaluate=False, cross_arch=True), iterations=1,
                                out=str(tmp_path / "run"))
    # --networks names the networks even for a set saved with cross_arch (before: the whole list ran, the names unused)
    assert cli_main(["eval", str(run.out_dir), "--networks", "lenet", "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    err = capsys.readouterr().err
    assert "[lenet] test accuracy" in err and "[av-convnet]" not in err and "[mlp]" not in err
    assert cli_main(["eval", str(run.out_dir), "--networks", "lenet", "--cross-arch"]) == 2
    assert "--networks and --cross-arch both choose the evaluation networks" in capsys.readouterr().err
    assert cli_main(["eval", str(run.out_dir), "--cross-arch", "--runs", "1", "--epochs", "1", "--no-baselines", "--write"]) == 0
    metrics = read_json(run.out_dir / "manifest.json")["metrics"]
    assert list(metrics["cross_arch"]) == ["av-convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18"]
    assert metrics["network"] == "av-convnet" and metrics["distilled"] == metrics["cross_arch"]["av-convnet"]["distilled"]
    for rows in metrics["cross_arch"].values():
        assert set(rows["distilled"]["scores"]) == {"accuracy", "audio_accuracy", "visual_accuracy"}
    out = capsys.readouterr().out  # the summary, then a line per network
    assert "audio-visual-avdd on tiny-av" in out and "\n  resnet18: distilled " in out and "\n  av-convnet: distilled " in out


def test_a_core_network_as_both_encoders_and_unknown_names_refused():
    from mmdistill.modalities.audio_visual.nets import AVEncoderSpec, AVNet, build_av_network

    net = build_av_network("lenet", (1, 16, 12), (3, 16, 16), 4)
    assert not isinstance(net, AVNet)
    out_a, out_v = net(torch.zeros(2, 1, 16, 12), torch.zeros(2, 3, 16, 16))
    assert out_a.shape == out_v.shape == (2, 4)
    assert net.embed_audio(torch.zeros(2, 1, 16, 12)).shape == (2, 84)  # LeNet's features, its own classifier dropped
    assert isinstance(build_av_network("av-convnet", (1, 16, 12), (3, 16, 16), 4, AVEncoderSpec(depth=2, width=8)), AVNet)
    with pytest.raises(ConfigError, match="expected one of av-convnet, mlp"):
        build_av_network("convnet", (1, 16, 12), (3, 16, 16), 4)
    assert build_av_network("ResNet-18", (1, 16, 12), (3, 16, 16), 4).audio.dim == 512  # spelled as the core registry allows
    with pytest.raises(ConfigError, match="network eval_networks 'vit': expected one of av-convnet"):
        _cfg(eval_networks=["vit"]).check()
    with pytest.raises(ConfigError, match="both choose the evaluation networks"):
        _cfg(eval_networks=["lenet"], cross_arch=True).check()


# --------------------------------------------------------------------------- multi-formation (--idm_aug)
def test_multi_formation_decodes_tiles_in_the_reference_order():
    import torch.nn.functional as F

    from mmdistill.errors import ConfigError
    from mmdistill.modalities.audio_visual.formation import check_divisible, repeat_labels, tile, untile

    x = torch.arange(2 * 16, dtype=torch.float).view(2, 1, 4, 4)
    out = untile(x, 2)
    assert out.shape == (8, 1, 4, 4)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear")  # noqa: E731 - the reference's upsample
    # top-left, bottom-left, top-right, bottom-right tiles of every stored sample (number_sign_augment's order)
    for k, (rows, cols) in enumerate([(slice(0, 2), slice(0, 2)), (slice(2, 4), slice(0, 2)), (slice(0, 2), slice(2, 4)),
                                      (slice(2, 4), slice(2, 4))]):
        torch.testing.assert_close(out[2 * k:2 * k + 2], up(x[..., rows, cols]))
    assert repeat_labels(torch.tensor([3, 7]), 2).tolist() == [3, 7] * 4
    # tile is untile's inverse on constant samples, and untile carries gradients to every stored value
    consts = torch.arange(8, dtype=torch.float).view(8, 1, 1, 1).expand(8, 1, 4, 4).contiguous()
    assert torch.equal(untile(tile(consts, 2), 2), consts)
    stored = torch.zeros(2, 1, 4, 4, requires_grad=True)
    untile(stored, 2).sum().backward()
    assert bool((stored.grad > 0).all())
    with pytest.raises(ConfigError, match="must divide by 2"):
        check_divisible((1, 6, 5), 2, "frame")


def test_multi_formation_set_trains_on_four_pairs_per_stored_pair(tensors_set, tmp_path):
    from mmdistill import share
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.recipes import audio_visual_avdd

    cfg = _cfg(dataset=tensors_set, ipc=1)
    assert cfg.multi_formation == 2  # the reference script's --idm_aug
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert syn.data["audio"].shape == (3, 1, 8, 8) and syn.meta["multi_formation"] == 2
    audio, image = MODALITY.decode(syn)
    assert audio.shape == (12, 1, 8, 8) and image.shape == (12, 1, 8, 8)
    assert MODALITY.labels_of(syn).tolist() == [0, 1, 2] * 4
    # every class's 4 tiles come from its 4 training pairs (herding order), each downscaled into one tile
    from mmdistill.modalities.audio_visual.evaluate import herding_indices

    import dataclasses

    picks = herding_indices(dataclasses.replace(cfg, ipc=4), data, torch.device("cpu"), MODALITY._eval_augment(cfg, data))
    first_of_b = data.train.image[picks[4]]  # class 1's first herding pick: top-left tile of stored pair 1
    torch.testing.assert_close(syn.data["image"][1, :, :4, :4], torch.nn.functional.interpolate(first_of_b[None], size=(4, 4), mode="bilinear")[0])
    res = audio_visual_avdd.run(dataset=tensors_set, ipc=1, iterations=2, checkpoint_every=1, out=str(tmp_path / "run"), **TINY)
    assert res.manifest["metrics"]["distilled"]["size"] == 3
    loaded = share.load(res.out_dir)
    assert len(loaded.labels) == len(loaded.inputs["audio"]) == 12
    out = MODALITY.export(res.synthetic, tmp_path / "export")
    assert len(sorted(out.rglob("*.wav"))) == 12


# --------------------------------------------------------------------------- bad input: generated clips and lists
def _write_avi(path: Path, frames: int = 10, fps: int = 10, audio: np.ndarray | None = None, rate: int = 8000) -> None:
    """A minimal AVI: ``frames`` 16x16 MJPEG frames and, when given, a mono 16-bit PCM track at ``rate`` Hz (interleaved)."""
    from avi_files import write_avi

    write_avi(path, [np.full((16, 16, 3), 40 + 10 * k, dtype=np.uint8) for k in range(frames)], fps=fps, audio=audio, rate=rate)


def _sine(seconds: float, rate: int, freq: float = 400.0) -> np.ndarray:
    return 0.4 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def test_video_clips_rates_lengths_silent_clips_and_a_class_left_empty(tmp_path, caplog):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import _native_rate

    root = tmp_path / "clips"
    for c, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(4):
            _write_avi(root / name / f"{i}.avi", audio=_sine(1.0, 8000, 300 * (c + 1)))
    _write_avi(root / "a" / "rate16k_1.9s.avi", frames=19, audio=_sine(1.9, 16000), rate=16000)  # decord's duration(): 1 s
    _write_avi(root / "b" / "short_sound.avi", audio=_sine(0.1, 8000))  # decord's duration(): 0 s
    (root / "silent").mkdir()
    for i in range(2):
        _write_avi(root / "silent" / f"{i}.avi")  # no audio track
    cfg = _cfg(dataset="video", data_root=str(root), test_fraction=0.3, multi_formation=1, ipc=1)
    with caplog.at_level(logging.INFO):
        data = MODALITY.load(cfg)
    rep = data.meta["load_report"]
    # the stream's own rate (before: samples / whole seconds, 16 kHz read as 32 kHz and a 0.1 s track as 96 kHz)
    assert rep["facts"]["resampled_from_hz"] == {"16000": 1} and "from 96000 Hz" not in caplog.text
    assert rep["counts"] == {"unreadable": 2, "resampled": 1, "padded": 1, "cropped": 9, "silent": 0, "length_mismatch": 1,  # 0.25 s kept
                             "ignored": 0, "unused": 0}
    assert sorted(rep["files"]["unreadable"]) == ["silent/0.avi", "silent/1.avi"] and rep["files"]["length_mismatch"] == ["b/short_sound.avi"]
    assert rep["root"] == root.name and str(tmp_path) not in str(rep)
    assert data.classes == ["a", "b", "silent"]  # before: the class vanished with its files
    with pytest.raises(DataError, match=r"1 class\(es\) hold fewer training pairs than ipc = 1: .silent. \(0\)"):
        MODALITY.init_synthetic(data, cfg, generator(0))
    assert _native_rate(30400, 30400 / 16000) == 16000 and _native_rate(1000, 1.0) == 1000


def test_csv_unreadable_files_are_skipped_or_refused_and_bad_rows_named(tmp_path, caplog):
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", rows_extra=[("i00.png", "broken.wav", "0", "train")])
    (tmp_path / "set" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    with caplog.at_level(logging.WARNING):  # before: a DataError whatever strict said
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert "skipped 1 unreadable pair" in caplog.text and "row 10" in caplog.text
    assert data.meta["load_report"]["counts"]["unreadable"] == 1 and len(data.train) == 6
    assert data.meta["load_report"]["files"]["unreadable"] == ["i00.png, broken.wav"]  # the pair, relative to the CSV
    with pytest.raises(DataError, match=r"row 10: cannot decode audio file .*broken.wav.*strict mode"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path), strict=True))
    header = "image_path,audio_path,label,split\n"
    for name, text, msg in (
        ("dup.csv", header + "i00.png,a00.wav,0,train\ni00.png,a00.wav,0,test\n", r"listed more than once .*rows 2 and 3"),
        ("nolabel.csv", header + "i00.png,a00.wav,,train\n", r"empty image_path/audio_path/label field: row 2 \(label\)"),
        ("short.csv", header + "i00.png\n", r"row 2 \(audio_path, label\)"),
        ("header.csv", header, "holds no rows after its header"),
    ):
        (tmp_path / "set" / name).write_text(text)
        with pytest.raises(DataError, match=msg):
            MODALITY.load(_cfg(dataset="csv", data_root=str(tmp_path / "set" / name)))
    (tmp_path / "set" / "latin1.csv").write_bytes(header.encode() + "i00.png,a00.wav,\xe9t\xe9,train\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: line 2 is not UTF-8"):  # before: a UnicodeDecodeError traceback
        MODALITY.load(_cfg(dataset="csv", data_root=str(tmp_path / "set" / "latin1.csv")))


def test_all_zero_audio_clips_are_named_and_counted(tmp_path, caplog):
    """A pair whose audio is digital silence is kept (it is data) but named in a warning and the load report
    (before: trained on without a word)."""
    import soundfile as sf

    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", rows_extra=[("i00.png", "quiet.wav", "0", "train")])
    sf.write(tmp_path / "set" / "quiet.wav", np.zeros(2000, dtype=np.float32), 8000)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    rep = data.meta["load_report"]
    assert rep["counts"]["silent"] == 1 and rep["files"]["silent"] == ["quiet.wav"] and len(data.train) == 7
    assert "kept 1 silent pair (audio all zero: digital silence" in caplog.text
    # two of them read as plural (before: "kept 2 pair with an all-zero audio clips")
    path = _write_csv_set(tmp_path / "set2", rows_extra=[("i00.png", "quiet.wav", "0", "train"), ("i01.png", "quiet2.wav", "0", "train")])
    for name in ("quiet.wav", "quiet2.wav"):
        sf.write(tmp_path / "set2" / name, np.zeros(2000, dtype=np.float32), 8000)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert "kept 2 silent pairs (audio all zero: " in caplog.text and "audio clips" not in caplog.text


def test_register_tensors_refuses_any_spelling_of_a_built_in_name():
    """(Mend 54M.) ``register_tensors("CSV", ...)`` was accepted, and ``dataset=CSV`` then loaded the tensors instead of
    the CSV loader (``csv``); video's refuses any spelling of a built-in since walk 54K, and so does this one."""
    from mmdistill.modalities.audio_visual import register_tensors
    from mmdistill.modalities.audio_visual.loaders import canonical_dataset

    y = torch.arange(3).repeat_interleave(2)
    for name in ("CSV", " Video", "tones-digits", "Tones-Digits "):
        with pytest.raises(ConfigError, match=r"is a built-in dataset name \((csv|video|tones-digits)\); choose another"):
            register_tensors(name, _waves(y), _images(y), y, _waves(y), _images(y), y)
    assert canonical_dataset("CSV") == "csv"


def test_registered_tensors_are_checked(tensors_set, caplog):
    from mmdistill.modalities.audio_visual import MODALITY, register_tensors

    y, yt = torch.arange(3).repeat_interleave(4), torch.arange(3)
    ok = dict(audio_train=_waves(y), image_train=_images(y), y_train=y, audio_test=_waves(yt), image_test=_images(yt), y_test=yt)
    nan = _waves(y)
    nan[5, 3] = float("nan")
    for change, msg in ((dict(audio_train=nan), r"audio_train holds NaN or infinite samples in 1 clip\(s\): rows \[5\]"),
                        (dict(image_train=_images(y) * 255), r"float image_train must lie in \[0, 1\]"),
                        (dict(y_train=y.float()), r"register_tensors\('checked'\): y_train must hold integer class ids, got dtype torch.float32"),
                        (dict(audio_test=_waves(yt)[:0], image_test=_images(yt)[:0], y_test=yt[:0]), "test holds no pairs")):
        with pytest.raises(DataError, match=msg):
            register_tensors("checked", **{**ok, **change})
    register_tensors("checked", **ok)
    with caplog.at_level(logging.INFO):
        data = MODALITY.load(_cfg(dataset="checked", duration=0.5))  # the 0.25 s waves are padded: logged
    assert "padded 15 clip(s) shorter than 0.5 s" in caplog.text
    assert "load_report" not in data.meta  # in-memory tensors: no load report (before: one, so a card line)


def test_registered_tensors_refuse_labels_that_leave_a_class_untrained():
    """Labels 3, 7, 11 were registered as 12 classes (9 without a sample); the failure came later, at distillation.
    Refused at registration with the labels and what is expected (the check video's register_tensors shares)."""
    from mmdistill.modalities.audio_visual import register_tensors
    from mmdistill.modalities.audio_visual.loaders import _TENSOR_SETS

    y, yt = torch.tensor([1, 1, 3, 3, 5]), torch.tensor([1, 3, 5])
    pairs = dict(audio_train=_waves(y), image_train=_images(y * 0), audio_test=_waves(yt), image_test=_images(yt * 0))
    for labels, msg in ((dict(y_train=y * 2 + 1, y_test=yt * 2 + 1), r"register_tensors\('sparse-av'\): y_train holds labels 3, 7, "
                         r"11, which leave class id\(s\) 0, 1, 2, 4, 5, 6, 8, 9, 10 of 0..11 without a training sample"),
                        (dict(y_train=y - 3, y_test=yt), r"y_train holds negative label\(s\) -2"),
                        (dict(y_train=y, y_test=yt, classes=["a", "b", "c"]), r"y_train holds class id\(s\) 3, 5 but classes "
                         r"names 3 class\(es\)")):
        with pytest.raises(DataError, match=msg):
            register_tensors("sparse-av", **pairs, **labels)
    assert "sparse-av" not in _TENSOR_SETS

def test_generated_pairs_store_no_load_report_and_files_keep_it(tmp_path):
    """tones-digits is generated: no load_report, no card line (before: "nothing skipped, padded or left out")."""
    from mmdistill.card import card_summary, loading_counts
    from mmdistill.modalities.audio_visual import MODALITY

    meta = MODALITY.load(_cfg(dataset="tones-digits")).meta
    generated = {"recipe": "audio-visual-avdd", "synthetic": {"meta": meta}}
    assert "load_report" not in meta and loading_counts(generated) is None and "loading:" not in card_summary(generated)
    path = _write_csv_set(tmp_path / "set")
    files = {"recipe": "audio-visual-avdd", "synthetic": {"meta": MODALITY.load(_cfg(dataset="csv", data_root=str(path))).meta}}
    assert loading_counts(files) == "nothing skipped, padded or left out" and "loading: nothing skipped" in card_summary(files)


def test_csv_rows_with_absolute_paths_name_both_files_relative(tmp_path):
    """A skipped pair whose row gives absolute paths is named by its two files, each relative to the CSV's folder (one
    outside it by its file name); before, the second kept its absolute path ("i00.png, /tmp/.../broken.wav")."""
    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "set"
    (root / "take 1, mono").mkdir(parents=True)
    (root / "take 1, mono" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (root / "broken2.wav").write_bytes(b"RIFF not really a wave file")
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(np.full((8, 8), 160, dtype=np.uint8), mode="L").save(tmp_path / "elsewhere" / "pic.png")
    path = _write_csv_set(root, rows_extra=[(str(root / "i00.png"), str(root / "take 1, mono" / "broken.wav"), "0", "train"),
                                            (str(tmp_path / "elsewhere" / "pic.png"), "broken2.wav", "1", "train")])
    rep = MODALITY.load(_cfg(dataset="csv", data_root=str(path))).meta["load_report"]
    assert rep["files"]["unreadable"] == ["i00.png, take 1, mono/broken.wav", "pic.png, broken2.wav"]
    assert str(tmp_path) not in str(rep) and rep["root"] == "set"


def test_av_digits_builder_never_writes_into_a_used_folder(tmp_path):
    import soundfile as sf
    import tarfile

    from mmdistill.modalities.audio_visual import build_av_digits

    rec = tmp_path / "recordings"
    rec.mkdir()
    for d in range(10):
        for spk in ("ann", "yweweler"):
            sf.write(rec / f"{d}_{spk}_0.wav", _sine(0.2, 8000, 200 + 40 * d).astype(np.float32), 8000)
    with tarfile.open(tmp_path / "recordings.tar", "w") as tf:
        for f in sorted(rec.iterdir()):
            tf.add(f, arcname=f"recordings/{f.name}")
    csv_path = build_av_digits(tmp_path / "recordings.tar", tmp_path / "av")
    before = sorted(p.name for p in (tmp_path / "av").rglob("*"))
    assert csv_path == tmp_path / "av" / "pairs.csv" and len(csv_path.read_text().splitlines()) == 21
    # before: a second build (other settings) kept the first build's images under the same names, mixing the pairs
    with pytest.raises(DataError, match="exists and is not an empty folder"):
        build_av_digits(tmp_path / "recordings.tar", tmp_path / "av", image_test_fraction=0.3)
    assert sorted(p.name for p in (tmp_path / "av").rglob("*")) == before and not list(tmp_path.glob(".av.*"))


def test_csv_without_split_holds_out_each_class(tmp_path):
    """A CSV with no split column holds out a seeded test_fraction of every class (as the audio loader does),
    drawn over the readable pairs; before, each row was drawn on its own, so a class could end up with no test
    pair or no training pair."""
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    path = _write_csv_set(tmp_path / "set", per_class=4)  # 5 pairs per class
    rows = path.read_text().splitlines()
    path.write_text("\n".join(",".join(r.split(",")[:3]) for r in rows) + "\n")  # drop the split column
    drawn = set()
    for seed in range(6):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path), seed=seed, test_fraction=0.2))
        assert torch.bincount(data.test.y, minlength=2).tolist() == [1, 1], seed
        assert torch.bincount(data.train.y, minlength=2).tolist() == [4, 4], seed
        test = sorted(p.name for p in read_csv_pairs(path, 0.2, seed, strict=False) if p.split == "test")
        assert test == sorted(p.name for p in read_csv_pairs(path, 0.2, seed, strict=False) if p.split == "test")  # seeded
        drawn.add(tuple(test))
    assert len(drawn) > 1  # the seed moves the draw
    # an unreadable pair is left out before the draw: its class still gets a test pair from the readable ones
    (tmp_path / "set" / "a00.wav").write_bytes(b"RIFF not really a wave file")
    pairs = read_csv_pairs(path, 0.2, 0, strict=False)
    assert "a00.wav" not in {p.name for p in pairs}
    assert sorted(p.label for p in pairs if p.split == "test") == ["0", "1"]


def test_a_set_distilled_under_the_earlier_csv_split_rule_is_warned_about(tmp_path, caplog):
    """The CSV without a split column records its split rule in the data's meta (and so in every set distilled from
    it); evaluating or checking a set made under the earlier per-row draw names the set, since some pairs now held
    out may be pairs it was distilled from."""
    from types import SimpleNamespace

    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import SPLIT_RULE
    from mmdistill.share import warn_split_rule

    path = _write_csv_set(tmp_path / "set", per_class=4)
    with_split = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert "split_rule" not in with_split.meta  # a CSV with a split column: nothing drawn, nothing recorded
    rows = path.read_text().splitlines()
    path.write_text("\n".join(",".join(r.split(",")[:3]) for r in rows) + "\n")
    data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert data.meta["split_rule"] == SPLIT_RULE
    with caplog.at_level(logging.WARNING):
        warn_split_rule(SimpleNamespace(meta=dict(data.meta)), data, tmp_path / "new-run")  # made under this rule
        assert not caplog.text
        warn_split_rule(SimpleNamespace(meta={"classes": ["0", "1"]}), data, tmp_path / "old-run")
    assert "old-run was distilled when pairs's held-out split was drawn by an earlier rule (not recorded)" in caplog.text
    assert "distil again" in caplog.text


def test_pair_preview_names_its_columns_and_draws_every_spectrogram_on_one_scale(tmp_path, monkeypatch):
    from mmdistill.modalities.audio.features import FDMFCCParams
    from mmdistill.modalities.audio_visual import export

    figures = []
    monkeypatch.setattr(export, "save_figure", lambda fig, path: figures.append(fig) or path)
    g = generator(0)
    audio = torch.randn(4, 1, 16, 12, generator=g)
    audio[0] *= 0.1  # a quiet pair keeps its own look only on a shared scale
    image = torch.randn(4, 1, 8, 8, generator=g)
    meta = {"features": FDMFCCParams(n_mels=16).to_dict(), "audio_mean": -40.0, "audio_std": 10.0, "image_mean": [0.5], "image_std": [0.25]}
    export.save_pair_preview(audio, image, torch.tensor([0, 0, 1, 1]), ["a", "b"], meta, tmp_path / "p.png", title="t")
    axes = figures[0].axes
    assert [ax.get_title() for ax in axes[:4]] == ["frame", "log-mel (dB)", "frame", "log-mel (dB)"]
    limits = {ax.images[0].get_clim() for ax in axes[1::2] if ax.images}
    assert len(limits) == 1


def test_a_16_bit_png_frame_is_scaled_not_saturated(tmp_path):
    """convert("L") on a 16-bit PNG saturated it: 40000 read as 255 (white)."""
    from PIL import Image

    from mmdistill.modalities.audio_visual.loaders import _read_image

    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as deep:
        assert deep.mode.startswith("I")
    assert torch.allclose(_read_image(tmp_path / "deep.png"), torch.full((1, 4, 4), round(40000 / 257) / 255.0))


# --------------------------------------------------------------------------- walk34A: frames, shared files, splits, video folders
def _rows_csv(path: Path, rows: list[str], header: str = "image_path,audio_path,label,split") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_a_frame_pillow_refuses_is_skipped_and_named_not_a_traceback(tmp_path, monkeypatch, caplog):
    """An image over Pillow's decompression-bomb limit raised DecompressionBombError through the loader (a
    traceback); it is an unreadable pair now, as a damaged file is (ValueError, SyntaxError from Pillow too)."""
    import shutil

    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import _read_image

    root = tmp_path / "set"
    path = _write_csv_set(root, rows_extra=[("big.png", "big.wav", "0", "train")])
    Image.new("L", (64, 64)).save(root / "big.png")
    shutil.copy(root / "a00.wav", root / "big.wav")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is over twice the limit: an error, not a warning
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert "skipped 1 unreadable pair" in caplog.text and "row 10" in caplog.text and "decompression bomb" in caplog.text
    assert data.meta["load_report"]["files"]["unreadable"] == ["big.png, big.wav"] and len(data.train) == 6
    with pytest.raises(DataError, match=r"row 10: cannot read image file .*big.png.*strict mode"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path), strict=True))
    for exc in (SyntaxError("broken PNG file"), ValueError("tile cannot extend outside image")):
        def fail(*a, exc=exc, **kw):
            raise exc

        monkeypatch.setattr(Image, "open", fail)
        with pytest.raises(DataError, match=f"cannot read image file .*i00.png.*{exc}"):
            _read_image(root / "i00.png")


def test_csv_files_shared_by_pairs_are_named_and_never_in_both_splits(tmp_path, caplog):
    """One sound (or image) in several pairs was taken without a word, in train and test alike (audio-only accuracy
    100 %: the test sounds were trained on). Within one split it is named and counted; across train and test it is
    refused naming the file and rows; a drawn split holds the pairs of a file out together."""
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import SPLIT_RULE_SHARED, read_csv_pairs

    path = _write_csv_set(tmp_path / "set")  # rows 2-4: class 0 train, row 5: class 0 test, rows 6-9: class 1
    rows = path.read_text().splitlines()[1:]
    _rows_csv(path, [rows[0], rows[1].replace("a01.wav", "a00.wav"), *rows[2:]])  # rows 2 and 3 (train) share a00.wav
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    rep = data.meta["load_report"]
    assert rep["counts"]["reused"] == 1 and rep["files"]["reused"] == ["a00.wav"] and rep["facts"]["pairs_sharing_a_file"] == 2
    assert "1 file(s) used by more than one pair (2 pairs share them" in caplog.text and "a00.wav (the audio of 2 pairs: rows 2, 3)" in caplog.text
    _rows_csv(path, [*rows[:3], rows[3].replace("a03.wav", "a00.wav"), *rows[4:]])  # a00.wav in row 2 (train) and 5 (test)
    with pytest.raises(DataError, match=r"pairs.csv: 1 file\(s\) used by both train and test pairs .*audio file a00.wav in rows 2 "
                                        r"\(train\) and 5 \(test\)"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    _rows_csv(path, [",".join(r.split(",")[:3]) for r in [rows[0], rows[1].replace("i01.png", "i00.png"), *rows[2:]]],
              header="image_path,audio_path,label")  # no split: rows 2 and 3 share i00.png
    for seed in range(8):
        pairs = read_csv_pairs(path, 0.5, seed, strict=False)
        assert len({p.split for p in pairs if p.image_file.endswith("i00.png")}) == 1, seed
        assert {p.label for p in pairs if p.split == "test"} == {"0", "1"}, seed
    assert MODALITY.load(_cfg(dataset="csv", data_root=str(path))).meta["split_rule"] == SPLIT_RULE_SHARED
    _rows_csv(path, [",".join(r.split(",")[:3]).replace(f"a{r[1]}{r[2]}.wav", f"a{r[1]}0.wav") for r in rows],
              header="image_path,audio_path,label")  # every pair of a class has the class's one sound: nothing to hold out
    with pytest.raises(DataError, match=r"pairs.csv: no pair can be held out as test: the pairs of each class share files"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))


def test_csv_split_given_on_some_rows_and_empty_on_others_is_refused(tmp_path):
    """Rows with an empty split beside rows that give one became training rows without a word (the audio CSV loader
    refuses them); an empty split on every row still holds out test_fraction of each class."""
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set")
    rows = path.read_text().splitlines()[1:]
    _rows_csv(path, [rows[0], rows[1].rsplit(",", 1)[0] + ",", rows[2].rsplit(",", 1)[0] + ",", *rows[3:]])
    with pytest.raises(DataError, match=r"pairs.csv, row 3: split must be train, test or val, got '' \(2 row\(s\) with an empty "
                                        r"split: rows 3, 4; the other rows give one\)"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    _rows_csv(path, [r.rsplit(",", 1)[0] + "," for r in rows])
    data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert len(data.test) == 2 and len(data.train) == 6


def test_frames_of_mixed_channels_name_a_file_of_each_and_conversions_are_counted(tmp_path):
    """Grey and colour frames were refused with their shapes and the config key only; now a file of each and the flag.
    Frames converted to grey or RGB (alpha dropped, palette, CMYK, 16-bit) are named and counted (before: silently)."""
    import shutil

    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "set"
    images = {"rgb.png": Image.new("RGB", (8, 8), (200, 10, 10)), "rgba.png": Image.new("RGBA", (8, 8), (0, 0, 0, 0)),
              "pal.png": Image.new("RGB", (8, 8), (9, 90, 200)).convert("P"), "cmyk.jpg": Image.new("CMYK", (8, 8), (0, 255, 0, 0)),
              "la.png": Image.new("LA", (8, 8), (120, 255)), "deep.png": Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16))}
    path = _write_csv_set(root, rows_extra=[(name, f"x{k}.wav", "0", "train") for k, name in enumerate(images)])
    for k, (name, im) in enumerate(images.items()):
        im.save(root / name)
        shutil.copy(root / "a00.wav", root / f"x{k}.wav")
    with pytest.raises(DataError, match=r"frames have different channel counts: .*i00.png has 1 channel\(s\), .*rgb.png has 3; "
                                        r"pass image_channels=1 or 3 \(--image-channels\)"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    rep = MODALITY.load(_cfg(dataset="csv", data_root=str(path), image_channels="3")).meta["load_report"]
    assert rep["counts"]["converted"] == 5 and sorted(rep["files"]["converted"]) == ["cmyk.jpg", "deep.png", "la.png", "pal.png", "rgba.png"]
    from mmdistill.modalities.audio_visual.loaders import _read_image

    converted: list = []
    assert _read_image(root / "la.png", converted).shape == (3, 8, 8)  # as before today: sets made from LA frames still fit
    assert converted == [(str(root / "la.png"), "mode LA: alpha channel dropped")]


def test_a_frame_photo_with_an_exif_orientation_is_turned_upright_and_counted(tmp_path):
    """The CSV reader read frames as stored while the image adapter turns photos by their EXIF tag: a phone photo of a
    pair was trained sideways. It is turned (as the image adapter does) and counted (`exif_rotated`)."""
    import shutil

    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import _read_image

    root = tmp_path / "set"
    path = _write_csv_set(root, rows_extra=[("phone.jpg", "x0.wav", "0", "train")])
    shutil.copy(root / "a00.wav", root / "x0.wav")
    stored = np.zeros((8, 16, 3), dtype=np.uint8)
    stored[:, :8] = 255  # left half white as stored; orientation 6 = turn 90 degrees clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "phone.jpg", exif=exif, quality=100)
    rotated: list = []
    frame = _read_image(root / "phone.jpg", rotated=rotated)
    assert frame.shape == (3, 16, 8) and frame[:, :8].mean() > 0.9 and frame[:, 8:].mean() < 0.1  # the white half on top
    assert rotated == [(str(root / "phone.jpg"), "orientation 6: stored 16x8, read as 8x16")]
    rep = MODALITY.load(_cfg(dataset="csv", data_root=str(path), image_channels="3")).meta["load_report"]
    assert rep["counts"]["exif_rotated"] == 1 and rep["files"]["exif_rotated"] == ["phone.jpg"]


def test_evaluation_title_counts_runs_and_pairs_in_words(tensors_set):
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.evaluate import av_plan

    data = MODALITY.load(_cfg(dataset=tensors_set))
    for runs, ipc, words in ((1, 1, "1 run each, 1 pair per class"), (2, 10, "2 runs each, 10 pairs per class")):
        plan = av_plan(_cfg(dataset=tensors_set, eval_runs=runs, ipc=ipc), None, data, torch.device("cpu"), None, None, None)
        assert plan.title.endswith(words), plan.title  # before: "1 runs each, 1 pairs per class"


def test_readme_states_the_audio_visual_dataset_item():
    """The README listed ``dataset()``'s items as ``(x, y[, soft])``, a graph dict and ``(image, text)``: an
    audio-visual set's loop took the image as the label."""
    from mmdistill.modalities.audio_visual import MODALITY

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index("`dataset()` (a `torch.utils.data.Dataset`")
    assert "`(audio, image, y[, soft])` for audio-visual pairs" in text[start:start + 400]
    view = MODALITY.dataset_view({"audio": torch.zeros(2, 1, 4, 3), "image": torch.ones(2, 3, 5, 5)}, torch.tensor([0, 1]), torch.zeros(2, 2))
    assert [tuple(t.shape) for t in view[1]] == [(1, 4, 3), (3, 5, 5), (), (2,)]


def _clip_classes(root: Path, per_class: int = 4) -> None:
    for c, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _write_avi(root / name / f"{i}.avi", audio=_sine(0.5, 8000, 300 * (c + 1)))


def test_video_class_folders_hold_out_readable_clips_and_given_splits_are_kept(tmp_path):
    """Class folders: the test split was drawn over the files before decoding, so an unreadable clip drawn as a class's
    only test clip left it unscored ("needs two readable pairs", though it had four). It is drawn among the readable
    clips now; train/ and test/ folders keep their split."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import SPLIT_RULE
    from mmdistill.modalities.video.datasets import discover

    root = tmp_path / "clips"
    _clip_classes(root)
    (root / "a" / "broken.avi").write_bytes(b"RIFF not really a video")
    seed = next(s for s in range(100) if [it.path.name for it in discover(root, "files", None, 0.2, s)
                                          if it.split == "test" and it.label == "a"] == ["broken.avi"])
    data = MODALITY.load(_cfg(dataset="video", data_root=str(root), test_fraction=0.2, seed=seed))
    assert torch.bincount(data.test.y, minlength=2).tolist() == [1, 1] and len(data.train) == 6
    assert "classes_without_test" not in data.meta["load_report"]["facts"] and data.meta["split_rule"] == SPLIT_RULE
    (root / "a" / "broken.avi").unlink()  # every clip readable: the split is discover's, as before today (no new rule)
    plain = MODALITY.load(_cfg(dataset="video", data_root=str(root), test_fraction=0.2, seed=seed))
    drawn = {str(it.path) for it in discover(root, "files", None, 0.2, seed) if it.split == "test"}
    assert set(plain.test.names) == drawn and "split_rule" not in plain.meta
    given = tmp_path / "given"
    _clip_classes(given / "train", per_class=2)
    (given / "test" / "a").mkdir(parents=True)
    (given / "test" / "a" / "broken.avi").write_bytes(b"RIFF not really a video")
    _write_avi(given / "test" / "b" / "0.avi", audio=_sine(0.5, 8000, 600))
    data = MODALITY.load(_cfg(dataset="video", data_root=str(given), test_fraction=0.5))
    assert [Path(n).relative_to(given).as_posix() for n in data.test.names] == ["test/b/0.avi"] and len(data.train) == 4
    assert data.meta["load_report"]["facts"]["classes_without_test"] == ["a"] and "split_rule" not in data.meta


def test_video_folder_names_files_it_does_not_use_and_keeps_decord_lines_off_the_terminal(tmp_path, capfd, caplog):
    """A text file in a class folder and hidden files were left out of the load report (the text file only logged,
    hidden ones not named at all), and decord's C++ lines about an unreadable clip reached the terminal."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "clips"
    _clip_classes(root, per_class=3)
    (root / "a" / "notes.txt").write_text("hi")
    (root / ".DS_Store").write_bytes(b"\0\1")
    _write_avi(root / "a" / ".hidden.avi", audio=_sine(0.5, 8000))
    (root / "b" / "broken.avi").write_bytes(b"RIFF not really a video")
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="video", data_root=str(root), test_fraction=0.34))
    err = capfd.readouterr().err
    assert "ERROR opening" not in err and ".cc:" not in err, err
    rep = data.meta["load_report"]
    assert sorted(rep["files"]["ignored"]) == [".DS_Store", "a/.hidden.avi", "a/notes.txt"] and rep["counts"]["unused"] == 0
    assert rep["files"]["unreadable"] == ["b/broken.avi"] and len(data.train) + len(data.test) == 6
    assert ".hidden.avi (hidden)" in caplog.text and ".DS_Store (hidden)" in caplog.text and "notes.txt" in caplog.text
    assert "hidden file(s) or folder(s) under the data root" not in caplog.text  # named once, by the video adapter's walk
    (root / "b" / "broken.avi").unlink()
    strict = MODALITY.load(_cfg(dataset="video", data_root=str(root), test_fraction=0.34, strict=True))  # hidden: named, no error
    assert sorted(strict.meta["load_report"]["files"]["ignored"]) == [".DS_Store", "a/.hidden.avi", "a/notes.txt"]


def test_video_split_file_names_hidden_entries_once_and_strict_spares_them(tmp_path):
    """Under a clips.csv layout only this loader's own second walk named hidden entries; the video adapter's walk names
    them now (one walk for both): each once, under ``ignored``, never a strict error."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "clips"
    _clip_classes(root, per_class=2)
    (root / "clips.csv").write_text("path,label,split\na/0.avi,a,train\na/1.avi,a,test\nb/0.avi,b,train\nb/1.avi,b,test\n")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "a" / "._0.avi").write_bytes(b"\0")
    rep = MODALITY.load(_cfg(dataset="video", data_root=str(root), strict=True)).meta["load_report"]
    assert rep["files"]["ignored"] == [".DS_Store", "a/._0.avi"] and rep["counts"]["ignored"] == 2 and rep["counts"]["unused"] == 0


def test_decord_and_ffmpeg_lines_about_a_truncated_mp4_stay_off_the_terminal(kinetics_tiny_folder, capfd, caplog):
    """A truncated mp4 made decord print its C++ line and ffmpeg its ``[mov,mp4,...] moov atom not found`` on the
    terminal; both are captured now and the warning names the file with decord's reason."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    first = sorted(p for p in kinetics_tiny_folder.rglob("*.mp4"))[0]
    cut = first.with_name("truncated.mp4")
    cut.write_bytes(first.read_bytes()[:5000])
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        MODALITY.load(_cfg(dataset="video", data_root=str(kinetics_tiny_folder), test_fraction=0.34, sample_rate=16000))
    err = capfd.readouterr().err
    assert "moov atom" not in err and ".cc:" not in err, err
    assert f"{cut} (no readable video stream: ERROR opening: truncated.mp4, Invalid data found" in caplog.text


def test_avdd_encoders_at_avdd_sizes_and_the_earlier_design_kept_for_old_sets():
    """AVDD's nets/audio_net.py and nets/vision_net.py: audio 3 blocks, the first convolution of the 1-channel map padded by
    3, the last pooling adaptive 7 x 7; frames 5 blocks; both embeddings 128 x 7 x 7 = 6,272 at 1 x 128 x 56 and 3 x 224 x
    224. A config saved before the keys existed keeps the earlier design (frames at ``depth``, the smaller final map)."""
    from torch import nn

    from mmdistill.modalities.audio_visual.config import AudioVisualConfig
    from mmdistill.modalities.audio_visual.nets import AVEncoderSpec, AVNet
    from mmdistill.schema import values_before_keys

    spec = AVEncoderSpec.of(AudioVisualConfig())
    assert spec == AVEncoderSpec(depth=3, width=128, image_depth=5, grid=7, one_channel_padding=3)
    net = AVNet((1, 128, 56), (3, 224, 224), 10, spec)
    assert net.embed_audio(torch.zeros(1, 1, 128, 56)).shape == net.embed_image(torch.zeros(1, 3, 224, 224)).shape == (1, 6272)
    audio = list(net.audio.features)
    convs = [m for m in audio if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and convs[0].padding == (3, 3) and convs[1].padding == (1, 1)
    assert isinstance(audio[-1], nn.AdaptiveAvgPool2d) and not isinstance(audio[-2], nn.AvgPool2d)  # the last pool replaced
    assert sum(isinstance(m, nn.Conv2d) for m in net.image.features) == 5
    assert net.head_audio.in_features == net.head_image.in_features == 6272
    old = {"depth": 2, "width": 8}  # a config saved before image_depth / embed_grid / one_channel_padding
    before = values_before_keys(old, ["image_depth", "embed_grid", "one_channel_padding"])
    assert before == {"image_depth": 2, "embed_grid": 0, "one_channel_padding": 0}
    earlier = AVNet((1, 16, 12), (1, 16, 16), 4, AVEncoderSpec(depth=2, width=8, **{"image_depth": 2, "grid": 0, "one_channel_padding": 0}))
    assert earlier.embed_dim == 8 * 4 * 3  # both pooled to the smaller final map (4 x 3 for the audio, 4 x 4 for frames)
    assert [m.padding for m in earlier.image.features if isinstance(m, nn.Conv2d)][0] == (1, 1)


def test_avdd_evaluation_schedule_and_heads(tensors_set):
    """AVDD's evaluate_synset_av decays after the 0-based epochs in arange(step, epochs, step) and its classifier's
    weights start at N(0, 1e-4); ``every`` / ``default`` are the earlier design, which a set saved before the keys keeps."""
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.evaluate import decays_after, make_net
    from mmdistill.schema import values_before_keys
    from mmdistill.seeding import generator

    avdd, every = _cfg(eval_lr_step=10), _cfg(eval_lr_step=10, eval_lr_schedule="every")
    assert [e for e in range(30) if decays_after(e, avdd, 30)] == [10, 20]  # np.arange(10, 30, 10), after epochs 11 and 21
    assert [e for e in range(30) if decays_after(e, every, 30)] == [9, 19]
    data = MODALITY.load(_cfg(dataset=tensors_set))
    net = make_net(_cfg(dataset=tensors_set), data, torch.device("cpu"), generator(0, "t"))
    for head in (net.head_audio, net.head_image):
        assert 0.5e-4 < float(head.weight.detach().std()) < 1.5e-4
        assert float(head.bias.detach().abs().max()) > 1e-3  # the biases keep PyTorch's default
    default = make_net(_cfg(dataset=tensors_set, eval_head_init="default"), data, torch.device("cpu"), generator(0, "t"))
    assert float(default.head_audio.weight.detach().std()) > 1e-2
    again = make_net(_cfg(dataset=tensors_set), data, torch.device("cpu"), generator(0, "t"))
    assert torch.equal(again.head_image.weight, net.head_image.weight)  # drawn from the run's generator
    before = values_before_keys({"depth": 2}, ["eval_lr_schedule", "eval_head_init"])
    assert before == {"eval_lr_schedule": "every", "eval_head_init": "default"}
    from mmdistill.recipes import audio_visual_avdd

    cpu = audio_visual_avdd.RECIPE.config(budget="cpu", ipc=1)
    assert (cpu.eval_lr_schedule, cpu.eval_head_init) == ("every", "default")


def test_avdd_log_mel_front_end():
    """AVDD's MelSpectrogram(sample_rate) at 11,000 Hz, 1 s, 56 frames: Hann window of 400 samples, FFT 400, hop 200, dB
    without a floor; ``front_end=fdmfcc`` is the audio adapter's (Hamming, FFT 512) and the cpu budget's."""
    cfg = _cfg(sample_rate=11000, duration=1.0, n_mels=128, audio_frames=56)
    p = cfg.feature_params()
    assert (p.hop_length, p.win_length, p.fft_size, p.window, p.top_db) == (200, 400, 400, "hann", None)
    q = _cfg(sample_rate=11000, duration=1.0, n_mels=128, audio_frames=56, front_end="fdmfcc", top_db=80.0).feature_params()
    assert (q.win_length, q.fft_size, q.window, q.top_db) == (400, 512, "hamming", 80.0)


def test_the_window_is_stored_only_when_it_is_not_the_fdmfcc_hamming():
    """Settings recorded before ``window`` existed (audio buffers, checkpoints' preprocessing) still compare equal."""
    from mmdistill.modalities.audio.features import FDMFCCParams

    assert "window" not in FDMFCCParams().to_dict()
    hann = FDMFCCParams(window="hann")
    assert hann.to_dict()["window"] == "hann" and FDMFCCParams.from_dict(hann.to_dict()) == hann
    assert FDMFCCParams.from_dict(FDMFCCParams().to_dict()).window == "hamming"


def test_tones_digits_grows_for_the_set_it_serves():
    """The recipes' default (10 pairs per class, multi-formation 2: 40 real training pairs per class) runs on the default
    generated data; a set that needs at most 12 gets the 16 generated pairs per class it always had."""
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.digits import tones_digits_per_class

    assert tones_digits_per_class(1) == tones_digits_per_class(12) == 16 and tones_digits_per_class(40) == 56
    data = MODALITY.load(_cfg(dataset="tones-digits", ipc=10, multi_formation=2))
    assert int(torch.bincount(data.train.y).min()) >= 40
    data.require_per_class(40, what="ipc x multi_formation²")
    assert len(MODALITY.load(_cfg(dataset="tones-digits", ipc=1, multi_formation=1)).train) == 5 * 12


# --------------------------------------------------------------------------- walk38: CSV quotes, header case, GIF clips
def test_csv_unclosed_quote_is_refused_naming_the_line_it_starts_on(tmp_path):
    """Walk 38: `img/5.png,wav/5.wav,"c2` read the rest of the file into one label (a made-up class, 19 of 24 pairs
    gone, exit 0). A field holding a line break is refused, naming the line where the record starts."""
    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",0,", ',"0,', 1)  # line 4: i02.png,a02.wav,"0,train
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"pairs.csv line 4: the 'label' field holds a line break \('0,train\\n.*unclosed quote "
                                        r"\(\"\) on line 4 likely swallowed the lines after it \(up to line 9\)"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    lines[3] = lines[3].replace('"', "")
    lines[1] = '"i00.png'  # a path with a line break: the first field of line 2 runs into line 3
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"pairs.csv line 2: the 'image_path' field holds a line break"):
        MODALITY.load(_cfg(dataset="csv", data_root=str(path)))


def test_csv_row_numbers_are_physical_lines_after_blank_lines(tmp_path):
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    path = _write_csv_set(tmp_path / "set")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + ["", ""] + lines[3:] + ["i00.png,a00.wav,,train"]) + "\n")  # two blank lines after line 3
    with pytest.raises(DataError, match=r"empty image_path/audio_path/label field: row 12 \(label\)$"):
        read_csv_pairs(path, strict=True)


def test_csv_header_is_matched_without_case_and_the_header_found_is_shown(tmp_path):
    """Walk 38: `Image_Path,audio_path,label` (as Excel saves it) was refused, without showing the header read."""
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    path = _write_csv_set(tmp_path / "set")
    lines = path.read_text().splitlines()
    path.write_bytes(("\ufeff Image_Path ,AUDIO_PATH,Label,Split\n" + "\n".join(lines[1:]) + "\n").encode("utf-8"))
    pairs = read_csv_pairs(path, strict=True)
    assert len(pairs) == 8 and sorted({p.label for p in pairs}) == ["0", "1"]
    assert sorted(p.split for p in pairs) == ["test"] * 2 + ["train"] * 6
    path.write_text("image,audio,label\n" + "\n".join(ln.rsplit(",", 1)[0] for ln in lines[1:]) + "\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['image_path', 'audio_path'\]; .*found \['image', 'audio', 'label'\]\)$"):
        read_csv_pairs(path)


def test_video_gif_clips_are_named_as_having_no_sound_not_as_broken(tmp_path):
    """Walk 38: GIF clips were skipped as "no readable video stream ... broken metadata" and then called "audio files"."""
    pytest.importorskip("decord")
    from PIL import Image

    from mmdistill.modalities.audio_visual import MODALITY

    for c in ("left", "right"):
        (tmp_path / "vids" / c).mkdir(parents=True)
        for i in range(2):
            frames = [Image.new("RGB", (8, 8), (40 * k, 100, 30 * i)) for k in range(3)]
            frames[0].save(tmp_path / "vids" / c / f"{i}.gif", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(DataError) as err:
        MODALITY.load(_cfg(dataset="video", data_root=str(tmp_path / "vids")))
    msg = str(err.value)
    assert msg.startswith("vids: no readable pairs (skipped 4 unreadable clips: ") and "audio file" not in msg
    assert f"{tmp_path / 'vids' / 'left' / '0.gif'} (a GIF has no audio track (audio-visual pairs need clips with sound))" in msg
    assert "no readable video stream" not in msg
    with pytest.raises(DataError, match=r"4 unreadable clips: .*0.gif \(a GIF has no audio track .*strict mode"):
        MODALITY.load(_cfg(dataset="video", data_root=str(tmp_path / "vids"), strict=True))


def test_a_stereo_file_is_counted_as_downmixed(tmp_path, caplog):
    """Walk 38: a stereo sound was averaged to mono without a count (the audio loader counts it as downmixed)."""
    import soundfile as sf

    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set")
    mono, rate = sf.read(path.parent / "a00.wav", dtype="float32")
    sf.write(path.parent / "a00.wav", np.stack([mono, mono], axis=1), rate)
    with caplog.at_level(logging.INFO):
        data = MODALITY.load(_cfg(dataset="csv", data_root=str(path)))
    assert data.meta["load_report"]["counts"]["downmixed"] == 1
    assert "downmixed 1 audio file(s) from 2 channels to mono" in caplog.text


# ------------------------------------------------------------------ registered tensors: odd input, snapshots, constant sides
def _ok_pairs(yt: torch.Tensor | None = None) -> dict:
    y = torch.arange(2).repeat_interleave(3)
    yt = torch.arange(2) if yt is None else yt
    return dict(audio_train=_waves(y), image_train=_images(y), y_train=y, audio_test=_waves(yt), image_test=_images(yt), y_test=yt)


def test_registered_waveforms_names_and_classes_are_checked(caplog):
    """Integer or bool waveforms were taken as amplitudes (int16 PCM unscaled, uint8 with its 128 offset), numpy arrays
    failed with AttributeError, "" was a name and classes="cat" three classes."""
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.audio_visual import register_tensors
    from mmdistill.modalities.audio_visual.loaders import _TENSOR_SETS

    ok = _ok_pairs()
    pcm = (ok["audio_train"] * 32767).to(torch.int16)
    for change, msg in ((dict(audio_train=pcm), r"register_tensors\('bad'\): audio_train must be float waveforms with amplitudes in \[-1, 1\], got "
                         r"dtype torch.int16 \(int16 PCM: pcm.float\(\) / 32768"),
                        (dict(audio_test=ok["audio_test"] > 0), r"register_tensors\('bad'\): audio_test must be float waveforms .* got dtype torch.bool"),
                        (dict(audio_train=(ok["audio_train"] * 127 + 128).to(torch.uint8)), r"got dtype torch.uint8 .*\(pcm.float\(\) - 128\)"),
                        (dict(audio_train=ok["audio_train"].numpy()), r"register_tensors\('bad'\): audio_train must be a torch.Tensor, "
                         r"got ndarray \(torch.from_numpy"),
                        (dict(classes="ab"), r"classes must be a list of class names, got the string 'ab'")):
        with pytest.raises(DataError, match=msg):
            register_tensors("bad", **{**ok, **change})
    for name in ("", "  ", None):
        with pytest.raises(ConfigError, match="register_tensors: name must be a non-empty string"):
            register_tensors(name, **ok)
    assert "bad" not in _TENSOR_SETS and "" not in _TENSOR_SETS
    silent = ok["audio_train"].clone()
    silent[[1, 4]] = 0.0
    with caplog.at_level(logging.WARNING):
        register_tensors("quiet", **{**ok, "audio_train": silent})
    _TENSOR_SETS.pop("quiet")
    assert "register_tensors('quiet'): train: kept 2 all-zero audio clip(s) (digital silence) of 6: rows [1, 4]" in caplog.text
    assert "test:" not in caplog.text
    unscaled = ok["audio_test"].clone()
    unscaled[1] *= 32767.0  # int16 PCM made float without dividing
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        register_tensors("loud", **{**ok, "audio_test": unscaled})
    _TENSOR_SETS.pop("loud")
    assert "register_tensors('loud'): 1 waveform(s) of audio_test of" in caplog.text and "rows [1]" in caplog.text
    assert "int16: pcm.float() / 32768" in caplog.text


def test_registered_pairs_are_snapshots_detached_from_autograd():
    """The caller's tensors were stored as given: a later edit changed the next run's data, and frames requiring grad
    failed in evaluation (and wrote the caller's .grad)."""
    from mmdistill.modalities.audio_visual import MODALITY, register_tensors
    from mmdistill.modalities.audio_visual.loaders import _TENSOR_SETS

    ok = _ok_pairs()
    w = torch.ones(1, requires_grad=True)
    given = {**ok, "image_train": ok["image_train"] * w}
    register_tensors("snap-av", **given)
    before = MODALITY.load(_cfg(dataset="snap-av"))
    with torch.no_grad():
        for t in given.values():
            t.zero_()
    spec = _TENSOR_SETS.pop("snap-av")
    assert all(not t.requires_grad for side in ("audio", "image", "y") for t in spec[side])
    assert torch.equal(spec["y"][0], torch.arange(2).repeat_interleave(3)) and bool(spec["image"][0].any()) and w.grad is None
    register_tensors("snap-av", **{**_ok_pairs(), "image_train": _ok_pairs()["image_train"] * w})
    after = MODALITY.load(_cfg(dataset="snap-av"))
    _TENSOR_SETS.pop("snap-av")
    assert torch.equal(before.train.image, after.train.image) and not after.train.image.requires_grad


def test_in_memory_pairs_whose_test_split_lacks_a_class_are_named_and_on_the_card(caplog):
    from mmdistill.card import loading_counts
    from mmdistill.modalities.audio_visual import MODALITY, register_tensors
    from mmdistill.modalities.audio_visual.loaders import _TENSOR_SETS

    register_tensors("untested-av", **_ok_pairs(torch.tensor([0, 0])), classes=["cat", "dog"])
    try:
        with caplog.at_level(logging.WARNING):
            meta = MODALITY.load(_cfg(dataset="untested-av")).meta
    finally:
        _TENSOR_SETS.pop("untested-av")
    assert "untested-av: class(es) 'dog' have training pairs but no test pair" in caplog.text
    assert "not scored: `dog`" in loading_counts({"synthetic": {"meta": meta}})


def test_split_scaling_gives_a_constant_side_std_one_and_warns(caplog):
    """A constant frame channel or silent audio was divided by clamp_min(1e-6): the test side x 1e6."""
    from mmdistill.modalities.audio_visual.data import normalise_pairs

    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 0, 1, 1])
    img = torch.rand(4, 3, 8, 8, generator=g)
    img[:, 2] = 0.5
    a = torch.full((4, 1, 8, 8), -100.0)  # silent audio: every dB value at the floor
    with caplog.at_level(logging.WARNING):
        data = normalise_pairs("const", ["a", "b"], (a, img, y, []), (a + 1.0, img + 0.01, y, []), {}, "split")
    assert data.meta["audio_std"] == 1.0 and data.meta["image_std"][2] == 1.0
    assert data.meta["image_std"][:2] == img.std(dim=(0, 2, 3))[:2].tolist()
    assert float(data.test.audio.abs().max()) == pytest.approx(1.0) and float(data.test.image[:, 2].abs().max()) < 0.02
    assert "const: the training log-mel (dB) values are constant" in caplog.text
    assert "const: frame channel(s) 2 (1 of 3) of the training split are constant (std 0 < 1e-6)" in caplog.text


@pytest.mark.parametrize("c", [1, 2, 3, 4, 5])
def test_pair_preview_and_export_draw_frames_of_any_channel_count(tmp_path, monkeypatch, c):
    """2-channel frames failed in matplotlib after the whole run ("Invalid shape (8, 8, 2)")."""
    from mmdistill.modalities.audio.features import FDMFCCParams
    from mmdistill.modalities.audio_visual import export

    titles, real_save = [], export.save_figure
    monkeypatch.setattr(export, "save_figure",
                        lambda fig, path: titles.append(fig._suptitle.get_text() if fig._suptitle else "") or real_save(fig, path))
    g = generator(0)
    audio, image = torch.randn(2, 1, 8, 8, generator=g), torch.rand(2, c, 8, 8, generator=g)
    meta = {"features": FDMFCCParams(n_mels=8, n_mfcc=8).to_dict(), "audio_mean": -40.0, "audio_std": 10.0, "image_mean": [0.0] * c,
            "image_std": [1.0] * c, "num_samples": 400}
    export.save_pair_preview(audio, image, torch.tensor([0, 1]), ["a", "b"], meta, tmp_path / "p.png", title="t")
    assert titles == ["t" + {2: " · channel 0 of 2 shown as grey", 4: " · channels 0-2 of 4 shown as RGB",
                             5: " · channels 0-2 of 5 shown as RGB"}.get(c, "") + f"\n{export.BAR_KEY}"]  # the colour bar's key (walk 54B)
    out = export.export_pairs(audio, image, torch.tensor([0, 1]), ["a", "b"], meta, tmp_path / "export")
    assert len(list(out.rglob("*.png"))) == 2


def test_pairs_of_one_class_are_refused():
    """Walk 39B D6: one class was accepted and scored a trivial 100 %; the files' route is refused as the tensors' is."""
    from mmdistill.modalities.audio_visual.data import normalise_pairs

    split = (torch.zeros(2, 1, 4, 4), torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), ["a", "b"])
    with pytest.raises(DataError, match=r"dataset 'mine' holds only the class 'dog'; classification needs at least 2 classes"):
        normalise_pairs("mine", ["dog"], split, split, {}, "split")


def test_a_label_spelled_two_ways_is_refused_naming_both_spellings_and_rows(tmp_path):
    """``café`` composed (NFC) and decomposed (NFD), or with inner whitespace doubled, were two classes printing the
    same; case still tells classes apart."""
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    path = tmp_path / "pairs.csv"
    rows = [("a.png", "a.wav", "Cat"), ("b.png", "b.wav", "cat"), ("c.png", "c.wav", "caf\u00e9"), ("d.png", "d.wav", "cafe\u0301"),
            ("e.png", "e.wav", "caf\u00e9")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image_path", "audio_path", "label"), *rows])
    with pytest.raises(DataError, match=r"pairs.csv: 1 label\(s\) spelled more than one way.*'caf\\xe9' \(rows 4, 6\) vs "
                                        r"'cafe\\u0301' \(row 5\)"):
        read_csv_pairs(path)
    rows[3] = ("d.png", "d.wav", "big  dog")
    rows[4] = ("e.png", "e.wav", "big dog")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image_path", "audio_path", "label"), *rows])
    with pytest.raises(DataError, match=r"'big  dog' \(row 5\) vs 'big dog' \(row 6\)"):
        read_csv_pairs(path)


def test_split_scaling_shares_the_constant_channel_helper_with_video(caplog):
    """The split scaling's per-channel std repeated video's channel_std (a std, < 1e-6 set to 1, the ids named); both
    now take artifacts.constant_channels and word their own warning. Outputs and warnings are those before the change:
    a near-constant audio side (std ~1e-7) and frame channel (std 3e-8) are set to 1 and named with their std; a channel
    at exactly 1e-6 is not constant."""
    from mmdistill.modalities.audio_visual import data as av_data
    from mmdistill.modalities.audio_visual.data import normalise_pairs

    assert not hasattr(av_data, "_constant")  # the warning-only _warn_constant replaced it
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    a = 1e-7 * torch.randn(6, 1, 8, 5, generator=g)
    img = torch.rand(6, 3, 4, 4, generator=g)
    img[:, 1] = 0.5 + (torch.arange(6, dtype=torch.float32) * 1e-8)[:, None, None]
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.audio_visual.data"):
        data = normalise_pairs("av", ["x", "y"], (a, img, y, []), (a, img, torch.tensor([0, 1, 0, 1, 0, 1]), []), {}, "split")
    assert data.meta["audio_std"] == 1.0 and type(data.meta["audio_std"]) is float
    sd = img.std(dim=(0, 2, 3))
    assert data.meta["image_std"] == [float(sd[0]), 1.0, float(sd[2])]
    assert torch.allclose(data.train.image[:, 1], img[:, 1] - img[:, 1].mean())  # mean subtracted only
    assert caplog.messages == [
        f"av: the training log-mel (dB) values are constant (std {float(a.std()):.3g} < 1e-6): kept and scaled with std 1 "
        "(mean subtracted only), not divided by ~0",
        "av: frame channel(s) 1 (1 of 3) of the training split are constant (std 3e-08 < 1e-6): kept and scaled with std 1 "
        "(mean subtracted only), not divided by ~0"]
    caplog.clear()
    plain = normalise_pairs("av", ["x", "y"], (a * 1e3, img * 0 + torch.rand(6, 3, 4, 4, generator=g), y, []),
                            (a, img, y, []), {}, "split")
    assert not caplog.messages and plain.meta["audio_std"] == float((a * 1e3).std())


def test_registered_frames_of_other_channel_counts_per_split_are_refused_or_converted(caplog):
    """Grey training frames with RGB test frames were accepted: evaluation died in a convolution (and RGB training with
    grey test frames was scored on grey copied into 3 channels, silently); the file loaders refuse the mix too. Frames
    in (N, h, w, C) layout are read as given, with a warning naming the permute."""
    from mmdistill.modalities.audio_visual import MODALITY, register_tensors

    y, yt = torch.arange(3).repeat_interleave(4), torch.arange(3)
    grey, rgb = _images(y), _images(yt).repeat(1, 3, 1, 1)
    register_tensors("mixed-av", _waves(y), grey, y, _waves(yt), rgb, yt)
    with pytest.raises(DataError, match=r"image_train has 1 channel\(s\) per frame and image_test 3.*image_channels=1 or 3"):
        MODALITY.load(_cfg(dataset="mixed-av"))
    data = MODALITY.load(_cfg(dataset="mixed-av", image_channels="3"))
    assert data.train.image.shape[1] == data.test.image.shape[1] == 3
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.audio_visual"):
        register_tensors("nhwc-av", _waves(y), torch.rand(12, 8, 8, 3), y, _waves(yt), torch.rand(3, 8, 8, 3), yt)
    assert "image_train has shape (12, 8, 8, 3), read as (N, C, h, w) with C = 8 channels" in caplog.text
    assert ".permute(0, 3, 1, 2)" in caplog.text
