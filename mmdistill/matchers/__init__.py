"""Matching objectives: gradient (DC/DSA), distribution (DM), trajectory (MTT/TESLA). Each drives one outer
iteration.

A matcher exposes ``step(syn, optimizer, generator) -> dict of floats`` and draws every random number from
``generator``, so the outer loop can resume bit-for-bit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mmdistill.errors import DivergenceError


def check_loss(value: float) -> None:
    """Raise :class:`DivergenceError` for a non-finite matching loss (before the set is touched)."""
    if not math.isfinite(value):
        raise DivergenceError(f"the matching loss became {value}; the synthetic set was not updated")


def step_checked(optimizer: torch.optim.Optimizer) -> None:
    """Step ``optimizer`` from the gradients already in ``.grad``, refusing non-finite ones."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and not torch.isfinite(p.grad).all():
                raise DivergenceError("a gradient of the synthetic set is not finite; the set was not updated")
    optimizer.step()


def apply_update(loss: Tensor, optimizer: torch.optim.Optimizer) -> float:
    """Back-propagate ``loss`` and step ``optimizer``; refuse a non-finite loss before touching the set."""
    value = float(loss.detach().item())
    check_loss(value)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    step_checked(optimizer)
    return value
