"""Reading image files into pixels: one file opened with Pillow as an 8-bit image, upright by its EXIF orientation,
of the channels and size asked (:func:`to_8bit`, :func:`upright`, :func:`to_channels`, :func:`to_size`, the rule the
image-text, video-frame and audio-visual loaders share), many files into one uint8 array (:func:`_read_images`) and
that array into float32 pixels in [0, 1] (:func:`_unit_pixels`), with the host-memory check before either."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError

from ..artifacts import check_images_fit

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

#: Pillow modes read as greyscale (the rest are colour)
GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L")
#: Pillow modes that carry an alpha band
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
#: bytes of host memory per loaded value that resizing a whole dataset needs at least (the resized float32 pixels, then
#: their clamped copy; the normalisation after works in place)
BYTES_PER_VALUE = 8
#: bytes of host memory per loaded value that an ImageFolder load needs at least: every image decoded into one uint8
#: array, then turned into float32 pixels (scaled and normalised in place); measured peak about 5.2 (32,000 32x32 images),
#: with a margin
FOLDER_BYTES_PER_VALUE = 5.5


def _check_memory(count: int, channels: int, size: tuple[int, int], what: str, cause: str,
                  bytes_per_value: float = BYTES_PER_VALUE) -> None:
    """ConfigError (``cause`` names the argument) or DataError when ``count`` images of ``channels`` x ``size``
    cannot fit, at ``bytes_per_value`` bytes a value (:data:`BYTES_PER_VALUE`, :data:`FOLDER_BYTES_PER_VALUE`), in
    the host's available memory (:func:`~modalities.artifacts.check_images_fit`)."""
    check_images_fit(what, count, (channels, *size), bytes_per_value, cause=cause,
                     error=ConfigError if cause.startswith("image_size") else DataError)


def to_8bit(img, path: Path):
    """16-bit grayscale (``I;16*``, or an ``I`` PNG, as older Pillow opens 16-bit PNGs) scaled to 8-bit ``L``
    (value / 257, rounded); other 32-bit integer or float
    images (``I``, ``F``) kept when their values are whole numbers in 0..255, else DataError naming the file
    (their scale is not stated: a float image in [0, 1] would otherwise turn black)."""
    from PIL import Image

    def scaled(arr: np.ndarray):
        return Image.fromarray(np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8), mode="L")

    if img.mode.startswith("I;16"):
        return scaled(np.asarray(img))
    if img.mode == "I" and getattr(img, "format", None) == "PNG":  # older Pillow opens a 16-bit PNG as mode I
        return scaled(np.asarray(img))  # (a PNG holds at most 16 bits a sample)
    if img.mode in ("I", "F"):
        arr = np.asarray(img)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        fractional = img.mode == "F" and math.isfinite(lo) and math.isfinite(hi) and bool(np.any(arr != np.rint(arr)))
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi > 255 or fractional:
            kind = "32-bit integer" if img.mode == "I" else "floating-point"
            what = "fractional values" if fractional and 0 <= lo and hi <= 255 else "values"
            raise DataError(
                f"image {path} is {kind} (mode {img.mode}) with {what} from {lo:g} to {hi:g}, not whole numbers in "
                "the 8-bit range 0..255 the loader reads, and has no stated scale; save it as an 8-bit or "
                "16-bit image"
            )
    return img


def _frame_count(img) -> int:
    """How many frames (pages) an opened, not yet loaded, PIL image holds; 1 for a single image, and for an MPO
    (a JPEG whose further pictures -- a phone's HDR gain map or depth map, a stereo view -- follow the photo)."""
    if getattr(img, "format", None) == "MPO":
        return 1
    n = int(getattr(img, "n_frames", 1) or 1)
    if n > 1:
        img.seek(0)  # counting may have moved to a later frame (TIFF)
    return n


def _stored_size(img) -> tuple[int, int]:
    """(width, height) of an opened PIL image as its file stores the pixels: a TIFF's own tags (Pillow already gives
    a TIFF turned by its orientation tag the turned size), else ``img.size``."""
    tags = getattr(img, "tag_v2", None) if getattr(img, "format", None) == "TIFF" else None
    width, height = (tags.get(256), tags.get(257)) if tags is not None else (None, None)
    return (int(width), int(height)) if isinstance(width, int) and isinstance(height, int) else img.size


