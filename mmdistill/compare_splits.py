"""Which validation split each row of ``mmdistill compare`` was scored on, and why two rows' splits are apart.

Runs tuned with ``validation=`` score on samples held out of their training split. Two runs hold out the same samples
only when their training data (its labels, in order) and the held-out indices agree: the draw's digest
(:func:`~mmdistill.validation.split_digest`), which a run's protocol records as ``validation_split``
(:func:`~mmdistill.scored_on.scored_protocol`; a set's ``meta["validation"]["split"]`` too). Counts alone do not tell
splits apart: another ``split_seed`` of digits holds out as many samples (287), others. ``compare`` pools the seeds of a
setting only when they share a split, labels the splits of its validation rows (``A``, ``B``: :func:`split_labels`) when
there are several, and says which keys tell them apart (:func:`apart_note`). A run saved before the digest was recorded
has none (:data:`UNRECORDED`): it takes the split of the newer runs of its keys and sample count when they record one
(:func:`fill_unrecorded`), else it is its own row, marked ``?``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

#: the split cell of a validation run saved before its split's digest was recorded
UNRECORDED = "?"
#: the column that names each validation row's split, shown when the validation rows were scored on several
COLUMN = "validation split"


def saved_meta(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """The set's ``synthetic.meta`` in ``manifest`` ({} where either level is missing or not a mapping)."""
    synthetic = manifest.get("synthetic") if isinstance(manifest.get("synthetic"), Mapping) else {}
    return synthetic.get("meta") if isinstance(synthetic.get("meta"), Mapping) else {}


def validation_split(manifest: Mapping[str, Any], split: str) -> str | None:
    """The digest of the validation split the run of ``manifest`` was scored on (``metrics.protocol.validation_split``,
    else the set's ``synthetic.meta.validation.split``); :data:`UNRECORDED` for a validation run saved before either
    existed; None for a run scored on the test split (``split``: :func:`~mmdistill.scored_on.scored_split`)."""
    if split != "validation":
        return None
    metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), Mapping) else {}
    proto = metrics.get("protocol") if isinstance(metrics.get("protocol"), Mapping) else {}
    meta = saved_meta(manifest)
    drawn = meta.get("validation") if isinstance(meta.get("validation"), Mapping) else {}
    digest = proto.get("validation_split") or drawn.get("split")
    return digest if isinstance(digest, str) and digest else UNRECORDED


def fill_unrecorded(runs: Sequence[tuple[str, Any, str | None]]) -> list[str | None]:
    """Each run's split (``runs``: its keys as text, its scored sample count, its :func:`validation_split`), a
    :data:`UNRECORDED` one given the split the runs of its keys and count record when they record exactly one (as
    :func:`~mmdistill.schema.values_before_keys` gives an older run the value it ran with): a sweep's older seeds pool with
    a newer seed of their setting; left :data:`UNRECORDED` where that is not known."""
    known: dict[tuple[str, Any], set[str]] = {}
    for keys, count, split in runs:
        if split is not None and split != UNRECORDED:
            known.setdefault((keys, count), set()).add(split)
    return [next(iter(known[(k, n)])) if s == UNRECORDED and len(known.get((k, n), ())) == 1 else s for k, n, s in runs]


def splits_said(labels: Mapping[str, str]) -> str:
    """``", 2 splits"``: what the table's heading adds to the validation split's sample count when its rows were scored
    on several recorded splits (``labels``: :func:`split_labels`); ``""`` otherwise."""
    n = len({v for v in labels.values() if v != UNRECORDED})
    return f", {n} splits" if n > 1 else ""


def split_labels(splits: Sequence[str | None]) -> dict[str, str]:
    """``{digest: "A", ...}``: a letter for each validation split among the rows' ``splits`` (in row order; None, a test
    row, gets none), :data:`UNRECORDED` keeping its ``?``; empty when the validation rows share one split."""
    seen = list(dict.fromkeys(s for s in splits if s is not None))
    if len(seen) < 2:
        return {}
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return {s: (UNRECORDED if s == UNRECORDED else next(letters, s[:8])) for s in seen}


def apart_note(rows: Sequence[tuple[str | None, Mapping[str, Any]]], labels: Mapping[str, str]) -> str | None:
    """The note under a table whose validation rows were scored on several splits (``rows``: each row's split digest and
    its differing keys; ``labels``: :func:`split_labels`): the keys whose values never meet across two recorded splits
    (``split_seed``, ``classes``, ...), or, when none, that the data differ; and what a :data:`UNRECORDED` row is. None
    for one split."""
    if not labels:
        return None
    by_split: dict[str, list[Mapping[str, Any]]] = {}
    for split, keys in rows:
        if split is not None and split != UNRECORDED:
            by_split.setdefault(split, []).append(keys)
    names = list(dict.fromkeys(k for _, keys in rows for k in keys))

    def values(split: str, k: str) -> set[str]:
        return {json.dumps(keys.get(k), sort_keys=True, default=str) for keys in by_split[split]}

    splits = list(by_split)
    old = (f"{UNRECORDED}: a run saved before runs recorded their validation split, which cannot be told (its keys and "
           "sample count only)")
    if len(splits) < 2:
        return f"note: {old}, so it may not be split {labels[splits[0]]}" if splits else None
    why = [k for k in names if all(not values(a, k) & values(b, k) for i, a in enumerate(splits) for b in splits[i + 1:])]
    said = (f"their keys {', '.join(why)} differ" if why else
            "their keys agree, so their data differ (another copy of the data, or a changed folder: other labels or order)")
    return (f"note: the validation rows were scored on {len(splits)} different splits of held-out samples ({COLUMN} "
            f"{', '.join(labels[s] for s in splits)}): {said}; a row's score is comparable only with rows of its split"
            + (f"; {old}" if UNRECORDED in labels else ""))


__all__ = ["COLUMN", "UNRECORDED", "apart_note", "fill_unrecorded", "saved_meta", "split_labels", "splits_said", "validation_split"]
