"""Low-rank adaptation (LoRA; Hu et al. 2021) as a weight parametrization.

:func:`add_lora` freezes a module and adds ``W + (alpha / r) * B A`` to the weight of each linear layer,
convolution and attention input projection (``nn.MultiheadAttention.in_proj_weight``): ``A`` (r, fan_in) is
drawn like a linear layer's weight, ``B`` (fan_out, r) starts at zero, so the adapted module starts equal to
the original. Only ``A`` and ``B`` require gradients; ``torch.func.functional_call`` sees them under
``<layer>.parametrizations.<weight>.0.lora_a`` / ``lora_b`` (the frozen weight under ``...original``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from mmdistill.errors import ConfigError


class LoRADelta(nn.Module):
    """Parametrization ``weight -> weight + scale * (B @ A).view_as(weight)`` for a weight of shape
    (fan_out, ...) with fan_in = the product of the other dimensions."""

    def __init__(self, weight_shape: torch.Size, rank: int, alpha: float) -> None:
        super().__init__()
        fan_out, fan_in = int(weight_shape[0]), int(math.prod(weight_shape[1:]))
        self.lora_a = nn.Parameter(torch.empty(rank, fan_in))
        self.lora_b = nn.Parameter(torch.zeros(fan_out, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = float(alpha) / rank

    def forward(self, weight: Tensor) -> Tensor:
        return weight + (self.scale * (self.lora_b @ self.lora_a)).view_as(weight)


def add_lora(module: nn.Module, rank: int, alpha: float = 1.0) -> list[str]:
    """Freeze ``module`` and give its linear, convolution and attention-projection weights LoRA factors
    of rank ``rank``; returns the names of the new trainable parameters. Raises ConfigError when the
    module has no such layer."""
    if rank < 1:
        raise ConfigError(f"LoRA rank must be >= 1, got {rank}")
    for p in module.parameters():
        p.requires_grad_(False)
    targets: list[tuple[nn.Module, str]] = []
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and not parametrize.is_parametrized(m, "weight"):
            targets.append((m, "weight"))
        elif isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            targets.append((m, "in_proj_weight"))
    if not targets:
        raise ConfigError(f"{type(module).__name__} has no linear, convolution or attention layer to adapt with LoRA")
    for m, name in targets:
        weight = getattr(m, name)
        delta = LoRADelta(weight.shape, rank, alpha).to(device=weight.device, dtype=weight.dtype)
        parametrize.register_parametrization(m, name, delta, unsafe=True)
    return [n for n, p in module.named_parameters() if p.requires_grad]


__all__ = ["LoRADelta", "add_lora"]
