"""SIGTERM stops a run the way Ctrl-C does: the loop checkpoints the start of the interrupted iteration and the
command line says how to resume.

A batch scheduler (Slurm's preemption and time limit, Kubernetes, ``torchrun`` stopping its workers) and a
plain ``kill PID`` send SIGTERM, whose default action ends the process at once and loses every iteration since
the last periodic checkpoint. Inside :func:`terminate_as_interrupt` the first SIGTERM raises
:class:`Terminated` (a ``KeyboardInterrupt``) in the main thread instead; further stop signals are ignored while the
checkpoint is written (SIGKILL still ends the process; checkpoint writes are atomic, so the previous one stays).
SIGUSR1, SIGUSR2 and SIGHUP stop it the same way (:data:`STOP_SIGNALS`): a batch job's warning before its time limit
(Slurm's ``--signal=USR1@120``, LSF's ``bkill -s``, PBS's ``qsig``) and a closed terminal or ``ssh`` session send them,
and their default action too ends the process at once with nothing written (walk 49D). A disposition someone
already chose for any of them (ignored, as ``nohup`` does for SIGHUP, or a handler of the program embedding
mmdistill) is left alone, as is any thread but the main one.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mmdistill.errors import InterruptedRun, PeerLost

_log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM (or another of :data:`STOP_SIGNALS`) inside :func:`terminate_as_interrupt`; ``signum`` is the
    signal's number."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def stop_signal_number(stop: BaseException) -> int:
    """The signal a ``KeyboardInterrupt`` stands for: SIGTERM for :class:`Terminated` (or anything carrying
    ``signum``), SIGINT (Ctrl-C) otherwise."""
    return int(getattr(stop, "signum", signal.SIGINT))


def handlers_on_their_own_stack() -> bool:
    """Give the main thread an alternate signal stack, on which Python's signal handlers (installed with
    ``SA_ONSTACK``: Ctrl-C's, :func:`terminate_as_interrupt`'s SIGTERM) then run instead of on the stack of the code the
    signal interrupts; ``faulthandler.enable()`` keeps one (and writes a traceback on a crash). Without it, a Ctrl-C
    that landed in oneDNN's JIT-compiled gemm (torch's CPU convolution: a video ConvNet3D) was followed by glibc's abort
    "corrupted size vs. prev_size while consolidating" inside that gemm in 4 of 21 interrupted video-dm runs, with it
    in none of 54 (walk 47B): the stop and its checkpoint never happened. Entry points call it; True when
    faulthandler is on, False when stderr has no file descriptor to give it (a notebook), left as it was."""
    if faulthandler.is_enabled():
        return True
    try:
        faulthandler.enable(file=sys.__stderr__ or sys.stderr)
    except (AttributeError, OSError, RuntimeError, ValueError):  # no stderr with a file descriptor
        return False
    return True


@contextmanager
def signal_stack_while_running() -> Iterator[None]:
    """:func:`handlers_on_their_own_stack` inside the block, for a run that a program calls itself (a Jupyter kernel
    has faulthandler off, and its stop button is a SIGINT that may land in oneDNN's gemm as a Ctrl-C does); faulthandler
    is switched off again after the block when it was off before (the caller's setting given back)."""
    was_on = faulthandler.is_enabled()
    on = handlers_on_their_own_stack()
    try:
        yield
    finally:
        if on and not was_on:
            faulthandler.disable()


def stop_phrase(stop: BaseException) -> str:
    """How a message says what stopped a run: "interrupted" (Ctrl-C) or "stopped by SIGTERM"."""
    signum = stop_signal_number(stop)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


#: the signals that stop a run inside :func:`terminate_as_interrupt` as Ctrl-C does (exit 128 + the signal's number:
#: 143, 138, 140, 129 on Linux); those a platform lacks (Windows) are skipped
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGHUP")
                                                 if hasattr(signal, name))


def _raise_terminated(signum: int, frame: object) -> None:
    for other in STOP_SIGNALS:  # one stop is enough: let the checkpoint be written
        if signal.getsignal(other) is _raise_terminated:
            signal.signal(other, signal.SIG_IGN)
    _log.warning("%s received: stopping (a distillation checkpoints its current iteration first; expert training keeps "
                 "its finished epochs; an evaluation stops at its next step)", signal.Signals(signum).name)
    raise Terminated(signum)


@contextmanager
def terminate_as_interrupt() -> Iterator[bool]:
    """Within the block, SIGTERM (and the other :data:`STOP_SIGNALS`) raises :class:`Terminated` in the main thread;
    yields whether SIGTERM's was installed (not when called off the main thread or when SIGTERM already had a
    disposition other than the default). Each signal is taken only while its disposition is the default, and every
    one taken is given back after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in STOP_SIGNALS if signal.getsignal(sig) is signal.SIG_DFL}
    try:
        yield signal.SIGTERM in previous
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def stop_says(remedy: str | Callable[[], str]) -> Iterator[None]:
    """A bare stop inside the block (Ctrl-C, or SIGTERM under :func:`terminate_as_interrupt`) becomes an
    :class:`~mmdistill.errors.InterruptedRun` saying ``"<stop_phrase>; <remedy>"`` (what is kept, how to go on) instead
    of the run's generic checkpoint advice; a stop that already says (an ``InterruptedRun``) passes as it is. A callable
    ``remedy`` is asked at the stop (what is kept may change while the block runs)."""
    try:
        yield
    except KeyboardInterrupt as stop:
        if isinstance(stop, InterruptedRun):
            raise
        said = remedy() if callable(remedy) else remedy
        raise InterruptedRun(f"{stop_phrase(stop)}; {said}", signum=stop_signal_number(stop)) from None


#: how to go on with a stopped run, for the command line and for Python (a notebook calls ``recipe.run(...)``)
GO_ON = "continue with the same command and --resume (from Python: the same run(...) call with resume=True)"


def stopped_in_loop(stop: BaseException, it: int, iterations: int, held: int | None, checkpoint: Path,
                    refused: str | None = None) -> BaseException:
    """What a run stopped at iteration ``it`` (0-based) of ``iterations`` raises: :class:`InterruptedRun` for Ctrl-C or
    SIGTERM, :class:`PeerLost` when another torchrun process was lost, saying what the checkpoint holds (``held``:
    its iteration count; -1 when another rank writes it; None when none was written) and how to go on; ``refused``: why
    the stop's own checkpoint could not be written (a full disk), said first."""
    go_on = GO_ON
    kept = (f"its checkpoint could not be written ({refused}); " if refused else "") + (
            f"the lead process writes the checkpoint: {go_on}" if held == -1 else
            f"the checkpoint {checkpoint} holds the first {held} iteration{'s' * (held != 1)}: {go_on}" if held is not None else
            "no checkpoint was written yet: run the command again")
    if isinstance(stop, PeerLost):
        return PeerLost(stop.detail, at=f" at iteration {it} of {iterations}", then=kept)
    return InterruptedRun(f"{stop_phrase(stop)} at iteration {it} of {iterations}; {kept}", signum=stop_signal_number(stop))


__all__ = ["GO_ON", "STOP_SIGNALS", "Terminated", "handlers_on_their_own_stack", "signal_stack_while_running", "stop_phrase", "stop_says", "stop_signal_number", "stopped_in_loop", "terminate_as_interrupt"]
