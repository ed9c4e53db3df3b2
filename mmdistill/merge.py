"""``mmdistill merge``: saved sets, each distilled from part of the classes or part of the data (a class-incremental
task's classes, a federated client's shard), joined into one set over the classes of the data it is evaluated on.

Labels are indices into each set's own ``classes`` (a set of digits 5-9 labels digit 5 as 0), so parts are joined by
class NAME, in the order of the named data's classes, never by label index. Each set's inputs are normalised with its
own training split's statistics (a per-task folder has its own mean and std); they are brought back to raw units
and normalised again with the named data's, exactly: ``(x * std_part + mean_part - mean) / std``. A part that cannot
be joined so is refused with one line naming it: another modality or recipe, a parameterization other than the raw
inputs (``x``; an audio-visual set's ``audio`` and ``image``, each side converted with its own statistics: the adapter's
``merge_inputs``; a trajectory method's learned step sizes beside them are kept: their mean over the parts), another
preprocessing (the adapter's ``merge_meta_keys``: an audio-visual set's log-mel parameters and tiling factor), soft or learnable labels (logits over the part's own classes), another sample shape, a class the data lacks,
another input space (a ZCA whitening fitted otherwise, or none where the data's has one).
Samples of a class held by several parts (clients sharing a class) are all kept; every class must end with the same
number of samples (the random-real baseline draws that many per class), and every class of the data must be held.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.integrity import SET_DIGEST_KEY
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import clean_name, quantity

log = logging.getLogger(__name__)


def _normalisation(meta: dict[str, Any], where: str, modality: Any = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The set's (mean, std) of each input it records them for, as float32 tensors of the leading dims of one sample --
    per channel (C,) for images and video, per channel and coefficient (C, F) for audio's FD-MFCC maps, a scalar for
    an audio-visual set's log-mel side -- as a consumer reads them (:func:`mmdistill.consumer.normalization_of` with
    ``modality``'s hook), empty when its inputs carry no mean and std. ArtifactError naming ``where`` when they are not
    numbers, a mean is not finite or a std not above 0."""
    from mmdistill.consumer import normalization_of

    return {name: (pair["mean"], pair["std"]) for name, pair in normalization_of(modality, meta, where).items() if pair}


#: input-space entries a merge converts rather than refuses: an image set's ``normalization`` (statistics other than the
#: data's own), which its meta ``mean``/``std`` say too and :func:`merge_parts` re-normalises into the data's
CONVERTED_SPACE = ("normalization",)


def _space_differs(syn: SyntheticSet, target: SyntheticSet) -> str:
    """How a part's input space differs from the data's (``meta["input_space"]`` less :data:`CONVERTED_SPACE`, and the
    ``fixed`` tensors that define it: an image set's ZCA whitening), or "" when they agree (none, or the same fit to float
    rounding)."""
    mine, theirs = ({k: v for k, v in (s.meta.get("input_space") or {}).items() if k not in CONVERTED_SPACE} or None
                    for s in (syn, target))
    if mine != theirs or set(syn.fixed) != set(target.fixed):
        return f"its inputs are in the space {mine or 'of no transform'}, the data's in {theirs or 'that of no transform'}"
    for name, value in syn.fixed.items():
        if value.shape != target.fixed[name].shape or not torch.allclose(value.float(), target.fixed[name].float(), rtol=1e-4, atol=1e-6):
            return f"its {name} (the transform its inputs are in, fitted on its training data) is not the data's"
    return ""


