"""The core's numbers against independent computations: closed forms, the papers' formulas computed by hand,
brute force and invariances (walk 46A: each test kills a plausible bug that the rest of the suite let through)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdistill.augment import DSA, DSAParams
from mmdistill.buffer import ParamLayout
from mmdistill.data import LabeledTensors
from mmdistill.distributed import Workers
from mmdistill.matchers.distribution import DistributionMatching, gaussian_mmd2
from mmdistill.matchers.gradient import GradientMatching, gradient_distance
from mmdistill.matchers.trajectory import ClassificationStudent, TrajectoryMatching, add_step_size
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import derive_seed, generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask


def _uneven(seed: int = 0) -> LabeledTensors:
    """3 classes of 3, 4 and 5 samples of 1x8x8 (float64)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 1, 2, 2])
    x = torch.randn(len(y), 1, 8, 8, generator=g, dtype=torch.float64) + y.double()[:, None, None, None]
    return LabeledTensors(x, y, ["a", "b", "c"])


def _whole_classes(real: LabeledTensors) -> SyntheticSet:
    """A synthetic set holding every real sample, class-major (classes of unequal sizes)."""
    order = torch.argsort(real.y, stable=True)
    syn = SyntheticSet({"x": real.x[order].clone()}, real.y[order].clone(), real.num_classes)
    return syn.requires_grad_(True)


def _net64(**kw) -> nn.Module:
    return build_network("convnet", (1, 8, 8), 3, width=8, depth=2, **kw).double()


# ----------------------------------------------------------------------------- gradient matching (DC / DSA)
def test_gradient_distance_mse_and_cos_are_the_references_formulas() -> None:
    r = [torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([3.0])]
    s = [torch.tensor([[0.0, 2.0], [1.0, 1.0]]), torch.tensor([1.0])]
    assert float(gradient_distance(s, r, "mse")) == pytest.approx(1.0 + 1.0 + 4.0)  # sum of squares, not a mean
    dot, nr, ns = 0 + 4 + 0 + 1 + 3, math.sqrt(1 + 4 + 1 + 9), math.sqrt(4 + 1 + 1 + 1)
    assert float(gradient_distance(s, r, "cos")) == pytest.approx(1.0 - dot / (nr * ns), abs=1e-6)


@pytest.mark.parametrize("per_class", [False, True], ids=["batched", "per_class"])
def test_dc_loss_vanishes_when_each_synthetic_class_is_its_whole_real_class(per_class: bool) -> None:
    """Synthetic class c = every real sample of class c (classes of 3, 4, 5): the real batch of c is the same samples,
    and DSA's siamese draw augments both alike, so both gradients are equal and the distance is 0; a synthetic
    class paired with another real class, or augmented with another draw, is not."""
    real = _uneven()
    m = GradientMatching(net=_net64(), reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=1, inner_loop=1,
                         batch_real=8, augment=DSA(), dis_metric="mse", per_class=per_class)
    losses = []
    for it in range(3):
        syn = _whole_classes(real)
        losses.append(m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", it))["loss"])
    assert max(losses) < 1e-20


def test_dc_reported_loss_is_the_mean_over_classes_of_the_gradient_distance() -> None:
    """Without augmentation and with real batches of whole classes, one outer loop's loss is computed by hand:
    ``1/C sum_c ||grad CE(net(S_c)) - grad CE(net(T_c))||^2`` with the network the step draws first."""
    real = _uneven(1)
    syn = SyntheticSet({"x": real.x[[0, 3, 1, 4, 2, 5]].clone()}, torch.tensor([0, 0, 1, 1, 2, 2]), 3).requires_grad_(True)
    m = GradientMatching(net=_net64(), reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=1, inner_loop=1,
                         batch_real=8, dis_metric="mse")
    value = m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))["loss"]
    net = _net64()
    reinitialize(net, generator(0, "it", 0))
    params = list(net.parameters())

    def grad(x: torch.Tensor, c: int) -> torch.Tensor:
        loss = nn.functional.cross_entropy(net(x), torch.full((len(x),), c))
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])

    x_syn = syn.x.detach()
    expected = sum(float(((grad(x_syn[2 * c : 2 * c + 2], c) - grad(real.x[real.y == c], c)) ** 2).sum()) for c in range(3)) / 3
    assert value == pytest.approx(expected, rel=1e-9)


