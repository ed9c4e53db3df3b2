"""Walk 54A: your own phone (9:16), camera (16:9) and webcam (4:3) clips at 15-60 fps. Every frame was squeezed to a
square and frames were picked by index whatever the file's rate (a 60 fps clip's frames spanned a quarter of a 15 fps
clip's time). ``resize`` (squeeze | center_crop | pad) keeps the aspect ratio, ``sample_fps`` picks frames by time; both
off by default, the loads, cache keys and recorded settings of before unchanged."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from avi_files import write_avi
from mmdistill.errors import ConfigError


def _box_clip(path: Path, w: int = 160, h: int = 90, frames: int = 6, fps: int = 10) -> Path:
    """A grey w x h clip with a white 36 x 36 square in its centre."""
    img = np.full((h, w, 3), 90, np.uint8)
    img[h // 2 - 18:h // 2 + 18, w // 2 - 18:w // 2 + 18] = 255
    return write_avi(path, [img] * frames, fps=fps)


def _white_box(frame: np.ndarray) -> tuple[int, int]:
    """(width, height) of the white square in a (H, W, 3) frame."""
    rows, cols = np.nonzero(frame.mean(axis=2) > 200)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


def _time_clip(path: Path, fps: int, seconds: float = 4.0) -> Path:
    """A 40 x 40 clip whose frame at time t is grey 40 + 40 t (t in seconds): the frames' values tell their times."""
    return write_avi(path, [np.full((40, 40, 3), int(round(40 + 40 * i / fps)), np.uint8) for i in range(int(fps * seconds))], fps=fps)


@pytest.mark.parametrize("mode", ["squeeze", "center_crop", "pad"])
def test_resize_modes_keep_a_16_9_frames_square_square(tmp_path, mode):
    """A 16:9 frame with a square in it: squeeze makes the square 16:9 times too narrow (today's, unchanged); center_crop
    and pad keep it square; pad letterboxes (black rows above and below), center_crop fills the frame."""
    from mmdistill.modalities.video.decode import FrameSampling, _decode_file

    path = _box_clip(tmp_path / "camera.avi")
    frames, _, _ = _decode_file(path, FrameSampling(num_frames=2, frame_gap=1, frame_size=32, resize=mode), "camera.avi")
    assert frames.shape == (2, 32, 32, 3)
    w, h = _white_box(frames[0])
    if mode == "squeeze":
        assert h / w > 1.5 and 11 <= h <= 14  # 36x36 of 160x90 squeezed to 32x32: about 7 x 13
    elif mode == "center_crop":  # 160x90 scaled to 57x32, cut to 32x32: the square 13 x 13, no bar
        assert abs(w - h) <= 1 and 11 <= w <= 14 and frames[0].min() > 50
    else:  # 160x90 scaled to 32x18, black rows above and below: the square 7 x 7
        assert abs(w - h) <= 1 and 5 <= w <= 8
        assert frames[0][:6].max() == 0 and frames[0][-6:].max() == 0 and frames[0][16].min() > 0


def test_a_portrait_frame_cropped_loses_its_top_and_bottom(tmp_path):
    from mmdistill.modalities.video.frame_fit import fit_frame, fitted_size

    assert fitted_size(1080, 1920, 112, "center_crop") == (112, 199) and fitted_size(1080, 1920, 112, "pad") == (63, 112)
    assert fitted_size(640, 480, 112, "squeeze") == (112, 112)
    frame = np.zeros((160, 90, 3), np.uint8)
    frame[:20] = 255  # a white top the crop cuts off (scaled to 32 x 57: 7 rows, of the 12 cut above)
    assert fit_frame(frame, 32, "center_crop").max() == 0
    padded = fit_frame(frame, 32, "pad")
    assert padded[:, :7].max() == 0 and padded[:, -7:].max() == 0 and padded[0, 16].min() == 255  # bars left and right


