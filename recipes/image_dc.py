"""Image dataset condensation by gradient matching (DC; Zhao, Mopuri & Bilen, ICLR 2021).

    python recipes/image_dc.py --dataset digits --ipc 10 --budget cpu
    from mmdistill.recipes import image_dc; image_dc.run(dataset="digits", ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.methods.gradient import GradientMatchingConfig, make_gradient_matcher
from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables


@dataclass
class Config(GradientMatchingConfig, ImageDistillConfig):
    """DC: no augmentation while learning; noise initialisation; the loops per IPC from ``tables/dc.yaml``. Evaluation
    as DC's reference (``tables/dc_eval.yaml``): without augmentation for 300 epochs, except on MNIST (DC's
    ``crop_scale_rotate``) and with a ``convnetbn`` network (``crop_noise``), which train 1,000 epochs."""

    dsa: bool = False
    eval_dsa: bool = False


RECIPE = Recipe(
    name="image-dc",
    modality="image",
    method="dc",
    summary="Gradient matching on images (DC)",
    paper="Zhao, Mopuri & Bilen, Dataset Condensation with Gradient Matching, ICLR 2021",
    config_cls=Config,
    make_matcher=make_gradient_matcher,
    tables=tables("dc", "dc_eval"),
)
run = RECIPE.run
main = RECIPE.main
