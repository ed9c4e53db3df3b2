"""Distribution matching (DM, Zhao & Bilen, WACV 2023).

Every iteration draws a freshly initialised network and matches, per class, the mean embedding of a real
batch with the mean embedding of that class's synthetic samples (optionally the MMD with a Gaussian kernel, or any
distance of two sets of embeddings a caller gives: :data:`ClassLoss`).
The real side goes through the network under ``torch.inference_mode`` in chunks of ``real_chunk`` samples
(:func:`mmdistill.chunking.default_chunk`: 16 MNIST-sized samples on a CPU, where larger batches thrash the
caches in the normalisation, activation and pooling kernels; one batch on a GPU), the synthetic side in the
same chunks with an autograd graph. The network's weights are frozen (only the synthetic inputs receive
gradients). The chunks change nothing but speed: each sample's embedding is computed by the same per-sample
kernels.

With ``per_class`` the loss is computed class by class, each class's real batch and augmentation drawn from
its own stream ``(iteration seed, "class", c)``: under torchrun (``workers``) rank ``r`` computes the classes
``c % world == r``, the gradients are summed over the ranks and every rank applies the same update, so the set
is the same on 1 or K processes (:func:`mmdistill.matchers.apply_sharded_update`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from mmdistill.chunking import chunk_for, chunked_embed
from mmdistill.data import LabeledTensors
from mmdistill.distributed import Workers
from mmdistill.errors import ConfigError
from mmdistill.matchers import apply_sharded_update, apply_update
from mmdistill.memory import MemoryEstimate, nbytes, optimizer_state_factor, probe_network
from mmdistill.seeding import draw_seed, generator
from mmdistill.synthetic import SyntheticSet

Augment = Callable[..., Tensor]
ClassLoss = Callable[[Tensor, Tensor], Tensor]
"""``loss(emb_real (n, D), emb_syn (m, D)) -> scalar``: one class's distance, differentiable in ``emb_syn`` (the real
side carries no graph); summed over the classes. Another package's objective on DM's sampling, DSA, chunks and
sharding (CovMatch's means and covariances): ``make_dm_matcher(ctx, loss=...)``."""


def class_means(emb: Tensor, groups: Tensor, num_classes: int) -> Tensor:
    """Per-class mean of ``emb`` (N, D) with class ids ``groups`` (N,); returns (num_classes, D)."""
    sums = emb.new_zeros((num_classes, emb.shape[1])).index_add_(0, groups, emb)
    counts = torch.bincount(groups, minlength=num_classes).clamp_min(1).to(emb.dtype)
    return sums / counts[:, None]


def mean_embedding_loss(emb_real: Tensor, y_real: Tensor, emb_syn: Tensor, y_syn: Tensor, num_classes: int) -> Tensor:
    """DM's loss: ``sum_c || mean(emb_real[c]) - mean(emb_syn[c]) ||^2`` (a scalar)."""
    diff = class_means(emb_real, y_real, num_classes) - class_means(emb_syn, y_syn, num_classes)
    return (diff**2).sum()


def gaussian_mmd2(a: Tensor, b: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """Biased squared MMD between samples ``a`` (n, D) and ``b`` (m, D).

    The kernel is a sum of Gaussians ``exp(-||u - v||^2 / (2 * s^2 * d))`` with ``s`` in ``bandwidths``
    and ``d`` the mean squared distance of ``a`` to itself (a scale-free bandwidth).
    """
    xx, yy, xy = torch.cdist(a, a) ** 2, torch.cdist(b, b) ** 2, torch.cdist(a, b) ** 2
    scale = xx.detach().mean().clamp_min(1e-12)
    total = a.new_zeros(())
    for s in bandwidths:
        denom = 2.0 * s * s * scale
        total = total + torch.exp(-xx / denom).mean() + torch.exp(-yy / denom).mean() - 2 * torch.exp(-xy / denom).mean()
    return total


def mmd_loss(emb_real: Tensor, y_real: Tensor, emb_syn: Tensor, y_syn: Tensor, num_classes: int, bandwidths: Sequence[float]) -> Tensor:
    """Sum over classes of :func:`gaussian_mmd2` between the class's real and synthetic embeddings."""
    total = emb_syn.new_zeros(())
    for c in range(num_classes):
        total = total + gaussian_mmd2(emb_real[y_real == c], emb_syn[y_syn == c], bandwidths)
    return total


@dataclass
class DistributionMatching:
    """One DM iteration per :meth:`step`.

    Args:
        net: network exposing ``embed(x) -> (N, D)``; re-initialised every iteration by ``reinit``.
        reinit: ``reinit(net, generator)`` redraws the network's weights.
        real: the real training set, already on the compute device.
        batch_real: real samples per class per iteration (paper: 256).
        augment: DSA; class c's real and synthetic samples share one draw (``groups`` = class ids).
        loss: ``"mean"`` (the paper), ``"mmd"``, or a :data:`ClassLoss` (a distance of one class's real and
            synthetic embeddings, summed over the classes; per class, ``per_class`` or not).
        mmd_bandwidths: Gaussian bandwidth multipliers for ``loss="mmd"``.
        embed: optional replacement for ``net.embed`` (e.g. a compiled version of it).
        real_chunk: samples per forward (0: one batch; None: the device's
            :func:`~mmdistill.chunking.default_chunk`).
        decode: the synthetic set's model inputs (the adapter's ``decode``); with ``per_class`` it must keep
            samples independent (a class's rows of the decoded set depend only on that class's tensors).
        per_class: one work unit per class, seeded by ``(iteration seed, "class", c)`` (required for
            several processes; key ``shard_classes``).
        workers: the processes sharing the classes (rank ``r`` owns the classes ``c % world == r``).

    Modality hooks (as :class:`~mmdistill.matchers.gradient.GradientMatching`'s), for data that is not a
    batch of independent samples (a graph: message passing mixes classes, so embeddings are read off one
    forward of the whole graph); when both are set, ``real`` and ``augment`` are not used:

        real_embeddings(net, gen) -> (emb (N, D) without an autograd graph, class ids (N,)): the real side,
            its sampling drawn from ``gen``;
        syn_embeddings(net, decoded) -> (K, D): the synthetic side, rows in the order of ``syn.labels``.
    """

    net: nn.Module
    reinit: Callable[[nn.Module, torch.Generator], None]
    real: LabeledTensors | None
    batch_real: int = 256
    augment: Augment | None = None
    loss: str | ClassLoss = "mean"
    mmd_bandwidths: Sequence[float] = (0.5, 1.0, 2.0)
    embed: Callable[[Tensor], Tensor] | None = None
    real_chunk: int | None = None
    decode: Callable[[SyntheticSet], Any] = lambda syn: syn.x
    real_embeddings: Callable[[nn.Module, torch.Generator], tuple[Tensor, Tensor]] | None = None
    syn_embeddings: Callable[[nn.Module, Any], Tensor] | None = None
    per_class: bool = False
    workers: Workers = Workers()

    name = "distribution"

    def __post_init__(self) -> None:
        if not callable(self.loss) and self.loss not in ("mean", "mmd"):
            raise ConfigError(f"dm loss must be 'mean', 'mmd' or a function loss(emb_real, emb_syn) -> scalar, got {self.loss!r}")
        if (self.real_embeddings is None) != (self.syn_embeddings is None):
            raise ConfigError("distribution matching hooks come in pairs: give both real_embeddings and syn_embeddings, or neither")
        if self.real is None and self.real_embeddings is None:
            raise ConfigError("distribution matching needs the real training set or a real_embeddings hook")
        if self.workers.world > 1 and not self.per_class:
            raise ConfigError(f"distribution matching over {self.workers.world} processes needs shard_classes=true "
                              "(each class drawn from its own stream, so the set does not depend on the process count)")
        if self.per_class and self.real_embeddings is not None:
            raise ConfigError("shard_classes=true needs a set of independent samples; this modality's embedding hooks "
                              "(a graph) read every class off one forward: set shard_classes=false and run one process")
        if not hasattr(self.net, "embed"):
            raise ConfigError(f"{type(self.net).__name__} has no embed(); distribution matching needs one")
        for p in self.net.parameters():
            p.requires_grad_(False)

    @property
    def sharded(self) -> bool:
        """Whether the work is cut into units that several processes can share (``per_class``)."""
        return self.per_class

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        """Draw a fresh network and real batch, match embeddings, update ``syn`` in place."""
        self.reinit(self.net, gen)
        self.net.train()
        if self.real_embeddings is not None and self.syn_embeddings is not None:
            C = syn.num_classes
            emb_real, y_real = self.real_embeddings(self.net, gen)
            emb_syn = self.syn_embeddings(self.net, self.decode(syn))
            return {"loss": apply_update(self._loss(emb_real, y_real, emb_syn, syn.labels, C), optimizer) / C}
        assert self.real is not None  # checked in __post_init__
        if self.per_class:
            return self._step_per_class(syn, optimizer, gen)
        embed = self.embed or self.net.embed
        C = self.real.num_classes
        idx, y_real = self.real.sample_per_class(self.batch_real, gen)
        device = self.real.x.device
        x_real = self.real.x[idx.to(device)]
        y_real = y_real.to(device)
        x_syn, y_syn = self.decode(syn), syn.labels
        if self.augment is not None:
            seed = draw_seed(gen)
            x_real = self.augment(x_real, seed=seed, groups=y_real, num_groups=C)
            x_syn = self.augment(x_syn, seed=seed, groups=y_syn, num_groups=C)
        chunk = chunk_for(x_real, self.real_chunk)
        with torch.inference_mode():
            emb_real = chunked_embed(embed, x_real, chunk)
        emb_real = emb_real.clone()  # an ordinary tensor again: the loss's autograd graph may hold it
        emb_syn = chunked_embed(embed, x_syn, chunk)  # chunks keep the autograd graph; its backward runs per chunk too
        return {"loss": apply_update(self._loss(emb_real, y_real, emb_syn, y_syn, C), optimizer) / C}

    def _step_per_class(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        """The classes this rank owns, one at a time; gradients summed over the ranks (see the module)."""
        assert self.real is not None
        embed = self.embed or self.net.embed
        C = self.real.num_classes
        base = draw_seed(gen)  # the same on every rank: the network was drawn from ``gen`` just before
        device = self.real.x.device
        x_all, y_syn = self.decode(syn), syn.labels
        chunk = chunk_for(x_all, self.real_chunk)
        unit_losses = torch.zeros(C, dtype=torch.float64)
        local = x_all.new_zeros(())
        for c in self.workers.mine(range(C)):
            unit = generator(base, "class", c)
            pool = self.real.class_indices()[c]
            idx = pool[torch.randperm(pool.numel(), generator=unit)[: self.batch_real]]
            x_real, x_syn = self.real.x[idx.to(device)], x_all[y_syn == c]
            if self.augment is not None:
                seed = draw_seed(unit)
                x_real, x_syn = self.augment(x_real, seed=seed), self.augment(x_syn, seed=seed)
            with torch.inference_mode():
                emb_real = chunked_embed(embed, x_real, chunk)
            emb_real = emb_real.clone()
            emb_syn = chunked_embed(embed, x_syn, chunk)
            if callable(self.loss):
                loss_c = self.loss(emb_real, emb_syn)
            elif self.loss == "mean":
                loss_c = ((emb_real.mean(0) - emb_syn.mean(0)) ** 2).sum()
            else:
                loss_c = gaussian_mmd2(emb_real, emb_syn, self.mmd_bandwidths)
            unit_losses[c] = loss_c.detach().double().cpu()
            local = local + loss_c
        return {"loss": apply_sharded_update(local, unit_losses, optimizer, self.workers) / C}

    def memory_estimate(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer) -> MemoryEstimate | None:
        """Estimated peak bytes of one :meth:`step` on this rank (None with a graph's embedding hooks): the
        set with its gradient and optimizer state, the real data and network, the real batch (and its
        augmented copy), one real chunk's largest activation (input and output), and the synthetic side's
        autograd graph (:func:`mmdistill.memory.probe_network`) with its augmented copy. With ``per_class``
        the graph holds this rank's classes only, the real batch one class."""
        if self.real is None or self.real_embeddings is not None:
            return None
        x = self.decode(syn).detach()
        embed = self.embed or self.net.embed
        probe = probe_network(self.net, embed, x[0])
        C, sample = self.real.num_classes, x[0].numel() * x.element_size()
        mine = self.workers.mine(range(C)) if self.per_class else list(range(C))
        n_syn = int(sum(int((syn.labels == c).sum()) for c in mine))
        n_real = self.batch_real * (1 if self.per_class else C)  # per class: one class's batch at a time
        chunk = chunk_for(self.real.x, self.real_chunk)  # as step(): the real samples' device and shape
        chunk = min(chunk or n_real, n_real)
        copies = 2 if self.augment is not None else 1
        params = [p for g in optimizer.param_groups for p in g["params"]]
        parts = {
            "synthetic set": nbytes(params),
            "optimizer state": nbytes(params) * optimizer_state_factor(optimizer),
            "gradient": nbytes(params),
            "real data": nbytes([self.real.x]),
            "network": nbytes(list(self.net.parameters())),
            "real batch": n_real * sample * copies,
            "real forward": 2 * chunk * probe.activation,
            "synthetic graph": probe.graph(n_syn) + n_syn * sample * (copies - 1),
        }
        return MemoryEstimate(parts, keys=("ipc", "batch_real", "real_chunk"), resident=("real data", "network", "synthetic set", "optimizer state"))

    def _loss(self, emb_real: Tensor, y_real: Tensor, emb_syn: Tensor, y_syn: Tensor, num_classes: int) -> Tensor:
        if callable(self.loss):
            return sum((self.loss(emb_real[y_real == c], emb_syn[y_syn == c]) for c in range(num_classes)), emb_syn.new_zeros(()))
        if self.loss == "mean":
            return mean_embedding_loss(emb_real, y_real, emb_syn, y_syn, num_classes)
        return mmd_loss(emb_real, y_real, emb_syn, y_syn, num_classes, self.mmd_bandwidths)
