"""Independent jobs at the same time on Python threads, torch's intra-op threads shared among them.

One training step of a small network does not keep two CPU cores busy: its kernels are too short for
intra-op parallelism to pay (a 100-sample step of ConvNet-3 on 8×8 images runs 1.4× faster on 2 threads
than on 1, not 2×). Evaluation trains many independent networks, so on a CPU they train side by side
instead: ``threads`` Python threads, each with ``torch.get_num_threads() // threads`` intra-op threads
(torch's kernels release the GIL). Each job's numbers are those of the same job run alone with that many
intra-op threads — bit for bit, whatever the scheduling — as long as a job draws no randomness from torch's
global generator (the caller's guarantee: a network without dropout, augmentation seeded from the job's own
generator) and does not write shared state.
"""

from __future__ import annotations

import copy
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

import torch
from torch import nn

from mmdistill.augment import DSA
from mmdistill.dc_augment import DCAugment

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the most threads a device default uses (each concurrent job holds its network and activations)
MAX_DEFAULT_THREADS = 8

#: modules whose forward draws from torch's global generator in training mode
GLOBAL_RANDOM_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def default_threads(device: torch.device | str) -> int:
    """Jobs at the same time on ``device`` when the config leaves it open: on a CPU one per intra-op thread
    (at most :data:`MAX_DEFAULT_THREADS`; 1 under torchrun's one thread per process), elsewhere 1 (a GPU
    queues the kernels of one job at a time; its runs are vectorised instead)."""
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), MAX_DEFAULT_THREADS))


def draws_global_randomness(net: nn.Module, sample_shape: Sequence[int] | None = None) -> bool:
    """Whether ``net`` draws from torch's global generator when training: it has a dropout module, or, given
    ``sample_shape`` (one sample's shape), a training-mode forward of a copy of ``net`` on two zero samples moves the
    global generator of its device (``F.dropout`` in a ``forward``, ``nn.RReLU``, stochastic depth, a noise layer: a
    user's own network). The probe leaves ``net`` and the generators' states as they were; a network the probe cannot
    run (another input type) counts by its modules alone."""
    if any(isinstance(m, GLOBAL_RANDOM_MODULES) for m in net.modules()):
        return True
    return sample_shape is not None and _forward_moves_global_rng(net, tuple(int(s) for s in sample_shape))


def _forward_moves_global_rng(net: nn.Module, sample_shape: tuple[int, ...]) -> bool:
    ref = next(net.parameters(), None)
    device = ref.device if ref is not None else torch.device("cpu")
    if device.type not in ("cpu", "cuda"):
        return False
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else None

    def states() -> list[torch.Tensor]:
        return [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if device.type == "cuda" else [])

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        before = states()
        try:
            with torch.no_grad():
                copy.deepcopy(net).train()(torch.zeros((2, *sample_shape), device=device, dtype=dtype))
        except Exception:  # not a network of (N, *sample_shape) tensors: its modules alone decide
            return False
        return any(not torch.equal(a, b) for a, b in zip(before, states()))


def training_draws_global_rng(make_net: Callable[[torch.Generator], nn.Module], augment: Any,
                              sample_shape: Sequence[int] | None = None) -> bool:
    """Whether training ``make_net``'s network with ``augment`` draws from torch's global generator: dropout (a
    module, or with ``sample_shape`` any draw of a training-mode forward: :func:`draws_global_randomness`), or an
    augmentation that is not seeded from the run's own generator (DSA, DC's and no augmentation are). Builds one
    network, with the global RNG restored after."""
    if augment is not None and not isinstance(augment, (DSA, DCAugment)):
        return True
    with torch.random.fork_rng(devices=[]):
        return draws_global_randomness(make_net(torch.Generator().manual_seed(0)), sample_shape)


#: per job thread, the stop event of the :func:`run_jobs` call it runs for (set while that call stops its jobs: Ctrl-C
#: or SIGTERM in the calling thread, or a job that failed); each call has its own, so one call never stops another's
_JOB = threading.local()


class JobsStopped(Exception):
    """Raised at a :func:`stop_point` of a job thread while :func:`run_jobs` stops; the caller sees the cause instead."""


def stop_point() -> None:
    """A place where a long job may end early (between two training steps or epochs): raises :class:`JobsStopped` in a
    job of a :func:`run_jobs` call on threads once that call stops; nothing elsewhere (jobs run one after the other on the
    calling thread get a Ctrl-C directly)."""
    stopping = getattr(_JOB, "stopping", None)
    if stopping is not None and stopping.is_set():
        raise JobsStopped("stopped: the jobs were interrupted or one of them failed")


def run_jobs(jobs: Sequence[Callable[[], T]], threads: int, on_done: Callable[[int], None] | None = None) -> list[T]:
    """``[job() for job in jobs]``, up to ``threads`` at a time; ``on_done(i)`` is called on the calling
    thread as job ``i`` finishes (progress). With ``threads`` ≤ 1 or a single job the jobs run here, one
    after the other, with all intra-op threads. Otherwise torch's intra-op thread count is divided among the
    threads for the duration and restored after. The first job that raises, or a Ctrl-C / SIGTERM here
    (KeyboardInterrupt), stops the jobs: those not yet started never start, the running ones end at their next
    :func:`stop_point` (a training step), and the exception is raised here once they have."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads == 1 or len(jobs) <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(job())
            if on_done is not None:
                on_done(i)
        return out
    threads = min(threads, len(jobs))
    total = torch.get_num_threads()
    share = max(1, total // threads)
    log.debug("%d jobs on %d threads, %d intra-op thread(s) each", len(jobs), threads, share)
    torch.set_num_threads(share)  # a new thread takes the process's count at its first torch call
    pool, stopping = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mmdistill-job"), threading.Event()

    def in_call(job: Callable[[], T]) -> T:  # the job's stop points answer to this call's event
        _JOB.stopping = stopping
        try:
            return job()
        finally:
            _JOB.stopping = None

    try:
        futures = {pool.submit(in_call, job): i for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)  # (FIRST_EXCEPTION waits for all when none fails)
            for fut in done:
                if fut.exception() is not None:
                    raise fut.exception()  # type: ignore[misc]
                if on_done is not None:
                    on_done(futures[fut])
        by_index = {i: fut.result() for fut, i in futures.items()}
    except BaseException:
        stopping.set()  # the running jobs end at their next stop point; the queued ones are cancelled
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        stopping.set()  # (a second Ctrl-C during the wait above: the threads still stop)
        pool.shutdown(wait=True)
        torch.set_num_threads(total)
    return [by_index[i] for i in range(len(jobs))]


__all__ = ["GLOBAL_RANDOM_MODULES", "MAX_DEFAULT_THREADS", "JobsStopped", "default_threads", "draws_global_randomness", "run_jobs",
           "stop_point", "training_draws_global_rng"]