def joined_step_sizes(records: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The merged set's learned step sizes: each key's mean over the parts (:func:`merge_parts`' records), as 0-dim float32
    tensors; empty when the parts learned none. Each part's own is in its record (the manifest's ``merged_from``)."""
    keys = records[0]["step_sizes"] if records else {}
    return {k: torch.tensor(sum(r["step_sizes"][k] for r in records) / len(records)) for k in keys}


def _shaped(stat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``stat`` (the leading dims of one sample, (C,) or (C, F), or a scalar) broadcastable over ``x`` (K, *sample shape)."""
    if stat.dim() == 0:  # one mean/std for the whole input (an audio-visual set's log-mel side)
        return stat
    if stat.shape != x.shape[1:1 + stat.dim()]:
        raise ConfigError(f"the mean/std have shape {tuple(stat.shape)}, not the leading dims of the samples' "
                          f"{tuple(x.shape[1:])}", key="dirs")
    return stat.reshape(*stat.shape, *([1] * (x.dim() - 1 - stat.dim())))


def merge_inputs_of(modality: Any) -> tuple[str, ...]:
    """The stored tensors the adapter's ``merge_inputs`` names as raw per-sample inputs (``("x",)`` without the hook)."""
    return tuple(getattr(modality, "merge_inputs", ("x",)))


def _require_raw_x(where: str, syn: SyntheticSet, steps: dict[str, float] | None = None, inputs: Sequence[str] = ("x",),
                   extras: Sequence[str] = ()) -> None:
    """ConfigError naming ``where`` unless the set is stored as the raw inputs ``inputs`` (what merge converts and joins;
    ``x``, or an audio-visual set's ``audio`` and ``image``), beside the step sizes a trajectory method learned with
    them (:meth:`~mmdistill.synthetic.SyntheticSet.step_sizes`, averaged by the merge) and the adapter's ``extras``
    (``merge_extra_keys``, which its ``merge_extras`` hook joins: LoRS's similarity)."""
    if set(syn.data) - set(syn.step_sizes() if steps is None else steps) - set(extras) != set(inputs):
        raise ConfigError(f"{where}: its set is stored as {', '.join(sorted(syn.data))}, not the raw inputs "
                          f"{', '.join(map(repr, inputs))}; only sets stored as raw inputs can be merged (not a factorised "
                          "or generator set)", key="dirs")


def _differing_meta(syn: SyntheticSet, target: SyntheticSet, keys: Sequence[str]) -> str:
    """The first of ``keys`` (the adapter's ``merge_meta_keys``) whose ``meta`` value differs between the part and the
    data, as words naming the field and both values; "" when they all agree."""
    for key in keys:
        mine, theirs = syn.meta.get(key), target.meta.get(key)
        if mine != theirs:
            return (f"its synthetic.meta.{key} is {json.dumps(mine, default=str)[:120]}, the data's "
                    f"{json.dumps(theirs, default=str)[:120]}")
    return ""


def merge_parts(parts: Sequence[tuple[Path, SyntheticSet, dict[str, Any]]], target: SyntheticSet,
                modality: Any = None) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[dict[str, Any]]]:
    """The joined inputs by name (``{"x": (K, *sample_shape)}``, or an audio-visual set's ``audio`` and ``image``: the
    adapter's ``merge_inputs``), class-major in ``target.meta["classes"]`` order, their labels (K,) and one record per
    part (its folder, classes, per-class count, mean/std). ``target`` carries the classes, normalisation and
    preprocessing (``merge_meta_keys``) of the data the merged set is for (its own tensors are not used). Raises
    ConfigError naming the part on a mismatch."""
    by_name = bool(getattr(modality, "merge_by_class", True))  # False: sets of one unnamed class (image-text pairs), kept in order
    classes = [clean_name(str(c)) for c in target.meta.get("classes", [])] if by_name else [""]  # as the parts were saved
    inputs = merge_inputs_of(modality)
    shapes = {k: tuple(target.data[k].shape[1:]) for k in inputs}
    goal = _normalisation(target.meta, "the data the merged set is for", modality)
    by_class: dict[str, list[dict[str, torch.Tensor]]] = {c: [] for c in classes}
    records = []
    for folder, syn, manifest in parts:
        where = f"{folder}"
        steps = syn.step_sizes()
        _require_raw_x(where, syn, steps, inputs, getattr(modality, "merge_extra_keys", ()))  # load_parts checked it before the data was read; merge_parts' callers may not
        if records and set(steps) != set(records[0]["step_sizes"]):
            raise ConfigError(f"{where}: it learned the step size(s) {sorted(steps) or 'none'}, {records[0]['dir']} "
                              f"{sorted(records[0]['step_sizes']) or 'none'}; merge parts distilled with the same method", key="dirs")
        if syn.label_mode != "hard":
            raise ConfigError(f"{where}: its labels are {syn.label_mode} (logits over its own {syn.num_classes} classes); only sets "
                              "with hard labels can be merged", key="dirs")
        for k in inputs:
            if tuple(syn.data[k].shape[1:]) != shapes[k]:
                what = "samples" if len(inputs) == 1 else f"{k!r} inputs"  # an audio-visual or image-text set: the side
                raise ConfigError(f"{where}: its {what} have shape {tuple(syn.data[k].shape[1:])}, the data's {shapes[k]}; distil "
                                  "the parts at one sample shape (the same size keys as the first part's config, which the data "
                                  "is read with)", key="dirs")
        if differs := _differing_meta(syn, target, getattr(modality, "merge_meta_keys", ())):
            raise ConfigError(f"{where}: {differs}; merge parts distilled with the same preprocessing as the data the merged set "
                              "is for (the same keys)", key="dirs")
        names = [str(c) for c in syn.meta.get("classes", [])] if by_name else [""]
        if len(names) != syn.num_classes:
            raise ConfigError(f"{where}: its manifest names no classes (meta.classes); parts are joined by class name", key="dirs")
        unknown = [c for c in names if c not in by_class]
        if unknown:
            raise ConfigError(f"{where}: class(es) {', '.join(map(repr, unknown[:5]))} are not classes of the data the merged set "
                              f"is for ({', '.join(map(repr, classes[:10]))}{' ...' if len(classes) > 10 else ''}): name data that holds "
                              "every part's classes with --dataset and --data-root (dataset=, data_root=)", key="dataset")
        if differs := _space_differs(syn, target):
            raise ConfigError(f"{where}: {differs}; merge parts distilled with the same input space (zca) on the same data", key="dirs")
        stats = _normalisation(syn.meta, where, modality)
        if set(stats) != set(goal):
            side = "" if len(inputs) == 1 else f" ({', '.join(sorted(set(stats) ^ set(goal)))})"
            raise ConfigError(f"{where}: its inputs{side} are {'not ' if len(stats) < len(goal) else ''}normalised by a mean and "
                              f"std, the data's are{' not' if len(stats) > len(goal) else ''}", key="dirs")
        xs = {}
        for k in inputs:
            x = syn.data[k].detach().float()
            if k in stats:
                (mean, std), (g_mean, g_std) = stats[k], goal[k]
                x = (x * _shaped(std, x) + _shaped(mean, x) - _shaped(g_mean, x)) / _shaped(g_std, x)
            xs[k] = x
        for label, name in enumerate(names):
            by_class[name].append({k: x[syn.labels == label] for k, x in xs.items()})
        counts = torch.bincount(syn.labels, minlength=syn.num_classes).tolist()
        records.append({"dir": str(folder), **({"classes": names} if by_name else {}), "per_class": counts,
                        "recipe": manifest.get("recipe"), "dataset": manifest.get("dataset"),
                        "data_root": (manifest.get("config") or {}).get("data_root"),
                        "set_sha256": manifest.get(SET_DIGEST_KEY), "step_sizes": steps,
                        **{k: syn.meta[k] for k in _stat_fields(syn.meta) if stats}})
    missing = [c for c, xs in by_class.items() if not xs]
    if missing:
        raise ConfigError(f"no part holds class(es) {', '.join(map(repr, missing[:10]))} of the data the merged set is for; merge "
                          "parts that cover every class, or name data with only their classes", key="dataset")
    joined = {c: {k: torch.cat([x[k] for x in xs]) for k in inputs} for c, xs in by_class.items()}
    sizes = {c: len(t[inputs[0]]) for c, t in joined.items()}
    if len(set(sizes.values())) != 1:
        raise ConfigError(f"the parts give classes different sample counts ({', '.join(f'{c!r}: {n}' for c, n in sizes.items())}); "
                          "a set holds the same number per class (its random-real baseline draws that many)", key="dirs")
    out = {k: torch.cat([joined[c][k] for c in classes]) for k in inputs}
    labels = torch.arange(len(classes)).repeat_interleave(next(iter(sizes.values())))
    return out, labels, records


