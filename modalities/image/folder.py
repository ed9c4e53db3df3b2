"""ImageFolder trees (``root/<class>/<image>``, or ``root/train/<class>/...`` with ``root/test`` or ``root/val``):
finding the class folders and their images, the held-out split of a tree without one, refusing a split folder read
as a class, reading them (:mod:`.decode`) and the load report of what was not taken as it was."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from mmdistill.data import held_out_flags
from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.words import quantity

from ..artifacts import HIDDEN, classes_without_test, refuse_shared_files, scan_files
from ..sources import refuse_split_lookalikes
from .decode import FOLDER_BYTES_PER_VALUE, _check_memory, _unit_pixels, decode_files
from .named import Split
from .pixel_cache import cached_decode

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

#: entries named in the log line of what was not read (the count covers all of them)
REPORT_NAMES = 20
#: the load report's kinds (:class:`mmdistill.load_report.LoadReport`) and what each says
REPORT_KINDS = {
    "ignored": "entries under the data root not read (not images of the layout)",
    "exif_rotated": "image(s) turned upright by their EXIF orientation tag (as photo viewers show them)",
    "first_frame_only": "multi-frame image(s) (multi-page TIFF, animated PNG or WebP) read as their first frame only",
    "alpha_dropped": "image(s) with transparent pixels read without their alpha channel (the colour stored under them kept)",
    "upscaled": "image(s) smaller than image_size enlarged to it (bilinear)",
    "channels_converted": "greyscale image(s) read as colour, or colour ones as greyscale, to the channels asked for",
}
#: the kinds of :data:`REPORT_KINDS` that count images read otherwise than as stored (the rest are entries not read)
ALTERED_KINDS = ("exif_rotated", "first_frame_only", "alpha_dropped", "upscaled", "channels_converted")
#: files named per kind in the log line of images read otherwise than as stored (the count covers all of them)
ALTERED_NAMES = 5


# --------------------------------------------------------------------------- ImageFolder trees
def _image_files(folder: Path, ignored: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Image files (torchvision's IMG_EXTENSIONS, any case) anywhere under ``folder``, sorted. Every other
    entry (hidden files and folders, files of other types, links to folders, broken links) is appended to
    ``ignored`` as (path, reason) (:func:`modalities.artifacts.scan_files`)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    files, skipped = scan_files(folder, IMG_EXTENSIONS, "not an image type the loader reads")
    if ignored is not None:
        ignored += skipped
    return files


def _scan_tree(root: Path, ignored: list[tuple[Path, str]] | None = None) -> dict[str, list[Path]]:
    """{class name: its image files} of ``root/<class>/...``; DataError on an empty root or class folder. A class
    folder may be a link (a subset of a larger tree made of links is common; logged); inside a class folder links to
    folders are not followed. Entries not read (hidden ones, files beside the class folders, non-images) go to
    ``ignored``."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    ignored = [] if ignored is None else ignored
    if not root.is_dir():
        raise DataError(f"data root {root} is not a directory")
    class_dirs, links, outside = [], [], []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            ignored.append((p, HIDDEN))
        elif p.is_dir():
            class_dirs.append(p)
            if p.is_symlink():
                links.append(p)
        else:
            outside.append((p, "file outside the class folders" if p.exists() else "broken link"))
    if not class_dirs:
        seen = f"; it holds {len(outside)} file(s) outside any class folder, e.g. {outside[0][0].name}" if outside else ""
        raise DataError(f"data root {root} holds no class folders: expected one sub-folder of images per class ({root}/<class>/<image>){seen}")
    if links:
        log.info("%s: %s read through a link: %s", root, quantity(len(links), "class folder", "class folders"),
                 ", ".join(f"{p.name} -> {os.path.realpath(p)}" for p in links[:5]) + (" ..." if len(links) > 5 else ""))
    ignored += outside
    tree = {}
    for d in class_dirs:
        own: list[tuple[Path, str]] = []
        files = _image_files(d, own)
        if not files:
            seen = f"; it holds {quantity(len(own), 'other entry', 'other entries')}, e.g. {own[0][0].name} ({own[0][1]})" if own else ""
            raise DataError(f"class folder {d} (class {d.name!r}) holds no image files "
                            f"({', '.join(sorted(set(e.lstrip('.') for e in IMG_EXTENSIONS)))}){seen}")
        ignored += own
        tree[d.name] = files
    return tree