class _CountingSGD(torch.optim.SGD):
    steps = 0

    def step(self, closure=None):  # type: ignore[override]
        type(self).steps += 1
        return super().step(closure)


def test_dc_trains_the_network_inner_loop_epochs_between_outer_loops_and_not_after_the_last() -> None:
    """DC's Algorithm 1: outer_loop matches, and between two of them inner_loop epochs of minibatch SGD on the set
    (6 samples, batches of 4: 2 steps an epoch): (3 - 1) x 2 x 2 = 8 network steps per iteration."""
    real = _uneven()
    syn = SyntheticSet.from_real(real, 2, generator(0)).requires_grad_(True)
    _CountingSGD.steps = 0
    m = GradientMatching(net=_net64(), reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=3, inner_loop=2,
                         batch_real=4, batch_train=4, make_net_optimizer=lambda p: _CountingSGD(p, lr=0.01))
    syn.data["x"] = syn.x.detach().double().requires_grad_(True)
    m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))
    assert _CountingSGD.steps == 8


def test_dc_inner_training_augments_each_sample_with_its_own_draw() -> None:
    """DSA's network training (the reference's seed=-1): every sample of a batch gets its own draw."""
    real = _uneven()
    syn = SyntheticSet.from_real(real, 2, generator(0)).requires_grad_(True)
    syn.data["x"] = syn.x.detach().double().requires_grad_(True)
    calls: list[tuple[int, int]] = []
    dsa = DSA()

    def recording(x, seed, groups=None, num_groups=1):
        calls.append((len(x), 1 if groups is None else len(torch.unique(groups))))
        return dsa(x, seed=seed, groups=groups, num_groups=num_groups)

    m = GradientMatching(net=_net64(), reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=2, inner_loop=1,
                         batch_real=4, batch_train=4, augment=recording)
    m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))
    # outer loop 0: 3 classes x (real, synthetic); one epoch of 6 samples in batches of 4 and 2; outer loop 1: 3 x 2
    assert len(calls) == 6 + 2 + 6 and calls[6:8] == [(4, 4), (2, 2)]


def test_dc_freezes_batchnorm_statistics_from_real_samples() -> None:
    real = _uneven()
    syn = _whole_classes(real)
    net = _net64(norm="batchnorm")
    m = GradientMatching(net=net, reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=1, inner_loop=1, batch_real=8)
    m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))
    bns = [b for b in net.modules() if isinstance(b, nn.BatchNorm2d)]
    assert bns and all(not b.training for b in bns)  # the matches ran on the frozen (real) statistics
    assert all(float(b.running_mean.abs().sum()) > 0 for b in bns)


def test_dc_inner_training_runs_batchnorm_on_batch_statistics() -> None:
    """BatchNorm is frozen for the matches only: the reference's inner loop (``epoch('train')``) calls net.train(),
    so the network's own training steps normalise with (and update) the synthetic batches' statistics. Before the
    fix every inner step ran with the statistics frozen from the real samples."""
    real = _uneven()
    syn = SyntheticSet.from_real(real, 2, generator(0))
    syn.data["x"] = syn.x.detach().double().requires_grad_(True)
    net = _net64(norm="batchnorm")
    modes: list[list[bool]] = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[override]
            modes.append([b.training for b in net.modules() if isinstance(b, nn.BatchNorm2d)])
            return super().step(closure)

    m = GradientMatching(net=net, reinit=reinitialize, real=real, task=ClassificationTask(), outer_loop=2, inner_loop=1, batch_real=4,
                         batch_train=4, make_net_optimizer=lambda p: Recording(p, lr=0.01))
    m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))
    assert modes == [[True, True]] * 2  # 6 samples in batches of 4 and 2, both BatchNorm layers in training mode


