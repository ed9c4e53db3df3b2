"""Read image-caption datasets into :class:`PairSplit` tensors.

Sources (each gives caption records ``(image path, caption, split or None)``):

* CSV with a header naming ``image`` and ``caption`` (and optionally ``split``), image paths relative to the
  image root (:func:`read_csv_records`; a caption may run over several lines inside quotes, a quote left open to the
  end of the file or a line break in a path is refused naming the line the row starts on);
* caption JSON (:func:`read_json_records`): Karpathy's ``dataset_coco.json`` / ``dataset_flickr30k.json``
  (``images[].sentences[].raw`` with a ``split`` per image; ``restval`` counts as train, ``val`` is left
  out and counted), BLIP-style lists ``[{"image", "caption"}]`` (``caption`` a string or a list; the train
  and test files given separately), and COCO's ``captions_*.json`` (``images`` + ``annotations``);
* a folder of images with sidecar ``.txt`` captions, one caption per non-empty line
  (:func:`read_folder_records`), optionally split into ``train/`` and ``test/`` sub-folders;
* ``shapes``: generated coloured shapes with several captions each (:func:`shapes_records`), no files.

Caption files are UTF-8 (a byte-order mark is allowed); a file that is not, a malformed entry (a caption or
image name that is not a string) or captions of one image in different splits stop loading with a
:class:`DataError` naming the file and entry. Bad input (a caption whose image is missing or unreadable, an
empty caption, a duplicate pair or image id, an image without a caption, a sidecar caption file that is not
UTF-8) is collected in a :class:`BadInput` with counts and examples: with
``on_bad="error"`` loading stops with a :class:`DataError` that names them all, with ``"skip"`` they are
dropped and the counts are printed and stored in the data's ``meta["dropped"]``, and with their first names in a
:class:`mmdistill.load_report.LoadReport` (``meta["load_report"]``); nothing is dropped silently. A COCO image id
listed for two file names is refused naming both entries (the same file name twice is one image). An image path that
is a folder, FIFO, device or symbolic link loop is named for what it is (``unreadable_image``), never opened. One
image under two names (a hard link, or a byte-identical copy) in train and test is refused naming a pair and the count;
within one split it is kept, named and counted (``same_image``). Control and bidi characters in a caption are each
replaced by a space, named and counted (``cleaned_captions``).

This module plans the splits and reads the images into tensors (:func:`build_splits`); the caption records and the
report are :mod:`.captions`', the readers of each source :mod:`.caption_sources`' and the image files (the opener, one
image under two names, pixels) :mod:`.image_files`'; their public names are importable from here as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import Tensor

from mmdistill.data import held_count
from mmdistill.errors import DataError
from mmdistill.load_report import LoadReport
from mmdistill.seeding import generator

from ..artifacts import check_images_fit
from .caption_sources import read_csv_records, read_folder_records, read_json_records, shapes_records
from .captions import BadInput, CaptionRecord, clean_caption, replace_controls
from .data import PairSplit
from .image_files import (FileOpener, ImageFile, NotAnImageFile, canonical_image_paths, file_opener,
                          image_to_pixels, image_to_tensor, same_image_groups)

log = logging.getLogger(__name__)

TRAIN_SPLITS = ("train", "restval")
KNOWN_SPLITS = ("train", "restval", "val", "test")


def _refuse_same_images(groups: list[tuple[list[str], str]], split_of: Mapping[str, str], bad: BadInput, source: str) -> None:
    """DataError naming a pair and the count when a group of :func:`same_image_groups` spans train and test; groups
    within one split go to ``bad`` (``same_image``: every name after the first of its group) and a warning."""
    across, within = [], []
    for members, how in groups:
        splits = {split_of[m] for m in members}
        if len(splits) > 1:
            train = next(m for m in members if split_of[m] == "train")
            test = next(m for m in members if split_of[m] == "test")
            across.append(f"{test!r} (test) and {train!r} (train): {how}")
        else:
            within += [(m, f"{how}: the same image as {members[0]!r} ({split_of[m]})") for m in members[1:]]
    if across:
        raise DataError(f"{source}: {len(across)} test image(s) are a training image under another name, e.g. {across[0]}"
                        f"{f' (and {len(across) - 1} more)' if len(across) > 1 else ''}; a test recall would count training "
                        "images: remove the copy or list one name for both")
    if within:
        bad.extend("same_image", within)
        log.warning("%s: %d image(s) are another image of their split under another name (kept, each its own image with its "
                    "own captions): %s", source, len(within),
                    "; ".join(f"{m!r} ({why})" for m, why in within[:3]) + (" ..." if len(within) > 3 else ""))


# --------------------------------------------------------------------------- splits
@dataclass
class LoadedSplits:
    """What :func:`build_splits` returns: the ``train`` and ``test`` :class:`PairSplit`, the ``dropped`` counts per
    kind (by ``on_bad``, plus ``captions_of_dropped_images``), the count of ``val`` images left out and the report."""

    train: PairSplit
    test: PairSplit
    dropped: dict[str, int]
    unused_val_images: int
    #: what was dropped, per kind, with where (``bad`` itself) and the captions of dropped images (a count)
    report: LoadReport = field(default_factory=lambda: BadInput())


def build_splits(
    records: list[CaptionRecord],
    open_image: Callable[[str], object],
    *,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    bad: BadInput,
    on_bad: str,
    source: str,
    test_fraction: float,
    split_order: str,
    seed: int,
    max_words: int,
    progress: bool = True,
    root: Path | None = None,
    check_memory: bool = True,
    memory_hint: str | None = "a smaller image_size (--image-size N)",
) -> LoadedSplits:
    """Clean captions, find duplicates, read each image once, split, and return tensors.

    Records with a split go where it says (``restval`` to train, ``val`` left out and counted); without
    one, the last ``test_fraction`` of the images (sorted by name, or in a seeded random order) is test.
    Control characters (NUL, ESC, DEL, C1) and bidi controls (:data:`mmdistill.words.BIDI_CONTROLS`) in a caption are
    each replaced by a space, counted (``cleaned_captions``) and named in a warning. With ``root`` (the image root of
    files), images that are one file under two names (a hard link) or byte-identical copies are found
    (:func:`same_image_groups`): across train and test a DataError names a pair and the count (a test recall would
    count training images), within a split they are kept, named in a warning and counted (``same_image``).

    Memory: the split of every image is planned before reading (as if every image reads) and each image is decoded
    straight into its row of one preallocated uint8 tensor per split (a ``val`` image into a scratch row: read to check
    it, then left out), so the peak is about the final tensors plus one image; each split keeps the 8-bit pixels with the
    encoder's ``mean``/``std`` as ``pixel_norm`` and normalises a batch when it is read
    (:meth:`PairSplit.normalised_images`: a quarter of the memory of float32 pixels, the same float32 values). When an image fails
    (``on_bad=skip``) a split whose images all lie in one tensor is compacted in place (its storage keeps the rows of the
    failed images); only a split whose images moved between the planned splits (no ``split`` column: the held-out
    count or the random order changed) is copied into a new tensor. ``check_memory`` (the config's ``memory_check``)
    refuses, before anything is decoded, with a DataError naming the image count, the size and the estimate when the
    images cannot fit in the host's available memory (:data:`BYTES_PER_VALUE`); ``memory_hint`` says what to pass
    instead (None: the size cannot be set, fewer images are the way).
    """
    from mmdistill.logs import progress_bar

    with_split = [r for r in records if r.split is not None]
    if with_split and len(with_split) != len(records):
        raise DataError(f"{source}: {len(with_split)} of {len(records)} captions name a split and the others do not")
    unknown = sorted({r.split for r in with_split if r.split not in KNOWN_SPLITS})
    if unknown:
        raise DataError(f"{source}: unknown split name(s) {unknown}; use train, test or val")
    splits_of: dict[str, set[str]] = {}
    for r in with_split:
        splits_of.setdefault(r.image, set()).add("train" if r.split in TRAIN_SPLITS else str(r.split))
    mixed = sorted(name for name, s in splits_of.items() if len(s) > 1)
    if mixed:
        shown = ", ".join(f"{n} ({'/'.join(sorted(splits_of[n]))})" for n in mixed[:3]) + (", ..." if len(mixed) > 3 else "")
        raise DataError(f"{source}: {len(mixed)} image(s) have captions in different splits ({shown}); every caption of an "
                        "image must name the same split")
    seen: dict[tuple[str, str], str] = {}  # (image, caption as kept) -> the caption before the cut
    kept: list[CaptionRecord] = []
    cut = cut_duplicates = 0
    cleaned: list[tuple[str, str]] = []  # (where, the characters replaced)
    for r in records:
        text, odd = replace_controls(str(r.caption))
        if odd:
            cleaned.append((r.where, odd))
        full = clean_caption(text, len(text) + 1)
        cap = clean_caption(text, max_words)
        if not cap:
            bad.add("empty_caption", r.where)
            continue
        key = (r.image, cap)
        if key in seen:
            once_cut = seen[key] != full  # two different captions that agree in their first max_words words
            cut_duplicates += once_cut
            bad.add("duplicate", r.where, f"{r.image!r}: {cap[:40]!r}" + (f" (a duplicate once cut to max_caption_words={max_words})"
                                                                          if once_cut else ""))
            continue
        seen[key] = full
        cut += cap != full
        kept.append(CaptionRecord(r.image, cap, r.split, r.where))
    names = sorted({r.image for r in kept})
    planned = _assign_splits(kept, names, with_split, split_order, test_fraction, seed)  # if every image reads
    held = {split: [n for n in names if (planned or {}).get(n, "train") == split] for split in ("train", "test")}
    if check_memory:
        _check_memory(source, len(held["train"]) + len(held["test"]), size, memory_hint)
    buffers = {split: torch.empty((len(ids), 3, size, size), dtype=torch.uint8) for split, ids in held.items()}
    row_of = {n: (split, i) for split, ids in held.items() for i, n in enumerate(ids)}
    scratch = torch.empty((3, size, size), dtype=torch.uint8)  # a val image: read to check it, not kept
    failed: set[str] = set()
    for name in progress_bar(iterable=names, desc="reading images", disable=not progress, leave=False):
        split, row = row_of.get(name, (None, 0))
        try:
            image_to_pixels(open_image(name), size, out=buffers[split][row] if split else scratch)
        except FileNotFoundError:
            failed.add(name)
            bad.add("missing_image", name)
        except NotAnImageFile as exc:
            failed.add(name)
            bad.add("unreadable_image", name, str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever an image decoder raises on a bad file (PIL raises many kinds)
            failed.add(name)
            from PIL import UnidentifiedImageError

            reason = "" if isinstance(exc, UnidentifiedImageError) or not str(exc) else str(exc).splitlines()[0][:80]
            bad.add("unreadable_image", name, f"{type(exc).__name__}{': ' + reason if reason else ''}")
    del scratch
    # each dropped row counted once, under its first reason: a failed image counts one of its rows (as
    # missing_image / unreadable_image), its other rows are captions_of_dropped_images
    further_rows = sum(1 for r in kept if r.image in failed) - len(failed)
    dropped = bad.resolve(on_bad, source)
    bad.count("captions_of_dropped_images", further_rows)  # after resolve: a consequence, not a problem of its own
    if cut:  # kept, shortened: counted in the report (and so the manifest and card), not dropped
        bad.count("cut_captions", cut)
        log.info("%s: %d caption(s) longer than max_caption_words=%d words were cut to %d%s", source, cut, max_words, max_words,
                 f"; {cut_duplicates} further caption(s) became duplicates once cut (counted as duplicates)" if cut_duplicates else "")
    bad.count("cleaned_captions", 0)
    bad.extend("cleaned_captions", cleaned)  # after resolve: kept (changed), not a problem that stops loading
    if cleaned:
        log.warning("%s: %d caption(s) hold control or bidi characters, which would reach the exported captions and terminals "
                    "raw; each such character was replaced by a space: %s", source, len(cleaned),
                    "; ".join(f"{w} ({c})" for w, c in cleaned[:3]) + (" ..." if len(cleaned) > 3 else ""))
    if further_rows:
        dropped["captions_of_dropped_images"] = further_rows
    kept = [r for r in kept if r.image not in failed]
    if not kept:
        raise DataError(f"{source}: no usable image-caption pair is left")
    split_of = planned if not failed else _assign_splits(kept, sorted({r.image for r in kept}), with_split, split_order,
                                                         test_fraction, seed)
    if split_of is None:
        raise DataError(f"{source}: {len({r.image for r in kept})} image(s) cannot be split into train and test")
    unused_val = len({r.image for r in kept if split_of[r.image] == "val"})
    bad.count("same_image", 0)
    if root is not None:  # from what the opener recorded as it read each image (its own files under root)
        recorded = open_image.files if isinstance(open_image, FileOpener) and open_image.root == root else None
        _refuse_same_images(same_image_groups(root, sorted(n for n in split_of if split_of[n] in ("train", "test")), recorded),
                            split_of, bad, source)
    rows_of = {split: [r for r in kept if split_of[r.image] == split] for split in ("train", "test")}
    for split, rows in rows_of.items():
        if not rows:
            raise DataError(f"{source}: the {split} split is empty after reading "
                            f"({len(kept)} usable captions of {len(split_of)} images)")
    ids_of = {split: sorted({r.image for r in rows}) for split, rows in rows_of.items()}
    images = _split_images(buffers, row_of, ids_of)
    del buffers
    splits = {}
    for split, rows in rows_of.items():
        index = {n: i for i, n in enumerate(ids_of[split])}
        splits[split] = PairSplit(
            images=images.pop(split),
            image_ids=ids_of[split],
            captions=[r.caption for r in rows],
            caption_image=torch.tensor([index[r.image] for r in rows], dtype=torch.long),
            pixel_norm=(tuple(float(v) for v in mean), tuple(float(v) for v in std)),
        )
    return LoadedSplits(splits["train"], splits["test"], dropped, unused_val, bad)


#: bytes of host memory per decoded value that :func:`build_splits` needs: each image is decoded straight into its row of
#: its split's uint8 tensor (8-bit pixels, normalised per batch when read; float32 before session 49: 4 bytes); an image
#: that fails under ``on_bad=skip`` without a ``split`` column can move images between the planned splits, and a split
#: copied anew doubles its share
BYTES_PER_VALUE = 1


def _check_memory(source: str, count: int, size: int, hint: str | None) -> None:
    """DataError, before anything is decoded, when ``count`` RGB images of ``size`` x ``size`` cannot fit as 8-bit
    pixels (:data:`BYTES_PER_VALUE`) in the host's available memory (:func:`mmdistill.memory.host_shortfall`); ``hint``
    names the key that lowers the size (None: fewer images are the way; :func:`~modalities.artifacts.check_images_fit`)."""
    check_images_fit(source, count, (3, size, size), BYTES_PER_VALUE, stored_as="8-bit pixels",
                     lower=f"pass {hint}" if hint else "read fewer images (the image size is the image encoder's input size)")


def _assign_splits(kept: list[CaptionRecord], names: list[str], with_split: list[CaptionRecord], split_order: str,
                   test_fraction: float, seed: int) -> dict[str, str] | None:
    """Image name -> ``train``, ``test`` or ``val`` for the images ``names`` (sorted) of ``kept``: the split the
    records name (``restval`` is train), else the last ``test_fraction`` of the names (sorted, or in the order drawn
    from ``seed``) are test. None when they cannot be split (fewer than two images)."""
    if with_split:
        return {r.image: ("train" if r.split in TRAIN_SPLITS else str(r.split)) for r in kept}
    if split_order == "random":
        order = torch.randperm(len(names), generator=generator(seed, "image_text_split")).tolist()
        names = [names[i] for i in order]
    n_test = held_count(len(names), test_fraction)
    if n_test < 1:
        return None
    return {n: ("test" if i >= len(names) - n_test else "train") for i, n in enumerate(names)}


def _split_images(buffers: dict[str, Tensor], row_of: Mapping[str, tuple[str, int]],
                  ids_of: Mapping[str, list[str]]) -> dict[str, Tensor]:
    """Each split's images (``ids_of[split]``, in that order) from the planned ``buffers`` they were decoded into
    (``row_of``: image -> (buffer, row); a buffer's rows follow its images' sorted names): the buffer itself when it
    holds exactly them (nothing failed), else the buffer compacted in place when they all lie in it (the rows of failed
    images dropped; no copy of the split), else a new tensor gathered from the buffers (images moved between splits)."""
    in_place: dict[str, str] = {}
    for split, ids in ids_of.items():
        sources = {row_of[n][0] for n in ids}
        if len(sources) == 1 and (source := sources.pop()) not in in_place.values():
            in_place[split] = source
    result: dict[str, Tensor] = {}
    for split, ids in ids_of.items():  # gathered first: a buffer compacted in place no longer holds rows where row_of says
        if split not in in_place:
            some = next(iter(buffers.values()))
            out = torch.empty((len(ids), *some.shape[1:]), dtype=some.dtype)
            for j, name in enumerate(ids):
                source, i = row_of[name]
                out[j].copy_(buffers[source][i])
            result[split] = out
    for split, source in in_place.items():
        buf = buffers[source]
        for j, name in enumerate(ids_of[split]):
            i = row_of[name][1]
            if i != j:  # rows ascend with the names, so i > j: row i is read before anything is written over it
                buf[j].copy_(buf[i])
        n = len(ids_of[split])  # a view keeps its buffer's storage: copied when it would hold more than twice its rows
        result[split] = buf if n == len(buf) else buf[:n] if 2 * n >= len(buf) else buf[:n].clone()
    return result


__all__ = [
    "BadInput", "CaptionRecord", "FileOpener", "ImageFile", "LoadedSplits", "NotAnImageFile", "build_splits", "same_image_groups", "canonical_image_paths", "clean_caption", "file_opener", "replace_controls", "image_to_pixels", "image_to_tensor",
    "read_csv_records", "read_folder_records", "read_json_records", "shapes_records",
]
