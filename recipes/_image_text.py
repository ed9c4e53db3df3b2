"""Shared config of the image-text trajectory recipes (bi-trajectory matching and LoRS): the reference
scripts' defaults, the CPU budget and the synthetic set's optimizer.

Bi-trajectory matching (Wu et al., arXiv 2308.07545; README of princetonvisualai/multimodal_dataset_distillation,
Flickr30K, 100 pairs): 20 experts x 10 epochs (``buffer.py``: SGD lr 0.1 on the image encoder and on the text
projection, batch 128), then ``syn_steps=8 expert_epochs=1 max_start_epoch=2 lr_img=1000 lr_txt=1000
lr_lr=1e-2``, student minibatch = all pairs, momentum 0.5 on every synthetic tensor, distilled sets shown
after 2,000 iterations. LoRS (Xu et al., arXiv 2406.03793; its ``scripts/flickr_*.sh``): the same buffer, TESLA's
constant-memory matching, ``syn_steps=8 expert_epochs=1``, and per budget the rows of :data:`LORS_TABLE`
(learning rates of images, text and similarity, rank and alpha of the low-rank similarity, student minibatch),
weighted BCE against the similarity matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmdistill.errors import ConfigError
from mmdistill.experts import ExpertTraining
from mmdistill.modalities.image_text.config import ImageTextDistillConfig
from mmdistill.modalities.image_text.trajectory import expert_training_keys
from mmdistill.synthetic import SyntheticSet
from mmdistill.recipe import Recipe
from mmdistill.methods.trajectory_keys import TrajectoryConfig

#: bi-trajectory matching, Flickr30K at 100 pairs (the published command); used for every budget
from mmdistill.methods.trajectory import make_trajectory_matcher

#: bi-trajectory matching, Flickr30K at 100 pairs (the published command); used for every budget
from mmdistill.optim import synthetic_optimizer

#: bi-trajectory matching, Flickr30K at 100 pairs (the published command); used for every budget
BITRAJECTORY_ROW: dict[str, object] = dict(syn_steps=8, expert_epochs=1, max_start_epoch=2, lr_data=1000.0, lr_text=1000.0,
                                           lr_lr=1e-2, batch_syn=None)

#: LoRS on Flickr30K by number of pairs (the authors' scripts; other budgets take the nearest row)
LORS_TABLE: dict[int, dict[str, object]] = {
    100: dict(syn_steps=8, expert_epochs=1, max_start_epoch=2, lr_data=100.0, lr_text=100.0, lr_lr=1e-2, lr_sim=10.0,
              sim_rank=10, sim_alpha=3.0, batch_syn=20),
    500: dict(syn_steps=8, expert_epochs=1, max_start_epoch=3, lr_data=1000.0, lr_text=1000.0, lr_lr=1e-2, lr_sim=100.0,
              sim_rank=20, sim_alpha=0.01, batch_syn=40),
}

#: keys filled from the tables when left at None
TABLE_KEYS = ("syn_steps", "expert_epochs", "max_start_epoch", "lr_data", "lr_text", "lr_lr", "lr_sim", "sim_rank", "sim_alpha", "batch_syn")


def lors_defaults(pairs: int) -> dict[str, object]:
    """LoRS's row for the listed budget nearest ``pairs``."""
    nearest = min(LORS_TABLE, key=lambda k: (abs(k - pairs), k))
    return dict(LORS_TABLE[nearest])


