"""Finding a video layout's clips (:func:`discover`): class folders (a split drawn, whole recordings with
``group_by``), ``train/`` + ``test/`` folders, a CSV ``path,label,split`` or UCF101's split lists, with what was found
and not used (``ignored``, ``unused``)."""

from __future__ import annotations

import logging
import os
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport as CoreLoadReport, base_folder
from mmdistill.words import shown

from .decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .groups import GROUP_BY_REMEDY, SPLIT_HINT, hold_out_groups, recordings, said_group_by, some, ucf_groups_in_both
from .report import LoadReport
from .split_csv import _read_csv
from .split_official import official_format, read_official
from .split_rows import ClipWalk, Item, walk_clips
from .split_ucf import _read_ucf_lists
from ..artifacts import HIDDEN, check_distinct_folder, refuse_shared_files, scan_files
from ..groups import refuse_groups_in_both

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")


# --------------------------------------------------------------------------- discovery
#: the reason :func:`~modalities.artifacts.scan_files` gives a file of another type in a class folder (reworded)
_NOT_VIDEO = "not a video file"


def _class_tree(root: Path, split: str, kind: str, ignored: list[tuple[str, str]], classes: set[str]) -> list[Item]:
    """Clips of ``root/<class>/...``. Every class folder counts as a class (an empty one too, so it is refused by
    name rather than vanishing); with ``kind="files"`` every file of a video type (:data:`VIDEO_EXTENSIONS`) in it is
    tried (one that does not decode is named as unreadable) and any other file is ``ignored``, as are hidden entries,
    links to folders (not followed) and broken links (:func:`~modalities.artifacts.scan_files`, the image and audio
    loaders' walk); with ``kind="frames"`` every sub-folder is a clip and a file beside them is ``ignored``. Hidden
    entries are named, never a ``strict`` error. A class folder that is, through a link, another class folder (or
    inside one) is a DataError naming both (:func:`~modalities.artifacts.check_distinct_folder`, for either kind), and
    so is a clip folder linked into two classes (:func:`_one_clip_per_folder`)."""
    items = []
    for p in sorted(root.iterdir()):  # clips beside the class folders belong to no class
        if p.name.startswith("."):
            ignored.append((str(p), HIDDEN))
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
            ignored.append((str(p), "not inside a class folder"))
    for cls in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        classes.add(cls.name)
        if kind == "files":
            members, skipped = scan_files(cls, VIDEO_EXTENSIONS, _NOT_VIDEO)
            ignored += [(str(p), f"not a video file ({p.suffix or 'no suffix'}: not a video type the loader reads)"
                         if why == _NOT_VIDEO else why) for p, why in skipped]
        else:
            check_distinct_folder(cls)  # (scan_files checks it for kind="files")
            members = []
            for p in sorted(cls.iterdir()):
                if p.name.startswith("."):
                    ignored.append((str(p), HIDDEN))
                    continue
                if p.is_dir():
                    members.append(p)
                else:
                    ignored.append((str(p), "a file beside the clip folders; dataset=frames takes one folder of frame images per clip"))
        items += [Item(p, cls.name, split) for p in members]
    return _one_clip_per_folder(items, ignored) if kind == "frames" else items


def _one_clip_per_folder(items: list[Item], ignored: list[tuple[str, str]]) -> list[Item]:
    """The clip folders ``items`` of one class tree, each folder once. A clip folder that is, through a link, one
    found before (the same device and inode) is, in the same class, appended to ``ignored`` (``the same folder as
    <first>``, as the video-file walk names a second name of one file: else a drawn split could put one clip in both
    splits); in another class, a DataError naming both folders (its frames would be read as both classes). A folder
    that cannot be looked at is kept: the decoder names it."""
    seen: dict[tuple[int, int], Item] = {}
    kept = []
    for it in items:
        try:
            st = os.stat(it.path)
        except OSError:
            kept.append(it)
            continue
        first = seen.setdefault((st.st_dev, st.st_ino), it)
        if first is it:
            kept.append(it)
        elif first.label == it.label:
            ignored.append((str(it.path), f"the same folder as {first.path.name} (a link to it, or its target)"))
        else:
            raise DataError(f"clip folders {first.path} (class {shown(repr(first.label))}) and {it.path} (class "
                            f"{shown(repr(it.label))}) are one folder, {os.path.realpath(it.path)}, through a link: its frames "
                            "would be read as both classes; remove the link or keep the clip in the folder of its own class")
    return kept


