"""Fault injection: hard kills, Ctrl-C, a full disk, a damaged checkpoint, folders that cannot hold a run.

Every kill is followed by ``--resume``, whose set must equal an uninterrupted run's tensor for tensor; no
failure may lose or silently replace a run, and none may end in a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmdistill.cli import main as cli_main
from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE, SYNTHETIC_FILE, load_synthetic

pytest.importorskip("torchvision")

RUN = dict(dataset="digits", ipc=1, iterations=60, batch_real=16, checkpoint_every=5, evaluate=False, progress=False,
           device="cpu")
FLAGS = [f"{k}={v}" for k, v in RUN.items()]


def _child(out: Path, *extra: str, patch: str = "") -> subprocess.Popen:
    """``mmdistill run image-dm`` in a child process (one thread), with an optional monkeypatch run first."""
    code = (f"import sys, torch; torch.set_num_threads(1)\n{patch}\n"
            "from mmdistill.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "run", "image-dm", *FLAGS, f"out={out}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> torch.Tensor:
    """The uninterrupted run's set."""
    out = tmp_path_factory.mktemp("fault") / "full"
    code, err = _finish(_child(out))
    assert code == 0, err
    return load_synthetic(out)[0].x


def _resume_equals(out: Path, reference: torch.Tensor) -> None:
    code, err = _finish(_child(out, "resume=true"))
    assert code == 0 and "Traceback" not in err, err
    assert torch.equal(load_synthetic(out)[0].x, reference)


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_random_moment_then_resume_is_bit_exact(tmp_path, reference, trial):
    out = tmp_path / "run"
    proc = _child(out)
    while not (out / "metrics.jsonl").exists() and proc.poll() is None:  # the loop has started
        time.sleep(0.05)
    time.sleep(random.Random(trial).uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if (out / CHECKPOINT_FILE).exists() or (out / MANIFEST_FILE).exists():
        _resume_equals(out, reference)
    else:  # killed before the first checkpoint: nothing to lose, a fresh run is the resume
        code, err = _finish(_child(out, "resume=true"))
        assert code == 0, err
        assert torch.equal(load_synthetic(out)[0].x, reference)


def test_sigkill_inside_the_artifact_write_then_resume_is_bit_exact(tmp_path, reference):
    """Killed after synthetic.safetensors and before manifest.json: the set is incomplete (no manifest), the
    final checkpoint is there, and --resume writes the same set."""
    out = tmp_path / "run"
    patch = ("import os, signal, mmdistill.io as io\n"
             "_orig = io.write_json\n"
             "def _kill(path, obj):\n"
             "    if str(path).endswith('manifest.json'): os.kill(os.getpid(), signal.SIGKILL)\n"
             "    return _orig(path, obj)\n"
             "io.write_json = _kill")
    code, _ = _finish(_child(out, patch=patch))
    assert code == -signal.SIGKILL
    assert (out / SYNTHETIC_FILE).exists() and not (out / MANIFEST_FILE).exists() and (out / CHECKPOINT_FILE).exists()
    _resume_equals(out, reference)


@pytest.mark.parametrize("stop, code_wanted, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path, reference, stop, code_wanted, said):
    """A real signal, sent by the run to itself right after its second checkpoint (iteration 10 of 60), so it always
    lands mid-run however fast the machine is (a timer could miss the run on a fast one). SIGTERM is what a
    scheduler's preemption or ``kill PID`` sends; it must stop the run as Ctrl-C does.

    The child first restores both signals' default dispositions: a test suite started in the background of a
    non-interactive shell (``bash .ci/run &``, nohup) hands its children SIGINT ignored, and Python then never raises
    KeyboardInterrupt, as with ``nohup mmdistill run ... &`` for a user, where that is what they asked for."""
    out = tmp_path / "run"
    patch = ("import os, signal, mmdistill.loop as loop\n"
             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
             "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
             "_orig, _saved = loop.save_checkpoint, []\n"
             "def _stop_after_second(*args, **kwargs):\n"
             "    result = _orig(*args, **kwargs)\n"
             "    _saved.append(1)\n"
             f"    if len(_saved) == 2: os.kill(os.getpid(), {int(stop)})\n"
             "    return result\n"
             "loop.save_checkpoint = _stop_after_second")
    code, err = _finish(_child(out, patch=patch))
    assert code == code_wanted and said in err and "--resume" in err and "Traceback" not in err, err
    assert not (out / MANIFEST_FILE).exists()  # stopped before the end: no finished set yet
    assert (out / CHECKPOINT_FILE).exists()
    _resume_equals(out, reference)


def test_sigterm_is_only_taken_over_where_its_default_stood():
    """An embedding program's own SIGTERM handler (or SIGTERM ignored) is left alone, and the default comes back
    after the block."""
    from mmdistill.stop_signals import Terminated, terminate_as_interrupt

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever the harness running the tests set
    try:
        with terminate_as_interrupt() as installed:
            assert installed
            with pytest.raises(Terminated) as stopped:
                signal.raise_signal(signal.SIGTERM)
            assert stopped.value.signum == signal.SIGTERM
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # a second SIGTERM waits for the checkpoint
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

        def mine(*_):
            pass

        signal.signal(signal.SIGTERM, mine)
        with terminate_as_interrupt() as installed:
            assert not installed
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


def test_full_disk_on_the_artifact_write_leaves_no_half_file(tmp_path, capsys, monkeypatch):
    import mmdistill.io as io

    real_save = io.save_file

    def full_disk(tensors, path, metadata=None):
        if "synthetic" in Path(path).name:
            Path(path).write_bytes(b"\0" * 100)  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(io, "save_file", full_disk)
    out = tmp_path / "run"
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}"])
    err = capsys.readouterr().err
    assert code == 6 and "disk is full" in err and "Traceback" not in err, err
    assert not (out / SYNTHETIC_FILE).exists() and not (out / MANIFEST_FILE).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert (out / CHECKPOINT_FILE).exists()  # the distillation is not lost: --resume writes the artifact


def test_damaged_checkpoint_is_named_and_kept(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=10", f"out={out}", "checkpoint_every=5"]) == 0
    ckpt = out / CHECKPOINT_FILE
    (out / MANIFEST_FILE).unlink()
    (out / SYNTHETIC_FILE).unlink()
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=10", f"out={out}", "resume=true"])
    err = capsys.readouterr().err
    assert code == 4 and str(ckpt) in err and "Traceback" not in err, err
    assert ckpt.exists()


def test_resume_never_replaces_a_finished_set(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}"]) == 0
    (out / CHECKPOINT_FILE).unlink()  # a finished set without its checkpoint
    before = (out / SYNTHETIC_FILE).read_bytes()
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "resume=true"])
    err = capsys.readouterr().err
    assert code == 2 and "--overwrite" in err and "finished set" in err, err
    assert (out / SYNTHETIC_FILE).read_bytes() == before
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "resume=true", "lr_data=3.0"])
    assert code == 2  # still refused: another configuration does not make it resumable


