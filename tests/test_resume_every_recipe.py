"""Every distillation recipe, stopped part-way and resumed, ends in the set an uninterrupted run of the same seed
ends in, bit for bit (CPU), with its default networks (the video ConvNet3D's dropout included) and the keys it
derives while running (an experts' ``batch_train=None``). A new recipe adds a tiny case to ``CASES``; the test
refuses a registered recipe without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from mmdistill.recipes import RECIPES, get_recipe

pytest.importorskip("torchvision")

#: recipes that do not distil (nothing to resume): why
NOT_DISTILLING = {"clip-finetune": "fine-tunes CLIP on a saved set and evaluates it; no distillation loop"}

_IMAGE = dict(dataset="digits", ipc=1, batch_real=16)
_IMAGE_TRAJ = dict(dataset="digits", ipc=1, image_size=8, syn_steps=2, expert_epochs=1, max_start_epoch=1, num_experts=2,
                   expert_train_epochs=2, batch_train=48, batch_syn=4)  # 30 expert steps an epoch (batch 6: 240, 8 s a case)
# batch_train left to the run (None: sized from the data, after the resume check)
_AUDIO = dict(ipc=1, sample_rate=8000, duration=0.4)
_AUDIO_TRAJ = dict(_AUDIO, batch_syn=4, num_experts=2, expert_train_epochs=2, max_start_epoch=1, syn_steps=2, expert_epochs=1)
_GRAPH = dict(dataset="sbm:90:3:8", ipc=3, hidden=16, pge_hidden=8)
_GCOND = dict(_GRAPH, outer_loop=2, inner_loop=2, structure_period=2, structure_steps=1)
_VIDEO = dict(md_train_per_class=3, md_test_per_class=1, md_frames=4, md_size=16, ipc=1)
_VIDEO_EXPERTS = dict(num_experts=1, expert_train_epochs=2, max_start_epoch=1, syn_steps=2, batch_train=8)
_SD = dict(_VIDEO, static_iterations=2, batch_real=2, dynamic_frames=2, dynamic_size=8)
_SEQ = dict(dataset="generated:40:40", max_len=10, seq_len=8, seq_num=4, learner_batch=2, rank_user=3, rank_time=3, hidden_size=8,
            inner_size=16, gru_embedding=8, gru_hidden=8, inner_steps=6, window=3, batch_real=16, pretrain_epochs=1, whole_epochs=1)
_AV = dict(image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25, width=8, depth=2, batch_real=4, ipc=1)


def _image_text(tmp: Path) -> dict[str, Any]:
    from test_image_text import write_pairs  # the image-text tests' generated pairs

    return dict(dataset="csv", data_root=str(write_pairs(tmp / "pairs", n_images=12)), image_encoder="convnetw32", image_size=16,
                text_encoder="minilm", text_cache=str(tmp / "text-cache"), ipc=4, num_experts=2, expert_train_epochs=2,
                max_start_epoch=1, expert_epochs=1, syn_steps=2, expert_batch=8, lr_data=1e-4, lr_text=1e-4, lr_lr=1e-5, lr_sim=1e-4)


#: case id -> (recipe, keys of a run of seconds); several cases may share a recipe (its stage-2 methods)
CASES: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "image-dm": ("image-dm", lambda t: _IMAGE),
    "image-dc": ("image-dc", lambda t: _IMAGE),
    "image-dsa": ("image-dsa", lambda t: _IMAGE),
    "image-mtt": ("image-mtt", lambda t: _IMAGE_TRAJ),
    "image-tesla": ("image-tesla", lambda t: _IMAGE_TRAJ),
    "image-tesla-soft": ("image-tesla", lambda t: dict(_IMAGE_TRAJ, label_mode="soft")),  # relabelled every iteration
    "audio-dm": ("audio-dm", lambda t: dict(_AUDIO, batch_real=4)),
    "audio-ddfad": ("audio-ddfad", lambda t: _AUDIO_TRAJ),
    "graph-dm": ("graph-dm", lambda t: _GRAPH),
    "graph-gcond": ("graph-gcond", lambda t: _GCOND),
    "graph-gcond-x": ("graph-gcond-x", lambda t: _GCOND),
    "video-dm": ("video-dm", lambda t: _VIDEO),
    "video-mtt": ("video-mtt", lambda t: dict(_VIDEO, **_VIDEO_EXPERTS, lr_data=1.0, batch_syn=4)),
    "video-static-dynamic-dm": ("video-static-dynamic", lambda t: dict(_SD, method="dm")),
    "video-static-dynamic-mtt": ("video-static-dynamic", lambda t: dict(_SD, **_VIDEO_EXPERTS, method="mtt")),
    "sequences-td3": ("sequences-td3", lambda t: _SEQ),
    "sequences-farzi": ("sequences-farzi", lambda t: _SEQ),
    "audio-visual-dm": ("audio-visual-dm", lambda t: _AV),
    "audio-visual-avdd": ("audio-visual-avdd", lambda t: _AV),
    "image-text-bitrajectory": ("image-text-bitrajectory", _image_text),
    "image-text-lors": ("image-text-lors", _image_text),
}


def test_every_distillation_recipe_has_a_resume_case():
    assert sorted({recipe for recipe, _ in CASES.values()} | set(NOT_DISTILLING)) == sorted(RECIPES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stopped_and_resumed_run_ends_in_the_uninterrupted_set(case, tmp_path, monkeypatch):
    name, keys = CASES[case]
    from mmdistill import memorisation

    # memorisation.png is drawn by the whole and the resumed run alike and never read here (a failed drawing is only a
    # warning); an empty file in its place saves ~2.5 s a case (matplotlib) and leaves every compared tensor as it was
    monkeypatch.setattr(memorisation, "plot", lambda block, views, path, title="": (path.write_bytes(b""), path)[1])
    if name.startswith("image-text"):
        pytest.importorskip("open_clip")
    recipe = get_recipe(name)
    kw = dict(keys(tmp_path), iterations=4, checkpoint_every=1, evaluate=False, progress=False, device="cpu")
    if getattr(recipe.config_cls, "READS_BUFFER", False):  # a hard-label DM/DC run reads no buffer (and refuses one)
        kw["buffer"] = str(tmp_path / "experts")  # trained by the first run, read by the second
    whole = recipe.run(**kw, out=str(tmp_path / "whole"))
    recipe.run(**kw, out=str(tmp_path / "cut"), stop_after=2)
    resumed = recipe.run(**kw, out=str(tmp_path / "cut"), resume=True)
    assert resumed.manifest["timing"]["resumed_from"] == 2
    assert sorted(resumed.synthetic.data) == sorted(whole.synthetic.data)
    for key, value in whole.synthetic.data.items():
        assert torch.equal(value, resumed.synthetic.data[key]), key
    assert resumed.synthetic.label_mode == whole.synthetic.label_mode
    if whole.synthetic.soft_labels is not None:  # soft labels (TESLA's, relabelled every iteration) and their teacher
        assert torch.equal(whole.synthetic.soft_labels, resumed.synthetic.soft_labels)
        assert whole.synthetic.meta.get("soft_label_source") == resumed.synthetic.meta.get("soft_label_source")
