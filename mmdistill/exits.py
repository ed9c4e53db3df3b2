"""How the command line ends on an expected failure: a one-line message on stderr and a distinct exit code,
never a traceback (``mmdistill --debug`` shows it).

=====  ==========================================================
code   failure
=====  ==========================================================
0      ``--resume`` of a finished run with the same keys (AlreadyFinished): nothing to do, said on stderr
2      a configuration key, value or argument (ConfigError), or an optional library not installed (named with its extra)
       or host memory exhausted: MemoryError, torch's allocator, a library that cannot be mapped (:func:`out_of_memory`)
3      a dataset root, file or sample (DataError)
4      a saved set, checkpoint or buffer (ArtifactError)
5      the optimisation diverged (DivergenceError)
6      the file system: a path that cannot be read or written (OSError)
7      under torchrun, another process of the job stopped or cannot be reached (PeerLost)
130    interrupted (Ctrl-C); the checkpoint is kept and the message says how to resume
141    standard output closed by its reader (``mmdistill show RUN | head``): no message
143    stopped by SIGTERM (a scheduler, ``kill PID``) during a run: as 130
138    stopped by SIGUSR1 (a batch job's warning before its time limit, Slurm's ``--signal=USR1@120``): as 130
140    stopped by SIGUSR2: as 130
129    stopped by SIGHUP (a closed terminal or ssh session; ``nohup`` ignores it): as 130
=====  ==========================================================
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from typing import Any

from mmdistill.errors import AlreadyFinished, ArtifactError, ConfigError, DataError, DivergenceError, InterruptedRun, MmdistillError, PeerLost
from mmdistill.extras import install_hint
from mmdistill.stop_signals import stop_phrase, stop_signal_number

EXIT_CODES: dict[type[BaseException], int] = {ConfigError: 2, DataError: 3, ArtifactError: 4, DivergenceError: 5, PeerLost: 7}


def exit_code(exc: BaseException) -> int:
    """The exit code of an expected failure (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return 128 + stop_signal_number(exc)
    if isinstance(exc, AlreadyFinished):  # the run a requeued job asks for is there: a success for `afterok`
        return 0
    if isinstance(exc, ModuleNotFoundError) or out_of_memory(exc):
        return 2
    if isinstance(exc, OSError):
        return 6
    for kind, code in EXIT_CODES.items():
        if isinstance(exc, kind):
            return code
    return 2


def describe(exc: BaseException) -> str:
    """One line for an expected failure; OS errors name the path and what the system said."""
    if isinstance(exc, OSError) and not isinstance(exc, MmdistillError):
        path = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        hint = " (the disk is full)" if exc.errno == errno.ENOSPC else ""
        return f"cannot access{path}: {reason}{hint}"
    if isinstance(exc, ModuleNotFoundError):
        return f"this command {install_hint(exc.name)}"
    if out_of_memory(exc):
        return _memory_line(exc)
    if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, InterruptedRun):  # a run's own stop names its checkpoint
        return f"{stop_phrase(exc)}; continue with the same command and --resume (from the last checkpoint, when one was written)" + _torchrun_stop(exc)
    return str(exc) + (_torchrun_stop(exc) if isinstance(exc, KeyboardInterrupt) else "")


def _torchrun_stop(stop: BaseException) -> str:
    """Under torchrun, what a SIGTERM may be: torchrun stopping every process because another one failed."""
    if stop_signal_number(stop) != signal.SIGTERM or os.environ.get("WORLD_SIZE", "1").strip() in ("", "0", "1"):
        return ""
    return " (under torchrun, a SIGTERM also stops every process when another one failed: its own error: line names why)"


def fail(exc: BaseException, keep: frozenset[Any] = frozenset()) -> int:
    """Print ``error: <one line>`` on stderr, on a line of its own (progress bars the failure left open are closed
    first: ``leave=False`` ones vanish; those in ``keep``, :func:`progress_bars` taken when the command started, are a
    calling program's and stay), and return the exit code."""
    for bar in progress_bars() - keep:
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the error
            pass
    print(f"{'' if isinstance(exc, AlreadyFinished) else 'error: '}{describe(exc)}", file=sys.stderr)
    return exit_code(exc)


def progress_bars() -> frozenset[Any]:
    """The tqdm bars open in this process now (none when tqdm was never imported: it is not imported here)."""
    tqdm = sys.modules.get("tqdm")
    return frozenset(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ())


def closed_stdout() -> int:
    """The reader of standard output went away (``mmdistill show RUN | head``): stop quietly, as ``ls`` and ``cat``
    do, with 128 + SIGPIPE (141). Standard output is pointed at /dev/null so that the interpreter's flush at exit
    does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or not a real file (a test's capture)
        pass
    return 128 + 13


EXPECTED = (MmdistillError, OSError, KeyboardInterrupt, ModuleNotFoundError, MemoryError, RuntimeError, ImportError)
"""The failures the command line catches; :func:`expected` tells those it reports without a traceback (a RuntimeError or
an ImportError only when it is the host's memory refusing, :func:`out_of_memory`)."""

#: what torch's CPU allocator and the dynamic loader say when the process's memory (``ulimit -v``) is exhausted
_NO_MEMORY = ("can't allocate memory", "cannot allocate memory", "failed to map segment from shared object")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is this process running out of host memory or address space: MemoryError, torch's allocator's
    RuntimeError ("DefaultCPUAllocator: can't allocate memory"), or a shared library that could not be mapped (torch
    does not load under ``ulimit -v`` of about 3 GiB)."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, (RuntimeError, ImportError)) and not isinstance(exc, (MmdistillError, ModuleNotFoundError)) \
        and any(words in str(exc).lower() for words in _NO_MEMORY)


def expected(exc: BaseException) -> bool:
    """Whether the command line reports ``exc`` as one line and an exit code rather than a traceback."""
    if isinstance(exc, (RuntimeError, ImportError, MemoryError)) and not isinstance(exc, (MmdistillError, ModuleNotFoundError)):
        return out_of_memory(exc)
    return isinstance(exc, EXPECTED)


def _memory_line(exc: BaseException) -> str:
    """One line for :func:`out_of_memory`: what failed, and the limit that made it fail where one is set."""
    from mmdistill.host_limits import address_space_limit

    said = re.sub(r"^\[enforce fail at [^\]]*\] (err == 0\. )?", "", (str(exc).splitlines() or [type(exc).__name__])[0])
    what = f"torch cannot be loaded ({said})" if isinstance(exc, ImportError) else f"out of host memory ({said})"
    limit = address_space_limit()
    if limit is not None:
        fix = "" if isinstance(exc, ImportError) else " or lower the sizes (ipc, batch keys)"
        return (f"{what}: this process's virtual-memory limit is {limit / 2**30:.1f} GiB (ulimit -v {limit // 1024}), and torch "
                "alone maps 3-4 GiB of address space; raise it (or limit resident memory instead: a cgroup, systemd-run -p "
                f"MemoryMax=){fix}")
    return f"{what}: lower the sizes (ipc, batch keys) or free memory; memory_check estimates an iteration's peak before a run"


__all__ = ["EXIT_CODES", "EXPECTED", "closed_stdout", "describe", "exit_code", "expected", "fail", "out_of_memory", "progress_bars"]
