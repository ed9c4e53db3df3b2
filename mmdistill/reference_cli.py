"""``mmdistill import RECIPE FILE ...``: a set or an expert buffer made by the reference code (:mod:`mmdistill.reference`)
turned into an mmdistill run folder (evaluated with the recipe's protocol, next to its baselines) or buffer."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from mmdistill.cli_parser import Parser
from mmdistill.errors import ConfigError
from mmdistill.io import new_tree
from mmdistill.mean_std import spell_mean_std
from mmdistill.reference import (ImportOptions, mtt_whitened, pixel_stats, read_reference_set, replay_files, step_size,
                                 write_imported_buffer)
from mmdistill.reference_subsets import class_order, resolved_subset

log = logging.getLogger(__name__)

def import_parser() -> argparse.ArgumentParser:
    """The options of ``mmdistill import`` itself; the recipe's keys (``--dataset``, ``--out`` ...) are the rest."""
    p = Parser(prog="mmdistill import", usage="mmdistill import RECIPE SOURCE [options] [recipe keys]",
                                epilog="recipe keys (--dataset, --data-root, --out, --buffer, eval_runs= ...): mmdistill run RECIPE --help")
    p.add_argument("source", help="DC's res_*.pt, MTT's images_*.pt, or a folder (or file) of MTT's replay_buffer_*.pt")
    p.add_argument("--labels", type=Path, help="MTT's labels file (default: the images file's sibling, labels_best.pt ...)")
    p.add_argument("--experiment", type=int, help="which experiment of a DC result file (default: the last)")
    p.add_argument("--syn-lr", dest="syn_lr", help="MTT's learned step size (wandb's Synthetic_LR), or a .pt file holding it")
    p.add_argument("--stats", default="reference", help="how the file's pixels are scaled: reference (the source code's mean/std, "
                   "the default), unit ([0, 1] pixels), imagenet or M1,M2,M3/S1,S2,S3")
    p.add_argument("--zca", choices=("no", "yes"), help="whether MTT ZCA-whitened the data (CIFAR; yes: imported with zca=true, "
                   "the whitening refitted on the training split)")
    p.add_argument("--subset", help="which of MTT's ImageNet subsets (imagenette, imagewoof, imagemeow, imagesquawk, imagefruit, "
                   "imageyellow; or its ten ImageNet class indices): MTT's labels are put in the folders' sorted wnid order")
    return p


def cmd_import(recipe: Any, argv: Sequence[str], say: Callable[[str], None]) -> int:
    """``mmdistill import RECIPE ARGV`` (``recipe``: the :class:`~mmdistill.recipe.Recipe` named): the exit code; what it
    wrote is given to ``say``."""
    from mmdistill.recipe_cli import config_from_argv

    args, rest = import_parser().parse_known_args(list(argv))
    opts = ImportOptions(labels=args.labels, experiment=args.experiment, syn_lr=args.syn_lr, stats=args.stats, zca=args.zca,
                         subset=args.subset)
    if recipe.modality != "image":
        raise ConfigError(f"mmdistill import reads the image reference codes' files; {recipe.name} is a {recipe.modality} recipe", key="recipe")
    source = Path(args.source).expanduser()
    if source.is_dir() or source.name.startswith("replay_buffer_"):
        return _import_buffer(recipe, source, rest, opts, say)
    ref = read_reference_set(source, opts)
    if opts.subset is not None and ref.source != "mtt":
        raise ConfigError(f"--subset {opts.subset}: {source.name} is DatasetCondensation's, which distils no ImageNet subset; "
                          "leave --subset out", key="subset")
    if any(t == "--ipc" or t.startswith(("--ipc=", "ipc=")) for t in rest):
        raise ConfigError(f"the set's ipc comes from {source.name} ({ref.ipc} per class): leave out --ipc", key="ipc")
    argv = [*rest, f"ipc={ref.ipc}"]
    cfg = config_from_argv(recipe, argv, prog=f"mmdistill import {recipe.name}")
    if ref.source == "mtt":  # a mistyped --subset is named before the data is decoded; class_order reads it resolved
        opts = replace(opts, subset=resolved_subset(opts.subset, source, _dataset_name(cfg), getattr(cfg, "resize", None), log))
    whitened = mtt_whitened(opts, ref.source, _dataset_name(cfg), source)
    return _import_set(recipe, _zca_as_files(recipe, cfg, whitened, source), source, ref, opts, say, whitened)


def _dataset_name(cfg: Any) -> str:
    from mmdistill.tables import normalize_name

    return normalize_name(cfg.dataset)


