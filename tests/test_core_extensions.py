"""Extending the core's middle from another package (walk 50C): a parameterization of an existing modality (an image
adapter whose set stores low-resolution images and decodes them by upsampling), a matching objective of its own on
DM's machinery, and the one-line errors a broken matcher or adapter gets instead of a traceback."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.modalities.image.adapter import ImageModality
from mmdistill.synthetic import SyntheticSet


class LowResImages(ImageModality):
    """Images stored at half resolution (``data["low"]``, (K, C, H/2, W/2)) and decoded by bilinear upsampling: what
    docs/adding-a-modality.md calls another parameterization (``init_synthetic`` and ``decode`` overridden)."""

    name = "lowres_images"

    def init_synthetic(self, data: Any, config: Any, gen: torch.Generator) -> SyntheticSet:
        syn = super().init_synthetic(data, config, gen)
        x = syn.data.pop("x")
        syn.data["low"] = F.avg_pool2d(x, 2, ceil_mode=True)
        syn.meta["full_size"] = list(x.shape[-2:])
        return syn

    def decode(self, syn: SyntheticSet) -> Tensor:
        return F.interpolate(syn.data["low"], size=tuple(syn.meta["full_size"]), mode="bilinear", align_corners=False)


def test_an_image_parameterization_without_x_is_previewed_exported_and_shared(tmp_path):
    """The image adapter read the set's channel count and sample shape off ``syn.x`` for its preview, export, Hugging
    Face column and memorisation pictures, so a set of another parameterization lost its preview, its memorisation
    block, and could not be exported ("the synthetic set has no 'data.x' tensor ... the file is damaged"); they read
    the decoded images now, and the public contract checks pass on such an adapter."""
    from mmdistill.adapter_checks import check_modality
    from mmdistill.recipes import get_recipe

    cfg = get_recipe("image-dm").config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)
    done = check_modality(LowResImages(), cfg, tmp_path / "check")
    assert "write_preview" in done and "export" in done
    modality = LowResImages()
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, torch.Generator().manual_seed(0))
    assert tuple(syn.data["low"].shape) == (10, 1, 4, 4)
    views = modality.memorisation_views(cfg, syn, data, 50, torch.Generator().manual_seed(0))
    assert tuple(views.syn_pictures([0]).shape) == (1, 8, 8, 1)

