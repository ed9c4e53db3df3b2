"""Walk 54I: a set's class names (``synthetic.meta.classes``, a merge's ``merged_from[].classes``) are printed by the card,
``show`` and ``eval`` and become an export's folder names; like the manifest's other names they hold no control or
bidi-reordering character: refused on load (file, field, label index), cleaned when mmdistill writes a set."""

import json

import pytest
import torch

from mmdistill.errors import ArtifactError
from mmdistill.io import check_manifest, load_synthetic, save_synthetic
from mmdistill.synthetic import SyntheticSet


def _set(classes):
    return SyntheticSet({"x": torch.zeros(2, 3)}, torch.tensor([0, 1]), 2, meta={"classes": classes, "ipc": 1})


def test_class_names_with_escapes_are_refused_on_load_and_written_clean(tmp_path, caplog):
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
        with pytest.raises(ArtifactError, match=r"manifest.json: field 'synthetic.meta.classes' names label 1 .*; a class name "
                                                r"holds no line break, tab, other control or bidi-reordering character"):
            load_synthetic(edited)
    save_synthetic(tmp_path / "run", _set(["cat", "\x1b[31mdog\u202e"]), {"format": "mmdistill.set/1"})
    assert load_synthetic(tmp_path / "run")[0].meta["classes"] == ["cat", "_[31mdog_"]
    assert "the set records them with each replaced by '_': \\x1b[31mdog\\u202e -> _[31mdog_" in caplog.text


def test_a_merged_sets_part_classes_are_screened_too():
    base = {"format": "mmdistill.set/1", "synthetic": {"tensors": {}}}
    assert check_manifest({**base, "merged_from": [{"dir": "a", "classes": ["cat"]}]}, "m.json")
    with pytest.raises(ArtifactError, match=r"m.json: field 'merged_from\[1\].classes' names label 0 .*a class name holds no"):
        check_manifest({**base, "merged_from": [{"dir": "a", "classes": ["cat"]}, {"dir": "b", "classes": ["\x9bdog"]}]}, "m.json")
