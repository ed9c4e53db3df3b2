"""keep_freed_memory: when it applies, that the entry points call it, and that it changes no number."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from mmdistill import host_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a few SGD steps of a small ConvNet; prints its weights' checksum and the process's minor page faults
_TRAIN = """
import json, resource, sys, torch
from mmdistill.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
torch.set_num_threads(1)
from mmdistill.nets import build_network
net = build_network("convnet", (1, 8, 8), 10)
x, y = torch.randn(100, 1, 8, 8), torch.randint(0, 10, (100,))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
print(json.dumps({"applied": applied, "faults": faults, "weights": [p.double().sum().item() for p in net.parameters()]}))
"""


@pytest.fixture
def fresh(monkeypatch):
    """The module as if nothing had called it yet in this process, with no user malloc tuning."""
    monkeypatch.setattr(host_memory, "_applied", None)
    for name in (host_memory.OPT_OUT_VARIABLE, *host_memory.USER_TUNING_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_opt_out_and_user_tuning_leave_malloc_alone(fresh):
    calls = []
    fresh.setattr(host_memory.ctypes, "CDLL", lambda *a: calls.append(a))
    fresh.setenv("MMDISTILL_HOST_MALLOC", "default")
    assert host_memory.keep_freed_memory() is False
    fresh.setattr(host_memory, "_applied", None)
    fresh.delenv("MMDISTILL_HOST_MALLOC")
    fresh.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert host_memory.keep_freed_memory() is False
    assert calls == []  # the C library was never asked


def test_the_answer_is_kept_for_the_process(fresh):
    fresh.setenv("MMDISTILL_HOST_MALLOC", "default")
    assert host_memory.keep_freed_memory() is False
    fresh.delenv("MMDISTILL_HOST_MALLOC")
    assert host_memory.keep_freed_memory() is False  # decided once per process


def test_entry_points_call_it(monkeypatch):
    """The command and a recipe's ``main`` each call it once, through their shared start (``logs.start_entry_point``)."""
    import mmdistill.cli as cli
    from mmdistill.recipes import image_dm

    calls = []
    monkeypatch.setattr(host_memory, "keep_freed_memory", lambda: calls.append("called"))
    assert cli.main(["recipes"]) == 0
    assert calls == ["called"]  # the command's start
    assert image_dm.RECIPE.main(["--dataset", "no-such-dataset"]) != 0  # fails on the argument, after the call
    assert calls == ["called", "called"]  # and the recipe's


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_same_numbers_fewer_page_faults():
    out = {}
    for mode in ("default", "keep"):
        proc = subprocess.run([sys.executable, "-c", _TRAIN, mode], capture_output=True, text=True, check=True,
                              env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["keep"]["applied"] is True and out["default"]["applied"] is False
    assert out["keep"]["weights"] == out["default"]["weights"]  # bit-equal: only where the memory comes from changed
    assert out["keep"]["faults"] < out["default"]["faults"] / 2, out
