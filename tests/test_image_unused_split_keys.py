"""Walk 55P: the image loader says, as every other modality's does (walk 55B), when ``test_fraction`` / ``split_seed``
draw nothing because the data gives its own test split (an ImageFolder tree's ``train/`` + ``test/`` or ``val/``, a
named set's files); a key at its default is never named, and a tree whose split is drawn is not warned of."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

NOT_USED = "not used: dataset"


def _tree(root: Path, splits=("train", "test")) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in splits:
        for cls in ("cat", "dog"):
            folder = root / split / cls if split else root / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def _load(root: Path, tmp_path: Path, dataset: str = "imagefolder", **keys):
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_dm import RECIPE

    cfg = RECIPE.config_cls(dataset=dataset, data_root=str(root), image_size=8, ipc=1, cache_dir=str(tmp_path / "cache"), **keys)
    return MODALITY.load(cfg)


def test_train_and_test_folders_warn_of_split_keys_they_do_not_use(tmp_path, caplog):
    root = _tree(tmp_path / "data")
    with caplog.at_level(logging.WARNING):
        data = _load(root, tmp_path, test_fraction=0.3, split_seed=4)
    assert ("test_fraction=0.3 (--test-fraction) and split_seed=4 (--split-seed) not used: dataset 'imagefolder' has its own "
            "test split (train/ and test/ class folders)") in caplog.text
    assert data.meta["load_report"]["facts"]["layout"] == "train/ and test/ class folders"
    assert data.meta["load_report"]["facts"]["split_drawn"] is False  # as video and audio-visual record it (mend 55V)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _load(root, tmp_path)  # the defaults: nothing was asked, nothing is said
    assert NOT_USED not in caplog.text


def test_a_val_folder_is_named_and_a_drawn_split_is_not_warned_of(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        _load(_tree(tmp_path / "val", ("train", "val")), tmp_path, split_seed=2)
    assert ("split_seed=2 (--split-seed) not used: dataset 'imagefolder' has its own test split (train/ and val/ class folders "
            "(val/ is the test split))") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        data = _load(_tree(tmp_path / "flat", ("",)), tmp_path, test_fraction=0.4, split_seed=2)
    assert NOT_USED not in caplog.text
    assert "layout" not in data.meta["load_report"]["facts"]  # a drawn split records no layout of given split folders
    assert data.meta["load_report"]["facts"]["split_drawn"] is True
    assert data.meta["split_drawn_with"] == {"test_fraction": 0.4, "split_seed": 2}  # folded into a validation digest


def test_a_given_split_records_that_no_key_drew_it(tmp_path):
    """Review 56 R1.2: the validation digest folded in the config's test_fraction / split_seed whenever it had them (a
    named set's own files too); the adapter now records the keys that drew its split, None for a given one."""
    assert _load(_tree(tmp_path / "data"), tmp_path, split_seed=4).meta["split_drawn_with"] is None


def test_given_split_reads_split_drawn_as_the_other_loaders_record_it():
    """Mend 55V (review R5.8): image told a given split from a drawn one by the presence of its layout fact; now by
    split_drawn, the fact video and audio-visual record."""
    from mmdistill.load_report import LoadReport
    from mmdistill.modalities.image.datasets import given_split

    report = LoadReport()
    report.facts.update({"layout": "train/ and test/ class folders", "split_drawn": False})
    assert given_split("imagefolder", report) == "train/ and test/ class folders"
    report.facts["split_drawn"] = True
    assert given_split("imagefolder", report) is None
    assert given_split("imagefolder", LoadReport()) is None


def test_a_named_set_warns_of_split_keys_it_does_not_use(tmp_path, caplog):
    from test_image_datasets import _mnist_dir

    root = _mnist_dir(tmp_path / "mnist", gz=False)
    with caplog.at_level(logging.WARNING):
        _load(root, tmp_path, dataset="mnist", test_fraction=0.5)
    assert ("test_fraction=0.5 (--test-fraction) not used: dataset 'mnist' has its own test split (its train and t10k idx "
            "files)") in caplog.text


@pytest.mark.parametrize("dataset", ["digits"])
def test_digits_draws_its_split_and_is_not_warned_of(tmp_path, caplog, dataset):
    with caplog.at_level(logging.WARNING):
        _load(tmp_path, tmp_path, dataset=dataset, test_fraction=0.3)
    assert NOT_USED not in caplog.text
