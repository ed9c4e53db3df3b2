"""Membership inference on models trained on a digits DM set (scikit-learn's digits, embedded), next to a model
trained on a random real subset of the set's size and one trained on the whole training split: the check of
``mmdistill check DIR --membership`` (mmdistill/membership.py: loss attack, offline LiRA; AUC and TPR at low FPR).

    mmdistill run image-dm --dataset digits --budget cpu --out runs/digits-dm      # the set (10 images per class)
    python benchmarks/membership_digits.py runs/digits-dm [--runs 2] [--references 2] [--epochs N]

Digits has 1,437 training and 360 test samples, so 360 members and 360 non-members are scored: TPR at 1 % FPR rests on
3 false positives and TPR at 0.1 % FPR cannot be measured (it needs 1,000 non-members). Every model trains with the
set's evaluation protocol (300 epochs at the cpu budget: about 20 minutes in all on one loaded CPU core); ``--epochs N``
trains them all for N instead (fewer epochs under-train the 100-image set more than the whole split: 30 left it at 50 %).
Prints the table and writes ``benchmarks/results/membership_digits.json`` (``--name``).
"""

from __future__ import annotations

import argparse
import time

from _common import write_result

from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError
from mmdistill.membership import membership_check
from mmdistill.membership_cli import check_flags, checked_data, refusal
from mmdistill.saved_cli import load_saved, saved_real_data
from mmdistill.seeding import seeded_run
from mmdistill.share import set_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a digits set (mmdistill run image-dm --dataset digits --budget cpu --out DIR)")
    ap.add_argument("--runs", type=int, default=2, help="target models of each kind (default %(default)s)")
    ap.add_argument("--references", type=int, default=2, help="LiRA reference models (default %(default)s)")
    ap.add_argument("--members", type=int, default=1000, help="members scored (default %(default)s; digits gives 360)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs of every model (default: the set's eval_epochs)")
    ap.add_argument("--name", default="membership_digits", help="the JSON's name under benchmarks/results/")
    ap.set_defaults(membership=True, download=False, data_root=None)  # as `mmdistill check DIR --membership` reads them
    args = ap.parse_args()
    check_flags(args)  # the steps of `mmdistill check DIR --membership`: --epochs 0 refused before anything is loaded
    syn, manifest, recipe, modality = load_saved(args.dir)
    if why := refusal(modality, args.dir):
        raise ConfigError(why, key="membership")
    cfg, data = checked_data(args, syn, manifest, recipe, modality, set_dir(args.dir), saved_real_data)  # check_fits_data too
    started = time.perf_counter()
    with seeded_run(cfg.seed):
        result = membership_check(cfg, syn, data, modality, device=resolve_device(cfg.device), runs=args.runs,
                                  references=args.references, members=args.members, say=print)
    seconds = time.perf_counter() - started
    print(f"\n{result.table()}")
    write_result(args.name, {"set": {"recipe": manifest.get("recipe"), "dataset": manifest.get("dataset"), "ipc": manifest.get("ipc"),
                                     "iterations": manifest.get("config", {}).get("iterations")},
                             "seconds": round(seconds, 1), **result.as_json()})


if __name__ == "__main__":
    main()
