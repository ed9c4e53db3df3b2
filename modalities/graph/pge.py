"""GCond's adjacency generator (PGE): the synthetic adjacency as a function of the synthetic features.

``A'_ij = sigmoid((MLP([x'_i; x'_j]) + MLP([x'_j; x'_i])) / 2)`` for i != j and ``A'_ii = 0``: an MLP of
``layers`` linear layers (``hidden`` units, BatchNorm over all n^2 pairs and ReLU between them, one output)
on the concatenated features of every ordered pair, symmetrised before the sigmoid. Its weights are plain
tensors of the :class:`~mmdistill.synthetic.SyntheticSet` (``data["pge.<i>.weight"]`` ...), so the outer
loop optimises and checkpoints them with the features. BatchNorm always normalises with the statistics of
the current n^2 pairs (the reference never switches the generator to eval mode).

The first layer's product with a concatenated pair is computed per node and broadcast:
``W [x_i; x_j] = W_a x_i + W_b x_j``, which costs n·F·h instead of n²·2F·h.

At evaluation the adjacency is sparsified: entries below ``threshold`` become 0 (GCond: 0.05 on Cora and
CiteSeer, 0.01 elsewhere).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError

PREFIX = "pge."
BN_EPS = 1e-5


def init_pge(num_features: int, hidden: int, layers: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Fresh generator weights: linear layers as ``nn.Linear`` initialises them (U(±1/sqrt(fan_in)) for
    weight and bias), BatchNorm scale 1 and shift 0. Shapes: ``pge.0.weight`` (hidden, 2F), then
    (hidden, hidden) ..., last ``pge.{layers-1}.weight`` (1, hidden); ``pge.bn<i>.weight/bias`` (hidden,)."""
    if layers < 2:
        raise ConfigError(f"pge_layers must be >= 2 (GCond: 3), got {layers}")
    if hidden < 1:
        raise ConfigError(f"pge_hidden must be >= 1 (GCond: 128), got {hidden}")
    dims = [2 * num_features] + [hidden] * (layers - 1) + [1]
    out: dict[str, Tensor] = {}
    for i in range(layers):
        bound = 1.0 / math.sqrt(dims[i])
        out[f"{PREFIX}{i}.weight"] = (torch.rand(dims[i + 1], dims[i], generator=gen) * 2 - 1) * bound
        out[f"{PREFIX}{i}.bias"] = (torch.rand(dims[i + 1], generator=gen) * 2 - 1) * bound
        if i < layers - 1:
            out[f"{PREFIX}bn{i}.weight"] = torch.ones(hidden)
            out[f"{PREFIX}bn{i}.bias"] = torch.zeros(hidden)
    return out


def pge_weights(data: dict[str, Tensor]) -> dict[str, Tensor]:
    """The generator's tensors among a set's ``data`` (empty for a structure-free set)."""
    return {k: v for k, v in data.items() if k.startswith(PREFIX)}


def num_layers(weights: dict[str, Tensor]) -> int:
    """The number of linear layers in the generator's ``weights`` (``pge.0.weight``, ``pge.1.weight`` ... up to the
    first gap). ArtifactError if fewer than 2."""
    n = 0
    while f"{PREFIX}{n}.weight" in weights:
        n += 1
    if n < 2:
        raise ArtifactError(f"the adjacency generator needs >= 2 layers of weights, found {n} ({sorted(weights)})")
    return n


def generate_adjacency(x: Tensor, weights: dict[str, Tensor]) -> Tensor:
    """The dense synthetic adjacency (n, n) from features ``x`` (n, F): symmetric, entries in (0, 1), zero
    diagonal; differentiable in ``x`` and in every weight."""
    n, feat = x.shape
    layers = num_layers(weights)
    w0 = weights[f"{PREFIX}0.weight"]
    if w0.shape[1] != 2 * feat:
        raise ArtifactError(f"the adjacency generator expects {w0.shape[1] // 2} features per node, the set has {feat}")
    a = x @ w0[:, :feat].t()  # (n, h): the source half of every pair
    b = x @ w0[:, feat:].t()  # (n, h): the target half
    h = (a[:, None, :] + b[None, :, :]).reshape(n * n, -1) + weights[f"{PREFIX}0.bias"]
    for i in range(1, layers):
        h = F.batch_norm(h, None, None, weights[f"{PREFIX}bn{i - 1}.weight"], weights[f"{PREFIX}bn{i - 1}.bias"],
                         training=True, eps=BN_EPS)
        h = F.linear(F.relu(h), weights[f"{PREFIX}{i}.weight"], weights[f"{PREFIX}{i}.bias"])
    logits = h.reshape(n, n)
    adj = torch.sigmoid((logits + logits.t()) / 2)
    return adj * (1.0 - torch.eye(n, dtype=adj.dtype, device=adj.device))


def sparsify(adj: Tensor, threshold: float) -> Tensor:
    """``adj`` with entries below ``threshold`` set to 0 (GCond's evaluation-time sparsification)."""
    return torch.where(adj >= threshold, adj, torch.zeros_like(adj))


__all__ = ["PREFIX", "generate_adjacency", "init_pge", "num_layers", "pge_weights", "sparsify"]
