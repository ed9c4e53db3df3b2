"""Logging of the command line: library code logs through ``logging.getLogger(__name__)`` (one logger per
module under the package's ``mmdistill`` logger) and never prints; the CLI and recipe scripts decide what is
shown. Progress bars are tqdm's and switch off with ``progress=false`` (``--no-progress``)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from tqdm.auto import tqdm

#: seconds between progress-bar lines when stderr is not a terminal (a log file, CI): a line every 30 s
#: instead of a redraw at every update, which fills a log with thousands of carriage-return frames
NON_TTY_INTERVAL_S = 30.0


class _BarAwareHandler(logging.StreamHandler):
    """A stream handler that writes through ``tqdm.write``: an open progress bar is cleared before the message and
    drawn again after it, so a message never ends up glued to a bar's line (in a log file the bar's frame has no line
    end), as ``tqdm.contrib.logging.logging_redirect_tqdm`` does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging's own rule: a failing handler reports, never raises
            self.handleError(record)


class LineFrames:
    """A progress bar's stream for a log file: each frame tqdm draws (``\\r`` and the bar, padded with spaces, no line end,
    which a terminal redraws in place) becomes one line of its own that starts with the local time
    (``2026-12-07 08:12:03 image-dm, 100 synthetic:  30%|###  | 900/3000 [02:08<05:05, 6.87it/s, loss=0.0049]``), and
    the clearing frames (blanks) and line ends tqdm writes around them are dropped. In a file the frames were one
    endless line: ``tail -f``, ``grep``, ``less`` and a scheduler's log viewer saw no progress line at all, and a message
    written mid-run was glued to the last frame. Other attributes (``encoding``, ``fileno``) are ``stream``'s."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` (a frame, a clearing frame or a line end) as a time-stamped line, or nothing; its length."""
        frame = text.replace("\r", "").strip()
        if frame:
            self.stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {frame}\n")
        return len(text)

    def flush(self) -> None:
        """Flush ``stream``."""
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        if name == "stream":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.stream, name)


def configure_logging(debug: bool = False) -> None:
    """The CLI's logging: the package's INFO messages (progress notes, result tables) as plain lines on
    stderr, DEBUG with ``--debug``; library users configure ``logging.getLogger("mmdistill")`` themselves.
    Under torchrun the ranks > 0 show warnings and errors only (rank 0 shows what one process would)."""
    handler = _BarAwareHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if not debug else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mmdistill")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO if is_lead_process() else logging.WARNING)
    root.propagate = False


def standard_streams_open() -> None:
    """Point a standard descriptor (0, 1, 2) that is closed, or open only for reading, at /dev/null, and give Python
    a ``sys.stdout``/``sys.stderr`` where it has none, as daemons do: a command started with ``2>&-`` (or from a wrapper
    script, whose shell then holds the script's own file, read-only, as descriptor 2) has ``sys.stderr`` None or
    unwritable, and the first progress bar stopped the run with nothing said and nothing written (exit 1 or 120); and a
    file the run opened next could have become descriptor 2, where C libraries write their warnings."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    for fd, name in ((0, None), (1, "stdout"), (2, "stderr")):
        try:
            usable = fd == 0 or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY  # stdin: open is enough
        except OSError:  # closed
            usable = False
        if not usable:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # a closed descriptor is the lowest free one, so the open may have landed on it already
                os.dup2(null, fd)
                os.close(null)
        if name is not None and getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False))


def lenient_output() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write a character their encoding lacks as an escape (``\\xb1``) instead
    of raising UnicodeEncodeError: under ``LC_ALL=C PYTHONUTF8=0`` or ``PYTHONIOENCODING=ascii`` stdout is ASCII and
    strict, and the result line's ``±`` stopped a finished run with a traceback and made ``mmdistill show`` call the
    manifest damaged. Streams that are closed, replaced or already lenient are left as they are."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError, AttributeError):  # closed, or a stream that cannot change
                pass


def start_entry_point(debug: bool = False) -> None:
    """What every entry point (the ``mmdistill`` command, ``Recipe.main``, the recipe scripts) does first: logging
    (:func:`configure_logging`), freed host memory kept (:func:`mmdistill.host_memory.keep_freed_memory`) and Python's
    signal handlers on their own stack (:func:`mmdistill.stop_signals.handlers_on_their_own_stack`). Each step is
    idempotent, so a command that calls a recipe's ``main`` does it twice harmlessly. A user id without a name gets
    one (:func:`mmdistill.cache_dir.name_unnamed_user`: torch's compile cache is named by it), and the output streams
    never refuse a character (:func:`lenient_output`); closed ones are /dev/null (:func:`standard_streams_open`)."""
    from mmdistill.cache_dir import name_unnamed_user
    from mmdistill.host_memory import keep_freed_memory
    from mmdistill.stop_signals import handlers_on_their_own_stack

    standard_streams_open()
    lenient_output()
    configure_logging(debug)
    name_unnamed_user()
    keep_freed_memory()
    handlers_on_their_own_stack()


def is_lead_process() -> bool:
    """Whether this process speaks for the run: the only one, or rank 0 of a torchrun run (``RANK``)."""
    return os.environ.get("RANK", "0") == "0"


def progress_bar(*, disable: bool = False, **kwargs: Any) -> tqdm:
    """tqdm on stderr, redrawn as usual on a terminal or as Jupyter's widget and elsewhere (a log file) one time-stamped
    line (:class:`LineFrames`) at most every :data:`NON_TTY_INTERVAL_S` seconds (``kwargs`` are tqdm's: ``total``, ``desc``, ``initial``,
    ``leave``...); off on a torchrun rank other than 0 (:func:`is_lead_process`: one bar for the run, not one per
    rank). A kernel's stderr is no terminal, but ``tqdm.auto`` draws a widget there that writes no lines."""
    notebook = sys.modules.get("tqdm.notebook")  # imported by tqdm.auto in a kernel only: nothing imported here
    interactive = (notebook is not None and issubclass(tqdm, notebook.tqdm)) or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    kwargs.setdefault("dynamic_ncols", True)
    if not interactive:  # a log file: a line every NON_TTY_INTERVAL_S seconds, not frames that a terminal redraws
        kwargs.setdefault("mininterval", NON_TTY_INTERVAL_S)
        kwargs.setdefault("maxinterval", NON_TTY_INTERVAL_S * 2)
        kwargs.setdefault("file", LineFrames(sys.stderr))
    return tqdm(disable=disable or not is_lead_process(), **kwargs)


__all__ = ["NON_TTY_INTERVAL_S", "LineFrames", "configure_logging", "lenient_output", "standard_streams_open", "is_lead_process", "progress_bar", "start_entry_point"]
