"""Walk 55P: a validation split carved from a folder of clips holds out whole recordings (``validation=``): UCF-style
names' groups, or the groups ``group_by`` reads, reach ``ClassificationData.train_groups``."""

from __future__ import annotations

import numpy as np

from frame_folders import ucf_tree, write_frames  # tests/frame_folders.py


def _sides(data, out) -> tuple[set[str], set[str]]:
    """The recordings of the kept training clips and of the validation clips (each clip found by its pixels)."""
    of = {x.numpy().tobytes(): g for x, g in zip(data.train.x, data.train_groups)}
    return {of[x.numpy().tobytes()] for x in out.train.x}, {of[x.numpy().tobytes()] for x in out.test.x}


def test_validation_of_ucf_named_clips_holds_out_whole_recordings(tmp_path):
    """Class folders of UCF-named clips, split drawn (with group_by=ucf, and without it): validation=0.3 drew single
    clips of the training split, so clips cut from one recording were distilled on and validated on. Now no
    recording (a class's gXX) has clips on both sides, on a cache hit too."""
    from mmdistill.modalities.video.adapter import VideoModality
    from mmdistill.modalities.video.config import VideoDistillConfig
    from mmdistill.validation import hold_out_validation, load_data

    root = ucf_tree(tmp_path / "ucf", frames=2)
    for group_by in ("ucf", None):
        cfg = VideoDistillConfig(dataset="frames", data_root=str(root), num_frames=2, frame_gap=1, frame_size=8,
                                 cache_dir=str(tmp_path / "cache"), group_by=group_by, test_fraction=0.2)
        for _ in range(2):  # decoded, then read from the cache
            data = VideoModality().load(cfg)
            assert data.train_groups is not None and len(data.train_groups) == len(data.train)
            assert all(g.split(" ")[0] in ("JumpUp", "WaveLeft") and g.split(" ")[1].startswith("g") for g in data.train_groups)
            out = hold_out_validation(data, 0.3)
            kept, held = _sides(data, out)
            assert held and not kept & held, (group_by, kept & held)
            assert out.meta["validation"]["held_out_groups"] == len(held)
    cfg.validation = 0.3
    assert load_data(VideoModality(), cfg).meta["validation"]["held_out_groups"] >= 2


def test_validation_of_group_by_pattern_holds_out_whole_actors(tmp_path):
    """group_by a pattern: each actor's training clips carry the actor, none of the held-out actors."""
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    rng = np.random.default_rng(1)
    for cls in ("wave", "jump"):
        for actor in range(1, 7):
            for clip in range(2):
                write_frames(tmp_path / "data" / cls / f"actor{actor}_clip{clip}", 2, 8, 8, rng)
    vs = load_clip_folder(tmp_path / "data", kind="frames", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=8),
                          use_cache=False, group_by=r"(actor\d+)_", test_fraction=0.3)
    assert vs.train_groups is not None and len(vs.train_groups) == len(vs.y_train)
    assert set(vs.train_groups).isdisjoint(vs.report.facts["test_groups"])
    assert {g for g in vs.train_groups} <= {f"actor{a}" for a in range(1, 7)}


def test_clips_without_known_recordings_give_no_groups(tmp_path):
    """Names that are not UCF-style and no group_by: the recordings are unknown, validation draws clips as before."""
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    rng = np.random.default_rng(2)
    for cls in ("a", "b"):
        for i in range(4):
            write_frames(tmp_path / "data" / cls / f"clip{i}", 2, 8, 8, rng)
    vs = load_clip_folder(tmp_path / "data", kind="frames", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=8),
                          use_cache=False)
    assert vs.train_groups is None


def test_a_video_validation_run_keeps_its_validation_block_in_the_synthetic_meta(tmp_path):
    """Walk 55W: ``mmdistill run video-dm ... validation=0.3`` over UCF-named clips wrote a manifest with no
    ``synthetic.meta.validation`` (the README: "the manifest's synthetic.meta.validation.held_out_groups counts
    them"): the video adapter copied only mean, std, load_report and decoding from the data's meta. Images, audio and
    audio-visual pairs keep it."""
    import torch

    from mmdistill.modalities.video.adapter import VideoModality
    from mmdistill.modalities.video.config import VideoDistillConfig
    from mmdistill.validation import load_data

    root = ucf_tree(tmp_path / "ucf", frames=2)
    cfg = VideoDistillConfig(dataset="frames", data_root=str(root), num_frames=2, frame_gap=1, frame_size=8, ipc=1,
                             cache_dir=str(tmp_path / "cache"), test_fraction=0.2, validation=0.3)
    data = load_data(VideoModality(), cfg)
    syn = VideoModality().init_synthetic(data, cfg, torch.Generator().manual_seed(0))
    assert syn.meta["scored_on"] == "validation"
    assert syn.meta["validation"] == data.meta["validation"] and syn.meta["validation"]["held_out_groups"] >= 2