def test_sample_fps_gives_clips_of_every_frame_rate_the_same_times(tmp_path):
    """15 and 60 fps clips of one motion: by index (frame_gap 2) the 60 fps clip's frames are 1/30 s apart and the
    15 fps clip's 2/15 s; at sample_fps 5 both are 0.2 s apart and start at the same time (offset center)."""
    from mmdistill.modalities.video.decode import FrameSampling, _decode_file

    times = {}
    for fps in (15, 60):
        path = _time_clip(tmp_path / f"c{fps}.avi", fps)
        for by_time in (False, True):
            s = FrameSampling(num_frames=4, frame_gap=2 if not by_time else 1, frame_size=None, offset="center",
                              sample_fps=5 if by_time else None)
            frames, length, kind = _decode_file(path, s, "c.avi")
            times[fps, by_time] = (frames.reshape(4, -1).mean(axis=1) - 40) / 40  # seconds
            assert kind == "ok" and length == (20 if by_time else fps * 4)
    assert np.allclose(np.diff(times[60, False]), 1 / 30, atol=0.02) and np.allclose(np.diff(times[15, False]), 2 / 15, atol=0.02)
    assert np.allclose(np.diff(times[60, True]), 0.2, atol=0.02) and np.allclose(np.diff(times[15, True]), 0.2, atol=0.02)
    assert np.allclose(times[60, True], times[15, True], atol=0.03)


def test_resampled_frames_follow_torchvisions_rule():
    from mmdistill.modalities.video.sampling import FrameSampling

    assert FrameSampling(sample_fps=15).resampled(10, 30) == [0, 2, 4, 6, 8]
    assert FrameSampling(sample_fps=10).resampled(12, 24) == [0, 2, 4, 7, 9]  # floor(i x 2.4), floor(12 / 2.4) of them
    assert FrameSampling(sample_fps=30).resampled(3, 15) == [0, 0, 1, 1, 2, 2]  # a lower rate repeats frames
    assert FrameSampling().resampled(3, 60) == [0, 1, 2]  # by index: every frame
    assert FrameSampling(sample_fps=10).sample_fps == 10.0 and isinstance(FrameSampling(sample_fps=10).sample_fps, float)


def test_defaults_keep_the_cache_key_recorded_settings_and_buffer_fingerprint_of_before():
    """Absent = today's behaviour: a default load's cache key, metadata and the set's recorded decoding hold the six
    fields they held, so caches written and sets made before the keys still match (no new key, no re-decode)."""
    from mmdistill.modalities.video.clip_cache import CACHE_VERSION, _fingerprint
    from mmdistill.modalities.video.prepare import RESIZE, TIMING, decoding_meta
    from mmdistill.modalities.video.sampling import FrameSampling

    s = FrameSampling()
    assert s.settings() == {"num_frames": 16, "frame_gap": 4, "offset": "random", "short": "gap", "frame_size": 112, "seed": 0}
    meta = decoding_meta(s, "files")
    assert "resize_mode" not in meta and "sample_fps" not in meta and meta["resize"] == RESIZE and meta["timing"] == TIMING
    before = {"kind": "files", "sampling": dict(list(s.__dict__.items())[:6]), "version": CACHE_VERSION, "classes": []}
    assert _fingerprint([], s, "files") == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:24]
    crop = FrameSampling(resize="center_crop", sample_fps=10)
    assert _fingerprint([], crop, "files") != _fingerprint([], s, "files")
    assert decoding_meta(crop, "files")["resize_mode"] == "center_crop" and decoding_meta(crop, "files")["sample_fps"] == 10.0


@pytest.mark.parametrize("kwargs, key, said", [
    ({"resize": "stretch"}, "resize", "squeeze, center_crop, pad"),
    ({"resize": "pad", "frame_size": None}, "resize", "frame_size"),
    ({"sample_fps": 0}, "sample_fps", "> 0"),
    ({"sample_fps": -5}, "sample_fps", "> 0"),
    ({"sample_fps": math.nan}, "sample_fps", "> 0"),
])
def test_bad_sampling_values_are_refused_by_key(kwargs, key, said):
    from mmdistill.modalities.video.sampling import FrameSampling

    with pytest.raises(ConfigError, match=said) as err:
        FrameSampling(**kwargs)
    assert err.value.key == key


@pytest.mark.parametrize("keys, key, said", [
    ({"dataset": "frames", "data_root": "x", "sample_fps": 10}, "sample_fps", "'frames' has no frame rate"),
    ({"dataset": "moving-digits", "sample_fps": 10}, "sample_fps", "'moving-digits' has no frame rate"),
    ({"dataset": "moving-digits", "resize": "pad"}, "resize", "leave resize at squeeze"),
    ({"dataset": "folder", "data_root": "x", "resize": "center_crop", "frame_size": 0}, "resize", r"frame_size 0 \(the native size\) resizes"),
])
def test_config_refuses_keys_that_would_do_nothing(keys, key, said):
    from mmdistill.modalities.video.config import VideoDistillConfig

    with pytest.raises(ConfigError, match=said) as err:
        VideoDistillConfig(**keys).check()
    assert err.value.key == key


