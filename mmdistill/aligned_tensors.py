"""A safetensors file's tensors read into memory of their own at PyTorch's allocation alignment, each byte read once.

safetensors' ``load_file`` hands out each tensor as a view of a private memory map of the file, at the tensor's offset
there: 8 bytes, the JSON header (padded to 8 bytes) and the tensors before it (safetensors ``lib.rs``, ``Open::new``:
``UntypedStorage.from_file(..., shared=False)``; ``get_tensor``: ``storage[start:stop]``), so a tensor is aligned to
:data:`ALIGNMENT` bytes only where that offset happens to be a multiple of it. A tensor that is not was cloned: its
pages read through the map, then copied, so loading a large set held it twice at the peak (a 197 MB set: see the
commit). :func:`read_aligned` lets safetensors open and check the file (its header, dtypes, shapes and offsets) and
map it, takes the tensors that are aligned in the map as they are, and reads each other tensor's bytes from the file
straight into a tensor of its own (``torch.empty``: :data:`ALIGNMENT`-byte aligned), its mapped pages never touched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO, Callable

import torch
from safetensors import safe_open
from torch import Tensor

from mmdistill.json_text import parse_json

#: PyTorch's CPU allocation alignment in bytes (c10's ``gAlignment``), which :func:`read_aligned` gives every tensor
ALIGNMENT = 64


def _data_offsets(fh: BinaryIO) -> tuple[int, dict[str, tuple[int, int]]]:
    """``(where the data starts in the file, each tensor's [begin, end) byte offsets in the data)`` from the header of
    the safetensors file open as ``fh`` (8 bytes little-endian length ``N``, then ``N`` bytes of JSON), already checked
    by ``safe_open``; read from the start of ``fh``, the unbuffered handle the tensors are then read from (so each
    read is :func:`read_exactly`'s: a raw read may give fewer bytes than asked)."""
    fh.seek(0)
    size = bytearray(8)
    read_exactly(fh, memoryview(size))
    text = bytearray(int.from_bytes(size, "little"))
    read_exactly(fh, memoryview(text))
    header = parse_json(text.decode("utf-8"), unique_keys=False)
    return 8 + len(text), {name: (int(info["data_offsets"][0]), int(info["data_offsets"][1]))
                           for name, info in header.items() if name != "__metadata__"}


def read_exactly(fh: BinaryIO, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``fh`` at its position, one ``readinto`` after another (a raw file or a gzip stream may
    give fewer bytes a call); the number of bytes read (less than ``len(buffer)`` only where the stream ends first)."""
    done = 0
    while done < len(buffer) and (got := fh.readinto(buffer[done:])):  # type: ignore[attr-defined]
        done += got
    return done


def _read_into(fh: BinaryIO, tensor: Tensor, start: int) -> bool:
    """Fill contiguous ``tensor``'s bytes from file ``fh`` at byte ``start``; False where the file ends first."""
    buffer = memoryview(tensor.reshape(-1).view(torch.uint8).numpy())
    fh.seek(start)
    return read_exactly(fh, buffer) == len(buffer)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one file from its replacement: device, inode, size and modification time (ns)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_aligned(path: Path, check: Callable[[Path, dict[str, list[int]]], None] | None = None,
                 metadata: dict[str, str] | None = None) -> dict[str, Tensor]:
    """Every tensor of safetensors file ``path`` at an :data:`ALIGNMENT`-byte aligned address: the mapped view where it
    is aligned, else a tensor of its own filled from the file (a clone of the view where the file's bytes cannot be
    used as they are: a big-endian host, whose views safetensors byte-swaps; a file replaced between safe_open's open and
    the read: the view's bytes are the header's). ``check(path, declared shapes)`` runs on
    the header before any tensor is read (it raises to refuse the file); ``metadata`` gets the file's string metadata,
    from the same open. Raises what ``safe_open`` raises (``SafetensorError``, ``OSError``) for a damaged file."""
    opened = _identity(os.stat(path))  # the file safe_open reads; the unaligned bytes are read from it alone (below)
    with safe_open(str(path), framework="pt") as st:
        if check is not None:  # on the header alone, before any tensor is read (mmdistill.header_metadata's checks)
            check(path, {name: list(st.get_slice(name).get_shape()) for name in st.keys()})
        if metadata is not None:
            metadata.update(st.metadata() or {})
        tensors: dict[str, Tensor] = {name: st.get_tensor(name) for name in st.keys()}  # views: no page read yet
    todo = [name for name, v in tensors.items() if v.data_ptr() % ALIGNMENT]
    if not todo:
        return tensors
    with open(path, "rb", buffering=0) as fh:
        same = _identity(os.fstat(fh.fileno())) == opened  # a file replaced meanwhile: its bytes are not the header's
        start, offsets = _data_offsets(fh) if sys.byteorder == "little" and same else (0, {})
        for name in todo:
            view = tensors[name]
            begin, end = offsets.get(name, (0, -1))
            own = torch.empty(view.shape, dtype=view.dtype)
            if end - begin != view.numel() * view.element_size() or not _read_into(fh, own, start + begin):
                own = view.clone()
            tensors[name] = own
    return tensors


__all__ = ["ALIGNMENT", "read_aligned", "read_exactly"]
