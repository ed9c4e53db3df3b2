"""Cache-sized micro-batches: the same sums, computed a few samples at a time.

On a CPU a large batch of feature maps does not fit the caches, and the memory-bound kernels between the
convolutions (instance norm, activation, pooling and their backward) then run several times slower than on
the same samples in small pieces. Measured on a 2-core AMD EPYC (32 MiB L3) with ConvNet-3 (width 128,
instance norm) on 1x28x28 inputs, 2,560 samples forward without autograd: one batch 3.5 s, 256 at a time
3.4-3.6 s, 16 at a time 2.0-2.3 s; one training step on 100 samples: 384 ms in one batch, 255 ms in pieces
of 16 (``benchmarks/reference_speed.py``, docs/results.md). On a GPU one batch stays best.

Everything here is exact up to the order of float sums, because each sample's output depends on that sample
only (:func:`splits_exactly` checks the network: no BatchNorm in training mode, no active dropout), and a
mean loss is the size-weighted sum of its pieces' mean losses.

Chunks are sized in *positions* (samples x spatial/temporal positions of one sample) so that 8x8 digits go
196 at a time, 28x28 images 16, 3x32x32 images 12, and larger samples (spectrograms, clips) 8 at a time.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from mmdistill.concurrency import GLOBAL_RANDOM_MODULES

#: positions (samples x positions of a sample) per chunk by device type; 0 = one batch
CHUNK_POSITIONS_BY_DEVICE: dict[str, int] = {"cpu": 16 * 28 * 28, "cuda": 0}
#: fewest samples per chunk: one 1x128x56 spectrogram per call ran ~4x slower than one batch of 128 (per-call
#: costs dominate), so large samples still go at least this many at a time
MIN_CHUNK = 8

_SAMPLE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, *GLOBAL_RANDOM_MODULES)


def default_chunk(device: torch.device | str, sample_shape: Sequence[int]) -> int:
    """Samples per chunk for ``device``'s type and samples of ``sample_shape`` (C, ...): as many samples as
    hold :data:`CHUNK_POSITIONS_BY_DEVICE` positions (at least :data:`MIN_CHUNK`); 0 (one batch) on a GPU and
    on device types not measured."""
    budget = CHUNK_POSITIONS_BY_DEVICE.get(torch.device(device).type, 0)
    if budget <= 0:
        return 0
    positions = 1
    for s in tuple(sample_shape)[1:]:
        positions *= int(s)
    return max(MIN_CHUNK, budget // max(1, positions))


def splits_exactly(net: nn.Module) -> bool:
    """Whether ``net``'s outputs on a batch equal its outputs on the batch's pieces: no BatchNorm in training
    mode (batch statistics) and no dropout in training mode (one mask draw per call)."""
    return not any(isinstance(m, _SAMPLE_DEPENDENT) and m.training for m in net.modules())


def chunk_for(x: Tensor, requested: int | None = None, net: nn.Module | None = None) -> int:
    """Samples per chunk for the batch ``x`` (N, ...): ``requested`` when given (0: one batch), else the
    :func:`default_chunk` of ``x``'s device and sample shape; 0 when ``net`` is given and does not
    :func:`split exactly <splits_exactly>`."""
    if net is not None and not splits_exactly(net):
        return 0
    return default_chunk(x.device, x.shape[1:]) if requested is None else requested


def chunked_embed(embed: Callable[[Tensor], Tensor], x: Tensor, chunk: int) -> Tensor:
    """``embed(x)`` computed ``chunk`` samples at a time (``chunk`` <= 0 or >= N: one call), concatenated.
    With autograd on, each chunk keeps its graph and the backward runs chunk by chunk too."""
    pieces = _pieces(x.shape[0], chunk)
    return embed(x) if len(pieces) == 1 else torch.cat([embed(x[sl]) for sl in pieces])


def _pieces(n: int, chunk: int) -> list[slice]:
    if chunk <= 0 or n <= chunk:
        return [slice(0, n)]
    return [slice(s, min(s + chunk, n)) for s in range(0, n, chunk)]


def chunked_loss_backward(forward: Callable[[Tensor], Tensor], loss: Callable[[Tensor, Tensor], Tensor], x: Tensor,
                          targets: Tensor, chunk: int) -> float:
    """Accumulate into ``.grad`` the gradient of ``loss(forward(x), targets)`` (a mean over the N samples),
    ``chunk`` samples at a time; returns the loss's value. The caller zeroes the gradients first."""
    n = x.shape[0]
    total = 0.0
    for sl in _pieces(n, chunk):
        part = loss(forward(x[sl]), targets[sl]) * ((sl.stop - sl.start) / n)
        part.backward()
        total += float(part.detach())
    return total


def chunked_loss_grad(forward: Callable[[Tensor], Tensor], loss: Callable[[Tensor, Tensor], Tensor], x: Tensor,
                      targets: Tensor, params: Sequence[Tensor], chunk: int) -> list[Tensor]:
    """The gradient of ``loss(forward(x), targets)`` (a mean over the N samples) w.r.t. ``params``, computed
    ``chunk`` samples at a time, without a graph of its own (detached)."""
    n = x.shape[0]
    grads: list[Tensor] | None = None
    for sl in _pieces(n, chunk):
        part = loss(forward(x[sl]), targets[sl]) * ((sl.stop - sl.start) / n)
        g = torch.autograd.grad(part, list(params))
        grads = [a.detach() for a in g] if grads is None else [a + b.detach() for a, b in zip(grads, g)]
    assert grads is not None
    return grads


__all__ = ["CHUNK_POSITIONS_BY_DEVICE", "MIN_CHUNK", "chunk_for", "chunked_embed", "chunked_loss_backward", "chunked_loss_grad", "default_chunk",
           "splits_exactly"]
