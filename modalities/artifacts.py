"""Helpers shared by the adapters' loaders, previews and exports: label checks, a grid of samples with one row per
class, portable class folder names with their ``classes.json`` index, an all-or-nothing file tree, and the classes
a split leaves without a test sample."""

from __future__ import annotations

import json
import logging
import os
import re
import textwrap
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import torch

from mmdistill.data import check_class_list
from mmdistill.errors import DataError
from mmdistill.io import new_tree
from mmdistill.load_report import CLASSES_WITHOUT_TEST, HIDDEN  # HIDDEN: the core's reason, re-exported for the walks
from mmdistill.plots import SMALLEST_FONT_PT
from mmdistill.words import id_list

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from torch import Tensor

    from mmdistill.load_report import LoadReport

log = logging.getLogger(__name__)


def check_labels(labels: Tensor, n: int, classes: list[str]) -> None:
    """DataError unless ``labels`` is (n,) with values in [0, len(classes))."""
    if labels.dim() != 1 or len(labels) != n:
        raise DataError(f"expected {n} labels of shape (N,), got {tuple(labels.shape)}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise DataError(f"labels range over {int(labels.min())}..{int(labels.max())} but there are {len(classes)} classes")


#: the smallest text a preview draws (points): labels under 8 pt are hard to read at a card's width and in print (the
#: core plots' size, :data:`mmdistill.plots.SMALLEST_FONT_PT`)
PREVIEW_FONT_PT = SMALLEST_FONT_PT

#: a class row's label in :func:`class_grid` (and the grids like it): characters per line and lines, within its margin
ROW_LABEL_CHARS, ROW_LABEL_LINES = 16, 3


def class_grid(labels: Tensor, classes: list[str], *, max_per_class: int, cell: tuple[float, float],
               title: str | None = None, where: str = "preview") -> tuple[Figure, list[tuple[list[Axes], list[int]]]]:
    """A figure with one row per class present in ``labels`` (N,) and up to ``max_per_class`` cells per row,
    each cell ``cell`` = (width, height) inches without ticks or frame, the class name at the row start and
    ``title`` on top. The class names are :data:`PREVIEW_FONT_PT` points, a long one wrapped and cut with an ellipsis
    (:func:`fitted_label`, :data:`ROW_LABEL_CHARS` x :data:`ROW_LABEL_LINES`: the 1.4 inch margin). A class name with
    characters the installed font lacks is labelled by its index
    (:func:`mmdistill.plots.drawable_labels`: one log line for ``where``, the figure's name, instead of a warning per
    character). Returns ``(fig, rows)``; ``rows`` lists ``(axes of the row, indices of the row's samples)``
    with at most one index per axis (draw sample ``indices[k]`` on ``axes[k]``)."""
    from mmdistill.plots import drawable_labels, pyplot

    plt = pyplot()
    present = [c for c in range(len(classes)) if (labels == c).any()]
    names = drawable_labels(classes, where, shown=present)
    cols = max(1, min(max_per_class, max(int((labels == c).sum()) for c in present) if present else 1))
    fig, axes = plt.subplots(max(1, len(present)), cols, squeeze=False, dpi=100,
                             figsize=(cols * cell[0] + 1.4, max(1, len(present)) * cell[1] + (0.5 if title else 0.1)))
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
    rows = []
    for r, c in enumerate(present):
        axes[r][0].set_ylabel(fitted_label(names[c], ROW_LABEL_CHARS, ROW_LABEL_LINES), rotation=0, ha="right", va="center",
                              fontsize=PREVIEW_FONT_PT)
        rows.append((list(axes[r]), (labels == c).nonzero().flatten()[:cols].tolist()))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, rows


def fitted_label(text: str, chars: int, lines: int) -> str:
    """``text`` as a picture's label that overlaps nothing beside it: wrapped at ``chars`` characters on at most
    ``lines`` lines (a word longer than a line broken), what does not fit cut with `` …``; whitespace runs as one space."""
    return "\n".join(textwrap.wrap(" ".join(str(text).split()), chars, max_lines=lines, placeholder=" …"))


def grid_words(labels: Tensor, classes: list[str], max_per_class: int, noun: str) -> str:
    """What :func:`class_grid` (or a grid like it) draws, in words: ``"one row per class, its first 2 clips: dog, rain"``
    (``labels`` (N,), up to ``max_per_class`` of each class; a class with fewer is named with its count; the class names
    listed up to 12, :func:`mmdistill.words.id_list`)."""
    from mmdistill.words import id_list, quantity

    counts = {c: min(max_per_class, int((labels == c).sum())) for c in range(len(classes)) if (labels == c).any()}
    most = max(counts.values(), default=0)
    names = [classes[c] + ("" if k == most else f" ({k})") for c, k in counts.items()]
    first = f"first {quantity(most, noun)}" if most > 1 else f"first {noun}"
    return f"{quantity(len(counts), 'row')}, one per class, its {first}: {id_list(names)}"


#: the export's index of class folders: ``{"classes": [{"label", "class", "folder", "samples"}, ...]}``
CLASS_INDEX_FILE = "classes.json"
#: characters no common file system takes in a name (Windows' ``<>:"/\|?*``, ``/`` and NUL on POSIX, control codes)
_INVALID = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
#: names Windows reserves for devices, with or without an extension
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
#: bytes of UTF-8 a folder name keeps (file systems allow 255; room for an index prefix)
_MAX_BYTES = 200


def portable_name(name: str) -> str:
    """``name`` as a folder name valid on the common file systems, unicode letters kept (NFC): path separators,
    NUL, control codes and Windows' ``<>:"|?*`` become ``_``; leading and trailing spaces and dots are removed (a
    leading dot would hide the folder, Windows drops trailing ones); a Windows device name (``CON``, ``nul.txt``...)
    gets a ``_`` prefix; cut to 200 bytes of UTF-8; never empty (``class``)."""
    cleaned = _INVALID.sub("_", unicodedata.normalize("NFC", str(name))).strip(" .")
    while len(cleaned.encode("utf-8")) > _MAX_BYTES:
        cleaned = cleaned[:-1]
    cleaned = cleaned.rstrip(" .") or "class"
    return "_" + cleaned if _RESERVED.match(cleaned) else cleaned


def export_folder_names(classes: list[str], labels: "Tensor | None" = None) -> list[str]:
    """The class folder names of an export (:func:`portable_name` of each class). Loaders that number class folders
    by sorted name (torchvision's ``ImageFolder``, ``datasets``' ``imagefolder``/``audiofolder``, mmdistill's own) must
    read label i as class i, so when the names do not sort in label order (Fashion-MNIST's ``T-shirt/top, Trouser,
    ...``; ``c10`` before ``c2``), or two would be the same on a case- or normalisation-insensitive file system
    (Windows, macOS), every folder gets its label index as a zero-padded prefix (``003_name``, at least 3 digits), so
    folders sort in label order. ``classes.json`` (:func:`write_class_index`) maps them back to the class names.

    Given the set's ``labels`` (N,), a class without samples gets no folder (an empty folder is refused by
    ``ImageFolder`` and dropped by git and many archivers), so those loaders number the present folders 0..k-1, not by
    label: the folders then carry their label index as prefix too (:func:`warn_absent_classes` says so)."""
    names = [portable_name(c) for c in classes]
    absent = labels is not None and bool(absent_classes(classes, labels))
    if absent or len({n.casefold() for n in names}) != len(names) or names != sorted(names):
        width = max(3, len(str(len(names) - 1)))
        names = [f"{i:0{width}d}_{n}" for i, n in enumerate(names)]
    return names


def absent_classes(classes: list[str], labels: "Tensor") -> list[int]:
    """The label indices of ``classes`` that no entry of ``labels`` (N,) holds."""
    present = set(labels.detach().cpu().long().tolist())
    return [i for i in range(len(classes)) if i not in present]


def warn_absent_classes(where: str | Path, classes: list[str], labels: "Tensor") -> list[int]:
    """Log one warning (naming ``where``, the export folder) when classes have no sample in ``labels`` (N,), so no
    folder: a loader numbering class folders by sorted name gives the present ones 0..k-1, and ``classes.json`` maps
    them back (its rows with a ``folder``, in order, are those indices). Returns the absent label indices."""
    absent = absent_classes(classes, labels)
    if absent:
        shown = ", ".join(f"{classes[i]!r} (label {i})" for i in absent[:10]) + (" ..." if len(absent) > 10 else "")
        k = len(classes) - len(absent)
        log.warning("%s: %d of %d classes have no samples in the set and get no folder: %s. Loaders that number class "
                    "folders by sorted name (torchvision's ImageFolder, datasets' imagefolder) number the %d present "
                    "folders 0..%d, not by label: each folder's name starts with its label index, and %s's rows with a "
                    "folder, in order, give the label of each such index", where, len(absent), len(classes), shown, k,
                    k - 1, CLASS_INDEX_FILE)
    return absent


def write_class_index(folder: Path, classes: list[str], names: list[str], labels: Tensor) -> Path:
    """Write ``folder/classes.json``: per class its label index, name, export folder (None: no samples, no folder)
    and sample count, so a folder whose name had to change still leads back to its class. Returns the path."""
    counts = torch.bincount(labels.long(), minlength=len(classes)).tolist() if len(labels) else [0] * len(classes)
    rows = [{"label": i, "class": c, "folder": names[i] if counts[i] else None, "samples": int(counts[i])}
            for i, c in enumerate(classes)]
    path = Path(folder) / CLASS_INDEX_FILE
    lines = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in rows)  # one class a line
    path.write_text('{"classes": [\n' + lines + "\n]}\n", encoding="utf-8")
    return path


