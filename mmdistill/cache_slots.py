"""Superseded cache entries: an entry that records its *slot* replaces the other entries of that slot when it is written.

A cache entry is keyed by what it was computed from, its source files' state included (size, modification time, inode,
status-change time: the last two no copy tool sets back). Its slot is what the entry
is *of* (:func:`folder_slot`: the folder's real path, the cache's format and the settings the load read it with, its
split's included), not its file list nor its files' state. Two entries of one slot are the same folder read the same
way at two states; the files can never return to the older state (a status-change time is never set back) and a
folder that only grows never returns to an earlier file set, so only the newest entry can still be hit and the older
ones only fill the disk (walk 40A: a re-copied or ``chmod``-ed video folder added a full entry each time; walk 55Q: an
image folder's did the same; mend 56D: one per image added). Another folder, setting or split is another slot: its
entry may be hit again and is kept. Both caches take their slot from :func:`folder_slot` (review 56 R1.1: the
decoded-clip cache's slot hashed every clip path, so a video folder that grows kept a full entry per state).

An entry is ``<folder>/<name>-<key>.safetensors`` whose safetensors metadata holds ``slot``; the decoded-clip cache
(:mod:`mmdistill.modalities.video.clip_cache`) and the decoded-image cache (:mod:`mmdistill.modalities.image.pixel_cache`)
both write it and call :func:`remove_superseded` after a write that succeeded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from mmdistill.header_metadata import read_header_metadata


def stat_stamp(what: Path | os.stat_result) -> str:
    """A file's state as a cache key takes it: ``"size|mtime_ns|inode|ctime_ns"`` of ``what`` (a path, its link followed,
    or a ``stat`` result already taken, a ``scandir`` entry's). The inode and status-change time are what no copy tool
    sets back, so a file replaced with the old size and modification time (``cp -p``, ``rsync -a``) has another stamp."""
    st = what if isinstance(what, os.stat_result) else os.stat(what)
    return f"{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"


def folder_slot(fmt: str, settings: dict[str, Any], root: str | Path) -> str:
    """24 hex digits of a SHA-256 over ``fmt`` (the cache's format: a change of it changes every slot), ``settings`` (what
    the load read the folder with, its split's settings included; JSON values) and ``root``'s real path (links
    followed, so a link to the folder and the folder are one slot): an entry's *slot*. Its files, classes and their
    stamps are left out on purpose: an entry of the same slot and another key holds the folder at an earlier state (a
    file changed, added or removed), which the newer entry replaces."""
    head = {"format": fmt, "settings": settings, "root": os.path.realpath(root), "slot": True}
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:24]


def entry_slot(path: Path) -> str | None:
    """The ``slot`` recorded in the safetensors metadata of ``path`` (only its header is read), or None when the file
    records none or is not a readable safetensors file (damaged, foreign, gone)."""
    return (read_header_metadata(path) or {}).get("slot")


def remove_superseded(cache_path: Path, slot: str, what: str, log: logging.Logger) -> list[str]:
    """Remove the entries beside ``cache_path`` (just written) that share its name up to the last ``-`` (the key) and
    record ``slot``; returns the names removed and logs them at INFO as ``what`` ("decoded-clip cache"). A link, a
    folder, a file that cannot be read or records another slot (or none), and one that cannot be removed are left
    (``mmdistill cache clear`` removes them)."""
    prefix = cache_path.name.rsplit("-", 1)[0] + "-"
    removed = []
    for other in sorted(cache_path.parent.glob(f"{glob.escape(prefix)}*.safetensors")):
        if other == cache_path or other.is_symlink() or not other.is_file() or entry_slot(other) != slot:
            continue
        try:
            other.unlink()
        except OSError:  # gone meanwhile, or a folder that refuses it: not the run's concern
            continue
        removed.append(other.name)
    if removed:
        log.info("removed %d %s(s) of the same folder and settings that its files' changes superseded (%s)",
                 len(removed), what, ", ".join(removed))
    return removed


__all__ = ["entry_slot", "folder_slot", "remove_superseded", "stat_stamp"]
