"""The image datasets known by name (``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``, ``svhn``;
``imagefolder`` is :mod:`.folder`'s, ``tinyimagenet``'s files :mod:`.tiny`'s): their names and aliases, standard statistics and file layouts, the data root
(made for a download by :func:`~modalities.sources.made_root`) and reading their own files (scikit-learn's digits, idx
files, torchvision's classes) into pixels in [0, 1]. :func:`~.datasets.load_image_dataset` normalises them."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from mmdistill.aligned_tensors import read_exactly
from mmdistill.errors import ConfigError, DataError
from mmdistill.memory import host_shortfall

from ..safe_pickle import guarded_loading
from ..sources import dataset_name, made_root, root_path

#: Standard per-channel (mean, std) in [0, 1] pixel units of the known datasets' training splits.
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2861,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    # ImageNet's, as the references normalise Tiny ImageNet (DatasetCondensation utils.py:68-73 at 53f63a6,
    # mtt-distillation utils.py:68-73 at 50dccea, TESLA utils.py:39-44), not statistics of its own training split
    "tinyimagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
ALIASES = {
    "fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "cifar-10": "cifar10", "cifar_10": "cifar10", "cifar-100": "cifar100", "cifar_100": "cifar100",
    "tiny-imagenet": "tinyimagenet", "tiny_imagenet": "tinyimagenet", "tiny-imagenet-200": "tinyimagenet",
    "tinyimagenet200": "tinyimagenet", "tiny": "tinyimagenet",  # MTT's and TESLA's --dataset=Tiny
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
    "tinyimagenet": "ROOT/tiny-imagenet-200/ (tiny-imagenet-200.zip unzipped) or ROOT/tiny-imagenet-200.zip",
}

#: the test split each named dataset gives, in words (its ``test_fraction`` and ``split_seed`` draw nothing: the adapter
#: warns of them when set); ``digits`` has none (drawn), an ImageFolder tree says its own (its load report's ``layout``)
OWN_SPLITS = {
    "mnist": "its train and t10k idx files", "fashion-mnist": "its train and t10k idx files",
    "cifar10": "its data_batch_1 ... data_batch_5 and test_batch files", "cifar100": "its train and test files",
    "svhn": "train_32x32.mat and test_32x32.mat", "tinyimagenet": "train/ and val/ (val/ is the test split)",
}

Split = tuple[Tensor, Tensor, Tensor, Tensor, list[str]]  # x_train, y_train, x_test, y_test, classes


def list_image_datasets() -> list[str]:
    """Canonical names accepted by :func:`load_image_dataset` (aliases such as ``cifar-10`` also work)."""
    return ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "tinyimagenet", "imagefolder"]


def canonical_name(name: str) -> str:
    """Lower-case canonical dataset name for ``name`` or one of its aliases, or ``name`` itself (as spelt) when
    :func:`~.registered.register_tensors` registered it; ConfigError (key ``dataset``) if unknown
    (:func:`~modalities.sources.dataset_name`, naming the closest names and the registered ones).
    Images in memory given as ``dataset`` (a tensor or an array; the config refuses them first) are refused with the
    route the image adapter has for them: :func:`~.registered.register_tensors`, then ``dataset=`` its name."""
    from ..in_memory import choices_words
    from .registered import registered_images, registered_names

    if isinstance(name, str) and registered_images(name) is not None:
        return name
    if not isinstance(name, str):
        got = f"a {type(name).__name__} of shape {tuple(name.shape)}" if hasattr(name, "shape") else f"a {type(name).__name__}"
        raise ConfigError(f"dataset must be a dataset name (a string), got {got}: images in memory are given a name first, "
                          "mmdistill.modalities.image.register_tensors('mine', x_train, y_train, x_test, y_test, classes), "
                          f"then dataset='mine'; names: {', '.join(list_image_datasets())} "
                          f"{choices_words(registered_names())}", key="dataset")
    return dataset_name(name, list_image_datasets(), ALIASES, "image", also=choices_words(registered_names()))


def _need_root(root: str | Path | None, key: str, download: bool = False) -> Path:
    if root is None or str(root) == "":
        hint = f" (expected layout: {LAYOUTS[key]})" if key in LAYOUTS else ""
        raise DataError(f"dataset {key!r} needs a local root: pass data_root (--data-root PATH){hint}")
    path = root_path(root)
    if path.exists():
        if not path.is_dir():
            raise DataError(f"data root {path} of dataset {key!r} is not a directory")
        return path
    if download and key in LAYOUTS:
        return made_root(path, key)
    hint = f"; pass download=True (--download) when online, or put the files there as {LAYOUTS[key]}" if key in LAYOUTS else ""
    raise DataError(f"data root {path} does not exist (dataset {key!r}){hint}")


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

    The header's dimensions say how many bytes of data the file holds: the data is read (gunzipped as a stream) into an
    array of that size and never further, so a small ``.gz`` whose stream inflates to gigabytes (a gzip bomb) is refused
    as padded after one byte past the declared size, and a header declaring more than the memory available is refused
    before anything is allocated. Raises DataError naming ``path`` when the file is unreadable, not an idx file,
    truncated, padded or larger than the memory available.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with (gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw) as fh:
                return _read_idx_stream(fh, path)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read idx file {path} (truncated or damaged?): {exc}") from None


def _read_idx_stream(fh: BinaryIO, path: Path) -> np.ndarray:
    """The idx array of the (gunzipped) stream ``fh`` of file ``path``: its header, then exactly the bytes it declares."""
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path} is not an idx file (bad magic number)")
    if magic[2] != 0x08:
        raise DataError(f"idx file {path} holds type 0x{magic[2]:02x}, expected 0x08 (unsigned bytes)")
    ndim = magic[3]
    dims_bytes = fh.read(4 * ndim)
    if ndim == 0 or len(dims_bytes) < 4 * ndim:
        raise DataError(f"idx file {path} is truncated (incomplete header)")
    dims = [int.from_bytes(dims_bytes[4 * i : 4 * i + 4], "big") for i in range(ndim)]
    expected = math.prod(dims)
    if available := host_shortfall(expected):
        raise DataError(f"idx file {path} declares shape {dims} ({expected / 2**30:.1f} GiB of data), more than the "
                        f"{available / 2**30:.1f} GiB of memory available here: not read (a damaged or hostile file)")
    try:
        data = np.empty(expected, dtype=np.uint8)  # pages are taken as they are filled: a truncated file costs its size
    except (MemoryError, ValueError):
        raise DataError(f"idx file {path} declares shape {dims} ({expected} bytes of data), more than this process can "
                        "allocate: not read (a damaged or hostile file)") from None
    got = read_exactly(fh, memoryview(data))
    if got < expected:
        raise DataError(f"idx file {path} is truncated: {got} bytes of data, expected {expected} for shape {dims}")
    if fh.read(1):
        raise DataError(f"idx file {path} is padded: more than the {expected} bytes of data its shape {dims} declares "
                        "(not read further)")
    return data.reshape(dims)


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

