"""Walk 52F: clips cut from one recording (UCF101's v_<Class>_g<group>_c<clip>) kept on one side of the split
(``group_by``), and a warning when a split without it puts one recording on both sides."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import ConfigError, DataError
from frame_folders import ucf_tree, write_frames  # tests/frame_folders.py


def _load(root: Path, tmp_path: Path, **kw):
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    return load_clip_folder(root, kind="frames", sampling=FrameSampling(num_frames=4, frame_gap=1, frame_size=8),
                            cache_dir=tmp_path / "cache", **kw)


def _groups(paths) -> dict[str, set[str]]:
    return {p.split("_c")[0].split("/")[-1] for p in paths}


def test_a_drawn_split_of_ucf_names_warns_of_shared_recordings_and_group_by_ucf_holds_out_whole_groups(tmp_path, caplog):
    """Class folders of UCF-style clips: the split was drawn clip by clip, so clips of one recording were trained on
    and scored on, without a word (the user's accuracy measured recognising the recording). Now a warning names them
    and points at --group-by ucf, which holds out whole groups of every class (as UCF101's own lists do)."""
    from mmdistill.modalities.video.datasets import discover

    root = ucf_tree(tmp_path / "data")
    with caplog.at_level("WARNING"):
        vs = _load(root, tmp_path)
    assert vs.report.facts["groups_in_both"] >= 1
    assert "have clips in both the training and the test split" in caplog.text and "--group-by ucf" in caplog.text

    caplog.clear()
    with caplog.at_level("WARNING"):
        vs = _load(root, tmp_path, group_by="ucf", test_fraction=0.4)
    assert "both the training and the test" not in caplog.text
    held = vs.report.facts["test_groups"]
    assert vs.report.facts["group_by"] == "ucf" and len(held) == 2  # round(5 groups x 0.4)
    assert vs.y_test.numel() == 2 * 2 * 3  # 2 groups x 2 classes x 3 clips, every clip of a held-out group
    items = discover(root, "frames", None, 0.4, 0, group_by="ucf")
    test = {p for it in items if it.split == "test" for p in [str(it.path)]}
    train = {str(it.path) for it in items if it.split == "train"}
    assert not {g.split("_g")[1] for g in _groups(test)} & {g.split("_g")[1] for g in _groups(train)}
    assert "of the recordings (group_by=ucf)" in vs.report.facts["layout"]


def test_a_split_file_with_a_recording_on_both_sides_is_refused_under_group_by(tmp_path, caplog):
    """A user's CSV path,label,split that puts clip 1 of a recording in test and its clips 2-3 in training is a leak;
    with group_by it is refused naming the recording, and without it the UCF-style names are warned of. A group
    number shared by two classes is two recordings (UCF's groups are per class): not refused."""
    root = ucf_tree(tmp_path / "data", groups=2, clips=2)
    rows = [(f"{c}/v_{c}_g{g:02d}_c{k:02d}", c, "test" if g == 2 else "train") for c in ("JumpUp", "WaveLeft")
            for g in (1, 2) for k in (1, 2)]
    rows[0] = (rows[0][0], rows[0][1], "test")  # JumpUp g1 c1 in test, c2 in train
    split = tmp_path / "clips.csv"
    with open(split, "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label", "split"), *rows])
    with pytest.raises(DataError, match=r"1 group\(s\) of group_by='ucf' \(--group-by\) have clips in both splits, so the test clips "
                                        r"score groups the model trained on: 'JumpUp g1' \(train v_JumpUp_g01_c02; test "
                                        r"v_JumpUp_g01_c01\); move each group's clips to one side, or leave group_by out$"):
        _load(root, tmp_path, split_file=str(split), group_by="ucf")
    with caplog.at_level("WARNING"):
        vs = _load(root, tmp_path, split_file=str(split))
    assert vs.report.facts["groups_in_both"] == 1 and "'JumpUp g1'" in caplog.text
    rows[0] = (rows[0][0], rows[0][1], "train")
    with open(split, "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label", "split"), *rows])
    assert _load(root, tmp_path, split_file=str(split), group_by="ucf").y_test.numel() == 4


