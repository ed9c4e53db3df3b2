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

import torch
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
class Modality(Protocol):
    """What every adapter provides to :func:`mmdistill.pipeline.distill` and the CLI.

    ``data`` is whatever the adapter's :meth:`load` returns (a :class:`ClassificationData` for image, audio
    and video; a graph, a set of caption pairs ... for others); the core passes it back untouched.
    """

    name: str

    def load(self, config: Any) -> Any:
        """Load the real data the config names (``dataset``, ``data_root`` and the modality's own keys)."""
        ...

    def to_device(self, data: Any, device: torch.device) -> Any:
        """The real data with what the matchers read moved to ``device``."""
        ...

    def describe(self, data: Any) -> str:
        """One line about the loaded data for the run's log (sizes, classes, shapes)."""
        ...

    def task(self, config: Any) -> Any:
        """The loss the matchers differentiate and the metric evaluation reports (e.g. ClassificationTask)."""
        ...

    def init_synthetic(self, data: Any, config: Any, gen: torch.Generator) -> SyntheticSet:
        """The initial synthetic set (real-sample, noise or coreset initialisation, per ``config``)."""
        ...

    def matching_network(self, config: Any, data: Any) -> nn.Module:
        """The network the matchers use (``config.network`` by default)."""
        ...

    def augmenter(self, strategy: str, dataset: str) -> Augment | None:
        """A differentiable augmentation ``aug(x, seed=, groups=None, num_groups=1)`` or None.

        ``strategy="auto"`` asks for the paper's strategy for ``dataset``."""
        ...

    def decode(self, syn: SyntheticSet) -> Any:
        """The model inputs of the synthetic set, differentiably (raw parameterization: ``syn.x``)."""
        ...

    def evaluate(self, config: Any, syn: SyntheticSet, data: Any, device: torch.device) -> dict[str, Any]:
        """Train fresh models on ``syn`` and on the baselines of the same size; return the metrics.

        The result maps ``"metric"`` to the metric's name and each evaluated set (``"distilled"``,
        ``"random_real"``, ...) to ``{"mean", "std", "runs"}`` with values in [0, 1]; other keys
        (``"network"``, ``"protocol"``, ``"cross_arch"`` ...) are free-form JSON."""
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


@runtime_checkable
class ClassificationModality(Modality, Protocol):
    """An adapter of a classification modality (image, audio, video): its data is a
    :class:`ClassificationData` of fixed-shape samples and its networks are built by name."""

    def build_network(self, name: str, sample_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        """A network by registry name; it must expose ``embed(x) -> (N, D)`` and ``forward(x) -> (N, C)``."""
        ...


def get_modality(name: str) -> Modality:
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
