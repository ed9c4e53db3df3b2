"""The commands on a saved set that evaluate it or check it against its real data: ``mmdistill eval`` and
``mmdistill check`` (their parsers are :mod:`mmdistill.cli`'s, which also decides where their lines go: ``say``), and the
loading of a saved set every command on one shares."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from mmdistill.errors import ConfigError
from mmdistill.membership_cli import add_flags as add_membership_flags  # check's --membership flags, for mmdistill.cli

log = logging.getLogger(__name__)


def load_saved(directory: str) -> tuple[Any, dict, Any, Any]:
    """The set in ``directory`` (a run or a --to hf export), its manifest, recipe and adapter; ArtifactError naming
    the manifest when it names no recipe or adapter of this installation, when the adapter cannot decode the set, or
    when its normalisation statistics are not numbers or hold a std of 0 or a NaN (:func:`~mmdistill.consumer.normalization_of`)."""
    from mmdistill.consumer import normalization_of
    from mmdistill.io import MANIFEST_FILE, load_synthetic
    from mmdistill.recipes import get_recipe
    from mmdistill.share import decoded_inputs, saved_modality, saved_recipe, set_dir

    folder = set_dir(directory)
    syn, manifest = load_synthetic(folder)
    recipe = saved_recipe(manifest, folder, get_recipe)  # also refuses a recipe of another modality than the set's
    modality = saved_modality(manifest, folder)
    if callable(getattr(modality, "inputs", None)):
        decoded_inputs(modality, syn, folder)  # a set its adapter cannot decode is named here, not deep in a network
    normalization_of(modality, syn.meta, folder / MANIFEST_FILE)  # as mmdistill.load checks them
    return syn, manifest, recipe, modality


def evaluation_overrides(config_cls: type, pairs: Sequence[str], recipe: str | None = None) -> dict[str, str]:
    """``key=value`` pairs of ``mmdistill eval``: only evaluation keys (``resume=False`` and not a run's own) may change;
    any other key is a ConfigError naming it (an unknown one with the closest evaluation keys of ``recipe``)."""
    from mmdistill.config import parse_overrides
    from mmdistill.keys import did_you_mean, key_infos
    from mmdistill.report import EVAL_EXECUTION_KEYS, is_evaluation_key

    parsed = parse_overrides(list(pairs))
    infos = {info.name: info for info in key_infos(config_cls)}
    for name in parsed:
        if name not in infos:
            usable = [n for n, info in infos.items() if not info.resume and (is_evaluation_key(n) or n in EVAL_EXECUTION_KEYS)]
            raise ConfigError(f"mmdistill eval: {recipe or config_cls.__name__} has no evaluation key {name!r}."
                              f"{did_you_mean(name, usable)} Evaluation keys: {', '.join(usable)}", key=name)
        if infos[name].resume:
            raise ConfigError(f"mmdistill eval: {name} changes the distillation, so it cannot be changed for a saved set; "
                              f"only evaluation keys can (`mmdistill run {recipe or 'RECIPE'} --config DIR {name}=...` runs it "
                              "again with the saved run's other keys)", key=name)
        if not (is_evaluation_key(name) or name in EVAL_EXECUTION_KEYS):
            raise ConfigError(f"mmdistill eval: {name} has no effect on evaluating a saved set (it is a key of a run)", key=name)
    return parsed


def _sweep(folder: Path) -> None:
    """Remove what a killed write of the locked set ``folder`` left (an ``eval --write`` or ``check`` killed between
    writing a file's temporary and renaming it: ``.manifest.json.k3j_x9a2.tmp``), as a run into it does."""
    from mmdistill.run import remove_stale_temporaries_of_run

    remove_stale_temporaries_of_run(folder)



def _prepare_write(folder: Path, lock: Any, why: str, lead: bool = True) -> None:
    """Before ``eval --write`` or ``check`` rewrites the set ``folder`` (its manifest, card and plots): the folder and its
    card's folder writable with room for them (``why`` says what is written, for the refusal), ``metrics.jsonl`` no link
    (the card reads it at the end: refused before minutes of work, not after), then, on the ``lead`` process, ``lock``
    (a :class:`~mmdistill.run_lock.RunFolderLock`) taken (a run still writing the folder, or another write, is
    refused) and what a killed write left removed."""
    from mmdistill.io import METRICS_FILE, MetricsLog, require_writable

    card_dir = card_place(folder)[0]
    require_writable(folder, card_dir, room=_rewritten_bytes(folder, card_dir), why=why)
    MetricsLog(folder / METRICS_FILE).check()
    if lead:
        lock.acquire()
        _sweep(folder)

def cmd_eval(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """``mmdistill eval DIR``: the saved set scored again (``--write``: its manifest, card and plot rewritten, the folder
    locked meanwhile, :class:`~mmdistill.run_lock.RunFolderLock`), its lines given to ``say``; the exit code."""
    from mmdistill.logs import is_lead_process
    from mmdistill.run_lock import RunFolderLock
    from mmdistill.share import set_dir

    syn, manifest, recipe, modality = load_saved(args.dir)
    folder = set_dir(args.dir)
    lock = RunFolderLock(folder, "mmdistill eval --write")
    if args.write:  # under torchrun rank 0 writes (and locks) for all
        _prepare_write(folder, lock, "--write stores the new metrics there: run without --write, or copy the set to a folder you can write",
                       lead=is_lead_process())
    try:
        return _rescore(args, syn, manifest, recipe, modality, folder, say)
    finally:
        lock.release()


def evaluate_saved(path: str | Path, *, runs: int | None = None, epochs: int | None = None, networks: Sequence[str] | str | None = None,
                   cross_arch: bool = False, data_root: str | Path | None = None, device: str | None = None,
                   vectorize: int | None = None, baselines: bool | str | Sequence[str] = True, **keys: Any) -> dict[str, Any]:
    """A saved set (a run folder or a ``--to hf`` export) scored again, from Python: ``mmdistill eval PATH`` without
    ``--write`` (nothing is written; the lines it would print are not printed). Every argument defaults to the saved
    run's value; ``baselines`` is True (the run's), False (none: ``--no-baselines``) or the names of some
    (``["random_real"]``: the key ``baselines=random_real``); ``keys`` are further evaluation keys (``eval_lr=0.01``).
    Returns the new metrics in the manifest's
    ``metrics`` layout: ``metric``, ``network``, ``distilled`` / ``random_real`` / ... each ``{"mean", "std", "runs"}``
    as fractions (accuracy 0.075: the 7.50 % the command prints), ``protocol``, and with several networks ``cross_arch``: network -> the same per set."""
    names = ",".join(networks) if networks is not None and not isinstance(networks, str) else networks
    if not isinstance(baselines, bool) and baselines:  # names (a list was read as True: every baseline of the run)
        keys = {**keys, "baselines": baselines}
    pairs = [f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in keys.items()]
    args = argparse.Namespace(dir=str(path), runs=runs, epochs=epochs, networks=names, cross_arch=cross_arch,
                              data_root=None if data_root is None else str(data_root), device=device, vectorize=vectorize,
                              no_baselines=not baselines, write=False, overrides=pairs)
    syn, manifest, recipe, modality = load_saved(args.dir)
    from mmdistill.share import set_dir

    return score_saved(args, syn, manifest, recipe, modality, set_dir(args.dir))[0]


def score_saved(args: argparse.Namespace, syn, manifest: dict, recipe, modality, folder: Path) -> tuple[dict, dict, Any, float, bool]:
    """The loaded set in ``folder`` scored again under ``args`` (``mmdistill eval``'s flags and ``overrides``): its new
    metrics (the manifest's ``metrics`` layout), the config changes made, the config, the evaluation's seconds and
    whether this process speaks for the run (rank 0 under torchrun)."""
    import torch

    from mmdistill.devices import resolve_device
    from mmdistill.distributed import close_workers, init_workers
    from mmdistill.share import check_fits_data, saved_run_data, without_download

    saved = dict(manifest.get("config", {}))
    changes: dict[str, object] = {"resume": False, "overwrite": False}
    flags = {"eval_runs": (args.runs is not None, "--runs"), "eval_epochs": (args.epochs is not None, "--epochs"),
             "eval_networks": (bool(args.networks), "--networks"), "cross_arch": (args.cross_arch, "--cross-arch"),
             "eval_vectorize": (args.vectorize is not None, "--vectorize")}
    fields = recipe.config_cls.__dataclass_fields__
    replaced = getattr(recipe.config_cls, "REPLACED_KEYS", {})
    for key, (given, flag) in flags.items():
        if given and key in replaced:  # a key the config refuses for its successor: named as the flag the user gave
            raise ConfigError(f"{flag} does not apply to {recipe.name}: its evaluation has no {key}; use {replaced[key]} "
                              "as key=value", key=key)
        if given and key not in fields:
            raise ConfigError(f"{flag} does not apply to {recipe.name}: its evaluation has no {key} "
                              f"(`mmdistill run {recipe.name} --help` lists its evaluation keys)", key=key)
    if args.runs is not None:
        changes["eval_runs"] = args.runs
    if args.epochs is not None:
        changes["eval_epochs"] = args.epochs
    if args.networks and args.cross_arch and "eval_networks" in fields:
        raise ConfigError("--networks and --cross-arch both choose the evaluation networks (--cross-arch takes the whole "
                          "cross-architecture list): give one", key="eval_networks")
    given = {"eval_networks": args.networks or None, "cross_arch": args.cross_arch or None, "data_root": args.data_root,
             "device": args.device, "baselines": [] if args.no_baselines else None, "eval_vectorize": args.vectorize}
    changes.update({key: value for key, value in given.items() if value is not None})
    overrides = evaluation_overrides(recipe.config_cls, args.overrides, recipe.name)
    flag_of = {**{k: flag for k, (_, flag) in flags.items()}, "data_root": "--data-root", "device": "--device",
               "baselines": "--no-baselines"}
    for key in sorted(set(overrides) & (set(changes) - {"resume", "overwrite"})):  # a key a flag set too
        log.warning("config key %s=%s from key=value overrides replaces %s from %s (the later layer wins)",
                    key, overrides[key], changes[key], flag_of.get(key, "a flag"))
    changes.update(overrides)
    if {"eval_networks", "cross_arch"} <= set(fields):  # one choice of networks replaces the saved one, by flag or key=value
        if changes.get("eval_networks") and "cross_arch" not in changes:
            changes["cross_arch"] = False  # the named networks, even for a set saved with cross_arch
        if changes.get("cross_arch") and "eval_networks" not in changes:
            changes["eval_networks"] = []  # the whole list, even for a set saved with eval_networks
    cfg = recipe.config_from_saved(saved, without_download(saved, changes, folder, "pass download=true"))
    workers = init_workers(resolve_device(cfg.device))  # under torchrun the runs are spread over the processes
    try:
        torch.manual_seed(cfg.seed)
        data = saved_run_data(modality, cfg, root_given=args.data_root is not None, meta=syn.meta)
        check_fits_data(syn, modality, data, folder)
        data = modality.to_device(data, workers.device)
        started = time.perf_counter()
        metrics = modality.evaluate(cfg, syn, data, workers.device)
        eval_seconds = time.perf_counter() - started
    finally:
        close_workers(workers)
    return metrics, changes, cfg, eval_seconds, workers.is_writer


def _rescore(args: argparse.Namespace, syn, manifest: dict, recipe, modality, folder: Path, say: Callable[[str], None]) -> int:
    """``mmdistill eval``'s evaluation of the loaded set in ``folder`` (and, with ``--write``, its new metrics)."""
    from mmdistill.report import cross_arch_lines, summary_line
    from mmdistill.share import manifest_fields

    metrics, changes, cfg, eval_seconds, writer = score_saved(args, syn, manifest, recipe, modality, folder)
    if not writer:
        return 0
    saved = dict(manifest.get("config", {}))
    for line in _scored_on_other_samples(manifest.get("metrics"), metrics):
        log.warning("%s", line)
    report = {**manifest, "metrics": metrics, "config": {**saved, **changes}}
    say("\n" + summary_line(report))
    for line in cross_arch_lines(metrics, indent="  "):
        say(line)
    if args.write:
        from mmdistill.report import write_rescored

        card_dir, where = card_place(folder)
        if isinstance(manifest.get("timing"), dict):  # show's "evaluation N s" is of the metrics it shows
            timing = manifest["timing"]
            timing.setdefault("run_eval_seconds", timing.get("eval_seconds", 0.0))
            timing["eval_seconds"] = eval_seconds
        with manifest_fields(folder):
            write_rescored(folder, manifest, metrics, cfg, changes, modality, card_dir, where)
        say(f"updated {folder / 'manifest.json'}, the card" + (" and accuracy.png" if where == "run" else ""))
    return 0


def _scored_on_other_samples(saved: Any, metrics: Any) -> list[str]:
    """Where the saved metrics record how many samples they were scored on (``protocol.test_samples`` ...) and this
    evaluation scored another number (the data, or how this mmdistill reads its layout, changed since the set was
    made: e.g. a video split file's val rows, which early builds of 0.1.0 scored as test), one line saying so: its numbers
    are then not comparable with the recorded ones."""
    old = saved.get("protocol") if isinstance(saved, dict) else None
    new = metrics.get("protocol") if isinstance(metrics, dict) else None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    counts = [f"the saved scores were computed on {old[key]} {key.replace('_samples', '')} samples, this evaluation on "
              f"{new[key]} (the data, or how this mmdistill reads it, differs from the run's): its numbers are not "
              "comparable with the recorded ones; --write records this evaluation's"
              for key in sorted(set(old) & set(new))
              if key.endswith("_samples") and isinstance(old[key], int) and old[key] != new[key]]
    split = "validation_split"  # the draw's digest (mmdistill.validation.split_digest): as many samples, other ones
    if not counts and isinstance(old.get(split), str) and isinstance(new.get(split), str) and old[split] != new[split]:
        counts.append("the saved scores were computed on another validation split than this evaluation's (as many samples, "
                      "other ones: the training data's labels or order differ from the run's): its numbers are not comparable "
                      "with the recorded ones; --write records this evaluation's")
    return counts


def _rewritten_bytes(folder: Path, card_dir: Path) -> int:
    """About the room an ``eval --write`` or ``check`` needs for what it writes again (each file is written whole beside
    the old one, then renamed): the bytes of the set's manifest, card and pictures now, and 1 MiB to spare. Probed before
    minutes of evaluation, so a nearly full disk is refused then, not at the card."""
    from mmdistill.io import MANIFEST_FILE

    files = {folder / MANIFEST_FILE, card_dir / "README.md", *folder.glob("*.png"), *folder.glob("*.gif")}
    return sum(f.stat().st_size for f in files if f.is_file()) + (1 << 20)


def card_place(folder: Path) -> tuple[Path, str]:
    """Where a saved set's card goes and which kind it is: beside ``manifest.json`` in a run folder (``run``); one level
    up for an export made with ``--to hf``, whose set sits in its ``mmdistill/`` folder next to the dataset's
    ``dataset_info.json`` (``hf``). A run folder that happens to be named ``mmdistill`` keeps its card."""
    from mmdistill.share import EXPORT_SET_DIR

    is_export = folder.name == EXPORT_SET_DIR and (folder.parent / "dataset_info.json").is_file()
    return (folder.parent, "hf") if is_export else (folder, "run")


def saved_real_data(args: argparse.Namespace, manifest: dict, recipe: Any, modality: Any) -> tuple[Any, Any]:
    """The saved run's config (with --data-root) and its real data, loaded on the CPU."""
    import torch

    from mmdistill.share import saved_run_data, set_dir, without_download

    changes: dict[str, object] = {"resume": False, "overwrite": False, "progress": False, **({"download": True} if args.download else {})}
    if getattr(args, "data_root", None) is not None:
        changes["data_root"] = args.data_root
    saved = dict(manifest.get("config", {}))
    cfg = recipe.config_from_saved(saved, without_download(saved, changes, set_dir(args.dir), "pass --download"))
    torch.manual_seed(cfg.seed)
    return cfg, saved_run_data(modality, cfg, root_given="data_root" in changes,
                               meta=(manifest.get("synthetic") or {}).get("meta"))


def cmd_check(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """``mmdistill check DIR``: the memorisation check of the saved set against its real data (unless ``--no-write``
    its record written, the folder locked meanwhile), its lines given to ``say``; the exit code. With ``--membership``
    the membership-inference check instead (:mod:`mmdistill.membership_cli`), refused before anything is locked for a
    set that is not classification."""
    from mmdistill.logs import is_lead_process
    from mmdistill.run_lock import RunFolderLock
    from mmdistill.share import set_dir

    if not is_lead_process():  # under torchrun rank 0 checks and writes for all (the check uses no collectives)
        return 0
    from mmdistill.membership_cli import check_flags, refusal

    check_flags(args)  # --runs 5 without --membership would be ignored; --epochs 0: before anything is loaded or locked
    syn, manifest, recipe, modality = load_saved(args.dir)
    if getattr(args, "membership", False) and (why := refusal(modality, args.dir)):
        raise ConfigError(why, key="membership")
    folder = set_dir(args.dir)
    lock = RunFolderLock(folder, "mmdistill check")
    if not args.no_write:
        _prepare_write(folder, lock, "the check writes memorisation.png, the manifest and the card there: pass --no-write to print only, "
                                     "or copy the set to a folder you can write")
    try:
        if getattr(args, "membership", False):  # membership inference on models trained on the set: mmdistill.membership_cli
            from mmdistill.membership_cli import cmd_membership

            return cmd_membership(args, syn, manifest, recipe, modality, folder, say, saved_real_data)
        return _check(args, syn, manifest, recipe, modality, folder, say)
    finally:
        lock.release()


def _check(args: argparse.Namespace, syn, manifest: dict, recipe, modality, folder: Path, say: Callable[[str], None]) -> int:
    """``mmdistill check``'s memorisation check of the loaded set in ``folder`` (and, unless ``--no-write``, its record)."""
    from mmdistill.card import counted
    from mmdistill.io import write_json
    from mmdistill.memorisation import summary_lines
    from mmdistill.report import add_sharing_blocks, follow_rewritten, write_card
    from mmdistill.share import check_fits_data, manifest_fields

    cfg, data = saved_real_data(args, manifest, recipe, modality)
    check_fits_data(syn, modality, data, folder)
    manifest.setdefault("paper", recipe.paper)
    add_sharing_blocks(manifest, modality, cfg, syn, data, folder)
    mem = manifest["memorisation"]
    say(f"{args.dir}: memorisation check of {counted(len(syn), manifest, modality)} against {mem.get('real_pool')} real ones")
    for line in summary_lines(mem) or [f"skipped: {mem.get('skipped')}"]:
        say("  " + line)
    if not args.no_write:  # the card first and the manifest last, as eval --write: a stop between leaves an older manifest
        card_dir, where = card_place(folder)
        with manifest_fields(folder):
            write_card(card_dir, manifest, modality, where=where)
        if where == "run":
            follow_rewritten(folder, manifest, ("README.md", str(mem.get("picture") or "")))
        write_json(folder / "manifest.json", manifest)
        say(f"updated {folder / 'manifest.json'}, the card" + (f" and {folder / mem['picture']}" if mem.get("picture") else ""))
    return 0


__all__ = ["add_membership_flags", "card_place", "cmd_check", "cmd_eval", "evaluation_overrides", "load_saved", "saved_real_data"]
