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
* ``imagefolder`` -- any tree ``root/<class>/<image>`` (or ``root/train/<class>/...`` with ``root/test`` or
  ``root/val``).

Every loader returns an :class:`ImageDataset` normalised per channel; bad input raises
:class:`~mmdistill.errors.DataError` naming the file, folder or class, bad arguments
:class:`~mmdistill.errors.ConfigError`. An ImageFolder entry the loader does not read (a file of another
type, a hidden file or folder, a link to a folder inside a class folder -- class folders, the data root and its
``train``/``test``/``val`` folders may be links --, a file outside the class folders, a folder the train/test
layout does not use) is logged as a warning and listed in :attr:`ImageDataset.report`, never dropped unseen. An
image read otherwise than as stored is counted there too: turned upright by its EXIF orientation tag (logged), and,
each in a warning, a multi-frame file read as its first frame, transparency dropped, an image enlarged to
``image_size``.
"""

from __future__ import annotations

import gzip
import logging
import math
import numbers
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.data import held_out_flags
from mmdistill.errors import ConfigError, DataError
from mmdistill.keys import clipped
from mmdistill.load_report import LoadReport
from mmdistill.words import quantity

from ..artifacts import HIDDEN, check_images_fit, classes_without_test, refuse_shared_files, scan_files
from ..safe_pickle import guarded_loading

log = logging.getLogger(__name__)

#: Standard per-channel (mean, std) in [0, 1] pixel units of the known datasets' training splits.
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2861,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
ALIASES = {
    "fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "cifar-10": "cifar10", "cifar_10": "cifar10", "cifar-100": "cifar100", "cifar_100": "cifar100",
    "image-folder": "imagefolder", "image_folder": "imagefolder", "folder": "imagefolder",
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Where each torchvision-backed dataset expects its files under ``root`` (for error messages).
LAYOUTS = {
    "mnist": "ROOT/<the four MNIST idx files, .gz or not> or ROOT/MNIST/raw/<idx files>",
    "fashion-mnist": "ROOT/<the four Fashion-MNIST idx files, .gz or not> or ROOT/FashionMNIST/raw/<idx files>",
    "cifar10": "ROOT/cifar-10-batches-py/ (cifar-10-python.tar.gz unpacked)",
    "cifar100": "ROOT/cifar-100-python/ (cifar-100-python.tar.gz unpacked)",
    "svhn": "ROOT/train_32x32.mat and ROOT/test_32x32.mat",
}

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
#: Pillow modes read as greyscale (the rest are colour)
GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L")
#: files named per kind in the log line of images read otherwise than as stored (the count covers all of them)
ALTERED_NAMES = 5
#: Pillow modes that carry an alpha band
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
#: folder names that mark a train/test layout (only ``train`` with ``test`` or ``val`` is read as one)
SPLIT_NAMES = ("train", "test", "val", "valid", "validation")
#: bytes of host memory per loaded value that resizing a whole dataset needs at least (the resized float32 pixels, then
#: their clamped copy; the normalisation after works in place)
BYTES_PER_VALUE = 8
#: bytes of host memory per loaded value that an ImageFolder load needs at least: every image decoded into one uint8
#: array, then turned into float32 pixels (scaled and normalised in place); measured peak about 5.2 (32,000 32x32 images),
#: with a margin
FOLDER_BYTES_PER_VALUE = 5.5

Split = tuple[Tensor, Tensor, Tensor, Tensor, list[str]]  # x_train, y_train, x_test, y_test, classes


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
    (no root).
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


def list_image_datasets() -> list[str]:
    """Canonical names accepted by :func:`load_image_dataset` (aliases such as ``cifar-10`` also work)."""
    return ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder"]


def canonical_name(name: str) -> str:
    """Lower-case canonical dataset name for ``name`` or one of its aliases; ConfigError (key ``dataset``) if unknown.
    Images in memory (a tensor or an array; the config refuses them first) are refused with the route the image adapter
    has for them: an ImageFolder on disk (there is no ``register_tensors`` for images)."""
    choices = ", ".join(list_image_datasets())
    if not isinstance(name, str):
        got = f"a {type(name).__name__} of shape {tuple(name.shape)}" if hasattr(name, "shape") else f"a {type(name).__name__}"
        raise ConfigError(f"dataset must be a dataset name (a string), got {got}: the image adapter does not take images "
                          "in memory; save them as an ImageFolder (one sub-folder of image files per class) and pass "
                          f"dataset=imagefolder, data_root=that folder; names: {choices}", key="dataset")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in list_image_datasets():
        from mmdistill.keys import close_matches

        close = close_matches(key, list_image_datasets())
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown image dataset {clipped(repr(name), 63)}{hint}; choose from {choices}", key="dataset")
    return key


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
) -> ImageDataset:
    """Load ``name`` (see :func:`list_image_datasets`) into memory, normalised.

    Args:
        name: dataset name or alias (``fashion-mnist``/``fashionmnist``, ``cifar10``/``cifar-10``, ...).
        root: local directory of the data; ignored for ``digits``, required otherwise.
        image_size: side length, or (height, width), to resize every image to (bilinear, antialiased).
            Required for an ImageFolder tree whose images differ in size.
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

    Raises:
        DataError: the data is missing, empty, corrupt or inconsistent (the message names the path).
        ConfigError: an argument is out of range.
    """
    key = canonical_name(name)
    size = _check_args(image_size, channels, test_fraction)
    report = LoadReport(descriptions=dict(REPORT_KINDS))
    if key == "digits":
        if root is not None and str(root) != "":
            log.warning("data_root %s is not read: the digits dataset is built in (scikit-learn)", root)
        x_tr, y_tr, x_te, y_te, classes = _digits(test_fraction, seed)
    elif key == "imagefolder":
        x_tr, y_tr, x_te, y_te, classes = _image_folder(_need_root(root, key), size, channels, test_fraction, seed,
                                                        report, check_memory, progress)
    else:
        made = _first_missing(root) if download else None  # the folder download=True creates, if any
        path = _need_root(root, key, download)
        try:
            if key in ("mnist", "fashion-mnist"):
                x_tr, y_tr, x_te, y_te, classes = _mnist_like(key, path, download)
            else:
                x_tr, y_tr, x_te, y_te, classes = _torchvision(key, path, download)
        except DataError:
            if made is not None:  # a failed (offline) download leaves no empty folders behind
                _remove_empty_folders(made)
            raise
    if key != "imagefolder":  # ImageFolder images are resized and converted as they are read
        if size is not None and tuple(x_tr.shape[-2:]) != size:
            if check_memory:
                _check_memory(len(x_tr) + len(x_te), channels or int(x_tr.shape[1]), size, f"dataset {key!r}",
                              f"image_size={image_size!r}")
            try:
                x_tr, x_te = _resize(x_tr, size), _resize(x_te, size)
            except (RuntimeError, MemoryError) as exc:  # torch's allocator refuses (memory_check=false)
                raise ConfigError(f"dataset {key!r} at image_size={image_size!r}: {' '.join(str(exc).split())[:200]}",
                                  key="image_size") from None
        if channels is not None and x_tr.shape[1] != channels:
            x_tr, x_te = (_convert_channels(t, channels) for t in (x_tr, x_te))
    mean, std = _stats(key, x_tr, mean, std, altered=size is not None or channels is not None)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    for x in (x_tr, x_te):  # (x - m) / s in place: the same two float32 operations, no second copy of the set
        x.sub_(m).div_(s)  # x_tr and x_te are this load's own tensors (views of nothing the caller holds)
    return ImageDataset(key, x_tr, y_tr.long(), x_te, y_te.long(), list(classes), mean, std, report)


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_args(image_size: int | tuple[int, int] | None, channels: int | None, test_fraction: float) -> tuple[int, int] | None:
    if channels is not None and not (_is_int(channels) and channels in (1, 3)):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}", key="channels")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}", key="test_fraction")
    if image_size is None:
        return None
    size = (image_size, image_size) if _is_int(image_size) else tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
    if len(size) != 2 or not all(_is_int(v) and v > 0 for v in size):
        raise ConfigError(f"image_size must be a positive int or (height, width), got {image_size!r}", key="image_size")
    return int(size[0]), int(size[1])


def _check_memory(count: int, channels: int, size: tuple[int, int], what: str, cause: str,
                  bytes_per_value: float = BYTES_PER_VALUE) -> None:
    """ConfigError (``cause`` names the argument) or DataError when ``count`` images of ``channels`` x ``size``
    cannot fit, at ``bytes_per_value`` bytes a value (:data:`BYTES_PER_VALUE`, :data:`FOLDER_BYTES_PER_VALUE`), in
    the host's available memory (:func:`~modalities.artifacts.check_images_fit`)."""
    check_images_fit(what, count, (channels, *size), bytes_per_value, cause=cause,
                     error=ConfigError if cause.startswith("image_size") else DataError)


