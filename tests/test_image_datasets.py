"""Image data side: digits, ImageFolder trees, idx files, torchvision roots, preview grid and export.

Every file is generated in tmp_path with PIL or numpy; nothing is downloaded and ../shared is never read.
"""

from __future__ import annotations

import gzip
import re
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402

from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.load_report import LoadReport  # noqa: E402
from mmdistill.modalities.image.datasets import (  # noqa: E402
    list_image_datasets,
    load_image_dataset,
    read_idx,
)
from mmdistill.modalities.artifacts import export_folder_names, portable_name  # noqa: E402
from mmdistill.modalities.image.export import export_image_folder, save_preview_grid  # noqa: E402


def _png(path: Path, size: tuple[int, int] = (6, 5), mode: str = "RGB", value: int = 0) -> Path:
    """Write a small PNG of ``size`` (width, height) with a seeded pattern offset by ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


#: the load report's counts of images read otherwise than as stored, for a folder of ordinary images
NONE_ALTERED = {"exif_rotated": 0, "first_frame_only": 0, "alpha_dropped": 0, "upscaled": 0, "channels_converted": 0}


def _tree(root: Path, counts: dict[str, int], **kw) -> Path:
    for c, n in counts.items():
        for i in range(n):
            _png(root / c / f"{i}.png", value=hash((c, i)) % 1000, **kw)
    return root


# --------------------------------------------------------------------------- digits and names
def test_digits_shapes_split_and_normalisation():
    ds = load_image_dataset("digits")
    assert ds.name == "digits" and ds.num_classes == 10 and ds.in_shape == (1, 8, 8)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert len(ds.x_train) + len(ds.x_test) == 1797 and len(ds.x_test) == 360
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1.0) < 1e-2
    # stratified: every class's test share is close to 20 %
    tr, te = torch.bincount(ds.y_train, minlength=10).float(), torch.bincount(ds.y_test, minlength=10).float()
    assert torch.all((te / (tr + te) - 0.2).abs() < 0.02)
    pixels = ds.denormalize(ds.x_train)
    assert float(pixels.min()) >= -1e-5 and float(pixels.max()) <= 1 + 1e-5
    other = load_image_dataset("digits", test_fraction=0.5, seed=3)
    assert len(other.x_test) in (898, 899)


def test_aliases_and_unknown_name():
    assert "fashion-mnist" in list_image_datasets() and "imagefolder" in list_image_datasets()
    with pytest.raises(ConfigError, match="nosuchset"):
        load_image_dataset("nosuchset")
    with pytest.raises(ConfigError, match="test_fraction"):
        load_image_dataset("digits", test_fraction=1.0)


def test_images_in_memory_as_dataset_get_a_short_message_with_the_register_tensors_route():
    """A tensor passed as ``dataset`` gave "unknown image dataset 'tensor([[[[0.5457, ..." with the whole repr (2,690
    characters). Now a short message: a dataset name is expected, and images in memory are given one by
    ``register_tensors`` (walk 56H; before, an ImageFolder written to disk was the route) (a recipe's config refuses a
    tensor for the string key first: tests/test_config.py)."""
    x = torch.rand(50, 1, 9, 7)
    for value, got in ((x, r"got a Tensor of shape \(50, 1, 9, 7\)"), (x.numpy(), r"got a ndarray of shape \(50, 1, 9, 7\)"),
                       ([1, 2], r"got a list")):
        with pytest.raises(ConfigError, match=got + r": images in memory are given a name first, mmdistill.modalities.image."
                                              r"register_tensors\('mine', .*then dataset='mine'") as err:
            load_image_dataset(value)
        assert len(str(err.value)) < 400 and err.value.key == "dataset"
    with pytest.raises(ConfigError, match=r"unknown image dataset 'x{59}\.\.\.; choose from digits") as err:
        load_image_dataset("x" * 3000)  # an unknown name is cut too
    assert len(str(err.value)) < 260  # the name clipped; the choices end with the registered names (walk 56H)

# --------------------------------------------------------------------------- ImageFolder
def test_imagefolder_train_test_subdirs(tmp_path):
    _tree(tmp_path / "train", {"cat": 4, "dog": 3})
    _tree(tmp_path / "test", {"cat": 2, "dog": 1})
    ds = load_image_dataset("imagefolder", tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.in_shape == (3, 5, 6)
    assert ds.y_train.tolist() == [0] * 4 + [1] * 3 and ds.y_test.tolist() == [0, 0, 1]
    assert abs(float(ds.x_train.mean())) < 1e-4  # statistics computed on the training split
    assert len(ds.mean) == 3 and len(ds.std) == 3


def test_imagefolder_val_dir_counts_as_test(tmp_path):
    _tree(tmp_path / "train", {"a": 2, "b": 2})
    _tree(tmp_path / "val", {"a": 1, "b": 1})
    ds = load_image_dataset("imagefolder", tmp_path)
    assert len(ds.x_train) == 4 and len(ds.x_test) == 2


def test_imagefolder_held_out_split_is_seeded(tmp_path):
    _tree(tmp_path, {"a": 10, "b": 5}, mode="L")
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.2, seed=1)
    assert ds.in_shape == (1, 5, 6)
    assert torch.bincount(ds.y_test).tolist() == [2, 1] and torch.bincount(ds.y_train).tolist() == [8, 4]
    again = load_image_dataset("imagefolder", tmp_path, test_fraction=0.2, seed=1)
    assert torch.equal(ds.x_test, again.x_test)


def test_imagefolder_resize_and_channels(tmp_path):
    _png(tmp_path / "a" / "big.png", size=(20, 10))
    _png(tmp_path / "a" / "small.png", size=(7, 7), mode="L")
    _png(tmp_path / "b" / "x.png", size=(9, 12))
    _png(tmp_path / "b" / "y.png", size=(9, 12))
    ds = load_image_dataset("imagefolder", tmp_path, image_size=8, channels=3)
    assert ds.in_shape == (3, 8, 8) and len(ds.x_train) + len(ds.x_test) == 4
    converted = ds.report.as_dict()["counts"]["channels_converted"]
    assert converted == 1  # walk 38: the greyscale image read as colour was not counted (RGBA was, as alpha_dropped)
    ds = load_image_dataset("imagefolder", tmp_path, image_size=(4, 6), channels=1)
    assert ds.in_shape == (1, 4, 6) and ds.report.as_dict()["counts"]["channels_converted"] == 3


def test_resize_and_convert_builtin_set():
    ds = load_image_dataset("digits", image_size=16, channels=3)
    assert ds.in_shape == (3, 16, 16)


# --------------------------------------------------------------------------- ImageFolder errors
def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope"))):
        load_image_dataset("imagefolder", tmp_path / "nope")
    with pytest.raises(DataError, match="needs a local root"):
        load_image_dataset("imagefolder", None)


def test_empty_root(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + ".*no class folders"):
        load_image_dataset("imagefolder", tmp_path)


def test_empty_class_folder(tmp_path):
    _tree(tmp_path, {"full": 2})
    (tmp_path / "hollow").mkdir()
    (tmp_path / "hollow" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="hollow"):
        load_image_dataset("imagefolder", tmp_path)


def test_corrupt_image(tmp_path):
    _tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "b" / "x.png").write_bytes(b"\x89PNG garbage, not an image at all")
    with pytest.raises(DataError, match=r"b[/\\]x\.png"):
        load_image_dataset("imagefolder", tmp_path)


def test_truncated_image(tmp_path):
    _tree(tmp_path, {"a": 2, "b": 2})
    good = _png(tmp_path / "b" / "cut.png", size=(40, 40))
    good.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(DataError, match="cut.png"):
        load_image_dataset("imagefolder", tmp_path)


def test_mixed_sizes(tmp_path):
    _png(tmp_path / "a" / "0.png", size=(6, 5))
    _png(tmp_path / "a" / "1.png", size=(6, 5))
    _png(tmp_path / "b" / "odd.png", size=(9, 9))
    _png(tmp_path / "b" / "2.png", size=(6, 5))
    with pytest.raises(DataError, match=r"(?s)[/\\]\d\.png is 6x5.*odd\.png is 9x9.*image_size"):
        load_image_dataset("imagefolder", tmp_path)


def test_mixed_modes(tmp_path):
    _png(tmp_path / "a" / "0.png", mode="RGB")
    _png(tmp_path / "a" / "1.png", mode="RGB")
    _png(tmp_path / "b" / "gray.png", mode="L")
    _png(tmp_path / "b" / "2.png", mode="RGB")
    with pytest.raises(DataError, match=r"(?s)[/\\]\d\.png is RGB.*gray\.png is L.*channels=1"):
        load_image_dataset("imagefolder", tmp_path)


# --------------------------------------------------------------------------- idx files
def _idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    data = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _mnist_dir(root: Path, gz: bool, n_train: int = 12, n_test: int = 5) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _idx(root / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz)
        _idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz)
    return root


@pytest.mark.parametrize("gz", [False, True])
def test_idx_root(tmp_path, gz):
    root = _mnist_dir(tmp_path / "fm", gz)
    ds = load_image_dataset("fashionmnist", root)
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.classes[0] == "T-shirt/top" and ds.mean == (0.2861,) and ds.std == (0.3530,)
    assert ds.y_train.tolist() == [i % 10 for i in range(12)]
    pixels = ds.denormalize(ds.x_train)
    assert float(pixels.min()) >= -1e-5 and float(pixels.max()) <= 1 + 1e-5


def test_idx_torchvision_layout(tmp_path):
    _mnist_dir(tmp_path / "MNIST" / "raw", gz=True)
    ds = load_image_dataset("mnist", tmp_path)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.num_classes == 10


def test_read_idx_round_trip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(_idx(tmp_path / "a-idx3-ubyte", arr, gz=False)), arr)
    assert np.array_equal(read_idx(_idx(tmp_path / "b-idx3-ubyte", arr, gz=True)), arr)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx(tmp_path, gz):
    root = _mnist_dir(tmp_path / "m", gz)
    victim = root / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_image_dataset("mnist", root)


def _gzip_stream(path: Path, head: bytes, zeros: int) -> Path:
    """A gzip file of ``head`` then ``zeros`` zero bytes, compressed a MiB at a time (16 MiB of zeros: 16 KiB on disk)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    with open(path, "wb") as fh:
        fh.write(packer.compress(head))
        for start in range(0, zeros, 1 << 20):
            fh.write(packer.compress(bytes(min(1 << 20, zeros - start))))
        fh.write(packer.flush())
    return path


