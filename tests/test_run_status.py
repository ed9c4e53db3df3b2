"""Walk 50D (watching a long run): a run folder's status record (``status.json``), and what ``show`` / ``eval`` say of a
folder whose run is going, was stopped, failed or was killed hard."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mmdistill.cli import main
from mmdistill.errors import DataError, DivergenceError
from mmdistill.io import load_synthetic
from mmdistill.run_lock import RunFolderLock
from mmdistill.run_status import STATUS_FORMAT, RunStatus, read_status, unfinished_run

pytest.importorskip("torchvision")

FAST_DM = dict(dataset="digits", ipc=1, iterations=4, batch_real=16, eval_runs=1, eval_epochs=2, herding_epochs=1, baselines=[],
               checkpoint_every=2, progress=False, evaluate=False)


def _explode_at(monkeypatch, call: int) -> None:
    """DM's step raises a divergence from its ``call``-th call on (0-based), as a NaN loss does."""
    from mmdistill.matchers.distribution import DistributionMatching

    step, calls = DistributionMatching.step, [0]

    def exploding(self, syn, optimizer, gen):
        calls[0] += 1
        if calls[0] > call:
            raise DivergenceError("the matching loss became nan; the synthetic set was not updated")
        return step(self, syn, optimizer, gen)

    monkeypatch.setattr(DistributionMatching, "step", exploding)


def test_a_diverged_run_records_why_and_show_says_it_failed_not_to_resume_it(tmp_path, monkeypatch, capsys):
    """A run stopped by a NaN (a huge lr_data) left a checkpoint and nothing else: next morning `show` / `eval` said
    "an unfinished run ... continue it with --resume", which diverges again (the terminal's message said to start over).
    The folder's status.json now says failed, at which iteration and why, and show says so."""
    from mmdistill.recipes import image_dm

    _explode_at(monkeypatch, 3)
    out = tmp_path / "run"
    with pytest.raises(DivergenceError):
        image_dm.run(out=str(out), **FAST_DM)
    rec = read_status(out)
    assert rec["state"] == "failed" and rec["iteration"] == 3 and rec["checkpoint_iteration"] == 2, rec
    assert rec["reason"].startswith("iteration 3: the matching loss became nan") and "--overwrite" in rec["reason"]
    assert rec["pid"] > 0 and rec["host"] and rec["command"] == "mmdistill run image-dm"
    for argv in (["show", str(out)], ["eval", str(out)]):
        assert main(argv) == 4
        err = capsys.readouterr().err
        assert "its run failed (status.json of " in err and "iteration 3: the matching loss became nan" in err, err
        assert "continue it with the command that started it and --resume" not in err, err


def test_a_divergence_before_the_first_checkpoint_leaves_no_folder(tmp_path, monkeypatch):
    """The folder such a run made is removed as before (nothing in it worth keeping): its status record goes with it."""
    from mmdistill.recipes import image_dm

    _explode_at(monkeypatch, 1)
    with pytest.raises(DivergenceError):
        image_dm.run(out=str(tmp_path / "new" / "run"), **FAST_DM)
    assert not (tmp_path / "new").exists()


def test_the_record_follows_a_run_through_stop_resume_and_finish(tmp_path, monkeypatch, capsys):
    from mmdistill.recipes import image_dm

    out = tmp_path / "run"
    image_dm.run(out=str(out), stop_after=2, **FAST_DM)
    rec = read_status(out)
    assert rec["state"] == "stopped" and rec["iteration"] == 2 and rec["checkpoint_iteration"] == 2, rec
    assert main(["show", str(out)]) == 4
    err = capsys.readouterr().err
    assert "its run was stopped at iteration 2 of 4" in err
    # walk 53M: a stopped run's folder said how it stopped but not that --resume continues it
    assert "the checkpoint holds 2 iterations: continue it with the command that started it and --resume" in err

    import mmdistill.run as run_module

    def refused(*args, **kwargs):
        raise DataError("digits: the data folder is gone")

    monkeypatch.setattr(run_module, "load_data", refused)  # a resume refused before its loop: the record stays
    with pytest.raises(DataError):
        image_dm.run(out=str(out), resume=True, **FAST_DM)
    assert read_status(out) == rec
    monkeypatch.undo()

    image_dm.run(out=str(out), resume=True, **FAST_DM)
    rec = read_status(out)
    assert rec["state"] == "finished" and rec["iteration"] == 4 and rec["checkpoint_iteration"] == 4, rec
    assert rec["eta_seconds"] is None and rec["reason"] is None
    assert rec["host"] is None and rec["pid"] is None  # a finished folder is shared: its record names no machine
    manifest = json.loads((out / "manifest.json").read_text())
    assert "status.json" not in manifest["written_files"]
    (out / "manifest.json").rename(tmp_path / "moved.json")
    assert "says its run finished, but the set's files are gone" in unfinished_run(out)
    (tmp_path / "moved.json").rename(out / "manifest.json")
    image_dm.run(out=str(out), overwrite=True, stop_after=0, **FAST_DM)  # --overwrite removes the old record first
    assert read_status(out)["iteration"] == 0 and read_status(out)["state"] == "stopped"


