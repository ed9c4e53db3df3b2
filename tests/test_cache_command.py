"""``mmdistill cache``: listing and clearing the caches under $MMDISTILL_CACHE, touching only mmdistill's own entries."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mmdistill.cache_cli import clear, entries
from mmdistill.cli import main

DAY = 86400.0


def _file(path: Path, size: int = 10, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_list_counts_only_mmdistill_entries(root, tmp_path, capsys):
    _file(root / "video" / "set-a.safetensors", 1000)
    _file(root / "video" / "set-b.safetensors", 500)
    _file(root / "video" / "notes.txt", 99)  # not ours
    outside = _file(tmp_path / "elsewhere.safetensors", 7)
    (root / "video" / "linked.safetensors").symlink_to(outside)  # a link is not an entry we wrote
    _file(root / "text" / "minilm-1.safetensors", 30)
    _file(root / "text" / ".minilm-2.safetensors.abc.tmp", 5, age_s=2 * 3600)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(root) in out
    video = next(line for line in out.splitlines() if line.strip().startswith("video"))
    assert " 2 entries" in video and "1.5 KiB" in video  # 1,500 bytes
    text = next(line for line in out.splitlines() if line.strip().startswith("text"))
    assert " 2 entries" in text and "1 interrupted write)" in text
    assert "total 4 entries" in out


def test_clear_removes_only_the_named_kind_and_our_names(root, tmp_path, capsys):
    a = _file(root / "video" / "set-a.safetensors", 1000)
    notes = _file(root / "video" / "notes.txt")
    outside = _file(tmp_path / "elsewhere.safetensors")
    link = root / "video" / "linked.safetensors"
    link.symlink_to(outside)
    text = _file(root / "text" / "minilm-1.safetensors")
    assert main(["cache", "clear", "video"]) == 0
    assert "removed 1 entry (1000 B)" in capsys.readouterr().out  # not "1 entries" (walk 53I)
    assert not a.exists() and notes.exists() and link.is_symlink() and outside.exists() and text.exists()


def test_clear_older_than_and_running_writes(root):
    old = _file(root / "sequences" / "sasrec-old.safetensors", age_s=10 * DAY)
    new = _file(root / "sequences" / "sasrec-new.safetensors", age_s=1 * DAY)
    stale_tmp = _file(root / "sequences" / ".sasrec-x.safetensors.1.tmp", age_s=2 * 3600)
    running_tmp = _file(root / "sequences" / ".sasrec-y.safetensors.2.tmp", age_s=60)
    assert clear(["sequences"], older_than_days=5) == (1, 10)
    assert not old.exists() and new.exists() and stale_tmp.exists() and running_tmp.exists()
    assert clear(["sequences"]) == (2, 20)  # the rest but a write that may be running
    assert not stale_tmp.exists() and not new.exists()
    assert [e.path for e in entries("sequences")] == [running_tmp]


def test_graph_clears_hash_folders_and_downloads_never_following_links(root, tmp_path):
    user_file = _file(tmp_path / "user" / "Cora" / "raw" / "ind.cora.x", 100)
    work = root / "graph" / ("ab" * 16)
    (work / "raw").mkdir(parents=True)
    (work / "raw" / "ind.cora.x").symlink_to(user_file)  # pyg_workdir mirrors the user's files by links
    _file(work / "processed" / "data.pt", 50)
    _file(root / "graph" / "download" / "Cora" / "raw" / "ind.cora.y", 20)
    keep = _file(root / "graph" / "mine" / "keep.txt")
    found = {e.path.name: e.size for e in entries("graph")}
    assert set(found) == {"ab" * 16, "download"} and found["download"] == 20
    assert clear(["graph"])[0] == 2
    assert user_file.read_bytes() == b"x" * 100 and keep.exists() and not work.exists()


@pytest.mark.parametrize("argv, words", [
    (["cache", "clear"], "name the caches to clear"),
    (["cache", "clear", "video", "--all"], "not both"),
    (["cache", "clear", "clips"], "no cache named clips"),
    (["cache", "clear", "--all", "--older-than", "-1"], "--older-than is a number of days"),
    (["cache", "list", "video"], "go with clear"),
])
def test_bad_cache_commands_are_one_line(root, capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_list_without_a_cache_folder(root, capsys):
    assert main(["cache"]) == 0
    assert "total 0 entries, 0 B" in capsys.readouterr().out
    assert not root.exists()  # listing creates nothing


def _temporary_folder(path: Path, age_s: float) -> Path:
    """A private temporary folder of an interrupted cache write (atomic_path), safetensors' own file in it."""
    path.mkdir(parents=True)
    _file(path / ".tmpD5BewT", 4000, age_s)
    _file(path / "clips.safetensors", 0, age_s)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_temporary_folders_and_safetensors_files_are_listed_and_cleared_after_an_hour(root, tmp_path, capsys):
    """A kill during a cache write left safetensors' full-size `.tmpXXXXXX`, which `mmdistill cache` neither counted nor
    cleared; writes now go through a temporary folder. Both are interrupted writes, cleared once an hour old, never one
    whose write still holds its lock, nor a link named like one."""
    from mmdistill.io import atomic_path

    stale = _temporary_folder(root / "video" / ".clips-a.safetensors.abcd1234.tmp", 2 * 3600)
    young = _temporary_folder(root / "video" / ".clips-b.safetensors.efgh5678.tmp", 60)
    loose = _file(root / "video" / ".tmpAbC123", 3000, 2 * 3600)  # an earlier mmdistill's kill inside safetensors
    (tmp_path / "mine").mkdir()
    (root / "video" / ".linked.safetensors.abcdefgh.tmp").symlink_to(tmp_path / "mine")
    assert main(["cache"]) == 0
    video = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("video"))
    assert " 3 entries" in video and "3 interrupted writes" in video and "10.7 KiB" in video  # 4,000 + 4,000 + 3,000 bytes
    with atomic_path(root / "video" / "clips-c.safetensors") as running:  # a cache write running for over an hour
        running.write_bytes(b"x" * 500)
        for p in (running, running.parent):
            os.utime(p, (time.time() - 2 * 3600,) * 2)
        assert clear(["video"]) == (2, 7000)
        assert running.exists()
    assert not stale.exists() and not loose.exists() and young.is_dir() and (tmp_path / "mine").is_dir()