def _on_disk(path: Path, root: Path) -> Path:
    """``path``, or its part under ``root`` spelled in the other Unicode normal form when only that one exists (a split
    file written on one system lists ``Café`` composed, macOS stores it decomposed: the same name, which "does not
    exist" hid); ``root`` itself is kept as given."""
    if path.exists():
        return path
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path
    for form in ("NFC", "NFD"):
        other = root / unicodedata.normalize(form, str(rel))
        if other.exists():
            return other
    return path


def _no_duplicates(items: list[Item], source: Path) -> None:
    """DataError when ``source`` lists one clip twice: the same path, or two paths of one file (a link and its
    target), which would put one clip in both splits."""
    seen: dict[str, Item] = {}
    for it in items:
        key = os.path.realpath(it.path)
        if key in seen:
            first = seen[key]
            same = ("" if os.path.normpath(first.path) == os.path.normpath(it.path)
                    else f" (as {first.path}: the same file through a link)")
            where = (f"{first.split} and {it.split}" if first.label == it.label else
                     f"{first.split} as class {shown(repr(first.label))} and {it.split} as class {shown(repr(it.label))}")
            raise DataError(f"split file {source} names {it.path} more than once{same} ({where}); each clip belongs to "
                            "one split and one class")
        seen[key] = it


def _val_rows(items: list[Item], source: Path, unused: list[tuple[str, str]]) -> tuple[list[Item], str]:
    """A split file's ``val`` rows follow the folder layout's rule for ``val/``: left out when the file has ``test``
    rows (test is the held-out split; each val clip is named in ``unused``), the test split when it has none.
    Returns the items (splits ``train``/``test`` only) and what was done, in words (empty: no val row)."""
    val = [it for it in items if it.split == "val"]
    if not val:
        return items, ""
    if any(it.split == "test" for it in items):
        unused += [(str(it.path), f"a val row of {source.name}: its test rows are the held-out split") for it in val]
        return [it for it in items if it.split != "val"], f"; its {len(val)} val row(s) left out (its test rows are the held-out split)"
    return [Item(it.path, it.label, "test" if it.split == "val" else it.split) for it in items], "; its val rows are the test split (no test rows)"


def _unlisted(root: Path, listed: list[Item], kind: str, source: Path, ignored: list[tuple[str, str]],
              walk: ClipWalk | None = None) -> list[tuple[str, str]]:
    """Clips under ``root`` that the split file ``source`` does not list, as ``(path, reason)``: video files
    (:data:`VIDEO_EXTENSIONS`) with ``kind="files"``, folders holding frame images with ``kind="frames"``
    (:func:`~.split_rows.walk_clips`'s clips; ``walk``: that walk of ``root`` when the caller has it). Hidden
    entries are appended to ``ignored`` (``(path, HIDDEN)``: named, never a strict error, as the class-folder walk
    names them); what is inside a listed clip folder is neither."""
    walk = walk or walk_clips(root, kind)
    names = {os.path.normpath(str(it.path)) for it in listed}
    top = os.path.normpath(str(root))

    def left(path: str) -> bool:  # neither listed nor inside a listed clip folder (below the root)
        here = os.path.normpath(path)
        while here != top and here != os.path.dirname(here):
            if here in names:
                return False
            here = os.path.dirname(here)
        return True

    ignored += [(h, HIDDEN) for h in walk.hidden if left(h)]
    what = "" if kind == "files" else "a folder of frame images "
    return [(c, f"{what}not listed in {source.name}") for c in walk.clips if left(c)]


