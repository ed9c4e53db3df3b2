"""The metadata header of a safetensors file, read without its tensors.

Checkpoints, expert shards and run folders keep small JSON records in their safetensors header (``resume_keys``,
``iteration``, an expert's ``header``); the commands that only look at a file (resume checks, ``show``'s progress, a
buffer's setting check) read that header alone, never the tensors, and treat a file they cannot read as unknown
(loading it is what names why). A received file's declared shapes are compared with what it should hold before it is
read (:func:`check_declared_shapes`: a set's tensor file against its manifest; :func:`check_declared_sizes`: a checkpoint
against the run's synthetic set), so a small sparse file declaring gigabytes is refused without allocating them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

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


def read_declared_shapes(path: Path | str) -> dict[str, list[int]] | None:
    """Each tensor's shape as the header of safetensors file ``path`` declares it, or None when the file cannot be read as
    safetensors (loading it is what names why); no tensor is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {name: list(fh.get_slice(name).get_shape()) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError):
        return None


def check_declared_shapes(path: Path, shapes: Any, listed_in: str) -> None:
    """ArtifactError naming ``path`` when its safetensors header declares a tensor that ``shapes`` (name -> list of
    dimensions, as a manifest's ``synthetic.tensors`` lists them, read from ``listed_in``) does not list, or of another
    shape: read from the header alone, before any tensor is allocated (a received file of a few KiB on disk can declare a
    sparse GiB tensor that a 10-sample manifest never lists). Nothing is checked when ``shapes`` is not such a mapping
    (the manifest's own check names that), nor for a file that is not safetensors (loading it names that)."""
    if not isinstance(shapes, dict) or not all(isinstance(v, list) for v in shapes.values()) or (declared := read_declared_shapes(path)) is None:
        return
    if extra := sorted(set(declared) - set(shapes)):
        raise ArtifactError(f"{path} holds tensors the manifest does not list ({id_list([shown(n) for n in extra], 5)}); the file does not "
                            f"belong to {listed_in} (not loaded)")
    for name, shape in declared.items():
        if list(shape) != shapes[name]:
            raise ArtifactError(f"tensor '{shown(name)}' in {path} has shape {list(shape)}, {listed_in} says {shapes[name]} (not loaded)")


def check_declared_sizes(path: Path, largest: int, of: str) -> None:
    """ArtifactError naming ``path`` when its header declares a tensor of more than ``largest`` values (the largest
    tensor of ``of``, e.g. this run's synthetic set: a checkpoint holds that set, its optimizer state of the same shapes
    and scalars), read from the header alone before any tensor is allocated; nothing for a file that is not safetensors."""
    for name, shape in (read_declared_shapes(path) or {}).items():
        if (count := math.prod(shape)) > largest:
            raise ArtifactError(f"tensor '{shown(name)}' in {path} declares shape {shape} ({count} values), more than the {largest} of "
                                f"the largest tensor of {of}: the file is damaged or of another run (not loaded)")
