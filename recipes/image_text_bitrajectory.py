"""Image-text distillation by bi-trajectory matching (Wu et al., Vision-Language Dataset Distillation, TMLR 2024).

Experts train a dual encoder (image encoder + projection of frozen text embeddings) contrastively on the real
pairs; the synthetic pairs (pixels + text embeddings) are learned so that a student trained on them follows
both trajectories at once: the image encoder's and the text projection's normalised distances are summed, and
each has its own learnable step size.

    mmdistill experts image-text-bitrajectory --dataset csv --data-root captions.csv --buffer buffers/flickr   # once
    mmdistill run image-text-bitrajectory --dataset csv --data-root captions.csv --ipc 100 --buffer buffers/flickr
    python recipes/image_text_bitrajectory.py --budget cpu --image-encoder convnet --text-encoder minilm
    from mmdistill.recipes import image_text_bitrajectory; image_text_bitrajectory.run(dataset="shapes", budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from mmdistill.recipe import Recipe
from mmdistill.recipes._image_text import CPU_BUDGET, ImageTextTrajectoryConfig, image_text_optimizer
from mmdistill.trajectory import make_trajectory_matcher


@dataclass
class Config(ImageTextTrajectoryConfig):
    """Bi-trajectory matching: hard contrastive targets (``similarity="identity"``), unrolled MTT gradients."""

    similarity: str = "identity"
    method: str = "mtt"


RECIPE = Recipe(
    name="image-text-bitrajectory",
    modality="image_text",
    method="bitrajectory",
    summary="Image-text pairs, bi-trajectory matching of an image encoder and a text projection",
    paper="Wu et al., Vision-Language Dataset Distillation, TMLR 2024 (arXiv 2308.07545)",
    config_cls=Config,
    make_matcher=make_trajectory_matcher,
    make_optimizer=image_text_optimizer,  # type: ignore[arg-type]
    budgets={"cpu": CPU_BUDGET},
)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
