"""Walk 54I: a set's class names (``synthetic.meta.classes``, a merge's ``merged_from[].classes``) are printed by the card,
``show`` and ``eval`` and become an export's folder names; like the manifest's other names they hold no control or
bidi-reordering character: cleaned when mmdistill writes a set, and read cleaned, with a warning naming the file, field
and label, from a set written before or edited (walk 54Q: an earlier mmdistill's own sets were refused as edited)."""

import json

import torch

from mmdistill.io import check_manifest, load_synthetic, save_synthetic
from mmdistill.manifest_check import with_clean_class_names
from mmdistill.synthetic import SyntheticSet


def _set(classes):
    return SyntheticSet({"x": torch.zeros(2, 3)}, torch.tensor([0, 1]), 2, meta={"classes": classes, "ipc": 1})


def test_class_names_with_escapes_are_read_cleaned_on_load_and_written_clean(tmp_path, caplog):
    save_synthetic(tmp_path / "ok", _set(["cat", "d\u200dog"]), {"format": "mmdistill.set/1"})  # a joiner is kept
    assert load_synthetic(tmp_path / "ok")[0].meta["classes"] == ["cat", "d\u200dog"]
    for bad in ("\x1b[2Jdog", "god\u202egnp.exe", "two\nlines"):
        path = tmp_path / "ok" / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["synthetic"]["meta"]["classes"] = ["cat", bad]
        edited = tmp_path / "edited"
        edited.mkdir(exist_ok=True)
        (edited / "manifest.json").write_text(json.dumps(manifest))
        (edited / "synthetic.safetensors").write_bytes((tmp_path / "ok" / "synthetic.safetensors").read_bytes())
        caplog.clear()
        assert load_synthetic(edited)[0].meta["classes"] == ["cat", "".join("_" if c in "\x1b\u202e\n" else c for c in bad)]
        assert "manifest.json: 1 class name(s) hold a line break, tab, other control or bidi-reordering" in caplog.text
    save_synthetic(tmp_path / "run", _set(["cat", "\x1b[31mdog\u202e"]), {"format": "mmdistill.set/1"})
    assert load_synthetic(tmp_path / "run")[0].meta["classes"] == ["cat", "_[31mdog_"]
    assert "the set records them with each replaced by '_': \\x1b[31mdog\\u202e -> _[31mdog_" in caplog.text


def test_a_merged_sets_part_classes_are_read_cleaned_too():
    base = {"format": "mmdistill.set/1", "synthetic": {"tensors": {}}}
    assert check_manifest({**base, "merged_from": [{"dir": "a", "classes": ["cat"]}]}, "m.json")
    dirty = {**base, "merged_from": [{"dir": "a", "classes": ["cat"]}, {"dir": "b", "classes": ["\x9bdog"]}]}
    assert with_clean_class_names(check_manifest(dirty, "m.json"), "m.json")["merged_from"][1]["classes"] == ["_dog"]
