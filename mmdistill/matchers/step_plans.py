"""Student-step plans of trajectory matching: which synthetic samples each of an iteration's student steps
trains on, and its augmentation seed (drawn once, so TESLA's reverse sweep replays the same steps)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from mmdistill.seeding import draw_seed


@dataclass
class StepPlan:
    """What each student step uses: sample indices and an augmentation seed (drawn once, replayed by TESLA)."""

    indices: list[Tensor] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)


def plan_steps(num_samples: int, steps: int, batch: int, gen: torch.Generator) -> StepPlan:
    """Minibatches as in the MTT reference: shuffle the set, split it into chunks of ``batch``, take chunks
    from the end, reshuffle when they run out."""
    plan, chunks = StepPlan(), []
    for _ in range(steps):
        if not chunks:
            chunks = list(torch.split(torch.randperm(num_samples, generator=gen), batch))
        plan.indices.append(chunks.pop())
        plan.seeds.append(draw_seed(gen))
    return plan


def plan_group_steps(groups: Tensor, steps: int, batch: int | None, gen: torch.Generator) -> StepPlan:
    """Minibatches of groups of interchangeable samples: shuffle the groups, split them into chunks of
    ``batch`` groups (None: all), take chunks from the end (reshuffling when they run out) and give each chosen
    group one member drawn uniformly. ``groups`` (K,) holds each sample's group id (any integers). This is the
    video static/dynamic reference's student batch (``distill_s2d_ms.py``: every synthetic clip slot once per
    step, with one random static and one random dynamic memory of it)."""
    ids = torch.unique(groups)
    members = [torch.nonzero(groups == g).flatten() for g in ids.tolist()]
    plan, chunks = StepPlan(), []
    for _ in range(steps):
        if not chunks:
            chunks = list(torch.split(torch.randperm(len(members), generator=gen), batch or len(members)))
        chosen = chunks.pop().tolist()
        picks = torch.randint(1 << 62, (len(chosen),), generator=gen)
        plan.indices.append(torch.stack([members[g][int(r) % len(members[g])] for g, r in zip(chosen, picks)]))
        plan.seeds.append(draw_seed(gen))
    return plan


__all__ = ["StepPlan", "plan_group_steps", "plan_steps"]
