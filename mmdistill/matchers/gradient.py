"""Gradient matching (DC, Zhao et al. ICLR 2021; DSA, Zhao & Bilen ICML 2021).

Per class, the gradient of the task loss w.r.t. the network weights on a real batch is matched by the
gradient on that class's synthetic samples. One outer iteration draws a fresh network and alternates
``outer_loop`` synthetic updates with ``inner_loop`` epochs of network training on the synthetic set.

The per-class losses, the class weights and the inner network training are modality-neutral hooks of
:class:`GradientMatching`: left unset, it samples a class's real batch from a :class:`LabeledTensors` and
feeds the network a class's synthetic samples alone (DC/DSA); set, a modality supplies its own losses, e.g.
a graph's class loss is read off one forward of the whole (real or synthetic) graph, because message
passing mixes the classes (GCond).

With ``per_class`` each class's real batch and augmentation come from its own stream ``(seed drawn for the
synthetic update, "class", c)``; under torchrun (``workers``) rank ``r`` matches the classes ``c % world == r``,
the gradients of the set are summed over the ranks and every rank applies the same update and trains the same
network on the same set, so the set is the same on 1 or K processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from mmdistill.chunking import chunk_for, chunked_loss_backward, chunked_loss_grad
from mmdistill.data import LabeledTensors
from mmdistill.distributed import Workers
from mmdistill.errors import ConfigError
from mmdistill.matchers import apply_sharded_update, apply_update
from mmdistill.seeding import draw_seed, generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

Augment = Callable[..., Tensor]

def layerwise_distance(g_real: Tensor, g_syn: Tensor) -> Tensor:
    """DC's distance between two gradients of one layer.

    Conv weights (out, in, h, w) and 3-D tensors are viewed as (out, rest); linear weights stay (out, in);
    1-D tensors (biases, norm parameters) contribute 0, as in the paper. The distance is
    ``sum_i (1 - cos(g_real[i], g_syn[i]))`` over output units i.
    """
    if g_real.dim() == 1:
        return g_syn.new_zeros(())
    gr = g_real.reshape(g_real.shape[0], -1)
    gs = g_syn.reshape(g_syn.shape[0], -1)
    cos = (gr * gs).sum(-1) / (gr.norm(dim=-1) * gs.norm(dim=-1) + 1e-6)
    return (1.0 - cos).sum()


def gradient_distance(g_syn: Sequence[Tensor], g_real: Sequence[Tensor], metric: str = "ours") -> Tensor:
    """Distance between two lists of per-parameter gradients.

    ``metric``: ``"ours"`` (the paper's layer-wise distance), ``"mse"`` (squared distance of the flattened
    gradients) or ``"cos"`` (1 - cosine of the flattened gradients).
    """
    if metric == "ours":
        return torch.stack([layerwise_distance(r, s) for r, s in zip(g_real, g_syn)]).sum()
    flat_r = torch.cat([g.reshape(-1) for g in g_real])
    flat_s = torch.cat([g.reshape(-1) for g in g_syn])
    if metric == "mse":
        return ((flat_s - flat_r) ** 2).sum()
    if metric == "cos":
        return 1.0 - (flat_r * flat_s).sum() / (flat_r.norm() * flat_s.norm() + 1e-6)
    raise ConfigError(f"dis_metric must be 'ours', 'mse' or 'cos', got {metric!r}")


def _has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@dataclass
class GradientMatching:
    """One DC/DSA outer iteration per :meth:`step`.

    Args:
        net: the matching network (re-initialised at every iteration through ``reinit``).
        reinit: ``reinit(net, generator)`` redraws the network's weights.
        real: the real training set, already on the compute device.
        task: loss used for the matched gradients and for the inner network training.
        outer_loop, inner_loop: the paper's loop counts for the IPC (``tables/dc.yaml`` of the recipes).
        lr_net: SGD learning rate of the inner network training.
        batch_real: real samples per class per match.
        batch_train: batch size of the inner network training.
        augment: DSA (same draw for the real and synthetic batch of a class), or None for DC.
        dis_metric: see :func:`gradient_distance`.
        bn_batch: real samples per class that set the BatchNorm statistics frozen for each outer loop's matches
            (reference: 16); the inner network training runs BatchNorm in training mode, as the reference's.
        real_chunk: real samples per forward/backward of a class's real gradient (0: one batch; None: the
            device's :func:`~mmdistill.chunking.default_chunk`); the gradient is the same (a size-weighted
            sum of the pieces' gradients) and the network must split exactly (no BatchNorm in training mode).
        decode: the model inputs of the synthetic set (raw parameterization: ``syn.x``).
        per_class: each class drawn from its own stream (key ``shard_classes``; needed for several processes).
        workers: the processes sharing the classes (rank ``r`` owns the classes ``c % world == r``).

    Modality-neutral hooks (all optional; unset, the DC/DSA behaviour above is unchanged):
        real_class_losses: ``(net, generator) -> [loss_0, ..., loss_{C-1}]`` on each class's real data (one
            forward may serve every class; then ``real`` may be None).
        syn_class_losses: ``(net, decoded) -> [loss_0, ..., loss_{C-1}]`` from the decoded synthetic set,
            differentiable in it (one forward may serve every class).
        syn_train_loss: ``(net, decoded) -> loss`` of one inner training step on the decoded set (computed
            without gradient to the set); with it, ``inner_loop`` counts steps instead of epochs.
        class_weights: per-class factors of the class's gradient distance (GCond: n_c / max n_c).
        make_net_optimizer: ``(params) -> optimizer`` of the inner network training (default SGD, ``lr_net``).
    """

    net: nn.Module
    reinit: Callable[[nn.Module, torch.Generator], None]
    real: LabeledTensors | None
    task: ClassificationTask
    outer_loop: int
    inner_loop: int
    lr_net: float = 0.01
    batch_real: int = 256
    batch_train: int = 256
    augment: Augment | None = None
    dis_metric: str = "ours"
    bn_batch: int = 16
    real_chunk: int | None = None
    decode: Callable[[SyntheticSet], Any] = lambda syn: syn.x
    real_class_losses: Callable[[nn.Module, torch.Generator], Sequence[Tensor]] | None = None
    syn_class_losses: Callable[[nn.Module, Any], Sequence[Tensor]] | None = None
    syn_train_loss: Callable[[nn.Module, Any], Tensor] | None = None
    class_weights: Sequence[float] | None = None
    make_net_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer] | None = None
    per_class: bool = False
    workers: Workers = Workers()

    name = "gradient"

    def __post_init__(self) -> None:
        if self.real is None and (self.real_class_losses is None or self.syn_class_losses is None):
            raise ConfigError("GradientMatching needs the real data, or both real_class_losses and syn_class_losses")
        if self.workers.world > 1 and not self.per_class:
            raise ConfigError(f"gradient matching over {self.workers.world} processes needs shard_classes=true "
                              "(each class drawn from its own stream, so the set does not depend on the process count)")
        if self.per_class and self.real_class_losses is not None:
            raise ConfigError("shard_classes=true needs a set of independent samples; this modality's class-loss hooks "
                              "(a graph) read every class off one forward: set shard_classes=false and run one process")

    @property
    def sharded(self) -> bool:
        """Whether the classes can be shared by several processes (``per_class``)."""
        return self.per_class

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        """Run one outer iteration (updates ``syn`` in place through ``optimizer``); returns its mean loss."""
        net = self.net
        self.reinit(net, gen)
        net.train()
        params = list(net.parameters())
        for p in params:
            p.requires_grad_(True)
        net_opt = self.make_net_optimizer(params) if self.make_net_optimizer else torch.optim.SGD(params, lr=self.lr_net)
        slices = syn.class_slices()
        hooked = self.real_class_losses is not None
        total = 0.0
        for ol in range(self.outer_loop):
            if _has_batchnorm(net):
                self._freeze_batchnorm(net, gen)
            if self.per_class:
                total += self._match_sharded(net, params, syn, slices, draw_seed(gen), optimizer)
            else:
                loss = self._match_hooked(net, params, syn, gen) if hooked else self._match(net, params, syn, slices, gen)
                total += apply_update(loss, optimizer)
            if ol == self.outer_loop - 1:
                break
            if _has_batchnorm(net):  # frozen for the matches only: the network trains on batch statistics, as the
                net.train()  # reference's inner loop (epoch('train') calls net.train() first)
            if self.syn_train_loss is not None:
                self._train_net_hooked(net, net_opt, syn)
            else:
                self._train_net(net, net_opt, syn, gen)
        return {"loss": total / (syn.num_classes * self.outer_loop)}

    def _match_hooked(self, net: nn.Module, params: list[Tensor], syn: SyntheticSet, gen: torch.Generator) -> Tensor:
        """The matching loss from the hooks: ``sum_c w_c * D(grad real loss_c, grad synthetic loss_c)``."""
        assert self.real_class_losses is not None and self.syn_class_losses is not None
        C = syn.num_classes
        real_losses = self.real_class_losses(net, gen)
        syn_losses = self.syn_class_losses(net, self.decode(syn))
        if len(real_losses) != C or len(syn_losses) != C:
            raise ConfigError(f"the class-loss hooks gave {len(real_losses)} real and {len(syn_losses)} synthetic losses for {C} classes")
        weights = list(self.class_weights) if self.class_weights is not None else [1.0] * C
        loss = syn_losses[0].new_zeros(())
        for c in range(C):
            g_real = [g.detach() for g in torch.autograd.grad(real_losses[c], params, retain_graph=c < C - 1)]
            g_syn = torch.autograd.grad(syn_losses[c], params, create_graph=True)
            loss = loss + weights[c] * gradient_distance(g_syn, g_real, self.dis_metric)
        return loss

    def _train_net_hooked(self, net: nn.Module, net_opt: torch.optim.Optimizer, syn: SyntheticSet) -> None:
        """``inner_loop`` steps of ``syn_train_loss`` on the decoded set, without gradient to the set."""
        assert self.syn_train_loss is not None
        with torch.no_grad():
            decoded = self.decode(syn)
        for _ in range(self.inner_loop):
            loss = self.syn_train_loss(net, decoded)
            net_opt.zero_grad(set_to_none=True)
            loss.backward()
            net_opt.step()

    def _match(self, net: nn.Module, params: list[Tensor], syn: SyntheticSet, slices: list[slice], gen: torch.Generator) -> Tensor:
        x_syn_all = self.decode(syn)
        targets = syn.targets()
        loss = x_syn_all.new_zeros(())
        for c, sl in enumerate(slices):
            idx = self.real.class_indices()[c]
            pick = idx[torch.randperm(idx.numel(), generator=gen)[: self.batch_real]]
            x_real, y_real = self.real.x[pick], self.real.y[pick]
            x_syn, t_syn = x_syn_all[sl], targets[sl]
            if self.augment is not None:
                seed = draw_seed(gen)
                x_real = self.augment(x_real, seed=seed)
                x_syn = self.augment(x_syn, seed=seed)
            g_real = chunked_loss_grad(net, self.task.loss, x_real, y_real, params, chunk_for(x_real, self.real_chunk, net))
            g_syn = torch.autograd.grad(self.task.loss(net(x_syn), t_syn), params, create_graph=True)
            loss = loss + gradient_distance(g_syn, g_real, self.dis_metric)
        return loss

    def _match_sharded(self, net: nn.Module, params: list[Tensor], syn: SyntheticSet, slices: list[slice], base: int,
                       optimizer: torch.optim.Optimizer) -> float:
        """This rank's classes, class ``c`` drawn from ``generator(base, "class", c)``; one sharded update."""
        assert self.real is not None
        x_syn_all, targets = self.decode(syn), syn.targets()
        unit_losses = torch.zeros(len(slices), dtype=torch.float64)
        local = x_syn_all.new_zeros(())
        for c in self.workers.mine(range(len(slices))):
            unit = generator(base, "class", c)
            idx = self.real.class_indices()[c]
            pick = idx[torch.randperm(idx.numel(), generator=unit)[: self.batch_real]]
            x_real, y_real = self.real.x[pick], self.real.y[pick]
            x_syn, t_syn = x_syn_all[slices[c]], targets[slices[c]]
            if self.augment is not None:
                seed = draw_seed(unit)
                x_real, x_syn = self.augment(x_real, seed=seed), self.augment(x_syn, seed=seed)
            g_real = chunked_loss_grad(net, self.task.loss, x_real, y_real, params, chunk_for(x_real, self.real_chunk, net))
            g_syn = torch.autograd.grad(self.task.loss(net(x_syn), t_syn), params, create_graph=True)
            loss_c = gradient_distance(g_syn, g_real, self.dis_metric)
            unit_losses[c] = loss_c.detach().double().cpu()
            local = local + loss_c
        return apply_sharded_update(local, unit_losses, optimizer, self.workers)

    def _train_net(self, net: nn.Module, net_opt: torch.optim.Optimizer, syn: SyntheticSet, gen: torch.Generator) -> None:
        x = self.decode(syn).detach()
        t = syn.targets().detach()
        n = x.shape[0]
        chunk = chunk_for(x, self.real_chunk, net)
        for _ in range(self.inner_loop):
            order = torch.randperm(n, generator=gen).to(x.device)
            for start in range(0, n, self.batch_train):
                b = order[start : start + self.batch_train]
                xb = x[b]
                if self.augment is not None:  # reference: an independent draw per sample when training
                    xb = self.augment(xb, seed=draw_seed(gen), groups=torch.arange(len(b), device=x.device), num_groups=len(b))
                net_opt.zero_grad(set_to_none=True)
                chunked_loss_backward(net, self.task.loss, xb, t[b], chunk)
                net_opt.step()

    def _freeze_batchnorm(self, net: nn.Module, gen: torch.Generator) -> None:
        """Set BatchNorm running statistics from ``bn_batch`` real samples per class, then freeze them."""
        if self.real is None:
            raise ConfigError(f"{type(net).__name__} has BatchNorm, which needs real samples to freeze its "
                              "statistics; use a network without BatchNorm with these hooks")
        idx, _ = self.real.sample_per_class(self.bn_batch, gen)
        net.train()
        with torch.no_grad():
            net(self.real.x[idx.to(self.real.x.device)])
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
