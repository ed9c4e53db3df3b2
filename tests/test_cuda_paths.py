"""CUDA-only code paths that can be checked without a GPU: the context the unrolled second-order steps run in
(cuDNN's GRU/LSTM have no double backward, so it is disabled there for recurrent networks on CUDA only)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
from torch import nn

import mmdistill.modalities.video.nets  # noqa: F401  (registers framegru / framelstm / convnet3d)
from mmdistill.devices import twice_differentiable
from mmdistill.modalities.sequences.nets import GRU4Rec, SASRec
from mmdistill.modalities.sequences.train import LossModule
from mmdistill.nets import build_network


def _enabled_inside(device, *nets) -> bool:
    with twice_differentiable(device, *nets):
        return torch.backends.cudnn.enabled


@pytest.fixture(autouse=True)
def _cudnn_on():
    was = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = True
    yield
    torch.backends.cudnn.enabled = was


@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda", 0)])
@pytest.mark.parametrize("rnn", [nn.GRU, nn.LSTM, nn.RNN])
def test_cudnn_is_disabled_for_a_recurrent_network_on_cuda(device, rnn):
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(rnn(4, 4, batch_first=True)))  # nested, as in a learner
    assert _enabled_inside(device, net) is False
    assert torch.backends.cudnn.enabled is True  # restored on leaving


def test_cudnn_is_restored_after_an_error_and_other_flags_are_kept():
    torch.backends.cudnn.benchmark, was = True, torch.backends.cudnn.benchmark
    try:
        with pytest.raises(RuntimeError), twice_differentiable("cuda", nn.GRU(2, 2)):
            assert torch.backends.cudnn.benchmark is True
            raise RuntimeError("boom")
        assert torch.backends.cudnn.enabled is True
    finally:
        torch.backends.cudnn.benchmark = was


def test_the_recipes_networks_are_told_apart():
    """framegru / framelstm (video MTT, TESLA) and GRU4Rec inside the loss module TD3 / Farzi unroll: cuDNN off;
    SASRec and the video ConvNet keep it."""
    for name in ("framegru", "framelstm"):
        assert _enabled_inside("cuda", build_network(name, (1, 4, 16, 16), 10)) is False
    assert _enabled_inside("cuda", build_network("convnet3d", (1, 4, 16, 16), 10)) is True
    assert _enabled_inside("cuda", LossModule(GRU4Rec(10, 5, embedding=4, gru_hidden=4))) is False
    assert _enabled_inside("cuda", LossModule(SASRec(10, 5, hidden=4, inner=8, heads=1, layers=1))) is True


@pytest.mark.parametrize("device, nets", [
    ("cpu", (nn.GRU(3, 4),)),  # the CPU's kernels are twice differentiable: nothing changes there
    (torch.device("cpu"), (nn.LSTM(3, 4),)),
    ("cuda", (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()),)),  # a ConvNet keeps cuDNN
    ("cuda", ()),
    ("cuda", (None,)),  # a student without a network
    ("meta", (nn.GRU(3, 4),)),
])
def test_a_null_context_otherwise(device, nets):
    assert isinstance(twice_differentiable(device, *nets), nullcontext)
    assert _enabled_inside(device, *nets) is True


def test_overlapping_blocks_share_the_switch_and_the_last_one_restores_it():
    """Threads whose blocks overlap: cuDNN stays off until the last block leaves, then the setting from before the first
    one comes back (a block that restored its own saved value would leave it off, or turn it on under another)."""
    import threading

    import torch
    from torch import nn

    from mmdistill.devices import twice_differentiable

    gru = nn.GRU(2, 2)
    before = torch.backends.cudnn.enabled
    first, second = twice_differentiable("cuda", gru), twice_differentiable("cuda", gru)
    first.__enter__()
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with second:
            entered.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(5)
    first.__exit__(None, None, None)
    assert torch.backends.cudnn.enabled is False  # the other block is still inside
    leave.set()
    t.join(5)
    assert torch.backends.cudnn.enabled is before