def test_a_gzip_bomb_idx_is_refused_after_the_bytes_its_header_declares_not_inflated_whole(tmp_path):
    """A 16 KiB ``.gz`` whose header declares 10 labels but whose stream inflates to 16 MiB (a gzip bomb; a real one
    declares GiBs) was gunzipped whole in memory before the length was compared; it is read to one byte past 10."""
    bomb = _gzip_stream(tmp_path / "train-labels-idx1-ubyte.gz", bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10), 16 << 20)
    assert bomb.stat().st_size < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is padded"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, f"reading the bomb took {peak / 2**20:.1f} MiB"


def test_an_idx_header_declaring_more_than_the_memory_is_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    """A header declaring 32 GiB of images (2^15 x 2^15 x 2^15 bytes) on a host with 1 GiB available: refused from the
    header, naming the file and the shape, not allocated nor read (it was read whole, then called truncated)."""
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 1 << 30)
    head = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 1 << 15, 1 << 15, 1 << 15)
    for gz in (False, True):
        path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(head + bytes(100)) if gz else head + bytes(100))
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte(\.gz)? declares shape \[32768, 32768, 32768\].*memory available"):
            read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_file_longer_than_its_header_says_is_refused_naming_it(tmp_path, gz):
    path = _idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(5) % 10, gz=False)
    path.write_bytes(path.read_bytes() + b"\x07")
    if gz:
        path = path.rename(path.with_name(path.name + ".gz"))
        path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte(\.gz)? is padded"):
        read_idx(path)


