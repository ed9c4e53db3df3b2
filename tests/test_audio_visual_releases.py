"""AVDD's datasets in their released layouts (walk 56B): before, a user who had AVE, VGGSound or MUSIC-21 had to write
a pairs CSV (and cut the clips) by hand: ``--dataset ave`` was "unknown audio-visual dataset". Each layout is now read
as AVDD reads it (the event's seconds of AVE, the fifth second of a VGGSound clip, the official split), listed clips
with no file are named as ``unused`` (``--strict``: an error), and a root of another layout is refused naming the
expected files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import DataError

RATE = 8000


def _cfg(**kw):
    from mmdistill.recipes.audio_visual_dm import RECIPE

    return RECIPE.config(**{"image_size": 16, "n_mels": 16, "audio_frames": 8, "sample_rate": RATE, "duration": 1.0,
                            "multi_formation": 1, "progress": False, **kw})


def _clip(path: Path, seconds: float, freq: float) -> None:
    """A clip of ``seconds`` at 10 frames a second, frame k of brightness 2k (so the frame taken tells its time)."""
    from avi_files import write_avi

    n = int(seconds * RATE)
    write_avi(path, [np.full((16, 40, 3), 2 * k, dtype=np.uint8) for k in range(int(seconds * 10))], fps=10,
              audio=0.3 * np.sin(2 * np.pi * freq * np.arange(n) / RATE), rate=RATE)


def _ave(root: Path) -> Path:
    """trainSet/valSet/testSet of two categories (one with a comma, as AVE's have), three videos each plus one listed
    video whose clip is absent."""
    lines = {"trainSet.txt": [], "valSet.txt": [], "testSet.txt": []}
    for c, cat in enumerate(("Church bell", "Baby cry, infant cry")):
        for v in range(3):
            vid = f"c{c}v{v}xxxxxx"
            _clip(root / "AVE" / f"{vid}.avi", 3.0, 300.0 * (c + 1))
            split = "trainSet.txt" if v < 2 else "testSet.txt"
            lines[split].append(f"{cat}&{vid}&good&1&3")
        lines["valSet.txt"].append(f"{cat}&c{c}valxxxxx&good&0&2")
    lines["trainSet.txt"].append("Church bell&takendown01&good&0&10")
    for name, rows in lines.items():
        (root / name).write_text("Category&VideoID&Quality&StartTime&EndTime\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_ave_layout_gives_a_pair_per_event_second_with_the_official_split(tmp_path, caplog):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _ave(tmp_path / "AVE_Dataset")
    data = MODALITY.load(_cfg(dataset="ave", data_root=str(root)))
    assert data.classes == ["Church bell", "Baby cry, infant cry"]
    assert len(data.train) == 8 and len(data.test) == 4  # 2 event seconds (1-3 s) of 4 train / 2 test videos
    assert sorted(Path(n).name for n in data.test.names if "c0" in n) == ["c0v2xxxxxx.avi@1s", "c0v2xxxxxx.avi@2s"]
    report = data.meta["load_report"]
    assert report["counts"]["unused"] == 3  # valSet.txt (AVDD leaves it out) and the clip with no file
    assert any("takendown01" in f for f in report["files"]["unused"])
    assert "1 of 7 listed clips have no video file" in caplog.text and "trainSet.txt:" in caplog.text
    assert data.train_groups is not None and len(set(data.train_groups)) == 4  # a video's seconds held out together
    with pytest.raises(DataError, match="--strict makes a missing clip an error"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(root), strict=True))


def test_ave_frame_is_taken_three_eighths_into_each_second():
    from mmdistill.modalities.audio_visual.ave_lists import event_seconds

    assert event_seconds(1, 3)(10.0) == [(1.0, 2.0, 1.375), (2.0, 3.0, 2.375)]


def test_release_roots_of_another_layout_are_refused_naming_the_expected_files(tmp_path):
    from mmdistill.modalities.audio_visual import MODALITY

    (tmp_path / "clips").mkdir()
    for name, expected in (("ave", "trainSet.txt"), ("vggsound", "vggsound.csv"), ("music-21", "MUSIC21_solo_videos.json")):
        with pytest.raises(DataError, match=expected) as err:
            MODALITY.load(_cfg(dataset=name, data_root=str(tmp_path / "clips")))
        assert "expected the" in str(err.value)
    (tmp_path / "clips" / "trainSet.txt").write_text("Church bell&abc&good&3\n", encoding="utf-8")
    (tmp_path / "clips" / "testSet.txt").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"trainSet.txt line 1: expected Category&VideoID"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(tmp_path / "clips")))


def test_ave_without_any_clip_says_nothing_is_downloaded(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _ave(tmp_path / "AVE_Dataset")
    with pytest.raises(DataError, match=f"its parent {root.resolve()} holds trainSet.txt: pass --data-root"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(root / "AVE")))  # the clips' folder named in place of the release's
    for p in (root / "AVE").iterdir():
        p.unlink()
    with pytest.raises(DataError, match="7 of the 7 clip.* no train and no test clip .* no release ships and mmdistill does not download"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(root)))


def test_vggsound_10k_keeps_its_ten_classes_finds_downloader_names_and_takes_the_fifth_second(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.vggsound_lists import VGGSOUND_10K, fifth_second

    assert fifth_second(10.0) == [(4.0, 5.0, 4.5)] and fifth_second(3.0) == [(2.0, 3.0, 2.5)]
    root = tmp_path / "vggsound"
    rows = []
    for c, label in enumerate(VGGSOUND_10K):
        for v in range(3):
            vid = f"{c:02d}{v}-_abcdef"  # 11 characters, "-" and "_" as YouTube ids have
            split = "test" if v == 2 else "train"
            rows.append(f'{vid},{30 * v},"{label}",{split}')
            name = f"{vid}_{30 * v:06d}.avi" if v else f"{vid}_{30 * v}_{30 * v + 10}.avi"
            if (c, v) != (3, 1):
                _clip(root / "video" / name, 5.0, 200.0 + 40 * c)
    rows.append('zzzzzzzzzzz,0,"dog barking",train')  # a class of the full VGGSound, not of the 10k subset
    (root / "vggsound.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = MODALITY.load(_cfg(dataset="vggsound-10k", data_root=str(root)))
    assert data.classes == list(VGGSOUND_10K) and len(data.test) == 10 and len(data.train) == 19
    assert data.meta["load_report"]["counts"]["unused"] == 1
    assert "03" + "1-_abcdef_30" in data.meta["load_report"]["files"]["unused"][0]
    full = MODALITY.load(_cfg(dataset="vggsound", data_root=str(root)))
    assert "dog barking" in full.classes and full.meta["load_report"]["counts"]["unused"] == 2


def test_music21_draws_a_split_or_reads_avdds_and_counts_its_val_videos(tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = tmp_path / "music"
    videos = {"violin": [f"violin{i:05d}" for i in range(4)], "tuba": [f"tuba{i:07d}" for i in range(4)]}
    for c, (inst, ids) in enumerate(videos.items()):
        for vid in ids:
            _clip(root / inst / f"{vid}.avi", 2.0, 300.0 * (c + 1))
    (root / "MUSIC21_solo_videos.json").write_text(json.dumps({"version": 2.0, "videos": videos}), encoding="utf-8")
    drawn = MODALITY.load(_cfg(dataset="music-21", data_root=str(root), test_fraction=0.25))
    assert len(drawn.train) == 6 and len(drawn.test) == 2 and "split_rule" in drawn.meta
    split = ["vid,split,label"] + [f"{vid},{['train', 'train', 'val', 'test'][i]},{inst}" for inst, ids in videos.items()
                                   for i, vid in enumerate(ids)]
    (root / "music_21.csv").write_text("\n".join(split) + "\n", encoding="utf-8")
    given = MODALITY.load(_cfg(dataset="music-21", data_root=str(root)))
    assert len(given.train) == 4 and len(given.test) == 2 and given.meta["load_report"]["counts"]["unused"] == 2
    assert "split_rule" not in given.meta


def test_release_names_carry_their_licences_on_the_card():
    from mmdistill.modalities.audio_visual import MODALITY

    for name in ("ave", "vggsound", "vggsound-10k", "music-21"):
        facts = MODALITY.dataset_facts(name)
        assert facts["licence"] and facts["licence_id"] in ("unknown", "other"), name
    assert "CC BY 4.0" in MODALITY.dataset_facts("vggsound-10k")["licence"]


def _broken_reader(decord, broken: Path, fail):
    """decord's VideoReader, whose frame ``i`` of the clip ``broken`` raises where ``fail(i)`` (a download cut short:
    its header opens, its later frames do not decode)."""
    real = decord.VideoReader

    class Reader:
        def __init__(self, path, *a, **kw):
            self._vr, self._path = real(path, *a, **kw), Path(path)

        def __len__(self):
            return len(self._vr)

        def get_avg_fps(self):
            return self._vr.get_avg_fps()

        def __getitem__(self, i):
            if self._path == broken and fail(i):
                raise decord.DECORDError("Error sending a packet for decoding")
            return self._vr[i]
    return Reader


def test_a_release_clip_whose_frame_cannot_be_decoded_is_skipped_and_named(tmp_path, monkeypatch, caplog):
    """Before: a clip whose video opened but whose frame of an event second did not decode (a download cut short)
    stopped the whole load with decord's traceback; the folder-of-clips reader skips such a clip, naming it."""
    decord = pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _ave(tmp_path / "AVE_Dataset")
    broken = root / "AVE" / "c0v0xxxxxx.avi"
    monkeypatch.setattr(decord, "VideoReader", _broken_reader(decord, broken, lambda i: i >= 20))  # the second event second's
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="ave", data_root=str(root)))
    assert len(data.train) == 6 and len(data.test) == 4 and data.meta["load_report"]["counts"]["unreadable"] == 1
    assert f"{broken} (frame 24 (2.375 s) cannot be decoded: Error sending a packet for decoding)" in caplog.text
    train = root / "trainSet.txt"
    train.write_text("".join(line for line in train.read_text(encoding="utf-8").splitlines(True) if "takendown" not in line),
                     encoding="utf-8")  # strict refuses a listed clip with no file first
    with pytest.raises(DataError, match="c0v0xxxxxx.avi .*frame 24.*strict mode"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(root), strict=True))


