"""Distilled sets as shareable datasets: ``mmdistill.load(path)`` and the Hugging Face export.

``load`` reads a run folder (``manifest.json`` + ``synthetic.safetensors``) or an export made by
``mmdistill export DIR --to hf OUT`` (which carries both in ``OUT/mmdistill/``) without unpickling anything,
and returns a :class:`DistilledSet`: the set decoded to the modality's model inputs, its hard and soft labels,
the learned step size where there is one, and a ``torch.utils.data.Dataset`` view.

A Hugging Face export is ``save_to_disk``'s folder (arrow + JSON) with, beside it, ``data/train.parquet`` (the
same rows, for the Hub), ``README.md`` (the dataset card) and ``mmdistill/`` (manifest and tensors, so the
export is itself a set ``mmdistill eval`` and ``mmdistill.load`` read). :func:`read_hf` goes back from the
``datasets`` form to tensors (the round-trip tests compare them with :func:`load`'s).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.io import MANIFEST_FILE, SYNTHETIC_FILE, load_synthetic
from mmdistill.modality import Modality, get_modality
from mmdistill.sharing import ShareableModality, require_datasets
from mmdistill.synthetic import SyntheticSet

#: the folder of an export that holds the mmdistill set itself (manifest + tensors)
EXPORT_SET_DIR = "mmdistill"
CARD_FILE = "README.md"


@dataclass
class DistilledSet:
    """A loaded distilled set.

    Attributes:
        inputs: the model inputs by name, decoded (``x`` for images and audio; ``x``/``edge_index``/
            ``edge_weight`` for a graph; ``images``/``text`` (+ ``similarity``) for image-text pairs).
        labels: (K,) int64 hard labels. soft_labels: (K, C) logits or None.
        step_size: the learned step size (a float), one per trajectory part (a dict), or None.
        manifest: the run's manifest (recipe, method, dataset, config, metrics, memorisation, ...).
        synthetic: the stored parameterization (:class:`SyntheticSet`), for evaluation and export.
        path: where it was loaded from; seconds: how long loading took.
    """

    inputs: dict[str, Tensor]
    labels: Tensor
    soft_labels: Tensor | None
    step_size: float | dict[str, float] | None
    manifest: dict[str, Any]
    synthetic: SyntheticSet
    modality: Any = field(repr=False, default=None)
    path: Path | None = None
    seconds: float = 0.0

    @property
    def x(self) -> Tensor:
        """The main model input (``inputs["x"]``, or the first input)."""
        return self.inputs["x"] if "x" in self.inputs else next(iter(self.inputs.values()))

    @property
    def num_classes(self) -> int:
        return self.synthetic.num_classes

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.synthetic.meta.get("classes", range(self.num_classes))]

    @property
    def soft_targets(self) -> Tensor | None:
        """Soft labels as probabilities (softmax of the logits at the recipe's temperature), or None."""
        if self.soft_labels is None:
            return None
        t = float(self.manifest.get("config", {}).get("soft_temperature", 1.0) or 1.0)
        return torch.softmax(self.soft_labels / t, dim=-1)

    def __len__(self) -> int:
        return int(self.labels.numel())

    def dataset(self) -> Dataset:
        """A ``torch.utils.data.Dataset`` of the set: ``(x, label)`` items for images and audio (and the soft-label
        logits third when the set has them); one item per graph; ``(image, text)`` per pair."""
        return self.modality.dataset_view(self.inputs, self.labels, self.soft_labels)

    def summary(self) -> str:
        from mmdistill.card import card_summary

        return card_summary(self.manifest, self.modality)


def step_size_of(syn: SyntheticSet) -> float | dict[str, float] | None:
    """The learned step size(s) listed in ``syn.meta["step_sizes"]`` (one: a float; several: by key)."""
    keys = [k for k in syn.meta.get("step_sizes", []) if k in syn.data]
    if not keys and "syn_lr" in syn.data:
        keys = ["syn_lr"]
    values = {k: float(syn.data[k].detach().reshape(-1)[0]) for k in keys}
    if not values:
        return None
    return next(iter(values.values())) if len(values) == 1 else values


def set_dir(path: str | Path) -> Path:
    """The folder holding ``manifest.json`` + ``synthetic.safetensors`` of ``path`` (a run or an export)."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        return path
    if (path / EXPORT_SET_DIR / MANIFEST_FILE).is_file():
        return path / EXPORT_SET_DIR
    if not path.exists():
        raise ArtifactError(f"{path} does not exist")
    raise ArtifactError(f"{path} holds no distilled set: neither {MANIFEST_FILE} (a run) nor {EXPORT_SET_DIR}/{MANIFEST_FILE} "
                        "(an export made with --to hf)")


def shareable(modality: Modality) -> Any:
    if not isinstance(modality, ShareableModality):
        missing = [h for h in ("inputs", "labels_of", "dataset_view", "hf_columns", "hf_cast", "from_hf", "memorisation_views", "dataset_facts")
                   if not callable(getattr(modality, h, None))]
        raise ConfigError(f"the {getattr(modality, 'name', '?')} adapter lacks the sharing hooks {missing} "
                          "(inherit mmdistill.modality.AdapterDefaults)")
    return modality


def load(path: str | Path) -> DistilledSet:
    """Load a distilled set (a run folder, or an export made with ``--to hf``); nothing is unpickled."""
    start = time.perf_counter()
    syn, manifest = load_synthetic(set_dir(path))
    modality = shareable(get_modality(manifest["modality"]))
    with torch.no_grad():
        inputs = {k: v.detach().cpu() for k, v in modality.inputs(syn).items()}
    soft = None if syn.soft_labels is None else syn.soft_labels.detach().cpu()
    return DistilledSet(inputs=inputs, labels=modality.labels_of(syn).cpu(), soft_labels=soft, step_size=step_size_of(syn), manifest=manifest,
                        synthetic=syn, modality=modality, path=Path(path), seconds=time.perf_counter() - start)


def export_hf(path: str | Path, out: str | Path) -> Path:
    """Write the set at ``path`` as a Hugging Face dataset at ``out`` (module docstring). ``out`` must not
    exist or be empty; the tree is built beside it and renamed into place."""
    from mmdistill.card import render_card

    datasets = require_datasets()
    loaded = load(path)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"export target {out} exists and is not an empty folder; choose another --to")
    columns, features = loaded.modality.hf_columns(loaded.synthetic, loaded.inputs, loaded.labels, loaded.soft_labels)
    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features), split="train")
    for column, feature in loaded.modality.hf_cast(loaded.synthetic).items():
        ds = ds.cast_column(column, feature)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        ds.save_to_disk(str(tmp))
        (tmp / "data").mkdir()
        ds.to_parquet(str(tmp / "data" / "train.parquet"))
        src = set_dir(path)
        (tmp / EXPORT_SET_DIR).mkdir()
        for name in (MANIFEST_FILE, SYNTHETIC_FILE):
            shutil.copy2(src / name, tmp / EXPORT_SET_DIR / name)
        (tmp / CARD_FILE).write_text(render_card(loaded.manifest, loaded.modality, where="hf"))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_hf(out: str | Path) -> dict[str, Tensor]:
    """The tensors of a ``--to hf`` export read back through ``datasets.load_from_disk`` (not through the
    carried safetensors): ``inputs.<name>``, ``labels``, ``soft_labels``."""
    datasets = require_datasets()
    _, manifest = load_synthetic(set_dir(out))
    modality = shareable(get_modality(manifest["modality"]))
    return modality.from_hf(datasets.load_from_disk(str(out)))


__all__ = ["CARD_FILE", "DistilledSet", "EXPORT_SET_DIR", "export_hf", "load", "read_hf", "set_dir", "step_size_of"]
