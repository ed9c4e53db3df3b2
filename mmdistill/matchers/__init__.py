"""Matching objectives: gradient (DC/DSA), distribution (DM), trajectory (MTT/TESLA). Each drives one outer
iteration.

A matcher exposes ``step(syn, optimizer, generator) -> dict of floats`` and draws every random number from
``generator``, so the outer loop can resume bit-for-bit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mmdistill.distributed import Workers, all_reduce_grads, all_reduce_sum
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


def apply_sharded_update(local_loss: Tensor, unit_losses: Tensor, optimizer: torch.optim.Optimizer, workers: Workers) -> float:
    """One update of a class-sharded objective: back-propagate this rank's part ``local_loss`` (the sum of
    the units it owns), sum the gradients over the ranks and step ``optimizer`` on every rank.

    ``unit_losses`` (U,) holds this rank's units' values and zeros elsewhere; its sum over the ranks, summed
    in unit order, is the loss (the same value on any number of processes). The gradients are exact sums:
    every synthetic sample belongs to one unit, so one rank alone gives it a non-zero gradient. A non-finite
    loss is refused on every rank before the set is touched."""
    units = all_reduce_sum(unit_losses.detach().double(), workers)
    value = float(units.sum().item())
    check_loss(value)
    optimizer.zero_grad(set_to_none=True)
    if local_loss.requires_grad:
        local_loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    all_reduce_grads(params, workers)
    step_checked(optimizer)
    return value
