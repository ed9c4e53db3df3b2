"""A frame made ``size`` x ``size`` by a resize mode (:data:`~.sampling.RESIZE_MODES`), with Pillow's bilinear filter:
``squeeze`` (the whole frame, the aspect ratio not kept), ``center_crop`` (the short side scaled to ``size``, the long
side cut about the centre: torchvision's ``Resize(size)`` then ``CenterCrop(size)``) or ``pad`` (the long side scaled
to ``size``, the short side padded with black on both sides: a letterbox). Every frame of a clip has its clip's size,
so all of them are cut or padded alike."""

from __future__ import annotations

from typing import Any

import numpy as np

#: the resize modes in words, recorded in a set's ``decoding`` (a user preparing clips elsewhere reads it)
RESIZE_WORDS = {
    "squeeze": ("every frame resized to frame_size x frame_size, bilinear, the whole frame (the aspect ratio is not kept: no "
                "crop, no padding; a portrait or 16:9 frame is squeezed); frame_size null: the native size"),
    "center_crop": ("every frame's short side resized to frame_size, bilinear, keeping the aspect ratio, then the long side "
                    "cut to frame_size about the centre (a 16:9 frame loses its left and right edges, a portrait one its top "
                    "and bottom)"),
    "pad": ("every frame's long side resized to frame_size, bilinear, keeping the aspect ratio, then the short side padded to "
            "frame_size with black (0) on both sides, the image centred (letterbox); the bars are pixels of the clips, "
            "counted in the set's mean and std"),
}


def fitted_size(width: int, height: int, size: int, mode: str) -> tuple[int, int]:
    """The (width, height) a ``width`` x ``height`` frame is scaled to before it is cropped or padded to ``size``:
    ``size`` x ``size`` (squeeze), the short side ``size`` (center_crop) or the long side ``size`` (pad); the other side
    rounded, at least 1 pixel."""
    if mode == "squeeze" or width == height:
        return size, size
    scale = size / (min(width, height) if mode == "center_crop" else max(width, height))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return (size, h) if width >= height and mode == "pad" or width <= height and mode == "center_crop" else (w, size)


def fit_frame(frame: np.ndarray, size: int, mode: str = "squeeze") -> np.ndarray:
    """One (H, W, 3) uint8 frame as (``size``, ``size``, 3) uint8 by ``mode`` (the module docstring)."""
    from PIL import Image

    return fit_image(Image.fromarray(frame), size, mode)


def fit_image(im: Any, size: int, mode: str = "squeeze") -> np.ndarray:
    """:func:`fit_frame` for a Pillow RGB image (a frame image read from a file, not copied to an array first)."""
    from PIL import Image

    w, h = im.size
    tw, th = fitted_size(w, h, size, mode)
    scaled = np.asarray(im if (w, h) == (tw, th) else im.resize((tw, th), Image.BILINEAR))
    if (tw, th) == (size, size):
        return scaled
    if mode == "center_crop":
        top, left = (th - size) // 2, (tw - size) // 2
        return np.ascontiguousarray(scaled[top:top + size, left:left + size])
    out = np.zeros((size, size, scaled.shape[2]), dtype=np.uint8)
    top, left = (size - th) // 2, (size - tw) // 2
    out[top:top + th, left:left + tw] = scaled
    return out


def fit_frames(frames: np.ndarray, size: int, mode: str = "squeeze") -> np.ndarray:
    """(T, H, W, 3) uint8 frames as (T, ``size``, ``size``, 3) by ``mode`` (:func:`fit_frame`)."""
    return np.stack([fit_frame(f, size, mode) for f in frames])


__all__ = ["RESIZE_WORDS", "fit_frame", "fit_frames", "fit_image", "fitted_size"]