#: the reason a link to a folder inside a scanned folder is listed by :func:`scan_files`: such links are not followed,
#: so a class folder is read as it lies on disk (no loops)
LINKED_FOLDER = "link to a folder, not followed"


#: the reason :func:`scan_files` gives a second name of one file (a link to a file it already found, or the target of
#: one), followed by the first name: one file is one sample (else a drawn split could put it in train and test)
SAME_FILE = "the same file as"


def _inside(path: str, folder: str) -> bool:
    """Whether real path ``path`` lies inside real path ``folder`` (not equal to it)."""
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def check_distinct_folder(folder: Path) -> None:
    """DataError naming both when ``folder`` (a class folder) is a link to a folder beside it or into one (``c -> b``,
    ``c -> b/sub``), to the same folder as another link beside it, or to the folder that holds it or one above it: its
    files would be read again, as another class. Only a link makes two class folders share files, and the link is the
    one named first (a folder that is not a link is not checked: nothing is resolved for a tree without links)."""
    folder = Path(folder)
    if not folder.is_symlink():
        return
    parent = folder.parent
    mine, above = os.path.realpath(folder), os.path.realpath(parent)
    if mine == above or _inside(above, mine):
        raise DataError(f"class folder {folder} is a link to {mine}, the folder that holds it or one above it: its files would "
                        f"be read again as class {folder.name!r}; remove the link or point it at a folder of that class only")
    if _inside(mine, above):
        first = os.path.relpath(mine, above).split(os.sep)[0]
        if first != folder.name and not first.startswith("."):
            how = "the same folder as" if os.path.join(above, first) == mine else "a folder inside"
            raise DataError(f"class folder {folder.name!r} of {parent} is a link to {how} class folder {first!r} ({folder.name} -> "
                            f"{mine}): its files would be read as both classes; remove the link or point it at a folder of its "
                            "own class")
        return
    try:
        here = os.stat(folder)
        siblings = sorted((e for e in os.scandir(parent) if e.is_symlink() and e.name != folder.name and not e.name.startswith(".")),
                          key=lambda e: e.name)
    except OSError:
        return  # the scan of the folder itself says what is wrong
    for entry in siblings:
        try:
            there = os.stat(parent / entry.name)
        except OSError:
            continue  # a broken link: named by the caller
        if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
            raise DataError(f"class folders {folder.name!r} and {entry.name!r} of {parent} are links to one folder, {mine}: its "
                            "files would be read as both classes; remove one link or point it at a folder of its own class")