def test_group_by_a_pattern_and_its_errors(tmp_path):
    """A regular expression names the recording (its first capture group); a clip it does not match, a single group,
    a pattern that does not compile, and group_by on data without files are refused by name."""
    from mmdistill.modalities.video.groups import group_pattern

    root = ucf_tree(tmp_path / "data", groups=3, clips=2)
    vs = _load(root, tmp_path, group_by=r"_g(\d+)_", test_fraction=0.3)
    assert len(vs.report.facts["test_groups"]) == 1 and vs.y_test.numel() == 2 * 2
    (root / "JumpUp" / "other").mkdir()
    (root / "JumpUp" / "v_JumpUp_g01_c01" / "frame_0.png").rename(root / "JumpUp" / "other" / "frame_0.png")
    with pytest.raises(DataError, match=r"1 clip\(s\) do not match: .*JumpUp/other"):
        _load(root, tmp_path, group_by="ucf")
    shutil.rmtree(root / "JumpUp" / "other")
    with pytest.raises(DataError, match=r"the clips' names give 1 group\(s\) \('v_'\); it needs two or more"):
        _load(root, tmp_path, group_by=r"v_")
    with pytest.raises(ConfigError, match="group_by='_g\\(' .*neither 'ucf' nor a regular expression"):
        group_pattern("_g(")


def test_group_by_needs_clip_files(tmp_path):
    from mmdistill.modalities.video.adapter import load_video_set
    from mmdistill.recipes.video_dm import RECIPE

    cfg = RECIPE.config_cls(group_by="ucf", md_train_per_class=2, md_test_per_class=1, md_frames=4, md_size=16)
    with pytest.raises(ConfigError, match="group_by='ucf'.*dataset 'moving-digits' has no files"):
        load_video_set(cfg)


def _person_tree(root: Path) -> Path:
    """root/<class>/<class>_<person>_c<k>/frame_XX.png: class A by p1-p3, B by p3 alone, C by p1 and p2."""
    rng = np.random.default_rng(0)
    for cls, persons in {"A": ["p1", "p2", "p3"], "B": ["p3"], "C": ["p1", "p2"]}.items():
        for p in persons:
            for k in range(2):
                write_frames(root / cls / f"{cls}_{p}_c{k}", 4, 8, 8, rng)
    return root


def test_group_by_names_a_class_whose_recordings_the_draw_held_out_or_kept(tmp_path, caplog):
    """Walk 52J: audio's group draw names a class whose groups were all held out (55dd1ab), the video draw did not --
    a class recorded by one person, held out, was refused after decoding as '0 training clip(s) listed, 0 unreadable or
    skipped ... add clips or remove the class', and one whose persons all trained was warned of as 'a drawn split holds
    out test_fraction of a class's clips, rounded'. Now the draw refuses the first naming the class, its groups and
    group_by, and the warning says the group draw kept the class's recordings for training."""
    root = _person_tree(tmp_path / "data")
    with pytest.raises(DataError, match=r"group_by='_\(p\\d\)_' \(--group-by\) held out as test hold all the clips of 1 "
                                        r"class\(es\).*'B' \(group\(s\) 'p3'\).*--split-file"):
        _load(root, tmp_path, group_by=r"_(p\d)_", test_fraction=0.34, split_seed=0, use_cache=False)  # p3 held out
    with caplog.at_level("WARNING"):
        vs = _load(root, tmp_path, group_by=r"_(p\d)_", test_fraction=0.34, split_seed=1)  # p2 held out: B trains only
    assert vs.report.facts["test_groups"] == ["p2"]
    said = " ".join(r.getMessage() for r in caplog.records if "no test clip" in r.getMessage())
    assert "'B'" in said and "was kept for training" in said and "rounded" not in said
    caplog.clear()
    with caplog.at_level("WARNING"):  # the cache hit says it alike
        again = _load(root, tmp_path, group_by=r"_(p\d)_", test_fraction=0.34, split_seed=1)
    assert again.report.facts["cache"].startswith("hit")
    assert any("was kept for training" in r.getMessage() for r in caplog.records)


