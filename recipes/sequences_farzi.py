"""Sequential-recommendation distillation into a latent summary with a learned decoder (Farzi Data;
Sachdeva et al., 2023), on the same meta-learning machinery as TD3 so the two are measured side by side.

    python recipes/sequences_farzi.py --budget cpu
    mmdistill run sequences-farzi --dataset ml-latest-small --data-root ml-latest-small.zip --budget cpu
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

from mmdistill.modalities.sequences.config import SequenceDistillConfig
from mmdistill.recipes._sequences import sequence_recipe


@dataclass
class Config(SequenceDistillConfig):
    """Farzi: a latent summary Z (seq_num, seq_len, farzi_dim) decoded by a learned D (farzi_dim, items)."""

    parameterization: Literal["tucker", "farzi"] = "farzi"


RECIPE = sequence_recipe("sequences-farzi", "farzi", "Sequences, latent summary + learned decoder by meta-learning (Farzi Data)",
                         "Sachdeva et al., Farzi Data: Autoregressive Data Distillation, 2023 (arXiv 2310.09983)", Config)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
