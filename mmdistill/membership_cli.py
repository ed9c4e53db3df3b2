"""``mmdistill check DIR --membership [--runs 3] [--references 2] [--members 1000] [--epochs N]``: the membership
check of :mod:`mmdistill.membership` on a saved set, from the command line: its table printed, ``membership.json`` and
``membership.png`` written into the set's folder (unless ``--no-write``)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Callable


#: the values of the flags not given
DEFAULTS = {"runs": 3, "references": 2, "members": 1000}
#: the flags that only --membership reads
FLAGS = ("runs", "references", "members", "epochs")


def check_flags(args: argparse.Namespace) -> None:
    """ConfigError when ``mmdistill check``'s ``args`` cannot run as given, asked before anything is loaded or locked: a
    --membership flag without --membership (it would be ignored; key membership), ``--epochs`` < 1 (key eval_epochs)."""
    from mmdistill.errors import ConfigError

    given = [f"--{name}" for name in FLAGS if getattr(args, name, None) is not None]
    if given and not getattr(args, "membership", False):
        raise ConfigError(f"mmdistill check: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the membership "
                          "check only; add --membership, or leave them out for the memorisation check", key="membership")
    if (epochs := getattr(args, "epochs", None)) is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs}: every model trains at least 1 epoch", key="eval_epochs")


def add_flags(p_check: argparse.ArgumentParser) -> None:
    """The ``--membership`` flags on ``mmdistill check``'s parser."""
    g = p_check.add_argument_group("membership inference (--membership)")
    g.add_argument("--membership", action="store_true", help="instead of the memorisation check: train models on the set (its "
                   "evaluation protocol), on a random real subset of its size and on the whole training split, and attack each "
                   "(loss attack, offline LiRA): AUC and TPR at 1%% / 0.1%% FPR, members = training samples, non-members = test "
                   "samples; writes membership.json and membership.png")
    g.add_argument("--runs", type=int, default=None, help=f"target models of each kind (default {DEFAULTS['runs']})")
    g.add_argument("--references", type=int, default=None, help="LiRA's reference models, each on a random half of the training "
                   f"samples not scored (default {DEFAULTS['references']})")
    g.add_argument("--members", type=int, default=None, help=f"members scored, and as many non-members (default {DEFAULTS['members']}; "
                   "fewer when a split is short; TPR at 0.1%% FPR needs 1000)")
    g.add_argument("--epochs", type=int, default=None, help="training epochs of every model (default: the set's eval_epochs)")


def refusal(modality: Any, directory: str) -> str:
    """Why the set in ``directory`` of ``modality`` cannot be checked, or ``""``: its adapter has no classification
    networks to train on it (graphs, image-text pairs, sequences)."""
    from mmdistill.modality import ClassificationModality

    if isinstance(modality, ClassificationModality) and callable(getattr(modality, "decode", None)):
        return ""
    name = getattr(modality, "name", type(modality).__name__)
    return (f"mmdistill check --membership: {directory} holds a {name} set, not a classification set (images, audio, video: "
            "labelled samples a network is trained on), so there is no model to attack; the memorisation check "
            "(mmdistill check without --membership) works for it")


def checked_data(args: argparse.Namespace, syn: Any, manifest: dict, recipe: Any, modality: Any, folder: Path,
                 real_data: Callable[..., tuple[Any, Any]]) -> tuple[Any, Any]:
    """The saved run's config and real data the check of the loaded set in ``folder`` trains with: ``real_data(args,
    manifest, recipe, modality) -> (cfg, data)`` (``mmdistill check``'s: :func:`mmdistill.saved_cli.saved_real_data`,
    from ``args.dir``, ``args.download``, ``args.data_root``), checked against the set
    (:func:`~mmdistill.share.check_fits_data`: classes, shape, the split rule, a fitted input space such as ZCA),
    ``eval_epochs`` replaced by ``args.epochs`` when given."""
    from mmdistill.share import check_fits_data

    cfg, data = real_data(args, manifest, recipe, modality)
    check_fits_data(syn, modality, data, folder)
    if getattr(args, "epochs", None) is not None:
        cfg = dataclasses.replace(cfg, eval_epochs=args.epochs)
    return cfg, data


def cmd_membership(args: argparse.Namespace, syn: Any, manifest: dict, recipe: Any, modality: Any, folder: Path,
                   say: Callable[[str], None], real_data: Callable[..., tuple[Any, Any]]) -> int:
    """Run the check on the loaded set in ``folder`` (``args`` already passed :func:`check_flags` and the set
    :func:`refusal`; ``real_data``: :func:`checked_data`'s), say its table and write its files unless ``args.no_write``;
    the exit code."""
    from mmdistill.devices import resolve_device
    from mmdistill.io import write_json
    from mmdistill.membership import PLOT_FILE, RESULT_FILE, membership_check
    from mmdistill.membership_plot import plot_membership
    from mmdistill.seeding import seeded_run

    cfg, data = checked_data(args, syn, manifest, recipe, modality, folder, real_data)
    with seeded_run(cfg.seed):
        result = membership_check(cfg, syn, data, modality, device=resolve_device(cfg.device), say=say,
                                  **{k: v if (v := getattr(args, k, None)) is not None else d for k, d in DEFAULTS.items()})
    say("\n" + result.table())
    if not args.no_write:
        record = {**result.as_json(), "set": {"recipe": manifest.get("recipe")}}  # no path: the folder may be shared
        write_json(folder / RESULT_FILE, record)
        plot_membership(result.roc, folder / PLOT_FILE, title=f"membership inference: {recipe.name} on "
                        f"{result.protocol.get('dataset')}, {result.protocol['members']} members / non-members")
        say(f"wrote {folder / RESULT_FILE} and {folder / PLOT_FILE}")
    return 0


__all__ = ["DEFAULTS", "add_flags", "check_flags", "checked_data", "cmd_membership", "refusal"]
