"""ESC-50 (and its ESC-10 subset) and UrbanSound8K as released: a metadata CSV naming every clip's file, fold, class
number and class name, and the official folds as the split (one fold held out: ``test_fold``; never a drawn share).

* ``esc50`` / ``esc10`` -- ``ESC-50-master/audio/*.wav`` + ``ESC-50-master/meta/esc50.csv``
  (``filename,fold,target,category,esc10,src_file,take``; 2,000 clips of 5 s at 44.1 kHz, 50 classes, folds 1-5;
  ``esc10``: the rows whose ``esc10`` column is ``True``, 10 classes). The release "has been prearranged into 5 folds
  for comparable cross-validation, making sure that fragments from the same original source file are contained in a
  single fold" (karolpiczak/ESC-50 README.md, Overview; layout and columns: "Repository content").
* ``urbansound8k`` -- ``UrbanSound8K/audio/fold1..fold10/*.wav`` + ``UrbanSound8K/metadata/UrbanSound8K.csv``
  (``slice_file_name,fsID,start,end,salience,fold,classID,class``; 8,732 slices of up to 4 s at mixed rates, 10
  classes, folds 1-10: "pre-sorted into ten folds", UrbanSound8K_README.txt, Description; its README does not say that
  the slices of one Freesound recording, ``fsID``, share a fold: the loader checks it).

Label i is the class of the release's i-th class number (ESC-50 ``target``, UrbanSound8K ``classID``; ESC-10's ten
numbers renumbered 0-9 in order), named by the CSV's class column. A source recording (``src_file`` / ``fsID``) with
clips in the held-out fold and a training fold (an edited CSV) is named in a warning and the load report's
``sources_in_both``. A listed file that is
missing is skipped as unreadable (named; an error under ``strict``), as an undecodable one is; a ``.wav`` file in the
audio folders that the CSV does not list is ignored (named).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from mmdistill.csv_lines import numbered_records, quote_error
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8

from ..artifacts import HIDDEN
from ..groups import groups_on_both_sides
from .decode import BadFile
from .items import AudioItem, _Found, _path_opener, _raise
from .registry import LAYOUTS

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")  # the loader's logger, as find.py's


@dataclass(frozen=True)
class FoldRelease:
    """How one released set with official folds is laid out and read."""

    title: str  # the release's name in messages
    top: str  # the folder the archive unpacks to (``ROOT/<top>``; ``ROOT`` itself may be it)
    csv: str  # the metadata CSV, relative to ``top``
    audio: str  # the folder of a fold's files, relative to ``top`` (``{fold}``: the fold's number)
    file_col: str
    fold_col: str
    number_col: str  # the class number
    class_col: str  # the class name
    source_col: str  # the source recording: one fold per source
    folds: int
    test_fold: int  # the fold held out when ``test_fold`` is not given
    url: str
    subset_col: str | None = None  # rows kept: this column is ``True`` (ESC-10)


ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
US8K_URL = "https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz"
_ESC = dict(top="ESC-50-master", csv="meta/esc50.csv", audio="audio", file_col="filename", fold_col="fold", number_col="target",
            class_col="category", source_col="src_file", folds=5, test_fold=5, url=ESC50_URL)
#: the named sets of this module. The default held-out fold is the last: the official protocol is k-fold cross-validation
#: (run ``--test-fold`` 1..k and average); no single split is official, and DDFAD's could not be read (docs/results.md)
RELEASES: dict[str, FoldRelease] = {
    "esc50": FoldRelease(title="ESC-50", **_ESC),
    "esc10": FoldRelease(title="ESC-10 (of ESC-50)", subset_col="esc10", **_ESC),
    "urbansound8k": FoldRelease(title="UrbanSound8K", top="UrbanSound8K", csv="metadata/UrbanSound8K.csv", audio="audio/fold{fold}",
                                file_col="slice_file_name", fold_col="fold", number_col="classID", class_col="class",
                                source_col="fsID", folds=10, test_fold=10, url=US8K_URL),
}


def check_test_fold(key: str, test_fold: object) -> int | None:
    """``test_fold`` for dataset ``key``: None (the release's default), or a fold number of ``key``'s release.

    Raises:
        ConfigError: (key ``test_fold``) a value for a dataset without official folds, or not one of its folds.
    """
    if test_fold is None:
        return None
    if key not in RELEASES:
        raise ConfigError(f"test_fold={test_fold!r} (--test-fold) names an official fold of {', '.join(RELEASES)}; dataset "
                          f"{key!r} has no folds (leave test_fold out)", key="test_fold")
    spec = RELEASES[key]
    if isinstance(test_fold, bool) or not isinstance(test_fold, int) or not 1 <= test_fold <= spec.folds:
        raise ConfigError(f"test_fold must be a fold of {spec.title}, 1 to {spec.folds}, got {test_fold!r}", key="test_fold")
    return test_fold


def fold_rule(key: str, test_fold: int) -> str:
    """The split of ``key`` with ``test_fold`` held out, in words (the data's ``split_rule``)."""
    spec = RELEASES[key]
    return (f"{spec.title}'s official fold {test_fold} of {spec.folds} held out (test_fold={test_fold}; the {spec.fold_col!r} "
            f"column of {spec.csv})")


def release_root(key: str, root: Path, download: bool) -> Path:
    """The folder holding ``key``'s metadata CSV: ``root/<top>``, ``root`` itself, or the folder above it when ``root`` is
    the CSV; fetched into ``root`` first when
    ``download`` and neither holds it. DataError naming the layout and the URL when it is not there."""
    spec = RELEASES[key]
    csv_parts = Path(spec.csv).parts
    if root.is_file() and root.name == csv_parts[-1]:  # the metadata CSV itself
        return root.parents[len(csv_parts) - 1]
    for base in (root / spec.top, root):
        if (base / spec.csv).is_file():
            return base
    if download:
        from .fold_download import download_release

        download_release(spec.title, spec.url, root)
        return release_root(key, root, False)
    raise DataError(f"no {spec.title} release under {root}: expected {LAYOUTS[key]} (the archive {spec.url} unpacked "
                    "there); pass download=True (--download) when online")


def fold_set(key: str, root: Path, download: bool, test_fold: int | None) -> _Found:
    """The clips of ``key`` (:data:`RELEASES`) under ``root``: every row of its CSV (ESC-10: its rows) as an item whose
    split is ``test`` in the held-out fold (``test_fold``; None: the release's default), its class the CSV's, with the
    audio files the CSV does not list as ``ignored``."""
    spec = RELEASES[key]
    held = spec.test_fold if test_fold is None else test_fold
    base = release_root(key, root, download)
    rows = _rows(spec, base / spec.csv)
    listed = {(_where(spec, fold), name) for _, fold, name, _, _, _, _ in rows}
    if spec.subset_col:
        rows = [r for r in rows if r[6]]
    numbers = _class_names(spec, base / spec.csv, rows)
    order = sorted(numbers)
    classes = [numbers[n] for n in order]
    folds = sorted({fold for _, fold, *_ in rows})
    if held not in folds:
        raise ConfigError(f"test_fold={held}: {base / spec.csv} lists no {'ESC-10 ' if spec.subset_col else ''}row of fold {held} "
                          f"(its folds: {', '.join(map(str, folds))})", key="test_fold")
    both = _sources_in_both(spec, base / spec.csv, rows, held)
    items: list[AudioItem] = []
    for line, fold, name, number, _, source, _ in rows:
        path = base / spec.audio.format(fold=fold) / name
        opener = _path_opener(path) if path.is_file() else _raise(DataError(
            f"{path} is listed in {base / spec.csv} line {line} but missing (not a file)"))
        # the source recording as the clip's group: a validation split holds out whole sources (never drawn as group_by)
        items.append(AudioItem(str(path), opener, numbers[number], "test" if fold == held else "train", group=source))
    log.info("%s: fold %d of %d held out (%d clips listed), folds %s trained on", spec.title, held, spec.folds,
             sum(it.split == "test" for it in items), ", ".join(str(f) for f in folds if f != held))
    return _Found(items, classes, _not_listed(spec, base, listed), rule=fold_rule(key, held),
                  facts={"test_fold": held, **({"sources_in_both": both} if both else {})})


def _rows(spec: FoldRelease, path: Path) -> list[tuple[int, int, str, int, str, str, bool]]:
    """``(line, fold, file name, class number, class name, source, in the subset)`` of every row of the CSV ``path``.
    DataError naming the file and line for missing columns, a fold or class number that is not a whole number in range,
    an empty file name or one listed twice."""
    try:
        text = decode_utf8(path.read_bytes(), f"CSV file {path}")
        records = list(numbered_records(csv.reader(text.splitlines()),
                                        lambda exc, start, line: quote_error(path, exc, start, line)))
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read CSV file {path}: {exc}") from None
    if not records:
        raise DataError(f"CSV file {path} is empty; expected the {spec.title} metadata")
    header = [c.strip() for c in records[0][2]]
    wanted = [spec.file_col, spec.fold_col, spec.number_col, spec.class_col, spec.source_col] + ([spec.subset_col] if spec.subset_col else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"CSV file {path} line {records[0][0]}: the header has no column {', '.join(map(repr, missing))}; the "
                        f"{spec.title} metadata names {', '.join(wanted)} (got {', '.join(header) or 'nothing'})")
    at = {c: header.index(c) for c in wanted}
    out, seen = [], {}
    for line, _, values in records[1:]:
        if len(values) < len(header):
            raise DataError(f"CSV file {path} line {line}: {len(values)} field(s), the header names {len(header)}")
        get = {c: values[i].strip() for c, i in at.items()}
        fold, number = _whole(path, line, spec.fold_col, get[spec.fold_col]), _whole(path, line, spec.number_col, get[spec.number_col])
        if not 1 <= fold <= spec.folds:
            raise DataError(f"CSV file {path} line {line}: fold {fold} is not one of {spec.title}'s folds 1-{spec.folds}")
        name = get[spec.file_col]
        if not name or Path(name).name != name:
            raise DataError(f"CSV file {path} line {line}: {spec.file_col} {name!r} is not a file name")
        if (_where(spec, fold), name) in seen:
            raise DataError(f"CSV file {path} lines {seen[(_where(spec, fold), name)]} and {line} list {name} twice (one clip read "
                            "twice, maybe on both sides): keep one row")
        seen[(_where(spec, fold), name)] = line
        subset = get[spec.subset_col].lower() == "true" if spec.subset_col else True
        out.append((line, fold, name, number, get[spec.class_col], get[spec.source_col], subset))
    if not out:
        raise DataError(f"CSV file {path} lists no clip (a header only); expected the {spec.title} metadata")
    return out


def _where(spec: FoldRelease, fold: int) -> int:
    """The folder a fold's files are in, as a number: the fold (one folder per fold), or 0 (one folder for all)."""
    return fold if "{fold}" in spec.audio else 0


def _whole(path: Path, line: int, column: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"CSV file {path} line {line}: {column} {value!r} is not a whole number") from None


def _class_names(spec: FoldRelease, path: Path, rows: list) -> dict[int, str]:
    """class number -> class name; DataError naming the lines of one number with two names or one name with two numbers."""
    names: dict[int, tuple[str, int]] = {}
    numbers: dict[str, tuple[int, int]] = {}
    for line, _, _, number, name, _, _ in rows:
        if not name:
            raise DataError(f"CSV file {path} line {line}: empty {spec.class_col}")
        first = names.setdefault(number, (name, line))
        other = numbers.setdefault(name, (number, line))
        if first[0] != name or other[0] != number:
            raise DataError(f"CSV file {path} lines {first[1] if first[0] != name else other[1]} and {line}: {spec.number_col} and "
                            f"{spec.class_col} disagree ({number} {name!r} against {first[0]!r} / {other[0]}); one class is one "
                            "number and one name")
    return {n: v[0] for n, v in names.items()}


def _sources_in_both(spec: FoldRelease, path: Path, rows: list, held: int) -> list[str]:
    """The source recordings with clips both in the held-out fold ``held`` and in a training fold, each named with its
    folds in one warning (ESC-50's README states it keeps each source in one fold; UrbanSound8K's README does not say;
    an edited CSV can break either)."""
    sides = groups_on_both_sides([r[5] for r in rows], ["test" if r[1] == held else "train" for r in rows],
                                 [r[1] for r in rows])  # each source's folds, by side
    both = list(sides)
    if both:
        shown = "; ".join(f"{s} (folds {', '.join(map(str, sorted(set(f['train'] + f['test']))))})"
                          for s, f in list(sides.items())[:5])
        log.warning("%s: %d source recording(s) (%s) have clips in the held-out fold %d and in a training fold: %s%s. %s keeps "
                    "each source in one fold, so a score on this split is not on unheard recordings: restore the release's CSV",
                    path, len(both), spec.source_col, held, shown, " ..." if len(both) > 5 else "", spec.title)
    return both


def _not_listed(spec: FoldRelease, base: Path, listed: set[tuple[int, str]]) -> list[BadFile]:
    """Files in the audio folders the CSV does not list (hidden ones marked :data:`HIDDEN`)."""
    out = []
    for fold in sorted({_where(spec, f) for f in range(1, spec.folds + 1)}):
        folder = base / spec.audio.format(fold=fold)
        if not folder.is_dir():
            continue
        names = {name for f, name in listed if f == fold}
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                out.append(BadFile(str(p), HIDDEN))
            elif p.name not in names:
                out.append(BadFile(str(p), f"not listed in {spec.csv}"))
    return out