def test_a_release_clip_whose_sample_rate_cannot_be_told_is_named_so_not_as_silent(tmp_path, monkeypatch, caplog):
    """Before: a clip whose sound track decoded but whose resampling (how its rate is measured) failed was skipped as
    having "no audio track"; the folder-of-clips reader names the rate."""
    decord = pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _ave(tmp_path / "AVE_Dataset")
    broken = root / "AVE" / "c1v1xxxxxx.avi"
    real = decord.AudioReader

    def reader(path, *a, sample_rate=44100, **kw):
        if Path(path) == broken and sample_rate != -1:  # the second decoding, resampled to measure the track's rate
            raise decord.DECORDError("resampler failed")
        return real(path, *a, sample_rate=sample_rate, **kw)

    monkeypatch.setattr(decord, "AudioReader", reader)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(_cfg(dataset="ave", data_root=str(root)))
    assert len(data.train) == 6 and data.meta["load_report"]["counts"]["unreadable"] == 1
    assert f"{broken} (cannot tell the audio track's sample rate: resampler failed)" in caplog.text
    assert "no audio track" not in caplog.text


def test_one_clip_reader_serves_the_folder_of_clips_and_the_releases(tmp_path):
    """The folder of clips and the release readers read a clip with one function (they held two copies of it)."""
    decord = pytest.importorskip("decord")
    from avi_files import write_avi

    from mmdistill.modalities.audio_visual.decord_clips import open_clip

    _clip(tmp_path / "a.avi", 2.0, 300.0)
    tracks, why = open_clip(decord, tmp_path / "a.avi", middle=True)
    assert why == "" and tracks.rate == RATE and tracks.samples.size == 2 * RATE and tracks.fps == 10 and len(tracks.video) == 20
    assert tracks.middle.shape == (3, 16, 40) and abs(float(tracks.middle.mean()) * 255 - 20) < 3  # frame 10: brightness 20
    assert bool((tracks.frame(10) == tracks.middle).all())
    assert open_clip(decord, tmp_path / "a.avi")[0].middle is None
    write_avi(tmp_path / "silent.avi", [np.zeros((16, 40, 3), dtype=np.uint8)] * 4)
    assert open_clip(decord, tmp_path / "silent.avi") == (None, "no audio track")


