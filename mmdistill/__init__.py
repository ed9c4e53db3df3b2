"""mmdistill: dataset distillation beyond images.

One modality-agnostic core (synthetic-set parameterizations, gradient / distribution matching, the outer
loop, evaluation, artifacts, CLI) and adapters in :mod:`mmdistill.modalities` that plug real data into it.
Recipes (:mod:`mmdistill.recipes`) glue one method to one modality with the paper's defaults.

The core never imports torchvision, torchaudio, torch_geometric, librosa or open_clip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.1"

from mmdistill.data import LabeledTensors
from mmdistill.errors import ArtifactError, ConfigError, DataError, DivergenceError, MmdistillError
from mmdistill.synthetic import SyntheticSet

if TYPE_CHECKING:
    from pathlib import Path

    from mmdistill.share import DistilledSet


def load(path: str | Path) -> DistilledSet:
    """Load a distilled set (a run folder or a ``--to hf`` export) as a :class:`mmdistill.share.DistilledSet`:
    decoded model inputs, hard/soft labels, the learned step size, a ``torch.utils.data.Dataset`` view."""
    from mmdistill.share import load as _load

    return _load(path)


__all__ = [
    "__version__",
    "load",
    "ArtifactError",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "LabeledTensors",
    "MmdistillError",
    "SyntheticSet",
]
