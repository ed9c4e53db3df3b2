from __future__ import annotations

import json

import pytest
import torch

from mmdistill.errors import ArtifactError
from mmdistill.io import atomic_path, load_synthetic, save_synthetic
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet


def test_roundtrip_without_pickle(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 2, generator(0), meta={"mean": [0.0], "std": [1.0]})
    save_synthetic(tmp_path, syn, {"recipe": "x"})
    back, manifest = load_synthetic(tmp_path)
    assert torch.equal(back.x, syn.x) and torch.equal(back.labels, syn.labels)
    assert manifest["recipe"] == "x" and manifest["synthetic"]["tensors"]["data.x"] == [6, 1, 8, 8]
    assert back.meta["classes"] == ["a", "b", "c"]
    raw = (tmp_path / "synthetic.safetensors").read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle stream


def test_truncated_or_missing_files_are_named(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    save_synthetic(tmp_path, syn, {})
    path = tmp_path / "synthetic.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="synthetic.safetensors"):
        load_synthetic(tmp_path)
    path.unlink()
    with pytest.raises(ArtifactError, match="synthetic.safetensors does not exist"):
        load_synthetic(tmp_path)
    with pytest.raises(ArtifactError, match="not a directory"):
        load_synthetic(tmp_path / "nope")


def test_shape_mismatch_with_manifest_is_refused(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    save_synthetic(tmp_path, syn, {})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["synthetic"]["tensors"]["data.x"] = [9, 1, 8, 8]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="shape"):
        load_synthetic(tmp_path)


def test_interrupted_write_leaves_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_ipc_larger_than_a_class_names_the_class(blobs):
    from mmdistill.errors import DataError

    with pytest.raises(DataError, match="class 'a'.*12 training samples.*ipc=13"):
        SyntheticSet.from_real(blobs, 13, generator(0))