def refuse_shared_files(train: Iterable[str | Path], test: Iterable[str | Path], what: str = "file") -> None:
    """DataError when a file of the test split is one of the training split (the same file through a link or a second
    name: the same device and inode), naming the first pair and the count: a test score would count training samples.
    Files that cannot be looked at are left to the loader, which names them."""
    def ids(paths: Iterable[str | Path]) -> dict[tuple[int, int], str]:
        out: dict[tuple[int, int], str] = {}
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.setdefault((st.st_dev, st.st_ino), str(p))
        return out

    trained = ids(train)
    shared = [(path, trained[key]) for key, path in ids(test).items() if key in trained]
    if shared:
        first, twin = shared[0]
        raise DataError(f"{len(shared)} test {what}(s) are training {what}s too (the same file through a link or a second name), "
                        f"e.g. {first} is {twin}: a test score would count training samples; keep each {what} in one split")


def scan_files(folder: Path, extensions: Iterable[str], other: str) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files under ``folder`` (any depth) whose suffix is one of ``extensions`` (any case), sorted, and every other
    entry as ``(path, reason)``: hidden files and folders (:data:`~mmdistill.load_report.HIDDEN`, not descended), links to folders (not
    followed), broken links, files of other types (``other``), and a second name of a file already found
    (:data:`SAME_FILE`). A folder that cannot be listed is a DataError, and so is a class folder that is, through a
    link, the same folder as one beside it (or inside it, or holding it: :func:`check_distinct_folder`)."""
    check_distinct_folder(folder)
    wanted = {e.lower() for e in extensions}
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}  # real path -> the first name it was found under
    pending = [Path(folder)]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise DataError(f"cannot list folder {current}: {exc.strerror or exc}") from None
        for entry in entries:
            path = current / entry.name
            if entry.name.startswith("."):
                skipped.append((path, HIDDEN))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif entry.is_symlink() and entry.is_dir():
                skipped.append((path, LINKED_FOLDER))
            elif not entry.is_file():
                skipped.append((path, "broken link or not a regular file"))
            elif path.suffix.lower() in wanted:
                files.append(path)
            else:
                skipped.append((path, other))
    kept = []
    for path in sorted(files):  # a link to a file already found (or its target) is one sample, read once
        first = seen.setdefault(os.path.realpath(path), path)
        if first == path:
            kept.append(path)
        else:
            skipped.append((path, f"{SAME_FILE} {first.name}"))
    return kept, skipped


def classes_without_test(name: str, classes: list[str], train_labels: Tensor, test_labels: Tensor, why: str,
                         report: LoadReport | None, what: str = "clip") -> list[str]:
    """The classes with training samples (``train_labels`` (N,), indices into ``classes``) but none in ``test_labels``:
    trained on, never scored. Logged in a warning naming the first 20, how many of all the classes they are, and ``why``;
    recorded in ``report``'s fact ``classes_without_test`` (the card states it); ``what`` names a sample in the message."""
    missing = [classes[c] for c in sorted(set(train_labels.tolist()) - set(test_labels.tolist()))]
    if missing:
        log.warning("%s: class(es) %s have training %ss but no test %s (%s); their accuracy is not measured (%d of %d classes)",
                    name, id_list((repr(c) for c in missing), 20), what, what, why, len(missing), len(classes))
        if report is not None:
            report.facts[CLASSES_WITHOUT_TEST] = missing
    return missing


