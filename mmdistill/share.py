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

import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmdistill.consumer import ConsumerViews, export_description, input_note, normalization_of
from mmdistill.data_identity import DATA_KEY, data_classes, warn_other_data
from mmdistill.errors import ArtifactError, ConfigError, DataError, MmdistillError
from mmdistill.export_record import for_export
from mmdistill.integrity import class_names, odd_field
from mmdistill.io import (CHECKPOINT_FILE, EXPORT_SET_DIR, MANIFEST_FILE, STATUS_FILE, SYNTHETIC_FILE, check_export_target, load_synthetic,
                          new_tree, read_json, record_export_files, write_json)
from mmdistill.modality import REGISTERED_MODALITIES, Modality, get_modality, registered_call, registered_modalities
from mmdistill.plugins import MODALITY_GROUP, RECIPE_GROUP, is_plugin
from mmdistill.run_lock import lock_holder
from mmdistill.run_status import unfinished_run
from mmdistill.sharing import ShareableModality, datasets_bars, require_datasets
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import clean_name

log = logging.getLogger(__name__)

CARD_FILE = "README.md"


@dataclass
class DistilledSet(ConsumerViews):
    """A loaded distilled set.

    Attributes:
        inputs: the model inputs by name, decoded (``x`` for images and audio; ``x``/``edge_index``/
            ``edge_weight`` for a graph; ``images``/``text`` (+ ``similarity``) for image-text pairs).
        labels: (K,) int64 hard labels. soft_labels: (K, C) logits or None.
        step_size: the learned step size (a float), one per trajectory part (a dict), or None.
        manifest: the run's manifest (recipe, method, dataset, config, metrics, memorisation, ...).
        synthetic: the stored parameterization (:class:`SyntheticSet`), for evaluation and export.
        modality: the adapter that decoded it; path: where it was loaded from; seconds: how long loading took.
        normalization: ``{input: {"mean", "std"}}`` to apply to one's own real data, ``(raw - mean) / std``, or None;
            augmentation(): the augmenter the metrics were measured with (:mod:`mmdistill.consumer`).

    ``len(ds)`` counts the samples (a graph's nodes); the set itself is not indexable: ``ds.dataset()`` is the
    ``torch.utils.data.Dataset`` to index or hand to a ``DataLoader`` (a graph is one item of all its K nodes there, so no
    indexing of the set could agree with its ``len``). ``repr(ds)`` is one short line, not the tensors.
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
        """The number of classes C (soft labels are (K, C))."""
        return self.synthetic.num_classes

    @property
    def classes(self) -> list[str]:
        """The C class names in label order, as strings: ``labels == i`` is ``classes[i]``."""
        return class_names(self.synthetic.meta, self.num_classes)

    @property
    def soft_targets(self) -> Tensor | None:
        """Soft labels as probabilities (softmax of the logits at the recipe's temperature), or None."""
        if self.soft_labels is None:
            return None
        t = float(self.manifest.get("config", {}).get("soft_temperature", 1.0) or 1.0)
        return torch.softmax(self.soft_labels / t, dim=-1)

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: Any) -> Any:
        raise TypeError(f"a DistilledSet is not indexable: use ds.dataset()[{index!r}], and DataLoader(ds.dataset(), ...) "
                        "(ds.dataset() is the torch Dataset of the set's items)")

    def __repr__(self) -> str:
        recipe, dataset = self.manifest.get("recipe", "?"), self.manifest.get("dataset", "?")
        return (f"DistilledSet(modality={self.manifest.get('modality', '?')!r}, recipe={recipe!r}, dataset={dataset!r}, "
                f"samples={len(self)}, classes={self.num_classes}, path={str(self.path) if self.path else None!r})")

    def dataset(self) -> Dataset[Any]:
        """A ``torch.utils.data.Dataset`` of the set: ``(x, label)`` items for images and audio (and the soft-label
        logits third when the set has them); one item per graph; ``(image, text[, similarity row, index])`` per pair."""
        return self.modality.dataset_view(self.inputs, self.labels, self.soft_labels)

    def summary(self) -> str:
        """The card's summary, its text escaped as ``show`` escapes it; ArtifactError naming a manifest field of an odd form."""
        from mmdistill.card import card_summary
        from mmdistill.words import shown_values
        with manifest_fields(set_dir(self.path) if self.path is not None else Path("the set")):
            return card_summary(shown_values(self.manifest), self.modality)


def step_size_of(syn: SyntheticSet) -> float | dict[str, float] | None:
    """The learned step size(s) listed in ``syn.meta["step_sizes"]`` (one: a float; several: by key)."""
    values = syn.step_sizes()
    if not values:
        return None
    return next(iter(values.values())) if len(values) == 1 else values


