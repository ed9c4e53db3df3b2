"""FSDD held out by speaker (walk 54O): FSDD's documented split (takes 0-4 of every speaker and digit) puts every
speaker in both splits, and ``--dataset fsdd --group-by speaker`` was refused with a route (class folders and a
pattern). ``group_by='speaker'`` now holds out ``test_fraction`` of the speakers whole, drawn with ``split_seed``, from a
folder, a tar and a download alike, recorded as the other group splits are; the default split is unchanged."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset, tone_clip  # noqa: E402

KW = {"duration": 0.25}
SPEAKERS = ("ann", "bob", "cal", "dan")


def _fsdd(folder: Path, speakers: dict[int, tuple[str, ...]] | None = None) -> list[Path]:
    """FSDD-like ``{digit}_{speaker}_{index}.wav`` files (takes 0 and 5): digits 0-2, each by ``speakers[digit]``."""
    speakers = speakers or {d: SPEAKERS for d in range(3)}
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for digit, spks in speakers.items():
        for s in spks:
            for take in (0, 5):
                f = folder / f"{digit}_{s}_{take}.wav"
                sf.write(f, tone_clip(("steady", "rising", "falling")[digit], rng, 8000, 0.25), 8000)
                files.append(f)
    return files


def _speakers(ds_names: list[str]) -> set[str]:
    return {Path(n).name.split("_")[1] for n in ds_names}


def _check_by_speaker(ds) -> None:
    facts = ds.report.facts
    assert facts["group_by"] == "speaker" and len(facts["test_groups"]) == 1  # round(4 x 0.25)
    assert len(ds.x_test) == 3 * 2 and len(ds.x_train) == 3 * 3 * 2  # one speaker x 3 digits x 2 takes held out
    assert "speakers of the FSDD file names" in ds.split_rule and "group_by='speaker'" in ds.split_rule


def test_fsdd_by_speaker_from_a_folder_a_tar_and_a_download(tmp_path, monkeypatch):
    # before: DataError "group_by='speaker' (--group-by) holds out whole groups of dataset folder ... and dataset 'fsdd'
    # has neither; ... put the recordings in class folders 0/ ... 9/"
    files = _fsdd(tmp_path / "fsdd" / "recordings")
    folder = load_audio_dataset("fsdd", tmp_path / "fsdd", group_by="speaker", test_fraction=0.25, split_seed=3, **KW)
    _check_by_speaker(folder)
    with tarfile.open(tmp_path / "recordings.tar", "w") as tf:
        for f in files:
            tf.add(f, arcname=f"recordings/{f.name}")
    from_tar = load_audio_dataset("fsdd", tmp_path / "recordings.tar", group_by="Speaker", test_fraction=0.25, split_seed=3, **KW)
    _check_by_speaker(from_tar)
    assert from_tar.report.facts["test_groups"] == folder.report.facts["test_groups"]
    assert from_tar.x_test.equal(folder.x_test)

    import torch.hub

    def download(url, dst, progress=True):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for f in files:
                zf.write(f, f"free-spoken-digit-dataset-master/recordings/{f.name}")
        Path(dst).write_bytes(buf.getvalue())

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    fetched = load_audio_dataset("fsdd", tmp_path / "dl", download=True, group_by="speaker", test_fraction=0.25, split_seed=3, **KW)
    _check_by_speaker(fetched)
    assert fetched.report.facts["test_groups"] == folder.report.facts["test_groups"]
    # the default is FSDD's own split, unchanged: takes 0-4 held out, every speaker in both splits, no group facts
    own = load_audio_dataset("fsdd", tmp_path / "fsdd", **KW)
    assert len(own.x_test) == len(own.x_train) == 12 and own.split_rule is None and "group_by" not in own.report.facts


def test_fsdd_items_by_speaker_keep_each_speaker_on_one_side_and_a_misnamed_clip_out_of_the_draw(tmp_path):
    _fsdd(tmp_path / "rec")
    sf.write(tmp_path / "rec" / "hello.wav", np.zeros(800, dtype="float32"), 8000)  # skipped when loaded: no group
    for seed in range(4):
        items, _ = find_audio_items("fsdd", tmp_path / "rec", group_by="speaker", test_fraction=0.5, split_seed=seed)
        test = _speakers([it.name for it in items if it.split == "test" and "hello" not in it.name])
        train = _speakers([it.name for it in items if it.split == "train" and "hello" not in it.name])
        assert len(test) == 2 and not test & train and len(train) == 2
    ds = load_audio_dataset("fsdd", tmp_path / "rec", group_by="speaker", test_fraction=0.5, split_seed=1, **KW)
    assert [Path(b.name).name for b in ds.skipped] == ["hello.wav"] and len(ds.report.facts["test_groups"]) == 2


def test_fsdd_group_by_other_than_speaker_too_few_speakers_and_a_class_without_training_clips_are_refused(tmp_path):
    _fsdd(tmp_path / "rec")
    with pytest.raises(ConfigError, match=r"^group_by='\^\\d_\(\[\^_\]\+\)_' \(--group-by\): dataset 'fsdd' reads its groups .* "
                                          r"so it takes group_by='speaker'") as err:
        load_audio_dataset("fsdd", tmp_path / "rec", group_by=r"^\d_([^_]+)_", **KW)
    assert err.value.key == "group_by"
    _fsdd(tmp_path / "one", {0: ("ann",), 1: ("ann",)})
    with pytest.raises(DataError, match=r"group_by='speaker' \(--group-by: the speakers of the FSDD file names .*\) holds out "
                                        r"whole groups, but the speakers of the FSDD file names .* give 1 group\(s\) \('ann'\)"):
        load_audio_dataset("fsdd", tmp_path / "one", group_by="speaker", **KW)
    _fsdd(tmp_path / "lone", {0: ("ann", "bob"), 1: ("ann", "bob"), 2: ("cal",)})  # digit 2 said by cal only
    for seed in range(20):
        try:
            load_audio_dataset("fsdd", tmp_path / "lone", group_by="speaker", test_fraction=0.3, split_seed=seed, **KW)
        except DataError as exc:
            assert "group_by='speaker' (--group-by: the speakers of the FSDD file names" in str(exc)
            assert "'2' (group(s) 'cal')" in str(exc) and "no training clips" in str(exc)
            return
    pytest.fail("no seed held out speaker cal")


def test_split_keys_fsdd_does_not_use_are_warned_of(tmp_path, caplog):
    # before: --test-fraction 0.5 on FSDD's own split (takes 0-4 held out) changed nothing without a word
    _fsdd(tmp_path / "rec")
    with caplog.at_level("WARNING"):
        load_audio_dataset("fsdd", tmp_path / "rec", test_fraction=0.5, split_seed=2, **KW)
    assert ("test_fraction=0.5 (--test-fraction) and split_seed=2 (--split-seed) not used: dataset 'fsdd' has its own test "
            "split (FSDD's own, takes 0-4 of every speaker and digit; group_by='speaker' (--group-by speaker)") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_audio_dataset("fsdd", tmp_path / "rec", test_fraction=0.5, group_by="speaker", **KW)  # used: no warning
        load_audio_dataset("fsdd", tmp_path / "rec", split_seed=0, **KW)  # the defaults: no warning
    assert "not used" not in caplog.text
