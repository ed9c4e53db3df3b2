"""Artifacts on disk: atomic writes, the distilled-set directory, checkpoints, the metrics log.

A distilled set is a directory::

    synthetic.safetensors   the tensors (never pickle)
    manifest.json           recipe, modality, method, ipc, seed, config, versions, metrics, timing,
                            and the tensor header used to check the file on load
    metrics.jsonl           one JSON object per logged iteration
    preview.png             the modality's picture of the set

Every file is written to a temporary sibling, flushed, fsynced and renamed into place, so an interrupted
save leaves the previous file (or nothing), never half a file. ``manifest.json`` is written last.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from mmdistill.errors import ArtifactError
from mmdistill.synthetic import SyntheticSet

SYNTHETIC_FILE = "synthetic.safetensors"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
PREVIEW_FILE = "preview.png"
CHECKPOINT_FILE = "checkpoint.safetensors"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~current_umask())  # mkstemp makes 0600; artifacts get the user's umask
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
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


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    return Path(path)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the file is damaged") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def save_tensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Atomically write ``tensors`` (contiguous CPU copies) as safetensors with string ``metadata``."""
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp), metadata=metadata)
    return Path(path)


def load_tensors(path: str | Path) -> dict[str, Tensor]:
    """Read a safetensors file (no code is executed); :class:`ArtifactError` names a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable safetensors file ({exc}); it may be truncated") from exc


def load_tensors_with_metadata(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Like :func:`load_tensors`, also returning the file's string metadata."""
    from safetensors import safe_open

    tensors = load_tensors(path)
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
    return tensors, dict(metadata)


# --------------------------------------------------------------------------- distilled-set directory
def save_synthetic(out_dir: str | Path, syn: SyntheticSet, manifest: dict[str, Any]) -> Path:
    """Write ``synthetic.safetensors`` then ``manifest.json`` (with the tensor header) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_tensors(out_dir / SYNTHETIC_FILE, syn.tensors(), metadata={"format": "mmdistill.synthetic/1"})
    write_json(out_dir / MANIFEST_FILE, {**manifest, "synthetic": syn.header()})
    return out_dir


def load_synthetic(out_dir: str | Path) -> tuple[SyntheticSet, dict[str, Any]]:
    """Load a distilled-set directory without unpickling anything; returns ``(set, manifest)``."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ArtifactError(f"{out_dir} is not a directory holding a distilled set")
    manifest = read_json(out_dir / MANIFEST_FILE)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("synthetic"), dict):
        raise ArtifactError(f"{out_dir / MANIFEST_FILE} has no 'synthetic' section; not an mmdistill set")
    tensors = load_tensors(out_dir / SYNTHETIC_FILE)
    syn = SyntheticSet.from_tensors(tensors, manifest["synthetic"], source=str(out_dir / SYNTHETIC_FILE))
    return syn, manifest


# --------------------------------------------------------------------------- metrics log
class MetricsLog:
    """Append-only JSONL log, one object per line; on resume lines past the checkpoint are dropped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, iteration: int) -> None:
        """Keep only records with ``it < iteration`` (and records without an ``it``)."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if rec.get("it", -1) < iteration:
                kept.append(line)
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(k + "\n" for k in kept))

    def reset(self) -> None:
        if self.path.exists():
            self.path.unlink()

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record, default=_json_default) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