def test_resume_refuses_another_configurations_checkpoint_before_loading(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=10", f"out={out}"]) == 0
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=10", f"out={out}", "resume=true", "lr_data=3.0"])
    err = capsys.readouterr().err
    assert code == 2 and "lr_data: 1.0 -> 3.0" in err and "--overwrite" in err, err
    assert json.loads((out / MANIFEST_FILE).read_text())["config"]["lr_data"] != 3.0  # the run is untouched


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_output_folder_that_cannot_hold_a_run_is_named_first(tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "run"
    code = cli_main(["run", "image-dm", *FLAGS, f"out={out}"])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker) in err and "Traceback" not in err, err
    assert blocker.read_text() == "not a folder"


def test_artifacts_get_the_users_umask(tmp_path):
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}"]) == 0
    finally:
        os.umask(old)
    for name in (SYNTHETIC_FILE, MANIFEST_FILE, CHECKPOINT_FILE):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A finished 5-iteration run (no evaluation), copied by the tests below."""
    out = tmp_path_factory.mktemp("small") / "run"
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}"]) == 0
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def test_resume_of_a_finished_run_is_refused_and_leaves_it(small_run, tmp_path, capsys):
    out = _copy(small_run, tmp_path)
    before = (out / MANIFEST_FILE).read_bytes()
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "resume=true"])
    err = capsys.readouterr().err
    assert code == 0 and "holds a finished run (5 of 5 iterations): nothing to resume" in err and "mmdistill eval" in err, err
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=3", f"out={out}", "resume=true"])
    err = capsys.readouterr().err
    assert code == 2 and "it holds 5 iterations, more than iterations=3" in err, err
    assert (out / MANIFEST_FILE).read_bytes() == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_a_folder_with_someone_elses_files_is_never_written(tmp_path, capsys, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my project")
    (out / "metrics.jsonl").write_text("my own numbers\n")
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=2", f"out={out}"] + (["overwrite=true"] if overwrite else []))
    err = capsys.readouterr().err
    assert code == 2 and "holds no mmdistill run but has files a run would replace (README.md, metrics.jsonl)" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "metrics.jsonl"]
    assert (out / "README.md").read_text() == "my project" and (out / "metrics.jsonl").read_text() == "my own numbers\n"


def test_overwrite_starts_over_without_the_old_runs_files(small_run, tmp_path):
    """--overwrite removes the old run's files before the new run starts: none can be mistaken for the new run's (and a
    new run killed early leaves a folder a later run may use)."""
    from types import SimpleNamespace

    from mmdistill.run import prepare_out_dir

    out = _copy(small_run, tmp_path)
    (out / "notes.txt").write_text("kept")
    prepare_out_dir(out, SimpleNamespace(resume=False, overwrite=True, iterations=5))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    prepare_out_dir(out, SimpleNamespace(resume=True, overwrite=False, iterations=5))  # nothing of another's: accepted


def test_overwrite_removes_every_file_the_old_run_wrote_and_only_those(small_run, tmp_path):
    """A modality's own files (a video run's preview.gif, a summary's decoded.json) are listed in the manifest's
    written_files and removed by --overwrite with the rest (before: a video run overwritten by an image run kept its
    preview.gif); a user's file and a name reaching outside the folder are left alone, and so is a file the manifest
    lists whose content is not what the run recorded (before: any listed name was deleted, a user's thesis.tex too)."""
    import json
    from types import SimpleNamespace

    from mmdistill.run import prepare_out_dir

    out = _copy(small_run, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"README.md", "preview.png", "loss.png"} <= set(manifest["written_files"])
    assert not {"manifest.json", "synthetic.safetensors", "checkpoint.safetensors"} & set(manifest["written_files"])
    from mmdistill.io import file_sha256

    assert set(manifest["written_file_sha256"]) == set(manifest["written_files"])
    (out / "preview.gif").write_text("the old run's animation")
    (out / "notes.txt").write_text("kept")
    (out / "thesis.tex").write_text("kept")
    (tmp_path / "outside.txt").write_text("kept")
    manifest["written_files"] += ["preview.gif", "../outside.txt", "thesis.tex", "notes.txt"]
    manifest["written_file_sha256"]["preview.gif"] = file_sha256(out / "preview.gif")  # what the run would record
    manifest["written_file_sha256"]["notes.txt"] = "0" * 64  # a received manifest naming the user's files: not their content
    (out / "manifest.json").write_text(json.dumps(manifest))
    prepare_out_dir(out, SimpleNamespace(resume=False, overwrite=True, iterations=5))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "thesis.tex"] and (tmp_path / "outside.txt").exists()


