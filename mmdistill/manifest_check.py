"""The shape of a distilled set's ``manifest.json``, checked when a set is loaded (:func:`mmdistill.io.load_synthetic`):
its format and version, each top-level field's JSON type, and the free text a card or ``show`` prints (names and the
preview's words) free of control and bidi-reordering characters. The tensors are checked against its ``synthetic``
section by :meth:`mmdistill.synthetic.SyntheticSet.from_tensors`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmdistill.errors import ArtifactError
from mmdistill.integrity import check_clean_names
from mmdistill.words import unsafe

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
    parts = manifest.get("merged_from")
    for i, part in enumerate(parts if isinstance(parts, list) else []):  # mmdistill merge's: the card and show name each one's classes
        if isinstance(part, dict):
            check_clean_names(part.get("classes"), path, f"merged_from[{i}].classes")
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


__all__ = ["SET_FORMAT", "SET_FORMAT_VERSION", "check_manifest"]
