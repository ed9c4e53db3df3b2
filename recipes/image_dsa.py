"""Image dataset condensation by gradient matching with Differentiable Siamese Augmentation
(DSA; Zhao & Bilen, ICML 2021).

    python recipes/image_dsa.py --dataset digits --ipc 10 --budget cpu
    from mmdistill.recipes import image_dsa; image_dsa.run(dataset="digits", ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from typing import Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.methods.gradient import GradientMatchingConfig, make_gradient_matcher
from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables


@dataclass
class Config(GradientMatchingConfig, ImageDistillConfig):
    """DSA: the same random augmentation for the real and synthetic batch of a class while matching,
    DSA at evaluation with 1000 epochs, initialisation from real images (reference README); DC's loops per
    IPC from ``tables/dc.yaml``."""

    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000


RECIPE = Recipe(
    name="image-dsa",
    modality="image",
    method="dsa",
    summary="Gradient matching with differentiable siamese augmentation on images (DSA)",
    paper="Zhao & Bilen, Dataset Condensation with Differentiable Siamese Augmentation, ICML 2021",
    config_cls=Config,
    make_matcher=make_gradient_matcher,
    tables=tables("dc"),
)
run = RECIPE.run
main = RECIPE.main
