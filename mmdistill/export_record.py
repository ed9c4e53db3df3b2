"""What an export leaves out of the record it carries: the sender's own paths and the names of files in the sender's data.

A run folder's manifest records where things were on the machine that made it: ``config.data_root``
(``/home/alice/patients``), ``config.out``, ``config.buffer``, a merged set's parts (``merged_from[].dir``), the chosen run
a run took its keys from (``config_sources``: ``run folder /home/alice/runs/dm-lr10 (...)``), and the files of the data
folder that were not read (``synthetic.meta.load_report.files``: ``class0/notes_john_smith.txt``); an adapter's meta may name a folder of its own
(image-text's ``caption_bank_dir``, the text cache). ``eval`` and ``check``
of that folder need its paths. An export is made to be published: its card (``--to DIR`` and ``--to hf``) and the manifest
a ``--to hf`` export carries keep each absolute path's last component only (``patients``, as ``load_report.root`` already
names the data folder) and drop the unread files' names (their counts stay, in ``load_report.counts``). A receiver's
``eval`` of the export then names ``--data-root`` (the recorded ``data_root`` is relative and not found there).
"""

from __future__ import annotations

import copy
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Mapping

#: the card's line saying what an export's record left out
LEFT_OUT = ("Paths are given by their last folder only (the sender's absolute paths: `data_root`, `out`, `buffer`, merged "
            "parts, a chosen run's folder, a local encoder's folder: `hf:/home/a/bert` as `hf:bert`) and the names of the data folder's files that were not read are left out (their "
            "counts stay); the run folder's own manifest keeps them.")

#: an absolute POSIX or home-relative path inside a longer string (``run folder /home/a/runs/x (scored on test)``): a
#: ``/`` or ``~`` that starts a word, up to the next space, quote, comma, semicolon or bracket (not a URL's ``//``)
_EMBEDDED = re.compile(r"(?<![\w:/.~-])(?:~|/(?!/))[^\s'\"`,;()\[\]]*")


def is_local_path(value: Any) -> bool:
    """Whether ``value`` is a string naming an absolute path (POSIX ``/...``, Windows ``C:\\...`` or ``\\\\host\\...``) or one
    under a home folder (``~``, ``~alice/...``)."""
    if not isinstance(value, str) or not value:
        return False
    return value.startswith("~") or PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()


def last_part(value: str) -> str:
    """``value``'s last component (``/home/a/patients/`` -> ``patients``; ``~`` -> ``~``; ``/`` -> ``/``)."""
    path = PureWindowsPath(value) if PureWindowsPath(value).is_absolute() and "\\" in value else PurePosixPath(value)
    return path.name or value


#: a value naming a local path behind a scheme (``hf:/home/a/models/bert``: a text encoder's folder); not a URL (``//``)
_SCHEMED = re.compile(r"([A-Za-z][\w+.-]+):(?!//)(.+)")


def public_name(value: Any) -> Any:
    """``value`` as an export may publish it: a local path as its last component, also behind a scheme
    (``hf:/home/a/models/bert`` -> ``hf:bert``, as a hub name reads); anything else as it is."""
    if is_local_path(value):
        return last_part(value)
    schemed = _SCHEMED.fullmatch(value) if isinstance(value, str) else None
    if schemed and is_local_path(schemed.group(2)):
        return f"{schemed.group(1)}:{last_part(schemed.group(2))}"
    return value


def _named(value: Any) -> Any:
    """A local path as its last component (:func:`public_name`); a list's local paths alike; anything else as it is."""
    if isinstance(value, list):
        return [_named(v) for v in value]
    return public_name(value)


def _embedded(text: Any) -> Any:
    """``text`` with each absolute path in it replaced by its last component."""
    return _EMBEDDED.sub(lambda m: last_part(m.group(0)), text) if isinstance(text, str) else text


def for_export(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``manifest`` without the sender's local paths and data file names (module docstring); the input is
    not changed. Fields the export's integrity record digests (``synthetic``) are changed before the record is made."""
    out = copy.deepcopy(dict(manifest))
    if isinstance(out.get("config"), dict):
        out["config"] = {k: _named(v) for k, v in out["config"].items()}
    if isinstance(out.get("config_sources"), dict):
        out["config_sources"] = {k: _embedded(v) for k, v in out["config_sources"].items()}
    for part in out.get("merged_from") or []:
        if isinstance(part, dict) and "dir" in part:
            part["dir"] = _named(part["dir"])
    if isinstance(out.get("imported_from"), dict) and "file" in out["imported_from"]:
        out["imported_from"]["file"] = _named(out["imported_from"]["file"])
    meta = (out.get("synthetic") or {}).get("meta") if isinstance(out.get("synthetic"), dict) else None
    if isinstance(meta, dict):
        out["synthetic"]["meta"] = public_meta(meta)
    return out


def public_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a set's ``meta`` as an export publishes it (the manifest it carries, or an adapter's export file that
    records the meta, audio-visual's ``pairs.safetensors``): an adapter's own local paths by their last folder (image-text's
    ``caption_bank_dir``: the text cache's folder) and the load report without the data folder's file names."""
    out = copy.deepcopy(dict(meta))
    out.update({k: _named(v) for k, v in out.items() if isinstance(v, str)})  # not a list: class names stay as named
    report = out.get("load_report")
    if isinstance(report, dict):
        report["files"] = {}
        if "root" in report:
            report["root"] = _named(report["root"])
    return out


__all__ = ["LEFT_OUT", "for_export", "is_local_path", "last_part", "public_meta", "public_name"]
