"""The contrastive task of image-text distillation: its loss and its retrieval metric.

Loss (``ContrastiveTask.loss(logits, targets)``), for logits (B, B) of images (rows) against texts (columns):

* hard targets (``targets`` None or (B,) int64 column indices): InfoNCE in both directions,
  ``(CE(logits, y) + CE(logits.T, y)) / 2`` with ``y = arange(B)`` by default (CLIP's loss);
* soft targets (``targets`` a (B, B) float similarity matrix, LoRS): ``soft_loss="wbce"`` is LoRS's
  weighted binary cross-entropy (BCE of ``sigmoid(logits)`` against the matrix, averaged separately over
  the entries > 0.5 and the others, then the two means averaged); ``"infonce"`` is cross-entropy against the
  matrix's rows (and columns for the other direction), as LoRS's ``InfoNCE`` option.

Metric (:func:`retrieval_recalls`): image->text recall@K counts an image as retrieved when *any* of its
captions is among the K most similar captions; text->image recall@K counts a caption when its image is
among the K most similar images (the BLIP / reference ``itm_eval`` protocol).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.errors import ConfigError
from mmdistill.ranking import finite_or_last

KS = (1, 5, 10)
RECALL_KEYS = tuple(f"{d}_r{k}" for d in ("i2t", "t2i") for k in KS)
HEADLINE = "R@10 (mean of image->text and text->image)"
#: the key of the headline in the scores of one model: the mean of i2t_r10 and t2i_r10
HEADLINE_KEY = "r10_mean"


@dataclass(frozen=True)
class ContrastiveTask:
    """Bidirectional InfoNCE for hard targets, LoRS's soft-target loss for a similarity matrix."""

    soft_loss: str = "wbce"
    name: str = "contrastive"
    metric_name: str = HEADLINE

    def __post_init__(self) -> None:
        if self.soft_loss not in ("wbce", "infonce"):
            raise ConfigError(f"soft_loss must be 'wbce' or 'infonce', got {self.soft_loss!r}")

    def loss(self, logits: Tensor, targets: Tensor | None = None) -> Tensor:
        """Mean loss of ``logits`` (B, B); ``targets`` None / (B,) int64 (hard) or (B, B) float (soft)."""
        if logits.dim() != 2:
            raise ConfigError(f"contrastive logits must be (B, B), got {tuple(logits.shape)}")
        if targets is None or targets.dim() == 1:
            y = torch.arange(logits.shape[0], device=logits.device) if targets is None else targets
            return 0.5 * (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y))
        targets = targets.to(logits.dtype)
        if self.soft_loss == "infonce":
            return 0.5 * (-(targets * F.log_softmax(logits, 1)).sum(1).mean() - (targets.T * F.log_softmax(logits.T, 1)).sum(1).mean())
        # BCE of sigmoid(logits) written with logsigmoid (the reference adds 1e-6 inside the logs instead)
        per = -(targets * F.logsigmoid(logits) + (1.0 - targets) * F.logsigmoid(-logits))
        pos = (targets > 0.5).detach()
        loss_pos = (per * pos).sum() / (pos.sum() + 1e-6)
        loss_neg = (per * ~pos).sum() / ((~pos).sum() + 1e-6)
        return 0.5 * (loss_pos + loss_neg)