def _discover(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
              group_by: str | None = None, facts: dict[str, Any] | None = None, remedy: str = GROUP_BY_REMEDY,
              split_hint: str = SPLIT_HINT, split_number: int | None = None, strict: bool = False) -> tuple[list[Item], list[str], list[tuple[str, str]], list[tuple[str, str]], str]:
    """(items, every class named by the layout, what was found that is not a clip of the layout, the clips the layout
    leaves out by design (val beside test, not listed by the split file), the layout read, in words).

    ``group_by`` (:mod:`.groups`): class folders hold out whole groups (recordings); a given split with a group on
    both sides is refused. ``facts`` receives ``split_drawn`` (True: class folders, whose split was drawn here with
    ``test_fraction`` and ``seed``; False: the layout gives its own), ``group_by`` and ``test_groups`` (a drawn split), or
    ``groups_in_both`` (the number of UCF-style recordings a split without ``group_by`` put on both sides, warned
    with ``remedy``: what the caller's user can do, :data:`~.groups.GROUP_BY_REMEDY` for this loader). ``split_hint``:
    where the group readers' errors tell the user to give a split instead (:data:`~.groups.SPLIT_HINT` for this loader).
    ``split_file`` may also be a dataset's own split files (:mod:`.split_official`: HMDB51's split folder, of split
    ``split_number``; Kinetics' ``train.csv``; SSv2's ``labels/``; ``strict``: a clip they list that is missing is an
    error)."""
    facts = {} if facts is None else facts
    items, classes, ignored, unused, layout = _discover_layout(root, kind, split_file, test_fraction, seed, group_by, facts,
                                                               split_hint, split_number, strict)
    facts["split_drawn"] = drawn = layout == _drawn_layout(test_fraction, seed, group_by)
    _check_groups(root, items, group_by, drawn, facts, remedy, split_hint)
    return items, classes, ignored, unused, layout


def _check_groups(root: str | Path, items: list[Item], group_by: str | None, drawn: bool, facts: dict[str, Any],
                  remedy: str = GROUP_BY_REMEDY, split_hint: str = SPLIT_HINT) -> None:
    """Refuse a given split that puts a ``group_by`` group on both sides; without ``group_by``, warn of UCF-style
    recordings (``v_<Class>_g<group>_c<clip>``) on both sides of any split, and count them in ``facts``."""
    paths, splits, labels = [it.path for it in items], [it.split for it in items], [it.label for it in items]
    if group_by and not drawn:
        refuse_groups_in_both(str(root), group_by, recordings(paths, labels, group_by, str(root), split_hint,
                                                                 root=base_folder(root)), splits,
                              [Path(p).name for p in paths], shown=lambda names: names[0], held="clips",
                              named=said_group_by(group_by), fix="move each group's clips to one side, or leave group_by out")
    if not group_by and (both := ucf_groups_in_both(paths, splits, labels)):
        facts["groups_in_both"] = len(both)
        log.warning("%d recording(s) of UCF-style clip names (v_<Class>_g<group>_c<clip>: clips cut from one recording) have "
                    "clips in both the training and the test split, so the test clips share recordings with training ones and "
                    "the accuracy measures recognising them: %s; %s", len(both), some(both), remedy)


