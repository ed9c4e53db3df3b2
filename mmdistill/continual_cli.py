"""``mmdistill continual RECIPE --dataset NAME --out OUT [--steps 5] [--ipc N] [--order-seed 0] [--runs 3] [--outputs dataset] [key=value ...]``:
the class-incremental protocol of :mod:`mmdistill.continual` from the command line, its table printed at the end."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``continual`` subcommand on ``sub`` (the ``mmdistill`` parser's subparsers)."""
    p = sub.add_parser("continual", help="class-incremental learning: a distilled replay memory against random and herding "
                       "memories of the same size, step by step (the protocol DM and DSA report)")
    p.add_argument("recipe", help="a recipe with the classes key (the image, audio and video recipes): image-dm ...")
    p.add_argument("--dataset", required=True, help="the classification data whose classes come in steps")
    p.add_argument("--data-root", default=None, help="where that data lives")
    p.add_argument("--out", required=True, help="the protocol's folder: a run folder per step, continual.json, continual.png (run "
                   "the same command again to go on from the first unfinished step)")
    p.add_argument("--steps", type=int, default=5, help="steps of equal classes (default %(default)s; DM: 5 and 10)")
    p.add_argument("--ipc", type=int, default=None, help="samples per class in every memory (default: the recipe's; DM: 20)")
    p.add_argument("--order-seed", type=int, default=0, help="seed of the class order (default %(default)s; DM: 0-4)")
    p.add_argument("--runs", type=int, default=3, help="networks trained from scratch per memory and step (default %(default)s)")
    p.add_argument("--outputs", choices=("dataset", "seen"), default="dataset", help="the evaluation network's outputs: one per "
                   "class of the dataset, those not seen yet never a target (default: the reference's, CL_DM.py:135) or one per "
                   "class seen")
    p.add_argument("key=value", nargs="*", default=[], help="config keys of every step's run and evaluation (budget=cpu, "
                   "iterations=..., eval_epochs=...), anywhere after RECIPE")


def cmd_continual(args: argparse.Namespace, get_recipe: Callable[[str], Any], say: Callable[[str], None]) -> int:
    """Run the protocol for ``args`` (``args.overrides``: the key=value pairs), saying its progress and its table."""
    from mmdistill.config import parse_overrides
    from mmdistill.continual import run_continual

    result = run_continual(get_recipe(args.recipe), args.out, dataset=args.dataset, data_root=args.data_root, steps=args.steps,
                           ipc=args.ipc, order_seed=args.order_seed, eval_runs=args.runs, keys=parse_overrides(args.overrides), outputs=args.outputs,
                           say=say)
    say("\n" + result.table())
    say(f"wrote {result.out}")
    return 0


__all__ = ["add_parser", "cmd_continual"]
