from __future__ import annotations

import torch

from mmdistill.matchers.distribution import class_means, gaussian_mmd2, mean_embedding_loss
from mmdistill.matchers.gradient import gradient_distance, layerwise_distance


def test_layerwise_distance_is_papers():
    g = torch.randn(4, 3, 3, 3)
    assert layerwise_distance(g, g).abs() < 1e-5
    assert torch.isclose(layerwise_distance(g, -g), torch.tensor(8.0), atol=1e-4)  # 4 units x (1 - (-1))
    assert layerwise_distance(torch.randn(5), torch.randn(5)) == 0  # biases / norm params ignored
    lin = torch.randn(2, 6)
    assert torch.isclose(layerwise_distance(lin, 3 * lin), torch.tensor(0.0), atol=1e-5)  # scale-free


def test_gradient_distance_metrics():
    a = [torch.randn(3, 4), torch.randn(3)]
    assert gradient_distance(a, a, "mse") == 0
    assert gradient_distance(a, a, "cos").abs() < 1e-5


def test_dc_loops_follow_paper():
    from mmdistill.recipes import image_dc

    def loops(ipc):
        cfg = image_dc.RECIPE.config(ipc=ipc)
        return cfg.outer_loop, cfg.inner_loop

    assert loops(1) == (1, 1) and loops(10) == (10, 50) and loops(50) == (50, 10)
    assert loops(12) == (10, 50) and loops(15) == (10, 50)  # the nearest listed IPC, a tie to the smaller


def test_batched_mean_embedding_loss_equals_per_class_loop():
    g = torch.Generator().manual_seed(0)
    er, es = torch.randn(30, 5, generator=g), torch.randn(6, 5, generator=g)
    yr, ys = torch.arange(3).repeat_interleave(10), torch.arange(3).repeat_interleave(2)
    ref = sum(((er[yr == c].mean(0) - es[ys == c].mean(0)) ** 2).sum() for c in range(3))
    assert torch.allclose(mean_embedding_loss(er, yr, es, ys, 3), ref)
    assert class_means(er, yr, 3).shape == (3, 5)


def test_mmd_zero_for_identical_samples_positive_otherwise():
    a = torch.randn(8, 4)
    assert gaussian_mmd2(a, a, [1.0]).abs() < 1e-6
    assert gaussian_mmd2(a, a + 3.0, [1.0]) > 0.1


def test_gradient_matching_hooks_weight_each_class():
    """With the modality-neutral hooks, a class weighted 0 does not move the set; weights scale the loss."""
    from torch import nn

    from mmdistill.matchers.gradient import GradientMatching
    from mmdistill.nets import reinitialize
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet
    from mmdistill.task import ClassificationTask

    g = torch.Generator().manual_seed(0)
    x_real, y_real = torch.randn(20, 4, generator=g), torch.arange(2).repeat(10)
    task = ClassificationTask()

    def real_losses(net, gen):
        out = net(x_real)
        return [task.loss(out[y_real == c], y_real[y_real == c]) for c in range(2)]

    def syn_losses(net, x):
        out = net(x)
        return [task.loss(out[:2], torch.zeros(2, dtype=torch.long)), task.loss(out[2:], torch.ones(2, dtype=torch.long))]

    def run(weights):
        syn = SyntheticSet({"x": torch.randn(4, 4, generator=torch.Generator().manual_seed(1))}, torch.tensor([0, 0, 1, 1]), 2)
        syn.requires_grad_(True)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        m = GradientMatching(net=net, reinit=reinitialize, real=None, task=task,
                             outer_loop=1, inner_loop=0, real_class_losses=real_losses, syn_class_losses=syn_losses,
                             class_weights=weights)
        start = syn.x.detach().clone()
        stats = m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.5), generator(0))
        return start, syn.x.detach(), stats["loss"]

    start, after, loss_one = run([1.0, 0.0])
    assert torch.equal(start[2:], after[2:]) and not torch.equal(start[:2], after[:2])
    _, _, loss_half = run([0.5, 0.0])
    assert abs(loss_half - loss_one / 2) < 1e-6


def test_dm_real_chunks_change_nothing_but_speed(blobs):
    """The real side in chunks (any size) gives the one-batch update to float rounding; defaults by device."""
    from mmdistill.augment import DSA
    from mmdistill.chunking import default_chunk
    from mmdistill.matchers.distribution import DistributionMatching
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet

    out = []
    for chunk in (0, 5, 16):
        net = build_network("convnet", (1, 8, 8), 3, width=8)
        syn = SyntheticSet.from_real(blobs, 2, generator(0)).requires_grad_(True)
        opt = torch.optim.SGD(syn.parameters(), lr=1.0, momentum=0.5)
        m = DistributionMatching(net=net, reinit=reinitialize, real=blobs, batch_real=12, augment=DSA(), real_chunk=chunk)
        for it in range(3):
            m.step(syn, opt, generator(0, "it", it))
        out.append(syn.x.detach().clone())
    for x in out[1:]:
        torch.testing.assert_close(x, out[0], rtol=1e-5, atol=1e-6)
    assert default_chunk("cpu", (1, 28, 28)) == 16 and default_chunk("cuda", (1, 28, 28)) == 0
    assert default_chunk("cpu", (1, 8, 8)) == 196 and default_chunk("cpu", (3, 32, 32)) == 12
