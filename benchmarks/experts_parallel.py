"""Wall time to produce the same expert buffer with 1 and with K processes (``torchrun``, gloo on CPU).

Each process runs with ``--threads`` intra-op threads (default 1, as torchrun sets OMP_NUM_THREADS=1), so K
processes use K times the cores of one: the speed-up is that of sharding the experts. Both buffers are
compared trajectory for trajectory (they must be identical: every expert is seeded by its index).
Target (issue 3): speed-up >= 1.8x with 2 processes.

    python benchmarks/experts_parallel.py [--dataset digits] [--experts 8] [--epochs 10] [--procs 2] [--thread-cores 2]

``--thread-cores 2`` adds one process on 2 intra-op threads, experts one at a time against 2 at a time on threads
(``expert_threads``, the CPU default since it exists); a same-buffer "yes" there means bit-equal to the 1-thread run.

Prints one row per run and writes ``benchmarks/results/experts_parallel.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from _common import print_table, timed_run, write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits", help="image-mtt dataset the experts train on (default %(default)s)")
    ap.add_argument("--data-root", default=None, help="where the dataset lives (default: the loader's; digits is built in)")
    ap.add_argument("--experts", type=int, default=8, help="expert trajectories in the buffer (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs of each expert (default %(default)s)")
    ap.add_argument("--procs", default="2",
                    help="comma-separated process counts to compare with 1, each run under torchrun (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads (OMP_NUM_THREADS) of every process of the 1 vs K comparison (default %(default)s)")
    ap.add_argument("--thread-cores", type=int, default=0,
                    help="also time one process on this many intra-op threads, experts one at a time and that many at a time "
                         "on threads (expert_threads; 'same buffer' compares with the one-thread process)")
    ap.add_argument("--name", default="experts_parallel", help="the JSON's name under benchmarks/results (default %(default)s)")
    args = ap.parse_args()
    from mmdistill.buffer import ExpertBuffer

    common = ["experts", "image-mtt", "--dataset", args.dataset, "--num-experts", str(args.experts), "--expert-train-epochs",
              str(args.epochs), "--max-start-epoch", "1", "--expert-epochs", "1", "--no-progress", "--device", "cpu"]
    if args.data_root:
        common += ["--data-root", args.data_root]
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        one = timed_run([sys.executable, "-m", "mmdistill", *common, "--buffer", str(Path(tmp) / "p1")], args.threads)
        rows.append([1, f"{one:.1f}", "1.00", "-"])
        records.append({"processes": 1, "seconds": one})
        print(rows[-1], flush=True)
        for k in [int(p) for p in args.procs.split(",")]:
            wall = timed_run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(k), "-m", "mmdistill",
                        *common, "--buffer", str(Path(tmp) / f"p{k}")], args.threads)
            a, b = ExpertBuffer(Path(tmp) / "p1"), ExpertBuffer(Path(tmp) / f"p{k}")
            same = all(torch.equal(a.rows(i, list(range(args.epochs + 1))), b.rows(i, list(range(args.epochs + 1)))) for i in range(args.experts))
            ranks = sorted(e["rank"] for e in b.index["experts"])
            rows.append([k, f"{wall:.1f}", f"{one / wall:.2f}", "yes" if same else "NO"])
            records.append({"processes": k, "seconds": wall, "speedup": one / wall, "identical_buffer": same, "ranks": ranks})
            print(rows[-1], flush=True)
        if args.thread_cores > 1:  # one process on all the cores: experts one at a time, then several at a time on threads
            for label, per in (("1 process, one expert at a time", 1), (f"1 process, {args.thread_cores} experts at a time (threads)", args.thread_cores)):
                name = f"t{per}"
                wall = timed_run([sys.executable, "-m", "mmdistill", *common, "--expert-threads", str(per), "--buffer", str(Path(tmp) / name)],
                                 args.thread_cores)
                b = ExpertBuffer(Path(tmp) / name)
                same = all(torch.equal(ExpertBuffer(Path(tmp) / "p1").rows(i, list(range(args.epochs + 1))),
                                       b.rows(i, list(range(args.epochs + 1)))) for i in range(args.experts))
                rows.append([f"{label}, {args.thread_cores} intra-op threads", f"{wall:.1f}", f"{one / wall:.2f}", "yes" if same else "NO"])
                records.append({"processes": 1, "intra_op_threads": args.thread_cores, "expert_threads": per, "seconds": wall,
                                "speedup": one / wall, "identical_buffer": same})
                print(rows[-1], flush=True)
    print(f"\n{args.experts} experts x {args.epochs} epochs on {args.dataset} (image-mtt), {args.threads} thread(s) per process")
    print_table(["processes", "wall s", "speed-up", "same buffer"], rows)
    write_result(args.name, {"benchmark": "expert trajectories, 1 vs K processes", "dataset": args.dataset, "experts": args.experts,
                             "epochs": args.epochs, "threads_per_process": args.threads, "runs": records})


if __name__ == "__main__":
    main()
