"""Optional ``torch.compile`` of the hot matching forward, falling back to eager where it fails."""

from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import Tensor


def maybe_compile(fn: Callable[[Tensor], Tensor], enabled: bool) -> Callable[[Tensor], Tensor]:
    """``torch.compile(fn)`` when ``enabled``; if compiling or the first compiled call fails (no C++
    compiler, unsupported op), warn once and use ``fn`` eagerly from then on."""
    if not enabled:
        return fn
    try:
        compiled = torch.compile(fn, dynamic=False)
    except Exception as exc:  # pragma: no cover - depends on the platform
        warnings.warn(f"torch.compile is unavailable ({exc}); running eagerly", stacklevel=2)
        return fn
    state = {"ok": True}

    def call(x: Tensor) -> Tensor:
        if state["ok"]:
            try:
                return compiled(x)
            except Exception as exc:  # compile errors surface at the first call
                state["ok"] = False
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); running eagerly", stacklevel=2)
        return fn(x)

    return call
