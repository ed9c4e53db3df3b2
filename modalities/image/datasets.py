"""Image datasets as in-memory tensors: scikit-learn's digits (embedded), torchvision's MNIST,
Fashion-MNIST, CIFAR-10/100 and SVHN from a local root, the original MNIST idx files, and any ImageFolder
tree. Every loader returns an :class:`ImageDataset` normalised per channel; bad input raises
:class:`~mmdistill.errors.DataError` naming the file, folder or class.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError

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


@dataclass
class ImageDataset:
    """Train and test images (N, C, H, W) float32 normalised with ``mean``/``std`` (per channel, in [0, 1]
    pixel units), integer labels (N,), class names."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def denormalize(self, x: Tensor) -> Tensor:
        """Normalised images back to [0, 1] pixel units (not clamped)."""
        m = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return x * s + m


def list_image_datasets() -> list[str]:
    return ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder"]


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in list_image_datasets():
        raise DataError(f"unknown image dataset {name!r}; choose from {', '.join(list_image_datasets())}")
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
) -> ImageDataset:
    """Load ``name`` (see :func:`list_image_datasets`) into memory, normalised.

    ``root`` is required for every dataset but ``digits``. ``image_size`` and ``channels`` apply to
    ImageFolder trees (and resize/convert any dataset when given). ``mean``/``std`` default to the
    dataset's standard statistics, or to those computed on the training split.
    """
    key = canonical_name(name)
    if key == "digits":
        x_tr, y_tr, x_te, y_te, classes = _digits(test_fraction, seed)
    elif key == "imagefolder":
        x_tr, y_tr, x_te, y_te, classes = _image_folder(_need_root(root, key), image_size, channels, test_fraction, seed)
    elif key in ("mnist", "fashion-mnist"):
        x_tr, y_tr, x_te, y_te, classes = _mnist_like(key, _need_root(root, key), download)
    else:
        x_tr, y_tr, x_te, y_te, classes = _torchvision(key, _need_root(root, key), download)
    if image_size is not None and key != "imagefolder":
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        x_tr, x_te = (torch.nn.functional.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False) for t in (x_tr, x_te))
    if channels is not None and key != "imagefolder" and x_tr.shape[1] != channels:
        x_tr, x_te = (_convert_channels(t, channels) for t in (x_tr, x_te))
    if mean is None or std is None:
        known = STATS.get(key) if (image_size is None and channels is None) else None
        if known and known[0].__len__() == x_tr.shape[1]:
            mean, std = known
        else:
            mean = tuple(float(v) for v in x_tr.mean(dim=(0, 2, 3)))
            std = tuple(max(float(v), 1e-6) for v in x_tr.std(dim=(0, 2, 3)))
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ImageDataset(key, (x_tr - m) / s, y_tr.long(), (x_te - m) / s, y_te.long(), list(classes), tuple(mean), tuple(std))


def _need_root(root: str | Path | None, key: str) -> Path:
    if root is None or str(root) == "":
        raise DataError(f"dataset {key!r} needs a local root: pass data_root (--data-root PATH)")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data root {path} does not exist (dataset {key!r})")
    return path


def _convert_channels(x: Tensor, channels: int) -> Tensor:
    if channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1) if x.shape[1] == 3 else None
        return (x * w).sum(1, keepdim=True) if w is not None else x.mean(1, keepdim=True)
    return x.expand(-1, channels, -1, -1).contiguous() if x.shape[1] == 1 else x[:, :channels]


# --------------------------------------------------------------------------- digits
def _digits(test_fraction: float, seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(d.target, dtype=torch.long)
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=d.target, random_state=seed)
    idx_tr, idx_te = torch.as_tensor(np.sort(idx_tr)), torch.as_tensor(np.sort(idx_te))
    return x[idx_tr], y[idx_tr], x[idx_te], y[idx_te], [str(i) for i in range(10)]


