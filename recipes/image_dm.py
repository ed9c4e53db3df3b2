"""Image dataset condensation by distribution matching (DM; Zhao & Bilen, WACV 2023).

    python recipes/image_dm.py --dataset digits --ipc 10 --budget cpu
    from mmdistill.recipes import image_dm; image_dm.run(dataset="digits", ipc=10, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher


@dataclass
class Config(DistributionMatchingConfig, ImageDistillConfig):
    """DM defaults (reference main_DM.py): 20,000 iterations, lr 1.0 (SGD, momentum 0.5) on the images,
    256 real images per class per iteration, real initialisation, DSA while matching and evaluating,
    1,000 evaluation epochs, 20 evaluation networks. ``dm_loss="mmd"`` swaps the mean-embedding distance
    for a Gaussian-kernel MMD."""


RECIPE = Recipe(
    name="image-dm",
    modality="image",
    method="dm",
    summary="Distribution matching on images (DM)",
    paper="Zhao & Bilen, Dataset Condensation with Distribution Matching, WACV 2023",
    config_cls=Config,
    make_matcher=make_dm_matcher,
    tables=tables("dm"),
)
run = RECIPE.run
main = RECIPE.main
