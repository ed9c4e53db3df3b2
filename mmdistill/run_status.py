"""A run folder's status record, ``status.json``: what a person or a script watching a long run reads while it runs,
and after it ended, without the terminal that started it.

The writing process of ``mmdistill run`` rewrites it atomically (:func:`~mmdistill.io.write_json`) when it starts, at
every checkpoint and at most every :data:`STATUS_EVERY_S` seconds while it distils, when its loop ends and when the
set is written: ``state`` is ``running``, ``distilled`` (evaluating and writing the set), ``finished``, ``stopped`` (Ctrl-C, SIGTERM, a batch job's signal, a
lost torchrun peer: the checkpoint holds what was done) or ``failed`` (a divergence, an error), with ``reason`` (the
line the terminal showed). ``pid``, ``host`` and ``command`` say which process writes it, ``iteration`` /
``iterations`` and ``checkpoint_iteration`` how far it got, ``loss`` the last matching loss, ``eta_seconds`` the time
left at the rate of this process's own iterations (a resumed run's restored iterations do not count as fast),
``started`` / ``updated`` UTC times (ISO 8601). A process killed hard (SIGKILL, the out-of-memory killer, a machine
that went down) writes nothing more: its record still says ``running`` while the folder's lock has no holder, which
:func:`unfinished_run` (``mmdistill show`` / ``eval`` of a folder without a set) says in words.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from mmdistill.errors import PeerLost
from mmdistill.io import CHECKPOINT_FILE, STATUS_FILE, write_json
from mmdistill.json_text import json_file_text, parse_json
from mmdistill.run_lock import lock_holder
from mmdistill.words import shown

log = logging.getLogger(__name__)

STATUS_FORMAT = "mmdistill.status/1"
#: the most seconds between two writes of the record while the loop distils (a checkpoint always writes one)
STATUS_EVERY_S = 30.0
#: the fewest seconds of distilling between two drawings of ``loss.png`` at a checkpoint (the picture a person watching
#: a run of hours looks at; the finished run draws it once more)
LOSS_PLOT_EVERY_S = 300.0


def _now() -> str:
    """The UTC time now, ISO 8601 to the second (``2026-12-07T08:12:03Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunStatus:
    """The status record of the run in ``out_dir`` (``command``: what started it, ``iterations``: its total); nothing is
    written when ``enabled`` is False (a torchrun rank other than 0). A write the system refuses (a full disk) is
    logged once and the run goes on: the record is for watching, the checkpoint is what matters."""

    def __init__(self, out_dir: str | Path, command: str, iterations: int, enabled: bool = True) -> None:
        self.path = Path(out_dir) / STATUS_FILE
        self.enabled = enabled
        self.record: dict[str, Any] = {
            "format": STATUS_FORMAT, "state": "running", "command": command, "pid": os.getpid(), "host": socket.gethostname(),
            "started": _now(), "updated": _now(), "iteration": 0, "iterations": iterations, "checkpoint_iteration": None,
            "loss": None, "eta_seconds": None, "reason": None}
        self._since: tuple[int, float] | None = None  # (iteration, monotonic time) where this process began distilling
        self._written = -math.inf
        self._drawn = math.inf  # set when the loop begins: the first picture after LOSS_PLOT_EVERY_S of distilling
        self._warned: set[str] = set()  # the failures logged once each: "write" (the record), "draw" (loss.png)
        self.began = False  #: whether the loop started (:meth:`begin`): only then is an exception the run's end

    def begin(self, iteration: int, checkpoint_iteration: int | None = None) -> None:
        """The loop starts (or resumes) at ``iteration``; the ETA counts this process's iterations from here."""
        self.began = True
        self._since = (iteration, time.monotonic())
        self._drawn = time.monotonic()
        self.record.update(iteration=iteration, checkpoint_iteration=checkpoint_iteration)
        self._write()

    def progress(self, done: int, loss: float | None, *, checkpointed: bool = False) -> None:
        """``done`` iterations are complete (``loss``: the last one's); written when ``checkpointed`` or when
        :data:`STATUS_EVERY_S` passed since the last write."""
        self.record.update(iteration=done, loss=loss if loss is None or math.isfinite(loss) else str(loss))
        if checkpointed:
            self.record["checkpoint_iteration"] = done
        if self._since is not None and done > self._since[0]:
            rate = (done - self._since[0]) / max(time.monotonic() - self._since[1], 1e-9)
            self.record["eta_seconds"] = round((self.record["iterations"] - done) / rate, 1)
        if checkpointed or time.monotonic() - self._written >= STATUS_EVERY_S:
            self._write()
        if checkpointed and self.enabled and time.monotonic() - self._drawn >= LOSS_PLOT_EVERY_S:
            self._draw_loss()

    def _draw_loss(self) -> None:
        """``loss.png`` of the iterations so far (metrics.jsonl), titled as still running; a failure is logged once."""
        from mmdistill.io import METRICS_FILE, MetricsLog
        from mmdistill.plots import plot_loss_curve

        self._drawn = time.monotonic()
        folder, rec = self.path.parent, self.record
        try:
            plot_loss_curve(MetricsLog(folder / METRICS_FILE).read(), folder / "loss.png",
                            title=f"{rec['command']}: matching loss, iteration {rec['iteration']} of {rec['iterations']} (running)")
        except Exception as exc:  # noqa: BLE001 - a picture never costs the run
            if "draw" not in self._warned:
                self._warned.add("draw")
                log.warning("loss.png could not be drawn mid-run (%s: %s); the run goes on", type(exc).__name__, exc)

    def set_state(self, state: str, reason: str | None = None) -> None:
        """The run is now ``state`` (``distilled``, ``finished``, ``stopped``, ``failed``), for ``reason``."""
        self.record.update(state=state, reason=reason)
        if state != "running":
            self.record["eta_seconds"] = None
        self._write()

    def _write(self) -> None:
        if not self.enabled:
            return
        self.record["updated"] = _now()
        self._written = time.monotonic()
        try:
            write_json(self.path, self.record)
        except OSError as exc:
            if "write" not in self._warned:
                self._warned.add("write")
                log.warning("%s could not be written (%s); the run goes on without its status record", self.path, exc.strerror or exc)


@contextlib.contextmanager
def recorded(status: RunStatus) -> Iterator[RunStatus]:
    """``status`` inside the block; once its loop began (:meth:`RunStatus.begin`), a stop (Ctrl-C, a signal, a lost peer)
    leaving it is recorded as ``stopped`` and any other exception as ``failed``, each with its message as the reason,
    and raised on. A refusal before the loop (data that changed under a ``--resume``, a missing data folder) leaves the
    folder's record as it was: the run in it is still what that record says."""
    try:
        yield status
        if status.record["state"] == "distilled":  # evaluated and written; a finished folder is what gets shared: its
            status.record.update(pid=None, host=None)  # record names no machine (the manifest names none either)
            status.set_state("finished")
    except (KeyboardInterrupt, PeerLost) as exc:
        if status.began:
            status.set_state("stopped", str(exc) or type(exc).__name__)
        raise
    except BaseException as exc:
        if status.began:  # a divergence's message starts with its iteration and says what to do: kept as it is
            status.set_state("failed", str(exc) if str(exc).startswith("iteration ") else f"{type(exc).__name__}: {exc}")
        raise


def read_status(folder: str | Path) -> dict[str, Any] | None:
    """The status record of run folder ``folder``, or None when it has none or it is unreadable (not JSON, not this
    format, a link or no file: a received folder's record is only ever shown, never trusted further)."""
    path = Path(folder) / STATUS_FILE
    try:
        if path.is_symlink() or not path.is_file():
            return None
        record = parse_json(json_file_text(path))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == STATUS_FORMAT else None


def _minutes(seconds: Any) -> str:
    """``about 5 min left`` for a number of seconds (``under a minute``, hours past 90 minutes)."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return ""
    if seconds < 60:
        return "under a minute left"
    return f"about {seconds / 3600:.1f} h left" if seconds >= 5400 else f"about {round(seconds / 60)} min left"


def _alive(pid: Any) -> bool:
    """Whether a process ``pid`` runs on this machine (another process may have got the id since: rare)."""
    if os.name != "posix" or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:  # Windows' kill ends it
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's: it exists
        return True
    except (OSError, OverflowError):  # no such process (ProcessLookupError), or no such id
        return False
    return True


def experts_progress(buffer: Path) -> str:
    """How far the training of the expert buffer ``buffer`` (a run's own ``experts`` folder) got, from its file names and
    one finished shard's header: ``training its experts in DIR: 3 of 10 finished, 2 under way``, ``its experts in DIR are
    trained (10)``; ``""`` when the folder holds none (a run with ``--buffer`` elsewhere, or loading its data)."""
    from mmdistill.buffer import INDEX_FILE

    if not buffer.is_dir():
        return ""
    names = [p.name for p in buffer.iterdir() if p.name.startswith("expert_") and p.name.endswith(".safetensors")]
    shards = sorted(n for n in names if not n.endswith(".partial.safetensors"))
    going = len(names) - len(shards)
    if (buffer / INDEX_FILE).is_file():
        return f"its experts in {shown(str(buffer))} are trained ({len(shards)})"
    if not names:
        return ""
    total = _planned_experts(buffer / shards[0]) if shards else None
    return (f"training its experts in {shown(str(buffer))}: {len(shards)}{f' of {total}' if total else ''} finished"
            + (f", {going} under way" if going else ""))


def _planned_experts(shard: Path) -> int | None:
    """The expert count a finished shard's header says its buffer is trained for (``training.num_experts``); None when it
    cannot be read (a shard being replaced, an earlier mmdistill's)."""
    from mmdistill.header_metadata import read_header_metadata

    try:
        header = parse_json((read_header_metadata(shard) or {}).get("header") or "{}")
    except ValueError:
        return None
    total = (header.get("training") or {}).get("num_experts") if isinstance(header, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else None


def unfinished_run(folder: Path) -> str:
    """What ``mmdistill show`` / ``eval`` / ``export`` say of run folder ``folder`` that holds no set yet but a checkpoint
    or a status record: whether its run is going (the folder's lock has a holder, or the record's process still runs on
    this machine: a file system that refuses locks), how far it got and how long it has left, or how it ended (failed
    or stopped, with the reason it recorded; killed hard when the record says running and its process is gone)."""
    holder, rec = lock_holder(folder), read_status(folder)
    if rec is None:  # a run of an mmdistill before the record, or one before its loop (training its experts, loading data)
        before = "" if (folder / CHECKPOINT_FILE).is_file() else (": it has not started distilling yet "
                                                                 f"({experts_progress(folder / 'experts') or 'loading data, training experts'})")
        return (f"{folder} holds no distilled set yet: its run is still going ({holder}){before}; its set is written when it finishes"
                if holder else f"{folder} holds the {CHECKPOINT_FILE} of an unfinished run, no distilled set yet: continue it "
                "with the command that started it and --resume (from Python: its run(...), resume=True)")
    state, reason, pid, host = str(rec.get("state")), rec.get("reason"), rec.get("pid"), rec.get("host")
    at = f"iteration {rec.get('iteration')} of {rec.get('iterations')}"
    ckpt = rec.get("checkpoint_iteration")
    kept = f"the checkpoint holds {ckpt} iterations" if isinstance(ckpt, int) else "no checkpoint was written yet"
    when = f"{STATUS_FILE} of {rec.get('updated')}, process {pid} on {host}"
    if holder is None and state in ("running", "distilled"):
        if host != socket.gethostname():  # another machine's process: its lock may not be seen from here
            holder = f"process {pid} on {host}, if it still runs: this machine cannot tell"
        elif _alive(pid):  # a file system that refuses locks: the process itself tells
            holder = f"process {pid}"
    if state == "failed":
        text = f"its run failed{'' if str(reason).startswith('iteration ') else ' at ' + at} ({when}): {reason}"
        if isinstance(ckpt, int) and ckpt == rec.get("iterations"):  # in the evaluation or the writing of the set
            text += (f". The distillation had finished: the checkpoint holds all {ckpt} iterations, so the command that "
                     "started it with --resume evaluates and writes the set without distilling again")
    elif state == "stopped":
        text = f"its run was stopped at {at} ({when}): {reason}; " + (f"{kept}: continue it with the command that started it and "
                                                                     "--resume" if isinstance(ckpt, int) else f"{kept}: run its command again")
    elif state == "finished":
        text = f"its {STATUS_FILE} (of {rec.get('updated')}) says its run finished, but the set's files are gone (moved or removed since)"
    elif holder is None:
        text = (f"its run ended without recording why at {at}: {STATUS_FILE} (of {rec.get('updated')}) still says {state}, but "
                f"process {pid} on {host} is gone (killed hard: SIGKILL, the out-of-memory killer, a machine that went down); "
                + (f"{kept}: continue it with the command that started it and --resume" if isinstance(ckpt, int) else
                   f"{kept}: run the command that started it again"))
    elif state == "distilled":
        text = f"its run ({holder}) distilled all {rec.get('iterations')} iterations and is evaluating and writing the set ({when})"
    else:
        loss, left = rec.get("loss"), _minutes(rec.get("eta_seconds"))
        text = (f"its run is still going ({holder}): {at}" + (f", loss {loss:.4g}" if isinstance(loss, (int, float)) else "")
                + (f", {left}" if left else "") + f"; {kept} ({when}); its set is written when it finishes")
    return f"{folder} holds no distilled set yet: {shown(text)}"


__all__ = ["STATUS_EVERY_S", "STATUS_FORMAT", "RunStatus", "experts_progress", "read_status", "recorded", "unfinished_run"]