def label_key(label: str) -> str:
    """What two spellings of one label share: NFC normal form, runs of whitespace as one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", label).split())


def one_spelling_per_label(source: str, labels: dict[Any, str], what: str) -> None:
    """DataError naming both spellings (escaped, so that they differ on screen) and where each is used when two labels of
    ``labels`` (where -> label: row numbers or clip paths, named as ``what``) differ only in their Unicode form (``café``
    composed vs ``e`` + combining accent) or in whitespace: they would be two classes that print the same. Labels
    differing in case stay apart (``Cat`` and ``cat``), as before."""
    spellings: dict[str, dict[str, list[Any]]] = {}
    for where, label in labels.items():
        spellings.setdefault(label_key(label), {}).setdefault(label, []).append(where)
    clashes = [forms for forms in spellings.values() if len(forms) > 1]
    if not clashes:
        return

    def named(label: str, places: list[Any]) -> str:
        shown_places = ", ".join(map(str, places[:3])) + (" ..." if len(places) > 3 else "")
        return f"{ascii(label)} ({what}{'s' if len(places) > 1 else ''} {shown_places})"

    first = clashes[0]
    raise DataError(f"{source}: {len(clashes)} label(s) spelled more than one way, which would be separate classes that print "
                    f"the same: {' vs '.join(named(lab, places) for lab, places in first.items())}"
                    f"{f' (and {len(clashes) - 1} more)' if len(clashes) > 1 else ''}; the spellings differ in their Unicode form "
                    "(a composed letter vs a letter and a combining accent) or in whitespace: write each label one way "
                    "(NFC, single spaces)")


def check_images_fit(what: str, count: int, shape: tuple[int, int, int], bytes_per_value: float, *, cause: str = "",
                     lower: str = "pass a smaller image_size (--image-size N)", error: type[Exception] = DataError,
                     stored_as: str = "float32") -> None:
    """``error`` naming ``what``, the image count and shape (C, H, W), the estimate and the memory available when
    ``count`` images of ``shape`` cannot fit at ``bytes_per_value`` bytes a value in the host's available memory
    (:func:`mmdistill.memory.host_shortfall`); ``cause`` says where the size comes from, ``lower`` what to pass
    instead, ``stored_as`` how the loader keeps the pixels. The image loaders' check before decoding."""
    from mmdistill.memory import host_shortfall

    need = int(count * shape[0] * shape[1] * shape[2] * bytes_per_value)
    if available := host_shortfall(need):
        gib = 1024.0**3
        raise error(f"{what}: {count} images of {shape[0]}x{shape[1]}x{shape[2]}{f' ({cause})' if cause else ''} need about "
                    f"{need / gib:.1f} GiB of memory as {stored_as}, more than the {available / gib:.1f} GiB available; {lower}, "
                    "or memory_check=false to try anyway")


