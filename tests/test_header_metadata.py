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