def _stats(key: str, x_train: Tensor, mean, std, altered: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std): given ones, else the standard ones, else computed on ``x_train`` (N, C, H, W)."""
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
        raise ConfigError(f"mean {mean} and std {std} need one value per channel ({c} channels)")
    if any(not math.isfinite(v) for v in mean):
        raise ConfigError(f"mean values must be finite, got {mean}")
    if any(not (v > 0 and math.isfinite(v)) for v in std):
        raise ConfigError(f"std values must be finite and > 0, got {std}")
    return mean, std


def _need_root(root: str | Path | None, key: str, download: bool = False) -> Path:
    if root is None or str(root) == "":
        hint = f" (expected layout: {LAYOUTS[key]})" if key in LAYOUTS else ""
        raise DataError(f"dataset {key!r} needs a local root: pass data_root (--data-root PATH){hint}")
    if not isinstance(root, (str, os.PathLike)):
        raise ConfigError(f"data_root must be a path (str or Path), got {type(root).__name__} {root!r}", key="data_root")
    path = Path(root).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DataError(f"data root {path} of dataset {key!r} is not a directory")
        return path
    if download and key in LAYOUTS:
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise DataError(f"cannot create data root {path} for dataset {key!r}: {exc}") from None
        return path
    hint = f"; pass download=True (--download) when online, or put the files there as {LAYOUTS[key]}" if key in LAYOUTS else ""
    raise DataError(f"data root {path} does not exist (dataset {key!r}){hint}")


def _first_missing(root: object) -> Path | None:
    """The top-most folder of ``root`` that does not exist yet (None when ``root`` exists or is not a path)."""
    if not isinstance(root, (str, os.PathLike)) or str(root) == "":
        return None
    path, top = Path(root).expanduser(), None
    while not path.exists() and path != path.parent:
        path, top = path.parent, path
    return top


def _remove_empty_folders(top: Path) -> None:
    """Remove ``top`` and the folders under it that hold nothing (files are never removed)."""
    for folder, _, _ in os.walk(top, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:
            pass


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


# --------------------------------------------------------------------------- digits
def _digits(test_fraction: float, seed: int) -> Split:
    """scikit-learn's digits, (1797, 1, 8, 8) in [0, 1], stratified split (sorted indices within each side)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.long)
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=d.target, random_state=seed)
    idx_tr, idx_te = torch.as_tensor(np.sort(idx_tr)), torch.as_tensor(np.sort(idx_te))
    return x[idx_tr], y[idx_tr], x[idx_te], y[idx_te], [str(i) for i in range(10)]


