"""How an error message names a node: its number (its 0-based row), with a node table's id beside it when the graph
was read from one (``dataset=files`` with ``nodes.csv``), so a message names a node as the user's files do."""

from __future__ import annotations

from typing import Callable

#: how a message names node ``i`` (its number by default; :func:`node_namer`)
NodeName = Callable[[int], str]


def node_namer(ids: list[str] | None) -> NodeName:
    """``str`` without ``ids``; else ``i`` -> ``"358 (id 'paper12345')"``: a node table's id beside the node's number (its
    0-based row), so a message names a node as the user's files do."""
    if not ids:
        return str
    return lambda i: f"{i} (id {ids[i]!r})" if 0 <= i < len(ids) else str(i)


__all__ = ["NodeName", "node_namer"]
