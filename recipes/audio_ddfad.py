"""Audio dataset distillation by trajectory matching on FD-MFCC maps (DDFAD; Jiang et al., 2024).

    mmdistill experts audio-ddfad --dataset fsdd --data-root recordings.tar --buffer buffers/fsdd    # once
    mmdistill run audio-ddfad --dataset fsdd --data-root recordings.tar --ipc 10 --buffer buffers/fsdd
    python recipes/audio_ddfad.py --ipc 1 --budget cpu           # generated tones; trains its experts first
    from mmdistill.recipes import audio_ddfad; audio_ddfad.run(dataset="fsdd", data_root="recordings.tar", ipc=1, budget="cpu")

``--method tesla`` computes the same gradient in memory independent of ``syn_steps``; ``--label-mode soft``
adds an expert's soft labels (evaluated next to hard labels).
"""

from __future__ import annotations

import sys

from mmdistill.modalities.audio.config import DDFADConfig
from mmdistill.recipe import Recipe
from mmdistill.methods.trajectory import make_trajectory_matcher

Config = DDFADConfig

#: a CPU-sized run: 5 experts of 10 epochs, start epochs below 5, 10 student steps, 100 iterations, 300
#: evaluation epochs, 5 evaluation networks (docs/results.md has what it reaches on FSDD)
CPU_BUDGET = {"num_experts": 5, "expert_train_epochs": 10, "max_start_epoch": 5, "syn_steps": 10, "iterations": 100,
              "eval_epochs": 300, "eval_runs": 5, "herding_epochs": 2, "checkpoint_every": 25}

RECIPE = Recipe(
    name="audio-ddfad",
    modality="audio",
    method="ddfad",
    summary="Trajectory matching on FD-MFCC audio features (DDFAD)",
    paper="Jiang et al., DDFAD: Dataset Distillation Framework for Audio Data, 2024 (MTT, Cazenavette et al. CVPR 2022)",
    config_cls=Config,
    make_matcher=make_trajectory_matcher,
    budgets={"cpu": CPU_BUDGET},
)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
