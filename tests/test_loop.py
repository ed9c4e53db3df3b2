"""Outer loop: resume ends in the same synthetic set; a diverging run keeps its last checkpoint."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError, DivergenceError
from mmdistill.loop import run_loop
from mmdistill.matchers import apply_update
from mmdistill.matchers.distribution import DistributionMatching
from mmdistill.matchers.gradient import GradientMatching
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask
from mmdistill.augment import DSA


def _setup(blobs, kind: str, lr: float = 0.1):
    syn = SyntheticSet.from_real(blobs, 2, generator(0, "init")).requires_grad_(True)
    net = build_network("convnet", (1, 8, 8), 3, width=16)
    aug = DSA()
    if kind == "dm":
        matcher = DistributionMatching(net=net, reinit=reinitialize, real=blobs, batch_real=6, augment=aug)
    else:
        matcher = GradientMatching(net=net, reinit=reinitialize, real=blobs, task=ClassificationTask(), outer_loop=2,
                                   inner_loop=1, batch_real=6, augment=aug)
    opt = torch.optim.SGD(syn.parameters(), lr=lr, momentum=0.5)
    return syn, matcher, opt


@pytest.mark.parametrize("kind", ["dm", "dc"])
def test_resume_is_bit_exact(tmp_path, blobs, kind, caplog):
    syn_a, m_a, opt_a = _setup(blobs, kind)
    run_loop(m_a, syn_a, opt_a, iterations=6, seed=3, out_dir=tmp_path / "a", checkpoint_every=2, progress=False)

    syn_b, m_b, opt_b = _setup(blobs, kind)
    first = run_loop(m_b, syn_b, opt_b, iterations=6, seed=3, out_dir=tmp_path / "b", checkpoint_every=2, progress=False, stop_after=3)
    assert first.iterations == 3
    syn_c, m_c, opt_c = _setup(blobs, kind)  # a new process: fresh objects, state from disk only
    with caplog.at_level("INFO", logger="mmdistill"):
        res = run_loop(m_c, syn_c, opt_c, iterations=6, seed=3, out_dir=tmp_path / "b", checkpoint_every=2, progress=False, resume=True)
    assert res.resumed_from == 3 and "at iteration 3 of 6" in caplog.text  # the log says where it went on from (walk 35A)
    assert torch.equal(syn_a.x, syn_c.x)
    assert not torch.equal(syn_a.x, SyntheticSet.from_real(blobs, 2, generator(0, "init")).x)  # it did learn something
    its = [r["it"] for r in __import__("mmdistill.io", fromlist=["MetricsLog"]).MetricsLog(tmp_path / "b" / "metrics.jsonl").read()]
    assert its == sorted(set(its))  # no duplicated log lines after resume


def test_resume_refuses_another_configuration(tmp_path, blobs):
    syn, m, opt = _setup(blobs, "dm")
    run_loop(m, syn, opt, iterations=2, seed=0, out_dir=tmp_path, resume_keys={"lr_data": 1.0, "ipc": 2}, progress=False)
    with pytest.raises(ConfigError, match=r"lr_data: 1\.0 -> 2\.0") as err:
        run_loop(m, syn, opt, iterations=4, seed=0, out_dir=tmp_path, resume_keys={"lr_data": 2.0, "ipc": 2}, resume=True, progress=False)
    assert "ipc" not in str(err.value)  # only the keys that changed are named
    run_loop(m, syn, opt, iterations=4, seed=0, out_dir=tmp_path, resume_keys={"lr_data": 1.0, "ipc": 2}, resume=True, progress=False)


class _ExplodesAt:
    """A matcher whose loss becomes NaN from iteration ``at`` on."""

    name = "explodes"

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def step(self, syn, optimizer, gen):
        scale = float("nan") if self.calls >= self.at else 1.0
        self.calls += 1
        return {"loss": apply_update((syn.x**2).mean() * scale, optimizer)}


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
    opt = torch.optim.SGD(syn.parameters(), lr=0.1)
    with pytest.raises(DivergenceError, match=r"iteration 3.*start again with --overwrite.*the last good checkpoint \(.*\) is kept"):
        run_loop(_ExplodesAt(3), syn, opt, iterations=10, seed=0, out_dir=tmp_path, checkpoint_every=2, progress=False)
    assert torch.isfinite(syn.x).all()  # the NaN update was refused
    fresh = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
    res = run_loop(_ExplodesAt(100), fresh, torch.optim.SGD(fresh.parameters(), lr=0.1), iterations=4, seed=0,
                   out_dir=tmp_path, checkpoint_every=2, progress=False, resume=True)
    assert res.resumed_from == 2  # the checkpoint written before the divergence


def test_divergence_names_the_rate_keys_of_the_optimizer_groups(tmp_path, blobs):
    from mmdistill.optim import RATE_KEY, rate_keys

    syn = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
    opt = torch.optim.SGD([{"params": [syn.x], "lr": 0.1, RATE_KEY: "lr_feat"}], lr=0.1)
    assert rate_keys(opt) == ["lr_feat"] and rate_keys(torch.optim.SGD(syn.parameters(), lr=0.1)) == []
    with pytest.raises(DivergenceError, match=r"iteration 1: .*Lower a learning rate of the synthetic set \(lr_feat\) and start again with --overwrite: resuming"):
        run_loop(_ExplodesAt(1), syn, opt, iterations=3, seed=0, out_dir=tmp_path, checkpoint_every=1, progress=False)
    fresh = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
    resumed = torch.optim.SGD([{"params": [fresh.x], "lr": 0.1, RATE_KEY: "lr_feat"}], lr=0.1)
    run_loop(_ExplodesAt(100), fresh, resumed, iterations=2, seed=0, out_dir=tmp_path, checkpoint_every=1, progress=False, resume=True)
    assert rate_keys(resumed) == ["lr_feat"]  # the tag survives a checkpoint round trip


def test_an_iteration_0_divergence_names_the_matchers_own_suspects(tmp_path, blobs):
    """Walk 39B D7: every iteration-0 divergence got trajectory matching's advice (step size, syn_steps, experts), also
    from matchers that have none of those (GCond on features scaled by 1e30). A matcher names its suspects
    (``initial_divergence``); one that does not gets the data's scale."""
    syn = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
    with pytest.raises(DivergenceError, match=r"iteration 0: .*diverged on the initial set \(the real data's scale") as err:
        run_loop(_ExplodesAt(0), syn, torch.optim.SGD(syn.parameters(), lr=0.1), iterations=2, seed=0, out_dir=tmp_path / "a",
                 progress=False)
    assert "syn_steps" not in str(err.value)
    own = _ExplodesAt(0)
    own.initial_divergence = "the inner learner's steps: lower net_lr"
    with pytest.raises(DivergenceError, match=r"diverged on the initial set \(the inner learner's steps: lower net_lr\)"):
        run_loop(own, syn, torch.optim.SGD(syn.parameters(), lr=0.1), iterations=2, seed=0, out_dir=tmp_path / "b", progress=False)


