"""The shape of a distilled set's ``manifest.json``, checked when a set is loaded (:func:`mmdistill.io.load_synthetic`):
its format and version, each top-level field's JSON type, and the free text a card or ``show`` prints (names and the
preview's words) free of control and bidi-reordering characters. The tensors are checked against its ``synthetic``
section by :meth:`mmdistill.synthetic.SyntheticSet.from_tensors`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mmdistill.errors import ArtifactError
from mmdistill.words import cleaned_names, id_list, shown, unsafe

log = logging.getLogger(__name__)

#: the manifest format this version writes (``report.MANIFEST_FORMAT``) and the newest it reads
SET_FORMAT = "mmdistill.set"
SET_FORMAT_VERSION = 1
#: top-level manifest fields and the JSON type each must have when present
_MANIFEST_FIELDS: dict[str, tuple[type, str]] = {
    "recipe": (str, "a string"), "modality": (str, "a string"), "method": (str, "a string"), "dataset": (str, "a string"),
    "config": (dict, "an object"), "metrics": (dict, "an object"), "timing": (dict, "an object"),
    "memorisation": (dict, "an object"), "storage": (dict, "an object"), "config_sources": (dict, "an object"),
    "versions": (dict, "an object"),
}

#: the manifest's names, printed by ``show`` and the card
_NAMES = ("recipe", "modality", "method", "dataset", "paper", "sample_noun", "created")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def check_manifest(manifest: Any, path: str | Path) -> dict[str, Any]:
    """``manifest`` (read from ``path``) when it has the shape of a distilled set's manifest; otherwise an
    :class:`ArtifactError` naming the file, the field and what was expected. The ``synthetic`` section's
    contents are checked against the tensors by :meth:`SyntheticSet.from_tensors`."""
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} holds {_json_type(manifest)}; expected a JSON object (the manifest of an mmdistill set)")
    fmt = manifest.get("format")
    if fmt is not None:
        if not isinstance(fmt, str):
            raise ArtifactError(f"{path}: field 'format' is {_json_type(fmt)}; expected a string such as '{SET_FORMAT}/{SET_FORMAT_VERSION}'")
        name, _, version = fmt.partition("/")
        if name == "mmdistill.finetune":
            raise ArtifactError(f"{path} is the manifest of a fine-tuning run (format {fmt!r}); it holds no distilled set")
        if name != SET_FORMAT or not version.isdigit():
            raise ArtifactError(f"{path}: format {fmt!r} is not an mmdistill set (expected '{SET_FORMAT}/{SET_FORMAT_VERSION}')")
        if int(version) > SET_FORMAT_VERSION:
            raise ArtifactError(f"{path} was written by a newer mmdistill (format {fmt!r}; this version reads up to "
                                f"'{SET_FORMAT}/{SET_FORMAT_VERSION}'): upgrade mmdistill to read it")
    if not isinstance(manifest.get("synthetic"), dict):
        got = "no" if "synthetic" not in manifest else f"{_json_type(manifest['synthetic'])} as its"
        raise ArtifactError(f"{path} has {got} 'synthetic' section (an object describing the tensors); not an mmdistill set")
    if "tensors" not in manifest["synthetic"]:  # every set mmdistill writes lists them; without it nothing would be checked
        raise ArtifactError(f"{path}: its 'synthetic' section has no 'tensors' (the name and shape of each tensor of the set, "
                            "checked against the tensor file); the manifest is damaged")
    for key, (kind, expected) in _MANIFEST_FIELDS.items():
        if key in manifest and not isinstance(manifest[key], kind):
            raise ArtifactError(f"{path}: field {key!r} is {_json_type(manifest[key])}; expected {expected}. The manifest is damaged")
    for key in (*_NAMES, "preview_words"):  # no control character: mmdistill.words.clean_name cleans what a run writes
        value = manifest.get(key)
        if isinstance(value, str) and any(unsafe(ch) for ch in value):
            what = "the preview's words (the card's alt text of preview.png) hold" if key == "preview_words" else "a name holds"
            raise ArtifactError(f"{path}: field {key!r} is {json.dumps(value)[:80]}; {what} no line break, tab, other control "
                                "or bidi-reordering character (the manifest was edited: such a value could rewrite the card it is "
                                "published with, or the terminal that shows it)")
    for key, least in (("ipc", 1), ("num_classes", 1), ("seed", None)):  # a count of samples or classes fits in 31 bits
        value = manifest.get(key, 0 if least is None else least)
        if not isinstance(value, int) or isinstance(value, bool) or (least is not None and not least <= value < 2 ** 31):
            raise ArtifactError(f"{path}: field {key!r} is {json.dumps(value)[:60]}; expected an integer"
                                f"{'' if least is None else f' in [{least}, 2^31)'}. The manifest is damaged")
    declared = manifest["synthetic"].get("num_classes")
    if "num_classes" in manifest and isinstance(declared, int) and declared != manifest["num_classes"]:
        raise ArtifactError(f"{path}: field 'num_classes' is {manifest['num_classes']}, its 'synthetic' section says {declared}; "
                            "the manifest is damaged")
    return manifest


def _cleaned(names: Any, field: str, changed: list[str]) -> Any:
    """``names`` (a list of class names) through :func:`mmdistill.words.cleaned_names`, a name that is not Unicode text
    left for the reader's refusal (:func:`mmdistill.integrity.check_class_names`); each change appended to ``changed``
    as ``field label: before -> after`` (escaped)."""
    if not isinstance(names, list):
        return names
    out, changes = cleaned_names(names, text_only=True)
    changed += [f"{field} label {i}: {shown(a)} -> {shown(b)}" for i, a, b in changes]
    return out


def with_clean_class_names(manifest: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``manifest`` (checked by :func:`check_manifest`) with its class names (``synthetic.meta.classes``, a merge's
    ``merged_from[].classes``: the card, ``show``, ``eval`` and an export's folder names print them) as a run writes them
    since they are cleaned at save (:func:`mmdistill.io.save_synthetic`): each control or bidi-reordering character
    replaced by ``_``, with one warning naming ``path``, the fields and labels. A set written before (a class folder's
    name holding a tab) is read, not refused; a hand-edited one is read cleaned too, so nothing prints such a character.
    The manifest itself is returned when nothing changes; the file is not rewritten."""
    changed: list[str] = []
    meta = manifest["synthetic"].get("meta")
    classes = _cleaned(meta.get("classes"), "synthetic.meta.classes", changed) if isinstance(meta, dict) else None
    parts = manifest.get("merged_from")
    parts = [{**p, "classes": _cleaned(p.get("classes"), f"merged_from[{i}].classes", changed)} if isinstance(p, dict) else p
             for i, p in enumerate(parts)] if isinstance(parts, list) else parts
    if not changed:
        return manifest
    log.warning("%s: %s class name(s) hold a line break, tab, other control or bidi-reordering character (an earlier "
                "mmdistill wrote a class folder's name as it was, or the manifest was edited); read with each "
                "replaced by '_', as a run writes them now, so the card, show and an export name them so: %s",
                path, len(changed), id_list(changed, 5))
    out = dict(manifest)
    if isinstance(meta, dict) and classes != meta.get("classes"):
        out["synthetic"] = {**manifest["synthetic"], "meta": {**meta, "classes": classes}}
    if parts != manifest.get("merged_from"):
        out["merged_from"] = parts
    return out


__all__ = ["SET_FORMAT", "SET_FORMAT_VERSION", "check_manifest", "with_clean_class_names"]