def test_bad_magic_idx(tmp_path):
    bad = tmp_path / "x-idx1-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78" + bytes(8))
    with pytest.raises(DataError, match="magic"):
        read_idx(bad)


def test_partial_idx_root_names_missing_file(tmp_path):
    root = _mnist_dir(tmp_path / "m", gz=False)
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_image_dataset("mnist", root)


# --------------------------------------------------------------------------- torchvision roots offline
@pytest.mark.parametrize("name", ["cifar10", "mnist", "svhn"])
def test_torchvision_missing_offline(tmp_path, name):
    with pytest.raises(DataError, match="(?s)" + re.escape(str(tmp_path)) + ".*download=True"):
        load_image_dataset(name, tmp_path, download=False)


def test_torchvision_missing_root(tmp_path):
    with pytest.raises(DataError, match="(?s)" + re.escape(str(tmp_path / "absent")) + ".*cifar-10-batches-py"):
        load_image_dataset("cifar-10", tmp_path / "absent")


# --------------------------------------------------------------------------- preview and export
def test_preview_grid_writes_png(tmp_path):
    ds = load_image_dataset("digits")
    out = save_preview_grid(ds.x_train[:40], ds.y_train[:40], ds.classes, tmp_path / "grid.png",
                            mean=ds.mean, std=ds.std, max_per_class=3, title="digits")
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as img:
        assert img.size[0] > 100 and img.size[1] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left behind
    rgb = torch.randn(6, 3, 16, 16)
    save_preview_grid(rgb, torch.tensor([0, 0, 1, 1, 2, 2]), ["x", "y", "z"], tmp_path / "rgb.png",
                      mean=(0.5,) * 3, std=(0.25,) * 3)
    assert (tmp_path / "rgb.png").is_file()


def test_export_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    pixels = torch.randint(0, 256, (6, 3, 8, 8), generator=g).float() / 255.0
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    classes = ["ant", "bee/wasp", "cat"]
    out = export_image_folder(x, labels, classes, tmp_path / "export", mean=mean, std=std)
    assert sorted(p.name for p in out.iterdir()) == ["ant", "bee_wasp", "cat", "classes.json"]
    assert sorted(p.name for p in (out / "cat").iterdir()) == ["00004.png", "00005.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # the temporary sibling is gone
    back = load_image_dataset("imagefolder", out, mean=mean, std=std, test_fraction=0.5)
    assert back.classes == ["ant", "bee_wasp", "cat"] and back.in_shape == (3, 8, 8)
    got = torch.cat([back.denormalize(back.x_train), back.denormalize(back.x_test)])
    got_y = torch.cat([back.y_train, back.y_test])
    for c in range(3):  # the same pixels (8-bit exact) under the same class, in some order
        want = pixels[labels == c].flatten(1)
        have = got[got_y == c].flatten(1)
        assert torch.allclose(have.sort(0).values, want.sort(0).values, atol=1e-5)


def test_export_grayscale_round_trip(tmp_path):
    ds = load_image_dataset("digits")
    out = export_image_folder(ds.x_train[:20], ds.y_train[:20], ds.classes, tmp_path / "e", mean=ds.mean, std=ds.std)
    back = load_image_dataset("imagefolder", out)
    assert back.in_shape == (1, 8, 8) and len(back.x_train) + len(back.x_test) == 20


def test_export_refuses_non_empty_target(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="busy"):  # the --to argument (exit 2), as run's --out
        export_image_folder(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), ["a", "b"], target, mean=(0.0,), std=(1.0,))
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an existing empty folder is fine
    export_image_folder(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), ["a", "b"], empty, mean=(0.0,), std=(1.0,))
    assert sorted(p.name for p in empty.iterdir()) == ["a", "b", "classes.json"]


