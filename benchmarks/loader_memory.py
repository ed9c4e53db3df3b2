"""Peak memory and time of the data loaders at a user's data scale (session 41's memory fixes).

Generates seeded synthetic data in a temporary folder (deleted afterwards), then loads it through the loader functions
the recipes call, each load in a fresh Python process:

- ``image``: an ImageFolder of PNGs (default 8,000 32x32 RGB, 10 classes), ``load_image_dataset("imagefolder", root)``;
- ``image_text``: a CSV ``image,caption`` (default 1,000 PNGs x 2 captions) read with ``read_csv_records`` +
  ``canonical_image_paths`` + ``build_splits`` at the default encoder's input (224 px, ImageNet mean/std), the calls
  and defaults of ``load_image_text``; the caption embedding (a model's forward pass) is left out;
- ``video``: frame-image folders (default 200 clips of 32 64x64 JPEGs, 5 classes), ``load_clip_folder(kind="frames",
  sampling=FrameSampling(frame_size=64))`` twice: decoding into an empty cache, then the cache hit;
- ``sequences``: a ``user,item,timestamp`` CSV log (default 400,000 interactions), ``load_sequences("csv", ...)``.

The child resets its peak (``/proc/self/clear_refs``, VmHWM) after its imports, reads its RSS right before the load and
its peak after it; "peak MB" is that peak above the pre-load RSS. Where ``/proc`` cannot be used (not Linux) it falls
back to ``getrusage(RUSAGE_SELF).ru_maxrss`` after the load, which also counts the imports' own peak (the JSON names
the method of each row). "data MB" is the loaded tensors' own bytes.

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/loader_memory.py [--only image,video] [--scale 2] [--out F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table, result_path  # noqa: E402

from mmdistill.io import write_json  # noqa: E402

LOADERS = ("image", "image_text", "video", "sequences")

# --------------------------------------------------------------------------------------------------------- data

def gen_images(root: Path, n: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(a).save(root / f"class{i % 10}" / f"img{i:06d}.png")


def gen_image_text(root: Path, n: int, seed: int = 0) -> Path:
    import random

    import numpy as np
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = "a red blue green dog cat runs on the grass near small big house tree".split()
    pick = random.Random(seed)
    csv = root / "pairs.csv"
    with open(csv, "w") as fh:
        fh.write("image,caption\n")
        for i in range(n):
            name = f"images/img{i:06d}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / name)
            for k in range(2):
                fh.write(f"{name},{' '.join(pick.choices(words, k=8))} {k}\n")
    return csv


def gen_video(root: Path, n: int, seed: int = 0, frames: int = 32) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        c = i % 5
        clip = root / f"class{c}" / f"clip{i:05d}"
        clip.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        for t in range(frames):
            Image.fromarray(np.roll(base, 2 * t * (c + 1), axis=1)).save(clip / f"img_{t + 1:05d}.jpg", quality=90)


def gen_sequences(path: Path, n: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    users, items = max(n // 50, 1), max(n // 20, 1)
    u = rng.integers(0, users, n)
    it = np.minimum((rng.pareto(1.2, n) * items / 20).astype(np.int64), items - 1)
    ts = rng.integers(1_000_000_000, 1_600_000_000, n)
    with open(path, "w") as f:
        f.write("user,item,timestamp\n")
        f.write("".join(f"{a},{b},{c}\n" for a, b, c in zip(u, it, ts)))


# ------------------------------------------------------------------------------------------------------- child

CHILD = r'''
import gc, json, resource, sys, time
args = json.loads(sys.argv[1])
kind = args["kind"]
import torch, torchvision  # noqa: F401  (imported before the reset: the imports are not the load's memory)
import mmdistill  # noqa: F401
if kind == "image":
    from mmdistill.modalities.image.datasets import load_image_dataset
elif kind == "image_text":
    from pathlib import Path
    from mmdistill.modalities.image_text.loaders import BadInput, build_splits, canonical_image_paths, file_opener, read_csv_records
    from mmdistill.modalities.image_text.encoders import IMAGENET_MEAN, IMAGENET_STD
elif kind == "video":
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder
else:
    from mmdistill.modalities.sequences.data import SequenceLoadOptions, load_sequences
import PIL.Image, PIL.PngImagePlugin, PIL.JpegImagePlugin  # noqa: F401  (imported by the loaders anyway)

def status(key):
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None

def maxrss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024.0

gc.collect()
method = "VmHWM reset via /proc/self/clear_refs"
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    method = "ru_maxrss after the load (imports' peak included)"
rss0 = status("VmRSS:")
maxrss0 = maxrss_mb()
if rss0 is None:
    rss0, method = maxrss0, "ru_maxrss before/after (no /proc)"

def nbytes(*ts):
    return sum(t.numel() * t.element_size() for t in ts)

t0 = time.perf_counter()
if kind == "image":
    ds = load_image_dataset("imagefolder", args["root"])
    dt = time.perf_counter() - t0
    data, shape = nbytes(ds.x_train, ds.x_test), [list(ds.x_train.shape), list(ds.x_test.shape)]
elif kind == "image_text":
    root = Path(args["root"])
    records = canonical_image_paths(read_csv_records(Path(args["csv"])), root)
    ls = build_splits(records, file_opener(root), size=args["size"], mean=IMAGENET_MEAN, std=IMAGENET_STD, bad=BadInput(),
                      on_bad="error", source=args["csv"], test_fraction=0.2, split_order="sorted", seed=0, max_words=30,
                      progress=False, root=root)
    dt = time.perf_counter() - t0
    data, shape = nbytes(ls.train.images, ls.test.images), [list(ls.train.images.shape), list(ls.test.images.shape)]
elif kind == "video":
    vs = load_clip_folder(args["root"], kind="frames", sampling=FrameSampling(frame_size=64), cache_dir=args["cache"], progress=False)
    dt = time.perf_counter() - t0
    data, shape = nbytes(vs.x_train, vs.x_test), [list(vs.x_train.shape), list(vs.x_test.shape)]
else:
    sd = load_sequences("csv", args["path"], SequenceLoadOptions())
    dt = time.perf_counter() - t0
    data = nbytes(*sd.train, sd.valid_target, sd.test_target)
    shape = [len(sd.train), sd.num_items, sum(int(t.numel()) for t in sd.train)]
peak = status("VmHWM:") if method.startswith("VmHWM") else None
if peak is None:
    peak = maxrss_mb()
print("RESULT " + json.dumps({"load_s": dt, "rss_before_mb": rss0, "peak_mb": peak, "end_mb": status("VmRSS:"),
                              "maxrss_before_mb": maxrss0, "maxrss_after_mb": maxrss_mb(), "data_mb": data / 2**20,
                              "shape": shape, "method": method}))
'''


def run_child(args: dict) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {args['kind']} load failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


# -------------------------------------------------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(LOADERS), help="comma-separated subset of " + ",".join(LOADERS))
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every data size (default 1)")
    p.add_argument("--out", default=None, help="the JSON written (default benchmarks/results/loader_memory.json, or a "
                   "new file beside it when that one holds an earlier result)")
    a = p.parse_args()
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(LOADERS))
    if unknown:
        p.error(f"unknown loader(s) {', '.join(unknown)}; choose from {', '.join(LOADERS)}")
    n = {"image": 8000, "image_text": 1000, "video": 200, "sequences": 400_000}
    least = {"image": 50, "image_text": 20, "video": 25, "sequences": 5_000}  # every class and split keeps a few items
    n = {k: max(int(round(v * a.scale)), least[k]) for k, v in n.items()}

    t_start = time.perf_counter()
    rows, records = [], []
    tmp = Path(tempfile.mkdtemp(prefix="loader_memory_"))
    try:
        jobs: list[tuple[str, str, dict]] = []
        for kind in (k for k in LOADERS if k in only):
            t = time.perf_counter()
            if kind == "image":
                gen_images(tmp / "images", n[kind])
                size = f"{n[kind]:,} PNG 32x32 RGB"
                jobs.append((kind, size, {"kind": kind, "root": str(tmp / "images")}))
            elif kind == "image_text":
                csv = gen_image_text(tmp / "it", n[kind])
                size = f"{n[kind]:,} img x 2 capt @224"
                jobs.append((kind, size, {"kind": kind, "root": str(tmp / "it"), "csv": str(csv), "size": 224}))
            elif kind == "video":
                gen_video(tmp / "video", n[kind])
                size = f"{n[kind]:,} clips x 32 fr 64x64"
                arg = {"kind": kind, "root": str(tmp / "video"), "cache": str(tmp / "vcache")}
                jobs.append(("video (decode)", size, arg))
                jobs.append(("video (cache hit)", size, arg))
            else:
                gen_sequences(tmp / "log.csv", n[kind])
                size = f"{n[kind]:,} interactions"
                jobs.append((kind, size, {"kind": kind, "path": str(tmp / "log.csv")}))
            print(f"generated {kind}: {size} in {time.perf_counter() - t:.1f} s", flush=True)
        for label, size, arg in jobs:
            r = run_child(arg)
            above = r["peak_mb"] - r["rss_before_mb"]
            ratio = above / r["data_mb"] if r["data_mb"] > 0 else float("nan")
            rows.append([label, size, f"{r['load_s']:.2f}", f"{r['rss_before_mb']:.0f}", f"{above:.0f}", f"{r['data_mb']:.1f}",
                         f"{ratio:.2f}"])
            records.append({"loader": label, "size": size, "n": n[arg["kind"]], **r, "peak_above_mb": above,
                            "peak_over_data": ratio})
            print(f"  {label}: {r['load_s']:.2f} s, peak +{above:.0f} MB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print_table(["loader", "size", "load s", "RSS before MB", "peak MB above", "data MB", "peak/data"], rows)
    m = machine()
    out = Path(a.out) if a.out else result_path("loader_memory")
    payload = {"machine": m, "command": " ".join([sys.executable, *sys.argv]),
               "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
               "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
               "host": {"cpus": m["cpus"], "torch": m["torch"], "cpu_capability": m["cpu_capability"]},
               "time": time.strftime("%Y-%m-%d %H:%M:%S"), "scale": a.scale, "sizes": n,
               "columns": {"load_s": "wall s of the loader call in the child", "rss_before_mb": "child RSS right before the load",
                           "peak_above_mb": "child peak RSS during the load minus rss_before_mb",
                           "data_mb": "bytes of the loaded tensors"},
               "rows": records, "total_s": time.perf_counter() - t_start}
    write_json(out, payload)
    print(f"\ntotal {payload['total_s']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
