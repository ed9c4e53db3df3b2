"""A run as a batch job (walk 49D): the signals a scheduler sends before its time limit, and one job script started
again and again (requeue) with the same command line.

Slurm's ``--signal=USR1@120`` (or ``USR2``), LSF's ``bkill -s`` and PBS's ``qsig`` warn a job with SIGUSR1/SIGUSR2, and a
closed terminal or ``ssh`` session sends SIGHUP; the default action of each ends the process at once with nothing
written, so every iteration since the last periodic checkpoint was lost. They stop a run as SIGTERM does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE

pytest.importorskip("torchvision")

RUN = dict(dataset="digits", ipc=1, iterations=20, batch_real=16, checkpoint_every=100, evaluate=False, progress=False,
           device="cpu")


def _child(out: Path, *extra: str, patch: str = "") -> subprocess.Popen:
    """``mmdistill run image-dm`` in a child process (one thread), with an optional monkeypatch run first."""
    code = (f"import sys, torch; torch.set_num_threads(1)\n{patch}\n"
            "from mmdistill.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "run", "image-dm", *(f"{k}={v}" for k, v in RUN.items()),
                             f"out={out}", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP], ids=lambda s: s.name)
def test_a_schedulers_warning_signal_checkpoints_the_run_and_says_how_to_resume(tmp_path, sig):
    """The signal, sent by the run to itself at iteration 7 (before its first periodic checkpoint, at 100: the default
    action lost all 7 and left no checkpoint), stops it with a checkpoint of 7 iterations, one line and 128 + the
    signal."""
    out = tmp_path / "run"
    proc = _child(out, patch=_stop_at_iteration(7, sig))
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name} at iteration 7 of 20" in err and "--resume" in err and "Traceback" not in err, err
    assert (out / CHECKPOINT_FILE).exists() and not (out / MANIFEST_FILE).exists()


def _stop_at_iteration(it: int, sig: signal.Signals) -> str:
    """A monkeypatch for :func:`_child` that sends ``sig`` to the child itself when the loop reports iteration ``it``."""
    return ("import os, signal, mmdistill.loop as loop\n"
            f"for s in ({int(signal.SIGUSR1)}, {int(signal.SIGUSR2)}, {int(signal.SIGHUP)}, {int(signal.SIGTERM)}):\n"
            "    signal.signal(s, signal.SIG_DFL)\n"
            "_orig = loop.generator\n"
            "def _stop(seed, *names):\n"
            f"    if names == ('iteration', {it}): os.kill(os.getpid(), {int(sig)})\n"
            "    return _orig(seed, *names)\n"
            "loop.generator = _stop\n")


def test_the_first_stop_signal_holds_off_the_others_and_all_come_back_after():
    """After a SIGUSR1 (Slurm's warning) the SIGTERM that follows it waits for the checkpoint; ``nohup``'s ignored
    SIGHUP is left ignored; every disposition taken is given back after the block."""
    from mmdistill.stop_signals import STOP_SIGNALS, Terminated, terminate_as_interrupt

    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup mmdistill run ...
        with terminate_as_interrupt() as installed:
            assert installed and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(Terminated) as stopped:
                signal.raise_signal(signal.SIGUSR1)
            assert stopped.value.signum == signal.SIGUSR1
            assert all(signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2))
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert all(signal.getsignal(s) is signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2))
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@pytest.mark.parametrize("errno_", [38, 37, 95], ids=["ENOSYS", "ENOLCK", "EOPNOTSUPP"])
def test_a_scratch_file_system_without_flock_runs_unlocked_with_a_warning(tmp_path, monkeypatch, caplog, errno_):
    """Lustre mounted ``noflock`` (and some FUSE / cluster file systems) refuse ``flock`` itself; every run, ``eval
    --write`` and expert claim there was refused as "in use by another process", and ``show`` said the run was still
    going. The folder now goes unlocked with one warning, no lock file is left, and nobody is named as its holder."""
    import logging

    import mmdistill.run_lock as run_lock

    def refuse(fd, op):
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(run_lock.fcntl, "flock", refuse)
    monkeypatch.setattr(run_lock, "_unlockable", set())
    with caplog.at_level(logging.WARNING, logger="mmdistill.run_lock"):
        for _ in range(2):
            lock = run_lock.RunFolderLock(tmp_path, "mmdistill run image-dm")
            lock.acquire()  # not FolderInUse
            assert run_lock.lock_holder(tmp_path) is None
            lock.release()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "refuses locks" in said[0] and str(tmp_path) in said[0], said
    assert not (tmp_path / run_lock.LOCK_FILE).exists()


def test_a_lock_held_by_another_process_is_still_refused(tmp_path):
    """The other side of the above: a real holder (another process's flock) still refuses the folder, naming it."""
    import mmdistill.run_lock as run_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from mmdistill.run_lock import RunFolderLock\n"
                               f"RunFolderLock(Path({str(tmp_path)!r}), 'mmdistill run image-dm').acquire()\n"
                               "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(run_lock.FolderInUse, match=f"in use by process {holder.pid} "):
            run_lock.RunFolderLock(tmp_path, "mmdistill run image-dm").acquire()
        assert run_lock.lock_holder(tmp_path) == f"process {holder.pid} (mmdistill run image-dm)"
    finally:
        holder.kill()
        holder.wait()


def test_a_run_copied_off_a_nodes_scratch_resumes_with_its_data_staged_elsewhere(tmp_path, monkeypatch, caplog):
    """A job stages its data to node-local scratch (``--data-root $TMPDIR/data``), runs with ``--out $TMPDIR/run`` and is
    preempted; the run folder is copied back and the requeued job, on another node, stages the same data to another
    path. The checkpoint recorded the first path, and the resume was refused ("data_root: '/tmp/job1/data' ->
    '/tmp/job2/data'; use the checkpoint's values") though that path no longer exists anywhere. The training data's
    identity (classes, sample count, a digest of the labels) is what a resume checks now, and the set is the
    uninterrupted run's, bit for bit."""
    import shutil

    import numpy as np
    import torch
    from PIL import Image

    from mmdistill.io import load_synthetic
    from mmdistill.recipes import image_dm

    for name, shade in {"a": 20, "b": 90, "c": 160}.items():
        (tmp_path / "node1" / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), shade + 10 * i, dtype=np.uint8), mode="L").save(
                tmp_path / "node1" / "data" / name / f"{i}.png")
    run = dict(dataset="imagefolder", ipc=1, iterations=4, batch_real=4, checkpoint_every=1, evaluate=False, progress=False)
    full = image_dm.run(**run, data_root=str(tmp_path / "node1" / "data"), out=str(tmp_path / "full"))
    image_dm.run(**run, data_root=str(tmp_path / "node1" / "data"), out=str(tmp_path / "node1" / "run"), stop_after=2)
    shutil.copytree(tmp_path / "node1" / "run", tmp_path / "home" / "run")
    shutil.copytree(tmp_path / "node1" / "data", tmp_path / "node2" / "data")
    shutil.rmtree(tmp_path / "node1")
    monkeypatch.chdir(tmp_path / "node2")
    caplog.set_level("WARNING", logger="mmdistill")
    again = image_dm.run(**run, data_root="data", out=str(tmp_path / "home" / "run"), resume=True)
    assert again.manifest["timing"]["resumed_from"] == 2
    # said, not silent: the values are not compared, so another dataset of the same layout would pass this check
    assert re.search(r"resumed on data read from \S*data, not \S*node1/data where the run started", caplog.text), caplog.text
    assert "the samples' values are not compared" in caplog.text
    assert torch.equal(load_synthetic(again.out_dir)[0].x, load_synthetic(full.out_dir)[0].x)


