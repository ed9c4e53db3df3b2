"""The metadata header of a safetensors file, read without its tensors.

Checkpoints, expert shards and run folders keep small JSON records in their safetensors header (``resume_keys``,
``iteration``, an expert's ``header``); the commands that only look at a file (resume checks, ``show``'s progress, a
buffer's setting check) read that header alone, never the tensors, and treat a file they cannot read as unknown
(loading it is what names why). A received file's declared shapes are compared with what it should hold before it is
read (a :data:`HeaderCheck` that :func:`mmdistill.io.load_tensors` runs on the header it opened: :func:`listed_shapes`,
a set's tensor file against its manifest; :func:`values_at_most`, a checkpoint against the run's synthetic set), so a
small sparse file declaring gigabytes is refused without allocating them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from mmdistill.errors import ArtifactError
from mmdistill.words import id_list, shown


def read_header_metadata(path: Path | str) -> dict[str, str] | None:
    """The string-to-string metadata of safetensors file ``path`` (``{}`` when it has none), or None when the file
    is missing, not a file, truncated or not safetensors; no tensor is read and nothing is unpickled."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return None


#: a check of a safetensors file's header made before any of its tensors is read (:func:`mmdistill.io.load_tensors`'s
#: ``check``): called with the file's path and each tensor's declared shape (name -> dimensions); an ArtifactError refuses it
HeaderCheck = Callable[[Path, dict[str, list[int]]], None]


def listed_shapes(shapes: Any, listed_in: str) -> HeaderCheck | None:
    """The check refusing a file whose header declares a tensor that ``shapes`` (name -> list of dimensions, as a
    manifest's ``synthetic.tensors`` lists them, read from ``listed_in``) does not list, or of another shape (a received
    file of a few KiB on disk can declare a sparse GiB tensor that a 10-sample manifest never lists); None when ``shapes``
    is not such a mapping (the manifest's own check names that)."""
    if not isinstance(shapes, dict) or not all(isinstance(v, list) for v in shapes.values()):
        return None

    def check(path: Path, declared: dict[str, list[int]]) -> None:
        if extra := sorted(set(declared) - set(shapes)):
            raise ArtifactError(f"{path} holds tensors the manifest does not list ({id_list([shown(n) for n in extra], 5)}); the file does not "
                                f"belong to {listed_in} (not loaded)")
        for name, shape in declared.items():
            if shape != shapes[name]:
                raise ArtifactError(f"tensor '{shown(name)}' in {path} has shape {shape}, {listed_in} says {shapes[name]} (not loaded)")
    return check


def values_at_most(largest: int, of: str) -> HeaderCheck:
    """The check refusing a file whose header declares a tensor of more than ``largest`` values (the largest tensor of
    ``of``, e.g. this run's synthetic set: a checkpoint holds that set, its optimizer state of the same shapes and scalars)."""
    def check(path: Path, declared: dict[str, list[int]]) -> None:
        for name, shape in declared.items():
            if (count := math.prod(shape)) > largest:
                raise ArtifactError(f"tensor '{shown(name)}' in {path} declares shape {shape} ({count} values), more than the {largest} of "
                                    f"the largest tensor of {of}: the file is damaged or of another run (not loaded)")
    return check
