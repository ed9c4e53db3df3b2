"""Image-text distillation with low-rank similarity mining (LoRS; Xu et al., ICML 2024, arXiv 2406.03793).

Bi-trajectory matching plus a learned similarity matrix over the synthetic pairs, S = diag(a) + alpha / r
L R^T (the identity at the start), used as soft contrastive targets (weighted BCE) by the student and by every
model later trained on the set; gradients by TESLA's constant-memory method.

    mmdistill experts image-text-lors --dataset csv --data-root captions.csv --buffer buffers/flickr   # once
    mmdistill run image-text-lors --dataset csv --data-root captions.csv --ipc 100 --buffer buffers/flickr
    from mmdistill.recipes import image_text_lors; image_text_lors.run(dataset="shapes", budget="cpu", image_encoder="convnet", text_encoder="minilm")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.recipes._image_text import ImageTextTrajectoryConfig, image_text_recipe


@dataclass
class Config(ImageTextTrajectoryConfig):
    """LoRS: a low-rank learned similarity (``similarity="lowrank"``, or ``"full"``) as soft targets with
    weighted BCE, TESLA gradients (``method="mtt"`` gives the same gradient, unrolled); ``distill_tesla_lors.py``'s
    3,000 iterations and evaluation (5 models x 100 epochs at batch 128), which its Flickr scripts keep."""

    similarity: Literal["identity", "lowrank", "full"] = "lowrank"
    soft_loss: Literal["wbce", "infonce"] = "wbce"
    method: Literal["mtt", "tesla"] = "tesla"


RECIPE = image_text_recipe(
    "image-text-lors", "lors", "Image-text pairs, bi-trajectory matching + low-rank similarity mining (LoRS)",
    "Xu et al., Low-Rank Similarity Mining for Multimodal Dataset Distillation, ICML 2024 (arXiv 2406.03793)", Config,
)
run = RECIPE.run
main = RECIPE.main
