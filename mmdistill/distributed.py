"""Processes sharing one run under ``torchrun`` (``torch.distributed``: gloo on CPU, nccl on GPU).

The work of a run is cut into *units* (an expert, a class of the synthetic set, a group of evaluation runs);
unit ``u`` belongs to rank ``u % world``, and every unit draws its randomness from a generator seeded by the
unit alone, so what a unit computes does not depend on how many processes there are. Results travel as
tensors only (sums in which exactly one rank holds a non-zero value, so the sum is exact; names as JSON
bytes), never pickled objects.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) everything here is a no-op for rank 0 of 1.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from mmdistill.errors import PeerLost


def _collective(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` (a ``torch.distributed`` collective); its failure, which under torchrun means another
    process stopped or cannot be reached (gloo: "Connection reset by peer", a timeout), is a :class:`PeerLost` naming
    that, not a traceback from inside torch."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError as exc:
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise PeerLost(detail=said) from exc


@dataclass(frozen=True)
class Workers:
    """This process's place among the processes sharing the work (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    """whether :func:`init_workers` created the process group (then :func:`close_workers` destroys it; a
    group the caller created is left to the caller)"""

    def mine(self, items: Iterable[int]) -> list[int]:
        """The items this rank owns: ``i % world == rank``."""
        return [i for i in items if i % self.world == self.rank]

    def owner(self, item: int) -> int:
        """The rank that owns ``item``."""
        return item % self.world

    @property
    def is_writer(self) -> bool:
        """Whether this rank writes the run's files (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            _collective(torch.distributed.barrier)

    def comm_device(self) -> torch.device:
        """Where tensors must be for a collective: the rank's GPU under nccl, else the CPU."""
        if self.world > 1 and torch.distributed.get_backend() == "nccl":
            return self.device
        return torch.device("cpu")


#: how long a collective waits for the other processes before it fails. Ranks wait for each other's uneven shares of
#: work (an evaluation network trained by some ranks only, a class of DC, rank 0 writing the memorisation check and
#: the set), and a video evaluation network of the paper's settings trains for more than torch's default (10 minutes
#: under nccl, 30 under gloo); a process that dies is noticed by torchrun at once, whatever this is. A group the caller
#: created keeps its own timeout.
GROUP_TIMEOUT = datetime.timedelta(hours=2)


def init_workers(device: torch.device) -> Workers:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1): nccl when ``device`` is a
    GPU (each rank on ``cuda:LOCAL_RANK``), gloo otherwise. Without torchrun: a single worker on ``device``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Workers(0, 1, device)
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    owns = not dist.is_initialized()
    if owns:
        global _JOINED
        dist.init_process_group(backend=backend, timeout=GROUP_TIMEOUT)
        _JOINED = True
    return Workers(rank, world, device, owns)


_JOINED = False  # whether init_workers created a process group in this process (end_process then skips teardown)


def end_process(code: int) -> int:
    """The end of a program (``mmdistill``'s command line) whose process joined a torchrun group through
    :func:`init_workers`: its output and logs flushed, it exits with ``code`` without the interpreter's teardown, in
    which torch's gloo objects now and then abort the process ("terminate called without an active exception", no
    Python frame left: 3 whole-suite runs of about 10 in two sessions, once after an image-tesla run), so that torchrun
    reported a finished run as failed. Without such a group it returns ``code``."""
    if not _JOINED:
        return code
    import logging
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by its reader
            pass
    logging.shutdown()
    os._exit(code)


def close_workers(workers: Workers) -> None:
    """Leave the process group (after the last collective of the run) if :func:`init_workers` created it."""
    if workers.world > 1 and workers.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def current_workers() -> Workers:
    """The workers of the process group this process has joined (rank 0 of 1 when none)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return Workers()
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    return Workers(dist.get_rank(), dist.get_world_size(), device)


def all_reduce_sum(t: Tensor, workers: Workers) -> Tensor:
    """The element-wise sum of ``t`` over the ranks (``t`` itself for one process), on ``t``'s device.

    Exact when, element by element, at most one rank holds a non-zero value (adding zeros rounds nothing)."""
    if workers.world <= 1:
        return t
    buf = t.detach().to(workers.comm_device()).clone()
    _collective(torch.distributed.all_reduce, buf, op=torch.distributed.ReduceOp.SUM)
    return buf.to(t.device)


def all_reduce_grads(params: Sequence[Tensor], workers: Workers) -> None:
    """Sum the ``.grad`` of ``params`` over the ranks, in place (one collective for all of them). A parameter
    no rank has a gradient for keeps ``None`` (an optimizer skips it, as in one process); one some rank has
    a gradient for gets the sum, the missing ones counting as zeros. Every rank then holds the same gradients."""
    if workers.world <= 1 or not params:
        return
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    flags = torch.tensor([p.grad is not None for p in params], dtype=parts[0].dtype, device=parts[0].device)
    flat = all_reduce_sum(torch.cat(parts + [flags]), workers)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype).clone()
        offset += n
    for p, present in zip(params, flat[offset:].tolist()):
        if present == 0:
            p.grad = None


class _SumOverRanks(torch.autograd.Function):
    """Forward: the sum of a per-rank part over the ranks (every rank gets the whole); backward: the
    gradient of a replicated result goes to each part as it is (the adjoint of :class:`_EnterRanks`)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        buf = x.detach().clone()
        _collective(torch.distributed.all_reduce, buf, op=torch.distributed.ReduceOp.SUM)
        return buf

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _EnterRanks.apply(grad)


class _EnterRanks(torch.autograd.Function):
    """Forward: a replicated tensor used by each rank's part as it is; backward: the parts' gradients summed
    over the ranks (the adjoint of :class:`_SumOverRanks`). Both are differentiable, so double backward works."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _SumOverRanks.apply(grad)


def sum_over_ranks(x: Tensor, workers: Workers) -> Tensor:
    """Differentiable sum of each rank's ``x`` (the same on every rank after); ``x`` itself for one process."""
    return _SumOverRanks.apply(x) if workers.world > 1 else x


def enter_ranks(x: Tensor, workers: Workers) -> Tensor:
    """``x`` (the same on every rank) as the input of a per-rank part: in the backward pass the parts'
    gradients are summed over the ranks, so ``x`` gets the whole gradient everywhere; ``x`` for one process."""
    return _EnterRanks.apply(x) if workers.world > 1 else x


def broadcast_json(value: object, workers: Workers, src: int = 0) -> object:
    """``value`` of rank ``src`` on every rank, sent as UTF-8 JSON bytes (no pickle); JSON-able values only."""
    if workers.world <= 1:
        return value
    dev = workers.comm_device()
    raw = json.dumps(value).encode() if workers.rank == src else b""
    size = torch.tensor([len(raw)], dtype=torch.long, device=dev)
    _collective(torch.distributed.broadcast, size, src)
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=dev)
    if workers.rank == src:
        buf.copy_(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    _collective(torch.distributed.broadcast, buf, src)
    return json.loads(bytes(buf.cpu().tolist()).decode())


__all__ = ["Workers", "all_reduce_grads", "all_reduce_sum", "broadcast_json", "close_workers", "current_workers",
           "end_process", "enter_ranks", "init_workers", "sum_over_ranks"]
