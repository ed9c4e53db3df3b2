"""Superseded cache entries (mmdistill/cache_slots.py): writing an entry removes the entries beside it of the same name
and slot, and nothing else; the decoded-clip and decoded-image caches both use it (walk 55Q)."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mmdistill.cache_slots import entry_slot, remove_superseded

log = logging.getLogger("test_cache_slots")


def _entry(path: Path, slot: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": torch.zeros(2)}, str(path), metadata={"slot": slot} if slot is not None else {"key": "k"})
    return path


def test_only_the_other_entries_of_the_same_name_and_slot_are_removed(tmp_path, caplog):
    new = _entry(tmp_path / "set-pets-aaa.safetensors", "S")
    old = [_entry(tmp_path / f"set-pets-{k}.safetensors", "S") for k in ("bbb", "ccc")]
    kept = [_entry(tmp_path / "set-pets-ddd.safetensors", "other slot"),
            _entry(tmp_path / "set-pets-eee.safetensors", None),  # records no slot (an older entry)
            _entry(tmp_path / "set-cats-fff.safetensors", "S"),  # another name: another folder's
            _entry(tmp_path / "elsewhere" / "set-pets-ggg.safetensors", "S")]  # another cache folder
    damaged = tmp_path / "set-pets-hhh.safetensors"
    damaged.write_bytes(b"\x00" * 20)
    target = _entry(tmp_path / "t" / "set-pets-iii.safetensors", "S")
    (tmp_path / "set-pets-link.safetensors").symlink_to(target)  # a link is never ours to remove
    with caplog.at_level(logging.INFO, logger="test_cache_slots"):
        removed = remove_superseded(new, "S", "decoded-image cache", log)
    assert removed == ["set-pets-bbb.safetensors", "set-pets-ccc.safetensors"]
    assert not any(p.exists() for p in old) and new.exists() and damaged.exists() and target.exists()
    assert all(p.exists() for p in kept) and (tmp_path / "set-pets-link.safetensors").is_symlink()
    assert caplog.messages == ["removed 2 decoded-image cache(s) of the same folder and settings that its files' changes "
                               "superseded (set-pets-bbb.safetensors, set-pets-ccc.safetensors)"]


def test_the_slot_is_read_from_the_header_and_none_for_a_foreign_file(tmp_path):
    assert entry_slot(_entry(tmp_path / "a-1.safetensors", "S")) == "S"
    assert entry_slot(_entry(tmp_path / "a-2.safetensors", None)) is None
    (tmp_path / "a-3.safetensors").write_text("not safetensors")
    assert entry_slot(tmp_path / "a-3.safetensors") is None and entry_slot(tmp_path / "gone.safetensors") is None
    assert remove_superseded(tmp_path / "a-1.safetensors", "S", "decoded-clip cache", log) == []


@pytest.mark.parametrize("raw", [b"\x00" * 20, b"ab", struct.pack("<Q", 10**12) + b"{}", struct.pack("<Q", 5) + b"{abc}",
                                 struct.pack("<Q", 4) + b"\xff\xfe\xfd\xfc", struct.pack("<Q", 2) + b"[]"])
def test_a_damaged_header_has_no_slot_as_the_header_reader_says(tmp_path, raw):
    """entry_slot reads the header through read_header_metadata (R4.1): a damaged file is None there, and no slot here."""
    from mmdistill.header_metadata import read_header_metadata

    (tmp_path / "a-1.safetensors").write_bytes(raw)
    assert read_header_metadata(tmp_path / "a-1.safetensors") is None and entry_slot(tmp_path / "a-1.safetensors") is None
    assert entry_slot(tmp_path) is None  # a folder


def test_one_stat_stamp_for_both_caches(tmp_path):
    """The decoded-image and decoded-clip caches stamp a file alike (R5.4): size, mtime, inode and ctime (ns), from a path
    or a scandir entry's stat; the keys of entries already on disk stay as they were written."""
    import os

    from mmdistill.cache_slots import stat_stamp
    from mmdistill.modalities.image import pixel_cache
    from mmdistill.modalities.video.clip_cache import _clip_stamp

    clip = tmp_path / "a.avi"
    clip.write_bytes(b"123")
    st = os.stat(clip)
    assert stat_stamp(clip) == stat_stamp(st) == f"{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}" == _clip_stamp(clip)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.jpg").write_bytes(b"x")
    assert _clip_stamp(frames) == f"1.jpg|{stat_stamp(frames / '1.jpg')}"
    assert pixel_cache.cached_decode.__kwdefaults__["stamp"] is stat_stamp
