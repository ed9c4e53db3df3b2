"""Test helper: a ``register_tensors`` registry (a module's name -> data dict) left as it was before each test."""

from __future__ import annotations

from typing import Any, Iterator


def forgotten_after(registry: dict[str, Any]) -> Iterator[None]:
    """A fixture's body: ``registry`` restored after the test to what it held before (whatever the test registered)."""
    before = dict(registry)
    yield
    registry.clear()
    registry.update(before)
