"""What the image and audio loaders share about a dataset named in a config: its canonical name (:func:`dataset_name`:
an alias resolved, an unknown name refused with the closest names)."""

from __future__ import annotations

from typing import Mapping, Sequence

from mmdistill.errors import ConfigError
from mmdistill.keys import clipped, close_matches


def dataset_name(name: object, names: Sequence[str], aliases: Mapping[str, str], what: str) -> str:
    """The canonical name of ``name`` among ``names``: stripped, lower-cased and, when it is a key of ``aliases``, that
    alias's name. ConfigError (key ``dataset``) for a name that is not a string, or none of ``names``: ``unknown {what}
    dataset 'minst' (did you mean mnist?); choose from ...`` (the name clipped to 63 characters)."""
    choices = ", ".join(names)
    if not isinstance(name, str):
        raise ConfigError(f"dataset must be a dataset name (a string), got {type(name).__name__} {clipped(repr(name), 63)}; "
                          f"names: {choices}", key="dataset")
    key = name.strip().lower()
    key = aliases.get(key, key)
    if key not in names:
        close = close_matches(key, names)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown {what} dataset {clipped(repr(name), 63)}{hint}; choose from {choices}", key="dataset")
    return key


__all__ = ["dataset_name"]
