"""What a received set is checked against on load (walk 36A): a run folder's tensor file against the sha256 its
manifest records, an export's manifest against its ``label`` ClassLabel and the fields its record holds, duplicate
class names; what ``show`` says it checked; and the smaller things of ``DistilledSet`` (``~``, repr, indexing) and
``export_hf`` (no progress bars from the library)."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import mmdistill
from mmdistill.cli import main
from mmdistill.errors import ArtifactError
from mmdistill.integrity import SET_DIGEST_KEY, file_sha256
from mmdistill.io import load_synthetic, save_synthetic
from mmdistill.share import export_hf

from test_share import make_set  # noqa: E402  (a tiny saved image set: initialised, not distilled)

CHANGED = r"synthetic.safetensors has other contents \(sha256\) than when it was written"


@pytest.fixture(scope="module")
def share_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("integrity")


@pytest.fixture(scope="module")
def hf_export(share_root) -> Path:
    pytest.importorskip("datasets")
    return export_hf(make_set("image", share_root / "image"), share_root / "hf")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


# --------------------------------------------------------------------------- 1. a run folder's tensor file
def test_a_run_records_the_sha256_of_its_tensor_file(share_root):
    out = make_set("image", share_root / "image")
    assert _manifest(out)[SET_DIGEST_KEY] == file_sha256(out / "synthetic.safetensors")


@pytest.mark.parametrize("edit", ["labels", "pixel"])
def test_tensors_edited_in_a_run_folder_are_refused_by_load_show_and_check(share_root, tmp_path, capsys, edit):
    """Labels 0 -> 9 (in range, same shape) or one pixel + 0.5 (same size): loaded silently before."""
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    tensors = load_file(str(out / "synthetic.safetensors"))
    if edit == "labels":
        tensors["labels"][:3] = tensors["labels"].max()
    else:
        tensors["data.x"].view(-1)[0] += 0.5
    save_file(tensors, str(out / "synthetic.safetensors"))
    with pytest.raises(ArtifactError, match=CHANGED) as err:
        mmdistill.load(out)
    assert str(out / "manifest.json") in str(err.value)
    for command in (["show"], ["check", "--no-write"], ["export", "--to", str(tmp_path / "png")]):
        assert main([command[0], str(out), *command[1:]]) == 4
        assert "synthetic.safetensors has other contents (sha256)" in capsys.readouterr().err
    assert not (tmp_path / "png").exists()


def test_a_set_without_a_digest_loads_and_a_damaged_digest_is_named(share_root, tmp_path, caplog):
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    manifest = _manifest(out)
    del manifest[SET_DIGEST_KEY]  # a set written by an earlier mmdistill (0.1.0 wrote sets before the digest too)
    manifest["versions"]["mmdistill"] = "0.1.0"
    _write_manifest(out, manifest)
    with caplog.at_level(logging.DEBUG, logger="mmdistill"):
        assert len(mmdistill.load(out)) > 0
    assert "records no sha256 of synthetic.safetensors" in caplog.text
    manifest[SET_DIGEST_KEY] = "abc"
    _write_manifest(out, manifest)
    with pytest.raises(ArtifactError, match=r"manifest.json: field 'synthetic_sha256' is \"abc\"; expected the sha256"):
        mmdistill.load(out)


def test_check_eval_write_and_export_keep_the_digest(share_root, tmp_path):
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    digest = _manifest(out)[SET_DIGEST_KEY]
    assert main(["check", str(out)]) == 0  # rewrites the manifest (memorisation block)
    assert main(["eval", str(out), "--runs", "1", "--epochs", "1", "--no-baselines", "--write"]) == 0
    assert _manifest(out)[SET_DIGEST_KEY] == digest and mmdistill.load(out)
    pytest.importorskip("datasets")
    hf = export_hf(out, tmp_path / "hf")
    assert _manifest(hf / "mmdistill")[SET_DIGEST_KEY] == digest == file_sha256(hf / "mmdistill" / "synthetic.safetensors")
    assert main(["check", str(hf)]) == 0  # an export's manifest is rewritten too: its recorded fields stay true
    assert main(["eval", str(hf), "--runs", "1", "--epochs", "1", "--no-baselines", "--write"]) == 0
    assert mmdistill.load(hf).classes == mmdistill.load(out).classes


def test_rewriting_a_set_removes_its_old_manifest_first(share_root, tmp_path, monkeypatch):
    """A kill between the new tensors and the new manifest (a finished run resumed with more iterations) left the old
    manifest over the new tensors; now it leaves no manifest: an unfinished run that --resume finishes."""
    import mmdistill.io as io

    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    syn, manifest = load_synthetic(out)
    syn.data["x"] = syn.data["x"] + 1.0

    def killed(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_synthetic(out, syn, manifest)
    assert not (out / "manifest.json").exists() and (out / "synthetic.safetensors").exists()


# --------------------------------------------------------------------------- 2. an export's manifest
def test_classes_reversed_in_an_exports_manifest_are_named_against_its_label_column(hf_export, tmp_path):
    hf = _copy(hf_export, tmp_path / "hf")
    manifest = _manifest(hf / "mmdistill")
    classes = manifest["synthetic"]["meta"]["classes"]
    manifest["synthetic"]["meta"]["classes"] = classes[::-1]
    _write_manifest(hf / "mmdistill", manifest)
    said = (rf"mmdistill/manifest.json names the classes \['{classes[-1]}', .*, the export's 'label' column "
            rf"\(.*dataset_info.json\) \['{classes[0]}', .*; they differ from label 0 on \('{classes[-1]}' against '{classes[0]}'\)")
    with pytest.raises(ArtifactError, match=said):
        mmdistill.load(hf)
    record = json.loads((hf / "mmdistill" / "export_files.json").read_text())
    del record["set_fields"]  # an export of an earlier version: the label column still names the classes
    (hf / "mmdistill" / "export_files.json").write_text(json.dumps(record))
    with pytest.raises(ArtifactError, match=said):
        mmdistill.load(hf)


def test_normalisation_edited_in_an_exports_manifest_is_named(hf_export, tmp_path, capsys):
    hf = _copy(hf_export, tmp_path / "hf")
    manifest = _manifest(hf / "mmdistill")
    manifest["synthetic"]["meta"]["mean"] = [0.9]
    _write_manifest(hf / "mmdistill", manifest)
    with pytest.raises(ArtifactError, match=r"mmdistill/manifest.json: field 'synthetic.meta.mean' has another value since the "
                                            r"set was exported \(.*export_files.json records its fields"):
        mmdistill.load(hf)
    assert main(["show", str(hf)]) == 4 and "synthetic.meta.mean" in capsys.readouterr().err


# --------------------------------------------------------------------------- 3. what show says it checked
def test_show_says_what_it_verified(share_root, hf_export, tmp_path, capsys):
    out = make_set("image", share_root / "image")
    assert main(["show", str(out)]) == 0
    digest = json.loads((out / "manifest.json").read_text())["synthetic_sha256"]  # shown, so two sets can be compared
    assert f"integrity: synthetic.safetensors sha256 {digest} matches the manifest" in capsys.readouterr().out
    assert main(["show", str(hf_export)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"synthetic.safetensors sha256 [0-9a-f]{64} matches the manifest", shown)
    assert "the export's 5 data file(s) match export_files.json, and so do the set's fields" in shown
    assert "the class names of the export's 'label' column match the manifest's" in shown
    old = _copy(out, tmp_path / "old")
    manifest = _manifest(old)
    del manifest[SET_DIGEST_KEY]
    manifest["versions"]["mmdistill"] = "0.1.0"
    _write_manifest(old, manifest)
    assert main(["show", str(old)]) == 0
    assert "integrity: no digest recorded (a set written by an earlier mmdistill)" in capsys.readouterr().out


# --------------------------------------------------------------------------- 4. smaller things
def test_load_expands_the_home_folder(share_root, tmp_path, monkeypatch):
    _copy(make_set("image", share_root / "image"), tmp_path / "set")
    monkeypatch.setenv("HOME", str(tmp_path))
    ds = mmdistill.load("~/set")
    assert ds.path == tmp_path / "set" and len(ds) > 0


def test_a_loaded_set_has_a_short_repr_and_says_to_index_its_dataset(share_root):
    out = make_set("image", share_root / "image")
    ds = mmdistill.load(out)
    text = repr(ds)
    assert len(text) < 300 and "modality='image'" in text and "recipe='image-dm'" in text and str(out) in text
    assert f"samples={len(ds)}" in text and f"classes={ds.num_classes}" in text
    with pytest.raises(TypeError, match=r"use ds.dataset\(\)\[0\]"):
        ds[0]
    with pytest.raises(TypeError, match=r"DataLoader\(ds.dataset\(\)"):
        next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert len(next(iter(torch.utils.data.DataLoader(ds.dataset(), batch_size=2)))) == 2


def test_duplicate_class_names_are_refused(share_root, tmp_path):
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    manifest = _manifest(out)
    k = len(manifest["synthetic"]["meta"]["classes"])
    manifest["synthetic"]["meta"]["classes"] = ["a"] * (k - 1) + ["b"]
    _write_manifest(out, manifest)
    with pytest.raises(ArtifactError, match=r"manifest.json: field 'synthetic.meta.classes' names \['a'\] more than once"):
        mmdistill.load(out)


@pytest.mark.parametrize("bars_before", [True, False])
def test_export_hf_prints_no_progress_bars_and_restores_their_setting(share_root, tmp_path, capfd, bars_before):
    datasets = pytest.importorskip("datasets")
    (datasets.enable_progress_bars if bars_before else datasets.disable_progress_bars)()
    try:
        export_hf(make_set("image", share_root / "image"), tmp_path / "hf")
        out, err = capfd.readouterr()
        assert not out and "Saving the dataset" not in err and "parquet" not in err, err
        assert datasets.are_progress_bars_disabled() is not bars_before
    finally:
        datasets.enable_progress_bars()


def test_a_class_name_that_is_not_unicode_text_is_refused(share_root, tmp_path, capsys):
    """Walk 39A: a lone surrogate ("\\ud800" in the JSON) passed show and load, then export crashed (UnicodeEncodeError)."""
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    manifest = _manifest(out)
    manifest["synthetic"]["meta"]["classes"][1] = "\ud800bad"
    _write_manifest(out, manifest)
    said = r"manifest.json: field 'synthetic.meta.classes' names label 1 \"\\ud800bad\", which is not Unicode text"
    with pytest.raises(ArtifactError, match=said):
        mmdistill.load(out)
    for command in (["show", str(out)], ["export", str(out), "--to", str(tmp_path / "png")]):
        assert main(command) == 4 and "not Unicode text" in capsys.readouterr().err


def test_a_digest_removed_from_a_manifest_of_a_version_that_always_writes_it_is_refused(share_root, tmp_path, caplog):
    from mmdistill.integrity import DIGEST_ALWAYS_SINCE

    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    manifest = _manifest(out)
    del manifest[SET_DIGEST_KEY]
    later = ".".join(map(str, DIGEST_ALWAYS_SINCE))
    for version, shown in ((later, later), ("1.0", "1.0"), ("0.2.0.dev3+g1234", "0.2.0")):
        _write_manifest(out, {**manifest, "versions": {**manifest["versions"], "mmdistill": version}})
        with pytest.raises(ArtifactError, match=f"manifest.json has no field 'synthetic_sha256'.*written by mmdistill {shown}, "
                                                "which always records it: the field was removed"):
            mmdistill.load(out)
    for version in ("0.1.0", "0.0.9", "unknown", None):  # 0.1.0 wrote sets before the digest too: read as they are
        _write_manifest(out, {**manifest, "versions": {**manifest["versions"], "mmdistill": version}})
        assert len(mmdistill.load(out)) > 0


def test_sets_this_version_writes_are_covered_by_the_digest_rule(share_root, tmp_path):
    """Session 40: the rule was inert while mmdistill called itself 0.1.0; a set written now records a version the rule
    covers, so removing its digest is refused, not read as an old set."""
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    manifest = _manifest(out)
    assert manifest["versions"]["mmdistill"] == mmdistill.__version__
    del manifest[SET_DIGEST_KEY]
    _write_manifest(out, manifest)
    with pytest.raises(ArtifactError, match=f"written by mmdistill {mmdistill.__version__}, which always records it"):
        mmdistill.load(out)


def test_a_manifest_that_gives_a_key_twice_is_refused(share_root, tmp_path, capsys):
    """Walk 39A: a second "synthetic" object (classes reversed) was read as the set's, passing every check."""
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    text = (out / "manifest.json").read_text()
    second = json.dumps(_manifest(out)["synthetic"])
    (out / "manifest.json").write_text(text.rstrip().rstrip("}") + f', "synthetic": {second}}}')
    with pytest.raises(ArtifactError, match=r"manifest.json is not valid JSON \(key \"synthetic\" is given twice in one object\)"):
        mmdistill.load(out)
    assert main(["show", str(out)]) == 4 and "given twice" in capsys.readouterr().err


def test_show_lists_a_videos_animated_preview(share_root, tmp_path, capsys):
    """Walk 53G: ``show`` listed preview.png, loss.png ... but not a video set's preview.gif, the animation of its
    clips."""
    out = _copy(make_set("image", share_root / "image"), tmp_path / "run")
    (out / "preview.gif").write_bytes(b"GIF89a")
    assert main(["show", str(out)]) == 0
    assert f"picture: {out / 'preview.gif'}" in capsys.readouterr().out


def test_class_names_name_a_label_past_a_short_list_by_its_index():
    """(Mend 54M, review R3 finding 6.) The graph preview kept its own copy of ``class_names`` for the one case this one
    lacked: a hand-made set whose ``classes`` list is shorter than ``num_classes``. Both now call this one."""
    from mmdistill.integrity import class_names

    assert class_names({"classes": ["a", "b"]}, 3) == ["a", "b", "2"]
    assert class_names({}, 2) == ["0", "1"] and class_names({"classes": [0, "x"]}, 2) == ["0", "x"]
