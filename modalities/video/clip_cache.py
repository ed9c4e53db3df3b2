"""The decoded-clip cache of the video loader: one uint8 safetensors file per load, keyed by the layout's classes,
the clips' files and their state (:func:`_fingerprint`) and the decode settings; read (:func:`_read_cache`, checked
against the layout), written atomically (:func:`_write_cache`); the loader then removes the entries it supersedes
(:func:`mmdistill.cache_slots.remove_superseded`). A cache that cannot be read or written is a warning, never the run's
end."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.cache_dir import cache_root
from mmdistill.cache_slots import folder_slot, stat_stamp
from mmdistill.io import atomic_path, load_tensors_with_metadata

from .decode import FrameSampling, _why
from .layout import Item
from .report import REPORT_KINDS, LoadReport

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")


CACHE_VERSION = 8  # 2: the Pillow fallback for sizes decord cannot scale to, ``ignored`` in the report, every class kept;
# 3: a val split beside test and clips a split file does not list are ``unused`` (never a strict error), not ``ignored``;
# 4: frames in natural order, one image sequence per clip folder, 16-bit frames scaled to 8 bits;
# 5: the random offset seeded by the clip's path under the data root (offset_key), GIFs read, hidden entries named;
# 6: a GIF frame shown k times as long as the shortest read as k frames (_gif_repeats)
# 7: frame images not stored as RGB counted in the report (converted_rgb; a cached report lacked it)
# 8: frame images turned upright by their EXIF orientation tag (exif_rotated); a clip folder holding a frame twice
# (frame_1.png and frame_01.png) refused (a cached clip read it twice)


def offset_key(path: Path, base: Path) -> str:
    """What seeds a clip's random frame offset: its path relative to the data root's folder ``base`` (POSIX, links
    not resolved), so the same folder gives the same frames wherever it lies and however ``data_root`` is spelled
    (relative or absolute); a split file's clip outside the folder as ``../...``."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()


def _clip_stamp(path: Path) -> str:
    """What the cache key takes of one clip: a video file's size, modification time, inode and status-change time
    (ns; the last two no copy tool sets back, so a file replaced by ``cp -p``/``rsync -a`` with the old size and time is
    decoded again); for a folder of frame images, the same of each entry in it (one ``stat`` each, nothing read), so
    frames replaced under the same names, which leave the folder's own time as it was, are decoded again."""
    if not path.is_dir():
        return stat_stamp(path.stat())
    with os.scandir(path) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        stats = [(e.name, e.stat()) for e in entries]
    return ";".join(f"{name}|{stat_stamp(s)}" for name, s in stats)


