"""Words for titles, log lines and messages: counts (``1 run``, ``2 runs``, ``3 entries``), and names taken from files
made safe to show and to save (no line break, escape sequence or bidi override)."""

from __future__ import annotations

import logging
import unicodedata
from typing import Any, Iterable, Sequence

log = logging.getLogger(__name__)

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


def id_list(items: Iterable[Any], limit: int = 12) -> str:
    """The first ``limit`` of ``items`` joined by ``, `` and, when there are more, `` ... (K in all)`` (K: how many
    there are): a list a message names without growing with the data."""
    items = list(items)
    return ", ".join(str(i) for i in items[:limit]) + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def unsafe(ch: str) -> bool:
    """Whether the character ``ch`` is one a name keeps out (:data:`UNSAFE_CATEGORIES`, :data:`BIDI_CONTROLS`)."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in UNSAFE_CATEGORIES


def clean_name(text: str) -> str:
    """``text`` with every :func:`unsafe` character replaced by ``_`` (what a saved set's name may hold: no line break,
    tab, escape sequence or bidi override); other text is kept as it is."""
    return "".join("_" if unsafe(ch) else ch for ch in text)


def is_text(name: str) -> bool:
    """Whether ``name`` is Unicode text: no lone surrogate (the undecodable bytes of a file name in another encoding)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def cleaned_names(names: Sequence[Any], *, text_only: bool = False) -> tuple[list[Any], list[tuple[int, str, str]]]:
    """``names`` (class names) with each string :func:`clean_name`-d, other values kept, and ``(index, before, after)``
    of each name that changed: the one cleaning step of class names at load (:func:`mmdistill.data.clean_class_names`),
    at save (:func:`mmdistill.io.save_synthetic`) and on reading an earlier set
    (:func:`mmdistill.manifest_check.with_clean_class_names`), each of which words its own warning. ``text_only``: a name
    that is not Unicode text (:func:`is_text`) is kept as it is, for the reader's refusal, not read cleaned."""
    out = [clean_name(n) if isinstance(n, str) and (not text_only or is_text(n)) else n for n in names]
    return out, [(i, a, b) for i, (a, b) in enumerate(zip(names, out)) if a != b]


def written_name(dataset: Any, source: str | None = None) -> str:
    """``dataset`` as a saved set's manifest holds it: :func:`clean_name` of it (a folder or file name may hold control or
    bidi-reordering characters, and the manifest's reader refuses them), a replacement logged with both spellings
    escaped; ``source``: the file the name was taken from, shown in that message."""
    raw = str(dataset)
    name = clean_name(raw)
    if name != raw:
        after = f" (named after the file {shown(source)})" if source is not None else ""
        log.warning("the dataset name %s%s holds control or bidi-reordering characters; the set records it as %s (they are "
                    "replaced by '_')", shown(raw), after, shown(name))
    return name


def shown(text: str) -> str:
    """``text`` for a message: every :func:`unsafe` character written as its escape (``\\x1b``, ``\\n``, ``\\u202e``), so
    a file name cannot move the cursor or recolour the terminal; other text is kept."""
    return "".join(ch.encode("unicode_escape", "backslashreplace").decode("ascii") if unsafe(ch) else ch for ch in text)


def shown_values(value: Any) -> Any:
    """``value`` with every string in it (keys of objects too, at any depth) :func:`shown`: a received manifest's text
    printed to a terminal (``mmdistill show``) can neither add lines nor move the cursor, retitle or clear the window."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown_values(k): shown_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown_values(v) for v in value]
    return value


__all__ = ["BIDI_CONTROLS", "UNSAFE_CATEGORIES", "clean_name", "cleaned_names", "id_list", "is_text", "quantity", "shown", "shown_values", "unsafe", "written_name"]
