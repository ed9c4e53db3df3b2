"""A consumer's own real data prepared as a distilled set's samples were: ``DistilledSet.inputs_like(raw, **options)``.

A model trained on a distilled set reads inputs in the set's form: decoded, resized, its channels, its length, its
features, normalised with its statistics. Each adapter knows how its loader prepared the real samples the set was made
from; its optional sharing hook ``inputs_like(syn, raw, **options) -> Tensor`` (:class:`mmdistill.sharing.ShareDefaults`)
prepares ``raw`` (files, PIL images, waveforms, tensors: what the adapter documents) the same way, as the set's main
model input ``ds.x``, (N, *sample shape) -- or, for a set of several inputs (audio-visual, image-text), ``{input name:
(N, *sample shape)}``, or another form its learner reads (sequences: item ids, ``inputs_like_input = None``).
:func:`prepare_like` dispatches to it and checks that the prepared samples have the set's sample shape (a model trained
on the set takes no other); an adapter without the hook is named in a :class:`~mmdistill.errors.ConfigError` that says
what it offers instead. :func:`source_meta` and :func:`as_items` are the adapters' shared readers of the set's
metadata and of one path (or PIL image) given alone.

The hook takes the stored :class:`~mmdistill.synthetic.SyntheticSet` (its ``meta`` records the preparation; an adapter
that needs the sample shape decodes it), not the run's config: the set carries what is needed, wherever it travels.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any, Mapping, Sequence

from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError

log = logging.getLogger(__name__)

def modality_name(modality: Any) -> str:
    """The adapter's ``name`` (``image``, ``graph`` ...), or its class name."""
    return str(getattr(modality, "name", None) or type(modality).__name__)


def no_preparation(modality: Any) -> ConfigError:
    """The error of an adapter that has no ``inputs_like`` hook: it names the modality and what a consumer has instead
    (the statistics of ``ds.normalization``, the card's note on how inputs are scaled)."""
    return ConfigError(f"the {modality_name(modality)} adapter does not prepare your own data as its sets' inputs (it has no "
                       "inputs_like hook, docs/adding-a-modality.md): prepare it as its loader did, with ds.normalization "
                       "(the mean and std, (raw - mean) / std, where the set has them) and the set's card, which says how "
                       "its inputs are scaled")


def source_meta(source: Any, function: str, what: str, required: Sequence[str] = ()) -> Mapping[str, Any]:
    """The metadata of a distilled set: ``source`` is a :class:`~mmdistill.consumer.DistilledSet` (``mmdistill.load``), a
    :class:`~mmdistill.synthetic.SyntheticSet` or its ``meta`` mapping (what every adapter's ``*_like`` function takes).

    Args:
        function: the caller's name, which begins each message (``maps_like``). what: the set, in words (``a distilled
            audio set``). required: the keys the caller reads.

    Raises:
        ConfigError: ``source`` is none of those. ArtifactError: it lacks a key of ``required``, naming them (a set of
            another modality, or one made before the key was recorded).
    """
    meta = getattr(getattr(source, "synthetic", source), "meta", source)
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{function}: expected {what} (mmdistill.load), its synthetic set or its meta mapping, got "
                          f"{type(source).__name__}")
    missing = [k for k in required if k not in meta]
    if missing:
        raise ArtifactError(f"{function}: the set's metadata lacks {missing}: it is not {what}, or was made before the loader "
                            "recorded them")
    return meta


def is_pil(item: Any) -> bool:
    """Whether ``item`` is a PIL image (told by its type's module, so PIL is not imported to ask)."""
    return type(item).__module__.startswith("PIL.")