def test_loop_tells_a_matcher_each_iteration_index_also_after_resume(tmp_path, blobs):
    class Recorder:
        name = "recorder"

        def __init__(self):
            self.seen = []

        def start_iteration(self, it):
            self.seen.append(it)

        def step(self, syn, optimizer, gen):
            return {"loss": apply_update((syn.x ** 2).mean(), optimizer)}

    syn = SyntheticSet.from_real(blobs, 1, generator(0, "init")).requires_grad_(True)
    opt = torch.optim.SGD(syn.parameters(), lr=0.1)
    rec = Recorder()
    run_loop(rec, syn, opt, iterations=5, seed=0, out_dir=tmp_path, checkpoint_every=2, progress=False, stop_after=3)
    run_loop(rec, syn, opt, iterations=5, seed=0, out_dir=tmp_path, checkpoint_every=2, progress=False, resume=True)
    assert rec.seen == [0, 1, 2, 3, 4]


def _rewrite_header(path, **fields) -> None:
    """Rewrite checkpoint ``path`` with some of its header fields replaced (the tensors kept)."""
    from safetensors.torch import save_file

    from mmdistill.io import load_tensors_with_metadata

    tensors, meta = load_tensors_with_metadata(path)
    save_file(tensors, str(path), metadata={**meta, **fields})


@pytest.mark.parametrize("field, value, said", [
    ("resume_keys", "[" * 100_000 + "]" * 100_000, r"header field 'resume_keys' is not valid JSON \(nested too deeply\)"),
    ("synthetic", "[" * 100_000 + "]" * 100_000, r"header field 'synthetic' is not valid JSON \(nested too deeply\)"),
    ("elapsed", "nan", r"its header says elapsed 'nan'; expected seconds >= 0"),  # its manifest said "seconds": NaN
])
def test_a_checkpoint_header_that_is_nested_too_deeply_or_not_a_time_is_named(tmp_path, blobs, field, value, said):
    from mmdistill.errors import ArtifactError
    from mmdistill.loop import checkpoint_resume_keys

    syn, m, opt = _setup(blobs, "dm")
    run_loop(m, syn, opt, iterations=1, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, progress=False)
    ckpt = tmp_path / "checkpoint.safetensors"
    _rewrite_header(ckpt, **{field: value})
    if field == "resume_keys":
        assert checkpoint_resume_keys(ckpt) is None  # the run's early check: loading it names why
    with pytest.raises(ArtifactError, match=said) as err:
        run_loop(m, syn, opt, iterations=2, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, resume=True, progress=False)
    assert str(ckpt) in str(err.value)


