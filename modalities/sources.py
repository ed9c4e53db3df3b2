"""What the image and audio loaders share about a dataset named in a config: its canonical name (:func:`dataset_name`:
an alias resolved, an unknown name refused with the closest names) and its data root: a path, not any other value
(:func:`root_path`), made for a download (:func:`made_root`) and removed again when the download fails
(:func:`first_missing`, :func:`remove_empty_folders`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from mmdistill.errors import ConfigError, DataError
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



def root_path(root: object) -> Path:
    """``root`` (a str or path, not empty: the callers say what an empty one lacks) as a Path, ``~`` expanded;
    ConfigError (key ``data_root``) for any other value."""
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"data_root must be a path (str or Path), got {type(root).__name__} {root!r}", key="data_root")
    return Path(root).expanduser()


def made_root(path: Path, key: str) -> Path:
    """``path`` created with its parents, for dataset ``key``'s download; DataError naming it when it cannot be (a file
    in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create data root {path} for dataset {key!r}: {exc}") from None
    return path


def first_missing(root: object) -> Path | None:
    """The top-most folder of ``root`` that does not exist yet (None when ``root`` exists or is not a path)."""
    if not isinstance(root, (str, os.PathLike)) or str(root) == "":
        return None
    path, top = Path(root).expanduser(), None
    while not path.exists() and path != path.parent:
        path, top = path.parent, path
    return top


def remove_empty_folders(top: Path) -> None:
    """Remove ``top`` and the folders under it that hold nothing (files are never removed)."""
    for folder, _, _ in os.walk(top, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:
            pass


__all__ = ["dataset_name", "first_missing", "made_root", "remove_empty_folders", "root_path"]
