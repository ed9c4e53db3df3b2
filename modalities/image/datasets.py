"""Image datasets as in-memory tensors.

Sources (one small loader function each):

* ``digits`` -- scikit-learn's 1,797 8x8 hand-written digits, embedded (no root, no download). Pixel values
  0..16 are scaled to [0, 1]; the train/test split is scikit-learn's ``train_test_split`` stratified by
  class with ``test_fraction`` and ``seed`` (1,437 / 360 images at the default 0.2; a recipe passes its ``split_seed``, 0
  by default, so every distillation seed is scored on the same 360 images).
* ``mnist``, ``fashion-mnist`` -- a root that directly holds the four original idx files, gzipped or not
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``; Debian's ``dataset-fashion-mnist`` installs them in
  ``/usr/share/datasets/fashion-mnist``), or torchvision's layout (``root/MNIST/raw``,
  ``root/FashionMNIST/raw``), or torchvision's download.
* ``cifar10``, ``cifar100``, ``svhn`` -- torchvision's dataset classes over a local root (``download=True``
  fetches the files when the machine is online).
* ``tinyimagenet`` -- the ``tiny-imagenet-200`` release, unzipped or its zip (:mod:`.tiny`): ``train/`` for training,
  ``val/`` (labelled by ``val_annotations.txt``) for testing, as the dataset-distillation references score it;
  ``download=True`` fetches the zip from CS231N and reads it as it is.
* ``imagefolder`` -- any tree ``root/<class>/<image>`` (or ``root/train/<class>/...`` with ``root/test`` or
  ``root/val``).
* a name given to :func:`~.registered.register_tensors` -- images already in memory (N, C, H, W), uint8 or float in
  [0, 1], with their own train and test split; resized, converted and normalised as the named sets are.

Every loader returns an :class:`ImageDataset` normalised per channel; bad input raises
:class:`~mmdistill.errors.DataError` naming the file, folder or class, bad arguments
:class:`~mmdistill.errors.ConfigError`. An ImageFolder entry the loader does not read (a file of another
type, a hidden file or folder, a link to a folder inside a class folder -- class folders, the data root and its
``train``/``test``/``val`` folders may be links --, a file outside the class folders, a folder the train/test
layout does not use) is logged as a warning and listed in :attr:`ImageDataset.report`, never dropped unseen. An
image read otherwise than as stored is counted there too: turned upright by its EXIF orientation tag (logged), and,
each in a warning, a multi-frame file read as its first frame, transparency dropped, an image enlarged to
``image_size``.

This module loads a source into an :class:`ImageDataset` (resized, converted, normalised); the named datasets' files
are :mod:`.named`'s, ImageFolder trees :mod:`.folder`'s and reading image files into pixels :mod:`.decode`'s (import
their names from those modules; this one re-exports only the few the loader's callers use, in ``__all__``).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import LoadReport
from mmdistill.mean_std import spell_mean_std

from ..in_memory import GIVEN_SPLIT, unit_pixels
from ..sources import check_test_fraction, removed_on_failure
from .config import channel_mismatch, check_resize
from .decode import FOLDER_BYTES_PER_VALUE, _check_memory, to_8bit
from .folder import REPORT_KINDS, _image_folder
from .registered import registered_images
from .named import OWN_SPLITS, STATS, _digits, _mnist_like, _need_root, _torchvision, canonical_name, list_image_datasets, read_idx
from .tiny import load_tiny

log = logging.getLogger(__name__)


@dataclass
class ImageDataset:
    """An image classification set held in memory.

    ``x_train`` (N, C, H, W) and ``x_test`` (M, C, H, W) are float32, normalised per channel as
    ``(pixel - mean) / std`` with pixels in [0, 1]; ``y_train`` (N,) and ``y_test`` (M,) are int64 class
    indices into ``classes``. ``mean``/``std`` have one entry per channel, in [0, 1] pixel units.
    ``report`` (:class:`mmdistill.load_report.LoadReport`) says what an ImageFolder load did not take as it was:
    entries not read (kind ``ignored``: count and names), images read otherwise than as stored (kinds
    ``exif_rotated``, ``first_frame_only``, ``alpha_dropped``, ``upscaled``: count and names, see
    :data:`REPORT_KINDS`), and as facts the classes without test images (``classes_without_test``) and Pillow's
    decoding notes (``decoding_warnings``); the other datasets, read whole from their own files, leave it empty
    (no root), but for Tiny ImageNet's (its images are files too). ``class_ids``: the classes' ids where the names are
    not them (Tiny ImageNet's WordNet ids), in label order; empty otherwise.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    report: LoadReport = field(default_factory=LoadReport)
    class_ids: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def denormalize(self, x: Tensor) -> Tensor:
        """Normalised images (N, C, H, W) back to [0, 1] pixel units (not clamped)."""
        return denormalize(x, self.mean, self.std)


def denormalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """``x * std + mean`` per channel for images (N, C, H, W): normalised values back to [0, 1] pixel units."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x * s + m


def load_image_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    check_memory: bool = True,
    progress: bool = False,
    resize: str = "squeeze",
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    stats_key: str | None = None,
) -> ImageDataset:
    """Load ``name`` (see :func:`list_image_datasets`) into memory, normalised.

    Args:
        name: dataset name or alias (``fashion-mnist``/``fashionmnist``, ``cifar10``/``cifar-10``, ...).
        root: local directory of the data; ignored for ``digits``, required otherwise.
        image_size: side length, or (height, width), to resize every image to (bilinear, antialiased).
            Required for an ImageFolder tree whose images differ in size.
        resize: how an ImageFolder image is made ``image_size`` (:data:`~.config.RESIZE_MODES`): ``squeeze``, the whole
            image (the aspect ratio not kept), or ``center_crop``, scaled keeping its aspect ratio until it covers
            ``image_size``, then cut about the centre (MTT's ImageNet subsets). The built-in datasets are square and
            resized as tensors, which either mode gives alike.
        channels: 1 (grayscale) or 3 (RGB) to convert every image; required for an ImageFolder tree that
            mixes grayscale and colour images.
        mean, std: per-channel normalisation in [0, 1] pixel units. Default: the standard statistics of
            MNIST, Fashion-MNIST, CIFAR-10/100 and SVHN (unless resized or converted); otherwise computed on
            the training split.
        download: let torchvision fetch MNIST/Fashion-MNIST/CIFAR/SVHN into ``root`` (needs a network).
        test_fraction: held-out fraction per class for ``digits`` (stratified, scikit-learn
            ``train_test_split``) and for ImageFolder trees without a test split.
        seed: seed of those held-out splits (a recipe passes its ``split_seed``, not its ``seed``: the split is the
            data's, the same for every distillation seed).
        check_memory: refuse, before decoding, a set whose float32 pixels cannot fit in the host's available
            memory (``memory_check=false`` in a recipe turns it off).
        progress: show a progress bar (tqdm, on stderr) while an ImageFolder's images are read (a recipe's
            ``progress``; the other datasets are read whole from their own files).
        use_cache: keep an ImageFolder's or Tiny ImageNet's decoded images (uint8) in the decoded-image cache and read
            them from it when the same files are loaded with the same settings (:mod:`.pixel_cache`; a recipe's
            ``cache``); the tensors are the same as a decode's, bit for bit.
        cache_dir: the cache's folder (a recipe's ``cache_dir``); None: ``<cache>/image``.
        stats_key: the configuration key ``mean`` and ``std`` were given as (the image adapter's ``normalization``):
            the error of a count that is not the images' channel count names it and what to give instead.

    Raises:
        DataError: the data is missing, empty, corrupt or inconsistent (the message names the path).
        ConfigError: an argument is out of range.
    """
    key = canonical_name(name)
    size = _check_args(image_size, channels, test_fraction)
    check_resize(resize, image_size)
    report = LoadReport(descriptions=dict(REPORT_KINDS))
    class_ids: list[str] = []
    if (held := registered_images(key)) is not None:  # copies: the normalisation below is in place
        if root is not None and str(root) != "":
            log.warning("data_root %s is not read: dataset %r is images in memory (register_tensors)", root, key)
        x_tr, y_tr, x_te, y_te, classes = (unit_pixels(held.x_train), held.y_train.clone(), unit_pixels(held.x_test),
                                           held.y_test.clone(), list(held.classes))
        report.facts.update(held.report.facts)  # a class the test split lacks (the card's fact)
        if (x_tr.shape[1] != x_te.shape[1] and channels is None) or (x_tr.shape[2:] != x_te.shape[2:] and size is None):
            raise DataError(f"dataset {key!r} (register_tensors): x_train holds images of {tuple(x_tr.shape[1:])} and x_test "
                            f"of {tuple(x_te.shape[1:])}; register both splits alike, or pass image_size (and channels) to "
                            "make them one shape")
    elif key == "digits":
        if root is not None and str(root) != "":
            log.warning("data_root %s is not read: the digits dataset is built in (scikit-learn)", root)
        x_tr, y_tr, x_te, y_te, classes = _digits(test_fraction, seed)
    elif key == "imagefolder":
        x_tr, y_tr, x_te, y_te, classes = _image_folder(_need_root(root, key), size, channels, test_fraction, seed,
                                                        report, check_memory, progress, resize, use_cache, cache_dir)
    elif key == "tinyimagenet":
        with removed_on_failure(root, download):
            (x_tr, y_tr, x_te, y_te, classes), class_ids = load_tiny(root, size, channels, download, report, check_memory, progress,
                                                           use_cache, cache_dir)
    else:
        with removed_on_failure(root, download):  # a failed (offline) download leaves no empty folders behind
            path = _need_root(root, key, download)
            if key in ("mnist", "fashion-mnist"):
                x_tr, y_tr, x_te, y_te, classes = _mnist_like(key, path, download)
            else:
                x_tr, y_tr, x_te, y_te, classes = _torchvision(key, path, download)
    if key not in ("imagefolder", "tinyimagenet"):  # their images are resized and converted as they are read
        if size is not None and (tuple(x_tr.shape[-2:]) != size or tuple(x_te.shape[-2:]) != size):  # registered splits may differ
            if check_memory:
                _check_memory(len(x_tr) + len(x_te), channels or int(x_tr.shape[1]), size, f"dataset {key!r}",
                              f"image_size={image_size!r}")
            try:
                x_tr, x_te = (_resize(x, size) if tuple(x.shape[-2:]) != size else x for x in (x_tr, x_te))
            except (RuntimeError, MemoryError) as exc:  # torch's allocator refuses (memory_check=false)
                raise ConfigError(f"dataset {key!r} at image_size={image_size!r}: {' '.join(str(exc).split())[:200]}",
                                  key="image_size") from None
        if channels is not None and (x_tr.shape[1] != channels or x_te.shape[1] != channels):  # registered splits may differ
            x_tr, x_te = (_convert_channels(t, channels) if t.shape[1] != channels else t for t in (x_tr, x_te))
    mean, std = _stats(key, x_tr, mean, std, altered=size is not None or channels is not None, stats_key=stats_key)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    for x in (x_tr, x_te):  # (x - m) / s in place: the same two float32 operations, no second copy of the set
        x.sub_(m).div_(s)  # x_tr and x_te are this load's own tensors (views of nothing the caller holds)
    return ImageDataset(key, x_tr, y_tr.long(), x_te, y_te.long(), list(classes), mean, std, report, class_ids)


def given_split(key: str, report: LoadReport) -> str | None:
    """The test split dataset ``key`` (canonical) gave, in words, or None when it was drawn (``test_fraction``,
    ``split_seed``): ``digits``, or an ImageFolder tree without ``test/`` or ``val/``. An ImageFolder tree's load records
    ``report.facts["split_drawn"]`` (as the video and audio-visual loaders do) and, when given, the split folders it
    read as ``report.facts["layout"]`` (:mod:`.folder`); a named set's is :data:`~.named.OWN_SPLITS`'s."""
    if key == "imagefolder":
        return None if report.facts.get("split_drawn", True) else str(report.facts["layout"])
    if registered_images(key) is not None:
        return GIVEN_SPLIT
    return OWN_SPLITS.get(key)


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_args(image_size: int | tuple[int, int] | None, channels: int | None, test_fraction: float) -> tuple[int, int] | None:
    if channels is not None and not (_is_int(channels) and channels in (1, 3)):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}", key="channels")
    check_test_fraction(test_fraction)
    if image_size is None:
        return None
    size = (image_size, image_size) if _is_int(image_size) else tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
    if len(size) != 2 or not all(_is_int(v) and v > 0 for v in size):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}", key="image_size")
    return int(size[0]), int(size[1])


def _stats(key: str, x_train: Tensor, mean, std, altered: bool,
           stats_key: str | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std): given ones, else the standard ones, else computed on ``x_train`` (N, C, H, W).
    ConfigError when given ones are not one per channel (naming ``stats_key`` when they came from that key)."""
    c = int(x_train.shape[1])
    known = STATS.get(key) if not altered else None
    if known is not None and len(known[0]) != c:
        known = None
    if mean is None:
        mean = known[0] if known else tuple(float(v) for v in x_train.mean(dim=(0, 2, 3)))
    if std is None:
        std = known[1] if known else tuple(max(float(v), 1e-6) for v in x_train.std(dim=(0, 2, 3)))
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) != c or len(std) != c:
        if stats_key is not None and len(mean) == len(std):
            raise channel_mismatch(stats_key, spell_mean_std(mean, std), len(mean), c, "the images have")
        raise ConfigError(f"mean {mean} and std {std} need one value per channel ({c} channels)")
    if any(not math.isfinite(v) for v in mean):
        raise ConfigError(f"mean values must be finite, got {mean}")
    if any(not (v > 0 and math.isfinite(v)) for v in std):
        raise ConfigError(f"std values must be finite and > 0, got {std}")
    return mean, std


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, C, H, W) in [0, 1] to (N, C, *size), bilinear with antialiasing."""
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)


def _convert_channels(x: Tensor, channels: int) -> Tensor:
    """(N, C, H, W) to (N, channels, H, W): RGB to luma (ITU-R 601), or grayscale repeated."""
    if channels == 1:
        if x.shape[1] == 3:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
            return (x * w).sum(1, keepdim=True)
        return x.mean(1, keepdim=True)
    return x.expand(-1, channels, -1, -1).contiguous() if x.shape[1] == 1 else x[:, :channels].contiguous()


#: the loader and the few names of :mod:`.named` and :mod:`.decode` its callers and tests import from here (the others
#: from the module that defines them)
__all__ = ["FOLDER_BYTES_PER_VALUE", "ImageDataset", "canonical_name", "check_resize", "denormalize", "given_split", "list_image_datasets", "load_image_dataset",
           "read_idx", "to_8bit"]
