"""Sequential-recommendation distillation into a Tucker-decomposed summary (TD3; Zhang et al., WWW 2025).

    python recipes/sequences_td3.py --budget cpu
    mmdistill run sequences-td3 --dataset ml-latest-small --data-root ml-latest-small.zip --budget cpu
    from mmdistill.recipes import sequences_td3; sequences_td3.run(budget="cpu")
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
    """TD3: U, T, G with the pretrained item factor V, learned by meta-learning with RaT-BPTT."""

    parameterization: Literal["tucker", "farzi"] = "tucker"


RECIPE = sequence_recipe("sequences-td3", "td3", "Sequences, Tucker-decomposed summary by meta-learning with RaT-BPTT (TD3)",
                         "Tucker Decomposition Based Dataset Distillation for Sequential Recommendation, WWW 2025 "
                         "(arXiv 2502.02854; reference USTC-StarTeam/TD3)", Config)
run = RECIPE.run
main = RECIPE.main
