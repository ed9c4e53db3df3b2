"""Shared base for adapters of classification modalities (image, audio, video).

Re-exports the core's contract types (:mod:`mmdistill.modality`) so an adapter imports its seam from one
place, and provides the parts every classification adapter has in common: data on the device, real/noise
initialisation of ``ipc`` samples per class, networks from the core registry, the raw decoder, the papers'
evaluation plan (fresh networks next to the random-real and herding baselines, :mod:`mmdistill.classification`)
and the trajectory hooks of a classifier (the experts' epoch, test accuracy, the student's loss).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmdistill.classification import check_evaluation_networks, classification_data_on, classification_plan, describe_classification
from mmdistill.evaluation import EvaluationPlan
from mmdistill.labels import soft_labeler
from mmdistill.matchers.trajectory import ClassificationStudent
from mmdistill.modality import (AdapterDefaults, Augment, ClassificationData, ClassificationModality, Modality,
                                TrajectoryModality, TrajectoryPart, get_modality)
from mmdistill.nets import build_network, reinitialize
from mmdistill.schema import CROSS_ARCH_NETWORKS
from mmdistill.seeding import generator
from mmdistill.training import accuracy_on, train_epoch
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask


class TensorClassificationAdapter(AdapterDefaults):
    """Default behaviour for adapters whose synthetic set is raw model inputs (``syn.x``), one class label
    per sample; subclasses add ``load``, ``augmenter``, ``write_preview``, ``export`` and ``versions``."""

    name = "base"
    cross_arch_networks: tuple[str, ...] = tuple(CROSS_ARCH_NETWORKS)  # the papers' image networks (audio maps too)
    seeded_experts = True  # train_epoch: minibatch order and DSA seeds from the epoch's generator

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

    def check_evaluation(self, config: Any, data: ClassificationData) -> None:
        check_evaluation_networks(config, self, data)

    def decode(self, syn: SyntheticSet) -> Tensor:
        return syn.x

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: ClassificationData, device: torch.device) -> EvaluationPlan:
        """The distilled set (when given) next to the random-real and herding baselines; a set with soft labels
        also with hard labels, and the random subset labelled by the same teacher."""
        labeler = None
        if syn is not None and syn.label_mode != "hard" and "random_real" in config.baselines:
            labeler = soft_labeler(syn, self, config, data, device)
        return classification_plan(config, syn, data, self, device=device, task=self.task(config), labeler=labeler)

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

    # ---------------------------------------------------------------- sharing (mmdistill.sharing)
    def memorisation_features(self, config: Any, syn_x: Tensor, real_x: Tensor, data: Any) -> tuple[Tensor, Tensor, str]:
        """The embedding (penultimate layer) of a ConvNet built for the samples' shape with a fixed seeded random
        initialisation (``generator(0, "memorisation", "convnet")``; the DM papers' feature extractor), read in
        eval mode in chunks; a seeded random projection when no ConvNet fits the shape."""
        try:
            net = self.build_network("convnet", tuple(real_x.shape[1:]), int(getattr(data, "num_classes", 10)))
        except Exception:  # noqa: BLE001 - a shape the ConvNet does not take
            return super().memorisation_features(config, syn_x, real_x, data)
        reinitialize(net, generator(0, "memorisation", "convnet"))
        net.eval()

        def embed(x: Tensor) -> Tensor:
            return torch.cat([net.embed(x[s:s + 512].float()).flatten(1) for s in range(0, x.shape[0], 512)])

        with torch.no_grad():
            return embed(syn_x), embed(real_x), "ConvNet embedding, fixed seeded random initialisation"


__all__ = ["AdapterDefaults", "Augment", "ClassificationData", "ClassificationModality", "Modality", "TensorClassificationAdapter",
           "TrajectoryModality", "TrajectoryPart", "get_modality"]
