"""The keys of trajectory matching (MTT, TESLA), declared once for every modality."""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.errors import ConfigError
from mmdistill.experts import ExpertTraining


@dataclass
class TrajectoryConfig:
    """Keys of trajectory matching (mixed into a recipe's config after the modality's config class).

    Expert training (MTT's buffer.py): ``num_experts`` networks, ``expert_train_epochs`` epochs each, plain SGD
    with ``lr_teacher`` (``momentum_teacher``, ``weight_decay_teacher``), batch ``batch_train``, the DSA strategy
    on real samples when ``expert_dsa``. ``buffer``: directory of the experts (default ``<out>/experts``; trained
    there when it holds none).

    Matching (MTT's distill.py): ``syn_steps`` student steps starting at a random epoch below
    ``max_start_epoch``, matched ``expert_epochs`` later; ``lr_data`` moves the synthetic data (momentum 0.5),
    ``lr_lr`` the learnable step size initialised to ``lr_teacher``; ``batch_syn`` samples per student step
    (None = all); ``method``: ``mtt`` (unrolled) or ``tesla`` (constant memory, same gradient).
    ``eval_lr_from_set``: evaluation networks train the distilled set with its learned step size (MTT's protocol).
    """

    method: str = "mtt"
    num_experts: int = 100
    expert_train_epochs: int = 50
    lr_teacher: float = 0.01
    momentum_teacher: float = 0.0
    weight_decay_teacher: float = 0.0
    batch_train: int = 256
    expert_dsa: bool = True
    syn_steps: int = 20
    expert_epochs: int = 3
    max_start_epoch: int = 20
    lr_lr: float = 1e-5
    batch_syn: int | None = None
    divergence: float = 1e3
    eval_lr_from_set: bool = True

    def check_trajectory(self) -> None:
        """Validate the trajectory keys (call from the recipe config's ``__post_init__``)."""
        if self.method not in ("mtt", "tesla"):
            raise ConfigError(f"method must be 'mtt' or 'tesla', got {self.method!r}")
        for key in ("num_experts", "expert_train_epochs", "syn_steps", "expert_epochs", "max_start_epoch", "batch_train"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.max_start_epoch - 1 + self.expert_epochs > self.expert_train_epochs:
            raise ConfigError(
                f"max_start_epoch ({self.max_start_epoch}) - 1 + expert_epochs ({self.expert_epochs}) must not exceed "
                f"expert_train_epochs ({self.expert_train_epochs})"
            )
        if self.lr_teacher <= 0 or self.lr_lr < 0:
            raise ConfigError(f"lr_teacher must be > 0 and lr_lr >= 0, got {self.lr_teacher}, {self.lr_lr}")

    def expert_training(self) -> ExpertTraining:
        return ExpertTraining(
            num_experts=self.num_experts, epochs=self.expert_train_epochs, lr=self.lr_teacher, momentum=self.momentum_teacher,
            weight_decay=self.weight_decay_teacher, batch_size=self.batch_train,
            augment=self.dsa_strategy if self.expert_dsa else "none", seed=self.seed,  # type: ignore[attr-defined]
        )


#: keys of :class:`TrajectoryConfig` that do not change the distillation (evaluation only)
TRAJECTORY_EVAL_KEYS = ("eval_lr_from_set",)


__all__ = ["TRAJECTORY_EVAL_KEYS", "TrajectoryConfig"]