def set_dir(path: str | Path) -> Path:
    """The folder holding ``manifest.json`` + ``synthetic.safetensors`` of ``path`` (a run or an export; ``~`` expanded)."""
    path = Path(path).expanduser()
    if path.is_file():
        raise ArtifactError(f"{path} is a file; pass the folder that holds the set (a run folder, or an export made with --to hf)")
    for folder in (path, path / EXPORT_SET_DIR):  # a manifest.json that is no file (a folder, a device) is named on reading
        if (folder / MANIFEST_FILE).exists() or (folder / MANIFEST_FILE).is_symlink():
            return folder
    if not path.exists():
        raise ArtifactError(f"{path} does not exist")
    if (path / CHECKPOINT_FILE).is_file() or (path / STATUS_FILE).is_file() or lock_holder(path):  # a run going (training its
        raise ArtifactError(unfinished_run(path))  # experts, before its first checkpoint too), or one that ended unfinished
    raise ArtifactError(f"{path} holds no distilled set: neither {MANIFEST_FILE} (a run) nor {EXPORT_SET_DIR}/{MANIFEST_FILE} "
                        "(an export made with --to hf)")


def shareable(modality: Modality) -> Any:
    if not isinstance(modality, ShareableModality):
        missing = [h for h in ("inputs", "labels_of", "dataset_view", "hf_columns", "hf_cast", "from_hf", "memorisation_views", "dataset_facts",
                                        "normalization")
                   if not callable(getattr(modality, h, None))]
        raise ConfigError(f"the {getattr(modality, 'name', '?')} adapter lacks the sharing hooks {missing} "
                          "(inherit mmdistill.modality.AdapterDefaults)")
    return modality


