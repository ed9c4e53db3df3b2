"""``group_by`` for groups kept as folders inside each class folder (walk 55B): ``<class>/<speaker>/take1.wav``
(VoxCeleb, LibriSpeech), ``<class>/<actor>/clip.avi``. The loaders found those clips (they walk a class folder at any
depth), but ``group_by`` searched only the file name (``take1``), so no speaker could be held out without renaming
every file or writing a CSV; ``folder`` (and a pattern with a ``/``) now reads the path below the class folder, in the
audio, video and audio-visual folder loaders alike. File-name patterns read as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import DataError

KW = {"sample_rate": 8000, "duration": 0.25}


def _nested_audio(root: Path, speakers=(1, 2, 3, 4), flat: tuple[str, ...] = ()) -> Path:
    """``root/<class>/speaker<N>/take<T>.wav`` (two classes, two takes per speaker), and ``flat`` files directly in
    class folder ``low``."""
    sf = pytest.importorskip("soundfile")
    from mmdistill.modalities.audio.datasets import tone_clip

    rng = np.random.default_rng(0)
    for kind, cls in (("rising", "low"), ("steady", "high")):
        for s in speakers:
            (root / cls / f"speaker{s}").mkdir(parents=True, exist_ok=True)
            for t in range(2):
                sf.write(root / cls / f"speaker{s}" / f"take{t}.wav", tone_clip(kind, rng, 8000, 0.25), 8000)
    for name in flat:
        sf.write(root / "low" / name, tone_clip("rising", rng, 8000, 0.25), 8000)
    return root


@pytest.mark.parametrize("group_by", ["folder", "([^/]+)/"])
def test_audio_class_folders_hold_out_whole_speaker_folders(tmp_path, group_by):
    pytest.importorskip("torchaudio")
    from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset

    root = _nested_audio(tmp_path / "sounds")
    items, _ = find_audio_items("folder", root, group_by=group_by, test_fraction=0.25, split_seed=3)
    sides = {side: {Path(it.name).parent.name for it in items if it.split == side} for side in ("train", "test")}
    assert len(sides["test"]) == 1 and len(sides["train"]) == 3 and not sides["test"] & sides["train"]
    ds = load_audio_dataset("folder", root, group_by=group_by, test_fraction=0.25, split_seed=3, **KW)
    assert ds.report.facts["test_groups"] == sorted(sides["test"]) and len(ds.x_test) == 2 * 2  # 1 speaker x 2 classes x 2 takes
    assert "paths below their class folders" in ds.split_rule


def test_audio_folder_groups_name_the_clips_outside_a_sub_folder_with_counts(tmp_path):
    from mmdistill.modalities.audio.datasets import find_audio_items

    root = _nested_audio(tmp_path / "sounds", flat=("loose1.wav", "loose2.wav"))
    with pytest.raises(DataError, match=r"group_by='folder' \(--group-by\) reads each clip's recording from its path below its class "
                                        r"folder as the first sub-folder .*but 2 clip\(s\) do not match: .*loose1.wav, .*loose2.wav; "
                                        r"move them into a sub-folder of their class folder"):
        find_audio_items("folder", root, group_by="folder")
    flat = tmp_path / "flat"
    (flat / "low").mkdir(parents=True)
    (flat / "high").mkdir()
    for cls in ("low", "high"):
        (flat / cls / "a.wav").write_bytes((root / "low" / "loose1.wav").read_bytes())
    with pytest.raises(DataError, match=r"matches none of the 2 clips' paths \(e.g. high/a.wav\): put each group's clips in a "
                                        r"sub-folder of their class folder"):
        find_audio_items("folder", flat, group_by="folder")


def test_a_file_name_pattern_on_nested_clips_points_at_group_by_folder(tmp_path):
    from mmdistill.modalities.audio.datasets import find_audio_items

    root = _nested_audio(tmp_path / "sounds")
    with pytest.raises(DataError, match=r"matches none of the 16 clips' names \(e.g. take0\).*; the clips lie in sub-folders of "
                                        r"their class folders \(e.g. speaker1/take0\): group_by=folder \(--group-by folder\)"):
        find_audio_items("folder", root, group_by=r"speaker(\d+)")


def test_audio_train_and_test_folders_with_a_speaker_folder_on_both_sides_are_refused(tmp_path):
    from mmdistill.modalities.audio.datasets import find_audio_items

    root = tmp_path / "split"
    _nested_audio(root / "train", speakers=(1, 2, 3))
    _nested_audio(root / "test", speakers=(4,))
    items, _ = find_audio_items("folder", root, group_by="folder")
    assert {Path(it.name).parent.name for it in items if it.split == "test"} == {"speaker4"}
    _nested_audio(root / "test", speakers=(2,))
    with pytest.raises(DataError, match=r"1 group\(s\) of group_by='folder' \(--group-by\) have clips in both splits.*'speaker2'"):
        find_audio_items("folder", root, group_by="folder")


def _nested_video(root: Path, actors: int = 4) -> Path:
    """``root/<class>/actor<N>/clip<T>.avi`` (empty files: the layout is read without decoding)."""
    for cls in ("jump", "wave"):
        for a in range(1, actors + 1):
            (root / cls / f"actor{a}").mkdir(parents=True, exist_ok=True)
            for t in range(2):
                (root / cls / f"actor{a}" / f"clip{t}.avi").write_bytes(b"")
    return root


def test_video_class_folders_hold_out_whole_actor_folders(tmp_path):
    from mmdistill.modalities.video.datasets import discover

    root = _nested_video(tmp_path / "clips")
    items = discover(root, "files", None, 0.5, 0, group_by="folder")
    sides = {side: {it.path.parent.name for it in items if it.split == side} for side in ("train", "test")}
    assert len(sides["test"]) == 2 and len(sides["train"]) == 2 and not sides["test"] & sides["train"]
    with pytest.raises(DataError, match=r"reads each clip's recording from its file name as the pattern 'actor\(\\d\+\)', but 16 "
                                        r"clip\(s\) do not match: .*; the clips lie in sub-folders of their class folders \(e.g. "
                                        r"actor1/clip0\): group_by=folder"):
        discover(root, "files", None, 0.5, 0, group_by=r"actor(\d+)")


def test_a_video_split_file_reads_the_folder_below_each_clips_class_folder(tmp_path):
    from mmdistill.modalities.video.datasets import discover

    root = _nested_video(tmp_path / "clips")
    rows = ["path,label,split"] + [f"{c}/actor{a}/clip{t}.avi,{c},{'test' if a == 4 or (a == 3 and t) else 'train'}"
                                   for c in ("jump", "wave") for a in range(1, 5) for t in range(2)]
    (root / "clips.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"1 group\(s\) of group_by='folder' \(--group-by\) have clips in both splits.*'actor3'"):
        discover(root, "files", None, 0.5, 0, group_by="folder")


def test_file_name_patterns_read_file_names_as_before():
    """A ``/`` inside a character class (``[^/_]``) reads file names, as every pattern did; a ``/`` outside one, or
    ``folder``, reads the path below the class folder."""
    from mmdistill.modalities.video.groups import below_class, group_pattern, reads_folders

    assert not reads_folders(group_pattern(r"^([^/_]+)_")) and not reads_folders(group_pattern("ucf"))
    assert not reads_folders(group_pattern(r"spk(\d+)")) and not reads_folders(group_pattern(r"[]/]"))
    assert reads_folders(group_pattern("folder")) and reads_folders(group_pattern(r"^[^/]+/(sess\d+)/"))
    assert reads_folders(group_pattern(r"\/(x)"))
    root = Path("/data")
    assert below_class(Path("/data/dog/spk1/take1.wav"), "dog", root) == "spk1/take1"
    assert below_class(Path("/data/train/dog/spk1/s2/take1.wav"), "dog", root) == "spk1/s2/take1"
    assert below_class(Path("/data/train/train/spk1/take1.wav"), "train", root) == "spk1/take1"  # a class named train
    assert below_class(Path("/data/clips/spk1/take1.wav"), "dog", root) is None


def test_the_audio_visual_folder_of_clips_holds_out_whole_speaker_folders(tmp_path):
    pytest.importorskip("decord")
    from avi_files import write_avi

    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.recipes.audio_visual_dm import RECIPE

    root = tmp_path / "clips"
    t = np.arange(4000) / 8000
    for c, name in enumerate("ab"):
        for s in range(1, 5):
            write_avi(root / name / f"speaker{s}" / "take.avi", [np.full((16, 16, 3), 60, dtype=np.uint8)] * 5, fps=10,
                      audio=0.3 * np.sin(2 * np.pi * (300.0 * (c + 1) + 10 * s) * t), rate=8000)
    cfg = RECIPE.config(dataset="video", image_size=16, n_mels=16, audio_frames=8, sample_rate=8000, duration=0.5,
                        multi_formation=1, progress=False, data_root=str(root), group_by="folder", test_fraction=0.25, split_seed=3)
    data = MODALITY.load(cfg)
    sides = {side: {Path(n).parent.name for n in getattr(data, side).names} for side in ("train", "test")}
    assert len(sides["test"]) == 1 and not sides["test"] & sides["train"]
    assert data.meta["load_report"]["facts"]["test_groups"] == sorted(sides["test"])
    assert "paths below their class folders" in data.meta["split_rule"]