# --------------------------------------------------------------------------- MNIST-like (idx files)
def _idx_folders(key: str, root: Path) -> list[Path]:
    sub = "MNIST" if key == "mnist" else "FashionMNIST"
    return [root, root / "raw", root / sub / "raw"]


def _find_idx(folder: Path, stem: str) -> Path | None:
    for suffix in ("", ".gz"):
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file of unsigned bytes (gzipped or not) into a uint8 array of the shape its header gives.

    Raises DataError naming ``path`` when the file is unreadable, not an idx file, truncated or padded.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read idx file {path} (truncated or damaged?): {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an idx file (bad magic number)")
    if data[2] != 0x08:
        raise DataError(f"idx file {path} holds type 0x{data[2]:02x}, expected 0x08 (unsigned bytes)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"idx file {path} is truncated (incomplete header)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        state = "truncated" if len(data) - header < expected else "padded"
        raise DataError(f"idx file {path} is {state}: {len(data) - header} bytes of data, expected {expected} for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_idx_pair(img_path: Path, lab_path: Path, num_classes: int) -> tuple[Tensor, Tensor]:
    """Images (N, 1, H, W) float32 in [0, 1] and labels (N,) int64 from an idx image/label pair."""
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3:
        raise DataError(f"{img_path} holds shape {list(images.shape)}, expected (N, H, W) images")
    if labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{img_path} and {lab_path} disagree: {len(images)} images, labels of shape {list(labels.shape)}")
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(f"{lab_path} holds label {int(labels.max())}, expected 0..{num_classes - 1}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def _mnist_like(key: str, root: Path, download: bool) -> Split:
    """MNIST or Fashion-MNIST from the first folder that holds all four idx files, else via torchvision."""
    from torchvision import datasets

    classes = list((datasets.MNIST if key == "mnist" else datasets.FashionMNIST).classes)
    stems = [s for pair in IDX_FILES.values() for s in pair]
    for folder in _idx_folders(key, root):
        found = [_find_idx(folder, s) for s in stems]
        if all(found):
            x_tr, y_tr = _read_idx_pair(found[0], found[1], len(classes))  # type: ignore[arg-type]
            x_te, y_te = _read_idx_pair(found[2], found[3], len(classes))  # type: ignore[arg-type]
            if x_tr.shape[1:] != x_te.shape[1:]:
                raise DataError(f"{found[0]} and {found[2]} hold images of different sizes")
            return x_tr, y_tr, x_te, y_te, classes
        if any(found) and not download:
            missing = [s for s, p in zip(stems, found) if p is None]
            raise DataError(
                f"{folder} holds only part of {key}: missing {', '.join(f'{m}[.gz]' for m in missing)}. "
                f"Copy the missing files there, or pass download=True (--download) when online"
            )
    return _torchvision(key, root, download)


# --------------------------------------------------------------------------- torchvision classes
def _torchvision(key: str, root: Path, download: bool) -> Split:
    """MNIST/Fashion-MNIST/CIFAR-10/CIFAR-100/SVHN through torchvision, as (N, C, H, W) in [0, 1]."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10,
           "cifar100": datasets.CIFAR100, "svhn": datasets.SVHN}[key]

    def make(train: bool):
        kw = {"split": "train" if train else "test"} if key == "svhn" else {"train": train}
        with guarded_loading():  # CIFAR's batches are pickles: read by the restricted unpickler, never run
            return cls(str(root), download=download, **kw)

    try:
        train, test = make(True), make(False)
    except DataError:  # a pickle refused by the restricted reader: its message names the file and the global
        raise
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, URLError, pickle and OS errors
        detail = " ".join(str(exc).split())[:300]
        local = _diagnose_files(key, cls, root)
        if download:
            found = f" (the local copy: {local})" if local else ""
            raise DataError(
                f"could not download {key} into {root}: {type(exc).__name__}: {detail}{found}. This machine may be "
                f"offline; copy the files there instead, laid out as {LAYOUTS[key]}"
            ) from None
        if local:
            raise DataError(
                f"{key} under {root}: {local}. Put the original files there as {LAYOUTS[key]}, or pass "
                "download=True (--download) when online"
            ) from None
        raise DataError(
            f"{key} was not found (or is damaged) under {root}: {detail}. Pass download=True (--download) when "
            f"online, or put the files there as {LAYOUTS[key]}"
        ) from None

    def tensors(ds) -> tuple[Tensor, Tensor]:
        data = ds.data
        arr = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        if arr.ndim == 3:  # (N, H, W)
            arr = arr[:, None]
        elif arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):  # (N, H, W, C)
            arr = arr.transpose(0, 3, 1, 2)
        labels = ds.labels if hasattr(ds, "labels") else ds.targets
        return torch.from_numpy(arr.astype(np.float32) / 255.0), torch.as_tensor(np.asarray(labels), dtype=torch.long)

    x_tr, y_tr = tensors(train)
    x_te, y_te = tensors(test)
    classes = list(getattr(train, "classes", [])) or [str(i) for i in range(int(y_tr.max()) + 1)]
    return x_tr, y_tr, x_te, y_te, classes


def _diagnose_files(key: str, cls, root: Path) -> str | None:
    """After torchvision failed on CIFAR or SVHN: the first expected file that is missing or differs from the
    original (torchvision's MD5), named; None when every file looks right or for other datasets."""
    from torchvision.datasets.utils import check_integrity

    try:
        if key in ("cifar10", "cifar100"):
            folder = root / cls.base_folder
            if not folder.is_dir():
                if root.name == cls.base_folder or (root / cls.train_list[0][0]).is_file():
                    return f"{root} is the {cls.base_folder} folder itself; pass its parent {root.parent} as the data root"
                return f"folder {folder} is missing"
            expected = [(folder / name, md5) for name, md5 in cls.train_list + cls.test_list]
            expected.append((folder / cls.meta["filename"], cls.meta["md5"]))
        elif key == "svhn":
            expected = [(root / cls.split_list[s][1], cls.split_list[s][2]) for s in ("train", "test")]
        else:
            return None
        for path, md5 in expected:
            if not path.is_file():
                return f"{path} is missing"
            if not check_integrity(str(path), md5):
                return f"{path} is not the original file (its MD5 differs: truncated, damaged or altered)"
    except OSError as exc:
        return f"cannot read its files ({exc})"
    return None


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


def _subfolders(folder: Path) -> list[Path]:
    """The non-hidden folders directly in ``folder`` (a link to a folder counts: class folders may be links)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


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


def to_8bit(img, path: Path):
    """16-bit grayscale (``I;16*``, or an ``I`` PNG, as older Pillow opens 16-bit PNGs) scaled to 8-bit ``L``
    (value / 257, rounded); other 32-bit integer or float
    images (``I``, ``F``) kept when their values are whole numbers in 0..255, else DataError naming the file
    (their scale is not stated: a float image in [0, 1] would otherwise turn black)."""
    from PIL import Image

    def scaled(arr: np.ndarray):
        return Image.fromarray(np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8), mode="L")

    if img.mode.startswith("I;16"):
        return scaled(np.asarray(img))
    if img.mode == "I" and getattr(img, "format", None) == "PNG":  # older Pillow opens a 16-bit PNG as mode I
        return scaled(np.asarray(img))  # (a PNG holds at most 16 bits a sample)
    if img.mode in ("I", "F"):
        arr = np.asarray(img)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        fractional = img.mode == "F" and math.isfinite(lo) and math.isfinite(hi) and bool(np.any(arr != np.rint(arr)))
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi > 255 or fractional:
            kind = "32-bit integer" if img.mode == "I" else "floating-point"
            what = "fractional values" if fractional and 0 <= lo and hi <= 255 else "values"
            raise DataError(
                f"image {path} is {kind} (mode {img.mode}) with {what} from {lo:g} to {hi:g}, not whole numbers in "
                "the 8-bit range 0..255 the loader reads, and has no stated scale; save it as an 8-bit or "
                "16-bit image"
            )
    return img


def _frame_count(img) -> int:
    """How many frames (pages) an opened, not yet loaded, PIL image holds; 1 for a single image, and for an MPO
    (a JPEG whose further pictures -- a phone's HDR gain map or depth map, a stereo view -- follow the photo)."""
    if getattr(img, "format", None) == "MPO":
        return 1
    n = int(getattr(img, "n_frames", 1) or 1)
    if n > 1:
        img.seek(0)  # counting may have moved to a later frame (TIFF)
    return n


def _stored_size(img) -> tuple[int, int]:
    """(width, height) of an opened PIL image as its file stores the pixels: a TIFF's own tags (Pillow already gives
    a TIFF turned by its orientation tag the turned size), else ``img.size``."""
    tags = getattr(img, "tag_v2", None) if getattr(img, "format", None) == "TIFF" else None
    width, height = (tags.get(256), tags.get(257)) if tags is not None else (None, None)
    return (int(width), int(height)) if isinstance(width, int) and isinstance(height, int) else img.size


def exif_orientation(img) -> int | None:
    """The EXIF Orientation tag (0x0112) of a PIL image when it asks for a turn or a flip (2..8), else None (no
    EXIF, orientation 1, or an EXIF block Pillow cannot parse: the pixels are then read as stored)."""
    try:
        value = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block does not make the pixels unreadable
        return None
    return int(value) if isinstance(value, int) and 2 <= value <= 8 else None


def upright(img: Any) -> tuple[Any, str | None]:
    """A PIL image just opened from a file, loaded (decoded fully, so a truncated file fails here) and turned upright
    by its EXIF orientation tag as photo viewers show it, and how (``"orientation 6: stored 64x32, read as 32x64"``;
    None when it was read as stored): the rule of :func:`_read_images`, for image-text, video frames and audio-visual
    frames (see :func:`_turn_upright`)."""
    img, orientation, stored = _turn_upright(img)
    return img, None if orientation is None else _turned(orientation, stored, img)


def _turn_upright(img: Any) -> tuple[Any, int | None, tuple[int, int]]:
    """(the image loaded and turned upright, its EXIF orientation when that asked for a turn or a flip else None, its
    stored (width, height)). Pillow's TIFF loader turns a TIFF itself as it loads it (dropping the tag), so a TIFF's
    tag is read first, and its stored size from its own tags (Pillow reports the turned one). A turned image keeps its
    ``format`` (:func:`to_8bit` tells an older Pillow's 16-bit PNG, mode I, by it)."""
    from PIL import ImageOps

    stored = _stored_size(img)
    turned_on_load = exif_orientation(img) if img.format == "TIFF" else None
    img.load()  # decode fully, so truncated files fail here
    orientation = turned_on_load or exif_orientation(img)
    if orientation is not None and turned_on_load is None:
        fmt = img.format
        img = ImageOps.exif_transpose(img)
        img.format = fmt
    return img, orientation, stored


def _turned(orientation: int, stored: tuple[int, int], img: Any) -> str:
    return f"orientation {orientation}: stored {stored[0]}x{stored[1]}, read as {img.size[0]}x{img.size[1]}"


def _has_transparency(img) -> bool:
    """Whether a PIL image has a pixel that is not fully opaque: an alpha band (``RGBA``, ``LA``, ``PA`` ...) below
    255 somewhere, or a transparent colour or palette entry (``transparency`` in ``img.info``) that is used.
    Images without either (ordinary ``RGB``/``L``) are answered without touching their pixels."""
    if img.mode in ALPHA_MODES:
        return img.getchannel("A").getextrema()[0] < 255
    if "transparency" not in img.info or img.mode not in ("1", "L", "P", "RGB"):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's palette note is the decode's own (decoding_warnings), not this check's
        return img.convert("RGBA").getchannel("A").getextrema()[0] < 255


def to_channels(img: Any, path: Path, channels: int, changed: dict[str, list[tuple[Path, str]]]) -> Any:
    """An 8-bit PIL image as ``channels`` (1: ``L``, 3: ``RGB``), the reader's rule; grey read as colour or colour as grey
    is noted in ``changed["channels_converted"]`` as ``(path, how)``."""
    if (img.mode in GREY_MODES) != (channels == 1):
        changed.setdefault("channels_converted", []).append((path, f"mode {img.mode} read as {'greyscale' if channels == 1 else 'RGB'}"))
    return img.convert("L" if channels == 1 else "RGB")


def to_size(img: Any, path: Path, size: tuple[int, int], changed: dict[str, list[tuple[Path, str]]]) -> Any:
    """A PIL image resized to ``size`` (H, W) with PIL's bilinear (antialiased when shrinking), the whole image, the
    reader's rule; one smaller in width or height is noted in ``changed["upscaled"]`` as ``(path, how)``."""
    from PIL import Image

    if img.size[0] < size[1] or img.size[1] < size[0]:
        changed.setdefault("upscaled", []).append((path, f"{img.size[0]}x{img.size[1]} enlarged to {size[1]}x{size[0]}, width x height"))
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return img


def _read_images(files: list[Path], size: tuple[int, int] | None, channels: int | None, check_memory: bool = True,
                 notes: dict | None = None, altered: dict[str, list[tuple[Path, str]]] | None = None,
                 progress: bool = False) -> np.ndarray:
    """Read ``files`` with PIL into one uint8 array (N, H, W, C), each image decoded into its place (the array is
    made once the first image gives its shape; :func:`_unit_pixels` turns it into float32), resized to ``size``
    (H, W) and converted to ``channels`` when given; otherwise DataError on mixed sizes or modes, naming two files.
    ``progress`` shows a bar (:func:`mmdistill.logs.progress_bar`) while they are read. 16-bit
    grayscale is scaled to 8 bits. Pillow's warnings (a large image, a palette with transparency) are logged
    once per kind with a count and the first file, and kept in ``notes``.

    An image is turned upright by its EXIF orientation tag (:func:`PIL.ImageOps.exif_transpose`) before its size
    is compared or changed. Images read otherwise than as stored go to ``altered`` as kind -> [(path, how)]
    (kinds of :data:`ALTERED_KINDS`: ``exif_rotated``; ``first_frame_only``, a multi-page TIFF or animated
    PNG/WebP; ``alpha_dropped``, transparent pixels read as the colour stored under them; ``upscaled``, smaller
    than ``size`` in width or height; ``channels_converted``, greyscale read as colour or colour as greyscale to
    ``channels``). Their pixels are read as before; an image with none of these (no EXIF
    orientation, one frame, opaque, not enlarged) is read exactly as it is stored."""
    from PIL import Image, UnidentifiedImageError

    from mmdistill.logs import progress_bar

    first: dict[str, tuple[Path, object]] = {}
    pixels: np.ndarray | None = None  # (N, H, W, C) uint8, made when the first image gives the shape
    caught: dict[str, list] = {} if notes is None else notes
    changed: dict[str, list[tuple[Path, str]]] = {} if altered is None else altered
    with progress_bar(total=len(files), desc="reading images", unit="img", disable=not progress, leave=False) as bar:
        for index, path in enumerate(files):
            try:
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")  # Pillow's DecompressionBombWarning and palette notes
                    with Image.open(path) as img:
                        frames = _frame_count(img)
                        img, orientation, stored = _turn_upright(img)
                        if frames > 1:
                            unit = "pages" if img.format == "TIFF" else "frames"
                            changed.setdefault("first_frame_only", []).append(
                                (path, f"{frames} {unit}, only the first read"))
                        if orientation is not None:
                            changed.setdefault("exif_rotated", []).append((path, _turned(orientation, stored, img)))
                        img = to_8bit(img, path)
                        if _has_transparency(img):
                            how = f"mode {img.mode}" + ("" if img.mode in ALPHA_MODES else " with a transparent colour")
                            changed.setdefault("alpha_dropped", []).append((path, how))
                        if channels is None:
                            if img.mode not in ("L", "RGB"):  # grayscale-like modes to L, colour-like ones to RGB
                                img = img.convert("L" if img.mode in ("1", "LA", "La", "I", "F") else "RGB")
                            first.setdefault("mode", (path, img.mode))
                            if img.mode != first["mode"][1]:
                                raise DataError(
                                    f"mixed image modes: {first['mode'][0]} is {first['mode'][1]} but {path} is {img.mode}; "
                                    "pass channels=1 or channels=3 (--channels) to convert all images"
                                )
                        else:
                            img = to_channels(img, path, channels, changed)
                        if size is not None:
                            img = to_size(img, path, size, changed)
                        else:
                            turned = f" (turned upright by its EXIF orientation {orientation}; stored {stored[0]}x{stored[1]})" \
                                if orientation is not None else ""
                            first.setdefault("size", (path, img.size, turned))
                            w0, h0 = first["size"][1]  # type: ignore[misc]
                            if img.size != (w0, h0):
                                raise DataError(
                                    f"mixed image sizes: {first['size'][0]} is {w0}x{h0}{first['size'][2]} but {path} is "
                                    f"{img.size[0]}x{img.size[1]}{turned} (width x height, as photo viewers show them); pass "
                                    "image_size=N (--image-size N) to resize all images"
                                )
                        arr = np.asarray(img, dtype=np.uint8)
                for w in seen:
                    entry = caught.setdefault(w.category.__name__, [0, str(path), " ".join(str(w.message).split())[:200]])
                    entry[0] += 1
            except DataError:
                raise
            except MemoryError:
                raise DataError(f"out of memory while reading image {path} (resized to {size}); pass a smaller image_size "
                                "(--image-size N)" if size else f"out of memory while reading image {path}") from None
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise DataError(f"cannot read image {path} (corrupt or not an image?): {exc}") from None
            if pixels is None:
                shape = (len(files), *arr.shape[:2], arr.shape[2] if arr.ndim == 3 else 1)
                if check_memory:
                    _check_memory(len(files), shape[3], shape[1:3], f"images such as {path}",
                                  f"image_size={size[0] if size[0] == size[1] else size}" if size else "their stored size",
                                  FOLDER_BYTES_PER_VALUE)
                try:
                    pixels = np.empty(shape, dtype=np.uint8)
                except MemoryError:
                    raise DataError(f"out of memory for {len(files)} images of {shape[3]}x{shape[1]}x{shape[2]} such as "
                                    f"{path}; pass a smaller image_size (--image-size N)") from None
            pixels[index] = arr.reshape(pixels.shape[1:])  # same size and channels as the first (checked above)
            bar.update(1)
    for kind, (count, path, message) in caught.items():
        log.warning("%d image(s) gave %s while decoding; the first, %s: %s", count, kind, path, message)
    if pixels is None:  # no files (a class folder always holds one: _scan_tree)
        raise DataError("no images to read")
    return pixels


def _unit_pixels(pixels: np.ndarray) -> Tensor:
    """uint8 images (N, H, W, C) as float32 (N, C, H, W) in [0, 1], ``value / 255`` in float32, converted and scaled
    in place in one float32 array. Its memory keeps the channels-last order of ``pixels``, as ``astype`` of their
    channels-first view did: the layout, hence the summation order of the statistics, is that of earlier loads."""
    n, h, w, c = pixels.shape
    out = np.empty((n, h, w, c), dtype=np.float32)
    np.copyto(out, pixels, casting="safe")  # exact: every uint8 is a float32
    np.divide(out, np.float32(255.0), out=out)
    x = torch.from_numpy(out)
    return x.permute(0, 3, 1, 2) if c > 1 else x.view(n, 1, h, w)


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
                  report: LoadReport | None = None, check_memory: bool = True, progress: bool = False) -> Split:
    """An ImageFolder tree: ``root/train`` + ``root/test`` (or ``root/val``) when present, else ``root``
    (or ``root/train`` alone) with ``test_fraction`` held out per class. Labels follow sorted class names.
    What is not read is logged and summarised in ``report`` (see :attr:`ImageDataset.report`). The images are
    decoded into one uint8 array, then each split becomes its own float32 tensor (peak: the float32 pixels and
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
        train_files = [(f, classes.index(c)) for c in classes for f in train_tree[c]]
        test_files = [(f, classes.index(c)) for c in sorted(test_tree) for f in test_tree[c]]
        refuse_shared_files([f for f, _ in train_files], [f for f, _ in test_files], "image")
    else:
        base = train_dir if train_dir.is_dir() else root
        if base == root:
            _refuse_split_lookalikes(root)
        classes, train_files, test_files = _held_out(_scan_tree(base, ignored), test_fraction, seed, base)
        unscored_why = (f"{base} has no test split and a class needs at least two images to hold one out "
                        f"(test_fraction={test_fraction})")
    if check_memory and size is not None:  # before decoding: every image becomes at least one channel of size
        _check_memory(len(train_files) + len(test_files), channels or 1, size, f"the images under {root}",
                      f"image_size={size[0] if size[0] == size[1] else size}", FOLDER_BYTES_PER_VALUE)
    notes: dict = {}
    altered: dict[str, list[tuple[Path, str]]] = {}
    pixels = _read_images([f for f, _ in train_files + test_files], size, channels, check_memory, notes, altered, progress)
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
    """DataError when a folder of ``root`` is named like a split (``test``, ``Train``, ``valid``...) and holds
    sub-folders but no images of its own: read as a class, it would turn a split layout into wrong classes."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    for d in _subfolders(root):
        if d.name.lower() not in SPLIT_NAMES or not _subfolders(d):
            continue
        try:
            if any(p.is_file() and p.suffix.lower() in IMG_EXTENSIONS for p in d.iterdir()):
                continue
        except OSError as exc:
            raise DataError(f"cannot list folder {d}: {exc.strerror or exc}") from None
        raise DataError(
            f"{d} looks like a split folder (it holds sub-folders, no images), but {root} has no train/ folder "
            f"beside it, so it would be read as one class named {d.name!r}. A split layout is {root}/train/<class>/ "
            f"with {root}/test/<class>/ or {root}/val/<class>/ (lower case); without a test split put the class "
            f"folders directly in {root} (or in {root}/train)"
        )


def _report(report: LoadReport, root: Path, ignored: list[tuple[Path, str]], notes: dict,
            altered: dict[str, list[tuple[Path, str]]] | None = None) -> None:
    """Log (warnings) and record in ``report`` what the ImageFolder load did not take as it was: ``ignored``
    entries, Pillow's ``notes``, and the images ``altered`` (kind -> [(path, how)], :func:`_read_images`), one
    line per kind naming the first :data:`ALTERED_NAMES` (a warning; an info line for EXIF orientation, which
    reads the image as it is meant to be seen)."""
    report.root = str(root)
    report.count("ignored", 0)  # stated as 0 when every entry was read
    if ignored:
        report.extend("ignored", ((str(p), why) for p, why in ignored))
        shown = [f"{report.relative(str(p))} ({why})" for p, why in ignored[:REPORT_NAMES]]
        more = f", and {len(ignored) - REPORT_NAMES} more" if len(ignored) > REPORT_NAMES else ""
        log.warning("imagefolder: %s under %s not read: %s%s", quantity(len(ignored), "entry", "entries"), root, "; ".join(shown), more)
    for kind in ALTERED_KINDS:
        entries = sorted((altered or {}).get(kind, []), key=lambda e: str(e[0]))  # read order is train, then test
        if not entries:
            continue
        report.extend(kind, ((str(p), how) for p, how in entries))
        shown = [f"{report.relative(str(p))} ({how})" for p, how in entries[:ALTERED_NAMES]]
        more = f", and {len(entries) - ALTERED_NAMES} more" if len(entries) > ALTERED_NAMES else ""
        log.log(logging.INFO if kind == "exif_rotated" else logging.WARNING, "imagefolder: %d %s: %s%s", len(entries),
                REPORT_KINDS[kind], "; ".join(shown), more)
    if notes:
        report.facts["decoding_warnings"] = {k: {"images": v[0], "first": report.relative(v[1]), "message": v[2]}
                                             for k, v in notes.items()}
