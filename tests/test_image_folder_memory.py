"""ImageFolder loading in one uint8 array, scaled and normalised in place (walk 41): the tensors equal a plain
reference computation, the peak stays near the final float32 pixels, the memory check counts that peak, and a
progress bar shows while the images are read when ``progress`` is on.

Every image is generated in tmp_path with PIL; nothing is downloaded.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402

from mmdistill.errors import DataError  # noqa: E402
from mmdistill.modalities.image import folder as image_folder  # noqa: E402
from mmdistill.modalities.image.datasets import FOLDER_BYTES_PER_VALUE, load_image_dataset  # noqa: E402


def _split_tree(root: Path, mode: str = "RGB", size: tuple[int, int] = (7, 5)) -> dict[str, list[Path]]:
    """root/train|test/<class>/<i>.png (``size`` is width x height), a seeded pattern per file; the files per split
    in the loader's order (sorted classes, sorted names)."""
    rng = np.random.default_rng(41)
    files: dict[str, list[Path]] = {"train": [], "test": []}
    for split, n in (("train", 4), ("test", 2)):
        for c in ("bird", "cat", "dog"):
            for i in range(n):
                path = root / split / c / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
                files[split].append(path)
    return files


def _reference(files: list[Path], convert: str, resize: tuple[int, int] | None = None) -> torch.Tensor:
    """(N, C, H, W) float32 in [0, 1] the plain way: PIL, numpy stack, value / 255 in float32."""
    arrays = []
    for p in files:
        with Image.open(p) as img:
            img = img.convert(convert)
            if resize is not None:
                img = img.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
            a = np.asarray(img, dtype=np.uint8)
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    return torch.from_numpy(np.stack(arrays).astype(np.float32) / np.float32(255.0)).permute(0, 3, 1, 2)


def _normalised(x: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s


def _labels(n: int) -> list[int]:
    return [c for c in range(3) for _ in range(n)]


@pytest.mark.parametrize("mode, convert, kw", [
    ("RGB", "RGB", {}),
    ("L", "L", {}),
    ("L", "RGB", {"channels": 3}),
    ("RGB", "L", {"channels": 1, "image_size": (4, 6)}),
])
def test_folder_equals_reference(tmp_path, mode, convert, kw):
    files = _split_tree(tmp_path, mode)
    ref_tr = _reference(files["train"], convert, kw.get("image_size"))
    ref_te = _reference(files["test"], convert, kw.get("image_size"))
    c = ref_tr.shape[1]
    # unit statistics: the pixels themselves, bit for bit
    raw = load_image_dataset("imagefolder", tmp_path, mean=(0.0,) * c, std=(1.0,) * c, **kw)
    assert raw.x_train.dtype == torch.float32 and raw.x_train.shape == ref_tr.shape
    assert torch.equal(raw.x_train, ref_tr) and torch.equal(raw.x_test, ref_te)
    assert raw.y_train.tolist() == _labels(4) and raw.y_test.tolist() == _labels(2)
    assert raw.y_train.dtype == torch.int64 and raw.classes == ["bird", "cat", "dog"]
    # given statistics: (x - mean) / std in float32, bit for bit
    mean, std = (0.5, 0.45, 0.4)[:c], (0.25, 0.2, 0.3)[:c]
    given = load_image_dataset("imagefolder", tmp_path, mean=mean, std=std, **kw)
    assert torch.equal(given.x_train, _normalised(ref_tr, mean, std))
    assert torch.equal(given.x_test, _normalised(ref_te, mean, std))
    # statistics of the training split (per channel, as the loader states them), then the same normalisation
    ds = load_image_dataset("imagefolder", tmp_path, **kw)
    assert np.allclose(ds.mean, ref_tr.mean(dim=(0, 2, 3)).tolist(), rtol=1e-6, atol=1e-7)
    assert np.allclose(ds.std, ref_tr.std(dim=(0, 2, 3)).tolist(), rtol=1e-5, atol=1e-7)
    assert torch.equal(ds.x_train, _normalised(ref_tr, ds.mean, ds.std))
    assert torch.equal(ds.x_test, _normalised(ref_te, ds.mean, ds.std))
    # train and test are separate tensors (either can be dropped or saved alone)
    assert ds.x_train.untyped_storage().data_ptr() != ds.x_test.untyped_storage().data_ptr()


def test_held_out_split_equals_reference(tmp_path):
    """Without a test folder: the split is the seeded held-out one, the pixels those of the files in order."""
    files = _split_tree(tmp_path / "all")
    root = tmp_path / "all" / "train"  # root/train alone: held out per class
    ds = load_image_dataset("imagefolder", tmp_path / "all" / "train", mean=(0.0,) * 3, std=(1.0,) * 3, seed=3,
                            test_fraction=0.25)
    classes, train_files, test_files = image_folder._held_out(image_folder._scan_tree(root), 0.25, 3, root)
    assert sorted(p for p, _ in train_files + test_files) == sorted(files["train"]) and len(test_files) == 3
    assert torch.equal(ds.x_train, _reference([p for p, _ in train_files], "RGB"))
    assert torch.equal(ds.x_test, _reference([p for p, _ in test_files], "RGB"))
    assert ds.y_train.tolist() == [label for _, label in train_files]


def test_peak_is_about_the_float_pixels(tmp_path):
    """numpy's allocations (tracemalloc sees them; the in-place normalisation allocates no set-sized tensor) peak at
    about the float32 pixels plus the uint8 array, not the ~3x of a list, a stack, a float copy and a scaled one."""
    rng = np.random.default_rng(0)
    for i in range(120):
        path = tmp_path / f"c{i % 3}" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    load_image_dataset("imagefolder", tmp_path)  # imports (torchvision, PIL plugins) outside the measure
    tracemalloc.start()
    try:
        ds = load_image_dataset("imagefolder", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    floats = (ds.x_train.numel() + ds.x_test.numel()) * 4
    assert peak < 1.5 * floats, (peak, floats)  # float32 + uint8 (1.25x) and the scan's small objects


def test_memory_check_counts_float_and_uint8(tmp_path, monkeypatch):
    """The check before decoding asks for FOLDER_BYTES_PER_VALUE (float32 pixels + the uint8 array) a value."""
    import mmdistill.memory

    _split_tree(tmp_path)
    asked: list[int] = []
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: asked.append(need) or 0)
    load_image_dataset("imagefolder", tmp_path)
    assert FOLDER_BYTES_PER_VALUE == 5.5 and asked == [18 * 3 * 5 * 7 * FOLDER_BYTES_PER_VALUE]
    asked.clear()
    load_image_dataset("imagefolder", tmp_path, image_size=4, channels=1)  # before decoding, then at the first image
    assert asked == [18 * 1 * 4 * 4 * FOLDER_BYTES_PER_VALUE] * 2
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: 1)
    with pytest.raises(DataError, match="memory"):
        load_image_dataset("imagefolder", tmp_path)


def test_progress_bar_while_reading(tmp_path, capsys):
    _split_tree(tmp_path)
    load_image_dataset("imagefolder", tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "reading images" in err and "/18" in err
    load_image_dataset("imagefolder", tmp_path)  # off by default, as the audio loader's
    load_image_dataset("imagefolder", tmp_path, progress=False)
    captured = capsys.readouterr()
    assert "reading images" not in captured.err and captured.out == ""
