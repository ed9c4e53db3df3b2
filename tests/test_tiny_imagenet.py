"""Tiny ImageNet (``--dataset tinyimagenet``) on a generated miniature of the ``tiny-imagenet-200`` release: 3 wnids of
64x64 JPEGs in the release's layout, unzipped and zipped (modalities/image/tiny.py)."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill.errors import DataError
from mmdistill.modalities.image.datasets import load_image_dataset
from mmdistill.modalities.image.named import STATS, canonical_name

WNIDS = ["n02124075", "n01443537", "n04067472"]  # wnids.txt's order is not sorted; labels follow the sorted wnids
WORDS = {"n01443537": "goldfish, Carassius auratus", "n02124075": "Egyptian cat", "n04067472": "reel",
         "n09999999": "not in this release"}
TRAIN_PER_CLASS, VAL_PER_CLASS = 3, 2


def _jpeg(path: Path, value: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    arr = rng.integers(0, 256, size=(64, 64, 3) if mode == "RGB" else (64, 64), dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path, "JPEG")


def make_release(parent: Path, *, grey: bool = False) -> Path:
    """``parent/tiny-imagenet-200`` as the release lays it out (a few images a class)."""
    base = parent / "tiny-imagenet-200"
    (base / "val").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\t{t}\n" for w, t in WORDS.items()))
    for c, wnid in enumerate(WNIDS):
        folder = base / "train" / wnid
        for i in range(TRAIN_PER_CLASS):
            _jpeg(folder / "images" / f"{wnid}_{i}.JPEG", 10 * c + i, "L" if grey and c == 0 and i == 0 else "RGB")
        (folder / f"{wnid}_boxes.txt").write_text("".join(f"{wnid}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(TRAIN_PER_CLASS)))
    lines = []
    for c, wnid in enumerate(WNIDS):
        for i in range(VAL_PER_CLASS):
            name = f"val_{c * VAL_PER_CLASS + i}.JPEG"
            _jpeg(base / "val" / "images" / name, 100 + 10 * c + i)
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63\n")
    (base / "val" / "val_annotations.txt").write_text("".join(lines))
    for i in range(2):
        _jpeg(base / "test" / "images" / f"test_{i}.JPEG", 200 + i)
    return base


def zipped(base: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for p in sorted(base.rglob("*")):
            archive.write(p, p.relative_to(base.parent).as_posix())
    return out


@pytest.fixture
def release(tmp_path):
    return make_release(tmp_path / "data")


def test_names_and_aliases_resolve_to_tinyimagenet():
    for name in ("tinyimagenet", "TinyImageNet", "tiny-imagenet", "tiny_imagenet", "tiny-imagenet-200", "Tiny"):
        assert canonical_name(name) == "tinyimagenet"


@pytest.mark.parametrize("where", ["folder", "parent", "zip", "zip_parent"])
def test_release_loads_train_and_val_with_readable_names_and_the_references_stats(release, where, tmp_path):
    root = {"folder": release, "parent": release.parent, "zip": tmp_path / "tiny-imagenet-200.zip",
            "zip_parent": tmp_path}[where]
    if where.startswith("zip"):
        zipped(release, tmp_path / "tiny-imagenet-200.zip")
        if where == "zip_parent":
            import shutil
            shutil.rmtree(release.parent)
    ds = load_image_dataset("tiny-imagenet", root)
    assert ds.name == "tinyimagenet"
    assert ds.classes == ["goldfish", "Egyptian cat", "reel"]  # sorted wnids: n01443537, n02124075, n04067472
    assert ds.class_ids == sorted(WNIDS)
    assert ds.x_train.shape == (3 * TRAIN_PER_CLASS, 3, 64, 64) and ds.x_test.shape == (3 * VAL_PER_CLASS, 3, 64, 64)
    assert torch.bincount(ds.y_train).tolist() == [TRAIN_PER_CLASS] * 3 and torch.bincount(ds.y_test).tolist() == [VAL_PER_CLASS] * 3
    assert (ds.mean, ds.std) == STATS["tinyimagenet"] == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert "test/: 2 images" in ds.report.facts["unlabelled_not_read"]
    assert ds.report.root  # the adapter stores the load report in the set's metadata


def test_val_labels_come_from_the_annotations_not_the_file_order(release):
    lines = (release / "val" / "val_annotations.txt").read_text().splitlines()
    (release / "val" / "val_annotations.txt").write_text("\n".join(reversed(lines)) + "\n")
    ds = load_image_dataset("tinyimagenet", release)
    ref = load_image_dataset("tinyimagenet", release)
    assert torch.equal(ds.y_test, ref.y_test)
    # val_0/1 are n02124075's (Egyptian cat, label 1), val_2/3 n01443537's (goldfish, label 0), val_4/5 n04067472's
    assert ds.y_test.tolist() == [1, 1, 0, 0, 2, 2]


def test_greyscale_jpegs_are_read_as_rgb_and_counted(tmp_path, caplog):
    base = make_release(tmp_path / "data", grey=True)
    with caplog.at_level(logging.WARNING):
        ds = load_image_dataset("tinyimagenet", base)
    assert ds.x_train.shape[1] == 3
    assert ds.report.counts()["channels_converted"] == 1
    assert any(r.getMessage().startswith("tinyimagenet: 1 greyscale") for r in caplog.records)


def test_missing_annotations_is_named_with_the_layout(release):
    (release / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DataError, match=r"val_annotations.txt is missing.*val/ holds 6 images"):
        load_image_dataset("tinyimagenet", release)


def test_val_sorted_into_wnid_folders_reads_without_annotations(release):
    """The val split as MTT's ImageFolder(val/images) reads it: val/images/<wnid>/*.JPEG."""
    ann = (release / "val" / "val_annotations.txt").read_text().splitlines()
    (release / "val" / "val_annotations.txt").unlink()
    for line in ann:
        name, wnid = line.split("\t")[:2]
        (release / "val" / "images" / wnid).mkdir(exist_ok=True)
        (release / "val" / "images" / name).rename(release / "val" / "images" / wnid / name)
    ds = load_image_dataset("tinyimagenet", release)
    assert torch.bincount(ds.y_test).tolist() == [VAL_PER_CLASS] * 3


