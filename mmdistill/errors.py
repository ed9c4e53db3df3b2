"""Error types with messages that name the offending file, field or argument.

Every error mmdistill raises on bad input derives from :class:`MmdistillError`, so callers (and the CLI)
can catch one type and print the message without a traceback from deep inside torch. A stopped run
(:class:`InterruptedRun`) is a ``KeyboardInterrupt`` instead, so that catching errors never catches Ctrl-C.
"""

from __future__ import annotations

import signal


class MmdistillError(Exception):
    """Base class of every error raised on bad input or a failed run."""


class DataError(MmdistillError, ValueError):
    """A dataset root, file or sample is missing, empty, corrupt or inconsistent."""


class ConfigError(MmdistillError, ValueError):
    """A configuration key, value or command-line argument is unknown or out of range.

    ``key`` names the configuration key at fault when there is one (the message names it too)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class AlreadyFinished(ConfigError):
    """``resume`` asked of a run folder whose run is finished with the same keys: nothing to do. From Python it is
    the ConfigError it always was; the command line says so and exits 0 (walk 49D: a batch job requeued after its run
    finished, or an array job submitted again, failed with exit 2 and broke the jobs that depend on it)."""


class ArtifactError(MmdistillError, ValueError):
    """A saved synthetic-set directory or checkpoint is missing, truncated or inconsistent."""


class DivergenceError(MmdistillError, RuntimeError):
    """The optimisation produced a non-finite loss (or another state it cannot go on from); the last good checkpoint
    is kept. ``by_rates``: the synthetic set's own learning rates caused it, at any iteration (a learned step size
    driven below zero by ``lr_lr``)."""

    def __init__(self, message: str, *, by_rates: bool = False) -> None:
        super().__init__(message)
        self.by_rates = by_rates


class PeerLost(MmdistillError, RuntimeError):
    """Under torchrun, a collective failed because another process of the job stopped (its own ``error:`` line, or
    torchrun's Root Cause, says why) or cannot be reached (a network, the process group's timeout). ``detail``: what
    torch.distributed said; ``at``: where this process was (" at iteration 3 of 10"); ``then``: what is kept and how to
    go on."""

    def __init__(self, detail: str = "", *, at: str = "", then: str = "") -> None:
        self.detail = detail
        super().__init__(f"another process of this torchrun job stopped or cannot be reached{at} ({detail}); its own error: "
                         "line, or torchrun's Root Cause, names it" + (f"; {then}" if then else ""))


class InterruptedRun(KeyboardInterrupt):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM after saving a checkpoint; the message says how to resume.

    ``signum`` is the signal that stopped it (the command line exits with 128 + ``signum``: 130 or 143). A
    ``KeyboardInterrupt`` only, not an ``Exception`` nor a :class:`MmdistillError`: a program that skips failing
    configs with ``except MmdistillError`` (or ``except Exception``) still stops on Ctrl-C."""

    def __init__(self, message: str, *, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum
