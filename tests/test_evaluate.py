from __future__ import annotations

import pytest
import torch

from mmdistill.baselines import herding_select, herding_subset, random_subset
from mmdistill.errors import ConfigError
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


def test_herding_subset_names_an_embedding_that_is_not_one_vector_per_sample(blobs):
    # an embed returning feature maps (n, C, H, W) was an IndexError 'index 94 is out of bounds for dimension 0'
    maps = lambda x: x.reshape(len(x), 1, -1, 1)  # noqa: E731
    with pytest.raises(ConfigError, match=r"embed must map x \(n, \.\.\.\) to \(n, D\); for \d+ samples it gave \(\d+, 1, "):
        herding_subset(blobs, 2, maps)


def test_each_run_gets_its_own_global_rng_stream():
    """A trainer drawing from torch's global RNG (dropout) scores the same in any call and after any other
    use of the global RNG, and the caller's global RNG state is left as it was."""
    import torch

    from mmdistill.evaluation import EvalSet, score_runs

    def train_and_score(train_set, gen):
        return {"accuracy": float(torch.rand(()))}

    first = score_runs(EvalSet((None, None)), train_and_score, metric="accuracy", runs=3, seed=7, progress=False)
    torch.rand(5)  # the caller moves the global RNG on
    state = torch.get_rng_state()
    second = score_runs(EvalSet((None, None)), train_and_score, metric="accuracy", runs=3, seed=7, progress=False)
    assert first.runs == second.runs and len(set(first.runs)) == 3
    assert torch.equal(torch.get_rng_state(), state)
    other = score_runs(EvalSet((None, None)), train_and_score, metric="accuracy", runs=3, seed=8, progress=False)
    assert other.runs != first.runs


def test_dsa_asked_of_a_modality_without_augmentation_is_warned_and_not_recorded_as_applied(tmp_path, monkeypatch, caplog):
    """Walk 35A D1: a plugin modality without augmentation (augmenter() -> None, as the contract allows) took
    dsa=true / eval_dsa=true silently, and the manifest's protocol said "dsa": true although nothing was applied."""
    import logging

    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dm

    monkeypatch.setattr(type(MODALITY), "augmenter", lambda self, strategy, dataset: None)
    with caplog.at_level(logging.WARNING):
        res = image_dm.run(dataset="digits", ipc=1, iterations=1, batch_real=4, eval_runs=1, eval_epochs=1, baselines=[],
                           dsa=True, eval_dsa=True, progress=False, memory_check=False, out=str(tmp_path / "run"))
    assert res.manifest["metrics"]["protocol"]["dsa"] is False
    assert "dsa (strategy 'auto') has no effect: modality image has no augmentation" in caplog.text
    assert "eval_dsa=true has no effect: modality image has no augmentation for digits" in caplog.text


def test_a_set_whose_learned_step_size_is_not_positive_names_eval_lr_from_set(blobs):
    """Evaluation of such a set failed with "lr must be > 0, got TrainProtocol(...)", naming no key."""
    from types import SimpleNamespace

    import pytest

    from mmdistill.classification import classification_plan
    from mmdistill.errors import ConfigError
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet(data={"x": blobs.x[:3].clone(), "syn_lr": torch.tensor(-0.0078)}, labels=blobs.y[:3].clone(), num_classes=3)
    cfg = SimpleNamespace(learned_lr_evaluation=lambda: True, eval_epochs=2, eval_lr=0.01, eval_batch=8)
    with pytest.raises(ConfigError, match=r"learned step size is -0.0078.*eval_lr_from_set=false"):
        classification_plan(cfg, syn, None, None, device=torch.device("cpu"))


def test_a_registered_network_without_embed_is_named_not_a_traceback(tmp_path, monkeypatch):
    """Walk 35A D4: a network registered without embed(x) ended a DM run in AttributeError (exit 1) after loading the
    data; it is a ConfigError naming the key."""
    import pytest
    from torch import nn

    from mmdistill.errors import ConfigError
    from mmdistill import nets
    from mmdistill.recipes import image_dm

    def _plain(in_shape, num_classes, **kw):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(in_shape).prod()), num_classes))

    nets.list_networks()  # the built-ins first, then this test's network for this test only
    monkeypatch.setitem(nets._REGISTRY, nets.network_key("plain-seq-no-embed"), _plain)

    with pytest.raises(ConfigError, match=r"network 'plain-seq-no-embed' \(Sequential\) has no embed\(x\) -> \(N, D\) method"):
        image_dm.run(dataset="digits", ipc=1, iterations=1, network="plain-seq-no-embed", evaluate=False, progress=False,
                     memory_check=False, out=str(tmp_path / "run"))
