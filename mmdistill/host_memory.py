"""Keep freed tensor memory inside the process on glibc hosts, so CPU training steps stop page-faulting.

torch's CPU tensors come from ``malloc``. glibc gives blocks above its mmap threshold (128 KiB, then the size of
the largest block freed so far) their own mapping and returns them to the kernel on ``free``, and it trims the
heap's top once more than twice that threshold is free. A training step allocates and frees the same
activation-sized blocks (a 100 × 128 × 8 × 8 float map is 3.2 MiB) every step, so every step maps fresh pages
and the kernel zero-fills them again on first touch: measured on a 2-core machine of this project, one
100-sample step of ConvNet-3 on 8×8 digits made about 3,000 minor page faults, and training 5 such networks
for 300 epochs made 5 million and spent 12 s of its 75 s of CPU time in the kernel (``benchmarks/host_allocator.py``).
:func:`keep_freed_memory` raises the mmap threshold to glibc's maximum and keeps freed memory on the heap
(``mallopt``); the process's peak memory is what it was, it is just not handed back between steps.
Values are untouched: the same kernels run on the same numbers (bit-equal results).

Entry points call it (``mmdistill`` and every recipe script); a library user may call it. It does nothing
when the C library is not glibc, when the user already tuned malloc (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or ``GLIBC_TUNABLES`` set), or with
``MMDISTILL_HOST_MALLOC=default``. ``benchmarks/host_allocator.py`` measures it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

#: largest mmap threshold glibc accepts on 64-bit hosts (HEAP_MAX_SIZE / 2): blocks below it come from the heap
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: free memory at the heap's top kept before trimming (above any one step's working set of small networks)
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
#: extra memory asked of the kernel whenever the heap grows (fewer, larger ``brk`` calls)
TOP_PAD_BYTES = 64 * 1024 * 1024

#: environment variable: ``default`` leaves glibc's malloc as it is
OPT_OUT_VARIABLE = "MMDISTILL_HOST_MALLOC"
#: variables through which a user tunes glibc's malloc themselves (their choice wins)
USER_TUNING_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")

_applied: bool | None = None


def _why_not() -> str | None:
    """The reason to leave malloc alone, or None."""
    if os.environ.get(OPT_OUT_VARIABLE, "").strip().lower() == "default":
        return f"{OPT_OUT_VARIABLE}=default"
    tuned = [name for name in USER_TUNING_VARIABLES if name in os.environ]
    if tuned:
        return f"malloc already tuned through {', '.join(tuned)}"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return "the C library is not glibc"
    return None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks in the process (see the module's docstring); once per process.

    Returns True when the settings are in force (now or from an earlier call), False when left alone."""
    global _applied
    if _applied is not None:
        return _applied
    reason = _why_not()
    if reason is not None:
        log.debug("host malloc left as it is: %s", reason)
        _applied = False
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own C library
        mallopt = libc.mallopt
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        ok = all(mallopt(param, value) == 1 for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES), (M_TOP_PAD, TOP_PAD_BYTES)))
    except (OSError, AttributeError) as exc:  # no mallopt in this process's C library
        log.debug("host malloc left as it is: %s", exc)
        ok = False
    if ok:
        log.debug("host malloc keeps freed memory (mmap threshold %d MiB, trim threshold %d MiB)",
                  MMAP_THRESHOLD_BYTES >> 20, TRIM_THRESHOLD_BYTES >> 20)
    _applied = ok
    return ok


__all__ = ["keep_freed_memory", "OPT_OUT_VARIABLE", "USER_TUNING_VARIABLES"]
