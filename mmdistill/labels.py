"""Label modes of a synthetic set, for every matcher: hard class indices, or the soft (fixed) or learnable
logits of an expert of a trajectory buffer (TESLA's soft-label assignment), and the same teacher as a
labeller of real samples (the soft-label baseline).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from mmdistill.buffer import ExpertBuffer, ParamLayout, buffer_finished
from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.expert_runs import expert_spec, open_buffer, trajectory_network
from mmdistill.matchers.trajectory import expert_logits
from mmdistill.methods.trajectory_keys import TrajectoryKeys
from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)


def assign_expert_labels(ctx: MatchContext, syn: SyntheticSet, buffer: ExpertBuffer, mode: str, epoch: int) -> None:
    """Soft (fixed) or learnable labels for ``syn``: the logits of expert 0 at ``epoch`` (-1: its last epoch)
    on the synthetic samples (TESLA's soft-label assignment). The source is recorded in ``syn.meta`` so
    evaluation can label a random real subset with the same teacher."""
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
    syn.meta["soft_label_source"] = {"buffer": str(buffer.path), "expert": 0, "epoch": epoch, "network": buffer.network}


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


__all__ = ["apply_label_mode", "assign_expert_labels", "soft_labeler"]
