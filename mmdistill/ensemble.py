"""K evaluation networks of one architecture trained together: one vectorised ensemble
(``torch.func.stack_module_state`` + ``vmap`` of ``functional_call``), equal per network to K sequential
:func:`mmdistill.training.train_from_scratch` runs within float tolerance.

Network k keeps everything that makes it run k: its initialisation (built by the caller from its own
generator), its data, and its own stream for the data order and augmentation draws (``gens[k]``, consumed
in the order the sequential trainer consumes it: ``randperm`` per epoch, one augmentation seed per batch).
The K networks' losses are summed, so each network's gradient is its own loss's gradient; SGD (momentum,
weight decay) is elementwise, so the stacked update is each network's update. What differs from sequential
training is only how the convolutions are computed (one grouped kernel for K networks instead of K kernels)
and so the last bits of float sums.

Where vectorising cannot reproduce the sequential runs, :func:`can_vectorize` says no and callers train one
network at a time: networks with buffers (BatchNorm's running statistics are updated in place), with dropout
(vmap would draw one mask stream for all), with different parameter shapes, or sets of different sizes.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from mmdistill.concurrency import draws_global_randomness
from mmdistill.devices import has_recurrent_layer
from mmdistill.seeding import draw_seed
from mmdistill.task import ClassificationTask
from mmdistill.training import TrainProtocol

Augment = Callable[..., Tensor]



#: runs per ensemble by device type where ``eval_vectorize`` is not set: on a CPU the grouped convolutions
#: of an ensemble measured no faster than one network at a time in cache-sized chunks (docs/results.md)
VECTORIZE_BY_DEVICE: dict[str, int] = {"cpu": 1, "cuda": 10}


def default_vectorize(device: torch.device | str, runs: int, processes: int = 1) -> int:
    """Runs trained together on ``device`` when the config leaves it open: :data:`VECTORIZE_BY_DEVICE`
    (1 for device types not measured), at most ``runs / processes`` so that every process gets a group."""
    base = VECTORIZE_BY_DEVICE.get(torch.device(device).type, 1)
    return max(1, min(base, -(-runs // max(1, processes))))


def can_vectorize(nets: Sequence[nn.Module], sizes: Sequence[int], sample_shape: Sequence[int] | None = None) -> bool:
    """Whether ``nets`` (trained on sets of ``sizes`` samples) can be trained as one ensemble: two or more
    networks of identical parameter names and shapes, no buffers, no dropout (given ``sample_shape``, also none in a
    forward: ``F.dropout``, which ``vmap`` refuses), no recurrent layer (``vmap`` has no batching rule for GRU / LSTM /
    RNN), equal set sizes."""
    if len(nets) < 2 or len(set(sizes)) != 1:
        return False
    ref = [(n, tuple(p.shape)) for n, p in nets[0].named_parameters()]
    for net in nets:
        if any(True for _ in net.buffers()) or draws_global_randomness(net, sample_shape if net is nets[0] else None):
            return False
        if has_recurrent_layer(net):
            return False
        if [(n, tuple(p.shape)) for n, p in net.named_parameters()] != ref:
            return False
    return True


def train_many_from_scratch(
    nets: Sequence[nn.Module],
    xs: Sequence[Tensor],
    targets: Sequence[Tensor],
    protocol: TrainProtocol,
    gens: Sequence[torch.Generator],
    *,
    task: ClassificationTask = ClassificationTask(),
    augment: Augment | None = None,
) -> list[float]:
    """Train ``nets[k]`` on ``(xs[k], targets[k])`` with ``gens[k]`` under ``protocol``, all K at once;
    the trained weights are written back into ``nets``. Returns each network's last-epoch mean loss.
    The caller checks :func:`can_vectorize` first."""
    K = len(nets)
    device = next(nets[0].parameters()).device
    xs = [x.to(device) for x in xs]
    targets = [t.to(device) for t in targets]
    n = xs[0].shape[0]
    for net in nets:
        net.train()
    params, _ = stack_module_state(list(nets))  # name -> (K, ...) leaf tensors
    base = copy.deepcopy(nets[0]).to("meta")

    def forward(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(base, p, (x,))

    batched = vmap(forward)
    opt = torch.optim.SGD(list(params.values()), lr=protocol.lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay)
    decay_epoch = int(math.floor(protocol.epochs * protocol.lr_decay_at))
    last = [float("nan")] * K
    for ep in range(protocol.epochs):
        if ep == decay_epoch and ep > 0:
            for g in opt.param_groups:
                g["lr"] = protocol.lr * 0.1
        orders = [torch.randperm(n, generator=g).to(device) for g in gens]
        totals = [0.0] * K
        for start in range(0, n, protocol.batch_size):
            xbs, tbs = [], []
            for k in range(K):
                b = orders[k][start : start + protocol.batch_size]
                xb = xs[k][b]
                if augment is not None:
                    xb = augment(xb, seed=draw_seed(gens[k]), groups=torch.arange(len(b), device=device), num_groups=len(b))
                xbs.append(xb)
                tbs.append(targets[k][b])
            logits = batched(params, torch.stack(xbs))  # (K, B, classes)
            losses = torch.stack([task.loss(logits[k], tbs[k]) for k in range(K)])
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            bsz = len(tbs[0])
            for k, v in enumerate(losses.detach().tolist()):
                totals[k] += v * bsz
        last = [t / n for t in totals]
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
    return last


__all__ = ["VECTORIZE_BY_DEVICE", "can_vectorize", "default_vectorize", "train_many_from_scratch"]
