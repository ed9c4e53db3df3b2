"""Image-caption pairs as tensors: a split, the whole dataset, and a (synthetic or real) training batch.

A split stores each image once and each caption once; ``caption_image[j]`` is the image of caption ``j``, so
several captions per image are kept and a *pair* is a caption with its image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
from torch import Tensor

from mmdistill.errors import DataError


def normalised_pixels(pixels: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """8-bit pixels (..., C, H, W) uint8 as float32 ``(x / 255 - mean) / std`` per channel (``mean``, ``std``: C
    values each), on the pixels' device. The loader's float32 operations in its order, so a split stored as uint8
    gives the same bits as the float32 split it replaces (:func:`.loaders.image_to_tensor`)."""
    x = pixels.to(torch.float32).div_(255.0)
    x.sub_(torch.tensor(tuple(mean), dtype=torch.float32, device=x.device)[:, None, None])
    return x.div_(torch.tensor(tuple(std), dtype=torch.float32, device=x.device)[:, None, None])


@dataclass
class PairSplit:
    """One split of an image-caption dataset.

    Attributes:
        images: (N_img, 3, H, W) pixels, stored one of two ways: uint8, the decoded 8-bit pixels, with
            ``pixel_norm`` = (mean, std) of the image encoder (what the loaders keep: a quarter of the memory of
            float32, on the host and on a device), or float32 pixels already normalised (``pixel_norm`` None; what an
            API user may pass). Read them through :meth:`normalised_images`, which gives float32 either way.
        image_ids: N_img names (paths relative to the image root).
        captions: N_cap caption strings.
        caption_image: (N_cap,) int64 index into ``images`` of each caption.
        text: (N_cap, D) float32 embeddings of the captions by the frozen text encoder (None until embedded).
        pixel_norm: the per-channel (mean, std) that turn uint8 ``images`` into the encoder's input; None for float.
    """

    images: Tensor
    image_ids: list[str]
    captions: list[str]
    caption_image: Tensor
    text: Tensor | None = None
    pixel_norm: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise DataError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        channels = int(self.images.shape[1])
        if self.images.dtype == torch.uint8:
            norm = self.pixel_norm
            if norm is None or len(norm) != 2 or any(len(v) != channels for v in norm) or min(norm[1]) <= 0:
                raise DataError(f"uint8 images need pixel_norm=(mean, std) with {channels} values each and every std > 0 "
                                f"(the image encoder's normalisation), got {norm!r}")
        elif not self.images.is_floating_point():
            raise DataError(f"images must be uint8 (8-bit pixels, with pixel_norm) or float (normalised pixels), got {self.images.dtype}")
        elif self.pixel_norm is not None:
            raise DataError("pixel_norm applies to uint8 images; float images are taken as normalised already")
        if len(self.image_ids) != self.images.shape[0]:
            raise DataError(f"{len(self.image_ids)} image ids for {self.images.shape[0]} images")
        if self.caption_image.shape != (len(self.captions),):
            raise DataError(f"caption_image must have one entry per caption ({len(self.captions)}), got {tuple(self.caption_image.shape)}")
        if len(self.captions) == 0:
            raise DataError("the split has no captions")
        if int(self.caption_image.min()) < 0 or int(self.caption_image.max()) >= self.images.shape[0]:
            raise DataError("caption_image points outside the images of the split")
        if self.text is not None and self.text.shape[0] != len(self.captions):
            raise DataError(f"{self.text.shape[0]} text embeddings for {len(self.captions)} captions")

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_pairs(self) -> int:
        return len(self.captions)

    def captions_of(self) -> list[Tensor]:
        """For each image, the indices of its captions (a list of N_img int64 tensors)."""
        order = torch.argsort(self.caption_image.cpu(), stable=True)
        counts = torch.bincount(self.caption_image.cpu(), minlength=self.num_images).tolist()
        return list(torch.split(order, counts))

    def normalised_images(self, idx: Tensor | slice, device: torch.device | str | None = None) -> Tensor:
        """Images ``idx`` (an index tensor (K,) or a slice) as the encoder's float32 input (K, 3, H, W), on ``device``
        (default: where the split is); uint8 images are moved before they are normalised (a quarter of the bytes)."""
        x = self.images[idx]
        if device is not None:
            x = x.to(device)
        return x if self.pixel_norm is None else normalised_pixels(x, *self.pixel_norm)

    def pairs(self, caption_idx: Tensor) -> "PairBatch":
        """The pairs of captions ``caption_idx`` (K,): their images (float32, normalised), text embeddings and hard
        targets."""
        if self.text is None:
            raise DataError("the split's captions are not embedded yet")
        idx = caption_idx.to(self.caption_image.device)
        return PairBatch(self.normalised_images(self.caption_image[idx]), self.text[idx])

    def to(self, device: torch.device | str) -> "PairSplit":
        return replace(self, images=self.images.to(device), caption_image=self.caption_image.to(device),
                       text=None if self.text is None else self.text.to(device))


@dataclass
class ImageTextData:
    """A dataset of image-caption pairs split into train and test.

    ``meta`` (JSON): image ``mean``/``std``/``image_size``, the encoders' names, ``text_dim``, ``dropped``
    counts of bad input, and ``caption_bank`` (a reference to the cached train caption embeddings the preview reads:
    :func:`.text_cache.bank_ref`, no machine path).
    """

    name: str
    train: PairSplit
    test: PairSplit
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape (3, S, S) of one image the encoders take (recorded in an expert buffer's spec)."""
        return tuple(int(s) for s in self.train.images.shape[1:])

    def fingerprint(self) -> dict[str, Any]:
        """What the experts train on, cheaply (recorded in an expert buffer's spec, so a buffer trained on other
        pairs is refused): the training pair count and a digest of the training image ids, captions and
        caption-to-image index, in order; and, when the loader recorded them (``meta``), the image encoder's initial
        weights (``image_weights``: random, or a digest of the pretrained ones) and the text embeddings' space
        (``text_space``: encoder, pooling, normalisation), so a buffer trained from other weights or on text
        embedded otherwise is refused naming them. The text space is compared by name, not by a digest of the
        embeddings: those differ in their last bits between machines, which would refuse a buffer moved to another."""
        from mmdistill.buffer import content_digest

        train = self.train
        out: dict[str, Any] = {"train_samples": train.num_pairs,
                               "train_pairs": content_digest(train.image_ids, train.captions, train.caption_image.long())}
        out.update({k: self.meta[k] for k in ("image_weights", "text_space") if self.meta.get(k) is not None})
        return out


