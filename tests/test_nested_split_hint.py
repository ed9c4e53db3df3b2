"""Walk 55P: clips in sub-folders of their class folders (``<class>/<actor>/clip.avi``) whose split was drawn clip by
clip (no ``group_by``) put one actor's clips on both sides without a word; now a warning names the sub-folders on both
sides and points at ``--group-by folder`` (an info line when the draw kept them apart), once per load."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import DataError

HINT = "pass --group-by folder (group_by=folder) to hold out whole sub-folders"
#: session 56: what the hint adds with validation= (its draw holds out training clips one by one too)
VALIDATION_HINT = "holds out training clips clip by clip too, not whole sub-folders"


def test_the_helper_warns_of_sub_folders_on_both_sides_and_tells_otherwise(tmp_path, caplog):
    from mmdistill.modalities.groups import tell_nested_split

    log = logging.getLogger("mmdistill.test")
    paths = [tmp_path / c / f"spk{s}" / f"t{t}.wav" for c in ("a", "b") for s in (1, 2) for t in (0, 1)]
    labels = [p.parent.parent.name for p in paths]
    facts: dict = {}
    with caplog.at_level(logging.INFO):
        n = tell_nested_split(str(tmp_path), paths, labels, ["train", "test"] * 4, tmp_path, log, facts)
    assert n == 2 and facts == {"subfolders_in_both": 2}
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert (f"{tmp_path}: the clips of 2 of 2 class(es) lie in sub-folders of their class folders (e.g. spk1/t0) and the split "
            "was drawn clip by clip (no group_by): 2 sub-folder(s) have clips in both the training and the test split") in caplog.text
    assert "'spk1' (train spk1/t0; test spk1/t1)" in caplog.text and caplog.text.rstrip().endswith(HINT)
    caplog.clear()
    with caplog.at_level(logging.INFO):  # every speaker on one side: no leak, the hint at info level
        assert tell_nested_split(str(tmp_path), paths, labels, ["train"] * 2 + ["test"] * 2 + ["train"] * 2 + ["test"] * 2,
                                 tmp_path, log) == 0
    assert [r.levelname for r in caplog.records] == ["INFO"] and HINT in caplog.text
    caplog.clear()
    flat = [tmp_path / lab / p.name for p, lab in zip(paths, labels)]
    with caplog.at_level(logging.INFO):  # clips directly in their class folders: nothing to say
        assert tell_nested_split(str(tmp_path), flat, labels, ["train", "test"] * 4, tmp_path, log) == 0
    assert caplog.text == ""


def test_the_video_loader_says_it_before_decoding(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    for cls in ("jump", "wave"):
        for a in range(1, 4):
            for t in range(3):
                (tmp_path / "data" / cls / f"actor{a}").mkdir(parents=True, exist_ok=True)
                (tmp_path / "data" / cls / f"actor{a}" / f"clip{t}.avi").write_bytes(b"")  # not decodable: read after the split
    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match="no decodable clip"):
        load_clip_folder(tmp_path / "data", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=8), use_cache=False,
                         test_fraction=0.4)
    assert "lie in sub-folders of their class folders (e.g. actor1/clip0)" in caplog.text and HINT in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO), pytest.raises(DataError, match="no decodable clip"):
        load_clip_folder(tmp_path / "data", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=8), use_cache=False,
                         test_fraction=0.4, group_by="folder")
    assert HINT not in caplog.text


def test_the_audio_visual_folder_of_clips_says_it(tmp_path, caplog):
    pytest.importorskip("decord")
    from avi_files import write_avi

    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.recipes.audio_visual_dm import RECIPE

    root = tmp_path / "clips"
    t = np.arange(4000) / 8000
    for c, name in enumerate("ab"):
        for s in range(1, 3):
            for k in range(3):
                write_avi(root / name / f"speaker{s}" / f"take{k}.avi", [np.full((16, 16, 3), 60, dtype=np.uint8)] * 5, fps=10,
                          audio=0.3 * np.sin(2 * np.pi * (300.0 * (c + 1) + 10 * s + k) * t), rate=8000)
    cfg = RECIPE.config(dataset="video", image_size=16, n_mels=16, audio_frames=8, sample_rate=8000, duration=0.5,
                        multi_formation=1, progress=False, data_root=str(root), test_fraction=0.5, split_seed=3,
                        validation=0.25)  # session 56: the validation draw is said too
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    sides = {side: {Path(n).parent.name for n in getattr(data, side).names} for side in ("train", "test")}
    assert sides["train"] & sides["test"]  # the draw is clip by clip: a speaker on both sides
    assert HINT in caplog.text and "sub-folder(s) have clips in both the training and the test split" in caplog.text
    assert f"validation=0.25 {VALIDATION_HINT}" in caplog.text
    assert data.meta["load_report"]["facts"]["subfolders_in_both"] == len(sides["train"] & sides["test"])



def _speaker_tree(root, speakers: int) -> None:
    """<class>/speaker<s>/take<t>.wav: two classes of generated tones, ``speakers`` sub-folders each, three takes a speaker."""
    import soundfile as sf

    from mmdistill.modalities.audio.datasets import tone_clip

    rng = np.random.default_rng(0)
    for kind, cls in (("rising", "low"), ("steady", "high")):
        for s in range(1, speakers + 1):
            (root / cls / f"speaker{s}").mkdir(parents=True, exist_ok=True)
            for t in range(3):
                sf.write(root / cls / f"speaker{s}" / f"take{t}.wav", tone_clip(kind, rng, 8000, 0.25), 8000)

def test_the_audio_folder_loader_says_it_too(tmp_path, caplog):
    pytest.importorskip("torchaudio")
    pytest.importorskip("soundfile")
    from mmdistill.modalities.audio.datasets import load_audio_dataset

    _speaker_tree(tmp_path / "sounds", speakers=4)
    with caplog.at_level(logging.INFO):
        ds = load_audio_dataset("folder", tmp_path / "sounds", test_fraction=0.5, split_seed=0, sample_rate=8000, duration=0.25)
    assert "lie in sub-folders of their class folders (e.g. speaker" in caplog.text and HINT in caplog.text
    assert ds.report.facts.get("subfolders_in_both", 0) >= 1  # half of 3 takes a speaker: some speaker on both sides
    caplog.clear()
    with caplog.at_level(logging.INFO):
        load_audio_dataset("folder", tmp_path / "sounds", group_by="folder", test_fraction=0.5, split_seed=0, sample_rate=8000,
                           duration=0.25)
    assert HINT not in caplog.text


def test_a_root_given_with_a_tilde_reads_the_sub_folders_as_the_expanded_root(tmp_path, monkeypatch):
    """tell_nested_split expands the data root once for all clips (R4 minor): ``~/data`` finds the same sub-folders as the
    folder it names, once per load whatever the clip count."""
    from mmdistill.modalities.groups import tell_nested_split

    monkeypatch.setenv("HOME", str(tmp_path))
    log = logging.getLogger("mmdistill.test")
    paths = [tmp_path / "data" / c / f"spk{s}" / f"t{t}.wav" for c in ("a", "b") for s in (1, 2) for t in (0, 1)]
    labels = [p.parent.parent.name for p in paths]
    calls = []
    real = Path.expanduser
    monkeypatch.setattr(Path, "expanduser", lambda self: calls.append(self) or real(self))
    facts: dict = {}
    assert tell_nested_split("~/data", paths, labels, ["train", "test"] * 4, "~/data", log, facts) == 2
    assert facts == {"subfolders_in_both": 2} and len({str(c) for c in calls if str(c).startswith("~")}) == 1
    assert len([c for c in calls if str(c) == "~/data"]) == 1



def test_validation_on_nested_sub_folders_is_said_with_the_test_split_and_made_a_warning(tmp_path, caplog):
    """Session 56 (walk 56E's note): with validation= the hint spoke of the test split only, and at info level when the
    test draw kept the sub-folders apart, though the validation draw holds out training clips one by one (the sub-folders
    are no groups it knows): now it says so, and names the fix for both splits."""
    from mmdistill.modalities.groups import tell_nested_split

    log = logging.getLogger("mmdistill.test")
    paths = [tmp_path / c / f"spk{s}" / f"t{t}.wav" for c in ("a", "b") for s in (1, 2) for t in (0, 1)]
    labels = [p.parent.parent.name for p in paths]
    apart = ["train"] * 2 + ["test"] * 2 + ["train"] * 2 + ["test"] * 2
    with caplog.at_level(logging.INFO):
        assert tell_nested_split(str(tmp_path), paths, labels, apart, tmp_path, log, validation=0.2) == 0
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert f"validation=0.2 {VALIDATION_HINT}" in caplog.text
    assert caplog.text.rstrip().endswith(HINT + " (of the test and the validation split)")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert tell_nested_split(str(tmp_path), paths, labels, ["train", "test"] * 4, tmp_path, log, validation=0.25) == 2
    assert "in both the training and the test split" in caplog.text
    assert f"validation=0.25 {VALIDATION_HINT} (the validation clips likewise)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):  # no validation: as before
        tell_nested_split(str(tmp_path), paths, labels, apart, tmp_path, log)
    assert [r.levelname for r in caplog.records] == ["INFO"] and "validation=" not in caplog.text


def test_the_video_and_audio_adapters_pass_their_validation_to_the_hint(tmp_path, caplog):
    """Each caller passes the config's validation (video: load_clip_folder's, through the adapter; audio:
    load_audio_dataset's)."""
    pytest.importorskip("soundfile")
    from mmdistill.recipes import audio_dm, video_dm

    for cls in ("jump", "wave"):
        for a in range(1, 4):
            (tmp_path / "videos" / cls / f"actor{a}").mkdir(parents=True, exist_ok=True)
            for t in range(3):
                (tmp_path / "videos" / cls / f"actor{a}" / f"clip{t}.avi").write_bytes(b"")  # read after the hint: refused
    cfg = video_dm.RECIPE.config(dataset="folder", data_root=str(tmp_path / "videos"), test_fraction=0.4, validation=0.3,
                                 num_frames=2, frame_gap=1, frame_size=8, cache=False, progress=False)
    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match="no decodable clip"):
        video_dm.RECIPE.get_modality().load(cfg)
    assert f"validation=0.3 {VALIDATION_HINT}" in caplog.text
    caplog.clear()
    _speaker_tree(tmp_path / "sounds", speakers=3)
    cfg = audio_dm.RECIPE.config(dataset="folder", data_root=str(tmp_path / "sounds"), test_fraction=0.3, validation=0.3,
                                 sample_rate=8000, duration=0.25, progress=False)
    with caplog.at_level(logging.WARNING):
        audio_dm.RECIPE.get_modality().load(cfg)
    assert f"validation=0.3 {VALIDATION_HINT}" in caplog.text


def test_the_hint_takes_the_configs_validation_as_it_is(tmp_path, caplog):
    """Review 56 R4.3: each of the three callers coerced the config's ``validation`` (``float(... or 0.0)``) before the
    hint; the hint does it once, so None (a config without the key, or a caller passing it through) means none."""
    from mmdistill.modalities.groups import tell_nested_split

    log = logging.getLogger("mmdistill.test")
    paths = [tmp_path / c / f"spk{s}" / f"t{t}.wav" for c in ("a", "b") for s in (1, 2) for t in (0, 1)]
    labels = [p.parent.parent.name for p in paths]
    apart = ["train"] * 2 + ["test"] * 2 + ["train"] * 2 + ["test"] * 2
    with caplog.at_level(logging.INFO):
        assert tell_nested_split(str(tmp_path), paths, labels, apart, tmp_path, log, validation=None) == 0
    assert [r.levelname for r in caplog.records] == ["INFO"] and "validation=" not in caplog.text
