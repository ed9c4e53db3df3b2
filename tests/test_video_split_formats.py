"""The video datasets' own split files as ``split_file``: HMDB51's ``testTrainMulti_7030_splits`` folder (with
``split_number``), Kinetics' ``train.csv`` + its validation CSV, SSv2's ``labels/`` JSON files. Before, each was refused
with a message about another format ("does not exist" for the HMDB folder, "the header must be path,label,split" for
Kinetics, "no matching test list" for a single HMDB file or SSv2's train.json). Clips are tiny GIFs (read with Pillow)
or frame folders, so no decoder is needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmdistill.errors import ConfigError, DataError


def _gif(path: Path, shade: int, frames: int = 4) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    ims = [Image.fromarray(np.full((8, 8, 3), (shade + 20 * i) % 256, np.uint8)) for i in range(frames)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=100, loop=0)
    return path


def _frames(folder: Path, shade: int, frames: int = 4) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        Image.fromarray(np.full((8, 8, 3), shade, np.uint8)).save(folder / f"frame{i + 1:06d}.jpg")
    return folder


def _sampling():
    from mmdistill.modalities.video.datasets import FrameSampling

    return FrameSampling(num_frames=3, frame_gap=1, frame_size=8)


def _load(root, split_file, **kw):
    from mmdistill.modalities.video.datasets import load_clip_folder

    kw.setdefault("use_cache", False)
    return load_clip_folder(root, sampling=_sampling(), split_file=str(split_file), **kw)


#: ids of clips 0..4 of a class in HMDB51 split files 1, 2, 3 (1 train, 2 test, 0 neither)
HMDB_IDS = {1: "11201", 2: "12011", 3: "20111"}


def _hmdb(tmp_path: Path, kind: str = "files") -> tuple[Path, Path]:
    """HMDB51's download: ``videos/<action>/<name>.avi`` (GIFs here; ``kind="frames"``: the reference's flat
    ``jpegs_112/<name>/frame000001.jpg``) and ``testTrainMulti_7030_splits/<action>_test_split<N>.txt``, lines
    ``<name>.avi <id> `` (a space at the end, as HMDB's files). A clip is found by its name without the extension,
    so the GIF ``<name>.gif`` stands for ``<name>.avi``."""
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    root = tmp_path / ("videos" if kind == "files" else "jpegs_112")
    for c, action in enumerate(("brush_hair", "cartwheel")):
        names = [f"Clip_{action}_u_nm_np1_ba_goo_{i}" for i in range(5)]
        for i, name in enumerate(names):
            if kind == "files":
                _gif(root / action / f"{name}.gif", 60 * c + 10 * i)
            else:
                _frames(root / name, 60 * c + 10 * i)
        for n, ids in HMDB_IDS.items():
            (splits / f"{action}_test_split{n}.txt").write_text("".join(f"{m}.avi {i} \n" for m, i in zip(names, ids)))
    return root, splits


def _names(paths) -> list[str]:
    return sorted(Path(p).stem for p in paths)


def test_hmdb_split_folder_reads_the_split_number_and_names_its_id_0_clips(tmp_path):
    root, splits = _hmdb(tmp_path)
    one = _load(root, splits)
    assert one.classes == ["brush_hair", "cartwheel"] and len(one.x_train) == 6 and len(one.x_test) == 2
    assert one.report.facts["layout"].startswith("HMDB51 split files testTrainMulti_7030_splits/*_test_split1.txt (2 classes, split 1")
    assert _names(p for p, _ in one.report.unused) == ["Clip_brush_hair_u_nm_np1_ba_goo_3", "Clip_cartwheel_u_nm_np1_ba_goo_3"]
    assert all("id 0 in" in why and "_test_split1.txt, line 4" in why for _, why in one.report.unused)
    three = _load(root, splits, split_number=3)
    assert len(three.x_train) == 6 and "split 3" in three.report.facts["layout"]
    assert _names(p for p, _ in three.report.unused) == ["Clip_brush_hair_u_nm_np1_ba_goo_1", "Clip_cartwheel_u_nm_np1_ba_goo_1"]
    # one of the split files given: its own number, its folder's other classes
    single = _load(root, splits / "cartwheel_test_split2.txt")
    assert "split 2" in single.report.facts["layout"] and single.classes == ["brush_hair", "cartwheel"]
    assert not np.array_equal(one.x_test.numpy(), single.x_test.numpy())


def test_hmdb_splits_are_cached_apart(tmp_path):
    root, splits = _hmdb(tmp_path)
    cache = tmp_path / "cache"
    _load(root, splits, use_cache=True, cache_dir=cache)
    _load(root, splits, use_cache=True, cache_dir=cache, split_number=2)
    assert len(list(cache.glob("*.safetensors"))) == 2  # the split enters the cache key (each clip's split)
    again = _load(root, splits, use_cache=True, cache_dir=cache, split_number=2)
    assert again.report.facts["cache"].startswith("hit")


def test_hmdb_frame_folders_flat_as_the_reference_reads_them(tmp_path):
    """The reference's HMDB51 is twostreamfusion's ``jpegs_112/<video>/frame*.jpg``: no class folders; the split files
    name ``<video>.avi``."""
    root, splits = _hmdb(tmp_path, kind="frames")
    vs = _load(root, splits, kind="frames")
    assert vs.classes == ["brush_hair", "cartwheel"] and len(vs.x_train) == 6 and len(vs.x_test) == 2


def test_hmdb_errors_name_the_file_line_and_what_was_expected(tmp_path):
    root, splits = _hmdb(tmp_path)
    with pytest.raises(DataError, match=r"no HMDB51 split file of split_number=3 .* it holds split\(s\) 1, 2"):
        for f in splits.glob("*_split3.txt"):
            f.unlink()
        _load(root, splits, split_number=3)
    (splits / "cartwheel_test_split1.txt").write_text("Clip_cartwheel_u_nm_np1_ba_goo_0.avi 1\nClip_cartwheel_u_nm_np1_ba_goo_1.avi 7\n")
    with pytest.raises(DataError, match=r"cartwheel_test_split1.txt, line 2: expected '<video>.avi <id>' with id 1 .*'Clip_cartwheel"):
        _load(root, splits)
    (splits / "cartwheel_test_split1.txt").write_text("Clip_cartwheel_u_nm_np1_ba_goo_0.avi 1\nGone.avi 2\n")
    with pytest.raises(DataError, match=r"1 of the 6 HMDB51 clip\(s\) it lists are not under .*--strict makes a missing "
                                        r"clip an error .*Gone.avi \(cartwheel_test_split1.txt, line 2\)"):
        _load(root, splits, strict=True)
    (root / "list.csv").write_text("path,label,split\n")
    with pytest.raises(ConfigError, match="split_number=2 picks one of HMDB51's three splits") as exc:
        _load(root, root / "list.csv", split_number=2)
    assert exc.value.key == "split_number"


def _kinetics(tmp_path: Path) -> Path:
    """Kinetics' CSVs and a download: train clips in class folders (``train/<label>/``, underscores for spaces), val
    clips flat (``val/``), one named by its YouTube id alone; the last row of each class never downloaded."""
    root = tmp_path / "k400"
    head = "label,youtube_id,time_start,time_end,split\n"
    rows = {"train": [], "val": []}
    for c, label in enumerate(("abseiling", "air drumming")):
        for i in range(4):
            for split in ("train", "val"):
                yid = f"{split[0]}{c}{i}-AbC_d"
                rows[split].append(f'"{label}",{yid},{i * 10},{i * 10 + 10},{split}\n')
                name = f"{yid}_{i * 10:06d}_{i * 10 + 10:06d}.gif" if (c, i) != (1, 0) else f"{yid}.gif"
                if i < 3:
                    _gif(root / split / (label.replace(" ", "_") if split == "train" else "") / name, 80 * c + 5 * i)
    (root / "train.csv").write_text(head + "".join(rows["train"]))
    (root / "validate.csv").write_text(head + "".join(rows["val"]).replace(",val\n", ",validate\n"))
    (root / "test.csv").write_text("youtube_id,time_start,time_end,split\nzzz,0,10,test\n")
    return root


def test_kinetics_csvs_find_their_clips_in_any_folder_and_name_the_missing_ones(tmp_path):
    root = _kinetics(tmp_path)
    vs = _load(root, root / "train.csv")
    assert vs.classes == ["abseiling", "air drumming"] and len(vs.x_train) == 6 and len(vs.x_test) == 6
    assert vs.report.facts["layout"] == "Kinetics CSVs train.csv + validate.csv (its test split); 4 listed clip(s) not found"
    missing = dict(vs.report.unused)
    assert missing["t03-AbC_d_000030_000040"] == "listed in train.csv, line 5, not found under the data root"
    assert missing["v13-AbC_d_000030_000040"] == "listed in validate.csv, line 9, not found under the data root"
    assert len(missing) == 4  # named and counted (YouTube removes videos; the reference skips them too); --strict: an error


def test_kinetics_errors_name_the_csv(tmp_path):
    root = _kinetics(tmp_path)
    with pytest.raises(DataError, match=r"validate.csv holds validate rows: give the training CSV \(train.csv\)"):
        _load(root, root / "validate.csv")
    (root / "val.csv").write_text((root / "validate.csv").read_text())
    with pytest.raises(DataError, match=r"expected one validation CSV beside it \(val.csv or validate.csv\).* found 2"):
        _load(root, root / "train.csv")
    (root / "val.csv").unlink()
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,x,1.5,11,train\n")
    with pytest.raises(DataError, match=r"train.csv, line 2: expected a label, a YouTube id and whole-second"):
        _load(root, root / "train.csv")
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,nowhere,0,10,train\n")
    with pytest.raises(DataError, match=r"Kinetics clip\(s\) it lists are not under"):
        _load(tmp_path / "k400" / "train" / "abseiling", root / "train.csv")


def _ssv2(tmp_path: Path) -> Path:
    """SSv2's download: ``20bn-something-something-v2/<id>.webm`` (GIFs here) and ``labels/{labels,train,validation,
    test}.json``."""
    labels = tmp_path / "labels"
    labels.mkdir()
    classes = ["Approaching something with your camera", "Putting something on a surface"]
    (labels / "labels.json").write_text(json.dumps({t: str(i) for i, t in enumerate(classes)}))
    entries: dict[str, list] = {"train": [], "validation": []}
    n = 0
    for c, cls in enumerate(classes):
        template = cls.replace("something", "[something]").replace("Putting", "putting")  # case differs in the lists
        for split, count in (("train", 3), ("validation", 2)):
            for _ in range(count):
                n += 1
                entries[split].append({"id": str(n), "label": cls.lower(), "template": template, "placeholders": ["a cup"]})
                _gif(tmp_path / "20bn-something-something-v2" / f"{n}.gif", 90 * c + 7 * n)
    for split, e in entries.items():
        (labels / f"{split}.json").write_text(json.dumps(e))
    (labels / "test.json").write_text(json.dumps([{"id": "999"}]))
    return tmp_path


def test_ssv2_labels_folder_or_train_json(tmp_path):
    base = _ssv2(tmp_path)
    root = base / "20bn-something-something-v2"
    for given in (base / "labels", base / "labels" / "train.json"):
        vs = _load(root, given)
        assert vs.classes == ["Approaching something with your camera", "Putting something on a surface"]
        assert len(vs.x_train) == 6 and len(vs.x_test) == 4
        assert vs.report.facts["layout"] == ("SSv2 label files train.json + validation.json (its test split), classes of "
                                             "labels.json")


def test_ssv2_errors_name_the_file_and_entry(tmp_path):
    base = _ssv2(tmp_path)
    root = base / "20bn-something-something-v2"
    entries = json.loads((base / "labels" / "validation.json").read_text())
    entries[1]["template"] = "Spinning [something]"
    (base / "labels" / "validation.json").write_text(json.dumps(entries))
    with pytest.raises(DataError, match=r"validation.json, entry 1 \(id 5\): its template 'Spinning \[something\]' is no class of labels.json"):
        _load(root, base / "labels")
    (base / "labels" / "validation.json").write_text("[{")
    with pytest.raises(DataError, match=r"validation.json, line 1: not JSON"):
        _load(root, base / "labels")
    (base / "labels" / "labels.json").unlink()
    with pytest.raises(DataError, match=r"train.json: a JSON split file is SSv2's .*no labels.json is beside it"):
        _load(root, base / "labels" / "train.json")


def test_a_folder_as_split_file_is_named_a_folder(tmp_path):
    (tmp_path / "lists").mkdir()
    with pytest.raises(DataError, match=r"split file .*lists is a folder: expected a CSV path,label,split, UCF101's .*HMDB51's"):
        _load(tmp_path, tmp_path / "lists")


def test_video_dm_runs_end_to_end_on_an_hmdb_download(tmp_path, capsys):
    from mmdistill.cli import main

    root, splits = _hmdb(tmp_path)
    code = main(["run", "video-dm", "--dataset", "folder", "--data-root", str(root), "--split-file", str(splits),
                 "--split-number", "2", "--budget", "cpu", "--ipc", "1", "--num-frames", "3", "--frame-gap", "1",
                 "--frame-size", "8", "--iterations", "1", "--no-evaluate", "--no-progress", "--no-cache",
                 "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["config"]["split_number"] == 2
    assert "split 2" in m["synthetic"]["meta"]["load_report"]["facts"]["layout"]


def test_a_listed_name_in_another_unicode_form_finds_its_clip(tmp_path):
    """A split list written composed (``Café``) finds the clip a Mac stored decomposed, as the CSV reader does."""
    import unicodedata

    root, splits = _hmdb(tmp_path)
    _gif(root / "cartwheel" / unicodedata.normalize("NFD", "Café_cartwheel_0.gif"), 200)
    f = splits / "cartwheel_test_split1.txt"
    f.write_text(f.read_text() + unicodedata.normalize("NFC", "Café_cartwheel_0.avi") + " 2\n")
    assert len(_load(root, splits).x_test) == 3


def test_the_references_own_split_csvs_read_as_they_are(tmp_path):
    """The reference's ``hmdb51_splits.csv`` / ``ucf50_splits1.csv`` (header ``folder_name,label,split``, CRLF lines,
    rows naming frame folders of a flat ``jpegs_112/``) were refused: "the header must be path,label,split"."""
    root = tmp_path / "jpegs_112"
    rows = ["folder_name,label,split"]
    for c, label in enumerate(("brush_hair", "cartwheel")):
        for i in range(3):
            _frames(root / f"X_{label}_{i}", 40 * c + 9 * i)
            rows.append(f"X_{label}_{i},{label},{'test' if i == 2 else 'train'}")
    (tmp_path / "hmdb51_splits.csv").write_text("\r\n".join(rows) + "\r\n", newline="")
    vs = _load(root, tmp_path / "hmdb51_splits.csv", kind="frames")
    assert vs.classes == ["brush_hair", "cartwheel"] and len(vs.x_train) == 4 and len(vs.x_test) == 2
    (tmp_path / "bad.csv").write_text("folder,label,split\nX_brush_hair_0,brush_hair,train\n")
    with pytest.raises(DataError, match=r"bad.csv, line 1: the header must be path,label,split, got 'folder,label,split' \(the reference's folder_name"):
        _load(root, tmp_path / "bad.csv", kind="frames")


def test_the_references_ssv2_lists_and_kinetics_frame_folders(tmp_path):
    """The reference's extraction scripts write SSv2 as ``frame/<id>/`` with ``annot_{train,val}.json`` (``{"id",
    "class": index}``) and ``class_list.json``, and Kinetics as ``{train,val}/<youtube_id>_<start>_<end>/`` (a clip
    in ``replacement/`` too is read from its split's folder)."""
    ssv2 = tmp_path / "SSv2"
    names = ["approaching something with your camera", "putting something on a surface"]
    (ssv2 / "frame").mkdir(parents=True)
    (ssv2 / "class_list.json").write_text(json.dumps(names))
    for split, ids in (("train", range(6)), ("val", range(6, 10))):
        (ssv2 / f"annot_{split}.json").write_text(json.dumps([{"id": str(i), "class": i % 2} for i in ids]))
    for i in range(10):
        _frames(ssv2 / "frame" / str(i), 20 * i)
    vs = _load(ssv2 / "frame", ssv2, kind="frames")
    assert vs.classes == names and len(vs.x_train) == 6 and len(vs.x_test) == 4
    assert vs.report.facts["layout"].startswith("SSv2 reference lists annot_train.json + annot_val.json")
    (ssv2 / "annot_val.json").write_text(json.dumps([{"id": "6", "class": 2}]))
    with pytest.raises(DataError, match=r"annot_val.json, entry 0: expected .*index of class_list.json, 0 to 1"):
        _load(ssv2 / "frame", ssv2, kind="frames")

    k = tmp_path / "Kinetics"
    head = "label,youtube_id,time_start,time_end,split\n"
    (k / "train.csv").parent.mkdir()
    (k / "train.csv").write_text(head + "".join(f"{c},y{c}{i},0,10,\n" for c in "ab" for i in range(2)))  # no split value
    (k / "validate.csv").write_text(head + "".join(f"{c},v{c},0,10,validate\n" for c in "ab"))
    for c in "ab":
        for i in range(2):
            _frames(k / "train" / f"y{c}{i}_000000_000010", 50 if c == "a" else 150)
        _frames(k / "val" / f"v{c}_000000_000010", 50 if c == "a" else 150)
    _frames(k / "replacement" / "ya0_000000_000010", 250)
    vs = _load(k, k / "train.csv", kind="frames")
    assert len(vs.x_train) == 4 and len(vs.x_test) == 2 and float(vs.x_train.max()) < 0.7  # train/'s, not replacement/'s


def test_discover_takes_the_split_number_too(tmp_path):
    from mmdistill.modalities.video.layout import discover

    root, splits = _hmdb(tmp_path)
    items = discover(root, "files", str(splits), 0.2, 0, split_number=3)
    assert sorted(Path(it.path).stem[-1] for it in items if it.split == "test") == ["0", "0"]  # split 3: "20111"


def test_hmdb_split_file_of_another_split_than_split_number_is_refused(tmp_path):
    """Walk 55N: ``--split-file <action>_test_split1.txt --split-number 2`` read split 1 without a word while the
    manifest recorded split_number=2; a file's own number is still read at the default 1 (the test above)."""
    root, splits = _hmdb(tmp_path)
    with pytest.raises(ConfigError, match=r"split_number=2, but the split file .*cartwheel_test_split1.txt is one of "
                                          r"split 1's: give the folder .*cartwheel_test_split2.txt") as err:
        _load(root, splits / "cartwheel_test_split1.txt", split_number=2)
    assert err.value.key == "split_number"
    assert "split 3" in _load(root, splits / "cartwheel_test_split3.txt", split_number=3).report.facts["layout"]


def test_split_number_1_given_with_a_split_2_file_is_refused_and_left_out_reads_the_files(tmp_path, capsys):
    """Walk 56E: ``--split-file <action>_test_split2.txt --split-number 1`` read split 2 while the manifest recorded
    split_number=1 (1 being the default, "given" was lost); left out, the file's own split is still read."""
    from mmdistill.cli import main

    root, splits = _hmdb(tmp_path)
    common = ["run", "video-dm", "--dataset", "folder", "--data-root", str(root), "--split-file",
              str(splits / "cartwheel_test_split2.txt"), "--budget", "cpu", "--ipc", "1", "--num-frames", "3",
              "--frame-gap", "1", "--frame-size", "8", "--iterations", "1", "--no-evaluate", "--no-progress", "--no-cache"]
    assert main([*common, "--split-number", "1", "--out", str(tmp_path / "one")]) != 0
    err = capsys.readouterr().err
    assert "split_number=1, but the split file" in err and "cartwheel_test_split2.txt is one of split 2's" in err
    assert "leave split_number out to read split 2" in err
    assert main([*common, "--out", str(tmp_path / "own")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "own" / "manifest.json").read_text())
    assert "split 2" in m["synthetic"]["meta"]["load_report"]["facts"]["layout"]
    with pytest.raises(ConfigError, match="split_number=1, but the split file"):  # the Python API: given is given
        _load(root, splits / "cartwheel_test_split2.txt", split_number=1)


def test_given_split_number_tells_a_value_given_now_from_a_saved_or_default_one():
    from mmdistill.recipes import get_recipe
    from mmdistill.resolve import SAVED_LAYER
    from mmdistill.modalities.video.config import VideoKeys, given_split_number

    recipe = get_recipe("video-dm")
    assert given_split_number(recipe.config(budget="cpu")) is None
    assert given_split_number(recipe.config(budget="cpu", split_number=1)) == 1
    assert given_split_number(recipe.config(("command-line flags", {"split_number": 2, "budget": "cpu"}))) == 2
    # a saved run recorded 1 whatever file it read: re-scoring it reads the file's split, as it ran
    assert given_split_number(recipe.config((SAVED_LAYER, {"split_number": 1, "budget": "cpu"}))) is None
    assert given_split_number(VideoKeys()) is None and given_split_number(VideoKeys(split_number=1)) == 1


def test_a_listed_clip_not_found_is_one_policy_for_hmdb_kinetics_and_ssv2(tmp_path):
    """Walk 56E: a missing HMDB51 or SSv2 clip was an error while Kinetics' were counted as unused. Now all three name
    and count them (a release loses clips); a split none of whose clips is found (a wrong root, a split not extracted)
    is an error, and --strict makes any missing clip one."""
    root, splits = _hmdb(tmp_path / "h")
    next(root.glob("cartwheel/*_0.gif")).unlink()  # a training clip of split 1
    vs = _load(root, splits)
    assert len(vs.x_train) == 5 and vs.report.facts["layout"].endswith("; 1 listed clip(s) not found")
    assert dict(vs.report.unused)["Clip_cartwheel_u_nm_np1_ba_goo_0.avi"] == ("listed in cartwheel_test_split1.txt, line 1, "
                                                                              "not found under the data root")
    with pytest.raises(DataError, match="--strict makes a missing clip an error"):
        _load(root, splits, strict=True)
    for gif in root.glob("*/*_2.gif"):  # split 1's ids "11201": clip 2 is each class's test clip
        gif.unlink()
    with pytest.raises(DataError, match=r"HMDB51 clip\(s\) it lists are not under .*and no test clip of it is found"):
        _load(root, splits)

    (tmp_path / "s").mkdir()
    base = _ssv2(tmp_path / "s")
    (base / "20bn-something-something-v2" / "1.gif").unlink()
    vs = _load(base / "20bn-something-something-v2", base / "labels")
    assert len(vs.x_train) == 5 and vs.report.facts["layout"].endswith("; 1 listed clip(s) not found")
    with pytest.raises(DataError, match="--strict makes a missing clip an error"):
        _load(base / "20bn-something-something-v2", base / "labels", strict=True)
    with pytest.raises(DataError, match=r"SSv2 clip\(s\) it lists are not under .*and no train and no test clip of it is found"):
        _load(tmp_path / "h", base / "labels")  # a wrong root

    k = _kinetics(tmp_path / "k")
    with pytest.raises(DataError, match="--strict makes a missing clip an error"):
        _load(k, k / "train.csv", strict=True)
