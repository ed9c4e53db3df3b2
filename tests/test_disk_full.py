"""A full disk, a read-only one, a file-size limit: the system refusing a write (walk 45A, on a real tmpfs and an ext4
image gone read-only). Every refused write is an OSError naming the file asked for (safetensors raised its own
SafetensorError, a traceback; a buffered write refused at its flush named no file); a run on a full disk stops before
loading anything and leaves no folder or lock behind; Ctrl-C on a full disk still stops as a stop and says which
checkpoint is kept; a memorisation check keeps its numbers without its picture; a continued run whose set was never
written is finished by --resume. Most tests use the process's file-size limit (EFBIG): the system's own refusal,
standing in for a full disk's ENOSPC, with no monkeypatch."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import resource
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
import torch
from safetensors import SafetensorError

import mmdistill.io as io
import mmdistill.loop as loop
import mmdistill.run as run
from mmdistill.cli import main as cli_main
from mmdistill.errors import InterruptedRun
from mmdistill.exits import describe
from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE, MetricsLog, load_synthetic, new_tree, save_tensors, write_json
from mmdistill.loop import checkpoint_iteration, run_loop
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.memorisation import MemorisationViews, run_check, summary_lines
from mmdistill.nets import build_network, reinitialize
from mmdistill.run_lock import LOCK_FILE, RunFolderLock
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet

LIMIT = 4096
FULL = "Error while serializing: I/O error: No space left on device (os error 28)"  # safetensors 0.5+'s words
DIGITS = ["dataset=digits", "ipc=1", "batch_real=16", "evaluate=false", "progress=false", "device=cpu"]


@contextlib.contextmanager
def file_size_limit(limit: int = LIMIT) -> Iterator[None]:
    """Files of this process cannot grow past ``limit`` bytes: the system refuses with EFBIG, as a full disk does with
    ENOSPC (SIGXFSZ ignored, so the write fails instead of killing the process)."""
    before_signal = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, before_signal)


def _refused(exc: OSError, path: Path) -> None:
    assert exc.errno == errno.EFBIG and exc.filename == str(path), (exc, exc.filename)
    assert describe(exc).startswith(f"cannot access {path}: "), describe(exc)


def _full_disk(monkeypatch, name: str) -> None:
    """safetensors' writes of files called ``name`` fail as on a full disk (half a file written first)."""
    real = io.save_file

    def save(tensors, path, metadata=None):
        if os.path.basename(path) == name:
            with open(path, "wb") as fh:
                fh.write(b"\0" * 100)
            raise SafetensorError(FULL)
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(io, "save_file", save)


def _digits(out: Path, iterations: int, *extra: str) -> int:
    return cli_main(["run", "image-dm", *DIGITS, f"iterations={iterations}", f"out={out}", *extra])


# ------------------------------------------------------------------ tensor files (safetensors' own error)


def test_a_full_disk_is_an_os_error_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    _full_disk(monkeypatch, "t.safetensors")
    with pytest.raises(OSError) as caught:
        save_tensors(tmp_path / "t.safetensors", {"a": torch.zeros(3)})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "t.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_the_real_safetensors_error_of_a_refused_write_is_an_os_error(tmp_path):
    """No monkeypatch: the process's file-size limit makes the system refuse safetensors' own write (EFBIG)."""
    with file_size_limit(), pytest.raises(OSError) as caught:
        save_tensors(tmp_path / "big.safetensors", {"a": torch.zeros(10_000)})
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(tmp_path / "big.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_other_safetensors_errors_pass_as_they_are(tmp_path, monkeypatch):
    def broken(tensors, path, metadata=None):
        raise SafetensorError("Error while serializing: a tensor is not contiguous")

    monkeypatch.setattr(io, "save_file", broken)
    with pytest.raises(SafetensorError):
        save_tensors(tmp_path / "t.safetensors", {"a": torch.zeros(3)})


def test_a_full_disk_at_a_checkpoint_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torchvision")
    _full_disk(monkeypatch, CHECKPOINT_FILE)
    out = tmp_path / "run"
    code = _digits(out, 3)
    err = capsys.readouterr().err
    assert code == 6 and "Traceback" not in err, err
    assert f"{out / CHECKPOINT_FILE}: No space left on device (the disk is full)" in err


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path, monkeypatch, caplog):
    from mmdistill.modalities.sequences.pretrain_cache import write_pretrained

    _full_disk(monkeypatch, "learner.safetensors")
    with caplog.at_level(logging.WARNING):
        write_pretrained(tmp_path / "learner.safetensors", {"k": 1}, {"w": torch.zeros(2)}, {"epochs": 1})
    assert "cannot be written" in caplog.text and "No space left on device" in caplog.text
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ writes refused at their flush (no file named)
def test_an_atomic_write_refused_at_its_flush_names_the_file(tmp_path):
    target = tmp_path / "manifest.json"
    write_json(target, {"old": True})
    with file_size_limit(), pytest.raises(OSError) as caught:
        write_json(target, {"x": "y" * 3 * LIMIT})
    _refused(caught.value, target)
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"] and "old" in target.read_text()


