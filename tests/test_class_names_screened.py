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


def test_load_save_and_read_clean_class_names_alike_with_one_step(caplog):
    # session 55: the three cleanings (at load, at save, on reading an earlier set) were near-copies; now one step
    # (words.cleaned_names) whose only difference, a name that is not Unicode text, is its parameter
    from mmdistill.data import clean_class_names
    from mmdistill.io import _written_classes
    from mmdistill.words import cleaned_names

    names = ["cat", "hot\tdog", "x\x1b[31m", "a\u202eb", "caf\u00e9", "d\u200dog", 3, None]
    want = ["cat", "hot_dog", "x_[31m", "a_b", "caf\u00e9", "d\u200dog", 3, None]
    assert cleaned_names(names) == (want, [(1, "hot\tdog", "hot_dog"), (2, "x\x1b[31m", "x_[31m"), (3, "a\u202eb", "a_b")])
    assert clean_class_names("dataset 'pin55'", names) == want
    assert _written_classes({"meta": {"classes": names}})["meta"]["classes"] == want
    read = with_clean_class_names({"synthetic": {"meta": {"classes": names}}}, "m.json")
    assert read["synthetic"]["meta"]["classes"] == want
    # a lone surrogate (a Latin-1 folder name read on a UTF-8 system): cleaned at save, left for the reader's refusal
    assert cleaned_names(["bad\udce9"]) == (["bad_"], [(0, "bad\udce9", "bad_")])
    assert cleaned_names(["bad\udce9"], text_only=True) == (["bad\udce9"], [])
    assert _written_classes({"meta": {"classes": ["bad\udce9", "ok"]}})["meta"]["classes"] == ["bad_", "ok"]
    kept = {"synthetic": {"meta": {"classes": ["bad\udce9", "ok"]}}}
    assert with_clean_class_names(kept, "m.json") is kept
    warned = [r.getMessage() for r in caplog.records]
    assert any("hot\\tdog -> hot_dog" in w and "pin55" in w for w in warned)  # each path still words its own warning
    assert any("synthetic.meta.classes label 1: hot\\tdog -> hot_dog" in w for w in warned)
    assert any("the set records them with each replaced by '_': bad\\udce9 -> bad_" in w for w in warned)
