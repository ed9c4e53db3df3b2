"""The synthetic summary: ``seq_num`` sequences of ``seq_len`` positions, each a distribution over items.

``tucker`` (TD3, reference ``src/distilled_data.py``): logits[a, b, c] = sum_ijk G[i, j, k] U[a, i] T[b, j]
V[c, k] with a synthetic-user factor U (seq_num, rank_user), a temporal factor T (seq_len, rank_time), a core
G (rank_user, rank_time, hidden) and the item factor V (num_items, hidden): the pretrained learner's item
embedding, frozen. ``syn.data`` holds ``U``, ``T``, ``G`` and ``V`` — V travels with the set (the artifact
decodes on its own, the checkpoint restores it) but :func:`decode` uses it detached, so it never receives a
gradient and no optimizer moves it (:func:`summary_optimizer` holds only the learnable factors).
Initialisation as the reference: U, T ~ N(0, 0.02) (``init_scale``), G Kaiming-normal.

``farzi`` (Farzi Data, Sachdeva et al. 2023; the reference's commented ``DistilledInputEmbedding`` /
``DistilledDecoder``): logits = Z @ D with a latent summary Z (seq_num, seq_len, farzi_dim) and a learned
decoder D (farzi_dim, num_items), both Kaiming-uniform. No Tucker structure, no pretrained factor.

Either way the distributions are softmax(logits) over the items.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import ConfigError
from mmdistill.optim import RATE_KEY
from mmdistill.synthetic import SyntheticSet

FROZEN = ("V",)


def learnable_keys(syn: SyntheticSet) -> list[str]:
    """The keys of ``syn.data`` the optimizer moves, in the data's order: all but the frozen item factor ``V``
    (``U``, ``T``, ``G``, or ``Z``, ``D``)."""
    return [k for k in syn.data if k not in FROZEN]


def _kaiming_normal(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)


def _kaiming_uniform(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    fan_in = math.prod(shape[1:])
    bound = math.sqrt(6.0 / fan_in)  # torch's default a=0 for kaiming_uniform_
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


def init_summary(cfg: Any, num_items: int, item_factor: Tensor | None, gen: torch.Generator, meta: dict[str, Any]) -> SyntheticSet:
    """A fresh summary of ``cfg.seq_num`` sequences x ``cfg.seq_len`` positions over ``num_items`` items (module
    docstring): ``tucker`` needs ``item_factor`` (num_items, hidden), the pretrained item embedding, stored as ``V``;
    ``farzi`` ignores it. Labels (seq_num,) all 0 (one class); ``meta`` is merged into the set's metadata."""
    s, l = int(cfg.seq_num), int(cfg.seq_len)
    if cfg.parameterization == "tucker":
        if item_factor is None:
            raise ConfigError("parameterization=tucker needs the pretrained item embedding (item_factor, num_items x hidden) "
                              "as its item factor V; the farzi parameterization learns without one")
        h = item_factor.shape[1]
        scale = float(getattr(cfg, "init_scale", 0.02))
        data = {"U": torch.randn(s, cfg.rank_user, generator=gen) * scale,
                "T": torch.randn(l, cfg.rank_time, generator=gen) * scale,
                "G": _kaiming_normal((cfg.rank_user, cfg.rank_time, h), gen),
                "V": item_factor.detach().to(torch.get_default_dtype()).clone()}
    else:
        data = {"Z": _kaiming_uniform((s, l, cfg.farzi_dim), gen), "D": _kaiming_uniform((cfg.farzi_dim, num_items), gen)}
    return SyntheticSet(data=data, labels=torch.zeros(s, dtype=torch.long), num_classes=1,
                        meta={"parameterization": cfg.parameterization, "seq_num": s, "seq_len": l, "num_items": num_items,
                              "budget_label": f"{s} sequences x {l}", **meta})


def summary_logits(syn: SyntheticSet, index: Tensor | None = None) -> Tensor:
    """(S, L, N) logits of the summary (rows ``index`` only when given), differentiable in the learnable
    factors."""
    d = syn.data
    if "U" in d:
        u = d["U"] if index is None else d["U"][index]
        core = torch.einsum("ijk,ai->ajk", d["G"], u)  # (S, rank_time, H)
        core = torch.einsum("ajk,bj->abk", core, d["T"])  # (S, L, H)
        return core @ d["V"].detach().t()
    z = d["Z"] if index is None else d["Z"][index]
    return z @ d["D"]


def decode_summary(syn: SyntheticSet, index: Tensor | None = None) -> Tensor:
    """(S, L, N) distributions over items."""
    return summary_logits(syn, index).softmax(-1)


def summary_optimizer(syn: SyntheticSet, cfg: Any) -> torch.optim.Optimizer:
    """The reference's optimizer of the summary: Adam at ``seq_lr`` with weight decay ``seq_weight_decay`` over
    the learnable factors (U, T, G or Z, D); V is not in it."""
    return torch.optim.Adam([{"params": [syn.data[k] for k in learnable_keys(syn)], "lr": cfg.seq_lr,
                              "weight_decay": cfg.seq_weight_decay, RATE_KEY: "seq_lr"}], lr=cfg.seq_lr)


__all__ = ["FROZEN", "decode_summary", "init_summary", "learnable_keys", "summary_logits", "summary_optimizer"]
