"""Evaluation of a summary next to real baselines of the same size, through the core skeleton.

Every set trains ``eval_runs`` fresh learners (weights drawn per run, the pretrained embeddings kept, as
TD3's ``Evaluator`` re-initialises only Linear and LayerNorm weights) and scores them on the held-out test
items (HR@{5,10,20}, NDCG@{5,10,20}; full ranking over every item the user has not interacted with, or 100
sampled negatives, or both — the plan's title, label and protocol name which):

- ``distilled``: the summary's distributions, ``eval_steps`` (default ``inner_steps``) Adam steps in batches of
  ``learner_batch`` (the reference's evaluation protocol); with ``eval_select_every`` k the learner is scored on
  the validation item every k steps and its best state kept, as ``whole`` keeps its best validation epoch;
- ``random_real``: ``seq_num`` random real users (a new draw per run), each as its last ``seq_len`` training
  items in one-hot, trained with the same protocol as the summary;
- ``most_active``: the ``seq_num`` users with the most training interactions (a heuristic coreset), likewise;
- ``whole``: every training window, ``whole_epochs`` epochs, best validation epoch kept;
- ``popularity``: no learner, every user ranks the items by their count in the training split (the non-personalised
  floor, :mod:`.popularity`), scored once (it draws nothing).

Learner training seconds per set are recorded (``train_seconds``), for the speed-up of training on a summary.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import quantity

from .nets import learner_name
from .popularity import PopularityRanker, item_counts
from .sequence_data import SequenceData
from .summary import decode_summary
from .train import (KS, LearnerProtocol, freezes_embedding, fresh_learner, pretrained_learner, rank_metrics, sample_negatives,
                    short_negative_users, small_set_protocol, train_on_summary, train_on_windows)

PROTOCOL_NAMES = {"full": "full ranking over all items (the user's earlier items excluded)",
                  "sampled": "{n} sampled negatives (uniform, items the user never interacted with)"}


log = logging.getLogger(__name__)


def scored_item(cfg: Any) -> str:
    """The held-out item a learner is scored on: ``test`` (last) or ``validation`` (second-last)."""
    return "test" if cfg.eval_split == "test" else "validation"


def one_hot_sequences(data: SequenceData, users: list[int], length: int) -> Tensor:
    """(len(users), length, N) one-hot summaries of the users' last ``length`` training items, left-padded
    with zero rows so the last position is the last item."""
    out = torch.zeros(len(users), length, data.num_items)
    for r, s in enumerate(data.last_items(users, length)):
        out[r, length - s.numel() + torch.arange(s.numel()), s] = 1.0
    return out


def check_budget(data: SequenceData, seq_num: int) -> None:
    """DataError unless ``seq_num`` (sequences in the summary) is at most the users left after filtering."""
    if seq_num > data.num_users:
        raise DataError(f"{data.name}: a summary of {seq_num} sequences is compared with {seq_num} real users, but the "
                        f"data has only {data.num_users} users after filtering; choose seq_num <= {data.num_users}")


def most_active_users(data: SequenceData, k: int) -> list[int]:
    """The ``k`` users with the most training interactions, most active first (ties by user index)."""
    act = data.activity()
    order = sorted(range(data.num_users), key=lambda u: (-int(act[u]), u))
    return order[:k]


def evaluation_learners(cfg: Any) -> list[str]:
    """The learners the sets are evaluated with, registry names in order without repeats: ``eval_learners`` (default
    the matching learner ``network``), then SASRec and GRU4Rec with ``cross_arch``. ConfigError for an unknown one."""
    names = list(cfg.eval_learners or [cfg.network]) + (["sasrec", "gru4rec"] if cfg.cross_arch else [])
    return list(dict.fromkeys(learner_name(n) for n in names))


def sequence_plan(cfg: Any, syn: SyntheticSet | None, data: SequenceData, device: torch.device) -> EvaluationPlan:
    """The evaluation plan of ``syn`` on ``data`` (``syn`` None: the baselines alone, at ``cfg.seq_num`` x
    ``cfg.seq_len``): per learner the sets of the module docstring, scored by HR/NDCG@{5,10,20}, learners trained on
    ``device``. DataError if ``seq_num`` exceeds the users."""
    seq_num = int(syn.meta["seq_num"]) if syn is not None else int(cfg.seq_num)
    seq_len = int(syn.meta["seq_len"]) if syn is not None else int(cfg.seq_len)
    check_budget(data, seq_num)
    learners = evaluation_learners(cfg)
    protocols = ["full", "sampled"] if cfg.eval_protocol == "both" else [cfg.eval_protocol]
    negatives = sample_negatives(data, cfg.eval_negatives, cfg.seed) if "sampled" in protocols else None
    small = small_set_protocol(cfg)
    whole = LearnerProtocol(lr=cfg.pretrain_lr, weight_decay=0.0, steps=0, batch=cfg.pretrain_batch, epochs=cfg.whole_epochs)
    seconds: dict[str, dict[str, list[float]]] = {}
    best_steps: dict[str, dict[str, list[int]]] = {}
    pretrain_info: dict[str, Any] = {}

    def scores(learner) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in protocols:
            m = rank_metrics(learner, data, cfg.eval_split, p, negatives)
            prefix = "" if p == protocols[0] else f"s{cfg.eval_negatives}:"
            out.update({prefix + k: v for k, v in m.items()})
        return out

    def make_trainer(arch: str, set_name: str):
        pre = pretrained_learner(data, cfg, arch, device) if cfg.eval_pretrained_embedding else None
        if pre is not None:
            pretrain_info[arch] = {k: v for k, v in pre.info.items() if k != "test"} | {"test_full": pre.info["test"]}

        freeze = freezes_embedding(cfg, pre)

        def train_and_score(train_set: Any, gen: torch.Generator) -> dict[str, float]:
            learner = fresh_learner(arch, data, cfg, pre, gen).to(device)
            t0 = time.perf_counter()
            if isinstance(train_set, tuple):
                train_on_windows(learner, train_set[0].to(device), train_set[1].to(device), whole, gen,
                                 freeze_embedding=freeze, data=data, select_on_valid=True)
            else:
                info = train_on_summary(learner, train_set.to(device), small, gen, freeze_embedding=freeze, data=data,
                                        select_every=cfg.eval_select_every)
                if "best_step" in info:
                    best_steps.setdefault(arch, {}).setdefault(set_name, []).append(int(info["best_step"]))
            seconds.setdefault(arch, {}).setdefault(set_name, []).append(time.perf_counter() - t0)
            return scores(learner)

        return train_and_score

    if syn is not None:
        with torch.no_grad():
            dist = decode_summary(syn.detached().to("cpu"))
    active = most_active_users(data, seq_num)
    counts = item_counts(data) if "popularity" in cfg.baselines else None
    floor: dict[str, float] = {}

    def popularity(c: Tensor, gen: torch.Generator) -> dict[str, float]:
        """The popularity ranking's scores: no learner, so ranked once and given to every learner's table."""
        if not floor:
            floor.update(scores(PopularityRanker(c).to(device)))
        return dict(floor)

    plans = []
    for arch in learners:
        sets: dict[str, EvalSet] = {}
        if syn is not None:
            sets["distilled"] = EvalSet(dist, train_and_score=make_trainer(arch, "distilled"), size=seq_num)
        if "popularity" in cfg.baselines:
            sets["popularity"] = EvalSet(counts, train_and_score=popularity, size=data.num_users, runs=1)
        if "random_real" in cfg.baselines:
            def draw(r: int) -> Tensor:
                users = torch.randperm(data.num_users, generator=generator(cfg.seed, "random_real", r))[:seq_num].tolist()
                return one_hot_sequences(data, users, seq_len)
            sets["random_real"] = EvalSet(draw, per_run=True, train_and_score=make_trainer(arch, "random_real"), size=seq_num)
        if "most_active" in cfg.baselines:
            sets["most_active"] = EvalSet(one_hot_sequences(data, active, seq_len), train_and_score=make_trainer(arch, "most_active"),
                                          size=seq_num)
        if "whole" in cfg.baselines:
            sets["whole"] = EvalSet(data.windows(), train_and_score=make_trainer(arch, "whole"), size=data.num_users)
        plans.append(NetworkPlan(arch, make_trainer(arch, "distilled"), sets))
    if trivial := [k for k in KS if data.num_items <= k]:
        log.warning("%s: the catalogue holds %s, so every user's %s item ranks within the top %s of every learner: HR@%s "
                    "is 1 for every set and says nothing", data.name, quantity(data.num_items, "item"), scored_item(cfg),
                    trivial[0], "/".join(map(str, trivial)))
    short = short_negative_users(negatives) if negatives is not None else 0
    fewer = f"{short} of {data.num_users} users have fewer unseen items, ranked against all of them" if short else ""
    names = [PROTOCOL_NAMES[p].format(n=cfg.eval_negatives) + (f"; {fewer}" if p == "sampled" and short else "")
             for p in protocols]
    scored = scored_item(cfg)
    sampled = f"{cfg.eval_negatives} sampled negatives" + (f"; {fewer}" if short else "")
    label = f"hr@10 ({'full ranking' if protocols[0] == 'full' else sampled})"
    return EvaluationPlan(
        metric="hr@10", label=label, networks=plans, runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress,
        title=f"{scored} HR/NDCG@{{5,10,20}}, {quantity(cfg.eval_runs, 'run')} each, {quantity(seq_num, 'sequence')} x {seq_len}; "
              + "; ".join(f"{'unprefixed' if i == 0 else f's{cfg.eval_negatives}:'} = {n}" for i, n in enumerate(names)),
        protocol={"ranking": protocols[0], "ranking_name": names[0],
                  **({"also": f"s{cfg.eval_negatives}: " + names[1]} if len(protocols) > 1 else {}),
                  "ks": list(KS), "split": "leave-one-out (last item test, second-last validation)",
                  "scored": f"{scored} ({'last item' if cfg.eval_split == 'test' else 'second-last item; test unread'})",
                  "summary_training": {"optimizer": "adam", "lr": small.lr, "weight_decay": small.weight_decay,
                                       "steps": small.steps, "batch": small.batch,
                                       "selection": (f"best validation hr@10 of every {cfg.eval_select_every} steps"
                                                     if cfg.eval_select_every else "last step")},
                  "whole_training": {"optimizer": "adam", "lr": whole.lr, "epochs": whole.epochs, "batch_windows": whole.batch,
                                     "selection": "best validation hr@10"},
                  "embeddings": "pretrained on the whole training split" if cfg.eval_pretrained_embedding else "fresh",
                  # the card's words for how the learners were trained (they are not networks trained for epochs)
                  "trained_as": ("learners trained on each set, " + ("their item embeddings pretrained on the whole training "
                                 "split and frozen" if cfg.eval_pretrained_embedding else "from scratch")
                                 + f" (random real and most active users: as many sequences as the summary, {seq_num}; "
                                 "the whole data: every training user"
                                 + ("; popularity: no learner, the items ranked by their training count" if "popularity"
                                    in cfg.baselines else "") + ")"),
                  "training": (f"{small.steps} Adam steps on a small set (batch {small.batch}), {whole.epochs} epochs on the "
                               "whole data"),
                  "runs": cfg.eval_runs, "test_users": data.num_users, "items": data.num_items,
                  **({"short_negative_users": short} if negatives is not None else {})},
        extra={"train_seconds": seconds, "pretrained": pretrain_info, "data_stats": dict(data.stats),
               **({"selected_steps": best_steps} if cfg.eval_select_every else {})},
    )


__all__ = ["check_budget", "evaluation_learners", "most_active_users", "one_hot_sequences", "sequence_plan"]