def _resume_after(tmp_path, blobs, edit):
    """A 2-iteration run, its checkpoint edited by ``edit(tensors, optimizer JSON)``, resumed for 4 iterations."""
    import json

    from mmdistill.io import load_tensors_with_metadata
    from safetensors.torch import save_file

    syn, m, opt = _setup(blobs, "dm")
    run_loop(m, syn, opt, iterations=2, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, progress=False)
    ckpt = tmp_path / "checkpoint.safetensors"
    tensors, meta = load_tensors_with_metadata(ckpt)
    info = json.loads(meta["optimizer"])
    edit(tensors, info)
    save_file(tensors, str(ckpt), metadata={**meta, "optimizer": json.dumps(info)})
    syn, m, opt = _setup(blobs, "dm")
    return run_loop(m, syn, opt, iterations=4, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, resume=True, progress=False), opt


def _set(tensors, name, value):
    tensors[name] = value


@pytest.mark.parametrize("edit, said", [
    (lambda t, i: i["param_groups"][0].update(lr="abc"), None),  # a TypeError at the first step before
    (lambda t, i: _set(t, "opt.0.momentum_buffer", torch.tensor(3.0)), r"opt\.0\.momentum_buffer has shape \[\], expected \[6, 1, 8, 8\]"),
    (lambda t, i: (t.pop("opt.0.momentum_buffer"), i.update(tensors=[]), i["state"]["0"].update(momentum_buffer=[1, 2])),
     r"state value 0\.momentum_buffer is list; expected a tensor"),
    (lambda t, i: t["opt.0.momentum_buffer"].view(-1)[0].fill_(float("nan")), r"opt\.0\.momentum_buffer holds values that are NaN"),
    (lambda t, i: i["state"]["0"].update(step="x"), r"parameter 0 holds \['momentum_buffer', 'step'\], this run's optimizer keeps \['momentum_buffer'\]"),
    (lambda t, i: _set(t, "opt.0.momentum_buffer", torch.zeros(6, 1, 8, 8)) or i["param_groups"].append({"params": [1]}),
     r"parameter groups of \[1, 1\] tensors, this run's \[1\]"),
    (lambda t, i: _set(t, "opt.x.y", torch.zeros(1)), r"optimizer state 'opt\.x\.y' names no parameter"),
], ids=["lr-text", "buffer-scalar", "buffer-a-list", "buffer-nan", "state-extra-key", "another-group", "name-no-parameter"])
def test_a_crafted_optimizer_state_in_a_checkpoint_is_named_or_ignored(tmp_path, blobs, edit, said):
    """Walk 49A: load_state_dict took a state tensor of another shape, a list for a tensor or a text learning rate from a
    received checkpoint, and the resumed run died at its first step with a traceback from torch.optim; a NaN momentum
    ended in 'lower a learning rate' advice. Each is named as the checkpoint's damage now (the run's own rates are kept)."""
    from mmdistill.errors import ArtifactError

    if said is None:
        res, opt = _resume_after(tmp_path, blobs, edit)
        assert res.iterations == 4 and opt.param_groups[0]["lr"] == 0.1
        return
    with pytest.raises(ArtifactError, match=said) as err:
        _resume_after(tmp_path, blobs, edit)
    assert "checkpoint.safetensors" in str(err.value)


def test_a_checkpoints_learning_rate_does_not_replace_the_runs(tmp_path, blobs):
    """Walk 49A: a checkpoint whose optimizer JSON says lr 1e6 (its resume keys say the run's rate) was resumed with
    1e6: load_state_dict takes a group's hyper-parameters from the file. The run's own (compared by key) are kept."""
    res, opt = _resume_after(tmp_path, blobs, lambda t, i: i["param_groups"][0].update(lr=1e6, momentum=-5.0))
    assert res.resumed_from == 2 and opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.5


