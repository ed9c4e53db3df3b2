"""Counts in words for titles, log lines and messages: ``1 run``, ``2 runs``, ``1 entry``, ``3 entries``."""

from __future__ import annotations


def quantity(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``many``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


__all__ = ["quantity"]
