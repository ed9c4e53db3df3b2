"""Where mmdistill keeps what it can compute again: decoded video clips, caption embeddings, PyG's processed files.

One rule for every cache: ``$MMDISTILL_CACHE`` (``~`` expanded), else ``$XDG_CACHE_HOME/mmdistill``, else
``~/.cache/mmdistill``; an empty variable counts as unset. Each adapter keeps its files in a sub-folder
(``video``, ``text``, ``graph``).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$MMDISTILL_CACHE``, else ``$XDG_CACHE_HOME/mmdistill``, else ``~/.cache/mmdistill`` (an empty variable is
    unset)."""
    if os.environ.get("MMDISTILL_CACHE"):
        return Path(os.environ["MMDISTILL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mmdistill"


__all__ = ["cache_root"]
