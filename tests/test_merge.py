"""``mmdistill merge`` (walk 51F): sets distilled from part of the classes (class-incremental tasks, federated clients)
joined by class name into one set, with their normalisation converted exactly to the named data's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill.cli import main
from mmdistill.errors import ConfigError
from mmdistill.merge import merge
from mmdistill.recipes import image_dm
from mmdistill.share import load

SHADES = {"a": 20, "b": 60, "c": 150, "d": 210}  # the two tasks' pixels differ, so do their means and stds


def _folder(root: Path, classes: list[str], size: int = 8) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((size, size), SHADES[name] + 7 * i, dtype=np.uint8), mode="L").save(root / name / f"{i}.png")
    return root


def _distil(tmp: Path, name: str, classes: list[str], size: int = 8) -> Path:
    data = _folder(tmp / "data" / name, classes, size)
    image_dm.run(dataset="imagefolder", data_root=str(data), ipc=1, iterations=1, batch_real=4, evaluate=False, progress=False,
                 memory_check=False, out=str(tmp / name))
    return tmp / name


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("merge")
    return tmp, _distil(tmp, "task1", ["a", "b"]), _distil(tmp, "task2", ["c", "d"]), _folder(tmp / "data" / "all", list(SHADES))


def _raw(ds) -> torch.Tensor:
    stats = ds.normalization["x"]
    return ds.x * stats["std"] + stats["mean"]


def test_merged_set_joins_classes_by_name_and_converts_normalisation_exactly(tasks):
    """Part 2's label 0 is class 'c': in the merged set over a..d it is label 2, and its pixels (raw units) are part 2's,
    though the two tasks and the whole data were normalised with three different means and stds."""
    tmp, t1, t2, full = tasks
    out = merge([t1, t2], tmp / "merged", dataset="imagefolder", data_root=full, evaluate=False)
    merged, p1, p2 = load(out), load(t1), load(t2)
    assert p2.classes == ["c", "d"] and int(p2.labels[0]) == 0
    assert p1.synthetic.meta["mean"] != p2.synthetic.meta["mean"] != merged.synthetic.meta["mean"]
    assert merged.classes == ["a", "b", "c", "d"] and merged.labels.tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(_raw(merged)[2:], _raw(p2), atol=1e-5, rtol=0)
    torch.testing.assert_close(_raw(merged)[:2], _raw(p1), atol=1e-5, rtol=0)
    parts = merged.manifest["merged_from"]
    assert [p["classes"] for p in parts] == [["a", "b"], ["c", "d"]] and parts[1]["mean"] == p2.synthetic.meta["mean"]
    assert [p["per_class"] for p in parts] == [[1, 1], [1, 1]] and [p["dir"] for p in parts] == [str(t1), str(t2)]
    # which sets, exactly: each part's tensor sha256 (before: manifest.get("set_sha256"), a key no manifest has: always null)
    assert [p["set_sha256"] for p in parts] == [p1.manifest["synthetic_sha256"], p2.manifest["synthetic_sha256"]]
    assert all(isinstance(p["set_sha256"], str) and len(p["set_sha256"]) == 64 for p in parts)
    card = (out / "README.md").read_text(encoding="utf-8")  # a receiver reads what the set is made of (session 51)
    assert f"- merged by `mmdistill merge` from 2 sets (the config is the first part's, its sizes the merged set's): `{t1}` (classes a, b); `{t2}` (classes c, d)" in card


def test_merge_refuses_parts_that_miss_a_class_of_the_data(tasks):
    tmp, t1, t2, full = tasks
    with pytest.raises(ConfigError, match=r"no part holds class\(es\) 'c', 'd'"):
        merge([t1, t1], tmp / "missing", dataset="imagefolder", data_root=full, evaluate=False)


def test_merge_refuses_a_part_of_another_sample_shape(tasks, tmp_path):
    tmp, t1, _, full = tasks
    small = _distil(tmp_path, "small", ["c", "d"], size=6)
    with pytest.raises(ConfigError, match=r"small: its samples have shape \(1, 6, 6\), the data's \(1, 8, 8\)"):
        merge([t1, small], tmp_path / "m", dataset="imagefolder", data_root=full, evaluate=False)


def test_merge_command_writes_a_set_that_loads(tasks, capsys):
    tmp, t1, t2, full = tasks
    code = main(["merge", str(t1), str(t2), "--out", str(tmp / "cli"), "--dataset", "imagefolder", "--data-root", str(full),
                 "--no-evaluate"])
    assert code == 0 and "merged 2 sets (4 images) into 4 images, 1 per class of 4 classes" in capsys.readouterr().out
    assert load(tmp / "cli").classes == ["a", "b", "c", "d"]
    assert main(["show", str(tmp / "cli")]) == 0
    assert f"merged from {t2}: classes c, d" in capsys.readouterr().out
    assert main(["merge", str(t1), "--out", str(tmp / "one")]) != 0
    assert "needs two saved sets or more" in capsys.readouterr().err
    assert main(["merge", str(t1), str(t2), "--out", str(tmp / "no-dataset"), "--no-evaluate"]) != 0  # task1's data: a, b
    assert "class(es) 'c', 'd' are not classes of the data the merged set is for ('a', 'b'): name data that holds" in capsys.readouterr().err


def test_classes_key_distils_a_subset_by_name_with_the_whole_datas_normalisation(tasks, tmp_path):
    """classes=c,a keeps those two classes, labelled in the data's order (a=0, c=1), train and test, with the whole
    training split's mean/std, so two subsets' sets merge without conversion; an unknown class is named."""
    from mmdistill.validation import load_data

    tmp, _, _, full = tasks
    cfg = image_dm.RECIPE.config(dataset="imagefolder", data_root=str(full), classes=["c", "a"], progress=False)
    data, whole = load_data(image_dm.RECIPE.get_modality(), cfg), image_dm.RECIPE.get_modality().load(cfg)
    assert data.train.classes == ["a", "c"] and sorted(set(data.train.y.tolist())) == [0, 1] == sorted(set(data.test.y.tolist()))
    assert len(data.train) == int((whole.train.y == 0).sum() + (whole.train.y == 2).sum())
    assert data.meta["mean"] == whole.meta["mean"] and data.meta["classes"] == ["a", "c"]
    runs = [image_dm.run(dataset="imagefolder", data_root=str(full), classes=names, ipc=1, iterations=1, batch_real=4, evaluate=False,
                         progress=False, memory_check=False, out=str(tmp_path / "".join(names))).out_dir for names in (["a", "b"], ["c", "d"])]
    merged = load(merge(runs, tmp_path / "m", dataset="imagefolder", data_root=full, evaluate=False))
    assert merged.classes == ["a", "b", "c", "d"] and merged.manifest["config"]["classes"] == []
    # a replay memory of the tasks so far (walk 51F's question): two sets of a and b over those classes only, scored on them
    assert main(["merge", str(runs[0]), str(runs[0]), "--out", str(tmp_path / "so-far"), "--dataset", "imagefolder",
                 "--data-root", str(full), "--classes", "a,b", "--no-evaluate"]) == 0
    so_far = load(tmp_path / "so-far")
    assert so_far.classes == ["a", "b"] and so_far.labels.tolist() == [0, 0, 1, 1] and so_far.manifest["config"]["classes"] == ["a", "b"]
    torch.testing.assert_close(so_far.x[:2], load(runs[0]).x[:1].expand(2, -1, -1, -1))
    torch.testing.assert_close(merged.x[2:], load(runs[1]).x)  # one normalisation: the inputs are copied as they are
    with pytest.raises(ConfigError, match=r"classes: 'z' not among imagefolder's classes \('a', 'b', 'c', 'd'\)"):
        load_data(image_dm.RECIPE.get_modality(), image_dm.RECIPE.config(dataset="imagefolder", data_root=str(full), classes=["z"]))
    with pytest.raises(ConfigError, match=r"classes=b,b keeps one class of imagefolder; classification needs at least 2"):
        load_data(image_dm.RECIPE.get_modality(), image_dm.RECIPE.config(dataset="imagefolder", data_root=str(full), classes=["b", "b"]))


def test_merged_set_gets_the_memorisation_check_a_run_gets(tmp_path):
    """Walk 52D: two client sets that are copies of their real samples (initialised from real, no iteration) merged into
    the set a server publishes: the merged set had no memorisation block, and its card said "Not run (a set made before
    the check existed)", though each part's card named 100 % copies."""
    data, parts = _folder(tmp_path / "data", list(SHADES)), []
    for name, classes in (("c1", ["a", "b"]), ("c2", ["c", "d"])):  # the clients' classes of one data: one held-out split
        image_dm.run(dataset="imagefolder", data_root=str(data), classes=classes, ipc=1, iterations=0, evaluate=False,
                     progress=False, memory_check=False, out=str(tmp_path / name))
        parts.append(tmp_path / name)
    out = merge(parts, tmp_path / "merged", dataset="imagefolder", data_root=data, evaluate=False)
    mem = load(out).manifest["memorisation"]
    assert "skipped" not in mem and mem["synthetic_samples"] == 4
    assert mem["input"]["frac_below_real_min"] == 1.0  # every merged sample is (the exact conversion of) a real one
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Not run" not in card  # the verdict says so, in both spaces (before: "... or 'exact copies' in card" passed alone)
    assert card.count("100 % of the synthetic samples are exact copies of real samples (distance 0)") == 2
    assert (out / "memorisation.png").is_file()
