"""Leaving a set's real samples out of an export: ``mmdistill export DIR --without-real-samples`` (both forms) and
``export_hf(..., without_real_samples=True)``.

Some sets carry real training samples as written, beside what the memorisation check measures: an image-text set's
manifest holds the captions of the real pairs it was initialised from (``synthetic.meta.init_captions``) and each
pair's nearest real caption (``nearest_captions``), and its exports write a real caption per pair. An adapter declares
the meta fields that hold real samples with the optional sharing hook ``real_sample_fields(meta) -> list[str]`` (none
by default). An export made without real samples:

* drops those fields from the set's meta, so from the card's record and the manifest a ``--to hf`` export carries (before
  the export's integrity record is made: ``mmdistill.load`` still verifies it);
* records their names in the meta's :data:`LEFT_OUT_KEY`, which the adapter's export reads to write no real sample in its
  files (image-text: empty captions), and which the card (*Real samples left out*) and ``show`` state.

An adapter that declares no field is exported as it is, with one INFO line saying so.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import Any, Mapping

from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)

#: the meta key of a set exported without its real samples: the names of the meta fields that were left out
LEFT_OUT_KEY = "real_samples_left_out"

#: the flag, as the card and log lines name it
FLAG = "--without-real-samples"


def real_sample_fields(modality: Any, meta: Mapping[str, Any]) -> list[str]:
    """The meta fields the adapter declares as holding real training samples (its optional hook
    ``real_sample_fields(meta)``), whether or not ``meta`` has them; [] without the hook."""
    hook = getattr(modality, "real_sample_fields", None)
    return [str(k) for k in hook(dict(meta))] if callable(hook) else []


def without_real_samples(syn: SyntheticSet, modality: Any, where: str | Path) -> SyntheticSet:
    """``syn`` with the adapter's real-sample fields dropped from a copy of its meta and :data:`LEFT_OUT_KEY` naming them
    (the tensors are shared, not copied); ``syn`` itself when the adapter declares none (an INFO line naming ``where``,
    the set, says the flag changes nothing)."""
    fields = real_sample_fields(modality, syn.meta or {})
    if not fields:
        log.info("%s: the %s adapter declares no real samples carried in a set's record or exports, so %s changes nothing "
                 "(the set's own samples are what the memorisation check measures)", where, getattr(modality, "name", "?"), FLAG)
        return syn
    meta = {k: copy.deepcopy(v) for k, v in (syn.meta or {}).items() if k not in fields}
    meta[LEFT_OUT_KEY] = fields
    out = copy.copy(syn)
    out.meta = meta
    return out


def warn_own_copies(manifest: Mapping[str, Any], where: str | Path) -> None:
    """Warn when the set's own samples are exact copies of real ones (its memorisation block's ``exact_copies``, any
    space): leaving the carried fields out does not keep those real samples out of the export (walk 52M's question;
    ``init=real`` at 0 iterations publishes real samples as they are)."""
    mem = manifest.get("memorisation") if isinstance(manifest.get("memorisation"), Mapping) else {}
    shares = [space.get("exact_copies") for space in mem.values() if isinstance(space, Mapping)]
    worst = max((float(v) for v in shares if isinstance(v, (int, float)) and not isinstance(v, bool)), default=0.0)
    if worst > 0:
        log.warning("%s: %s leaves out the real samples the set carries beside its own, but its memorisation check found "
                    "%.0f %% of the set's own samples to be exact copies of real ones: those are published whatever the flag "
                    "does (distil further, or do not publish this set)", where, FLAG, 100 * worst)


def manifest_with(manifest: Mapping[str, Any], syn: SyntheticSet) -> dict[str, Any]:
    """A copy of ``manifest`` whose ``synthetic`` section's meta is ``syn``'s (a set exported without real samples)."""
    out = dict(manifest)
    section = out.get("synthetic")
    out["synthetic"] = {**(section if isinstance(section, Mapping) else {}), "meta": copy.deepcopy(syn.meta)}
    return out


def published(loaded: Any, without: bool, where: str | Path) -> Any:
    """A loaded set (:class:`~mmdistill.share.DistilledSet`) as an export publishes it: with ``without``, its synthetic set and
    manifest without the adapter's real-sample fields (:func:`without_real_samples`); otherwise ``loaded`` itself."""
    if without:
        warn_own_copies(loaded.manifest, where)
    syn = without_real_samples(loaded.synthetic, loaded.modality, where) if without else loaded.synthetic
    return loaded if syn is loaded.synthetic else dataclasses.replace(loaded, synthetic=syn, manifest=manifest_with(loaded.manifest, syn))


def carried_manifest(manifest: Mapping[str, Any], syn: SyntheticSet) -> dict[str, Any]:
    """The run's ``manifest`` as an export of ``syn`` carries it: with ``syn``'s meta when ``syn`` was exported without its
    real samples (:data:`LEFT_OUT_KEY`), as it is otherwise."""
    return manifest_with(manifest, syn) if left_out(syn.meta) is not None else dict(manifest)


def carried_note(modality: Any, meta: Any) -> str | None:
    """The adapter's sentence on the real samples a set's record and exports carry (its optional hook
    ``real_samples_note(meta)``; it reads :data:`LEFT_OUT_KEY` for an export made without them), or None (no hook, nothing
    carried, or a meta it cannot read)."""
    hook = getattr(modality, "real_samples_note", None)
    try:
        return hook(dict(meta) if isinstance(meta, Mapping) else {}) if callable(hook) else None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def left_out(meta: Any) -> list[str] | None:
    """The meta fields an export left out (:data:`LEFT_OUT_KEY`), or None for a set exported with its real samples."""
    fields = meta.get(LEFT_OUT_KEY) if isinstance(meta, Mapping) else None
    return [str(f) for f in fields] if isinstance(fields, list) else None


def card_line(modality: Any, meta: Any) -> tuple[str, str] | None:
    """``(heading, text)`` of the card's and ``show``'s line on real samples: *Real samples left out* for an export made
    without them (the fields dropped, then the adapter's note), *Real samples carried verbatim* when the adapter says it
    carries some, or None."""
    note = carried_note(modality, meta)
    fields = left_out(meta)
    if fields is None:
        return ("Real samples carried verbatim", note) if note else None
    named = ", ".join(f"`synthetic.meta.{f}`" for f in fields)
    return ("Real samples left out", f"exported with `{FLAG}`: the record holds none of {named}" + (f"; {note}" if note else ""))


__all__ = ["FLAG", "LEFT_OUT_KEY", "card_line", "carried_manifest", "carried_note", "left_out", "manifest_with", "published", "real_sample_fields",
           "without_real_samples"]
