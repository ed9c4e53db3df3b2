"""A working folder of ours for dataset classes that write ``processed/`` next to their raw files.

PyG (and OGB) datasets process ``root/**/raw`` into ``root/**/processed`` and load that on later runs. We
never give them the user's folder: :func:`pyg_workdir` mirrors its files (symlinks, or copies where links
are impossible; any ``processed`` folder left out) into ``<cache>/graph/<hash>/`` and runs the class there.
``<cache>`` is ``$MMDISTILL_CACHE``, else ``$XDG_CACHE_HOME/mmdistill``, else ``~/.cache/mmdistill``;
``<hash>`` is a sha256 over the loader's label and every input file's relative path, size and sha256, so a
changed file gets a fresh folder. A first build happens in ``<hash>.partial-*`` and is renamed on success or
removed on failure: no half-built cache and no temporary copy are left behind. Processed files found there
later are loaded under :func:`~modalities.safe_pickle.guarded_loading` (``weights_only=True``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from mmdistill.cache_dir import cache_root
from mmdistill.errors import ConfigError
from mmdistill.io import file_sha256

logger = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset({"processed"})  # PyG's and OGB's caches: never read from the user's folder


def input_files(root: Path) -> list[Path]:
    """Files under ``root`` (relative paths, sorted), following symlinked folders once, without
    ``processed/`` folders."""
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        rel = Path(dirpath).relative_to(root)
        out.extend(rel / f for f in filenames if os.path.isfile(os.path.join(dirpath, f)))
    return sorted(out)


def input_digest(root: Path, label: str, files: list[Path]) -> str:
    """32 hex digits of sha256 over ``label`` and each file's relative path, size and sha256."""
    h = hashlib.sha256(label.encode())
    for rel in files:
        p = root / rel
        h.update(f"\0{rel.as_posix()}\0{p.stat().st_size}\0{file_sha256(p)}".encode())
    return h.hexdigest()[:32]


def _mirror(root: Path, files: list[Path], dst: Path) -> None:
    """Link (or, failing that, copy) each file of ``root`` to the same relative path under ``dst``."""
    for rel in files:
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        src = (root / rel).resolve()
        try:
            os.symlink(src, target)
        except OSError:
            shutil.copy2(src, target)


def is_reused(work: Path) -> bool:
    """Whether ``work``, a folder :func:`pyg_workdir` gave, is a cache entry built by an earlier load (not this one's)."""
    return ".partial-" not in work.name


@contextlib.contextmanager
def pyg_workdir(root: Path, label: str, rebuild: bool = False) -> Iterator[Path]:
    """A folder of ours mirroring ``root`` (see the module docstring) to build a dataset class in; ``rebuild``: the
    existing entry is removed first (its processed files did not load) and built again."""
    files = input_files(root)
    digest = input_digest(root, label, files)
    base = cache_root() / "graph"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the cache folder {base} ({exc}); set MMDISTILL_CACHE to a writable folder") from None
    entry = base / digest
    if entry.is_symlink():  # not a folder built here: mirroring into it would replace the files of the folder it names
        logger.warning("%s: the cache entry %s is a link (to %s), not a folder mmdistill built; the link is removed and the "
                       "entry built again", label, entry, os.readlink(entry))
        entry.unlink()
    if rebuild and entry.is_dir():
        stale = Path(tempfile.mkdtemp(prefix=f"{digest}.stale-", dir=base))
        entry.rename(stale / digest)  # out of the way at once (a link is moved, never followed), then removed
        shutil.rmtree(stale, ignore_errors=True)
    if entry.is_dir():
        logger.info("%s: using the cache %s (inputs of %s unchanged)", label, entry, root)
        _mirror(root, files, entry)
        yield entry
        return
    partial = Path(tempfile.mkdtemp(prefix=f"{digest}.partial-", dir=base))
    try:
        _mirror(root, files, partial)
        logger.info("%s: building the cache %s from %d files of %s", label, entry, len(files), root)
        yield partial
        try:
            partial.rename(entry)
        except OSError:  # another process finished the same entry first
            logger.info("%s: %s appeared meanwhile; keeping it", label, entry)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


__all__ = ["input_digest", "input_files", "is_reused", "pyg_workdir"]