def test_a_requeued_job_whose_run_finished_exits_0_and_touches_nothing(tmp_path, capsys):
    """The same job script with ``--resume`` started again after its run finished (a requeue after a node failure in a
    later step, an array job submitted again) failed with exit 2, so ``--dependency=afterok`` jobs never ran and
    ``set -e`` scripts stopped; it now says the run is finished and exits 0 without writing anything. A finished run
    asked for with other keys is still refused (exit 2)."""
    from mmdistill.cli import main as cli_main

    flags = ["run", "image-dm", *(f"{k}={v}" for k, v in RUN.items()), "iterations=3", f"out={tmp_path / 'run'}", "resume=true"]
    assert cli_main(flags) == 0
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").iterdir()}
    capsys.readouterr()
    assert cli_main(flags) == 0
    err = capsys.readouterr().err
    assert "holds a finished run (3 of 3 iterations): nothing to resume" in err and "error:" not in err, err
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").iterdir()} == before
    assert cli_main([*flags, "seed=1"]) == 2
    assert "error: cannot resume" in capsys.readouterr().err


def test_array_tasks_of_several_seeds_share_the_experts_of_one_buffer(tmp_path, capsys, monkeypatch):
    """Walk 49D: array tasks with different ``--seed`` pointing at one missing ``--buffer`` each trained experts with its
    own seed, met the other's shards ("trained for another setting (seed: shard 1 vs asked 0)"), both stopped (exit 2)
    and left a buffer mixed of two seeds. The first process to train into a folder records its seed; the others train
    the experts they take with it, so the buffer is the one a single process would have made."""
    from mmdistill.buffer import ExpertBuffer
    from mmdistill.cli import main as cli_main
    from mmdistill.expert_seed import SEED_FILE

    def experts(buffer: Path, n: int, seed: int) -> int:
        return cli_main(["experts", "image-mtt", "--dataset", "digits", "--buffer", str(buffer), f"num_experts={n}",
                         "expert_train_epochs=1", "max_start_epoch=1", "expert_epochs=1", f"seed={seed}", "expert_threads=1",
                         "--no-progress"])  # one at a time: the same threads for each expert in every call

    assert experts(tmp_path / "alone", 2, 0) == 0  # one process, seed 0: the reference
    shared = tmp_path / "shared"
    monkeypatch.setattr("mmdistill.experts.write_index", lambda *a, **k: None)  # task 0 stops before the index ...
    experts(shared, 1, 0)
    monkeypatch.undo()
    assert (shared / "expert_0000.safetensors").is_file() and not (shared / "index.json").exists()  # ... after expert 0
    capsys.readouterr()
    assert experts(shared, 2, 1) == 0  # task 1 (seed 1) takes expert 1
    assert f"the experts in {shared} are seeded by seed=0 ({SEED_FILE}" in capsys.readouterr().err
    made, alone = ExpertBuffer(shared), ExpertBuffer(tmp_path / "alone")
    assert made.index["training"]["seed"] == 0 and made.num_experts == 2 and not (shared / SEED_FILE).exists()
    for i in range(2):
        assert torch.equal(made.rows(i, [0, 1]), alone.rows(i, [0, 1]))