#: the standard deviation below which a channel counts as constant (:func:`constant_channels`)
CONSTANT_STD = 1e-6


def constant_channels(std: Tensor) -> tuple[Tensor, list[int]]:
    """``std`` (C,) per-channel standard deviations (any unit) with each one below :data:`CONSTANT_STD` (a constant
    channel) replaced by 1, so ``(x - mean) / std`` leaves such a channel near zero instead of multiplying held-out
    differences by ~1e6; and the ids of those channels, ascending (empty: none). The caller names them in its own
    warning (the video and audio-visual adapters' split statistics)."""
    flat = std < CONSTANT_STD
    return std.masked_fill(flat, 1.0), flat.nonzero().flatten().tolist()




def check_class_ids(where: str, y_train: Tensor, y_test: Tensor, classes: Iterable[str] | None = None) -> list[str]:
    """The class names of in-memory labels ``y_train`` and ``y_test`` (integer tensors (N,)): ``classes`` as strings,
    or ``'0'..'K-1'`` when None. A :class:`DataError` starting with ``where`` (``register_tensors('name')``) and naming
    the labels it got unless they are class ids 0..K-1 (K = the number of ``classes`` names, or the largest label + 1)
    with every class present in ``y_train``: a class without a training sample cannot be distilled, and sparse ids
    (3, 7, 11) would leave the classes between them empty."""
    if isinstance(classes, str):
        raise DataError(f"{where}: classes must be a list of class names, got the string {classes!r} (it would be read as "
                        f"{len(classes)} one-letter names); pass a list of every class's name")
    for arg, y in (("y_train", y_train), ("y_test", y_test)):
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise DataError(f"{where}: {arg} must hold integer class ids, got dtype {y.dtype}")
        if y.numel() and int(y.min()) < 0:
            raise DataError(f"{where}: {arg} holds negative label(s) {id_list(sorted(set(y[y < 0].tolist())))}; "
                            "labels must be class ids 0..K-1")
    got = {a: sorted(set(y.tolist())) for a, y in (("y_train", y_train), ("y_test", y_test))}
    renumber = "renumber them (torch.unique(torch.cat([y_train, y_test]), return_inverse=True) gives 0..K-1)"
    hint = f"{renumber} and pass classes= their K names in that order"
    fix = f"add training samples of them, or leave them out of classes= and {renumber}"
    if classes is not None:
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise DataError(f"{where}: classes has repeated names: {names}")
        for arg, ids in got.items():
            over = [i for i in ids if i >= len(names)]
            if over:
                raise DataError(f"{where}: {arg} holds class id(s) {id_list(over)} but classes names {len(names)} class(es) "
                                f"(ids 0..{len(names) - 1}); {hint}")
    else:
        names = [str(c) for c in range(max(got["y_train"] + got["y_test"], default=-1) + 1)]
    trained = set(got["y_train"])
    empty = [c for c in range(len(names)) if c not in trained]
    if empty:
        which = (f"class id(s) {id_list(empty)}" if classes is None
                 else "class(es) " + ", ".join(f"{names[c]!r} (id {c})" for c in empty[:12]) + (" ..." if len(empty) > 12 else ""))
        test = "" if got["y_test"] == got["y_train"] else f" (y_test {id_list(got['y_test'])})"
        raise DataError(f"{where}: y_train holds labels {id_list(got['y_train'])}{test}, which leave {which} of "
                        f"0..{len(names) - 1} without a training sample; expected class ids 0..K-1 with every class in "
                        f"y_train: {hint if classes is None else fix}")
    check_class_list(f"{where}: y_train", names)
    return names


__all__ = ["CLASS_INDEX_FILE", "CONSTANT_STD", "HIDDEN", "LINKED_FOLDER", "absent_classes", "check_class_ids", "check_distinct_folder", "check_images_fit",
           "check_labels", "class_grid", "classes_without_test", "constant_channels",
           "export_folder_names", "label_key", "new_tree", "one_spelling_per_label", "portable_name", "refuse_shared_files",
           "scan_files", "warn_absent_classes", "write_class_index"]