def test_a_release_clip_stored_twice_is_taken_from_its_class_folder_as_a_split_files_row_is(tmp_path):
    """Before: the release readers held their own copies of the video split files' clip lookup (review R2.3), which
    refused any id found twice, even a MUSIC-21 clip kept in its instrument's folder (the documented
    ``<instrument>/<id>.mp4``) beside a stray copy; the one lookup (``split_rows.place``) takes the class folder's, and
    names the files (with the listing's line) when no folder decides."""
    from mmdistill.modalities.audio_visual.releases import _listing

    root = tmp_path / "music"
    for folder in ("violin", "downloads"):
        (root / folder).mkdir(parents=True)
        (root / folder / "violin00000.mp4").write_bytes(b"")  # found by name: nothing is decoded here
    (root / "MUSIC21_solo_videos.json").write_text(json.dumps({"videos": {"violin": ["violin00000"]}}), encoding="utf-8")
    listed, find, _ = _listing("music-21", root)
    assert find(listed[0]) == root / "violin" / "violin00000.mp4"
    (root / "violin" / "violin00000.mp4").rename(root / "other.mp4")
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "violin00000.mp4").write_bytes(b"")
    listed, find, _ = _listing("music-21", root)
    with pytest.raises(DataError, match=r"MUSIC21_solo_videos.json violin\[0\]: clip 'violin00000' is found 2 times"):
        find(listed[0])
    vgg = tmp_path / "vgg"
    (vgg / "a").mkdir(parents=True)
    (vgg / "a" / "abcdefghijk_000030.mp4").write_bytes(b"")
    (vgg / "vggsound.csv").write_text("abcdefghijk,30,dog barking,train\nbcdefghijkl,0,dog barking,test\n", encoding="utf-8")
    (vgg / "bcdefghijkl.mp4").write_bytes(b"")  # the bare id
    listed, find, _ = _listing("vggsound", vgg)
    assert [find(it) for it in listed] == [vgg / "a" / "abcdefghijk_000030.mp4", vgg / "bcdefghijkl.mp4"]


def test_a_release_split_with_none_of_its_clips_found_is_refused_as_a_video_split_files_is(tmp_path):
    """Before: the releases had their own missing-clip policy (review R2.4), an error only when every listed clip was
    missing, so an AVE root whose testSet clips were all absent passed and failed later with the vaguer "the test split
    holds no pairs"; the video split files' policy (one helper) refuses a split with none of its clips found, naming them."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual import MODALITY

    root = _ave(tmp_path / "AVE_Dataset")
    for vid in ("c0v2xxxxxx", "c1v2xxxxxx"):  # the test clips
        (root / "AVE" / f"{vid}.avi").unlink()
    with pytest.raises(DataError, match=r"ave: 3 of the 7 clip\(s\) it lists are not under .*and no test clip of it is "
                                        r"found: takendown01 \(trainSet.txt:6\), c0v2xxxxxx \(testSet.txt:2\)"):
        MODALITY.load(_cfg(dataset="ave", data_root=str(root)))