def test_a_killed_clip_cache_write_leaves_nothing_beside_the_cache(tmp_path, monkeypatch):
    """The clip cache called save_file with its own temporary name: safetensors' `.tmpXXXXXX` went beside the cache.
    It now writes through atomic_path: a failure (a kill is swept as above) leaves nothing in the cache folder."""
    import safetensors.torch
    import torch

    from mmdistill.modalities.video.datasets import _write_cache

    def half_then_fail(tensors, path, metadata=None):
        (Path(path).parent / ".tmpD5BewT").write_bytes(b"x" * 100)
        raise OSError(28, "No space left on device")

    cache = tmp_path / "c" / "clips.safetensors"
    assert _write_cache(cache, {"x": torch.zeros(2)}, {"k": "v"}) and cache.is_file()
    assert sorted(p.name for p in cache.parent.iterdir()) == ["clips.safetensors"]
    monkeypatch.setattr(safetensors.torch, "save_file", half_then_fail)
    assert not _write_cache(cache, {"x": torch.ones(2)}, {"k": "v"})
    assert sorted(p.name for p in cache.parent.iterdir()) == ["clips.safetensors"]


def test_video_static_folders_are_listed_and_cleared_but_never_a_running_one(root, capsys):
    from mmdistill.run_lock import RunFolderLock

    done = _file(root / "video" / "static" / ("a" * 24) / "checkpoint.safetensors", 300).parent
    running = _file(root / "video" / "static" / ("b" * 24) / "checkpoint.safetensors", 200).parent
    _file(root / "video" / "static" / "notes" / "x.txt", 5)  # not a name stage 1 writes
    _file(root / "video" / "clips.safetensors", 50)
    assert [e.path for e in entries("video-static")] == [done, running]
    assert [e.path.name for e in entries("video")] == ["clips.safetensors"]  # the static/ folder is no clip entry
    assert main(["cache"]) == 0
    assert "video-static     2 entries" in capsys.readouterr().out
    lock = RunFolderLock(running, "stage 1 of mmdistill video-static-dynamic")
    lock.acquire()
    try:
        assert clear(["video-static"]) == (1, 300)
    finally:
        lock.release()
    assert not done.exists() and running.is_dir() and (root / "video" / "static" / "notes").is_dir()
    assert (root / "video" / "clips.safetensors").exists()
    assert clear(["video-static"]) == (1, 200) and not running.exists()


def test_a_running_stage1_left_by_clear_says_what_to_do_not_to_choose_another_folder(root, caplog):
    """walk 43A: the line of a stage-1 folder left by `cache clear` (and the in-memory note of a second stage 1) ended
    in the run folder's "wait for it to finish (or stop it), or choose another folder": neither command waits, and
    there is no other folder to choose."""
    import logging

    from mmdistill.run_lock import RunFolderLock

    running = _file(root / "video" / "static" / ("b" * 24) / "checkpoint.safetensors", 200).parent
    lock = RunFolderLock(running, "stage 1 of mmdistill video-static-dynamic")
    lock.acquire()
    try:
        with caplog.at_level(logging.INFO, logger="mmdistill.cache_cli"):
            assert clear(["video-static"]) == (0, 0)
    finally:
        lock.release()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "(stage 1 of mmdistill video-static-dynamic); clear it again once that run is done" in said, said
    assert "choose another folder" not in said


