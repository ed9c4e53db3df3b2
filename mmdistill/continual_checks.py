"""What :func:`mmdistill.continual.run_continual` refuses before any step runs, each as one ConfigError naming the
recipe or the key: a recipe without the ``classes`` key or whose sets merge cannot join (the modality's
``merge_refusal``, sets with no classes), keys the protocol sets itself, and a step set that ``mmdistill merge``'s own
check (:func:`~mmdistill.merge.merge_parts`) refuses (soft or learnable labels, a parameterization other than the raw
inputs: TESLA's labels, video's static/dynamic memories, audio's derived deltas), asked of the set step 1's run starts
from, so that no step is distilled for a memory that cannot be joined."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import torch

from mmdistill.errors import ConfigError

#: keys the protocol sets for every step itself, and why
SET_BY_PROTOCOL = ("classes", "out", "resume", "overwrite", "evaluate", "baselines")
#: run_continual's own arguments, refused as keys
ARGUMENTS = ("dataset", "data_root", "ipc", "eval_runs", "outputs")


#: keys a step's run cannot honour as the protocol needs, and why
UNHONOURED = {
    "buffer": "one expert buffer for every step cannot be each step's own: experts trained on every class would bring the classes "
              "of other steps back (past data is gone), and a buffer trained by step 1 on its classes would be matched at every "
              "later step; without buffer each step's run trains its experts on its own classes into step-NN/experts",
    "validation": "a step's run carves its validation split from its own classes' samples, the protocol's scoring from the whole "
                  "data's (the draw goes class by class on one stream), so they would hold out different samples and a memory "
                  "could be distilled from samples it is scored on; choose keys on the test split of another dataset, or on "
                  "step runs of their own (mmdistill run --classes ... validation=...)",
}


def recipe_refusal(recipe: Any, modality: Any) -> str:
    """Why ``recipe`` cannot run the protocol whatever its keys, or ""."""
    if "classes" not in recipe.config_cls.__dataclass_fields__:
        return (f"recipe {recipe.name} has no classes key, with which each step distils its own classes of classification data "
                "alone (the image, audio and video recipes have it)")
    if why := getattr(modality, "merge_refusal", ""):
        return f"recipe {recipe.name}'s sets cannot be joined into a memory: {why}"
    if not getattr(modality, "merge_by_class", True):
        return f"recipe {recipe.name}'s sets hold {getattr(modality, 'sample_noun', 'sample')}s with no classes"
    return ""


def check_keys(keys: Mapping[str, Any]) -> None:
    """ConfigError naming the first key of ``keys`` the protocol sets itself, takes as an argument or cannot honour
    (:data:`UNHONOURED`: an expert ``buffer`` shared by the steps, a ``validation`` split)."""
    for k in keys:
        if k in SET_BY_PROTOCOL:
            raise ConfigError(f"continual sets {k} itself (each step's classes, run folder and memories); leave {k} out of keys", key=k)
        if k in ARGUMENTS:
            raise ConfigError(f"{k} is an argument of run_continual ({k}=...), not one of its keys", key=k)
        if k in UNHONOURED and keys[k] not in (None, "", 0, 0.0):
            raise ConfigError(f"continual: {k}={keys[k]} is refused: {UNHONOURED[k]}", key=k)


def undistilled(cfg: Any) -> Any:
    """``cfg`` at ``ipc`` 1, real initialisation and every iteration count of its keys that may be 0 at 0 (a stage that
    :meth:`init_synthetic` runs, video's static memories', runs none): what ``init_synthetic`` makes of it has the stored
    tensors, shapes, classes and normalisation of the run's set, without its cost."""
    from mmdistill.keys import key_infos

    zero = {i.name: 0 for i in key_infos(type(cfg))
            if i.settable and i.unit == "iterations" and i.range is not None and 0 in i.range and getattr(cfg, i.name) != 0}
    return dataclasses.replace(cfg, ipc=1, **({"init": "real"} if hasattr(cfg, "init") else {}), **zero)


def start_set(cfg: Any, data: Any, modality: Any) -> Any:
    """The set a run of ``cfg`` on ``data`` starts from, undistilled (:func:`undistilled`), labelled as the run labels
    it (soft or learnable logits of ``label_mode``, :func:`mmdistill.labels.apply_label_mode`: zeros here, no expert)."""
    from mmdistill.seeding import generator

    syn = modality.init_synthetic(data, undistilled(cfg), generator(cfg.seed, "init"))
    mode = cfg.label_spec().mode if callable(getattr(cfg, "label_spec", None)) else "hard"
    if mode != "hard":
        syn.soft_labels = torch.zeros((len(syn.labels), syn.num_classes))
        syn.label_mode = mode
    return syn


def check_joinable(recipe_name: str, cfg: Any, data: Any, modality: Any, step_dir: Path) -> None:
    """ConfigError naming the recipe when the set step 1's run (``cfg`` on ``data``) would save cannot be joined into a
    memory: :func:`~mmdistill.merge.merge_parts` (``mmdistill merge``'s check) asked of :func:`start_set`."""
    from mmdistill.merge import merge_parts

    try:
        probe = start_set(cfg, data, modality)
        merge_parts([(step_dir, probe, {})], probe, modality)  # the probe is its own target: the data's classes and shapes
    except ConfigError as exc:
        mode = cfg.label_spec().mode if callable(getattr(cfg, "label_spec", None)) else "hard"
        raise ConfigError(f"continual: recipe {recipe_name}'s step sets cannot be joined into a memory by class (mmdistill merge's "
                          f"check of the set step 1 would save{f', label_mode={mode}' if mode != 'hard' else ''}): {exc}; nothing "
                          "was distilled", key="label_mode" if mode != "hard" else "recipe") from exc


__all__ = ["ARGUMENTS", "SET_BY_PROTOCOL", "UNHONOURED", "check_joinable", "check_keys", "recipe_refusal", "start_set", "undistilled"]