def _zca_as_files(recipe: Any, cfg: Any, whitened: bool, source: Path) -> Any:
    """``cfg`` with its ``zca`` as the reference's files were made (``whitened``): the recipe's table may say otherwise for
    the dataset and IPC (image-mtt whitens CIFAR-100 IPC 1 by default), and data loaded in another space would score and
    match the imported tensors wrongly. ConfigError when the user set ``zca`` against the files (a flag, ``key=value`` or
    ``--config``), or the recipe cannot whiten."""
    from mmdistill.resolve import explicit_values

    if not hasattr(cfg, "zca"):
        if whitened:
            raise ConfigError(f"{source} holds ZCA-whitened data (MTT's --zca), which no mean and std describe; {recipe.name} does "
                              "not whiten: import it with a recipe that whitens (image-mtt, image-tesla: zca=true, the whitening "
                              "refitted on the dataset's training split), or MTT's images_zca_<it>.pt (the same set un-whitened) "
                              "with --stats unit", key="recipe")
        return cfg
    if bool(cfg.zca) == whitened:
        return cfg
    if "zca" in (explicit_values(cfg) or {}):
        raise ConfigError(f"{source} is {'ZCA-whitened' if whitened else 'not whitened'} (--zca {'yes' if whitened else 'no'}); "
                          f"zca={str(bool(cfg.zca)).lower()} was given: leave it out", key="zca")
    return recipe.rebuild(cfg, {"zca": whitened})


def _import_set(recipe, cfg, source: Path, ref, opts: ImportOptions, say: Callable[[str], None], whitened: bool = False) -> int:
    from mmdistill.devices import resolve_device
    from mmdistill.report import add_sharing_blocks, new_manifest, write_artifact
    from mmdistill.run import locked_out_dir
    from mmdistill.seeding import generator, seeded_run
    from mmdistill.validation import load_data

    from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE

    lr = step_size(opts.syn_lr)
    modality = recipe.get_modality()
    device = resolve_device(cfg.device)
    out = cfg.out_dir(recipe.name)
    if cfg.resume:  # the run folder's own refusal would offer it: an import distils nothing, there is nothing to continue
        raise ConfigError("an import has nothing to resume (it distils nothing); run it again with --overwrite, or choose another --out",
                          key="resume")
    if not cfg.overwrite and any((out / name).exists() for name in (MANIFEST_FILE, CHECKPOINT_FILE)):
        raise ConfigError(f"{out} already holds a run; pass --overwrite to replace it with the imported set, or choose another --out",
                          key="out")
    with seeded_run(cfg.seed), locked_out_dir(out, f"mmdistill import {recipe.name}", cfg):
        data = load_data(modality, cfg)
        if ref.labels.max() + 1 != data.num_classes or tuple(ref.x.shape[1:]) != tuple(data.sample_shape):
            raise ConfigError(f"{source}: {int(ref.labels.max()) + 1} classes of {tuple(ref.x.shape[1:])} samples; {data.name} has "
                              f"{data.num_classes} classes of {tuple(data.sample_shape)}: pass the --dataset it was made from", key="dataset")
        ref = _in_folder_order(ref, opts, data, source)
        syn = modality.init_synthetic(data, cfg, generator(cfg.seed, "init"))  # mmdistill's meta: classes, mean, std
        if whitened:  # in the space of the data's own whitening (zca=true): the same fit, refitted on the training split
            syn.data["x"], syn.labels = ref.x.clone(), ref.labels.clone()
        else:
            stats = pixel_stats(opts, ref.source, str(data.name), ref.x.shape[1], source)
            pixels = ref.x if stats is None else ref.x * stats[1] + stats[0]
            mean, std = (torch.tensor(syn.meta[k], dtype=torch.float32).view(-1, 1, 1) for k in ("mean", "std"))
            syn.data["x"], syn.labels = (pixels - mean) / std, ref.labels.clone()
        syn.meta["init"] = "imported"
        if lr is not None:
            syn.data["syn_lr"] = torch.tensor(lr)
            syn.meta["step_sizes"] = ["syn_lr"]
        elif ref.source == "mtt":
            log.warning("no --syn-lr: the set is evaluated with eval_lr=%s, not with the step size MTT learned (distill.py logs it "
                        "to wandb as Synthetic_LR and saves it nowhere)", getattr(cfg, "eval_lr", "?"))
        record = {**ref.record, "pixels": ("ZCA-whitened (MTT's --zca; the whitening refitted on the training split)" if whitened else
                                           opts.stats if opts.stats != "reference" else f"{ref.source} statistics")}
        manifest = new_manifest(recipe=recipe.name, method=f"imported ({record.get('method', ref.source.upper())})", modality=modality,
                                dataset=str(data.name), cfg=cfg, syn=syn, extra={"paper": recipe.paper, "imported_from": record})
        if cfg.evaluate:
            manifest["metrics"] = modality.evaluate(cfg, syn, modality.to_device(data, device), device)
        if getattr(cfg, "memorisation", True):
            add_sharing_blocks(manifest, modality, cfg, syn, data, out)
        write_artifact(out, syn.detached(), manifest, modality)
    say(f"imported {len(syn)} images ({syn.ipc} per class) from {source} into {out}")
    if "metrics" in manifest:
        from mmdistill.report import summary_line

        say(summary_line(manifest))
    return 0


