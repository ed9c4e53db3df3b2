"""Finding a named source's clips (nothing decoded yet): the data root it needs, the source's finder, the strict
refusal of files not used, and the held-out split of a source without one (per class, or whole ``group_by`` groups)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from mmdistill.data import held_out_flags
from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport

from ..groups import quoted
from ..sources import made_root, removed_on_failure, root_path
from ..sources import warn_unused_split_keys as unused_split_keys
from .folder import _folder
from .folds import RELEASES, check_test_fold, fold_set
from .fsdd import FSDD_NAMES, _fsdd, fsdd_group_by
from .groups import draw_groups
from .items import AudioItem, _Found
from ..in_memory import GIVEN_SPLIT
from .registered import registered_clips
from .registry import LAYOUTS, canonical_name
from .tones import _tones
from .torchaudio_sets import _gtzan, _speechcommands

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")  # the loader's logger, as clips.py's and folder.py's



def find_audio_items(name: str, root: str | Path | None, *, download: bool = False, test_fraction: float = 0.2, seed: int = 0,
                     strict: bool = False, split_seed: int | None = None, group_by: str | None = None,
                     test_fold: int | None = None) -> tuple[list[AudioItem], list[str]]:
    """The clips dataset ``name`` holds under ``root`` (nothing decoded yet) and its class names; a source without
    a split gets ``test_fraction`` of every class held out, drawn with ``split_seed`` (None: ``seed``; it draws the generated
    ``tones`` too); with
    ``group_by`` (a folder CSV's column, or a pattern over the file names of class folders: :mod:`.groups`)
    ``test_fraction`` of its groups, with all their clips (a draw that leaves a class without training clips is refused,
    as the loader refuses it). ``test_fold``: the official fold held out (ESC-50, ESC-10, UrbanSound8K: :mod:`.folds`)."""
    data_seed = seed if split_seed is None else split_seed  # the held-out split's and generated tones'
    found = _find(canonical_name(name), root, download=download, strict=strict, data_seed=data_seed,
                  group_by=group_by, test_fold=test_fold)
    if found.needs_split and found.group_by:
        flags, _ = draw_groups(found, found.items, test_fraction, data_seed, root)
        return [dataclasses.replace(it, split="test" if t else "train") for it, t in zip(found.items, flags)], found.classes
    if found.needs_split:
        return _held_out(found.items, found.classes, test_fraction, data_seed), found.classes
    return found.items, found.classes


def _find(key: str, root: str | Path | None, *, download: bool, strict: bool, data_seed: int = 0, group_by: str | None = None,
          test_fold: int | None = None) -> _Found:
    """The clips of dataset ``key`` and how they split; ``data_seed`` draws generated ``tones`` (the caller's split_seed)."""
    check_test_fold(key, test_fold)  # a fold of a set without folds is refused, never ignored (find_audio_items too)
    if key == "fsdd":
        group_by = fsdd_group_by(group_by)  # 'speaker' or none, checked before the data is looked for
    elif group_by and key != "folder":
        raise DataError(f"group_by={quoted(group_by)} (--group-by) holds out whole groups of dataset folder (a column of a CSV data_root, "
                        f"or a pattern over the file names of class folders) or fsdd (group_by='speaker'), and dataset "
                        f"{key!r} has neither" + (" (its official folds keep each source recording in one fold already: "
                                                 "test_fold picks the fold held out)" if key in RELEASES else ""))
    if (held := registered_clips(key)) is not None:
        if root is not None and str(root) != "":
            log.warning("data_root %s is not read: dataset %r is waveforms in memory (register_tensors)", root, key)
        return _Found(held.items(key), list(held.classes))
    if key == "tones":
        return _Found(*_tones(data_seed))
    if key == "folder":
        path = _need_root(root, key, download)
        found = _folder(path, group_by)
        if strict:  # hidden entries are listed, never an error (LoadReport.strict_error, as every loader)
            stray = LoadReport(root=str(path), entries={"ignored": [(b.name, b.reason) for b in found.ignored]})
            if (err := stray.strict_error(["ignored"], flag="strict mode", noun="file(s)", would="are not audio files of the layout",
                                          without="they are ignored, named and logged")) is not None:
                raise err
        return found
    with removed_on_failure(root, download):  # a failed (offline) download leaves no empty folders behind, as the image loader's
        path = _need_root(root, key, download)
        if key == "fsdd" and group_by:
            return _Found(*_fsdd(path, download, strict, group_by), needs_split=True, group_by=group_by, group_source=FSDD_NAMES)
        if key == "fsdd":
            return _Found(*_fsdd(path, download, strict))
        if key in RELEASES:
            return fold_set(key, path, download, test_fold)
        if key == "speechcommands":
            return _Found(*_speechcommands(path, download))
        return _Found(*_gtzan(path, download))


#: the split a source gives, in words, by dataset (``folder``: by data root, a CSV or class folders)
_OWN_SPLITS = {"tones": "generated with split_seed: the last quarter of each class's clips",
               "speechcommands": "its official testing list, torchaudio's testing subset",
               "gtzan": "torchaudio's fault-filtered testing subset"}


def warn_unused_split_keys(key: str, found: _Found, test_fraction: float, split_seed: int | None) -> None:
    """Warn that ``test_fraction`` / ``split_seed`` given other than their defaults (:data:`~..sources.SPLIT_DEFAULTS`) draw
    nothing when the source ``key`` has its own split (``found.needs_split`` false: FSDD's takes 0-4, the official
    splits, ``train/`` + ``test/`` folders, a CSV split column, the generated tones), naming the keys and, for FSDD, the
    split that uses them (``group_by='speaker'``), for an official fold (``found.rule``) the fold and ``test_fold``, for
    ``folder`` its split column or the ``train/`` + ``test/`` (or ``val/``) folders its layout fact names: every modality's warning (:func:`~..sources.warn_unused_split_keys`)."""
    if found.needs_split:
        return
    if key == "fsdd":
        own = ("FSDD's own, takes 0-4 of every speaker and digit; group_by='speaker' (--group-by speaker) holds out "
               "test_fraction of the speakers instead, drawn with split_seed")
    elif found.rule is not None:  # walk 55N: said only "(the data's)", not that the split is a fold nor how to pick another
        own = f"{found.rule}; test_fold=K (--test-fold K) holds out another fold"
    elif registered_clips(key) is not None:
        own = GIVEN_SPLIT
    elif key == "folder":  # walk 55N: "(the data's)" for both; the tree's own words (train/ and val/ too) from its layout
        own = str(found.facts.get("layout", "its split column"))
    else:
        own = _OWN_SPLITS.get(key, "the data's")
    given = {"test_fraction": test_fraction, **({} if key == "tones" else {"split_seed": split_seed})}  # tones: split_seed draws them
    unused_split_keys(key, own, given, log)


def _need_root(root: str | Path | None, key: str, download: bool) -> Path:
    if root is None or str(root) == "":
        raise DataError(f"dataset {key!r} needs a local root: pass data_root (--data-root PATH); expected {LAYOUTS[key]}")
    path = root_path(root)
    if not path.exists():
        if download and key != "folder":
            return made_root(path, key)
        hint = "; pass download=True (--download) when online" if key != "folder" else ""
        raise DataError(f"data root {path} does not exist (dataset {key!r}, expected {LAYOUTS[key]}){hint}")
    return path


def _held_out(items: list[AudioItem], classes: list[str], test_fraction: float, seed: int) -> list[AudioItem]:
    """Mark a seeded ``test_fraction`` of every class (at least one clip of a class with two or more) as
    test, the rest as train (class-major order)."""
    members = [it for c in classes for it in items if it.label == c]
    flags = held_out_flags([it.label for it in members], classes, test_fraction, seed)
    return [AudioItem(it.name, it.open, it.label, "test" if t else "train") for it, t in zip(members, flags)]

