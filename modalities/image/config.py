"""Configuration keys of the image adapter, shared by every image recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmdistill.errors import ConfigError
from mmdistill.keys import key
from mmdistill.mean_std import parse_mean_std
from mmdistill.schema import ClassificationConfig, ConfigKeys

#: how an image is made the asked size (``resize``): the whole image squeezed, or (MTT's ImageNet subsets,
#: github.com/GeorgeCazenavette/mtt-distillation utils.py:93-101, get_dataset: ``Resize(im_size)`` then
#: ``CenterCrop(im_size)``) scaled to cover it, keeping its aspect ratio, and cut about the centre
RESIZE_MODES = ("squeeze", "center_crop")


def check_resize(resize: str, image_size: object) -> None:
    """ConfigError (key ``resize``) for a mode not in :data:`RESIZE_MODES`, or one other than ``squeeze`` without an
    ``image_size`` (there is no size to crop to)."""
    if resize not in RESIZE_MODES:
        raise ConfigError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}", key="resize")
    if resize != "squeeze" and image_size is None:
        raise ConfigError(f"resize={resize} makes every image image_size x image_size: give an image_size (--image-size N), "
                          "or leave resize at squeeze", key="resize")


#: the words of the ``normalization`` key beside ``M1,M2,M3/S1,S2,S3``: the data's own statistics (the standard ones of
#: MNIST, Fashion-MNIST, CIFAR, SVHN and Tiny ImageNet read unresized and unconverted, else computed on the training split), or ImageNet's, with which the
#: references read ImageNet and its subsets (mtt-distillation utils.py:91-92 at 50dccea, :func:`normalization_stats`)
NORMALIZATIONS = ("data", "imagenet")


def normalization_stats(value: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The per-channel (mean, std), [0, 1] pixel units, the ``normalization`` key ``value`` names: None for ``data`` (the
    loader's own choice), ImageNet's (:data:`mmdistill.mean_std.IMAGENET_STATS`) for ``imagenet``, else the numbers of
    ``M1,M2,M3/S1,S2,S3`` (one per channel: the channel count is checked when the images are read). ConfigError (key
    ``normalization``) for anything else."""
    if value == "data":
        return None
    try:
        return parse_mean_std(str(value), NORMALIZATIONS)
    except ValueError as exc:
        raise ConfigError(f"normalization={value!r}: {exc}; expected data, imagenet or M1,M2,M3/S1,S2,S3 (a mean and a std "
                          "per channel, [0, 1] pixel units)", key="normalization") from None


def channel_mismatch(stats_key: str, given: str, count: int, channels: int, images: str) -> ConfigError:
    """The error of ``stats_key`` (``normalization``) given as ``given`` (spelled as the user writes it), ``count``
    means and stds, for images of ``channels`` channels (``imagenet`` for greyscale images): ``images`` says how they
    come to have them (``"the images have"``: as stored, the loader's; ``"channels=1 reads the images as"``: the
    config's check). What was given, what the images have, and what to give instead."""
    def word(n: int) -> str:
        return {1: "1 channel (greyscale)", 3: "3 channels (RGB)"}.get(n, f"{n} channels")

    convert = f", or channels={count} to read them as {word(count)}" if count in (1, 3) else ""
    return ConfigError(f"{stats_key}={given} gives {count} mean(s) and std(s) but {images} {word(channels)}: give "
                       f"{stats_key}=data (the images' own statistics), {stats_key}={','.join(['M'] * channels)}/"
                       f"{','.join(['S'] * channels)} (one mean and std per channel, [0, 1] pixel units){convert}", key=stats_key)


@dataclass
class ImageKeys(ConfigKeys):
    """Images: the loader's resizing and channel conversion (ImageFolder trees) and its decoded-image cache."""

    image_size: int | None = key(None, help="resize every image to this side length (required when an ImageFolder's sizes differ)",
                                 unit="pixels", range="[4, inf)")
    resize: Literal["squeeze", "center_crop"] = key("squeeze", help="how an image is made image_size x image_size: squeeze the "
                                                    "whole image (the aspect ratio not kept: a 4:3 photo is squeezed), or "
                                                    "center_crop, scaled keeping its aspect ratio until its short side is "
                                                    "image_size, then the long side cut about the centre (torchvision's "
                                                    "Resize + CenterCrop, as MTT reads its ImageNet subsets); needs an "
                                                    "image_size")
    normalization: str = key("data", help="the per-channel mean and std images are normalised with: data (the standard "
                             "statistics of MNIST, Fashion-MNIST, CIFAR, SVHN and Tiny ImageNet read at their own size and channels, "
                             "else the training split's own), "
                             "imagenet (0.485,0.456,0.406/0.229,0.224,0.225, as MTT reads its ImageNet subsets: what experts "
                             "imported with mmdistill import --subset saw) or M1,M2,M3/S1,S2,S3 ([0, 1] pixel units); experts "
                             "trained otherwise are refused")
    channels: Literal[1, 3] | None = key(None, help="convert ImageFolder images to 1 (grayscale) or 3 (RGB) channels; none: as stored")
    cache: bool = key(True, help="keep an ImageFolder's or Tiny ImageNet's decoded images as uint8 safetensors in cache_dir "
                      "(same files and settings: read, not decoded again; the same tensors)", resume=False)
    cache_dir: str | None = key(None, help="folder of the decoded-image cache; none: <cache>/image (<cache>: $MMDISTILL_CACHE, "
                                "else $XDG_CACHE_HOME/mmdistill, else ~/.cache/mmdistill)", resume=False)

    def check(self) -> None:
        super().check()
        check_resize(self.resize, self.image_size)
        stats = normalization_stats(self.normalization)
        if stats and self.channels is not None and len(stats[0]) != self.channels:
            raise channel_mismatch("normalization", self.normalization, len(stats[0]), self.channels,
                                   f"channels={self.channels} reads the images as")


@dataclass
class ZCAKeys(ConfigKeys):
    """ZCA whitening of the images (MTT's ``--zca``): the recipes whose reference whitens declare it."""

    zca: bool = key(False, help="ZCA-whiten the images as MTT's --zca does (kornia's ZCAWhitening, eps 0.1, fitted on the training "
                    "split's [0, 1] pixels, applied to both splits): experts, distillation and evaluation in the whitened space")


@dataclass
class ImageDistillConfig(ImageKeys, ClassificationConfig):
    """The keys of an image recipe: the classification keys plus the image loader's (``image_size``,
    ``channels``; ``test_fraction`` is held out per class where a dataset has no test split, drawn with ``split_seed``, not ``seed``)."""
