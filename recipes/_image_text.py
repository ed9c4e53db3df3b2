"""Shared config of the image-text trajectory recipes (bi-trajectory matching and LoRS): their keys, the
synthetic set's optimizer and the recipe factory.

The published values are table rows: bi-trajectory matching (Wu et al., arXiv 2308.07545; the Flickr30K
command at 100 pairs of princetonvisualai/multimodal_dataset_distillation) in ``tables/bitrajectory.yaml``
for ``similarity="identity"``; LoRS (Xu et al., arXiv 2406.03793; its ``scripts/flickr_*.sh``) per number of
pairs in ``tables/lors.yaml`` for a learned similarity (COCO's own rows, its ``sh/distill_coco_lors_*.sh``, when the
caption file is COCO's: :func:`~mmdistill.modalities.image_text.datasets.release_of`). Both start from 20 experts x 10 epochs (``buffer.py``:
SGD lr 0.1 on the image encoder and on the text projection, batch 128), momentum 0.5 on every synthetic
tensor; the iterations and the evaluation protocol are each method's own (its recipe's ``Config``): bi-trajectory
matching 50,000 iterations, 5 models x 50 epochs at batch 64 (``distill.py``'s defaults, which its README command
keeps); LoRS 3,000 iterations, 5 models x 100 epochs at batch 128 (``distill_tesla_lors.py``'s defaults, which its
``sh/distill_flickr_lors_*.sh`` keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

import torch

from mmdistill.errors import ConfigError
from mmdistill.experts import ExpertTraining
from mmdistill.keys import key
from mmdistill.methods.trajectory import make_trajectory_matcher
from mmdistill.methods.trajectory_keys import TrajectoryKeys
from mmdistill.modalities.image_text.config import ImageTextDistillConfig
from mmdistill.modalities.image_text.datasets import table_context
from mmdistill.modalities.image_text.trajectory import expert_training_keys
from mmdistill.optim import synthetic_optimizer
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.synthetic import SyntheticSet


@dataclass
class ImageTextTrajectoryConfig(TrajectoryKeys, ImageTextDistillConfig):
    """Image-text trajectory matching: the learning rates of the text embeddings and LoRS's similarity.

    The image-text keys, the trajectory keys and

    * ``lr_data`` / ``lr_text``: learning rates of the synthetic images and text embeddings (``lr_img`` /
      ``lr_txt`` of the reference), ``lr_sim`` of LoRS's similarity factors, all SGD with ``momentum_data``;
    * ``lr_lr``: of the two learnable student step sizes (``lr_image``, ``lr_text`` in the set, initialised to
      ``expert_lr_image`` / ``expert_lr_text``; evaluation trains with the learned values);
    * the experts: ``num_experts`` x ``expert_train_epochs`` with the image-text expert keys
      (``expert_lr_image``, ``expert_lr_text``, ``expert_batch``, ``expert_augment``).
    """

    REPLACED_KEYS: ClassVar[dict[str, str]] = {
        "lr_teacher": "expert_lr_image and expert_lr_text", "momentum_teacher": "nothing (the experts' SGD has no momentum)",
        "weight_decay_teacher": "nothing (the experts' SGD has no weight decay)", "batch_train": "expert_batch",
        "expert_dsa": "expert_augment",
    }

    lr_text: float = key(1000.0, help="learning rate of the synthetic text embeddings", unit="SGD step size", range="[0, inf)")
    lr_sim: float = key(0.0, help="learning rate of LoRS's similarity factors", unit="SGD step size", range="[0, inf)")
    iterations: int = 3000
    method: Literal["mtt", "tesla"] = "mtt"
    num_experts: int = 20
    expert_train_epochs: int = 10
    init: Literal["real", "noise"] = "real"
    momentum_data: float = 0.5
    checkpoint_every: int = 100
    syn_steps: int = 8
    expert_epochs: int = 1
    max_start_epoch: int = 2
    lr_data: float = 1000.0
    lr_lr: float = 1e-2

    def check(self) -> None:
        super().check()
        if self.batch_syn is not None and self.batch_syn < self.ipc and self.ipc % self.batch_syn == 1:
            raise ConfigError(f"batch_syn={self.batch_syn} splits the {self.ipc} pairs into minibatches whose last holds 1 pair, which "
                              "has no contrastive loss; choose a batch_syn that leaves at least 2", key="batch_syn")

    def learned_lr_evaluation(self) -> bool:
        return self.eval_lr_from_set

    def expert_training(self) -> ExpertTraining:
        """Reference ``buffer.py``: plain SGD with one learning rate per trajectory, batch ``expert_batch``."""
        return ExpertTraining(num_experts=self.num_experts, epochs=self.expert_train_epochs, momentum=0.0, weight_decay=0.0,
                              seed=self.seed, **expert_training_keys(self))


def image_text_optimizer(syn: SyntheticSet, cfg: ImageTextTrajectoryConfig) -> torch.optim.Optimizer:
    """SGD (momentum ``momentum_data``) on images at ``lr_data``, text embeddings at ``lr_text``, LoRS's
    similarity factors at ``lr_sim`` and the student step sizes at ``lr_lr``."""
    lrs = {"text": ("lr_text", float(cfg.lr_text))}
    lrs.update({k: ("lr_sim", float(cfg.lr_sim)) for k in syn.data if k.startswith("sim_")})
    return synthetic_optimizer(syn, cfg, data_lrs=lrs)


_C = TypeVar("_C", bound=ImageTextTrajectoryConfig)


def image_text_recipe(name: str, method: str, summary: str, paper: str, config_cls: type[_C]) -> Recipe[_C]:
    """An image-text trajectory recipe: the core's trajectory matcher, the per-tensor optimizer, the tables of
    bi-trajectory matching and LoRS (the row follows ``similarity``) and the budget table."""
    return Recipe(name=name, modality="image_text", method=method, summary=summary, paper=paper, config_cls=config_cls,
                  make_matcher=make_trajectory_matcher, make_optimizer=image_text_optimizer,
                  tables=tables("bitrajectory", "lors"), table_context=table_context)
