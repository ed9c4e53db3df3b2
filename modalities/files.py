"""File-tree helpers shared by the adapters' exports: class folder names and an all-or-nothing tree."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mmdistill.errors import DataError


def safe_name(name: str) -> str:
    """``name`` with characters outside ``A-Za-z0-9._ -`` replaced by ``_`` (never empty)."""
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .")
    return cleaned or "class"


def class_folder_names(classes: list[str]) -> list[str]:
    """File-system safe folder names of ``classes``; on a collision (also case-insensitive) every folder
    gets its class index as a prefix (``003_name``)."""
    names = [safe_name(c) for c in classes]
    if len({n.lower() for n in names}) != len(names):
        names = [f"{i:03d}_{n}" for i, n in enumerate(names)]
    return names


@contextmanager
def new_tree(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out_dir`` to fill; on success rename it to ``out_dir``.

    An interrupted export leaves nothing half-written. Raises DataError if ``out_dir`` exists and is not an
    empty directory."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"export target {out_dir} exists and is not a directory; choose another --to")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DataError(f"export target {out_dir} exists and is not empty; choose another --to")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()  # unlike tempfile.mkdtemp this honours the umask, so the export is not left private
    try:
        yield tmp
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["class_folder_names", "new_tree", "safe_name"]
