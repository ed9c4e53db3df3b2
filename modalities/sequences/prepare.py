"""Your own users' histories as a sequence set's learner inputs: :func:`items_like` maps each history's item ids (the
ids of the log the set was distilled from, in time order, oldest first) to the set's item indices with the mapping the
set saved (``meta["item_ids"]``: index i is the i-th id), keeps the last ``max_len`` of them and right-pads them with
the padding index ``num_items`` -- exactly as the loader builds a user's evaluation input (:meth:`.data.SequenceData.padded`),
so a learner trained on the set (which reads a user's items as indices, where the set gives distributions over them)
ranks your users' next items.

The set's ``x`` is a summary (distributions over items), not histories: the prepared tensor is what a learner reads
(:func:`~mmdistill.inputs_like.prepare_like` does not compare it with ``x``'s shape). A history's length is
``(x != num_items).sum(1)``; the learner's output at position length - 1 scores the next item (an empty history,
of no item or only unknown ones, is all padding, its length 0: named in a warning)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.inputs_like import source_meta

from .sequence_data import right_padded

log = logging.getLogger(__name__)

#: what :func:`items_like` does with an id the set never saw (it has no embedding): drop it (counted, named in a
#: warning), or refuse the histories
UNKNOWN = ("drop", "error")


def items_like(source: Any, histories: Sequence[Sequence[Any]], *, max_len: int | None = None, unknown: str = "drop") -> Tensor:
    """``histories`` as the set's learner inputs, (N, max_len) int64 item indices, right-padded with ``num_items``.

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta``.
        histories: one list per user of item ids as the log writes them (``"1193"`` or ``1193``: compared as text),
            oldest first, as many as you have (the last ``max_len`` are kept).
        max_len: the learner input length, for a set made before it was recorded (``meta["max_len"]``; the run's
            ``config.max_len``).
        unknown: ``drop`` (default): ids the set never saw (no index, no embedding) are left out of their history,
            counted and named in a warning; ``error``: refused, naming them.

    Raises:
        ConfigError: histories that are not lists of ids, a bad ``unknown`` or ``max_len``.
        DataError: ``unknown="error"`` and ids the set never saw, naming the first and the count.
        ArtifactError: the set records no ``item_ids`` (not a sequence set) or no ``max_len`` (pass ``max_len=``).
    """
    meta = source_meta(source, "items_like", "a distilled sequence set", ("item_ids",))
    if unknown not in UNKNOWN:
        raise ConfigError(f"items_like: unknown must be one of {UNKNOWN}, got {unknown!r}")
    length = max_len if max_len is not None else meta.get("max_len")
    if length is None:
        raise ArtifactError("items_like: the set's metadata has no max_len (made before it was recorded): pass max_len= "
                            "(the run's config.max_len, in its manifest)")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigError(f"items_like: max_len must be a positive integer, got {length!r}")
    if isinstance(histories, (str, bytes, Tensor)) or not isinstance(histories, Sequence):
        raise ConfigError(f"items_like: expected a list of histories (one list of item ids per user), got {type(histories).__name__}")
    index = {str(i): n for n, i in enumerate(meta["item_ids"])}
    pad = len(index)
    missed: dict[str, int] = {}
    kept: list[list[int]] = []
    for u, h in enumerate(histories):
        if isinstance(h, (str, bytes)) or not isinstance(h, Sequence):
            raise ConfigError(f"items_like: history {u} is a {type(h).__name__}, expected a list of item ids (oldest first)")
        known = []
        for item in h:
            n = index.get(str(item))
            if n is None:
                missed[str(item)] = missed.get(str(item), 0) + 1
            else:
                known.append(n)
        kept.append(known)
    out, lens = right_padded(kept, length, pad)
    empty = (lens == 0).nonzero().flatten().tolist()
    if missed:
        named = ", ".join(repr(k) for k in list(missed)[:5]) + (" ..." if len(missed) > 5 else "")
        said = (f"{sum(missed.values())} interaction(s) with {len(missed)} item id(s) the set never saw ({named}; the set knows "
                f"{pad} items, meta['item_ids'])")
        if unknown == "error":
            raise DataError(f"items_like: {said}; pass unknown='drop' to leave them out")
        log.warning("items_like: %s were left out of their histories (a learner has no embedding for them)%s", said,
                    f"; {len(empty)} history(ies) kept no item (all padding): e.g. history {empty[0]}" if empty else "")
    elif empty:
        log.warning("items_like: %d history(ies) of %d hold no item (all padding; e.g. history %d): a learner has nothing "
                    "to rank their next item from, and their length - 1 is -1", len(empty), len(histories), empty[0])
    return out


__all__ = ["UNKNOWN", "items_like"]
