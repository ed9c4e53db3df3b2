"""What a recipe's matcher factory is handed: the run's config, data, adapter, network, augmentation, task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mmdistill.distributed import Workers
from mmdistill.modality import Modality
from mmdistill.nets import reinitialize
from mmdistill.synthetic import SyntheticSet


@dataclass
class MatchContext:
    """Everything a recipe needs to build its matcher.

    ``syn`` is the freshly initialised synthetic set: a matcher factory may set its labels (soft labels from
    an expert) before the optimizer is built. ``out_dir`` is the run directory (e.g. for expert buffers the
    recipe trains on the fly). ``workers`` are the processes sharing the run under torchrun (rank 0 of 1
    otherwise): a matcher that shards its work takes them, one that does not refuses several. ``augment`` is the
    modality's augmenter (:meth:`~mmdistill.modality.Modality.augmenter`) or None: an ``aug(x, seed=, ...)`` for a
    classification modality, otherwise what its recipes' matchers take (audio-visual: an ``AVAugment``, not callable).
    """

    config: Any
    data: Any
    modality: Modality
    net: nn.Module
    augment: Any
    task: Any
    device: torch.device
    syn: SyntheticSet | None = None
    out_dir: Path | None = None
    reinit: Callable[[nn.Module, torch.Generator], None] = reinitialize
    workers: Workers = Workers()


__all__ = ["MatchContext"]
