"""Evaluation runs at the same time on threads (mmdistill.concurrency): same numbers as each run alone."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch
from torch import nn

from mmdistill.augment import DSA
from mmdistill.classification import trainer
from mmdistill.concurrency import default_threads, draws_global_randomness, run_jobs, training_draws_global_rng
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan, evaluate_network
from mmdistill.nets import build_network, reinitialize
from mmdistill.task import ClassificationTask
from mmdistill.training import TrainProtocol


def test_run_jobs_keeps_order_and_restores_the_thread_count():
    before = torch.get_num_threads()
    seen, done = [], []

    def job(i):
        def run():
            time.sleep(0.02 * (3 - i))  # finish out of order
            seen.append((threading.current_thread().name, torch.get_num_threads()))
            return i * i
        return run

    assert run_jobs([job(i) for i in range(4)], threads=2, on_done=done.append) == [0, 1, 4, 9]
    assert sorted(done) == [0, 1, 2, 3]
    assert torch.get_num_threads() == before
    assert all(name.startswith("mmdistill-job") for name, _ in seen)
    assert all(n == max(1, before // 2) for _, n in seen)
    assert run_jobs([job(1)], threads=4) == [1]  # one job: run here
    with pytest.raises(ValueError, match="threads must be >= 1"):
        run_jobs([job(0)], threads=0)


def test_run_jobs_raises_a_jobs_error_and_restores_threads():
    before = torch.get_num_threads()

    def bad():
        raise RuntimeError("run 1 failed")

    with pytest.raises(RuntimeError, match="run 1 failed"):
        run_jobs([lambda: 1, bad, lambda: 3], threads=2)
    assert torch.get_num_threads() == before


def test_a_ctrl_c_stops_the_running_jobs_at_their_next_stop_point_and_never_starts_the_queued_ones():
    """Walk 40A: a Ctrl-C (or SIGTERM) in the calling thread waited for every queued job to start and finish (12 experts
    trained after a SIGTERM at 8 s, an evaluation stopped 4.5 minutes after Ctrl-C). Now the queued jobs are cancelled
    and the running ones end at their next stop point (a training step or an expert's epoch)."""
    from mmdistill.concurrency import JobsStopped, stop_point

    started, ended = [], []

    def long_job(i):
        def run():
            started.append(i)
            try:
                for _ in range(2000):  # 20 s if nothing stops it
                    stop_point()
                    time.sleep(0.01)
            except JobsStopped:
                ended.append(i)
                raise
            return i
        return run

    def interrupt(i):
        raise KeyboardInterrupt  # as Ctrl-C in the calling thread when the first job is done

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_jobs([lambda: -1] + [long_job(i) for i in range(8)], threads=2, on_done=interrupt)
    assert time.perf_counter() - t0 < 5
    assert len(started) <= 2 and sorted(ended) == sorted(started)  # never the queued ones; the running ones stopped
    stop_point()  # nothing is left stopping: a later run_jobs runs
    assert run_jobs([lambda: 1, lambda: 2], threads=2) == [1, 2]


def test_a_failed_job_stops_the_running_ones_too():
    from mmdistill.concurrency import stop_point

    steps = []

    def slow():
        for k in range(2000):
            stop_point()
            steps.append(k)
            time.sleep(0.01)

    def bad():
        time.sleep(0.05)
        raise RuntimeError("run 1 failed")

    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="run 1 failed"):
        run_jobs([slow, bad, slow], threads=2)
    assert time.perf_counter() - t0 < 5 and len(steps) < 500


def test_one_calls_failure_never_stops_another_calls_jobs():
    """Review 40b: the stop flag was one for the process, so a failure in one run_jobs call stopped the healthy jobs of
    another call running at the same time (and a third Ctrl-C could leave it set for every later call)."""
    from mmdistill.concurrency import stop_point

    def slow(n):
        def run():
            for _ in range(n):
                stop_point()
                time.sleep(0.01)
            return n
        return run

    def bad():
        time.sleep(0.05)
        raise RuntimeError("run 1 failed")

    results = {}

    def other_call():
        results["other"] = run_jobs([slow(40), slow(40)], threads=2)

    t = threading.Thread(target=other_call)
    t.start()
    with pytest.raises(RuntimeError, match="run 1 failed"):
        run_jobs([slow(2000), bad], threads=2)
    t.join()
    assert results["other"] == [40, 40]


