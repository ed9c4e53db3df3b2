"""Video distillation by static/dynamic disentanglement (Wang et al., "Dancing with Still Images: Video
Distillation via Static-Dynamic Disentanglement", CVPR 2024; reference code yuz1wan/video_distillation).

Stage 1 distils still images (the static memory) from single frames with the core's image DC (or DM: static_method=dm, the cpu budget's); stage 2
freezes them and learns a small dynamic memory per clip and a shared integrator with video DM
(``--method dm``) or trajectory matching (``--method mtt`` / ``tesla``).

    mmdistill run video-static-dynamic --budget cpu                   # moving digits, stage 2 by DM
    mmdistill run video-static-dynamic --method mtt --budget cpu      # stage 2 by MTT (trains its experts first)
    python recipes/video_static_dynamic.py --method mtt --buffer buffers/md --ipc 1
    from mmdistill.recipes import video_static_dynamic; video_static_dynamic.run(method="dm", ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

import torch

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.context import MatchContext
from mmdistill.keys import key
from mmdistill.matchers.trajectory import step_size_keys
from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher
from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modalities.video.config import StaticDynamicKeys, VideoDistillConfig
from mmdistill.modalities.video.static_dynamic import BIAS, DYNAMIC, WEIGHT, rendered_slots
from mmdistill.optim import RATE_KEY
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.recipes.video_mtt import MIN_STEP_SIZE
from mmdistill.synthetic import SyntheticSet


@dataclass
class Config(StaticDynamicKeys, DistributionMatchingConfig, ClassificationTrajectoryKeys, VideoDistillConfig):
    """Defaults of the reference (``distill_s2d_ms.py`` and ``sh/s2d/*.sh``): ``method`` ``dm`` (5,000
    iterations, 64 real clips per class) or ``mtt`` (10,000 iterations; 10 student steps at 1 clip per class, 5
    at 5 with 128 clips per step and evaluation batches of 128, the script's ``--batch_train``; 1 expert epoch; start
    epochs below 10; experts 30 x 50 epochs at lr 0.01, batch 256 (``buffer.sh``: one buffer for both sizes and video-mtt); the
    step size learned at 1 clip per class; each student step takes every slot once with one random pair of its
    memories); 2 static and 2 dynamic memories per clip; dynamic memories of 1
    channel at the clip's frames and size; the integrator a 3x3x3 convolution; lr_dynamic / lr_integrator
    per method and VPC from the README (rows of ``tables/video.yaml``, with the stage-2 iterations and MTT keys),
    SGD momentum 0.95 (0.9 on the learned step size); stage 1 by DC (the README's static learning); static memory
    frozen; no DSA; evaluation 500 epochs x 3 networks (ConvNet3D). The CPU
    budget is a row of ``tables/budgets.yaml`` per stage-2 method."""

    method: Literal["dm", "mtt", "tesla"] = key("dm", help="stage 2: dm (video DM on the rendered clips), mtt (trajectory "
                                                "matching) or tesla (the same gradient in constant memory)")
    iterations: int = 5000
    batch_real: int = 64
    dsa: bool = False
    eval_dsa: bool = False
    eval_epochs: int = 500
    eval_runs: int = 3
    num_experts: int = 30
    expert_train_epochs: int = 50
    expert_dsa: bool = False
    syn_steps: int = 10
    expert_epochs: int = 1
    max_start_epoch: int = 10
    batch_train: int | None = 256
    lr_lr: float = 1e-5
    momentum_lr: float = key(0.9, help="stage 2 by MTT/TESLA: momentum of the SGD over the learned student step size "
                             "(distill_s2d_ms.py's 0.9; the full-clip baseline's distill_baseline.py uses 0.5)", range="[0, 1)")
    checkpoint_every: int = 250


def make_matcher(ctx: MatchContext):
    """Stage 2: video DM or trajectory matching of the rendered clips (under ``pairs_per_step=one`` each student
    step takes one random static/dynamic pair of every slot, as the reference); the trajectory matcher clips the
    learned step size to at least :data:`~mmdistill.recipes.video_mtt.MIN_STEP_SIZE` after every update."""
    if ctx.config.method == "dm":
        return make_dm_matcher(ctx)
    matcher = make_trajectory_matcher(ctx)
    matcher.min_step_size = MIN_STEP_SIZE
    if ctx.config.pairs_per_step == "one" and ctx.syn is not None:
        matcher.sample_groups = rendered_slots(ctx.syn)
    return matcher


def make_optimizer(syn: SyntheticSet, cfg: Any) -> torch.optim.Optimizer:
    """SGD (momentum ``momentum_data``, 0.95 in the reference) over the dynamic memories (``lr_dynamic``) and
    the integrator (``lr_integrator``), and the student step size (``lr_lr``, momentum ``momentum_lr``: 0.9 in
    ``distill_s2d_ms.py``) under MTT; the static memories are not in it (frozen after stage 1)."""
    groups: list[dict[str, Any]] = [{"params": [syn.data[DYNAMIC]], "lr": cfg.lr_dynamic, RATE_KEY: "lr_dynamic"},
                                    {"params": [syn.data[WEIGHT], syn.data[BIAS]], "lr": cfg.lr_integrator, RATE_KEY: "lr_integrator"}]
    steps = step_size_keys(syn)
    if steps:
        groups.append({"params": [syn.data[k] for k in steps], "lr": cfg.lr_lr, "momentum": cfg.momentum_lr, RATE_KEY: "lr_lr"})
    return torch.optim.SGD(groups, lr=cfg.lr_dynamic, momentum=cfg.momentum_data)



RECIPE = Recipe(
    name="video-static-dynamic",
    modality="video",
    method="static-dynamic",
    summary="Video distillation by static/dynamic disentanglement (stage 2 by DM or MTT)",
    paper="Wang et al., Dancing with Still Images: Video Distillation via Static-Dynamic Disentanglement, CVPR 2024",
    config_cls=Config,
    make_matcher=make_matcher,
    make_optimizer=make_optimizer,
    tables=tables("video"),
)
run = RECIPE.run
main = RECIPE.main
