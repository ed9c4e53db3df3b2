"""MovieLens latest-small (610 users): TD3 and Farzi summaries of 50 sequences x 50 next to random 50 real
users, the 50 most active users and the whole training data; SASRec learner; HR/NDCG@10 under full ranking and
under the reference's 100 sampled negatives (both scored on the same trained learners, named apart);
cross-architecture (summary learned with SASRec, evaluated with GRU4Rec); summary-learning time and learner
training time on the summary vs the whole data.

Targets (issue 18): TD3 HR@10 >= 1.5x random real users of the same count and >= 80 % of the whole data's;
TD3 >= Farzi; summary learning at the CPU budget on 2 cores <= 30 minutes.

Parts run as separate processes and are merged (each pretrains the same seeded SASRec):

    python benchmarks/sequences_movielens.py --parts td3,whole --out runs/bench-seq     # one process
    python benchmarks/sequences_movielens.py --parts farzi --out runs/bench-seq         # another
    python benchmarks/sequences_movielens.py --merge --out runs/bench-seq               # table + JSON

Each part runs its recipe in ``--out``/<part> (default ``runs/bench-sequences``; replaced by a re-run of the part,
logged) and writes ``--out``/part-<part>.json, which ``--merge`` reads; ``--merge`` prints the tables and writes
``benchmarks/results/sequences_movielens.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _common import print_table, write_result

from mmdistill.io import write_json

ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens" / "ml-latest-small.zip"


def base_config(args) -> dict:
    return dict(dataset="ml-latest-small", data_root=str(args.data_root), budget=args.budget, eval_protocol="both",
                eval_runs=args.eval_runs, progress=False, overwrite=True, seed=args.seed)


def run_part(part: str, args) -> dict:
    from mmdistill.recipes import sequences_farzi, sequences_td3

    out = Path(args.out)
    t0 = time.perf_counter()
    if part in ("td3", "farzi"):
        recipe = sequences_td3 if part == "td3" else sequences_farzi
        kw = base_config(args) | {"out": str(out / part)}
        if (out / part / "manifest.json").exists() or (out / part / "checkpoint.safetensors").exists():
            print(f"replacing the benchmark's earlier run in {out / part}", flush=True)
        if part == "td3":
            kw |= {"cross_arch": True, "baselines": ["random_real", "most_active"]}
        else:
            kw |= {"baselines": []}
        res = recipe.RECIPE.run(**kw)
        return {"part": part, "metrics": res.manifest["metrics"], "timing": res.manifest["timing"], "seconds": time.perf_counter() - t0}
    if part == "whole":
        from mmdistill.modalities.sequences import MODALITY

        cfg = sequences_td3.RECIPE.config(**(base_config(args) | {"baselines": ["whole"]}))
        data = MODALITY.load(cfg)
        metrics = MODALITY.evaluate(cfg, None, data, torch.device("cpu"))
        return {"part": part, "metrics": metrics, "seconds": time.perf_counter() - t0}
    raise SystemExit(f"unknown part {part!r}")


def row(name: str, m: dict | None, key: str) -> list[str]:
    if not m:
        return [name, "-", "-"]
    s = m.get("scores", {})
    ndcg = key.replace("hr@", "ndcg@")
    fmt = lambda k: f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}" if k in s else "-"  # noqa: E731
    return [name, fmt(key), fmt(ndcg)]


def merge(args) -> None:
    out = Path(args.out)
    parts = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("part-*.json"))}
    td3 = parts.get("part-td3", {}).get("metrics", {})
    farzi = parts.get("part-farzi", {}).get("metrics", {})
    whole = parts.get("part-whole", {}).get("metrics", {})
    sets = {"TD3 (50 x 50)": td3.get("distilled"), "Farzi (50 x 50)": farzi.get("distilled"),
            "random 50 real users": td3.get("random_real"), "50 most active users": td3.get("most_active"),
            "whole training data": whole.get("whole")}
    tables = {}
    for proto, key in (("full ranking over all items", "hr@10"), ("100 sampled negatives", "s100:hr@10")):
        print(f"\nSASRec, test HR@10 / NDCG@10 (%), {proto}, mean ± std over evaluation runs")
        rows = [row(n, m, key) for n, m in sets.items()]
        print_table(["set", "HR@10", "NDCG@10"], rows)
        tables[proto] = rows
    cross = td3.get("cross_arch", {}).get("gru4rec", {})
    print("\nCross-architecture: summary learned with SASRec, evaluated with GRU4Rec (full ranking)")
    xrows = [row(n, cross.get(k), "hr@10") for n, k in (("TD3", "distilled"), ("random 50 real users", "random_real"),
                                                          ("50 most active users", "most_active"))]
    print_table(["set", "HR@10", "NDCG@10"], xrows)
    hr = lambda m: m["scores"]["hr@10"]["mean"] if m else float("nan")  # noqa: E731
    checks = {
        "td3_over_random": hr(sets["TD3 (50 x 50)"]) / hr(sets["random 50 real users"]),
        "td3_over_whole": hr(sets["TD3 (50 x 50)"]) / hr(sets["whole training data"]),
        "td3_minus_farzi": hr(sets["TD3 (50 x 50)"]) - hr(sets["Farzi (50 x 50)"]),
    }
    times = {}
    for name, part in (("td3", parts.get("part-td3")), ("farzi", parts.get("part-farzi"))):
        if part:
            times[f"{name}_summary_learning_s"] = part["timing"]["seconds"]
    secs = td3.get("train_seconds", {}).get("sasrec", {})
    wsecs = whole.get("train_seconds", {}).get("sasrec", {})
    if secs.get("distilled") and wsecs.get("whole"):
        s_syn = sum(secs["distilled"]) / len(secs["distilled"])
        s_whole = sum(wsecs["whole"]) / len(wsecs["whole"])
        times |= {"learner_on_summary_s": s_syn, "learner_on_whole_s": s_whole, "speedup": s_whole / s_syn}
    print("\nTargets: TD3/random = {td3_over_random:.2f} (>= 1.5), TD3/whole = {td3_over_whole:.2f} (>= 0.8), "
          "TD3 - Farzi = {td3_minus_farzi:+.4f} (>= 0)".format(**checks))
    print("Time:", ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    write_result(args.name, {"parts": parts, "tables": tables, "cross_arch_gru4rec": xrows, "targets": checks, "time": times})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(ZIP), help="ml-latest-small.zip of MovieLens (default: ../shared/data/movielens/)")
    ap.add_argument("--parts", default="td3,farzi,whole",
                    help="comma-separated parts to run in this process: td3 (with the random/most-active baselines and "
                         "GRU4Rec cross-architecture), farzi, whole (default %(default)s)")
    ap.add_argument("--out", default="runs/bench-sequences",
                    help="folder of each part's run (<out>/<part>, replaced) and part-<part>.json, read by --merge "
                         "(default %(default)s)")
    ap.add_argument("--budget", default="cpu", help="recipe budget: cpu or paper (default %(default)s)")
    ap.add_argument("--eval-runs", type=int, default=3, help="SASRec/GRU4Rec learners trained per set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every part's recipe (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default %(default)s)")
    ap.add_argument("--merge", action="store_true",
                    help="run nothing: read --out/part-*.json, print the tables and targets, write the summary JSON")
    ap.add_argument("--name", default="sequences_movielens",
                    help="--merge writes benchmarks/results/<name>.json (default %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        merge(args)
        return
    from mmdistill.logs import configure_logging

    configure_logging()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in [p for p in args.parts.split(",") if p]:
        result = run_part(part, args)
        write_json(out / f"part-{part}.json", result)
        print(f"part {part} done in {result['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
