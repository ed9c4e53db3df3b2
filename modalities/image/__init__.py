"""Image adapter: torchvision datasets from a local root, ImageFolder trees, scikit-learn's digits
(the embedded default); the ConvNet family and other networks of the core registry; DSA; a preview grid and
ImageFolder export; :func:`register_tensors` makes images already in memory loadable by name. ``MODALITY`` is the object
the core looks up by the name ``"image"``."""

from __future__ import annotations

from .adapter import ImageModality
from .prepare import images_like
from .registered import register_tensors

MODALITY = ImageModality()

__all__ = ["ImageModality", "MODALITY", "images_like", "register_tensors"]
