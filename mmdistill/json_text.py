"""JSON text from files mmdistill reads back (manifests, checkpoint and shard headers, caches, caption files), parsed
with one rule: text nested deeper than Python's recursion limit (``[[[[...`` in a damaged or hostile file) is
malformed JSON like any other, not a ``RecursionError`` that each reader would have to catch on its own."""

from __future__ import annotations

import json
from typing import Any


class NestedTooDeeply(json.JSONDecodeError):
    """JSON text nested past the recursion limit; its message is ``nested too deeply`` (no position: there is none
    to point at)."""

    def __str__(self) -> str:
        return "nested too deeply"


def parse_json(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``; :class:`json.JSONDecodeError` (a ``ValueError``) for malformed text,
    :class:`NestedTooDeeply` (one too) for text nested past the recursion limit."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply("nested too deeply", text if isinstance(text, str) else "", 0) from None


__all__ = ["NestedTooDeeply", "parse_json"]