def test_a_time_longer_than_every_clip_is_a_config_error(tmp_path):
    """sample_fps 2, 8 frames 4 apart: 14.5 s of clips that last 4 s; each would have been shrunk or padded, no clip
    spanning the time asked. A frame folder has no rate: refused by name."""
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    for c in ("a", "b"):
        for i in range(2):
            _time_clip(tmp_path / "data" / c / f"{c}{i}.avi", 15)
    s = FrameSampling(num_frames=8, frame_gap=4, frame_size=8, sample_fps=2)
    with pytest.raises(ConfigError, match=r"sample_fps=2: .*span 14.50 s, longer than every clip \(the longest lasts 4.00 s") as err:
        load_clip_folder(tmp_path / "data", sampling=s, use_cache=False, test_fraction=0.5)
    assert err.value.key == "sample_fps"
    ok = load_clip_folder(tmp_path / "data", sampling=FrameSampling(num_frames=4, frame_gap=2, frame_size=8, sample_fps=2),
                          use_cache=False, test_fraction=0.5)  # 3.5 s of 4 s clips
    assert ok.report.counts()["shrunk_gap"] == 0 and ok.report.facts["frame_rates"] == {"15": 4}
    with pytest.raises(ConfigError, match="frame images has no frame rate") as err:
        load_clip_folder(tmp_path / "data", kind="frames", sampling=s, use_cache=False)
    assert err.value.key == "sample_fps"


def test_clips_like_prepares_a_held_out_clip_with_the_sets_resize_and_rate(tmp_path):
    """A set loaded with center_crop at sample_fps records both; clips_like decodes a held-out clip with them, giving
    the loader's frames for the same file."""
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder
    from mmdistill.modalities.video.prepare import clips_like, decoding_meta

    root = tmp_path / "data"
    for split in ("train", "test"):
        for c in ("a", "b"):
            _box_clip(root / split / c / f"{c}.avi", w=90, h=160, frames=12, fps=30)
    s = FrameSampling(num_frames=3, frame_gap=1, frame_size=16, resize="center_crop", sample_fps=10, offset="center")
    vs = load_clip_folder(root, sampling=s, use_cache=False)
    meta = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "decoding": decoding_meta(s, "files")}
    x = clips_like(meta, [root / "test" / "a" / "a.avi"])
    assert x.shape == (1, 3, 3, 16, 16)
    assert torch.allclose(x[0], vs.x_test[int((vs.y_test == 0).nonzero()[0])], atol=1e-6)
    squeezed = clips_like({**meta, "decoding": decoding_meta(FrameSampling(num_frames=3, frame_gap=1, frame_size=16), "files")},
                          [root / "test" / "a" / "a.avi"])
    assert not torch.allclose(squeezed, x)


def test_resize_and_sample_fps_join_the_buffer_fingerprint_only_when_set(tmp_path):
    """Experts trained on squeezed clips picked by index must not be matched against cropped or time-sampled ones (the
    sample shape is the same); a default load's preprocessing is the one buffers recorded before."""
    from mmdistill.modalities.video.adapter import VideoModality
    from mmdistill.modalities.video.config import VideoDistillConfig

    for c in ("a", "b"):
        for i in range(2):
            _time_clip(tmp_path / "data" / c / f"{c}{i}.avi", 15, seconds=2)
    preps = []
    for extra in ({}, {"resize": "pad", "sample_fps": 5.0}):
        cfg = VideoDistillConfig(dataset="folder", data_root=str(tmp_path / "data"), num_frames=2, frame_gap=1, frame_size=8,
                                 test_fraction=0.5, cache=False, **extra)
        data = VideoModality().load(cfg)
        preps.append(data.meta["preprocessing"])
        assert data.meta["decoding"].get("resize_mode", "squeeze") == extra.get("resize", "squeeze")
    assert preps[0] == {"frame_gap": 1, "offset": "random", "short": "gap"}
    assert preps[1] == {**preps[0], "resize": "pad", "sample_fps": 5.0}


