"""What the image and audio loaders share about a dataset named in a config: its canonical name (:func:`dataset_name`:
an alias resolved, an unknown name refused with the closest names) and its data root: a path, not any other value
(:func:`root_path`), made for a download (:func:`made_root`) and removed again when the download fails
(:func:`removed_on_failure`); a class-folder root whose folder is named like a split is
refused (:func:`refuse_split_lookalikes`); the share of a class held out where the data has no split is checked by
:func:`check_test_fraction`, and the split keys a data set's own split leaves unused are warned of by
:func:`warn_unused_split_keys` (every modality's loader, in the same words; a config's keys read by
:func:`warn_unused_split_config`)."""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from mmdistill.errors import ConfigError, DataError
from mmdistill.keys import clipped, close_matches
from mmdistill.schema import SplitKeys

#: folder names that mark a train/test layout (only ``train`` with ``test`` or ``val`` is read as one)
SPLIT_NAMES = ("train", "test", "val", "valid", "validation")


def name_key(name: str, aliases: Mapping[str, str]) -> str:
    """``name`` as the loaders compare it with their dataset names: stripped, lower-cased, an alias (``cifar-10``)
    replaced by the name it stands for."""
    key = name.strip().lower()
    return aliases.get(key, key)


def dataset_name(name: object, names: Sequence[str], aliases: Mapping[str, str], what: str, *, also: str = "") -> str:
    """The canonical name of ``name`` among ``names``: stripped, lower-cased and, when it is a key of ``aliases``, that
    alias's name. ConfigError (key ``dataset``) for a name that is not a string, or none of ``names``: ``unknown {what}
    dataset 'minst' (did you mean mnist?); choose from ...`` (the name clipped to 63 characters); ``also`` ends the
    list of choices (an adapter's names beyond the fixed list: ``or a name given to register_tensors``)."""
    choices = ", ".join(names) + (f" {also}" if also else "")
    if not isinstance(name, str):
        raise ConfigError(f"dataset must be a dataset name (a string), got {type(name).__name__} {clipped(repr(name), 63)}; "
                          f"names: {choices}", key="dataset")
    key = name_key(name, aliases)
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


@contextmanager
def removed_on_failure(root: object, download: bool) -> Iterator[None]:
    """The body makes and fills ``root`` (a download when ``download``): when it raises DataError, the folders it made
    that still hold nothing are removed (:func:`first_missing` before, :func:`remove_empty_folders` after), so a failed
    (offline) download leaves no empty folders behind; the error goes on."""
    made = first_missing(root) if download else None  # the folder download=True creates, if any
    try:
        yield
    except DataError:
        if made is not None:
            remove_empty_folders(made)
        raise


def _subfolders(folder: Path) -> list[Path]:
    """The non-hidden folders directly in ``folder`` (a link to a folder counts: class folders may be links)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def refuse_split_lookalikes(root: Path, extensions: Iterable[str], files: str) -> None:
    """DataError when a folder of ``root`` is named like a split (``test``, ``Train``, ``valid``...) and holds
    sub-folders but no ``files`` of its own (a file whose lower-cased suffix is one of ``extensions``, ``.png``): read as
    a class, it would turn a split layout into wrong classes. For a root read as class folders (no ``train/``)."""
    extensions = tuple(extensions)
    for d in _subfolders(root):
        if d.name.lower() not in SPLIT_NAMES or not _subfolders(d):
            continue
        try:
            if any(p.is_file() and p.suffix.lower() in extensions for p in d.iterdir()):
                continue
        except OSError as exc:
            raise DataError(f"cannot list folder {d}: {exc.strerror or exc}") from None
        raise DataError(
            f"{d} looks like a split folder (it holds sub-folders, no {files}), but {root} has no train/ folder "
            f"beside it, so it would be read as one class named {d.name!r}. A split layout is {root}/train/<class>/ "
            f"with {root}/test/<class>/ or {root}/val/<class>/ (lower case); without a test split put the class "
            f"folders directly in {root} (or in {root}/train)"
        )



def check_test_fraction(test_fraction: object) -> float:
    """``test_fraction`` as a float when it is a number in (0, 1) (not a bool, not a string); ConfigError (key
    ``test_fraction``) naming the value otherwise."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}", key="test_fraction")
    return float(test_fraction)


#: the held-out split keys' defaults (:class:`~mmdistill.schema.SplitKeys`): a key at its default was not set by the user
SPLIT_DEFAULTS: dict[str, object] = {f.name: f.default for f in dataclasses.fields(SplitKeys)}


def warn_unused_split_keys(dataset: str, own: str, values: Mapping[str, object], logger: logging.Logger,
                           defaults: Mapping[str, object] | None = None) -> list[str]:
    """Warn, on ``logger``, that the split keys of ``values`` (key -> the value the loader was given: ``test_fraction``,
    ``split_seed``, an adapter's own such as ``split_order``) draw nothing because ``dataset`` has its own test split
    (``own``, in words: ``train/ and test/ class folders``, ``its split column``): ``test_fraction=0.3 (--test-fraction)
    not used: dataset 'x' has its own test split (own)``. A key at its default (``defaults``, then
    :data:`SPLIT_DEFAULTS`) or None was not set and is not named; nothing is logged when none is left. Returns the keys
    named, as written in the warning."""
    defaults = {**SPLIT_DEFAULTS, **(defaults or {})}
    given = [f"{name}={value!r} (--{name.replace('_', '-')})" for name, value in values.items()
             if value is not None and (name not in defaults or value != defaults[name])]
    if given:
        logger.warning("%s not used: dataset %r has its own test split (%s)", " and ".join(given), dataset, own)
    return given



#: the split keys every modality's config has (:class:`~mmdistill.schema.SplitKeys`' fields, those that draw a held-out split)
SPLIT_KEYS: tuple[str, ...] = tuple(SPLIT_DEFAULTS)


def warn_unused_split_config(cfg: object, dataset: str, own: str, logger: logging.Logger, keys: Sequence[str] = SPLIT_KEYS,
                             defaults: Mapping[str, object] | None = None) -> list[str]:
    """:func:`warn_unused_split_keys` for the split ``keys`` of the config ``cfg`` (a key it lacks is None: not named),
    as every loader asks it: ``warn_unused_split_config(cfg, name, "its split column", log)``."""
    return warn_unused_split_keys(dataset, own, {k: getattr(cfg, k, None) for k in keys}, logger, defaults)

__all__ = ["SPLIT_DEFAULTS", "SPLIT_KEYS", "SPLIT_NAMES", "check_test_fraction", "dataset_name", "first_missing", "name_key", "made_root", "refuse_split_lookalikes", "removed_on_failure",
           "remove_empty_folders", "root_path", "warn_unused_split_config", "warn_unused_split_keys"]
