"""A recipe called through the Python API leaves the calling process as it found it (walk 42C): its global
generators, torch's grad mode and default dtype, and no memory kept after the result is dropped."""

from __future__ import annotations

import gc
import random

import numpy as np
import pytest
import torch

from mmdistill import MmdistillError
from mmdistill.errors import InterruptedRun
from mmdistill.recipes import image_dm

KW = dict(dataset="digits", ipc=1, budget="cpu", iterations=2, eval_runs=1, eval_epochs=1, progress=False)


def _draws() -> tuple[float, float, float]:
    return torch.rand(1).item(), float(np.random.rand()), random.random()


def test_the_callers_global_generators_go_on_as_if_the_run_had_not_happened(tmp_path):
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    expected = _draws()
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    image_dm.run(out=tmp_path / "a", **KW)
    assert _draws() == expected
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    with pytest.raises(MmdistillError):  # a failing call too
        image_dm.run(out=tmp_path / "b", **dict(KW, dataset="mnist", data_root=str(tmp_path / "none")))
    assert _draws() == expected


def test_a_call_inside_no_grad_or_float64_gives_the_same_set_and_leaves_the_modes(tmp_path):
    plain = image_dm.run(out=tmp_path / "plain", **KW).manifest["synthetic_sha256"]
    with torch.no_grad():
        assert image_dm.run(out=tmp_path / "no-grad", **KW).manifest["synthetic_sha256"] == plain
        assert not torch.is_grad_enabled()
    with torch.inference_mode():
        assert image_dm.run(out=tmp_path / "inference", **KW).manifest["synthetic_sha256"] == plain
    torch.set_default_dtype(torch.float64)
    try:
        assert image_dm.run(out=tmp_path / "f64", **KW).manifest["synthetic_sha256"] == plain
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)


def _live_tensors() -> int:
    """Tensors the collector tracks, by their type: ``isinstance`` asks an object its ``__class__``, which a weak proxy
    whose object is gone answers with ReferenceError and a deprecated alias of torch.distributed with a FutureWarning."""
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def test_a_dropped_result_keeps_no_tensor_alive(tmp_path):
    image_dm.run(out=tmp_path / "warm", **KW)  # first-use caches, if any
    gc.collect()
    before = _live_tensors()
    for i in range(2):
        result = image_dm.run(out=tmp_path / str(i), **KW)
        del result
    gc.collect()
    assert _live_tensors() <= before


def test_a_stopped_run_is_no_error_that_except_mmdistillerror_catches():
    assert issubclass(InterruptedRun, KeyboardInterrupt)
    assert not issubclass(InterruptedRun, Exception) and not issubclass(InterruptedRun, MmdistillError)
