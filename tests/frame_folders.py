"""Clip folders of frame images for the video loader tests (the reference's pre-extracted layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_frames(folder: Path, count: int, height: int, width: int, rng: np.random.Generator) -> Path:
    """``folder/frame_0.png`` ... ``frame_{count - 1}.png``: ``count`` random RGB frames of ``height`` x ``width`` pixels
    drawn from ``rng`` in order; the folder is made (with its parents). Returns ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True)
    for t in range(count):
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(folder / f"frame_{t}.png")
    return folder
