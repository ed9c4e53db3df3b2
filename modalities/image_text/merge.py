"""``mmdistill merge`` of image-text sets (federated clients' pairs of one dataset): the adapter's merge hooks.

Pairs have no classes: the parts' pairs are kept in the order of the parts (``merge_by_class = False``), each part's
``images`` converted to the data's normalisation and its ``text`` embeddings kept (one text encoder: the parts must
record the data's encoders, image size and caption cut, :data:`MERGE_META_KEYS`).

LoRS's learned target similarity S (K, K) relates every pair of a part to every other pair of that part; between a pair
of one part and a pair of another nothing was learned. The merged S is block-diagonal: each part's own S on its block,
0 elsewhere -- the value S holds between two different pairs before LoRS learns anything (the identity target of plain
contrastive training), so no cross-part relation is claimed. A ``lowrank`` S = diag(a) + alpha / r L R^T stays low-rank,
exactly: L and R become block-diagonal of rank r_1 + r_2 + ..., each part's L scaled so alpha / r keeps its own value.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from mmdistill.synthetic import SyntheticSet

#: the synthetic.meta fields a part must share with the data: the encoders the embeddings and pixels are for, and the
#: similarity family (a LoRS part and a plain one have no common target)
MERGE_META_KEYS = ("image_encoder", "image_weights", "image_size", "text_encoder", "text_dim", "text_pooling", "text_space",
                   "max_caption_words", "similarity")
#: the stored tensors besides the pairs that merge joins (LoRS's similarity, full or as factors)
SIMILARITY_KEYS = ("sim_full", "sim_diag", "sim_left", "sim_right")


def pair_count_fields(k: int) -> dict[str, Any]:
    """The meta fields that give a set's size, ``k`` pairs: ``pairs``, ``ipc`` (the same k: pairs are one class) and the
    ``budget_label``; what the adapter's init and the merge hook write."""
    return {"pairs": k, "ipc": k, "budget_label": f"{k} pairs"}


def joined_similarity(syns: Sequence[SyntheticSet]) -> dict[str, Tensor]:
    """The merged set's similarity tensors (module docstring): ``sim_full`` (K, K) block-diagonal, or ``sim_diag`` (K,)
    concatenated with ``sim_left``/``sim_right`` (K, sum r_i) block-diagonal; empty for identity-target sets. The
    first part's ``sim_alpha`` is the merged set's; each part's own alpha / r_i is kept by scaling its L block."""
    if not syns or not any(k in syns[0].data for k in SIMILARITY_KEYS):
        return {}
    if "sim_full" in syns[0].data:
        return {"sim_full": torch.block_diag(*(s.data["sim_full"].detach().float() for s in syns))}
    rank = sum(int(s.data["sim_left"].shape[1]) for s in syns)
    alpha = float(syns[0].meta.get("sim_alpha", 1.0))
    if alpha == 0:  # alpha / r L R^T is 0 in every part: the factors carry nothing
        lefts = [s.data["sim_left"].detach().float() for s in syns]
    else:
        lefts = [s.data["sim_left"].detach().float() * (float(s.meta.get("sim_alpha", 1.0)) / s.data["sim_left"].shape[1])
                 * (rank / alpha) for s in syns]
    return {"sim_diag": torch.cat([s.data["sim_diag"].detach().float() for s in syns]), "sim_left": torch.block_diag(*lefts),
            "sim_right": torch.block_diag(*(s.data["sim_right"].detach().float() for s in syns))}


def merge_extras(meta: dict[str, Any], syns: Sequence[SyntheticSet]) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The adapter's merge hook: ``meta`` (the data's, from a probe set of one pair) for the merged set of the parts
    ``syns`` -- its pair count, budget label, the captions of the real pairs each part was initialised from, in the
    parts' order -- and the joined similarity tensors (:func:`joined_similarity`)."""
    k = sum(len(s.labels) for s in syns)
    captions = [c for s in syns for c in (s.meta.get("init_captions") or [""] * len(s.labels))]
    return ({**meta, **pair_count_fields(k), "init_captions": captions,
             "sim_alpha": syns[0].meta.get("sim_alpha", meta.get("sim_alpha"))}, joined_similarity(syns))
