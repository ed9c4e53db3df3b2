"""Artifacts on disk: atomic writes, the distilled-set directory, checkpoints, the metrics log.

A distilled set is a directory::

    synthetic.safetensors   the tensors (never pickle)
    manifest.json           recipe, modality, method, ipc, seed, config, versions, metrics, timing,
                            and the tensor header and sha256 used to check the file on load
    metrics.jsonl           one JSON object per logged iteration
    preview.png             the modality's picture of the set

Every file is written in a private temporary folder beside it, fsynced and renamed into place
(:func:`mmdistill.atomic.atomic_path`), so an interrupted save leaves the previous file (or nothing), never half a file. ``manifest.json`` is written last.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import Tensor

from mmdistill.atomic import atomic_path, current_umask  # noqa: F401 - re-exported: callers import them from here
from mmdistill.atomic import lock_write_folder, os_error_in, refusals_named, remove_stale_temporaries
from mmdistill.aligned_tensors import ALIGNMENT, read_aligned  # noqa: F401 - ALIGNMENT re-exported
from mmdistill.errors import ArtifactError, ConfigError, DataError, MmdistillError
from mmdistill.header_metadata import HeaderCheck, listed_shapes
from mmdistill.integrity import (EXPORT_RECORD, EXPORT_RECORD_FORMAT, EXPORT_SET_DIR, FIELDS_KEY, SET_DIGEST_KEY, check_class_names, check_label_column,
                                 class_names, field_digests, file_sha256, verify_set_fields, verify_tensor_digest)
from mmdistill.json_text import json_file_text, parse_json
from mmdistill.memory import host_shortfall
from mmdistill.synthetic import SyntheticSet
from mmdistill.manifest_check import check_manifest, with_clean_class_names
from mmdistill.words import cleaned_names, id_list, shown

SYNTHETIC_FILE = "synthetic.safetensors"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
PREVIEW_FILE = "preview.png"
CHECKPOINT_FILE = "checkpoint.safetensors"
STATUS_FILE = "status.json"  #: the run's state while it runs and after it ended (mmdistill.run_status)
#: a run's own record beside its set, kept out of the manifest's written files and removed by name with the run
RUN_RECORD = (MANIFEST_FILE, CHECKPOINT_FILE, METRICS_FILE, STATUS_FILE)

log = logging.getLogger(__name__)


def require_writable(*folders: str | Path, why: str, room: int = 0) -> None:
    """ConfigError naming the first of ``folders`` in which this process cannot create a file (probed: a read-only
    mount stops root too) or, with ``room``, cannot set aside that many bytes (a nearly full disk, a quota), and ``why``
    it is needed; called before the work whose result would be lost."""
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            fd, probe = tempfile.mkstemp(prefix=".mmdistill-write-test.", dir=folder)
            try:
                if room > 0 and hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, room)  # the blocks themselves, not a sparse length
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            size = f": {room / 1024:.0f} KiB are needed" if room > 0 and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
            raise ConfigError(f"{folder} cannot be written ({exc.strerror or exc}{size}); {why}") from None


def nearest_existing(path: Path) -> Path | None:
    """``path`` or its nearest ancestor that exists (None: none does): what decides whether a folder can be made
    there (a file on the way stops it)."""
    return next((p for p in [path, *path.parents] if p.exists()), None)


def check_export_target(out_dir: str | Path) -> None:
    """ConfigError (key ``to``) naming ``out_dir`` when it is a symbolic link (to a folder or dangling: the export is
    renamed into place, which a link cannot take), a file, or a folder that is not empty (an export is a new folder:
    nothing of another is replaced or mixed in); checked before anything is built."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise ConfigError(f"export target {out_dir} is a symbolic link (to {os.readlink(out_dir)}); an export is a new folder: "
                          "choose another --to (out= from Python), or pass the folder the link points to", key="to")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"export target {out_dir} exists and is not a directory; choose another --to (out= from Python)", key="to")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"export target {out_dir} exists and is not empty; choose another --to (out= from Python)", key="to")


