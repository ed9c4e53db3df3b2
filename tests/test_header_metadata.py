"""read_header_metadata: a safetensors header read alone; anything unreadable is None, never an exception."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors.torch import save_file

from mmdistill.header_metadata import read_header_metadata


def test_metadata_of_a_written_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    save_file({"x": torch.zeros(3)}, str(path), metadata={"iteration": "7", "resume_keys": "{}"})
    assert read_header_metadata(path) == {"iteration": "7", "resume_keys": "{}"}
    save_file({"x": torch.zeros(3)}, str(path))
    assert read_header_metadata(path) == {}


def test_unreadable_files_are_none(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_file({"x": torch.zeros(1000)}, str(good), metadata={"iteration": "7"})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:20])
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({"iteration": "7"}))
    assert read_header_metadata(tmp_path / "missing.safetensors") is None
    assert read_header_metadata(tmp_path) is None  # a folder
    assert read_header_metadata(truncated) is None
    assert read_header_metadata(pickled) is None


def test_a_header_check_runs_in_the_one_open_that_reads_the_tensors_and_metadata(tmp_path: Path, monkeypatch) -> None:
    """The shape and size guards ran as pre-checks at two call sites, each opening the file again, and
    load_tensors_with_metadata opened it twice more (three opens a checkpoint; review R3.5); a cache or expert file got
    no guard. load_tensors takes the check and runs it on the header of its one open, before any tensor is read."""
    import pytest

    import mmdistill.io as io
    from mmdistill.errors import ArtifactError
    from mmdistill.header_metadata import listed_shapes, values_at_most

    path = tmp_path / "cache.safetensors"
    save_file({"x": torch.zeros(2, 3), "y": torch.zeros(4)}, str(path), metadata={"format": "f"})
    opened: list[str] = []
    import mmdistill.aligned_tensors as aligned  # where load_tensors' one safe_open happens (read_aligned)

    real = aligned.safe_open
    monkeypatch.setattr(aligned, "safe_open", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    tensors, meta = io.load_tensors_with_metadata(path, values_at_most(6, "the cache's set"))
    assert tensors["x"].shape == (2, 3) and meta == {"format": "f"} and opened == [str(path)]
    with pytest.raises(ArtifactError, match=r"tensor 'x' in .*cache.safetensors declares shape \[2, 3\] \(6 values\), more than the 5 of "
                                            r"the largest tensor of the cache's set"):
        io.load_tensors(path, values_at_most(5, "the cache's set"))
    with pytest.raises(ArtifactError, match=r"tensor 'y' in .*cache.safetensors has shape \[4\], m.json says \[3\] \(not loaded\)"):
        io.load_tensors(path, listed_shapes({"x": [2, 3], "y": [3]}, "m.json"))
    with pytest.raises(ArtifactError, match=r"holds tensors the manifest does not list \(y\); the file does not belong to m.json"):
        io.load_tensors(path, listed_shapes({"x": [2, 3]}, "m.json"))
