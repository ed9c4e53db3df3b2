"""A pair's frame read from an image file (:func:`_read_image`: grey or RGB, upright by its EXIF tag, 16-bit grey
scaled), and what the conversion did to it in words (:func:`_conversion`), for the load report's ``converted``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError

from ..image.decode import to_8bit, upright


#: Pillow modes read as one grey channel (``I``/``F`` after :func:`~..image.decode.to_8bit`); others become RGB
GREY_MODES = ("1", "L", "I", "F")  # grey with alpha (LA) is read as RGB, as before: sets and CSVs mixing it with RGB keep working


def _read_image(path: Path, converted: list[tuple[str, str]] | None = None,
                rotated: list[tuple[str, str]] | None = None) -> Tensor:
    """The image file ``path`` as a frame (C, h, w) float in [0, 1]: C = 1 for grey images (:data:`GREY_MODES`;
    16-bit grey scaled to 8 bits, not saturated), 3 for the others; turned upright by its EXIF orientation tag, as the
    image adapter reads photos (appended to ``rotated`` as ``(path, how)``). A conversion that changes what the file
    holds (alpha dropped, a palette or CMYK turned into RGB, 16- or 32-bit grey into 8 bits) is appended to
    ``converted`` as ``(path, what was done)``. DataError naming the file when it cannot be read: not an image,
    damaged, or larger than Pillow's decompression-bomb limit (as the image adapter's reader)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode, transparent, fmt = im.mode, "transparency" in im.info, im.format
            im, how = upright(im)
            if how is not None and rotated is not None:
                rotated.append((str(path), how))
            if mode.startswith("I") or mode == "F":  # 16-bit (and 32-bit) grayscale: scaled, not saturated to white
                im = to_8bit(im, path)
            im = im.convert("L") if im.mode in GREY_MODES else im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image file {path} (corrupt, not an image, or too large?): {exc}") from None
    if converted is not None and (why := _conversion(mode, transparent, fmt)):
        converted.append((str(path), why))
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


def _conversion(mode: str, transparent: bool, fmt: str | None = None) -> str:
    """What reading an image of Pillow ``mode`` (``transparent``: it has a transparency key; ``fmt``: its file format)
    as grey or RGB does to it, in words; empty when nothing is lost or rescaled (L, RGB, 1-bit)."""
    if mode in ("1", "L", "RGB"):
        return ""
    if mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        return f"mode {mode}: alpha channel dropped"
    if mode == "P":
        return "palette image (mode P) read as RGB" + (" (its transparency dropped)" if transparent else "")
    if mode == "CMYK":
        return "CMYK converted to RGB"
    if mode.startswith("I;16") or (mode == "I" and fmt == "PNG"):  # older Pillow opens a 16-bit PNG as mode I
        return "16-bit grey scaled to 8 bits"
    if mode in ("I", "F"):
        return f"{'32-bit integer' if mode == 'I' else 'floating-point'} grey (mode {mode}) read as 8 bits"
    return f"mode {mode} converted to RGB"


__all__ = ["GREY_MODES"]
