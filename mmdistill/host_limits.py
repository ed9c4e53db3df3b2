"""How much memory this process may still take on its host: the least of what the kernel reports available, what the
process's control group (a container's or a batch job's memory limit) leaves, and what its address-space limit
(``ulimit -v``) leaves; and how many CPUs its control group lets it use (:func:`cgroup_cpu_limit`).

``/proc/meminfo``'s ``MemAvailable`` is the whole machine's: inside ``docker run --memory 4g``, a Kubernetes pod or a
Slurm job with ``ConstrainRAMSpace`` it says the host's free gigabytes while the kernel kills the process at the
group's limit (the OOM killer: no message, no checkpoint written after the last). The group's room is its limit less
its working set: its charged memory less the inactive file pages the kernel reclaims before it kills (how ``docker
stats`` and the kubelet count it). Both cgroup layouts are read: v2 (``memory.max``, ``memory.current``,
``memory.stat``'s ``inactive_file``) and v1 (``memory.limit_in_bytes``, ``memory.usage_in_bytes``,
``total_inactive_file``), for the process's own group and every group above it (a limit may be set on a parent: a
job's, a user slice's). Linux only; elsewhere each part is None (unknown) and the caller checks nothing.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

#: where the cgroup file systems are mounted (the standard place; containers mount their own group there)
CGROUP_ROOT = Path("/sys/fs/cgroup")

log = logging.getLogger(__name__)

#: a v1 limit at or above this is "no limit" (the kernel writes PAGE_COUNTER_MAX pages rounded, about 2^63)
_V1_UNLIMITED = 1 << 62


def available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def address_space_limit() -> int | None:
    """This process's ``RLIMIT_AS`` (``ulimit -v``) in bytes, or None where there is none or it cannot be read."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):  # no resource module (Windows)
        return None
    return None if limit == resource.RLIM_INFINITY else int(limit)