def test_a_users_file_is_not_counted_as_written_by_the_run(tmp_path):
    """written_files lists the files a write created or replaced, by their state before and after it, not by their
    time: a user's file dated in the future (or touched a moment before) is not listed, so --overwrite keeps it."""
    import os
    import time

    from mmdistill.recipes import image_dm

    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    later = time.time() + 3600
    os.utime(out / "notes.txt", (later, later))
    res = image_dm.run(dataset="digits", ipc=1, iterations=2, batch_real=8, eval_runs=1, eval_epochs=1, herding_epochs=1,
                       progress=False, out=str(out))
    assert "notes.txt" not in res.manifest["written_files"] and "preview.png" in res.manifest["written_files"]


def _rewrite_checkpoint(path: Path, meta_changes: dict, drop: str | None = None) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta.update(meta_changes)
    if drop is not None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(drop)}
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize("meta_changes, drop, said", [
    ({"resume_keys": "{bad"}, None, "header field 'resume_keys' is not valid JSON"),
    ({"resume_keys": "[1]"}, None, "header field 'resume_keys' is a list"),
    ({"iteration": "abc"}, None, "no valid 'iteration'"),
    ({"iteration": "-4"}, None, "iteration -4; expected a count >= 0"),
    ({"optimizer": "[]"}, None, "header field 'optimizer' is a list"),
    ({"synthetic": "[]"}, None, "header field 'synthetic' is a list"),
    ({}, "opt.", "lacks the optimizer tensors opt.0.momentum_buffer"),
], ids=["keys-not-json", "keys-a-list", "iteration-text", "iteration-negative", "optimizer-a-list", "header-a-list",
        "optimizer-tensor-gone"])