def test_val_wnid_not_in_wnids_is_refused_with_its_count(release):
    path = release / "val" / "val_annotations.txt"
    path.write_text(path.read_text().replace("n04067472", "n09999999"))
    with pytest.raises(DataError, match=r"2 image\(s\) labelled with a wnid not in wnids.txt: val_4.JPEG \(n09999999, line 5\)"):
        load_image_dataset("tinyimagenet", release)


def test_annotated_file_missing_and_unlabelled_val_image_are_counted(release):
    (release / "val" / "images" / "val_0.JPEG").unlink()
    with pytest.raises(DataError, match=r"names 1 image\(s\) not found under .*val: val_0.JPEG"):
        load_image_dataset("tinyimagenet", release)
    _jpeg(release / "val" / "images" / "val_0.JPEG", 1)
    _jpeg(release / "val" / "images" / "extra.JPEG", 2)
    with pytest.raises(DataError, match=r"holds 1 image\(s\) that val_annotations.txt does not label: extra.JPEG"):
        load_image_dataset("tinyimagenet", release)


def test_unreadable_jpeg_is_named(release, tmp_path):
    bad = release / "train" / "n04067472" / "images" / "n04067472_1.JPEG"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*n04067472_1.JPEG"):
        load_image_dataset("tinyimagenet", release)
    archive = zipped(release, tmp_path / "t.zip")
    with pytest.raises(DataError, match=r"cannot read image .*t.zip/tiny-imagenet-200/train/n04067472/images/n04067472_1.JPEG"):
        load_image_dataset("tinyimagenet", archive)


def test_train_class_folder_not_in_wnids_and_missing_wnids_are_refused(release):
    _jpeg(release / "train" / "n00000001" / "images" / "x.JPEG", 3)
    with pytest.raises(DataError, match=r"1 class folder\(s\) not in wnids.txt: n00000001"):
        load_image_dataset("tinyimagenet", release)
    (release / "wnids.txt").unlink()
    with pytest.raises(DataError, match=r"wnids.txt is missing"):
        load_image_dataset("tinyimagenet", release)


