"""Does a model trained on the distilled set leak which real samples the set was distilled from? Membership
inference, as the field runs it on dataset condensation (Dong et al., ICML 2022, "Privacy for Free: How does Dataset
Condensation Help Privacy?": loss-based and likelihood-ratio attacks on models trained on DC/DM sets; Carlini et al.
2022, "No Free Lunch in 'Privacy for Free'": TPR at low FPR, calibrated attacks, a baseline of the same size).

For a classification set and its real data (modality-agnostic: anything whose data is
:class:`~mmdistill.data.ClassificationData` and whose adapter builds the evaluation network and decodes the set):

- **members**: a seeded draw of real *training* samples (the data the set was distilled from); **non-members**: as
  many real *test* (or, for a run tuned with ``validation=``, held-out) samples. The training samples not drawn
  form the **reference pool**.
- **target models** (``runs`` of each, trained from scratch with the set's own evaluation protocol: network,
  epochs, lr, batch, augmentation, the set's learned lr): ``distilled`` (on the set), ``random_real`` (on a random
  real subset of the set's size per class, drawn from the training split, a new draw per run) and ``whole`` (on the
  whole training split, every member in it). Each model answers the same question: do its outputs tell members
  of the training split from non-members?
- **attacks** (:mod:`mmdistill.membership_attacks`): the loss attack and offline LiRA with ``references`` reference
  models, each trained on a random half of the reference pool (so none saw a member or a non-member) with the same
  protocol as ``whole``. AUC and TPR at 1 % and 0.1 % FPR, mean ± std over the runs.

The reference models are real-data models for every target (a set distilled again without the candidates per
reference would be the exact OUT model, at a distillation per reference): the calibration removes what makes a
sample easy or hard for such a network; a global shift between target and references changes no ranking.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError, DataError
from mmdistill.membership_attacks import FPRS, fpr_key, lira_offline_scores, loss_scores, mean_tpr_on_grid, roc_curve, summary, too_few_note, true_class_signals
from mmdistill.seeding import draw_seed, generator, seeded_global_rng
from mmdistill.words import quantity

log = logging.getLogger(__name__)

RESULT_FILE = "membership.json"
PLOT_FILE = "membership.png"
#: the target models, in the order they are reported and drawn (the distilled set first)
MODELS = ("distilled", "random_real", "whole")
ATTACKS = ("loss", "lira_offline")
#: what the result's protocol block cites
REFERENCES = ("loss attack: Yeom et al., CSF 2018; offline LiRA with a global variance: Carlini et al., S&P 2022 "
              "(arXiv:2112.03570); on distilled sets: Dong et al., ICML 2022 (arXiv:2206.00240) and Carlini et al. 2022, "
              "'No Free Lunch in Privacy for Free' (arXiv:2209.14987)")
#: points of the averaged ROC drawn per curve (log-spaced FPR from 1 / non-members to 1)
GRID = 60


@dataclass(frozen=True)
class Candidates:
    """The samples scored: ``members`` (n,) indices into the training split, ``non_members`` (n,) into the test split,
    ``reference_pool`` (indices into the training split, disjoint from ``members``: the reference models' data)."""

    members: Tensor
    non_members: Tensor
    reference_pool: Tensor


def draw_candidates(n_train: int, n_test: int, count: int, gen: torch.Generator) -> Candidates:
    """``count`` members and as many non-members (fewer when a split is short: at most ``n_test``, and at most half
    the training split, whose rest is the reference pool), seeded by ``gen``. DataError when fewer than 2 of each
    can be drawn; ConfigError naming ``members`` when ``count`` < 2."""
    if count < 2:
        raise ConfigError(f"members={count}: the check scores at least 2 members and 2 non-members", key="members")
    n = min(count, n_test, n_train // 2)
    if n < 2:
        raise DataError(f"membership check: {n_train} training and {n_test} test samples leave {n} member(s) and non-member(s) "
                        "to score (it needs at least 2 of each, and half the training split for the reference models)")
    order = torch.randperm(n_train, generator=gen)
    return Candidates(members=order[:n].sort().values, non_members=torch.randperm(n_test, generator=gen)[:n].sort().values,
                      reference_pool=order[n:].sort().values)


def _stats(values: list[float | None]) -> dict[str, Any] | None:
    """``{"mean", "std", "runs"}`` (population std, as the evaluation's), or None when a value is None (not measured)."""
    if not values or any(v is None for v in values):
        return None
    vals = [float(v) for v in values if v is not None]
    return {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0, "runs": vals}


@dataclass
class MembershipResult:
    """What :func:`membership_check` measured: ``protocol`` (what was done, in the JSON's words), ``models[model]``:
    ``accuracy`` and per attack ``auc`` / ``tpr_at_1%_fpr`` / ``tpr_at_0.1%_fpr`` as ``{"mean", "std", "runs"}`` fractions
    (None: not measurable with this many non-members), ``roc``: the averaged curves drawn."""

    protocol: dict[str, Any]
    models: dict[str, dict[str, Any]]
    roc: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "models": self.models, "roc": self.roc}

    def table(self) -> str:
        """One row per model and attack: test accuracy, AUC, TPR at each FPR, mean ± std in %."""
        def cell(s: Mapping[str, Any] | None) -> str:
            return "n/a (too few)" if s is None else f"{100 * s['mean']:6.2f} ± {100 * s['std']:5.2f}"

        heads = ["model", "attack", "test acc %", "AUC %", *(f"TPR@{100 * f:g}%FPR %" for f in FPRS)]
        rows = [heads]
        for model, rec in self.models.items():
            for attack in ATTACKS:
                a = rec[attack]
                rows.append([model, attack, cell(rec["accuracy"]), cell(a["auc"]), *(cell(a[fpr_key(f)]) for f in FPRS)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        note = too_few_note(int(self.protocol["non_members"]))
        return "\n".join(lines + ([note] if note else []))


@torch.no_grad()
def _logits(net: nn.Module, x: Tensor, batch: int = 1024) -> Tensor:
    """``net``'s logits (N, C) of ``x`` (N, ...) in eval mode, on the CPU."""
    net.eval()
    device = next(net.parameters()).device
    return torch.cat([net(x[i:i + batch].to(device)).detach().cpu() for i in range(0, len(x), batch)]) if len(x) else torch.zeros(0)


def membership_check(cfg: Any, syn: Any, data: Any, modality: Any, *, device: torch.device, runs: int = 3, references: int = 2,
                     members: int = 1000, say: Callable[[str], None] = log.info) -> MembershipResult:
    """The membership check of ``syn`` (module docstring): ``runs`` target models of each kind, ``references``
    reference models, up to ``members`` members and as many non-members; ``cfg`` is the set's run config (its
    evaluation keys: eval_epochs ...), ``data`` its real :class:`~mmdistill.data.ClassificationData`; progress lines go to
    ``say``. ConfigError naming the argument for a set that is not classification, ``runs`` or ``references`` < 1, and
    naming eval_lr_from_set for a set whose learned step size is not > 0 (as its evaluation refuses it)."""
    from mmdistill.baselines import random_subset
    from mmdistill.classification import evaluation_augment, evaluation_protocol, network_factory, set_protocol
    from mmdistill.data import ClassificationData
    from mmdistill.training import accuracy_on, train_from_scratch

    if not isinstance(data, ClassificationData) or not callable(getattr(modality, "decode", None)) or not callable(getattr(syn, "targets", None)):
        raise ConfigError(f"the membership check needs a classification set (images, audio, video: labelled samples a network "
                          f"is trained on); this one's data is {type(data).__name__} of modality "
                          f"{getattr(modality, 'name', type(modality).__name__)}", key="recipe")
    for name, value in (("runs", runs), ("references", references)):
        if value < 1:
            raise ConfigError(f"{name}={value}: the check trains at least 1", key=name)
    train, test = data.train, data.test
    cand = draw_candidates(len(train), len(test), members, generator(cfg.seed, "membership", "candidates"))
    mx, my = train.x[cand.members], train.y[cand.members]
    nx, ny = test.x[cand.non_members], test.y[cand.non_members]
    protocol = evaluation_protocol(cfg)
    syn_protocol = set_protocol(cfg, syn, protocol)  # the set's learned step size, as its evaluation trains with
    augment = evaluation_augment(cfg, data, modality)
    make_net = network_factory(modality, cfg.network, data, device)
    x_syn, t_syn = modality.decode(syn).detach(), syn.targets().detach()
    ipc = len(syn) // max(1, syn.num_classes)
    n = len(cand.members)
    say(f"membership check: {quantity(n, 'member')} (training samples) and {quantity(n, 'non-member')} "
        f"({data.meta.get('scored_on', 'test')} samples); {quantity(runs, 'model')} per kind ({', '.join(MODELS)}), "
        f"{quantity(references, 'reference model')} on halves of the other {len(cand.reference_pool)} training samples; network "
        f"{cfg.network}, {protocol.epochs} epochs")

    def trained(x: Tensor, t: Tensor, proto: Any, gen: torch.Generator, what: str) -> nn.Module:
        started = time.perf_counter()
        net = make_net(gen)
        with seeded_global_rng(draw_seed(gen), [device]):  # dropout, augmentation: this model's stream, not what ran before
            train_from_scratch(net, x, t, proto, gen, augment=augment)
        say(f"  {what}: trained on {quantity(len(x), 'sample')} in {time.perf_counter() - started:.1f} s")
        return net

    def signals(net: nn.Module) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        ml, mp = true_class_signals(_logits(net, mx), my)
        nl, np_ = true_class_signals(_logits(net, nx), ny)
        return ml, mp, nl, np_

    ref_phi_m, ref_phi_n = [], []
    for k in range(references):
        gen = generator(cfg.seed, "membership", "reference", k)
        half = cand.reference_pool[torch.randperm(len(cand.reference_pool), generator=gen)[: max(1, len(cand.reference_pool) // 2)]]
        _, mp, _, np_ = signals(trained(train.x[half], train.y[half], protocol, gen, f"reference {k + 1}/{references}"))
        ref_phi_m.append(mp)
        ref_phi_n.append(np_)
    ref_phi = torch.cat([torch.stack(ref_phi_m), torch.stack(ref_phi_n)], dim=1)  # (K, 2n): members, then non-members

    def target_data(model: str, r: int) -> tuple[Tensor, Tensor, Any]:
        if model == "distilled":
            return x_syn, t_syn, syn_protocol
        if model == "random_real":
            idx = random_subset(train, ipc, generator(cfg.seed, "membership", "random_real", r))
            return train.x[idx], train.y[idx], protocol
        return train.x, train.y, protocol

    per: dict[str, dict[str, list[Any]]] = {m: {"accuracy": [], **{a: [] for a in ATTACKS}} for m in MODELS}
    for r in range(runs):
        for model in MODELS:
            x, t, proto = target_data(model, r)
            net = trained(x, t, proto, generator(cfg.seed, "membership", model, r), f"run {r + 1}/{runs}, {model}")
            ml, mp, nl, np_ = signals(net)
            per[model]["accuracy"].append(accuracy_on(net, test))
            per[model]["loss"].append((loss_scores(ml), loss_scores(nl)))
            lira = lira_offline_scores(torch.cat([mp, np_]), ref_phi)
            per[model]["lira_offline"].append((lira[:n], lira[n:]))
    grid = torch.logspace(torch.log10(torch.tensor(1.0 / n)).item(), 0.0, GRID, dtype=torch.float64)
    models: dict[str, dict[str, Any]] = {}
    roc: dict[str, Any] = {"fpr": grid.tolist()}
    for model in MODELS:
        rec: dict[str, Any] = {"accuracy": _stats(per[model]["accuracy"]), "trained_on": len(target_data(model, 0)[0])}
        roc[model] = {}
        for attack in ATTACKS:
            pairs = per[model][attack]
            sums = [summary(m, nn_) for m, nn_ in pairs]
            rec[attack] = {key: _stats([s[key] for s in sums]) for key in sums[0]}
            roc[model][attack] = mean_tpr_on_grid([roc_curve(m, nn_) for m, nn_ in pairs], grid).tolist()
        models[model] = rec
    block = {"members": n, "non_members": n, "members_from": "training split", "non_members_from": data.meta.get("scored_on", "test"),
             "reference_pool": len(cand.reference_pool), "runs": runs, "references": references, "network": cfg.network,
             "epochs": protocol.epochs, "lr": protocol.lr, "distilled_lr": syn_protocol.lr, "batch_size": protocol.batch_size,
             "augmentation": augment is not None, "set_size": len(x_syn), "random_real_per_class": ipc, "seed": cfg.seed,
             "dataset": getattr(data, "name", None), "fprs": list(FPRS), "note": too_few_note(n), "references_cited": REFERENCES}
    return MembershipResult(protocol=block, models=models, roc=roc)


__all__ = ["ATTACKS", "MODELS", "PLOT_FILE", "RESULT_FILE", "Candidates", "MembershipResult", "draw_candidates", "membership_check"]
