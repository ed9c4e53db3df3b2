"""A ``folder`` source: a tree ``root/<class>/**/<audio file>`` (or ``root/train/...`` with ``root/test`` or
``root/val``; ``group_by`` a pattern over the file names, :mod:`.groups`), or a CSV file ``path,label[,split]`` (a
header row may name a ``group_by`` column), as the items and classes it lists, with the files under the root it does
not use; every refusal names the file, folder or row."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from mmdistill.errors import DataError
from mmdistill.io import decode_utf8

from ..artifacts import HIDDEN, refuse_shared_files, scan_files
from ..groups import no_group_column, quoted, refuse_groups_in_both, rows_without_group, some
from ..sources import refuse_split_lookalikes
from .decode import AUDIO_EXTENSIONS, BadFile
from .groups import name_groups, refuse_split_groups
from .items import AudioItem, _Found, _path_opener

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

# --------------------------------------------------------------------------- folder trees and CSV files
# a hidden entry (``.DS_Store``, ``.git/``, ``._x.wav``...) is listed under ``ignored`` with the reason HIDDEN; as the
# image loader, it is named in the warning and the report but never an error under ``strict`` (tools write these files)


def _audio_files(folder: Path, ignored: list[BadFile] | None = None) -> list[Path]:
    """The audio files under ``folder`` (any depth), sorted. Every other entry (hidden files and folders, not
    descended, files of other types, links to folders, broken links) is appended to ``ignored`` with its reason,
    as the image loader does (:func:`modalities.artifacts.scan_files`)."""
    files, skipped = scan_files(folder, AUDIO_EXTENSIONS, f"not an audio file ({', '.join(AUDIO_EXTENSIONS)})")
    if ignored is not None:
        ignored += [BadFile(str(p), reason) for p, reason in skipped]
    return files


def _hidden(folder: Path, ignored: list[BadFile], skip: tuple[Path, ...] = ()) -> None:
    """Append the hidden entries directly in ``folder`` (but ``skip``) to ``ignored``."""
    ignored += [BadFile(str(p), HIDDEN) for p in sorted(folder.iterdir()) if p.name.startswith(".") and p not in skip]


def _scan(root: Path, split: str, ignored: list[BadFile]) -> tuple[list[AudioItem], list[str]]:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"data root {root} holds no class folders: expected one sub-folder of audio files per class ({root}/<class>/<file>)")
    _hidden(root, ignored)
    ignored += [BadFile(str(p), "a file beside the class folders" if p.exists() else "broken link") for p in sorted(root.iterdir())
                if not p.is_dir() and not p.name.startswith(".")]
    items: list[AudioItem] = []
    for d in class_dirs:
        own: list[BadFile] = []
        files = _audio_files(d, own)
        if not files:
            seen = f"; it holds {len(own)} other entr{'y' if len(own) == 1 else 'ies'}, e.g. {Path(own[0].name).name} ({own[0].reason})" if own else ""
            raise DataError(f"class folder {d} (class {d.name!r}) holds no audio files ({', '.join(AUDIO_EXTENSIONS)}){seen}")
        ignored += own
        items += [AudioItem(str(f), _path_opener(f), d.name, split) for f in files]
    return items, [d.name for d in class_dirs]


def _folder(root: Path, group_by: str | None = None) -> _Found:
    """The clips of a tree or CSV at ``root``; ``group_by``: a CSV's column, or for a tree a pattern over the file names
    (:func:`~.groups.name_groups`: train/ and test/ folders with a group on both sides are refused, class folders
    leave the held-out groups to be drawn)."""
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise DataError(f"data root {root} is a file but not a .csv of path,label rows")
        return _csv(root, group_by)
    ignored: list[BadFile] = []
    train_dir = root / "train"
    test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if train_dir.is_dir() and test_dir is not None:
        train, classes = _scan(train_dir, "train", ignored)
        test, test_classes = _scan(test_dir, "test", ignored)
        refuse_shared_files([it.name for it in train], [it.name for it in test], "audio file")
        # the split the tree gives, in the image loader's words (the unused-split-key warning reads it)
        given = {"layout": f"train/ and {test_dir.name}/ class folders" + ("" if test_dir.name == "test" else
                                                                           f" ({test_dir.name}/ is the test split)")}
        extra = sorted(set(test_classes) - set(classes))
        if extra:
            raise DataError(f"{test_dir} has class folders {extra} that {train_dir} lacks")
        ignored += [BadFile(str(p), f"beside {train_dir.name}/ and {test_dir.name}/" + (" (test/ is the test split)" if p.name == "val" else ""))
                    for p in sorted(root.iterdir()) if p not in (train_dir, test_dir) and not p.name.startswith(".")]
        _hidden(root, ignored)
        if group_by:
            named = name_groups(train + test, group_by, root)
            refuse_split_groups(root, named, group_by)
            return _Found(named, classes, ignored, group_by=group_by, group_from_names=True, facts=given)
        return _Found(train + test, classes, ignored, facts=given)
    if train_dir.is_dir():
        ignored += [BadFile(str(p), "beside train/ (without a test/ or val/ folder)") for p in sorted(root.iterdir())
                    if p != train_dir and not p.name.startswith(".")]
        _hidden(root, ignored)
    else:  # a Train/ or test/ folder read as a class would make a split layout two wrong classes
        refuse_split_lookalikes(root, AUDIO_EXTENSIONS, "audio files")
    items, classes = _scan(train_dir if train_dir.is_dir() else root, "train", ignored)
    if group_by:
        return _Found(name_groups(items, group_by, root), classes, ignored, needs_split=True, group_by=group_by, group_from_names=True)
    return _Found(items, classes, ignored, needs_split=True)


CSV_LAYOUT = "rows path,label[,split] (an optional header row path,label[,split]; split train or test)"
#: what a CSV header may call its first column, the clip's file (a metadata sheet's ``file,label,speaker`` as well)
PATH_COLUMN_NAMES = ("path", "file", "filename")


def _csv(path: Path, group_by: str | None = None) -> _Found:
    """Rows ``path,label[,split]`` (an optional header row naming the columns); relative paths are taken
    from the CSV's folder. Without a split column the held-out split is still to be drawn. DataError naming the
    file and row (its line) for a header with other column names, a short row, an unknown split, a file that does
    not exist, a folder, or a file listed twice, and naming the file for a split column without a ``test`` row.
    Columns after the third are not read (one log line names them), but for ``group_by``: the header's column of
    that name (any column after ``label``; the split, if any, is then the column named ``split``) gives each clip
    its group, which a drawn split keeps on one side; a given split that puts a group on both sides, a row without
    a group, or a header without the column is refused naming them."""
    try:
        text = decode_utf8(path.read_bytes(), f"CSV file {path}")
        rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1) if r and any(c.strip() for c in r)]
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read CSV file {path}: {exc}") from None
    header: list[str] = []
    if rows:
        first = [c.strip().lower() for c in rows[0][1]]
        if len(first) >= 2 and first[0] in PATH_COLUMN_NAMES and first[1] == "label":  # file,label,speaker too (walk 52E)
            if not group_by and len(first) >= 3 and first[2] not in ("", "split"):  # with group_by: columns found by name
                raise DataError(f"CSV file {path}, row {rows[0][0]}: the third column must be named split, got {rows[0][1][2]!r} "
                                f"(a column of groups such as speakers: name it with group_by={rows[0][1][2].strip()!r}, "
                                f"--group-by {rows[0][1][2].strip()})")
            header = [c.strip() for c in rows[0][1]]
            rows = rows[1:]
        elif Path(first[0]).suffix not in AUDIO_EXTENSIONS and not (path.parent / rows[0][1][0].strip()).expanduser().is_file():
            raise DataError(f"CSV file {path}, row {rows[0][0]}: {rows[0][1]} is neither the header path,label[,split] nor a row of "
                            f"an audio file; expected {CSV_LAYOUT}")
    if not rows:
        raise DataError(f"CSV file {path} holds no path,label rows; expected {CSV_LAYOUT}")
    split_col, group_col = _csv_columns(path, header, group_by)
    _note_extra_columns(path, header, [r for _, r in rows], {split_col, group_col})
    items: list[AudioItem] = []
    has_split = split_col is not None and any(len(r) > split_col and r[split_col].strip() for _, r in rows)
    no_group: list[int] = []
    missing, folders, first_row, duplicates = [], [], {}, []
    for line, row in rows:
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"CSV file {path}, row {line}: expected path,label[,split], got {row}")
        file = Path(row[0].strip()).expanduser()
        file = file if file.is_absolute() else path.parent / file
        split = row[split_col].strip().lower() if split_col is not None and len(row) > split_col else ""
        group = row[group_col].strip() if group_col is not None and len(row) > group_col else None
        if group_col is not None and not group:
            no_group.append(line)
        if has_split and split not in ("train", "test"):
            raise DataError(f"CSV file {path}, row {line}: split must be 'train' or 'test', got {split!r}")
        if file.is_dir():
            folders.append(f"row {line}: {row[0].strip()}")
        elif not file.is_file():
            missing.append(f"row {line}: {row[0].strip()}")
        key = str(file.resolve())
        if key in first_row:
            duplicates.append(f"{row[0].strip()} on rows {first_row[key]} and {line}")
        first_row.setdefault(key, line)
        items.append(AudioItem(str(file), _path_opener(file), row[1].strip(), split or "train", group))
    problems = []
    if missing:
        problems.append(f"{len(missing)} listed file(s) do not exist (paths are relative to the CSV's folder): "
                        + some(missing))
    if folders:
        problems.append(f"{len(folders)} listed path(s) are folders, not audio files (list a folder's clips one per "
                        f"row): {some(folders)}")
    if no_group:
        problems.append(rows_without_group(no_group, header[group_col]))  # type: ignore[index]
    if problems:
        raise DataError(f"CSV file {path}: {'; and '.join(problems)}")
    if duplicates:
        raise DataError(f"CSV file {path}: {len(duplicates)} file(s) listed more than once (a clip counts once, in one split): "
                        + some(duplicates))
    classes = sorted({it.label for it in items})
    if has_split:
        if not any(it.split == "test" for it in items):
            raise DataError(f"CSV file {path} names no test rows: its split column (column 3) is 'train' on all {len(items)} rows; "
                            "mark the rows to hold out as test, or leave the split column out (or empty on every row) to hold out "
                            "a seeded share of each class's readable clips (test_fraction, --test-fraction)")
        missing_train = sorted({it.label for it in items if it.split == "test"} - {it.label for it in items if it.split == "train"})
        if missing_train:
            raise DataError(f"CSV file {path}: classes {missing_train} have test rows but no train rows")
        if group_col is not None:
            refuse_groups_in_both(f"CSV file {path}", header[group_col], [str(it.group) for it in items], [it.split for it in items],
                                  [line for line, _ in rows])
        return _Found(items, classes)
    return _Found(items, classes, needs_split=True, group_by=header[group_col] if group_col is not None else None)


#: what the refusal of a CSV ``group_by`` that names no column adds: the key's other reading is not a CSV's
CSV_NOT_PATTERN = ("; a pattern over file names (such as 'spk(\\d+)') is read from class folders, with data_root the folder, "
                   "not from a CSV's paths")


def _csv_columns(path: Path, header: list[str], group_by: str | None) -> tuple[int | None, int | None]:
    """The split and group columns (0-based; None: absent) of a folder CSV: without ``group_by`` the split is the
    third column as ever; with it, both are found by name in the header row, which it therefore needs."""
    if not group_by:
        return 2, None
    names = [c.strip().lower() for c in header]
    if not names:
        raise DataError(f"CSV file {path} has no header row, and group_by={quoted(group_by)} names a column by its header; "
                        f"add a header row such as path,label,{group_by}")
    if group_by.strip().lower() not in names[2:]:
        raise no_group_column(f"CSV file {path}", group_by, header, after=" after path,label", other=CSV_NOT_PATTERN)
    return (names.index("split") if "split" in names else None), names.index(group_by.strip().lower(), 2)


def _note_extra_columns(path: Path, header: list[str], rows: list[list[str]], read: set[int | None] | None = None) -> None:
    """Log once the columns after ``path,label`` that the loader does not read (``read``: the split and group columns
    it does; by default the third): by their ``header`` name (and number) when the CSV has a header row, else by
    number; a column with neither a name nor a value in any row (a trailing comma) is not named."""
    read = {2} if read is None else read
    width = max([len(header)] + [len(r) for r in rows])
    extra = [j for j in range(2, width) if j not in read and ((j < len(header) and header[j]) or any(j < len(r) and r[j].strip() for r in rows))]
    if extra:
        names = [f"{header[j]!r} (column {j + 1})" if j < len(header) and header[j] else f"column {j + 1}" for j in extra]
        log.info("CSV file %s: %d column(s) not read (the loader reads path,label[,split]): %s", path, len(names), ", ".join(names))

