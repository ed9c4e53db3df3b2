"""MTT's ImageNet subsets (ImageNette, ImageWoof ...): the class order its files are labelled in, turned into mmdistill's.

MTT (``GeorgeCazenavette/mtt-distillation`` at 50dccea) distils ten-class subsets of ImageNet (``--dataset=ImageNet
--subset=NAME``). ``utils.py:17-42`` lists each subset as ImageNet class indices ``L`` and ``get_dataset``
(``utils.py:104-114``) labels the images of class ``L[j]`` with ``j``: a set's label, and the row of its experts' last
layer, is the position in that list. torchvision's ImageNet numbers the classes by sorted WordNet id (wnid: it is an
ImageFolder over the split's wnid folders, ``datasets/imagenet.py:59-63`` and ``folder.py:41`` in torchvision 0.26), and
mmdistill numbers an ImageFolder's classes by sorted folder name, so over a tree of the subset's wnid folders (ImageNet's
``train/`` with ``classes=``, fast.ai's ``imagewoof2``) MTT's class ``j`` is mmdistill's class ``rank of L[j] in
sorted(L)``. ImageNette's list is ascending (nothing moves); the others are not.

Where MTT writes: sets to ``logged_files/ImageNet/<wandb run>/images_best.pt`` (``distill.py:233``: the subset is not in
the path, so ``--subset`` says it), experts to ``<buffer_path>/ImageNet/<subset>/<res>/<model>/replay_buffer_<n>.pt``
(``buffer.py:24-29``: read from the path).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from mmdistill.errors import ConfigError

#: MTT's subsets as ImageNet class indices in its label order (utils.py:18-33 at 50dccea; the comments there name the classes)
MTT_SUBSETS: dict[str, tuple[int, ...]] = {
    "imagenette": (0, 217, 482, 491, 497, 566, 569, 571, 574, 701),
    "imagewoof": (193, 182, 258, 162, 155, 167, 159, 273, 207, 229),
    "imagemeow": (281, 282, 283, 284, 285, 291, 292, 290, 289, 287),
    "imagesquawk": (84, 130, 88, 144, 145, 22, 96, 9, 100, 89),
    "imagefruit": (953, 954, 949, 950, 951, 957, 952, 945, 943, 948),
    "imageyellow": (309, 986, 954, 951, 987, 779, 599, 291, 72, 11),
}
#: ``--subset sorted``: the labels already follow the sorted folder names (a fork's ImageFolder, not MTT's ImageNet)
SORTED = "sorted"
#: the classes MTT's ImageNet path distils (utils.py:87: num_classes = 10)
MTT_SUBSET_CLASSES = 10
_WNID = re.compile(r"n\d{8}")
_CHOICES = (f"{', '.join(MTT_SUBSETS)}; ten ImageNet class indices I1,...,I10 for a subset added to MTT's Config; or {SORTED} "
            "for files whose labels already follow the sorted folder names")


def is_subset(dataset: str, value: str | None) -> bool:
    """Whether an import over ``dataset`` (its normalised name) with ``--subset value`` is of one of MTT's ImageNet subsets
    (MTT's ImageNet path: ImageNet's statistics, ``--zca``, labels in its Config's order): an ``imagefolder`` and a
    ``--subset`` other than :data:`SORTED`, read as :func:`subset_indices` reads it (any case, spaces around)."""
    return dataset == "imagefolder" and value is not None and value.strip().lower() != SORTED


def subset_indices(value: str) -> tuple[int, ...] | None:
    """The ImageNet class indices of ``--subset VALUE`` in MTT's label order (a name of :data:`MTT_SUBSETS` or
    comma-separated indices), None for ``sorted``; ConfigError naming ``--subset`` otherwise."""
    name = value.strip().lower()
    if name == SORTED:
        return None
    if name in MTT_SUBSETS:
        return MTT_SUBSETS[name]
    try:
        indices = tuple(int(v) for v in name.split(","))
    except ValueError:
        raise ConfigError(f"--subset {value!r}: expected {_CHOICES}", key="subset") from None
    if len(set(indices)) != len(indices) or min(indices) < 0 or max(indices) > 999:
        raise ConfigError(f"--subset {value!r}: the ImageNet class indices must be distinct, in 0..999", key="subset")
    return indices


def subset_in_path(where: Path) -> str | None:
    """The subset named by MTT's buffer folder ``.../ImageNet/<subset>/<res>/<model>/replay_buffer_<n>.pt`` (``where`` the
    file), None when the path is not laid out so."""
    parts = where.parts
    if len(parts) >= 5 and parts[-5] == "ImageNet" and parts[-3].isdigit():
        return parts[-4]
    return None


def stated_subset(value: str | None, where: Path, dataset: str) -> str | None:
    """The subset an import of MTT's file ``where`` over ``dataset`` is of: ``--subset value``, else the one MTT's buffer
    folder names (:func:`subset_in_path`), else None; checked before any data is loaded (what needs the dataset's classes
    is :func:`class_order`'s). ConfigError naming ``--subset`` for a value that disagrees with the path, an import over
    another dataset than ``imagefolder``, or a name or index list :func:`subset_indices` does not read."""
    said = subset_in_path(where)
    if value is None:
        value = said
    elif said and said.lower() != value.strip().lower():
        raise ConfigError(f"--subset {value}: {where} lies in MTT's folder of the {said} subset; leave --subset out", key="subset")
    if value is None:
        return None
    if dataset != "imagefolder":
        raise ConfigError(f"--subset {value}: MTT's ImageNet subsets import over --dataset imagefolder (a folder of the subset's "
                          f"wnid folders); this import is over {dataset}", key="subset")
    subset_indices(value)
    return value


def class_order(value: str | None, where: Path, dataset: str, classes: Sequence[str]) -> Tensor | None:
    """mmdistill's label of each of MTT's labels (K,) int64 for a file ``where`` of an ImageNet subset imported over
    ``dataset`` with class names ``classes`` (sorted folder names); None when nothing moves (not an ImageFolder, the
    subset ascending, ``sorted``). ``value`` is the subset :func:`stated_subset` resolved before the data was loaded
    (``--subset`` or the buffer's path; not resolved again). ConfigError naming ``--subset`` for a ten-class ImageFolder
    whose order nobody states, another class count, or folders not named by wnid (whose sorted order is not ImageNet's)."""
    if dataset != "imagefolder":
        return None
    if value is None:
        if len(classes) != MTT_SUBSET_CLASSES:
            return None  # MTT's ImageNet path is ten classes only: these files come from a fork
        raise ConfigError(f"{where}: MTT labels an ImageNet subset's classes by their place in its own list (utils.py's Config), "
                          "not by sorted folder name, and its set files do not say which subset: pass --subset NAME "
                          f"({_CHOICES})", key="subset")
    indices = subset_indices(value)
    if indices is None:
        return None
    if len(indices) != len(classes):
        raise ConfigError(f"--subset {value}: {len(indices)} classes; the dataset holds {len(classes)} ({', '.join(map(str, classes[:12]))})",
                          key="subset")
    odd = next((str(c) for c in classes if not _WNID.fullmatch(str(c))), None)
    if odd is not None:
        raise ConfigError(f"--subset {value}: the folders must be named by ImageNet wnid (n01440764 ...), whose sorted order is "
                          f"ImageNet's class order; {odd!r} is not one, so MTT's labels cannot be placed", key="subset")
    if list(map(str, classes)) != sorted(map(str, classes)):
        raise ConfigError(f"--subset {value}: the dataset numbers its classes {', '.join(map(str, classes))}, not in sorted wnid "
                          "order (ImageNet's class order), so MTT's labels cannot be placed", key="subset")
    return ranks(indices)


def resolved_subset(value: str | None, where: Path, dataset: str, resize: str | None, log: logging.Logger) -> str | None:
    """:func:`stated_subset` of ``value`` (``--subset``), ``where`` (the imported file) and ``dataset``, warned of
    (:func:`warn_subset_resize`) when the data is read with ``resize`` other than MTT's: what an import of a set and of
    experts both call, once, before the data is loaded."""
    subset = stated_subset(value, where, dataset)
    warn_subset_resize(subset, resize, log)
    return subset


def warn_subset_resize(value: str | None, resize: str | None, log: logging.Logger) -> None:
    """Warn when an import of MTT's ImageNet subset ``value`` (the stated ``--subset``: :func:`stated_subset`)
    reads its data with ``resize`` other than ``center_crop``: MTT reads the subsets ``Resize(im_size)`` then
    ``CenterCrop(im_size)`` (utils.py:93-101 at 50dccea), so an imported set is scored on, and imported experts matched
    on, images cut otherwise than those they were made from. ``sorted`` (a fork's ImageFolder) and no subset say nothing."""
    if value is None or value.strip().lower() == SORTED or resize == "center_crop":
        return
    log.warning("--subset %s: MTT reads its ImageNet subsets with Resize + CenterCrop (mtt-distillation utils.py:93-101), "
                "and this import reads the data with resize=%s (each photo squeezed to the square, its aspect ratio not "
                "kept): the imported set is scored, and its experts matched, on images unlike MTT's; add resize=center_crop "
                "(and run with it)", value, resize)


def ranks(indices: Sequence[int]) -> Tensor:
    """(K,) int64: the place of each of ``indices`` among them sorted (MTT's label j -> mmdistill's label)."""
    order = torch.argsort(torch.tensor(list(indices)))
    out = torch.empty_like(order)
    out[order] = torch.arange(len(indices))
    return out


__all__ = ["MTT_SUBSETS", "MTT_SUBSET_CLASSES", "SORTED", "class_order", "is_subset", "ranks", "resolved_subset", "stated_subset", "subset_in_path", "subset_indices",
           "warn_subset_resize"]
