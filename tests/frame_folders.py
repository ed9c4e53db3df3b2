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


def ucf_tree(root: Path, classes: tuple[str, ...] = ("JumpUp", "WaveLeft"), groups: int = 5, clips: int = 3,
             frames: int = 4) -> Path:
    """``root/<class>/v_<class>_g<NN>_c<NN>/frame_X.png``: ``clips`` clip folders of ``frames`` random 8x8 frames per
    recording (UCF101's names: clips cut from one recording, ``groups`` recordings a class), seeded. Returns ``root``."""
    rng = np.random.default_rng(0)
    for cls in classes:
        for g in range(1, groups + 1):
            for c in range(1, clips + 1):
                write_frames(root / cls / f"v_{cls}_g{g:02d}_c{c:02d}", frames, 8, 8, rng)
    return root
