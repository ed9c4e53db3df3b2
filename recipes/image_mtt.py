"""Image dataset distillation by matching training trajectories (MTT; Cazenavette et al., CVPR 2022).

    mmdistill experts image-mtt --dataset cifar10 --data-root ~/data --buffer buffers/cifar10   # once
    mmdistill run image-mtt --dataset cifar10 --data-root ~/data --ipc 10 --buffer buffers/cifar10
    python recipes/image_mtt.py --dataset digits --ipc 10 --budget cpu       # trains its experts first
    from mmdistill.recipes import image_mtt; image_mtt.run(dataset="digits", ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.recipe import Recipe
from mmdistill.recipes._trajectory import MTT_TABLES, MTTConfig, make_mtt_matcher

Config = MTTConfig

RECIPE = Recipe(
    name="image-mtt",
    modality="image",
    method="mtt",
    summary="Trajectory matching on images (MTT; method=tesla for constant memory)",
    paper="Cazenavette et al., Dataset Distillation by Matching Training Trajectories, CVPR 2022",
    config_cls=Config,
    make_matcher=make_mtt_matcher,
    tables=MTT_TABLES,
)
run = RECIPE.run
main = RECIPE.main
