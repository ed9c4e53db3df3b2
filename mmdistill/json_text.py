"""JSON text from files mmdistill reads back (manifests, checkpoint and shard headers, caches, caption files), parsed
with one rule: whatever makes the text unreadable is malformed JSON like any other (a :class:`json.JSONDecodeError`,
which every reader names as a damaged file), not another exception each reader would have to catch on its own:

* text nested deeper than Python's recursion limit (``[[[[...`` in a damaged or hostile file);
* an integer with more digits than Python converts (``sys.get_int_max_str_digits()``, 4,300 by default);
* a file larger than :data:`MAX_JSON_BYTES` (:func:`json_file_text`): ``json`` takes 20 times the size of ``[{},{},...]``
  in memory, so a 300 MB manifest from a stranger would take 6 GB;
* an object that names one key twice, in a file mmdistill writes: ``json`` would keep the last value, a reader that
  keeps the first would see other contents (nothing mmdistill writes has a key twice); files of users and other tools
  (caption files, library configs) are read with the last value kept (``unique_keys=False``), as every tool reads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: the largest JSON file :func:`json_file_text` reads: mmdistill's manifests, records and indexes are kilobytes to a
#: few megabytes (a sequence set's item titles); 64 MiB of small containers already take more than 1 GiB once parsed
MAX_JSON_BYTES = 64 * 2**20


class NestedTooDeeply(json.JSONDecodeError):
    """JSON text nested past the recursion limit; its message is ``nested too deeply`` (no position: there is none
    to point at)."""

    def __str__(self) -> str:
        return "nested too deeply"


class UnreadableJson(json.JSONDecodeError):
    """JSON text that is well formed but cannot be read as one value (a key given twice in one object, a number too
    long to convert); its message says which, without a position."""

    def __str__(self) -> str:
        return self.msg


class _DuplicateKey(Exception):
    """Raised inside the parser for a key named twice (turned into :class:`UnreadableJson` by :func:`parse_json`)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of ``pairs``; :class:`_DuplicateKey` naming the first key given twice."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(twice)
    return out


class TooLarge(json.JSONDecodeError):
    """A JSON file larger than :data:`MAX_JSON_BYTES`; its message gives its size."""

    def __str__(self) -> str:
        return self.msg


def json_file_text(path: str | Path) -> str:
    """The UTF-8 text of the JSON file at ``path`` (UnicodeDecodeError when it is not UTF-8); :class:`TooLarge` (a
    ``json.JSONDecodeError``) without reading it when it holds more than :data:`MAX_JSON_BYTES`."""
    size = Path(path).stat().st_size
    if size > MAX_JSON_BYTES:
        raise TooLarge(f"{size / 2**20:.0f} MiB, more than the {MAX_JSON_BYTES >> 20} MiB mmdistill reads of a JSON file: parsing "
                       "it could take 20 times that in memory", "", 0)
    return Path(path).read_text(encoding="utf-8")


def parse_json(text: str | bytes | bytearray, *, unique_keys: bool = True) -> Any:
    """``json.loads(text)`` refusing a key given twice in one object (``unique_keys``: what mmdistill writes, manifests,
    checkpoints, records; False for files of other tools and users, caption files and library configs, read as every
    other tool reads them, the last value kept); :class:`json.JSONDecodeError` (a ``ValueError``) for malformed text,
    :class:`NestedTooDeeply` (one too) for text nested past the recursion limit, :class:`UnreadableJson` (one too) for
    a key given twice or an integer too long to convert."""
    doc = text if isinstance(text, str) else ""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys if unique_keys else None)
    except RecursionError:
        raise NestedTooDeeply("nested too deeply", doc, 0) from None
    except _DuplicateKey as exc:
        key = json.dumps(str(exc.args[0]), ensure_ascii=True)
        key = key if len(key) <= 80 else key[:77] + "..."
        raise UnreadableJson(f"key {key} is given twice in one object", doc, 0) from None
    except ValueError as exc:
        if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            raise
        what = (f"an integer has more than {sys.get_int_max_str_digits()} digits" if "digits" in str(exc)
                else f"a value cannot be read ({exc})")
        raise UnreadableJson(what, doc, 0) from None


__all__ = ["MAX_JSON_BYTES", "NestedTooDeeply", "TooLarge", "UnreadableJson", "json_file_text", "parse_json"]
