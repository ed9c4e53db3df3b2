"""Membership-inference scores and how they are read: per-sample signals of a trained classifier, the two attacks
:mod:`mmdistill.membership` runs, and the ROC summaries the field reports.

- **loss attack** (Yeom et al., CSF 2018, "Privacy Risk in Machine Learning"): a sample's score is minus its
  cross-entropy loss under the attacked model; a threshold on it guesses "member". No reference model.
- **offline LiRA** (Carlini et al., S&P 2022, "Membership Inference Attacks From First Principles"): the signal is
  the logit-scaled confidence in the true class, ``phi = log(p_y / (1 - p_y))``; reference models that never saw the
  sample (OUT models: the *offline* variant) give its own mean ``mu_out(x)``; the score is the one-sided
  ``(phi - mu_out(x)) / sigma``, ``sigma`` one global std pooled over the samples, as LiRA does with few
  reference models (a per-sample std of 1-4 values is noise).

How a score is read (Carlini et al. 2022; and "No Free Lunch in 'Privacy for Free'", Carlini et al. 2022, on
dataset condensation): AUC, and the true-positive rate at a low false-positive rate (1 %, 0.1 %), which tells
whether *some* members are identified with confidence where the AUC averages it away. A rate of 0.1 % needs at
least 1,000 non-members to be measured at all: with fewer, :func:`tpr_at_fpr` returns None (:func:`too_few_note`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

#: the false-positive rates TPR is reported at (fractions), as Carlini et al. report them
FPRS = (0.01, 0.001)


def fpr_key(fpr: float) -> str:
    """The JSON key of TPR at ``fpr``: ``"tpr_at_1%_fpr"``, ``"tpr_at_0.1%_fpr"``."""
    return f"tpr_at_{100 * fpr:g}%_fpr"


@torch.no_grad()
def true_class_signals(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(loss, phi)`` of each sample, both (N,) float64 on the CPU, from ``logits`` (N, C) and hard ``labels`` (N,):
    the cross-entropy loss ``-log p_y`` and LiRA's ``log(p_y / (1 - p_y)) = z_y - logsumexp(z_others)`` (computed in
    that form, so a confident sample's phi stays finite where ``1 - p_y`` rounds to 0)."""
    z = logits.detach().double().cpu()
    y = labels.detach().long().cpu()
    true = z.gather(1, y[:, None]).squeeze(1)
    loss = torch.logsumexp(z, dim=1) - true
    others = z.scatter(1, y[:, None], -math.inf)
    phi = true - torch.logsumexp(others, dim=1) if z.shape[1] > 1 else torch.full_like(true, math.inf)
    return loss, phi


def loss_scores(loss: Tensor) -> Tensor:
    """The loss attack's membership scores: ``-loss`` (a higher score: more likely a member)."""
    return -loss


def lira_offline_scores(phi: Tensor, reference_phi: Tensor) -> Tensor:
    """Offline LiRA's scores of N samples: ``phi`` (N,) under the attacked model, ``reference_phi`` (K, N) under K
    reference models that never trained on them. ``(phi - mean_k) / sigma`` with ``sigma`` the std of
    ``reference_phi - mean_k`` pooled over every sample (K = 1: the std of ``reference_phi`` over the samples, which
    leaves the ranking by ``phi - reference_phi`` unchanged). ValueError when the shapes disagree."""
    if reference_phi.dim() != 2 or reference_phi.shape[1] != phi.shape[0] or reference_phi.shape[0] < 1:
        raise ValueError(f"reference_phi must be (K >= 1, {phi.shape[0]}), got {tuple(reference_phi.shape)}")
    ref = reference_phi.double()
    mu = ref.mean(dim=0)
    spread = (ref - mu) if ref.shape[0] > 1 else ref - ref.mean()
    sigma = float(spread.pow(2).mean().sqrt())
    return (phi.double() - mu) / (sigma if sigma > 0 and math.isfinite(sigma) else 1.0)


def roc_curve(member_scores: Tensor, non_member_scores: Tensor) -> tuple[Tensor, Tensor]:
    """``(fpr, tpr)`` of the threshold rule "score >= t is a member" over every distinct threshold, from (0, 0) to
    (1, 1), both float64; tied scores move together (one point per distinct score)."""
    pos, neg = member_scores.double().flatten(), non_member_scores.double().flatten()
    if not len(pos) or not len(neg):
        raise ValueError(f"an ROC needs members and non-members, got {len(pos)} and {len(neg)}")
    scores = torch.cat([pos, neg])
    is_member = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double()
    order = torch.argsort(scores, descending=True, stable=True)
    s, m = scores[order], is_member[order]
    tp, fp = torch.cumsum(m, 0), torch.cumsum(1 - m, 0)
    last = torch.ones(len(s), dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # the last of each run of equal scores: a threshold there takes the whole run
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fp[last] / len(neg)]), torch.cat([zero, tp[last] / len(pos)])


def auc(member_scores: Tensor, non_member_scores: Tensor) -> float:
    """The area under the ROC: the chance a random member scores above a random non-member, ties counting half
    (separable scores: 1.0; identical ones: 0.5)."""
    fpr, tpr = roc_curve(member_scores, non_member_scores)
    return float(torch.trapezoid(tpr, fpr))


def tpr_at_fpr(member_scores: Tensor, non_member_scores: Tensor, fpr: float) -> float | None:
    """The highest TPR of a threshold whose FPR is at most ``fpr`` (Carlini et al.'s reading: no interpolation), or
    None when the non-members are too few to measure a rate that low (fewer than ``1 / fpr``: the first false
    positive alone already exceeds it)."""
    if len(non_member_scores) * fpr < 1:
        return None
    f, t = roc_curve(member_scores, non_member_scores)
    return float(t[f <= fpr + 1e-12].max())


def too_few_note(non_members: int, fprs: Sequence[float] = FPRS) -> str:
    """Words on the rates ``non_members`` cannot measure (``""`` when it measures them all)."""
    low = [f for f in fprs if non_members * f < 1]
    if not low:
        return ""
    return (f"TPR at {', '.join(f'{100 * f:g}%' for f in low)} FPR not measured: {non_members} non-members cannot show a "
            f"false-positive rate below 1/{non_members} = {100 / non_members:.2g}% (needed: "
            + ", ".join(f"{math.ceil(1 / f)} for {100 * f:g}%" for f in low) + ")")


def mean_tpr_on_grid(curves: Sequence[tuple[Tensor, Tensor]], grid: Tensor) -> Tensor:
    """The mean over ``curves`` ((fpr, tpr) pairs of :func:`roc_curve`) of each one's highest TPR at FPR <= each value
    of ``grid`` (G,): one curve per set to draw, averaged over runs (G,) float64."""
    rows = []
    for f, t in curves:
        rows.append(torch.stack([t[f <= g + 1e-12].max() for g in grid.double()]))
    return torch.stack(rows).mean(dim=0)


def summary(member_scores: Tensor, non_member_scores: Tensor, fprs: Sequence[float] = FPRS) -> dict[str, float | None]:
    """``{"auc", "tpr_at_1%_fpr", "tpr_at_0.1%_fpr"}`` of one attack on one model (None where too few non-members)."""
    out: dict[str, float | None] = {"auc": auc(member_scores, non_member_scores)}
    for f in fprs:
        out[fpr_key(f)] = tpr_at_fpr(member_scores, non_member_scores, f)
    return out


__all__ = ["FPRS", "auc", "fpr_key", "lira_offline_scores", "loss_scores", "mean_tpr_on_grid", "roc_curve", "summary",
           "too_few_note", "tpr_at_fpr", "true_class_signals"]