def _held_out(tree: dict[str, list[Path]], test_fraction: float, seed: int, root: Path):
    """Per class, a seeded random ``test_fraction`` (at least one image when a class has two or more):
    :func:`mmdistill.data.held_out_flags`."""
    classes = sorted(tree)
    flags = held_out_flags([c for c in classes for _ in tree[c]], classes, test_fraction, seed)
    members = [(f, label) for label, c in enumerate(classes) for f in tree[c]]
    train_files = [m for m, t in zip(members, flags) if not t]
    test_files = [m for m, t in zip(members, flags) if t]
    if not test_files:
        raise DataError(f"{root}: every class holds a single image, nothing is left for a test split")
    return classes, train_files, test_files


def _image_folder(root: Path, size: tuple[int, int] | None, channels: int | None, test_fraction: float, seed: int,
                  report: LoadReport | None = None, check_memory: bool = True, progress: bool = False,
                  resize: str = "squeeze", use_cache: bool = True, cache_dir: str | Path | None = None) -> Split:
    """An ImageFolder tree: ``root/train`` + ``root/test`` (or ``root/val``) when present, else ``root``
    (or ``root/train`` alone) with ``test_fraction`` held out per class. Labels follow sorted class names.
    Images are made ``size`` by ``resize`` (:func:`~.decode.to_size`). What is not read is logged and summarised in ``report`` (see :attr:`ImageDataset.report`). The images are
    decoded into one uint8 array (or read from the decoded-image cache, :mod:`.pixel_cache`, unless ``use_cache`` is
    False; ``cache_dir``: its folder, default ``<cache>/image``), then each split becomes its own float32 tensor (peak: the float32 pixels and
    the uint8 array, :data:`FOLDER_BYTES_PER_VALUE`)."""
    report = LoadReport(descriptions=dict(REPORT_KINDS)) if report is None else report
    ignored: list[tuple[Path, str]] = []
    train_dir = root / "train"
    test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    unscored_why = ""  # why a class may have no test image, per layout (classes_without_test's warning)
    if train_dir.is_dir():
        used = {train_dir.name} | ({test_dir.name} if test_dir is not None else set())
        for p in sorted(root.iterdir()):
            if p.name in used:
                continue
            if p.name.startswith("."):
                ignored.append((p, HIDDEN))
            elif p.name == "val" and test_dir is not None:
                ignored.append((p, "not used: test/ is the test split"))
            else:
                ignored.append((p, "not used: with train/ only train/ and test/ or val/ are read"))
    if train_dir.is_dir() and test_dir is not None:
        train_tree, test_tree = _scan_tree(train_dir, ignored), _scan_tree(test_dir, ignored)
        classes = sorted(train_tree)
        extra = sorted(c for c in test_tree if c not in train_tree)
        if extra:
            raise DataError(f"{test_dir} has class folders {extra} that {train_dir} lacks")
        unscored_why = f"{test_dir} has no folder for them"
        # the split the tree gives, in words (test_fraction and split_seed draw nothing: the adapter says so, reading
        # split_drawn, as the video and audio-visual loaders record it; a tree whose split is drawn has no layout fact)
        report.facts["layout"] = f"train/ and {test_dir.name}/ class folders" + (
            "" if test_dir.name == "test" else f" ({test_dir.name}/ is the test split)")
        report.facts["split_drawn"] = False
        split = {"test": test_dir.name}  # what draws the split, in the cache entry's slot (pixel_cache.slot_key)
        train_files = [(f, classes.index(c)) for c in classes for f in train_tree[c]]
        test_files = [(f, classes.index(c)) for c in sorted(test_tree) for f in test_tree[c]]
        refuse_shared_files([f for f, _ in train_files], [f for f, _ in test_files], "image")
    else:
        base = train_dir if train_dir.is_dir() else root
        if base == root:
            _refuse_split_lookalikes(root)
        classes, train_files, test_files = _held_out(_scan_tree(base, ignored), test_fraction, seed, base)
        report.facts["split_drawn"] = True
        split = {"test_fraction": test_fraction, "split_seed": seed}
        unscored_why = (f"{base} has no test split and a class needs at least two images to hold one out "
                        f"(test_fraction={test_fraction})")
    if check_memory and size is not None:  # before decoding: every image becomes at least one channel of size
        _check_memory(len(train_files) + len(test_files), channels or 1, size, f"the images under {root}",
                      f"image_size={size[0] if size[0] == size[1] else size}", FOLDER_BYTES_PER_VALUE)
    settings = {"dataset": "imagefolder", "image_size": list(size) if size else None, "resize": resize, "channels": channels,
                "split": split}
    pixels, notes, altered = cached_decode(
        lambda: decode_files([f for f, _ in train_files + test_files], size, channels, check_memory, progress, resize),
        dataset="imagefolder", root=root, settings=settings, classes=classes, files=train_files + test_files,
        n_train=len(train_files), ignored=ignored, facts=report.facts, use_cache=use_cache, cache_dir=cache_dir, check_memory=check_memory)
    n_tr = len(train_files)
    try:  # each split its own tensor (not views of one): either can be dropped or saved alone
        x_tr, x_te = _unit_pixels(pixels[:n_tr]), _unit_pixels(pixels[n_tr:])
    except MemoryError:
        raise DataError(f"out of memory for the {len(pixels)} images under {root} as float32 "
                        f"({pixels[0].size * 4 * len(pixels) / 1024.0**3:.1f} GiB); pass a smaller image_size "
                        "(--image-size N)") from None
    del pixels
    y = torch.tensor([label for _, label in train_files + test_files], dtype=torch.long)
    classes_without_test("imagefolder", classes, y[:n_tr], y[n_tr:], unscored_why, report, what="image")  # trained, never scored
    _report(report, root, ignored, notes, altered)
    return x_tr, y[:n_tr], x_te, y[n_tr:], classes


