"""Shared helpers of the benchmark scripts: a printed table and a JSON record under benchmarks/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

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
    }


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


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"\nwrote {path}")
    return path
