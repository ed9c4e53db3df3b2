"""Walk 54Q: a set saved before class names were cleaned at save (this morning's mmdistill wrote a class folder named
``hot<TAB>dog`` as it was) is read with the names cleaned as a run writes them now, with one warning, not refused as an
edited manifest; its data's folder names are compared cleaned too, so ``eval`` and ``merge`` still take it."""

import json
from types import SimpleNamespace

import pytest
import torch

from mmdistill.errors import DataError
from mmdistill.io import load_synthetic, save_synthetic
from mmdistill.share import check_same_classes
from mmdistill.synthetic import SyntheticSet


def _old_style_set(tmp_path, classes):
    """A set folder as the earlier save_synthetic wrote it: ``classes`` in the manifest as they were."""
    save_synthetic(tmp_path / "new", SyntheticSet({"x": torch.zeros(2, 3)}, torch.tensor([0, 1]), 2,
                                                  meta={"classes": ["a", "b"], "ipc": 1}), {"format": "mmdistill.set/1"})
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    manifest["synthetic"]["meta"]["classes"] = classes
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps(manifest))
    (old / "synthetic.safetensors").write_bytes((tmp_path / "new" / "synthetic.safetensors").read_bytes())
    return old


def test_an_old_set_with_a_tab_in_a_class_name_is_read_cleaned_with_a_warning(tmp_path, caplog):
    old = _old_style_set(tmp_path, ["cat", "hot\tdog"])
    with caplog.at_level("WARNING"):
        syn, manifest = load_synthetic(old)
    assert syn.meta["classes"] == ["cat", "hot_dog"] == manifest["synthetic"]["meta"]["classes"]
    assert "manifest.json: 1 class name(s) hold a line break, tab" in caplog.text
    assert "synthetic.meta.classes label 1: hot\\tdog -> hot_dog" in caplog.text
    assert json.loads((old / "manifest.json").read_text())["synthetic"]["meta"]["classes"][1] == "hot\tdog"  # not rewritten


def test_a_merged_sets_part_classes_are_read_cleaned_and_clean_manifests_are_returned_as_they_are():
    from mmdistill.manifest_check import with_clean_class_names

    clean = {"synthetic": {"tensors": {}, "meta": {"classes": ["cat"]}}, "merged_from": [{"dir": "a", "classes": ["cat"]}]}
    assert with_clean_class_names(clean, "m.json") is clean
    dirty = {**clean, "merged_from": [{"dir": "a", "classes": ["cat"]}, {"dir": "b", "classes": ["\x9bdog"]}]}
    assert with_clean_class_names(dirty, "m.json")["merged_from"][1] == {"dir": "b", "classes": ["_dog"]}
    assert dirty["merged_from"][1]["classes"] == ["\x9bdog"]  # the caller's manifest is left as it was


def test_the_data_of_a_class_folder_with_a_tab_matches_the_set_made_from_it():
    syn = SyntheticSet({"x": torch.zeros(2, 3)}, torch.tensor([0, 1]), 2, meta={"classes": ["cat", "hot_dog"]})
    check_same_classes(syn, SimpleNamespace(classes=["cat", "hot\tdog"], name="imagefolder"), "run")  # what save wrote
    with pytest.raises(DataError, match="differ from label 1 on"):
        check_same_classes(syn, SimpleNamespace(classes=["cat", "hotdog"], name="imagefolder"), "run")
