from __future__ import annotations

import torch

from mmdistill.baselines import herding_select, herding_subset, random_subset
from mmdistill.evaluation import EvalResult
from mmdistill.training import TrainProtocol
from mmdistill.classification import evaluate_tensors
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import generator


def _make_net(gen):
    net = build_network("convnet", (1, 8, 8), 3, width=8)
    reinitialize(net, gen)
    return net


def test_evaluation_is_seeded_and_learns(blobs):
    proto = TrainProtocol(epochs=100, batch_size=16)
    a = evaluate_tensors((blobs.x, blobs.y), blobs, _make_net, proto, runs=2, seed=1, progress=False)
    b = evaluate_tensors((blobs.x, blobs.y), blobs, _make_net, proto, runs=2, seed=1, progress=False)
    assert a.runs == b.runs and len(a.runs) == 2
    assert a.mean > 0.9  # separable blobs: training on them must fit them


def test_soft_targets_are_accepted(blobs):
    soft = torch.nn.functional.one_hot(blobs.y, 3).float() * 5
    res = evaluate_tensors((blobs.x, soft), blobs, _make_net, TrainProtocol(epochs=5, batch_size=16), runs=1, seed=0, progress=False)
    assert 0.0 <= res.mean <= 1.0


def test_eval_result_stats():
    r = EvalResult.of([0.5, 0.7])
    assert abs(r.mean - 0.6) < 1e-9 and abs(r.std - 0.1) < 1e-9
    assert r.as_dict()["runs"] == [0.5, 0.7]


def test_random_subset_is_per_class(blobs):
    idx = random_subset(blobs, 4, generator(0))
    assert torch.bincount(blobs.y[idx]).tolist() == [4, 4, 4]
    assert not torch.equal(idx, random_subset(blobs, 4, generator(1)))


def test_herding_tracks_the_mean():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(200, 5, generator=g)
    pick = herding_select(feats, 10)
    assert len(set(pick.tolist())) == 10
    rand = torch.randperm(200, generator=g)[:10]
    mu = feats.mean(0)
    assert (feats[pick].mean(0) - mu).norm() < (feats[rand].mean(0) - mu).norm()


def test_herding_subset_per_class(blobs):
    idx = herding_subset(blobs, 2, lambda x: x.flatten(1))
    assert torch.bincount(blobs.y[idx]).tolist() == [2, 2, 2]
