"""The keys of trajectory matching (MTT, TESLA), declared once for every modality.

:class:`TrajectoryKeys` are the matching keys of any modality (image-text names its experts' protocol its own
way); :class:`ClassificationTrajectoryKeys` add the experts' protocol of a classification modality (MTT's
``buffer.py``) and evaluation with the learned step size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from mmdistill.errors import ConfigError
from mmdistill.experts import ExpertTraining
from mmdistill.keys import key
from mmdistill.schema import AugmentKeys, BufferKeys


@dataclass
class TrajectoryKeys(BufferKeys):
    """Trajectory matching (MTT, TESLA): the student, the experts, the step sizes.

    MTT's distill.py: ``syn_steps`` student steps starting at a random expert
    epoch below ``max_start_epoch``, matched ``expert_epochs`` later; ``lr_lr`` moves the learnable step size(s);
    ``batch_syn`` samples per student step (none = all); ``method``: ``mtt`` (unrolled) or ``tesla`` (constant
    memory, same gradient); ``eval_lr_from_set``: evaluation trains on the set with its learned step size(s).
    The experts: ``num_experts`` networks trained ``expert_train_epochs`` epochs, in
    ``buffer`` (default ``<out>/experts``; trained there when it holds none). Recipes take the matching keys
    from a table (``tables/mtt.yaml``, ``tables/lors.yaml`` ...)."""

    READS_BUFFER: ClassVar[bool] = True

    method: Literal["mtt", "tesla"] = key("mtt", help="mtt: the unrolled student's gradient; tesla: the same gradient in constant memory")
    num_experts: int = key(100, help="expert trajectories in the buffer", unit="experts", range="[1, inf)")
    expert_train_epochs: int = key(50, help="training epochs of each expert", unit="epochs", range="[1, inf)")
    syn_steps: int = key(20, help="student steps on the synthetic set per iteration", unit="steps", range="[1, inf)")
    expert_epochs: int = key(3, help="expert epochs the student's steps are matched to", unit="epochs", range="[1, inf)")
    max_start_epoch: int = key(20, help="the student starts at a random expert epoch below this", unit="epochs", range="[1, inf)")
    lr_lr: float = key(1e-5, help="learning rate of the learnable student step size(s)", unit="SGD step size", range="[0, inf)")
    batch_syn: int | None = key(None, help="synthetic samples per student step; none: the whole set", unit="samples", range="[1, inf)")
    divergence: float = key(1e3, help="a normalised trajectory distance above this stops the run (divergence)", range="(0, inf)")
    eval_lr_from_set: bool = key(True, help="evaluation trains on the set with its learned step size(s) (MTT's protocol)", resume=False)

    def check(self) -> None:
        super().check()
        if self.max_start_epoch - 1 + self.expert_epochs > self.expert_train_epochs:
            raise ConfigError(
                f"max_start_epoch ({self.max_start_epoch}) - 1 + expert_epochs ({self.expert_epochs}) must not exceed "
                f"expert_train_epochs ({self.expert_train_epochs}): the matched epoch must exist in the buffer; lower "
                "max_start_epoch or expert_epochs, or train longer experts (`mmdistill experts` checks it too: the buffer it "
                "trains serves the run, so pass the same keys to both)", key="max_start_epoch")

    def step_size_lr(self) -> float:
        return self.lr_lr

    def learned_lr_evaluation(self) -> bool:
        return self.eval_lr_from_set

    def expert_training(self) -> ExpertTraining:
        """How each expert is trained."""
        raise NotImplementedError(f"{type(self).__name__} must define expert_training()")

    def expert_augmentation(self) -> str | None:
        """The augmentation strategy of the experts' training (None: none)."""
        return None


@dataclass
class ClassificationTrajectoryKeys(TrajectoryKeys, AugmentKeys):
    """The experts' training on a classification modality (MTT's buffer.py).

    Plain SGD with ``lr_teacher``
    (``momentum_teacher``, ``weight_decay_teacher``), batch ``batch_train`` (none: sized from the training
    split, see :func:`mmdistill.expert_runs.experts_batch`), the DSA strategy on real samples when
    ``expert_dsa``. The student's learnable step size starts at ``lr_student``, or at ``lr_teacher`` when that is none:
    MTT's buffer.py and distill.py each have a ``--lr_teacher`` (the experts' rate, the step size's start), which its
    CIFAR-10 IPC-50 setting sets apart (experts 0.01, step size 0.001)."""

    lr_teacher: float = key(0.01, help="the experts' learning rate (also the student's initial step size unless lr_student)",
                            unit="SGD step size", range="(0, inf)")
    lr_student: float | None = key(None, help="the student's initial step size (MTT distill.py's --lr_teacher; learned with lr_lr); "
                                   "none: lr_teacher", unit="SGD step size", range="(0, inf)")
    momentum_teacher: float = key(0.0, help="the experts' SGD momentum", range="[0, 1)")
    weight_decay_teacher: float = key(0.0, help="the experts' weight decay", range="[0, inf)")
    batch_train: int | None = key(256, help="the experts' minibatch; none: sized so an epoch has >= 50 steps", unit="samples",
                                  range="[1, inf)")
    expert_dsa: bool = key(True, help="DSA on the real samples while training the experts")

    def expert_training(self) -> ExpertTraining:
        if self.batch_train is None:
            raise ConfigError("batch_train is not sized yet (expert_runs.resolve_batch_train sizes it from the data)", key="batch_train")
        return ExpertTraining(
            num_experts=self.num_experts, epochs=self.expert_train_epochs, lr=self.lr_teacher, momentum=self.momentum_teacher,
            weight_decay=self.weight_decay_teacher, batch_size=self.batch_train,
            augment=self.expert_augmentation() or "none", seed=self.seed,  # type: ignore[attr-defined]
        )

    def expert_augmentation(self) -> str | None:
        return self.dsa_strategy if self.expert_dsa else None


__all__ = ["ClassificationTrajectoryKeys", "TrajectoryKeys"]
