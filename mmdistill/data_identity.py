"""What a checkpoint records of the real training data a run distils from, and the refusal of a resume on other data.

A run interrupted, its data folder changed (a class folder replaced, images added or relabelled), then resumed would
finish a set distilled from two datasets. The checkpoint's ``resume_keys`` therefore carry, beside the config keys,
:data:`DATA_KEY`: the class names and the experts' data fingerprint (sample count and a digest of the labels in order,
or the data's own ``fingerprint()``: image-text pairs). The samples' values are not hashed: they are normalised by
floating-point sums whose last bits depend on the thread count, and an identical folder must resume.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmdistill.errors import DataError
from mmdistill.keys import clipped
from mmdistill.network_identity import NETWORK_KEY, network_identity

log = logging.getLogger(__name__)

#: the entry of a checkpoint's ``resume_keys`` that identifies the real training data (not a config key: a checkpoint
#: written before it existed has none, and is not checked)
DATA_KEY = "training_data"
#: the entries of ``resume_keys`` that identify what a run distils from and with (:func:`run_identities`), not config keys
IDENTITY_KEYS = (DATA_KEY, NETWORK_KEY)
#: what each field of the identity is, for the refusal
_FIELDS = {"classes": "class names", "train_samples": "training samples", "train_labels": "training labels (their order)"}


def data_classes(data: Any) -> list[str] | None:
    """The class names of real ``data`` (``data.classes``, else its training split's), None when it has none."""
    classes = getattr(data, "classes", None)
    if classes is None:
        classes = getattr(getattr(data, "train", None), "classes", None)
    return [str(c) for c in classes] if classes is not None else None


def training_data_identity(data: Any) -> dict[str, Any] | None:
    """``{"classes": [...], "train_samples": N, "train_labels": digest}`` of real ``data`` (the experts' fingerprint:
    :func:`mmdistill.expert_runs.data_fingerprint`, and the class names); None when the data offers neither."""
    from mmdistill.expert_runs import data_fingerprint

    identity: dict[str, Any] = {}
    if (classes := data_classes(data)) is not None:
        identity["classes"] = classes
    identity.update(data_fingerprint(data) or {})
    return identity or None


def run_identities(data: Any, net: Any) -> dict[str, Any]:
    """The entries :data:`IDENTITY_KEYS` a run adds to its checkpoint's ``resume_keys``: :data:`DATA_KEY` (the real
    training ``data``'s :func:`training_data_identity`, when it offers one) and :data:`NETWORK_KEY` (the matching
    network ``net``'s :func:`~mmdistill.network_identity.network_identity`)."""
    identity = training_data_identity(data)
    return {**({DATA_KEY: identity} if identity is not None else {}), NETWORK_KEY: network_identity(net)}


def check_same_data(path: Path, saved: Any, now: Any) -> None:
    """DataError when the checkpoint ``path`` was written while distilling other real training data than ``now`` (both
    :func:`training_data_identity`): the resumed run would finish a set that mixes the two. Not checked when either
    side has no identity (a checkpoint written before it was recorded; data that offers none); only the fields both
    record are compared."""
    said = _differences(saved, now)
    if said:
        raise DataError(f"cannot resume {path}: the real training data is not the data the run was distilling ({'; '.join(said)}): "
                    "the set would mix the two; point the run at that data again, or start over (--overwrite) or choose "
                    "another --out")


def _differences(saved: Any, now: Any) -> list[str]:
    """The fields in which two identities differ, in words (empty when either is missing or they agree)."""
    if not isinstance(saved, dict) or not isinstance(now, dict):
        return []
    differ = [k for k in sorted(set(saved) & set(now)) if saved[k] != now[k]]
    return [f"{_FIELDS[k]} {clipped(repr(saved[k]), 120)} -> {clipped(repr(now[k]), 120)}" if k in ("classes", "train_samples")
            else f"{_FIELDS.get(k, k)} differ" for k in differ]


def warn_other_data(folder: Path, saved: Any, data: Any) -> None:
    """Warn, naming the set in ``folder``, when the real training data (``data``) differ from those it was distilled
    from (``saved``: the identity the run stored in the set's meta under :data:`DATA_KEY`): clips added to a folder
    whose held-out split is drawn move samples the set was distilled from into the scored split, so its scores are not
    comparable with its manifest's. Not checked for a set saved before the identity was recorded."""
    said = _differences(saved, training_data_identity(data))
    if said:
        log.warning("%s was distilled from other real training data than %s holds now (%s): a held-out split drawn from "
                    "the data may now score samples the set was distilled from; evaluate it on the data it was made "
                    "from to compare with its manifest", folder, getattr(data, "name", "the dataset"), "; ".join(said))


__all__ = ["DATA_KEY", "IDENTITY_KEYS", "check_same_data", "data_classes", "run_identities", "training_data_identity", "warn_other_data"]
