"""Which torch device a run uses."""

from __future__ import annotations

import torch

from mmdistill.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU) or a torch device name; ConfigError for an unusable one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device (use auto, cpu, cuda, cuda:0 ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use device=cpu")
    return dev


__all__ = ["resolve_device"]
