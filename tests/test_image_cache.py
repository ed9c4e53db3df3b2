"""The decoded-image cache of ImageFolder trees and Tiny ImageNet (modalities/image/pixel_cache.py, walk 55I): a hit gives
the same tensors as a decode, bit for bit; a changed, added or removed file, another setting or split misses; a damaged
entry is decoded again with a warning; ``mmdistill cache`` lists and clears the ``image`` kind."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill.cache_cli import command_lines, entries
from mmdistill.modalities.image.datasets import load_image_dataset

from test_tiny_imagenet import make_release, zipped


def _tree(root: Path, per_class: int = 4, size: tuple[int, int] = (12, 10)) -> Path:
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(root / c / f"{i}.jpg", quality=90)
    return root


def _same(a, b) -> None:
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.classes, a.mean, a.std) == (b.classes, b.mean, b.std)


def _image_entries() -> list[Path]:
    return [e.path for e in entries("image")]


def test_a_hit_gives_the_decoded_tensors_bit_for_bit_and_the_log_says_which(tmp_path, caplog):
    root = _tree(tmp_path / "pets")
    caplog.set_level(logging.INFO)
    first = load_image_dataset("imagefolder", root, image_size=8, resize="center_crop", cache_dir=tmp_path / "c")
    assert first.report.facts["cache"].startswith("wrote imagefolder-pets-")
    assert "imagefolder: decoded 8 images (cached in" in caplog.text
    caplog.clear()
    hit = load_image_dataset("imagefolder", root, image_size=8, resize="center_crop", cache_dir=tmp_path / "c")
    assert hit.report.facts["cache"] == "hit " + first.report.facts["cache"].split(" ", 1)[1]
    assert "imagefolder: read 8 images from the cache" in caplog.text and "decoded 8" not in caplog.text
    plain = load_image_dataset("imagefolder", root, image_size=8, resize="center_crop", use_cache=False)
    assert "cache" not in plain.report.facts
    _same(first, plain)
    _same(hit, plain)


def test_a_hit_keeps_the_load_report_of_the_decode(tmp_path):
    root = _tree(tmp_path / "pets", size=(6, 6))  # smaller than image_size: every image counted as upscaled
    (root / "cat" / "notes.txt").write_text("not an image")
    first = load_image_dataset("imagefolder", root, image_size=8, channels=1, cache_dir=tmp_path / "c")
    hit = load_image_dataset("imagefolder", root, image_size=8, channels=1, cache_dir=tmp_path / "c")
    a, b = first.report.as_dict(), hit.report.as_dict()
    a["facts"].pop("cache"), b["facts"].pop("cache")
    assert a == b and a["counts"]["upscaled"] == 8 and a["counts"]["channels_converted"] == 8 and a["counts"]["ignored"] == 1


@pytest.mark.parametrize("change", ["rewritten", "added", "removed", "setting", "split_seed"])
def test_a_changed_added_or_removed_file_another_setting_or_split_misses(tmp_path, change):
    root = _tree(tmp_path / "pets")
    args = dict(image_size=8, cache_dir=tmp_path / "c")
    load_image_dataset("imagefolder", root, **args)
    if change == "rewritten":  # same name, same size on disk is not what keys it: its stamp changes
        Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(root / "cat" / "0.jpg", quality=90)
    elif change == "added":
        Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(root / "dog" / "9.jpg")
    elif change == "removed":
        (root / "dog" / "3.jpg").unlink()
    elif change == "setting":
        args["image_size"] = 6
    again = load_image_dataset("imagefolder", root, **args, seed=1 if change == "split_seed" else 0)
    assert again.report.facts["cache"].startswith("wrote "), again.report.facts
    plain = load_image_dataset("imagefolder", root, **{**args, "use_cache": False}, seed=1 if change == "split_seed" else 0)
    _same(again, plain)


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_a_damaged_entry_is_decoded_again_with_a_warning_and_replaced(tmp_path, caplog, damage):
    root = _tree(tmp_path / "pets")
    first = load_image_dataset("imagefolder", root, image_size=8, cache_dir=tmp_path / "c")
    (entry,) = (tmp_path / "c").glob("*.safetensors")
    raw = bytearray(entry.read_bytes())
    if damage == "flipped":
        raw[-5] ^= 0xFF  # a pixel byte: safetensors itself reads it happily
        entry.write_bytes(bytes(raw))
    else:
        entry.write_bytes(bytes(raw[: len(raw) // 2]))
    again = load_image_dataset("imagefolder", root, image_size=8, cache_dir=tmp_path / "c")
    assert "decoded-image cache entry" in caplog.text and "is not usable" in caplog.text
    assert again.report.facts["cache"].startswith("wrote ")
    _same(first, again)
    assert load_image_dataset("imagefolder", root, image_size=8, cache_dir=tmp_path / "c").report.facts["cache"].startswith("hit ")


def test_no_room_on_disk_is_a_warning_naming_the_size_and_the_images_are_used(tmp_path, caplog, monkeypatch):
    import shutil

    root = _tree(tmp_path / "pets")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    ds = load_image_dataset("imagefolder", root, image_size=8, cache_dir=tmp_path / "c")
    assert ds.report.facts["cache"].startswith("not written ")
    assert "decoded-image cache not written" in caplog.text and "cache=false (--no-cache)" in caplog.text
    assert not list((tmp_path / "c").glob("*.safetensors"))


def test_the_default_folder_is_listed_and_cleared_by_mmdistill_cache(tmp_path):
    root = _tree(tmp_path / "pets")
    before = set(_image_entries())
    load_image_dataset("imagefolder", root, image_size=8)
    assert len(set(_image_entries()) - before) == 1
    lines = command_lines(argparse.Namespace(action="list", kinds=[], all=False, older_than=None))
    assert any(line.split()[:1] == ["image"] and "decoded images of ImageFolder trees" in line for line in lines)
    command_lines(argparse.Namespace(action="clear", kinds=["image"], all=False, older_than=None))
    assert _image_entries() == []


def test_recipe_key_cache_false_writes_nothing(tmp_path):
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import get_recipe

    root = _tree(tmp_path / "pets")
    cfg = get_recipe("image-dm").config(dataset="imagefolder", data_root=str(root), image_size=8, cache=False,
                                  cache_dir=str(tmp_path / "c"))
    data = MODALITY.load(cfg)
    assert "cache" not in data.meta["load_report"]["facts"]
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("where", ["folder", "zip"])
def test_tiny_imagenet_is_cached_and_a_changed_archive_misses(tmp_path, where):
    base = make_release(tmp_path / "rel")
    root = zipped(base, tmp_path / "zip") if where == "zip" else base
    first = load_image_dataset("tinyimagenet", root, image_size=8, cache_dir=tmp_path / "c")
    hit = load_image_dataset("tinyimagenet", root, image_size=8, cache_dir=tmp_path / "c")
    assert first.report.facts["cache"].startswith("wrote tinyimagenet-") and hit.report.facts["cache"].startswith("hit ")
    _same(hit, load_image_dataset("tinyimagenet", root, image_size=8, use_cache=False))
    assert hit.class_ids == first.class_ids
    touched = root if where == "zip" else next(base.glob("train/*/images/*.JPEG"))
    os.utime(touched, ns=(1, 1))
    assert load_image_dataset("tinyimagenet", root, image_size=8, cache_dir=tmp_path / "c").report.facts["cache"].startswith("wrote ")


def test_a_hit_is_refused_where_memory_is_short_as_a_decode_would_be(tmp_path, monkeypatch):
    """At native size the decode checks memory at its first image; a hit skipped that and read the entry whole."""
    import mmdistill.memory
    from mmdistill.errors import DataError

    root = _tree(tmp_path / "pets")
    load_image_dataset("imagefolder", root, cache_dir=tmp_path / "c")
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: 1)
    with pytest.raises(DataError, match="cached images of .*memory|memory.*cached images of"):
        load_image_dataset("imagefolder", root, cache_dir=tmp_path / "c")


def test_a_hit_opens_its_entry_once_the_memory_check_on_the_header_of_that_open(tmp_path, monkeypatch):
    """Review 56 R5.2: the room check opened the entry with safe_open for its header, then the read opened it again; the
    check now runs in mmdistill.io.load_tensors' one open (its DataError let through: it was rewrapped as unreadable)."""
    import safetensors

    import mmdistill.aligned_tensors

    root = _tree(tmp_path / "pets")
    load_image_dataset("imagefolder", root, cache_dir=tmp_path / "c")
    opened: list[str] = []
    real = safetensors.safe_open

    def counted(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", counted)
    monkeypatch.setattr(mmdistill.aligned_tensors, "safe_open", counted)
    assert load_image_dataset("imagefolder", root, cache_dir=tmp_path / "c").report.facts["cache"].startswith("hit ")
    assert len(opened) == 1, opened


def test_a_folder_spelled_relative_absolute_or_dot_is_one_entry(tmp_path, monkeypatch):
    """Walk 55Q: the key took each file's path as spelled, so ``pets``, ``/abs/pets`` and ``.`` (run inside it) were three
    entries of the same images, each decoded again; the entry of ``.`` was named ``imagefolder-<key>`` (no folder name)."""
    root = _tree(tmp_path / "pets")
    (root / "cat" / "notes.txt").write_text("not an image")  # an entry not read: in the key too
    cache = tmp_path / "c"
    monkeypatch.chdir(tmp_path)
    first = load_image_dataset("imagefolder", "pets", image_size=8, cache_dir=cache).report.facts["cache"]
    assert first.startswith("wrote imagefolder-pets-")
    name = first.split(" ", 1)[1]
    assert load_image_dataset("imagefolder", root, image_size=8, cache_dir=cache).report.facts["cache"] == f"hit {name}"
    monkeypatch.chdir(root)
    assert load_image_dataset("imagefolder", ".", image_size=8, cache_dir=cache).report.facts["cache"] == f"hit {name}"
    assert [p.name for p in cache.iterdir()] == [name]


def test_a_changed_folder_replaces_its_own_entry_and_keeps_other_slots(tmp_path, caplog):
    """Walk 55Q: each change of a folder's files (an edit, ``touch``, ``chmod``, a re-copy) wrote a new full entry and the
    old ones stayed until ``mmdistill cache clear image`` (Tiny ImageNet: ~1.3 GiB each). An entry now replaces the
    entries of its slot (same files by path, labels, split, classes, settings; other stamps), as video's; another
    folder, setting, split or file set keeps its entry."""
    root, other = _tree(tmp_path / "pets"), _tree(tmp_path / "more" / "pets")  # same name, another folder
    cache = tmp_path / "c"

    def load(folder: Path = root, image_size: int = 8, seed: int = 0) -> str:
        return load_image_dataset("imagefolder", folder, image_size=image_size, seed=seed, cache_dir=cache).report.facts["cache"]

    first = load()
    kept = [load(other), load(image_size=6), load(seed=1)]
    assert all(k.startswith("wrote ") for k in [first, *kept]) and len(list(cache.iterdir())) == 4
    os.utime(root / "cat" / "0.jpg")  # its stamp changes, its pixels do not
    caplog.set_level(logging.INFO)
    second = load()
    assert second.startswith("wrote ") and second != first
    assert "removed 1 decoded-image cache(s) of the same folder and settings that its files' changes superseded " \
           f"({first.split(' ', 1)[1]})" in caplog.text
    os.chmod(root / "dog" / "1.jpg", 0o600)  # a status change alone supersedes it too
    third = load()
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted([third.split(" ", 1)[1], *(k.split(" ", 1)[1] for k in kept)])
    assert load() == "hit " + third.split(" ", 1)[1]
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(root / "cat" / "9.jpg")  # another file set: the same slot
    fourth = load()
    assert fourth.startswith("wrote ") and sorted(p.name for p in cache.iterdir()) == sorted(
        [fourth.split(" ", 1)[1], *(k.split(" ", 1)[1] for k in kept)])


def test_a_replaced_tiny_imagenet_archive_replaces_its_entry(tmp_path):
    base = make_release(tmp_path / "rel")
    archive = zipped(base, tmp_path / "tiny-imagenet-200.zip")
    cache = tmp_path / "c"
    first = load_image_dataset("tinyimagenet", archive, image_size=8, cache_dir=cache).report.facts["cache"]
    zipped(base, tmp_path / "copy.zip").replace(archive)  # downloaded again: the same members, another file
    second = load_image_dataset("tinyimagenet", archive, image_size=8, cache_dir=cache).report.facts["cache"]
    assert first.startswith("wrote ") and second.startswith("wrote ") and second != first
    assert [p.name for p in cache.iterdir()] == [second.split(" ", 1)[1]]


def test_a_folder_reached_through_a_symlink_is_its_real_folder_s_entry(tmp_path):
    """Mend 56D (item 2): the key took each file's absolute path, links not followed, so ``data/pets`` and a link
    ``link -> data/pets`` were two entries of the same images, each decoded and written whole. The key and the entry's
    name now take the folder's real path (the decoded-clip cache resolves its paths too)."""
    root = _tree(tmp_path / "data" / "pets")
    (link := tmp_path / "link").symlink_to(root, target_is_directory=True)
    cache = tmp_path / "c"
    first = load_image_dataset("imagefolder", root, image_size=8, cache_dir=cache).report.facts["cache"]
    name = first.split(" ", 1)[1]
    assert load_image_dataset("imagefolder", link, image_size=8, cache_dir=cache).report.facts["cache"] == f"hit {name}"
    assert [p.name for p in cache.iterdir()] == [name]


def test_a_folder_that_only_grows_keeps_one_entry(tmp_path, caplog):
    """Mend 56D (item 3): only a changed file superseded an entry; each image added to a folder (a set that grows each
    day) left the older entry beside the new one, a full copy per state, until ``mmdistill cache clear image``. The slot
    is now the folder's real path and the settings (its split's included): the same folder read the same way keeps one
    entry, its newest; another drawn split keeps its own."""
    root = _tree(tmp_path / "pets")
    cache = tmp_path / "c"

    def load(seed: int = 0) -> str:
        return load_image_dataset("imagefolder", root, image_size=8, seed=seed, cache_dir=cache).report.facts["cache"]

    other_split = load(seed=1)
    caplog.set_level(logging.INFO)
    for i in range(3):
        Image.fromarray(np.full((12, 10, 3), 40 * i, np.uint8)).save(root / "dog" / f"new{i}.jpg")
        newest = load()
        assert newest.startswith("wrote ")
    (root / "cat" / "0.jpg").unlink()  # a removed file: the same folder's newer state too
    newest = load()
    assert "removed 1 decoded-image cache(s)" in caplog.text
    assert sorted(p.name for p in cache.iterdir()) == sorted(n.split(" ", 1)[1] for n in (other_split, newest))
    assert load() == "hit " + newest.split(" ", 1)[1]
