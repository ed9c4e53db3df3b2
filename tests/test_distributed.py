"""Distillation and evaluation over several torchrun processes (gloo on CPU): the same set and the same
metrics as one process; what cannot be sharded is refused by name."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch

from mmdistill.data import LabeledTensors
from mmdistill.distributed import Workers, all_reduce_grads, all_reduce_sum, broadcast_json
from mmdistill.errors import ConfigError
from mmdistill.io import load_tensors
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.nets import build_network, reinitialize
from mmdistill.synthetic import SyntheticSet

_WORKER = textwrap.dedent(
    """
    import dataclasses
    import sys
    import torch
    torch.set_num_threads(1)
    from mmdistill.augment import DSA
    from mmdistill.data import LabeledTensors
    from mmdistill.distributed import close_workers, init_workers
    from mmdistill.io import save_tensors
    from mmdistill.matchers.gradient import GradientMatching
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.recipes.image_dm import RECIPE
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet
    from mmdistill.task import ClassificationTask

    out = sys.argv[1]
    workers = init_workers(torch.device("cpu"))  # DC's matcher directly: 3 classes of 8x8 noise, width-8 ConvNet
    g = torch.Generator().manual_seed(0)
    real = LabeledTensors(torch.randn(36, 1, 8, 8, generator=g), torch.arange(36) % 3, ["a", "b", "c"])
    x = torch.randn(6, 1, 8, 8, generator=g).requires_grad_(True)
    syn = SyntheticSet({"x": x}, torch.arange(6) // 2, 3)
    opt = torch.optim.SGD([x], lr=0.1, momentum=0.5)
    net = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
    dc = GradientMatching(net, reinitialize, real, ClassificationTask(), outer_loop=2, inner_loop=1, batch_real=6,
                          batch_train=4, augment=DSA(), per_class=True, workers=workers)
    losses = [dc.step(syn, opt, generator(0, "iteration", it))["loss"] for it in range(2)]
    if workers.rank == 0:
        save_tensors(out + "-dc.safetensors", {"x": x.detach(), "losses": torch.tensor(losses, dtype=torch.float64)})
    # MTT's unrolled gradient with each student minibatch split over the ranks (float64: compared to 1e-9)
    from types import SimpleNamespace
    from mmdistill.buffer import ParamLayout
    from mmdistill.matchers.trajectory import ClassificationStudent, TrajectoryMatching, add_step_size, plan_steps
    net64 = build_network("convnet", (1, 8, 8), 3, width=8, depth=2).double()
    reinitialize(net64, generator(0, "net"))  # the same student start on every rank and in every run
    layout = ParamLayout.of(net64)
    x64 = torch.randn(6, 1, 8, 8, generator=g, dtype=torch.float64).requires_grad_(True)
    syn64 = SyntheticSet({"x": x64}, torch.arange(6) // 2, 3)
    step = add_step_size(syn64, 0.05).requires_grad_(True)
    stub = SimpleNamespace(epochs=4, num_params=layout.num_params, path="stub", num_experts=1)
    mtt = TrajectoryMatching(ClassificationStudent(net64, ClassificationTask(), augment=DSA()), layout, stub, syn_steps=3,
                             expert_epochs=1, max_start_epoch=1, batch_syn=4, workers=workers)
    w0 = torch.cat([p.detach().reshape(-1) for p in net64.parameters()])
    target = w0 + 0.01 * torch.randn(w0.shape, generator=g, dtype=torch.float64)
    plan = plan_steps(6, 3, 4, generator(0, "plan"))
    value = mtt.mtt_backward(syn64, w0, target, plan, [x64, step])
    grads = {"x": x64.grad.clone(), "syn_lr": step.grad.reshape(1).clone(), "loss": torch.tensor([value], dtype=torch.float64)}
    x64.grad, step.grad = None, None  # TESLA's reverse sweep, split the same way
    tesla = TrajectoryMatching(ClassificationStudent(net64, ClassificationTask(), augment=DSA()), layout, stub, syn_steps=3,
                               expert_epochs=1, max_start_epoch=1, batch_syn=4, method="tesla", workers=workers)
    value = tesla.tesla_backward(syn64, w0, target, plan)
    grads.update({"tesla_x": x64.grad, "tesla_syn_lr": step.grad.reshape(1), "tesla_loss": torch.tensor([value], dtype=torch.float64)})
    if workers.rank == 0:
        save_tensors(out + "-mtt.safetensors", grads)
    # DM end to end (the process group is joined already: the run reuses it and leaves it open);
    # digits (10 classes, 8x8), IPC 2, 2 iterations; 3 evaluation runs: an uneven split of runs
    cfg = RECIPE.config(dataset="digits", ipc=2, iterations=2, batch_real=8, eval_runs=3, eval_epochs=2, herding_epochs=1,
                        progress=False, shard_classes=True, eval_vectorize=1, baselines=["random_real"], checkpoint_every=1,
                        out=out + "-dm")
    RECIPE.run(cfg)
    if workers.world > 1:  # a matcher that does not shard is refused by name
        from mmdistill.errors import ConfigError
        from mmdistill.modalities.image import MODALITY
        from mmdistill.run import distill
        try:
            distill("image-dm", "dm", dataclasses.replace(cfg, out=out + "-refused"), MODALITY,
                    lambda ctx: type("Unsharded", (), {"step": lambda self, *a: {}})())  # a matcher, without sharded
        except ConfigError as exc:
            open(out + "-refused.txt", "w").write(str(exc))
    from mmdistill.errors import ConfigError as Refused
    try:  # the finished run's folder again: rank 0 refuses it and every rank stops with that line (rank 1 crashed at
        RECIPE.run(cfg)  # the barrier with a broken connection)
    except Refused as exc:
        open(f"{out}-again-{workers.rank}.txt", "w").write(str(exc))
    from mmdistill.errors import AlreadyFinished
    try:  # requeued with --resume (walk 49D): every rank is told it is finished, none gets a plain refusal (exit 2)
        RECIPE.run(dataclasses.replace(cfg, resume=True))
    except AlreadyFinished as exc:
        open(f"{out}-finished-{workers.rank}.txt", "w").write(str(exc))
    close_workers(workers)
    from mmdistill.distributed import end_process
    sys.exit(end_process(0))  # as mmdistill's command line ends
    """
)


def test_two_processes_distil_and_evaluate_exactly_as_one(tmp_path, run_process_group):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    two = run_process_group([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path / "two")])
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-8000:]  # a native abort: the fault handler's stacks too
    one = run_process_group([sys.executable, str(script), str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-3000:]
    for name in ("one-dc.safetensors", "one-dm/synthetic.safetensors"):  # DC and DM: the same set, bit for bit
        a, b = load_tensors(tmp_path / name), load_tensors(tmp_path / name.replace("one", "two"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    ma, mb = (json.loads((tmp_path / d / "manifest.json").read_text())["metrics"] for d in ("one-dm", "two-dm"))
    assert ma == mb and len(ma["distilled"]["runs"]) == 3 and len(ma["random_real"]["runs"]) == 3
    la, lb = ((tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("one-dm", "two-dm"))
    assert [json.loads(x)["loss"] for x in la] == [json.loads(x)["loss"] for x in lb]
    assert "does not shard" in (tmp_path / "two-refused.txt").read_text()
    for name in ("one-again-0.txt", "two-again-0.txt", "two-again-1.txt"):
        assert "already holds a run" in (tmp_path / name).read_text(), name
    for name in ("one-finished-0.txt", "two-finished-0.txt", "two-finished-1.txt"):
        assert "holds a finished run (2 of 2 iterations)" in (tmp_path / name).read_text(), name
    a, b = load_tensors(tmp_path / "one-mtt.safetensors"), load_tensors(tmp_path / "two-mtt.safetensors")
    assert a["x"].abs().sum() > 0 and a["syn_lr"].abs().sum() > 0
    for k in a:  # MTT and TESLA split over 2 processes: the single-process gradient to float rounding
        torch.testing.assert_close(b[k], a[k], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(a["tesla_x"], a["x"], rtol=1e-9, atol=1e-12)  # and TESLA's is MTT's


def test_dm_over_several_processes_needs_shard_classes():
    net = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
    real = LabeledTensors(torch.randn(12, 1, 8, 8), torch.arange(12) % 3, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="shard_classes=true"):
        DistributionMatching(net, reinitialize, real, workers=Workers(0, 2))
    with pytest.raises(ConfigError, match="shard_classes"):
        DistributionMatching(net, reinitialize, None, per_class=True, real_embeddings=lambda n, g: (None, None),
                             syn_embeddings=lambda n, d: None)


def test_per_class_dm_is_deterministic_and_trains_every_class():
    net = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
    real = LabeledTensors(torch.randn(30, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 3, ["a", "b", "c"])
    finals = []
    for _ in range(2):
        x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        syn = SyntheticSet({"x": x}, torch.arange(6) % 3, 3)
        start = x.detach().clone()
        opt = torch.optim.SGD([x], lr=1.0)
        dm = DistributionMatching(net, reinitialize, real, batch_real=4, per_class=True)
        stats = dm.step(syn, opt, torch.Generator().manual_seed(5))
        assert stats["loss"] > 0
        finals.append(x.detach().clone())
        assert all(not torch.equal(finals[-1][i], start[i]) for i in range(6))  # every class's samples moved
    assert torch.equal(finals[0], finals[1])


def test_one_process_helpers_are_the_identity():
    w = Workers()
    t = torch.arange(4.0)
    assert all_reduce_sum(t, w) is t and broadcast_json({"a": 1}, w) == {"a": 1}
    p = torch.zeros(3, requires_grad=True)
    all_reduce_grads([p], w)
    assert p.grad is None
    assert Workers(1, 3).mine(range(7)) == [1, 4] and Workers(1, 3).owner(5) == 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(script: str, args: list[str], timeout: float = 120) -> list:
    """``script`` run as ranks 0 and 1 of a gloo group by plain processes (no torchrun agent: a rank that dies does
    not get the other killed), each to completion; returns their CompletedProcess objects."""
    import os
    import subprocess

    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
                                   "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2"}) for r in (0, 1)]
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"{script} timed out")
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


_LOSES_A_PEER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from mmdistill.distributed import all_reduce_sum, close_workers, init_workers
    from mmdistill.errors import PeerLost
    from mmdistill.loop import checkpoint_iteration, run_loop
    from mmdistill.matchers import apply_update
    from mmdistill.synthetic import SyntheticSet

    workers = init_workers(torch.device("cpu"))

    class Summed:  # every step sums its loss over the ranks; rank 1 dies in its third
        name = "summed"
        calls = 0

        def step(self, syn, optimizer, gen):
            if workers.rank == 1 and self.calls == 2:
                os._exit(9)
            self.calls += 1
            loss = all_reduce_sum((syn.x ** 2).mean().detach(), workers)
            return {"loss": apply_update((syn.x ** 2).mean(), optimizer) + 0 * float(loss)}

    syn = SyntheticSet({"x": torch.ones(4, 2)}, torch.tensor([0, 0, 1, 1]), 2).requires_grad_(True)
    out = Path(sys.argv[1])
    try:
        run_loop(Summed(), syn, torch.optim.SGD(syn.parameters(), lr=0.1), iterations=10, seed=0, out_dir=out,
                 checkpoint_every=100, progress=False, writer=workers.rank == 0)
    except PeerLost as lost:
        (out / "lost.json").write_text(json.dumps({"message": str(lost), "held": checkpoint_iteration(out / "checkpoint.safetensors")}))
    """
)


def test_a_lost_peer_is_one_line_and_the_writer_keeps_the_interrupted_iteration(tmp_path):
    """A torchrun process that dies (kill -9, the OOM killer, a node lost) left the other a 40-line gloo traceback
    ("Connection reset by peer") and lost every iteration since the last periodic checkpoint; the survivor raises
    PeerLost (exit 7) naming the iteration, and the writer keeps the start of the interrupted iteration."""
    script = tmp_path / "worker.py"
    script.write_text(_LOSES_A_PEER)
    (tmp_path / "run").mkdir()
    rank0, rank1 = _two_ranks(str(script), [str(tmp_path / "run")])
    assert rank1.returncode == 9 and rank0.returncode == 0, rank0.stderr[-3000:]
    lost = json.loads((tmp_path / "run" / "lost.json").read_text())
    assert lost["message"].startswith("another process of this torchrun job stopped or cannot be reached at iteration 2 of 10 (")
    assert lost["message"].endswith(f"the checkpoint {tmp_path / 'run' / 'checkpoint.safetensors'} holds the first 2 iterations: "
                                    "continue with the same command and --resume (from Python: the same run(...) call with resume=True)")
    assert lost["held"] == 2


_UNEVEN_EXPERTS = textwrap.dedent(
    """
    import datetime, sys, time
    import torch
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(seconds=2))  # torch's: 30 min (gloo), 10 (nccl)
    from mmdistill import experts
    from mmdistill.buffer import ExpertSpec, ParamLayout
    from mmdistill.distributed import current_workers
    from mmdistill.nets import build_network, reinitialize

    experts.SHARD_POLL_SECONDS = 0.2

    def make_net(gen):
        net = build_network("mlp", (4,), 2, hidden=4)
        reinitialize(net, gen)
        return net

    calls = []

    def epoch(net, opt, gen):  # rank 0's second expert (expert 2) takes longer than the group's timeout
        calls.append(1)
        if len(calls) == 2:
            time.sleep(3)
        return 0.0

    spec = ExpertSpec("toy", "mlp", 2, ParamLayout.of(make_net(torch.Generator())), [4])
    training = experts.ExpertTraining(num_experts=3, epochs=1, lr=0.1, batch_size=4)
    buf = experts.train_experts(sys.argv[1], spec, training, make_net, epoch, progress=False, workers=current_workers())
    print("experts", buf.num_experts)
    torch.distributed.destroy_process_group()
    """
)


def test_ranks_of_uneven_expert_shares_wait_for_each_other_past_the_group_timeout(tmp_path):
    """Experts are shared out i % K: with a count K does not divide (the docs' 8 processes, 100 experts) the ranks done
    first waited in a barrier, which fails once another's last expert takes longer than the process group's timeout
    (10 minutes under nccl); they wait for the other shards outside any collective."""
    script = tmp_path / "worker.py"
    script.write_text(_UNEVEN_EXPERTS)
    rank0, rank1 = _two_ranks(str(script), [str(tmp_path / "buf")])
    assert rank0.returncode == rank1.returncode == 0, rank0.stderr[-2000:] + rank1.stderr[-2000:]
    assert "experts 3" in rank0.stdout and (tmp_path / "buf" / "index.json").exists()


def test_the_group_mmdistill_creates_waits_longer_than_torchs_default(monkeypatch):
    """A rank with a smaller share (an evaluation network some ranks train, rank 0 writing the set) waits in a
    collective; torch's default timeout (10 minutes under nccl) is shorter than a video evaluation network of the
    paper's settings trains. A group the caller created is left as it is."""
    import datetime

    import mmdistill.distributed as distributed

    asked = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: asked.update(kw))
    monkeypatch.setattr(distributed, "_JOINED", False)  # given back after: this process joined no group
    w = distributed.init_workers(torch.device("cpu"))
    assert (w.rank, w.world, w.owns_group) == (1, 2, True)
    assert asked == {"backend": "gloo", "timeout": distributed.GROUP_TIMEOUT} and distributed.GROUP_TIMEOUT >= datetime.timedelta(hours=1)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    asked.clear()
    assert distributed.init_workers(torch.device("cpu")).owns_group is False and asked == {}


