"""Free Spoken Digit Dataset (FSDD) as FD-MFCC maps, IPC 1 and 10: distilled vs random real subset vs the
whole training set, same network (ConvNet-3) and evaluation protocol, mean ± std over evaluation runs.

Targets (issue 4): IPC 1 distilled >= random + 10 points; IPC 10 >= random + 3 points; FD-MFCC extraction
of the whole set <= 10 s on 2 CPU cores; the time of the whole run stated.

The upstream ``recordings.tar`` is extracted to a temporary folder and read from there as a user would.
``--methods`` names recipes of the audio adapter by method (``dm`` -> ``audio_dm``; ``ddfad`` ->
``audio_ddfad``, whose IPC runs share one expert buffer, ``--buffer`` or a temporary one). ``--validation`` tunes without touching the test split: the test
takes (0-4) are left out and takes 5-9 of every speaker and digit play their role (renamed 0-4 in the
temporary copy), training on takes 10-49.

The work comes in three parts that ``--parts`` selects: ``whole`` (the recipe's network trained on the whole
training split), ``baselines`` (random real subset and herding per IPC and seed, computed once and shared by
every method whose evaluation settings agree) and ``distill`` (each recipe, its distilled set evaluated alone).
On a machine with several cores the parts can run as separate processes, and a last call with ``--merge``
and no ``--parts`` prints the combined table and summary:

    python benchmarks/audio_fsdd.py [--tar PATH] [--ipcs 1,10] [--methods dm] [--seeds 0] [key=value ...]
    python benchmarks/audio_fsdd.py --parts whole --name fsdd_whole &
    python benchmarks/audio_fsdd.py --parts baselines --ipcs 10 --methods ddfad --name fsdd_base10 &
    python benchmarks/audio_fsdd.py --parts distill --ipcs 10 --methods ddfad --buffer DIR --name fsdd_ddfad10
    python benchmarks/audio_fsdd.py --parts "" --merge fsdd_whole.json fsdd_base10.json fsdd_ddfad10.json --name audio_fsdd

(``--merge`` reads each name in ``benchmarks/results/``, where ``--name`` writes, or a path as given.)
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from _common import RESULTS, pct, print_table, write_result

from mmdistill.config import parse_overrides
from mmdistill.training import TrainProtocol
from mmdistill.classification import evaluate_tensors
from mmdistill.modalities.audio import MODALITY, extract_fdmfcc
from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset
from mmdistill.modalities.audio.decode import decode_all, to_fixed_batch
from mmdistill.classification import evaluate_baselines, network_factory

DEFAULT_TAR = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings.tar")  # ../shared beside the clone
TARGET_GAIN = {1: 0.10, 10: 0.03}
EXTRACTION_LIMIT_S = 10.0
RECIPES = {"dm": "audio_dm", "ddfad": "audio_ddfad"}
PARTS = ("whole", "baselines", "distill")


def extract(tar: Path, dest: Path, validation: bool) -> Path:
    """Unpack the FSDD WAVs into ``dest/recordings`` (in validation mode: takes 5-49 only, 5-9 renamed 0-4).
    A folder unpacked completely by an earlier call (marked by ``dest/.complete``) is reused."""
    out = dest / "recordings"
    if (dest / ".complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    name = re.compile(r"^(\d)_(\w+)_(\d+)\.wav$")
    with tarfile.open(tar) as tf:
        for member in tf:
            m = name.match(Path(member.name).name)
            if not member.isfile() or m is None:
                continue
            take = int(m.group(3))
            if validation:
                if take <= 4:
                    continue
                take = take - 5 if take <= 9 else take
            (out / f"{m.group(1)}_{m.group(2)}_{take}.wav").write_bytes(tf.extractfile(member).read())
    (dest / ".complete").touch()
    return out


def time_extraction(root: Path) -> dict[str, float]:
    """Seconds to read the whole set (decode + resample + pad + FD-MFCC) and for the FD-MFCC step alone."""
    t0 = time.perf_counter()
    ds = load_audio_dataset("fsdd", root)
    load_s = time.perf_counter() - t0
    items, _ = find_audio_items("fsdd", root)
    clips, _ = decode_all([(it.name, it.open) for it in items], strict=False)
    waves = to_fixed_batch([c for c in clips if c is not None], ds.params.sample_rate, ds.num_samples, "center")
    t1 = time.perf_counter()
    maps = extract_fdmfcc(waves, ds.params)
    features_s = time.perf_counter() - t1
    return {"clips": int(maps.shape[0]), "load_seconds": load_s, "fdmfcc_seconds": features_s, "shape": list(maps.shape[1:])}


def whole_set(cfg, epochs: int, runs: int) -> dict:
    """The recipe's network trained on the whole training split with the evaluation protocol, ``runs`` times."""
    data = MODALITY.load(cfg)
    protocol = TrainProtocol(epochs=epochs, lr=cfg.eval_lr, batch_size=cfg.eval_batch)
    make_net = network_factory(MODALITY, cfg.network, data, torch.device("cpu"))
    t0 = time.perf_counter()
    res = evaluate_tensors((data.train.x, data.train.y), data.test, make_net, protocol, runs=runs, seed=cfg.seed, desc="whole set")
    return {**res.as_dict(), "epochs": epochs, "seconds": time.perf_counter() - t0, "train_samples": len(data.train)}


