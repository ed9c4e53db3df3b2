"""The adapter hooks that make a distilled set shareable, and their defaults.

* ``inputs(syn) -> {name: tensor}``: the set decoded to the modality's model inputs, as named CPU tensors;
* ``labels_of(syn) -> (N,)``: one hard label per decoded sample (``syn.labels``, unless a parameterization decodes
  one stored sample into several, e.g. multi-formation);
* ``dataset_view(inputs, labels, soft_labels) -> torch.utils.data.Dataset``;
* ``hf_columns(syn, inputs, labels, soft_labels) -> (columns, features)``, ``hf_cast(syn) -> {column: feature}``
  and ``from_hf(dataset) -> tensors``: the Hugging Face ``datasets`` form (the modality's natural features next
  to exact float columns) and back;
* ``memorisation_views(config, syn, data, max_real, gen) -> MemorisationViews | None``
  (:mod:`mmdistill.memorisation`);
* ``dataset_facts(dataset) -> {"licence", "licence_id", "source"}``: what the loader knows of a source dataset;
* ``normalization(meta) -> {input name: {"mean", "std"}}``: the statistics each model input was normalised with,
  ``(raw - mean) / std`` (:mod:`mmdistill.consumer` shapes them for ``DistilledSet.normalization``, the card and the
  Hugging Face export); ``{}`` for inputs that are not normalised by a mean and std.
* ``preview_words(syn) -> str | None``: what the adapter's ``preview.png`` shows, in words (which samples, classes
  and axes), for its alt text on the run card (:mod:`mmdistill.card_pictures`); None: a generic one.
* ``inputs_like(syn, raw, **options) -> (N, *sample shape)``: a consumer's own real data (files, waveforms ...) prepared
  as the loader prepared the set's real samples, as its main input ``x`` (:mod:`mmdistill.inputs_like`; by default
  a ConfigError naming the modality: an adapter opts in).

:class:`ShareDefaults` holds defaults for sets whose model inputs are per-sample tensors with one class label
each (images, audio, video, sequences of fixed length); :class:`mmdistill.modality.AdapterDefaults` inherits
it, so a new adapter has all of them and overrides what its data needs (graphs, caption pairs).
:class:`ShareableModality` is the protocol the core checks with ``isinstance``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.inputs_like import no_preparation
from mmdistill.integrity import LABEL_COLUMN, class_names  # the column whose ClassLabel names are checked against the manifest on load
from mmdistill.memorisation import MemorisationViews, pool_indices
from mmdistill.synthetic import SyntheticSet

if TYPE_CHECKING:
    import datasets

HF_INSTALL = 'pip install "mmdistill[hf]"'
SOFT_COLUMN = "soft_label_logits"


def require_datasets() -> ModuleType:
    """The ``datasets`` module, or a ConfigError saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"exporting to or reading a Hugging Face dataset needs the 'datasets' package: {HF_INSTALL}") from None
    return datasets


@contextmanager
def datasets_bars(datasets: Any, show: bool) -> Iterator[None]:
    """``datasets``' progress bars on (``show``) or off for the duration of the block, as they were afterwards (an
    environment variable of ``datasets`` that fixes them wins, without its warning)."""
    def switch(on: bool) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (datasets.enable_progress_bars if on else datasets.disable_progress_bars)()

    was = not datasets.are_progress_bars_disabled()
    switch(show)
    try:
        yield
    finally:
        switch(was)


def array_feature(
    shape: tuple[int, ...], dtype: str = "float32",
) -> datasets.Value | datasets.List | datasets.Array2D | datasets.Array3D | datasets.Array4D | datasets.Array5D:
    """The ``datasets`` feature of one sample of ``shape``: Value, a fixed-length List, Array2D..Array5D, or
    a flat List for more dimensions (the shape is then in the manifest)."""
    datasets = require_datasets()
    if len(shape) == 0:
        return datasets.Value(dtype)
    if len(shape) == 1:
        return datasets.List(datasets.Value(dtype), length=int(shape[0]))
    if len(shape) <= 5:
        return getattr(datasets, f"Array{len(shape)}D")(shape=tuple(int(s) for s in shape), dtype=dtype)
    return datasets.List(datasets.Value(dtype))


def column_tensor(ds: Any, name: str, shape: tuple[int, ...] | None = None) -> Tensor:
    """Column ``name`` of a ``datasets.Dataset`` as one tensor (numpy format, no copy through Python floats)."""
    if name not in ds.column_names:
        raise ArtifactError(f"the Hugging Face dataset has no column {name!r} (it has {ds.column_names})")
    arr = ds.select_columns([name]).with_format("numpy")[: len(ds)][name]
    t = torch.from_numpy(np.stack(list(arr)) if arr.dtype == object else np.array(arr))
    return t.reshape(len(ds), *shape) if shape is not None else t


def random_features(x: Tensor, dim: int = 256, seed: int = 0) -> Tensor:
    """A fixed feature space for any flattened input: ReLU of a seeded Gaussian projection (scaled by
    1/sqrt(D)); offline and deterministic."""
    from mmdistill.seeding import generator

    x = x.float().flatten(1)
    w = torch.randn(x.shape[1], dim, generator=generator(seed, "memorisation", "projection", x.shape[1])) / x.shape[1] ** 0.5
    return torch.relu(x @ w)


