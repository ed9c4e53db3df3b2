"""The popularity baseline: every user gets the same ranking, the items by how often they occur in the training
split. No learner and nothing trained — the non-personalised floor a next-item model (and a summary it learned
from) has to beat, scored with the same protocol as the learners (:func:`.train.target_ranks`; the user's earlier
items are no candidates in the full ranking). Items of equal count rank against the target (``>=``, as a learner's
ties do), so the floor is not flattered by an order among ties.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .sequence_data import SequenceData


def item_counts(data: SequenceData) -> Tensor:
    """(N,) float: each item's interactions in the training sequences (the validation and test items left out)."""
    seen = torch.cat([s.cpu() for s in data.train]) if data.train else torch.zeros(0, dtype=torch.long)
    return torch.bincount(seen, minlength=data.num_items).float()


class PopularityRanker(nn.Module):
    """Scores every item by ``counts`` (N,) whatever the user's sequence: the interface :func:`.train.target_ranks`
    reads of a learner (``embed_ids``, ``encode``, ``logits``), with a placeholder parameter that carries the device."""

    def __init__(self, counts: Tensor) -> None:
        super().__init__()
        self.register_buffer("counts", counts.float())
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)

    def embed_ids(self, x: Tensor) -> Tensor:
        """(B, L) item ids, passed on."""
        return x

    def encode(self, x: Tensor) -> Tensor:
        """(B, L, 1) zeros: the ranking reads nothing of the sequence."""
        return torch.zeros(x.shape[0], x.shape[1], 1, device=self.counts.device)

    def logits(self, h: Tensor) -> Tensor:
        """(B, N): the counts for every user of the batch."""
        return self.counts.expand(h.shape[0], -1)


__all__ = ["PopularityRanker", "item_counts"]
