"""Distribution matching (DM) as a method family: its keys, declared once, and the matcher a recipe gets from
its context (any classification modality; graphs plug their embeddings into the same core matcher)."""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.compile import maybe_compile
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.matchers.distribution import DistributionMatching


@dataclass
class DistributionMatchingConfig:
    """DM defaults (reference main_DM.py): 20,000 iterations, lr 1.0 (SGD, momentum 0.5) on the samples,
    256 real samples per class per iteration, real initialisation, DSA while matching and evaluating,
    1,000 evaluation epochs, 20 evaluation networks. ``dm_loss="mmd"`` swaps the mean-embedding distance
    for a Gaussian-kernel MMD.

    A mixin of keys: a recipe's config lists it first and its modality's config (a ``DistillConfig``)
    second, ``class Config(DistributionMatchingConfig, ImageDistillConfig)``, so these defaults win over
    the base ones and the modality's own defaults (its ``dataset``) stay."""

    iterations: int = 20000
    lr_data: float = 1.0
    momentum_data: float = 0.5
    batch_real: int = 256
    init: str = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000
    eval_runs: int = 20
    dm_loss: str = "mean"
    checkpoint_every: int = 500
    real_chunk: int | None = None
    """real samples per forward of the real side; None: the device type's measured default (on a CPU as many
    samples as 256 28x28 images have positions, one batch on a GPU: ``matchers.distribution.default_real_chunk``),
    0: one batch. Speed only."""

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]  (the modality's DistillConfig)
        if self.real_chunk is not None and self.real_chunk < 0:
            raise ConfigError(f"real_chunk must be >= 0 (0: one batch) or None (the device's default), got {self.real_chunk}")
        if self.dm_loss not in ("mean", "mmd"):
            raise ConfigError(f"dm_loss must be 'mean' or 'mmd', got {self.dm_loss!r}")


def make_dm_matcher(ctx: MatchContext) -> DistributionMatching:
    cfg: DistributionMatchingConfig = ctx.config
    return DistributionMatching(
        net=ctx.net, reinit=ctx.reinit, real=ctx.data.train, batch_real=cfg.batch_real, augment=ctx.augment,
        loss=cfg.dm_loss, decode=ctx.modality.decode, embed=maybe_compile(ctx.net.embed, cfg.compile),
        real_chunk=cfg.real_chunk,
    )


__all__ = ["DistributionMatchingConfig", "make_dm_matcher"]