def _fingerprint(items: list[Item], sampling: FrameSampling, kind: str, ignored: list[tuple[str, str]] = (),
                 classes: list[str] = ()) -> str:
    """The decoded-clip cache key: the decode settings, every class of the layout (an empty class folder too: a hit
    must not skip its refusal), each clip's path, class, split and :func:`_clip_stamp`, and what the load named as not
    used. The entry's slot is :func:`_slot`'s."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "sampling": sampling.settings(), "version": CACHE_VERSION, "classes": list(classes)},
                        sort_keys=True).encode())
    for it in items:
        h.update(f"{it.path.resolve()}|{it.label}|{it.split}|{_clip_stamp(it.path)}\n".encode())
    for path, _ in ignored:
        h.update(f"ignored|{path}\n".encode())
    return h.hexdigest()[:24]


def _slot(root: str | Path, sampling: FrameSampling, kind: str, split: dict[str, Any]) -> str:
    """The entry's slot (:func:`mmdistill.cache_slots.folder_slot`): the data root's real path (a CSV given as the root:
    its own), ``kind``, the decode settings, :data:`CACHE_VERSION` and ``split``, the settings that decide the split
    (the loader's). Not its clips nor their state: writing an entry removes the entries of the same folder read the
    same way at an earlier state (clips re-copied, ``chmod``-ed, edited, added or removed), which can never be hit again
    (:func:`mmdistill.cache_slots.remove_superseded`); another split or setting is another slot. An entry written before
    this slot (which hashed every clip's path) is still hit; once its folder changes it is left beside the new one
    until ``mmdistill cache clear video``."""
    return folder_slot("mmdistill.decoded-clips", {"kind": kind, "sampling": sampling.settings(), "version": CACHE_VERSION,
                                                   "split": split}, root)


def default_cache_dir() -> Path:
    """``<cache>/video`` (:func:`mmdistill.cache_dir.cache_root`): where decoded clips are cached."""
    return cache_root() / "video"


def _cached_content_error(tensors: dict[str, Tensor], classes: Any, sampling: FrameSampling, layout_classes: list[str],
                          room: dict[str, int]) -> str:
    """Why the tensors of a cache entry whose name matched are not clips of this layout, or "": the name is the key, the
    content another's (a shared or damaged cache). Each split's clips must be uint8 (N, 3, num_frames, H, W) (H = W =
    frame_size when set), at most as many as the layout lists, with as many labels in [0, classes), and the entry's
    classes the layout's (walk 49A: swapped names swapped every label; a label past them was an IndexError)."""
    if classes != layout_classes:
        return f"its classes {str(classes)[:120]} are not this layout's {str(layout_classes)[:120]}"
    side = sampling.frame_size
    for split in ("train", "test"):
        x, y = tensors[f"x_{split}"], tensors[f"y_{split}"]
        if x.dtype != torch.uint8 or x.dim() != 5 or x.shape[1] != 3 or x.shape[2] != sampling.num_frames or (
                side is not None and tuple(x.shape[3:]) != (side, side)) or x.shape[0] > room[split]:
            return (f"x_{split} is {str(x.dtype).replace('torch.', '')} {list(x.shape)}, expected uint8 [at most {room[split]} clips, 3, {sampling.num_frames}, "
                    f"{side or 'H'}, {side or 'W'}]")
        if y.dtype != torch.long or y.dim() != 1 or len(y) != len(x) or (len(y) and not 0 <= int(y.min()) <= int(y.max()) < len(classes)):
            return f"y_{split} is not {len(x)} int64 labels in [0, {len(classes)})"
    return ""


def _read_cache(cache_path: Path, sampling: FrameSampling, report: LoadReport, classes: list[str],
                room: dict[str, int]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """The cached tensors and metadata, or None (with a warning) when the file cannot be read, is not a cache of
    this loader, was written with other decode settings or holds other clips than the layout's (``classes``; ``room``:
    clips listed per split): the clips are then decoded again and the file replaced."""
    try:  # one open for the tensors and the metadata, each tensor in aligned memory of its own (mmdistill.io)
        tensors, meta = load_tensors_with_metadata(cache_path)
        saved = json.loads(meta["report"])
        info = {"classes": json.loads(meta["classes"]), "native_sizes": json.loads(meta["native_sizes"]),
                "sampling": json.loads(meta["sampling"]), "frame_rates": json.loads(meta.get("frame_rates", "{}"))}
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(tensors)
        if missing:
            raise ValueError(f"no tensor(s) {sorted(missing)}")
        if any(t.dtype != torch.uint8 for k, t in tensors.items() if k.startswith("x_")) or tensors["x_train"].dim() != 5:
            raise ValueError("the clips are not uint8 (N, C, T, H, W)")
        if info["sampling"] != json.loads(json.dumps(sampling.settings())):
            raise ValueError(f"written with other decode settings ({info['sampling']})")
        if why := _cached_content_error(tensors, info["classes"], sampling, classes, room):
            raise ValueError(why)
        entries = {k: [(str(p), str(r)) for p, r in saved.get(k, [])] for k in REPORT_KINDS}
    except Exception as exc:  # noqa: BLE001 - a damaged cache costs a decode, never the run
        log.warning("decoded-clip cache %s cannot be used (%s: %s); decoding the clips again and replacing it",
                    cache_path, type(exc).__name__, _why(exc))
        return None
    report.entries.update(entries)  # what the load that wrote the cache found (``ignored`` too)
    return tensors, info


def _cache_exists(cache_path: Path) -> bool:
    """Whether the cache file is there; a location the system will not even look into is a warning (the clips are
    decoded), never the run's end."""
    try:
        return cache_path.exists()
    except OSError as exc:
        log.warning("decoded-clip cache %s cannot be read (%s); decoding the clips", cache_path, _os_why(cache_path.parent, exc))
        return False


def _os_why(folder: Path, exc: BaseException) -> str:
    """Why the cache ``folder`` cannot be used, in words: a file standing where it or a folder above it should be
    (``File exists`` and ``Not a directory`` say so badly), else the system's reason."""
    for p in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            if p.exists():
                if not p.is_dir():
                    return f"{p} is a file, not a folder"
                break
    reason = getattr(exc, "strerror", None) or _why(exc)
    return f"{type(exc).__name__}: {reason}"


def _write_cache(cache_path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> bool:
    """Atomically (:func:`mmdistill.io.atomic_path`: a private temporary folder beside the cache, which takes
    safetensors' own temporary file too, then renamed over it). A cache that cannot be written is a warning naming it
    and why (the clips are decoded; the cache only saves the next load's decoding), and False."""
    from safetensors.torch import save_file

    try:
        with atomic_path(cache_path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except Exception as exc:  # noqa: BLE001 - OSError, or safetensors' own error for a file it cannot create
        log.warning("decoded-clip cache %s cannot be written (%s); the clips are used without caching them (cache_dir "
                    "(--cache-dir) sets a writable folder, cache=False (--no-cache) turns the cache off)",
                    cache_path, _os_why(cache_path.parent, exc))
        return False
    log.info("decoded clips cached in %s", cache_path)
    return True


__all__ = ["CACHE_VERSION", "default_cache_dir", "offset_key"]
