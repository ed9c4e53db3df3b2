"""One writer at a time in a run folder: an exclusive advisory lock on ``<folder>/.mmdistill.lock``.

``mmdistill run`` holds it from before it looks at ``--out`` (so ``--overwrite`` never deletes the files of a run
that is still writing them, and two ``--resume`` of one checkpoint cannot both continue it) until it exits;
``mmdistill eval --write`` and ``mmdistill check`` hold it while they rewrite a folder's card and metrics. A second
process is refused at once with the holder's pid and command, never made to wait. The lock is the operating system's
(``fcntl.flock``): a process that is killed releases it with its file descriptors, so a crash never leaves a folder
locked; the file itself is removed by the holder when it lets go. Where ``fcntl`` does not exist (Windows) nothing is
locked and a debug line says so; where the file system refuses ``flock`` itself (Lustre mounted ``noflock``, some
FUSE and cluster file systems: ENOSYS, ENOLCK, EOPNOTSUPP), nothing is locked either and a warning says so once a
folder, never "in use by another process" (walk 49D: every run on such a scratch folder was refused so). A lock path that is a symbolic link (which a run folder received from someone could
hold), or no regular file, is refused, never followed nor written.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from mmdistill.errors import ConfigError

log = logging.getLogger(__name__)

#: the lock file's name inside a run folder
LOCK_FILE = ".mmdistill.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: the folders (and lock names) already warned about as unlockable, so a run's claims warn once each
_unlockable: set[Path] = set()


def _not_locked(path: Path, exc: OSError) -> None:
    """Say once a lock file ``path`` that the file system cannot lock (``exc``: what ``flock`` raised) goes unlocked."""
    if path.parent not in _unlockable:
        _unlockable.add(path.parent)
        log.warning("%s: its file system refuses locks (%s), so it is not locked: nothing stops a second process (a "
                    "requeued job whose first start still runs) writing it at the same time; start one at a time",
                    path.parent, exc.strerror or exc)


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open descriptor ``fd`` is the file at ``path`` now (not one unlinked since it was opened, nor a
    link put in its place: ``path`` itself is looked at, never followed)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _open_lock_file(folder: Path, path: Path) -> int:
    """A read-write descriptor of the lock file ``path`` of ``folder``, created when missing; ConfigError naming it when
    it is a symbolic link (never followed: a run folder received from someone could hold one to any file the user can
    write, which the lock's line would overwrite), not a regular file, or a file with other names (hard links)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if path.is_symlink():
            try:
                target = f" (to {os.readlink(path)})"
            except OSError:  # removed since
                target = ""
            raise ConfigError(f"{path} is a symbolic link{target}, not mmdistill's lock file; a run folder's lock "
                              "file is never followed: remove the link (or choose another folder)") from None
        raise ConfigError(f"{folder}: cannot create its lock file {path.name} ({exc.strerror or exc}); choose a folder you "
                          "can write") from None
    held = os.fstat(fd)
    if not stat.S_ISREG(held.st_mode) or held.st_nlink > 1:  # 0: removed by its holder meanwhile (acquire tries again)
        os.close(fd)
        what = "is not a regular file (a pipe, device or socket)" if not stat.S_ISREG(held.st_mode) else \
            f"is a file with {held.st_nlink} names (hard links)"
        raise ConfigError(f"{path} {what}, not mmdistill's lock file, which the lock would overwrite: remove it (or choose "
                          "another folder)")
    return fd


def _holder_line(fd: int) -> str:
    """The line the holder of the lock file open as ``fd`` wrote (``process 123 (mmdistill run image-dm)``)."""
    return os.pread(fd, 400, 0).decode("utf-8", "replace").strip() or "another process"


class FolderInUse(ConfigError):
    """Another process holds the lock :meth:`RunFolderLock.acquire` asked for; ``holder`` is the line it wrote."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class RunFolderLock:
    """The lock of run folder ``folder`` for this process, taken by ``what`` (``"mmdistill run image-dm"``: the
    command the refusal of another process names). :meth:`acquire` raises :class:`FolderInUse` (a ConfigError) when
    another process holds it; :meth:`release` is idempotent. ``name``: the lock file's name in the folder (another
    name locks something else in it: an expert buffer's claim on one expert)."""

    #: what a refusal tells the user to do (a caller that never waits and never takes another folder says its own)
    ADVICE = "wait for it to finish (or stop it), or choose another folder"

    def __init__(self, folder: Path, what: str, advice: str = ADVICE, name: str = LOCK_FILE) -> None:
        self.folder = Path(folder)
        self.name = name
        self.what = what
        self.advice = advice
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> None:
        """Take the lock (``folder`` must exist); no-op when this object holds it already. ``wait``: when another
        process holds it, wait until it lets go (an INFO line names the holder; Ctrl-C / SIGTERM stop the wait)."""
        if self._fd is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            log.debug("%s: no fcntl on this platform, the run folder is not locked", self.folder)
            return
        path = self.folder / self.name
        for _ in range(10):  # a holder that lets go removes the file: lock the file that is there, not an unlinked one
            fd = _open_lock_file(self.folder, path)  # a link is never followed, a file that is not the lock never written
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_line(fd)
                if not wait:
                    os.close(fd)
                    raise FolderInUse(f"{self.folder} is in use by {holder}" + (f"; {self.advice}" if self.advice else ""),
                                      holder) from None
                log.info("%s: waiting for %s to let go of %s", self.folder, holder, self.name)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
            except OSError as exc:  # no other holder: the file system has no flock
                empty = os.fstat(fd).st_size == 0  # made just now: not left behind
                os.close(fd)
                if empty:
                    path.unlink(missing_ok=True)
                _not_locked(path, exc)
                return
            if _same_file(fd, path):
                self._write_holder(fd, path)
                self._fd = fd
                return
            os.close(fd)  # locked a file its holder had just removed: try the one there now
        raise ConfigError(f"{self.folder}: its lock file {self.name} kept being replaced; is another program removing it?")

    def _write_holder(self, fd: int, path: Path) -> None:
        """Write this process's line into the lock file ``path`` (open as ``fd``, locked). Where the system refuses it
        (a full disk) the file is removed and let go of, and the OSError names it: the folder cannot take a run's
        files either, and a message without a file name ("cannot access: No space left") said nothing of where."""
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} ({self.what})\n".encode("utf-8"), 0)
        except OSError as exc:
            try:
                path.unlink(missing_ok=True)  # still locked: no other holder's file
            except OSError:
                pass
            os.close(fd)
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None

    def release(self) -> None:
        """Let go of the lock and remove its file (while still holding it, so no later holder loses its file)."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.folder / self.name):  # not a new holder's file (its folder removed and made again)
                (self.folder / self.name).unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or vanished folder: the lock goes with the descriptor anyway
        os.close(self._fd)
        self._fd = None


def lock_holder(folder: Path) -> str | None:
    """Who holds ``folder``'s lock now (the line its holder wrote, ``process 123 (mmdistill run image-dm)``), or None
    when nobody does or it cannot be told; nothing is created, taken or followed."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_line(fd)
        except OSError:  # a file system without flock: it cannot be told
            return None
        return None  # taken and let go with the descriptor below
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "FolderInUse", "RunFolderLock", "lock_holder"]