def baseline_key(cfg) -> str:
    """What the random-real and herding baselines depend on: the same key, the same numbers for every method."""
    keys = ("ipc", "seed", "network", "eval_epochs", "eval_runs", "eval_lr", "eval_batch", "eval_dsa", "dsa_strategy", "herding_epochs")
    key = ",".join(f"{k}={getattr(cfg, k)}" for k in keys)
    # the maps' normalisation changes what every network sees; keys of the default stay as earlier results files wrote them
    return key if cfg.normalize == "channel" else f"{key},normalize={cfg.normalize}"


def baselines(cfg) -> dict:
    """Random real subset and herding at ``cfg.ipc`` per class (:func:`evaluate_baselines`), with their time."""
    data = MODALITY.load(cfg)
    t0 = time.perf_counter()
    rows = evaluate_baselines(cfg, data, MODALITY, device=torch.device("cpu"))[cfg.network]
    return {"key": baseline_key(cfg), "ipc": cfg.ipc, "seed": cfg.seed, "seconds": time.perf_counter() - t0,
            **{name: res.as_dict() for name, res in rows.items()}}


def merge(paths: list[str]) -> dict:
    """Whole-set result, baselines and distillation runs of earlier results files of this benchmark."""
    out: dict = {"whole_set": None, "baselines": {}, "runs": []}
    for path in paths:
        given = Path(path)
        saved = json.loads((given if given.exists() or given.parent != Path(".") else RESULTS / given).read_text())
        out["whole_set"] = saved.get("whole_set") or out["whole_set"]
        out["baselines"].update(saved.get("baselines", {}))
        out["runs"] += saved.get("runs", [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tar", default=DEFAULT_TAR, help="FSDD recordings.tar (default: %(default)s)")
    ap.add_argument("--ipcs", default="1,10", help="maps per class, comma-separated (default %(default)s)")
    ap.add_argument("--methods", default="dm", help=f"comma-separated, from {', '.join(RECIPES)} (default %(default)s)")
    ap.add_argument("--seeds", default="0", help="seeds, comma-separated: one run per (ipc, seed, method) (default %(default)s)")
    ap.add_argument("--budget", default="cpu", help="recipe budget: cpu or paper (default %(default)s)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="what this process computes, from whole (the whole-training-set baseline), baselines (random real "
                         "and herding per ipc and seed, shared by the methods) and distill (the recipes, distilled set only); "
                         "default all three")
    ap.add_argument("--merge", nargs="*", default=[], help="results files of earlier runs of this benchmark (e.g. parts run in "
                                                            "parallel processes) combined with this one's in the table and summary")
    ap.add_argument("--whole-epochs", type=int, default=20,
                    help="epochs of the whole-training-set baseline (default %(default)s)")
    ap.add_argument("--whole-runs", type=int, default=5, help="runs of the whole-training-set baseline (default %(default)s)")
    ap.add_argument("--validation", action="store_true", help="tune on takes 5-9 instead of the test split")
    ap.add_argument("--name", default=None, help="results file name under benchmarks/results (default audio_fsdd[_validation])")
    ap.add_argument("--out-dir", default=None, help="keep the unpacked clips and the distilled sets (manifest, preview, "
                                                     "maps, checkpoint: resumable) under this folder (default: a temporary "
                                                     "one, removed at the end)")
    ap.add_argument("--buffer", default=None, help="expert buffer of the trajectory recipe (default: one in the temporary folder)")
    ap.add_argument("overrides", nargs="*", help="key=value passed to every recipe run")
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"--parts: unknown {unknown}; choose from {', '.join(PARTS)}")
    overrides = parse_overrides(args.overrides)
    ipcs = [int(i) for i in args.ipcs.split(",") if i.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    methods = [m for m in args.methods.split(",") if m]
    if unknown := [m for m in methods if m not in RECIPES]:
        ap.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    started = time.perf_counter()
    results = merge(args.merge)
    with tempfile.TemporaryDirectory() as tmp:
        # with --out-dir the clips are unpacked there too, so a distillation resumed later (resume=true) reads the
        # same data_root, a key that blocks resume when it changes
        folder = "fsdd-validation" if args.validation else "fsdd"
        root = extract(Path(args.tar), Path(args.out_dir or tmp) / folder, args.validation)
        timing = time_extraction(root)
        print(f"FSDD: {timing['clips']} clips -> FD-MFCC {tuple(timing['shape'])}: reading the whole set {timing['load_seconds']:.1f} s, "
              f"of which FD-MFCC {timing['fdmfcc_seconds']:.1f} s (limit {EXTRACTION_LIMIT_S:.0f} s)")
        common = {"dataset": "fsdd", "data_root": str(root), "budget": args.budget, "progress": False, **overrides}
        recipes = {m: importlib.import_module(f"mmdistill.recipes.{RECIPES[m]}") for m in methods}
        if "whole" in parts:
            whole = whole_set(recipes[methods[0]].RECIPE.config(**common), args.whole_epochs, args.whole_runs)
            results["whole_set"] = whole
            print(f"whole training set ({whole['train_samples']} clips, {args.whole_epochs} epochs): {pct(whole)} % "
                  f"({args.whole_runs} runs, {whole['seconds']:.0f} s)", flush=True)
        for ipc in ipcs:
            for seed in seeds:
                for method in methods:
                    cfg = recipes[method].RECIPE.config(**common, ipc=ipc, seed=seed)
                    key = baseline_key(cfg)
                    if "baselines" in parts and key not in results["baselines"]:
                        results["baselines"][key] = baselines(cfg)
                        b = results["baselines"][key]
                        print(f"baselines ipc {ipc} seed {seed}: random {pct(b.get('random_real'))}, herding "
                              f"{pct(b.get('herding'))} ({b['seconds']:.0f} s)", flush=True)
                    if "distill" not in parts:
                        continue
                    t0 = time.perf_counter()
                    extra = {"buffer": args.buffer or str(Path(tmp) / f"experts-{seed}")} if method == "ddfad" else {}
                    res = recipes[method].run(**common, **extra, ipc=ipc, seed=seed, baselines=[],
                                              out=str(Path(args.out_dir or tmp) / f"{method}-ipc{ipc}-seed{seed}"))
                    wall = time.perf_counter() - t0
                    results["runs"].append({"method": method, "ipc": ipc, "seed": seed, "baseline_key": key,
                                            "metrics": res.manifest["metrics"], "wall_seconds": wall,
                                            "timing": res.manifest["timing"], "config": res.manifest["config"]})
                    print(f"{method} ipc {ipc} seed {seed}: distilled {pct(res.manifest['metrics']['distilled'])}, {wall:.0f} s", flush=True)
    total = time.perf_counter() - started
    split = "validation (takes 5-9; training on takes 10-49)" if args.validation else "test (takes 0-4)"
    summary = report(results, args.budget, split)
    print(f"FD-MFCC extraction {timing['fdmfcc_seconds']:.1f} s (<= {EXTRACTION_LIMIT_S:.0f} s: "
          f"{'yes' if timing['fdmfcc_seconds'] <= EXTRACTION_LIMIT_S else 'NO'}); this process {total:.0f} s")
    write_result(args.name or ("audio_fsdd_validation" if args.validation else "audio_fsdd"), {
        "benchmark": "FSDD audio distillation", "split": split, "parts": parts, "merged": args.merge, "extraction": timing,
        **results, "summary": summary, "total_seconds": total,
    })


def report(results: dict, budget: str, split: str) -> list[dict]:
    """Print the table (distilled next to its baselines and the whole set) and the targets; return the summary."""
    whole = results["whole_set"]
    rows, summary = [], []
    for r in results["runs"]:
        # baselines computed apart (this benchmark's --parts baselines), else those the run evaluated itself
        b = results["baselines"].get(r.get("baseline_key"), {}) or {k: v for k, v in r["metrics"].items() if k in ("random_real", "herding")}
        d = r["metrics"]["distilled"]
        r["gain_points"] = 100 * (d["mean"] - b["random_real"]["mean"]) if "random_real" in b else None
        # a run with 0 iterations is the starting real subset evaluated alone: shown, not counted toward a target
        rows.append([r["method"] + (" (start)" if r["timing"]["iterations"] == 0 else ""), r["ipc"], r["seed"], r["timing"]["iterations"], pct(d), pct(b.get("random_real")), pct(b.get("herding")), pct(whole),
                     "-" if r["gain_points"] is None else f"{r['gain_points']:+.2f}", f"{r['timing']['seconds']:.0f}",
                     f"{r.get('wall_seconds', r['timing'].get('total_seconds', 0)):.0f}"])
    print(f"\nFSDD, ConvNet-3 on FD-MFCC (3, 13, 101), budget {budget}, accuracy % on the {split} split")
    if whole:
        print(f"whole training set: {pct(whole)} ({whole['epochs']} epochs, {len(whole['runs'])} runs)")
    print_table(["method", "ipc", "seed", "iterations", "distilled", "random real", "herding", "whole set", "gain", "distill s", "run s"], rows)
    for method in sorted({r["method"] for r in results["runs"]}):
        for ipc in sorted({r["ipc"] for r in results["runs"] if r["method"] == method}):
            gains = [r["gain_points"] for r in results["runs"] if r["method"] == method and r["ipc"] == ipc
                     and r["gain_points"] is not None and r["timing"]["iterations"] > 0]
            if not gains:
                print(f"{method} ipc {ipc}: no random-real baseline for this configuration yet (--parts baselines or --merge)")
                continue
            gain = statistics.fmean(gains)
            target = 100 * TARGET_GAIN.get(ipc, 0.0)
            summary.append({"method": method, "ipc": ipc, "seeds": len(gains), "gain_points": gain, "target_gain_points": target,
                            "meets_target": gain >= target})
            print(f"{method} ipc {ipc}: mean gain over random {gain:+.2f} points (target {target:+.0f}): "
                  f"{'met' if gain >= target else 'NOT met'}")
    return summary


if __name__ == "__main__":
    main()