@dataclass
class PairBatch:
    """What a dual encoder trains on: images (K, 3, H, W), text embeddings (K, D) and targets.

    ``targets`` is None for hard contrastive targets (pair i matches pair i only) or a (K, K) float
    similarity matrix (LoRS soft targets).
    """

    images: Tensor
    text: Tensor
    targets: Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.text.shape[0]:
            raise DataError(f"{self.images.shape[0]} images but {self.text.shape[0]} text embeddings")
        k = self.images.shape[0]
        if self.targets is not None and tuple(self.targets.shape) != (k, k):
            raise DataError(f"soft targets must be ({k}, {k}), got {tuple(self.targets.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, idx: Tensor) -> "PairBatch":
        """Pairs ``idx`` (B,) with the matching (B, B) block of the targets (differentiably)."""
        idx = idx.to(self.images.device)
        targets = None if self.targets is None else self.targets[idx][:, idx]
        return PairBatch(self.images[idx], self.text[idx], targets)

    def detached(self) -> "PairBatch":
        return PairBatch(self.images.detach(), self.text.detach(), None if self.targets is None else self.targets.detach())

    def to(self, device: torch.device | str) -> "PairBatch":
        return PairBatch(self.images.to(device), self.text.to(device), None if self.targets is None else self.targets.to(device))


__all__ = ["ImageTextData", "PairBatch", "PairSplit", "normalised_pixels"]
