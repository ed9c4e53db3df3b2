"""``resolve_device``: a device this machine or torch build cannot use is refused before any data is read, naming it."""

from __future__ import annotations

import pytest
import torch

from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_a_name_that_is_no_device_is_named():
    with pytest.raises(ConfigError, match=r"device 'gpu' is not a torch device \(use auto, cpu, cuda, cuda:0"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ConfigError, match=r"device 'cuda:0' was asked for but CUDA is not available here; use device=cpu"):
        resolve_device("cuda:0")


def test_the_meta_device_holds_no_data():
    with pytest.raises(ConfigError, match=r"device 'meta' holds no data"):
        resolve_device("meta")


@pytest.mark.parametrize("name", ["mps", "xpu"])
def test_a_backend_this_machine_lacks_is_refused_up_front(name, monkeypatch):
    """mps (what a Mac user tries) and xpu passed the check and failed at the first .to(device), after the data had
    loaded, with torch's own error (for mps about 2 KB of dispatch keys)."""
    backend = torch.backends.mps if name == "mps" else torch.xpu
    monkeypatch.setattr(backend, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=rf"device '{name}' was asked for but torch cannot use '{name}' here"):
        resolve_device(name)


def test_a_cuda_index_past_the_machines_devices_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"device 'cuda:2' was asked for but this machine has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")