def test_export_keeps_unicode_class_names_and_maps_folders_back(tmp_path):
    import json

    classes = ["CON", "a/b", "d?g", "dåg", "dög", "empty", ".hidden"]  # folder names in label order
    labels = torch.tensor([0, 1, 2, 3, 4, 6])  # "empty" has no sample: no folder, so every folder names its label
    out = export_image_folder(torch.zeros(6, 1, 4, 4), labels, classes, tmp_path / "e", mean=(0.0,), std=(1.0,))
    folders = ["000__CON", "001_a_b", "002_d_g", "003_dåg", "004_dög", None, "006_hidden"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(f for f in folders if f)
    index = json.loads((out / "classes.json").read_text(encoding="utf-8"))["classes"]
    assert [(r["label"], r["class"], r["folder"], r["samples"]) for r in index] == [
        (i, c, f, int(f is not None)) for i, (c, f) in enumerate(zip(classes, folders))]
    assert export_folder_names(["Dög", "dög", "x"]) == ["000_Dög", "001_dög", "002_x"]  # same folder on macOS / Windows
    assert export_folder_names(["e\u0301", "\u00e9"]) == ["000_é", "001_é"]  # the same name once normalised
    assert portable_name("a\x00b\tc:d*e|f\\g") == "a_b_c_d_e_f_g" and portable_name(" . ") == "class"


def test_export_folders_sort_in_label_order_for_torchvision_image_folder(tmp_path):
    """torchvision's ImageFolder (and every loader that numbers class folders by sorted name) must read label i as
    class i: Fashion-MNIST's classes are not in alphabetical order, so their folders get the label as a prefix."""
    from torchvision.datasets import ImageFolder

    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    labels = torch.arange(10)
    out = export_image_folder(torch.zeros(10, 1, 4, 4), labels, fashion, tmp_path / "f", mean=(0.0,), std=(1.0,))
    folder = ImageFolder(str(out))
    assert folder.classes[0] == "000_T-shirt_top" and folder.classes[9] == "009_Ankle boot"
    for path, y in folder.samples:  # each file's folder index is its label in the set (file i holds sample i)
        assert y == int(labels[int(Path(path).stem)])
    names = [f"c{i}" for i in range(12)]  # "c10" sorts before "c2": prefixed too, wide enough to sort
    assert export_folder_names(names)[10] == "010_c10" and export_folder_names(names) == sorted(export_folder_names(names))
    many = export_folder_names([f"n{i:04d}" for i in range(1001)][::-1])  # 1,001 classes: 4-digit prefixes
    assert many[0] == "0000_n1000" and many == sorted(many)
    assert export_folder_names(["airplane", "automobile", "bird"]) == ["airplane", "automobile", "bird"]  # CIFAR-10 as it is


def test_export_with_a_class_without_samples_keeps_labels_readable(tmp_path, caplog):
    """A class with no sample gets no folder (ImageFolder refuses an empty one), so torchvision numbers the present
    folders 0..k-1: the export says so in a warning, names every folder after its label index, and classes.json's rows
    with a folder, in order, map ImageFolder's indices back to the labels (walk 51A: 'c' read as label 1)."""
    import json
    import logging

    from torchvision.datasets import ImageFolder

    labels = torch.tensor([0, 2, 2, 3])  # "b" (label 1) has none
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.artifacts"):
        out = export_image_folder(torch.zeros(4, 1, 4, 4), labels, ["a", "b", "c", "d"], tmp_path / "e", mean=(0.0,), std=(1.0,))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["000_a", "002_c", "003_d"]
    assert "'b' (label 1)" in caplog.text and "classes.json" in caplog.text
    rows = json.loads((out / "classes.json").read_text(encoding="utf-8"))["classes"]
    mapped = [r["label"] for r in rows if r["folder"]]
    folder = ImageFolder(str(out), target_transform=mapped.__getitem__)
    assert [y for _, y in folder] == [int(labels[int(Path(p).stem)]) for p, _ in folder.samples] == [0, 2, 2, 3]
    assert export_folder_names(["a", "b"], torch.tensor([0, 1])) == ["a", "b"]  # every class present: names as they are


# --------------------------------------------------------------------------- audit: what a user's folder can hold
@pytest.fixture
def image_log(caplog):
    """caplog attached to the loader's logger directly (the CLI's logging setup may stop propagation)."""
    import logging

    logger = logging.getLogger("mmdistill.modalities.image.datasets")
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_16bit_grayscale_is_scaled_not_saturated(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(2):
            (tmp_path / c).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 65536, (5, 6), dtype=np.uint16)).save(tmp_path / c / f"{i}.png")
    with Image.open(tmp_path / "a" / "0.png") as img:
        assert img.mode.startswith("I;16")
        want = np.rint(np.asarray(img).astype(np.float64) / 257.0) / 255.0
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.5, seed=0)
    pixels = torch.cat([ds.denormalize(ds.x_train), ds.denormalize(ds.x_test)])
    assert ds.in_shape == (1, 5, 6) and float(pixels.max()) < 1.0 + 1e-5
    assert any(np.allclose(p[0].numpy(), want, atol=1e-5) for p in pixels)  # not 255 everywhere
    rgb = load_image_dataset("imagefolder", tmp_path, channels=3, test_fraction=0.5)
    assert rgb.in_shape == (3, 5, 6) and float(rgb.denormalize(rgb.x_train).std()) > 0.1


def test_float_or_32bit_image_without_a_scale_is_refused(tmp_path):
    _tree(tmp_path, {"a": 2, "b": 2}, mode="L")
    Image.fromarray(np.full((5, 6), 0.5, dtype=np.float32)).save(tmp_path / "b" / "f.tif")
    with pytest.raises(DataError, match=r"f\.tif is floating-point.*fractional"):
        load_image_dataset("imagefolder", tmp_path)
    (tmp_path / "b" / "f.tif").unlink()
    Image.fromarray(np.full((5, 6), 4000, dtype=np.int32)).save(tmp_path / "b" / "i.tif")
    with pytest.raises(DataError, match=r"i\.tif is 32-bit integer.*4000"):
        load_image_dataset("imagefolder", tmp_path)


