"""TD3's best-checkpoint selection: the summary scored on the validation item during distillation.

The reference (``src/trainer.py`` of USTC-StarTeam/TD3, ``Trainer.fit``) evaluates the summary before training
and after every epoch over the real prefixes (``val_interval: 1``) with ``n_eval_model`` learners trained on it
(``evaluate_fast``), by MRR@10 on the validation split, saves the best one and loads it at the end. This
:class:`~mmdistill.selection.Selector` does the same through the core loop: ``select_models`` learners trained on
the decoded summary with the evaluation's learner protocol (the pretrained or fresh item embeddings of
``eval_pretrained_embedding``, ``eval_steps`` or ``inner_steps`` Adam steps, the last step kept), MRR@10 with full
ranking on each user's second-last item. Its randomness comes from ``generator(seed, "select", iteration, k)``,
and the matcher reseeds the global generator at each outer step, so selection does not change the trajectory.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mmdistill.errors import ConfigError
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet

from .sequence_data import SequenceData
from .summary import decode_summary
from .train import freezes_embedding, fresh_learner, mrr_at, pretrained_learner, small_set_protocol, target_ranks, train_on_summary

SELECT_K = 10


def selection_interval(cfg: Any, transitions: int) -> int:
    """Outer steps between scores: ``select_every``, or for -1 one epoch of ``transitions`` real prefixes in
    batches of ``batch_real`` (at least 1); 0 means no selection."""
    if cfg.select_every >= 0:
        return int(cfg.select_every)
    return max(1, math.ceil(transitions / max(1, int(cfg.batch_real))))


class SummarySelector:
    """Scores a summary by the validation MRR@10 of learners trained on it (higher is better)."""

    def __init__(self, cfg: Any, data: SequenceData, every: int, device: torch.device):
        self.cfg, self.data, self.every, self.device = cfg, data, every, device
        self.pre = pretrained_learner(data, cfg, cfg.network, device) if cfg.eval_pretrained_embedding else None
        self.protocol = small_set_protocol(cfg)  # evaluation's
        embeddings = "pretrained frozen" if cfg.eval_pretrained_embedding else "fresh"
        # the protocol is in the name: a resume that would score with another one is refused by the loop
        self.metric = (f"validation mrr@{SELECT_K} (full ranking, {cfg.select_models} learner(s), {embeddings} embeddings, "
                       f"{self.protocol.steps} steps)")
        self.keys = {"select_models": cfg.select_models, "eval_pretrained_embedding": cfg.eval_pretrained_embedding,
                     "eval_steps": cfg.eval_steps}

    def score(self, syn: SyntheticSet, iteration: int) -> float:
        with torch.no_grad():
            dist = decode_summary(syn.detached())
        values = []
        for k in range(self.cfg.select_models):
            gen = generator(self.cfg.seed, "select", iteration, k)
            learner = fresh_learner(self.cfg.network, self.data, self.cfg, self.pre, gen).to(self.device)
            train_on_summary(learner, dist.to(self.device), self.protocol, gen, freeze_embedding=freezes_embedding(self.cfg, self.pre))
            values.append(mrr_at(target_ranks(learner, self.data, "valid", "full"), SELECT_K))
        return sum(values) / len(values)


def summary_selector(cfg: Any, data: SequenceData, transitions: int, device: torch.device) -> SummarySelector | None:
    """The selector of a run, or None when ``select_every`` is 0. ConfigError when the run would also be scored
    on the validation item (``eval_split=valid``): choosing on it and reporting it would overstate the score."""
    every = selection_interval(cfg, transitions)
    if every and cfg.evaluate and cfg.eval_split != "test":
        raise ConfigError(f"select_every={cfg.select_every} selects the summary on the validation item, which "
                          f"eval_split={cfg.eval_split} also scores; use select_every=0 with eval_split={cfg.eval_split}",
                          key="select_every")
    return SummarySelector(cfg, data, every, device) if every > 0 else None


__all__ = ["SELECT_K", "SummarySelector", "selection_interval", "summary_selector"]