def test_an_export_refused_at_a_flush_names_the_export(tmp_path):
    out = tmp_path / "export"
    with file_size_limit(), pytest.raises(OSError) as caught:
        with new_tree(out) as tmp:
            (tmp / "00000.png").write_bytes(b"\0" * 3 * LIMIT)
    _refused(caught.value, out)
    assert list(tmp_path.iterdir()) == []


def test_a_metrics_line_refused_names_the_log(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"it": 0, "pad": "x" * LIMIT})
    with file_size_limit(), pytest.raises(OSError) as caught:
        log.append({"it": 1, "loss": 0.5})
    _refused(caught.value, log.path)


# ------------------------------------------------------------------ a run on a disk already full
def test_a_lock_that_cannot_be_written_names_its_file_and_lets_go(tmp_path):
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with file_size_limit(0), pytest.raises(OSError) as caught:
        RunFolderLock(tmp_path, "mmdistill run image-dm").acquire()
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(tmp_path / LOCK_FILE)
    assert not (tmp_path / LOCK_FILE).exists()
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds
    RunFolderLock(tmp_path, "another").acquire()  # nothing is held


def test_a_run_on_a_full_disk_stops_naming_the_lock_and_leaves_no_folder(tmp_path, capsys):
    pytest.importorskip("torchvision")
    out = tmp_path / "new" / "run"
    with file_size_limit(0):
        code = _digits(out, 2)
    err = capsys.readouterr().err
    assert code == 6 and "Traceback" not in err and f"cannot access {out / LOCK_FILE}: " in err, err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ Ctrl-C / SIGTERM on a full disk
class _StopAt(DistributionMatching):
    """DM that is interrupted (Ctrl-C) in its iteration ``stop``, with the disk full from then on."""

    def __init__(self, stop: int, disk: dict, **kw) -> None:
        super().__init__(**kw)
        self.stop, self.disk, self.it = stop, disk, 0

    def step(self, syn, optimizer, gen):
        if self.it == self.stop:
            self.disk["full"] = True
            raise KeyboardInterrupt
        self.it += 1
        return super().step(syn, optimizer, gen)


def _setup(blobs, stop: int | None, disk: dict):
    syn = SyntheticSet.from_real(blobs, 2, generator(0, "init")).requires_grad_(True)
    kw = dict(net=build_network("convnet", (1, 8, 8), 3, width=16), reinit=reinitialize, real=blobs, batch_real=6)
    matcher = DistributionMatching(**kw) if stop is None else _StopAt(stop, disk, **kw)
    return syn, matcher, torch.optim.SGD(syn.parameters(), lr=0.1, momentum=0.5)


@pytest.fixture
def disk(monkeypatch) -> dict:
    """``disk["full"] = True`` makes every checkpoint write fail as on a full disk."""
    state = {"full": False}
    real = loop.save_tensors

    def save(path, tensors, metadata=None):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, tensors, metadata=metadata)

    monkeypatch.setattr(loop, "save_tensors", save)
    return state


def test_a_stop_on_a_full_disk_says_the_last_checkpoint_is_kept_and_resume_is_exact(tmp_path, blobs, disk):
    ref, m_ref, opt_ref = _setup(blobs, None, disk)
    run_loop(m_ref, ref, opt_ref, iterations=6, seed=3, out_dir=tmp_path / "ref", checkpoint_every=2, progress=False)
    syn, m, opt = _setup(blobs, 3, disk)
    with pytest.raises(InterruptedRun) as caught:
        run_loop(m, syn, opt, iterations=6, seed=3, out_dir=tmp_path / "run", checkpoint_every=2, progress=False)
    said = str(caught.value)
    assert "its checkpoint could not be written" in said and "No space left on device" in said, said
    assert "holds the first 2 iterations" in said and "--resume" in said, said
    assert checkpoint_iteration(tmp_path / "run" / CHECKPOINT_FILE) == 2
    disk["full"] = False
    syn2, m2, opt2 = _setup(blobs, None, disk)
    run_loop(m2, syn2, opt2, iterations=6, seed=3, out_dir=tmp_path / "run", checkpoint_every=2, progress=False, resume=True)
    assert torch.equal(syn2.x, ref.x)


