"""Training a dual encoder: the student loss on a batch of pairs, one expert epoch on the real pairs, the
evaluation protocol on a small set of pairs, and retrieval on a split.

* :func:`student_loss` — the contrastive loss of a (synthetic or real) :class:`PairBatch` under ``net``,
  optionally with other parameters (``torch.func.functional_call``): what trajectory matching unrolls.
* :func:`train_epoch` — one epoch over every real caption pair in shuffled batches (reference ``buffer.py``:
  SGD, lr 0.1 for both groups, no momentum, batch 128, training augmentation): what an expert does.
* :func:`train_on_pairs` — the evaluation protocol: SGD momentum 0.9, weight decay 5e-4, the image and
  text groups with their own learning rates, x0.1 after half of the epochs, the whole set reshuffled into
  batches every epoch, soft targets restricted to each batch.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from mmdistill.errors import ConfigError

from .data import PairBatch, PairSplit
from .model import DualEncoder
from .task import ContrastiveTask, retrieval_recalls


def student_loss(net: nn.Module, batch: PairBatch, task: ContrastiveTask, params: dict[str, Tensor] | None = None,
                 from_prefix: bool = False) -> Tensor:
    """The task loss of ``batch`` under ``net`` (or under ``params``, a name -> tensor mapping of some or all
    of its parameters, through ``functional_call``; gradients flow to ``params`` and to the batch).
    ``from_prefix``: ``batch.images`` are a split image encoder's frozen-prefix features (B, C, h, w)."""
    args = (batch.images, batch.text, True) if from_prefix else (batch.images, batch.text)
    logits = net(*args) if params is None else functional_call(net, params, args, strict=False)
    return task.loss(logits, batch.targets)


def pair_augment(images: Tensor, gen: torch.Generator, min_scale: float = 0.5) -> Tensor:
    """Per-image random resized crop (area in [min_scale, 1], aspect 3/4..4/3, bilinear) and horizontal flip,
    drawn from ``gen``: the reference's training transform without RandAugment, on tensors."""
    n = images.shape[0]
    area = min_scale + (1 - min_scale) * torch.rand(n, generator=gen)
    log_ratio = (torch.rand(n, generator=gen) * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - sx)
    ty = (torch.rand(n, generator=gen) * 2 - 1) * (1 - sy)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def sgd_for(net: DualEncoder, lr_image: float, lr_text: float, momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.SGD:
    """SGD over the trainable parameters with one group per trajectory (``image``, ``text``)."""
    params = dict(net.named_parameters())
    groups = [{"params": [params[n] for n in names], "lr": lr}
              for names, lr in ((net.parameter_groups()["image"], lr_image), (net.parameter_groups()["text"], lr_text)) if names]
    if not groups:
        raise ConfigError("the dual encoder has no trainable parameter")
    return torch.optim.SGD(groups, lr=lr_text, momentum=momentum, weight_decay=weight_decay)


def expert_optimizer(net: DualEncoder, lr_image: float = 0.1, lr_text: float = 0.1) -> torch.optim.SGD:
    """The reference expert optimizer: plain SGD (no momentum, no weight decay), one lr per trajectory."""
    return sgd_for(net, lr_image, lr_text)


def train_epoch(
    net: DualEncoder,
    split: PairSplit,
    optimizer: torch.optim.Optimizer,
    gen: torch.Generator,
    *,
    batch_size: int = 128,
    task: ContrastiveTask = ContrastiveTask(),
    augment: bool = True,
) -> float:
    """One pass over every caption pair of ``split`` (with its image) in shuffled batches of ``batch_size``
    (the last, smaller batch is kept when it holds at least 2 pairs); hard contrastive targets. Returns the
    mean training loss. All randomness (order, augmentation) comes from ``gen``."""
    if split.text is None:
        raise ConfigError("train_epoch needs the split's caption embeddings (split.text)")
    net.train()
    device = split.images.device
    order = torch.randperm(split.num_pairs, generator=gen).to(device)
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2:
            break
        batch = split.pairs(idx)
        if augment:
            batch = PairBatch(pair_augment(batch.images, gen), batch.text)
        loss = student_loss(net, batch, task)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / max(count, 1)


def train_on_pairs(
    net: nn.Module,
    pairs: PairBatch,
    *,
    epochs: int,
    lr_image: float = 0.1,
    lr_text: float = 0.1,
    batch_size: int,
    gen: torch.Generator,
    task: ContrastiveTask = ContrastiveTask(),
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    optimizer: torch.optim.Optimizer | None = None,
) -> float:
    """Train ``net`` on ``pairs`` with the evaluation protocol (module docstring); returns the last epoch's
    mean loss. The learning rates drop x0.1 after ``epochs // 2`` epochs, as in the reference. ``optimizer``
    replaces the protocol's SGD (``lr_*``, ``momentum`` and ``weight_decay`` are then unused)."""
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"evaluation epochs and batch size must be >= 1, got {epochs} and {batch_size}")
    device = next(net.parameters()).device
    pairs = pairs.to(device)
    opt = optimizer or sgd_for(net, lr_image, lr_text, momentum, weight_decay)  # type: ignore[arg-type]
    base = [g["lr"] for g in opt.param_groups]
    net.train()
    last = float("nan")
    for ep in range(epochs):
        if ep == epochs // 2 + 1:
            for g, lr in zip(opt.param_groups, base):
                g["lr"] = lr * 0.1
        order = torch.randperm(len(pairs), generator=gen).to(device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss = student_loss(net, pairs.subset(idx), task)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        last = total / len(pairs)
    return last


class PairEncoder(Protocol):
    """What :func:`embed_split` and :func:`retrieval_on` use of a network: a :class:`~.model.DualEncoder`, or the
    CLIP fine-tuning evaluation's image tower (:class:`~.clip_finetune.ClipImageTower`)."""

    def eval(self) -> Any: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def encode_image(self, images: Tensor) -> Tensor: ...

    def encode_text(self, text: Tensor) -> Tensor: ...


@torch.no_grad()
def embed_split(net: PairEncoder, split: PairSplit, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """Unit-length embeddings of the split's images (N_img, D) and captions (N_cap, D), eval mode."""
    if split.text is None:
        raise ConfigError("the split's captions are not embedded")
    net.eval()
    device = next(net.parameters()).device
    img = torch.cat([net.encode_image(split.normalised_images(slice(s, s + batch_size), device)) for s in range(0, split.num_images, batch_size)])
    txt = torch.cat([net.encode_text(split.text[s : s + batch_size].to(device)) for s in range(0, split.num_pairs, batch_size)])
    return img, txt


def retrieval_on(net: PairEncoder, split: PairSplit) -> dict[str, float]:
    """Image->text and text->image recall@1/5/10 (and ``r10_mean``) of ``net`` on ``split``."""
    img, txt = embed_split(net, split)
    return retrieval_recalls(img @ txt.T, split.caption_image)


__all__ = ["embed_split", "expert_optimizer", "pair_augment", "retrieval_on", "sgd_for", "student_loss", "train_epoch", "train_on_pairs"]
