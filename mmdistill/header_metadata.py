"""The metadata header of a safetensors file, read without its tensors.

Checkpoints, expert shards and run folders keep small JSON records in their safetensors header (``resume_keys``,
``iteration``, an expert's ``header``); the commands that only look at a file (resume checks, ``show``'s progress, a
buffer's setting check) read that header alone, never the tensors, and treat a file they cannot read as unknown
(loading it is what names why).
"""

from __future__ import annotations

from pathlib import Path


def read_header_metadata(path: Path | str) -> dict[str, str] | None:
    """The string-to-string metadata of safetensors file ``path`` (``{}`` when it has none), or None when the file
    is missing, not a file, truncated or not safetensors; no tensor is read and nothing is unpickled."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return None
