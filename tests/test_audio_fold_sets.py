"""ESC-50 (ESC-10) and UrbanSound8K as released (walk 55E): the audio loader read neither layout (its CSV wants
``path,label[,split]``; ``--dataset esc50`` was "unknown audio dataset"), so a user rewrote the metadata and, without a
split column, got a drawn 20 % that mixes the official folds. ``esc50``, ``esc10`` and ``urbansound8k`` now read the
release's CSV, hold out one official fold (``test_fold``, default the last) and record it. Miniature releases are
generated here: a few short WAVs, the CSV, a listed file that is missing, an unreadable one and one not listed."""

from __future__ import annotations

import csv
import io
import logging
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
RATE = 16000
ESC_HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
#: (target, category, esc10): numbers out of name order, as the release's (dog 0, rooster 1, chirping_birds 14)
ESC_CLASSES = [(14, "chirping_birds", False), (0, "dog", True), (1, "rooster", True)]
US8K_HEADER = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
US8K_CLASSES = ["air_conditioner", "car_horn"]


def _wav(path: Path, kind: str, rng, rate: int = RATE) -> None:
    sf.write(path, tone_clip(kind, rng, rate, 0.25), rate)


def _esc50(root: Path, extra_rows: list[list] | None = None) -> Path:
    """``root/ESC-50-master``: one clip per class and fold, a listed file that is missing (fold 5), an unreadable one
    (fold 5) and a WAV the CSV does not list."""
    top = root / "ESC-50-master"
    (top / "audio").mkdir(parents=True)
    (top / "meta").mkdir()
    rng = np.random.default_rng(0)
    rows: list[list] = [ESC_HEADER]
    for fold in range(1, 6):
        for k, (target, name, e10) in enumerate(ESC_CLASSES):
            src = 100 * fold + target
            fn = f"{fold}-{src}-A-{target}.wav"
            _wav(top / "audio" / fn, ("steady", "rising", "falling")[k], rng)
            rows.append([fn, fold, target, name, str(e10), src, "A"])
    rows.append(["5-999-A-0.wav", 5, 0, "dog", "True", 999, "A"])  # listed, missing
    (top / "audio" / "5-888-A-1.wav").write_bytes(b"not a wav")  # unreadable
    rows.append(["5-888-A-1.wav", 5, 1, "rooster", "True", 888, "A"])
    _wav(top / "audio" / "stray.wav", "steady", rng)  # not listed
    rows += extra_rows or []
    with open(top / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return top


def _us8k(root: Path) -> Path:
    """``root/UrbanSound8K``: two slices per class in each of the ten fold folders, at 16 and 22.05 kHz."""
    top = root / "UrbanSound8K"
    (top / "metadata").mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows: list[list] = [US8K_HEADER]
    for fold in range(1, 11):
        (top / "audio" / f"fold{fold}").mkdir(parents=True)
        for c, name in enumerate(US8K_CLASSES):
            fs_id = 1000 * fold + c
            for s in range(2):
                fn = f"{fs_id}-{c}-0-{s}.wav"
                _wav(top / "audio" / f"fold{fold}" / fn, ("steady", "rising")[c], rng, (16000, 22050)[c])
                rows.append([fn, fs_id, 0.0, 0.25, 1, fold, c, name])
    with open(top / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return top


def test_esc50_holds_out_its_last_fold_and_names_what_it_skipped(tmp_path, caplog):
    # before: ConfigError "unknown audio dataset 'esc50'"; the folder CSV refused esc50.csv's header
    _esc50(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("esc50", tmp_path, sample_rate=RATE, **KW)
    assert ds.classes == ["dog", "rooster", "chirping_birds"]  # label i: the release's i-th target (0, 1, 14)
    assert len(ds.x_train) == 3 * 4 and len(ds.x_test) == 3  # folds 1-4 trained on, fold 5 held out (its 2 bad rows skipped)
    skipped = {Path(b.name).name: b.reason for b in ds.skipped}
    assert set(skipped) == {"5-999-A-0.wav", "5-888-A-1.wav"}
    assert "listed in" in skipped["5-999-A-0.wav"] and "line 17 but missing" in skipped["5-999-A-0.wav"]
    assert ds.report.counts()["unreadable"] == 2 and ds.report.counts()["ignored"] == 1
    assert any("stray.wav" in p for p, _ in ds.report.entries["ignored"])
    assert ds.report.facts["test_fold"] == 5 and "fold 5 of 5 held out" in ds.split_rule
    assert "the official fold 5 held out" in ds.report.summary()
    assert "5-999-A-0.wav" in caplog.text and "stray.wav" in caplog.text
    with pytest.raises(DataError, match="strict mode|listed in"):
        load_audio_dataset("esc50", tmp_path, sample_rate=RATE, strict=True, **KW)


def test_an_official_fold_is_a_given_split_and_class_folders_record_the_keys_that_drew_theirs(tmp_path):
    """Review 56 R5.1: audio recorded nothing, so a validation digest folded split_seed into an official fold's split
    too (split_seed 0 and 1: one split lettered as two by compare); class folders record test_fraction and split_seed."""
    _esc50(tmp_path / "esc")
    assert load_audio_dataset("esc50", tmp_path / "esc", sample_rate=RATE, split_seed=1, **KW).drawn_with is None
    rng = np.random.default_rng(0)
    for name in ("low", "high"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        for i in range(3):
            _wav(tmp_path / "folder" / name / f"{i}.wav", "steady", rng)
    ds = load_audio_dataset("folder", tmp_path / "folder", sample_rate=RATE, test_fraction=0.3, split_seed=2, **KW)
    assert ds.drawn_with == {"test_fraction": 0.3, "split_seed": 2}


def test_esc10_is_the_esc10_rows_and_test_fold_picks_the_fold(tmp_path, caplog):
    _esc50(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("ESC-10", tmp_path / "ESC-50-master", sample_rate=RATE, test_fold=2, test_fraction=0.5, **KW)
    assert ds.classes == ["dog", "rooster"] and ds.report.facts["test_fold"] == 2
    assert len(ds.x_test) == 2 and len(ds.x_train) == 2 * 4  # fold 2 held out; folds 1, 3, 4, 5 trained on
    assert "test_fraction=0.5" in caplog.text and "not used" in caplog.text  # the fold is the split, never a drawn share
    items, _ = find_audio_items("esc10", tmp_path / "ESC-50-master" / "meta" / "esc50.csv", test_fold=2)  # the CSV as root
    assert {Path(it.name).name.split("-")[0] for it in items if it.split == "test"} == {"2"}


def test_urbansound8k_reads_its_fold_folders_at_one_rate(tmp_path):
    _us8k(tmp_path)
    ds = load_audio_dataset("us8k", tmp_path, sample_rate=RATE, test_fold=3, **KW)
    assert ds.name == "urbansound8k" and ds.classes == US8K_CLASSES
    assert len(ds.x_test) == 4 and len(ds.x_train) == 4 * 9
    assert ds.report.facts["resampled_from_hz"] == {"22050": 20} and "fold 3 of 10" in ds.split_rule
    assert load_audio_dataset("urbansound8k", tmp_path / "UrbanSound8K", sample_rate=RATE, **KW).report.facts["test_fold"] == 10


def test_a_test_fold_out_of_range_or_for_a_set_without_folds_is_refused(tmp_path):
    _esc50(tmp_path)
    with pytest.raises(ConfigError, match=r"test_fold must be a fold of ESC-50, 1 to 5, got 6") as err:
        load_audio_dataset("esc50", tmp_path, test_fold=6, **KW)
    assert err.value.key == "test_fold"
    with pytest.raises(ConfigError, match="test_fold=2 .*dataset 'tones' has no folds"):
        load_audio_dataset("tones", test_fold=2, **KW)
    with pytest.raises(ConfigError, match="got True"):
        load_audio_dataset("esc50", tmp_path, test_fold=True, **KW)
    with pytest.raises(DataError, match="official folds keep each source recording in one fold"):
        load_audio_dataset("esc50", tmp_path, group_by="src_file", **KW)


def test_a_source_recording_on_both_sides_is_named(tmp_path, caplog):
    # an edited CSV: source 101's second take in the held-out fold
    top = _esc50(tmp_path)
    _wav(top / "audio" / "5-101-B-1.wav", "rising", np.random.default_rng(2))
    (top / "meta" / "esc50.csv").write_text((top / "meta" / "esc50.csv").read_text() + "5-101-B-1.wav,5,1,rooster,True,101,B\n")
    with caplog.at_level(logging.WARNING):
        ds = load_audio_dataset("esc50", tmp_path, sample_rate=RATE, **KW)
    assert ds.report.facts["sources_in_both"] == ["101"]
    assert "101 (folds 1, 5)" in caplog.text and "source recording(s) with clips in both splits" in ds.report.summary()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("category", "label"), r"the header has no column 'category'"),
    (lambda t: t + "1-114-A-14.wav,1,14,chirping_birds,False,114,A\n", r"lines 2 and 19 list 1-114-A-14.wav twice"),
    (lambda t: t + "x.wav,7,0,dog,True,1,A\n", r"line 19: fold 7 is not one of ESC-50's folds 1-5"),
    (lambda t: t + "x.wav,1,0,cat,True,1,A\n", r"lines \d+ and 19: target and category disagree"),
    (lambda t: t + "x.wav,one,0,dog,True,1,A\n", r"line 19: fold 'one' is not a whole number"),
])
def test_a_damaged_metadata_csv_is_refused_naming_its_line(tmp_path, edit, message):
    top = _esc50(tmp_path)
    meta = top / "meta" / "esc50.csv"
    meta.write_text(edit(meta.read_text()))
    with pytest.raises(DataError, match=message):
        load_audio_dataset("esc50", tmp_path, **KW)


def test_no_release_offline_names_the_layout_and_the_archive(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"no ESC-50 release under .*ESC-50-master/meta/esc50.csv.*github.com/karoldvl/ESC-50.*--download"):
        load_audio_dataset("esc50", tmp_path, **KW)

    def offline(url, dst, progress=True):
        raise OSError("Network is unreachable")

    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    with pytest.raises(DataError, match=r"could not download UrbanSound8K from https://zenodo.org/.*Network is unreachable"):
        load_audio_dataset("urbansound8k", tmp_path / "new", download=True, **KW)
    assert not (tmp_path / "new").exists()  # the folder the download made is removed again


def test_download_unpacks_the_release_and_refuses_a_path_outside_the_root(tmp_path, monkeypatch):
    _esc50(tmp_path / "src")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((tmp_path / "src").rglob("*")):
            zf.write(p, p.relative_to(tmp_path / "src").as_posix())
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda url, dst, progress=True: Path(dst).write_bytes(buf.getvalue()))
    ds = load_audio_dataset("esc50", tmp_path / "data", download=True, sample_rate=RATE, **KW)
    assert len(ds.x_test) == 3 and not list((tmp_path / "data").glob("*.zip"))  # the archive removed after unpacking
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda url, dst, progress=True: Path(dst).write_bytes(evil.getvalue()))
    with pytest.raises(DataError, match="no ESC-50 release under"):  # zipfile writes ../outside.txt inside the root
        load_audio_dataset("esc50", tmp_path / "data2", download=True, **KW)
    assert not (tmp_path / "outside.txt").exists()


