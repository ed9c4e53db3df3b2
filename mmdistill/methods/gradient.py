"""Gradient matching (DC, DSA, GCond) as a method family: its keys, declared once, and the matcher a recipe
gets from its context (any classification modality; graphs plug their own losses into the same core matcher)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.context import MatchContext
from mmdistill.keys import key
from mmdistill.matchers.gradient import GradientMatching
from mmdistill.schema import ClassShardKeys, ConfigKeys, RealBatchKeys, RealChunkKeys


@dataclass
class GradientKeys(ConfigKeys):
    """Gradient matching (DC, DSA, GCond): loops and gradient distance.

    Recipes take ``outer_loop`` and
    ``inner_loop`` from a table (DC: ``tables/dc.yaml`` by IPC; GCond: ``tables/gcond.yaml`` by dataset)."""

    outer_loop: int = key(10, help="synthetic updates per outer iteration (each after re-matching the gradients)", unit="updates",
                          range="[1, inf)")
    inner_loop: int = key(50, help="training steps of the matching network between synthetic updates", unit="steps", range="[0, inf)")
    dis_metric: Literal["ours", "mse", "cos"] = key("ours", help="gradient distance: ours (DC's layer-wise cosine), mse or cos")


@dataclass
class GradientMatchingConfig(GradientKeys, RealBatchKeys, RealChunkKeys, ClassShardKeys):
    """DC's inner network training (Zhao et al., ICLR 2021; reference code VICO-UoE/DatasetCondensation).

    A mixin of keys with DC's defaults:
    a recipe lists it before its modality's config, ``class Config(GradientMatchingConfig, ImageDistillConfig)``.

    ``lr_net`` and ``batch_train`` drive the inner network training on the synthetic set; the loops per IPC
    come from ``tables/dc.yaml``."""

    lr_net: float = key(0.01, help="learning rate of the matching network's inner training", unit="SGD step size", range="(0, inf)")
    batch_train: int = key(256, help="minibatch of the matching network's inner training on the synthetic set", unit="samples",
                           range="[1, inf)")
    iterations: int = 1000
    lr_data: float = 0.1
    momentum_data: float = 0.5
    batch_real: int = 256
    init: Literal["real", "noise"] = "noise"
    eval_epochs: int = 300
    eval_runs: int = 20


def make_gradient_matcher(ctx: MatchContext) -> GradientMatching:
    """The :class:`GradientMatching` matcher of ``ctx``: its network, task and augmentation on the real training split,
    with ``outer_loop``, ``inner_loop``, ``lr_net``, ``batch_real``, ``batch_train``, ``dis_metric``, ``real_chunk`` and
    ``shard_classes`` of ``ctx.config`` (a :class:`GradientMatchingConfig`)."""
    cfg: GradientMatchingConfig = ctx.config
    return GradientMatching(
        net=ctx.net, reinit=ctx.reinit, real=ctx.data.train, task=ctx.task, outer_loop=cfg.outer_loop, inner_loop=cfg.inner_loop,
        lr_net=cfg.lr_net, batch_real=cfg.batch_real, batch_train=cfg.batch_train, augment=ctx.augment,
        dis_metric=cfg.dis_metric, decode=ctx.modality.decode, real_chunk=cfg.real_chunk, per_class=cfg.shard_classes,
        workers=ctx.workers,
    )


__all__ = ["GradientKeys", "GradientMatchingConfig", "make_gradient_matcher"]
