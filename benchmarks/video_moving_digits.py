"""Video benchmark on the generated moving digits (and the real kinetics-tiny clips): every video recipe at the
CPU budget next to random real clips, with the stored bytes of each set, plus reference points (a model of the
whole training set, a single-frame model, a motion-blind frame-pooling model), the loader's decoding
throughput and cache hit time.

    python benchmarks/video_moving_digits.py --methods dm,mtt,sd-dm,sd-mtt --ipc 1      # one JSON per method
    python benchmarks/video_moving_digits.py --methods whole,single-frame,motion-blind  # reference points
    python benchmarks/video_moving_digits.py --methods factors                          # linear read-out of motion and digit group
    python benchmarks/video_moving_digits.py --methods decode                           # loader throughput (kinetics-tiny)
    python benchmarks/video_moving_digits.py --dataset kinetics-tiny --methods dm,sd-dm --ipc 1
    python benchmarks/video_moving_digits.py --table                                    # the table of every JSON

Each method writes ``benchmarks/results/video/<dataset>_<method>_ipc<K>.json``; ``--table`` prints them all.
``--tag T`` (e.g. a second distillation seed: ``--set seed=1 --tag seed1``) writes ``..._ipc<K>_T.json`` and runs in
``runs/bench-video-<dataset>-<method>-ipc<K>-T``, so a side measurement never replaces the recorded one; without
``--tag`` a run whose JSON is already there is refused before it starts (``MMDISTILL_BENCH_REPLACE=1`` replaces it). Each
recipe runs in ``runs/bench-video-<dataset>-<method>-ipc<K>[-T]`` (relative to the current folder), which a re-run
of the same method replaces (logged): the benchmark's own folders, not a user's runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, pct, print_table, refuse_recorded  # noqa: E402

from mmdistill.io import write_json  # noqa: E402

OUT = RESULTS / "video"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "kinetics-tiny"
RECIPES = {"dm": ("video_dm", {}), "mtt": ("video_mtt", {}), "sd-dm": ("video_static_dynamic", {"method": "dm"}),
           "sd-mtt": ("video_static_dynamic", {"method": "mtt"})}


def data_keys(dataset: str) -> dict:
    if dataset == "kinetics-tiny":
        return {"dataset": "folder", "data_root": str(SHARED), "preset": "kinetics", "frame_size": 32, "num_frames": 8, "frame_gap": 4}
    return {}


def run_recipe(method: str, dataset: str, ipc: int, buffer: str | None, extra: dict, tag: str = "") -> dict:
    import importlib

    module, keys = RECIPES[method]
    recipe = importlib.import_module(f"mmdistill.recipes.{module}").RECIPE
    out = Path("runs") / (f"bench-video-{dataset}-{method}-ipc{ipc}" + (f"-{tag}" if tag else ""))
    kw = {**data_keys(dataset), **keys, "ipc": ipc, "budget": "cpu", "out": str(out), "overwrite": True, "progress": False, **extra}
    if method in ("mtt", "sd-mtt") and buffer:
        kw["buffer"] = buffer
    if (out / "manifest.json").exists() or (out / "checkpoint.safetensors").exists():
        print(f"replacing the benchmark's earlier run in {out}", flush=True)
    started = time.perf_counter()
    res = recipe.run(**kw)
    m = res.manifest
    return {"method": method, "recipe": recipe.name, "ipc": ipc, "seconds": round(time.perf_counter() - started, 1),
            "timing": m.get("timing"), "distilled": m["metrics"]["distilled"], "random_real": m["metrics"].get("random_real"),
            "storage": m["metrics"]["storage"], "config": {k: v for k, v in kw.items() if k not in ("out", "overwrite", "progress")},
            "out": str(out)}


#: every --methods name: the recipes, the reference points, the loader's throughput, the factor read-out
METHODS = (*RECIPES, "whole", "single-frame", "motion-blind", "decode", "factors")


def reference_points(method: str, dataset: str, epochs: int, runs: int) -> dict:
    """``whole``: ConvNet3D-small on every training clip; ``single-frame``: a 2-D ConvNet on one random frame
    per clip (train and test); ``motion-blind``: framepool (per-frame ConvNet, temporal mean) on whole clips."""
    from mmdistill.classification import evaluate_tensors
    from mmdistill.data import LabeledTensors
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.moving_digits import still_frames
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.recipes import video_dm
    from mmdistill.training import TrainProtocol

    cfg = video_dm.RECIPE.config(**data_keys(dataset), budget="cpu")
    data = MODALITY.load(cfg)
    train, test = data.train, data.test
    gen = torch.Generator().manual_seed(0)
    if method == "single-frame":
        train = LabeledTensors(still_frames(train.x, gen), train.y, train.classes)
        test = LabeledTensors(still_frames(test.x, gen), test.y, test.classes)
        name = "convnet"
    else:
        name = "convnet3d-small" if method == "whole" else "framepool"
    shape, ncls = train.sample_shape, train.num_classes

    def make_net(g: torch.Generator) -> torch.nn.Module:
        kw = {"depth": 2} if name == "convnet" else {}
        net = build_network(name, shape, ncls, **kw)
        reinitialize(net, g)
        return net

    started = time.perf_counter()
    res = evaluate_tensors((train.x, train.y), test, make_net, TrainProtocol(epochs=epochs, lr=0.01, batch_size=64), runs=runs, seed=0,
                           progress=False)
    full = len(train) * int(torch.tensor(data.sample_shape).prod()) * 4
    return {"method": method, "network": name, "epochs": epochs, "train_clips": len(train), "seconds": round(time.perf_counter() - started, 1),
            "distilled": {"mean": res.mean, "std": res.std, "runs": res.runs}, "storage": {"stored_bytes": full}}


def factor_readout() -> dict:
    """Which half of the moving-digits label can be learnt from the training clips at all: a linear read-out of raw
    pixels (scikit-learn logistic regression, C 0.1) of the class, of the motion alone (5-way) and of the digit group
    alone (2-way), from whole clips and from the mean frame (appearance without motion), scored on the test clips."""
    from sklearn.linear_model import LogisticRegression

    from mmdistill.modalities.video.moving_digits import MovingDigitsSpec, generate

    started = time.perf_counter()
    x_tr, y_tr, x_te, y_te, _ = generate(MovingDigitsSpec())
    views = {"whole clip": (x_tr.flatten(1), x_te.flatten(1)), "mean frame": (x_tr.mean(2).flatten(1), x_te.mean(2).flatten(1))}
    labels = {"class (10-way)": lambda y: y, "motion (5-way)": lambda y: y // 2, "digit group (2-way)": lambda y: y % 2}
    readout = {}
    for view, (a, b) in views.items():
        for label, f in labels.items():
            model = LogisticRegression(C=0.1, max_iter=2000).fit(a.numpy(), f(y_tr).numpy())
            readout[f"{label}, {view}"] = round(100 * float(model.score(b.numpy(), f(y_te).numpy())), 2)
    return {"method": "factors", "readout_accuracy_pct": readout, "seconds": round(time.perf_counter() - started, 1)}


def decode_throughput() -> dict:
    """Clips per second of the decord loader on kinetics-tiny (8 frames, 64x64, 2 threads), cold and from the cache."""
    import tempfile

    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    sampling = FrameSampling(num_frames=8, frame_gap=4, frame_size=64)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        vs = load_clip_folder(SHARED, kind="files", sampling=sampling, cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        hit = load_clip_folder(SHARED, kind="files", sampling=sampling, cache_dir=cache)
        warm = time.perf_counter() - t0
    n = len(vs.x_train) + len(vs.x_test)
    assert hit.report.cache.startswith("hit")
    return {"method": "decode", "clips": n, "decode_seconds": round(cold, 2), "clips_per_second": round(n / cold, 1),
            "cache_hit_seconds": round(warm, 3), "sampling": sampling.__dict__, "report": vs.report.counts()}


def result_paths(args: argparse.Namespace) -> list[Path]:
    """The JSONs a run of ``args`` writes: ``<dataset>_<method>_ipc<K>[_<tag>].json`` per recipe and clips per class,
    ``<dataset>_<method>.json`` for a reference point (``decode``: always kinetics-tiny)."""
    out = []
    for method in args.methods.split(","):
        if method in RECIPES:
            out += [OUT / f"{args.dataset}_{method}_ipc{int(k)}{f'_{args.tag}' if args.tag else ''}.json" for k in args.ipc.split(",")]
        else:
            out.append(OUT / f"{'kinetics-tiny' if method == 'decode' else args.dataset}_{method}.json")
    return out


def table() -> None:
    rows = []
    for path in sorted(OUT.glob("*.json")):
        r = json.loads(path.read_text())
        if "method" not in r or "distilled" not in r and r["method"] not in ("decode", "factors"):
            print(f"{path.name}: not a recipe's result (another benchmark's record), left out of the table")
            continue
        if r["method"] == "decode":
            print(f"decode: {r['clips']} clips in {r['decode_seconds']} s = {r['clips_per_second']} clips/s; cache hit {r['cache_hit_seconds']} s")
            continue
        if r["method"] == "factors":
            print("linear read-out (test accuracy %): " + "; ".join(f"{k} {v}" for k, v in r["readout_accuracy_pct"].items()))
            continue
        st = r.get("storage", {})
        ratio = f"{100 * st['ratio']:.0f} %" if "ratio" in st else "-"
        stem = f"{r.get('dataset', '?')}_{r['method']}_ipc{r['ipc']}" if "ipc" in r else path.stem
        tag = path.stem.removeprefix(stem).lstrip("_") or "-"  # --tag of a side measurement (a second seed, a GPU run)
        where = (r.get("machine") or {}).get("cuda") or "cpu"
        rows.append([r.get("dataset", "?"), r["method"], r.get("ipc", "all"), tag, where, pct(r["distilled"]), pct(r.get("random_real")),
                     f"{st.get('stored_bytes', 0) / 1024:.1f}", ratio, r.get("seconds", "-")])
    print_table(["dataset", "method", "clips/class", "tag", "device", "accuracy %", "random real %", "stored KiB", "of full clips",
                 "seconds"], rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="dm,sd-dm", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--dataset", default="moving-digits", choices=["moving-digits", "kinetics-tiny"],
                   help="the generated moving digits, or the real kinetics-tiny clips of ../shared/data")
    p.add_argument("--ipc", default="1", help="comma list of clips per class")
    p.add_argument("--buffer", default=None, help="expert buffer shared by mtt and sd-mtt (trained there when missing)")
    p.add_argument("--epochs", type=int, default=15, help="epochs of the reference points (whole, single-frame, motion-blind)")
    p.add_argument("--runs", type=int, default=3, help="evaluation networks of the reference points (whole, single-frame, motion-blind)")
    p.add_argument("--table", action="store_true", help="print the table of the stored results and exit")
    p.add_argument("--set", nargs="*", default=[], help="key=value overrides of the recipes")
    p.add_argument("--tag", default="", help="suffix of the recipes' JSON names and run folders (a side measurement)")
    args = p.parse_args()
    if args.table:
        table()
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    from mmdistill.config import parse_overrides

    extra = parse_overrides(args.set)
    unknown = [m for m in args.methods.split(",") if m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    refuse_recorded(p, result_paths(args), "--tag T")
    for method in args.methods.split(","):
        for ipc in [int(i) for i in args.ipc.split(",")]:
            if method == "decode":
                rec, tag = decode_throughput(), "decode"
            elif method == "factors":
                rec, tag = factor_readout(), "factors"
            elif method in RECIPES:
                rec = run_recipe(method, args.dataset, ipc, args.buffer, extra, args.tag)
                tag = f"{method}_ipc{ipc}" + (f"_{args.tag}" if args.tag else "")
            else:
                rec, tag = reference_points(method, args.dataset, args.epochs, args.runs), method
            dataset = "kinetics-tiny" if method == "decode" else args.dataset  # the loader is measured on real files
            rec.update(dataset=dataset, machine=machine())
            write_json(OUT / f"{dataset}_{tag}.json", rec)
            print(json.dumps({k: rec[k] for k in rec if k in ("method", "ipc", "distilled", "random_real", "storage", "seconds")}))
            if method not in RECIPES:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
