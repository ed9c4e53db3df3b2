"""Deterministic random streams.

Every iteration of the outer loop draws its randomness from a generator seeded by ``(seed, iteration)``,
so a resumed run draws exactly what an uninterrupted run would have drawn.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Iterable, Iterator

import numpy as np
import torch

from mmdistill.host_limits import warn_threads_over_cpu_limit
from mmdistill.keys import SEED_BOUND, check_bound
from mmdistill.stop_signals import signal_stack_while_running


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed derived from ``parts`` (stable across processes and Python versions)."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


def generator(*parts: int | str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` of ``parts``."""
    g = torch.Generator()
    g.manual_seed(derive_seed(*parts))
    return g


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global generators (for code outside mmdistill's control); a one-line
    ConfigError naming ``seed`` for a seed no 64-bit generator takes (nothing seeded then), worded as the config
    keys' own bound (:func:`mmdistill.keys.check_bound`)."""
    check_bound("seed", seed, "an integer >= -2^63", SEED_BOUND, shown_as="")
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def callers_global_rng() -> Iterator[None]:
    """The global generators of Python's ``random``, NumPy and torch (the CPU's, and those of the CUDA devices already
    initialised) restored after the block to what they were before it, however it ends: a run's
    :func:`seed_everything` seeds them for code outside mmdistill's control while it runs, and the calling program's
    own streams go on afterwards as if the run had not happened."""
    py_state, np_state = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda, _caller="callers_global_rng"):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@contextlib.contextmanager
def seeded_run(seed: int) -> Iterator[None]:
    """What a run (a distillation, an experts call) does to the calling process inside the block: the global
    generators seeded with ``seed`` (:func:`seed_everything`) and torch's modes set (:func:`run_torch_modes`), the
    caller's generators and modes given back after it (:func:`callers_global_rng`), and Python's signal handlers on
    their own stack while it runs, as under the command (:func:`~mmdistill.stop_signals.signal_stack_while_running`); a
    warning when torch's threads exceed the CPUs a control group allows (:func:`~mmdistill.host_limits.warn_threads_over_cpu_limit`)."""
    with callers_global_rng(), run_torch_modes(), signal_stack_while_running():
        warn_threads_over_cpu_limit(torch.get_num_threads())  # a container's CPU quota below torch's thread pool: said
        seed_everything(seed)
        yield


@contextlib.contextmanager
def run_torch_modes() -> Iterator[None]:
    """Torch's modes a run needs, whatever the calling program set, and the program's own back after the block:
    autograd on (a call made inside ``torch.no_grad()`` or ``torch.inference_mode()``, a notebook's evaluation cell,
    stopped with "element 0 of tensors does not require grad") and float32 as the default dtype (after
    ``torch.set_default_dtype(torch.float64)`` the networks were built in float64 against float32 data)."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        torch.set_default_dtype(dtype)


@contextlib.contextmanager
def seeded_global_rng(seed: int, devices: Iterable[torch.device | int] = ()) -> Iterator[None]:
    """Torch's global generators of the CPU and of the CUDA ``devices`` seeded with ``seed`` inside the block and
    restored after it (no other device touched): what code inside draws from them (dropout) follows ``seed``, not
    whatever ran before, and leaves the caller's stream as it was."""
    cuda = sorted({d if isinstance(d, int) else (d.index if d.index is not None else torch.cuda.current_device())
                   for d in devices if isinstance(d, int) or d.type == "cuda"})  # "cuda": the current GPU, as torch reads it
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for i in cuda:
            torch.cuda.default_generators[i].manual_seed(seed)
        yield


def draw_seed(gen: torch.Generator) -> int:
    """A non-negative integer seed drawn from ``gen`` (for sub-streams such as augmentation)."""
    return int(torch.randint(0, 2**62, (1,), generator=gen).item())
