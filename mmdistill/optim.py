"""The optimizer of a synthetic set: one SGD with a parameter group per kind of learnable tensor."""

from __future__ import annotations

from typing import Any

import torch

from mmdistill.matchers.trajectory import step_size_keys
from mmdistill.synthetic import SyntheticSet


def synthetic_optimizer(syn: SyntheticSet, cfg: Any, data_lrs: dict[str, float] | None = None) -> torch.optim.Optimizer:
    """SGD with momentum ``momentum_data`` over the set's groups: data at ``lr_data`` (or the rate
    ``data_lrs[key]`` a recipe gives a tensor of ``syn.data``), the student step sizes at ``cfg.step_size_lr()``
    (``lr_lr``; MTT: all momentum 0.5), learnable labels at ``cfg.label_spec().lr`` (``lr_labels``)."""
    steps = step_size_keys(syn)
    own: dict[str, float] = dict(data_lrs or {})
    data = [t for k, t in syn.data.items() if k not in steps and k not in own]
    groups: list[dict[str, Any]] = [{"params": data, "lr": cfg.lr_data}] if data else []
    groups += [{"params": [syn.data[k]], "lr": lr} for k, lr in own.items() if k in syn.data]
    if steps:
        groups.append({"params": [syn.data[k] for k in steps], "lr": cfg.step_size_lr()})
    if syn.label_mode == "learnable" and syn.soft_labels is not None:
        groups.append({"params": [syn.soft_labels], "lr": cfg.label_spec().lr})
    return torch.optim.SGD(groups, lr=cfg.lr_data, momentum=cfg.momentum_data)


__all__ = ["synthetic_optimizer"]