@dataclass
class ImageTextTrajectoryConfig(ImageTextDistillConfig, TrajectoryConfig):
    """Image-text distillation by trajectory matching: the image-text keys, the trajectory keys and

    * ``lr_data`` / ``lr_text``: learning rates of the synthetic images and text embeddings (``lr_img`` /
      ``lr_txt`` of the reference), ``lr_sim`` of LoRS's similarity factors, all SGD with ``momentum_data``;
    * ``lr_lr``: of the two learnable student step sizes (``lr_image``, ``lr_text`` in the set, initialised to
      ``expert_lr_image`` / ``expert_lr_text``; evaluation trains with the learned values);
    * the experts: ``num_experts`` x ``expert_train_epochs`` with ``expert_lr_image`` / ``expert_lr_text``,
      ``expert_batch`` and ``expert_augment`` (the reference's names; ``lr_teacher``, ``batch_train`` and
      ``expert_dsa`` follow them).

    Keys left at None take the method's published values (:data:`BITRAJECTORY_ROW`, :data:`LORS_TABLE`).
    """

    iterations: int = 2000
    method: str = "mtt"
    num_experts: int = 20
    expert_train_epochs: int = 10
    init: str = "real"
    dsa: bool = False
    momentum_data: float = 0.5
    checkpoint_every: int = 100
    lr_data: float | None = None  # type: ignore[assignment]
    lr_text: float | None = None
    lr_sim: float | None = None
    lr_lr: float | None = None  # type: ignore[assignment]
    syn_steps: int | None = None  # type: ignore[assignment]
    expert_epochs: int | None = None  # type: ignore[assignment]
    max_start_epoch: int | None = None  # type: ignore[assignment]
    sim_rank: int | None = None  # type: ignore[assignment]
    sim_alpha: float | None = None  # type: ignore[assignment]
    batch_syn: int | None = None

    def table_row(self) -> dict[str, object]:
        """The published values for this config (bi-trajectory's row; LoRS's by pairs when ``similarity`` is not identity)."""
        if self.similarity == "identity":  # no similarity to learn: its keys keep the adapter's defaults
            return {**BITRAJECTORY_ROW, "lr_sim": 0.0, "sim_rank": ImageTextDistillConfig.sim_rank, "sim_alpha": ImageTextDistillConfig.sim_alpha}
        return lors_defaults(self.ipc)

    def __post_init__(self) -> None:
        row = self.table_row()
        for key in TABLE_KEYS:
            if getattr(self, key) is None and key in row:
                setattr(self, key, row[key])
        # the trajectory keys of the core follow the image-text experts' names
        self.lr_teacher, self.batch_train, self.expert_dsa = self.expert_lr_image, self.expert_batch, self.expert_augment
        super().__post_init__()
        self.check_trajectory()
        if self.batch_syn is not None and self.batch_syn < self.ipc and self.ipc % self.batch_syn == 1:
            raise ConfigError(f"batch_syn={self.batch_syn} splits the {self.ipc} pairs into minibatches whose last holds 1 pair, which "
                              "has no contrastive loss; choose a batch_syn that leaves at least 2")
        for key in ("lr_text", "lr_sim"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")

    def expert_training(self) -> ExpertTraining:
        """Reference ``buffer.py``: plain SGD with one learning rate per trajectory, batch ``expert_batch``."""
        return ExpertTraining(num_experts=self.num_experts, epochs=self.expert_train_epochs, momentum=0.0, weight_decay=0.0,
                              seed=self.seed, **expert_training_keys(self))


def image_text_optimizer(syn: SyntheticSet, cfg: ImageTextTrajectoryConfig) -> torch.optim.Optimizer:
    """SGD (momentum ``momentum_data``) on images at ``lr_data``, text embeddings at ``lr_text``, LoRS's
    similarity factors at ``lr_sim`` and the student step sizes at ``lr_lr``."""
    lrs = {"text": float(cfg.lr_text)}  # type: ignore[arg-type]
    lrs.update({k: float(cfg.lr_sim) for k in syn.data if k.startswith("sim_")})  # type: ignore[arg-type]
    return synthetic_optimizer(syn, cfg, data_lrs=lrs)


#: a CPU-sized run (see docs/results.md): 4 experts of 3 epochs (the matching reads epochs 0-2), 100
#: iterations, 3 evaluation models of 10 epochs; the encoders stay the config's
CPU_BUDGET = {"num_experts": 4, "expert_train_epochs": 3, "iterations": 100, "eval_epochs": 10, "eval_runs": 3,
              "whole_epochs": 1, "checkpoint_every": 25}


def image_text_recipe(name: str, method: str, summary: str, paper: str, config_cls: type[ImageTextTrajectoryConfig]) -> Recipe:
    """An image-text trajectory recipe: the core's trajectory matcher, the per-tensor optimizer, the CPU budget."""
    return Recipe(name=name, modality="image_text", method=method, summary=summary, paper=paper, config_cls=config_cls,
                  make_matcher=make_trajectory_matcher, make_optimizer=image_text_optimizer,  # type: ignore[arg-type]
                  budgets={"cpu": CPU_BUDGET})