def _stat_fields(meta: dict[str, Any]) -> list[str]:
    """The ``meta`` fields holding a set's normalisation statistics (``mean``/``std``, ``audio_mean``, ...), for its
    record in ``merged_from``."""
    return [k for k in meta if k in ("mean", "std") or k.endswith(("_mean", "_std"))]


def load_parts(dirs: Sequence[str | Path]) -> list[tuple[Path, SyntheticSet, dict[str, Any], Any, Any]]:
    """Each saved set: (folder, set, manifest, recipe, adapter); ConfigError when they are of different recipes."""
    from mmdistill.saved_cli import load_saved
    from mmdistill.share import set_dir

    if len(dirs) < 2:
        raise ConfigError(f"mmdistill merge needs two saved sets or more, got {len(dirs)}", key="dirs")
    parts = []
    for d in dirs:
        syn, manifest, recipe, modality = load_saved(str(d))
        parts.append((set_dir(d), syn, manifest, recipe, modality))
    first = parts[0]
    if why := getattr(first[4], "merge_refusal", ""):
        raise ConfigError(f"{first[0]}: {first[3].name}'s sets cannot be merged: {why}", key="dirs")
    cls = first[3].config_cls
    if "ipc" not in cls.__dataclass_fields__ or "ipc" in getattr(cls, "REPLACED_KEYS", {}):  # a plugin's (sequences refuse above)
        raise ConfigError(f"{first[0]}: {first[3].name}'s config has no ipc key, which merge sets to the merged set's size "
                          "(samples per class, or an image-text set's pairs); merge takes sets of recipes sized by ipc (a "
                          "recipe's adapter can say what to do instead with its merge_refusal)", key="dirs")
    for folder, syn, _, _, modality in parts:
        _require_raw_x(str(folder), syn, inputs=merge_inputs_of(modality), extras=getattr(modality, "merge_extra_keys", ()))
    for folder, _, manifest, recipe, _ in parts[1:]:
        if recipe.name != first[3].name:
            raise ConfigError(f"{folder} was made by {recipe.name}, {first[0]} by {first[3].name}; the merged set is scored with "
                              "one recipe's evaluation, so its parts come from one recipe", key="dirs")
    return parts


