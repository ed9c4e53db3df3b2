"""``group_by`` on a folder of clips with sound (``dataset video``, walk 54B): before, it was refused as "a column of
a pairs CSV", so a user whose recordings are one folder per class could not keep a speaker out of both splits. It now
reads the group from each clip's file name (the video adapter's pattern: ``spk(\\d+)``), holds out whole groups with
``split_seed``, and records them as the pairs CSV's ``group_by`` does (the load report's ``test_groups``, the data's
``split_rule``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import ConfigError, DataError

SPEAKER = r"spk(\d+)"


def _cfg(**kw):
    from mmdistill.recipes.audio_visual_dm import RECIPE

    return RECIPE.config(**{"dataset": "video", "image_size": 16, "n_mels": 16, "audio_frames": 8, "sample_rate": 8000,
                            "duration": 0.5, "multi_formation": 1, "progress": False, **kw})


def _clip(path: Path, freq: float) -> None:
    from avi_files import write_avi

    t = np.arange(4000) / 8000
    write_avi(path, [np.full((16, 16, 3), 60, dtype=np.uint8)] * 5, fps=10, audio=0.3 * np.sin(2 * np.pi * freq * t), rate=8000)


def _speakers(root: Path, speakers: int = 4, takes: int = 2) -> Path:
    """Class folders ``a``/``b`` of ``spkNN_takeT.avi`` clips."""
    for c, name in enumerate("ab"):
        for s in range(1, speakers + 1):
            for t in range(takes):
                _clip(root / name / f"spk{s:02d}_take{t}.avi", 300.0 * (c + 1) + 10 * s)
    return root


def _split_speakers(data) -> dict[str, set[str]]:
    return {side: {Path(n).name[:5] for n in getattr(data, side).names} for side in ("train", "test")}


def test_class_folders_hold_out_whole_speakers_and_record_them(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _speakers(tmp_path / "clips")
    data = MODALITY.load(_cfg(data_root=str(root), group_by=SPEAKER, test_fraction=0.25, split_seed=3))
    sides = _split_speakers(data)
    assert sides["train"] and sides["test"] and not sides["train"] & sides["test"]
    facts = data.meta["load_report"]["facts"]
    assert facts["group_by"] == SPEAKER and [f"spk{g}" for g in facts["test_groups"]] == sorted(sides["test"])
    assert f"'{SPEAKER}'" in data.meta["split_rule"]
    assert len(data.test) == 4  # one speaker of four: both takes of both classes


def test_unreadable_clip_redraws_whole_groups_among_the_readable(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _speakers(tmp_path / "clips", takes=1)
    (root / "a" / "spk05_take0.avi").write_bytes(b"not a video")  # a fifth speaker, whose only clip cannot be read
    for seed in range(4):
        data = MODALITY.load(_cfg(data_root=str(root), group_by=SPEAKER, test_fraction=0.25, split_seed=seed))
        sides = _split_speakers(data)
        assert not sides["train"] & sides["test"] and sides["test"], seed
        assert data.meta["load_report"]["facts"]["split_redrawn"]
        assert "spk05" not in sides["test"]  # drawn among the readable clips: the unreadable speaker is no test group


def test_a_pattern_matching_no_clip_names_the_key_and_the_loaders_own_remedy(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _speakers(tmp_path / "clips", speakers=2, takes=1)
    with pytest.raises(DataError, match="group_by='speaker'") as err:
        MODALITY.load(_cfg(data_root=str(root), group_by="speaker"))
    assert "--split-file" not in str(err.value) and "data_root the CSV" in str(err.value)  # the AV recipes take no --split-file


def test_one_speaker_only_is_refused(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _speakers(tmp_path / "clips", speakers=1)
    with pytest.raises(DataError, match="1 group"):
        MODALITY.load(_cfg(data_root=str(root), group_by=SPEAKER))


def test_generated_pairs_still_refuse_group_by():
    from mmdistill.modalities.audio_visual import MODALITY

    with pytest.raises(ConfigError, match="pattern over clip file names"):
        MODALITY.load(_cfg(dataset="tones-digits", group_by="x"))


def test_a_class_whose_only_speaker_is_held_out_is_named_with_its_group(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "clips"
    for c, speakers in (("a", (1, 2, 3)), ("b", (1, 2, 3)), ("c", (4,))):
        for s in speakers:
            _clip(root / c / f"spk{s:02d}_take0.avi", 300.0 + 10 * s)
    said = []
    for seed in range(12):  # some seed holds out speaker 04, the only one of class c
        try:
            MODALITY.load(_cfg(data_root=str(root), group_by=SPEAKER, test_fraction=0.25, split_seed=seed))
        except DataError as exc:
            said.append(str(exc))
    assert said and all("'c' (group(s) '04')" in s and "no training clips" in s and "--split-file" not in s for s in said)
