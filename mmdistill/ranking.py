"""Scores that a metric ranks (image-text retrieval, next-item recommendation): a non-finite score, what a network
that diverged or collapsed gives, ranks below every finite one, so it is never counted as retrieved.

Comparisons with NaN are all false, so without this a NaN positive was ranked first (recall 100 %, and -1 as a
0-based rank: an infinite NDCG)."""

from __future__ import annotations

import logging
import math

from torch import Tensor

log = logging.getLogger(__name__)


def finite_or_last(scores: Tensor, what: str) -> Tensor:
    """``scores`` (any shape) with every NaN and infinite entry set to -inf (a new tensor only when there is one), and
    one warning naming ``what`` and how many there were."""
    scores, count = last_if_not_finite(scores)
    warn_not_finite(count, scores.numel(), what)
    return scores


def last_if_not_finite(scores: Tensor) -> tuple[Tensor, int]:
    """``scores`` with every NaN and infinite entry set to -inf, and how many there were (no warning: a caller scoring
    in batches warns once with :func:`warn_not_finite`)."""
    bad = ~scores.isfinite()
    count = int(bad.sum())
    return (scores.masked_fill(bad, -math.inf) if count else scores), count


def warn_not_finite(count: int, total: int, what: str) -> None:
    """The warning of ``count`` non-finite scores of ``total`` (nothing when there are none)."""
    if count:
        log.warning("%d of %d %s are not finite (a network that diverged gives them): they rank below every finite score, "
                    "never as retrieved", count, total, what)


__all__ = ["finite_or_last", "last_if_not_finite", "warn_not_finite"]
