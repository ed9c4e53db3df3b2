"""Memory planning: the estimated peak memory of one outer iteration, checked against the device before a run.

An estimate is a sum of named terms in bytes (the synthetic set with its gradient and optimizer state, the
real data resident on the device, a real batch, the autograd graph of the synthetic side ...). The terms that
depend on the network are *measured*, not modelled: :func:`probe_network` runs the network on one and on two
samples and records what autograd saves for the backward pass (through ``saved_tensors_hooks``) and the
largest activation of a forward without a graph, so any network and any sample shape are covered without a
table per architecture. A matcher that can estimate itself exposes ``memory_estimate(syn, optimizer)``;
:func:`check_fits` refuses a run whose estimate exceeds the memory of its device, naming the keys that
shrink it. Per device: under torchrun each rank estimates its own share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ConfigError
from mmdistill.host_limits import BOUND_WORDS, memory_left

log = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of one iteration, as named terms; ``keys`` are the config keys that shrink it."""

    parts: dict[str, int]
    keys: tuple[str, ...] = ()
    resident: tuple[str, ...] = field(default_factory=tuple)
    """the terms held before the iteration starts (real data, network, the set itself)"""

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    @property
    def iteration(self) -> int:
        """The bytes the iteration adds to what is resident before it starts."""
        return int(sum(v for k, v in self.parts.items() if k not in self.resident))

    def describe(self) -> str:
        terms = ", ".join(f"{k} {v / MiB:.1f}" for k, v in sorted(self.parts.items(), key=lambda kv: -kv[1]))
        return f"{self.total / MiB:.1f} MiB ({terms} MiB)"


@dataclass(frozen=True)
class NetworkProbe:
    """What a network costs per sample: ``saved`` bytes autograd keeps for the backward of a forward with a
    graph (``saved_fixed`` + ``saved`` per sample), ``activation`` the largest intermediate output of one
    sample's forward without a graph (bytes)."""

    saved_fixed: int
    saved: int
    activation: int

    def graph(self, samples: int) -> int:
        """Bytes of the autograd graph of a forward over ``samples`` samples."""
        return self.saved_fixed + self.saved * samples if samples > 0 else 0


def _saved_bytes(forward: Callable[[Tensor], Tensor], x: Tensor) -> int:
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        # detached: the tensor itself (an output its own graph node saves) made a reference cycle through autograd's
        # C++ graph that Python's collector never frees, so every run kept the probe's graph and the network's
        # weights alive (torch's saved_tensors_hooks warning; walk 42C)
        return t.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward(x)
    return sum(seen.values()) + out.numel() * out.element_size()


def graph_bytes(build: Callable[[], Tensor]) -> int:
    """Bytes of the autograd graph ``build()`` makes: what it saves for the backward pass, and its output."""
    return _saved_bytes(lambda _: build(), torch.empty(0))


def probe_graph(step: Callable[[int], Tensor], sizes: tuple[int, int] = (1, 2)) -> tuple[int, int]:
    """``(fixed, per_sample)`` bytes of the autograd graph ``step(n)`` builds for ``n`` samples (what it saves
    for the backward pass, double-backward graphs included, and its output), from the two ``sizes`` of ``n``
    (a contrastive loss needs at least 2 samples)."""
    a, b = sizes
    sa, sb = graph_bytes(lambda: step(a)), graph_bytes(lambda: step(b))
    per = max(0, sb - sa) // (b - a)
    return max(0, sa - a * per), per


def _largest_activation(module: torch.nn.Module, forward: Callable[[Tensor], Tensor], x: Tensor) -> int:
    sizes = [x.numel() * x.element_size()]

    def hook(_m: torch.nn.Module, _i: object, out: object) -> None:
        if isinstance(out, Tensor):
            sizes.append(out.numel() * out.element_size())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.inference_mode():
            forward(x)
    finally:
        for h in handles:
            h.remove()
    return max(sizes)


def probe_network(module: torch.nn.Module, forward: Callable[[Tensor], Tensor], sample: Tensor) -> NetworkProbe:
    """Measure ``forward`` (e.g. ``net.embed``) of ``module`` on copies of ``sample`` (one sample, no batch
    dimension) that require gradients, as the synthetic side does."""
    one = sample.detach()[None].clone().requires_grad_(True)
    two = sample.detach()[None].expand(2, *sample.shape).clone().requires_grad_(True)
    s1, s2 = _saved_bytes(forward, one), _saved_bytes(forward, two)
    per = max(0, s2 - s1)
    return NetworkProbe(saved_fixed=max(0, s1 - per), saved=per, activation=_largest_activation(module, forward, one[:1].detach()))


def nbytes(tensors: Sequence[Tensor]) -> int:
    """Bytes of ``tensors``."""
    return int(sum(t.numel() * t.element_size() for t in tensors))


def optimizer_state_factor(optimizer: torch.optim.Optimizer) -> int:
    """Copies of each parameter an optimizer keeps besides the gradient (SGD with momentum 1, Adam 2)."""
    name = type(optimizer).__name__.lower()
    if "adam" in name:
        return 2
    return 1 if any(g.get("momentum", 0) for g in optimizer.param_groups) else 0


def device_memory(device: torch.device) -> int:
    """Bytes a run can use on ``device``: the GPU's free memory and what this process's allocator already holds there
    (other processes' memory on a shared GPU is not this run's), or the host's available memory."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device))
    return host_memory()


def host_memory() -> int:
    """Bytes of host memory this process can take now: ``MemAvailable``, or less where its control group (a container's
    or batch job's memory limit) or its virtual-memory limit (``ulimit -v``; torch alone maps 3-4 GiB of address space)
    leaves less (:func:`mmdistill.host_limits.memory_left`); 0: unknown, nothing to check against."""
    return memory_left()[0] or 0


def host_shortfall(need: int) -> int:
    """The host's available memory in bytes (:func:`host_memory`) when ``need`` bytes do not fit in it, else 0 (also when
    it is unknown: nothing to check against): what a loader compares its data's size with before reading it."""
    available = host_memory()
    return available if available and need > available else 0


def check_fits(estimate: MemoryEstimate, device: torch.device, *, capacity: int | None = None, enforce: bool = True,
               quiet: bool = False) -> None:
    """Log the estimate (at debug level when ``quiet``: a pre-check whose estimate is logged again later); ConfigError
    naming ``estimate.keys`` (and ``memory_check=false``) when ``enforce`` and it exceeds the device's memory
    (``capacity`` bytes, default :func:`device_memory`)."""
    available = device_memory(device) if capacity is None else capacity
    log.log(logging.DEBUG if quiet else logging.INFO, "estimated peak memory of one iteration on %s: %s", device, estimate.describe())
    if enforce and available and estimate.total > available:
        limit = BOUND_WORDS[memory_left()[1]] if capacity is None and device.type == "cpu" else ""
        raise ConfigError(
            f"one iteration needs about {estimate.total / MiB:.0f} MiB on {device}, which has {available / MiB:.0f} MiB {limit}"
            f"({estimate.describe()}); lower {', '.join(estimate.keys)}, spread the classes over processes "
            "(torchrun, shard_classes=true), or pass memory_check=false to try anyway")


__all__ = ["MemoryEstimate", "NetworkProbe", "check_fits", "device_memory", "host_memory", "host_shortfall", "nbytes", "optimizer_state_factor", "probe_graph",
           "probe_network"]
