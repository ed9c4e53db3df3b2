"""The seam between the core and a modality adapter.

The core never imports an adapter directly: a recipe hands its adapter object to
:func:`mmdistill.pipeline.distill`, and commands that start from a saved set (``mmdistill eval``,
``show``, ``export``) look the adapter up by the name stored in the manifest with :func:`get_modality`,
which imports ``mmdistill.modalities.<name>`` and takes its ``MODALITY`` object.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from torch import Tensor, nn

from mmdistill.data import LabeledTensors
from mmdistill.errors import ConfigError
from mmdistill.synthetic import SyntheticSet

Augment = Callable[..., Tensor]


@dataclass
class ClassificationData:
    """A classification dataset split into train and test, with what the modality needs to decode, preview
    and export samples (``meta``: JSON-serialisable, e.g. normalisation statistics)."""

    name: str
    train: LabeledTensors
    test: LabeledTensors
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.train.sample_shape


@runtime_checkable
class ClassificationModality(Protocol):
    """What an adapter of a classification modality (image, audio, video) provides."""

    name: str

    def load(self, config: Any) -> ClassificationData:
        """Load the dataset the config names (``dataset``, ``data_root`` and the modality's own keys)."""
        ...

    def build_network(self, name: str, sample_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        """A network by registry name; it must expose ``embed(x) -> (N, D)`` and ``forward(x) -> (N, C)``."""
        ...

    def augmenter(self, strategy: str, dataset: str) -> Augment | None:
        """A differentiable augmentation ``aug(x, seed=, groups=None, num_groups=1)`` or None.

        ``strategy="auto"`` asks for the paper's strategy for ``dataset``."""
        ...

    def decode(self, syn: SyntheticSet) -> Tensor:
        """The model inputs of the synthetic set, differentiably (raw parameterization: ``syn.x``)."""
        ...

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        """A picture of the set a person can look at."""
        ...

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        """The set in the modality's natural file format."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the libraries the adapter uses (recorded in the manifest)."""
        ...


def get_modality(name: str) -> ClassificationModality:
    """The adapter registered as ``mmdistill.modalities.<name>.MODALITY``."""
    module_name = f"mmdistill.modalities.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"unknown modality {name!r}: no module {module_name}") from None
        raise ConfigError(f"modality {name!r} needs a package that is not installed: {exc.name} "
                          f"(install mmdistill with the '{name}' extra)") from None
    modality = getattr(module, "MODALITY", None)
    if modality is None:
        raise ConfigError(f"{module_name} defines no MODALITY object")
    return modality
