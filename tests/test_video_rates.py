"""Walk 52F: clips of different frame rates sampled by index are told of (the sampled frames span different times)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avi_files import write_avi


def _clips(root: Path, rates: dict[str, int]) -> Path:
    """root/<class>/<name>.avi of 12 frames (40 x 40), one per entry of ``rates`` ({name: fps}), in two classes."""
    rng = np.random.default_rng(0)
    for i, (name, fps) in enumerate(rates.items()):
        frames = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(12)]
        write_avi(root / ("a" if i % 2 else "b") / f"{name}.avi", frames, fps=fps)
    return root


def test_mixed_frame_rates_are_recorded_and_warned_of_from_the_cache_too(tmp_path, caplog):
    """Phone clips at 60 fps beside 15 fps ones: frame_gap picks frames by index, so one motion came out at four
    speeds and nothing said so (nor which rates the clips had). Now the rates are counted in the load report
    (facts.frame_rates) and a warning gives the time the sampled frames span at each end."""
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    root = _clips(tmp_path / "data", {f"c{i}": fps for i, fps in enumerate([15, 15, 60, 60, 25, 30])})
    sampling = FrameSampling(num_frames=4, frame_gap=2, frame_size=8)
    for hit in (False, True):
        caplog.clear()
        with caplog.at_level("WARNING"):
            vs = load_clip_folder(root, sampling=sampling, cache_dir=tmp_path / "cache", test_fraction=0.5)
        assert vs.report.facts["cache"].startswith("hit" if hit else "wrote")
        assert vs.report.facts["frame_rates"] == {"15": 2, "25": 1, "30": 1, "60": 2}
        assert "frame rates from 15 to 60 fps" in caplog.text and "a 60 fps clip's frames span 0.12 s" in caplog.text


def test_close_frame_rates_are_recorded_without_a_warning(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    root = _clips(tmp_path / "data", {"a1": 25, "a2": 30, "b1": 25, "b2": 30})
    with caplog.at_level("WARNING"):
        vs = load_clip_folder(root, sampling=FrameSampling(num_frames=4, frame_gap=2, frame_size=8), use_cache=False,
                              test_fraction=0.5)
    assert vs.report.facts["frame_rates"] == {"25": 2, "30": 2} and "frame rates from" not in caplog.text
