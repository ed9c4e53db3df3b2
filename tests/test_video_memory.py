"""Clip-folder loading in one uint8 array per split, scaled in place (walk 41): the clips equal a plain reference
computation (decoded, cached and read back), the memory check asks for :data:`BYTES_PER_VALUE` bytes a value, and
a progress bar shows while clips are decoded only when ``progress`` is on.

Every clip is generated in tmp_path with PIL; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill.errors import ConfigError
from mmdistill.modalities.video import datasets as vd
from mmdistill.modalities.video.datasets import BYTES_PER_VALUE, FrameSampling, load_clip_folder

#: 4 frames of a 6-frame clip, taken from its middle (frames 1..4), at the native 10x6 size
SAMPLING = FrameSampling(num_frames=4, frame_gap=1, offset="center", short="skip", frame_size=None)


def _split_tree(root: Path, frames: int = 6) -> dict[str, list[tuple[str, np.ndarray]]]:
    """root/{train,test}/<class>/<clip>/img_N.png (6x10 RGB, a seeded pattern), one 2-frame clip in train (skipped
    by ``short="skip"``); the kept clips per split in the loader's order (sorted classes, sorted clips) as
    (class, (T, H, W, 3) frames)."""
    rng = np.random.default_rng(41)
    kept: dict[str, list[tuple[str, np.ndarray]]] = {"train": [], "test": []}
    for split, n in (("train", 3), ("test", 1)):
        for cls in ("a", "b"):
            for i in range(n + (split == "train" and cls == "a")):
                d = root / split / cls / f"clip{i}"
                d.mkdir(parents=True)
                length = 2 if i == n else frames  # the extra clip of a/train is too short
                clip = rng.integers(0, 256, (length, 6, 10, 3), dtype=np.uint8)
                for t, f in enumerate(clip):
                    Image.fromarray(f).save(d / f"img_{t + 1}.png")
                if length == frames:
                    kept[split].append((cls, clip[1:5]))
    return kept


def _reference(kept: list[tuple[str, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The loader's rule written plainly: stack, channels first, ``float() / 255``."""
    x = torch.from_numpy(np.stack([c for _, c in kept])).permute(0, 4, 1, 2, 3).float() / 255
    return x, torch.tensor([("a", "b").index(cls) for cls, _ in kept])


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view(torch.int32)


def test_in_place_scaling_is_bit_identical():
    u8 = torch.arange(256, dtype=torch.uint8).repeat(3, 7)
    x = vd._unit_float(u8)
    assert x.dtype == torch.float32 and torch.equal(_bits(x), _bits(u8.float() / 255))


def test_clips_equal_a_plain_reference_decoded_and_cached(tmp_path):
    kept = _split_tree(tmp_path / "data")
    for attempt in ("wrote", "hit"):
        vs = load_clip_folder(tmp_path / "data", kind="frames", sampling=SAMPLING, cache_dir=tmp_path / "cache")
        assert vs.report.cache.startswith(attempt) and vs.report.counts()["skipped_short"] == 1
        for split in ("train", "test"):
            x, y = getattr(vs, f"x_{split}"), getattr(vs, f"y_{split}")
            rx, ry = _reference(kept[split])
            assert x.shape == rx.shape == (len(kept[split]), 3, 4, 6, 10) and x.dtype == torch.float32 and x.is_contiguous()
            assert torch.equal(_bits(x), _bits(rx)) and torch.equal(y, ry) and y.dtype == torch.long
    plain = load_clip_folder(tmp_path / "data", kind="frames", sampling=SAMPLING, use_cache=False)
    assert torch.equal(_bits(plain.x_train), _bits(vs.x_train)) and torch.equal(_bits(plain.x_test), _bits(vs.x_test))


def test_memory_check_uses_bytes_per_value(tmp_path, monkeypatch):
    import mmdistill.memory

    _split_tree(tmp_path / "data")
    sampling = FrameSampling(num_frames=4, frame_gap=1, frame_size=8)
    values = 9 * 4 * 8 * 8 * 3  # 9 clips found (the short one is only known short once decoded)
    asked: list[int] = []
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: asked.append(need) or 0)
    load_clip_folder(tmp_path / "data", kind="frames", sampling=sampling, use_cache=False)
    assert BYTES_PER_VALUE == 5.5 and asked == [int(values * BYTES_PER_VALUE)]
    monkeypatch.undo()
    # available memory above the old estimate (5 bytes a value) but below the measured peak's: refused before decoding
    monkeypatch.setattr(mmdistill.memory, "host_memory", lambda: values * 5 + 1)
    with pytest.raises(ConfigError, match="num_frames=4"):
        load_clip_folder(tmp_path / "data", kind="frames", sampling=sampling, use_cache=False)
    monkeypatch.setattr(mmdistill.memory, "host_memory", lambda: int(values * BYTES_PER_VALUE))
    assert len(load_clip_folder(tmp_path / "data", kind="frames", sampling=sampling, use_cache=False).x_train) == 7  # the short clip padded


def test_progress_bar_only_when_progress_is_on(tmp_path, capsys):
    from mmdistill.modalities.video.adapter import load_video_set

    _split_tree(tmp_path / "data")
    load_clip_folder(tmp_path / "data", kind="frames", sampling=SAMPLING, use_cache=False, progress=True)
    err = capsys.readouterr().err
    assert "decoding clips" in err and "/9" in err
    load_clip_folder(tmp_path / "data", kind="frames", sampling=SAMPLING, use_cache=False)  # off by default, as audio's
    load_clip_folder(tmp_path / "data", kind="frames", sampling=SAMPLING, use_cache=False, progress=False)
    captured = capsys.readouterr()
    assert "decoding clips" not in captured.err and captured.out == ""
    cfg = SimpleNamespace(dataset="frames", data_root=str(tmp_path / "data"), sampling=lambda: SAMPLING, split_file=None,
                          test_fraction=0.2, strict=False, cache_dir=None, cache=False, split_seed=None, memory_check=True)
    for progress in (True, False):  # the recipe's progress key reaches the loader
        load_video_set(SimpleNamespace(**vars(cfg), progress=progress))
        assert ("decoding clips" in capsys.readouterr().err) is progress
