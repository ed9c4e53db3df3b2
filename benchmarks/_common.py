"""Shared helpers of the benchmark scripts: a printed table and a JSON record under benchmarks/results/."""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from mmdistill.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def _one_line_failures(kind: type, exc: BaseException, tb: Any) -> None:
    """A benchmark's expected failure (data that is not there, a damaged file, a key refused, a library missing) as
    the command line reports it, one line naming the file or key; anything else (a defect) keeps its traceback."""
    from mmdistill.exits import describe, expected

    if expected(exc) and not issubclass(kind, KeyboardInterrupt):
        print(f"error: {describe(exc)} (the benchmarks' data: docs/results.md names each one's, most under ../shared/data)",
              file=sys.stderr)
        return
    sys.__excepthook__(kind, exc, tb)


sys.excepthook = _one_line_failures  # every benchmark imports this module


def timed_run(cmd: list[str], threads: int = 1) -> float:
    """Wall seconds of ``cmd`` run with ``threads`` OpenMP/MKL threads per process; exits with the output's tail
    if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-3000:])
    return time.perf_counter() - t0


def interleave(fns: dict[str, Callable[[], None]], pairs: int, device: torch.device, warmup: int = 1,
               progress: bool = True) -> dict[str, list[float]]:
    """Run every variant ``warmup`` times, then ``pairs`` rounds of all variants in turn (a change of the machine's
    load falls on all alike); seconds per call, the device synchronised around each. ``progress``: a line per round
    on stderr."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(pairs):
        for k, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
        if progress:
            print(f"round {i + 1}/{pairs}: " + ", ".join(f"{k} {ts[-1]:.3f} s" for k, ts in times.items()), file=sys.stderr,
                  flush=True)
    return times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where a result was measured. ``cpu_capability`` is the kernel set torch dispatches to (hosts of this project
    vary between AVX2 and AVX512, and the two round differently, so a rerun on the other kind moves trained
    accuracies by float drift)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": cpu_model(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **CODE_VERSION,
    }


def code_version() -> dict[str, Any]:
    """Which code measured a result: mmdistill's version, the clone's commit and whether its tracked files had
    uncommitted changes (``None`` each when git or the clone is not there, e.g. an installed wheel)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("mmdistill")
    except PackageNotFoundError:
        package = None
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"mmdistill": package, "commit": commit, "dirty": None if status is None else bool(status)}


#: the code this process runs, read when the benchmark starts (a commit made while it runs is not the code measured)
CODE_VERSION = code_version()


def pct(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return f"{100 * m['mean']:.2f} ± {100 * m['std']:.2f}"


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


DATA_KEYS = ("data_root", "data", "tar")  # keys of a result (at any depth) that name the real data it was measured on
_HASHED_BYTES = 256 * 2**20  # a data folder up to this size is hashed file by file; a larger one by its listing


def data_identity(path: Path) -> dict[str, Any]:
    """What identifies the data at ``path`` for a reviewer: a file's sha256 and size; a folder's file count, total
    size and one sha256 over its files' relative paths and contents (over paths and sizes only above 256 MiB)."""
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as f:  # hashlib.file_digest is Python 3.11+; the project runs on 3.10
            for chunk in iter(lambda: f.read(2**20), b""):
                digest.update(chunk)
        return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}
    files = sorted(f for f in path.rglob("*") if f.is_file())
    total = sum(f.stat().st_size for f in files)
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(path).as_posix()}\0{f.stat().st_size}\0".encode())
        if total <= _HASHED_BYTES:
            h.update(f.read_bytes())
    return {"files": len(files), "bytes": total, ("sha256" if total <= _HASHED_BYTES else "sha256_of_listing"): h.hexdigest()}


def _data_paths(payload: Any, depth: int = 0) -> list[str]:
    """Paths a result names as its data: values of :data:`DATA_KEYS` in ``payload`` and of the ``--data-root``,
    ``--data`` and ``--tar`` options on the command line."""
    found: list[str] = []
    if depth == 0:
        argv = sys.argv[1:]
        for i, arg in enumerate(argv):
            flag, eq, value = arg.partition("=")
            if flag in ("--data-root", "--data", "--tar"):
                found += [value] if eq else argv[i + 1:i + 2]
    if depth < 4 and isinstance(payload, dict):
        for k, v in payload.items():
            if k in DATA_KEYS and isinstance(v, str):
                found.append(v)
            else:
                found += _data_paths(v, depth + 1)
    elif depth < 4 and isinstance(payload, list):
        for v in payload[:50]:
            found += _data_paths(v, depth + 1)
    return found


def data_identities(payload: dict[str, Any]) -> dict[str, Any]:
    """``{resolved path: data_identity}`` of every data path :func:`_data_paths` finds that exists here."""
    out: dict[str, Any] = {}
    for raw in _data_paths(payload):
        path = Path(raw).expanduser()
        if path.exists() and (key := str(path.resolve())) not in out:
            try:
                out[key] = data_identity(path)
            except OSError as exc:  # the result itself must still be written
                out[key] = {"unreadable": str(exc)}
    return out


_DESTINATIONS: dict[str, Path] = {}  # name -> the file this process writes it to (a script may write a name twice)
REPLACE_ENV = "MMDISTILL_BENCH_REPLACE"


def replace_asked() -> bool:
    """Whether ``MMDISTILL_BENCH_REPLACE=1`` asks a rerun to replace the results recorded under its names."""
    return os.environ.get(REPLACE_ENV) == "1"


def refuse_recorded(parser: argparse.ArgumentParser, paths: list[Path], side: str) -> None:
    """Stop (``parser.error``, exit 2) before anything runs when a file of ``paths`` (the per-row JSONs a run would
    write) holds a recorded result and :func:`replace_asked` is not set; ``side`` names the option of a side
    measurement (``--tag T``)."""
    recorded = [path for path in paths if path.exists()]
    if recorded and not replace_asked():
        parser.error(f"{', '.join(p.name for p in recorded)} in {recorded[0].parent} hold recorded results; give {side} for a "
                     f"side measurement, or set {REPLACE_ENV}=1 to replace them")


def result_path(name: str, replace: bool = False) -> Path:
    """The file :func:`write_result` writes ``name`` to: ``benchmarks/results/<name>.json`` unless that file holds
    an earlier result (one this process did not write) and neither ``replace`` (a table recomputed from recorded
    files, which loses nothing) nor ``MMDISTILL_BENCH_REPLACE=1`` is set; then a new file beside it,
    ``<name>.<YYYYmmdd-HHMMSS>.json``, so a rerun never replaces a recorded result silently."""
    if name not in _DESTINATIONS:
        path = RESULTS / f"{name}.json"
        if path.exists() and not replace and not replace_asked():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = next(p for k in range(1000) if not (p := RESULTS / f"{name}.{stamp}{f'-{k}' if k else ''}.json").exists())
            print(f"\nnote: {RESULTS / f'{name}.json'} holds an earlier result and is left as it is; this one goes to "
                  f"{path.name} ({REPLACE_ENV}=1 replaces the earlier one)", file=sys.stderr)
        _DESTINATIONS[name] = path
    return _DESTINATIONS[name]


def write_result(name: str, payload: dict[str, Any], replace: bool = False) -> Path:
    """Write ``{"machine": {**machine(), "data": data_identities(payload)}, **payload}`` atomically
    (:func:`mmdistill.io.write_json`, every benchmark's JSON writer) to :func:`result_path` ``(name, replace)``;
    returns the path."""
    path = write_json(result_path(name, replace), {"machine": {**machine(), "data": data_identities(payload)}, **payload})
    print(f"\nwrote {path}")
    return path
