"""``mmdistill cache``: what the caches under :func:`mmdistill.cache_dir.cache_root` hold, and clearing them.

    mmdistill cache                                  the cache root and, per kind, entries, size and newest write
    mmdistill cache clear KIND [KIND ...] [--older-than DAYS]
    mmdistill cache clear --all [--older-than DAYS]

Every cache holds what can be computed again: decoded images (``image``), decoded video clips (``video``), video-static-dynamic's stage 1
(``video-static``: static memories kept so a resume continues them), caption embeddings (``text``), pretrained
sequence learners (``sequences``), torch_geometric's working folders and downloads (``graph``) and ZCA whitening fits (``zca``). Each
changed setting leaves a new file beside the old ones, so the folders only grow (a video or image folder whose files
changed replaces its own entry: :mod:`mmdistill.cache_slots`); nothing else deletes them but this command. Only entries of the names mmdistill writes are touched (``*.safetensors`` files and the hidden temporary
files and folders of interrupted writes, safetensors' own ``.tmpXXXXXX`` among them; for ``graph``, its hash-named
working folders and ``download``; for ``video-static``, its hash-named folders, left while a running stage 1 holds
their lock), so a cache root set to a wrong folder (``$MMDISTILL_CACHE``) loses nothing else. A
temporary file or folder or a ``.partial-`` folder younger than an hour may belong to a running job and is left, as
is a temporary folder whose write still holds its lock (:mod:`mmdistill.atomic`). Folders given to a run's own keys
(``cache_dir``, ``pretrain_cache_dir``) are the user's and are not looked at.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mmdistill.atomic import RUNNING_GRACE_S, SAFETENSORS_TEMPORARY, write_running
from mmdistill.cache_dir import cache_root
from mmdistill.errors import ConfigError
from mmdistill.run_lock import RunFolderLock
from mmdistill.words import quantity

log = logging.getLogger(__name__)

KINDS: dict[str, str] = {
    "image": "decoded images of ImageFolder trees and Tiny ImageNet",
    "video": "decoded video clips",
    "video-static": "video-static-dynamic's stage 1 (static memories, kept to continue)",
    "text": "caption embeddings",
    "sequences": "pretrained sequence learners (and a stopped pretraining's finished epochs)",
    "graph": "torch_geometric working folders and downloads",
    "zca": "ZCA whitening fits of image training splits (zca=true)",
}
_GRAPH_ENTRY = re.compile(r"^[0-9a-f]{32}(\.partial-.+)?$|^download$")
#: a kind whose folder is not ``<root>/<kind>``
FOLDERS: dict[str, str] = {"video-static": "video/static"}
#: kinds whose entries are hash-named folders that a running job locks (:class:`~mmdistill.run_lock.RunFolderLock`)
_LOCKED_FOLDER_ENTRY = {"video-static": re.compile(r"^[0-9a-f]{24}$")}
#: what :func:`clear` moves such a folder to before removing it; one a killed clear left is an interrupted write
_REMOVING = re.compile(r"^\.[0-9a-f]{24}\.\d+\.removing$")


@dataclass(frozen=True)
class CacheEntry:
    """One removable entry of a kind's folder: ``path``, its size in bytes (links counted, never followed), its last
    write (``mtime``, seconds since the epoch) and whether it is an interrupted write (a temporary file or folder)."""

    path: Path
    size: int
    mtime: float
    temporary: bool


def _tree_size(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` (links as links) and its newest modification time."""
    st = path.lstat()
    if not path.is_dir() or path.is_symlink():
        return st.st_size, st.st_mtime
    size, newest = 0, st.st_mtime
    for dirpath, dirnames, filenames in os.walk(path):  # never follows links; a linked folder is listed in dirnames
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            try:
                s = os.lstat(full)
            except FileNotFoundError:  # a running write renamed or removed it meanwhile
                continue
            size += s.st_size if name in filenames or os.path.islink(full) else 0
            newest = max(newest, s.st_mtime)
    return size, newest


def entries(kind: str, root: Path | None = None) -> list[CacheEntry]:
    """The entries mmdistill wrote in ``<root>/<kind>`` (root: :func:`cache_root`), sorted by name; anything else in the
    folder is left out (and never removed)."""
    base, rel = root or cache_root(), Path(FOLDERS.get(kind, kind))
    folder = base / rel
    if not folder.is_dir() or any((base / Path(*rel.parts[:n])).is_symlink() for n in range(1, len(rel.parts) + 1)):
        return []  # a kind folder that is, or lies in, a link is another folder's (walk 49A: video -> elsewhere)
    out = []
    for path in sorted(folder.iterdir()):
        name = path.name
        temporary = (name.startswith(".") and name.endswith(".tmp")) or ".partial-" in name or bool(SAFETENSORS_TEMPORARY.match(name))
        if kind == "graph":
            ours = bool(_GRAPH_ENTRY.match(name)) and path.is_dir() and not path.is_symlink()
        elif kind in _LOCKED_FOLDER_ENTRY:
            temporary = bool(_REMOVING.match(name))
            ours = (bool(_LOCKED_FOLDER_ENTRY[kind].match(name)) or temporary) and path.is_dir() and not path.is_symlink()
        elif path.is_symlink():  # a link is not an entry we wrote, whatever its name
            ours = False
        else:  # a temporary is a folder (mmdistill.atomic.atomic_path) or a file (an earlier mmdistill's, safetensors')
            ours = (((name.endswith(".safetensors") and not name.startswith(".")) or temporary) and path.is_file()
                    or name.startswith(".") and name.endswith(".tmp") and path.is_dir())
        if ours:
            try:
                size, mtime = _tree_size(path)
            except FileNotFoundError:  # a running write's temporary, gone meanwhile
                continue
            out.append(CacheEntry(path, size, mtime, temporary))
    return out


