"""Captions longer than the frozen text encoder reads: found, counted and named, never cut silently.

``max_caption_words`` cuts captions by words (spaces); the text encoder's tokenizer then reads at most its context
(``minilm`` / ``hf:`` encoders 128 tokens, open_clip's CLIP tokenizer 77, special tokens included) and drops the
rest without a word. A caption within the word limit can still pass the token limit: a caption in a script written
without spaces (Japanese, Chinese, Thai) is one "word" of many tokens, and long words split into several tokens.
:func:`long_captions` finds those captions so the loader reports them (``long_captions`` in the load report).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def hf_token_lengths(tokenizer: Any, captions: list[str]) -> list[int]:
    """Tokens of each caption by a Hugging Face ``tokenizer``, special tokens included, nothing cut (no warning for
    captions beyond the model's maximum: counting them is the point)."""
    if not captions:
        return []
    return [len(ids) for ids in tokenizer(list(captions), truncation=False, verbose=False)["input_ids"]]


def openclip_token_lengths(tokenizer: Any, captions: list[str]) -> list[int] | None:
    """Tokens of each caption by an open_clip tokenizer, start and end tokens included: its ``SimpleTokenizer``
    (CLIP's BPE, ``encode`` + 2) or ``HFTokenizer`` (its transformers tokenizer on the cleaned text); None for a
    tokenizer that cannot say (SigLIP's, or one that reduces long captions its own way)."""
    if getattr(tokenizer, "reduction_fn", None) is not None:
        return None
    if hasattr(tokenizer, "sot_token_id") and callable(getattr(tokenizer, "encode", None)):
        return [len(tokenizer.encode(c)) + 2 for c in captions]
    inner, clean = getattr(tokenizer, "tokenizer", None), getattr(tokenizer, "clean_fn", None)
    if inner is not None and callable(inner) and callable(clean) and getattr(tokenizer, "tokenizer_mode", None) in (None, "", "standard"):
        return hf_token_lengths(inner, [clean(c) for c in captions])
    return None


def long_captions(encoder: Any, captions: list[str]) -> list[tuple[int, int]]:
    """``(index, tokens)`` of every caption of ``captions`` longer than ``encoder.context`` tokens (the encoder reads
    only the first ``context``); empty when the encoder does not say how it counts (``token_lengths`` None)."""
    context = getattr(encoder, "context", None)
    lengths = encoder.token_lengths(captions) if context else None
    if lengths is None:
        return []
    return [(i, n) for i, n in enumerate(lengths) if n > context]


def report_long_captions(encoder: Any, splits: dict[str, Any], report: Any, source: str,
                         long: dict[str, list[tuple[int, int]]]) -> int:
    """Add each caption of ``splits`` (name -> :class:`~.data.PairSplit`) that ``encoder`` reads only in part to
    ``report`` (kind ``long_captions``: its image id, and its token count and start as the reason), with one warning
    naming the context and the first ones; returns their number. ``long``: a split's ``(index, tokens)`` of those
    captions as found when they were embedded (:func:`~.text_cache.embed_and_measure`), for every split of ``splits``."""
    found = []
    for split_name, split in splits.items():
        for i, n in long[split_name]:
            found.append((split.image_ids[int(split.caption_image[i])], f"{split_name}, {n} tokens: {split.captions[i][:40]!r}"))
    if found:
        report.extend("long_captions", found)
        log.warning("%s: %d caption(s) are longer than the text encoder's context of %d tokens (%s), which reads only their first "
                    "%d tokens (max_caption_words cuts by words; a caption without spaces is one word): %s", source, len(found),
                    encoder.context, encoder.name, encoder.context,
                    "; ".join(f"{n} ({r})" for n, r in found[:3]) + (" ..." if len(found) > 3 else ""))
    return len(found)


__all__ = ["hf_token_lengths", "long_captions", "openclip_token_lengths", "report_long_captions"]
