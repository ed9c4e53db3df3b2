"""Image-text distillation by bi-trajectory matching (Wu et al., Vision-Language Dataset Distillation, TMLR 2024).

Experts train a dual encoder (image encoder + projection of frozen text embeddings) contrastively on the real
pairs; the synthetic pairs (pixels + text embeddings) are learned so that a student trained on them follows
both trajectories at once: the image encoder's and the text projection's normalised distances are summed, and
each has its own learnable step size.

    mmdistill experts image-text-bitrajectory --dataset csv --data-root captions.csv --buffer buffers/flickr   # once
    mmdistill run image-text-bitrajectory --dataset csv --data-root captions.csv --ipc 100 --buffer buffers/flickr
    python recipes/image_text_bitrajectory.py --budget cpu --image-encoder convnet --text-encoder minilm
    from mmdistill.recipes import image_text_bitrajectory; image_text_bitrajectory.run(dataset="shapes", budget="cpu", image_encoder="convnet", text_encoder="minilm")
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
    """Bi-trajectory matching: hard contrastive targets (``similarity="identity"``), unrolled MTT gradients; the
    reference ``distill.py``'s 50,000 iterations and its evaluation (``--epoch_eval_train 50``, ``--batch_train 64``,
    ``--num_eval 5``), which its README's Flickr command keeps."""

    similarity: Literal["identity", "lowrank", "full"] = "identity"
    method: Literal["mtt", "tesla"] = "mtt"
    iterations: int = 50000
    eval_epochs: int = 50
    eval_batch: int = 64


RECIPE = image_text_recipe(
    "image-text-bitrajectory", "bitrajectory", "Image-text pairs, bi-trajectory matching of an image encoder and a text projection",
    "Wu et al., Vision-Language Dataset Distillation, TMLR 2024 (arXiv 2308.07545)", Config,
)
run = RECIPE.run
main = RECIPE.main
