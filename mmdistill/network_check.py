"""Does a network take a set's samples? One probe for every place that asks before training starts: the evaluation's
networks (:func:`mmdistill.classification.check_evaluation_networks`) and a NAS proxy's candidates
(``benchmarks/nas_candidates.check_candidates``).

The network is built and run once on two samples of the data's shape on PyTorch's ``meta`` device (no memory, no
arithmetic: 720 ConvNets of DC's space cost nothing), and on the CPU under ``no_grad`` only when it does something the
meta device cannot (reads a value, draws from a CPU generator) or really fails there, so the CPU tells the two apart.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import reinitialize_fault


def network_takes(build: Callable[[], nn.Module], shape: tuple[int, ...], num_classes: int, dtype: torch.dtype) -> nn.Module:
    """The network ``build()`` makes, once it has mapped two samples (2, *``shape``) of ``dtype`` to logits
    (2, ``num_classes``) (on the meta device, else the CPU). A ConfigError ``build`` raises (an unknown network, an option
    it does not take) is raised as is; a ValueError says what the output was when it is not such logits; whatever the
    network raised on the samples is raised too (the caller names the network and the setting that chose it)."""
    try:
        with torch.device("meta"):
            net = build()
            out = net(torch.empty((2, *shape), dtype=dtype))
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - an operation the meta device lacks, or a real mismatch: the CPU tells them apart
        with torch.no_grad():
            net = build()
            out = net(torch.zeros((2, *shape), dtype=dtype))
    if not isinstance(out, Tensor):
        raise ValueError(f"it returns a {type(out).__name__}, not a tensor of logits (N, {num_classes})")
    if tuple(out.shape) != (2, num_classes):
        raise ValueError(f"it gives outputs of shape {tuple(out.shape)[1:]} per sample, not ({num_classes},)")
    return net


def untrainable(net: nn.Module, dtype: torch.dtype) -> str | None:
    """Why an evaluation cannot train ``net`` on samples of ``dtype`` (the meta device lets a float64 or bfloat16 layer
    take float32 samples, and each run redraws the parameters: :func:`~mmdistill.nets.reinitialize`); None when it can.
    Integer samples (token or item ids) are not compared: an embedding turns them into its own floats."""
    other = [(n, t.dtype) for n, t in [*net.named_parameters(), *net.named_buffers()]
             if dtype.is_floating_point and t.is_floating_point() and t.dtype != dtype]  # (token ids: an embedding's floats)
    if other:
        return f"its {other[0][0]!r} is {other[0][1]}, the samples are {dtype}: build it in {dtype} (no .double() or .half())"
    return reinitialize_fault(net)


__all__ = ["network_takes", "untrainable"]
