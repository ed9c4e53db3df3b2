"""Words for titles, log lines and messages: counts (``1 run``, ``2 runs``, ``3 entries``), and names taken from files
made safe to show and to save (no line break, escape sequence or bidi override)."""

from __future__ import annotations

import unicodedata

#: Unicode categories a name shown or saved keeps out: control (C0, DEL, C1), lone surrogates (undecodable bytes of a
#: file name) and the line and paragraph separators
UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: the bidi controls that reorder the text shown after them (embeddings, overrides, isolates, the Arabic letter mark):
#: a name holding one can display as another (``digits\u202egnp.exe``); the other format characters (the zero-width
#: joiners of everyday Persian or emoji spelling, soft hyphens, marks) are kept
BIDI_CONTROLS = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def quantity(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``many``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


def unsafe(ch: str) -> bool:
    """Whether the character ``ch`` is one a name keeps out (:data:`UNSAFE_CATEGORIES`, :data:`BIDI_CONTROLS`)."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in UNSAFE_CATEGORIES


def clean_name(text: str) -> str:
    """``text`` with every :func:`unsafe` character replaced by ``_`` (what a saved set's name may hold: no line break,
    tab, escape sequence or bidi override); other text is kept as it is."""
    return "".join("_" if unsafe(ch) else ch for ch in text)


def shown(text: str) -> str:
    """``text`` for a message: every :func:`unsafe` character written as its escape (``\\x1b``, ``\\n``, ``\\u202e``), so
    a file name cannot move the cursor or recolour the terminal; other text is kept."""
    return "".join(ch.encode("unicode_escape", "backslashreplace").decode("ascii") if unsafe(ch) else ch for ch in text)


__all__ = ["BIDI_CONTROLS", "UNSAFE_CATEGORIES", "clean_name", "quantity", "shown", "unsafe"]
