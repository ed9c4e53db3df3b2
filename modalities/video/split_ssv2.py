"""Something-Something V2's label files (``labels/labels.json``: ``{template: index}``; ``labels/train.json`` and
``labels/validation.json``: lists of ``{"id", "label", "template", "placeholders"}``): a clip is ``<id>.webm``, its
class its template with the brackets of ``[something]`` removed, matched to ``labels.json`` without regard to case
(as the reference's ``extract_frames/extract_sthsth.py`` does). Validation is the test split (the reference's
``annot_val.json``); ``test.json`` has no labels and is not read. The reference's own lists (:data:`REFERENCE`, written
by its extraction script) are read too."""

from __future__ import annotations

import json
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.json_text import parse_json

from .split_rows import Row

#: the reference's own lists (``extract_frames/extract_sthsth.py`` writes them beside its frame folders):
#: ``{"id", "class": <index into class_list.json>}`` entries, and the class names in index order
REFERENCE = {"labels": "class_list.json", "train": "annot_train.json", "test": "annot_val.json"}
#: the files of a labels folder: the official names, then the reference's extraction script's
NAMES = {"labels": ("labels.json", "something-something-v2-labels.json"),
         "train": ("train.json", "something-something-v2-train.json"),
         "test": ("validation.json", "something-something-v2-validation.json")}


def _folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def is_ssv2(path: Path) -> bool:
    """Whether ``path`` is SSv2's labels folder or one of its files (a labels file beside it)."""
    if not path.is_dir() and path.suffix.lower() != ".json":
        return False
    return any((_folder(path) / n).is_file() for n in (*NAMES["labels"], REFERENCE["labels"]))


def _load(path: Path) -> object:
    """The JSON value of the split file ``path``, read as every other tool reads it (:func:`~mmdistill.json_text.
    parse_json`, the last value of a key given twice); DataError naming the file and line of malformed JSON, or
    ``line 1: not JSON: nested too deeply`` (a RecursionError before)."""
    try:
        return parse_json(decode_utf8(path.read_bytes(), f"split file {path}"), unique_keys=False)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {exc.lineno}: not JSON: {exc.msg}") from None


def _find(folder: Path, role: str) -> Path:
    for n in NAMES[role]:
        if (folder / n).is_file():
            return folder / n
    raise DataError(f"SSv2 labels folder {folder} has no {' or '.join(NAMES[role])}")


def read_ssv2(path: Path) -> tuple[list[Row], str]:
    """The rows of SSv2's training (split ``train``) and validation (split ``test``) lists in the labels folder of
    ``path``, classes named by ``labels.json``'s spelling, and the layout read, in words. DataError naming the file and
    entry of one that is not ``{"id", "template"}`` or whose template is not a class of ``labels.json``."""
    folder = _folder(path)
    if (folder / REFERENCE["labels"]).is_file() and not any((folder / n).is_file() for n in NAMES["labels"]):
        return _read_reference(folder)
    labels_path = _find(folder, "labels")
    labels = _load(labels_path)
    if not isinstance(labels, dict) or not labels:
        raise DataError(f"{labels_path}: expected a JSON object of class templates and their indices, as SSv2's labels.json")
    classes = {str(k).lower(): str(k) for k in labels}
    rows = []
    files = [(_find(folder, "train"), "train"), (_find(folder, "test"), "test")]
    for f, split in files:
        entries = _load(f)
        if not isinstance(entries, list):
            raise DataError(f"{f}: expected a JSON list of {{\"id\", \"template\", ...}} entries, as SSv2's {f.name}")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not str(e.get("id", "")).strip() or not isinstance(e.get("template"), str):
                raise DataError(f"{f}, entry {i}: expected {{\"id\": ..., \"template\": ...}}, got {str(e)[:120]}")
            template = e["template"].replace("[", "").replace("]", "")
            if template.lower() not in classes:
                raise DataError(f"{f}, entry {i} (id {e['id']}): its template {e['template']!r} is no class of "
                                f"{labels_path.name} (brackets removed: {template!r})")
            rows.append(Row(str(e["id"]).strip(), classes[template.lower()], split, f"{f.name}, entry {i}"))
    return rows, f"SSv2 label files {files[0][0].name} + {files[1][0].name} (its test split), classes of {labels_path.name}"



def _read_reference(folder: Path) -> tuple[list[Row], str]:
    """The rows of the reference's ``annot_train.json`` (split ``train``) and ``annot_val.json`` (``test``), each
    entry's class the ``class_list.json`` name at its index, and the layout read, in words."""
    names_path = folder / REFERENCE["labels"]
    names = _load(names_path)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{names_path}: expected a JSON list of class names, as the reference's class_list.json")
    rows = []
    for role, split in (("train", "train"), ("test", "test")):
        f = folder / REFERENCE[role]
        if not f.is_file():
            raise DataError(f"SSv2 folder {folder} has {names_path.name} but no {f.name} (the reference's lists)")
        entries = _load(f)
        if not isinstance(entries, list):
            raise DataError(f"{f}: expected a JSON list of {{\"id\", \"class\"}} entries, as the reference's {f.name}")
        for i, e in enumerate(entries):
            c = e.get("class") if isinstance(e, dict) else None
            if not isinstance(e, dict) or not str(e.get("id", "")).strip() or not isinstance(c, int) or not 0 <= c < len(names):
                raise DataError(f"{f}, entry {i}: expected {{\"id\": ..., \"class\": <index of {names_path.name}, 0 to "
                                f"{len(names) - 1}>}}, got {str(e)[:120]}")
            rows.append(Row(str(e["id"]).strip(), names[c], split, f"{f.name}, entry {i}"))
    return rows, f"SSv2 reference lists annot_train.json + annot_val.json (its test split), classes of {names_path.name}"


__all__ = ["is_ssv2", "read_ssv2"]
