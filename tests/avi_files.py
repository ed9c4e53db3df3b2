"""Small AVI files for the loader tests, written without an encoder: MJPEG frames (Pillow's JPEG) and, optionally,
a mono 16-bit PCM sound track, with an ``idx1`` index; decord reads them (its widths: 40 px works, 16 and 48 do not
decode every frame in some builds)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np


def _chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, body: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(body) + 4) + kind + body


def write_avi(path: Path, frames: list[np.ndarray], fps: int = 10, audio: np.ndarray | None = None, rate: int = 8000) -> Path:
    """``frames``: (H, W, 3) uint8 images, all one size; ``audio``: mono samples in [-1, 1] at ``rate`` Hz, spread over
    the frames' chunks. Returns ``path`` (its folder made)."""
    from PIL import Image

    jpgs = []
    for a in frames:
        buf = io.BytesIO()
        Image.fromarray(np.asarray(a, dtype=np.uint8)).save(buf, "JPEG", quality=90)
        jpgs.append(buf.getvalue())
    h, w = np.asarray(frames[0]).shape[:2]
    n, big = len(jpgs), max(map(len, jpgs))
    avih = struct.pack("<10I4I", 1_000_000 // fps, 0, 0, 0x10, n, 0, 1 if audio is None else 2, big, w, h, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, n, big, 0xFFFFFFFF, 0, 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    hdrl = _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf))
    pcm = b""
    if audio is not None:
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        strh_a = b"auds\0\0\0\0" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, rate, 0, len(audio), 0, 0xFFFFFFFF, 2, 0, 0, 0, 0)
        hdrl += _list(b"strl", _chunk(b"strh", strh_a) + _chunk(b"strf", struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)))
    per = (len(pcm) // 2 // n) * 2
    movi, idx, off = b"", b"", 4
    for k, j in enumerate(jpgs):
        parts = [(b"01wb", pcm[k * per:(k + 1) * per if k < n - 1 else None])] if pcm else []
        for tag, data in [*parts, (b"00dc", j)]:
            c = _chunk(tag, data)
            idx += tag + struct.pack("<III", 0x10, off, len(data))
            movi, off = movi + c, off + len(c)
    body = b"AVI " + _list(b"hdrl", hdrl) + _list(b"movi", movi) + _chunk(b"idx1", idx)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