def _refuse_split_lookalikes(root: Path) -> None:
    """DataError when a folder of ``root`` is named like a split and holds sub-folders but no images of its own
    (:func:`~modalities.sources.refuse_split_lookalikes`)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    refuse_split_lookalikes(root, IMG_EXTENSIONS, "images")


def _report(report: LoadReport, root: Path, ignored: list[tuple[Path, str]], notes: dict,
            altered: dict[str, list[tuple[Path, str]]] | None = None, name: str = "imagefolder") -> None:
    """Log (warnings) and record in ``report`` what the ImageFolder load did not take as it was: ``ignored``
    entries, Pillow's ``notes``, and the images ``altered`` (kind -> [(path, how)], :func:`_read_images`), one
    line per kind naming the first :data:`ALTERED_NAMES` (a warning; an info line for EXIF orientation, which
    reads the image as it is meant to be seen); ``name`` (the dataset) starts each line."""
    report.root = str(root)
    report.count("ignored", 0)  # stated as 0 when every entry was read
    if ignored:
        report.extend("ignored", ((str(p), why) for p, why in ignored))
        shown = [f"{report.relative(str(p))} ({why})" for p, why in ignored[:REPORT_NAMES]]
        more = f", and {len(ignored) - REPORT_NAMES} more" if len(ignored) > REPORT_NAMES else ""
        log.warning("%s: %s under %s not read: %s%s", name, quantity(len(ignored), "entry", "entries"), root, "; ".join(shown), more)
    for kind in ALTERED_KINDS:
        entries = sorted((altered or {}).get(kind, []), key=lambda e: str(e[0]))  # read order is train, then test
        if not entries:
            continue
        report.extend(kind, ((str(p), how) for p, how in entries))
        shown = [f"{report.relative(str(p))} ({how})" for p, how in entries[:ALTERED_NAMES]]
        more = f", and {len(entries) - ALTERED_NAMES} more" if len(entries) > ALTERED_NAMES else ""
        log.log(logging.INFO if kind == "exif_rotated" else logging.WARNING, "%s: %d %s: %s%s", name, len(entries),
                REPORT_KINDS[kind], "; ".join(shown), more)
    if notes:
        report.facts["decoding_warnings"] = {k: {"images": v[0], "first": report.relative(v[1]), "message": v[2]}
                                             for k, v in notes.items()}
