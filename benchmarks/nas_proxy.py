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

Candidates: your own (``--candidates mlp lenet convnet:width=64,depth=2 my-net``: registered networks, with options,
built by the set's adapter, so a set of any classification modality, audio maps or clips as well as images, ranks the
networks its adapter builds; a network of your own is registered in a module ``--import my_nets.py`` runs, or by an
installed package's ``mmdistill.networks`` entry point), or a search space of ConvNets (``--space``): ``paper`` is DC's 720 ConvNets, width {32, 64, 128, 256} x depth {1, 2, 3, 4} x
activation {sigmoid, relu, leakyrelu} x normalisation {none, batchnorm, layernorm, instancenorm, groupnorm} x
pooling {none, maxpooling, avgpooling} (days on a CPU); ``cpu`` is 12 of them: width {32, 128} x depth {1, 2, 3} x
(instancenorm + avgpooling, no norm + maxpooling), ReLU. DC trained the proxies and the whole set for a fixed number of
epochs each; here the proxies take the saved run's ``eval_epochs`` (``--epochs``) and the whole split as many
(``--whole-epochs``: fewer gives an under-trained reference, whose ranking a proxy is then asked to reproduce).

    python benchmarks/nas_proxy.py runs/digits-dm [--space cpu | --candidates NAME[:K=V,...] ...] [--import my_nets.py]
        [--runs 2] [--epochs N] [--whole-epochs N] [--plot nas.png] [--name nas_proxy] [--restart]

Prints a progress line per candidate (with the time left), the table of candidates and the correlations, writes
``benchmarks/results/nas_proxy.json`` (``--name``) and, with ``--plot``, each proxy's accuracy against the whole
split's (one point per candidate, the Spearman in the title). Each finished candidate is kept in
``benchmarks/results/<name>.partial.json`` until the search ends: the same command run again after a stop (Ctrl-C)
trains only the candidates not yet finished (``--restart`` starts afresh).
"""

from __future__ import annotations

import argparse
import sys
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import torch
from _common import RESULTS, print_table, write_result
from nas_candidates import (candidate_builder, check_candidates, import_networks, parse_candidate, space_candidates)
from nas_candidates import label as candidate_label
from nas_checkpoint import Checkpoint, Progress
from nas_plot import plot_ranking
from scipy.stats import spearmanr

from mmdistill.classification import baseline_sets, evaluation_augment, evaluation_protocol, trainer
from mmdistill.errors import ConfigError
from mmdistill.evaluation import EvalSet, score_runs
from mmdistill.modality import ClassificationModality
from mmdistill.nets import reinitialize
from mmdistill.saved_cli import load_saved
from mmdistill.share import check_fits_data, saved_run_data, set_dir
from mmdistill.task import ClassificationTask

SETS = ("distilled", "random_real", "whole")


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho of two score lists (average ranks for ties); None when either is constant (undefined)."""
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def search(names: list[str], score: Callable[[str], dict[str, Any]], checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """The record of every candidate in ``names``, in their order: read from ``checkpoint`` when an earlier run
    finished it, else ``score(name)`` (``{set: {"mean", "runs", "seconds"}}``), kept in the checkpoint at once. A stop
    (Ctrl-C) while a candidate trains says on stderr how many are kept and where, and exits 130 (SystemExit)."""
    progress = Progress(len(names), sum(checkpoint.done(n) is not None for n in names))
    records = []
    for i, name in enumerate(names, 1):
        record = checkpoint.done(name)
        trained = record is None
        if record is None:
            try:
                record = {"candidate": name, **score(name)}
            except KeyboardInterrupt:  # Ctrl-C: what is kept and how to go on, not a traceback (exit 130, as mmdistill's)
                print(f"\n{checkpoint.stopped_line(names)}", file=sys.stderr, flush=True)
                raise SystemExit(130) from None
            checkpoint.add(record)
        records.append(record)
        progress.step(i, f"{name}: " + ", ".join(f"{k} {100 * record[k]['mean']:.2f} %" for k in SETS), trained)
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per proxy: Spearman vs the whole split, the candidate it picks (its best score) and that candidate's whole-split
    accuracy, the best whole-split accuracy, and the seconds of training on it."""
    whole = [r["whole"]["mean"] for r in records]
    summary: dict[str, Any] = {}
    for name in ("distilled", "random_real"):
        scores = [r[name]["mean"] for r in records]
        pick = max(range(len(records)), key=lambda i: scores[i])
        summary[name] = {"spearman": spearman(scores, whole), "picked": records[pick]["candidate"],
                         "picked_whole_accuracy": whole[pick], "best_whole_accuracy": max(whole),
                         "seconds": sum(r[name]["seconds"] for r in records)}
    summary["whole"] = {"seconds": sum(r["whole"]["seconds"] for r in records)}
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", help="a saved set of a classification recipe (run folder or --to hf export), any modality")
    ap.add_argument("--space", choices=["cpu", "paper"], default=None,
                    help="a ConvNet search space (default paper, DC's 720, unless --candidates)")
    ap.add_argument("--candidates", nargs="+", metavar="NAME[:KEY=VALUE,...]", default=None,
                    help="your candidates: registered networks with options (mlp convnet:width=64,depth=2 my-net)")
    ap.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE_OR_FILE.py",
                    help="a module that registers your networks (register_network), run first; repeatable")
    ap.add_argument("--runs", type=int, default=2, help="networks per candidate and set (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs on the proxy sets (default: the run's eval_epochs)")
    ap.add_argument("--whole-epochs", type=int, default=None,
                    help="epochs on the whole training split (default: the proxies' epochs; fewer is an under-trained reference)")
    ap.add_argument("--plot", type=Path, default=None, help="write each proxy's accuracy vs the whole split's to this PNG")
    ap.add_argument("--name", default="nas_proxy", help="the JSON's name under benchmarks/results (default %(default)s)")
    ap.add_argument("--restart", action="store_true", help="start afresh, dropping the finished candidates of a stopped run")
    args = ap.parse_args(argv)
    if args.space and args.candidates:
        ap.error("--space and --candidates are two ways to name the candidates: give one")
    if not args.candidates:
        args.space = args.space or "paper"
    for flag, value in (("--runs", args.runs), ("--whole-epochs", args.whole_epochs or 1), ("--epochs", args.epochs or 1)):
        if value < 1:
            ap.error(f"{flag} must be at least 1, got {value}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    for target in args.imports:
        import_networks(target)
    chosen = [parse_candidate(c) for c in args.candidates] if args.candidates else space_candidates(args.space)

    syn, manifest, recipe, modality = load_saved(args.set)
    if not isinstance(modality, ClassificationModality):
        raise ConfigError(f"{args.set}: a set of {recipe.name} ({modality.name} modality) is not a classification set; "
                          "nas_proxy ranks networks trained on the sets of classification recipes (images, audio, video "
                          "and their own adapters' networks)")
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
    check_candidates(chosen, modality, x_syn, data.num_classes)
    by_name = {candidate_label(n, o): (n, o) for n, o in chosen}
    # the run's own baseline sets: random_real (a new draw per run, seeded as the run's) and the whole training split
    baselines = baseline_sets(dataclasses.replace(cfg, ipc=ipc, baselines=["random_real", "whole"]), data, None, None)
    sets = {"distilled": (EvalSet((x_syn, t_syn)), syn_protocol), "random_real": (baselines["random_real"], protocol),
            "whole": (baselines["whole"], whole_protocol)}

    def score(name: str) -> dict[str, Any]:
        build = candidate_builder(modality, *by_name[name], tuple(data.sample_shape), data.num_classes)

        def make_net(gen: torch.Generator) -> torch.nn.Module:
            net = build()
            reinitialize(net, gen)
            return net

        out = {}
        for set_name, (eval_set, proto) in sets.items():
            started = time.perf_counter()  # run r of every set starts from the same network draw (seed, "eval", r)
            result = score_runs(eval_set, trainer(make_net, data.test, proto, task=ClassificationTask(), augment=augment),
                                metric="accuracy", runs=args.runs, seed=cfg.seed, progress=False)
            out[set_name] = {"mean": result.mean, "runs": result.runs, "seconds": time.perf_counter() - started}
        return out

    settings = {"set": str(Path(args.set).resolve()), "recipe": recipe.name, "dataset": data.name, "ipc": ipc,
                "runs": args.runs, "proxy_epochs": protocol.epochs, "whole_epochs": whole_protocol.epochs,
                "seed": cfg.seed, "scored_on": data.meta.get("scored_on", "test")}
    checkpoint = Checkpoint(RESULTS / f"{args.name}.partial.json", settings, restart=args.restart)
    records = search(list(by_name), score, checkpoint)
    for record in records:
        network, options = by_name[record["candidate"]]
        record.update(network=network, options=options)
    summary = summarise(records)
    report(records, summary)
    write_result(args.name, {**settings, "set": str(args.set), "space": args.space or "candidates", "candidates": records, "summary": summary})
    if args.plot:
        print(f"wrote {plot_ranking(records, summary, args.plot, f'{recipe.name} on {data.name}, ipc {ipc}: {len(records)} candidates')}")
    checkpoint.remove()


def report(records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    rows = [[r["candidate"], *(f"{100 * r[k]['mean']:.2f}" for k in SETS), *(f"{r[k]['seconds']:.1f}" for k in SETS)]
            for r in records]
    print()
    print_table(["candidate", "distilled %", "random real %", "whole %", "s distilled", "s random", "s whole"], rows)
    print()
    print_table(["proxy", "Spearman vs whole", "picks", "its whole %", "best whole %", "seconds", "whole s / proxy s"],
                [[name, "undefined" if s["spearman"] is None else f"{s['spearman']:.3f}", s["picked"],
                  f"{100 * s['picked_whole_accuracy']:.2f}", f"{100 * s['best_whole_accuracy']:.2f}", f"{s['seconds']:.1f}",
                  f"{summary['whole']['seconds'] / s['seconds']:.1f}"] for name, s in summary.items() if name != "whole"])


if __name__ == "__main__":
    main()
