"""Video dataset distillation by trajectory matching on full clips (the video MTT baseline of Wang et al.,
CVPR 2024: every frame of every synthetic clip is learned).

    mmdistill run video-mtt --budget cpu                 # generated moving digits; trains its experts first
    mmdistill experts video-mtt --dataset folder --data-root clips/ --buffer buffers/clips   # experts once
    python recipes/video_mtt.py --ipc 1 --budget cpu
    from mmdistill.recipes import video_mtt; video_mtt.run(ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.context import MatchContext
from mmdistill.matchers.trajectory import TrajectoryMatching
from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys
from mmdistill.modalities.video.config import VideoDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables


@dataclass
class Config(ClassificationTrajectoryKeys, VideoDistillConfig):
    """The reference's video MTT baseline (``sh/baseline/MTT.sh``, ``buffer.sh`` of yuz1wan/video_distillation):
    experts: 30 x 50 epochs, SGD lr 0.01 (no momentum), batch 256, no augmentation; matching: 10 student steps,
    1 expert epoch, start epochs below 10, clip lr 1e5 (the README's command for miniUCF101 at 1 clip per
    class), learnable step size (lr 1e-5), 8,000 iterations; real initialisation; evaluation 500 epochs x 3
    networks with the learned step size; ConvNet3D. The README's matching keys (clip lr, student steps, expert
    epochs, start epochs, step-size lr) are a row of ``tables/video.yaml``, the CPU budget a row of
    ``tables/budgets.yaml``."""

    iterations: int = 8000
    init: Literal["real", "noise"] = "real"
    num_experts: int = 30
    expert_train_epochs: int = 50
    expert_dsa: bool = False
    dsa: bool = False
    eval_dsa: bool = False
    checkpoint_every: int = 250


#: the reference clips the learned student step size after every update (``syn_lr.data.clip(min=0.001)`` in
#: ``distill_baseline.py`` and ``distill_s2d_ms.py``); the video recipes hand it to the matcher's ``min_step_size``
MIN_STEP_SIZE = 1e-3


def make_matcher(ctx: MatchContext) -> TrajectoryMatching:
    """The core trajectory matcher with ``min_step_size`` :data:`MIN_STEP_SIZE`: it clips the learned step sizes
    after every update (before its <= 0 refusal) and reports them as kept."""
    matcher = make_trajectory_matcher(ctx)
    matcher.min_step_size = MIN_STEP_SIZE
    return matcher



RECIPE = Recipe(
    name="video-mtt",
    modality="video",
    method="mtt",
    summary="Trajectory matching on full video clips (video MTT baseline; method=tesla for constant memory)",
    paper="Cazenavette et al., MTT, CVPR 2022; as the video baseline of Wang et al., CVPR 2024",
    config_cls=Config,
    make_matcher=make_matcher,
    tables=tables("video"),
)
run = RECIPE.run
main = RECIPE.main