def _write(folder, state="running", **fields) -> RunStatus:
    status = RunStatus(folder, "mmdistill run image-dm", 3000)
    status.began = True
    status.record.update(state=state, **fields)
    status._write()
    return status


def _shown_while_locked(run, command: str, capsys) -> str:
    """What `mmdistill show RUN` says (exit 4: no set yet) while ``command`` holds the folder's lock: a run going."""
    lock = RunFolderLock(run, command)
    lock.acquire()
    try:
        assert main(["show", str(run)]) == 4
        return capsys.readouterr().err
    finally:
        lock.release()


def test_show_of_a_run_still_going_says_how_far_and_how_long(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"")
    _write(run, iteration=1200, checkpoint_iteration=1200, loss=0.004657, eta_seconds=300.0)
    err = _shown_while_locked(run, "mmdistill run image-dm", capsys)
    assert "its run is still going (process" in err and "iteration 1200 of 3000, loss 0.004657, about 5 min left" in err, err
    assert "the checkpoint holds 1200 iterations" in err and "--resume" not in err, err


def test_a_run_killed_hard_is_told_from_one_still_going(tmp_path):
    """SIGKILL (or the out-of-memory killer) writes nothing: the record still says running, and its process is gone."""
    run = tmp_path / "run"
    run.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _write(run, iteration=76, pid=gone.pid)
    said = unfinished_run(run)
    assert "ended without recording why at iteration 76 of 3000" in said and f"process {gone.pid} on" in said, said
    assert "killed hard" in said and "no checkpoint was written yet: run the command that started it again" in said
    _write(run, iteration=76, checkpoint_iteration=0)  # this process: alive, though the folder is not locked
    said = unfinished_run(run)
    assert "its run is still going (process" in said and "killed hard" not in said, said


def test_the_eta_counts_only_this_processs_iterations(tmp_path, monkeypatch):
    """A resumed run's restored iterations are not counted as done in no time."""
    import mmdistill.run_status as rs

    clock = [100.0]
    monkeypatch.setattr(rs.time, "monotonic", lambda: clock[0])
    status = RunStatus(tmp_path, "mmdistill run image-dm", 3000)
    status.begin(900, 900)
    clock[0] += 10.0
    status.progress(1000, 0.5, checkpointed=True)
    rec = read_status(tmp_path)
    assert rec["eta_seconds"] == 200.0 and rec["iteration"] == 1000 and rec["format"] == STATUS_FORMAT


def test_a_record_that_is_no_record_is_ignored(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"format": STATUS_FORMAT, "state": "failed"}))
    (run / "status.json").symlink_to(tmp_path / "elsewhere.json")
    assert read_status(run) is None
    (run / "status.json").unlink()
    (run / "status.json").write_text("{not json")
    assert main(["show", str(run)]) == 4
    assert "holds the checkpoint.safetensors of an unfinished run" in capsys.readouterr().err
    (run / "status.json").write_text(json.dumps({"format": STATUS_FORMAT, "state": "failed", "reason": "\x1b[2Jcleared"}))
    assert "\x1b" not in unfinished_run(run) and "\\x1b[2Jcleared" in unfinished_run(run)