def test_a_sigterm_under_torchrun_says_it_may_follow_another_process_failure(monkeypatch):
    """torchrun stops every process with SIGTERM once one fails: the others said only "stopped by SIGTERM; continue
    with the same command and --resume", which does not help when the cause is another rank's bad input (walk 44C)."""
    import signal

    from mmdistill.errors import InterruptedRun
    from mmdistill.exits import describe
    from mmdistill.stop_signals import Terminated

    hint = "(under torchrun, a SIGTERM also stops every process when another one failed: its own error: line names why)"
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert hint not in describe(Terminated())
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert describe(Terminated()).endswith(hint)
    assert describe(InterruptedRun("stopped by SIGTERM at iteration 3 of 10; ...", signum=signal.SIGTERM)).endswith(hint)
    assert hint not in describe(KeyboardInterrupt()) and hint not in describe(InterruptedRun("interrupted at iteration 3"))


_ENDS = textwrap.dedent(
    """
    import logging, sys
    import torch
    from mmdistill.distributed import close_workers, end_process, init_workers
    workers = init_workers(torch.device("cpu"))
    close_workers(workers)
    print("rank", workers.rank, "done")  # buffered: end_process flushes it
    logging.getLogger("mmdistill").warning("a last log line")
    sys.exit(end_process(3))
    """
)


def test_a_process_that_joined_a_group_ends_with_its_output_and_code(tmp_path):
    """end_process ends a torchrun process without the interpreter's teardown (where torch's gloo objects now and then
    aborted it after a finished run): its printed lines and logs are out and the exit code is the one given."""
    script = tmp_path / "ends.py"
    script.write_text(_ENDS)
    for r, proc in enumerate(_two_ranks(str(script), [])):
        assert proc.returncode == 3, proc.stderr[-2000:]
        assert f"rank {r} done" in proc.stdout and "a last log line" in proc.stderr
    from mmdistill.distributed import end_process

    assert end_process(5) == 5  # no group joined in this process: the caller goes on