def test_a_damaged_checkpoint_header_is_named_and_kept(small_run, tmp_path, capsys, meta_changes, drop, said):
    out = _copy(small_run, tmp_path)
    (out / MANIFEST_FILE).unlink()  # killed inside the artifact write: the checkpoint is what --resume reads
    ckpt = out / CHECKPOINT_FILE
    _rewrite_checkpoint(ckpt, meta_changes, drop)
    damaged = ckpt.read_bytes()
    code = cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "resume=true"])
    err = capsys.readouterr().err
    assert code == 4 and str(ckpt) in err and said in err and "Traceback" not in err, err
    assert ckpt.read_bytes() == damaged


def test_resume_on_other_training_data_is_refused(tmp_path):
    """Walk 34C #1: a run interrupted, one class folder replaced by another (same image count), then resumed: it
    finished with exit 0 and a set whose label 2 was distilled from two classes. The checkpoint now records the
    training data's identity (class names, sample count, labels) and a resume on other data is a DataError."""
    import numpy as np
    from PIL import Image

    from mmdistill.errors import DataError
    from mmdistill.recipes import image_dm

    def folder(root: Path, classes: dict[str, int]) -> Path:
        for name, shade in classes.items():
            (root / name).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(np.full((8, 8), shade + 10 * i, dtype=np.uint8), mode="L").save(root / name / f"{i}.png")
        return root

    data = folder(tmp_path / "data", {"a": 20, "b": 90, "c": 160})
    run = dict(dataset="imagefolder", data_root=str(data), ipc=1, iterations=4, batch_real=4, checkpoint_every=1,
               evaluate=False, progress=False, out=str(tmp_path / "run"))
    image_dm.run(**run, stop_after=2)
    import shutil

    shutil.rmtree(data / "c")
    folder(data, {"d": 200})  # class c replaced by d: three classes of four images, as before
    with pytest.raises(DataError, match=r"not the data the run was distilling \(class names \['a', 'b', 'c'\] -> \['a', 'b', 'd'\]"):
        image_dm.run(**run, resume=True)
    shutil.rmtree(data / "d")
    folder(data, {"c": 160})
    Image.fromarray(np.full((8, 8), 250, dtype=np.uint8), mode="L").save(data / "c" / "9.png")  # an image added
    with pytest.raises(DataError, match=r"training samples 9 -> 10"):  # 3 of the 12 images held out for test
        image_dm.run(**run, resume=True)
    (data / "c" / "9.png").unlink()  # the data as it was: the run resumes and finishes
    assert image_dm.run(**run, resume=True).manifest["timing"]["resumed_from"] == 2