def test_the_buffer_seed_is_recorded_once_and_the_index_comes_first(tmp_path, caplog):
    import json

    from mmdistill.expert_seed import SEED_FILE, buffer_seed

    assert buffer_seed(tmp_path, 3) == 3 and json.loads((tmp_path / SEED_FILE).read_text()) == {"seed": 3}
    assert buffer_seed(tmp_path, 5) == 3 and buffer_seed(tmp_path, 3) == 3  # the first trainer's, whoever asks
    assert [p.name for p in tmp_path.iterdir()] == [SEED_FILE]  # no temporary left
    (tmp_path / "index.json").write_text(json.dumps({"training": {"seed": 7}}))
    assert buffer_seed(tmp_path, 5) == 7  # a finished buffer being grown: its index says, and the seed file goes
    assert not (tmp_path / SEED_FILE).exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / SEED_FILE).write_text("{not json")
    with caplog.at_level("WARNING"):
        assert buffer_seed(other, 4) == 4
    assert f"{other / SEED_FILE} records no integer 'seed'" in caplog.text


def test_a_buffer_folder_that_cannot_be_written_is_left_to_the_training_to_name(tmp_path, monkeypatch):
    """The seed record is a courtesy to other processes: a folder it cannot be written in (read-only, full) gives the
    run's own seed and no traceback; the training's own writes there name the folder."""
    import tempfile

    from mmdistill.expert_seed import SEED_FILE, buffer_seed

    def refused(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert buffer_seed(tmp_path, 5) == 5 and not (tmp_path / SEED_FILE).exists()
