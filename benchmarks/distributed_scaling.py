"""DM and its evaluation on 1 and on K processes (``torchrun``, gloo on CPU): time per iteration, evaluation
time, speed-up, and whether the sets and the accuracies are identical.

The data is Fashion-MNIST-shaped and random (10 classes of 28x28 one-channel images, idx files written to a
temporary folder and read by the ``fashion-mnist`` loader; each class has its own faintly brighter square,
so the accuracies lie between chance and 100 %). Each process runs one intra-op thread (``OMP_NUM_THREADS=1``, as torchrun
sets it), so K processes use K times the cores of one: the speed-up is that of sharding. DM runs with
``shard_classes=true`` (class ``c`` on rank ``c % K``) and the evaluation with ``eval_vectorize=1`` (run ``r``
on rank ``r % K``). Targets (issue 20): identical set and accuracies; evaluation speed-up >= 1.7x with 2.

    python benchmarks/distributed_scaling.py [--ipc 10] [--iterations 4] [--eval-runs 4] [--eval-epochs 30] [--procs 2]

Prints one row per process count and writes ``benchmarks/results/distributed_scaling.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from _common import print_table, timed_run, write_result


def write_idx(root: Path, per_class_train: int, per_class_test: int, seed: int = 0) -> None:
    """Fashion-MNIST's four idx files with random images: noise plus a class-placed, faintly brighter square."""
    rng = np.random.default_rng(seed)
    for split, per in (("train", per_class_train), ("t10k", per_class_test)):
        y = np.repeat(np.arange(10, dtype=np.uint8), per)
        rng.shuffle(y)
        x = rng.integers(0, 200, size=(len(y), 28, 28), dtype=np.uint8)
        for i, c in enumerate(y):
            r, q = divmod(int(c), 5)
            x[i, 4 + 12 * r: 12 + 12 * r, 1 + 5 * q: 6 + 5 * q] += 30
        (root / f"{split}-images-idx3-ubyte").write_bytes(np.array([2051, len(y), 28, 28], ">i4").tobytes() + x.tobytes())
        (root / f"{split}-labels-idx1-ubyte").write_bytes(np.array([2049, len(y)], ">i4").tobytes() + y.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ipc", type=int, default=10, help="synthetic images per class of the DM set (default %(default)s)")
    ap.add_argument("--iterations", type=int, default=4, help="DM iterations timed per process count (default %(default)s)")
    ap.add_argument("--batch-real", type=int, default=256, help="DM's real images per class per iteration (default %(default)s)")
    ap.add_argument("--eval-runs", type=int, default=4,
                    help="ConvNets trained on the set in the evaluation, sharded over the processes (default %(default)s)")
    ap.add_argument("--eval-epochs", type=int, default=30,
                    help="training epochs of each evaluation ConvNet (default %(default)s)")
    ap.add_argument("--train-per-class", type=int, default=300,
                    help="random training images per class written to the idx files (test: 100 per class; default %(default)s)")
    ap.add_argument("--procs", default="2",
                    help="comma-separated process counts to compare with 1, each run under torchrun (default %(default)s)")
    ap.add_argument("--name", default="distributed_scaling",
                    help="the JSON's name under benchmarks/results (default %(default)s)")
    args = ap.parse_args()
    from mmdistill.io import load_tensors

    records, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "fmnist"
        data.mkdir()
        write_idx(data, args.train_per_class, 100)
        common = ["run", "image-dm", "--dataset", "fashion-mnist", "--data-root", str(data), "--ipc", str(args.ipc),
                  "--iterations", str(args.iterations), "--batch-real", str(args.batch_real), "--eval-runs", str(args.eval_runs),
                  "--eval-epochs", str(args.eval_epochs), "--no-progress", "--device", "cpu", "shard_classes=true",
                  "eval_vectorize=1", "baselines=", f"checkpoint_every={args.iterations}"]
        base: dict | None = None
        for k in [1] + [int(p) for p in args.procs.split(",")]:
            out = Path(tmp) / f"p{k}"
            launcher = [sys.executable] if k == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        "--nproc_per_node", str(k)]
            load_before = os.getloadavg()[0]
            wall = timed_run([*launcher, "-m", "mmdistill", *common, "--out", str(out)])
            manifest = json.loads((out / "manifest.json").read_text())
            timing, acc = manifest["timing"], manifest["metrics"]["distilled"]
            rec = {"processes": k, "wall_seconds": wall, "seconds_per_iteration": timing["seconds"] / timing["iterations"],
                   "eval_seconds": timing["eval_seconds"], "accuracy_runs": acc["runs"],
                   "load_average_1min": [load_before, os.getloadavg()[0]]}
            syn = load_tensors(out / "synthetic.safetensors")
            if base is None:
                base = {"syn": syn, "acc": acc["runs"], **rec}
            else:
                rec["identical_set"] = all(torch.equal(syn[n], base["syn"][n]) for n in syn)
                rec["identical_accuracies"] = acc["runs"] == base["acc"]
                rec["iteration_speedup"] = base["seconds_per_iteration"] / rec["seconds_per_iteration"]
                rec["eval_speedup"] = base["eval_seconds"] / rec["eval_seconds"]
            records.append(rec)
            rows.append([k, f"{rec['seconds_per_iteration']:.2f}", f"{rec.get('iteration_speedup', 1.0):.2f}",
                         f"{rec['eval_seconds']:.1f}", f"{rec.get('eval_speedup', 1.0):.2f}",
                         f"{100 * float(np.mean(acc['runs'])):.2f}", {True: "yes", False: "NO"}.get(rec.get("identical_set", True)),
                         {True: "yes", False: "NO"}.get(rec.get("identical_accuracies", True)), f"{load_before:.2f}"])
            print(rows[-1], flush=True)
    print(f"\nDM at IPC {args.ipc} on Fashion-MNIST-shaped random data ({args.train_per_class} per class), {args.iterations} "
          f"iterations, batch_real {args.batch_real}; evaluation of {args.eval_runs} ConvNets x {args.eval_epochs} epochs; "
          "1 thread per process")
    print_table(["processes", "s / iteration", "speed-up", "eval s", "eval speed-up", "accuracy %", "same set",
                 "same accuracies", "load avg"], rows)
    write_result(args.name, {"benchmark": "DM distillation and evaluation, 1 vs K processes (torchrun, gloo)",
                             "data": "Fashion-MNIST-shaped random idx files", "ipc": args.ipc, "iterations": args.iterations,
                             "batch_real": args.batch_real, "eval_runs": args.eval_runs, "eval_epochs": args.eval_epochs,
                             "train_per_class": args.train_per_class, "runs": records})


if __name__ == "__main__":
    main()