def test_a_killed_runs_temporary_files_are_removed_when_it_is_resumed_or_overwritten(small_run, tmp_path):
    """A SIGKILL during an atomic write leaves `.accuracy.png.k3j_x9a2.tmp`; nothing removed it. A resume or an
    overwrite of that run folder removes the temporaries of the run's own files, and no other file."""
    from types import SimpleNamespace

    from mmdistill.run import prepare_out_dir

    out = _copy(small_run, tmp_path)
    for name in (".accuracy.png.k3j_x9a2.tmp", ".manifest.json.abcdefgh.tmp", ".preview.gif.a1b2c3d4.tmp"):
        (out / name).write_text("half")
    (out / ".notes.txt.abcdefgh.tmp").write_text("a user's")  # not a file of the run
    (out / "manifest.json").write_text(json.dumps({**json.loads((out / "manifest.json").read_text()),
                                                   "written_files": ["README.md", "preview.gif"]}))
    prepare_out_dir(out, SimpleNamespace(resume=False, overwrite=True, iterations=5))
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == [".notes.txt.abcdefgh.tmp"]


def test_overwrite_says_nothing_misleading_about_the_runs_own_files(small_run, tmp_path, caplog):
    """A run's own names (README.md, preview.png, accuracy.png) are removed by name: an edited one (or one `eval
    --write` rewrote) was reported as "left in place" and then replaced anyway."""
    import logging
    from types import SimpleNamespace

    from mmdistill.run import prepare_out_dir

    out = _copy(small_run, tmp_path)
    (out / "README.md").write_text("edited card")
    with caplog.at_level(logging.WARNING):
        prepare_out_dir(out, SimpleNamespace(resume=False, overwrite=True, iterations=5))
    assert "left in place" not in caplog.text and not (out / "README.md").exists()


def test_a_folder_another_process_is_writing_is_refused_and_left_alone(small_run, tmp_path, capsys):
    """Walk 38 #2: a second `run --overwrite` (or `--resume`) into a folder whose run was still writing deleted its files
    and both runs said "wrote"; `eval --write` and `check` could rewrite its manifest meanwhile. The folder's lock
    refuses them naming the holder; a holder killed with SIGKILL leaves no lock behind; a finished run no lock file."""
    from mmdistill.run_lock import LOCK_FILE

    out = _copy(small_run, tmp_path)
    assert not (out / LOCK_FILE).exists()  # the run let go of its lock and removed the file
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from mmdistill.run_lock import RunFolderLock; "
                               "RunFolderLock(Path(sys.argv[1]), 'a test holder').acquire(); print('held', flush=True); time.sleep(60)",
                               str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in (["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "--overwrite"],
                        ["run", "image-dm", *FLAGS, "iterations=6", f"out={out}", "--resume"],
                        ["eval", str(out), "--runs", "1", "--epochs", "1", "--write"], ["check", str(out)]):
            assert cli_main(command) == 2, command
            assert f"{out} is in use by process {holder.pid} (a test holder)" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK_FILE} == before  # nothing touched
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert (out / LOCK_FILE).exists()  # a killed holder's file stays; its lock went with the process
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "--overwrite"]) == 0
    assert not (out / LOCK_FILE).exists()