def test_a_failure_after_the_distillation_says_a_resume_only_evaluates_and_writes(tmp_path, monkeypatch, capsys):
    """A failure while the finished set was evaluated or written (here its memorisation check) is recorded at the last
    iteration, and show says that --resume goes on from there without distilling again."""
    import mmdistill.run as run_module
    from mmdistill.recipes import image_dm

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluation ran out of memory")

    monkeypatch.setattr(run_module, "add_sharing_blocks", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        image_dm.run(out=str(out), **FAST_DM)
    rec = read_status(out)
    assert rec["state"] == "failed" and rec["iteration"] == rec["checkpoint_iteration"] == 4, rec
    assert rec["reason"] == "RuntimeError: the evaluation ran out of memory"
    assert main(["show", str(out)]) == 4
    err = capsys.readouterr().err
    assert "its run failed at iteration 4 of 4" in err and "with --resume evaluates and writes the set without distilling" in err, err
    monkeypatch.undo()
    image_dm.run(out=str(out), resume=True, **FAST_DM)
    assert read_status(out)["state"] == "finished"


def test_show_of_a_run_training_its_experts_says_it_is_going(tmp_path, capsys):
    """image-mtt trains its experts before its loop: the folder holds only its lock and experts/, and show said "holds
    no distilled set: neither manifest.json (a run) nor ... (an export)", as of a folder that is no run at all."""
    run = tmp_path / "run"
    (run / "experts").mkdir(parents=True)
    err = _shown_while_locked(run, "mmdistill run image-mtt", capsys)
    assert "its run is still going (process" in err and "it has not started distilling yet (loading data, training experts)" in err
    assert "neither manifest.json" not in err, err
    # session 51: how far the experts got (a run of hours spends most of them there), from the buffer's files
    import json

    import torch

    from mmdistill.io import save_tensors

    save_tensors(run / "experts" / "expert_0000.safetensors", {"trajectory": torch.zeros(2, 3)},
                 metadata={"header": json.dumps({"training": {"num_experts": 5}})})
    (run / "experts" / "expert_0001.partial.safetensors").write_bytes(b"")
    err = _shown_while_locked(run, "mmdistill run image-mtt", capsys)
    assert f"it has not started distilling yet (training its experts in {run / 'experts'}: 1 of 5 finished, 1 under way)" in err
    (run / "experts" / "index.json").write_text("{}")
    assert f"(its experts in {run / 'experts'} are trained (1))" in _shown_while_locked(run, "mmdistill run image-mtt", capsys)
    assert main(["show", str(run)]) == 4 and "neither manifest.json" in capsys.readouterr().err  # no run going: as before


def test_a_long_run_draws_its_loss_curve_at_checkpoints_while_it_runs(tmp_path, monkeypatch):
    """Walk 50D: loss.png was drawn only when the run finished, so a person watching a run of hours had metrics.jsonl
    to plot by hand. At a checkpoint after LOSS_PLOT_EVERY_S (5 min) of distilling it is drawn from the iterations so
    far; a short run draws it only at its end, as before."""
    from mmdistill import run_status
    from mmdistill.recipes import image_dm

    image_dm.run(out=str(tmp_path / "short"), stop_after=2, **FAST_DM)
    assert not (tmp_path / "short" / "loss.png").exists()
    monkeypatch.setattr(run_status, "LOSS_PLOT_EVERY_S", 0.0)
    image_dm.run(out=str(tmp_path / "long"), stop_after=2, **FAST_DM)
    assert (tmp_path / "long" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_status(tmp_path / "long")["state"] == "stopped"
    image_dm.run(out=str(tmp_path / "long"), resume=True, **FAST_DM)  # finished: drawn once more, listed as written
    assert "loss.png" in load_synthetic(tmp_path / "long")[1]["written_files"]


def test_a_failed_drawing_does_not_silence_a_later_failed_record_write(tmp_path, monkeypatch, caplog):
    """The record's write and the mid-run loss picture shared one warned-once flag, so a picture that failed first hid
    a later refusal to write status.json (a full disk). Each failure kind is said once."""
    from mmdistill import plots, run_status

    def refused(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_status, "LOSS_PLOT_EVERY_S", 0.0)
    monkeypatch.setattr(plots, "plot_loss_curve", lambda *a, **k: 1 / 0)
    status = RunStatus(tmp_path, "mmdistill run image-dm", 10)
    status.begin(0)
    with caplog.at_level("WARNING", logger="mmdistill"):
        status.progress(1, 0.5, checkpointed=True)
        status.progress(2, 0.4, checkpointed=True)
        monkeypatch.setattr(run_status, "write_json", refused)
        status.set_state("stopped", "SIGTERM")
        status.set_state("stopped", "SIGTERM")
    assert caplog.text.count("loss.png could not be drawn mid-run (ZeroDivisionError") == 1
    assert caplog.text.count("could not be written (No space left on device)") == 1
