"""The optimizer of a synthetic set: one SGD with a parameter group per kind of learnable tensor.

Each group names, under :data:`RATE_KEY`, the config key that sets its learning rate (``lr_data``, ``lr_lr``, a
recipe's own ``lr_dynamic`` ...): :func:`rate_keys` reads them back, so a divergence can name the keys to lower.
A recipe with its own optimizer tags its groups the same way."""

from __future__ import annotations

from typing import Any

import torch

from mmdistill.matchers.trajectory import step_size_keys
from mmdistill.synthetic import SyntheticSet

RATE_KEY = "rate_key"  # a parameter group's entry: the config key that sets the group's learning rate


def synthetic_optimizer(syn: SyntheticSet, cfg: Any, data_lrs: dict[str, tuple[str, float]] | None = None) -> torch.optim.Optimizer:
    """SGD with momentum ``momentum_data`` over the set's groups: data at ``lr_data`` (or, for a tensor of
    ``syn.data`` listed in ``data_lrs`` as ``{tensor key: (config key, rate)}``, at the rate a recipe gives it),
    the student step sizes at ``cfg.step_size_lr()`` (``lr_lr``; MTT: all momentum 0.5), learnable labels at
    ``cfg.label_spec().lr`` (``lr_labels``). Every group is tagged with its config key (:data:`RATE_KEY`)."""
    steps = step_size_keys(syn)
    own: dict[str, tuple[str, float]] = dict(data_lrs or {})
    data = [t for k, t in syn.data.items() if k not in steps and k not in own]
    groups: list[dict[str, Any]] = [{"params": data, "lr": cfg.lr_data, RATE_KEY: "lr_data"}] if data else []
    groups += [{"params": [syn.data[k]], "lr": lr, RATE_KEY: name} for k, (name, lr) in own.items() if k in syn.data]
    if steps:
        groups.append({"params": [syn.data[k] for k in steps], "lr": cfg.step_size_lr(), RATE_KEY: "lr_lr"})
    if syn.label_mode == "learnable" and syn.soft_labels is not None:
        groups.append({"params": [syn.soft_labels], "lr": cfg.label_spec().lr, RATE_KEY: "lr_labels"})
    return torch.optim.SGD(groups, lr=cfg.lr_data, momentum=cfg.momentum_data)


def rate_keys(optimizer: torch.optim.Optimizer) -> list[str]:
    """The config keys that set the learning rates of ``optimizer``'s groups (:data:`RATE_KEY`), in group order
    without repeats; empty when no group names one (an optimizer built outside the recipes)."""
    return list(dict.fromkeys(str(g[RATE_KEY]) for g in optimizer.param_groups if g.get(RATE_KEY)))


__all__ = ["RATE_KEY", "rate_keys", "synthetic_optimizer"]