def retrieval_recalls(sims: Tensor, caption_image: Tensor, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """Recalls in [0, 1] from ``sims`` (N_img, N_cap) and the image of each caption (N_cap,).

    Returns ``i2t_r{k}`` and ``t2i_r{k}`` for each k, and ``r10_mean`` = the mean of the two R@10 (when 10 is
    in ``ks``). Ties are broken at random, in expectation (a query's recall is the chance that a random order of the
    candidates tied with its best positive puts a positive among the first k; McSherry & Najork's tie-aware measures):
    without ties this is the plain count; a caption repeated word for word gets half the credit of a hit at the edge
    of the top k; an encoder that collapsed to one embedding scores the random-ranking level, not 100 %; a non-finite
    similarity ranks below every finite one (:func:`mmdistill.ranking.finite_or_last`).
    """
    sims = finite_or_last(sims.float(), "image-text similarities")
    n_img, n_cap = sims.shape
    cap_img = caption_image.to(sims.device)
    if cap_img.shape != (n_cap,):
        raise ConfigError(f"caption_image must have {n_cap} entries, got {tuple(cap_img.shape)}")
    positive = torch.zeros_like(sims, dtype=torch.bool)
    positive[cap_img, torch.arange(n_cap, device=sims.device)] = True
    best_pos = sims.masked_fill(~positive, float("-inf")).max(dim=1, keepdim=True).values  # (N_img, 1)
    own = sims[cap_img, torch.arange(n_cap, device=sims.device)][None, :]  # (1, N_cap)
    has_caption = positive.any(dim=1)
    i2t = [((sims > best_pos) & ~positive).sum(1), ((sims == best_pos) & ~positive).sum(1), ((sims == best_pos) & positive).sum(1)]
    t2i = [((sims > own) & ~positive).sum(0), ((sims == own) & ~positive).sum(0), torch.ones(n_cap, dtype=torch.long, device=sims.device)]
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_r{k}"] = float(_hit_chance(*(c[has_caption] for c in i2t), k).mean())
        out[f"t2i_r{k}"] = float(_hit_chance(*t2i, k).mean())
    if 10 in ks:
        out["r10_mean"] = 0.5 * (out["i2t_r10"] + out["t2i_r10"])
    return out


def _hit_chance(above: Tensor, tied: Tensor, tied_positives: Tensor, k: int) -> Tensor:
    """(Q,) float64: the chance that a query's first positive is among the top ``k`` when ``above`` other candidates
    score higher than its best positive and ``tied`` others tie with the ``tied_positives`` (>= 1) positives scoring
    that: with ``j = k - above`` places left, ``1 - C(tied, j) / C(tied + tied_positives, j)`` (the first ``j`` of the
    tied block drawn all negatives is the miss); 0 when no place is left, 1 when more are left than tied negatives."""
    above, tied, pos = above.double(), tied.double(), tied_positives.double()
    j = (k - above).clamp(min=0)
    jj = torch.minimum(j, tied)

    def log_comb(n: Tensor, r: Tensor) -> Tensor:
        return torch.lgamma(n + 1) - torch.lgamma(r + 1) - torch.lgamma(n - r + 1)

    chance = 1.0 - torch.exp(log_comb(tied, jj) - log_comb(tied + pos, jj))
    return torch.where(j > tied, torch.ones_like(chance), torch.where(j == 0, torch.zeros_like(chance), chance))


def saturated_recalls_note(num_images: int, num_captions: int, ks: tuple[int, ...] = KS) -> str | None:
    """A note when a test split is too small for some recalls to tell models apart: with at most k images every
    text->image R@k is 100 % (the right image is always among the k ranked), with at most k captions every
    image->text R@k; None when no recall of ``ks`` is saturated."""
    t2i = [str(k) for k in ks if num_images <= k]
    i2t = [str(k) for k in ks if num_captions <= k]
    if not t2i and not i2t:
        return None
    parts = ([f"text->image R@{'/'.join(t2i)}"] if t2i else []) + ([f"image->text R@{'/'.join(i2t)}"] if i2t else [])
    headline = " (so the headline R@10 mean is partly a constant)" if "10" in t2i + i2t else ""
    return (f"the test split has {num_images} images / {num_captions} captions: {' and '.join(parts)} "
            f"{'is' if len(t2i) + len(i2t) == 1 else 'are'} 100 % for any model, whatever it learned{headline}; hold out more "
            f"than {max(int(k) for k in t2i + i2t)} images and captions (test_fraction, or a larger test file) for recalls that compare sets")


__all__ = ["ContrastiveTask", "HEADLINE", "HEADLINE_KEY", "KS", "RECALL_KEYS", "retrieval_recalls", "saturated_recalls_note"]
