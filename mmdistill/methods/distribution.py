"""Distribution matching (DM) as a method family: its keys, declared once, and the matcher a recipe gets from
its context (any classification modality; graphs plug their embeddings into the same core matcher)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.compile import maybe_compile
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.matchers.distribution import ClassLoss, DistributionMatching
from mmdistill.schema import ClassShardKeys, RealBatchKeys, RealChunkKeys


@dataclass
class DistributionMatchingConfig(RealBatchKeys, RealChunkKeys, ClassShardKeys):
    """Distribution matching (DM): the embedding distance.

    DM's defaults (reference main_DM.py): 20,000 iterations, lr 1.0 (SGD, momentum 0.5) on the samples,
    256 real samples per class per iteration, real initialisation, DSA while matching and evaluating,
    1,000 evaluation epochs, 20 evaluation networks. ``dm_loss="mmd"`` swaps the mean-embedding distance
    for a Gaussian-kernel MMD.

    A mixin of keys: a recipe's config lists it first and its modality's config second,
    ``class Config(DistributionMatchingConfig, ImageDistillConfig)``, so these defaults win over the base
    ones and the modality's own defaults (its ``dataset``) stay."""

    dm_loss: Literal["mean", "mmd"] = key("mean", help="distance of the embeddings: mean (DM's mean embeddings) or mmd (Gaussian MMD)")
    compile: bool = key(False, help="torch.compile the embedding network (faster iterations on a GPU)")
    iterations: int = 20000
    lr_data: float = 1.0
    momentum_data: float = 0.5
    batch_real: int = 256
    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    eval_dsa: bool = True
    eval_epochs: int = 1000
    eval_runs: int = 20
    checkpoint_every: int = 500


def make_dm_matcher(ctx: MatchContext, loss: ClassLoss | None = None) -> DistributionMatching:
    """The :class:`DistributionMatching` matcher of ``ctx``: its network's ``embed`` (``torch.compile``-d when
    ``compile``) on the real training split, with ``batch_real``, ``dm_loss``, ``real_chunk`` and ``shard_classes`` of
    ``ctx.config`` (a :class:`DistributionMatchingConfig`). ``loss``, a distance of one class's real and synthetic
    embeddings (:data:`~mmdistill.matchers.distribution.ClassLoss`), replaces ``dm_loss``'s (any other value than the
    default is refused): another package's objective on DM's sampling, augmentation, chunks and class sharding."""
    cfg: DistributionMatchingConfig = ctx.config
    if loss is not None and cfg.dm_loss != "mean":  # the recipe's own distance replaces the key: a value asked for is not ignored
        fn = getattr(loss, "func", loss)  # a functools.partial: the function it binds
        raise ConfigError(f"dm_loss={cfg.dm_loss!r} does not apply: this recipe gives distribution matching its own distance "
                          f"({getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)})", key="dm_loss")
    if not callable(getattr(ctx.net, "embed", None)):
        raise ConfigError(f"network {cfg.network!r} ({type(ctx.net).__name__}) has no embed(x) -> (N, D) method, which "
                          "distribution matching matches the real and synthetic samples with: give it one (and a final "
                          "`classifier` nn.Linear, as mmdistill.nets describes), or choose another network", key="network")
    return DistributionMatching(
        net=ctx.net, reinit=ctx.reinit, real=ctx.data.train, batch_real=cfg.batch_real, augment=ctx.augment,
        loss=cfg.dm_loss if loss is None else loss, decode=ctx.modality.decode, embed=maybe_compile(ctx.net.embed, cfg.compile),
        real_chunk=cfg.real_chunk, per_class=cfg.shard_classes, workers=ctx.workers,
    )


__all__ = ["DistributionMatchingConfig", "make_dm_matcher"]
