"""Class-incremental learning with a distilled replay memory, measured as the field measures it.

The protocol is GDumb's (Prabhu et al., ECCV 2020) as DM (Zhao & Bilen, WACV 2023) and DSA report it, read from DM's
reference code (github.com/VICO-UoE/DatasetCondensation, ``CL_DM.py``):

- the classes are split into ``steps`` equal steps in a seeded random order: ``np.random.seed(s);
  np.random.permutation(num_classes)`` (CL_DM.py:61-62; readme.md: five orders, seeds 0-4), step ``t`` taking the
  next ``num_classes // steps`` classes of that order (CL_DM.py:60,73);
- after each step the memory holds ``ipc`` samples of every class seen so far (20 on CIFAR-100: CL_DM.py:15), the new
  classes' made from that step's data only (the step's run is distilled with ``classes=`` its classes: past data is gone);
- a network is trained FROM SCRATCH on the memory alone and tested on every class seen so far (CL_DM.py:105-145),
  with one output per class of the dataset, those of classes not seen yet never a target (CL_DM.py:135:
  ``get_network(args.model, channel, num_classes, im_size)``; ``outputs="seen"``: one per class seen instead, as this
  module did before), ``eval_runs`` networks per memory (``num_eval`` 3 per class order: CL_DM.py:17), all memories trained alike
  (CL_DM.py:26: the same augmentation for every method);
- herding and random memories of the same size are the baselines (CL_DM.py:69-82): random draws ``ipc`` samples
  of each class (a class's draw does not depend on the step it is drawn at), herding selects each step's classes in
  the embedding of the recipe's network trained on that step's data only (``herding_epochs``).

Where it differs from the reference: one class order per call (``order_seed``; run several and pool them for the
reference's 5 x 3 networks); the outputs of the classes seen are the first ones, in the data's class order, where the
reference's labels are the dataset's (the same network but for the order of its output rows, drawn alike).

Files in ``out``: ``step-01`` ... (each step's run folder, as ``mmdistill run`` writes it; an interrupted step resumes
from its checkpoint), ``herding/step-01.safetensors`` ... (the herded samples of each step), ``continual.json`` (the
protocol and every finished step's accuracies, rewritten atomically after each step: a finished step is not redone)
and ``continual.png`` (accuracy against classes seen, :mod:`mmdistill.continual_plot`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mmdistill.continual_checks import check_joinable, check_keys, recipe_refusal, undistilled
from mmdistill.errors import ConfigError
from mmdistill.evaluation import set_cell
from mmdistill.recipe import Recipe
from mmdistill.scored_on import mean_spread
from mmdistill.words import quantity

log = logging.getLogger(__name__)

RESULT_FILE = "continual.json"
PLOT_FILE = "continual.png"
#: the memories scored at every step, in the order they are reported and drawn
MEMORIES = ("distilled", "random_real", "herding")
#: the evaluation network's outputs: one per class of the dataset (the reference's, CL_DM.py:135) or per class seen
OUTPUTS = ("dataset", "seen")
#: run_continual's outputs when none is given (the reference's); a record written before the outputs argument had "seen"
DEFAULT_OUTPUTS = "dataset"
#: what continual.json's protocol block cites for the protocol
REFERENCE = ("GDumb (Prabhu et al., ECCV 2020) as DM (Zhao & Bilen, WACV 2023) reports it: "
             "github.com/VICO-UoE/DatasetCondensation CL_DM.py")


@dataclass
class ContinualResult:
    """What :func:`run_continual` measured: ``steps[t]`` is step ``t + 1``'s record (``new_classes``, ``classes_seen``,
    ``memory_size`` per memory, ``accuracy`` per memory: mean, std and every run as fractions in [0, 1])."""

    out: Path
    class_order: list[str]
    steps: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """One row per step: classes seen, then each memory's accuracy as mean ± std % (:func:`mean_spread`: the mean
        alone for a memory scored by one network, whose spread was not measured)."""
        head = f"{'step':>4}  {'classes':>7}  " + "  ".join(f"{m:>16}" for m in MEMORIES)
        rows = [head]
        for rec in self.steps:
            cells = [f"{mean_spread(rec['accuracy'][m])} %" for m in MEMORIES]
            rows.append(f"{rec['step']:>4}  {len(rec['classes_seen']):>7}  " + "  ".join(f"{c:>16}" for c in cells))
        return "\n".join(rows)


def class_order(names: list[str], seed: int) -> list[str]:
    """``names`` in the reference's seeded order: ``np.random.seed(seed); np.random.permutation(len(names))``
    (CL_DM.py:61-62), so a dataset of the reference's class order gets the reference's steps for the same seed."""
    return [names[i] for i in np.random.RandomState(seed).permutation(len(names)).tolist()]


def split_steps(order: list[str], steps: int, dataset: str = "the data") -> list[list[str]]:
    """``order`` cut into ``steps`` steps of equal size. ConfigError naming ``steps`` when it does not divide the
    classes (the reference leaves the last ``len % steps`` classes out of every step, CL_DM.py:60; here the divisors are
    named instead) or leaves a step fewer than 2 classes (a step's run is distilled and checked on its classes alone)."""
    n = len(order)
    divisors = [d for d in range(1, n + 1) if n % d == 0 and n // d >= 2]
    if steps < 1 or n % steps:
        raise ConfigError(f"steps={steps} does not divide {dataset}'s {n} classes into equal steps (the reference's split "
                          f"would leave {n % steps if steps >= 1 else n} class(es) out of every step); choose steps among "
                          f"{', '.join(map(str, divisors))}", key="steps")
    if n // steps < 2:
        raise ConfigError(f"steps={steps} gives steps of {n // steps} class of {dataset}'s {n}; a step's run needs at least 2 "
                          f"classes (classification of one class scores 100 %); choose steps among {', '.join(map(str, divisors))}",
                          key="steps")
    size = n // steps
    return [order[t * size:(t + 1) * size] for t in range(steps)]


def _herding_file(out: Path, t: int) -> Path:
    return out / "herding" / f"step-{t + 1:02d}.safetensors"


def _herd_step(path: Path, cfg: Any, step_data: Callable[[], Any], modality: Any, device: torch.device) -> tuple[torch.Tensor, list[str]]:
    """The herded samples of one step's data (``step_data()``) as x (k * ipc, ...) on the CPU and their class names,
    selected in the embedding of the recipe's network trained on that data only; read from ``path`` when a call before
    wrote it (then the data is not asked for)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from mmdistill.atomic import atomic_path
    from mmdistill.classification import herding_indices

    if not path.exists():
        data = step_data()
        idx = herding_indices(cfg, data, modality, device)
        x, y = data.train.x[idx].detach().cpu().contiguous(), data.train.y[idx].detach().cpu().contiguous()
        with atomic_path(path) as tmp:
            save_file({"x": x, "y": y}, str(tmp), metadata={"classes": json.dumps([str(c) for c in data.train.classes])})
    with safe_open(str(path), framework="pt") as fh:  # labels index the step's own classes, named in the metadata
        classes = json.loads((fh.metadata() or {}).get("classes", "[]"))
        x, y = fh.get_tensor("x"), fh.get_tensor("y")
    if y.numel() != len(x) or (y.numel() and not 0 <= int(y.min()) <= int(y.max()) < len(classes)):
        raise ConfigError(f"{path}: its labels do not index the classes its metadata names; remove it to herd the step again",
                          key="out")
    return x, [classes[int(i)] for i in y.tolist()]


def _memory_set(step_dirs: list[Path], cfg: Any, data: Any, modality: Any) -> Any:
    """The distilled memory over ``data``'s classes: the step runs' sets joined by class name (:func:`merge_parts`)."""
    from mmdistill.merge import merge_parts
    from mmdistill.saved_cli import load_saved
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet

    parts = []
    for d in step_dirs:
        syn, manifest, _, _ = load_saved(str(d))
        parts.append((d, syn, manifest))
    target = modality.init_synthetic(data, undistilled(cfg), generator(cfg.seed, "init"))  # the data's classes and normalisation
    inputs, labels, _ = merge_parts(parts, target, modality)
    meta = {**target.meta, "ipc": len(labels) // target.num_classes, "init": "merged"}
    return SyntheticSet(data=inputs, labels=labels, num_classes=target.num_classes, meta=meta, fixed=dict(target.fixed))


def _score_step(cfg: Any, syn: Any, herded: tuple[torch.Tensor, list[str]], data: Any, modality: Any,
                device: torch.device) -> dict[str, Any]:
    """The memories' accuracies on ``data``'s test split (the classes seen): the recipe's evaluation plan with its
    random-real baseline, and the herded memory put beside them."""
    from mmdistill.evaluation import EvalSet, run_plan

    names = [str(c) for c in data.train.classes]
    x, classes = herded
    y = torch.tensor([names.index(c) for c in classes], dtype=torch.long)
    on_device = modality.to_device(data, device)
    plan = modality.evaluation_plan(cfg, syn, on_device, device)
    for network in plan.networks:
        network.sets["herding"] = EvalSet((x.to(device), y.to(device)))
    return run_plan(plan)


def _checked_record(path: Path, protocol: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished steps ``path`` records for ``protocol``; ConfigError naming the keys when it was written for another."""
    from mmdistill.io import read_json

    if not path.exists():
        return []
    saved = read_json(path)
    theirs = saved.get("protocol", {}) if isinstance(saved, dict) else {}
    theirs = {"outputs": "seen", **theirs}  # written before the outputs argument: its networks had an output per class seen
    changed = [f"{k}: {theirs.get(k)!r} there, {v!r} now" for k, v in protocol.items() if theirs.get(k) != v]
    if changed:
        raise ConfigError(f"{path} records another protocol ({'; '.join(changed[:4])}); continue it with its values, or "
                          "choose another out", key="out")
    return list(saved.get("steps", []))


def run_continual(recipe: Recipe, out: str | Path, *, dataset: str, steps: int = 5, ipc: int | None = None, order_seed: int = 0,
                  eval_runs: int = 3, data_root: str | Path | None = None, keys: Mapping[str, Any] | None = None,
                  outputs: str = DEFAULT_OUTPUTS, say: Callable[[str], None] = log.info) -> ContinualResult:
    """Run the class-incremental protocol (module docstring) for ``recipe`` (a :class:`~mmdistill.recipe.Recipe`:
    ``mmdistill.recipes.get_recipe("image-dm")``, or a recipe module's ``RECIPE``) on the classification ``dataset``: ``steps``
    equal steps of classes in the order of ``order_seed``, ``ipc`` samples per class in every memory (None: the recipe's
    default), ``eval_runs`` networks trained from scratch per memory and step, each with one output per class of the
    dataset (``outputs="dataset"``, the reference's) or per class seen (``"seen"``), other config ``keys`` for every run (a
    budget, iterations, eval_epochs ...). Writes ``out`` (module docstring) and returns the accuracies; a call on an
    ``out`` that holds finished steps of the same protocol goes on from the first unfinished one. ConfigError naming
    the argument: a recipe that is not classification, ``steps`` that do not divide the classes, an ``ipc`` larger
    than a class (DataError naming the class), an ``out`` of another protocol."""
    from mmdistill.devices import resolve_device
    from mmdistill.io import MANIFEST_FILE, write_json
    from mmdistill.seeding import seeded_run
    from mmdistill.validation import keep_classes, load_data

    if not isinstance(recipe, Recipe):
        raise ConfigError(f"continual: recipe is a recipe object (mmdistill.recipes.get_recipe('image-dm'), or a recipe module's "
                          f"RECIPE), got {type(recipe).__name__} {recipe!r:.60}", key="recipe")
    rec = recipe
    modality = rec.get_modality()
    if why := recipe_refusal(rec, modality):
        raise ConfigError(f"continual: {why}", key="recipe")
    if outputs not in OUTPUTS:
        raise ConfigError(f"outputs={outputs!r}: the evaluation network has one output per class of the dataset (\"dataset\", "
                          "the reference's) or per class seen (\"seen\")", key="outputs")
    if eval_runs < 1:
        raise ConfigError(f"eval_runs={eval_runs}: the protocol trains at least 1 network per memory and step", key="eval_runs")
    out = Path(out)
    check_keys(keys or {})
    given = {**dict(keys or {}), "dataset": dataset, **({"data_root": str(data_root)} if data_root is not None else {}),
             **({"ipc": ipc} if ipc is not None else {})}
    whole = rec.config(**{**given, "progress": False})  # a user's progress= is for the steps' runs
    with seeded_run(whole.seed):
        data_all = load_data(modality, whole)
    from mmdistill.data import ClassificationData

    if not isinstance(data_all, ClassificationData):
        raise ConfigError(f"continual: recipe {rec.name}'s data ({type(data_all).__name__}) is not classification data", key="recipe")
    names = [str(c) for c in data_all.train.classes]
    data_all.train.require_per_class(whole.ipc)  # DataError naming a class with fewer training samples than ipc
    order = class_order(names, order_seed)
    plan = split_steps(order, steps, str(data_all.name))
    with seeded_run(whole.seed):  # merge's check of the set step 1 would save, before anything is distilled
        check_joinable(rec.name, rec.config(**{**given, "classes": plan[0], "progress": False}),
                       keep_classes(data_all, plan[0], quiet=True), modality, out / "step-01")
    protocol = {"recipe": rec.name, "dataset": dataset, "data_root": None if data_root is None else str(data_root), "steps": steps,
                "ipc": whole.ipc, "order_seed": order_seed, "class_order": order, "eval_runs": eval_runs, "outputs": outputs,
                "keys": {k: getattr(whole, k, v) for k, v in sorted(dict(keys or {}).items())}, "memories": list(MEMORIES), "reference": REFERENCE}
    record = _checked_record(out / RESULT_FILE, protocol)
    result = ContinualResult(out=out, class_order=order, steps=record[:steps])
    device = resolve_device(whole.device)
    say(f"continual: {rec.name} on {data_all.name}, {steps} steps of {len(plan[0])} classes (order seed {order_seed}: "
        f"{', '.join(order)}), {whole.ipc} per class, {quantity(eval_runs, 'network')} per memory with an output per class "
        f"{'of the dataset' if outputs == 'dataset' else 'seen'}; in {out}")
    for t in range(len(result.steps), steps):
        seen = [c for c in names if c in {n for s in plan[:t + 1] for n in s}]  # the data's class order, as keep_classes labels
        step_dir = out / f"step-{t + 1:02d}"
        cfg_t = rec.config(**given, classes=plan[t], out=str(step_dir), evaluate=False,
                           resume=step_dir.exists())  # a fresh step: nothing to resume, nothing said
        if (step_dir / MANIFEST_FILE).exists():  # a finished step's set is kept; a killed one resumes from its checkpoint
            say(f"step {t + 1}/{steps}: classes {', '.join(plan[t])} were distilled in {step_dir} before (kept)")
        else:
            say(f"step {t + 1}/{steps}: distilling classes {', '.join(plan[t])} ({len(seen)} classes seen)")
            rec.run(cfg_t)
        with seeded_run(whole.seed):  # each step's herded samples, from its own data (written once, read after)
            herded = [_herd_step(_herding_file(out, s), cfg_t, partial(keep_classes, data_all, plan[s], quiet=True), modality, device)
                      for s in range(t + 1)]
        xs = torch.cat([h[0] for h in herded])
        memory_classes = [c for h in herded for c in h[1]]
        cfg_s = rec.config(**given, classes=seen, baselines=["random_real"], eval_runs=eval_runs)  # progress bars as the user asks
        data_s = keep_classes(data_all, seen, quiet=True)  # the step's lines name them; its run logged its own
        if outputs == "dataset":  # the reference's network: an output per class of the data, unseen ones never a target
            data_s = dataclasses.replace(data_s, meta={**data_s.meta, "network_outputs": len(names)})
        say(f"step {t + 1}/{steps}: scoring the memories of {len(seen)} classes on their test samples")
        with seeded_run(whole.seed):
            syn = _memory_set([out / f"step-{s + 1:02d}" for s in range(t + 1)], cfg_s, data_s, modality)
            metrics = _score_step(cfg_s, syn, (xs, memory_classes), data_s, modality, device)
        step = {"step": t + 1, "new_classes": plan[t], "classes_seen": seen,
                "memory_size": {"distilled": len(syn), "random_real": len(seen) * whole.ipc, "herding": len(memory_classes)},
                "accuracy": {m: {k: metrics[m][k] for k in ("mean", "std", "runs")} for m in MEMORIES},
                "network": metrics.get("network"), "network_outputs": len(names) if outputs == "dataset" else len(seen),
                "scored_on": metrics.get("protocol", {}).get("scored_on", "test")}
        result.steps.append(step)
        write_json(out / RESULT_FILE, {"protocol": protocol, "steps": result.steps})
        from mmdistill.continual_plot import plot_continual

        plot_continual(result.steps, out / PLOT_FILE, title=f"{rec.name} on {data_all.name}: {steps} steps, {whole.ipc} per class")
        say(f"step {t + 1}/{steps} ({len(seen)} classes): " + ", ".join(set_cell(m, step["accuracy"][m]) for m in MEMORIES))
    return result


__all__ = ["DEFAULT_OUTPUTS", "MEMORIES", "OUTPUTS", "ContinualResult", "class_order", "run_continual", "split_steps"]