def options_from_record(modality: Any, meta: Mapping[str, Any], config: Mapping[str, Any] | None,
                        options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with, for each option of the adapter's ``inputs_like_recorded`` (``{option: (meta key, config key)}``)
    that the caller left out and the set's ``meta`` lacks (a set made before the key was recorded), the value the run's
    ``config`` (its manifest's ``config``: a run folder's or a ``--to hf`` export's) records under the config key, so a
    set written by an older release is prepared as it was made, not refused or read with a default. A value the config
    does not hold (None, absent, not a number or string) is left to the hook, whose message says what to pass."""
    out = dict(options)
    for option, (meta_key, config_key) in dict(getattr(modality, "inputs_like_recorded", None) or {}).items():
        value = (config or {}).get(config_key)
        if option in out or meta_key in meta or value is None or not isinstance(value, (int, float, str)):
            continue
        out[option] = value
        log.info("inputs_like: the set's metadata has no %s (made before it was recorded); %s=%r from its manifest's config "
                 "(%s)", meta_key, option, value, config_key)
    return out


def as_items(raw: Any) -> Any:
    """``raw`` as a list when it is one item (a ``str`` or ``Path`` path, or a PIL image): iterating a string would read
    each of its characters as a file. Anything else is returned as it is."""
    return [raw] if isinstance(raw, (str, PurePath)) or is_pil(raw) else raw


def _check_shape(modality: Any, out: Tensor, reference: Tensor, name: str | None) -> None:
    if out.shape[0] and tuple(out.shape[1:]) != tuple(reference.shape[1:]):
        what = f"{modality_name(modality)} samples" + (f" ({name})" if name else "")
        raise ConfigError(f"your {out.shape[0]} sample(s) were prepared to shape {tuple(out.shape[1:])} but the set's "
                          f"{what} are {tuple(reference.shape[1:])}: a model trained on the set would not take them (a set "
                          "made at its files' native size takes only files of that size)")


def prepare_like(modality: Any, syn: Any, raw: Any, reference: Tensor | Mapping[str, Tensor] | None = None,
                 **options: Any) -> Tensor | dict[str, Tensor]:
    """``raw`` prepared by ``modality.inputs_like(syn, raw, **options)`` as the set's model inputs: its main input
    ``x``'s form, (N, *sample shape), or, for a set of several inputs (audio-visual, image-text), ``{input name: (N,
    *sample shape)}`` for the inputs ``raw`` gives.

    Args:
        modality: the set's adapter. syn: the stored :class:`~mmdistill.synthetic.SyntheticSet`.
        raw: what the adapter's hook takes (its docstring; README's *Your own test data, prepared as the set's*).
        reference: the set's decoded inputs (``ds.inputs``, ``{name: (K, *sample shape)}``) or its main one (a tensor);
            when given, the prepared samples must have their sample shape. A tensor the hook returns is checked against
            the input its adapter's ``inputs_like_input`` names (``"x"`` by default; None: the hook prepares another form
            than a set's sample, as sequences' item ids, which a learner reads where the set gives distributions).
        options: the adapter's own (``sample_rate=`` for audio waveforms, ``root=`` for video ...).

    Raises:
        ConfigError: the adapter has no hook (:func:`no_preparation`), or prepared samples of another shape than the
            set's (naming both: a model trained on the set would not take them).
    """
    hook = getattr(modality, "inputs_like", None)
    if not callable(hook):
        raise no_preparation(modality)
    out = hook(syn, raw, **options)
    refs = reference if isinstance(reference, Mapping) else {}
    if isinstance(out, Mapping):
        bad = [k for k, v in out.items() if not isinstance(v, Tensor)]
        if bad or not out:
            raise ConfigError(f"the {modality_name(modality)} adapter's inputs_like gave {bad or 'an empty mapping'}, expected "
                              "tensors (N, ...) by input name")
        for k, v in out.items():
            if isinstance(refs.get(k), Tensor):
                _check_shape(modality, v, refs[k], k)
        return dict(out)
    if not isinstance(out, Tensor):
        raise ConfigError(f"the {modality_name(modality)} adapter's inputs_like gave a {type(out).__name__}, expected a tensor (N, ...)")
    name = getattr(modality, "inputs_like_input", "x")
    ref = reference if isinstance(reference, Tensor) else refs.get(name) if name else None
    if ref is None and name and refs:
        ref = next(iter(refs.values()))  # an adapter whose main input has another name
    if ref is not None and name is not None:
        _check_shape(modality, out, ref, None)
    return out


__all__ = ["as_items", "modality_name", "no_preparation", "options_from_record", "prepare_like", "source_meta"]
