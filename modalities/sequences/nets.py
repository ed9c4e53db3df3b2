"""Sequential recommenders (learners) in a registry: SASRec and GRU4Rec, as RecBole builds them and TD3's
reference (``src/model.py`` of USTC-StarTeam/TD3) uses them.

Every learner maps a (B, L, H) sequence of input embeddings to (B, L, H) outputs, causally (output ``p``
sees inputs ``0..p``), and scores items against its item embedding (tied output layer). Inputs are either
item ids (``embed_ids``, padding id = ``num_items``) or distributions over items (``embed_dist``: the
expected embedding ``dist @ E``, how a learner reads a distilled summary). All parameters are plain module
parameters, so :func:`torch.func.functional_call` runs the learner on any parameter dict (the unrolled
inner loop of the meta-learning).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.errors import ConfigError


class Learner(nn.Module):
    """Common interface: ``item_embedding`` (num_items + 1, D) with the padding row last."""

    num_items: int
    item_embedding: nn.Embedding

    def item_weight(self) -> Tensor:
        return self.item_embedding.weight[: self.num_items]

    def embed_ids(self, x: Tensor) -> Tensor:
        return self.item_embedding(x)

    def embed_dist(self, dist: Tensor) -> Tensor:
        return dist @ self.item_weight()

    def encode(self, emb: Tensor) -> Tensor:  # (B, L, D) -> (B, L, D)
        raise NotImplementedError

    def forward(self, emb: Tensor) -> Tensor:
        return self.encode(emb)

    def logits(self, h: Tensor) -> Tensor:
        return h @ self.item_weight().t()

    def init_weights(self, gen: torch.Generator) -> None:
        raise NotImplementedError

    def embedding_names(self) -> tuple[str, ...]:
        return ("item_embedding.weight",)


class _Block(nn.Module):
    """One Transformer layer as RecBole's ``TransformerLayer`` (post-LN, GELU feed-forward)."""

    def __init__(self, hidden: int, heads: int, inner: int, hidden_dropout: float, attn_dropout: float, eps: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.ff1 = nn.Linear(hidden, inner)
        self.ff2 = nn.Linear(inner, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, l, d = x.shape
        h = self.heads

        def split(t: Tensor) -> Tensor:
            return t.view(b, l, h, d // h).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
        scores = scores.masked_fill(mask, -10000.0)
        att = self.attn_dropout(scores.softmax(-1))
        ctx = (att @ v).transpose(1, 2).reshape(b, l, d)
        x = self.ln1(self.hidden_dropout(self.dense(ctx)) + x)
        ff = self.ff2(F.gelu(self.ff1(x)))
        return self.ln2(self.hidden_dropout(ff) + x)


class SASRec(Learner):
    """SASRec (Kang & McAuley 2018) as RecBole's: item + learned position embeddings, LayerNorm, dropout,
    ``layers`` causal self-attention blocks; the output at position p scores the next item."""

    def __init__(self, num_items: int, max_len: int, hidden: int = 32, inner: int = 64, heads: int = 1, layers: int = 1,
                 hidden_dropout: float = 0.2, attn_dropout: float = 0.5, eps: float = 1e-12, **_: Any):
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"SASRec hidden size {hidden} is not divisible by {heads} heads")
        self.num_items, self.max_len, self.hidden = num_items, max_len, hidden
        self.item_embedding = nn.Embedding(num_items + 1, hidden)
        self.position_embedding = nn.Embedding(max_len, hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(hidden_dropout)
        self.blocks = nn.ModuleList([_Block(hidden, heads, inner, hidden_dropout, attn_dropout, eps) for _ in range(layers)])

    def encode(self, emb: Tensor) -> Tensor:
        l = emb.shape[1]
        if l > self.max_len:
            raise ConfigError(f"SASRec was built for sequences of {self.max_len} items, got {l}")
        x = self.dropout(self.ln(emb + self.position_embedding.weight[:l]))
        mask = torch.ones(l, l, dtype=torch.bool, device=emb.device).triu(1)
        for block in self.blocks:
            x = block(x, mask)
        return x

    def init_weights(self, gen: torch.Generator) -> None:
        """RecBole's SASRec init: Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm (1, 0)."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
                    if isinstance(m, nn.Linear) and m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.LayerNorm):
                    m.weight.fill_(1.0)
                    m.bias.zero_()

    def embedding_names(self) -> tuple[str, ...]:
        return ("item_embedding.weight", "position_embedding.weight")


class GRU4Rec(Learner):
    """GRU4Rec (Hidasi et al. 2016) as RecBole's: embedding dropout, a bias-free GRU, a dense layer back to
    the embedding size; the output at position p scores the next item."""

    def __init__(self, num_items: int, max_len: int, embedding: int = 64, gru_hidden: int = 64, gru_layers: int = 1,
                 gru_dropout: float = 0.2, **_: Any):
        super().__init__()
        self.num_items, self.max_len, self.hidden = num_items, max_len, embedding
        self.item_embedding = nn.Embedding(num_items + 1, embedding)
        self.emb_dropout = nn.Dropout(gru_dropout)
        self.gru = nn.GRU(embedding, gru_hidden, gru_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(gru_hidden, embedding)

    def encode(self, emb: Tensor) -> Tensor:
        out, _ = self.gru(self.emb_dropout(emb))
        return self.dense(out)

    def init_weights(self, gen: torch.Generator) -> None:
        """RecBole's GRU4Rec init: xavier-normal embedding and dense layer, xavier-uniform GRU weights."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() < 2:
                    p.zero_()
                    continue
                fan_out, fan_in = p.shape[0], p.shape[1]
                if name.startswith("gru"):
                    bound = math.sqrt(6.0 / (fan_in + fan_out))
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * math.sqrt(2.0 / (fan_in + fan_out)))
            self.gru.flatten_parameters()


LEARNERS: dict[str, Callable[..., Learner]] = {"sasrec": SASRec, "gru4rec": GRU4Rec}


def learner_name(name: str) -> str:
    """The registry name of learner ``name`` (lower-cased: ``sasrec`` or ``gru4rec``). ConfigError for an unknown
    learner."""
    key = name.lower()
    if key not in LEARNERS:
        raise ConfigError(f"unknown learner {name!r}; choose from {sorted(LEARNERS)}")
    return key


def build_learner(name: str, num_items: int, max_len: int, cfg: Any) -> Learner:
    """A learner by registry name, sized by the config's learner keys (TD3's ``config/sasrec.yaml`` and
    ``config/gru4rec.yaml``)."""
    key = learner_name(name)
    if key == "sasrec":
        return SASRec(num_items, max_len, hidden=cfg.hidden_size, inner=cfg.inner_size, heads=cfg.n_heads,
                      layers=cfg.n_layers, hidden_dropout=cfg.hidden_dropout, attn_dropout=cfg.attn_dropout)
    return GRU4Rec(num_items, max_len, embedding=cfg.gru_embedding, gru_hidden=cfg.gru_hidden, gru_layers=cfg.gru_layers,
                   gru_dropout=cfg.gru_dropout)


__all__ = ["GRU4Rec", "LEARNERS", "Learner", "SASRec", "build_learner", "learner_name"]