def test_offline_message_names_the_url_and_layout(tmp_path):
    with pytest.raises(DataError, match=r"holds no Tiny ImageNet release.*train/<wnid>/images.*cs231n.stanford.edu/tiny-imagenet-200.zip"):
        load_image_dataset("tinyimagenet", tmp_path)
    with pytest.raises(DataError, match=r"needs a local root.*tiny-imagenet-200.zip"):
        load_image_dataset("tinyimagenet", None)


def test_damaged_zip_names_the_md5(tmp_path):
    (tmp_path / "tiny-imagenet-200.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"not a readable zip archive.*MD5 90528d7ca1a48142e341f4ef8d21d0de"):
        load_image_dataset("tinyimagenet", tmp_path)


def test_offline_download_leaves_no_folder_and_names_the_url(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvu, "download_url", offline)
    root = tmp_path / "new" / "tiny"
    with pytest.raises(DataError, match=r"could not download http://cs231n.stanford.edu/tiny-imagenet-200.zip .*offline"):
        load_image_dataset("tinyimagenet", root, download=True)
    assert not (tmp_path / "new").exists()


def test_adapter_meta_keeps_the_wnids_and_the_card_facts_name_the_licence(release):
    from mmdistill.modalities.image.adapter import DATASET_FACTS, ImageModality
    from mmdistill.recipes import image_dm

    data = ImageModality().load(image_dm.RECIPE.config(dataset="tinyimagenet", data_root=str(release), ipc=1))
    assert data.meta["class_ids"] == sorted(WNIDS) and data.meta["classes"][0] == "goldfish"
    assert "ImageNet" in DATASET_FACTS["tinyimagenet"]["licence"] and DATASET_FACTS["tinyimagenet"]["licence_id"] == "other"


def test_mtt_and_tesla_take_the_authors_tiny_imagenet_rows_with_convnet4():
    """DC-BENCH methods/tm/readme.md:74-82 (the MTT authors' Tiny commands) and --model=ConvNetD4 (tables/mtt*.yaml)."""
    from mmdistill.recipes import image_dm, image_mtt, image_tesla

    expected = {1: (10, 2, 10, 10000.0, 1e-4, None), 10: (20, 2, 40, 10000.0, 1e-4, 200), 50: (20, 2, 40, 10000.0, 1e-4, 300)}
    for recipe in (image_mtt, image_tesla):
        for ipc, row in expected.items():
            c = recipe.RECIPE.config(dataset="tiny-imagenet", ipc=ipc)
            assert (c.syn_steps, c.expert_epochs, c.max_start_epoch, c.lr_data, c.lr_lr, c.batch_syn) == row
            assert (c.network, c.zca, c.lr_student, c.batch_train) == ("convnetd4", False, None, 256)
    assert image_mtt.RECIPE.config(dataset="cifar10", ipc=1).network == "convnet"  # other datasets keep ConvNet-3
    assert image_mtt.RECIPE.config(dataset="tinyimagenet", ipc=1, network="convnet").network == "convnet"
    assert image_dm.RECIPE.config(dataset="tinyimagenet").network == "convnet"  # DM's main_DM.py default


def test_mtt_tiny_files_import_with_imagenet_stats_and_say_their_whitening(tmp_path):
    """MTT normalises Tiny with ImageNet's mean/std (utils.py:68-81) and may whiten it (--zca, DC-BENCH readme.md:34)."""
    from mmdistill.errors import ConfigError
    from mmdistill.reference import ImportOptions, mtt_whitened, pixel_stats

    mean, std = pixel_stats(ImportOptions(), "mtt", "tinyimagenet", 3, tmp_path / "images_best.pt")
    assert mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406]) and std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])
    with pytest.raises(ConfigError, match="--stats"):  # DC's tinyimagenet.pt has its own class order: not assumed
        pixel_stats(ImportOptions(), "dc", "tinyimagenet", 3, tmp_path / "res.pt")
    assert mtt_whitened(ImportOptions(), "mtt", "tinyimagenet", tmp_path / "Tiny" / "ConvNetD4" / "replay_buffer_0.pt")
    assert not mtt_whitened(ImportOptions(), "mtt", "tinyimagenet", tmp_path / "Tiny_NO_ZCA" / "ConvNetD4" / "replay_buffer_0.pt")
    with pytest.raises(ConfigError, match="--zca no or --zca yes"):
        mtt_whitened(ImportOptions(), "mtt", "tinyimagenet", tmp_path / "images_best.pt")
