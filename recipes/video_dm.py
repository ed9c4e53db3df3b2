"""Video dataset distillation by distribution matching on full clips (the video DM baseline of Wang et al.,
CVPR 2024: every frame of every synthetic clip is learned).

    mmdistill run video-dm --budget cpu                                  # generated moving digits, no files
    mmdistill run video-dm --dataset folder --data-root ../shared/data/kinetics-tiny --preset kinetics --ipc 1
    python recipes/video_dm.py --ipc 1 --budget cpu
    from mmdistill.recipes import video_dm; video_dm.run(ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher
from mmdistill.modalities.video.config import VideoDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables


@dataclass
class Config(DistributionMatchingConfig, VideoDistillConfig):
    """The reference's video DM baseline (``sh/baseline/DM.sh`` of yuz1wan/video_distillation): 5,000
    iterations, real initialisation, 64 real clips per class per iteration, clip lr 30 (the README's command
    for miniUCF101 at 1 clip per class: a row of ``tables/video.yaml``), SGD momentum 0.5, ConvNet3D, no DSA (the
    reference's video code does not augment), evaluation 500 epochs x 5 networks at lr 0.01. The CPU budget is a row
    of ``tables/budgets.yaml``."""

    iterations: int = 5000
    batch_real: int = 64
    dsa: bool = False
    eval_dsa: bool = False
    eval_epochs: int = 500
    eval_runs: int = 5
    checkpoint_every: int = 250



RECIPE = Recipe(
    name="video-dm",
    modality="video",
    method="dm",
    summary="Distribution matching on full video clips (video DM baseline)",
    paper="Zhao & Bilen, DM, WACV 2023; as the video baseline of Wang et al., CVPR 2024",
    config_cls=Config,
    make_matcher=make_dm_matcher,
    tables=tables("video"),
)
run = RECIPE.run
main = RECIPE.main