def address_space_left() -> int | None:
    """Bytes of address space this process may still map under its ``RLIMIT_AS`` (``ulimit -v``: the limit less
    ``VmSize``), or None where there is no limit or it cannot be told. Past it torch's allocator fails ("can't allocate
    memory") whatever memory the host has free."""
    limit = address_space_limit()
    if limit is None:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            size = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return None
    return max(0, limit - size)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _stat_value(path: Path, key: str) -> int:
    """The value of ``key`` in a ``memory.stat`` file (0 when it is absent or unreadable)."""
    for line in (_read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _group_room(folder: Path, v2: bool) -> int | None:
    """Bytes the memory group ``folder`` has left under its own limit (limit less working set), or None where it has
    no limit or its files cannot be read."""
    limit_text = _read(folder / ("memory.max" if v2 else "memory.limit_in_bytes"))
    usage_text = _read(folder / ("memory.current" if v2 else "memory.usage_in_bytes"))
    if limit_text is None or usage_text is None or not limit_text.isdigit() or not usage_text.isdigit():
        return None  # v2's "max" (no limit), or not a memory group
    limit = int(limit_text)
    if not v2 and limit >= _V1_UNLIMITED:
        return None
    inactive = _stat_value(folder / "memory.stat", "inactive_file" if v2 else "total_inactive_file")
    working_set = max(0, int(usage_text) - inactive)
    return max(0, limit - working_set)


def _control_groups(proc_cgroup: str, root: Path, controller: str = "memory") -> list[tuple[Path, bool]]:
    """The groups of this process under ``controller`` (memory, cpu), its own first, then each one above it up to the
    mount's root, with whether each is cgroup v2, from the text of ``/proc/self/cgroup`` (``ID:CONTROLLERS:PATH`` lines; v2's is ``0::PATH``) and
    the cgroup mount ``root``. A group path of the host's that the container cannot see (v1 without a cgroup
    namespace) is read up to the mount's root, which holds the container's own group."""
    v1 = v2 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif controller in parts[1].split(","):
            v1 = parts[2]
    mount = root / controller
    if v1 is not None and not os.path.isdir(mount):  # v1 mounts cpu and cpuacct together as "cpu,cpuacct" (and links "cpu")
        mount = next((p for p in sorted(root.glob(f"*{controller}*")) if controller in p.name.split(",")), mount)
    base, rel, is_v2 = (mount, v1, False) if v1 is not None else (root, v2, True)
    if rel is None:
        return []
    folder = base / rel.lstrip("/")
    groups = [(folder, is_v2)]
    while folder != base and base in folder.parents:
        folder = folder.parent
        groups.append((folder, is_v2))
    return groups


def _least_over_groups(controller: str, value_of: Callable[[Path, bool], Any], proc_cgroup: str | None,
                       root: Path | None) -> Any:
    """The least ``value_of(folder, is_v2)`` over this process's groups of ``controller`` (its own and every one above
    it, :func:`_control_groups`), those giving None left out; None where none gives a value or none can be read."""
    text = _read(Path("/proc/self/cgroup")) if proc_cgroup is None else proc_cgroup
    if not text:
        return None
    values = [v for folder, v2 in _control_groups(text, CGROUP_ROOT if root is None else root, controller)
              if (v := value_of(folder, v2)) is not None]
    return min(values) if values else None


def cgroup_memory_left(proc_cgroup: str | None = None, root: Path | None = None) -> int | None:
    """Bytes this process's control group, and every group above it, still leaves before its memory limit (the least of
    them), or None where no group has a limit or none can be read (not Linux, no cgroup file system). ``proc_cgroup``:
    the text of ``/proc/self/cgroup`` (read when None); ``root``: the cgroup mount (:data:`CGROUP_ROOT`)."""
    return _least_over_groups("memory", _group_room, proc_cgroup, root)


def _group_cpus(folder: Path, v2: bool) -> float | None:
    """CPUs the group ``folder`` may use (its CFS quota over its period), or None where it has no quota."""
    if v2:
        quota, _, period = (_read(folder / "cpu.max") or "max").partition(" ")
    else:
        quota, period = _read(folder / "cpu.cfs_quota_us") or "-1", _read(folder / "cpu.cfs_period_us") or ""
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max", or not a cpu group
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(proc_cgroup: str | None = None, root: Path | None = None) -> float | None:
    """The CPUs this process's control group, and every group above it, lets it use (the least CFS quota over its
    period: ``docker run --cpus 2``, a pod's CPU limit, Slurm's ``--cpus-per-task`` with cgroup enforcement), or None
    where no group has a quota or none can be read. Arguments as :func:`cgroup_memory_left`."""
    return _least_over_groups("cpu", _group_cpus, proc_cgroup, root)


_WARNED: set[tuple[int, float]] = set()


def warn_threads_over_cpu_limit(threads: int, limit: float | None = None) -> bool:
    """Log a warning (once a process for a thread count and limit), and return True, when ``threads`` (torch's intra-op threads) exceed the CPUs the control group
    allows (``limit``; read with :func:`cgroup_cpu_limit` when None): torch sizes its thread pool by the machine's cores,
    not by a container's CPU quota, and threads beyond the quota wait for the scheduler's next period (a 0.5-CPU group:
    2 threads 1.6x slower than 1 on the same convolutions, measured here)."""
    limit = cgroup_cpu_limit() if limit is None else limit
    if limit is None:
        return False
    allowed = max(1, math.ceil(limit))
    if threads <= allowed or (threads, limit) in _WARNED:  # once a process, not every run
        return False
    _WARNED.add((threads, limit))
    log.warning("torch runs %d threads, but this process's control group allows %s CPU(s) (a container's --cpus or a job's "
                "CPU limit): the threads beyond it wait for their turn and the run slows down; set OMP_NUM_THREADS=%d (or "
                "torch.set_num_threads(%d))", threads, f"{limit:g}", allowed, allowed)
    return True


def memory_left() -> tuple[int | None, str]:
    """Bytes of memory this process may still take (the least of :func:`available_memory`, :func:`cgroup_memory_left`
    and :func:`address_space_left`; None: none is known) and what bounds it: ``""`` (the host's available memory),
    ``"cgroup"`` or ``"ulimit"``."""
    known = [(v, why) for v, why in ((available_memory(), ""), (cgroup_memory_left(), "cgroup"),
                                    (address_space_left(), "ulimit")) if v is not None]
    if not known:
        return None, ""
    return min(known, key=lambda item: item[0])


#: what a refusal adds after "which has N MiB", by what bounds the memory (:func:`memory_left`)
BOUND_WORDS = {"": "", "cgroup": "left under this process's control-group memory limit (a container's or job's) ",
               "ulimit": "left under this process's virtual-memory limit (ulimit -v) "}


__all__ = ["BOUND_WORDS", "CGROUP_ROOT", "address_space_left", "address_space_limit", "available_memory", "cgroup_cpu_limit", "cgroup_memory_left",
           "memory_left", "warn_threads_over_cpu_limit"]
