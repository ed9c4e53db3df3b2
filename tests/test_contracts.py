"""Every registered adapter through the written contracts (:mod:`mmdistill.modality`) on tiny generated data, by the
checks a plugin package runs on its own (:mod:`mmdistill.adapter_checks`), and what those checks tell a broken adapter.

``REGISTERED_MODALITIES`` lists every package under ``modalities/`` (its folder is its registration); a new modality
adds a tiny case to ``CASES`` below, and the test refuses a registered modality without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from mmdistill.adapter_checks import ContractError, check_modality, check_trajectory, protocol_members
from mmdistill.modality import (REGISTERED_MODALITIES, ClassificationModality, Modality, TrajectoryModality, TrajectoryPart,
                                get_modality)

pytest.importorskip("torchvision")

from mmdistill.modalities.image.adapter import ImageModality  # noqa: E402  (after the skip: it needs torchvision)


@dataclass
class Case:
    """A tiny config of a modality's distillation recipe, and of a trajectory recipe when it has one."""

    config: Callable[[Any], Any]
    trajectory: Callable[[Any], Any] | None = None
    classification: bool = False


def _image(tmp):
    from mmdistill.recipes import image_dm

    return image_dm.RECIPE.config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)


def _image_traj(tmp):
    from mmdistill.recipes import image_mtt

    return image_mtt.RECIPE.config(dataset="digits", ipc=1, batch_syn=4, progress=False)


def _audio(tmp):
    from mmdistill.recipes import audio_dm

    return audio_dm.RECIPE.config(ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)


def _audio_traj(tmp):
    from mmdistill.recipes import audio_ddfad

    return audio_ddfad.RECIPE.config(ipc=1, batch_syn=4, progress=False)


def _graph(tmp):
    from mmdistill.recipes import graph_gcond

    return graph_gcond.RECIPE.config(dataset="sbm:90:3:8", ipc=3, eval_runs=1, eval_epochs=3, hidden=16, pge_hidden=8, progress=False)


def _image_text(tmp):
    from mmdistill.recipes import image_text_bitrajectory

    from test_image_text import write_pairs  # the image-text tests' generated pairs

    csv_path = write_pairs(tmp / "pairs")
    return image_text_bitrajectory.RECIPE.config(
        dataset="csv", data_root=str(csv_path), image_encoder="convnetw32", image_size=16, text_encoder="minilm",
        text_cache=str(tmp / "cache"), ipc=4, eval_runs=1, eval_epochs=1, eval_batch=4, herding_epochs=1, expert_batch=8,
        batch_syn=2, progress=False)


_VIDEO_TINY = dict(md_train_per_class=3, md_test_per_class=1, md_frames=4, md_size=16, ipc=1, eval_runs=1, eval_epochs=1,
                   herding_epochs=1, progress=False)


def _video(tmp):
    from mmdistill.recipes import video_dm

    return video_dm.RECIPE.config(**_VIDEO_TINY)


def _video_traj(tmp):
    from mmdistill.recipes import video_mtt

    return video_mtt.RECIPE.config(**_VIDEO_TINY, batch_syn=4, batch_train=8)


def _sequences(tmp):
    from mmdistill.recipes import sequences_td3

    return sequences_td3.RECIPE.config(dataset="generated:40:40", max_len=10, seq_len=8, seq_num=4, learner_batch=2, rank_user=3,
                                       rank_time=3, hidden_size=8, inner_size=16, inner_steps=4, window=2, batch_real=16,
                                       pretrain_epochs=1, whole_epochs=1, eval_runs=1, progress=False)


def _audio_visual(tmp):
    from mmdistill.recipes import audio_visual_avdd

    return audio_visual_avdd.RECIPE.config(image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25, width=8, depth=2,
                                           ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)


CASES: dict[str, Case] = {
    "image": Case(_image, _image_traj, classification=True),
    "audio": Case(_audio, _audio_traj, classification=True),
    "graph": Case(_graph),
    "image_text": Case(_image_text, _image_text),
    "video": Case(_video, _video_traj, classification=True),
    "sequences": Case(_sequences),
    "audio_visual": Case(_audio_visual),
}


