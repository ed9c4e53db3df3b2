"""Learner losses, training, ranking metrics and the pretrained learner.

Losses (TD3's reference, ``src/model.py`` of USTC-StarTeam/TD3):

- on a summary (distributions over items, (S, L, N)): the learner reads positions 0..L-2 as expected
  embeddings; the KL divergence between the distribution at the last position and the softmax of the output
  at L-2, averaged with the same term at one random position ``p`` in [5, L-1) per sequence (the reference's
  inner-loop augmentation: a truncated sequence predicting its next position);
- on real sequences (item ids): cross-entropy of the next item at every position (RecBole trains SASRec on
  every prefix of a user's sequence, the same targets).

Metrics: HR@K and NDCG@K (K = 5, 10, 20) of the held-out item, ranked against every item the user has not
interacted with before (``full``, RecBole's full sort) or against 100 uniformly sampled negatives the user never
interacted with (``sampled``, the reference's ``uni100``: distinct items, drawn without replacement; a user with
fewer unseen items is ranked against all of them). Ties count against the target.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.logs import progress_bar
from mmdistill.ranking import last_if_not_finite, warn_not_finite
from mmdistill.seeding import draw_seed, generator
from mmdistill.stop_signals import stop_says

from .nets import Learner, build_learner
from .pretrain_cache import cache_file, pretrain_key, read_pretrained, write_pretrained
from .pretrain_progress import EpochState, PretrainingProgress, partial_file
from .sequence_data import SequenceData

KS = (5, 10, 20)
NO_NEGATIVE = -1  # padding of a user's row of sampled negatives when fewer unseen items exist than asked
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- losses
def augmentation_positions(num: int, length: int, gen: torch.Generator) -> Tensor:
    """One position per sequence in [5, length - 1) (the reference's ``torch.randint(5, seq_len - 1)``),
    clamped for short sequences."""
    low = min(5, max(1, length - 2))
    return torch.randint(low, max(low + 1, length - 1), (num,), generator=gen)


def summary_loss(learner: Learner, dist: Tensor, positions: Tensor, emb: Tensor | None = None) -> Tensor:
    """TD3's learner loss on distributions ``dist`` (B, L, N): KL at the last position and at ``positions``.
    ``emb`` (B, L, D) are the expected input embeddings ``dist @ E`` when the caller has them (a frozen item
    embedding makes them the same for every inner step, so they are computed once)."""
    b, l, _ = dist.shape
    emb = learner.embed_dist(dist) if emb is None else emb
    h = learner.encode(emb[:, :-1])  # (B, L-1, D): output p predicts position p + 1
    rows = torch.arange(b, device=dist.device)
    pos = positions.to(dist.device)
    out = torch.cat([h[:, -1], h[rows, pos - 1]])
    target = torch.cat([dist[:, -1], dist[rows, pos]])
    logp = F.log_softmax(learner.logits(out), dim=-1)
    kl = F.kl_div(logp, target + 1e-9, reduction="sum") / b
    return kl / 2


def real_loss(learner: Learner, x: Tensor, y: Tensor, select: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Next-item cross-entropy over the non-padding targets of windows ``x``, ``y`` (B, L) (or the positions
    ``select`` (B, L) bool marks: a batch of prefixes, as RecBole trains); also returns the outputs at those
    positions (M, D) (the features TD3's alignment term compares)."""
    h = learner.encode(learner.embed_ids(x))
    valid = (y != learner.num_items) if select is None else select
    feats = h[valid]
    loss = F.cross_entropy(learner.logits(feats), y[valid])
    return loss, feats


class LossModule(torch.nn.Module):
    """``forward`` of a learner as the meta-learning calls it through ``functional_call``."""

    def __init__(self, learner: Learner):
        super().__init__()
        self.learner = learner

    def forward(self, kind: str, *args: Tensor) -> Any:
        if kind == "summary":
            return summary_loss(self.learner, *args)
        if kind == "summary_emb":
            dist, positions, emb = args
            return summary_loss(self.learner, dist, positions, emb)
        return real_loss(self.learner, *args)


# ---------------------------------------------------------------------------------------------- training
@dataclass
class LearnerProtocol:
    """How a learner is trained on a set: Adam (``lr``, L2 ``weight_decay``) for ``steps`` steps of ``batch``
    sequences in a fixed cycling order (summaries and small subsets; TD3's ``learner_train``), or ``epochs``
    passes in batches of ``batch`` windows (real data)."""

    lr: float
    weight_decay: float
    steps: int
    batch: int
    epochs: int = 0


def small_set_protocol(cfg: Any) -> LearnerProtocol:
    """How a learner trains on a small set (the summary, real subsets of its size) in evaluation and in selection:
    the inner learner's Adam (``net_lr``, ``net_weight_decay``), ``eval_steps`` (0: ``inner_steps``) steps in
    batches of ``learner_batch``."""
    return LearnerProtocol(lr=cfg.net_lr, weight_decay=cfg.net_weight_decay, steps=cfg.eval_steps or cfg.inner_steps,
                           batch=cfg.learner_batch)


def _adam(learner: Learner, p: LearnerProtocol, freeze_embedding: bool) -> torch.optim.Optimizer:
    params = [q for n, q in learner.named_parameters() if not (freeze_embedding and n in learner.embedding_names())]
    return torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)


