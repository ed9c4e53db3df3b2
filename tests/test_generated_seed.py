"""The generated audio ``tones`` and audio-visual ``tones-digits`` are drawn with ``split_seed`` (``generated_seed``), as a
drawn split is: before, they followed the run's ``seed``, so two seeds of a sweep were distilled from and scored on
different clips (a compare that pools the seeds assumed one test split). Sets and checkpoints saved before the key keep
the data they were made on (:data:`mmdistill.key_history.ABSENT_BEFORE_FROM`)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from mmdistill.key_history import values_before_keys
from mmdistill.modalities.audio.datasets import load_audio_dataset
from test_split_seed import _forget_keys  # noqa: E402  (a checkpoint rewritten as one written before a key existed)


def _audio(**kw):
    from mmdistill.recipes import audio_dm

    return audio_dm.RECIPE.get_modality().load(audio_dm.RECIPE.config(dataset="tones", ipc=1, **kw))


def _pairs(**kw):
    from mmdistill.recipes import audio_visual_dm

    cfg = audio_visual_dm.RECIPE.config(dataset="tones-digits", ipc=1, multi_formation=1, image_size=16, audio_frames=8, **kw)
    return audio_visual_dm.RECIPE.get_modality().load(cfg)


def test_generated_tones_are_the_same_for_every_seed_and_follow_split_seed():
    a, b, other = _audio(seed=0), _audio(seed=1), _audio(seed=0, split_seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)
    assert not torch.equal(a.test.x, other.test.x)
    assert torch.equal(_audio(seed=1, generated_seed="seed").test.x, other.test.x)  # a run's own seed, as before


def test_generated_tones_digits_pairs_are_the_same_for_every_seed_and_follow_split_seed():
    p, q, r = _pairs(seed=0), _pairs(seed=1), _pairs(seed=0, split_seed=1)
    assert torch.equal(p.train.audio, q.train.audio) and torch.equal(p.test.audio, q.test.audio)
    assert not torch.equal(p.test.audio, r.test.audio)


def test_a_set_saved_before_generated_seed_is_rescored_on_the_data_it_was_made_on(caplog):
    """A seed-2 tones set of split_seed 0 was made from the seed-2 clips: re-scoring it rebuilds generated_seed=seed; a
    seed-0 one (the same data either way) and a set of a read dataset take the default, so they resume and compare as
    before."""
    from mmdistill.recipes import audio_dm, audio_visual_dm

    saved = dataclasses.asdict(audio_dm.RECIPE.config(dataset="tones", seed=2, ipc=1))
    saved.pop("generated_seed")  # a manifest written before the key existed
    with caplog.at_level(logging.INFO, logger="mmdistill.recipe"):
        cfg = audio_dm.RECIPE.config_from_saved(saved, {"eval_runs": 1})
    assert cfg.generated_seed == "seed" and "generated_seed='seed'" in caplog.text
    made_on = _audio(seed=2, split_seed=2)  # the clips the seed-2 run drew (its seed drew them)
    assert torch.equal(audio_dm.RECIPE.get_modality().load(cfg).test.x, made_on.test.x)
    assert torch.equal(load_audio_dataset("tones", seed=2).x_test, load_audio_dataset("tones", seed=2, split_seed=2).x_test)
    assert values_before_keys({**saved, "seed": 0}, ["generated_seed"]) == {"generated_seed": "split_seed"}
    assert values_before_keys({"dataset": "tones", "seed": 2}, ["generated_seed"]) == {"generated_seed": "split_seed"}  # split_seed=seed
    assert values_before_keys({**saved, "dataset": "folder"}, ["generated_seed"]) == {"generated_seed": "split_seed"}
    av = dataclasses.asdict(audio_visual_dm.RECIPE.config(seed=1))  # its default dataset, tones-digits
    av.pop("generated_seed")
    assert audio_visual_dm.RECIPE.config_from_saved(av, {}).generated_seed == "seed"


def test_a_tones_checkpoint_written_before_generated_seed_resumes_with_the_data_it_was_made_on(tmp_path):
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import audio_dm

    kw = dict(dataset="tones", ipc=1, batch_real=8, seed=2, iterations=3, checkpoint_every=1, evaluate=False,
              progress=False, device="cpu", out=str(tmp_path / "run"))
    audio_dm.run(**kw, generated_seed="seed", stop_after=1)  # an old run drew its tones with its seed
    _forget_keys(tmp_path / "run" / "checkpoint.safetensors", "generated_seed")
    with pytest.raises(ConfigError, match=r"generated_seed: 'seed' -> 'split_seed'"):
        audio_dm.run(**kw, resume=True)
    resumed = audio_dm.run(**kw, resume=True, generated_seed="seed", stop_after=2)  # (stopped again: no artifact written)
    assert resumed.manifest["timing"]["resumed_from"] == 1


def test_split_seed_is_not_called_unused_for_generated_data_but_test_fraction_is(caplog):
    with caplog.at_level(logging.WARNING):
        _audio(split_seed=3, test_fraction=0.3)
        _pairs(split_seed=3, test_fraction=0.3)
    unused = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    assert len(unused) == 2 and all("test_fraction=0.3" in m and "split_seed" not in m.split("not used")[0] for m in unused), unused
