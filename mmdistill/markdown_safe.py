"""Markdown safety for the dataset card: text taken from a manifest (input: a set received from someone else) is shown
as text, never as a heading, HTML, a link, an image or a table column.

Two rules, one per place a value lands:

- outside a code span, :func:`inert` escapes what Markdown would interpret (``<``, ``>``, ``[``, ``]``, ``!``, ``|``, a
  backtick; control characters become spaces);
- inside a code span nothing is interpreted but a backtick run that closes it, so :func:`code` shows the value itself
  (``^\\d_([^_]+)_`` stays as typed, ``a<b`` is not ``a&lt;b``) in a fence longer than any backtick run it holds.

:func:`inert` keeps each string's original beside its escaped text (:class:`Inert`), so a card built from the inert
manifest can still put the value as it was into a span. A code span is never put in a GFM table cell here (a ``|``
inside one would end the cell).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Callable, Mapping


class Inert(str):
    """A string made inert in Markdown (:func:`inert`) that remembers the text it was made from (``raw``), for
    :func:`code`. Any operation on it (slicing, ``+``, ``str()``) gives a plain ``str`` of the escaped text."""

    raw: str

    def __new__(cls, raw: str) -> "Inert":
        flat = _flat(raw)
        escaped = flat.replace("<", "&lt;").replace(">", "&gt;").replace("`", "\u2032")  # "&" stays: "Zhao & Bilen"
        made = super().__new__(cls, re.sub(r"([\[\]!|])", r"\\\1", escaped))
        made.raw = raw
        return made


def _flat(text: str) -> str:
    """``text`` with line breaks and other control characters (Unicode category Cc) as spaces: one line."""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _each_string(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string in it (mapping keys too, recursively; lists and tuples as
    lists); other values as they are."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {_each_string(k, change): _each_string(v, change) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_each_string(v, change) for v in value]
    return value


def _fence_ticks(text: str, least: int) -> str:
    """A run of backticks one longer than the longest run in ``text``, at least ``least`` long: a code span's or
    fence's delimiter that nothing inside ``text`` can close (CommonMark)."""
    return "`" * max(least, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))


def inert(value: Any) -> Any:
    """``value`` with every string (keys too, recursively) made inert in Markdown (an :class:`Inert`): line breaks and
    other control characters become spaces, ``<`` and ``>`` HTML entities (no tag can open), a backtick a prime, and
    ``[``, ``]``, ``!`` and ``|`` are backslash-escaped (no link, image or table cell can start or end in them; a bare
    URL stays text a renderer may link)."""
    return _each_string(value, lambda s: s if isinstance(s, Inert) else Inert(s))


def code(value: Any) -> str:
    """``value`` as a Markdown code span showing it as it is: the original of an :class:`Inert` (else ``str(value)``),
    control characters as spaces, between backtick fences one longer than its longest backtick run (CommonMark: only
    a run of the fence's length closes the span), padded with a space where it starts or ends with a backtick or a
    space (the padding CommonMark strips). ``"x"`` -> ```x```, ``"a`b"`` -> ````a`b````."""
    text = _flat(value.raw if isinstance(value, Inert) else str(value))
    if not text.strip():
        return '`""`' if not text else f"`{text}`"  # all spaces: CommonMark strips nothing
    tick = _fence_ticks(text, 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def plain(value: Any) -> Any:
    """``value`` with every :class:`Inert` (keys too, recursively) back to its original string: for JSON shown in a
    code span or a fence, where the escapes would be printed."""
    return _each_string(value, lambda s: s.raw if isinstance(s, Inert) else s)


def yaml_string(value: Any) -> str:
    """``value`` as a double-quoted YAML scalar (a JSON string is one: quotes cannot end it) on one line (control
    characters as spaces). YAML is not Markdown: the original of an :class:`Inert` is written, not its escapes."""
    return json.dumps(_flat(value.raw if isinstance(value, Inert) else str(value)), ensure_ascii=False)


def fence(text: str, lang: str = "") -> list[str]:
    """``text`` in a Markdown code fence longer than any run of backticks inside it."""
    tick = _fence_ticks(text, 3)
    return [tick + lang, text, tick]


__all__ = ["Inert", "code", "fence", "inert", "plain", "yaml_string"]
