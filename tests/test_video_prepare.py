"""Walk 52F: a user's own test clips prepared as the set's inputs (``clips_like``), from the decode settings the set
records (``meta["decoding"]``: frames, gap, offset, short-clip rule, square resize, frame-rate blindness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmdistill.errors import ArtifactError, DataError
from frame_folders import write_frames  # tests/frame_folders.py


def _tree(root: Path) -> Path:
    """root/<class>/<clip>/frame_N.png, clips of 3, 7 or 11 frames, portrait (12 x 8) frames."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(5):
            write_frames(root / cls / f"clip{i}", 3 + 4 * (i % 3), 12, 8, rng)
    return root


def _data(root: Path, with_config: bool = False, **kw):
    from mmdistill.modalities.video import MODALITY
    from mmdistill.recipes.video_dm import RECIPE

    cfg = RECIPE.config_cls(dataset="frames", data_root=str(root), num_frames=4, frame_gap=2, frame_size=8, cache=False,
                            test_fraction=0.4, ipc=1, **kw)
    return (MODALITY.load(cfg), cfg) if with_config else MODALITY.load(cfg)


def test_clips_like_prepares_a_users_clips_exactly_as_the_loader_prepared_the_sets_test_clips(tmp_path):
    """The set said frame_gap, offset and short only (not num_frames, frame_size, the random offset's seed and key,
    that frames are squeezed to a square and picked by index whatever the frame rate), and no helper prepared a
    user's own test clips: they had to rebuild the loader. Now meta["decoding"] records them, and clips_like gives
    the loader's inputs for the same clips, normalised with the set's statistics."""
    from mmdistill.modalities.video import clips_like
    from mmdistill.modalities.video.datasets import discover

    from mmdistill.modalities.video import MODALITY

    root = _tree(tmp_path / "data")
    data, cfg = _data(root, with_config=True)
    dec = data.meta["decoding"]
    assert (dec["num_frames"], dec["frame_gap"], dec["frame_size"], dec["offset"]) == (4, 2, 8, "random")
    assert "aspect ratio is not kept" in dec["resize"] and "not by time" in dec["timing"]
    test = [it.path for it in discover(root, "frames", None, 0.4, 0) if it.split == "test"]
    x = clips_like(data.meta, test, root=root)
    assert x.shape == data.test.x.shape == (len(test), 3, 4, 8, 8)
    torch.testing.assert_close(x, data.test.x)
    u8 = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    m, s = (torch.tensor(data.meta[k]).view(1, 3, 1, 1, 1) for k in ("mean", "std"))
    torch.testing.assert_close(clips_like(data.meta, u8), (u8.float() / 255 - m) / s)
    syn = MODALITY.init_synthetic(data, cfg, torch.Generator().manual_seed(0))  # the set carries it, and its card says so
    torch.testing.assert_close(clips_like(syn, test, root=root), x)
    note = MODALITY.export_note(syn)
    assert "clips_like(mmdistill.load(RUN), files)" in note and "4 frames 2 apart by index, whatever the frame rate" in note
    assert "8x8 (the whole frame squeezed to a square: the aspect ratio is not kept)" in note


def test_clips_like_names_what_it_cannot_prepare(tmp_path):
    from mmdistill.modalities.video import clips_like

    root = _tree(tmp_path / "data")
    data = _data(root, short="skip")
    (tmp_path / "bad.avi").write_bytes(b"RIFF not a video")
    with pytest.raises(DataError, match=r"2 clip\(s\) not prepared: .*clip0 \(3 frames < 7, short=skip\); .*bad.avi"):
        clips_like(data.meta, [root / "a" / "clip0", root / "a" / "clip2", tmp_path / "bad.avi"])
    with pytest.raises(ArtifactError, match="has no `decoding`.*pass sampling="):
        clips_like({"mean": [0.5] * 3, "std": [0.2] * 3}, [root / "a" / "clip2"])


def test_clips_like_takes_one_path_as_one_clip(tmp_path):
    """Walk 52J: clips_like(set, "held_out/a.mp4") -- one path, not in a list -- iterated the string and failed with
    "clips_like: 32 clip(s) not prepared: w (no frame images ...); / (...); s (not a video file ...)", one per
    character. One path is one clip."""
    from mmdistill.modalities.video import clips_like
    from mmdistill.modalities.video.datasets import FrameSampling
    from mmdistill.modalities.video.prepare import decoding_meta

    root = _tree(tmp_path / "data")
    meta = {"mean": [0.5] * 3, "std": [0.25] * 3, "decoding": decoding_meta(FrameSampling(num_frames=2, frame_gap=1, frame_size=8), "frames")}
    one = root / "a" / "clip1"
    for given in (str(one), one):
        x = clips_like(meta, given)
        assert x.shape == (1, 3, 2, 8, 8)
        assert torch.equal(x, clips_like(meta, [one]))