def test_every_registered_modality_has_a_contract_case():
    assert sorted(CASES) == sorted(REGISTERED_MODALITIES)


@pytest.mark.parametrize("name", REGISTERED_MODALITIES)
def test_adapter_meets_the_modality_protocol(name, tmp_path):
    if name == "image_text":
        pytest.importorskip("open_clip")
    case = CASES[name]
    modality = get_modality(name)
    assert modality.name == name and isinstance(modality, ClassificationModality) == case.classification
    done = check_modality(modality, case.config(tmp_path), tmp_path / "check")
    assert {"load", "init_synthetic", "decode", "inputs", "labels_of", "evaluation_plan", "write_preview", "export"} <= set(done)
    assert ("build_network" in done) == case.classification


@pytest.mark.parametrize("name", [n for n in REGISTERED_MODALITIES if CASES[n].trajectory is not None])
def test_adapter_meets_the_trajectory_protocol(name, tmp_path):
    if name == "image_text":
        pytest.importorskip("open_clip")
    cfg = CASES[name].trajectory(tmp_path)
    if getattr(cfg, "batch_train", 1) is None:  # the run resolves it from the data; the check takes the config as given
        cfg.batch_train = 32
    done = check_trajectory(get_modality(name), cfg)
    assert {"fresh_network", "trajectory_parts", "train_epoch", "score", "student(...).loss backward"} <= set(done)


# --------------------------------------------------------------------------- what a broken adapter is told
class _Short(ImageModality):
    """One label fewer than decoded samples."""

    def labels_of(self, syn):
        return super().labels_of(syn)[:-1]


class _Unsaveable(ImageModality):
    """Meta that JSON cannot hold."""

    def init_synthetic(self, data, config, gen):
        syn = super().init_synthetic(data, config, gen)
        syn.meta["decoder"] = object()
        return syn


class _Failing(ImageModality):
    """A loader that raises."""

    def load(self, config):
        raise ValueError("no such table")


class _Gap(ImageModality):
    """Trajectory parts that leave the last parameters out."""

    def trajectory_parts(self, config, layout):
        return [TrajectoryPart("all", slice(0, layout.num_params - 1), "syn_lr", 0.01)]


class _Bare:
    """Has a name and a loader, nothing else."""

    name = "bare"

    def load(self, config):
        return None


@pytest.mark.parametrize("adapter, said", [
    (_Short(), "inputs must run on the check's config; got ArtifactError: the set decodes to 10 samples but has 9 labels"),
    (_Unsaveable(), "init_synthetic must give a set that saves and loads"),
    (_Failing(), "load must run on the check's config; got ValueError: no such table"),
    (_Bare(), "Modality must be implemented (see mmdistill.modality.Modality); got no augmenter, check_evaluation, decode"),
])
def test_a_broken_adapter_is_told_which_hook_breaks_the_contract(adapter, said, tmp_path):
    with pytest.raises(ContractError) as err:
        check_modality(adapter, CASES["image"].config(tmp_path), tmp_path / "check")
    assert said in str(err.value) and isinstance(err.value, AssertionError)


def test_trajectory_parts_must_cover_every_parameter_once(tmp_path):
    with pytest.raises(ContractError, match=r"trajectory_parts must cover the \d+ trainable parameters once"):
        check_trajectory(_Gap(), CASES["image"].trajectory(tmp_path))


def test_the_protocols_ask_for_every_hook_the_core_calls():
    """A hook the run calls on every adapter is part of a written contract (a plugin adapter that does not inherit
    AdapterDefaults is told it lacks it before a run fails on it)."""
    assert {"check_evaluation", "evaluate", "evaluation_plan", "load", "decode"} <= set(protocol_members(Modality))
    assert {"train_epoch", "student", "seeded_experts", "load"} <= set(protocol_members(TrajectoryModality))