def test_entries_not_read_are_logged_and_reported(tmp_path, image_log):
    _tree(tmp_path, {"a": 3, "b": 3})
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(tmp_path / "a" / "anim.gif")
    (tmp_path / "b" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    _png(tmp_path / "b" / ".ipynb_checkpoints" / "copy.png")
    _png(tmp_path / "loose.png")
    (tmp_path / "a" / "dead.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    _png(tmp_path / "b" / "nested" / "deep.png")  # nested folders are read
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.3)
    assert len(ds.x_train) + len(ds.x_test) == 7
    rep = ds.report.as_dict()
    assert rep["counts"] == {"ignored": 6, **NONE_ALTERED} and rep["root"] == tmp_path.name and str(tmp_path) not in str(rep)
    assert ds.report.root == str(tmp_path) and all(why for _, why in ds.report.items("ignored"))  # reasons: in the log
    for name in ("a/anim.gif", "b/._0.png", "b/.ipynb_checkpoints", "loose.png", "a/dead.png", "a/loop"):
        assert name in rep["files"]["ignored"] and name in image_log.text, name
    clean = load_image_dataset("imagefolder", _tree(tmp_path / "clean", {"a": 2, "b": 2})).report.as_dict()
    assert clean["facts"].pop("cache").startswith("wrote imagefolder-clean-")  # the decoded-image cache's entry
    assert clean["counts"] == {"ignored": 0, **NONE_ALTERED} and clean["files"] == {} and clean["facts"] == {"split_drawn": True}  # drawn (mend 55V)


def test_class_of_other_file_types_names_what_it_holds(tmp_path):
    _tree(tmp_path, {"a": 2})
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(tmp_path / "b" / "only.gif")
    with pytest.raises(DataError, match=r"(?s)class 'b'.*holds no image files.*only\.gif"):
        load_image_dataset("imagefolder", tmp_path)


@pytest.mark.parametrize("folders", [("test",), ("Train", "Test"), ("val",)])
def test_split_folders_without_train_are_not_read_as_classes(tmp_path, folders):
    for f in folders:
        _tree(tmp_path / f, {"cat": 2, "dog": 2})
    with pytest.raises(DataError, match=rf"{folders[-1]} looks like a split folder.*no train/"):
        load_image_dataset("imagefolder", tmp_path)


def test_class_named_like_a_split_still_loads(tmp_path):
    _tree(tmp_path, {"test": 2, "bus": 2})  # a class called "test" holding images is a class
    assert load_image_dataset("imagefolder", tmp_path).classes == ["bus", "test"]


def test_train_test_layout_reports_unused_folders_and_classes_without_test(tmp_path, image_log):
    _tree(tmp_path / "train", {"a": 2, "b": 2, "c": 2})
    _tree(tmp_path / "test", {"a": 1, "b": 1})
    _tree(tmp_path / "val", {"a": 1, "b": 1})
    _tree(tmp_path, {"stray": 1})
    ds = load_image_dataset("imagefolder", tmp_path)
    assert ds.classes == ["a", "b", "c"] and len(ds.x_test) == 2
    assert ds.report.facts["classes_without_test"] == ["c"]
    assert {"val", "stray"} <= set(ds.report.as_dict()["files"]["ignored"])
    assert "'c'" in image_log.text and "stray" in image_log.text


def _load_warned(root, caplog, **kw):
    """``load_image_dataset("imagefolder", root, test_fraction=0.25)`` with the adapters' warnings in ``caplog`` (the
    CLI's logging setup may stop their propagation)."""
    import logging

    logger = logging.getLogger("mmdistill.modalities.artifacts")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.artifacts"):
            return load_image_dataset("imagefolder", root, test_fraction=0.25, **kw)
    finally:
        logger.removeHandler(caplog.handler)


def test_held_out_split_warns_about_a_class_left_without_test_images(tmp_path, caplog):
    """Without a test split a class of one image stays in training: trained on, never scored. It was silent (no
    warning, nothing in the load report); now a warning names it and the report holds ``classes_without_test``."""
    _tree(tmp_path, {"3": 4, "7": 4, "11": 1})
    ds = _load_warned(tmp_path, caplog)
    assert ds.classes == ["11", "3", "7"] and len(ds.x_train) == 7 and len(ds.x_test) == 2
    assert ds.report.facts["classes_without_test"] == ["11"]
    assert "class(es) '11' have training images but no test image" in caplog.text and "needs at least two images" in caplog.text
    _tree(tmp_path / "more", {"a": 2, "b": 3})  # every class scored: no fact, no warning
    assert "classes_without_test" not in load_image_dataset("imagefolder", tmp_path / "more").report.facts


def test_a_long_tail_of_single_image_classes_is_counted_not_listed_whole(tmp_path, caplog):
    """Walk 51A: 200 classes of one image each (3 large ones) left 200 of 203 classes unscored; the warning listed all
    200 names on one line and never said how many of the classes that was. It names the first 20 and counts them."""
    _tree(tmp_path, {**{f"big{i}": 4 for i in range(3)}, **{f"s{i:03d}": 1 for i in range(40)}})
    ds = _load_warned(tmp_path, caplog)
    assert len(ds.report.facts["classes_without_test"]) == 40  # the manifest keeps every name
    line = next(r.getMessage() for r in caplog.records if "no test image" in r.getMessage())
    assert "'s019'" in line and "'s020'" not in line and "(40 in all)" in line and "(40 of 43 classes)" in line

def test_decompression_bomb_header_is_a_data_error(tmp_path):
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    _tree(tmp_path, {"a": 2, "b": 2})
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    (tmp_path / "b" / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                              + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(DataError, match=r"bomb\.png.*decompression bomb"):
        load_image_dataset("imagefolder", tmp_path)


def test_memory_check_refuses_an_image_size_that_cannot_fit(tmp_path, monkeypatch):
    _tree(tmp_path, {"a": 2, "b": 2})
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 10_000)
    with pytest.raises(ConfigError, match=r"(?s)4 images of 1x64x64 \(image_size=64\).*memory_check=false"):
        load_image_dataset("imagefolder", tmp_path, image_size=64)
    with pytest.raises(ConfigError, match=r"dataset 'digits'.*image_size=64"):
        load_image_dataset("digits", image_size=64)
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 1_000)  # 4 x 3x5x6 float32 values do not fit
    with pytest.raises(DataError, match=r"3x5x6 \(their stored size\)"):  # no resize: the images' own size is too much
        load_image_dataset("imagefolder", tmp_path)
    assert load_image_dataset("imagefolder", tmp_path, image_size=64, check_memory=False).in_shape == (3, 64, 64)


@pytest.mark.parametrize("kw, match", [
    ({"image_size": True}, "image_size"), ({"image_size": 8.0}, "image_size"), ({"channels": True}, "channels"),
    ({"test_fraction": "x"}, "test_fraction"), ({"root": 123}, "data_root"),
])
def test_bad_argument_types_are_config_errors(tmp_path, kw, match):
    _tree(tmp_path, {"a": 2, "b": 2})
    args = {"root": tmp_path, **kw}
    with pytest.raises(ConfigError, match=match):
        load_image_dataset("imagefolder", args.pop("root"), **args)
    with pytest.raises(ConfigError, match="dataset"):
        load_image_dataset(None)  # type: ignore[arg-type]


def test_digits_warns_that_a_root_is_not_read(image_log):
    load_image_dataset("digits", "/some/where")
    assert "/some/where is not read" in image_log.text


