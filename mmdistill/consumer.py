"""What a consumer of a loaded set needs besides its tensors: how its inputs were normalised, and the augmentation its
metrics were measured with (:class:`ConsumerViews`, a base of :class:`mmdistill.share.DistilledSet`).

* normalisation: the adapter's ``normalization(meta)`` sharing hook (:mod:`mmdistill.sharing`) gives, per model input,
  the ``mean``/``std`` the set's samples were normalised with (the training split's statistics, or an image-text
  encoder's, in the modality's raw units); ``ds.normalization`` shapes them to broadcast against one sample, so a consumer's own real samples ``raw``
  of that input are brought to the set's units by ``(raw - mean) / std``. The dataset card and the ``--to hf`` export's
  ``info.description`` state them in one line (:func:`normalization_line`).
* augmentation: the evaluation protocol records the op list the adapter resolved (``metrics.protocol.dsa_strategy``:
  a string, or per side for audio-visual pairs; ``dc_augment`` for DC's), and ``ds.augmentation()`` rebuilds the
  adapter's augmenter from it (for a set evaluated before the list was recorded: from the config's ``dsa_strategy``,
  which the adapter resolves as it did then).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError
from mmdistill.io import EXPORT_SET_DIR, MANIFEST_FILE
from mmdistill.sharing import SOFT_COLUMN, ShareDefaults

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

#: the key of the evaluation protocol that records the augmentation's resolved op list
STRATEGY_KEY = "dsa_strategy"


def normalization_of(modality: Any, meta: Mapping[str, Any] | None, where: str | Path | None = None) -> dict[str, dict[str, Tensor]]:
    """``modality.normalization(meta)`` (the default hook's for an adapter without it): ``{input: {"mean", "std"}}``
    as float32 tensors of the leading dims of one sample ((C,), (C, F) or a scalar), ``{}`` when the set records none.
    ArtifactError (naming ``where``, the manifest, when given) when the recorded statistics are not numbers, a mean is
    not finite or a std is not a finite number above 0 (a damaged or hand-edited manifest: ``(raw - mean) / std``
    would give inf or NaN)."""
    hook = getattr(modality, "normalization", None)
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    at = f"{where}: " if where is not None else ""
    try:
        stats = hook(meta) if callable(hook) else ShareDefaults().normalization(meta)
    except (TypeError, ValueError, KeyError, OverflowError, RuntimeError) as exc:
        odd = next((k for k, v in meta.items() if k.endswith(("mean", "std")) and not _numbers(v)), None)
        what = (f"field 'synthetic.meta.{odd}' is {json.dumps(meta[odd], default=str)[:60]}, not" if odd
                else "the set's normalisation statistics (synthetic.meta) are not")
        raise ArtifactError(f"{at}{what} numbers a tensor holds ({exc}); the manifest is damaged or was edited") from None
    for name, pair in (stats or {}).items():
        for kind, t in pair.items():
            if not isinstance(t, Tensor) or not t.is_floating_point():
                continue
            bad = ~torch.isfinite(t) if kind != "std" else ~(torch.isfinite(t) & (t > 0))
            if bool(bad.any()):
                field = next((f"synthetic.meta.{k}" for k in (kind, f"{name}_{kind}", f"feature_{kind}") if k in meta),
                             f"synthetic.meta (the {kind} of input {name!r})")
                value = f"{float(t.flatten()[bad.flatten()][0]):.6g}"  # float32: -0.3 as the manifest says it
                expected = ("finite numbers above 0 (the set's inputs were divided by them: (raw - mean) / std)" if kind == "std"
                            else "finite numbers")
                raise ArtifactError(f"{at}field {field!r} holds {value}{' among its values' if t.numel() > 1 else ''}; expected "
                                    f"{expected}. The manifest is damaged or was edited")
    return stats or {}


def _numbers(value: Any) -> bool:
    """Whether ``value`` is a number or (nested) lists of numbers: what a normalisation statistic is in a manifest."""
    stack = [value]  # not recursive: a manifest may nest lists as deep as its JSON parser allows
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif not isinstance(item, (int, float)) or isinstance(item, bool):
            return False
    return True


def _rounded(t: Tensor) -> Any:
    """``t`` as (nested) lists of floats with 4 significant digits."""
    values = t.tolist()
    if isinstance(values, float):
        return float(f"{values:.4g}")
    return json.loads(json.dumps(values), parse_float=lambda s: float(f"{float(s):.4g}"))


#: statistics with more values than this are shown by their first few and their shape (a graph's per-feature ones:
#: 128-602 features); an audio set's per-coefficient (3, 13) and every per-channel set stay whole
SHOWN_VALUES = 64


def _shown(t: Tensor) -> Any:
    """:func:`_rounded`, or for more than :data:`SHOWN_VALUES` values the first three and the shape, as text."""
    if t.numel() <= SHOWN_VALUES:
        return _rounded(t)
    head = ", ".join(str(v) for v in _rounded(t.flatten()[:3]))
    return f"[{head}, ... (shape {tuple(t.shape)})]"


def normalization_line(stats: Mapping[str, Mapping[str, Tensor]]) -> str | None:
    """One line for the card and the Hugging Face export: ``inputs normalised as (raw - mean) / std with x: mean ...
    std ...`` per input (4 significant digits; the exact values are in the manifest's ``synthetic.meta``), or None
    without statistics."""
    if not stats:
        return None
    parts = [f"{name}: mean {_shown(s['mean'])} std {_shown(s['std'])}" for name, s in stats.items()]
    return ("inputs normalised as (raw - mean) / std with " + "; ".join(parts)
            + " (exact values: mmdistill.load(...).normalization)")


def input_note(modality: Any, meta: Mapping[str, Any] | None) -> str | None:
    """The adapter's sentence on how the set's inputs are scaled where no mean and std says it (its optional sharing
    hook ``input_note(meta)``: a graph's row-normalised or raw node features, which a consumer's own graphs must match),
    or None (no hook, no rule recorded, or a meta the hook cannot read: the card and the export go on without it)."""
    hook = getattr(modality, "input_note", None)
    try:
        said = hook(dict(meta) if isinstance(meta, Mapping) else {}) if callable(hook) else None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return said if isinstance(said, str) and said else None


def export_description(manifest: Mapping[str, Any], stats: Mapping[str, Mapping[str, Tensor]],
                       columns: Mapping[str, str] | None = None, recorded: bool = True, note: str | None = None) -> str:
    """The ``info.description`` of a ``--to hf`` export (``dataset_info.json``): what the set is, the normalisation of
    its float columns in words (:func:`normalization_line`) and, after ``normalization (JSON):``, the statistics as
    ``{column: {"mean": [...], "std": [...]}}`` (``{}`` when none), each input named by its export column (``columns``:
    the adapter's ``hf_input_names``, e.g. ``x`` -> ``pixel_values``). ``recorded=False``: a set that should carry
    statistics records none (said so, not "not normalised"). ``note`` (:func:`input_note`) follows "not normalised by a
    mean and std" where the adapter says how the inputs are scaled instead (a graph's row-normalised features)."""
    stats = {(columns or {}).get(name, name): pair for name, pair in stats.items()}
    head = (f"A distilled {manifest.get('dataset')} set made by mmdistill (recipe {manifest.get('recipe')}, method "
            f"{manifest.get('method')}); its exact float columns hold the model inputs.")
    normalised = normalization_line(stats)
    said = normalised or ((f"its inputs are not normalised by a mean and std{f': {note}' if note else ''}")
                          if recorded else "the set records no normalisation statistics (an older or edited manifest)")
    if note and normalised:  # a transform after the normalisation (an image set's ZCA whitening)
        said += f"; {note}"
    exact = {name: {k: t.tolist() for k, t in pair.items()} for name, pair in stats.items()}
    trained = training_line(manifest)
    return (f"{head} {said[0].upper()}{said[1:]}.{f' {trained[0].upper()}{trained[1:]}.' if trained else ''} "
            f"normalization (JSON): {json.dumps(exact)}")


def training_line(manifest: Mapping[str, Any]) -> str | None:
    """What a consumer of the ``--to hf`` columns needs to train as the metrics did, beyond the card: soft or learned
    labels are logits in ``soft_label_logits`` (trained on with a soft cross-entropy against softmax(logits / T)), and
    the learned step size the evaluation used instead of the protocol's lr (``metrics.protocol.distilled_lr``). None
    when neither applies or the manifest does not say (fields of another form are passed over)."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    synthetic, metrics, config = (manifest.get(k) if isinstance(manifest.get(k), Mapping) else {} for k in ("synthetic", "metrics", "config"))
    protocol = metrics.get("protocol") if isinstance(metrics.get("protocol"), Mapping) else {}
    parts = []
    if (mode := synthetic.get("label_mode")) in ("soft", "learnable"):  # (mmdistill.synthetic.LABEL_MODES)
        t = config.get("soft_temperature", 1.0) if number(config.get("soft_temperature", 1.0)) else 1.0
        parts.append(f"`{SOFT_COLUMN}` holds the set's {'learned' if mode == 'learnable' else mode} labels as logits: its metrics trained on softmax(logits / {t:g}) "
                     "with a soft cross-entropy (`label` is the class each sample was made for, not always their arg-max)")
    lr, base = protocol.get("distilled_lr"), protocol.get("lr")
    if number(lr) and number(base) and lr != base:
        parts.append(f"its metrics trained with the set's learned step size {lr:.6g} as the learning rate (not the protocol's {base:g})")
    return "; ".join(parts) or None


class ConsumerViews:
    """The consumer's accessors of :class:`mmdistill.share.DistilledSet` (which holds ``inputs``, ``manifest``,
    ``synthetic`` and ``modality``)."""

    inputs: dict[str, Tensor]
    manifest: dict[str, Any]
    synthetic: Any
    modality: Any

    @property
    def normalization(self) -> dict[str, dict[str, Tensor]] | None:
        """``{input name: {"mean": t, "std": t}}`` — the statistics the set's inputs were normalised with — or None when
        its inputs are not normalised by a mean and std (row-normalised or raw graph features, whose
        ``synthetic.meta.normalize_features`` names their rule — a standardised graph gives ``x`` per feature (F,);
        sequence summaries; caption embeddings are left out of an image-text set's dict). Each tensor
        is float32, shaped to broadcast against ONE sample of that input ((C, 1, 1) for (C, H, W) images, (C, 1, 1, 1)
        for clips, (C, F, 1) or (C, 1, 1) for FD-MFCC maps, (1, 1, 1) for an audio-visual spectrogram), so
        ``(raw - mean) / std`` brings a real sample (or a batch (N, ...)) in the modality's raw units to the set's."""
        return self._shaped_statistics(held_only=False) or None

    def _shaped_statistics(self, held_only: bool) -> dict[str, dict[str, Tensor]]:
        """:func:`normalization_of` the set's meta, each tensor shaped against one sample of its input (:func:`_broadcast`;
        an input the set does not hold is shaped as a scalar, or, ``held_only``, left out); refusals name the manifest."""
        where = self._manifest_path()
        out: dict[str, dict[str, Tensor]] = {}
        for name, pair in normalization_of(self.modality, self.synthetic.meta, where).items():
            if held_only and name not in self.inputs:
                continue
            sample = tuple(self.inputs[name].shape[1:]) if name in self.inputs else ()
            out[name] = {k: _broadcast(name, k, t.float(), sample, where) for k, t in pair.items()}
        return out

    def _manifest_path(self) -> Path | None:
        """The manifest the set was loaded from (a run folder's, or an export's ``mmdistill/``: what the refusals of its
        statistics name), or None."""
        path = getattr(self, "path", None)
        folders = [] if path is None else [Path(path), Path(path) / EXPORT_SET_DIR]
        return next((f / MANIFEST_FILE for f in folders if (f / MANIFEST_FILE).is_file()), None)

    def checked(self) -> Self:
        """This set, once its normalisation statistics are checked: ArtifactError naming the manifest for statistics that
        are not numbers or hold a std of 0 or a NaN (every input's), or do not fit the samples (the inputs the set holds:
        an adapter may record statistics of an input it does not expose, which :attr:`normalization` is asked about only
        by name)."""
        self._shaped_statistics(held_only=True)
        self._check_storage()
        return self

    def _check_storage(self) -> None:
        """Warn, naming the manifest, when its ``storage`` block (what the card and ``show`` state: the set's bytes, its
        samples, their ratio to as many real ones) is not what the loaded tensors hold: the block is the only one of the
        card's numbers the set itself can back, and a stranger's manifest may state a smaller set than it is."""
        st = self.manifest.get("storage")
        if not isinstance(st, Mapping) or "synthetic_bytes" not in st:
            return
        held, samples = self.synthetic.stored_bytes(), len(self.synthetic)  # as card.storage_block counts
        real = st.get("real_bytes")
        ratio_ok = not isinstance(real, (int, float)) or not real or abs(float(st.get("ratio") or 0) - held / real) <= 1e-6 * held / real
        if st.get("synthetic_bytes") != held or st.get("samples") != samples or not ratio_ok:
            log.warning("%s: its 'storage' block says %s bytes for %s samples (ratio %s), the tensors hold %d bytes for %d: the card's "
                        "and show's storage figures are not this set's (the manifest was edited)", self._manifest_path() or "the set",
                        json.dumps(st.get("synthetic_bytes"))[:20], json.dumps(st.get("samples"))[:20], json.dumps(st.get("ratio"))[:20],
                        held, samples)

    def inputs_like(self, raw: Any, **options: Any) -> Tensor | dict[str, Tensor]:
        """Your own real data as the set's main input ``ds.x`` holds its samples, (N, *sample shape): prepared as the
        loader prepared the real samples the set was made from (decoded, resized, cut, normalised with the set's
        statistics), by the adapter's ``inputs_like`` hook (:mod:`mmdistill.inputs_like`). ``raw`` and ``options`` are
        the adapter's: image files, PIL images or uint8 tensors; audio files or waveforms (``sample_rate=``); video files
        (``root=``, ``offset=``); a sequence set's item histories (the item indices its learner reads); an audio-visual
        set's ``{"audio": ..., "image": ...}`` or an image-text set's ``{"images": ..., "captions": ...}`` (then a
        ``{input name: tensor}``) ... ConfigError naming the modality when its adapter has no such hook, or when the
        prepared samples do not have the set's sample shape."""
        from mmdistill.inputs_like import options_from_record, prepare_like

        # a set written before its hook's key was recorded (a sequence set's max_len ...): the run's config has it
        config = (self.manifest or {}).get("config")
        options = options_from_record(self.modality, self.synthetic.meta, config if isinstance(config, dict) else None, options)
        return prepare_like(self.modality, self.synthetic, raw, reference=self.inputs, **options)

    def augmentation(self) -> Any:
        """The augmentation the set's metrics were measured with, for training on it as its evaluation did: the adapter's
        augmenter for the op list the evaluation protocol records (``metrics.protocol.dsa_strategy``; a :class:`~mmdistill.augment.DSA`,
        called ``aug(x, seed=, groups=, num_groups=)``; a pair of them for audio-visual sets), DC's
        (:class:`~mmdistill.dc_augment.DCAugment`) when it records ``dc_augment``, or None when the set was evaluated
        without augmentation or was not evaluated. A set evaluated before the op list was recorded gets the adapter's
        resolution of its config's ``dsa_strategy`` (what its evaluation used)."""
        proto = (self.manifest.get("metrics") or {}).get("protocol") or {}
        if isinstance(proto.get("dc_augment"), Mapping):
            from mmdistill.dc_augment import DCAugment, DCAugmentParams

            dc = dict(proto["dc_augment"])
            return DCAugment(str(dc.pop("strategy", "none")), DCAugmentParams(**{k: v for k, v in dc.items() if k in DCAugmentParams.__dataclass_fields__}))
        if not proto.get("dsa"):
            return None
        strategy = proto.get(STRATEGY_KEY) or (self.manifest.get("config") or {}).get("dsa_strategy", "auto")
        return self.modality.augmenter(strategy, str(self.manifest.get("dataset", "")))


def _broadcast(name: str, what: str, t: Tensor, sample: tuple[int, ...], where: Path | None = None) -> Tensor:
    """``t`` (the sample's leading dims) with trailing singleton dims to the rank of ``sample``; ArtifactError (naming
    ``where``, the manifest) when its shape is not the sample's leading dims."""
    if t.dim() > len(sample) or (t.dim() and tuple(t.shape) != sample[:t.dim()] and t.numel() != 1):
        raise ArtifactError(f"{'' if where is None else f'{where}: '}the set's normalisation {what} of {name!r} has shape "
                            f"{tuple(t.shape)}, which does not fit its samples of shape {sample}; the manifest's synthetic.meta "
                            "is damaged or was edited")
    return t.reshape(*t.shape, *([1] * (len(sample) - t.dim())))


__all__ = ["STRATEGY_KEY", "ConsumerViews", "export_description", "normalization_line", "normalization_of"]
