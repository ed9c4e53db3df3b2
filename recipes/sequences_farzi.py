"""Sequential-recommendation distillation into a latent summary with a learned decoder (Farzi Data;
Sachdeva et al., 2023), on the same meta-learning machinery as TD3 so the two are measured side by side.

    python recipes/sequences_farzi.py --budget cpu
    mmdistill run sequences-farzi --dataset ml-latest-small --data-root ml-latest-small.zip --budget cpu
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.modalities.sequences.config import SequenceDistillConfig
from mmdistill.recipes._sequences import sequence_recipe


@dataclass
class Config(SequenceDistillConfig):
    """Farzi: a latent summary Z (seq_num, seq_len, farzi_dim) decoded by a learned D (farzi_dim, items).

    Farzi Data has no public reference code. This is Farzi's parameterization (as TD3's repository re-implements it,
    its commented ``DistilledInputEmbedding`` / ``DistilledDecoder``: ``farzi_dim`` 32, Kaiming-uniform Z and D) learned
    by TD3's machinery, as the issue asks, so the two differ in the summary alone: TD3's outer loss with its
    feature-alignment term (``align_weight``), TD3's inner-loop augmentation, RaT-BPTT through the last ``window`` inner
    steps, inner learners from fresh weights with the pretrained item embeddings frozen, and TD3's tables for every
    number. Farzi's own meta-gradient (reverse-mode differentiation of Adam through the whole inner loop at constant
    memory) and its inner learners initialised from checkpoints of training on the real data are not implemented."""

    parameterization: Literal["tucker", "farzi"] = "farzi"


RECIPE = sequence_recipe("sequences-farzi", "farzi", "Sequences, latent summary + learned decoder by meta-learning (Farzi Data)",
                         "Sachdeva et al., Farzi Data: Autoregressive Data Distillation, 2023 (arXiv 2310.09983)", Config)
run = RECIPE.run
main = RECIPE.main
