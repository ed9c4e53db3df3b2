"""TD3's bi-level meta-learning with random truncated back-propagation through time (RaT-BPTT).

One outer step (reference ``src/trainer.py`` of USTC-StarTeam/TD3, ``Trainer.fit``):

1. a learner starts from fresh weights with the pretrained embeddings (the evaluation's starting point; with
   ``match_pretrained_embedding=false`` from fresh embeddings that train, the starting point of evaluation with
   ``eval_pretrained_embedding=false``);
2. it takes ``curriculum`` ~ U[min_window, inner_steps - window] Adam steps on the summary *without* a graph,
   then ``window`` more Adam steps that are differentiated (the reference does this with ``higher``; here the
   learner runs through :func:`torch.func.functional_call` on a parameter dict and Adam is written out, so the
   update is differentiable; its moment estimates carry over from the first phase as ``higher`` copies them);
3. the outer loss is the unrolled learner's next-item cross-entropy on ``batch_real`` real windows plus
   ``align_weight`` x the MSE between its features and the pretrained learner's on the same positions (TD3's
   feature-space alignment);
4. the summary's learnable factors get that gradient, clipped to norm ``max_grad_norm``, and one Adam step at
   a cosine-decayed ``seq_lr``;
5. every ``select_every`` steps (default one epoch of real prefixes) the summary is scored on the validation item
   and the run ends with the best one (``selector``, :mod:`modalities.sequences.select`), as the reference
   keeps its best checkpoint.

Inner-loop augmentation is in the learner's summary loss (a random truncation position per sequence,
:func:`~modalities.sequences.train.summary_loss`). The same matcher distils a Farzi summary: only the decoder
of the set differs.

Differences from the reference, by design: the learner starts from a fresh draw every outer step (the
reference keeps training one model through an epoch after loading a pretraining snapshot from epochs 5-30);
the inner batches continue the fixed cycling order through the window (the reference restarts it at 0);
Adam's denominator is sqrt(v + eps^2) (differentiable at v = 0) instead of sqrt(v) + eps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from mmdistill.devices import twice_differentiable
from mmdistill.errors import DivergenceError
from mmdistill.seeding import draw_seed
from mmdistill.synthetic import SyntheticSet

from .select import summary_selector
from .sequence_data import SequenceData
from .summary import decode_summary, learnable_keys
from .train import LossModule, Pretrained, augmentation_positions, batch_indices, freezes_embedding, fresh_learner

Params = dict[str, Tensor]


@dataclass
class AdamState:
    """The state of :func:`adam_update`: first (``m``) and second (``v``) moment estimates per parameter name and
    the number of steps taken ``t`` (incremented before each step's bias correction)."""

    m: Params
    v: Params
    t: int = 0


def adam_update(params: Params, grads: Params, state: AdamState, lr: float, weight_decay: float,
                betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> Params:
    """One Adam step (L2 weight decay added to the gradient, as ``torch.optim.Adam``), differentiable when the
    gradients carry a graph."""
    state.t += 1
    b1, b2 = betas
    c1, c2 = 1 - b1 ** state.t, 1 - b2 ** state.t
    out: Params = {}
    for k, p in params.items():
        g = grads[k] + weight_decay * p if weight_decay else grads[k]
        state.m[k] = b1 * state.m[k] + (1 - b1) * g
        state.v[k] = b2 * state.v[k] + (1 - b2) * g * g
        out[k] = p - lr * (state.m[k] / c1) / torch.sqrt(state.v[k] / c2 + eps * eps)
    return out


class MetaMatcher:
    """TD3's outer step (see the module docstring); ``step`` returns loss, real, align and curriculum."""

    name = "td3-meta"
    #: what makes the outer loss diverge on the initial summary (:func:`mmdistill.loop.divergence_advice`)
    initial_divergence = "the inner learner's steps on the summary: lower net_lr, or inner_steps / window"

    def __init__(self, cfg: Any, data: SequenceData, pretrained: Pretrained, device: torch.device):
        self.cfg = cfg
        self.data = data
        self.pre = pretrained
        self.start = pretrained if cfg.match_pretrained_embedding else None  # what the matching learners start from
        self.device = device
        self.x_real, self.y_real = data.windows()
        if self.x_real.shape[0] == 0:
            from mmdistill.errors import DataError

            raise DataError(f"{data.name}: no training windows of two or more items to compute the outer loss on")
        self.targets = (self.y_real != data.pad).nonzero()  # (M, 2): window, position of every transition
        self.teacher = fresh_learner(cfg.network, data, cfg, None, torch.Generator().manual_seed(0)).to(device)
        self.teacher.load_state_dict(pretrained.state)
        self.teacher.eval()
        self.base_lr = float(cfg.seq_lr)
        self.iterations = max(1, int(cfg.iterations))
        self.trainable: tuple[str, ...] = ()
        self.selector = summary_selector(cfg, data, self.targets.shape[0], device)  # the reference's best checkpoint

    def start_iteration(self, it: int) -> None:
        """Cosine schedule of the summary's learning rate (the reference's ``seq_scheduler: cosine``)."""
        self.lr_now = self.base_lr * (0.5 * (1 + math.cos(math.pi * it / self.iterations)) if self.cfg.cosine else 1.0)

    # ------------------------------------------------------------------ pieces (also used by the tests)
    @property
    def embedding_frozen(self) -> bool:
        """The inner learner's item embedding is frozen (the same rule as evaluation's)."""
        return freezes_embedding(self.cfg, self.start)

    def fresh(self, gen: torch.Generator) -> tuple[LossModule, Params]:
        learner = fresh_learner(self.cfg.network, self.data, self.cfg, self.start, gen).to(self.device)
        module = LossModule(learner)
        frozen = learner.embedding_names() if self.embedding_frozen else ()
        params = {f"learner.{n}": p.detach().clone() for n, p in learner.named_parameters() if n not in frozen}
        return module, params

    def inner_loss(self, module: LossModule, params: Params, dist: Tensor, step: int, gen: torch.Generator,
                   emb: Tensor | None = None) -> Tensor:
        idx = batch_indices(step, dist.shape[0], min(self.cfg.learner_batch, dist.shape[0])).to(dist.device)
        pos = augmentation_positions(len(idx), dist.shape[1], gen)
        if emb is not None:
            return functional_call(module, params, ("summary_emb", dist[idx], pos, emb[idx]), strict=False)
        return functional_call(module, params, ("summary", dist[idx], pos), strict=False)

    def frozen_inputs(self, module: LossModule, dist: Tensor) -> Tensor | None:
        """``dist @ E`` once per outer step when the item embedding is frozen (the same for every inner step)."""
        if not self.embedding_frozen:
            return None
        return module.learner.embed_dist(dist)

    def unroll(self, syn: SyntheticSet, module: LossModule, params: Params, gen: torch.Generator, curriculum: int,
               window: int) -> Params:
        """``curriculum`` steps without a graph, then ``window`` differentiable steps; the final parameters."""
        cfg = self.cfg
        state = AdamState({k: torch.zeros_like(p) for k, p in params.items()}, {k: torch.zeros_like(p) for k, p in params.items()})
        with torch.no_grad():
            dist_fixed = decode_summary(syn)
            emb_fixed = self.frozen_inputs(module, dist_fixed)
        for step in range(curriculum):
            ps = {k: p.detach().requires_grad_(True) for k, p in params.items()}
            loss = self.inner_loss(module, ps, dist_fixed, step, gen, emb_fixed)
            grads = dict(zip(ps, torch.autograd.grad(loss, list(ps.values()))))
            with torch.no_grad():
                params = adam_update({k: p.detach() for k, p in ps.items()}, grads, state, cfg.net_lr, cfg.net_weight_decay)
        dist = decode_summary(syn)  # with the graph to the factors
        emb = self.frozen_inputs(module, dist)
        params = {k: p.detach().requires_grad_(True) for k, p in params.items()}
        state = AdamState({k: v.detach() for k, v in state.m.items()}, {k: v.detach() for k, v in state.v.items()}, state.t)
        with twice_differentiable(self.device, module):  # no cuDNN GRU here: it has no double backward
            for step in range(curriculum, curriculum + window):
                loss = self.inner_loss(module, params, dist, step, gen, emb)
                grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()), create_graph=True)))
                params = adam_update(params, grads, state, cfg.net_lr, cfg.net_weight_decay)
        return params

    def outer_loss(self, module: LossModule, params: Params, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """The learner's loss on ``batch_real`` real prefixes (random training transitions, each with up to
        ``max_len`` items of context: the reference's batches of RecBole prefix samples) plus the alignment."""
        n = self.targets.shape[0]
        pick = self.targets[torch.randperm(n, generator=gen)[: min(self.cfg.batch_real, n)]]
        rows, inverse = torch.unique(pick[:, 0], return_inverse=True)
        select = torch.zeros(len(rows), self.x_real.shape[1], dtype=torch.bool)
        select[inverse, pick[:, 1]] = True
        x, y, select = self.x_real[rows].to(self.device), self.y_real[rows].to(self.device), select.to(self.device)
        loss_real, feats = functional_call(module, params, ("real", x, y, select), strict=False)
        if self.cfg.align_weight:
            with torch.no_grad():
                h = self.teacher.encode(self.teacher.embed_ids(x))
                target = h[select]
            align = F.mse_loss(feats, target)
        else:
            align = torch.zeros((), device=self.device)
        return loss_real + self.cfg.align_weight * align, loss_real, align

    # ------------------------------------------------------------------ the loop's step
    def outer(self, syn: SyntheticSet, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, int]:
        """The outer loss of one step (all its randomness from ``gen``): (loss, real part, alignment, curriculum)."""
        cfg = self.cfg
        torch.manual_seed(draw_seed(gen))  # the learners' dropout
        module, params = self.fresh(gen)
        high = cfg.inner_steps - cfg.window
        curriculum = int(torch.randint(cfg.min_window, high + 1, (1,), generator=gen)) if high > cfg.min_window else cfg.min_window
        params = self.unroll(syn, module, params, gen, curriculum, cfg.window)
        loss, loss_real, align = self.outer_loss(module, params, gen)
        return loss, loss_real, align, curriculum

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        cfg = self.cfg
        if not hasattr(self, "lr_now"):
            self.start_iteration(0)
        loss, loss_real, align, curriculum = self.outer(syn, gen)
        if not torch.isfinite(loss):
            raise DivergenceError(f"non-finite outer loss {float(loss)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        learn = [syn.data[k] for k in learnable_keys(syn)]
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(learn, cfg.max_grad_norm)
        for group in optimizer.param_groups:
            group["lr"] = self.lr_now
        optimizer.step()
        return {"loss": float(loss.detach()), "real": float(loss_real.detach()), "align": float(align.detach()),
                "curriculum": float(curriculum), "lr": self.lr_now}


__all__ = ["AdamState", "MetaMatcher", "adam_update"]
