"""Trajectory matching (MTT, Cazenavette et al. CVPR 2022; TESLA, Cui et al. ICML 2023).

One outer iteration picks an expert and a start epoch ``s < max_start_epoch``, starts a *student* at the
expert's parameters ``w_s``, takes ``syn_steps`` SGD steps on minibatches of the synthetic set with the learnable
step size ``alpha``, and measures how far the student lands from the expert ``expert_epochs`` later::

    loss = ||w_N - w_{s+M}||^2 / ||w_s - w_{s+M}||^2

The synthetic data, ``alpha`` (and learnable labels) receive the gradient of this loss through all N steps.
With ``relabel`` (soft labels, TESLA's ``--teacher_label``) the set's soft labels are recomputed at the start of
every iteration by the drawn expert's target parameters ``w_{s+M}`` on the current synthetic samples.
With ``segments`` the parameters are matched part by part and the normalised distances summed (bi-trajectory
matching of an image encoder and a text projection: each part's trajectory counts the same whatever its size);
with ``step_sizes`` each segment also has its own learnable step size (the reference's ``syn_lr_img`` and
``syn_lr_txt``), so ``alpha`` is a diagonal matrix that is constant on each segment.

* ``method="mtt"`` differentiates the unrolled steps with autograd: memory grows with ``syn_steps``, since the
  graph of every step (activations included) is kept until the backward pass.
* ``method="tesla"`` computes the *same* gradient with memory independent of ``syn_steps``: a forward sweep
  without graphs records the student parameters ``w_i`` (offloaded to the host on a GPU), then a reverse sweep
  rebuilds one step's graph at a time and carries the adjoint ``lambda_i = dL/dw_i`` backwards::

      w_{i+1} = w_i - alpha g_i(w_i, X_i)
      dL/dX_i  += -alpha (lambda_{i+1} . dg_i/dX_i)            (a VJP through the step's gradient)
      lambda_i  = lambda_{i+1} - alpha H_i lambda_{i+1}          (a Hessian-vector product)
      dL/dalpha = -sum_i lambda_{i+1} . g_i

  Both VJPs come from one double-backward of ``lambda_{i+1} . g_i``. The published TESLA code drops the
  Hessian term (it treats later student parameters as independent of earlier images); keeping it makes the
  result equal to MTT's (tested to 1e-4 in float64) at the same cost per step.

Under torchrun (``workers``) each student step's minibatch is split across the ranks: rank ``r`` computes its
share's gradient (weighted by its share of the batch). MTT sums the shares with a differentiable all-reduce
(:func:`mmdistill.distributed.sum_over_ranks`) and the student parameters enter each share through
:func:`~mmdistill.distributed.enter_ranks`, whose backward sums the shares' Hessian terms; TESLA sums the
shares' gradient and Hessian-vector product of each step in its sweeps. The set's gradients are then summed
over the ranks. Every rank keeps only its share's activations, and the gradient equals one process's to
float rounding (sums in another order).

The student is any network: its parameters are a flat vector (:class:`~mmdistill.experts.ParamLayout`) fed
through ``torch.func.functional_call``, and the loss on a synthetic minibatch is a :class:`StudentObjective`,
so a ConvNet on images, an audio ConvNet or a dual encoder on image-text pairs use the same matcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from mmdistill.matchers.step_plans import StepPlan, plan_group_steps, plan_steps
from mmdistill.matchers.students import ClassificationStudent, SplittableStudent, StudentObjective
from mmdistill.errors import ConfigError, DivergenceError
from mmdistill.buffer import ExpertBuffer, ParamLayout
from mmdistill.distributed import Workers, all_reduce_grads, all_reduce_sum, enter_ranks, sum_over_ranks
from mmdistill.devices import twice_differentiable
from mmdistill.matchers import check_loss, step_checked
from mmdistill.matchers.trajectory_memory import estimate
from mmdistill.memory import MemoryEstimate
from mmdistill.synthetic import SyntheticSet

#: name of the learnable student step size in ``SyntheticSet.data`` (a 0-d tensor)
STEP_SIZE = "syn_lr"
METHODS = ("mtt", "tesla")
#: ``relabel(syn, expert, epoch, target)``: give ``syn`` the soft labels of expert ``expert`` at ``epoch`` (its
#: flat parameters ``target``, (P,)) before the student steps (:func:`mmdistill.labels.expert_relabeller`)
Relabel = Callable[[SyntheticSet, int, int, Tensor], None]


def add_step_size(syn: SyntheticSet, lr_teacher: float, key: str = STEP_SIZE) -> Tensor:
    """Give ``syn`` a learnable student step size ``syn.data[key]`` initialised to ``lr_teacher`` (MTT's
    ``syn_lr``) and list ``key`` in ``syn.meta["step_sizes"]`` (the optimizer gives those keys ``lr_lr``)."""
    if lr_teacher <= 0:
        raise ConfigError(f"the initial student step size (lr_student, else lr_teacher) must be > 0, got {lr_teacher}")
    first = next(iter(syn.data.values()))
    syn.data[key] = torch.tensor(float(lr_teacher), device=first.device, dtype=first.dtype if first.is_floating_point() else None)
    keys = list(syn.meta.get("step_sizes", []))
    syn.meta["step_sizes"] = keys + ([key] if key not in keys else [])
    return syn.data[key]


def step_size_keys(syn: SyntheticSet) -> list[str]:
    """The keys of ``syn.data`` that are learnable student step sizes (not synthetic data)."""
    keys = list(syn.meta.get("step_sizes", []))
    return keys if keys else ([STEP_SIZE] if STEP_SIZE in syn.data else [])


@dataclass
class TrajectoryMatching:
    """One MTT/TESLA outer iteration per :meth:`step`.

    Args:
        student: the student's loss on a synthetic minibatch (e.g. :class:`ClassificationStudent`).
        layout: parameter layout of the student network (the buffer's flattened vectors follow it).
        buffer: the expert trajectories (checked against ``layout`` by the recipe).
        syn_steps: student steps N per iteration.
        expert_epochs: M; the target is the expert ``M`` epochs after the start.
        max_start_epoch: start epochs are drawn uniformly from ``[0, max_start_epoch)`` (as the reference).
        batch_syn: synthetic samples per student step; None = the whole set.
        method: ``"mtt"`` (unrolled autograd) or ``"tesla"`` (constant memory, same gradient).
        divergence: a normalised distance above this (or non-finite) stops the run before the set is updated.
        min_step_size: learned step sizes are clipped to at least this after each update (the video reference's
            1e-3); 0 (MTT's reference, no clip): an update that takes one to <= 0 stops the run (a divergence naming
            the set's rates: the student would ascend its loss, and evaluation trains with it).
        offload: keep TESLA's per-step student parameters on the host (default: when on a GPU).
        segments: optional named slices of the flat parameter vector matched separately (their normalised
            distances are summed); None matches the whole vector at once (MTT).
        step_sizes: optional segment name -> key in ``syn.data`` of that segment's learnable step size (a 0-d
            tensor, see :func:`add_step_size`); the segments must then cover the whole vector. None: one step
            size ``syn.data[STEP_SIZE]`` for every parameter.
        sample_groups: optional (K,) group id of every synthetic sample: each student step then takes
            ``batch_syn`` groups (None: all) with one random member each (:func:`plan_group_steps`); None:
            ``batch_syn`` samples (:func:`plan_steps`).
        relabel: optional :data:`Relabel` called every iteration with the drawn expert, its target epoch
            ``start + expert_epochs`` and parameters, before the student steps (TESLA's soft labels); None: the
            set's labels stay as they are.
    """

    student: StudentObjective
    layout: ParamLayout
    buffer: ExpertBuffer
    syn_steps: int = 20
    expert_epochs: int = 3
    max_start_epoch: int = 20
    batch_syn: int | None = None
    method: str = "mtt"
    divergence: float = 1e3
    min_step_size: float = 0.0
    offload: bool | None = None
    device: torch.device = torch.device("cpu")
    segments: dict[str, slice] | None = None
    step_sizes: dict[str, str] | None = None
    workers: Workers = Workers()
    sample_groups: Tensor | None = None
    relabel: Relabel | None = None

    name = "trajectory"
    #: what makes it diverge on the initial set (:func:`mmdistill.loop.divergence_advice`)
    initial_divergence = ("trajectory matching: the student's initial step size or syn_steps, or experts trained with large "
                          "steps, e.g. few minibatches per epoch on a small dataset")

    @property
    def sharded(self) -> bool:
        """Whether each student step's minibatch can be split across processes (a splittable student)."""
        return isinstance(self.student, SplittableStudent)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"trajectory method must be one of {METHODS}, got {self.method!r}")
        for key in ("syn_steps", "expert_epochs", "max_start_epoch"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.batch_syn is not None and self.batch_syn < 1:
            raise ConfigError(f"batch_syn must be >= 1 (or None for the whole set), got {self.batch_syn}")
        last = self.max_start_epoch - 1 + self.expert_epochs
        if last > self.buffer.epochs:
            raise ConfigError(
                f"max_start_epoch {self.max_start_epoch} + expert_epochs {self.expert_epochs} reaches epoch {last}, but the "
                f"experts in {self.buffer.path} were trained for {self.buffer.epochs} epochs; lower them or train longer experts"
            )
        if self.workers.world > 1 and not self.sharded:
            raise ConfigError(f"trajectory matching over {self.workers.world} processes splits minibatches of a student "
                              f"whose loss is a mean over samples; {type(self.student).__name__} is not one: use one process")
        if self.buffer.num_params != self.layout.num_params:
            raise ConfigError(f"the expert buffer holds {self.buffer.num_params} parameters per network, the student has "
                              f"{self.layout.num_params}")
        if self.segments is not None:
            self.segments = {k: slice(*s.indices(self.layout.num_params)[:2]) for k, s in self.segments.items()}
            covered = [(s.start, s.stop) for s in self.segments.values()]
            if not covered or any(a >= b for a, b in covered):
                raise ConfigError(f"trajectory segments must be non-empty slices of the {self.layout.num_params} parameters, got {self.segments}")
        if self.step_sizes is not None:
            if self.segments is None or set(self.step_sizes) != set(self.segments):
                raise ConfigError(f"step_sizes must name one step-size key per segment; segments {sorted(self.segments or {})}, "
                                  f"step sizes {sorted(self.step_sizes)}")
            spans = sorted((s.start, s.stop) for s in self.segments.values())
            ends = [0] + [b for _, b in spans]
            if any(a != e for (a, _), e in zip(spans, ends)) or ends[-1] != self.layout.num_params:
                raise ConfigError(f"with per-segment step sizes the segments must tile all {self.layout.num_params} parameters "
                                  f"without overlap, got {self.segments}")

    def _step_parts(self) -> list[tuple[slice, str]]:
        """(slice of the flat vector, key of its step size in ``syn.data``), in vector order; one part over
        every parameter with ``syn.data[STEP_SIZE]`` unless ``step_sizes`` names one per segment."""
        if not self.step_sizes:
            return [(slice(0, self.layout.num_params), STEP_SIZE)]
        assert self.segments is not None
        return sorted(((self.segments[name], key) for name, key in self.step_sizes.items()), key=lambda sk: sk[0].start)

    def step_size_keys(self) -> list[str]:
        """The keys of ``syn.data`` holding this matcher's learnable step sizes."""
        return [key for _, key in self._step_parts()]

    def alpha(self, syn: SyntheticSet, detach: bool = False) -> Tensor:
        """The student's step size per parameter (P,), constant on each part of :meth:`_step_parts`."""
        for key in self.step_size_keys():
            if key not in syn.data:
                raise ConfigError(f"trajectory matching needs a learnable step size syn.data[{key!r}] (add_step_size)")
        a = torch.cat([syn.data[key].reshape(1).expand(s.stop - s.start) for s, key in self._step_parts()])
        return a.detach() if detach else a

    def _parts(self) -> list[slice]:
        return list(self.segments.values()) if self.segments else [slice(0, self.layout.num_params)]

    def distance(self, w: Tensor, w0: Tensor, target: Tensor) -> Tensor:
        """Sum over segments of ``||w - target||^2 / ||w0 - target||^2`` (a scalar)."""
        return sum(((w[s] - target[s]) ** 2).sum() / ((w0[s] - target[s]) ** 2).sum() for s in self._parts())  # type: ignore[return-value]

    # ------------------------------------------------------------------ one outer iteration
    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        """Draw an expert segment and a step plan, compute the loss and its gradient, update ``syn``."""
        dtype = self.alpha(syn).dtype
        expert = int(torch.randint(self.buffer.num_experts, (1,), generator=gen))
        start = int(torch.randint(self.max_start_epoch, (1,), generator=gen))
        w0, target = self.buffer.rows(expert, [start, start + self.expert_epochs]).to(self.device).unbind(0)
        if self.relabel is not None:  # draws nothing: the same labels on resume
            self.relabel(syn, expert, start + self.expert_epochs, target)
        w0, target = w0.to(dtype), target.to(dtype)
        plan = self.plan(syn, gen)
        optimizer.zero_grad(set_to_none=True)
        if self.method == "mtt":
            value = self.mtt_backward(syn, w0, target, plan, [p for g in optimizer.param_groups for p in g["params"]])
        else:
            value = self._checked(self.tesla_backward(syn, w0, target, plan))
        step_checked(optimizer)
        if self.min_step_size > 0:
            with torch.no_grad():
                for k in self.step_size_keys():
                    syn.data[k].clamp_(min=self.min_step_size)
        sizes = {k: float(syn.data[k].detach()) for k in self.step_size_keys()}
        if not all(v > 0 for v in sizes.values()):  # the student would climb its loss; no evaluation can train with it
            raise DivergenceError(f"a learned student step size went to {', '.join(f'{k} {v:.4g}' for k, v in sizes.items())} "
                                  f"(<= 0: each student step would ascend its loss, and evaluation trains with it); lr_lr "
                                  f"moves it", by_rates=True)
        return {"loss": value, "start_epoch": float(start), **sizes}

    def plan(self, syn: SyntheticSet, gen: torch.Generator) -> StepPlan:
        """The minibatch and augmentation seed of each of the ``syn_steps`` student steps of one iteration."""
        if self.sample_groups is None:
            return plan_steps(len(syn), self.syn_steps, self.batch_syn or len(syn), gen)
        if len(self.sample_groups) != len(syn):
            raise ConfigError(f"sample_groups names a group for {len(self.sample_groups)} samples, the set has {len(syn)}")
        return plan_group_steps(self.sample_groups, self.syn_steps, self.batch_syn, gen)

    def plan_units(self, syn: SyntheticSet) -> int:
        """What the plan shuffles and chunks: the set's samples, or its groups with ``sample_groups``."""
        return len(syn) if self.sample_groups is None else len(torch.unique(self.sample_groups))

    def student_batch(self, syn: SyntheticSet) -> int:
        """Samples in one student step's minibatch."""
        n = self.plan_units(syn)
        return min(self.batch_syn or n, n)

    def mtt_backward(self, syn: SyntheticSet, w0: Tensor, target: Tensor, plan: StepPlan, params: list[Tensor]) -> float:
        """MTT's loss (checked) and its gradient in the ``.grad`` of ``params`` (the set's learnable tensors);
        over several processes the shares of the data's gradients are summed (the step sizes' gradient is
        whole on every rank already)."""
        loss = self.unrolled_loss(syn, w0, target, plan)
        value = self._checked(float(loss.detach()))
        loss.backward()
        if self.workers.world > 1:
            steps = [syn.data[k] for k in self.step_size_keys()]
            all_reduce_grads([p for p in params if not any(p is t for t in steps)], self.workers)
        return value

    def check_split(self, syn: SyntheticSet) -> None:
        """Over several processes every student minibatch is split among them: ConfigError naming ``batch_syn`` when
        the smallest one the plan makes (the remainder of the shuffled set's chunks, :func:`plan_steps`) has fewer
        samples than processes. Called before the experts are trained and before the first iteration."""
        world = self.workers.world
        if world <= 1:
            return
        n, batch = self.plan_units(syn), self.student_batch(syn)
        smallest = n % batch or batch
        if smallest < world:
            what = "samples" if self.sample_groups is None else "slots"
            if n < world:
                raise ConfigError(f"the set's {n} {what} cannot be split over {world} processes (each student minibatch is "
                                  f"shared among them); run it with at most {n} processes")
            raise ConfigError(f"batch_syn={self.batch_syn}: the set's {n} {what} make student minibatches of {batch} and, last, "
                              f"{smallest}, which cannot be split over {world} processes; choose a batch_syn that divides {n} "
                              f"into minibatches of at least {world}, or none (the whole set), or fewer processes")

    def memory_estimate(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer) -> MemoryEstimate:
        """Estimated peak bytes of one :meth:`step` on this rank (:func:`~mmdistill.matchers.trajectory_memory.estimate`);
        first :meth:`check_split` (the run asks for the estimate before its loop, and before training experts)."""
        self.check_split(syn)
        offload = self.device.type == "cuda" if self.offload is None else self.offload
        shared = getattr(self.student, "shared_graph", None)
        with twice_differentiable(self.device, getattr(self.student, "net", None)):  # the graphs the steps will build
            return estimate(lambda w, idx: self.student.loss(self.layout.unflatten(w), syn, idx, 0), self.alpha(syn), len(syn),
                            optimizer, getattr(self.student, "net", None), syn_steps=self.syn_steps,
                            batch=self.student_batch(syn), world=self.workers.world, method=self.method, offload=offload,
                            shared=(lambda: shared(syn)) if shared is not None else None)

    def _checked(self, value: float) -> float:
        check_loss(value)
        if value > self.divergence:
            raise DivergenceError(
                f"the student diverged: normalised distance to the expert {value:.4g} > {self.divergence:g} "
                "(lower the synthetic set's learning rates or syn_steps); the synthetic set was not updated"
            )
        return value

    # ------------------------------------------------------------------ MTT: unrolled
    def unrolled_loss(self, syn: SyntheticSet, w0: Tensor, target: Tensor, plan: StepPlan) -> Tensor:
        """The normalised distance after the unrolled student steps, with the whole graph kept (MTT)."""
        alpha = self.alpha(syn)
        w = w0.detach().clone().requires_grad_(True)
        with twice_differentiable(self.device, getattr(self.student, "net", None)):  # no cuDNN RNN: it has no double backward
            if self.workers.world > 1:
                return self.distance(self._unrolled_split(syn, w, alpha, plan), w0, target)
            for idx, seed in zip(plan.indices, plan.seeds):
                loss = self.student.loss(self.layout.unflatten(w), syn, idx.to(self.device), seed)
                (g,) = torch.autograd.grad(loss, w, create_graph=True)
                w = w - alpha * g
        return self.distance(w, w0, target)

    def _unrolled_split(self, syn: SyntheticSet, w: Tensor, alpha: Tensor, plan: StepPlan) -> Tensor:
        """The student's last parameters, each step's gradient summed over the ranks' shares of its minibatch."""
        for idx, seed in zip(plan.indices, plan.seeds):
            w_part = enter_ranks(w, self.workers)
            (g,) = torch.autograd.grad(self._share_loss(w_part, syn, idx, seed), w_part, create_graph=True)
            w = w - alpha * sum_over_ranks(g, self.workers)
        return w

    def _share_loss(self, w: Tensor, syn: SyntheticSet, idx: Tensor, seed: int) -> Tensor:
        """The student's loss on this rank's share of minibatch ``idx`` (rank ``r`` of K takes positions
        ``[r B / K, (r + 1) B / K)``), weighted by its share, so the shares' losses sum to the minibatch's;
        the whole minibatch's loss for one process."""
        if self.workers.world <= 1:
            return self.student.loss(self.layout.unflatten(w), syn, idx.to(self.device), seed)
        assert isinstance(self.student, SplittableStudent)
        B, K, r = len(idx), self.workers.world, self.workers.rank
        if B < K:
            raise ConfigError(f"a student minibatch of {B} samples cannot be split over {K} processes; raise batch_syn")
        lo, hi = r * B // K, (r + 1) * B // K
        return self.student.part_loss(self.layout.unflatten(w), syn, idx[lo:hi].to(self.device), seed,
                                      torch.arange(lo, hi, device=self.device), B) * ((hi - lo) / B)

    # ------------------------------------------------------------------ TESLA: constant memory
    def tesla_backward(self, syn: SyntheticSet, w0: Tensor, target: Tensor, plan: StepPlan) -> float:
        """Accumulate the exact gradient of the normalised distance into ``.grad`` of ``syn``'s parameters with
        one step's graph alive at a time; returns the loss value."""
        alpha = self.alpha(syn, detach=True)  # (P,), constant per part
        step_tensors = [syn.data[k] for k in self.step_size_keys()]
        offload = self.device.type == "cuda" if self.offload is None else self.offload
        frozen = syn.detached()
        ws: list[Tensor] = []
        w = w0.detach().clone()
        for idx, seed in zip(plan.indices, plan.seeds):  # forward sweep, no graph beyond one step
            ws.append(w.to("cpu", non_blocking=True) if offload else w)
            w_leaf = w.requires_grad_(True)
            (g,) = torch.autograd.grad(self._share_loss(w_leaf, frozen, idx, seed), w_leaf)
            w = (w_leaf - alpha * all_reduce_sum(g, self.workers)).detach()
        value = float(self.distance(w, w0, target))
        lam = torch.zeros_like(w)  # dL/dw_N
        for s in self._parts():
            lam[s] += 2.0 * (w[s] - target[s]) / ((w0[s] - target[s]) ** 2).sum()
        params = [p for p in syn.parameters() if p.requires_grad and not any(p is t for t in step_tensors)]
        grads = [torch.zeros_like(p) for p in params]
        lam_g = torch.zeros_like(w)  # sum_i lambda_{i+1} * g_i, elementwise: -dL/dalpha before summing per segment
        with twice_differentiable(self.device, getattr(self.student, "net", None)):  # no cuDNN RNN (no double backward)
            for i in reversed(range(len(plan.indices))):  # reverse sweep, one step's graph at a time
                w_i = ws[i].to(self.device).requires_grad_(True)
                (g,) = torch.autograd.grad(self._share_loss(w_i, syn, plan.indices[i], plan.seeds[i]), w_i, create_graph=True)
                lam_g += lam * all_reduce_sum(g.detach(), self.workers)  # several processes: g is this rank's share
                v = alpha * lam  # w_{i+1} = w_i - A g_i: the VJPs of g_i against A lambda_{i+1}
                vjp = torch.autograd.grad((g * v).sum(), [w_i, *params], allow_unused=True)
                own = vjp[0] if vjp[0] is not None else torch.zeros_like(w_i)  # a gradient that does not depend on w: no H term
                hvp, rest = all_reduce_sum(own, self.workers), vjp[1:]
                for acc, d in zip(grads, rest):
                    if d is not None:
                        acc.sub_(d)
                lam = lam - hvp.detach()
                ws[i] = ws[i].new_empty(0)  # release as we go
        for p, grad in zip(params, grads):
            p.grad = grad
        all_reduce_grads(params, self.workers)  # the shares of the data's gradient; lam_g is whole on every rank
        for s, key in self._step_parts():
            t = syn.data[key]
            t.grad = (-lam_g[s].sum()).to(t.dtype).reshape(t.shape)
        return value


@torch.no_grad()
def expert_logits(net: nn.Module, layout: ParamLayout, flat: Tensor, x: Tensor, batch_size: int = 512) -> Tensor:
    """Logits (N, C) of ``net`` with the expert parameters ``flat`` (P,) on inputs ``x`` (N, ...), in eval mode
    (TESLA's soft-label assignment)."""
    was_training = net.training
    net.eval()
    params = layout.unflatten(flat.to(x.device))
    out = torch.cat([functional_call(net, params, (x[s : s + batch_size],)) for s in range(0, x.shape[0], batch_size)])
    net.train(was_training)
    return out


__all__ = [
    "ClassificationStudent", "METHODS", "Relabel", "STEP_SIZE", "SplittableStudent", "StepPlan", "StudentObjective", "TrajectoryMatching",
    "add_step_size", "expert_logits", "plan_group_steps", "plan_steps", "step_size_keys",
]
