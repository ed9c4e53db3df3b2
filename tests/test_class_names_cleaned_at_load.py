"""Class names are cleaned where the data is loaded (:class:`mmdistill.data.ClassificationData`), not only when a set
is saved: a class folder named with a tab or a bidi override (U+202E) gets one name in the run, its saved set and
``mmdistill merge --dataset``; two names that clean to the same one are refused at load, naming both."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from mmdistill.data import ClassificationData, LabeledTensors
from mmdistill.errors import DataError

ODD = ["a\tb", "c\u202ed", "plain"]
CLEAN = ["a_b", "c_d", "plain"]


def _warned(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "class name(s) hold control" in r.getMessage()]


def test_an_image_folders_class_names_are_cleaned_at_load(tmp_path, caplog):
    pytest.importorskip("torchvision")
    from PIL import Image

    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dm

    for k, name in enumerate(ODD):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((4, 4, 3), 40 * k + i, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    cfg = image_dm.RECIPE.config(dataset="imagefolder", data_root=str(tmp_path), ipc=1, progress=False, memory_check=False)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    assert data.train.classes == CLEAN and data.test.classes == CLEAN and data.meta["classes"] == CLEAN
    said = _warned(caplog)
    assert len(said) == 1 and "a\\tb -> a_b" in said[0] and "c\\u202ed -> c_d" in said[0]  # once, both spellings escaped


def test_an_audio_folders_class_names_are_cleaned_at_load(tmp_path, caplog):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("torchaudio")
    from mmdistill.modalities.audio import MODALITY
    from mmdistill.recipes import audio_dm

    t = np.arange(2000) / 8000
    for k, name in enumerate(ODD):
        (tmp_path / name).mkdir()
        for i in range(3):
            sf.write(tmp_path / name / f"{i}.wav", 0.3 * np.sin(2 * np.pi * (300 + 200 * k + 10 * i) * t), 8000)
    cfg = audio_dm.RECIPE.config(dataset="folder", data_root=str(tmp_path), sample_rate=8000, duration=0.25, ipc=1,
                                 progress=False, memory_check=False)
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    assert data.train.classes == CLEAN and data.test.classes == CLEAN and data.meta["classes"] == CLEAN
    assert len(_warned(caplog)) == 1


def test_two_class_names_that_clean_to_one_are_refused_naming_both():
    x, y = torch.zeros(4, 2), torch.tensor([0, 1, 2, 2])
    names = ["a\tb", "a\nb", "c"]
    with pytest.raises(DataError, match=r"dataset 'd': the class names a\\tb and a\\nb both read a_b"):
        ClassificationData("d", LabeledTensors(x, y, names), LabeledTensors(x, y, names))


def test_clean_names_pass_unchanged_and_unwarned(caplog):
    x, y = torch.zeros(2, 2), torch.tensor([0, 1])
    with caplog.at_level(logging.WARNING):
        data = ClassificationData("d", LabeledTensors(x, y, ["cat", "dog"]), LabeledTensors(x, y, ["cat", "dog"]), {"classes": ["cat", "dog"]})
    assert data.train.classes == ["cat", "dog"] and not _warned(caplog)


def test_audio_visual_data_cleans_its_class_names_as_the_classification_data_does():
    """Walk 54N cleaned the names in ClassificationData; the audio-visual data keeps its own class list (AVData), whose
    names were cleaned only when a set was saved, so its run and ``merge --dataset`` named the classes two ways."""
    from mmdistill.modalities.audio_visual.data import AVData, AVPairs

    pairs = AVPairs(torch.zeros(3, 1, 4, 4), torch.zeros(3, 3, 4, 4), torch.tensor([0, 1, 2]))
    data = AVData("mine", pairs, pairs, list(ODD), meta={"classes": list(ODD)})
    assert data.classes == CLEAN and data.meta["classes"] == CLEAN
    with pytest.raises(DataError, match="both read"):
        AVData("mine", pairs, pairs, ["a\tb", "a\nb", "c"])