def test_a_none_an_older_torch_kept_in_the_optimizer_state_still_resumes(tmp_path, blobs):
    """A state value None (what torch < 2.2 kept for SGD without momentum) means nothing kept: not refused as damage."""
    def none_buffer(tensors, info):
        tensors.pop("opt.0.momentum_buffer")
        info.update(tensors=[])
        info["state"]["0"]["momentum_buffer"] = None

    res, _ = _resume_after(tmp_path, blobs, none_buffer)
    assert res.resumed_from == 2 and res.iterations == 4


def test_a_checkpoint_lacking_a_tensor_of_the_runs_set_is_named(tmp_path, blobs):
    """Walk 49A: a checkpoint without one of the run's learned tensors (an MTT checkpoint whose syn_lr was dropped from
    its tensors and header) resumed, that tensor going on from its initial value beside the others."""
    import json

    from safetensors.torch import save_file

    from mmdistill.errors import ArtifactError
    from mmdistill.io import load_tensors_with_metadata

    def setup():
        syn, m, _ = _setup(blobs, "dm")
        syn.data["syn_lr"] = torch.tensor([0.01], requires_grad=True)
        return syn, m, torch.optim.SGD([{"params": [syn.data["x"]]}, {"params": [syn.data["syn_lr"]]}], lr=0.1, momentum=0.5)

    syn, m, opt = setup()
    run_loop(m, syn, opt, iterations=2, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, progress=False)
    ckpt = tmp_path / "checkpoint.safetensors"
    tensors, meta = load_tensors_with_metadata(ckpt)
    header = json.loads(meta["synthetic"])
    for field in ("tensors", "dtypes"):
        header[field].pop("data.syn_lr")
    save_file({k: v for k, v in tensors.items() if k != "syn.data.syn_lr"}, str(ckpt), metadata={**meta, "synthetic": json.dumps(header)})
    syn, m, opt = setup()
    with pytest.raises(ArtifactError, match=r"checkpoint.safetensors lacks data\.syn_lr of this run's synthetic set"):
        run_loop(m, syn, opt, iterations=4, seed=0, out_dir=tmp_path, resume_keys={"ipc": 2}, resume=True, progress=False)


def test_a_time_based_checkpoint_bounds_what_a_hard_kill_loses_and_resumes_exactly(tmp_path, blobs):
    """checkpoint_every counts iterations only: at 15 s an iteration (image-text on a CPU) the default 100 left 25
    minutes of work to a kill -9 or an out-of-memory kill. ``checkpoint_minutes`` also checkpoints once that much wall
    time has passed; here (a few microseconds) after every iteration, and a run killed without a word at iteration 4
    resumes from iteration 4 to the set of an uninterrupted run."""
    from mmdistill.io import CHECKPOINT_FILE
    from mmdistill.loop import checkpoint_iteration

    syn_a, m_a, opt_a = _setup(blobs, "dm")
    run_loop(m_a, syn_a, opt_a, iterations=6, seed=3, out_dir=tmp_path / "a", checkpoint_every=100, progress=False)
    held: list[int | None] = []

    def killed(it, stats):
        held.append(checkpoint_iteration(tmp_path / "b" / CHECKPOINT_FILE) if (tmp_path / "b" / CHECKPOINT_FILE).exists() else None)
        if it == 4:
            raise SystemExit(137)  # not a stop the loop checkpoints: what a SIGKILL leaves is what was written before

    syn_b, m_b, opt_b = _setup(blobs, "dm")
    with pytest.raises(SystemExit):
        run_loop(m_b, syn_b, opt_b, iterations=6, seed=3, out_dir=tmp_path / "b", checkpoint_every=100, checkpoint_minutes=1e-7,
                 progress=False, on_iteration=killed)
    assert held == [None, 1, 2, 3, 4]
    syn_c, m_c, opt_c = _setup(blobs, "dm")
    res = run_loop(m_c, syn_c, opt_c, iterations=6, seed=3, out_dir=tmp_path / "b", checkpoint_every=100, progress=False, resume=True)
    assert res.resumed_from == 4 and torch.equal(syn_a.x, syn_c.x)
    held.clear()
    syn_d, m_d, opt_d = _setup(blobs, "dm")  # none: iterations only, as before
    run_loop(m_d, syn_d, opt_d, iterations=6, seed=3, out_dir=tmp_path / "d", checkpoint_every=100, checkpoint_minutes=None,
             progress=False, on_iteration=lambda it, s: held.append((tmp_path / "d" / CHECKPOINT_FILE).exists()))
    assert held == [False] * 6
    with pytest.raises(ConfigError, match="checkpoint_minutes must be > 0"):
        run_loop(m_d, syn_d, opt_d, iterations=6, seed=3, out_dir=tmp_path / "e", checkpoint_minutes=0, progress=False)
