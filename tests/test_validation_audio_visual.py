"""``validation=`` on the audio-visual recipes (walk 55S): before, ``mmdistill run audio-visual-dm ... --validation 0.1``
was refused ("config key 'validation' ... does not apply to recipe audio-visual-dm"), so a user tuning AV-DM or AVDD
either tuned on the test split or wrote a validation CSV by hand (as ``benchmarks/make_audio_visual_digits.py
--validation`` does). The pairs now take the core's validation split (:func:`mmdistill.validation.draw_validation`:
per class, one fixed stream, whole groups where the loader knows them: a ``group_by`` speaker, pairs that share a file,
UCF-named clips' recordings), and the run records ``scored_on: validation`` so the card, ``show`` and ``compare`` say so."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdistill.errors import ConfigError

TINY = dict(image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25, width=8, depth=2, batch_real=4, eval_runs=1,
            eval_epochs=2, herding_epochs=1, multi_formation=1, progress=False)


def _cfg(recipe: str = "audio_visual_dm", **kw):
    import importlib

    return importlib.import_module(f"mmdistill.recipes.{recipe}").RECIPE.config(**{**TINY, **kw})


def _load(**kw):
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.validation import load_data

    return load_data(MODALITY, _cfg(**kw))


@pytest.fixture
def tensors_set() -> str:
    """12 training pairs per class (3 classes), 2 test pairs per class; the pair's index is in its frame's corner."""
    from mmdistill.modalities.audio_visual import register_tensors

    y_tr, y_te = torch.arange(3).repeat_interleave(12), torch.arange(3).repeat_interleave(2)

    def pairs(y: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.arange(2000) / 8000
        waves = torch.stack([0.4 * torch.sin(2 * math.pi * 200.0 * (int(c) + 1) * t) for c in y])
        frames = torch.zeros(len(y), 1, 8, 8)
        for i, c in enumerate(y.tolist()):
            frames[i, 0, 2 * c + 1] = 1.0
            frames[i, 0, 7, 7] = (offset + i) / 100.0  # which pair it is
        return waves, frames

    return register_tensors("av-validation", *pairs(y_tr, 0), y_tr, *pairs(y_te, 50), y_te, ["a", "b", "c"])


def _ids(split) -> set[int]:
    """Which pairs ``split`` holds: each frame's corner before AVDD's scaling ((x - mean) / std, a grey frame's
    mean and std the channel constants' means), x 100."""
    from mmdistill.modalities.audio_visual.data import AVDD_FRAME_MEAN, AVDD_FRAME_STD

    mean, std = sum(AVDD_FRAME_MEAN) / 3, sum(AVDD_FRAME_STD) / 3
    return {round(float(v) * 100) for v in split.image[:, 0, 7, 7] * std + mean}


@pytest.mark.parametrize("recipe", ["audio_visual_dm", "audio_visual_avdd"])
def test_both_recipes_take_validation_and_refuse_a_fraction_out_of_range(recipe):
    assert _cfg(recipe, validation=0.1).validation == 0.1  # was: "config key 'validation' ... does not apply"
    with pytest.raises(ConfigError, match="validation"):
        _cfg(recipe, validation=1.5)


def test_held_out_training_pairs_are_scored_in_place_of_the_test_pairs(tensors_set):
    data = _load(dataset=tensors_set, validation=0.25)
    assert len(data.train) == 27 and len(data.test) == 9  # round(0.25 x 12) = 3 of each class's 12 training pairs
    assert torch.bincount(data.test.y, minlength=3).tolist() == [3, 3, 3]
    kept, held = _ids(data.train), _ids(data.test)
    assert not kept & held and kept | held == set(range(36))  # the 6 test pairs (50..55) are not among them
    assert data.meta["scored_on"] == "validation" and data.meta["validation"]["held_out"] == 9
    assert "held_out_groups" not in data.meta["validation"]  # in-memory pairs: no groups known, drawn one by one
    again = _load(dataset=tensors_set, validation=0.25, seed=7)
    assert _ids(again.test) == held  # one split whatever the run's seed
    from mmdistill.modalities.audio_visual import MODALITY

    assert "27 train / 9 validation pairs" in MODALITY.describe(data)


def _wav_png_csv(root: Path, speakers: int = 5, takes: int = 2, shared: bool = False) -> Path:
    """Two classes x ``speakers`` x ``takes`` pairs, ``spk`` column; ``shared``: each speaker's takes share one frame."""
    import soundfile as sf
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in range(2):
        for s in range(1, speakers + 1):
            for k in range(takes):
                t = np.arange(2000) / 8000
                sf.write(root / f"a{c}_{s}_{k}.wav", (0.4 * np.sin(2 * np.pi * (300 * (c + 1) + 20 * s + 5 * k) * t)).astype(np.float32), 8000)
                image = f"i{c}_{s}.png" if shared else f"i{c}_{s}_{k}.png"
                Image.fromarray(np.full((8, 8), 40 + 20 * s + 60 * c, dtype=np.uint8), mode="L").save(root / image)
                rows.append((image, f"a{c}_{s}_{k}.wav", f"c{c}", f"spk{s}"))
    with open(root / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_path", "audio_path", "label", "speaker"])
        w.writerows(rows)
    return root / "pairs.csv"


def _speaker(name: str) -> str:
    return Path(name).stem.split("_")[1]


def test_a_group_by_speaker_is_held_out_whole(tmp_path):
    path = _wav_png_csv(tmp_path / "set")
    data = _load(dataset="csv", data_root=str(path), group_by="speaker", validation=0.25)
    train, held = {_speaker(n) for n in data.train.names}, {_speaker(n) for n in data.test.names}
    assert held and not train & held  # before the groups, a draw of single pairs put speakers on both sides
    assert data.meta["validation"]["held_out_groups"] == len(held)
    assert len(data.test) == 4 * len(held)  # every pair of a held-out speaker: 2 classes x 2 takes
    alone = _load(dataset="csv", data_root=str(path), group_by="speaker", validation=0.25, validation_groups=False)
    assert "held_out_groups" not in alone.meta["validation"]  # validation_groups=false: pairs drawn one by one, as the core's

def test_pairs_that_share_a_file_are_held_out_together(tmp_path):
    path = _wav_png_csv(tmp_path / "set", shared=True)  # each speaker's two takes share their frame image
    for fraction in (0.25, 0.5):
        data = _load(dataset="csv", data_root=str(path), validation=fraction)
        frames = {side: {f"{data.classes[int(y)]}/{_speaker(n)}" for n, y in zip(getattr(data, side).names, getattr(data, side).y)}
                  for side in ("train", "test")}
        assert frames["test"] and not frames["train"] & frames["test"], fraction  # no frame image on both sides


def _ucf_clips(root: Path, recordings: int = 4, clips: int = 3) -> Path:
    from avi_files import write_avi

    for c, name in enumerate(["JumpUp", "WaveLeft"]):
        for g in range(1, recordings + 1):
            for k in range(1, clips + 1):
                t = np.arange(2000) / 8000
                write_avi(root / name / f"v_{name}_g{g:02d}_c{k:02d}.avi", [np.full((40, 40, 3), 40 + 30 * g + 80 * c, dtype=np.uint8)] * 3,
                          fps=10, audio=0.3 * np.sin(2 * np.pi * (300.0 * (c + 1) + 37 * g) * t), rate=8000)
    return root


def _recording(name: str) -> str:
    return "_".join(Path(name).stem.split("_")[1:3])


def test_ucf_named_clips_hold_out_whole_recordings(tmp_path):
    pytest.importorskip("decord")
    root = _ucf_clips(tmp_path / "ucf")
    for group_by in (None, "ucf"):
        data = _load(dataset="video", data_root=str(root), group_by=group_by, validation=0.3)
        train, held = {_recording(n) for n in data.train.names}, {_recording(n) for n in data.test.names}
        assert held and not train & held, group_by  # clips of one recording were drawn to both sides
        assert data.meta["validation"]["held_out_groups"] == len(held)


def test_a_validation_run_says_so_in_its_protocol_card_and_summary(tensors_set, tmp_path, monkeypatch):
    from mmdistill import memorisation
    from mmdistill.recipes import audio_visual_dm
    from mmdistill.report import summary_line

    monkeypatch.setattr(memorisation, "plot", lambda block, views, path, title="": (path.write_bytes(b""), path)[1])  # seconds

    out = tmp_path / "run"
    audio_visual_dm.run(out=str(out), dataset=tensors_set, ipc=1, iterations=2, checkpoint_every=2, validation=0.25,
                        baselines=["random_real"], init="real", **TINY)
    manifest = json.loads((out / "manifest.json").read_text())
    protocol = manifest["metrics"]["protocol"]
    assert protocol["scored_on"] == "validation" and protocol["validation_samples"] == 9 and "test_pairs" not in protocol
    assert "Validation fused accuracy" in (out / "README.md").read_text()
    assert "on validation samples held out of the training split" in summary_line(manifest)


def test_an_adapter_of_other_data_without_the_hook_is_refused_naming_the_key():
    from mmdistill.modality import AdapterDefaults
    from mmdistill.validation import load_data

    class Pairs(AdapterDefaults):
        def load(self, config):
            return {"pairs": []}

    cfg = _cfg(validation=0.1)
    with pytest.raises(ConfigError, match="validation splits are carved from classification data; dict has none") as err:
        load_data(Pairs(), cfg)
    assert err.value.key == "validation"
