"""Free Spoken Digit Dataset (FSDD) as FD-MFCC maps, IPC 1 and 10: distilled vs random real subset vs the
whole training set, same network (ConvNet-3) and evaluation protocol, mean ± std over evaluation runs.

Targets (issue 4): IPC 1 distilled >= random + 10 points; IPC 10 >= random + 3 points; FD-MFCC extraction
of the whole set <= 10 s on 2 CPU cores; the time of the whole run stated.

The upstream ``recordings.tar`` is extracted to a temporary folder and read from there as a user would.
``--methods`` names recipes of the audio adapter by method (``dm`` -> ``audio_dm``; ``ddfad`` ->
``audio_ddfad``, whose IPC runs share one expert buffer, ``--buffer`` or a temporary one). ``--validation`` tunes without touching the test split: the test
takes (0-4) are left out and takes 5-9 of every speaker and digit play their role (renamed 0-4 in the
temporary copy), training on takes 10-49.

    python benchmarks/audio_fsdd.py [--tar PATH] [--ipcs 1,10] [--methods dm] [--seeds 0] [key=value ...]
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from _common import pct, print_table, write_result

from mmdistill.config import parse_overrides
from mmdistill.evaluate import TrainProtocol, evaluate_set
from mmdistill.modalities.audio import MODALITY, extract_fdmfcc
from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset
from mmdistill.modalities.audio.decode import decode_all, to_fixed_batch
from mmdistill.pipeline import network_factory

DEFAULT_TAR = "/work/shared/data/fsdd/recordings.tar"
TARGET_GAIN = {1: 0.10, 10: 0.03}
EXTRACTION_LIMIT_S = 10.0
RECIPES = {"dm": "audio_dm", "ddfad": "audio_ddfad"}


def extract(tar: Path, dest: Path, validation: bool) -> Path:
    """Unpack the FSDD WAVs into ``dest/recordings`` (in validation mode: takes 5-49 only, 5-9 renamed 0-4)."""
    out = dest / "recordings"
    out.mkdir(parents=True)
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
    res = evaluate_set((data.train.x, data.train.y), data.test, make_net, protocol, runs=runs, seed=cfg.seed, desc="whole set")
    return {**res.as_dict(), "epochs": epochs, "seconds": time.perf_counter() - t0, "train_samples": len(data.train)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tar", default=DEFAULT_TAR, help="FSDD recordings.tar")
    ap.add_argument("--ipcs", default="1,10")
    ap.add_argument("--methods", default="dm", help=f"comma-separated, from {', '.join(RECIPES)}")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--whole-epochs", type=int, default=20, help="epochs of the whole-training-set baseline")
    ap.add_argument("--whole-runs", type=int, default=5, help="runs of the whole-training-set baseline (0: skip)")
    ap.add_argument("--validation", action="store_true", help="tune on takes 5-9 instead of the test split")
    ap.add_argument("--name", default=None, help="results file name (default audio_fsdd[_validation])")
    ap.add_argument("--buffer", default=None, help="expert buffer of the trajectory recipe (default: one in the temporary folder)")
    ap.add_argument("overrides", nargs="*", help="key=value passed to every recipe run")
    args = ap.parse_args()
    overrides = parse_overrides(args.overrides)
    started = time.perf_counter()
    records, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = extract(Path(args.tar), Path(tmp) / "fsdd", args.validation)
        timing = time_extraction(root)
        print(f"FSDD: {timing['clips']} clips -> FD-MFCC {tuple(timing['shape'])}: reading the whole set {timing['load_seconds']:.1f} s, "
              f"of which FD-MFCC {timing['fdmfcc_seconds']:.1f} s (limit {EXTRACTION_LIMIT_S:.0f} s)")
        common = {"dataset": "fsdd", "data_root": str(root), "budget": args.budget, "progress": False, **overrides}
        whole = None
        for method in args.methods.split(","):
            recipe = importlib.import_module(f"mmdistill.recipes.{RECIPES[method]}")
            if whole is None and args.whole_runs > 0:
                whole = whole_set(recipe.RECIPE.config(**common), args.whole_epochs, args.whole_runs)
                print(f"whole training set ({whole['train_samples']} clips, {args.whole_epochs} epochs): {pct(whole)} % "
                      f"({args.whole_runs} runs, {whole['seconds']:.0f} s)")
            for ipc in [int(i) for i in args.ipcs.split(",") if i.strip()]:
                for seed in [int(s) for s in args.seeds.split(",")]:
                    t0 = time.perf_counter()
                    extra = {"buffer": args.buffer or str(Path(tmp) / f"experts-{seed}")} if method == "ddfad" else {}
                    res = recipe.run(**common, **extra, ipc=ipc, seed=seed, out=str(Path(tmp) / f"{method}-{ipc}-{seed}"))
                    wall = time.perf_counter() - t0
                    m = res.manifest["metrics"]
                    gain = m["distilled"]["mean"] - m["random_real"]["mean"]
                    rows.append([method, ipc, seed, pct(m["distilled"]), pct(m["random_real"]), pct(m.get("herding")),
                                 pct(whole), f"{100 * gain:+.2f}", f"{res.manifest['timing']['seconds']:.0f}", f"{wall:.0f}"])
                    records.append({"method": method, "ipc": ipc, "seed": seed, "metrics": m, "gain_points": 100 * gain,
                                    "wall_seconds": wall, "timing": res.manifest["timing"], "config": res.manifest["config"]})
                    print(f"{method} ipc {ipc} seed {seed}: distilled {pct(m['distilled'])}, random {pct(m['random_real'])}, "
                          f"{wall:.0f} s", flush=True)
    total = time.perf_counter() - started
    split = "validation (takes 5-9; training on takes 10-49)" if args.validation else "test (takes 0-4)"
    print(f"\nFSDD, ConvNet-3 on FD-MFCC (3, 13, 101), budget {args.budget}, accuracy % on the {split} split")
    print_table(["method", "ipc", "seed", "distilled", "random real", "herding", "whole set", "gain", "distill s", "run s"], rows)
    summary = []
    for method in sorted({r["method"] for r in records}):
        for ipc in sorted({r["ipc"] for r in records if r["method"] == method}):
            runs = [r for r in records if r["method"] == method and r["ipc"] == ipc]
            gain = statistics.fmean(r["gain_points"] for r in runs)
            target = 100 * TARGET_GAIN.get(ipc, 0.0)
            summary.append({"method": method, "ipc": ipc, "seeds": len(runs), "gain_points": gain, "target_gain_points": target,
                            "meets_target": gain >= target})
            print(f"{method} ipc {ipc}: mean gain over random {gain:+.2f} points (target {target:+.0f}): "
                  f"{'met' if gain >= target else 'NOT met'}")
    print(f"FD-MFCC extraction {timing['fdmfcc_seconds']:.1f} s (<= {EXTRACTION_LIMIT_S:.0f} s: "
          f"{'yes' if timing['fdmfcc_seconds'] <= EXTRACTION_LIMIT_S else 'NO'}); whole benchmark {total:.0f} s")
    write_result(args.name or ("audio_fsdd_validation" if args.validation else "audio_fsdd"), {
        "benchmark": "FSDD audio distillation", "split": split, "extraction": timing, "whole_set": whole,
        "summary": summary, "runs": records, "total_seconds": total,
    })


if __name__ == "__main__":
    main()