def _tar_release(tmp_path, monkeypatch, *members: tarfile.TarInfo) -> None:
    """The UrbanSound8K download serves a tar.gz of ``members`` (each a few bytes, or a link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda url, dst, progress=True: Path(dst).write_bytes(buf.getvalue()))


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


def test_a_tar_release_is_unpacked_by_tarfiles_data_filter_and_refuses_a_way_out(tmp_path, monkeypatch):
    # review R2.5: the member checks are the standard library's (tarfile's data filter), every member checked before any
    # is written; links stay refused (the project writes through no link)
    _tar_release(tmp_path, monkeypatch, _member("UrbanSound8K/a.txt"), _member("../outside.txt"))
    with pytest.raises(DataError, match=r"the UrbanSound8K archive from .* holds '../outside.txt', a path outside the data root "
                                        r".*: not unpacked"):
        load_audio_dataset("urbansound8k", tmp_path / "d1", download=True, **KW)
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "d1").exists()  # nothing written, nothing left
    _tar_release(tmp_path, monkeypatch, _member("UrbanSound8K/link", tarfile.SYMTYPE, "a.txt"))
    with pytest.raises(DataError, match=r"holds UrbanSound8K/link, not a file or folder: not unpacked"):
        load_audio_dataset("urbansound8k", tmp_path / "d2", download=True, **KW)
    _tar_release(tmp_path, monkeypatch, _member("/UrbanSound8K/a.txt"))  # a leading / is dropped: written inside the root
    with pytest.raises(DataError, match="no UrbanSound8K release under"):
        load_audio_dataset("urbansound8k", tmp_path / "d3", download=True, **KW)
    assert (tmp_path / "d3" / "UrbanSound8K" / "a.txt").read_bytes() == b"x"


def test_the_recipe_config_passes_test_fold(tmp_path):
    from mmdistill.modalities.audio.adapter import AudioModality
    from mmdistill.modalities.audio.config import AudioDistillConfig

    _esc50(tmp_path)
    cfg = AudioDistillConfig(dataset="esc50", data_root=str(tmp_path), test_fold=1, sample_rate=RATE, duration=0.25)
    data = AudioModality().load(cfg)
    assert data.meta["load_report"]["facts"]["test_fold"] == 1 and "fold 1 of 5" in data.meta["split_rule"]
    assert AudioModality().dataset_facts("esc50")["licence_id"] == "cc-by-nc-3.0"


def test_find_audio_items_refuses_a_fold_of_a_set_without_folds(tmp_path):
    # review R2.1: the public finder passed test_fold on unchecked, so test_fold=2 of tones or a folder was ignored
    with pytest.raises(ConfigError, match="test_fold=2 .*dataset 'tones' has no folds") as err:
        find_audio_items("tones", None, test_fold=2)
    assert err.value.key == "test_fold"
    with pytest.raises(ConfigError, match="test_fold must be a fold of ESC-50, 1 to 5, got 6"):
        find_audio_items("esc50", tmp_path, test_fold=6)


def test_one_fetch_serves_fsdd_and_the_fold_sets_and_removes_the_archive(tmp_path, monkeypatch):
    # review R2.3: FSDD's download copied the fold sets' try/except, messages and cleanup; both use fetched_archive now
    from mmdistill.modalities.audio.fold_download import fetched_archive

    def offline(url, dst, progress=True):
        raise OSError("Network is unreachable")

    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    with pytest.raises(DataError, match=r"^could not download FSDD from https://github.com/Jakobovski/.* into .*: OSError: Network "
                                        r"is unreachable. This machine may be offline; put the files there instead as "):
        load_audio_dataset("fsdd", tmp_path / "fsdd", download=True)
    monkeypatch.setattr("torch.hub.download_url_to_file", lambda url, dst, progress=True: Path(dst).write_bytes(b"<html>"))
    with pytest.raises(DataError, match=r"^the X download from u into .* is not a readable archive \(BadZipFile: .*\): a proxy's "
                                        r"page or a cut download\? Try again, or unpack the archive there yourself$"):
        with fetched_archive("X", "u", tmp_path / "x.zip") as archive:
            zipfile.ZipFile(archive)
    with fetched_archive("X", "u", tmp_path / "y.zip") as archive:
        assert archive.read_bytes() == b"<html>"
    assert list(tmp_path.glob("*.zip")) == []  # removed after a failure and after a success


def test_split_rule_says_a_sources_own_rule(tmp_path):
    # review R2.6: the loader wrote split_rule(found) or found.rule; split_rule answers with the source's rule itself
    from mmdistill.modalities.audio.find import _find
    from mmdistill.modalities.audio.groups import split_rule

    _esc50(tmp_path)
    found = _find("esc50", tmp_path, download=False, strict=False, test_fold=2)
    assert split_rule(found) == found.rule and "official fold 2 of 5 held out" in split_rule(found)
    assert split_rule(_find("tones", None, download=False, strict=False)) is None  # each class's share: not recorded


def test_a_metadata_csv_the_reader_refuses_names_its_line(tmp_path):
    # review R2.7: the fold sets' CSV reader passed no on_error to numbered_records, so a field over the csv module's limit
    # read "cannot read CSV file ...: field larger than field limit (131072)", with no line
    top = _esc50(tmp_path)
    meta = top / "meta" / "esc50.csv"
    meta.write_text(meta.read_text() + "x.wav,1,0,dog,True," + "9" * 140_000 + ",A\n")
    with pytest.raises(DataError, match=r"esc50.csv line 19: a field on this line is longer than 131,072 characters"):
        load_audio_dataset("esc50", tmp_path, **KW)


def test_the_unused_split_keys_warning_names_the_fold_held_out_and_test_fold(tmp_path, caplog):
    """Walk 55N: ``--test-fraction 0.3`` on ESC-50 warned "not used: dataset 'esc50' has its own test split (the
    data's)", naming neither the official fold the split is nor the key that picks another."""
    _esc50(tmp_path)
    with caplog.at_level(logging.WARNING):
        load_audio_dataset("esc50", tmp_path, sample_rate=RATE, test_fraction=0.3, **KW)
    assert ("test_fraction=0.3 (--test-fraction) not used: dataset 'esc50' has its own test split (ESC-50's official fold "
            "5 of 5 held out (test_fold=5; the 'fold' column of meta/esc50.csv); test_fold=K (--test-fold K) holds out "
            "another fold)") in caplog.text