def test_a_lock_file_removed_by_its_holder_is_not_held_twice(tmp_path, monkeypatch):
    """Review 38: a process that opened the lock file just before its holder removed it could lock the removed file
    while a third process locked the new one: both held the folder. The lock is taken only on the file there now."""
    import mmdistill.run_lock as run_lock

    first = run_lock.RunFolderLock(tmp_path, "first")
    first.acquire()
    stale = os.open(tmp_path / run_lock.LOCK_FILE, os.O_RDWR)  # the late process opened it before the holder let go
    first.release()
    third = run_lock.RunFolderLock(tmp_path, "third")
    third.acquire()  # a new file, locked
    opened = []
    real_open = os.open

    def late_open(path, flags, mode=0o777):  # the late process's first open is the file since removed
        opened.append(path)
        return os.dup(stale) if len(opened) == 1 else real_open(path, flags, mode)

    monkeypatch.setattr(run_lock.os, "open", late_open)
    with pytest.raises(Exception, match=r"is in use by process \d+ \(third\)"):
        run_lock.RunFolderLock(tmp_path, "late").acquire()  # it locked the removed file, saw it, and tried the one there
    assert len(opened) == 2
    os.close(stale)
    third.release()


def test_resume_takes_the_same_data_folder_however_it_is_spelled(tmp_path, monkeypatch):
    """Walk 40B: data_root and buffer were compared as typed, so a run started with a relative data_root and resumed
    with the absolute one (or from another working folder) was refused. A checkpoint records path keys absolute; one an
    earlier mmdistill wrote with a relative path matches the folder that path names from where the resume runs."""
    import numpy as np
    from PIL import Image

    from mmdistill.errors import DataError
    from mmdistill.loop import changed_keys
    from mmdistill.recipes import image_dm

    for name, shade in {"a": 20, "b": 90, "c": 160}.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), shade + 10 * i, dtype=np.uint8), mode="L").save(tmp_path / "data" / name / f"{i}.png")
    (tmp_path / "elsewhere").mkdir()
    run = dict(dataset="imagefolder", ipc=1, iterations=4, batch_real=4, checkpoint_every=1, evaluate=False, progress=False,
               out=str(tmp_path / "run"))
    monkeypatch.chdir(tmp_path)
    image_dm.run(**run, data_root="data", stop_after=2)
    monkeypatch.chdir(tmp_path / "elsewhere")
    for name in "ab":  # another folder of other data is still another run (walk 49D: the same data in another
        (tmp_path / "other" / name).mkdir(parents=True)  # folder, staged to a node's scratch, resumes: test_batch_jobs.py)
        for i in range(3):
            Image.fromarray(np.full((8, 8), i, dtype=np.uint8), mode="L").save(tmp_path / "other" / name / f"{i}.png")
    with pytest.raises(DataError, match=r"cannot resume .*the real training data is not the data the run was distilling"):
        image_dm.run(**run, data_root=str(tmp_path / "other"), resume=True)
    assert image_dm.run(**run, data_root="../data", resume=True).manifest["timing"]["resumed_from"] == 2
    assert changed_keys({"data_root": "data"}, {"data_root": str(tmp_path / "elsewhere" / "data")}) == []  # an older checkpoint's
    assert changed_keys({"data_root": "data"}, {"data_root": str(tmp_path / "data")}) != []
    assert changed_keys({"network": "convnet"}, {"network": "convnet"}) == []
    os.symlink("loop_b", tmp_path / "loop_a")  # review 40: a link loop is named by the loader, not a RuntimeError
    os.symlink("loop_a", tmp_path / "loop_b")
    with pytest.raises(DataError, match="does not exist"):
        image_dm.run(**{**run, "out": str(tmp_path / "looprun")}, data_root=str(tmp_path / "loop_a"))


def _killed_write(folder: Path, name: str, random: str = "zfn9uqt9") -> Path:
    """What a SIGKILL inside safetensors' save_file leaves of an atomic write of ``name``: the private temporary folder
    with mmdistill's empty file and safetensors' own half-written `.tmpXXXXXX` in it."""
    tmp = folder / f".{name}.{random}.tmp"
    tmp.mkdir(parents=True)
    (tmp / name).write_bytes(b"")
    (tmp / ".tmpD5BewT").write_bytes(b"x" * 4096)
    return tmp


