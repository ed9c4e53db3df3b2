"""What a received set is checked against when it is loaded: the digest of its tensor file, its class list, and, in a
``--to hf`` export, the set's fields the export recorded and the class names of the export's ``label`` column.

A run records the sha256 of ``synthetic.safetensors`` in its manifest (:data:`SET_DIGEST_KEY`) when it writes the set.
An export records in ``mmdistill/export_files.json`` (:data:`EXPORT_RECORD`) the size and sha256 of each data file and
the sha256 of each field of the manifest's ``synthetic`` section (:data:`FIELDS_KEY`: the tensors' shapes and dtypes,
the label mode, the class names, the normalisation statistics ...: what gives the labels and values their meaning).
``eval --write`` and ``check`` rewrite the manifest's metrics, config and memorisation blocks, never these, so the
records stay valid. They detect accidents and edits made by hand, not a forgery: whoever edits a file can rewrite its
record. Nothing here imports :mod:`mmdistill.io` (which calls it); paths come in as arguments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from mmdistill.errors import ArtifactError
from mmdistill.json_text import json_file_text, parse_json

#: the manifest field holding the sha256 (64 hex digits) of the set's tensor file, written with it
SET_DIGEST_KEY = "synthetic_sha256"
#: the folder of a ``--to hf`` export that holds the mmdistill set itself (manifest + tensors)
EXPORT_SET_DIR = "mmdistill"
#: beside the manifest of an export's set: the size and sha256 of every data file the export wrote
EXPORT_RECORD = "export_files.json"
EXPORT_RECORD_FORMAT = "mmdistill.export_files/1"
#: the record's map of ``synthetic.<field>`` / ``synthetic.meta.<key>`` to the sha256 of its canonical JSON
FIELDS_KEY = "set_fields"
#: the export's column of hard labels; a ``ClassLabel`` (with the class names) where the adapter gives it one
LABEL_COLUMN = "label"
#: the Hugging Face metadata file of a ``save_to_disk`` folder, which holds the columns' features
HF_INFO_FILE = "dataset_info.json"

_HEX64 = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown(names: list[str]) -> str:
    return "[" + ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "") + "]"


def class_names(meta: Mapping[str, Any], num_classes: int) -> list[str]:
    """The set's class names in label order, as strings: ``meta["classes"]``, else ``"0"`` .. ``"K-1"`` (what the
    export's ``ClassLabel`` and ``DistilledSet.classes`` hold); a label past a shorter list (a set made by hand) is
    named by its index."""
    names = [str(c) for c in meta.get("classes") or []]
    return names + [str(c) for c in range(len(names), num_classes)]


def check_class_names(meta: Mapping[str, Any], manifest_path: Path) -> None:
    """ArtifactError naming ``manifest_path`` when ``meta["classes"]`` names a class twice (two labels of one name
    would be folded together by whoever merges or reads sets by class name), holds a name that is not Unicode text
    (a lone surrogate, which no file name, card or export can hold). Control and bidi-reordering characters are not
    looked for here: :func:`mmdistill.manifest_check.with_clean_class_names` reads such names cleaned first."""
    names = [str(c) for c in meta.get("classes") or []]
    for label, name in enumerate(names):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" in the JSON): no file name, card or export holds it
            raise ArtifactError(f"{manifest_path}: field 'synthetic.meta.classes' names label {label} {json.dumps(name)[:80]}, "
                                f"which is not Unicode text (character {exc.start}, {ascii(name[exc.start])}, is half of a "
                                "surrogate pair); expected class names that encode as UTF-8 (the manifest was edited or is damaged)") from None
    twice = list(dict.fromkeys(n for i, n in enumerate(names) if n in names[:i]))
    if twice:
        raise ArtifactError(f"{manifest_path}: field 'synthetic.meta.classes' names {_shown(twice)} more than once; each label "
                            "has its own class name (the manifest was edited or is damaged)")


#: the first mmdistill version all of whose releases write :data:`SET_DIGEST_KEY`. 0.1.0 does not qualify: its
#: checkouts before the digest (2026-12-05) wrote sets without one, and those are still read as they are; a manifest of
#: a later version (``versions.mmdistill``) without the digest had it removed
DIGEST_ALWAYS_SINCE = (0, 1, 1)


def _always_digested(manifest: Mapping[str, Any]) -> str | None:
    """The manifest's ``versions.mmdistill`` (its numbers) when it is a version that always wrote :data:`SET_DIGEST_KEY`;
    None for an earlier one, or one that cannot be read (such sets are checked for form only)."""
    version = (manifest.get("versions") or {}).get("mmdistill") if isinstance(manifest.get("versions"), Mapping) else None
    found = re.match(r"(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?", version) if isinstance(version, str) else None
    return found.group(0) if found and tuple(int(n or 0) for n in found.groups()) >= DIGEST_ALWAYS_SINCE else None


def verify_tensor_digest(tensor_path: Path, manifest: Mapping[str, Any], manifest_path: Path) -> bool:
    """Check ``tensor_path`` against the sha256 its manifest records (:data:`SET_DIGEST_KEY`); True when it was
    checked, False for a manifest that records none (a set written before mmdistill recorded it: read as it is).
    ArtifactError naming the manifest when it records none although its version always wrote it (:data:`DIGEST_ALWAYS_SINCE`);
    ArtifactError naming the file when its contents differ, or naming the manifest when the field is not a digest."""
    want = manifest.get(SET_DIGEST_KEY)
    if want is None and (version := _always_digested(manifest)):
        raise ArtifactError(f"{manifest_path} has no field {SET_DIGEST_KEY!r} (the sha256 of {tensor_path.name}), yet it says it "
                            f"was written by mmdistill {version}, which always records it: the field "
                            "was removed (the manifest was edited); use an intact copy of the set, or distil it again")
    if want is None:
        log.debug("%s records no sha256 of %s (written by an earlier mmdistill): its tensors are not checked against a digest",
                  manifest_path, tensor_path.name)
        return False
    if not isinstance(want, str) or not _HEX64.fullmatch(want):
        raise ArtifactError(f"{manifest_path}: field {SET_DIGEST_KEY!r} is {json.dumps(want)[:80]}; expected the sha256 of "
                            f"{tensor_path.name} (64 lowercase hex digits). The manifest is damaged")
    if file_sha256(tensor_path) != want:
        raise ArtifactError(f"{tensor_path} has other contents (sha256) than when it was written (its manifest {manifest_path} "
                            "records the digest): the set was edited or damaged after it was written; use an intact copy of "
                            "the set, or distil it again")
    return True


def _canonical_sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def field_digests(synthetic: Mapping[str, Any]) -> dict[str, str]:
    """The sha256 of each field of a manifest's ``synthetic`` section as canonical JSON, by name: ``synthetic.<field>``,
    and ``synthetic.meta.<key>`` for each entry of its meta (so a change is named by its field)."""
    out = {}
    for key, value in synthetic.items():
        if key == "meta" and isinstance(value, Mapping):
            out.update({f"synthetic.meta.{k}": _canonical_sha256(v) for k, v in value.items()})
        else:
            out[f"synthetic.{key}"] = _canonical_sha256(value)
    return out


def verify_set_fields(record: Mapping[str, Any], manifest: Mapping[str, Any], manifest_path: Path, record_path: Path) -> bool:
    """Check the ``synthetic`` section of the manifest at ``manifest_path`` against the field digests of an export's
    ``record`` (read from ``record_path``); True when checked, False for a record without them (an earlier
    mmdistill's). ArtifactError naming the first field that differs, was added or is gone."""
    fields = record.get(FIELDS_KEY)
    if fields is None:
        return False
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise ArtifactError(f"{record_path}: field {FIELDS_KEY!r} does not map each field of the set to a sha256; the record is damaged")
    now = field_digests(manifest.get("synthetic") or {})
    for name in sorted(set(fields) | set(now)):
        if fields.get(name) != now.get(name):
            how = "is gone" if name not in now else "was added" if name not in fields else "has another value"
            raise ArtifactError(f"{manifest_path}: field {name!r} {how} since the set was exported ({record_path} records its "
                                "fields; eval --write and check never change them): the manifest was edited afterwards, so "
                                "the set's labels or values would be read with another meaning; restore the manifest, or "
                                "export the set again from its run folder")
    return True


def check_label_column(root: Path, classes: list[str], manifest_path: Path) -> bool:
    """Compare ``classes`` (the set's class names from the manifest at ``manifest_path``) with the names of the ``label``
    ``ClassLabel`` in ``root``'s :data:`HF_INFO_FILE` (a ``--to hf`` export); True when compared, False where there is
    no such file or column (a graph's plain ``y``). ArtifactError naming both lists and their first difference."""
    info_path = root / HF_INFO_FILE
    if not info_path.is_file():
        return False
    try:
        info = parse_json(json_file_text(info_path), unique_keys=False)  # written by datasets
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{info_path} is not readable JSON ({exc}); the export's Hugging Face metadata is damaged") from None
    features = info.get("features") if isinstance(info, dict) else None
    feature = features.get(LABEL_COLUMN) if isinstance(features, dict) else None
    if not isinstance(feature, dict) or feature.get("_type") != "ClassLabel":
        return False
    names = feature.get("names")
    if not isinstance(names, list):
        raise ArtifactError(f"{info_path}: the {LABEL_COLUMN!r} ClassLabel has no list of names; the export's metadata is damaged")
    names = [str(n) for n in names]
    if names == classes:
        return True
    at = next((i for i, (a, b) in enumerate(zip(classes, names)) if a != b), min(len(classes), len(names)))
    pair = (f"{classes[at]!r} against {names[at]!r}" if at < min(len(classes), len(names))
            else f"{len(classes)} names against {len(names)}")
    raise ArtifactError(f"{manifest_path} names the classes {_shown(classes)}, the export's {LABEL_COLUMN!r} column ({info_path}) "
                        f"{_shown(names)}; they differ from label {at} on ({pair}), so mmdistill.load and datasets would "
                        "give that label different names: one was edited after the export; export the set again from its "
                        "run folder")


#: fields of the manifest's metrics and memorisation blocks (at any depth; a score's ``runs``) that mmdistill writes as
#: numbers (or null) and as lists of numbers; and the blocks it writes as objects (or null), by where they are
_NUMBERS = ("mean", "std", "min", "max", "median", "p5", "p25", "ratio_median", "frac_below_real_min", "frac_below_real_p5",
            "exact_copies", "real_duplicates")
_NUMBER_LISTS = ("runs", "distances", "real_distances", "nearest_real")
_OBJECTS = ("metrics.protocol", "metrics.cross_arch", *(f"memorisation.{space}{part}" for space in ("input", "feature")
                                                        for part in ("", ".synthetic", ".random_real")))


def _short_json(value: Any) -> str:
    """The first 60 characters of ``value`` as JSON (a list's first items only: it may be long)."""
    return json.dumps(value[:8] + ["..."] if isinstance(value, list) and len(value) > 8 else value, default=str)[:60]


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _odd_in(value: Any, where: str) -> str | None:
    """The first field under ``value`` (at ``where``) whose form is not the one mmdistill writes, said in words."""
    if not isinstance(value, Mapping):
        return None
    for key, item in value.items():
        at = f"{where}.{key}"
        if key in _NUMBERS and not _is_number(item):
            return f"{at!r} is {_short_json(item)}, expected a number"
        if ((key in _NUMBER_LISTS and (key != "runs" or "mean" in value))  # a score's runs (the protocol's is a count)
                and not (isinstance(item, list) and all(map(_is_number, item)))):
            return f"{at!r} is {_short_json(item)}, expected a list of numbers"
        if at in _OBJECTS and not (item is None or isinstance(item, Mapping)):
            return f"{at!r} is {_short_json(item)}, expected an object"
        if key != "protocol" and (found := _odd_in(item, at)) is not None:  # the protocol holds settings, not scores
            return found
    return None


def odd_field(manifest_path: Path) -> str | None:
    """Which field of the ``metrics``, ``memorisation`` or ``timing`` block of the manifest at ``manifest_path`` has a form
    mmdistill never writes (``'metrics.distilled.mean' is "x", expected a number``), or None (none found, or the
    file cannot be read): what the refusal of a manifest that a summary or card cannot be made from names."""
    try:
        manifest = parse_json(json_file_text(manifest_path))
        if not isinstance(manifest, Mapping):
            return None
        for block in ("metrics", "memorisation"):
            if (found := _odd_in(manifest.get(block), block)) is not None:
                return found
        timing = manifest.get("timing")
        for key, item in (timing.items() if isinstance(timing, Mapping) else ()):
            if (key.endswith("seconds") or key == "iterations") and not _is_number(item):
                return f"'timing.{key}' is {_short_json(item)}, expected a number"
    except (OSError, ValueError, RecursionError):  # unreadable, or nested past the walk: the field is not named
        return None
    return None


def written_as_recorded(folder: Path, names: Iterable[str], hashes: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Of the files ``names`` in ``folder`` (plain names), those whose content has the SHA-256 ``hashes`` records for
    them, and those whose content differs, has none recorded or cannot be read; a name that is not a plain name, a
    file that is not there and a link are in neither."""
    same: list[str] = []
    changed: list[str] = []
    for name in names:
        path = folder / name
        if name != path.name or not path.is_file() or path.is_symlink():
            continue
        try:
            kept = hashes.get(name) == file_sha256(path)
        except OSError:
            kept = False
        (same if kept else changed).append(name)
    return same, changed


def rewritten_since(set_folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """The files beside the set that its manifest records as written (``written_file_sha256``: the card, the pictures)
    whose content is no longer the one recorded (:func:`written_as_recorded`): edited since, or an ``eval --write`` /
    ``check`` stopped after writing them and before the manifest (written last). A file gone is not listed."""
    hashes = manifest.get("written_file_sha256")
    return sorted(written_as_recorded(set_folder, [str(n) for n in hashes], hashes)[1]) if isinstance(hashes, dict) else []


def integrity_line(set_folder: Path, manifest: Mapping[str, Any], tensor_name: str) -> str:
    """One line saying what loading the set in ``set_folder`` (which passed) checked: its tensor file against the
    manifest's sha256, an export's data files and set fields against :data:`EXPORT_RECORD`, or nothing (older set)."""
    said = []
    if isinstance(manifest.get(SET_DIGEST_KEY), str):
        said.append(f"{tensor_name} sha256 {manifest[SET_DIGEST_KEY]} matches the manifest")  # the set's identity, to compare
    record_path = set_folder / EXPORT_RECORD
    if record_path.is_file():
        try:
            record = parse_json(json_file_text(record_path))
        except (OSError, UnicodeDecodeError, ValueError):
            record = {}
        files = record.get("files") if isinstance(record, dict) else None
        files = files if isinstance(files, dict) else {}
        here = [n for n in files if (set_folder.parent / n).is_file()]
        line = f"the export's {len(here)} data file(s) match {EXPORT_RECORD}"
        if len(here) < len(files):
            line += f" ({len(files) - len(here)} recorded file(s) are not here and were not checked)"
        if isinstance(record, dict) and FIELDS_KEY in record:
            line += ", and so do the set's fields (classes, normalisation, shapes) in the manifest"
        said.append(line)
    synthetic = manifest.get("synthetic") or {}
    if set_folder.name == EXPORT_SET_DIR and check_label_column(set_folder.parent, class_names(synthetic.get("meta") or {}, int(synthetic.get("num_classes") or 0)),
                          set_folder / "manifest.json"):
        said.append(f"the class names of the export's {LABEL_COLUMN!r} column match the manifest's")
    if not said:
        return ("integrity: no digest recorded (a set written by an earlier mmdistill): its files were checked for form "
                "only, not against the contents they were written with")
    return "integrity: " + "; ".join(said)


__all__ = ["DIGEST_ALWAYS_SINCE", "EXPORT_RECORD", "EXPORT_RECORD_FORMAT", "EXPORT_SET_DIR", "FIELDS_KEY", "HF_INFO_FILE", "LABEL_COLUMN",
           "SET_DIGEST_KEY", "check_class_names", "check_label_column", "class_names", "field_digests", "file_sha256",
           "integrity_line", "odd_field", "rewritten_since", "verify_set_fields", "verify_tensor_digest", "written_as_recorded"]
