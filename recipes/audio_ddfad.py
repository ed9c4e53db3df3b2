"""Audio dataset distillation by trajectory matching on FD-MFCC maps (DDFAD; Jiang et al., 2024).

    mmdistill experts audio-ddfad --dataset fsdd --data-root recordings.tar --buffer buffers/fsdd    # once
    mmdistill run audio-ddfad --dataset fsdd --data-root recordings.tar --ipc 10 --buffer buffers/fsdd
    python recipes/audio_ddfad.py --ipc 1 --budget cpu           # generated tones; trains its experts first
    from mmdistill.recipes import audio_ddfad; audio_ddfad.run(dataset="fsdd", data_root="recordings.tar", ipc=1, budget="cpu")

``--method tesla`` computes the same gradient in memory independent of ``syn_steps``; ``--label-mode soft``
adds TESLA's soft labels (every iteration the drawn expert's logits at its target epoch; evaluated next to hard
labels).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.modalities.audio.config import DDFADConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables

Config = DDFADConfig

RECIPE = Recipe(
    name="audio-ddfad",
    modality="audio",
    method="ddfad",
    summary="Trajectory matching on FD-MFCC audio features (DDFAD)",
    paper="Jiang et al., DDFAD: Dataset Distillation Framework for Audio Data, 2024 (MTT, Cazenavette et al. CVPR 2022)",
    config_cls=Config,
    make_matcher=make_trajectory_matcher,
    tables=tables("mtt"),  # MTT's rows for data MTT did not distil (CIFAR-10's): see tables/mtt.yaml
)
run = RECIPE.run
main = RECIPE.main