# ----------------------------------------------------------------------------- distribution matching (DM)
@pytest.mark.parametrize("per_class", [False, True], ids=["batched", "per_class"])
def test_dm_loss_vanishes_when_each_synthetic_class_is_its_whole_real_class(per_class: bool) -> None:
    real = _uneven()
    m = DistributionMatching(net=_net64(), reinit=reinitialize, real=real, batch_real=8, augment=DSA(), per_class=per_class)
    losses = []
    for it in range(3):
        syn = _whole_classes(real)
        losses.append(m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", it))["loss"])
    assert max(losses) < 1e-20


@pytest.mark.parametrize("per_class", [False, True], ids=["batched", "per_class"])
def test_dm_reported_loss_is_the_papers_mean_embedding_distance(per_class: bool) -> None:
    """``1/C sum_c ||mean embed(T_c) - mean embed(S_c)||^2`` by hand, with the network the step draws first."""
    real = _uneven(2)
    syn = SyntheticSet({"x": real.x[[0, 3, 1, 4, 2, 5]].clone()}, torch.tensor([0, 0, 1, 1, 2, 2]), 3).requires_grad_(True)
    m = DistributionMatching(net=_net64(), reinit=reinitialize, real=real, batch_real=8, per_class=per_class)
    value = m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))["loss"]
    net = _net64()
    reinitialize(net, generator(0, "it", 0))
    with torch.no_grad():
        expected = sum(float(((net.embed(real.x[real.y == c]).mean(0) - net.embed(syn.x[2 * c : 2 * c + 2]).mean(0)) ** 2).sum())
                       for c in range(3)) / 3
    assert value == pytest.approx(expected, rel=1e-9)


def test_mmd_bandwidth_is_the_real_samples_mean_squared_distance() -> None:
    """a = {0, 1}, b = {0, 3} in 1-D: d = mean over a's pairs of |u - v|^2 = 1/2, so each kernel is exp(-|u - v|^2)."""
    a, b = torch.tensor([[0.0], [1.0]], dtype=torch.float64), torch.tensor([[0.0], [3.0]], dtype=torch.float64)
    k = lambda sq: math.exp(-sq)  # noqa: E731
    xx, yy, xy = (2 + 2 * k(1)) / 4, (2 + 2 * k(9)) / 4, (k(0) + k(9) + k(1) + k(4)) / 4
    assert float(gaussian_mmd2(a, b, [1.0])) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


# ----------------------------------------------------------------------------- trajectory matching (MTT / TESLA)
class _LineBuffer:
    """Expert trajectories on a line: epoch e's parameters are ``e * u`` (u fixed, 4 parameters)."""

    def __init__(self, epochs: int = 6, num_params: int = 4) -> None:
        self.epochs, self.num_experts, self.num_params, self.path = epochs, 1, num_params, "line-buffer"
        self.u = torch.tensor([1.0, -2.0, 0.5, 3.0])[:num_params] if num_params <= 4 else torch.linspace(-1, 1, num_params)

    def rows(self, expert: int, epochs: list[int]) -> torch.Tensor:
        return torch.stack([e * self.u for e in epochs])


class _QuadraticStudent:
    """Loss ``mean_i <w, x_i> + c/2 ||w||^2`` over the minibatch: its gradient is ``mean(x) + c w`` (c = 0: a gradient
    that does not depend on w at all)."""

    def __init__(self, c: float = 0.5) -> None:
        self.c = c

    def loss(self, params, syn, idx, seed):
        w = params["weight"]
        linear = (w * syn.x[idx]).sum(1).mean()
        return linear + 0.5 * self.c * (w**2).sum() if self.c else linear