def test_a_kill_during_the_first_checkpoint_write_is_swept_by_the_next_run(tmp_path, capsys):
    """The sweep ran only in a folder that held a checkpoint or a set: a kill during the first checkpoint's write left
    its temporary (with safetensors' full-size file) forever. Now the resumed run removes it, and a file from an
    earlier mmdistill (the old temporary file); safetensors' loose `.tmpXXXXXX` in a folder that holds no run yet is
    not known to be the run's and is left."""
    out = tmp_path / "run"
    _killed_write(out, CHECKPOINT_FILE)
    (out / f".{CHECKPOINT_FILE}.abcdefgh.tmp").write_bytes(b"")  # an earlier mmdistill's temporary file
    (out / ".tmpAbC123").write_bytes(b"?")
    assert cli_main(["run", "image-dm", *FLAGS, "iterations=5", f"out={out}", "resume=true"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".mmdistill.lock") == [".tmpAbC123"]


def test_resume_removes_safetensors_temporaries_and_temporary_folders_of_the_run(small_run, tmp_path):
    """In a folder that holds a run, a resume or overwrite removes the temporary folders of the run's files and
    safetensors' loose `.tmpXXXXXX` files (a kill inside an earlier mmdistill's write), not another name's temporary nor
    a link named like one."""
    from types import SimpleNamespace

    from mmdistill.run import prepare_out_dir

    out = _copy(small_run, tmp_path)
    _killed_write(out, CHECKPOINT_FILE)
    _killed_write(out, "notes.txt", "abcdefgh")  # not a file of the run
    (out / ".tmpD5BewT").write_bytes(b"x" * 4096)
    (tmp_path / "elsewhere").mkdir()
    (out / ".README.md.k3j_x9a2.tmp").symlink_to(tmp_path / "elsewhere")
    prepare_out_dir(out, SimpleNamespace(resume=False, overwrite=True, iterations=5))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".tmp") or p.name.endswith(".tmp")) == [
        ".README.md.k3j_x9a2.tmp", ".notes.txt.abcdefgh.tmp"]
    assert (tmp_path / "elsewhere").is_dir()


