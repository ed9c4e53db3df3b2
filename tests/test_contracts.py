"""Every registered adapter through the written contracts (:mod:`mmdistill.modality`) on tiny generated data.

``REGISTERED_MODALITIES`` lists every package under ``modalities/`` (its folder is its registration); a new modality
adds a tiny case to ``CASES`` below, and the test refuses a registered modality without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
import torch

from mmdistill.buffer import ParamLayout
from mmdistill.evaluation import EvaluationPlan, run_plan
from mmdistill.modality import (REGISTERED_MODALITIES, ClassificationModality, Modality, TrajectoryModality, TrajectoryPart,
                                get_modality)
from mmdistill.seeding import generator
from mmdistill.sharing import ShareableModality
from mmdistill.synthetic import SyntheticSet

pytest.importorskip("torchvision")


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
    assert isinstance(modality, Modality) and modality.name == name
    assert isinstance(modality, ClassificationModality) == case.classification
    cfg = case.config(tmp_path)
    device = torch.device("cpu")
    data = modality.to_device(modality.load(cfg), device)
    assert isinstance(modality.describe(data), str)
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    assert isinstance(syn, SyntheticSet) and syn.parameters()
    decoded = modality.decode(syn)
    assert decoded is not None
    assert isinstance(modality, ShareableModality)  # the sharing hooks (mmdistill.sharing): mmdistill.load, export --to hf
    inputs = modality.inputs(syn.detached())
    assert inputs and all(isinstance(t, torch.Tensor) for t in inputs.values())
    labels = modality.labels_of(syn)  # one per decoded sample (more than stored under multi-formation)
    assert len(labels) == len(next(iter(inputs.values()))) and len(modality.dataset_view(inputs, labels, None)) >= 1
    net = modality.matching_network(cfg, data)
    assert isinstance(net, torch.nn.Module)
    assert modality.task(cfg) is not None
    assert isinstance(modality.versions(), dict)
    plan = modality.evaluation_plan(cfg, syn.detached(), data, device)
    assert isinstance(plan, EvaluationPlan)
    assert "distilled" in plan.networks[0].sets and "random_real" in plan.networks[0].sets
    metrics = run_plan(plan)
    assert metrics["metric"] == (plan.label or plan.metric) and 0.0 <= metrics["distilled"]["mean"] <= 1.0
    baselines_only = modality.evaluation_plan(cfg, None, data, device)
    assert "distilled" not in baselines_only.networks[0].sets
    preview = modality.write_preview(syn.detached(), tmp_path / "preview.png", "contract")
    assert preview.exists()
    exported = modality.export(syn.detached(), tmp_path / "export")
    assert exported.exists()


@pytest.mark.parametrize("name", [n for n in REGISTERED_MODALITIES if CASES[n].trajectory is not None])
def test_adapter_meets_the_trajectory_protocol(name, tmp_path):
    if name == "image_text":
        pytest.importorskip("open_clip")
    case = CASES[name]
    modality = get_modality(name)
    assert isinstance(modality, TrajectoryModality)
    cfg = case.trajectory(tmp_path)
    data = modality.to_device(modality.load(cfg), torch.device("cpu"))
    if getattr(cfg, "batch_train", 1) is None:
        cfg.batch_train = 32
    net = modality.fresh_network(cfg, data, generator(0, "expert", 0))
    layout = ParamLayout.of(net)
    parts = modality.trajectory_parts(cfg, layout)
    assert parts and all(isinstance(p, TrajectoryPart) for p in parts)
    assert sum(p.params.stop - p.params.start for p in parts) == layout.num_params
    opt = modality.expert_optimizer(cfg, net)
    loss = modality.train_epoch(cfg, net, opt, data, None, generator(0, "epoch"))
    assert torch.isfinite(torch.tensor(loss))
    assert 0.0 <= modality.score(cfg, net, data) <= 1.0
    syn = modality.init_synthetic(data, cfg, generator(0, "init")).requires_grad_(True)
    student = modality.student(cfg, net, modality.task(cfg), None)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters() if p.requires_grad}
    out = student.loss(params, syn, torch.arange(min(2, len(syn))), seed=0)
    out.backward()
    assert any(t.grad is not None for t in syn.parameters())
