"""Trajectory matching (MTT, TESLA) as a method family: the matcher a recipe gets from its context.

The buffer (trained when missing), one learnable step size per trajectory part, the labels and the
adapter's student objective go into the core :class:`~mmdistill.matchers.trajectory.TrajectoryMatching`.
A modality takes part by implementing :class:`~mmdistill.modality.TrajectoryModality`.
"""

from __future__ import annotations

from mmdistill.buffer import ParamLayout
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.expert_runs import open_buffer, trajectory_modality
from mmdistill.labels import apply_label_mode
from mmdistill.matchers.trajectory import TrajectoryMatching, add_step_size
from mmdistill.methods.trajectory_keys import ClassificationTrajectoryKeys, TrajectoryKeys
from mmdistill.modality import TrajectoryPart


def make_trajectory_matcher(ctx: MatchContext) -> TrajectoryMatching:
    """The recipe's matcher: the buffer (trained when missing), the learnable step size, labels, the student."""
    cfg, syn, modality = ctx.config, ctx.syn, ctx.modality
    if syn is None:
        raise ConfigError("trajectory matching needs the synthetic set in the match context")
    buffer = open_buffer(ctx, train_if_missing=True)
    modality = trajectory_modality(modality, "be distilled by trajectory matching")
    layout = ParamLayout.of(ctx.net)
    parts = modality.trajectory_parts(cfg, layout)
    for part in parts:
        if part.step_key not in syn.data:
            add_step_size(syn, part.initial_step, part.step_key)
    apply_label_mode(ctx, buffer)
    return TrajectoryMatching(
        student=modality.student(cfg, ctx.net, ctx.task, ctx.augment),
        layout=layout, buffer=buffer, syn_steps=cfg.syn_steps, expert_epochs=cfg.expert_epochs,
        max_start_epoch=cfg.max_start_epoch, batch_syn=cfg.batch_syn, method=cfg.method, divergence=cfg.divergence,
        device=ctx.device, segments={p.name: p.params for p in parts}, step_sizes={p.name: p.step_key for p in parts},
        workers=ctx.workers,
    )


__all__ = ["ClassificationTrajectoryKeys", "TrajectoryKeys", "TrajectoryPart", "make_trajectory_matcher"]
