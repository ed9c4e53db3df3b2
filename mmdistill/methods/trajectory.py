"""Trajectory matching (MTT, TESLA) as a method family: the matcher a recipe gets from its context.

The buffer (trained when missing), one learnable step size per trajectory part, the labels (soft labels
relabelled every iteration by the drawn expert, as TESLA's ``--teacher_label``) and the adapter's student
objective go into the core :class:`~mmdistill.matchers.trajectory.TrajectoryMatching`.
A modality takes part by implementing :class:`~mmdistill.modality.TrajectoryModality`.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mmdistill.buffer import ParamLayout, buffer_finished
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.expert_runs import buffer_dir, open_buffer, trajectory_modality, trajectory_network
from mmdistill.labels import apply_label_mode, expert_relabeller
from mmdistill.matchers.trajectory import TrajectoryMatching, add_step_size
from mmdistill.memory import check_fits
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys, TrajectoryKeys
from mmdistill.modality import TrajectoryModality, TrajectoryPart
from mmdistill.optim import synthetic_optimizer


def make_trajectory_matcher(ctx: MatchContext) -> TrajectoryMatching:
    """The recipe's matcher: the learnable step size, the buffer (trained when missing, after a memory check of the
    matching iteration), labels (soft ones relabelled every iteration, :func:`~mmdistill.labels.expert_relabeller`),
    the student."""
    cfg, syn = ctx.config, ctx.syn
    if syn is None:
        raise ConfigError("trajectory matching needs the synthetic set in the match context")
    modality = trajectory_modality(ctx.modality, "be distilled by trajectory matching")
    layout = ParamLayout.of(ctx.net)
    parts = modality.trajectory_parts(cfg, layout)
    for part in parts:
        if part.step_key not in syn.data:
            add_step_size(syn, part.initial_step, part.step_key)
    path = buffer_dir(cfg, ctx.out_dir)
    memory_check = getattr(cfg, "memory_check", True)
    if not buffer_finished(path) and (ctx.workers.world > 1 or memory_check):  # before hours of expert training
        early = _matcher(ctx, modality, layout, parts, _stand_in(cfg, layout, path))  # one stand-in matcher for both checks
        early.check_split(syn)  # minibatches every process can share (nothing to check for one process)
        if memory_check:
            check_memory_before_experts(ctx, early)
    buffer = open_buffer(ctx, train_if_missing=True)
    apply_label_mode(ctx, buffer)
    matcher = _matcher(ctx, modality, layout, parts, buffer)
    if syn.label_mode == "soft":  # TESLA's --teacher_label: the drawn expert's target labels the set every iteration
        matcher.relabel = expert_relabeller(trajectory_network(ctx), ctx.modality.decode, buffer)
    return matcher


def check_memory_before_experts(ctx: MatchContext, matcher: TrajectoryMatching) -> None:
    """Refuse a run whose matching iteration cannot fit its device *before* its experts are trained (hours at the
    papers' scale), not after: the estimate ``run.distill`` checks later, made now by ``matcher``, built with a
    stand-in for the buffer of the configured shape (:func:`_stand_in`; the estimate reads no expert). Logged at
    debug level; the later check logs it."""
    check_fits(matcher.memory_estimate(ctx.syn, synthetic_optimizer(ctx.syn, ctx.config)), ctx.device, quiet=True)


def _stand_in(cfg: Any, layout: ParamLayout, path: Path) -> SimpleNamespace:
    """A stand-in for the expert buffer of the configured shape, for checks made before its experts are trained
    (they read no expert)."""
    return SimpleNamespace(epochs=int(cfg.expert_train_epochs), num_params=layout.num_params, num_experts=int(cfg.num_experts),
                           path=f"{path} (not trained yet)")


def _matcher(ctx: MatchContext, modality: TrajectoryModality, layout: ParamLayout, parts: list[TrajectoryPart], buffer: Any) -> TrajectoryMatching:
    cfg = ctx.config
    return TrajectoryMatching(
        student=modality.student(cfg, ctx.net, ctx.task, ctx.augment),
        layout=layout, buffer=buffer, syn_steps=cfg.syn_steps, expert_epochs=cfg.expert_epochs,
        max_start_epoch=cfg.max_start_epoch, batch_syn=cfg.batch_syn, method=cfg.method, divergence=cfg.divergence,
        device=ctx.device, segments={p.name: p.params for p in parts}, step_sizes={p.name: p.step_key for p in parts},
        workers=ctx.workers,
    )


__all__ = ["ClassificationTrajectoryKeys", "TrajectoryKeys", "TrajectoryPart", "check_memory_before_experts", "make_trajectory_matcher"]