@contextmanager
def manifest_fields(folder: str | Path) -> Iterator[None]:
    """Turn a manifest field of an unexpected form met while summarising a set or writing its card (a damaged or
    hand-edited manifest) into an ArtifactError naming the manifest of the set in ``folder``."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, MmdistillError):
            raise
        said = odd_field(Path(folder) / MANIFEST_FILE)  # which field, where it can tell
        raise ArtifactError(f"{Path(folder) / MANIFEST_FILE}: a field has an unexpected form{f': {said}' if said else ''} "
                            f"({type(exc).__name__}: {exc}); the manifest is damaged") from None


def saved_modality(manifest: dict[str, Any], folder: Path) -> Any:
    """The adapter named by the manifest of the set in ``folder``; ArtifactError naming the manifest when the
    field is missing or names no adapter (ConfigError, naming it too, when the adapter needs a missing package)."""
    name = manifest.get("modality")
    where = Path(folder) / MANIFEST_FILE
    if not isinstance(name, str) or not name.isidentifier():
        raise ArtifactError(f"{where}: field 'modality' is {name!r}; expected the name of an adapter such as 'image'. "
                            "The manifest is damaged")
    if name not in REGISTERED_MODALITIES and not is_plugin(MODALITY_GROUP, name):  # get_modality's rule
        raise ArtifactError(f"{where}: modality {name!r} is not an adapter of this mmdistill nor of an installed plugin "
                            f"(it has {', '.join(registered_modalities())}); install the package that made the set (its "
                            "adapter is an entry point of group mmdistill.modalities), or the manifest is damaged")
    check_recipe_modality(manifest, folder)
    try:
        return get_modality(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_recipe_modality(manifest: dict[str, Any], folder: Path, recipe_modality: str | None = None) -> None:
    """ArtifactError naming the manifest of the set in ``folder`` when its ``modality`` is not the modality of its
    ``recipe``: ``recipe_modality`` (the command line looks the recipe up); without it, mmdistill's own recipes are named
    ``<modality>-<method>`` (a recipe an installed package declares is not guessed)."""
    name, modality = manifest.get("recipe"), manifest.get("modality")
    if recipe_modality is None and isinstance(name, str) and not is_plugin(RECIPE_GROUP, name.replace("_", "-").lower()):
        prefixes = [m for m in REGISTERED_MODALITIES if name.replace("_", "-").lower().startswith(m.replace("_", "-") + "-")]
        recipe_modality = max(prefixes, key=len) if prefixes else None
    if recipe_modality is not None and isinstance(modality, str) and modality != recipe_modality:
        raise ArtifactError(f"{Path(folder) / MANIFEST_FILE}: recipe {name} is a recipe of modality {recipe_modality}, the set's "
                            f"modality is {modality}; they must agree (the manifest is damaged or was edited)")


def saved_recipe(manifest: dict[str, Any], folder: Path, get_recipe: Callable[[str], Any]) -> Any:
    """The recipe the manifest of the set in ``folder`` names, looked up with ``get_recipe`` (the command line's
    registry); ArtifactError naming the manifest when it names none of this installation, or one of another modality."""
    name = manifest.get("recipe")
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"{Path(folder) / MANIFEST_FILE} has no 'recipe' (a string such as 'image-dm'); the manifest is damaged")
    try:
        recipe = get_recipe(name)
    except ConfigError as exc:  # a recipe no installed package declares: what to install, as saved_modality says
        raise ArtifactError(f"{Path(folder) / MANIFEST_FILE}: {exc}" + (f"; install the package that made the set (its recipe is an entry point of group {RECIPE_GROUP}), or the manifest is damaged" if str(exc).startswith("unknown recipe") else "")) from None
    check_recipe_modality(manifest, folder, recipe.modality)
    return recipe


def without_download(saved: dict[str, Any], changes: dict[str, Any], folder: Path, how: str) -> dict[str, Any]:
    """``changes`` to a received set's saved config with ``download`` off unless they set it (``how``: the receiver's
    way to allow it): the sender's ``download: true`` would fetch data into the ``data_root`` the sender chose. Logs
    one line when the manifest asked for a download."""
    if "download" in changes:
        return changes
    if saved.get("download") not in (None, False):
        log.info("%s: the manifest's config asks for download=%r (into data_root=%r); it is off for this command (%s to "
                 "allow it)", Path(folder) / MANIFEST_FILE, saved.get("download"), saved.get("data_root"), how)
    return {**changes, "download": False}


def export_natural(modality: Any, syn: SyntheticSet, target: Path, folder: Path) -> Path:
    """``modality.export(syn, target)``, with a symbolic link, a file or a folder that is not empty refused as the target
    before anything is built (whatever the adapter's export does: the card written beside it must describe it), and a DataError
    of the export (the set's meta or tensors do not fit it) an ArtifactError naming the set in ``folder``."""
    check_export_target(target)
    try:
        return modality.export(syn, target)
    except DataError as exc:
        raise ArtifactError(f"{Path(folder) / MANIFEST_FILE} and {SYNTHETIC_FILE}: the set does not fit the "
                            f"{getattr(modality, 'name', '?')} export ({exc}); the set is damaged") from None


def decoded_inputs(modality: Any, syn: SyntheticSet, folder: Path) -> dict[str, Tensor]:
    """``modality.inputs(syn)`` as CPU tensors; ArtifactError naming ``folder`` when the adapter cannot decode the
    stored tensors (a damaged set, or one of another parameterization)."""
    try:
        with torch.no_grad():
            return {k: v.detach().cpu() for k, v in modality.inputs(syn).items()}
    except ArtifactError as exc:
        raise ArtifactError(f"{folder / SYNTHETIC_FILE}: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{folder / SYNTHETIC_FILE}: the {getattr(modality, 'name', '?')} adapter cannot decode its tensors "
                            f"({type(exc).__name__}: {exc}); the set is damaged or of another parameterization") from None


def saved_run_data(modality: Any, cfg: Any, *, root_given: bool, meta: dict | None = None) -> Any:
    """The real data of a saved run's ``cfg`` (``eval``, ``check``). When it cannot be loaded and the run recorded a
    relative ``data_root`` that does not exist from here (and none was given now, ``root_given``), the error says the
    path is relative to the folder the run was started from and names ``--data-root``; its key is kept. A set whose
    ``meta`` (the set's) records the ``register_tensors`` call of data in memory (``registered_with``) has that call
    named when its dataset is unknown here. The evaluation networks are checked against the data
    (``modality.check_evaluation``), as a run checks them."""
    from mmdistill.validation import load_data

    try:
        data = load_data(modality, cfg)
    except (DataError, ConfigError) as exc:
        if isinstance(exc, ConfigError) and exc.key == "dataset" and (call := registered_call(meta)):
            raise ConfigError(f"{exc}. This set was distilled from data in memory, {call}: call it with the same tensors "
                              "in this Python process first, then mmdistill.evaluate(PATH) (the command line cannot "
                              "register data)", key="dataset") from None
        root = getattr(cfg, "data_root", None)
        if root_given or not root or Path(str(root)).is_absolute() or Path(str(root)).exists():
            raise
        message = (f"{exc} (the run recorded data_root={root!r}, relative to the folder it was started from, not "
                   f"{Path.cwd()}: run the command there, or pass --data-root)")
        if isinstance(exc, ConfigError):
            raise ConfigError(message, key=exc.key) from None
        raise DataError(message) from None
    if callable(check := getattr(modality, "check_evaluation", None)):  # a network (--networks) that cannot take the
        check(cfg, data)  # samples is named by its key, with the modality's list, before anything is trained
    return data


def check_fits_data(syn: SyntheticSet, modality: Any, data: Any, folder: Path) -> None:
    """ArtifactError naming the set in ``folder`` when its decoded samples do not have the shape (or float dtype) of
    the real samples they are evaluated or compared against (classification data: images, audio maps, clips).
    Also warns (:func:`warn_split_rule`) when the data's held-out split is now drawn by another rule than it was
    when the set was distilled, and lets the modality take ``data`` into the set's input space (``align_to_set``)."""
    from mmdistill.data import ClassificationData

    warn_split_rule(syn, data, folder)
    check_same_classes(syn, data, folder)
    warn_other_data(Path(folder), (syn.meta or {}).get(DATA_KEY), data)
    if callable(align := getattr(modality, "align_to_set", None)):  # a set distilled in a fitted input space (ZCA):
        align(syn, data, Path(folder))  # the real samples are taken into the set's own
    real = getattr(getattr(data, "train", None), "x", None)
    if not isinstance(data, ClassificationData) or not isinstance(real, Tensor):
        return
    with torch.no_grad():
        decoded = modality.decode(syn)
    if not isinstance(decoded, Tensor):
        return
    name, where = getattr(data, "name", "the dataset"), Path(folder) / SYNTHETIC_FILE
    if tuple(decoded.shape[1:]) != tuple(real.shape[1:]):
        raise ArtifactError(f"{where}: its samples have shape {tuple(decoded.shape[1:])}, the real samples of {name} "
                            f"{tuple(real.shape[1:])}; the set was made for other data or is damaged")
    if real.is_floating_point() and decoded.dtype != real.dtype:
        raise ArtifactError(f"{where}: its samples are {str(decoded.dtype).replace('torch.', '')}, the real samples of {name} "
                            f"{str(real.dtype).replace('torch.', '')}; the set was not written by mmdistill or is damaged")


def check_same_classes(syn: SyntheticSet, data: Any, folder: Path) -> None:
    """DataError when the set's classes (its meta's ``classes``, in label order) are not the classes of ``data`` in the
    same order: its label i would be scored as another class (a set made for other data, or the data's class folders
    renamed or reordered). Sets without recorded classes, and data without classes, are not checked."""
    saved = (syn.meta or {}).get("classes")
    now = data_classes(data)  # as a run records them: a folder's tab or bidi control written as '_' (save_synthetic)
    made_for, now = (None if saved is None else [str(c) for c in saved]), (None if now is None else [clean_name(c) for c in now])
    if made_for is None or now is None or made_for == now:
        return
    diff = next((i for i, (a, b) in enumerate(zip(made_for, now)) if a != b), min(len(made_for), len(now)))
    shown = (lambda names: ", ".join(map(repr, names[:8])) + (" ..." if len(names) > 8 else ""))
    raise DataError(f"{Path(folder) / SYNTHETIC_FILE}: the set was distilled for {len(made_for)} classes ({shown(made_for)}), "
                    f"the data of {getattr(data, 'name', 'this dataset')} has {len(now)} ({shown(now)}); they differ from label "
                    f"{diff} on, so its labels would be scored as other classes: evaluate it on the data it was made for "
                    "(the manifest's dataset and data_root, or --data-root)")


def warn_split_rule(syn: SyntheticSet, data: Any, folder: Path) -> None:
    """Warn, naming the set, when the real data's ``meta["split_rule"]`` (how a loader drew the held-out split of data
    that has none; an adapter records it in the data's meta, and so in the set's, when the rule is not the one it
    always used) differs from the rule in the set's meta: the samples now scored as held out may include samples the
    set was distilled from, so its scores are not comparable with its manifest's."""
    now = (getattr(data, "meta", None) or {}).get("split_rule")
    then = (syn.meta or {}).get("split_rule")
    if now is not None and now != then:
        log.warning("%s was distilled when %s's held-out split was drawn %s; it is now drawn %s, so some samples scored as "
                    "held out may be ones the set was distilled from: distil again to score it on a split it never saw",
                    Path(folder), getattr(data, "name", "the dataset"), then or "by an earlier rule (not recorded)", now)


def load(path: str | Path) -> DistilledSet:
    """Load a distilled set (a run folder, or an export made with ``--to hf``; ``~`` is expanded); nothing is unpickled.
    The set's files are checked against the digests recorded when they were written (:mod:`mmdistill.integrity`), and
    its normalisation statistics for numbers a consumer can use (:meth:`~mmdistill.consumer.ConsumerViews.checked`)."""
    start = time.perf_counter()
    path = Path(path).expanduser()
    folder = set_dir(path)
    syn, manifest = load_synthetic(folder)
    modality = shareable(saved_modality(manifest, folder))
    inputs = decoded_inputs(modality, syn, folder)
    soft = None if syn.soft_labels is None else syn.soft_labels.detach().cpu()
    return DistilledSet(inputs=inputs, labels=modality.labels_of(syn).cpu(), soft_labels=soft, step_size=step_size_of(syn), manifest=manifest,
                        synthetic=syn, modality=modality, path=Path(path), seconds=time.perf_counter() - start).checked()


def export_hf(path: str | Path, out: str | Path, progress: bool = False, without_real_samples: bool = False) -> Path:
    """Write the set at ``path`` as a Hugging Face dataset at ``out`` (module docstring; ``without_real_samples``: none of the
    real samples its adapter declares, :mod:`mmdistill.real_samples`). ``out`` must not exist or be empty; the tree is built
    beside it and renamed into place. ``datasets``' bars are shown only with ``progress`` (the command line's): the library does not print."""
    datasets = require_datasets()
    with datasets_bars(datasets, progress):
        return _export_hf(datasets, Path(path).expanduser(), Path(out).expanduser(), without_real_samples)


def _export_hf(datasets: Any, path: Path, out: Path, without_real_samples: bool) -> Path:
    from mmdistill.card import render_card
    from mmdistill.real_samples import carried_manifest, published

    loaded = published(load(path), without_real_samples, path)
    check_export_target(out)
    with manifest_fields(set_dir(path)):  # a manifest the card cannot be made from stops before anything is written
        card = render_card(loaded.manifest, loaded.modality, where="hf")
    columns, features = loaded.modality.hf_columns(loaded.synthetic, loaded.inputs, loaded.labels, loaded.soft_labels)
    stats, named = normalization_of(loaded.modality, loaded.synthetic.meta), getattr(loaded.modality, "hf_input_names", None) or {}
    expects = getattr(loaded.modality, "expects_normalization", None)
    recorded = bool(stats) or not (expects(dict(loaded.synthetic.meta)) if callable(expects) else named)
    said, features = export_description(loaded.manifest, stats, named, recorded=recorded, note=input_note(loaded.modality, loaded.synthetic.meta)), datasets.Features(features)
    ds = datasets.Dataset.from_dict(columns, features=features, info=datasets.DatasetInfo(description=said, features=features), split="train")
    for column, feature in loaded.modality.hf_cast(loaded.synthetic).items():
        ds = ds.cast_column(column, feature)
    with new_tree(out) as tmp:  # a uniquely named sibling, renamed into place: never a user's folder, never half-written
        ds.save_to_disk(str(tmp))
        (tmp / "data").mkdir()
        ds.to_parquet(str(tmp / "data" / "train.parquet"))
        src = set_dir(path)
        (tmp / EXPORT_SET_DIR).mkdir()
        shutil.copy2(src / SYNTHETIC_FILE, tmp / EXPORT_SET_DIR / SYNTHETIC_FILE)
        write_json(tmp / EXPORT_SET_DIR / MANIFEST_FILE, for_export(carried_manifest(read_json(src / MANIFEST_FILE), loaded.synthetic)))
        record_export_files(tmp, tmp / EXPORT_SET_DIR)  # checked whenever the export is read as a set
        (tmp / CARD_FILE).write_text(card, encoding="utf-8")
    return out


def read_hf(out: str | Path) -> dict[str, Tensor]:
    """A ``--to hf`` export's tensors through ``datasets.load_from_disk`` (not the carried safetensors): ``inputs.<name>``, ``labels``, ``soft_labels``."""
    datasets = require_datasets()
    folder = set_dir(out)
    _, manifest = load_synthetic(folder)
    modality = shareable(saved_modality(manifest, folder))
    try:
        ds = datasets.load_from_disk(str(out))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ArtifactError(f"{out}: the Hugging Face dataset does not load ({type(exc).__name__}: {exc}); its arrow or JSON files "
                            f"are missing or damaged (the set itself, in {folder}, is read by mmdistill.load)") from None
    return modality.from_hf(ds)


__all__ = ["CARD_FILE", "DistilledSet", "check_recipe_modality", "export_natural", "saved_recipe", "without_download", "check_fits_data", "check_same_classes", "data_classes", "saved_run_data", "EXPORT_SET_DIR", "warn_split_rule", "decoded_inputs", "export_hf", "load", "manifest_fields", "read_hf", "saved_modality", "set_dir", "step_size_of"]