def test_decords_failed_copy_of_some_widths_is_said_in_words(tmp_path):
    """A 72-pixel-wide portrait clip decoded at its own size (center_crop and pad decode natively) failed with
    decord's "Check failed: from_size == to_size (36864 vs. 27648) DECORDArrayCopyFromTo: The size must exactly match":
    nothing a user can act on. The reason now says what it is and what reads the clip."""
    from mmdistill.modalities.video.decode import COPY_BUG, FrameSampling, _decode_file, plain_reason

    line = ("[18:42:29] /github/workspace/src/runtime/ndarray.cc:171: Check failed: from_size == to_size (36864 vs. 27648) "
            "DECORDArrayCopyFromTo: The size must exactly match")
    assert plain_reason(line) == COPY_BUG and "resize=squeeze" in COPY_BUG and "ffmpeg" in COPY_BUG
    path = write_avi(tmp_path / "p72.avi", [np.zeros((128, 72, 3), np.uint8)] * 4, fps=10)
    frames, _, what = _decode_file(path, FrameSampling(num_frames=2, frame_gap=1, frame_size=32, resize="pad"), "p72.avi")
    if frames is None:  # this decord build has the bug: the reason is said in words, not decord's check
        assert what == f"unreadable: {COPY_BUG}"
    squeezed, _, _ = _decode_file(path, FrameSampling(num_frames=2, frame_gap=1, frame_size=32), "p72.avi")
    assert squeezed.shape == (2, 32, 32, 3)  # decord's scaler reads it


def test_gifs_of_a_set_sampled_by_time_play_at_the_real_clips_speed(tmp_path):
    """Frames picked 2 apart at sample_fps 5 are 0.4 s apart: the preview and export GIFs showed every set's frames
    120 ms each, motion 3.3 times too fast (and read back at sample_fps, a GIF's rate is its frame time's). They show
    them 400 ms each now; a set picked by index keeps 120 ms."""
    from PIL import Image

    from mmdistill.modalities.video import export
    from mmdistill.synthetic import SyntheticSet

    meta = {"mean": [0.0], "std": [1.0], "decoding": {"frame_gap": 2, "sample_fps": 5.0}}
    for dec, ms in (({"frame_gap": 2, "sample_fps": 5.0}, 400), ({"frame_gap": 2}, 120)):
        syn = SyntheticSet({"x": torch.rand(2, 1, 3, 8, 8)}, torch.tensor([0, 1]), 2, meta={**meta, "decoding": dec})
        export.save_video_preview(syn, syn.data["x"], tmp_path / f"p{ms}.png")
        out = export.export_video_set(syn, syn.data["x"], tmp_path / f"export{ms}")
        for gif in (tmp_path / f"p{ms}.gif", next(out.rglob("*.gif"))):
            with Image.open(gif) as im:
                assert im.info["duration"] == ms


def test_pad_says_its_black_and_that_the_bars_count_in_the_statistics():
    """Mend 54K: resize=pad fills with black (0) and the bars count in the set's mean and std (README), but the card and
    export note said only 'padded with black' and the recorded ``decoding`` did not name the statistics, so a user
    preparing clips elsewhere could pad with the mean, or normalise by statistics of the unpadded frames."""
    from mmdistill.keys import input_keys
    from mmdistill.modalities.video.adapter import _decoding_words
    from mmdistill.modalities.video.config import VideoKeys
    from mmdistill.modalities.video.datasets import FrameSampling
    from mmdistill.modalities.video.prepare import decoding_meta

    dec = decoding_meta(FrameSampling(num_frames=3, frame_gap=1, frame_size=16, resize="pad"), "files")
    for said in (dec["resize"], _decoding_words(dec), input_keys(VideoKeys)["resize"].help):
        assert "black (0)" in said and "mean and std" in said, said


def test_the_card_says_how_the_real_clips_were_decoded():
    """Walk 54P: a video run's card never said how the clips were decoded (the resize mode, by index or by time): only
    the export note did. The adapter's input_note puts it beside the normalisation line of every card and hf description."""
    from mmdistill.consumer import input_note
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.prepare import decoding_meta
    from mmdistill.modalities.video.sampling import FrameSampling

    said = input_note(MODALITY, {"decoding": decoding_meta(FrameSampling(resize="pad", sample_fps=8, frame_size=32), "files")})
    assert said is not None and "by time, each clip resampled to 8 fps" in said and "padded with black" in said
    assert "32x32" in said and "inputs_like" in said
    assert input_note(MODALITY, {"mean": [0.5], "std": [0.2]}) is None  # moving digits: no files decoded
