"""What keeping freed memory in the process (``mmdistill.host_memory``) buys on a CPU, process against process.

malloc's settings belong to a whole process, so the variants cannot share one: each run is a fresh child
process, the variants alternate (A, B, C, A, B, C, ...) ``--pairs`` times, and the table gives the median
wall time of the timed work (imports and data set-up excluded), its CPU time in user and kernel mode, its
minor page faults, and the median of the per-round ratios to the first variant. Variants:

* ``reference``       — the reference code's evaluation (networks one after the other, one batch per step,
  its DSA memory layout; ``reference_speed.py eval``'s reference side) under glibc's default malloc, as the
  reference code runs;
* ``sequential``      — mmdistill's networks one at a time (cache-sized chunks), default malloc;
* ``sequential+keep`` — the same with ``keep_freed_memory()``;
* ``threads``         — mmdistill's CPU default (runs side by side on threads, ``mmdistill.concurrency``),
  default malloc;
* ``threads+keep``    — mmdistill as its entry points run it: threads and ``keep_freed_memory()``;
* ``readme``, ``readme+keep`` — README command 1 end to end (``mmdistill run image-dm --dataset digits
  --ipc 10 --budget cpu``, its own timing from the manifest), with ``MMDISTILL_HOST_MALLOC=default`` or not.

    python benchmarks/host_allocator.py [--variants reference,sequential,sequential+keep,threads,threads+keep]
        [--pairs 3] [--epochs 300] [--runs 5] [--set-size 100] [--size 8]
    python benchmarks/host_allocator.py --variants readme,readme+keep --pairs 2

Writes ``benchmarks/results/host_allocator.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table, write_result

from mmdistill.host_memory import OPT_OUT_VARIABLE, USER_TUNING_VARIABLES

HERE = Path(__file__).resolve().parent
EVAL_VARIANTS = ("reference", "sequential", "sequential+keep", "threads", "threads+keep")
README_VARIANTS = ("readme", "readme+keep")


def _usage() -> dict[str, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": r.ru_utime, "sys_s": r.ru_stime, "minor_faults": float(r.ru_minflt)}


def child_eval(args: argparse.Namespace) -> dict[str, float]:
    """One timed evaluation (``args.runs`` networks x ``args.epochs`` epochs) in this process; its numbers."""
    import torch

    from mmdistill.augment import DSA, dsa_strategy_for
    from mmdistill.concurrency import default_threads, run_jobs
    from mmdistill.host_memory import keep_freed_memory
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.seeding import generator
    from mmdistill.training import TrainProtocol, train_from_scratch
    from reference_speed import ReferenceLayoutDSA, real_data

    variant = args.child
    if variant.endswith("+keep") and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() did not apply here (not glibc, or MALLOC_* / MMDISTILL_HOST_MALLOC set)")
    device, C, shape = torch.device("cpu"), 10, (1, args.size, args.size)
    data = real_data(C, args.set_size // C, shape, device)
    reference = variant == "reference"
    augment = (ReferenceLayoutDSA if reference else DSA)(dsa_strategy_for("digits"))
    protocol = TrainProtocol(epochs=args.epochs, chunk=0 if reference else None)

    def trained(r: int) -> float:
        gen = generator(0, "eval", r)
        net = build_network("convnet", shape, C).to(device)
        reinitialize(net, gen)
        return train_from_scratch(net, data.x, data.y, protocol, gen, augment=augment)

    before, t0 = _usage(), time.perf_counter()
    if variant.startswith("threads"):
        losses = run_jobs([functools.partial(trained, r) for r in range(args.runs)], threads=default_threads(device))
    else:
        losses = [trained(r) for r in range(args.runs)]
    wall, after = time.perf_counter() - t0, _usage()
    return {"wall_s": wall, **{k: after[k] - before[k] for k in after}, "last_losses": [float(v) for v in losses]}


def child_readme(args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    """README command 1 in a child process; its own timing from the run's manifest."""
    with tempfile.TemporaryDirectory(prefix="mmdistill-alloc-") as tmp:
        cmd = [sys.executable, "-m", "mmdistill", "run", "image-dm", "--dataset", "digits", "--ipc", "10", "--budget", "cpu",
               "--out", str(Path(tmp) / "run"), "--no-progress"]
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout[-2000:] + proc.stderr[-3000:])
        manifest = json.loads((Path(tmp) / "run" / "manifest.json").read_text())
    timing = manifest.get("timing", {})
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            "minor_faults": float(after.ru_minflt - before.ru_minflt), "distill_s": timing.get("seconds"),
            "eval_s": timing.get("eval_seconds"), "accuracy": manifest.get("metrics", {})}


def run_child(variant: str, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*USER_TUNING_VARIABLES, OPT_OUT_VARIABLE)}
    if not variant.endswith("+keep"):
        env[OPT_OUT_VARIABLE] = "default"
    if variant in README_VARIANTS:
        return child_readme(args, env)
    cmd = [sys.executable, str(Path(__file__)), "--child", variant, "--epochs", str(args.epochs), "--runs", str(args.runs),
           "--set-size", str(args.set_size), "--size", str(args.size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(EVAL_VARIANTS),
                    help=f"comma list of {', '.join(EVAL_VARIANTS + README_VARIANTS)}; the ratios are to the first "
                         "(default: the five evaluation variants)")
    ap.add_argument("--pairs", type=int, default=3, help="rounds of all variants (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=300, help="training epochs of each evaluation network (default %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="networks per evaluation (default %(default)s)")
    ap.add_argument("--set-size", type=int, default=100,
                    help="images in the evaluated set, split evenly over 10 classes (default %(default)s)")
    ap.add_argument("--size", type=int, default=8, help="image side in pixels (8: digits, README command 1; default %(default)s)")
    ap.add_argument("--name", default="host_allocator", help="the JSON's name under benchmarks/results (default %(default)s)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_eval(args)))
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in EVAL_VARIANTS + README_VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(EVAL_VARIANTS + README_VARIANTS)}")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for rnd in range(args.pairs):
        for v in variants:
            runs[v].append(run_child(v, args))
            print(f"round {rnd + 1}/{args.pairs} {v}: {runs[v][-1]['wall_s']:.1f} s", flush=True)
    first = variants[0]
    rows, record = [], {}
    for v in variants:
        walls = [r["wall_s"] for r in runs[v]]
        ratio = statistics.median([r["wall_s"] / f["wall_s"] for r, f in zip(runs[v], runs[first])])
        med = {k: statistics.median([r[k] for r in runs[v]]) for k in ("wall_s", "user_s", "sys_s", "minor_faults")}
        rows.append([v, f"{med['wall_s']:.1f}", f"{med['user_s']:.1f}", f"{med['sys_s']:.1f}", f"{med['minor_faults']:,.0f}", f"{ratio:.2f}"])
        record[v] = {"median": med, f"ratio_to_{first}": ratio, "runs": runs[v], "walls_s": walls}
    what = ("README command 1 end to end" if variants[0] in README_VARIANTS else
            f"evaluation: {args.runs} ConvNet-3 x {args.epochs} epochs on {args.set_size} samples (1, {args.size}, {args.size}), DSA")
    print(f"\n{what}; one child process per run, {args.pairs} rounds, medians")
    print_table(["variant", "wall s", "user s", "sys s", "minor faults", f"ratio to {first}"], rows)
    write_result(args.name, {"what": what, "args": vars(args), "variants": record})


if __name__ == "__main__":
    main()
