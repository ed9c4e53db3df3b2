"""Coreset baselines of the same budget as the synthetic set: random real subset and herding.

Both return indices into the real training set, ``ipc`` per class, class-major like a synthetic set.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from mmdistill.data import LabeledTensors
from mmdistill.errors import ConfigError


def random_subset(real: LabeledTensors, ipc: int, gen: torch.Generator) -> Tensor:
    """``ipc`` random real samples per class; returns indices (num_classes * ipc,)."""
    real.require_per_class(ipc)
    indices, _ = real.sample_per_class(ipc, gen)
    return indices


def herding_select(features: Tensor, k: int) -> Tensor:
    """Welling's herding: greedily pick ``k`` rows of ``features`` (n, D) whose running mean tracks the
    mean of all rows. Returns the picked row indices (k,), in selection order, without repeats."""
    mu = features.mean(dim=0)
    chosen: list[int] = []
    running = torch.zeros_like(mu)
    available = torch.ones(features.shape[0], dtype=torch.bool, device=features.device)
    for i in range(min(k, features.shape[0])):
        # the candidate whose addition brings the mean of the chosen set closest to mu
        cand = (running[None, :] * i + features) / (i + 1)
        dist = ((cand - mu[None, :]) ** 2).sum(dim=1)
        dist[~available] = float("inf")
        j = int(torch.argmin(dist))
        chosen.append(j)
        available[j] = False
        running = cand[j]
    return torch.tensor(chosen, dtype=torch.long)


@torch.no_grad()
def herding_subset(real: LabeledTensors, ipc: int, embed: Callable[[Tensor], Tensor], batch_size: int = 1024) -> Tensor:
    """Herding per class in the embedding space of ``embed`` (x (n, ...) -> (n, D)); returns indices
    (num_classes * ipc,), class-major, into ``real``. DataError naming the classes with fewer than ``ipc`` samples;
    ConfigError when ``embed`` returns anything but one D-vector per sample (flatten feature maps: ``.flatten(1)``)."""
    real.require_per_class(ipc)
    picks = []
    for idx in real.class_indices():
        feats = torch.cat([embed(real.x[idx[s : s + batch_size]]) for s in range(0, idx.numel(), batch_size)])
        if feats.dim() != 2 or feats.shape[0] != idx.numel():  # herding_select indexed a (n, C, H, W) map out of range
            raise ConfigError(f"herding_subset: embed must map x (n, ...) to (n, D); for {idx.numel()} samples it gave "
                              f"{tuple(feats.shape)} (feature maps: flatten them, lambda x: f(x).flatten(1))")
        picks.append(idx[herding_select(feats.float().cpu(), ipc)])
    return torch.cat(picks)