def _discover_layout(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
                     group_by: str | None, facts: dict[str, Any] | None, split_hint: str = SPLIT_HINT,
                     split_number: int | None = None, strict: bool = False) -> tuple[list[Item], list[str], list[tuple[str, str]], list[tuple[str, str]], str]:
    """:func:`_discover` before its group checks."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    csv_path = Path(split_file).expanduser() if split_file else None
    found = ""
    if csv_path is None and root.is_file() and root.suffix.lower() == ".csv":
        csv_path, root = root, root.parent
    if csv_path is None and (root / "clips.csv").exists():
        csv_path, found = root / "clips.csv", " found in the data root (it replaces the class-folder layout)"
    ignored: list[tuple[str, str]] = []
    unused: list[tuple[str, str]] = []
    if csv_path is not None:
        official = official_format(csv_path) if csv_path.exists() else None
        if split_number not in (None, 1) and not official:
            raise ConfigError(f"split_number={split_number} picks one of HMDB51's three splits; split file {csv_path} is not "
                              "HMDB51's testTrainMulti_7030_splits folder (UCF101's split is the list given: trainlist0N.txt)",
                              key="split_number")
        if official:
            walk = walk_clips(root, kind)  # one walk: the listed clips found, the unlisted named
            listed, left_out, left, layout = read_official(csv_path, root, kind, split_number, official, walk, strict)
            items = [Item(p, label, split) for p, label, split in listed]
            _no_duplicates(items, csv_path)
            ignored_here: list[tuple[str, str]] = []
            unlisted = _unlisted(root, items + [Item(p, "", "unused") for p in left], kind, csv_path, ignored_here, walk)
            unused += left_out + unlisted
            layout += f"; {len(unlisted)} clip(s) under the root it does not list left out" if unlisted else ""
            return items, sorted({it.label for it in items}), ignored_here, unused, layout
        if not csv_path.is_file():
            raise DataError(f"split file {csv_path} does not exist" if not csv_path.exists() else
                            f"split file {csv_path} is a folder: expected a CSV path,label,split, UCF101's trainlist0N.txt, "
                            "HMDB51's testTrainMulti_7030_splits folder, Kinetics' train.csv or SSv2's labels folder")
        if csv_path.suffix.lower() == ".csv":
            items, layout = _read_csv(csv_path, root), f"split file {csv_path.name} (CSV path,label,split){found}"
        elif csv_path.suffix.lower() == ".json":
            raise DataError(f"split file {csv_path}: a JSON split file is SSv2's (labels/train.json with labels.json and "
                            "validation.json beside it); no labels.json is beside it")
        else:
            testlist = csv_path.with_name(csv_path.name.replace("train", "test"))
            items, layout = _read_ucf_lists(csv_path, root), f"UCF101 split files {csv_path.name} + {testlist.name}"
        items = [Item(_on_disk(it.path, root), it.label, it.split) for it in items]
        missing = [it for it in items if not it.path.exists()]
        if missing:
            names = ", ".join(str(it.path) for it in missing[:5])
            raise DataError(f"split file {csv_path} names {len(missing)} clip(s) that do not exist: {names}"
                            f"{' ...' if len(missing) > 5 else ''}")
        _no_duplicates(items, csv_path)
        unlisted = _unlisted(root, items, kind, csv_path, ignored)
        items, val = _val_rows(items, csv_path, unused)
        unused += unlisted
        layout += val + (f"; {len(unlisted)} clip(s) under the root it does not list left out" if unlisted else "")
        return items, sorted({it.label for it in items}), ignored, unused, layout
    if not root.is_dir():
        raise DataError(f"data_root {root} is neither a folder nor a CSV of path,label,split")
    classes: set[str] = set()
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    subdirs = {d.name.lower(): d for d in dirs}
    if "train" in subdirs and ("test" in subdirs or "val" in subdirs):
        read = ("train", "test" if "test" in subdirs else "val")
        named = Counter(d.name.lower() for d in dirs)
        alike = [d.name for d in dirs if d.name.lower() in read and named[d.name.lower()] > 1]
        if alike:  # one shadowed the other: which tree was read followed the file system's listing order (walk 47B)
            raise DataError(f"{root} holds split folders whose names differ only in case ({', '.join(n + '/' for n in alike)}); "
                            "split folders are matched without regard to case, so the loader does not choose: rename or remove "
                            "all but one")
        held_out = subdirs.get("test") or subdirs["val"]
        layout = f"train/ and {held_out.name}/ class folders" + ("" if "test" in subdirs else f" ({held_out.name}/ is the test split)")
        items = _class_tree(subdirs["train"], "train", kind, ignored, classes) + _class_tree(held_out, "test", kind, ignored, classes)
        refuse_shared_files([it.path for it in items if it.split == "train"], [it.path for it in items if it.split == "test"], "clip")
        for d in dirs:
            name = d.name.lower()
            if d in (subdirs["train"], held_out):
                continue
            if name == "val":  # test/ is the held-out split; val/'s clips are named, not silently left out (its hidden entries too)
                in_val: list[tuple[str, str]] = []
                unused += [(str(it.path), "val/ is not used: test/ is the held-out split")
                            for it in _class_tree(d, "test", kind, in_val, set())]
                ignored += [e for e in in_val if e[1] == HIDDEN]
            else:
                ignored.append((str(d), "not train/, test/ or val/"))
        for p in sorted(root.iterdir()):
            if p.name.startswith("."):
                ignored.append((str(p), HIDDEN))
            elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
                ignored.append((str(p), "not inside train/ or test/"))
        return items, sorted(classes), ignored, unused, layout
    items = _class_tree(root, "train", kind, ignored, classes)
    labels = sorted({it.label for it in items})
    members = [it for label in labels for it in items if it.label == label]
    if group_by and members:
        flags, held = hold_out_groups([it.path for it in members], [it.label for it in members], group_by, test_fraction, seed,
                                      str(root), split_hint, root=root)
        if facts is not None:
            facts.update(group_by=group_by, test_groups=held)
    else:
        flags = held_out_flags([it.label for it in members], labels, test_fraction, seed, at_least_one=False)
    out = [Item(it.path, it.label, "test" if t else "train") for it, t in zip(members, flags)]
    return out, sorted(classes), ignored, unused, _drawn_layout(test_fraction, seed, group_by)


def _drawn_layout(test_fraction: float, seed: int, group_by: str | None = None) -> str:
    """The layout of class folders whose split :func:`_discover` draws, in words (:func:`_discover` tells a drawn split
    by it, once: the fact ``split_drawn``)."""
    if group_by:
        return (f"class folders, test_fraction {test_fraction:g} of the recordings (group_by={group_by}) drawn as test with "
                f"all their clips (split_seed {seed})")
    return f"class folders, test_fraction {test_fraction:g} of each class drawn as test (split_seed {seed})"


def discover(root: str | Path, kind: str, split_file: str | None, test_fraction: float, seed: int,
             report: CoreLoadReport | None = None, group_by: str | None = None, remedy: str = GROUP_BY_REMEDY,
             split_hint: str = SPLIT_HINT, split_number: int | None = None) -> list[Item]:
    """The clips of ``root`` (``kind``: ``files`` or ``frames``) with their class and split.

    Layouts, the first that applies: a CSV ``path,label,split`` (``split_file``, or ``root`` itself, or
    ``root/clips.csv``, which then replaces the class folders) or UCF101's ``trainlist0N.txt`` as ``split_file`` (its
    ``testlist0N.txt`` beside it) or a dataset's own split files (:mod:`.split_official`: HMDB51's split folder, its
    split ``split_number``; Kinetics' ``train.csv``; SSv2's ``labels/``); ``root/train/<class>/...`` +
    ``root/test/<class>/...``; ``root/<class>/<clip>``
    (a split is drawn: ``test_fraction`` of each class, seeded with ``seed``: a recipe's ``split_seed``). ``val`` (a
    ``val/`` folder, a split file's ``val``
    rows) is the test split when there is no ``test``, else left out. The layout read is logged; files and folders
    found but not used (a clip beside the class folders, a file that is not a video, a hidden entry under any layout,
    ``val`` next to ``test``, a clip the split file does not list) are logged with a count.

    ``report``: when given, it receives those as ``ignored`` and ``unused`` entries ``(path, reason)`` (the kinds of
    :class:`LoadReport`), and the facts ``layout`` (the layout read, in words) and ``split_drawn`` (True for class
    folders, whose split is drawn here over the files, before any is decoded: a caller that decodes them may draw
    its own among the readable ones). ``group_by``: see :mod:`.groups` (its facts go to ``report`` too). ``remedy``:
    what the warning of UCF-style recordings on both sides of the split tells the user to do (a caller that takes no
    ``group_by``, the audio-visual folder of clips, names its own way); ``split_hint``: where the group readers' errors
    tell the user to give a split instead (:data:`~.groups.SPLIT_HINT`, ``--split-file``; the audio-visual loader, which
    takes no split file, names its own)."""
    facts: dict[str, Any] = {}
    items, _, ignored, unused, layout = _discover(root, kind, split_file, test_fraction, seed, group_by, facts, remedy,
                                                  split_hint, split_number)
    log.info("video layout under %s: %s", root, layout)
    found = LoadReport()
    found.extend("ignored", ignored)
    found.extend("unused", unused)
    for line in found.lines():
        log.warning("%s", line)
    if report is not None:
        report.extend("ignored", ignored)
        report.extend("unused", unused)
        report.facts.update({"layout": layout, "split_drawn": facts["split_drawn"], **facts})  # (the facts' order as before)
    return items


__all__ = ["Item", "discover"]