def test_a_stop_on_a_full_disk_before_any_checkpoint_says_none_is_kept(tmp_path, blobs, disk):
    syn, m, opt = _setup(blobs, 2, disk)
    with pytest.raises(InterruptedRun) as caught:
        run_loop(m, syn, opt, iterations=6, seed=3, out_dir=tmp_path, checkpoint_every=100, progress=False)
    said = str(caught.value)
    assert "its checkpoint could not be written" in said and "no checkpoint was written yet" in said, said
    assert not (tmp_path / CHECKPOINT_FILE).exists()


# ------------------------------------------------------------------ the memorisation check's picture
class _Modality:
    name = "toy"

    def memorisation_views(self, config, syn, data, max_real, gen):
        real = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
        return MemorisationViews(syn_input=real[:4] + 0.5, real_input=real, real_bytes_per_sample=24)


def test_a_picture_the_disk_refuses_leaves_the_checks_numbers(tmp_path, caplog):
    with file_size_limit(0), caplog.at_level(logging.WARNING):
        block = run_check(_Modality(), SimpleNamespace(seed=0), None, None, out_png=tmp_path / "memorisation.png")
    assert "skipped" not in block, block
    assert block["real_pool"] == 40 and len(block["input"]["distances"]) == 4 and block["real_bytes_per_sample"] == 24
    assert "picture" not in block and summary_lines(block)
    assert "memorisation.png was not drawn" in caplog.text
    assert not (tmp_path / "memorisation.png").exists()


# ------------------------------------------------------------------ a continued run whose set was not written
def test_a_continued_run_whose_set_was_not_written_is_finished_by_resume(tmp_path, monkeypatch, capsys):
    """A finished run continued with more iterations whose final write failed (a full disk, a kill in its evaluation)
    holds the earlier set's manifest and a checkpoint of all iterations: --resume writes the checkpoint's set (it was
    refused as "a finished run: nothing to resume", and only --overwrite, from iteration 0, got out)."""
    pytest.importorskip("torchvision")
    assert _digits(tmp_path / "straight", 4) == 0
    out = tmp_path / "run"
    assert _digits(out, 2) == 0
    real = run.write_artifact

    def full_disk(folder, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "README.md"))

    monkeypatch.setattr(run, "write_artifact", full_disk)
    assert _digits(out, 4, "resume=true") == 6
    assert json.loads((out / MANIFEST_FILE).read_text())["timing"]["iterations"] == 2  # the earlier set is still there
    monkeypatch.setattr(run, "write_artifact", real)
    capsys.readouterr()
    code = _digits(out, 4, "resume=true")
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / MANIFEST_FILE).read_text())["timing"]["iterations"] == 4
    assert torch.equal(load_synthetic(out)[0].x, load_synthetic(tmp_path / "straight")[0].x)
    assert _digits(out, 4, "resume=true") == 0  # now it is finished: nothing to resume (a requeued job's success)
    assert "holds a finished run (4 of 4 iterations)" in capsys.readouterr().err


# ------------------------------------------------------------------ eval --write / check: refused before the work
@pytest.mark.parametrize("command", [["eval", "--write"], ["check"]])
def test_eval_write_and_check_without_room_for_their_files_stop_before_the_work(tmp_path, monkeypatch, capsys, command):
    """A disk with room for an empty file but not for the card, manifest and pictures it writes again: refused before
    minutes of evaluation or of the check, naming the folder and the room needed (an empty probe file was created on a
    full tmpfs, and the evaluation ran to the end before the card failed; walk 45A N2)."""
    import mmdistill.saved_cli as saved_cli

    pytest.importorskip("torchvision")
    out = tmp_path / "run"
    assert _digits(out, 1) == 0
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    worked = []
    monkeypatch.setattr(saved_cli, "_rescore", lambda *a, **k: worked.append("eval") or 0)
    monkeypatch.setattr(saved_cli, "_check", lambda *a, **k: worked.append("check") or 0)
    capsys.readouterr()
    with file_size_limit(64 * 1024):  # an empty file and a lock fit; the set's files again and 1 MiB to spare do not
        code = cli_main([*command[:1], str(out), *command[1:]])
    err = capsys.readouterr().err
    assert code == 2 and worked == [] and "Traceback" not in err, err
    assert f"{out} cannot be written (File too large: " in err and "KiB are needed" in err, err
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before
    assert cli_main([*command[:1], str(out), *command[1:]]) == 0 and worked == [command[0]]  # room again: it works
