"""Label modes of a synthetic set, for every matcher: hard class indices, or the soft (fixed) or learnable
logits of an expert of a trajectory buffer, and the same teacher as a labeller of real samples (the soft-label
baseline).

Soft labels are assigned once, before the first iteration, by expert 0 at ``label_expert_epoch``
(:func:`assign_expert_labels`); trajectory matching then relabels the set at every iteration as TESLA's
``distill.py --teacher_label`` does (:func:`expert_relabeller`): the logits of the iteration's drawn expert at its
target epoch ``start + expert_epochs`` on the current synthetic samples, whose softmax is the student's target.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.buffer import ExpertBuffer, ParamLayout, buffer_finished
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.expert_runs import expert_spec, open_buffer, trajectory_network
from mmdistill.matchers.trajectory import Relabel, expert_logits
from mmdistill.methods.trajectory_keys import TrajectoryKeys
from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)


def label_source(buffer: ExpertBuffer, expert: int, epoch: int) -> dict[str, Any]:
    """``syn.meta["soft_label_source"]``: the teacher of a set's soft labels (buffer folder, expert, epoch, network), which
    :func:`soft_labeler` rebuilds to label the random-real soft-label baseline."""
    return {"buffer": str(buffer.path), "expert": int(expert), "epoch": int(epoch), "network": buffer.network}


def assign_expert_labels(ctx: MatchContext, syn: SyntheticSet, buffer: ExpertBuffer, mode: str, epoch: int) -> None:
    """Soft (fixed) or learnable labels for ``syn``: the logits (K, C) of expert 0 at ``epoch`` (-1: its last
    epoch) on the synthetic samples, once (trajectory matching relabels soft labels every iteration after this:
    :func:`expert_relabeller`). The source is recorded in ``syn.meta`` so evaluation can label a random real
    subset with the same teacher."""
    if mode not in ("soft", "learnable"):
        raise ConfigError(f"label_mode must be 'hard', 'soft' or 'learnable', got {mode!r}")
    epoch = buffer.epochs if epoch < 0 else epoch
    if epoch > buffer.epochs:
        raise ConfigError(f"label_expert_epoch {epoch} is beyond the experts' {buffer.epochs} epochs")
    flat = buffer.rows(0, [epoch])[0].to(ctx.device)
    net = trajectory_network(ctx)
    logits = expert_logits(net, ParamLayout.of(net), flat, ctx.modality.decode(syn).detach())
    syn.soft_labels = logits.detach().clone()
    syn.label_mode = mode
    syn.meta["soft_label_source"] = label_source(buffer, 0, epoch)


def expert_relabeller(net: nn.Module, decode: Callable[[SyntheticSet], Tensor], buffer: ExpertBuffer) -> Relabel:
    """TESLA's soft labels (``distill.py --teacher_label``) as trajectory matching's per-iteration
    :data:`~mmdistill.matchers.trajectory.Relabel`: ``syn.soft_labels`` (K, C) become the logits of ``net`` (eval
    mode) with the drawn expert's target parameters (P,) on the current decoded samples (no augmentation, no
    gradient); the student's target is their softmax (:class:`~mmdistill.task.ClassificationTask`), the set keeps
    the last iteration's labels for evaluation, and ``syn.meta["soft_label_source"]`` names that teacher (expert,
    epoch) for the random-real soft-label baseline. Draws no randomness, so a resumed run relabels as an
    uninterrupted one."""
    layout = ParamLayout.of(net)

    def relabel(syn: SyntheticSet, expert: int, epoch: int, target: Tensor) -> None:
        if syn.soft_labels is None or syn.label_mode != "soft":
            raise ConfigError(f"per-iteration relabelling needs a set with soft labels, this one has {syn.label_mode!r} labels")
        x = decode(syn).detach()
        logits = expert_logits(net, layout, target.to(x.dtype), x)
        with torch.no_grad():
            syn.soft_labels.copy_(logits.to(syn.soft_labels.dtype))
        syn.meta["soft_label_source"] = {**label_source(buffer, expert, epoch), "every_iteration": True}

    return relabel


def apply_label_mode(ctx: MatchContext, buffer: ExpertBuffer | None = None) -> None:
    """Honour the config's labels (:meth:`~mmdistill.schema.ConfigKeys.label_spec`) for any matcher: hard labels stay; soft and learnable labels come from an
    expert of ``buffer`` (or of the configured one)."""
    cfg, syn = ctx.config, ctx.syn
    spec = cfg.label_spec()
    if spec.mode == "hard" or syn is None:
        return
    if buffer is None:
        buffer = open_buffer(ctx, train_if_missing=isinstance(cfg, TrajectoryKeys))
    assign_expert_labels(ctx, syn, buffer, spec.mode, spec.expert_epoch)


def soft_labeler(syn: SyntheticSet, modality: Any, cfg: Any, data: Any, device: torch.device) -> Callable[[Tensor], Tensor] | None:
    """``label(x) -> logits`` with the teacher that gave ``syn`` its soft labels, or None when the set has hard
    labels or its buffer is not on this machine (then the soft-label baseline is skipped)."""
    source = syn.meta.get("soft_label_source")
    if not source or syn.label_mode == "hard":
        return None
    path = Path(source["buffer"])
    if not buffer_finished(path):
        log.warning("the soft-label teacher's buffer %s is not here; skipping the random-real soft-label baseline", path)
        return None
    net = modality.matching_network(cfg, data).to(device)
    buffer = ExpertBuffer(path)
    buffer.check(expert_spec(cfg, data, net))
    flat = buffer.rows(int(source["expert"]), [int(source["epoch"])])[0].to(device)
    layout = ParamLayout.of(net)
    return lambda x: expert_logits(net, layout, flat, x.to(device))


__all__ = ["apply_label_mode", "assign_expert_labels", "expert_relabeller", "label_source", "soft_labeler"]
