"""The student objectives of trajectory matching (:mod:`mmdistill.matchers.trajectory`): what a student step's loss
on a synthetic minibatch is. :class:`ClassificationStudent` serves every classification modality (a ConvNet on
images, an audio ConvNet, ConvNet3D on clips); the image-text adapter has its own (a contrastive dual encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from mmdistill.chunking import chunk_for, chunked_embed
from mmdistill.seeding import seeded_global_rng
from mmdistill.synthetic import SyntheticSet

Augment = Callable[..., Tensor]


class StudentObjective(Protocol):
    """The student's training loss on a minibatch of the synthetic set."""

    def loss(self, params: dict[str, Tensor], syn: SyntheticSet, idx: Tensor, seed: int) -> Tensor:
        """Loss of the student with parameters ``params`` (name -> tensor) on samples ``idx`` (B,) of ``syn``;
        ``seed`` fixes the minibatch's augmentation (the same seed must give the same loss). Differentiable
        with respect to ``params`` and ``syn.parameters()``."""
        ...

    # Optional: ``shared_graph(syn) -> Tensor | None`` builds the part of the graph that one iteration makes once and
    # every student step reuses (e.g. a frozen prefix over all synthetic samples), so the memory planner counts it
    # once, not per step; the next ``loss`` calls must reuse what it built.


@runtime_checkable
class SplittableStudent(Protocol):
    """A student objective whose minibatch can be split across processes (its loss a mean over samples)."""

    def part_loss(self, params: dict[str, Tensor], syn: SyntheticSet, idx: Tensor, seed: int, positions: Tensor,
                  batch: int) -> Tensor:
        """The mean loss over samples ``idx`` (n,), which sit at ``positions`` (n,) of a minibatch of ``batch``
        samples augmented with ``seed`` (each sample gets the draw of its position, as in the whole batch)."""
        ...


class StudentTask(Protocol):
    """What :class:`ClassificationStudent` uses of its task (:class:`~mmdistill.task.ClassificationTask`)."""

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The differentiable loss of ``logits`` (N, C) against the synthetic samples' targets (N,) or (N, C)."""
        ...


@dataclass
class ClassificationStudent:
    """The student objective of classification modalities: the task loss of ``net`` on decoded synthetic
    samples (with their hard, soft or learnable targets), each sample augmented with its own draw (as MTT's
    DSA with ``Siamese=False``). The forward runs in the device's cache-sized chunks
    (:mod:`mmdistill.chunking`), each with its own piece of the graph: the same loss and gradients."""

    net: nn.Module
    task: StudentTask
    decode: Callable[[SyntheticSet], Tensor] = lambda syn: syn.x
    augment: Augment | None = None

    def loss(self, params: dict[str, Tensor], syn: SyntheticSet, idx: Tensor, seed: int) -> Tensor:
        return self.part_loss(params, syn, idx, seed, torch.arange(len(idx), device=idx.device), len(idx))

    def part_loss(self, params: dict[str, Tensor], syn: SyntheticSet, idx: Tensor, seed: int, positions: Tensor,
                  batch: int) -> Tensor:
        x = self.decode(syn)[idx]
        if self.augment is not None:
            x = self.augment(x, seed=seed, groups=positions.to(x.device), num_groups=batch)
        # what the network draws from torch's global generator (dropout: the video ConvNet3D's 0.5) comes from the
        # step's seed, the global state left as it was: TESLA's reverse sweep recomputes a step with the masks of its
        # forward sweep (else its gradient is another function's), and a resumed run draws what an uninterrupted one did
        with seeded_global_rng(seed, [x.device]):
            out = chunked_embed(lambda part: functional_call(self.net, params, (part,)), x, chunk_for(x, net=self.net))
        return self.task.loss(out, syn.targets()[idx])


__all__ = ["Augment", "ClassificationStudent", "SplittableStudent", "StudentObjective"]
