"""herding_epochs=0, which the key's range allows (walk 56A): herding in the embedding of the freshly initialised network.
It stopped the run before with "evaluation epochs, batch size and lr must be > 0, got TrainProtocol(epochs=0, ...)", a
message naming no key of the user's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mmdistill.classification import herding_indices
from mmdistill.recipes import image_dm
from mmdistill.validation import load_data


def _folder(root: Path) -> Path:
    for k, name in enumerate("abc"):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8), 40 + 60 * k + 7 * i, dtype=np.uint8), mode="L").save(root / name / f"{i}.png")
    return root


def test_zero_herding_epochs_herds_in_the_untrained_networks_embedding(tmp_path):
    cfg = image_dm.RECIPE.config(dataset="imagefolder", data_root=str(_folder(tmp_path)), ipc=2, herding_epochs=0, progress=False)
    modality = image_dm.RECIPE.get_modality()
    data = load_data(modality, cfg)
    idx = herding_indices(cfg, data, modality, torch.device("cpu"))
    assert data.train.y[idx].tolist() == [0, 0, 1, 1, 2, 2]  # ipc per class, class-major
    assert torch.equal(idx, herding_indices(cfg, data, modality, torch.device("cpu")))  # seeded: the same picks again
