"""Shared base for adapters of classification modalities (image, audio, video).

Re-exports the core's protocol types so an adapter imports its seam from one place, and provides the parts
every classification adapter has in common: data on the device, real/noise initialisation of ``ipc``
samples per class, networks from the core registry, the raw decoder, and the papers' evaluation (fresh
networks next to the random-real and herding baselines).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmdistill.evaluate import accuracy_on, train_epoch
from mmdistill.matchers.trajectory import ClassificationStudent
from mmdistill.modality import Augment, ClassificationData, ClassificationModality, Modality, get_modality
from mmdistill.nets import build_network
from mmdistill.pipeline import classification_data_on, describe_classification, evaluate_distilled
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask


class TensorClassificationAdapter:
    """Default behaviour for adapters whose synthetic set is raw model inputs (``syn.x``), one class label
    per sample; subclasses add ``load``, ``augmenter``, ``write_preview``, ``export`` and ``versions``."""

    name = "base"

    def build_network(self, name: str, sample_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        return build_network(name, tuple(sample_shape), num_classes, **kw)

    def to_device(self, data: ClassificationData, device: torch.device) -> ClassificationData:
        return classification_data_on(data, device)

    def describe(self, data: ClassificationData) -> str:
        return describe_classification(data)

    def task(self, config: Any) -> ClassificationTask:
        return ClassificationTask()

    def init_synthetic(self, data: ClassificationData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """``config.ipc`` samples per class from random real samples or noise (``config.init``)."""
        return SyntheticSet.from_real(data.train, config.ipc, gen, init=config.init, meta={**data.meta, "dataset": data.name})

    def matching_network(self, config: Any, data: ClassificationData) -> nn.Module:
        return self.build_network(config.network, data.sample_shape, data.num_classes)

    def decode(self, syn: SyntheticSet) -> Tensor:
        return syn.x

    def evaluate(self, config: Any, syn: SyntheticSet, data: ClassificationData, device: torch.device) -> dict[str, Any]:
        return evaluate_distilled(config, syn, data, self, device=device, task=self.task(config))  # type: ignore[arg-type]

    # ---------------------------------------------------------------- trajectory matching
    def train_epoch(self, config: Any, net: nn.Module, optimizer: torch.optim.Optimizer, data: ClassificationData,
                    augment: Augment | None, gen: torch.Generator) -> float:
        """One epoch of minibatch training on the real training split (batch ``config.batch_train``, each
        sample augmented with its own draw): the experts' protocol."""
        return train_epoch(net, optimizer, data.train.x, data.train.y, config.batch_train, gen, task=self.task(config), augment=augment)

    def score(self, config: Any, net: nn.Module, data: ClassificationData) -> float:
        """Test accuracy in [0, 1] (logged per expert epoch)."""
        return accuracy_on(net, data.test)

    def student(self, config: Any, net: nn.Module, task: ClassificationTask, augment: Augment | None) -> ClassificationStudent:
        return ClassificationStudent(net=net, task=task, decode=self.decode, augment=augment)


__all__ = ["ClassificationData", "ClassificationModality", "Modality", "TensorClassificationAdapter", "get_modality"]
