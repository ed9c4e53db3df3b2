"""Review R3 of session 55: the video split files read once. A Kinetics ``train.csv`` was read and parsed whole four
times (the official-format test twice, its split column, its rows) and every ``path,label,split`` CSV read whole by the
Kinetics test before its reader read it again. The messages and the clips read are pinned here as they were."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mmdistill.errors import DataError
from tests.test_video_split_formats import _frames, _kinetics, _load


def _count_reads(monkeypatch) -> Counter:
    """Whole-file reads (``Path.read_bytes``) by file name, from now on."""
    reads: Counter = Counter()
    real = Path.read_bytes

    def read_bytes(self):
        reads[self.name] += 1
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return reads


def test_a_kinetics_csv_is_read_once_and_loads_as_before(tmp_path, monkeypatch):
    root = _kinetics(tmp_path)
    reads = _count_reads(monkeypatch)
    vs = _load(root, root / "train.csv")
    assert reads["train.csv"] == 1 and reads["validate.csv"] == 1  # (4 and 1 before)
    assert vs.classes == ["abseiling", "air drumming"] and len(vs.x_train) == 6 and len(vs.x_test) == 6
    assert vs.report.facts["layout"] == "Kinetics CSVs train.csv + validate.csv (its test split); 4 listed clip(s) not found"


def test_a_path_label_split_csv_is_read_whole_once(tmp_path, monkeypatch):
    root = tmp_path / "clips"
    for i, (label, split) in enumerate((("a", "train"), ("a", "test"), ("b", "train"), ("b", "test"))):
        _frames(root / label / f"c{i}", 40 * i)
    (root / "list.csv").write_text("path,label,split\na/c0,a,train\na/c1,a,test\nb/c2,b,train\nb/c3,b,test\n")
    reads = _count_reads(monkeypatch)
    from mmdistill.modalities.video.datasets import load_clip_folder
    from tests.test_video_split_formats import _sampling

    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "list.csv"), use_cache=False)
    assert reads["list.csv"] == 1  # (2 before: the Kinetics test read it whole for its first line)
    assert len(vs.x_train) == 2 and len(vs.x_test) == 2


def test_a_kinetics_csv_names_its_wrong_split_before_a_bad_row_as_before(tmp_path):
    root = _kinetics(tmp_path)
    bad = (root / "validate.csv").read_text() + "abseiling,x,1.5,11,validate\n"
    (root / "validate.csv").write_text(bad)
    with pytest.raises(DataError, match=r"validate.csv holds validate rows: give the training CSV"):
        _load(root, root / "validate.csv")
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,x,1.5,11,train\n")
    (root / "validate.csv").rename(root / "elsewhere.csv")
    with pytest.raises(DataError, match=r"expected one validation CSV beside it .* found none"):
        _load(root, root / "train.csv")  # the missing validation CSV is named before the bad row, as before
    (root / "elsewhere.csv").rename(root / "validate.csv")
    with pytest.raises(DataError, match=r"train.csv, line 2: expected a label, a YouTube id and whole-second"):
        _load(root, root / "train.csv")
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,x,0,10,train\n")
    (root / "validate.csv").write_text("label,youtube_id\nabseiling,y\n")
    with pytest.raises(DataError, match=r"validate.csv, line 1: a Kinetics CSV has the columns"):
        _load(root, root / "train.csv")


def _count_walks(monkeypatch) -> list[str]:
    """The roots ``os.walk`` is called on, from now on."""
    import os

    roots: list[str] = []
    real = os.walk

    def walk(top, *a, **kw):
        roots.append(str(top))
        return real(top, *a, **kw)

    monkeypatch.setattr(os, "walk", walk)
    return roots


def test_an_official_split_walks_the_root_once_and_names_what_it_did(tmp_path, monkeypatch):
    """HMDB51's split folder over a root with a clip it does not list, hidden entries (one inside a listed clip
    folder: not named, as that folder was not walked into) and a frame folder inside a listed one."""
    from tests.test_video_split_formats import _hmdb

    root, splits = _hmdb(tmp_path, kind="frames")
    _frames(root / "Stray_clip", 7)
    _frames(root / "Clip_brush_hair_u_nm_np1_ba_goo_0" / "inner", 9)  # inside a listed clip: not a clip of its own
    (root / ".DS_Store").write_bytes(b"x")
    (root / "Clip_cartwheel_u_nm_np1_ba_goo_1" / ".hidden.jpg").write_bytes(b"x")
    (root / ".cache").mkdir()
    walks = _count_walks(monkeypatch)
    from mmdistill.modalities.video.datasets import load_clip_folder
    from tests.test_video_split_formats import _sampling

    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(splits), use_cache=False)
    assert walks == [str(root)]  # (twice before: the clips found, then the unlisted ones named)
    assert len(vs.x_train) == 6 and len(vs.x_test) == 2
    assert [e for e in vs.report.unused if "not listed" in e[1]] == [
        (str(root / "Stray_clip"), "a folder of frame images not listed in testTrainMulti_7030_splits")]
    hidden = [p for p, why in vs.report.ignored if why == "hidden"]
    assert hidden == [str(root / ".cache"), str(root / ".DS_Store")]
    assert vs.report.facts["layout"].endswith("; 1 clip(s) under the root it does not list left out")


def test_a_split_csv_names_its_unlisted_clips_and_hidden_entries_as_before(tmp_path):
    """The loader's own CSV (its own walk): a listed clip folder's inside is not named, a clip beside it is."""
    from mmdistill.modalities.video.datasets import load_clip_folder
    from tests.test_video_split_formats import _sampling

    root = tmp_path / "clips"
    for i, (label, split) in enumerate((("a", "train"), ("a", "test"), ("b", "train"), ("b", "test"))):
        _frames(root / label / f"c{i}", 40 * i)
    _frames(root / "a" / "c0" / "nested", 3)
    _frames(root / "b" / "extra", 5)
    (root / "b" / "c2" / ".x").write_bytes(b"x")
    (root / "a" / ".y").write_bytes(b"y")
    (root / "list.csv").write_text("path,label,split\na/c0,a,train\na/c1,a,test\nb/c2,b,train\nb/c3,b,test\n")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "list.csv"), use_cache=False)
    assert [e for e in vs.report.unused] == [(str(root / "b" / "extra"), "a folder of frame images not listed in list.csv")]
    assert [p for p, why in vs.report.ignored if why == "hidden"] == [str(root / "a" / ".y")]


def test_a_groups_pattern_is_scanned_once_not_once_a_clip(tmp_path):
    """Review R3.5: reads_folders scanned the group_by pattern's text for every clip (clip_group), on every load
    without group_by too (the UCF-style names check); it is remembered per pattern, with the same answers."""
    import re

    from mmdistill.modalities.video import groups
    from mmdistill.modalities.video.datasets import load_clip_folder
    from tests.test_video_split_formats import _sampling

    root = tmp_path / "ucf"
    for c, cls in enumerate(("Jump", "Run")):
        for g in range(1, 4):
            for k in range(1, 3):
                _frames(root / cls / f"v_{cls}_g{g:02d}_c{k:02d}", 30 * c + 10 * g + k)
    groups.reads_folders.cache_clear()
    load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, test_fraction=0.5, group_by="ucf")
    assert groups.reads_folders.cache_info().misses == 1  # (the text scanned 12 x 2 times before)
    said = {p: groups.reads_folders(re.compile(p)) for p in (r"_g(\d+)", r"^([^/]+)/", r"[^/]+", r"a\/b", r"[/]x", r"[]/]")}
    assert said == {r"_g(\d+)": False, r"^([^/]+)/": True, r"[^/]+": False, r"a\/b": True, r"[/]x": False, r"[]/]": False}
    assert groups.reads_folders(groups.FOLDER_GROUP) and not groups.reads_folders(groups.UCF_GROUP)


def test_a_deeply_nested_ssv2_json_is_named_not_a_recursion_error(tmp_path):
    """Review R3.7: SSv2's label files were parsed with a bare json.loads: a file nested past the recursion limit
    raised an uncaught RecursionError; the shared parser (mmdistill.json_text.parse_json) names it malformed, and a
    key given twice keeps its last value as before."""
    from tests.test_video_split_formats import _ssv2

    base = _ssv2(tmp_path)
    root = base / "20bn-something-something-v2"
    text = (base / "labels" / "train.json").read_text()
    assert text.startswith('[{"id": "1", ')
    (base / "labels" / "train.json").write_text(text.replace('{"id": "1", ', '{"id": "gone", "id": "1", ', 1))
    assert len(_load(root, base / "labels").x_train) == 6  # a key given twice: its last value, as before
    (base / "labels" / "train.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=r"train.json, line 1: not JSON: nested too deeply"):
        _load(root, base / "labels")
