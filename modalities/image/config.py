"""Configuration keys of the image adapter, shared by every image recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.keys import key
from mmdistill.schema import ClassificationConfig, ConfigKeys


@dataclass
class ImageKeys(ConfigKeys):
    """Images: the loader's resizing and channel conversion (ImageFolder trees)."""

    image_size: int | None = key(None, help="resize every image to this side length (required when an ImageFolder's sizes differ)",
                                 unit="pixels", range="[4, inf)")
    channels: Literal[1, 3] | None = key(None, help="convert ImageFolder images to 1 (grayscale) or 3 (RGB) channels; none: as stored")


@dataclass
class ZCAKeys(ConfigKeys):
    """ZCA whitening of the images (MTT's ``--zca``): the recipes whose reference whitens declare it."""

    zca: bool = key(False, help="ZCA-whiten the images as MTT's --zca does (kornia's ZCAWhitening, eps 0.1, fitted on the training "
                    "split's [0, 1] pixels, applied to both splits): experts, distillation and evaluation in the whitened space")


@dataclass
class ImageDistillConfig(ImageKeys, ClassificationConfig):
    """The keys of an image recipe: the classification keys plus the image loader's (``image_size``,
    ``channels``; ``test_fraction`` is held out per class where a dataset has no test split, drawn with ``split_seed``, not ``seed``)."""
