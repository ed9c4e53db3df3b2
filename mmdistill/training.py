"""Training a classifier from scratch on a small (synthetic or real-subset) set, and its test accuracy: the
``train_and_score`` of classification modalities (:mod:`mmdistill.classification`) and the experts' epoch.

The protocol is the DC/DSA/DM papers': SGD with momentum 0.9 and weight decay 5e-4, learning rate 0.01
multiplied by 0.1 at half of the epochs, batch 256, DSA augmentation with an independent draw per sample
when the method used DSA. Epoch counts are the recipe's (300 for DC, 1000 with DSA / for DM). The references'
``evaluate_synset`` trains ``epochs + 1`` epochs and decays after epoch ``epochs // 2 + 1`` with a new optimizer;
here ``epochs`` epochs, decayed from epoch ``floor(epochs * lr_decay_at)`` with the momentum kept (README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from mmdistill.chunking import chunk_for, chunked_loss_backward
from mmdistill.concurrency import stop_point
from mmdistill.data import LabeledTensors
from mmdistill.errors import ConfigError
from mmdistill.seeding import draw_seed
from mmdistill.task import ClassificationTask

NetFactory = Callable[[torch.Generator], nn.Module]
Augment = Callable[..., Tensor]


@dataclass(frozen=True)
class TrainProtocol:
    """How a network is trained from scratch on a small set (the papers' evaluation protocol): SGD for ``epochs``
    passes over the set in minibatches of ``batch_size``, learning rate ``lr`` times 0.1 from epoch
    ``floor(epochs * lr_decay_at)`` on (1.0: never), ``momentum`` and L2 ``weight_decay`` as SGD's. ``chunk``: samples
    per forward/backward of a step where the network splits exactly (None: the device's default; 0: one batch).
    ConfigError when ``epochs``, ``batch_size`` or ``lr`` is not > 0."""

    epochs: int = 1000
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    lr_decay_at: float = 0.5
    chunk: int | None = None

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0 or self.lr <= 0:
            raise ConfigError(f"evaluation epochs, batch size and lr must be > 0, got {self}")


@torch.no_grad()
def accuracy_on(net: nn.Module, test: LabeledTensors, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``net`` on ``test`` (eval mode, no augmentation): every sample counts once."""
    return scores_on(net, test, batch_size=batch_size)["accuracy"]


@torch.no_grad()
def scores_on(net: nn.Module, test: LabeledTensors, *, balanced: bool = False, batch_size: int = 1024) -> dict[str, float]:
    """``{"accuracy"}`` of ``net`` on ``test`` (top-1 in [0, 1], eval mode, no augmentation, every sample once), and
    with ``balanced`` also ``"balanced_accuracy"``: the mean over the classes present in ``test`` of the share of each
    class answered right (per-class recall), what an imbalanced split is read by (always answering its most common
    class scores 1 / K there, not that class's share)."""
    net.eval()
    device = next(net.parameters()).device
    correct = 0
    predicted = []
    for start in range(0, len(test), batch_size):
        xb = test.x[start : start + batch_size].to(device)
        yb = test.y[start : start + batch_size].to(device)
        logits = net(xb)
        correct += ClassificationTask.correct(logits, yb)
        if balanced:
            predicted.append(logits.argmax(dim=-1).cpu())
    out = {"accuracy": correct / len(test)}
    if balanced:
        out["balanced_accuracy"] = balanced_accuracy(torch.cat(predicted), test.y)
    return out


def balanced_accuracy(predicted: Tensor, labels: Tensor) -> float:
    """The mean over the classes present in ``labels`` (N,) of the share of their samples whose ``predicted`` (N,)
    class is right (per-class recall, in [0, 1]): always answering one class scores 1 / K, whatever its share."""
    y = labels.detach().cpu().long()
    right = y[predicted.detach().cpu().long() == y]
    counts = torch.bincount(y).double()
    hits = torch.bincount(right, minlength=len(counts)).double()
    present = counts > 0
    return float((hits[present] / counts[present]).mean())


def train_epoch(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    x: Tensor,
    targets: Tensor,
    batch_size: int,
    gen: torch.Generator,
    *,
    task: ClassificationTask = ClassificationTask(),
    augment: Augment | None = None,
    chunk: int | None = None,
) -> float:
    """One pass of minibatch training of ``net`` over ``x`` (N, ...) with ``targets`` (N,) or (N, C), both on
    the network's device, in an order drawn from ``gen``; with ``augment`` each sample gets its own draw.
    Each step's gradient is accumulated ``chunk`` samples at a time (:mod:`mmdistill.chunking`; None: the
    device's default, 0: one batch) where the network splits exactly. Returns the epoch's mean training loss."""
    device = x.device
    n = x.shape[0]
    chunk = chunk_for(x, chunk, net)
    order = torch.randperm(n, generator=gen).to(device)
    total = 0.0
    for start in range(0, n, batch_size):
        stop_point()  # a job on a thread of run_jobs ends here once its caller is interrupted
        b = order[start : start + batch_size]
        xb = x[b]
        if augment is not None:
            xb = augment(xb, seed=draw_seed(gen), groups=torch.arange(len(b), device=device), num_groups=len(b))
        opt.zero_grad(set_to_none=True)
        value = chunked_loss_backward(net, task.loss, xb, targets[b], chunk)
        opt.step()
        total += value * len(b)
    return total / n


def train_from_scratch(
    net: nn.Module,
    x: Tensor,
    targets: Tensor,
    protocol: TrainProtocol,
    gen: torch.Generator,
    *,
    task: ClassificationTask = ClassificationTask(),
    augment: Augment | None = None,
) -> float:
    """Train ``net`` on ``x`` (N, ...) with ``targets`` (N,) or (N, C) under ``protocol``; returns the last
    epoch's mean training loss."""
    if x.shape[0] != targets.shape[0]:
        raise ConfigError(f"x has {x.shape[0]} samples but targets has {targets.shape[0]}")
    device = next(net.parameters()).device
    x, targets = x.to(device), targets.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay)
    decay_epoch = int(math.floor(protocol.epochs * protocol.lr_decay_at))
    last = float("nan")
    net.train()
    for ep in range(protocol.epochs):
        if ep == decay_epoch and ep > 0:
            for g in opt.param_groups:
                g["lr"] = protocol.lr * 0.1
        last = train_epoch(net, opt, x, targets, protocol.batch_size, gen, task=task, augment=augment, chunk=protocol.chunk)
    return last


__all__ = ["TrainProtocol", "accuracy_on", "balanced_accuracy", "scores_on", "train_epoch", "train_from_scratch"]
