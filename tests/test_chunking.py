"""Cache-sized chunks change nothing but speed: gradients, training and DSA layouts."""

import torch
from torch import nn

from mmdistill.augment import DSA
from mmdistill.chunking import chunked_embed, chunked_loss_backward, chunked_loss_grad, default_chunk, splits_exactly
from mmdistill.nets import build_network, reinitialize
from mmdistill.seeding import generator
from mmdistill.task import ClassificationTask
from mmdistill.training import train_epoch


def _net(seed: int = 0) -> nn.Module:
    net = build_network("convnet", (1, 8, 8), 3, width=8)
    reinitialize(net, generator(seed))
    return net


def _data(n: int = 23):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(3, (n,), generator=g)


def test_chunked_gradient_equals_one_batch_gradient():
    net, (x, y) = _net(), _data()
    params = list(net.parameters())
    loss = ClassificationTask().loss
    whole = chunked_loss_grad(net, loss, x, y, params, 0)
    for chunk in (1, 5, 22, 100):
        for a, b in zip(chunked_loss_grad(net, loss, x, y, params, chunk), whole):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    net.zero_grad()
    value = chunked_loss_backward(net, loss, x, y, 4)
    assert abs(value - float(loss(net(x), y).detach())) < 1e-5
    for p, g in zip(params, whole):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)


def test_chunked_training_epoch_equals_one_batch_epoch():
    x, y = _data(40)
    nets = []
    for chunk in (0, 3):
        net = _net()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        for ep in range(3):
            train_epoch(net, opt, x, y, 16, generator(0, ep), augment=DSA(), chunk=chunk)
        nets.append(net)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_batch_statistics_and_dropout_are_never_split():
    bn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    drop = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert not splits_exactly(bn) and not splits_exactly(drop)
    bn.eval(), drop.eval()
    assert splits_exactly(bn) and splits_exactly(drop) and splits_exactly(_net())
    calls = []
    out = chunked_embed(lambda t: calls.append(len(t)) or t * 2, torch.ones(10, 3), 4)
    assert calls == [4, 4, 2] and torch.equal(out, torch.full((10, 3), 2.0))


def test_default_chunk_is_sized_in_positions():
    assert default_chunk("cpu", (1, 28, 28)) == 16 and default_chunk("cpu", (1, 8, 8)) == 196
    assert default_chunk("cpu", (1, 16, 112, 112)) == 8 and default_chunk("cpu", (384,)) == 16 * 28 * 28
    assert default_chunk("cuda", (1, 28, 28)) == 0 and default_chunk("meta", (1, 28, 28)) == 0


def test_dsa_returns_row_major_strides_for_every_op():
    """A one-channel crop used to come back with channels-last strides (contiguous() keeps them), which made
    the CPU's instance norm after the next convolution several times slower."""
    x = torch.randn(6, 1, 8, 8)
    for seed in range(40):
        out = DSA()(x, seed=seed, groups=torch.arange(6), num_groups=6)
        assert out.stride() == (64, 64, 8, 1), seed


def test_trajectory_student_in_chunks_gives_the_same_gradient(monkeypatch):
    """MTT's student forward in chunks: same loss and same second-order gradient to the synthetic pixels."""
    import mmdistill.chunking as chunking
    from mmdistill.buffer import ParamLayout
    from mmdistill.data import LabeledTensors
    from mmdistill.matchers.trajectory import ClassificationStudent
    from mmdistill.synthetic import SyntheticSet

    x, y = _data(24)
    syn = SyntheticSet.from_real(LabeledTensors(x, y, ["a", "b", "c"]), 4, generator(0)).requires_grad_(True)
    net = _net()
    layout = ParamLayout.of(net)
    flat = layout.flatten(net).requires_grad_(True)
    student = ClassificationStudent(net, ClassificationTask(), augment=DSA())

    def grads():
        loss = student.loss(layout.unflatten(flat), syn, torch.arange(len(syn)), seed=3)
        (g,) = torch.autograd.grad(loss, flat, create_graph=True)
        return loss, torch.autograd.grad(g.pow(2).sum(), syn.x)[0]

    whole = grads()
    monkeypatch.setitem(chunking.CHUNK_POSITIONS_BY_DEVICE, "cpu", 5 * 64)  # 8 samples (MIN_CHUNK) per chunk
    assert chunking.default_chunk("cpu", (1, 8, 8)) == 8
    parts = grads()
    torch.testing.assert_close(parts[0], whole[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(parts[1], whole[1], rtol=1e-4, atol=1e-6)