@contextmanager
def new_tree(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out_dir`` to fill; on success rename it to ``out_dir``.

    An interrupted export leaves nothing half-written; the temporary ``.<name>.<8 random>.tmp`` is locked while it is
    filled, and one a killed export left (its lock free) is removed by the next export to ``out_dir``. Raises
    ConfigError (key ``to``: the command's argument, as a run's --out that holds other files is) if ``out_dir`` exists
    and is not an empty directory, or is a symbolic link."""
    out_dir = Path(out_dir)
    check_export_target(out_dir)
    above = nearest_existing(out_dir.parent)
    if above is not None and not above.is_dir():  # "cannot access x: File exists" said nothing useful
        raise ConfigError(f"export target {out_dir} lies under the file {above}; choose another --to (out= from Python)", key="to")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir.parent, {out_dir.name})  # a killed export's; never a running one's (locked)
    tmp = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.mkdir()  # unlike tempfile.mkdtemp this honours the umask, so the export is not left private
    except OSError as exc:  # named by the folder asked for, not by the temporary sibling nobody asked for
        raise OSError(exc.errno, f"{exc.strerror} (creating a folder in {out_dir.parent})", str(out_dir)) from None
    lock = lock_write_folder(tmp)
    try:
        with refusals_named(out_dir, tmp):  # a full disk's refusal at a flush names no file: the export asked for is named
            yield tmp
            if out_dir.is_dir() and not out_dir.is_symlink():
                out_dir.rmdir()  # empty (checked above)
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def decode_utf8(raw: bytes, where: str | Path) -> str:
    """The UTF-8 text of ``raw`` (the bytes of a user's data file; a byte-order mark, as spreadsheets write it, is
    dropped); a :class:`DataError` names ``where`` and the line of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{where}: line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "save the file as UTF-8") from None


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON; a NaN or infinite float as Python's ``json`` writes it (``NaN``, which
    :func:`read_json` reads back as a number; as ``null`` every reader of a metric would have to expect None)."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def _require_file(path: Path) -> None:
    """ArtifactError naming ``path`` unless it is a regular file (or a link to one)."""
    if path.is_file():
        return
    if path.exists():
        raise ArtifactError(f"{path} is not a regular file (a folder, device or pipe); expected a file written by mmdistill")
    if path.is_symlink():
        raise ArtifactError(f"{path} is a symbolic link (to {os.readlink(path)}) that leads to no file (dangling, or a loop); "
                            "expected a file written by mmdistill")
    raise ArtifactError(f"{path} does not exist")


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; :class:`ArtifactError` names a missing file, or one that is not UTF-8 JSON."""
    path = Path(path)
    _require_file(path)
    try:
        return parse_json(json_file_text(path))
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); expected JSON, the file is damaged") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the file is damaged") from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def save_tensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Atomically write ``tensors`` (contiguous CPU copies) as safetensors with string ``metadata``; a write the
    system refuses (no space left, a read-only file system) is an OSError naming ``path``, as any other file's."""
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    try:
        with atomic_path(path) as tmp:
            save_file(clean, str(tmp), metadata=metadata)
    except SafetensorError as exc:
        if (os_error := os_error_in(exc, Path(path))) is None:
            raise
        raise os_error from None
    return Path(path)