def test_cifar_and_svhn_failures_name_the_file(tmp_path):
    folder = tmp_path / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"not the original")
    with pytest.raises(DataError, match=r"data_batch_1 is not the original file"):
        load_image_dataset("cifar10", tmp_path / "c")
    with pytest.raises(DataError, match=r"cifar-10-batches-py folder itself; pass its parent"):
        load_image_dataset("cifar10", folder)
    (tmp_path / "s").mkdir()
    with pytest.raises(DataError, match=r"train_32x32\.mat is missing"):
        load_image_dataset("svhn", tmp_path / "s")


def test_adapter_stores_the_load_report_in_meta(tmp_path):
    from types import SimpleNamespace

    from mmdistill.modalities.image import MODALITY

    _tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "notes.txt").write_text("x")
    config = SimpleNamespace(dataset="imagefolder", data_root=str(tmp_path), image_size=None, channels=None,
                             download=False, test_fraction=0.5, seed=0, split_seed=0, memory_check=True)
    meta = MODALITY.load(config).meta
    assert meta["load_report"]["counts"] == {"ignored": 1, **NONE_ALTERED}
    assert meta["load_report"]["files"] == {"ignored": ["a/notes.txt"]}
    assert LoadReport.from_dict(meta["load_report"]).counts() == {"ignored": 1, **NONE_ALTERED}  # the one shape, read back
    config.data_root = None
    config.dataset = "digits"
    assert "load_report" not in MODALITY.load(config).meta


def test_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise OSError("offline (test)")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    for name in ("cifar10", "mnist"):
        with pytest.raises(DataError, match="could not download"):
            load_image_dataset(name, tmp_path / "new" / name, download=True)
    assert list(tmp_path.iterdir()) == []


def test_a_mode_i_png_is_read_as_16_bit(tmp_path):
    """Older Pillow opens a 16-bit greyscale PNG as mode I (32-bit integers); a PNG holds at most 16 bits, so it
    is scaled as a 16-bit image. A mode-I TIFF is refused (previous test)."""
    import numpy as np
    from PIL import Image

    from mmdistill.modalities.image.datasets import to_8bit

    img = Image.fromarray(np.full((2, 2), 40000, dtype=np.int32), mode="I")  # what older Pillow gives for the PNG
    img.format = "PNG"
    assert np.asarray(to_8bit(img, tmp_path / "w.png")).tolist() == [[156, 156], [156, 156]]  # 40000 / 257


# --------------------------------------------------------------------------- images read otherwise than as stored
def _pixels(ds) -> torch.Tensor:
    """Every image of ``ds``, train then test, back in [0, 1] pixel units: (N, C, H, W)."""
    return torch.cat([ds.denormalize(ds.x_train), ds.denormalize(ds.x_test)])


def _as_read(path: Path, mode: str = "RGB") -> np.ndarray:
    """The stored pixels of ``path`` converted to ``mode`` as (C, H, W) floats in [0, 1] (no EXIF turn)."""
    with Image.open(path) as img:
        arr = np.asarray(img.convert(mode), dtype=np.float32) / 255.0
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _phone_photo(path: Path, orientation: int = 6) -> Path:
    """A JPEG stored 16 wide x 8 tall with EXIF Orientation ``orientation``: 6 shows it 8 wide x 16 tall (a phone
    held upright). Its picture is a top-to-bottom gradient once turned, so a sideways read differs."""
    from PIL import ImageOps

    path.parent.mkdir(parents=True, exist_ok=True)
    upright = Image.fromarray(np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[:, None, None], (1, 8, 3)))  # 8 x 16
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the phone's sensor wrote: 16 x 8
    stored.save(path, exif=exif.tobytes(), quality=95)
    with Image.open(path) as img:
        assert img.size == (16, 8) and ImageOps.exif_transpose(img).size == (8, 16)
    return path


def test_exif_orientation_turns_phone_photos_upright(tmp_path, image_log):
    """A phone photo is stored sideways with an EXIF Orientation tag that every viewer applies. It was read as
    stored: refused as 16x8 beside 8x16 PNGs ("mixed image sizes"), or, with image_size, trained on sideways
    without a word. Now it is turned upright (PIL.ImageOps.exif_transpose) before the size check, counted as
    ``exif_rotated`` in the load report and named in one info line. (Pillow's TIFF loader turns a TIFF by its tag
    itself; that is counted too.)"""
    import logging

    from PIL import ImageOps

    for c in ("x", "y"):
        _phone_photo(tmp_path / "train" / c / "phone.jpg")
        _png(tmp_path / "train" / c / "plain.png", size=(8, 16))
        _png(tmp_path / "test" / c / "plain.png", size=(8, 16), value=3)
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(tmp_path / "train" / "y" / "turned.tif", tiffinfo={0x0112: 8})
    image_log.set_level(logging.INFO, logger="mmdistill.modalities.image.datasets")
    ds = load_image_dataset("imagefolder", tmp_path)
    assert ds.in_shape == (3, 16, 8) and ds.classes == ["x", "y"]
    with Image.open(tmp_path / "train" / "x" / "phone.jpg") as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
    assert np.allclose(ds.denormalize(ds.x_train[:1])[0].numpy(), upright, atol=1e-5)  # train/x/phone.jpg comes first
    rep = ds.report.as_dict()
    assert rep["counts"]["exif_rotated"] == 3
    assert rep["files"]["exif_rotated"] == ["train/x/phone.jpg", "train/y/phone.jpg", "train/y/turned.tif"]
    assert [how for _, how in ds.report.items("exif_rotated")] == ["orientation 6: stored 16x8, read as 8x16"] * 2 + [
        "orientation 8: stored 16x8, read as 8x16"]
    # one distinct line (caplog may hold a record twice: through the fixture's handler and the root's)
    ((level, line),) = {(r.levelno, r.getMessage()) for r in image_log.records if "EXIF orientation" in r.getMessage()}
    assert level == logging.INFO and "train/x/phone.jpg (orientation 6" in line
    (tmp_path / "mixed" / "a").mkdir(parents=True)  # photos all stored 16x8, one turned: the refusal says why they differ
    _png(tmp_path / "mixed" / "a" / "plain.png", size=(16, 8))
    _phone_photo(tmp_path / "mixed" / "a" / "phone.jpg")
    with pytest.raises(DataError, match=r"phone.jpg is 8x16 \(turned upright by its EXIF orientation 6; stored 16x8\)"):
        load_image_dataset("imagefolder", tmp_path / "mixed")


