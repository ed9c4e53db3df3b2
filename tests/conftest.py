"""Shared fixtures: small generated data (never ../shared), fast CPU settings."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Callable

import torch
import pytest

from mmdistill.data import LabeledTensors

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

#: the oldest pytest the suite runs on: from 9.1 caplog also listens on loggers that do not propagate, as the
#: "mmdistill" logger does once a test has run the CLI (logs.configure_logging); before, dozens of tests that read
#: caplog after a module's CLI run saw nothing (walk 48A, every dependency at its floor). pyproject's dev extra says so.
PYTEST_FLOOR = (9, 1)


def pytest_configure(config: pytest.Config) -> None:
    """One clear line, instead of dozens of caplog failures, on a pytest older than :data:`PYTEST_FLOOR`."""
    if tuple(pytest.version_tuple[:2]) < PYTEST_FLOOR:
        raise pytest.UsageError(f"the tests need pytest >= {'.'.join(map(str, PYTEST_FLOOR))} (caplog must hear the "
                                f"'mmdistill' logger, which does not propagate); this is pytest {pytest.__version__}: "
                                "pip install -e \".[dev]\"")


@pytest.fixture(autouse=True)
def _isolated_package_logging():
    """Each test starts with the ``mmdistill`` logger as the test before found it: the CLI's
    ``configure_logging`` binds a handler to the ``sys.stderr`` of its test (pytest's capture, closed when that
    test ends), and a later test's logs would otherwise go to that closed stream ("--- Logging error ---")."""
    import logging

    logger = logging.getLogger("mmdistill")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """``MMDISTILL_CACHE`` in a folder of the test session: the tests never read a cache the user's runs wrote
    (decoded clips, caption embeddings, pretrained learners) nor leave theirs in ``~/.cache``."""
    saved = os.environ.get("MMDISTILL_CACHE")
    os.environ["MMDISTILL_CACHE"] = str(tmp_path_factory.mktemp("mmdistill-cache"))
    yield
    if saved is None:
        os.environ.pop("MMDISTILL_CACHE", None)
    else:
        os.environ["MMDISTILL_CACHE"] = saved


@pytest.fixture
def drawn(monkeypatch):
    """The figures the pictures draw, laid out as save_figure lays them out but not written (tests/figure_checks.py)."""
    from figure_checks import drawn_figures

    yield from drawn_figures(monkeypatch)


@pytest.fixture
def blobs() -> LabeledTensors:
    """3 classes x 12 samples of 1x8x8 'images', class c brighter in row block c (learnable, tiny)."""
    g = torch.Generator().manual_seed(0)
    xs, ys = [], []
    for c in range(3):
        x = 0.3 * torch.randn(12, 1, 8, 8, generator=g)
        x[:, :, 2 * c : 2 * c + 3, :] += 1.5
        xs.append(x)
        ys.append(torch.full((12,), c))
    return LabeledTensors(torch.cat(xs), torch.cat(ys), ["a", "b", "c"])


def _run_process_group(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``args`` (one OpenMP thread, Python's fault handler on) in its own process group; on a time-out the whole
    group (torchrun's workers too) is killed and the test fails with the output's tail."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # a native abort prints every thread's Python stack
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{args} timed out:\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.fixture
def run_process_group() -> Callable[..., subprocess.CompletedProcess]:
    """:func:`_run_process_group`: a command (a torchrun launch or a plain process) run to completion."""
    return _run_process_group


KINETICS_TINY = Path(__file__).resolve().parents[2] / "shared" / "data" / "kinetics-tiny"
"""The real clips of ``../shared`` (never required: tests that use them skip without them)."""


@pytest.fixture
def kinetics_tiny_folder(tmp_path) -> Path:
    """``tmp_path/vids/<class>/<clip>``: the first 3 real kinetics-tiny clips of each class (spaces in class names
    become underscores), copied so a test may add or break files; skips when ``../shared`` is not beside the repo."""
    if not KINETICS_TINY.exists():
        pytest.skip(f"no real clips at {KINETICS_TINY}")
    root = tmp_path / "vids"
    picked: dict[str, int] = {}
    for r in csv.DictReader((KINETICS_TINY / "clips.csv").read_text().splitlines()):
        cls = r["label"].replace(" ", "_")
        if picked.get(cls, 0) < 3:
            (root / cls).mkdir(parents=True, exist_ok=True)
            shutil.copy(KINETICS_TINY / r["path"], root / cls / Path(r["path"]).name)
            picked[cls] = picked.get(cls, 0) + 1
    return root