def load_tensors(path: str | Path, check: HeaderCheck | None = None, metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
    """Read a safetensors file (no code is executed); :class:`ArtifactError` names a missing or damaged file. ``check`` is
    run on the header's declared shapes before any tensor is read (:mod:`mmdistill.header_metadata`), and what it raises
    of the project's errors (:class:`~mmdistill.errors.MmdistillError`: a cache's memory check's DataError too) reaches the
    caller as it is; ``metadata``, when given, receives the file's string metadata (one open of the file for all three).

    Each tensor is returned in memory of its own at PyTorch's allocation alignment (:data:`ALIGNMENT` bytes):
    safetensors hands out tensors at their offsets in the file (8-byte aligned), and some CPUs' BLAS kernels round
    differently on such operands, so a set decoded after loading could differ in the last bit from the same set
    decoded in memory (seen on an AMD EPYC host: a GCond adjacency 6e-8 off). A tensor that is not aligned in the file is
    read from it into its own memory, never through the map then copied (:func:`mmdistill.aligned_tensors.read_aligned`),
    so loading takes the set's size once."""
    path = Path(path)
    _require_file(path)
    if available := host_shortfall(size := path.stat().st_size):  # a sparse file of a few KiB on disk can claim 100 GiB
        raise ArtifactError(f"{path} holds {size / 2**30:.1f} GiB of tensors, more than the {available / 2**30:.1f} GiB of memory "
                            "available here: it is not loaded (a set that large needs a larger machine; a small download that "
                            "claims it is a damaged or hostile file)")
    try:
        tensors = read_aligned(path, check, metadata)
    except MmdistillError:  # the check's own refusal, whatever its kind (ArtifactError, a cache's DataError or ConfigError)
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable safetensors file ({exc}); it may be truncated") from exc
    except MemoryError:  # the header's tensors do not fit in this process's address space (ulimit -v)
        raise ArtifactError(f"{path}: its {size / 2**30:.1f} GiB of tensors do not fit in this process's memory") from None
    return tensors


def load_tensors_with_metadata(path: str | Path, check: HeaderCheck | None = None) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Like :func:`load_tensors`, also returning the file's string metadata."""
    metadata: dict[str, str] = {}
    return load_tensors(path, check, metadata), metadata


# --------------------------------------------------------------------------- distilled-set directory
def _written_classes(header: dict[str, Any]) -> dict[str, Any]:
    """``header`` with its class names (``meta.classes``) as a saved set holds them: :func:`mmdistill.words.clean_name`
    of each (a class folder's name may hold a control or bidi-reordering character, which the reader
    replaces: :func:`mmdistill.manifest_check.with_clean_class_names`), a replacement logged with both spellings escaped. A guard: data an
    adapter loads is cleaned at load (:func:`mmdistill.data.clean_class_names`); a set built in user code may not be."""
    classes = header["meta"].get("classes")
    cleaned, changes = cleaned_names(classes) if isinstance(classes, list) else (classes, [])
    if not changes:
        return header
    changed = [f"{shown(a)} -> {shown(b)}" for _, a, b in changes]
    log.warning("%s class name(s) hold control or bidi-reordering characters; the set records them with each replaced by '_': %s",
                len(changed), id_list(changed, 5))
    return {**header, "meta": {**header["meta"], "classes": cleaned}}


def save_synthetic(out_dir: str | Path, syn: SyntheticSet, manifest: dict[str, Any]) -> Path:
    """Write ``synthetic.safetensors`` then ``manifest.json`` (with the tensor header and the tensor file's sha256, also
    set in ``manifest``: :func:`load_synthetic` checks it) into ``out_dir``. A manifest there is removed first: a kill
    before the new one is written leaves an unfinished run, never an old manifest over new tensors."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    manifest[SET_DIGEST_KEY] = file_sha256(save_tensors(out_dir / SYNTHETIC_FILE, syn.tensors() | syn.fixed_tensors(), metadata={"format": "mmdistill.synthetic/1"}))
    write_json(out_dir / MANIFEST_FILE, {**manifest, "synthetic": _written_classes(syn.header())})
    return out_dir


def load_synthetic(out_dir: str | Path) -> tuple[SyntheticSet, dict[str, Any]]:
    """Load a distilled-set directory without unpickling anything; returns ``(set, manifest)``. Its tensor file is checked
    against the sha256 the manifest records, an export's files against its record (:mod:`mmdistill.integrity`)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ArtifactError(f"{out_dir} is not a directory holding a distilled set")
    written = check_manifest(read_json(out_dir / MANIFEST_FILE), out_dir / MANIFEST_FILE)
    manifest = with_clean_class_names(written, out_dir / MANIFEST_FILE)  # a set saved before names were cleaned: read, not refused
    tensors = load_tensors(out_dir / SYNTHETIC_FILE, listed_shapes(manifest["synthetic"].get("tensors"), f"{out_dir / MANIFEST_FILE}"))
    syn = SyntheticSet.from_tensors(tensors, manifest["synthetic"], source=str(out_dir / SYNTHETIC_FILE),
                                    header_source=f"{out_dir / MANIFEST_FILE} (section 'synthetic')")
    check_class_names(syn.meta, out_dir / MANIFEST_FILE)
    verify_tensor_digest(out_dir / SYNTHETIC_FILE, manifest, out_dir / MANIFEST_FILE)
    verify_export_files(out_dir, written)  # its record holds digests of the fields as written
    return syn, manifest


# --------------------------------------------------------------------------- the data files of an export
def record_export_files(root: Path, set_folder: Path, skip: tuple[str, ...] = ()) -> Path:
    """Write :data:`EXPORT_RECORD` into ``set_folder``: the size and sha256 of every file under ``root`` (an export being
    built) outside ``set_folder``, but the names in ``skip`` (the card, which ``eval --write`` rewrites), and of the
    set's tensor file in ``set_folder`` (what ``load`` reads; its manifest is rewritten by ``eval --write``), and the digest of
    each field of the manifest's ``synthetic`` section (classes, normalisation ...: ``eval --write`` never changes them)."""
    files = {p.relative_to(root).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in sorted(root.rglob("*"))
             if p.is_file() and (set_folder not in p.parents or p == set_folder / SYNTHETIC_FILE)
             and p.relative_to(root).as_posix() not in skip}
    fields = field_digests(read_json(set_folder / MANIFEST_FILE)["synthetic"])
    return write_json(set_folder / EXPORT_RECORD, {"format": EXPORT_RECORD_FORMAT, "files": files, FIELDS_KEY: fields})


_UNVERIFIED: set[Path] = set()


def verify_export_files(set_folder: Path, manifest: dict[str, Any] | None = None) -> None:
    """ArtifactError naming the first data file of the export around ``set_folder`` that differs (size, then sha256)
    from :func:`record_export_files`' record: its Hugging Face data no longer is the set in ``set_folder``. Files the
    record lists that are gone (a copy of the parquet file and ``mmdistill/`` alone) are named in one warning: the set
    itself is intact. An export without the record (an earlier mmdistill's) is read as it is, with one warning. This
    detects data edited or damaged after the export, not a forgery: whoever edits the data can rewrite the record. Then
    the ``manifest``'s class names are compared with the export's ``label`` ClassLabel, and its ``synthetic`` fields with
    the record's digests of them (:mod:`mmdistill.integrity`)."""
    record_path, root = set_folder / EXPORT_RECORD, set_folder.parent
    record = read_json(record_path) if record_path.exists() or record_path.is_symlink() else None
    if record is None and set_folder.name == EXPORT_SET_DIR and (root / "dataset_info.json").is_file() and set_folder.resolve() not in _UNVERIFIED:
        _UNVERIFIED.add(set_folder.resolve())
        log.warning("%s was exported by an earlier mmdistill that recorded no digests of its data files (%s): its Hugging Face "
                    "data cannot be checked against the set in %s; export the set again to have it checked", root, EXPORT_RECORD, set_folder)
    files = record.get("files") if isinstance(record, dict) else {} if record is None else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
                                              and not Path(k).is_absolute() and ".." not in Path(k).parts for k, v in files.items()):
        raise ArtifactError(f"{record_path} does not map each data file of the export to its size and sha256; the record is damaged")
    missing = []
    for name, want in files.items():
        path = root / name
        if not path.is_file():
            missing.append(name)
            continue
        if path.stat().st_size != want["size"]:
            problem = f"has {path.stat().st_size} bytes, {want['size']} when it was exported"
        elif file_sha256(path) != want["sha256"]:
            problem = "has other contents (sha256) than when it was exported"
        else:
            continue
        raise ArtifactError(f"{path} {problem}: the Hugging Face data no longer is the set in {set_folder} (edited or damaged "
                            "after the export); export the set again, or use the set in that folder")
    if missing and set_folder.resolve() not in _UNVERIFIED:
        _UNVERIFIED.add(set_folder.resolve())
        log.warning("%s: %d data file(s) the export wrote are not here (%s): the set in %s is read as it is, and those files "
                    "cannot be checked", root, len(missing), ", ".join(missing[:5]), set_folder)
    if manifest is not None and set_folder.name == EXPORT_SET_DIR:  # after the files: dataset_info.json is as it was exported
        check_label_column(root, class_names(manifest["synthetic"].get("meta") or {}, manifest["synthetic"]["num_classes"]), set_folder / MANIFEST_FILE)
    if manifest is not None and isinstance(record, dict):
        verify_set_fields(record, manifest, set_folder / MANIFEST_FILE, record_path)


