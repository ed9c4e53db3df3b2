"""Class-incremental learning on digits (scikit-learn, embedded): a DM-distilled replay memory against random and herding
memories of the same size, at the CPU budget, with the protocol of DM's continual-learning experiment (GDumb's; see
mmdistill/continual.py for every value and its line in the reference code).

5 steps of 2 classes (DM: 5 and 10 steps of CIFAR-100's 100 classes), 20 images per class in every memory (DM's
``--ipc 20``, CL_DM.py:15; digits has about 140 training images per class), 3 networks trained from scratch per memory and
step (``--num_eval 3``, CL_DM.py:17) for each class order (DM: the 5 orders of seeds 0-4; default here 0,1,2).

    python benchmarks/continual.py [--orders 0,1,2] [--steps 5] [--ipc 20] [--runs 3] [--outputs dataset] [key=value ...]
    python benchmarks/continual.py --orders 0 --ipc 2 --runs 1 iterations=5 eval_epochs=5 herding_epochs=1 --name smoke  # ~30 s

Prints the table of each order as it finishes and the pooled one (mean ± std over every network of every order, as
CL_DM.py:150 pools its 5 x 3), and writes ``benchmarks/results/continual_digits.json`` (``--name``); the run folders
(``--keep DIR`` keeps them, with each order's continual.png; a second call with the same ``--keep`` goes on from each
order's first unfinished step, and the JSON says how many steps were kept, whose time it does not count) are otherwise
temporary. ``--outputs`` is run_continual's (one output per class of the dataset, the reference's, or per class seen:
the recorded digits table's, ``--outputs seen``); the JSON records it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import pct, print_table, write_result

from mmdistill.config import parse_overrides
from mmdistill.continual import DEFAULT_OUTPUTS, MEMORIES, OUTPUTS, run_continual
from mmdistill.evaluation import EvalResult
from mmdistill.io import read_json
from mmdistill.recipes import image_dm


def pooled_summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per step of the orders' ``records`` (each with its ``steps`` as ``continual.json`` records them): the classes seen
    and each memory's accuracy pooled over every network of every order, ``{"mean", "std", "networks"}`` (fractions;
    the population std of :class:`~mmdistill.evaluation.EvalResult`, as CL_DM.py:150 pools its 5 x 3)."""
    summary = []
    for t, step in enumerate(records[0]["steps"] if records else []):
        pooled = {m: EvalResult.of([v for r in records for v in r["steps"][t]["accuracy"][m]["runs"]]) for m in MEMORIES}
        summary.append({"classes_seen": len(step["classes_seen"]),
                        **{m: {"mean": res.mean, "std": res.std, "networks": len(res.runs)} for m, res in pooled.items()}})
    return summary


def outputs_of(result: dict[str, Any]) -> str:
    """The evaluation networks' outputs a benchmark ``result`` (its JSON) was measured with: ``"dataset"`` or
    ``"seen"``. A result written before the benchmark had ``--outputs`` records none; run_continual then gave one
    output per class seen, so it reads ``"seen"``."""
    return str(result.get("outputs", "seen"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", default="0,1,2", help="class-order seeds, comma-separated (default %(default)s)")
    ap.add_argument("--steps", type=int, default=5, help="steps of equal classes (default %(default)s)")
    ap.add_argument("--ipc", type=int, default=20, help="images per class in every memory (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="networks per memory, step and order (default %(default)s)")
    ap.add_argument("--outputs", choices=OUTPUTS, default=DEFAULT_OUTPUTS, help="the evaluation network's outputs: one per "
                    "class of the dataset (the reference's) or one per class seen (the recorded table's) (default %(default)s)")
    ap.add_argument("--keep", default=None, help="a folder to keep the run folders in (default: temporary)")
    ap.add_argument("--name", default="continual_digits", help="the JSON's name under benchmarks/results")
    ap.add_argument("overrides", nargs="*", help="key=value passed to every run (the recorded rows use none)")
    args = ap.parse_args()
    overrides = parse_overrides(args.overrides)
    if fixed := sorted(set(overrides) & {"dataset", "ipc", "classes", "out", "eval_runs"}):
        ap.error(f"{', '.join(fixed)}: set by the benchmark (give --ipc / --runs), not as key=value")
    keys = {"budget": "cpu", **overrides}
    orders = [int(s) for s in args.orders.split(",")]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        for seed in orders:
            done = root / f"order-{seed}" / "continual.json"  # --keep: steps of an earlier call are kept, not timed again
            kept = len(read_json(done).get("steps", [])) if done.exists() else 0
            t0 = time.perf_counter()
            res = run_continual(image_dm.RECIPE, root / f"order-{seed}", dataset="digits", steps=args.steps, ipc=args.ipc,
                                order_seed=seed, eval_runs=args.runs, keys=keys, outputs=args.outputs,
                                say=lambda line: print(line, flush=True))
            wall = time.perf_counter() - t0
            print(f"\norder {seed} ({', '.join(res.class_order)}), {wall:.0f} s:\n{res.table()}\n", flush=True)
            records.append({"order_seed": seed, "class_order": res.class_order, "steps": res.steps, "wall_seconds": wall,
                            "steps_kept_from_an_earlier_call": kept})
    summary = pooled_summary(records)
    print(f"pooled over {len(orders)} class order(s) x {args.runs} networks (mean ± std %):")
    print_table(["classes seen", *MEMORIES], [[s["classes_seen"], *(pct(s[m]) for m in MEMORIES)] for s in summary])
    write_result(args.name, {"benchmark": "digits class-incremental, DM memory vs random and herding, cpu budget",
                             "steps": args.steps, "ipc": args.ipc, "runs": args.runs, "orders": orders,
                             "outputs": args.outputs, "overrides": overrides,
                             "summary": summary, "per_order": records})


if __name__ == "__main__":
    main()