@pytest.mark.parametrize("stop, code_wanted, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_a_stopped_eval_says_to_run_it_again_not_to_resume(monkeypatch, capsys, stop, code_wanted, said):
    """eval, check, export ... have no checkpoint and no --resume: a stop says so (walk 42A); SIGTERM stops them
    with a message and 143 as it stops run and experts (it killed them silently)."""
    import mmdistill.cli as cli

    def stopped(args, out):
        before = signal.getsignal(signal.SIGTERM)
        signal.raise_signal(stop)
        raise AssertionError(f"{stop!r} did not stop the command (SIGTERM handler {before!r})")

    monkeypatch.setattr(cli, "cmd_eval", stopped)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Python's own Ctrl-C handler, also where the tests were started with SIGINT ignored (a background job of a shell)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["eval", "some-run"]) == code_wanted
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    err = capsys.readouterr().err
    assert f"error: {said}; eval leaves nothing half-written" in err and "--resume" not in err


def test_a_stop_while_a_run_trains_its_experts_says_they_are_kept(monkeypatch, tmp_path):
    """A run that trains its expert buffer first says, when stopped there, that the finished experts (and the
    interrupted one's finished epochs) are kept and how to continue (walk 42A: it gave the generic checkpoint line)."""
    from types import SimpleNamespace

    import mmdistill.expert_runs as expert_runs
    from mmdistill.errors import InterruptedRun

    def stopped(ctx, path, workers):
        raise KeyboardInterrupt

    monkeypatch.setattr(expert_runs, "train_buffer", stopped)
    with pytest.raises(InterruptedRun, match=r"^interrupted; .*experts keeps every finished expert and the interrupted one's "
                                             r"finished epochs: continue with the same command and --resume") as caught:
        expert_runs.train_keeping_experts(SimpleNamespace(workers=None), tmp_path / "experts",
                                          "continue with the same command and --resume (it trains the rest, then distils)")
    assert caught.value.signum == signal.SIGINT


def test_a_holder_whose_folder_was_removed_and_made_again_leaves_the_new_holders_file(tmp_path):
    """walk 43A: `mmdistill cache clear video-static` removed a stage-1 folder under its lock; a stage 1 starting then
    made the folder again and locked a new file, which the clear's release() then unlinked (it removed whatever file
    had the name), so a third process could take the folder too. release() removes only the file it holds."""
    import shutil

    from mmdistill.errors import ConfigError
    from mmdistill.run_lock import LOCK_FILE, RunFolderLock

    folder = tmp_path / "stage"
    folder.mkdir()
    clearing = RunFolderLock(folder, "mmdistill cache clear")
    clearing.acquire()
    shutil.rmtree(folder)
    folder.mkdir()
    starting = RunFolderLock(folder, "stage 1")
    starting.acquire()
    clearing.release()
    assert (folder / LOCK_FILE).exists()
    with pytest.raises(ConfigError, match=r"is in use by process \d+ \(stage 1\)"):
        RunFolderLock(folder, "third").acquire()
    starting.release()
    assert not (folder / LOCK_FILE).exists()


@pytest.mark.parametrize("command", [["check"], ["eval", "--write", "eval_runs=1", "eval_epochs=1"]])
def test_eval_write_and_check_remove_what_their_killed_write_left(small_run, tmp_path, command):
    """Walk 45B: `eval --write` (or `check`) killed between writing the manifest's temporary and renaming it left
    `.manifest.json.XXXXXXXX.tmp/` in the set's folder, and the same command run again to finish kept it for good.
    Once it holds the folder's lock it removes the temporaries of the run's own files, and no other file."""
    out = _copy(small_run, tmp_path)
    stale = out / ".manifest.json.k3j_x9a2.tmp"
    stale.mkdir()
    (stale / "manifest.json").write_text("{}")
    (out / ".README.md.abcdefgh.tmp").write_text("half")
    (out / ".notes.txt.abcdefgh.tmp").write_text("a user's")  # not a file of the run
    assert cli_main([command[0], str(out), *command[1:]]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == [".notes.txt.abcdefgh.tmp"]
    assert load_synthetic(out)[0] is not None


def test_show_names_a_card_the_manifest_does_not_describe_and_check_writes_its_manifest_last(small_run, tmp_path, capsys):
    """Walk 45B D5: an eval --write or check stopped between the card and the manifest left a card that contradicts the
    manifest, and `show` said nothing. `show` names the written files whose content is no longer the recorded one;
    `check` writes the card first and the manifest last, with the card's new SHA-256 (it wrote the manifest first and
    left the card's recorded SHA-256 as the run's)."""
    from mmdistill.integrity import file_sha256, rewritten_since

    out = _copy(small_run, tmp_path)
    card = out / "README.md"
    card.write_text(card.read_text() + "\nedited by hand\n")
    assert cli_main(["show", str(out)]) == 0
    said = capsys.readouterr().out
    assert "note: README.md is no longer as the manifest records writing it" in said and f"mmdistill eval {out} --write" in said
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["written_file_sha256"]["README.md"] = file_sha256(card)  # a card an earlier version wrote, recorded as such
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert cli_main(["check", str(out)]) == 0  # writes the card anew: its recorded SHA-256 follows it
    assert "edited by hand" not in card.read_text()
    assert rewritten_since(out, json.loads((out / "manifest.json").read_text())) == []
    assert cli_main(["show", str(out)]) == 0 and "note:" not in capsys.readouterr().out
