"""``group_by`` on audio class folders (walk 54H): before, it was refused as "a column of a CSV file", so a user whose
recordings are one folder per class (``yes/spk03_take2.wav``) could not keep a speaker out of both splits without
writing a CSV. Class folders (and ``train/`` + ``test/``) now read the group from each clip's file name, as the video
adapter and the audio-visual folder of clips do (``spk(\\d+)``, ``ucf``); a CSV ``data_root`` reads a column as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset, tone_clip  # noqa: E402

SPEAKER = r"spk(\d+)"
KW = {"sample_rate": 8000, "duration": 0.25}


def _folders(root: Path, speakers: dict[str, list[int]] | None = None, names: str = "spk{s:02d}_take{t}") -> Path:
    """Class folders ``rising``/``steady`` of two takes per speaker (``speakers``: each class's speakers; 1-4)."""
    speakers = speakers or {"rising": [1, 2, 3, 4], "steady": [1, 2, 3, 4]}
    for kind, spks in speakers.items():
        (root / kind).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(len(kind))
        for s in spks:
            for t in range(2):
                sf.write(root / kind / f"{names.format(s=s, t=t, c=kind)}.wav", tone_clip(kind, rng, 8000, 0.25), 8000)
    return root


def _speakers(names) -> set[str]:
    return {Path(n).name[:5] for n in names}


def test_class_folders_hold_out_whole_speakers_and_record_them(tmp_path):
    root = _folders(tmp_path / "sounds")
    ds = load_audio_dataset("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=3, **KW)
    facts = ds.report.facts
    assert facts["group_by"] == SPEAKER and len(facts["test_groups"]) == 1  # round(4 x 0.25)
    assert len(ds.x_test) == 2 * 2 and len(ds.x_train) == 3 * 2 * 2  # one speaker x 2 classes x 2 takes
    assert f"'{SPEAKER}'" in ds.split_rule and "file names" in ds.split_rule
    items, _ = find_audio_items("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=3)
    test, train = (_speakers(it.name for it in items if it.split == side) for side in ("test", "train"))
    assert test == {f"spk{g}" for g in facts["test_groups"]} and not test & train
    assert f"group(s) `{facts['test_groups'][0]}` of group_by `{SPEAKER}` held out whole" in ds.report.summary()  # the card line


def test_the_adapter_records_the_split_rule_in_the_data_meta(tmp_path):
    from mmdistill.modalities.audio import MODALITY
    from mmdistill.modalities.audio.config import AudioDistillConfig

    root = _folders(tmp_path / "sounds")
    data = MODALITY.load(AudioDistillConfig(dataset="folder", data_root=str(root), group_by=SPEAKER, **KW))
    assert data.meta["load_report"]["facts"]["group_by"] == SPEAKER and f"'{SPEAKER}'" in data.meta["split_rule"]
    plain = MODALITY.load(AudioDistillConfig(dataset="folder", data_root=str(root), **KW))
    assert "split_rule" not in plain.meta  # each class's share: the rule the loader always used, not recorded


def test_ucf_names_are_read_too(tmp_path):
    root = _folders(tmp_path / "ucf", names="v_{c}_g{s:02d}_c{t:02d}")
    items, _ = find_audio_items("folder", root, group_by="ucf", test_fraction=0.5, split_seed=1)
    groups = {side: {Path(it.name).stem.split("_")[2] for it in items if it.split == side} for side in ("train", "test")}
    assert len(groups["test"]) == 2 and not groups["train"] & groups["test"]


def test_train_and_test_folders_with_a_speaker_on_both_sides_are_refused(tmp_path):
    root = tmp_path / "split"
    _folders(root / "train", {"rising": [1, 2, 3], "steady": [1, 2, 3]})
    _folders(root / "test", {"rising": [4], "steady": [4]})
    ds = load_audio_dataset("folder", root, group_by=SPEAKER, **KW)
    assert len(ds.x_test) == 4 and ds.split_rule is None  # a given split: kept as given
    (root / "test" / "steady" / "spk02_take9.wav").write_bytes((root / "train" / "steady" / "spk02_take0.wav").read_bytes())
    with pytest.raises(DataError, match=r"1 group\(s\) of group_by='spk\(\\d\+\)' \(--group-by\) have clips in both splits.*"
                                        r"'02' \(train spk02_take0.wav; test spk02_take9.wav\)"):
        load_audio_dataset("folder", root, group_by=SPEAKER, **KW)


def test_group_by_mistakes_on_class_folders_are_named(tmp_path):
    root = _folders(tmp_path / "sounds")
    with pytest.raises(DataError, match=r"group_by='speaker' \(--group-by\) reads each clip's group from its file name .* matches "
                                        r"none of the 16 clips' names \(e.g. spk01_take0\).*a CSV path,label,<group column>"):
        load_audio_dataset("folder", root, group_by="speaker", **KW)  # a CSV column's name given for class folders
    with pytest.raises(DataError, match=r"group_by='spk\(0\[12\]\)' \(--group-by\) .* but 8 clip\(s\) do not match: .*spk03_take0.wav"
                                        r".*a CSV path,label,split"):
        load_audio_dataset("folder", root, group_by="spk(0[12])", **KW)
    with pytest.raises(ConfigError, match=r"group_by='spk\(' \(--group-by\) is neither 'ucf' nor a regular expression") as err:
        load_audio_dataset("folder", root, group_by="spk(", **KW)
    assert err.value.key == "group_by"
    with pytest.raises(DataError, match=r"holds out whole groups, but the clips' names give 1 group\(s\) \('take'\); it needs two") as err:
        load_audio_dataset("folder", root, group_by=r"(take)\d", **KW)  # one group only
    assert "--split-file" not in str(err.value)


def test_a_class_whose_speakers_are_all_held_out_is_named(tmp_path):
    root = _folders(tmp_path / "sounds", {"rising": [1, 2, 3, 4], "steady": [1, 2, 3, 4], "chord": [4]})
    for seed in range(20):
        try:
            find_audio_items("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=seed)
        except DataError as exc:
            assert "group_by='spk(\\d+)' (--group-by) held out as test hold all the clips of 1 class(es)" in str(exc)
            assert "'chord' (group(s) '04')" in str(exc)
            return
    pytest.fail("no seed held out speaker 04")


def test_a_csv_data_root_reads_a_column_and_says_patterns_are_for_folders(tmp_path):
    root = _folders(tmp_path / "sounds")
    rows = ["path,label,speaker"] + [f"{p.relative_to(root)},{p.parent.name},{p.name[:5]}" for p in sorted(root.rglob("*.wav"))]
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    ds = load_audio_dataset("folder", root / "meta.csv", group_by="speaker", **KW)
    assert ds.report.facts["group_by"] == "speaker" and "column 'speaker'" in ds.split_rule
    with pytest.raises(DataError, match=r"is not a column of its header row.*a pattern over file names .* is read from class folders"):
        load_audio_dataset("folder", root / "meta.csv", group_by=SPEAKER, **KW)


def test_a_source_without_groups_names_the_sources_that_have_them(tmp_path):
    # fsdd takes group_by='speaker' (walk 54O: tests/test_audio_fsdd_speakers.py); the others are refused, naming both
    with pytest.raises(DataError, match=r"dataset folder \(a column .*\) or fsdd \(group_by='speaker'\), and dataset 'gtzan' has neither"):
        load_audio_dataset("gtzan", tmp_path, group_by="speaker", **KW)


def test_an_unreadable_clip_leaves_the_groups_drawn_among_the_readable(tmp_path):
    root = _folders(tmp_path / "sounds")
    (root / "rising" / "spk05_take0.wav").write_bytes(b"not a wav")  # speaker 05's only clip: unreadable, so not a group
    ds = load_audio_dataset("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=3, **KW)
    assert len(ds.skipped) == 1 and "05" not in ds.report.facts["test_groups"] and len(ds.x_test) == 4


def test_ucf_style_recordings_split_across_sides_without_group_by_are_warned_of(tmp_path, caplog):
    # before: the per-class draw put clips of one recording (v_<Class>_g<group>_c<clip>) on both sides without a word, where
    # the video loader warns of it
    root = _folders(tmp_path / "ucf", names="v_{c}_g{s:02d}_c{t:02d}")
    with caplog.at_level("WARNING"):
        ds = load_audio_dataset("folder", root, test_fraction=0.5, split_seed=0, **KW)
    assert ds.report.facts["groups_in_both"] >= 1
    assert "UCF-style clip names" in caplog.text and "pass --group-by ucf (group_by=ucf)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        grouped = load_audio_dataset("folder", root, group_by="ucf", test_fraction=0.5, split_seed=0, **KW)
    assert "groups_in_both" not in grouped.report.facts and "UCF-style" not in caplog.text


def test_the_held_out_groups_log_line_names_the_pattern_as_the_key(tmp_path, caplog):
    # before: "held out 1 of 4 groups of column 'group_by=spk(\\d+)'": the file-name pattern called a CSV column
    root = _folders(tmp_path / "sounds")
    with caplog.at_level("INFO", logger="mmdistill"):
        find_audio_items("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=3)
    assert "held out 1 of 4 groups of group_by='spk(\\d+)' (--group-by) with all their clips" in caplog.text
    assert "column" not in caplog.text


def test_a_pattern_is_quoted_as_typed_not_with_its_backslashes_doubled(tmp_path, caplog):
    """walk 54P: the log line, the split rule and the messages wrote the pattern with repr, ``group_by='spk(\\\\d+)'``:
    pasted back into a shell, that pattern matches a backslash, not the speaker number the user's ``spk(\\d+)`` read."""
    from mmdistill.modalities.groups import quoted
    from mmdistill.modalities.video.groups import said_group_by

    assert quoted(SPEAKER) == "'" + SPEAKER + "'" and said_group_by(SPEAKER) == f"group_by='{SPEAKER}' (--group-by)"
    assert quoted("it's") == repr("it's") and quoted("a\x1bb") == repr("a\x1bb")  # a quote, a control character
    root = _folders(tmp_path / "sounds")
    with caplog.at_level("INFO"):
        ds = load_audio_dataset("folder", root, group_by=SPEAKER, test_fraction=0.25, split_seed=3, **KW)
    assert f"group_by='{SPEAKER}' (--group-by)" in caplog.text and "\\\\" not in caplog.text
    assert f"group_by='{SPEAKER}' reads" in ds.split_rule and "\\\\" not in ds.split_rule
    with pytest.raises(DataError) as err:
        load_audio_dataset("folder", root, group_by=r"mic(\d+)", **KW)
    assert "group_by='mic(\\d+)' (--group-by)" in str(err.value) and "\\\\" not in str(err.value)


def test_each_clips_group_is_read_once_and_a_ucf_recording_is_its_classs(tmp_path, monkeypatch):
    # review R2.2: name_groups read every clip's group two or three times, and refuse_split_groups read them all again
    import mmdistill.modalities.video.groups as video_groups

    root = tmp_path / "split"
    _folders(root / "train", {"rising": [1, 2], "steady": [1, 2]}, names="v_{c}_g{s:02d}_c{t:02d}")
    _folders(root / "test", {"rising": [3], "steady": [2]}, names="v_{c}_g{s:02d}_c{t:02d}")  # steady's g02 on both sides
    reads = []
    real = video_groups.clip_group
    monkeypatch.setattr(video_groups, "clip_group", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    with pytest.raises(DataError, match=r"1 group\(s\) of group_by='ucf' \(--group-by\) have clips in both splits.*"
                                        r"'steady g2' \(train v_steady_g02_c00.wav; test v_steady_g02_c00.wav\)"):
        find_audio_items("folder", root, group_by="ucf")
    assert len(reads) == 12  # 8 training and 4 test clips, each read once
    for take in (0, 1):  # steady's g02 only in test now, rising's g02 in training: two recordings, not one on both sides
        (root / "train" / "steady" / f"v_steady_g02_c{take:02d}.wav").unlink()
    items, _ = find_audio_items("folder", root, group_by="ucf")
    assert {(it.label, it.group) for it in items if it.split == "test"} == {("rising", "g3"), ("steady", "g2")}


def test_the_unused_split_keys_warning_says_which_split_the_data_gives(tmp_path, caplog):
    """Walk 55N: audio's warning said "has its own test split (the data's)" for train/ + test/ folders, a CSV split
    column and the generated tones alike, where the README quotes "(train/ and test/ class folders)"."""
    import logging

    root = tmp_path / "split"
    _folders(root / "train", {"rising": [1, 2], "steady": [1, 2]})
    _folders(root / "test", {"rising": [3], "steady": [3]})
    rows = ["path,label,split"] + [f"{p.relative_to(root)},{p.parent.name},{p.parts[-3]}" for p in sorted(root.rglob("*.wav"))]
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        load_audio_dataset("folder", root, test_fraction=0.3, **KW)
        load_audio_dataset("folder", root / "meta.csv", split_seed=3, **KW)
        load_audio_dataset("tones", None, test_fraction=0.3)
    assert "test_fraction=0.3 (--test-fraction) not used: dataset 'folder' has its own test split (train/ and test/ class folders)" in caplog.text
    assert "split_seed=3 (--split-seed) not used: dataset 'folder' has its own test split (its split column)" in caplog.text
    assert "dataset 'tones' has its own test split (generated with split_seed: the last quarter of each class's clips)" in caplog.text


def test_the_unused_split_keys_warning_names_a_val_folder_as_the_test_split(tmp_path, caplog):
    # final read R7.3: a train/ + val/ tree was told "train/ and test/ class folders" (the words were chosen from the
    # key, not from the tree the loader read); the layout fact says the tree's own
    import logging

    root = tmp_path / "split"
    _folders(root / "train", {"rising": [1, 2], "steady": [1, 2]})
    _folders(root / "val", {"rising": [3], "steady": [3]})
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("folder", root, test_fraction=0.3, **KW)
    assert ("test_fraction=0.3 (--test-fraction) not used: dataset 'folder' has its own test split (train/ and val/ class "
            "folders (val/ is the test split))") in caplog.text
    assert ds.report.facts["layout"] == "train/ and val/ class folders (val/ is the test split)"