# --------------------------------------------------------------------------- MNIST-like (idx files)
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _find_idx(root: Path, stem: str) -> Path | None:
    for folder in (root, root / "raw", root / "MNIST" / "raw", root / "FashionMNIST" / "raw"):
        for suffix in ("", ".gz"):
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gzipped or not) into a uint8 array; DataError names a damaged file."""
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read idx file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"idx file {path} is truncated (header)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims)) if dims else 0
    if len(data) - header != expected:
        raise DataError(f"idx file {path} is truncated or padded: {len(data) - header} bytes of data, expected {expected} for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _mnist_like(key: str, root: Path, download: bool):
    found = {split: [_find_idx(root, s) for s in stems] for split, stems in IDX_FILES.items()}
    if all(p is not None for ps in found.values() for p in ps):
        out = []
        for split in ("train", "test"):
            img_path, lab_path = found[split]
            images, labels = read_idx(img_path), read_idx(lab_path)  # type: ignore[arg-type]
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise DataError(f"{img_path} and {lab_path} disagree: {images.shape} images, {labels.shape} labels")
            out += [torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))]
        return (*out, MNIST_CLASSES if key == "mnist" else FASHION_CLASSES)
    return _torchvision(key, root, download)


# --------------------------------------------------------------------------- torchvision classes
def _torchvision(key: str, root: Path, download: bool):
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10,
           "cifar100": datasets.CIFAR100, "svhn": datasets.SVHN}[key]

    def make(train: bool):
        kw = {"split": "train" if train else "test"} if key == "svhn" else {"train": train}
        return cls(str(root), download=download, **kw)

    try:
        train, test = make(True), make(False)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
        raise DataError(
            f"{key} was not found under {root} ({exc}). Pass download=true (--download) when online, or put the "
            f"files torchvision's {cls.__name__} expects under that root"
        ) from None
    except OSError as exc:  # offline download, permissions
        raise DataError(f"could not get {key} into {root}: {exc}. This machine may be offline; copy the files there instead") from None

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


# --------------------------------------------------------------------------- ImageFolder trees
def _image_files(folder: Path) -> list[Path]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def _scan_tree(root: Path) -> dict[str, list[Path]]:
    if not root.is_dir():
        raise DataError(f"data root {root} is not a directory")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"data root {root} is empty: expected one sub-folder of images per class")
    tree = {d.name: _image_files(d) for d in class_dirs}
    for name, files in tree.items():
        if not files:
            raise DataError(f"class folder {root / name} is empty: it holds no image files")
    return tree


def _read_images(files: list[Path], image_size: int | tuple[int, int] | None, channels: int | None) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    first: dict[str, tuple[Path, object]] = {}
    arrays = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                mode = img.mode
                if channels is None:
                    if mode not in ("L", "RGB"):  # greyscale-like modes to L, colour-like ones to RGB
                        img = img.convert("L" if mode in ("1", "LA", "I", "I;16", "F") else "RGB")
                    first.setdefault("mode", (path, img.mode))
                    if img.mode != first["mode"][1]:
                        raise DataError(
                            f"mixed image modes: {first['mode'][0]} is {first['mode'][1]} but {path} is {img.mode}; "
                            "pass channels=1 or channels=3 (--channels) to convert all images"
                        )
                else:
                    img = img.convert("L" if channels == 1 else "RGB")
                if size is not None:
                    img = img.resize((size[1], size[0]), Image.BILINEAR)
                else:
                    first.setdefault("size", (path, img.size))
                    if img.size != first["size"][1]:
                        raise DataError(
                            f"mixed image sizes: {first['size'][0]} is {first['size'][1][0]}x{first['size'][1][1]} but {path} "
                            f"is {img.size[0]}x{img.size[1]}; pass image_size=N (--image-size N) to resize all images"
                        )
                arr = np.asarray(img, dtype=np.uint8)
        except DataError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
        arrays.append(arr[:, :, None] if arr.ndim == 2 else arr)
    stacked = np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return torch.from_numpy(stacked)


def _image_folder(root: Path, image_size, channels, test_fraction: float, seed: int):
    split_dirs = {s: root / s for s in ("train", "test", "val") if (root / s).is_dir()}
    if "train" in split_dirs and ("test" in split_dirs or "val" in split_dirs):
        train_tree = _scan_tree(split_dirs["train"])
        test_root = split_dirs.get("test", split_dirs.get("val"))
        test_tree = _scan_tree(test_root)  # type: ignore[arg-type]
        classes = sorted(train_tree)
        missing = [c for c in test_tree if c not in train_tree]
        if missing:
            raise DataError(f"{test_root} has class folders {missing} that {split_dirs['train']} lacks")
        train_files = [(f, classes.index(c)) for c in classes for f in train_tree[c]]
        test_files = [(f, classes.index(c)) for c in sorted(test_tree) for f in test_tree[c]]
    else:
        tree = _scan_tree(root)
        classes = sorted(tree)
        gen = torch.Generator().manual_seed(seed)
        train_files, test_files = [], []
        for label, c in enumerate(classes):
            files = tree[c]
            order = torch.randperm(len(files), generator=gen).tolist()
            n_test = int(round(len(files) * test_fraction)) if len(files) > 1 else 0
            n_test = min(max(n_test, 1 if len(files) > 1 else 0), len(files) - 1)
            test_files += [(files[i], label) for i in sorted(order[:n_test])]
            train_files += [(files[i], label) for i in sorted(order[n_test:])]
        if not test_files:
            raise DataError(f"{root}: every class holds a single image, nothing is left for a test split")
    x = _read_images([f for f, _ in train_files + test_files], image_size, channels)
    n_tr = len(train_files)
    y = torch.tensor([label for _, label in train_files + test_files], dtype=torch.long)
    return x[:n_tr], y[:n_tr], x[n_tr:], y[n_tr:], classes