def train_on_summary(learner: Learner, dist: Tensor, p: LearnerProtocol, gen: torch.Generator,
                     freeze_embedding: bool = False, data: SequenceData | None = None, select_every: int = 0) -> dict[str, Any]:
    """Train on a (S, L, N) summary for ``p.steps`` Adam steps, batch ``p.batch`` in fixed order (the
    reference's ``fix_order``). With ``select_every`` k > 0 and ``data``, the learner is scored on the validation
    item (HR@10, full ranking) after every k steps and after the last, and the best state is kept (ties: the
    earlier). Returns ``{"steps", "loss"}`` (the last step's loss) and, when selecting, ``"best_step"`` and
    ``"valid_hr@10"``."""
    torch.manual_seed(draw_seed(gen))  # dropout
    learner.train()
    opt = _adam(learner, p, freeze_embedding)
    s = dist.shape[0]
    batch = min(p.batch, s)
    loss = torch.zeros(())
    emb = None
    if freeze_embedding:
        with torch.no_grad():
            emb = learner.embed_dist(dist)
    selecting = select_every > 0 and data is not None
    best, best_state, best_step = -1.0, None, p.steps
    for step in range(p.steps):
        idx = batch_indices(step, s, batch)
        loss = summary_loss(learner, dist[idx], augmentation_positions(len(idx), dist.shape[1], gen),
                            None if emb is None else emb[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if selecting and ((step + 1) % select_every == 0 or step + 1 == p.steps):
            hr = rank_metrics(learner, data, "valid", "full")["hr@10"]  # type: ignore[arg-type]
            learner.train()
            if hr > best:
                best, best_step = hr, step + 1
                best_state = {k: v.detach().clone() for k, v in learner.state_dict().items()}
    out: dict[str, Any] = {"steps": p.steps, "loss": float(loss.detach())}
    if best_state is not None:
        learner.load_state_dict(best_state)
        out.update({"best_step": best_step, "valid_hr@10": best})
    return out


def batch_indices(step: int, size: int, batch: int) -> Tensor:
    """The reference's fixed order: batch ``step mod (size // batch)`` of consecutive sequences."""
    cycles = max(1, size // batch)
    c = step % cycles
    return torch.arange(batch * c, min(size, batch * (c + 1)))


def train_on_windows(learner: Learner, x: Tensor, y: Tensor, p: LearnerProtocol, gen: torch.Generator,
                     freeze_embedding: bool = False, data: SequenceData | None = None,
                     select_on_valid: bool = False, progress: PretrainingProgress | None = None,
                     bar: str | None = None) -> dict[str, Any]:
    """Train on real windows for ``p.epochs`` shuffled epochs; with ``select_on_valid`` keep the epoch of best
    validation HR@10 (full ranking). With ``progress``, continue from the finished epochs it keeps and keep each
    finished epoch (written periodically and at a stop). ``bar``: a progress bar of that title over the batches of
    every epoch (on stderr; the epoch and the best validation HR@10 so far beside it). Returns ``{"epochs", "best_epoch", "valid_hr@10", "seconds"}``
    (seconds of training, the kept epochs' included) and, when it continued, ``"continued_from_epoch"``."""
    torch.manual_seed(draw_seed(gen))
    opt = _adam(learner, p, freeze_embedding)
    state = EpochState(epoch=0, best=-1.0, best_epoch=p.epochs)
    if progress is not None:
        state = progress.restore(learner, opt, gen, state)
    started, t0 = state.epoch, time.perf_counter()
    device = x.device
    batches = -(-x.shape[0] // p.batch)
    shown = progress_bar(total=batches * p.epochs, initial=batches * state.epoch, desc=bar, unit="batch", disable=bar is None,
                         leave=False)
    try:
        for epoch in range(state.epoch, p.epochs):
            learner.train()
            order = torch.randperm(x.shape[0], generator=gen)
            for i in range(0, x.shape[0], p.batch):
                idx = order[i : i + p.batch]
                loss, _ = real_loss(learner, x[idx], y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                shown.update(1)
            if select_on_valid and data is not None:
                hr = rank_metrics(learner, data, "valid", "full")["hr@10"]
                if hr > state.best:
                    state.best, state.best_epoch = hr, epoch + 1
                    state.best_state = {k: v.detach().clone() for k, v in learner.state_dict().items()}
                shown.set_postfix(epoch=epoch + 1, best_valid_hr10=f"{state.best:.4f}", refresh=False)
            now = time.perf_counter()
            state.epoch, state.seconds, t0 = epoch + 1, state.seconds + now - t0, now
            if progress is not None:
                progress.epoch_end(learner, opt, gen, state, device)
    except KeyboardInterrupt:
        if progress is not None:
            progress.flush()
        raise
    finally:
        shown.close()
    if state.best_state is not None:
        learner.load_state_dict(state.best_state)
    out: dict[str, Any] = {"epochs": p.epochs, "best_epoch": state.best_epoch, "valid_hr@10": state.best,
                           "seconds": state.seconds}
    if started:
        out["continued_from_epoch"] = started
    return out


# ---------------------------------------------------------------------------------------------- metrics
def sample_negatives(data: SequenceData, num: int, seed: int) -> Tensor:
    """(U, num) items each user never interacted with (train, validation or test), uniformly drawn without
    replacement, fixed by ``seed`` so every evaluated set is ranked against the same candidates.

    ``uni100`` ranks the target against 100 distinct negatives (BERT4Rec's sampler, for one, rejects repeats; the TD3
    reference's own sampler was not at hand to compare); a user with fewer than ``num`` unseen items (a small
    catalogue) gets all of them, the rest of the row padded with ``NO_NEGATIVE`` (never a candidate), and the count
    of such users is logged once (``short_negative_users`` counts them). Drawing with replacement instead would
    repeat negatives and rank the target below a duplicated item, so the sampled HR could fall under the full one.
    """
    gen = generator(seed, "negatives", num)
    out = torch.full((data.num_users, num), NO_NEGATIVE, dtype=torch.long)
    for u in range(data.num_users):
        seen = set(data.train[u].tolist()) | {int(data.valid_target[u]), int(data.test_target[u])}
        if data.num_items - len(seen) <= num:
            pool = torch.tensor([i for i in range(data.num_items) if i not in seen], dtype=torch.long)
            out[u, : pool.numel()] = pool
            continue
        picks: dict[int, None] = {}  # insertion-ordered set: distinct negatives in draw order
        while len(picks) < num:
            for c in torch.randint(0, data.num_items, (2 * num,), generator=gen).tolist():
                if c not in seen and len(picks) < num:
                    picks[c] = None
        out[u] = torch.tensor(list(picks))
    if short := short_negative_users(out):
        log.warning("%s: %d of %d users have fewer than %d unseen items; they are ranked against all of their unseen "
                    "items (fewer than %d sampled negatives)", data.name, short, data.num_users, num, num)
    return out


def short_negative_users(negatives: Tensor) -> int:
    """How many users of ``sample_negatives``' rows have fewer negatives than the row length (padded rows)."""
    return int((negatives == NO_NEGATIVE).any(1).sum())


def rank_metrics(learner: Learner, data: SequenceData, split: str = "test", protocol: str = "full",
                 negatives: Tensor | None = None, batch: int = 512) -> dict[str, float]:
    """HR@K and NDCG@K (K in 5, 10, 20) on ``split`` under ``protocol`` (``full`` or ``sampled``)."""
    return metrics_from_ranks(target_ranks(learner, data, split, protocol, negatives, batch))


@torch.no_grad()
def target_ranks(learner: Learner, data: SequenceData, split: str = "test", protocol: str = "full",
                 negatives: Tensor | None = None, batch: int = 512) -> Tensor:
    """(U,) float 0-based rank of each user's ``split`` item among the candidates of ``protocol`` (``full``: every
    item but the user's earlier ones; ``sampled``: the user's row of ``negatives``)."""
    learner.eval()
    device = next(learner.parameters()).device
    x, lens, targets = data.eval_inputs(split)
    hist = data.history(split)
    ranks, not_finite, scored = [], 0, 0
    for i in range(0, x.shape[0], batch):
        xb, lb, tb = x[i : i + batch].to(device), lens[i : i + batch].to(device), targets[i : i + batch].to(device)
        h = learner.encode(learner.embed_ids(xb))
        out = h[torch.arange(xb.shape[0], device=device), lb - 1]
        scores, count = last_if_not_finite(learner.logits(out))
        not_finite, scored = not_finite + count, scored + scores.numel()
        target_score = scores.gather(1, tb[:, None])
        if protocol == "full":
            candidate = torch.ones_like(scores, dtype=torch.bool)
            for j in range(xb.shape[0]):
                hj = hist[i + j].to(device)
                candidate[j, hj[hj != tb[j]]] = False  # the user's earlier items are not candidates
            rank = ((scores >= target_score) & candidate).sum(1) - 1  # the target counts itself
        else:
            assert negatives is not None
            nb = negatives[i : i + batch].to(device)
            neg = scores.gather(1, nb.clamp(min=0))
            rank = ((neg >= target_score) & (nb != NO_NEGATIVE)).sum(1)  # padding of a short row is no candidate
        ranks.append(rank.cpu())
    warn_not_finite(not_finite, scored, f"{split} item scores")  # once for every batch of users
    return torch.cat(ranks).float()


def mrr_at(r: Tensor, k: int) -> float:
    """MRR@K of 0-based ranks ``r``: the mean of 1 / (rank + 1) over targets ranked below K, 0 for the others
    (RecBole's ``mrr@k``, the metric TD3 selects its summary by)."""
    return float(torch.where(r < k, 1.0 / (r + 1), torch.zeros_like(r)).mean())


def metrics_from_ranks(r: Tensor) -> dict[str, float]:
    """HR@K = share of targets ranked below K (0-based rank); NDCG@K = mean of 1 / log2(rank + 2) over hits."""
    out: dict[str, float] = {}
    for k in KS:
        hit = r < k
        out[f"hr@{k}"] = float(hit.float().mean())
        out[f"ndcg@{k}"] = float(torch.where(hit, 1.0 / torch.log2(r + 2), torch.zeros_like(r)).mean())
    return out


# ---------------------------------------------------------------------------------------------- pretrained
@dataclass
class Pretrained:
    """A learner trained on the whole training split: its state (the source of the frozen item factor V and
    of every learner's initial embeddings) and what training it took."""

    state: dict[str, Tensor]
    info: dict[str, Any]


def pretrained_learner(data: SequenceData, cfg: Any, arch: str, device: torch.device | str = "cpu") -> Pretrained:
    """The ``arch`` learner pretrained on all training windows (TD3 pretrains its learner with RecBole before
    distilling: ``pretrain_epochs`` epochs, Adam, best validation epoch kept), cached on ``data`` per architecture
    and settings and, with ``pretrain_cache``, on disk (:mod:`.pretrain_cache`: a resume, an ``eval`` or another run
    on the same data and settings reads it instead of pretraining again). It trains on ``device``; its state is kept
    on the CPU."""
    key = pretrain_key(data, cfg, arch, device)
    memo = ("pretrained", json.dumps(key, sort_keys=True))
    if memo in data.cache:
        return data.cache[memo]
    path = cache_file(data, cfg, arch, device) if cfg.pretrain_cache else None
    with torch.device("meta"):  # what a cached file must hold (names, shapes); no memory, no draw from the global generator
        own = build_learner(arch, data.num_items, data.max_len, cfg).state_dict()
    cached = read_pretrained(path, key, own) if path is not None else None
    if cached is not None:
        state, info = cached
        log.info("pretrained %s on %s: read from the cache %s (%d epochs, best validation HR@10 %.4f at epoch %d)", arch,
                 data.name, path, info.get("epochs", 0), info.get("valid_hr@10", float("nan")), info.get("best_epoch", 0))
        data.cache[memo] = Pretrained(state, {**info, "read_from_cache": True})
        return data.cache[memo]
    learner = build_learner(arch, data.num_items, data.max_len, cfg)
    gen = generator(cfg.seed, "pretrain", arch)
    learner.init_weights(gen)
    learner = learner.to(device)
    x, y = data.windows()
    p = LearnerProtocol(lr=cfg.pretrain_lr, weight_decay=0.0, steps=0, batch=cfg.pretrain_batch, epochs=cfg.pretrain_epochs)
    progress = PretrainingProgress(partial_file(path), key) if path is not None else None

    def kept() -> str:
        if progress is None:
            return f"the {arch} learner was being pretrained (pretrain_cache=false keeps nothing): run the same command again to pretrain it from its first epoch"
        if progress.kept_epochs:
            return (f"the {arch} learner was being pretrained: {progress.path} keeps its first {progress.kept_epochs} of "
                    f"{p.epochs} epochs: run the same command again to continue from there")
        if progress.refused:  # epochs finished, and the disk refused them (a full disk)
            return (f"the {arch} learner was being pretrained: its finished epochs could not be kept in {progress.path} "
                    f"({progress.refused}): run the same command again to pretrain it from its first epoch")
        return (f"the {arch} learner was being pretrained (no epoch finished; {path} keeps it once it finishes): run the same "
                "command again to pretrain it from its first epoch")

    with stop_says(kept):
        info = train_on_windows(learner, x.to(device), y.to(device), p, gen, data=data, select_on_valid=True, progress=progress,
                                bar=f"pretraining {arch} ({p.epochs} epochs)" if getattr(cfg, "progress", False) else None)
    info["test"] = rank_metrics(learner, data, "test", "full")
    log.info("pretrained %s on %s: %d epochs in %.0f s, best validation HR@10 %.4f at epoch %d, test HR@10 %.4f (full ranking)",
             arch, data.name, info["epochs"], info["seconds"], info["valid_hr@10"], info["best_epoch"], info["test"]["hr@10"])
    state = {k: v.detach().cpu().clone() for k, v in learner.state_dict().items()}
    if path is not None:
        write_pretrained(path, key, state, info)
    if progress is not None:
        progress.finish()
    data.cache[memo] = Pretrained(state, info)
    return data.cache[memo]


def freezes_embedding(cfg: Any, pre: Pretrained | None) -> bool:
    """Whether a learner started from ``pre`` keeps its item embeddings frozen: ``freeze_embedding`` applies to
    pretrained embeddings only (fresh random ones frozen would leave every learner at chance)."""
    return bool(cfg.freeze_embedding and pre is not None)


def fresh_learner(arch: str, data: SequenceData, cfg: Any, pre: Pretrained | None, gen: torch.Generator) -> Learner:
    """A learner with weights drawn from ``gen`` and, with ``pre``, the pretrained embeddings (TD3's
    evaluation re-initialises Linear and LayerNorm weights and keeps the pretrained embeddings)."""
    learner = build_learner(arch, data.num_items, data.max_len, cfg)
    learner.init_weights(gen)
    if pre is not None:
        with torch.no_grad():
            for name in learner.embedding_names():
                learner.get_parameter(name).copy_(pre.state[name])
    return learner


__all__ = ["KS", "NO_NEGATIVE", "LearnerProtocol", "LossModule", "Pretrained", "augmentation_positions", "batch_indices",
           "freezes_embedding", "fresh_learner", "metrics_from_ranks", "mrr_at", "pretrained_learner", "rank_metrics", "real_loss",
           "sample_negatives", "short_negative_users", "small_set_protocol", "summary_loss", "target_ranks", "train_on_summary",
           "train_on_windows"]
