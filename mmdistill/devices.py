"""Which torch device a run uses."""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from typing import ContextManager, Iterator

import torch
from torch import nn

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
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} was asked for but this machine has {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); use one of them, or cuda")
    if dev.type == "meta":
        raise ConfigError(f"device {name!r} holds no data (torch's meta device); use auto, cpu, cuda, cuda:0 ...")
    if dev.type not in ("cpu", "cuda"):  # mps, xpu ...: torch knows the name; this build or machine may not have it
        backend = torch.backends.mps if dev.type == "mps" else getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        try:
            usable = bool(available()) if callable(available) else torch.empty(1, device=dev) is not None
        except (RuntimeError, AssertionError):
            usable = False
        if not usable:
            raise ConfigError(f"device {name!r} was asked for but torch cannot use {dev.type!r} here (not built in, or no such "
                              "device); use device=cpu or auto")
    return dev


_CUDNN_OFF = threading.Lock()
_cudnn_off: list = [0, True]  # blocks inside _cudnn_disabled now, and the setting before the first of them


@contextmanager
def _cudnn_disabled() -> Iterator[None]:
    """cuDNN off, every other cuDNN setting left as it is (``torch.backends.cudnn.flags`` would reset them too). The
    setting is process-wide: blocks that overlap (threads) share it, and the last one to leave restores it."""
    with _CUDNN_OFF:
        if _cudnn_off[0] == 0:
            _cudnn_off[1] = torch.backends.cudnn.enabled
        _cudnn_off[0] += 1
        torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        with _CUDNN_OFF:
            _cudnn_off[0] -= 1
            if _cudnn_off[0] == 0:
                torch.backends.cudnn.enabled = _cudnn_off[1]


def twice_differentiable(device: torch.device | str, *nets: object) -> ContextManager[None]:
    """Where to run forwards whose gradients are differentiated again (``create_graph=True`` steps that are unrolled):
    with cuDNN disabled when ``device`` is CUDA and one of ``nets`` holds a recurrent layer (``nn.RNNBase``: cuDNN's
    GRU/LSTM have no double backward, "Double backwards is not supported for CuDNN RNNs", the native kernels do);
    otherwise a null context, so convolutional networks keep cuDNN."""
    if torch.device(device).type == "cuda" and has_recurrent_layer(*nets):
        return _cudnn_disabled()
    return nullcontext()


def has_recurrent_layer(*nets: object) -> bool:
    """Whether one of ``nets`` (objects that are not modules are passed over) holds a GRU / LSTM / RNN
    (``nn.RNNBase``): no double backward through cuDNN's, no ``vmap`` batching rule."""
    return any(isinstance(m, nn.RNNBase) for net in nets if isinstance(net, nn.Module) for m in net.modules())


__all__ = ["has_recurrent_layer", "resolve_device", "twice_differentiable"]
