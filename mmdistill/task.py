"""Tasks: the loss the matchers differentiate and the metric evaluation reports.

Classification is the task of images, audio and video. Targets are either hard labels (K,) int64 or
soft-label logits (K, C) float; both go through the same :meth:`ClassificationTask.loss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class ClassificationTask:
    """Cross-entropy loss and top-1 accuracy.

    ``soft_temperature`` divides soft-label logits before the softmax that turns them into target
    probabilities.
    """

    soft_temperature: float = 1.0
    name: str = "classification"
    metric_name: str = "accuracy"

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy of ``logits`` (N, C) against hard (N,) or soft-logit (N, C) targets."""
        if targets.dim() == 2:
            probs = torch.softmax(targets / self.soft_temperature, dim=-1)
            return torch.sum(-probs * F.log_softmax(logits, dim=-1), dim=-1).mean()
        return F.cross_entropy(logits, targets)

    @staticmethod
    def correct(logits: Tensor, labels: Tensor) -> int:
        """Number of rows of ``logits`` (N, C) whose arg-max equals ``labels`` (N,)."""
        return int((logits.argmax(dim=-1) == labels).sum().item())
