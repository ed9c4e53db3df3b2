"""Gradient matching (DC, DSA) as a method family: its keys, declared once, and the matcher a recipe gets
from its context (any classification modality; graphs plug their own losses into the same core matcher)."""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.errors import ConfigError
from mmdistill.matchers.gradient import GradientMatching, dc_loops
from mmdistill.context import MatchContext


@dataclass
class GradientMatchingConfig:
    """DC defaults (Zhao et al., ICLR 2021; reference code VICO-UoE/DatasetCondensation), a mixin of keys:
    a recipe lists it before its modality's config, ``class Config(GradientMatchingConfig, ImageDistillConfig)``.

    ``outer_loop``/``inner_loop`` = 0 take the paper's values for the IPC (1: 1/1, 10: 10/50, 20: 20/25,
    30: 30/20, 40: 40/15, 50: 50/10). ``lr_net`` and ``batch_train`` drive the inner network training.
    """

    iterations: int = 1000
    lr_data: float = 0.1
    momentum_data: float = 0.5
    batch_real: int = 256
    init: str = "noise"
    lr_net: float = 0.01
    batch_train: int = 256
    outer_loop: int = 0
    inner_loop: int = 0
    dis_metric: str = "ours"
    eval_epochs: int = 300
    eval_runs: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]  (the modality's DistillConfig)
        if self.outer_loop < 0 or self.inner_loop < 0:
            raise ConfigError("outer_loop and inner_loop must be >= 0 (0 = the paper's value for the ipc)")
        if self.dis_metric not in ("ours", "mse", "cos"):
            raise ConfigError(f"dis_metric must be 'ours', 'mse' or 'cos', got {self.dis_metric!r}")

    def loops(self) -> tuple[int, int]:
        outer, inner = dc_loops(self.ipc)  # type: ignore[attr-defined]
        return (self.outer_loop or outer, self.inner_loop or inner)


def make_gradient_matcher(ctx: MatchContext) -> GradientMatching:
    cfg: GradientMatchingConfig = ctx.config
    outer, inner = cfg.loops()
    return GradientMatching(
        net=ctx.net, reinit=ctx.reinit, real=ctx.data.train, task=ctx.task, outer_loop=outer, inner_loop=inner,
        lr_net=cfg.lr_net, batch_real=cfg.batch_real, batch_train=cfg.batch_train, augment=ctx.augment,
        dis_metric=cfg.dis_metric, decode=ctx.modality.decode,
    )


__all__ = ["GradientMatchingConfig", "make_gradient_matcher"]
