"""Memory planning of trajectory matching: the estimated peak of one MTT or TESLA iteration on this rank."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from mmdistill.memory import MemoryEstimate, graph_bytes, nbytes, optimizer_state_factor, probe_graph

StudentStep = Callable[[Tensor, Tensor], Tensor]
"""``loss(w, idx) -> scalar``: the student's loss with flat parameters ``w`` (P,) on synthetic samples ``idx``."""


def estimate(student_loss: StudentStep, alpha: Tensor, num_samples: int, optimizer: torch.optim.Optimizer, net: nn.Module | None, *,
             syn_steps: int, batch: int, world: int, method: str, offload: bool,
             shared: Callable[[], Tensor | None] | None = None) -> MemoryEstimate:
    """Estimated peak bytes of one trajectory-matching iteration on one rank: the set with its gradient and
    optimizer state, the network, two expert rows (P values each, ``alpha`` (P,) the step size per parameter),
    and the student steps' graphs (MTT: ``syn_steps`` graphs of this rank's share of a minibatch of ``batch``;
    TESLA: one step's, plus ``syn_steps`` parameter vectors unless ``offload``). A step's graph (forward, the
    gradient with its double-backward graph, the update) is measured on two and four samples
    (:func:`mmdistill.memory.probe_graph`).

    ``shared``: builds the part of the graph that one iteration makes once and every student step reuses (a
    frozen prefix over all synthetic samples: a student's optional ``shared_graph``); it is built first, counted
    once as ``shared graph``, and ``student_loss`` must then reuse it, so the steps' probes leave it out."""
    alpha = alpha.detach()
    shared_bytes = graph_bytes(lambda: _or_empty(shared())) if shared is not None else 0  # the student keeps it for the probes
    w0 = torch.zeros_like(alpha)

    def one_step(n: int) -> Tensor:
        w = w0.clone().requires_grad_(True)
        idx = torch.arange(n, device=alpha.device) % num_samples
        (g,) = torch.autograd.grad(student_loss(w, idx), w, create_graph=True)
        return w - alpha * g

    fixed, per = probe_graph(one_step, (2, 4))  # two sizes of 2 or more: a contrastive student needs pairs
    share = -(-batch // world)  # the largest share of a minibatch
    params = [p for g in optimizer.param_groups for p in g["params"]]
    P = alpha.numel() * alpha.element_size()
    parts = {
        "synthetic set": nbytes(params),
        "optimizer state": nbytes(params) * optimizer_state_factor(optimizer),
        "gradient": nbytes(params),
        "network": nbytes(list(net.parameters())) if net is not None else 0,
        "expert rows": 2 * P,
        "student graphs": (syn_steps if method == "mtt" else 1) * (fixed + per * share),
    }
    if shared_bytes:
        parts["shared graph"] = shared_bytes
    if method == "tesla" and not offload:
        parts["student parameters"] = syn_steps * P
    return MemoryEstimate(parts, keys=("syn_steps", "batch_syn", "method=tesla") if method == "mtt" else ("batch_syn",),
                          resident=("synthetic set", "optimizer state", "network", "expert rows"))


def _or_empty(graph: Tensor | None) -> Tensor:
    return graph if graph is not None else torch.zeros(0)  # no shared part: nothing to count


__all__ = ["estimate"]