# --------------------------------------------------------------------------- metrics log
class MetricsLog:
    """Append-only JSONL log, one object per line; on resume lines past the checkpoint are dropped. Written in place, so
    a log that is a symbolic link or no regular file is refused (ArtifactError naming it), never followed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _present(self) -> bool:
        """Whether the log exists; ArtifactError naming it when it is a link (a received run folder may hold one to any file)."""
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise ArtifactError(f"{self.path} is {'a symbolic link' if self.path.is_symlink() else 'not a regular file'}; a run writes "
                                "its metrics log in place, never through a link: remove it (or choose another --out)")
        return self.path.exists()

    def check(self) -> None:
        """ArtifactError naming the log when it is a symbolic link or no regular file: called before work (an ``eval
        --write``, a ``check``) that ends by reading it for the card, so a received folder's link is refused first."""
        self._present()

    def _records(self) -> Iterator[tuple[str, Any]]:
        """``(line, value)`` for each line of the log that is JSON (a line cut by a kill is not)."""
        for line in self.path.read_text(encoding="utf-8").splitlines() if self._present() else []:
            try:
                yield line, parse_json(line)
            except json.JSONDecodeError:
                continue

    def truncate_after(self, iteration: int) -> None:
        """Keep only records with ``it < iteration`` (and records without an ``it``; not a value that is no object, or
        whose ``it`` is no number: no record of a run)."""
        if not self._present():
            return
        kept = [line for line, rec in self._records()
                if isinstance(it := rec.get("it", -1) if isinstance(rec, dict) else None, (int, float)) and it < iteration]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)  # a link is removed, not followed

    def append(self, record: dict[str, Any]) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)  # a link put there meanwhile: ELOOP
        # a full disk's refusal at the flush names no file: refusals_named names the log
        with refusals_named(self.path, self.path), os.fdopen(os.open(self.path, flags, 0o666), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_json_default) + "\n")

    def read(self) -> list[dict[str, Any]]:
        return [rec for _, rec in self._records()]
