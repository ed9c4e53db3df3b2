"""Matching objectives: gradient (DC/DSA), distribution (DM). Each drives one outer iteration.

A matcher exposes ``step(syn, optimizer, generator) -> dict of floats`` and draws every random number from
``generator``, so the outer loop can resume bit-for-bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmdistill.errors import DivergenceError


def apply_update(loss: Tensor, optimizer: torch.optim.Optimizer) -> float:
    """Back-propagate ``loss`` and step ``optimizer``; refuse a non-finite loss before touching the set."""
    value = float(loss.detach().item())
    if not torch.isfinite(loss.detach()):
        raise DivergenceError(f"the matching loss became {value}; the synthetic set was not updated")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and not torch.isfinite(p.grad).all():
                raise DivergenceError("a gradient of the synthetic set is not finite; the set was not updated")
    optimizer.step()
    return value
