"""Shared fixtures: small generated data (never ../shared), fast CPU settings."""

from __future__ import annotations

import torch
import pytest

from mmdistill.data import LabeledTensors

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def blobs() -> LabeledTensors:
    """3 classes x 12 samples of 1x8x8 'images', class c brighter in row block c (learnable, tiny)."""
    g = torch.Generator().manual_seed(0)
    xs, ys = [], []
    for c in range(3):
        x = 0.3 * torch.randn(12, 1, 8, 8, generator=g)
        x[:, :, 2 * c : 2 * c + 3, :] += 1.5
        xs.append(x)
        ys.append(torch.full((12,), c))
    return LabeledTensors(torch.cat(xs), torch.cat(ys), ["a", "b", "c"])