def exif_orientation(img) -> int | None:
    """The EXIF Orientation tag (0x0112) of a PIL image when it asks for a turn or a flip (2..8), else None (no
    EXIF, orientation 1, or an EXIF block Pillow cannot parse: the pixels are then read as stored)."""
    try:
        value = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block does not make the pixels unreadable
        return None
    return int(value) if isinstance(value, int) and 2 <= value <= 8 else None


def upright(img: Any) -> tuple[Any, str | None]:
    """A PIL image just opened from a file, loaded (decoded fully, so a truncated file fails here) and turned upright
    by its EXIF orientation tag as photo viewers show it, and how (``"orientation 6: stored 64x32, read as 32x64"``;
    None when it was read as stored): the rule of :func:`_read_images`, for image-text, video frames and audio-visual
    frames (see :func:`_turn_upright`)."""
    img, orientation, stored = _turn_upright(img)
    return img, None if orientation is None else _turned(orientation, stored, img)


def _turn_upright(img: Any) -> tuple[Any, int | None, tuple[int, int]]:
    """(the image loaded and turned upright, its EXIF orientation when that asked for a turn or a flip else None, its
    stored (width, height)). Pillow's TIFF loader turns a TIFF itself as it loads it (dropping the tag), so a TIFF's
    tag is read first, and its stored size from its own tags (Pillow reports the turned one). A turned image keeps its
    ``format`` (:func:`to_8bit` tells an older Pillow's 16-bit PNG, mode I, by it)."""
    from PIL import ImageOps

    stored = _stored_size(img)
    turned_on_load = exif_orientation(img) if img.format == "TIFF" else None
    img.load()  # decode fully, so truncated files fail here
    orientation = turned_on_load or exif_orientation(img)
    if orientation is not None and turned_on_load is None:
        fmt = img.format
        img = ImageOps.exif_transpose(img)
        img.format = fmt
    return img, orientation, stored


def _turned(orientation: int, stored: tuple[int, int], img: Any) -> str:
    return f"orientation {orientation}: stored {stored[0]}x{stored[1]}, read as {img.size[0]}x{img.size[1]}"


def _has_transparency(img) -> bool:
    """Whether a PIL image has a pixel that is not fully opaque: an alpha band (``RGBA``, ``LA``, ``PA`` ...) below
    255 somewhere, or a transparent colour or palette entry (``transparency`` in ``img.info``) that is used.
    Images without either (ordinary ``RGB``/``L``) are answered without touching their pixels."""
    if img.mode in ALPHA_MODES:
        return img.getchannel("A").getextrema()[0] < 255
    if "transparency" not in img.info or img.mode not in ("1", "L", "P", "RGB"):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's palette note is the decode's own (decoding_warnings), not this check's
        return img.convert("RGBA").getchannel("A").getextrema()[0] < 255


def to_channels(img: Any, path: Path, channels: int, changed: dict[str, list[tuple[Path, str]]]) -> Any:
    """An 8-bit PIL image as ``channels`` (1: ``L``, 3: ``RGB``), the reader's rule; grey read as colour or colour as grey
    is noted in ``changed["channels_converted"]`` as ``(path, how)``."""
    if (img.mode in GREY_MODES) != (channels == 1):
        changed.setdefault("channels_converted", []).append((path, f"mode {img.mode} read as {'greyscale' if channels == 1 else 'RGB'}"))
    return img.convert("L" if channels == 1 else "RGB")