def test_defaults_and_dropout_detection():
    assert default_threads("cpu") == max(1, min(torch.get_num_threads(), 8))
    assert default_threads("meta") == 1
    assert draws_global_randomness(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
    assert not draws_global_randomness(build_network("convnet", (1, 8, 8), 3, width=8))
    make = lambda gen: build_network("convnet", (1, 8, 8), 3, width=8)
    assert not training_draws_global_rng(make, DSA("crop")) and not training_draws_global_rng(make, None)
    assert training_draws_global_rng(make, lambda x, seed: x)  # an augmentation of unknown randomness
    state = torch.random.get_rng_state()
    training_draws_global_rng(lambda gen: nn.Linear(4, 4), None)  # builds a network without moving the global RNG
    assert torch.equal(state, torch.random.get_rng_state())


def _plan(blobs, threads, weights, dropout=False):
    """A two-set plan whose trainer records each run's accuracy and final weights in ``weights`` under
    (set size, run seed); the network built by a run is kept thread-locally until the run scores it."""
    local = threading.local()

    def make(gen):
        net = build_network("convnet", (1, 8, 8), 3, width=8)
        if dropout:
            net = nn.Sequential(net, nn.Dropout(0.0))
        reinitialize(net, gen)
        local.net = net
        return net

    train = trainer(make, blobs, TrainProtocol(epochs=4, batch_size=12), task=ClassificationTask(),
                    augment=DSA("color_crop_cutout_scale_rotate"))

    def recording(train_set, gen):
        key = (train_set[0].shape[0], int(gen.initial_seed()))
        scores = train(train_set, gen)
        weights[key] = scores["accuracy"], torch.cat([p.detach().flatten() for p in local.net.parameters()])
        return scores

    sets = {"all": EvalSet((blobs.x, blobs.y)), "half": EvalSet((blobs.x[::2], blobs.y[::2]))}
    network = NetworkPlan("convnet", recording, sets, draws_no_global_rng=not dropout)
    return EvaluationPlan(metric="accuracy", networks=[network], runs=3, seed=5, progress=False,
                          seeded_runs=True, threads=threads), network


def test_threaded_runs_equal_runs_alone_with_the_same_thread_share(blobs):
    """Two threads with one intra-op thread each give, bit for bit, the weights and scores of the same runs
    one after the other on one intra-op thread."""
    def evaluate(torch_threads, plan_threads, weights):
        before = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
        try:
            return evaluate_network(*_plan(blobs, plan_threads, weights))
        finally:
            torch.set_num_threads(before)

    alone, together = {}, {}
    rows_alone = evaluate(1, 1, alone)
    rows_together = evaluate(2, 2, together)
    assert sorted(alone) == sorted(together) and len(alone) == 6
    for key in alone:
        assert alone[key][0] == together[key][0]
        assert torch.equal(alone[key][1], together[key][1]), key
    assert {k: v.runs for k, v in rows_alone.items()} == {k: v.runs for k, v in rows_together.items()}


def test_networks_with_dropout_train_one_at_a_time(blobs, monkeypatch):
    import mmdistill.evaluation as evaluation

    asked = []
    real = evaluation.run_jobs
    monkeypatch.setattr(evaluation, "run_jobs", lambda jobs, threads, on_done=None: asked.append(threads) or real(jobs, threads, on_done))
    plan, net = _plan(blobs, 2, {}, dropout=True)
    evaluate_network(plan, net)
    plan, net = _plan(blobs, 2, {})
    evaluate_network(plan, net)
    assert asked == [1, 2]


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no fcntl locks here")
def test_a_lock_file_that_is_a_link_or_no_regular_file_is_refused_never_written(tmp_path):
    """Walk 39A: a received run folder holding ``.mmdistill.lock -> ~/file`` made check / eval --write / run --resume
    truncate that file and write the lock's line into it (a dangling link: create it)."""
    from mmdistill.errors import ConfigError
    from mmdistill.run_lock import LOCK_FILE, RunFolderLock

    folder, victim = tmp_path / "run", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_text("IMPORTANT USER DATA\n")
    lock = folder / LOCK_FILE
    for target in (victim, tmp_path / "created.txt"):  # an existing file, and a dangling link
        os.symlink(target, lock)
        with pytest.raises(ConfigError, match=f"{lock} is a symbolic link \\(to {target}\\), not mmdistill's lock file"):
            RunFolderLock(folder, "mmdistill check").acquire()
        assert os.path.islink(lock)
        lock.unlink()
    assert victim.read_text() == "IMPORTANT USER DATA\n" and not (tmp_path / "created.txt").exists()
    os.mkfifo(lock)
    with pytest.raises(ConfigError, match="is not a regular file"):
        RunFolderLock(folder, "mmdistill check").acquire()
    lock.unlink()
    os.link(victim, lock)  # a hard link: the same file under a second name
    with pytest.raises(ConfigError, match="is a file with 2 names"):
        RunFolderLock(folder, "mmdistill check").acquire()
    lock.unlink()
    assert victim.read_text() == "IMPORTANT USER DATA\n"
    held = RunFolderLock(folder, "mmdistill run image-dm")  # a plain folder is locked as before
    held.acquire()
    with pytest.raises(ConfigError, match=r"is in use by process \d+ \(mmdistill run image-dm\)"):
        RunFolderLock(folder, "mmdistill check").acquire()
    held.release()
    assert not os.path.lexists(lock)
