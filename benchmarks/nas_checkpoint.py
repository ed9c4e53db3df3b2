"""What benchmarks/nas_proxy.py keeps between runs: each finished candidate's scores, written atomically after every
candidate to ``benchmarks/results/<name>.partial.json``, so a search stopped (Ctrl-C, a lost machine: DC's 720
candidates take days on a CPU) and started again with the same command trains only the candidates it had not
finished; and a progress line per candidate with the time left."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from mmdistill.errors import ConfigError
from mmdistill.io import read_json, write_json


class Checkpoint:
    """The finished candidates of one search, ``{label: record}``, read from ``path`` when it holds a search with
    the same ``settings`` (the set, its scored split, runs, epochs, seed); ConfigError naming the file and the
    settings that differ when it holds another (``restart``: it is started afresh instead)."""

    def __init__(self, path: Path, settings: dict[str, Any], restart: bool = False) -> None:
        self.path, self.settings = path, settings
        self.records: dict[str, dict[str, Any]] = {}
        if path.exists() and not restart:
            held = read_json(path)
            old = held.get("settings") if isinstance(held, dict) else None
            if not isinstance(old, dict) or not isinstance(held.get("candidates"), list):
                raise ConfigError(f"{path} is not a nas_proxy checkpoint (expected settings and candidates); move it away "
                                  "or pass --restart")
            differ = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if differ:
                raise ConfigError(f"{path} holds a search with other settings ("
                                  + ", ".join(f"{k}: {old.get(k)!r} there, {settings.get(k)!r} now" for k in differ)
                                  + "); rerun with its settings to resume it, --restart to start afresh, or another --name")
            self.records = {r["candidate"]: r for r in held["candidates"]}

    def done(self, name: str) -> dict[str, Any] | None:
        """The record of candidate ``name`` when an earlier run finished it, else None."""
        return self.records.get(name)

    def add(self, record: dict[str, Any]) -> None:
        """Keep a finished candidate's record and rewrite the file (atomically: a stop mid-write loses nothing)."""
        self.records[record["candidate"]] = record
        write_json(self.path, {"settings": self.settings, "candidates": list(self.records.values())})

    def stopped_line(self, names: list[str]) -> str:
        """What a stopped search says: how many of ``names`` (the search's candidates) are kept, in which file, and
        that the same command goes on from there."""
        kept = sum(n in self.records for n in names)
        if not kept:
            return f"stopped before any of the {len(names)} candidates finished: nothing kept; the same command starts again"
        return (f"stopped: {kept} of {len(names)} candidates finished, kept in {self.path}; run the same command again to "
                "train only the rest (--restart starts afresh)")

    def remove(self) -> None:
        """Drop the file once the search's result is written (it holds every record)."""
        self.path.unlink(missing_ok=True)


class Progress:
    """``[i/N] candidate: ... (elapsed, ~left)`` on stderr after each candidate, the time left estimated from the
    candidates trained by this process (resumed ones took no time here)."""

    def __init__(self, total: int, resumed: int) -> None:
        self.total, self.resumed, self.trained, self.started = total, resumed, 0, time.perf_counter()
        if resumed:
            print(f"resuming: {resumed} of {total} candidates finished by an earlier run are read, not trained again",
                  file=sys.stderr, flush=True)

    def step(self, index: int, text: str, trained: bool) -> None:
        self.trained += trained
        elapsed = time.perf_counter() - self.started
        left = self.total - index
        eta = f", ~{_duration(elapsed / self.trained * left)} left" if self.trained and left else ""
        print(f"[{index}/{self.total}] {text} ({'trained' if trained else 'from the checkpoint'}; "
              f"{_duration(elapsed)} elapsed{eta})", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