def merge(dirs: Sequence[str | Path], out: str | Path, *, dataset: str | None = None, data_root: str | Path | None = None,
          classes: Sequence[str] | None = None, overwrite: bool = False, evaluate: bool = True,
          say: Callable[[str], None] = log.info) -> Path:
    """Join the saved sets ``dirs`` into a set in ``out`` for ``dataset`` (default: the first part's) at ``data_root``, the
    data whose classes, class order and normalisation it takes (only ``classes`` of it, by name, when given: the
    ``classes`` key of a run, e.g. a replay memory of the tasks so far scored on their classes); evaluated on its test
    split (with the first part's evaluation keys and baselines) unless ``evaluate=False``, and checked for memorisation
    against its training split (the manifest's ``memorisation`` block, ``memorisation.png``). Its manifest's ``merged_from``
    names each part. Returns ``out``."""
    from mmdistill.devices import resolve_device
    from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE
    from mmdistill.report import add_sharing_blocks, new_manifest, write_artifact
    from mmdistill.run import locked_out_dir
    from mmdistill.seeding import generator, seeded_run
    from mmdistill.validation import load_data

    parts = load_parts(dirs)
    _, _, manifest0, recipe, modality = parts[0]
    saved = dict(manifest0.get("config", {}))
    changes: dict[str, Any] = {"out": str(out), "resume": False, "overwrite": overwrite, "evaluate": evaluate}
    if dataset is not None:
        changes["dataset"] = dataset
        changes["data_root"] = None if data_root is None else str(data_root)
    elif data_root is not None:
        changes["data_root"] = str(data_root)
    if "classes" in recipe.config_cls.__dataclass_fields__:  # a part distilled with classes=... is one part: the merged set
        changes["classes"] = list(classes or [])  # is over the named data's classes, or those asked for
    elif classes and not getattr(modality, "merge_by_class", True):
        raise ConfigError(f"--classes {','.join(classes)}: {recipe.name}'s sets are {modality.sample_noun}s with no classes, so merge has "
                          f"none to pick; leave --classes out (every part's {modality.sample_noun}s are kept)", key="classes")
    elif classes:
        raise ConfigError(f"{recipe.name} has no classes key: its sets cannot be merged over part of the data's classes", key="classes")
    changes["ipc"] = 1  # the real data is only asked for its classes and statistics here; the count is set below
    cfg = recipe.config_from_saved(saved, changes)
    out_dir = Path(out)
    if not overwrite and any((out_dir / name).exists() for name in (MANIFEST_FILE, CHECKPOINT_FILE)):
        raise ConfigError(f"{out_dir} already holds a set; pass --overwrite to replace it, or choose another --out", key="out")
    with seeded_run(cfg.seed), locked_out_dir(out_dir, "mmdistill merge", cfg):
        data = load_data(modality, cfg)
        probe = dataclasses.replace(cfg, init="real") if getattr(cfg, "init", None) == "herding" else cfg  # no herding training
        target = modality.init_synthetic(data, probe, generator(cfg.seed, "init"))  # the data's meta: classes, mean, std
        inputs, labels, records = merge_parts([(p[0], p[1], p[2]) for p in parts], target, modality)
        ipc = len(labels) // target.num_classes
        meta, extras = {**target.meta, "ipc": ipc, "init": "merged"}, {}
        if callable(hook := getattr(modality, "merge_extras", None)):  # what else the parts hold: image-text's pair count, LoRS's similarity
            meta, extras = hook(meta, [p[1] for p in parts])
        steps = joined_step_sizes(records)  # trajectory sets (MTT's syn_lr): evaluation trains with it (eval_lr_from_set)
        if steps:
            meta["step_sizes"] = list(steps)
            each = {k: ", ".join(f"{r['step_sizes'][k]:.4g}" for r in records) for k in steps}
            say("the merged set's learned step size is the mean of its parts': " + "; ".join(
                f"{k} {float(v):.4g} (parts {each[k]})" for k, v in steps.items())
                + " (each part's is in the manifest's merged_from; eval_lr_from_set=false scores with eval_lr instead)")
        syn = SyntheticSet(data={**inputs, **extras, **steps}, labels=labels, num_classes=target.num_classes, meta=meta, fixed=dict(target.fixed))
        sizes = modality.merged_config(syn) if callable(getattr(modality, "merged_config", None)) else {}  # LoRS's summed rank
        cfg = recipe.config_from_saved(saved, {**changes, **sizes, "ipc": ipc})  # the baselines draw ipc real samples per class
        manifest = new_manifest(recipe=recipe.name, method=f"merged ({manifest0.get('method', recipe.name)})", modality=modality,
                                dataset=str(data.name), cfg=cfg, syn=syn, extra={"paper": recipe.paper, "merged_from": records})
        if cfg.evaluate:
            device = resolve_device(cfg.device)
            manifest["metrics"] = modality.evaluate(cfg, syn, modality.to_device(data, device), device)
        if getattr(cfg, "memorisation", True):  # the merged set is what a server shares: checked as a run's set is
            add_sharing_blocks(manifest, modality, cfg, syn.detached(), data, out_dir)
        write_artifact(out_dir, syn.detached(), manifest, modality)
    noun = getattr(modality, "sample_noun", "sample")
    each = f", {ipc} per class of {syn.num_classes} classes" if getattr(modality, "merge_by_class", True) else ""
    say(f"merged {len(parts)} sets ({quantity(sum(len(p[1]) for p in parts), noun)}) into {quantity(len(syn), noun)}{each}, in {out_dir}")
    if "metrics" in manifest:
        from mmdistill.report import summary_line

        say(summary_line(manifest))
    return out_dir


def checked_dirs(dirs: Sequence[str]) -> list[str]:
    """The folders given to ``mmdistill merge``, ArtifactError for one that is not a folder."""
    for d in dirs:
        if not Path(d).is_dir():
            raise ArtifactError(f"{d} is not a folder holding a saved set (a run folder or a --to hf export)")
    return list(dirs)
