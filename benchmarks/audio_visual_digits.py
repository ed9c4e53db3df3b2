"""Audio-visual digits (FSDD spoken digits + scikit-learn handwritten digits of the same class; test: an unseen
speaker's takes with unseen images) at 1 and 10 pairs per class: random real pairs, herding, AV-DM, AVDD and the whole
training set, each scored as fused, audio-only and visual-only test accuracy (mean ± std over the CPU budget's 5
evaluation networks), and the cost of the distillation at the CPU budget.

    python benchmarks/make_audio_visual_digits.py --out /tmp/av_digits
    python benchmarks/audio_visual_digits.py --data-root /tmp/av_digits/pairs.csv --methods baselines,dm,avdd --ipc 1
    python benchmarks/audio_visual_digits.py --data-root /tmp/av_digits/pairs.csv --methods whole --whole-epochs 10
    python benchmarks/audio_visual_digits.py --table

Each (method, ipc) writes ``benchmarks/results/audio_visual/digits_<method>_ipc<K>.json``; ``--table`` prints them all
and writes ``benchmarks/results/audio_visual_digits.json``. A run whose per-row files are already there is refused before
it starts (``--results-dir DIR`` for a side measurement, ``MMDISTILL_BENCH_REPLACE=1`` to replace them).

Choosing the budget on the validation set (``make_audio_visual_digits.py --validation``), never on the test split:
``--iterations 200,500,1000`` distils one trajectory, evaluating it after 200 iterations, then resuming it to 500 and
to 1000 (the same pairs as fresh runs of each length, at the cost of the longest); ``--eval-runs`` overrides the
budget's number of evaluation networks; ``--results-dir`` keeps such a sweep apart from the test results:

    python benchmarks/audio_visual_digits.py --data-root /tmp/av_digits_val/pairs.csv --methods dm,avdd --ipc 1,10 \\
        --iterations 200,500,1000 --eval-runs 5 --results-dir benchmarks/results/audio_visual_validation
    python benchmarks/audio_visual_digits.py --table --results-dir benchmarks/results/audio_visual_validation
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, print_table, refuse_recorded, write_result  # noqa: E402

from mmdistill.io import write_json  # noqa: E402

log = logging.getLogger("audio_visual_digits")
OUT = RESULTS / "audio_visual"
SCORES = ("accuracy", "audio_accuracy", "visual_accuracy")


def _scores(block: dict[str, Any]) -> dict[str, Any]:
    sc = block.get("scores") or {"accuracy": {"mean": block["mean"], "std": block["std"], "runs": block["runs"]}}
    return {k: {"mean": sc[k]["mean"], "std": sc[k]["std"], "runs": sc[k]["runs"]} for k in SCORES if k in sc}


def _save(method: str, ipc: int | None, payload: dict[str, Any], suffix: str = "") -> None:
    write_json(OUT / _file_name(method, ipc, suffix), {"machine": machine(), "method": method, "ipc": ipc, **payload})


def _file_name(method: str, ipc: int | None, suffix: str = "") -> str:
    return f"digits_{method}" + (f"_ipc{ipc}" if ipc is not None else "") + suffix + ".json"


def planned_files(methods: list[str], ipcs: list[int], iterations: list[int] | None) -> list[str]:
    """The per-row JSON names a run of ``methods`` at ``ipcs`` writes under the results folder."""
    names: list[str] = []
    for method in methods:
        if method == "whole":
            names.append(_file_name("whole", None))
        elif method == "baselines":
            names += [_file_name(b, k) for k in ipcs for b in ("random_real", "herding")]
        else:
            names += [_file_name(method, k, "" if n is None else f"_it{n}") for k in ipcs for n in (iterations or [None])]
    return names


def run_baselines(data_root: str, ipc: int, overrides: dict[str, Any]) -> None:
    from mmdistill.evaluation import run_plan
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.recipes import audio_visual_dm

    cfg = audio_visual_dm.RECIPE.config(dataset="csv", data_root=data_root, ipc=ipc, budget="cpu", progress=False, **overrides)
    data = MODALITY.load(cfg)
    t = time.perf_counter()
    metrics = run_plan(MODALITY.evaluation_plan(cfg, None, data, torch.device("cpu")))
    seconds = time.perf_counter() - t
    for name in ("random_real", "herding"):
        _save(name, ipc, {"scores": _scores(metrics[name]), "eval_seconds": seconds, "protocol": metrics["protocol"]})


def run_method(data_root: str, method: str, ipc: int, overrides: dict[str, Any], iterations: list[int] | None = None) -> None:
    """Distil and evaluate ``method`` at ``ipc``; with ``iterations`` (ascending), one trajectory evaluated after each
    (resumed from its checkpoint), one JSON per length (``_it<N>``)."""
    from mmdistill.recipes import audio_visual_avdd, audio_visual_dm

    recipe = {"dm": audio_visual_dm, "avdd": audio_visual_avdd}[method].RECIPE
    steps: list[int | None] = list(iterations) if iterations else [None]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "run")
        for step, n in enumerate(steps):
            extra = {} if n is None else {"iterations": n}
            if step:
                extra["resume"] = True
            log.info("%s ipc %d: %s", method, ipc, f"{n} iterations" if n is not None else "the budget's iterations")
            res = recipe.run(dataset="csv", data_root=data_root, ipc=ipc, budget="cpu", baselines=[], progress=False, out=out,
                             **overrides, **extra)
            m = res.manifest
            _save(method, ipc, {"scores": _scores(m["metrics"]["distilled"]), "distill_seconds": m["timing"]["seconds"],
                                "eval_seconds": m["timing"]["eval_seconds"], "iterations": m["timing"]["iterations"],
                                "resumed_from": m["timing"].get("resumed_from"),
                                "config": {k: m["config"][k] for k in ("image_size", "n_mels", "audio_frames", "iterations", "batch_real",
                                                                        "lr_data", "width", "eval_epochs", "eval_runs", "init", "multi_formation")}},
                  suffix="" if n is None else f"_it{n}")


def run_whole(data_root: str, epochs: int) -> None:
    from mmdistill.evaluation import run_plan
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.recipes import audio_visual_dm

    cfg = audio_visual_dm.RECIPE.config(dataset="csv", data_root=data_root, ipc=1, budget="cpu", baselines=[], eval_whole=True,
                                        eval_epochs=epochs, progress=False)
    data = MODALITY.load(cfg)
    t = time.perf_counter()
    metrics = run_plan(MODALITY.evaluation_plan(cfg, None, data, torch.device("cpu")))
    _save("whole", None, {"scores": _scores(metrics["whole"]), "eval_seconds": time.perf_counter() - t, "eval_epochs": epochs,
                          "train_pairs": len(data.train), "test_pairs": len(data.test)})


def table() -> None:
    rows, records = [], []
    for path in sorted(OUT.glob("digits_*.json")):
        rec = json.loads(path.read_text())
        records.append(rec)
        cells = [f"{100 * rec['scores'][k]['mean']:.2f} ± {100 * rec['scores'][k]['std']:.2f}" if k in rec["scores"] else "-" for k in SCORES]
        cost = f"{rec['distill_seconds']:.0f} s" if "distill_seconds" in rec else "-"
        its = rec.get("iterations", "-")
        formation = (rec.get("config") or {}).get("multi_formation", 1 if "distill_seconds" in rec else "-")
        rows.append([rec["method"], rec["ipc"] if rec["ipc"] is not None else "all", its, formation, *cells, cost,
                     f"{rec.get('eval_seconds', 0):.0f} s"])
    order = {"random_real": 0, "herding": 1, "dm": 2, "avdd": 3, "whole": 4}
    rows.sort(key=lambda r: (str(r[1]), order.get(r[0], 9), r[2] if isinstance(r[2], int) else 0))
    print_table(["method", "pairs/class", "iterations", "multi-formation", "fused (%)", "audio-only (%)", "visual-only (%)", "distill", "evaluation"], rows)
    name = "audio_visual_digits" if OUT == RESULTS / "audio_visual" else f"{OUT.name}_digits"
    write_result(name, {"dataset": "audio-visual digits (FSDD + scikit-learn digits)", "results_dir": str(OUT.relative_to(RESULTS))
                        if OUT.is_relative_to(RESULTS) else str(OUT), "rows": records}, replace=True)  # an index of the per-run files


def main() -> None:
    global OUT
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="pairs.csv written by benchmarks/make_audio_visual_digits.py")
    p.add_argument("--methods", default="baselines,dm,avdd",
                   help="comma-separated: baselines, dm, avdd, whole (default %(default)s)")
    p.add_argument("--ipc", default="1,10", help="pairs per class, comma-separated (default %(default)s)")
    p.add_argument("--whole-epochs", type=int, default=10,
                   help="epochs of the whole-training-set reference networks (default %(default)s)")
    p.add_argument("--table", action="store_true", help="print the table of every stored result and write the summary JSON")
    p.add_argument("--iterations", help="comma-separated ascending lengths: one trajectory evaluated after each (resumed); "
                   "default: the cpu budget's")
    p.add_argument("--eval-runs", type=int, help="evaluation networks per set (default: the cpu budget's)")
    p.add_argument("--multi-formation", type=int, help="multi_formation of the distilled sets (default: the recipe's, 2 = --idm_aug)")
    p.add_argument("--results-dir", help=f"folder of the per-row JSONs (default {OUT}); a validation sweep goes elsewhere")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.results_dir:
        OUT = Path(args.results_dir).resolve()
    overrides: dict[str, Any] = {} if args.eval_runs is None else {"eval_runs": args.eval_runs}
    formation: dict[str, Any] = {} if args.multi_formation is None else {"multi_formation": args.multi_formation}
    iterations = sorted(int(n) for n in args.iterations.split(",")) if args.iterations else None
    if args.table:
        table()
        return
    if not args.data_root:
        p.error("--data-root is required (run benchmarks/make_audio_visual_digits.py first)")
    planned = planned_files(args.methods.split(","), [int(k) for k in args.ipc.split(",")], iterations)
    refuse_recorded(p, [OUT / name for name in planned], "--results-dir DIR")
    for method in args.methods.split(","):
        if method == "whole":
            run_whole(args.data_root, args.whole_epochs)
            continue
        for ipc in (int(k) for k in args.ipc.split(",")):
            if method == "baselines":
                run_baselines(args.data_root, ipc, overrides)
            else:
                run_method(args.data_root, method, ipc, {**overrides, **formation}, iterations)


if __name__ == "__main__":
    main()