@pytest.mark.parametrize("c", [0.5, 0.0], ids=["quadratic", "linear"])
@pytest.mark.parametrize("method", ["mtt", "tesla"])
def test_trajectory_loss_and_gradients_equal_a_hand_unrolled_student(method: str, c: float) -> None:
    """MTT's objective from its definition: w_0 = s u (the start epoch s), N steps w <- w - alpha (mean(x) + c w) on the
    whole set, loss ``||w_N - (s + M) u||^2 / ||w_0 - (s + M) u||^2``, its gradients to alpha and x by autograd of
    that recurrence written out here (for c = 0 TESLA's reverse sweep used to stop on the missing Hessian term)."""
    buffer, N, M, K, alpha = _LineBuffer(), 3, 2, 5, 0.1
    x = torch.randn(K, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    syn = SyntheticSet({"x": x.clone()}, torch.zeros(K, dtype=torch.long), 1)
    add_step_size(syn, alpha)
    syn.requires_grad_(True)
    layout = ParamLayout.of(nn.Linear(4, 1, bias=False))
    m = TrajectoryMatching(_QuadraticStudent(c), layout, buffer, syn_steps=N, expert_epochs=M,  # type: ignore[arg-type]
                           max_start_epoch=3, method=method)
    stats = m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", 0))
    s, u = stats["start_epoch"], buffer.u.double()
    a, xs = torch.tensor(alpha, dtype=torch.float64, requires_grad=True), x.clone().requires_grad_(True)
    w = s * u
    for _ in range(N):
        w = w - a * (xs.mean(0) + c * w)
    loss = ((w - (s + M) * u) ** 2).sum() / ((M * u) ** 2).sum()
    loss.backward()
    assert stats["loss"] == pytest.approx(float(loss.detach()), rel=1e-6)
    assert float(syn.data["syn_lr"].grad) == pytest.approx(float(a.grad), rel=1e-5)
    torch.testing.assert_close(syn.x.grad, xs.grad, rtol=1e-5, atol=1e-9)


def test_start_epochs_are_drawn_from_every_epoch_below_max_start_epoch() -> None:
    buffer = _LineBuffer()
    syn = SyntheticSet({"x": torch.randn(4, 4, dtype=torch.float64)}, torch.zeros(4, dtype=torch.long), 1)
    add_step_size(syn, 0.01)
    syn.requires_grad_(True)
    m = TrajectoryMatching(_QuadraticStudent(), ParamLayout.of(nn.Linear(4, 1, bias=False)), buffer,  # type: ignore[arg-type]
                           syn_steps=1, expert_epochs=2, max_start_epoch=3)
    starts = {m.step(syn, torch.optim.SGD(syn.parameters(), lr=0.0), generator(0, "it", it))["start_epoch"] for it in range(40)}
    assert starts == {0.0, 1.0, 2.0}


def test_per_segment_step_sizes_follow_the_segments_not_the_order_they_are_named_in() -> None:
    buffer = _LineBuffer(num_params=4)
    syn = SyntheticSet({"x": torch.randn(4, 4)}, torch.zeros(4, dtype=torch.long), 1)
    add_step_size(syn, 0.1, "lr_a")
    add_step_size(syn, 0.7, "lr_b")
    m = TrajectoryMatching(_QuadraticStudent(), ParamLayout.of(nn.Linear(4, 1, bias=False)), buffer,  # type: ignore[arg-type]
                           segments={"b": slice(1, 4), "a": slice(0, 1)}, step_sizes={"b": "lr_b", "a": "lr_a"}, max_start_epoch=2)
    torch.testing.assert_close(m.alpha(syn), torch.tensor([0.1, 0.7, 0.7, 0.7]))


def test_the_ranks_shares_of_a_student_minibatch_sum_to_its_loss(blobs) -> None:
    """Over K processes rank r computes its slice of the minibatch weighted by its share; the K shares must add up
    to the one-process loss (DSA draws by position, so each sample gets the draw it gets in the whole batch)."""
    net = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
    reinitialize(net, generator(1))
    layout = ParamLayout.of(net)
    syn = SyntheticSet.from_real(blobs, 3, generator(0))
    student = ClassificationStudent(net, ClassificationTask(), augment=DSA())
    w = layout.flatten(net).detach()
    idx = torch.tensor([8, 0, 3, 5, 1, 7, 2])

    def share(rank: int, world: int) -> float:
        m = TrajectoryMatching(student, layout, _LineBuffer(num_params=layout.num_params), max_start_epoch=2,
                               workers=Workers(rank, world))
        return float(m._share_loss(w, syn, idx, 11))

    whole = share(0, 1)
    assert sum(share(r, 3) for r in range(3)) == pytest.approx(whole, rel=1e-5)


def test_the_student_augments_each_sample_of_a_minibatch_with_its_own_draw() -> None:
    """MTT's student DSA is not siamese: two copies of one image in a minibatch come out augmented differently."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    layout = ParamLayout.of(net)
    seen: list[torch.Tensor] = []
    dsa = DSA("crop_scale_rotate")

    def recording(x, **kw):
        seen.append(dsa(x, **kw))
        return seen[-1]

    img = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    syn = SyntheticSet({"x": img.expand(4, 1, 8, 8).clone()}, torch.tensor([0, 0, 1, 1]), 2)
    student = ClassificationStudent(net, ClassificationTask(), augment=recording)
    for seed in range(6):
        student.loss(layout.unflatten(layout.flatten(net).detach()), syn, torch.arange(4), seed)
    assert all(not torch.allclose(out[0], out[1]) or not torch.allclose(out[2], out[3]) for out in seen)


# ----------------------------------------------------------------------------- DSA ops
def test_dsa_scale_draws_each_axis_independently(monkeypatch) -> None:
    import mmdistill.augment as augment

    thetas: list[torch.Tensor] = []
    real_affine = augment._affine
    monkeypatch.setattr(augment, "_affine", lambda x, theta: thetas.append(theta) or real_affine(x, theta))
    DSA("scale")(torch.rand(64, 1, 8, 8), seed=0, groups=torch.arange(64), num_groups=64)
    sx, sy = thetas[0][:, 0, 0], thetas[0][:, 1, 1]
    assert float(sx.min()) >= 1 / 1.2 - 1e-6 and float(sx.max()) <= 1.2 + 1e-6
    assert float((sx - sy).abs().max()) > 0.1  # not one factor for both axes
    assert abs(float(torch.corrcoef(torch.stack([sx, sy]))[0, 1])) < 0.5


def test_dsa_crop_shifts_each_axis_independently_by_at_most_an_eighth() -> None:
    """A single lit pixel of 16x16 images moves by (dy, dx), each in [-2, 2] (0.125 x 16), drawn independently."""
    x = torch.zeros(200, 1, 16, 16)
    x[:, :, 7, 7] = 1.0
    out = DSA("crop")(x, seed=3, groups=torch.arange(200), num_groups=200)
    pos = out.flatten(1).argmax(1)
    dy, dx = pos // 16 - 7, pos % 16 - 7
    assert int(dy.abs().max()) == 2 and int(dx.abs().max()) == 2
    assert bool((dy != dx).any()) and len(set(zip(dy.tolist(), dx.tolist()))) == 25


def test_dsa_cutout_reaches_every_pixel_including_the_far_borders() -> None:
    """The cutout's centre is uniform over the whole image (the square clipped at the border), as in the reference."""
    x = torch.ones(400, 1, 8, 8)
    out = DSA("cutout")(x, seed=0, groups=torch.arange(400), num_groups=400)
    assert bool((out == 0).any(0).all())  # every pixel zeroed by some draw
    zeroed = (out == 0).flatten(1).sum(1)
    assert int(zeroed.max()) == 16 and int(zeroed.min()) < 16  # 4x4 squares, some clipped


def test_dsa_saturation_keeps_each_pixels_channel_mean() -> None:
    """Saturation ``mean_c + (x - mean_c) * u * s`` with mean_c the pixel's mean over channels: at s = 0 every pixel
    becomes its channel mean, so the grey image (after contrast, an affine map) still follows the image's luminance."""
    x = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    lum = x.mean(1).flatten()
    for seed in range(5):
        grey = DSA("color", DSAParams(brightness=0.0, saturation=0.0))(x, seed=seed)
        assert float(torch.corrcoef(torch.stack([grey[0, 0].flatten(), lum]))[0, 1]) > 0.9999


# ----------------------------------------------------------------------------- evaluation, baselines, training
def test_each_evaluation_run_draws_from_its_own_generator() -> None:
    from mmdistill.evaluation import EvalSet, score_runs

    draw = lambda data, gen: {"accuracy": float(torch.rand((), generator=gen))}  # noqa: E731
    expected = [float(torch.rand((), generator=generator(5, "eval", r))) for r in range(3)]
    res = score_runs(EvalSet(None), draw, metric="accuracy", runs=3, seed=5, progress=False)
    assert res.runs == expected
    # a group of 3 runs whose batched trainer declines them (BatchNorm, dropout) falls back to one run at a time
    grouped = score_runs(EvalSet(None), draw, metric="accuracy", runs=3, seed=5, progress=False, many=lambda sets, gens: None,
                         vectorize=3)
    assert grouped.runs == expected
    assert res.std == pytest.approx(math.sqrt(sum((v - res.mean) ** 2 for v in res.runs) / 3))  # numpy's np.std: ddof 0


def test_random_real_baseline_draws_a_new_per_class_subset_every_run(blobs) -> None:
    from mmdistill.classification import baseline_sets

    cfg = SimpleNamespace(baselines=["random_real"], ipc=2, seed=0)
    sets = baseline_sets(cfg, SimpleNamespace(train=blobs), None, None)
    draws = [sets["random_real"].for_run(r) for r in range(3)]
    for x, y in draws:
        assert torch.bincount(y).tolist() == [2, 2, 2]
    assert len({tuple(x.flatten().tolist()) for x, _ in draws}) == 3


def test_herding_is_the_greedy_mean_matching_selection_by_brute_force() -> None:
    from mmdistill.baselines import herding_select

    feats = torch.randn(30, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mu, chosen = feats.mean(0), []
    for _ in range(6):
        rest = [j for j in range(30) if j not in chosen]
        chosen.append(min(rest, key=lambda j: float(((feats[chosen + [j]].mean(0) - mu) ** 2).sum())))
    assert herding_select(feats, 6).tolist() == chosen


def test_evaluation_training_uses_the_papers_sgd_and_decays_the_lr_tenfold_at_half(monkeypatch) -> None:
    """SGD momentum 0.9, weight decay 5e-4, lr 0.01 and 0.001 from epoch floor(epochs / 2) (the reference's Epoch // 2)."""
    import mmdistill.training as training

    seen: list[tuple[float, float, float]] = []
    monkeypatch.setattr(training, "train_epoch", lambda net, opt, *a, **k: seen.append(
        (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"], opt.param_groups[0]["weight_decay"])) or 0.0)
    training.train_from_scratch(nn.Linear(2, 2), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), training.TrainProtocol(epochs=5),
                                generator(0))
    assert seen == [(0.01, 0.9, 5e-4)] * 2 + [(pytest.approx(0.001), 0.9, 5e-4)] * 3


def test_accuracy_is_scored_in_eval_mode() -> None:
    """A BatchNorm network scores with its running statistics: in training mode a batch of one value would normalise to 0."""
    from mmdistill.training import accuracy_on

    net = nn.Sequential(nn.BatchNorm1d(1), nn.Linear(1, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[1].bias.copy_(torch.tensor([0.0, 1.0]))
    test = LabeledTensors(torch.full((6, 1), 5.0), torch.zeros(6, dtype=torch.long), ["a", "b"])
    assert accuracy_on(net, test, batch_size=4) == 1.0


def test_soft_label_cross_entropy_is_the_mean_over_samples_at_the_temperature() -> None:
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])
    targets = torch.tensor([[2.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    T = 2.0
    expected = 0.0
    for row, t in zip(logits.tolist(), targets.tolist()):
        q = [math.exp(v / T) for v in t]
        lse = math.log(sum(math.exp(v) for v in row))
        expected += -sum(qi / sum(q) * (v - lse) for qi, v in zip(q, row)) / 2
    assert float(ClassificationTask(soft_temperature=T).loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- seeding, optimizer
def test_derived_seeds_tell_the_parts_apart() -> None:
    assert derive_seed(1, 23) != derive_seed(12, 3) and derive_seed(0, "eval", 1) != derive_seed(0, "eval1")


def test_each_kind_of_synthetic_tensor_gets_its_own_learning_rate() -> None:
    from mmdistill.optim import synthetic_optimizer

    syn = SyntheticSet({"x": torch.zeros(2, 3)}, torch.tensor([0, 1]), 2, soft_labels=torch.zeros(2, 2), label_mode="learnable")
    add_step_size(syn, 0.01)
    cfg = SimpleNamespace(lr_data=100.0, momentum_data=0.5, step_size_lr=lambda: 1e-5, label_spec=lambda: SimpleNamespace(lr=2.0))
    opt = synthetic_optimizer(syn, cfg)
    by_key = {g["rate_key"]: (g["lr"], [id(p) for p in g["params"]]) for g in opt.param_groups}
    assert by_key == {"lr_data": (100.0, [id(syn.x)]), "lr_lr": (1e-5, [id(syn.data["syn_lr"])]),
                      "lr_labels": (2.0, [id(syn.soft_labels)])}
    assert all(g["momentum"] == 0.5 for g in opt.param_groups)