def _in_folder_order(ref, opts: ImportOptions, data, source: Path):
    """``ref`` with MTT's labels of an ImageNet subset (``--subset``) turned into the data's (sorted wnid) class order,
    the set class-major again and the order recorded in ``imported_from``; ``ref`` itself when nothing moves."""
    if ref.source != "mtt":
        return ref
    order = class_order(opts.subset, source, str(data.name), [str(c) for c in data.train.classes])
    if order is None:
        return ref
    labels = order[ref.labels]
    keep = torch.argsort(labels, stable=True)
    record = {**ref.record, "subset": opts.subset, "mtt_label_to_class": order.tolist()}
    return replace(ref, x=ref.x[keep].contiguous(), labels=labels[keep].contiguous(), record=record)


def _import_buffer(recipe, source: Path, rest: Sequence[str], opts: ImportOptions, say: Callable[[str], None]) -> int:
    from mmdistill.buffer import INPUT_SPACE
    from mmdistill.expert_runs import expert_spec, resolve_batch_train
    from mmdistill.methods.trajectory_keys import TrajectoryKeys
    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.validation import load_data

    if not issubclass(recipe.config_cls, TrajectoryKeys):
        raise ConfigError(f"{source} holds expert trajectories; {recipe.name} matches none: use a trajectory recipe (image-mtt)", key="recipe")
    cfg = config_from_argv(recipe, rest, prog=f"mmdistill import {recipe.name}")
    files = replay_files(source)
    # or as MTT's buffer folder names it
    opts = replace(opts, subset=resolved_subset(opts.subset, files[0], _dataset_name(cfg), getattr(cfg, "resize", None), log))
    whitened = mtt_whitened(opts, "mtt", _dataset_name(cfg), files[0])
    cfg = _zca_as_files(recipe, cfg, whitened, files[0])
    if not cfg.buffer:
        raise ConfigError(f"{source} holds MTT's experts: pass --buffer NEW_DIR, the mmdistill buffer to write", key="buffer")
    out = Path(cfg.buffer).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"buffer={out} exists and is not an empty folder; the converted buffer goes into a new one", key="buffer")
    modality = recipe.get_modality()
    data = load_data(modality, cfg)
    if not whitened:
        _check_expert_pixels(opts, data, files[0])
    order = class_order(opts.subset, files[0], str(data.name), [str(c) for c in data.train.classes])
    resolve_batch_train(cfg, data)
    net = modality.matching_network(cfg, data)
    spec = expert_spec(cfg, data, net)
    # MTT's files record no fingerprint of the data its experts saw, but their input space is the data's as loaded here
    # (whitened or not as the files say; the pixels checked against the data's normalisation above; cut by the resize
    # given): the buffer records it, and a run in another space is refused; one recording none is the default space
    # (buffer.ABSENT_MEANS_NONE)
    spec.data = {INPUT_SPACE: spec.data[INPUT_SPACE]} if spec.data and INPUT_SPACE in spec.data else None
    with new_tree(out) as tmp:  # filled in a locked temporary sibling, renamed into place once whole
        count = write_imported_buffer(tmp, files, spec, cfg.expert_training(), order)
    say(f"converted {count} experts from {len(files)} file(s) of {source} into {out}; their training is recorded as this "
        "recipe's expert keys say (MTT's files record none of it): pass the values you trained with (lr_teacher=, batch_train=, ...)")
    return 0


def _check_expert_pixels(opts: ImportOptions, data, where: Path) -> None:
    """ConfigError unless MTT's experts saw the pixels this recipe feeds them: normalised with the data's mean and std
    (MTT's own statistics, :data:`~mmdistill.reference.REFERENCE_STATS`, or ``--stats``; never ZCA-whitened)."""
    stats = pixel_stats(opts, "mtt", str(data.name), int(data.sample_shape[0]), where)
    if stats is None:
        raise ConfigError(f"{where}: experts trained on [0, 1] pixels (--stats unit) cannot be matched: mmdistill feeds them "
                          "images normalised with the data's mean and std", key="stats")
    ours = [torch.tensor(data.meta[k], dtype=torch.float32).view(-1, 1, 1) for k in ("mean", "std")]
    if not all(torch.allclose(a, b, atol=1e-4) for a, b in zip(stats, ours)):
        said = lambda t: [round(v, 4) for v in t.flatten().tolist()]  # noqa: E731
        theirs = spell_mean_std(stats[0].flatten().tolist(), stats[1].flatten().tolist())
        raise ConfigError(f"{where}: MTT's experts saw images normalised with mean {said(stats[0])}, std {said(stats[1])}; "
                          f"mmdistill normalises {data.name} with mean {said(ours[0])}, std {said(ours[1])}, so the experts "
                          f"would be matched on inputs they were not trained on: import them (and run with them) with "
                          f"normalization={theirs}, or train experts with `mmdistill experts`", key="stats")


__all__ = ["cmd_import", "import_parser"]
