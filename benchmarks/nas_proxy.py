"""A distilled set as a proxy for architecture search (DC, Zhao et al. ICLR 2021, Sec. 4; DM, Zhao & Bilen WACV 2023):
does training candidate networks on the set rank them as training them on the whole training split does?

Every candidate ConvNet of the search space is trained from scratch on three sets, with the saved run's evaluation
protocol (SGD, learning rate, batch, augmentation; the set's learned step size for the set where it has one):

- ``distilled``: the saved set (a run folder or a ``--to hf`` export of a classification recipe);
- ``random_real``: as many random real training samples per class (a new draw per run, as the run's baseline draws);
- ``whole``: the whole training split (``--whole-epochs``), the ranking a proxy should reproduce.

Each candidate's score on a set is its mean accuracy over ``--runs`` networks on the run's scored split (its test
split, or its validation split for a run made with ``validation=``); the proxy's quality is the Spearman rank
correlation (scipy's ``spearmanr``, average ranks for ties) between a proxy set's scores and the whole split's, over
all candidates, with the whole-split accuracy of the candidate each proxy would pick. Time is the wall clock of
training and scoring each candidate on each set.

Search spaces (``--space``): ``paper`` is DC's 720 ConvNets, width {32, 64, 128, 256} x depth {1, 2, 3, 4} x
activation {sigmoid, relu, leakyrelu} x normalisation {none, batchnorm, layernorm, instancenorm, groupnorm} x
pooling {none, maxpooling, avgpooling} (days on a CPU); ``cpu`` is 12 of them: width {32, 128} x depth {1, 2, 3} x
(instancenorm + avgpooling, no norm + maxpooling), ReLU. DC trained the proxies and the whole set for a fixed number of
epochs each; here the proxies take the saved run's ``eval_epochs`` (``--epochs``) and the whole split as many
(``--whole-epochs``: fewer gives an under-trained reference, whose ranking a proxy is then asked to reproduce).

    python benchmarks/nas_proxy.py runs/digits-dm [--space cpu] [--runs 2] [--epochs N] [--whole-epochs N]

Prints one row per candidate and the correlations, and writes ``benchmarks/results/nas_proxy.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from typing import Any

import torch
from _common import print_table, write_result
from scipy.stats import spearmanr

from mmdistill.classification import baseline_sets, evaluation_augment, evaluation_protocol, trainer
from mmdistill.evaluation import EvalSet, score_runs
from mmdistill.nets import build_network, reinitialize
from mmdistill.saved_cli import load_saved
from mmdistill.share import check_fits_data, saved_run_data, set_dir
from mmdistill.task import ClassificationTask

SPACES: dict[str, dict[str, list[Any]]] = {
    "paper": {"width": [32, 64, 128, 256], "depth": [1, 2, 3, 4], "act": ["sigmoid", "relu", "leakyrelu"],
              "norm": ["none", "batchnorm", "layernorm", "instancenorm", "groupnorm"],
              "pooling": ["none", "maxpooling", "avgpooling"]},
}


def candidates(space: str) -> list[dict[str, Any]]:
    """The ConvNet options of every candidate of ``space`` (``paper``: DC's 720; ``cpu``: 12)."""
    if space == "cpu":
        return [{"width": w, "depth": d, "act": "relu", "norm": n, "pooling": p}
                for w in (32, 128) for d in (1, 2, 3) for n, p in (("instancenorm", "avgpooling"), ("none", "maxpooling"))]
    grid = SPACES[space]
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def label(options: dict[str, Any]) -> str:
    return "w{width}-d{depth}-{act}-{norm}-{pooling}".format(**options)


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho of two score lists (average ranks for ties); None when either is constant (undefined)."""
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", help="a saved set of a classification recipe (run folder or --to hf export)")
    ap.add_argument("--space", choices=["cpu", "paper"], default="paper", help="search space (default %(default)s: DC's 720)")
    ap.add_argument("--runs", type=int, default=2, help="networks per candidate and set (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs on the proxy sets (default: the run's eval_epochs)")
    ap.add_argument("--whole-epochs", type=int, default=None,
                    help="epochs on the whole training split (default: the proxies' epochs; fewer is an under-trained reference)")
    ap.add_argument("--name", default="nas_proxy", help="the JSON's name under benchmarks/results (default %(default)s)")
    args = ap.parse_args()
    for flag, value in (("--runs", args.runs), ("--whole-epochs", args.whole_epochs or 1), ("--epochs", args.epochs or 1)):
        if value < 1:
            raise SystemExit(f"error: {flag} must be at least 1, got {value}")

    syn, manifest, recipe, modality = load_saved(args.set)
    cfg = recipe.config_from_saved(dict(manifest.get("config", {})), {"resume": False, "overwrite": False})
    data = saved_run_data(modality, cfg, root_given=False)
    check_fits_data(syn, modality, data, set_dir(args.set))
    protocol = evaluation_protocol(cfg)
    if args.epochs:
        protocol = dataclasses.replace(protocol, epochs=args.epochs)
    learned = syn.data.get("syn_lr") if cfg.learned_lr_evaluation() else None
    syn_protocol = protocol if learned is None else dataclasses.replace(protocol, lr=float(learned))
    whole_protocol = dataclasses.replace(protocol, epochs=args.whole_epochs or protocol.epochs)
    augment = evaluation_augment(cfg, data, modality)
    x_syn, t_syn = modality.decode(syn).detach(), syn.targets().detach()
    ipc = len(x_syn) // data.num_classes
    # the run's own baseline sets: random_real (a new draw per run, seeded as the run's) and the whole training split
    baselines = baseline_sets(dataclasses.replace(cfg, ipc=ipc, baselines=["random_real", "whole"]), data, None, None)

    rows, records = [], []
    for options in candidates(args.space):
        def make_net(gen: torch.Generator, options: dict[str, Any] = options) -> torch.nn.Module:
            net = build_network("convnet", tuple(data.sample_shape), data.num_classes, **options)
            reinitialize(net, gen)
            return net

        record: dict[str, Any] = {"candidate": label(options), "options": options}
        for name, eval_set, proto in (("distilled", EvalSet((x_syn, t_syn)), syn_protocol),
                                      ("random_real", baselines["random_real"], protocol),
                                      ("whole", baselines["whole"], whole_protocol)):
            started = time.perf_counter()  # run r of every set starts from the same network draw (seed, "eval", r)
            result = score_runs(eval_set, trainer(make_net, data.test, proto, task=ClassificationTask(), augment=augment),
                                metric="accuracy", runs=args.runs, seed=cfg.seed, progress=False)
            record[name] = {"mean": result.mean, "runs": result.runs, "seconds": time.perf_counter() - started}
        records.append(record)
        rows.append([record["candidate"], *(f"{100 * record[k]['mean']:.2f}" for k in ("distilled", "random_real", "whole")),
                     *(f"{record[k]['seconds']:.1f}" for k in ("distilled", "random_real", "whole"))])
        print(" | ".join(rows[-1]), flush=True)

    whole = [r["whole"]["mean"] for r in records]
    best_whole = max(whole)
    summary: dict[str, Any] = {}
    for name in ("distilled", "random_real"):
        scores = [r[name]["mean"] for r in records]
        pick = max(range(len(records)), key=lambda i: scores[i])
        summary[name] = {"spearman": spearman(scores, whole), "picked": records[pick]["candidate"],
                         "picked_whole_accuracy": whole[pick], "best_whole_accuracy": best_whole,
                         "seconds": sum(r[name]["seconds"] for r in records)}
    summary["whole"] = {"seconds": sum(r["whole"]["seconds"] for r in records)}
    print()
    print_table(["candidate", "distilled %", "random real %", "whole %", "s distilled", "s random", "s whole"], rows)
    print()
    print_table(["proxy", "Spearman vs whole", "picks", "its whole %", "best whole %", "seconds", "whole s / proxy s"],
                [[name, "undefined" if s["spearman"] is None else f"{s['spearman']:.3f}", s["picked"],
                  f"{100 * s['picked_whole_accuracy']:.2f}", f"{100 * s['best_whole_accuracy']:.2f}", f"{s['seconds']:.1f}",
                  f"{summary['whole']['seconds'] / s['seconds']:.1f}"] for name, s in summary.items() if name != "whole"])
    write_result(args.name, {"set": str(args.set), "recipe": recipe.name, "dataset": data.name, "ipc": ipc,
                             "space": args.space, "runs": args.runs, "proxy_epochs": protocol.epochs,
                             "whole_epochs": whole_protocol.epochs, "scored_on": data.meta.get("scored_on", "test"),
                             "candidates": records, "summary": summary})


if __name__ == "__main__":
    main()