def test_clear_moves_a_stage1_folder_aside_before_removing_it(root, monkeypatch):
    """walk 43A: clear removed the folder in place, so a stage 1 starting meanwhile put its new lock file into it:
    "cannot remove ... Directory not empty" (the clear stopped there), and the folder went under its new holder.
    Now the folder is renamed first; a run starting meanwhile makes a fresh one of that name, which stays."""
    import shutil

    import mmdistill.cache_cli as cache_cli
    from mmdistill.run_lock import LOCK_FILE, RunFolderLock

    folder = _file(root / "video" / "static" / ("a" * 24) / "checkpoint.safetensors", 300).parent
    started = []
    real_rmtree = shutil.rmtree

    def a_run_starts_meanwhile(path, *a, **kw):
        folder.mkdir(exist_ok=True)  # run_static_stage: mkdir, then its lock
        lock = RunFolderLock(folder, "stage 1 of mmdistill video-static-dynamic")
        lock.acquire()
        started.append(lock)
        return real_rmtree(path, *a, **kw)

    monkeypatch.setattr(cache_cli.shutil, "rmtree", a_run_starts_meanwhile)
    try:
        assert clear(["video-static"]) == (1, 300)
        assert (folder / LOCK_FILE).exists() and not (folder / "checkpoint.safetensors").exists()  # the new run's
        assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing left aside
    finally:
        for lock in started:
            lock.release()


def test_a_stage1_folder_a_killed_clear_left_aside_is_an_interrupted_write(root):
    aside = _file(root / "video" / "static" / f".{'c' * 24}.4242.removing" / "checkpoint.safetensors", 100, age_s=2 * 3600).parent
    os.utime(aside, (time.time() - 2 * 3600,) * 2)
    (found,) = entries("video-static")
    assert found.path == aside and found.temporary
    assert clear(["video-static"]) == (1, 100) and not aside.exists()


def test_a_kind_folder_reached_through_a_link_is_not_cleared(root, tmp_path, capsys):
    """Walk 49A: with <cache>/video a link to another folder, `cache clear video-static` listed and removed the stage-1
    folders under that folder's static/ (only video/static itself was checked for a link). A kind folder reached through
    a link is left out, as a linked kind folder already was."""
    theirs = _file(tmp_path / "elsewhere" / "static" / ("c" * 24) / "checkpoint.safetensors", 300).parent
    root.mkdir(parents=True)
    (root / "video").symlink_to(tmp_path / "elsewhere")
    assert entries("video-static") == [] and entries("video") == []
    assert main(["cache", "clear", "--all"]) == 0
    assert "removed 0 entries" in capsys.readouterr().out and theirs.is_dir()


def test_image_entries_are_listed_with_their_size_and_cleared_alone(root, tmp_path, capsys):
    """Walk 55Q: the ``image`` kind (decoded ImageFolder / Tiny ImageNet pixels, walk 55I) on ``mmdistill cache``: its
    real entry counted with its size; ``clear image`` removes it and nothing of another kind or name."""
    import numpy as np
    from PIL import Image

    from mmdistill.card import size_text
    from mmdistill.modalities.image.datasets import load_image_dataset

    for c in ("cat", "dog"):
        (tmp_path / "pets" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((6, 6, 3), 40 * i + 100 * (c == "dog"), np.uint8)).save(tmp_path / "pets" / c / f"{i}.png")
    load_image_dataset("imagefolder", tmp_path / "pets", image_size=4, test_fraction=0.5)
    (entry,) = (root / "image").glob("*.safetensors")
    others = [_file(root / "video" / "set-a.safetensors", 1000), _file(root / "zca" / "cifar10-k.safetensors", 20),
              _file(root / "image" / "notes.txt", 5), _file(root / "text" / "minilm-1.safetensors", 30)]
    assert main(["cache"]) == 0
    image = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["image"])
    size = size_text(entry.stat().st_size)
    assert image.split()[1:5] == ["1", "entry", *size.split()]
    assert main(["cache", "clear", "image"]) == 0
    assert f"removed 1 entry ({size}) from {root}" in capsys.readouterr().out
    assert not entry.exists() and all(p.exists() for p in others)
