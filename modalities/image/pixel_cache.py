"""The decoded-image cache of the ImageFolder and Tiny ImageNet loaders: every image of a load decoded once into uint8
pixels (N, H, W, C), kept as one safetensors file with the labels, the class names and what the load report says of the
decode (images read otherwise than as stored, Pillow's notes), so the next load of the same files with the same
settings reads them instead of decoding every JPEG again.

An entry is ``<cache_dir>/<dataset>-<key>.safetensors`` (``cache_dir``: ``<cache>/image``, :func:`default_cache_dir`;
``mmdistill cache`` lists and clears the ``image`` kind). The key (:func:`entry_key`) is a SHA-256 of what decides the
pixels: :data:`FORMAT`, the dataset, ``image_size``, ``resize`` and ``channels``, the classes, each file's real path (the folder's links followed), label
and split (the split's result, so ``test_fraction`` and ``split_seed`` of a drawn split are in it) with its size,
modification time, inode and status-change time (ns; the video cache's stamp: a file replaced by ``cp -p`` is decoded
again), and the entries the load did not read (they are in its report). A changed, added or removed file misses.
An entry written replaces the entries of its *slot* (:func:`slot_key`: the same real root read with the same settings,
its split's included) beside it: they hold this folder at an earlier state (a file edited, re-copied, ``chmod``-ed,
added or removed, a zip replaced). A status-change time never returns, and a folder that only grows (images added
each day) never returns to an earlier file set: keeping each state's entry would pile up one full copy per change
(walk 55Q's closing note). Only the newest state of a folder and setting is kept; a file removed and added back is
decoded again. Another folder, ``image_size``, ``resize``, ``channels`` or drawn split (``test_fraction``,
``split_seed``) is another slot: its entry is kept until ``mmdistill cache clear image``.

An entry is trusted only when its metadata names this key and its tensors' SHA-256 matches the one written with them;
a damaged, truncated or foreign entry is decoded again with a warning and replaced. Nothing in an entry is executed
(safetensors and JSON). Before writing, the entry's size is logged and compared with the free space of its folder; an
entry that cannot be written (read-only, full, no cache folder) is a warning: the cache never costs the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mmdistill.buffer import content_digest
from mmdistill.cache_dir import cache_root
from mmdistill.cache_slots import folder_slot, remove_superseded, stat_stamp
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.header_metadata import HeaderCheck
from mmdistill.io import load_tensors_with_metadata, save_tensors
from mmdistill.words import quantity

from .decode import FOLDER_BYTES_PER_VALUE, _check_memory

# these lines log under the loader's module name, as the rest of the image loader does
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

#: the entry's format (a change of the decode, the key or the storage changes every key)
FORMAT = "mmdistill.decoded-images/1"
#: free space kept beside an entry when it is written (bytes)
DISK_MARGIN = 256 * 2**20

#: what a decode gives: uint8 pixels (N, H, W, C), Pillow's notes (kind -> [count, first path, message]) and the images
#: read otherwise than as stored (kind -> [(path, how)])
Decoded = tuple[np.ndarray, dict, dict]


def default_cache_dir() -> Path:
    """``<cache>/image`` (:func:`mmdistill.cache_dir.cache_root`): where decoded images are cached."""
    return cache_root() / "image"


def entry_key(settings: dict[str, Any], classes: list[str], files: list[tuple[Path, int]], n_train: int,
              ignored: list[tuple[Path, str]], stamp: Callable[[Path], str] = stat_stamp) -> str:
    """24 hex digits of a SHA-256 over :data:`FORMAT`, ``settings`` (dataset, image_size, resize, channels), ``classes``,
    each of ``files`` (path, label) with its split (the first ``n_train`` are training files) and ``stamp``, and the
    ``ignored`` entries (path, why) the load report names. The paths are taken as given: absolute and real, as
    :func:`real_paths` gives them (no second pass over every path). ``stamp`` of an archive member: the archive's (:mod:`.tiny`)."""
    head = {"format": FORMAT, "settings": settings, "classes": list(classes)}
    h = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    for index, (path, label) in enumerate(files):  # the real path (:func:`real_paths`): ``pets``, ``/home/me/pets`` and a link to it are one folder
        h.update(f"{'train' if index < n_train else 'test'}|{label}|{path}|{stamp(path)}\n".encode())
    for path, why in ignored:
        h.update(f"ignored|{path}|{why}\n".encode())
    return h.hexdigest()[:24]


def slot_key(settings: dict[str, Any], root: Path) -> str:
    """The entry's *slot* (:func:`mmdistill.cache_slots.folder_slot` of :data:`FORMAT`, ``settings``: dataset,
    image_size, resize, channels, the split's settings, and ``root``): what it is of apart from the folder's state, its
    file list and classes included, so a folder that grows or changes keeps one entry, its newest."""
    return folder_slot(FORMAT, settings, root)


