"""Audio-visual distribution matching (AV-DM): each modality of the synthetic (log-mel, frame) pairs matched to the real
pairs on its own - the baseline AVDD's cross-modal terms are measured against.

    python recipes/audio_visual_dm.py --ipc 1 --budget cpu                         # generated tones + digits, no files
    python recipes/audio_visual_dm.py --dataset csv --data-root av_digits/pairs.csv --ipc 10 --budget cpu
    python recipes/audio_visual_dm.py --dataset video --data-root ../shared/data/kinetics-tiny --ipc 1 --budget cpu
    from mmdistill.recipes import audio_visual_dm; audio_visual_dm.run(ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.modalities.audio_visual.config import AudioVisualConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.recipes._audio_visual import make_av_matcher


@dataclass
class Config(AudioVisualConfig):
    """AVDD's defaults (:class:`AudioVisualConfig`) with the cross-modal terms off: the per-modality DM loss alone."""


RECIPE = Recipe(
    name="audio-visual-dm",
    modality="audio_visual",
    method="dm",
    summary="Audio-visual pairs, distribution matching per modality (AV-DM baseline)",
    paper="Kushwaha et al., Audio-Visual Dataset Distillation, TMLR 2024 (its DM baseline); Zhao & Bilen, WACV 2023",
    config_cls=Config,
    make_matcher=make_av_matcher,
    tables=tables(),
)
run = RECIPE.run
main = RECIPE.main
