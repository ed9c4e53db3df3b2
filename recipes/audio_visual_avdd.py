"""Audio-visual dataset distillation (AVDD; Kushwaha et al., TMLR 2024): per-modality DM + implicit cross-matching +
cross-modal gap matching on synthetic (log-mel, frame) pairs, herding initialisation.

    python recipes/audio_visual_avdd.py --ipc 1 --budget cpu                       # generated tones + digits, no files
    python recipes/audio_visual_avdd.py --dataset csv --data-root av_digits/pairs.csv --ipc 10 --budget cpu
    from mmdistill.recipes import audio_visual_avdd; audio_visual_avdd.run(ipc=1, budget="cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.keys import key
from mmdistill.modalities.audio_visual.config import AudioVisualConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.recipes._audio_visual import make_av_matcher


@dataclass
class Config(AudioVisualConfig):
    """AVDD's defaults (:class:`AudioVisualConfig`) plus its two loss weights (reference ``main_DM_AV.py``: 10 and 10)."""

    lam_icm: float = key(10.0, help="weight of implicit cross-matching (AVDD: 10)", range="[0, inf)")
    lam_cgm: float = key(10.0, help="weight of cross-modal gap matching (AVDD: 10)", range="[0, inf)")


RECIPE = Recipe(
    name="audio-visual-avdd",
    modality="audio_visual",
    method="avdd",
    summary="Audio-visual pairs, DM + implicit cross-matching + cross-modal gap matching (AVDD)",
    paper="Kushwaha et al., Audio-Visual Dataset Distillation, TMLR 2024",
    config_cls=Config,
    make_matcher=make_av_matcher,
    tables=tables(),
)
run = RECIPE.run
main = RECIPE.main