def real_paths(root: Path, files: list[tuple[Path, int]], ignored: list[tuple[Path, str]]) -> tuple[Path, list[tuple[Path, int]],
                                                                                        list[tuple[Path, str]]]:
    """``root``, ``files`` and ``ignored`` with ``root``'s real path (links followed: ``os.path.realpath``, resolved once)
    in place of the way it was spelled (relative, ``.``, through a link), so a folder reached through a symlink keys and
    names the same entry as its real path, as the decoded-clip cache's resolved paths do. A path outside ``root`` is
    resolved alone; a path inside a zip archive keeps its member part (the archive's own link is followed)."""
    spelled, real = os.path.abspath(root), os.path.realpath(root)

    def rebase(path: Path) -> Path:
        full = os.path.abspath(path)
        if full == spelled or full.startswith(spelled.rstrip(os.sep) + os.sep):
            return Path(real + full[len(spelled):])
        return Path(os.path.realpath(full))

    return Path(real), [(rebase(f), label) for f, label in files], [(rebase(f), why) for f, why in ignored]


def cache_file(cache_dir: str | Path | None, dataset: str, root: Path, key: str) -> Path:
    """``<cache_dir>/<dataset>-<root's name>-<key>.safetensors`` (``root`` absolute and real, as :func:`cached_decode`
    gives it: ``.`` and a link are named as the folder); the names only make the folder readable."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{dataset}-{Path(root).name}".lower()).strip("-")[:60] or "images"
    return (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / f"{slug}-{key}.safetensors"


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """The entry's damage check: :func:`mmdistill.buffer.content_digest` of its tensors by name, in sorted order."""
    return content_digest(*[part for name in sorted(tensors) for part in (name, tensors[name])])


def _room_check(check_memory: bool, image_size: list[int] | None) -> HeaderCheck | None:
    """The check :func:`_read` gives :func:`mmdistill.io.load_tensors` (run on the entry's header, in the one open that
    reads it, before any tensor is read): the host-memory check a decode makes at its first image
    (:func:`~.decode._check_memory`, :data:`~.decode.FOLDER_BYTES_PER_VALUE` a value: the uint8 pixels and their float32
    copy) on the (N, H, W, C) shape the header declares for ``pixels``; its DataError reaches the caller. None without
    ``check_memory``; an entry without such pixels is left to :func:`_read`, which says why it is not usable."""
    if not check_memory:
        return None
    cause = "their stored size" if not image_size else \
        f"image_size={image_size[0] if image_size[0] == image_size[1] else tuple(image_size)}"

    def check(path: Path, declared: dict[str, list[int]]) -> None:
        shape = declared.get("pixels")
        if shape is not None and len(shape) == 4:
            n, h, w, c = (int(v) for v in shape)
            _check_memory(n, c, (h, w), f"the {n} cached images of {path}", cause, FOLDER_BYTES_PER_VALUE)
    return check


