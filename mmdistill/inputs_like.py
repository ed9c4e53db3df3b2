"""A consumer's own real data prepared as a distilled set's samples were: ``DistilledSet.inputs_like(raw, **options)``.

A model trained on a distilled set reads inputs in the set's form: decoded, resized, its channels, its length, its
features, normalised with its statistics. Each adapter knows how its loader prepared the real samples the set was made
from; its optional sharing hook ``inputs_like(syn, raw, **options) -> Tensor`` (:class:`mmdistill.sharing.ShareDefaults`)
prepares ``raw`` (files, PIL images, waveforms, tensors: what the adapter documents) the same way, as the set's main
model input ``ds.x``, (N, *sample shape). :func:`prepare_like` dispatches to it and checks that the prepared samples
have the set's sample shape (a model trained on the set takes no other); an adapter without the hook is named in a
:class:`~mmdistill.errors.ConfigError` that says what it offers instead.

The hook takes the stored :class:`~mmdistill.synthetic.SyntheticSet` (its ``meta`` records the preparation; an adapter
that needs the sample shape decodes it), not the run's config: the set carries what is needed, wherever it travels.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mmdistill.errors import ConfigError


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


def prepare_like(modality: Any, syn: Any, raw: Any, reference: Tensor | None = None, **options: Any) -> Tensor:
    """``raw`` prepared by ``modality.inputs_like(syn, raw, **options)`` as the set's main model input, (N, *sample shape).

    Args:
        modality: the set's adapter. syn: the stored :class:`~mmdistill.synthetic.SyntheticSet`.
        raw: what the adapter's hook takes (its docstring; README's *Your own test data, prepared as the set's*).
        reference: the set's decoded main input (``ds.x``, (K, *sample shape)); when given, the prepared samples must
            have its sample shape.
        options: the adapter's own (``sample_rate=`` for audio waveforms, ``root=`` for video ...).

    Raises:
        ConfigError: the adapter has no hook (:func:`no_preparation`), or prepared samples of another shape than the
            set's (naming both: a model trained on the set would not take them).
    """
    hook = getattr(modality, "inputs_like", None)
    if not callable(hook):
        raise no_preparation(modality)
    out = hook(syn, raw, **options)
    if not isinstance(out, Tensor):
        raise ConfigError(f"the {modality_name(modality)} adapter's inputs_like gave a {type(out).__name__}, expected a tensor (N, ...)")
    if reference is not None and out.shape[0] and tuple(out.shape[1:]) != tuple(reference.shape[1:]):
        raise ConfigError(f"your {out.shape[0]} sample(s) were prepared to shape {tuple(out.shape[1:])} but the set's "
                          f"{modality_name(modality)} samples are {tuple(reference.shape[1:])}: a model trained on the set would "
                          "not take them (a set made at its files' native size takes only files of that size)")
    return out


__all__ = ["modality_name", "no_preparation", "prepare_like"]