@runtime_checkable
class ShareableModality(Protocol):
    """The sharing hooks of the module docstring as a ``runtime_checkable`` protocol: ``isinstance(modality,
    ShareableModality)`` checks that an adapter has every hook (by name, not by signature)."""

    def inputs(self, syn: SyntheticSet) -> dict[str, Tensor]: ...

    def labels_of(self, syn: SyntheticSet) -> Tensor: ...

    def dataset_view(self, inputs: dict[str, Tensor], labels: Tensor, soft_labels: Tensor | None) -> Dataset[Any]: ...

    def hf_columns(self, syn: SyntheticSet, inputs: dict[str, Tensor], labels: Tensor,
                   soft_labels: Tensor | None) -> tuple[dict[str, list], dict[str, Any]]: ...

    def from_hf(self, ds: Any) -> dict[str, Tensor]: ...

    def hf_cast(self, syn: SyntheticSet) -> dict[str, Any]: ...

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: Any, max_real: int,
                           gen: torch.Generator) -> MemorisationViews | None: ...

    def dataset_facts(self, dataset: str) -> dict[str, str]: ...

    def normalization(self, meta: dict[str, Any]) -> dict[str, dict[str, Tensor]]: ...


class ShareDefaults:
    """Defaults for per-sample tensor inputs with one class label each (see the module docstring)."""

    #: the Hugging Face column of each input tensor (``{"x": "pixel_values"}``); unnamed inputs keep their name
    hf_input_names: dict[str, str] = {}
    #: source datasets this adapter loads: name -> {"licence", "licence_id", "source"}
    DATASET_FACTS: dict[str, dict[str, str]] = {}

    def inputs(self, syn: SyntheticSet) -> dict[str, Tensor]:
        decoded = self.decode(syn)  # type: ignore[attr-defined]
        if not isinstance(decoded, Tensor):
            raise ConfigError(f"{type(self).__name__}.decode gives a {type(decoded).__name__}; the adapter must define inputs(syn)")
        labels = self.labels_of(syn)
        if decoded.dim() == 0 or decoded.shape[0] != labels.shape[0]:
            raise ArtifactError(f"the set decodes to {decoded.shape[0] if decoded.dim() else 0} samples but has {labels.shape[0]} labels; "
                                "expected one label per sample (the tensors are damaged or inconsistent)")
        return {"x": decoded.detach().cpu()}

    def labels_of(self, syn: SyntheticSet) -> Tensor:
        """One hard label per sample of :meth:`inputs`: the stored labels."""
        return syn.labels

    def dataset_view(self, inputs: dict[str, Tensor], labels: Tensor, soft_labels: Tensor | None) -> Dataset[Any]:
        """Items ``(*inputs, hard label)``; with soft labels ``(*inputs, hard label, soft-label logits)``."""
        tensors = [*inputs.values(), labels] + ([soft_labels] if soft_labels is not None else [])
        return TensorDataset(*tensors)

    def hf_columns(self, syn: SyntheticSet, inputs: dict[str, Tensor], labels: Tensor,
                   soft_labels: Tensor | None) -> tuple[dict[str, list], dict[str, Any]]:
        """One row per sample: every input as an exact float array column, ``label`` (ClassLabel with the class
        names) and ``soft_label_logits`` when the set has soft labels."""
        datasets = require_datasets()
        columns: dict[str, list] = {}
        features: dict[str, Any] = {}
        for name, t in inputs.items():
            col = self.hf_input_names.get(name, name)
            shape = tuple(t.shape[1:])
            features[col] = array_feature(shape)
            columns[col] = list((t.flatten(1) if len(shape) > 5 else t).float().numpy())
        classes = class_names(syn.meta, syn.num_classes)
        features[LABEL_COLUMN] = datasets.ClassLabel(names=classes)
        columns[LABEL_COLUMN] = labels.tolist()
        if soft_labels is not None:
            features[SOFT_COLUMN] = array_feature((soft_labels.shape[1],))
            columns[SOFT_COLUMN] = list(soft_labels.float().numpy())
        return columns, features

    def from_hf(self, ds: Any) -> dict[str, Tensor]:
        """The tensors of :meth:`hf_columns` back: ``inputs.<name>``, ``labels`` and ``soft_labels``."""
        out = {}
        for name, col in {"x": "x", **self.hf_input_names}.items():
            if col in ds.column_names:
                out[f"inputs.{name}"] = column_tensor(ds, col).float()
        out["labels"] = column_tensor(ds, LABEL_COLUMN).long()
        if SOFT_COLUMN in ds.column_names:
            out["soft_labels"] = column_tensor(ds, SOFT_COLUMN).float()
        return out

    def hf_cast(self, syn: SyntheticSet) -> dict[str, Any]:
        """Columns to cast to another feature after the dataset is built (e.g. WAV bytes to ``datasets.Audio``)."""
        return {}

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: Any, max_real: int,
                           gen: torch.Generator) -> MemorisationViews | None:
        """Flattened decoded inputs against the real training split ``data.train.x``; the feature space is
        :meth:`memorisation_features` (a seeded random projection unless the adapter has a better one)."""
        real = getattr(getattr(data, "train", None), "x", None)
        if not isinstance(real, Tensor):
            return None
        pool = pool_indices(real.shape[0], max_real, gen)
        real = real[pool.to(real.device)].detach().float().cpu()
        syn_x = self.inputs(syn)["x"].float()
        syn_f, real_f, space = self.memorisation_features(config, syn_x, real, data)
        return MemorisationViews(syn_input=syn_x.flatten(1), real_input=real.flatten(1), syn_feature=syn_f, real_feature=real_f,
                                 feature_space=space, input_space="flattened model inputs",
                                 real_bytes_per_sample=int(real[0].numel() * 4))

    def memorisation_features(self, config: Any, syn_x: Tensor, real_x: Tensor, data: Any) -> tuple[Tensor, Tensor, str]:
        """Both sets in the fixed feature space: here ReLU of a seeded Gaussian projection to 256 dimensions."""
        return random_features(syn_x), random_features(real_x), "ReLU(seeded Gaussian projection to 256-d)"

    def dataset_facts(self, dataset: str) -> dict[str, str]:
        key = str(dataset).lower().split(":")[0]
        return dict(self.DATASET_FACTS.get(key, {}))

    def expects_normalization(self, meta: dict[str, Any]) -> bool:
        """Whether a set of this adapter with ``meta`` should record normalisation statistics (an export of one that
        records none says so instead of "not normalised"): by default, when its inputs have named export columns."""
        return bool(self.hf_input_names)

    def input_note(self, meta: dict[str, Any]) -> str | None:
        """One sentence on how the inputs are scaled when no mean/std says it (the card and the ``--to hf`` description
        print it: a graph's row-normalised features), or None: by default nothing to add."""
        return None

    def real_samples_note(self, meta: dict[str, Any]) -> str | None:
        """What the set's record or exports carry of real training samples verbatim, whatever the memorisation check
        measures (the card's memorisation section and ``show`` print it: image-text's real captions), or None: nothing."""
        return None

    def real_sample_fields(self, meta: dict[str, Any]) -> list[str]:
        """The fields of a set's meta that hold real training samples as written (image-text's ``init_captions``), which an
        export made with ``--without-real-samples`` drops (:mod:`mmdistill.real_samples`; the adapter's export then reads
        ``meta["real_samples_left_out"]`` to write none in its files), or []: by default none."""
        return []

    def preview_words(self, syn: SyntheticSet) -> str | None:
        """What :meth:`write_preview` draws, in words, for the preview's alt text (None: a generic one)."""
        return None

    def export_note(self, syn: Any) -> str | None:
        """What a consumer of the natural export (``mmdistill export DIR``) needs to read it without mmdistill and how far
        its files are from the set (the card's *This folder* prints it), or None: by default nothing to add."""
        return None

    #: the input (of ``inputs(syn)``) whose sample shape ``inputs_like``'s tensor has, which
    #: :func:`mmdistill.inputs_like.prepare_like` checks; None when the hook prepares another form (sequences: item ids)
    inputs_like_input: str | None = "x"

    #: ``{option of inputs_like: (key of the set's meta, key of the run's config)}`` for a meta key recorded only since
    #: some release whose value the run's config also holds (sequences' ``max_len``): a set made before has it as an
    #: option, which :meth:`mmdistill.consumer.DistilledSet.inputs_like` fills from the manifest's config
    #: (:func:`mmdistill.inputs_like.options_from_record`); empty by default
    inputs_like_recorded: Mapping[str, tuple[str, str]] = {}

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> Tensor | dict[str, Tensor]:
        """``raw`` (the consumer's own real data, in what form the adapter documents) prepared as the loader prepared the
        set's real samples -- decoded, resized, cut, normalised with the set's statistics --, (N, *sample shape) like the
        set's main input (a set of several inputs: ``{input name: tensor}``). By default a ConfigError naming the modality: an adapter whose sets record their preparation
        overrides it (:mod:`mmdistill.inputs_like`)."""
        raise no_preparation(self)

    def normalization(self, meta: dict[str, Any]) -> dict[str, dict[str, Tensor]]:
        """The set's ``meta["mean"]``/``meta["std"]`` as the statistics of input ``x``: ``{"x": {"mean", "std"}}``, float32
        tensors of the leading dims of one sample (per channel (C,), or per channel and coefficient (C, F)); ``{}`` when
        the meta records none. Adapters that store them otherwise (other keys, several inputs) override it."""
        if meta.get("mean") is None or meta.get("std") is None:
            return {}
        return {"x": {"mean": torch.tensor(meta["mean"], dtype=torch.float32), "std": torch.tensor(meta["std"], dtype=torch.float32)}}


__all__ = ["HF_INSTALL", "LABEL_COLUMN", "SOFT_COLUMN", "ShareDefaults", "ShareableModality", "array_feature", "column_tensor",
           "random_features", "require_datasets"]