def clear(kinds: list[str], older_than_days: float | None = None, root: Path | None = None, now: float | None = None) -> tuple[int, int]:
    """Remove the entries of ``kinds`` (see :func:`entries`) written more than ``older_than_days`` days ago (all when
    None), except temporary ones younger than an hour or still being written; returns (entries removed, bytes freed)."""
    now = time.time() if now is None else now
    removed = freed = 0
    for kind in kinds:
        for entry in entries(kind, root):
            age = now - entry.mtime
            if entry.temporary and (age < RUNNING_GRACE_S or entry.path.is_dir() and write_running(entry.path)):
                continue
            if older_than_days is not None and age < older_than_days * 86400:
                continue
            lock = RunFolderLock(entry.path, "mmdistill cache clear", advice="clear it again once that run is done") \
                if kind in _LOCKED_FOLDER_ENTRY else None
            try:
                target = entry.path
                if lock is not None:
                    lock.acquire()  # a running stage 1 holds it: its folder stays
                    # out of the way first: a stage 1 starting now makes a fresh folder of that name (and takes its lock)
                    # instead of a lock file inside the one being removed ("Directory not empty", and a folder removed
                    # under its new holder)
                    target = entry.path.with_name(f".{entry.path.name}.{os.getpid()}.removing")
                    os.rename(entry.path, target)
                shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            except FileNotFoundError:  # another process removed it first
                continue
            except ConfigError as exc:
                log.info("left %s: %s", entry.path, exc)
                continue
            except OSError as exc:
                raise ConfigError(f"cannot remove {entry.path} from the cache: {exc.strerror or exc}") from None
            finally:
                if lock is not None:
                    lock.release()
            removed, freed = removed + 1, freed + entry.size
    return removed, freed


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``cache`` subcommand on ``sub`` (the ``mmdistill`` parser's subparsers)."""
    p = sub.add_parser("cache", help="list the caches (decoded clips, caption embeddings ...) or clear them",
                       description="Each changed setting leaves a new cache entry beside the old ones; only this command "
                       "removes them. Only entries mmdistill writes are listed or removed; a run's own cache_dir / "
                       "pretrain_cache_dir folders are not looked at.")
    p.add_argument("action", nargs="?", choices=["list", "clear"], default="list", help="list (default) or clear")
    p.add_argument("kinds", nargs="*", metavar="KIND", help=f"with clear: which caches ({', '.join(KINDS)})")
    p.add_argument("--all", action="store_true", help="with clear: every kind")
    p.add_argument("--older-than", type=float, default=None, metavar="DAYS", help="with clear: only entries written "
                   "more than DAYS days ago")


def command_lines(args: argparse.Namespace) -> list[str]:
    """What ``mmdistill cache [list]`` shows (the root and a line per kind), or, for ``clear``, what it removed and
    freed after removing it; the CLI prints them."""
    from mmdistill.card import size_text  # the card's binary units; imported here, not at every command's start

    root = cache_root()
    if args.action == "list":
        if args.kinds or args.all or args.older_than is not None:
            raise ConfigError("mmdistill cache: KIND, --all and --older-than go with clear (mmdistill cache clear video)")
        lines = [f"cache root: {root} ($MMDISTILL_CACHE, else $XDG_CACHE_HOME/mmdistill, else ~/.cache/mmdistill)"]
        total = count = 0
        for kind, what in KINDS.items():
            found = entries(kind, root)
            size = sum(e.size for e in found)
            total, count = total + size, count + len(found)
            newest = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(e.mtime for e in found))) if found else "-"
            temp = sum(e.temporary for e in found)
            lines.append(f"  {kind:<12} {len(found):>5} {'entry' if len(found) == 1 else 'entries':<7} {size_text(size):>10}   "
                         f"newest {newest}   {what}" + (f" ({quantity(temp, 'interrupted write')})" if temp else ""))
        return lines + [f"total {quantity(count, 'entry', 'entries')}, {size_text(total)}; mmdistill cache clear KIND [--older-than DAYS] "
                        "removes them"]
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"mmdistill cache clear: no cache named {', '.join(unknown)}; the caches are {', '.join(KINDS)}")
    if bool(args.kinds) == bool(args.all):
        raise ConfigError(f"mmdistill cache clear: name the caches to clear ({', '.join(KINDS)}) or give --all"
                          + (", not both" if args.all else ""))
    if args.older_than is not None and not args.older_than >= 0:
        raise ConfigError(f"mmdistill cache clear: --older-than is a number of days >= 0, got {args.older_than}")
    removed, freed = clear(list(KINDS) if args.all else args.kinds, args.older_than, root)
    return [f"removed {quantity(removed, 'entry', 'entries')} ({size_text(freed)}) from {root}"]


__all__ = ["KINDS", "CacheEntry", "entries", "clear", "add_parser", "command_lines"]