def _read(path: Path, key: str, labels: list[int], classes: list[str],
          check: HeaderCheck | None = None) -> tuple[Decoded | None, str]:
    """The decode kept in ``path`` and '', or None and why it is not usable (another key, a damaged file, other labels);
    ``check`` (:func:`_room_check`) runs on its header before its tensors are read, and what it raises is raised."""
    try:
        tensors, meta = load_tensors_with_metadata(path, check)
    except ArtifactError as exc:
        return None, str(exc)
    if meta.get("format") != FORMAT or meta.get("key") != key:
        return None, f"it is the entry of other images or another format ({meta.get('format')!r}, key {meta.get('key')!r})"
    if set(tensors) != {"pixels", "labels"} or meta.get("tensors_sha256") != _digest(tensors):
        return None, "its tensors do not match the SHA-256 written with them (a damaged file)"
    pixels, y = tensors["pixels"], tensors["labels"]
    if pixels.dtype != torch.uint8 or pixels.dim() != 4 or len(pixels) != len(labels) or y.tolist() != list(labels):
        return None, f"it holds {str(pixels.dtype).replace('torch.', '')} {list(pixels.shape)} pixels, expected uint8 " \
                     f"({len(labels)}, H, W, C) with this load's labels"
    try:
        if json.loads(meta["classes"]) != list(classes):
            return None, "its class names are not this load's"
        notes = {k: list(v) for k, v in json.loads(meta["notes"]).items()}
        altered = {k: [(Path(p), str(how)) for p, how in v] for k, v in json.loads(meta["altered"]).items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return None, f"its metadata cannot be read ({type(exc).__name__}: {exc})"
    return (pixels.numpy(), notes, altered), ""


def _write(path: Path, key: str, slot: str, decoded: Decoded, labels: list[int], classes: list[str]) -> bool:
    """Write ``decoded`` to ``path`` atomically after saying its size, with its ``key`` (:func:`entry_key`) and ``slot`` (:func:`slot_key`)
    in its metadata; a warning and False when the folder lacks room or refuses it."""
    pixels, notes, altered = decoded
    size = int(pixels.nbytes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        log.warning("decoded-image cache %s cannot be written (%s); the images are used without caching them (cache=false "
                    "(--no-cache) turns the cache off, MMDISTILL_CACHE or cache_dir sets another folder)", path, exc.strerror or exc)
        return False
    if free < size + DISK_MARGIN:
        log.warning("decoded-image cache not written: its %.1f MiB need more than the %.1f MiB free in %s (less %d MiB kept "
                    "free); the images are used without caching them (cache=false (--no-cache) turns the cache off, "
                    "MMDISTILL_CACHE or cache_dir sets another folder)", size / 2**20, free / 2**20, path.parent, DISK_MARGIN // 2**20)
        return False
    log.info("caching %s decoded images (%.1f MiB of uint8 pixels) in %s", f"{len(pixels):,}", size / 2**20, path)
    tensors = {"pixels": torch.from_numpy(pixels), "labels": torch.tensor(labels, dtype=torch.long)}
    meta = {"format": FORMAT, "key": key, "slot": slot, "classes": json.dumps(list(classes)), "notes": json.dumps(notes),
            "altered": json.dumps({k: [(str(p), how) for p, how in v] for k, v in altered.items()}),
            "tensors_sha256": _digest(tensors)}
    try:
        save_tensors(path, tensors, metadata=meta)
    except OSError as exc:
        log.warning("decoded-image cache %s cannot be written (%s); the images are used without caching them", path,
                    exc.strerror or exc)
        return False
    return True


def cached_decode(decode: Callable[[], Decoded], *, dataset: str, root: Path, settings: dict[str, Any], classes: list[str],
                  files: list[tuple[Path, int]], n_train: int, ignored: list[tuple[Path, str]], facts: dict[str, Any],
                  use_cache: bool = True, cache_dir: str | Path | None = None, check_memory: bool = True,
                  stamp: Callable[[Path], str] = stat_stamp) -> Decoded:
    """``decode()`` of ``files`` (path, label; training files first, ``n_train`` of them), or the same pixels, notes and
    altered images read from the cache entry of their key (:func:`entry_key`); a miss decodes and writes the entry.
    ``facts`` (the load report's) gets ``cache``: ``hit <file>``, ``wrote <file>``, or ``not written <file>`` (nothing when the cache is off or has no folder), as the video loader's.
    Once an entry is written, the entries beside it of the same slot (this folder at its earlier states) are
    removed (:func:`mmdistill.cache_slots.remove_superseded`), as the decoded-clip cache's are.
    The run log says which: "decoded N images (cached in ...)" or "read N images from the cache ...". With
    ``check_memory``, a hit is refused, before it is read, where a decode of the same pixels would be (:func:`_room_check`)."""
    if not use_cache:
        return decode()
    labels = [label for _, label in files]
    try:
        root, files, ignored = real_paths(root, files, ignored)  # a link to the folder is the folder: one entry
        key = entry_key(settings, classes, files, n_train, ignored, stamp)
        path = cache_file(cache_dir, dataset, root, key)
        found = path.is_file()
    except ConfigError as exc:  # no cache folder at all (no home, nothing set): decode, as a run without a cache would
        log.warning("decoded images of %s are not cached (%s)", root, exc)
        return decode()
    except OSError as exc:  # a file gone between the scan and its stamp, or a cache folder the system refuses
        log.warning("decoded-image cache not used (%s: %s); decoding the images", type(exc).__name__, exc)
        return decode()
    if found:
        hit, why = _read(path, key, labels, classes, _room_check(check_memory, settings.get("image_size")))
        if hit is not None:
            facts["cache"] = f"hit {path.name}"
            log.info("%s: read %s from the cache %s (not decoded again)", dataset, quantity(len(files), "image"), path)
            return hit
        log.warning("decoded-image cache entry %s is not usable (%s); decoding the images again and replacing it", path, why)
    decoded = decode()
    slot = slot_key(settings, root)
    wrote = _write(path, key, slot, decoded, labels, classes)
    if wrote:  # the entries of this folder at its earlier states (mmdistill.cache_slots)
        remove_superseded(path, slot, "decoded-image cache", log)
    facts["cache"] = f"{'wrote' if wrote else 'not written'} {path.name}"
    log.info("%s: decoded %s%s", dataset, quantity(len(files), "image"), f" (cached in {path})" if wrote else " (not cached)")
    return decoded


__all__ = ["FORMAT", "cache_file", "cached_decode", "default_cache_dir", "entry_key", "real_paths", "slot_key"]
