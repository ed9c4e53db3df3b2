"""mmdistill: dataset distillation beyond images.

One modality-agnostic core (synthetic-set parameterizations, gradient / distribution matching, the outer
loop, evaluation, artifacts, CLI) and adapters in :mod:`mmdistill.modalities` that plug real data into it.
Recipes (:mod:`mmdistill.recipes`) glue one method to one modality with the paper's defaults.

The core never imports torchvision, torchaudio, torch_geometric, librosa or open_clip.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.1"

from mmdistill.errors import ArtifactError, ConfigError, DataError, DivergenceError, MmdistillError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from mmdistill.data import LabeledTensors
    from mmdistill.share import DistilledSet
    from mmdistill.synthetic import SyntheticSet

# Imported on first use (PEP 562), not with the package: they import torch (about 2 s), and the ``mmdistill`` command
# imports this package before it can answer a Ctrl-C with one line (a stop while torch loaded was a traceback).
_LAZY = {"LabeledTensors": "mmdistill.data", "SyntheticSet": "mmdistill.synthetic"}


if not TYPE_CHECKING:  # hidden from type checkers (the imports above type the lazy names): seen, it made every other
    # name Any to them, so a misspelt ``mmdistill.lod(path)`` type-checked silently (walk 51B)
    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
            globals()[name] = value
            return value
        raise AttributeError(f"module 'mmdistill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load(path: str | Path) -> DistilledSet:
    """Load a distilled set (a run folder or a ``--to hf`` export) as a :class:`mmdistill.share.DistilledSet`:
    decoded model inputs as the networks take them (``ds.x``, (K, *sample shape) on the CPU, float32 for images, audio and video; normalised with
    ``ds.normalization``'s mean and std where the set has them: images are not [0, 1] pixels), (K,) int64 hard labels,
    (K, C) soft-label logits or None, the learned step size, a ``torch.utils.data.Dataset`` view. Nothing is unpickled;
    ArtifactError for a path that holds no set, or files that do not match the digests recorded when they were written."""
    from mmdistill.share import load as _load

    return _load(path)


def evaluate(path: str | Path, *, runs: int | None = None, epochs: int | None = None,
             networks: Sequence[str] | str | None = None, cross_arch: bool = False, data_root: str | Path | None = None,
             device: str | None = None, vectorize: int | None = None, baselines: bool | str | Sequence[str] = True,
             **keys: Any) -> dict[str, Any]:
    """Score a saved set again (a run folder or a ``--to hf`` export): ``mmdistill eval PATH`` from Python, nothing
    written. Every argument defaults to the saved run's value (:func:`mmdistill.saved_cli.evaluate_saved`): ``runs``
    models per set trained ``epochs`` epochs, on ``networks`` (registered names), ``baselines`` True (the run's), False
    (none) or some names; ``keys`` are further evaluation keys (``eval_lr=0.01``). Returns the metrics, as a manifest
    holds them: ``result["distilled"]["mean"]`` is an accuracy as a fraction in [0, 1]. ArtifactError for a folder
    that holds no set, ConfigError for an unknown key or network."""
    from mmdistill.saved_cli import evaluate_saved

    return evaluate_saved(path, runs=runs, epochs=epochs, networks=networks, cross_arch=cross_arch, data_root=data_root,
                          device=device, vectorize=vectorize, baselines=baselines, **keys)


__all__ = [
    "__version__",
    "evaluate",
    "load",
    "ArtifactError",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "LabeledTensors",
    "MmdistillError",
    "SyntheticSet",
]
