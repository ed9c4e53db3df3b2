"""Generic networks shared by several modalities, registered by name.

Every network maps ``x`` of shape (N, *in_shape) to logits (N, num_classes) and exposes
``embed(x) -> (N, D)``, the features before the classifier (used by distribution matching and herding).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import torch
from torch import nn

from mmdistill.errors import ConfigError

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


def register_network(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``fn(in_shape, num_classes, **kw) -> nn.Module`` under ``name`` (lowercase)."""

    def deco(fn: Builder) -> Builder:
        _REGISTRY[name.lower()] = fn
        return fn

    return deco


def list_networks() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def build_network(name: str, in_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    """The network registered as ``name`` for samples of shape ``in_shape`` (e.g. (1, 28, 28))."""
    _load_builtin()
    key = name.lower().replace("-", "").replace("_", "")
    if key not in _REGISTRY:
        raise ConfigError(f"unknown network {name!r}; known networks: {', '.join(sorted(_REGISTRY))}")
    fn = _REGISTRY[key]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for k in kw:
            if k not in params:
                allowed = [p for p in params if p not in ("in_shape", "num_classes")]
                raise ConfigError(f"network {name!r} has no option {k!r}; its options: {', '.join(allowed) or 'none'}")
    return fn(tuple(in_shape), int(num_classes), **kw)


@torch.no_grad()
def reinitialize(net: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter in place with PyTorch's default initialisation, from ``generator``.

    Conv and linear layers: kaiming-uniform(a=sqrt(5)) weights and U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    biases (``reset_parameters``); norm layers: weight 1, bias 0, running statistics reset. Deterministic
    for a given generator state; torch's global RNG is not touched.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            # kaiming_uniform_(a=sqrt(5)) has bound gain*sqrt(3/fan_in) = sqrt(2/6)*sqrt(3/fan_in) = 1/sqrt(fan_in)
            _uniform_(m.weight, bound, generator)
            if m.bias is not None:
                _uniform_(m.bias, bound, generator)
        elif isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()


def _uniform_(t: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    t.copy_((torch.rand(t.shape, generator=generator) * 2 - 1).mul_(bound).to(t.device, t.dtype))


def _load_builtin() -> None:
    from mmdistill.nets import classic, convnet  # noqa: F401  (registration side effects)


__all__ = ["build_network", "list_networks", "register_network", "reinitialize"]