def test_images_without_an_exif_turn_are_read_exactly_as_stored(tmp_path):
    """PNGs, and a JPEG whose EXIF says orientation 1 (as stored), are read pixel for pixel as before: no turn,
    nothing counted."""
    _tree(tmp_path, {"a": 2, "b": 2})
    exif = Image.Exif()
    exif[0x0112] = 1
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)).save(
        tmp_path / "b" / "upright.jpg", exif=exif.tobytes())
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.5, seed=0)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stored = [_as_read(f) for f in files]
    got = _pixels(ds).numpy()
    assert all(any(np.allclose(g, s, atol=1e-5) for g in got) for s in stored)  # every file, as stored
    assert ds.report.as_dict()["counts"] == {"ignored": 0, **NONE_ALTERED}


def test_a_class_folder_may_be_a_link_and_is_named_in_the_log(tmp_path, image_log):
    """A class folder that is a link is read (a subset of a larger tree made of links is common; an earlier change
    today skipped it and trained on fewer classes with exit 0), and the log names where it points; inside a class
    folder links to folders are still not followed."""
    import logging

    _tree(tmp_path / "data", {"a": 2, "b": 2})
    _tree(tmp_path / "elsewhere", {"c": 2})
    (tmp_path / "data" / "c_link").symlink_to(tmp_path / "elsewhere" / "c")
    with image_log.at_level(logging.INFO):
        ds = load_image_dataset("imagefolder", tmp_path / "data")
    assert ds.classes == ["a", "b", "c_link"] and len(ds.x_train) + len(ds.x_test) == 6
    assert "1 class folder read through a link: c_link ->" in image_log.text
    (tmp_path / "split").mkdir()  # a root given as a link, and train/ and test/ links, are read
    (tmp_path / "split" / "train").symlink_to(_tree(tmp_path / "train", {"a": 2, "b": 2}))
    (tmp_path / "split" / "test").symlink_to(_tree(tmp_path / "test", {"a": 1, "b": 1}))
    (tmp_path / "split_link").symlink_to(tmp_path / "split")
    split = load_image_dataset("imagefolder", tmp_path / "split_link")
    assert split.classes == ["a", "b"] and len(split.x_train) == 4 and len(split.x_test) == 2


def test_multi_frame_images_are_read_as_their_first_frame_and_reported(tmp_path, image_log):
    """A multi-page TIFF or an animated PNG was read as its first frame without a word. It still is (pixels of
    frame 0), now counted as ``first_frame_only`` and named in a warning with the number of frames."""
    _tree(tmp_path, {"a": 2, "b": 2})
    rng = np.random.default_rng(1007)  # outside _tree's seeds 0..999 (hash((c, i)) % 1000 varies per process: seed 7 drew a
    pages = [Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)) for _ in range(3)]  # tree image equal to page 0)
    pages[0].save(tmp_path / "a" / "pages.tiff", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "b" / "anim.png", save_all=True, append_images=pages[1:2], duration=100)
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.2)
    rep = ds.report.as_dict()
    assert rep["counts"]["first_frame_only"] == 2 and rep["files"]["first_frame_only"] == ["a/pages.tiff", "b/anim.png"]
    assert dict(ds.report.items("first_frame_only")) == {str(tmp_path / "a" / "pages.tiff"): "3 pages, only the first read",
                                                          str(tmp_path / "b" / "anim.png"): "2 frames, only the first read"}
    first = np.asarray(pages[0], dtype=np.float32).transpose(2, 0, 1) / 255.0
    assert sum(np.allclose(g, first, atol=1e-5) for g in _pixels(ds).numpy()) == 2  # both read as frame 0
    assert "2 multi-frame image(s)" in image_log.text and "a/pages.tiff (3 pages, only the first read)" in image_log.text
    assert {k: n for k, n in rep["counts"].items() if n} == {"first_frame_only": 2}


def test_transparent_pixels_dropped_are_reported(tmp_path, image_log):
    """RGBA, LA and palette images with a transparent entry lost their transparency silently (the colour stored
    under a transparent pixel is read). That is still what is read, now counted as ``alpha_dropped`` and named in a
    warning; a fully opaque RGBA image loses nothing and is not counted."""
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(rgba).save(tmp_path / c / "rgba.png")
        opaque = rgba.copy()
        opaque[..., 3] = 255
        Image.fromarray(opaque).save(tmp_path / c / "opaque.png")
    la = np.stack([rng.integers(0, 256, (5, 6), dtype=np.uint8), np.full((5, 6), 128, np.uint8)], axis=-1)
    Image.fromarray(la).save(tmp_path / "a" / "la.png")
    pal = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)).convert("P")
    pal.save(tmp_path / "b" / "pal.png", transparency=int(np.asarray(pal)[0, 0]))
    ds = load_image_dataset("imagefolder", tmp_path, test_fraction=0.3, channels=3)
    rep = ds.report.as_dict()
    assert rep["counts"]["alpha_dropped"] == 4
    assert rep["files"]["alpha_dropped"] == ["a/la.png", "a/rgba.png", "b/pal.png", "b/rgba.png"]
    assert dict(ds.report.items("alpha_dropped"))[str(tmp_path / "b" / "pal.png")] == "mode P with a transparent colour"
    assert "4 image(s) with transparent pixels read without their alpha channel" in image_log.text
    want = rgba[..., :3].astype(np.float32).transpose(2, 0, 1) / 255.0  # the stored colour, as before
    assert sum(np.allclose(g, want, atol=1e-5) for g in _pixels(ds).numpy()) == 4  # rgba.png and opaque.png, twice