def test_the_audio_visual_folder_of_clips_is_told_to_pass_the_group_by_it_reads(tmp_path, caplog):
    """Walk 52J: the audio-visual loader's folder of clips (dataset video) reads its layout with the video loader's
    discover, whose warning of UCF-style recordings on both sides of a drawn split ended 'pass --group-by ucf
    (group_by=ucf) to hold out whole groups' -- which the audio-visual loader refused ('group_by='ucf' names a column
    of a pairs CSV (dataset csv); dataset 'video' has none'), so its warning named other ways. Since walk 54B that
    loader reads group_by from clip names (:mod:`mmdistill.modalities.audio_visual.folder_groups`): the hint is back,
    and a folder whose every clip is unreadable says so (not that its readable clips name no group)."""
    from types import SimpleNamespace

    from mmdistill.modalities.audio_visual.loaders import FOLDER_GROUP_REMEDY, load_pairs, read_video_pairs
    from mmdistill.recipes import audio_visual_dm

    for cls in ("JumpUp", "Wave"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for g in (1, 2, 3):
            for c in (1, 2):
                (tmp_path / "data" / cls / f"v_{cls}_g{g:02d}_c{c:02d}.mp4").write_bytes(b"not a video")
    with caplog.at_level("WARNING"):
        read_video_pairs(tmp_path / "data", SimpleNamespace(test_fraction=0.5, split_seed=0, strict=False, duration=1.0))
    said = " ".join(r.getMessage() for r in caplog.records if "UCF-style" in r.getMessage())
    assert "recording(s)" in said and FOLDER_GROUP_REMEDY in said and "--group-by ucf" in said
    with pytest.raises(DataError, match="no readable pairs"):  # group_by read, not refused
        load_pairs(audio_visual_dm.RECIPE.config(dataset="video", data_root=str(tmp_path / "data"), group_by="ucf"))


def test_the_group_readers_take_the_callers_split_remedy(tmp_path):
    """Mend 54K: the audio-visual folder of clips (which takes no --split-file) rewrote the video group readers' errors by
    replacing the words 'a CSV path,label,split (--split-file)' in them -- a reworded message would silently keep
    naming --split-file. The readers and discover now take the remedy (``split_hint``, default the video loader's)."""
    from mmdistill.modalities.audio_visual.folder_groups import AV_SPLIT_HINT
    from mmdistill.modalities.video.groups import SPLIT_HINT, hold_out_groups
    from mmdistill.modalities.video.layout import discover

    root = ucf_tree(tmp_path / "data", groups=2, clips=1)
    with pytest.raises(DataError, match=r"do not match.*rename them, or give the split in a CSV path,label,split \(--split-file\)"):
        discover(root, "frames", None, 0.5, 0, group_by="speaker")  # the video loader's words, unchanged
    with pytest.raises(DataError, match="do not match") as err:
        discover(root, "frames", None, 0.5, 0, group_by="speaker", split_hint=AV_SPLIT_HINT)
    assert str(err.value).endswith(f"rename them, or give the split in {AV_SPLIT_HINT}") and "--split-file" not in str(err.value)
    paths, labels = [Path(f"v_A_g0{g}_c01") for g in (1, 2)], ["A", "B"]  # each class one group: one is held out whole
    with pytest.raises(DataError, match="no training clips") as err:
        hold_out_groups(paths, labels, "ucf", 0.5, 0, "root", split_hint="my own split")
    assert "give the split in my own split" in str(err.value) and SPLIT_HINT not in str(err.value)