def covering_size(width: int, height: int, size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a ``width`` x ``height`` image is scaled to, aspect ratio kept, so it covers ``size`` (H, W):
    for a square ``size`` the short side becomes ``size`` and the long one ``int(size * long / short)`` (torchvision's
    ``Resize(int)`` rule, truncated); in general the side that needs the larger scale is set exactly."""
    th, tw = size
    if width * th == height * tw:
        return tw, th
    if tw * height > th * width:  # the width needs the larger scale: width set, height truncated (>= th)
        return tw, max(th, int(tw * height / width))
    return max(tw, int(th * width / height)), th


def to_size(img: Any, path: Path, size: tuple[int, int], changed: dict[str, list[tuple[Path, str]]],
            resize: str = "squeeze") -> Any:
    """A PIL image made ``size`` (H, W) by ``resize`` (:data:`~.config.RESIZE_MODES`) with PIL's bilinear (antialiased when
    shrinking): ``squeeze`` the whole image, the reader's rule; ``center_crop`` scaled to :func:`covering_size`, then cut
    to ``size`` about the centre (offsets ``round((scaled - size) / 2)``, torchvision's ``CenterCrop``). One smaller than
    ``size`` in width or height is noted in ``changed["upscaled"]`` as ``(path, how)``."""
    from PIL import Image

    if img.size[0] < size[1] or img.size[1] < size[0]:
        changed.setdefault("upscaled", []).append((path, f"{img.size[0]}x{img.size[1]} enlarged to {size[1]}x{size[0]}, width x height"))
    scaled = (size[1], size[0]) if resize == "squeeze" else covering_size(img.size[0], img.size[1], size)
    if img.size != scaled:
        img = img.resize(scaled, Image.Resampling.BILINEAR)
    if scaled != (size[1], size[0]):
        left, top = int(round((scaled[0] - size[1]) / 2.0)), int(round((scaled[1] - size[0]) / 2.0))
        img = img.crop((left, top, left + size[1], top + size[0]))
    return img


def _read_images(files: list[Path], size: tuple[int, int] | None, channels: int | None, check_memory: bool = True,
                 notes: dict | None = None, altered: dict[str, list[tuple[Path, str]]] | None = None,
                 progress: bool = False, resize: str = "squeeze", opener: Callable[[Path], Any] | None = None) -> np.ndarray:
    """Read ``files`` with PIL into one uint8 array (N, H, W, C), each image decoded into its place (the array is
    made once the first image gives its shape; :func:`_unit_pixels` turns it into float32), resized to ``size``
    (H, W) by ``resize`` (:func:`to_size`) and converted to ``channels`` when given; otherwise DataError on mixed sizes or modes, naming two files.
    ``progress`` shows a bar (:func:`mmdistill.logs.progress_bar`) while they are read. 16-bit
    grayscale is scaled to 8 bits. Pillow's warnings (a large image, a palette with transparency) are logged
    once per kind with a count and the first file, and kept in ``notes``.

    An image is turned upright by its EXIF orientation tag (:func:`PIL.ImageOps.exif_transpose`) before its size
    is compared or changed. Images read otherwise than as stored go to ``altered`` as kind -> [(path, how)]
    (kinds of :data:`~.folder.ALTERED_KINDS`: ``exif_rotated``; ``first_frame_only``, a multi-page TIFF or animated
    PNG/WebP; ``alpha_dropped``, transparent pixels read as the colour stored under them; ``upscaled``, smaller
    than ``size`` in width or height; ``channels_converted``, greyscale read as colour or colour as greyscale to
    ``channels``). Their pixels are read as before; an image with none of these (no EXIF
    orientation, one frame, opaque, not enlarged) is read exactly as it is stored. ``opener`` maps each of ``files`` to
    what Pillow opens (a file object: a member of a zip archive, :mod:`.tiny`); by default the path itself; the
    messages name ``files`` either way."""
    from PIL import Image, UnidentifiedImageError

    from mmdistill.logs import progress_bar

    first: dict[str, tuple[Path, object]] = {}
    pixels: np.ndarray | None = None  # (N, H, W, C) uint8, made when the first image gives the shape
    caught: dict[str, list] = {} if notes is None else notes
    changed: dict[str, list[tuple[Path, str]]] = {} if altered is None else altered
    with progress_bar(total=len(files), desc="reading images", unit="img", disable=not progress, leave=False) as bar:
        for index, path in enumerate(files):
            try:
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")  # Pillow's DecompressionBombWarning and palette notes
                    with Image.open(path if opener is None else opener(path)) as img:
                        frames = _frame_count(img)
                        img, orientation, stored = _turn_upright(img)
                        if frames > 1:
                            unit = "pages" if img.format == "TIFF" else "frames"
                            changed.setdefault("first_frame_only", []).append(
                                (path, f"{frames} {unit}, only the first read"))
                        if orientation is not None:
                            changed.setdefault("exif_rotated", []).append((path, _turned(orientation, stored, img)))
                        img = to_8bit(img, path)
                        if _has_transparency(img):
                            how = f"mode {img.mode}" + ("" if img.mode in ALPHA_MODES else " with a transparent colour")
                            changed.setdefault("alpha_dropped", []).append((path, how))
                        if channels is None:
                            if img.mode not in ("L", "RGB"):  # grayscale-like modes to L, colour-like ones to RGB
                                img = img.convert("L" if img.mode in ("1", "LA", "La", "I", "F") else "RGB")
                            first.setdefault("mode", (path, img.mode))
                            if img.mode != first["mode"][1]:
                                raise DataError(
                                    f"mixed image modes: {first['mode'][0]} is {first['mode'][1]} but {path} is {img.mode}; "
                                    "pass channels=1 or channels=3 (--channels) to convert all images"
                                )
                        else:
                            img = to_channels(img, path, channels, changed)
                        if size is not None:
                            img = to_size(img, path, size, changed, resize)
                        else:
                            turned = f" (turned upright by its EXIF orientation {orientation}; stored {stored[0]}x{stored[1]})" \
                                if orientation is not None else ""
                            first.setdefault("size", (path, img.size, turned))
                            w0, h0 = first["size"][1]  # type: ignore[misc]
                            if img.size != (w0, h0):
                                raise DataError(
                                    f"mixed image sizes: {first['size'][0]} is {w0}x{h0}{first['size'][2]} but {path} is "
                                    f"{img.size[0]}x{img.size[1]}{turned} (width x height, as photo viewers show them); pass "
                                    "image_size=N (--image-size N) to resize all images"
                                )
                        arr = np.asarray(img, dtype=np.uint8)
                for w in seen:
                    entry = caught.setdefault(w.category.__name__, [0, str(path), " ".join(str(w.message).split())[:200]])
                    entry[0] += 1
            except DataError:
                raise
            except MemoryError:
                raise DataError(f"out of memory while reading image {path} (resized to {size}); pass a smaller image_size "
                                "(--image-size N)" if size else f"out of memory while reading image {path}") from None
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise DataError(f"cannot read image {path} (corrupt or not an image?): {exc}") from None
            if pixels is None:
                shape = (len(files), *arr.shape[:2], arr.shape[2] if arr.ndim == 3 else 1)
                if check_memory:
                    _check_memory(len(files), shape[3], shape[1:3], f"images such as {path}",
                                  f"image_size={size[0] if size[0] == size[1] else size}" if size else "their stored size",
                                  FOLDER_BYTES_PER_VALUE)
                try:
                    pixels = np.empty(shape, dtype=np.uint8)
                except MemoryError:
                    raise DataError(f"out of memory for {len(files)} images of {shape[3]}x{shape[1]}x{shape[2]} such as "
                                    f"{path}; pass a smaller image_size (--image-size N)") from None
            pixels[index] = arr.reshape(pixels.shape[1:])  # same size and channels as the first (checked above)
            bar.update(1)
    for kind, (count, path, message) in caught.items():
        log.warning("%d image(s) gave %s while decoding; the first, %s: %s", count, kind, path, message)
    if pixels is None:  # no files (a class folder always holds one: _scan_tree)
        raise DataError("no images to read")
    return pixels


def decode_files(files: list[Path], size: tuple[int, int] | None, channels: int | None, check_memory: bool = True,
                 progress: bool = False, resize: str = "squeeze",
                 opener: Callable[[Path], Any] | None = None) -> tuple[np.ndarray, dict, dict[str, list[tuple[Path, str]]]]:
    """:func:`_read_images` of ``files`` with its notes and altered images returned beside the uint8 pixels (N, H, W, C):
    what the decoded-image cache (:mod:`.pixel_cache`) keeps of one decode."""
    notes: dict = {}
    altered: dict[str, list[tuple[Path, str]]] = {}
    pixels = _read_images(files, size, channels, check_memory, notes, altered, progress, resize, opener)
    return pixels, notes, altered


def _unit_pixels(pixels: np.ndarray) -> Tensor:
    """uint8 images (N, H, W, C) as float32 (N, C, H, W) in [0, 1], ``value / 255`` in float32, converted and scaled
    in place in one float32 array. Its memory keeps the channels-last order of ``pixels``, as ``astype`` of their
    channels-first view did: the layout, hence the summation order of the statistics, is that of earlier loads."""
    n, h, w, c = pixels.shape
    out = np.empty((n, h, w, c), dtype=np.float32)
    np.copyto(out, pixels, casting="safe")  # exact: every uint8 is a float32
    np.divide(out, np.float32(255.0), out=out)
    x = torch.from_numpy(out)
    return x.permute(0, 3, 1, 2) if c > 1 else x.view(n, 1, h, w)