def test_images_enlarged_to_image_size_are_reported(tmp_path, image_log):
    """A 1x1 image was enlarged to image_size silently. Now every image smaller than image_size in width or height
    is counted as ``upscaled`` and named (the first 5) in one warning; images shrunk or already at the size are
    not."""
    _tree(tmp_path, {"a": 2, "b": 2})  # 6 x 5
    for i in range(7):
        _png(tmp_path / "b" / f"tiny{i}.png", size=(1, 1), value=i)
    ds = load_image_dataset("imagefolder", tmp_path, image_size=4)
    assert ds.report.as_dict()["counts"]["upscaled"] == 7 and ds.in_shape == (3, 4, 4)
    assert ds.report.items("upscaled")[0][1] == "1x1 enlarged to 4x4, width x height"
    (line,) = {r.getMessage() for r in image_log.records if "enlarged" in r.getMessage()}  # one line
    assert line.startswith("imagefolder: 7 image(s) smaller than image_size") and line.endswith(", and 2 more")
    assert line.count("enlarged to 4x4") == 5
    same = _tree(tmp_path / "same", {"a": 2, "b": 2})
    assert load_image_dataset("imagefolder", same, image_size=(5, 6)).report.counts()["upscaled"] == 0  # 6 x 5 already



def test_a_link_to_an_image_in_the_same_class_folder_is_one_sample(tmp_path):
    """Review 35: a clip (or image) and a link to it in a class folder were two samples, which a drawn split could put
    in train and test; the second name is named as the same file and read once."""
    import numpy as np
    from PIL import Image

    from mmdistill.modalities.artifacts import scan_files

    folder = tmp_path / "a"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(folder / "0.png")
    (folder / "1.png").symlink_to(folder / "0.png")
    files, skipped = scan_files(folder, (".png",), "other")
    assert files == [folder / "0.png"] and skipped == [(folder / "1.png", "the same file as 0.png")]


def test_a_class_folder_linked_to_another_class_folder_is_refused_naming_both(tmp_path):
    """Walk 39A #13: ``c -> b`` beside ``b`` was read as a second class with b's images (one info line). A class folder
    that is a link to a class folder beside it (or into one), to the folder holding it, or to the same folder as another
    link beside it is refused, naming both; a link to a folder of its own is still read (the test above)."""
    data = _tree(tmp_path / "data", {"a": 2, "b": 2})
    (data / "b" / "sub").mkdir()
    _png(data / "b" / "sub" / "x.png")
    (data / "c").symlink_to(data / "b")
    with pytest.raises(DataError, match=r"class folder 'c' of .*data is a link to the same folder as class folder 'b' \(c -> .*data/b\)"):
        load_image_dataset("imagefolder", data)
    (data / "c").unlink()
    (data / "c").symlink_to(data / "b" / "sub")
    with pytest.raises(DataError, match=r"class folder 'c' of .* is a link to a folder inside class folder 'b'"):
        load_image_dataset("imagefolder", data)
    (data / "c").unlink()
    (data / "c").symlink_to(data)
    with pytest.raises(DataError, match=r"class folder .*data/c is a link to .*data, the folder that holds it or one above it"):
        load_image_dataset("imagefolder", data)
    (data / "c").unlink()
    _tree(tmp_path / "elsewhere", {"e": 2})
    (data / "c").symlink_to(tmp_path / "elsewhere" / "e")
    (data / "d").symlink_to(tmp_path / "elsewhere" / "e")
    with pytest.raises(DataError, match=r"class folders 'c' and 'd' of .*data are links to one folder, .*elsewhere/e"):
        load_image_dataset("imagefolder", data)
    (data / "d").unlink()
    assert load_image_dataset("imagefolder", data).classes == ["a", "b", "c"]


def test_scan_files_checks_only_links_for_overlapping_class_folders(tmp_path):
    """:func:`check_distinct_folder` resolves nothing for a folder that is not a link, and passes a link to a folder of
    its own (outside the root, or a hidden folder beside it)."""
    from mmdistill.modalities.artifacts import check_distinct_folder, scan_files

    data = _tree(tmp_path / "data", {"a": 1, "b": 1})
    check_distinct_folder(data / "a")
    (data / ".store").mkdir()
    _png(data / ".store" / "0.png")
    (data / "c").symlink_to(data / ".store")
    files, _ = scan_files(data / "c", (".png",), "other")
    assert [f.name for f in files] == ["0.png"]


def test_a_test_image_that_is_a_training_image_through_a_link_is_refused(tmp_path):
    """A train/test tree whose test folder links (or hard-links) a training image was read as an unseen test image:
    the test score counted training samples. Refused, naming the pair; distinct files load as before."""
    import os

    for split in ("train", "test"):
        for c in "ab":
            (tmp_path / split / c).mkdir(parents=True)
    for c in "ab":
        for i in range(3):
            Image.new("L", (8, 8), 40 * i + (100 if c == "a" else 0)).save(tmp_path / "train" / c / f"{i}.png")
        Image.new("L", (8, 8), 7 + (100 if c == "a" else 0)).save(tmp_path / "test" / c / "own.png")
    assert load_image_dataset("imagefolder", str(tmp_path)).x_test.shape[0] == 2
    os.link(tmp_path / "train" / "b" / "2.png", tmp_path / "test" / "b" / "second-name.png")
    with pytest.raises(DataError, match=r"1 test image\(s\) are training images too .* e\.g\. .*second-name\.png is .*train/b/2\.png"):
        load_image_dataset("imagefolder", str(tmp_path))
