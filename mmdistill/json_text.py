"""JSON text from files mmdistill reads back (manifests, checkpoint and shard headers, caches, caption files), parsed
with one rule: text nested deeper than Python's recursion limit (``[[[[...`` in a damaged or hostile file) is
malformed JSON like any other, not a ``RecursionError`` that each reader would have to catch on its own."""

from __future__ import annotations

import json
from typing import Any


def parse_json(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``; :class:`json.JSONDecodeError` (a ``ValueError``) for malformed text, its message
    ``"nested too deeply: line 1 column 1 (char 0)"`` for text nested past the recursion limit."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text if isinstance(text, str) else "", 0) from None


__all__ = ["parse_json"]
