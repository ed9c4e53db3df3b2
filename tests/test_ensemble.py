"""The vectorised evaluation ensemble (mmdistill.ensemble) against sequential training, network by network."""

from __future__ import annotations

import pytest
import torch

from mmdistill.augment import DSA
from mmdistill.classification import many_trainer, trainer
from mmdistill.ensemble import can_vectorize, default_vectorize, train_many_from_scratch
from mmdistill.evaluation import EvalSet, score_runs
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import generator
from mmdistill.task import ClassificationTask
from mmdistill.training import TrainProtocol, train_from_scratch


def _factory(name="convnet", **kw):
    def make(gen):
        net = build_network(name, (1, 8, 8), 3, **kw)
        reinitialize(net, gen)
        return net
    return make


def _sets(k, n=24, soft=False):
    out = []
    for r in range(k):
        g = torch.Generator().manual_seed(100 + r)
        x = torch.randn(n, 1, 8, 8, generator=g)
        y = torch.arange(3).repeat(n // 3)
        t = torch.nn.functional.one_hot(y, 3).float() * 3 + torch.randn(n, 3, generator=g) if soft else y
        out.append((x, t))
    return out


@pytest.mark.parametrize("soft", [False, True])
def test_ensemble_equals_sequential_per_network(soft):
    """Same init, data order and DSA draws per network: the weights agree to float tolerance."""
    make = _factory(width=8)
    proto = TrainProtocol(epochs=6, batch_size=10)  # several batches per epoch and the lr decay
    aug, task = DSA("color_crop_cutout_scale_rotate"), ClassificationTask()
    sets = _sets(3, soft=soft)
    seq, seq_losses = [], []
    for r, (x, t) in enumerate(sets):
        gen = generator(0, "eval", r)
        net = make(gen)
        seq_losses.append(train_from_scratch(net, x, t, proto, gen, task=task, augment=aug))
        seq.append(net)
    gens = [generator(0, "eval", r) for r in range(3)]
    nets = [make(g) for g in gens]
    assert can_vectorize(nets, [len(x) for x, _ in sets])
    losses = train_many_from_scratch(nets, [x for x, _ in sets], [t for _, t in sets], proto, gens, task=task, augment=aug)
    # each network's last-epoch mean loss, weighted by batch size (batches of 10, 10 and 4), as the sequential run's
    assert losses == pytest.approx(seq_losses, rel=1e-4)
    for a, b in zip(seq, nets):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)
    # each generator was consumed exactly as the sequential run consumed its own
    for r, g in enumerate(gens):
        ref = generator(0, "eval", r)
        make(ref)
        for _ in range(proto.epochs):
            torch.randperm(24, generator=ref)
            for _ in range(3):
                torch.randint(0, 2**62, (1,), generator=ref)
        assert torch.equal(g.get_state(), ref.get_state())


def test_skeleton_scores_equal_sequential(blobs):
    """score_runs with the batched trainer gives the sequential accuracies (2 groups: 3 + 2 runs), up to one
    test sample (a network at a decision boundary may flip one prediction on float rounding)."""
    make = lambda gen: (lambda n: (reinitialize(n, gen), n)[1])(build_network("convnet", tuple(blobs.x.shape[1:]), 3, width=8))
    proto = TrainProtocol(epochs=8, batch_size=16)
    one = trainer(make, blobs, proto, task=ClassificationTask(), augment=None)
    many = many_trainer(make, blobs, proto, task=ClassificationTask(), augment=None)
    es = EvalSet((blobs.x, blobs.y))
    a = score_runs(es, one, metric="accuracy", runs=5, seed=3, progress=False)
    b = score_runs(es, one, metric="accuracy", runs=5, seed=3, progress=False, many=many, vectorize=3)
    assert len(b.runs) == 5 and max(abs(u - v) for u, v in zip(a.runs, b.runs)) <= 1 / len(blobs) + 1e-12


def test_fallbacks_to_sequential():
    bn = [_factory("convnetbn")(generator(r)) for r in range(2)]
    assert not can_vectorize(bn, [12, 12])  # running statistics: one network at a time
    plain = [_factory(width=8)(generator(r)) for r in range(2)]
    assert not can_vectorize(plain, [12, 15])  # different set sizes
    assert not can_vectorize(plain[:1], [12])
    assert can_vectorize(plain, [12, 12])
    gru = [torch.nn.Sequential(torch.nn.GRU(4, 4, batch_first=True)) for _ in range(2)]
    assert not can_vectorize(gru, [12, 12])  # vmap has no batching rule for aten::gru (a video framegru's evaluation)
    calls = []
    one = lambda s, g: calls.append(1) or {"accuracy": 0.5}
    res = score_runs(EvalSet(None), one, metric="accuracy", runs=4, seed=0, progress=False,
                     many=lambda sets, gens: None, vectorize=4)
    assert res.runs == [0.5] * 4 and len(calls) == 4


def test_default_vectorize_groups_runs_by_device_and_gives_every_process_a_group():
    """Where eval_vectorize is not set: one network at a time on a CPU (VECTORIZE_BY_DEVICE), up to 10 on a GPU, never
    more than runs / processes rounded up (5 runs on 2 processes: groups of 3 and 2, not 2, 2 and 1)."""
    assert default_vectorize("cpu", 10) == 1 and default_vectorize("meta", 10) == 1  # a device type not measured
    assert default_vectorize("cuda", 25) == 10 and default_vectorize(torch.device("cuda", 1), 4) == 4
    assert default_vectorize("cuda", 5, processes=2) == 3 and default_vectorize("cuda", 1, processes=4) == 1
