"""Configuration keys of the image adapter, shared by every image recipe."""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig


@dataclass
class ImageDistillConfig(DistillConfig):
    """``DistillConfig`` plus the image loader's keys.

    ``image_size``: resize every image to this side length (ImageFolder trees; required when sizes differ).
    ``channels``: convert ImageFolder images to 1 (grayscale) or 3 (RGB) channels.
    ``test_fraction``: held-out fraction per class when a dataset has no test split (digits, flat trees).
    """

    image_size: int | None = None
    channels: int | None = None
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size is not None and self.image_size < 4:
            raise ConfigError(f"image_size must be >= 4 pixels, got {self.image_size}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
