"""Shared base for adapters of classification modalities (image, audio, video).

Re-exports the core's protocol types so an adapter imports its seam from one place, and provides the parts
every classification adapter has in common: networks from the core registry, the raw decoder.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmdistill.modality import ClassificationData, ClassificationModality, get_modality
from mmdistill.nets import build_network
from mmdistill.synthetic import SyntheticSet


class TensorClassificationAdapter:
    """Default behaviour for adapters whose synthetic set is raw model inputs (``syn.x``)."""

    name = "base"

    def build_network(self, name: str, sample_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        return build_network(name, tuple(sample_shape), num_classes, **kw)

    def decode(self, syn: SyntheticSet) -> Tensor:
        return syn.x


__all__ = ["ClassificationData", "ClassificationModality", "TensorClassificationAdapter", "get_modality"]
