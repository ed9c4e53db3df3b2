"""Markdown rows of the memorisation blocks of saved sets, and how long loading each takes.

    python benchmarks/memorisation_table.py runs/digits-dm runs/fmnist-dm runs/fsdd-dm runs/cora-gcond

Each set's ``memorisation`` block (written at the end of its run, or by ``mmdistill check DIR``) gives, per space,
the synthetic samples' nearest-real distances next to a random real subset's nearest-other-real distances.
"""

from __future__ import annotations

import subprocess

import _common  # noqa: F401  (an expected failure is one line: _common's excepthook)
import sys
import time

import mmdistill


def main(paths: list[str]) -> None:
    print("| set | iterations | space | synthetic → nearest real: median (min) | random real → nearest other real: median (min) "
          "| ratio of medians | synthetic closer than any real pair |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    loads = []
    for path in paths:
        t = time.perf_counter()
        ds = mmdistill.load(path)
        loads.append((path, time.perf_counter() - t, ds.seconds, len(ds)))
        mem = ds.manifest.get("memorisation") or {}
        its = ds.manifest.get("timing", {}).get("iterations")
        for key in ("input", "feature"):
            sp = mem.get(key)
            if not sp:
                continue
            where = mem["input_space"] if key == "input" else mem["feature_space"]
            ratio = "n/a" if sp["ratio_median"] is None else f"{sp['ratio_median']:.3f}"
            print(f"| {ds.manifest['recipe']} {ds.manifest['dataset']} {mmdistill.card.budget(ds.manifest)} | {its} | {key}: {where} | "
                  f"{sp['synthetic']['median']:.4g} ({sp['synthetic']['min']:.4g}) | {sp['random_real']['median']:.4g} "
                  f"({sp['random_real']['min']:.4g}) | {ratio} | {100 * sp['frac_below_real_min']:.0f} % |")
    print()
    for path, wall, inner, n in loads:
        cold = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import mmdistill; "
                               f"ds = mmdistill.load({path!r}); print(time.perf_counter() - t)"], capture_output=True, text=True)
        print(f"- load {path} ({n} samples): {1000 * inner:.1f} ms in-process after the first (this process: {1000 * wall:.1f} ms); "
              f"a fresh Python process, imports included: {float(cold.stdout.strip() or 'nan'):.2f} s")


if __name__ == "__main__":
    import argparse

    import mmdistill.card  # noqa: F401

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="run folders or --to hf exports of saved sets")
    main(ap.parse_args().dirs)
