"""Atomic writes through a private temporary folder, and the sweep of what a killed write left.

:func:`atomic_path` makes the folder ``.<name>.<8 random>.tmp`` (mode 0700) beside the target, yields
``<that folder>/<name>`` to write, and on success fsyncs the file, gives it the user's umask, renames it onto the
target, fsyncs the target's folder and removes the temporary folder; on an exception it removes the folder. Whatever
the writer puts beside its file lands in that folder and goes with it: safetensors (0.5 and later) writes through its
own ``.tmpXXXXXX`` beside the path it is given and renames that onto it, which a kill left in the target's folder.

While a write runs its folder holds an exclusive ``flock``; a sweep (:func:`remove_stale_temporaries`) that can take
the lock knows its writer is gone (killed). Where no lock can be taken (no ``fcntl``, a file system that refuses
it), only age tells: a temporary younger than :data:`RUNNING_GRACE_S` may be a running write and is left.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Collection, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

RUNNING_GRACE_S = 3600.0  # a temporary write younger than this may be a running job's
#: an unlocked temporary folder younger than this may be a write between making its folder and locking it
_SETTLE_S = 5.0
#: a temporary of :func:`atomic_path` (``.<name>.<random>.tmp``: a folder; a file, from an earlier mmdistill)
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
#: safetensors' own temporary file (``.tmp`` and 6 characters), which a write killed before the folder left beside it
SAFETENSORS_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0)


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    """fsync ``directory`` (a rename into it is then on disk); silently nothing where a folder cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _try_lock(folder: Path, wait: bool = False) -> tuple[int | None, bool | None]:
    """``(descriptor holding the folder's exclusive lock, or None; True: taken, False: another process holds it,
    None: it cannot be told)``; a link is never followed. ``wait``: until the lock is free (a writer's own new folder,
    which a sweep may be looking at for a moment), not giving up at once."""
    if fcntl is None:
        return None, None
    try:
        fd = os.open(folder, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None, False
    except OSError:  # a file system without flock (NFS refuses it on a folder)
        os.close(fd)
        return None, None
    return fd, True


#: the operating system's error number in the message of safetensors' failed write: ``(os error 28)`` (0.5 and
#: later), ``Os { code: 28, ...`` (earlier)
_OS_ERROR = re.compile(r"\(os error (\d+)\)|Os \{ code: (\d+)")


def os_error_in(exc: Exception, path: Path) -> OSError | None:
    """The OSError that made safetensors' write of ``path`` fail (a full or read-only disk: safetensors raises its own
    SafetensorError, which names neither the file nor the error number but in words), or None for another failure."""
    found = _OS_ERROR.search(str(exc))
    if found is None:
        return None
    code = int(found.group(1) or found.group(2))
    return OSError(code, os.strerror(code), str(path))


def named_error(exc: OSError, path: Path, inside: Path) -> OSError:
    """``exc`` as it is when it names a file outside ``inside`` (a temporary folder); else the same error naming
    ``path``, the file or folder asked for: a write the system refuses at a flush (a full disk, a read-only one) names
    no file, and the temporary it was made in is gone when the message is read."""
    if exc.filename is not None and not Path(exc.filename).is_relative_to(inside):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


@contextmanager
def refusals_named(path: Path, inside: Path) -> Iterator[None]:
    """Inside the block, an OSError that names no file or one in ``inside`` (the temporary being written) is raised as
    :func:`named_error` gives it, naming ``path``; any other passes as it is."""
    try:
        yield
    except OSError as exc:
        if (named := named_error(exc, path, inside)) is exc:
            raise
        raise named from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a path in a new private temporary folder beside ``path`` (an empty file is there); on success fsync it,
    give it the user's umask and rename it onto ``path``. The folder, and whatever the writer left in it, is removed
    in any case."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:  # named by the file asked for, not by the temporary nobody asked for
        raise OSError(exc.errno, f"{exc.strerror} (creating a temporary folder in {path.parent})", str(path)) from None
    lock, _ = _try_lock(folder, wait=True)  # a sweep holds it only while it looks (a new folder is never stale)
    tmp = folder / path.name
    try:
        with refusals_named(path, folder):
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~current_umask())  # the writer's own temporary may be 0600; artifacts get the user's umask
            os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _newest_mtime(path: Path, st: os.stat_result) -> float:
    """The last write to ``path`` or, for a folder, to anything directly in it (links as links)."""
    newest = st.st_mtime
    if stat.S_ISDIR(st.st_mode):
        try:
            with os.scandir(path) as it:
                for entry in it:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            pass
    return newest


def lock_write_folder(folder: Path) -> int | None:
    """Hold ``folder``'s exclusive lock (a temporary folder being written, as :func:`atomic_path` holds its own) until
    the descriptor returned is closed; None where no lock can be taken."""
    return _try_lock(folder, wait=True)[0]


def write_running(path: Path) -> bool:
    """Whether ``path``, a temporary folder of :func:`atomic_path`, is locked by a write that is still running."""
    fd, taken = _try_lock(path)
    if fd is not None:
        os.close(fd)
    return taken is False


def remove_stale_temporaries(folder: Path, mine: Collection[str], *, others: Callable[[str], bool] | None = None,
                             loose_files: bool = False, held: bool = False, now: float | None = None) -> list[str]:
    """Remove from ``folder`` (its top level; a link is neither followed nor removed) what killed writes left; the
    names removed, logged. With ``held`` (the caller alone writes in ``folder``: it holds the run folder's lock) all
    of these; else never a temporary folder whose write still holds its lock, and of the others those the rule after
    each says:

    * temporaries of the file names in ``mine`` (the caller alone writes these names): a folder whose lock is free
      (its writer was killed), or anything older than :data:`RUNNING_GRACE_S` (a lock cannot be told everywhere);
    * temporaries of names ``others`` accepts, and with ``loose_files`` safetensors' ``.tmpXXXXXX`` files: older than
      :data:`RUNNING_GRACE_S` (another process, on another machine too, where a lock is not seen, may write them)."""
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []:
        m = TEMPORARY.match(entry.name)
        own = bool(m) and m.group("name") in mine
        try:
            st = entry.lstat()
        except FileNotFoundError:
            continue
        is_dir, is_file = stat.S_ISDIR(st.st_mode), stat.S_ISREG(st.st_mode)
        other = bool(m) and others is not None and others(m.group("name"))
        if not (is_dir or is_file) or not (own or other or (loose_files and is_file and SAFETENSORS_TEMPORARY.match(entry.name))):
            continue
        age, fd, taken = now - _newest_mtime(entry, st), None, None
        if not held and is_dir:
            fd, taken = _try_lock(entry)  # kept while the folder is removed
        stale = held or taken is not False and (age >= RUNNING_GRACE_S or own and taken is True and age >= _SETTLE_S)
        try:
            if stale:
                shutil.rmtree(entry) if is_dir else entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("%s: cannot remove the temporary %s a killed write left (%s)", folder, entry.name, exc.strerror or exc)
            continue
        finally:
            if fd is not None:
                os.close(fd)
        if stale:
            removed.append(entry.name)
    if removed:
        log.info("%s: removed %d temporary file(s) or folder(s) killed writes left (%s)", folder, len(removed), ", ".join(removed[:5]))
    return removed


__all__ = ["RUNNING_GRACE_S", "SAFETENSORS_TEMPORARY", "TEMPORARY", "atomic_path", "current_umask", "fsync_dir",
           "lock_write_folder", "named_error", "os_error_in", "refusals_named", "remove_stale_temporaries", "write_running"]
