"""Per-channel normalisation statistics as users spell them: ``M1,M2,M3/S1,S2,S3`` or ``imagenet`` (``mmdistill import
--stats`` and the image key ``normalization``), read (:func:`parse_mean_std`) and written back (:func:`spell_mean_std`).
Torch-free: the image config checks its key with it."""

from __future__ import annotations

import math
from typing import Sequence

from mmdistill.keys import close_matches

#: ImageNet's (mean, std) of [0, 1] pixels, with which MTT reads Tiny ImageNet and its ImageNet subsets (mtt-distillation
#: utils.py:72-73 and :91-92 at 50dccea) and DC its TinyImageNet (DatasetCondensation utils.py:72-73 at 53f63a6)
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def parse_mean_std(text: str, names: Sequence[str] = ()) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``M1,M2,M3/S1,S2,S3`` (one mean and one std per channel, [0, 1] pixel units), or ``imagenet``
    (:data:`IMAGENET_STATS`), as two tuples of floats. ValueError
    saying what is wrong (the caller names its flag or key) when it is not two comma lists of numbers of one length joined
    by one ``/``, a value is not finite or a std not above 0. ``names``: the words the caller reads beside the numbers
    (``data``, ``imagenet``): a word with no ``/`` and no digit is told as none of them, with the closest
    (``ImageNet``, ``imagnet``: did you mean imagenet), not as a count of ``/``."""
    if text == "imagenet":
        return IMAGENET_STATS
    if "/" not in text and not any(ch.isdigit() for ch in text):
        close = close_matches(text.strip(), names)
        raise ValueError("no such name (names are lower case" + (f"; did you mean {' or '.join(close)}?)" if close else ")"))
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(f"{len(parts) - 1} '/' where one separates the means from the stds")
    try:
        mean, std = (tuple(float(v) for v in part.split(",")) for part in parts)
    except ValueError:
        raise ValueError("a value is not a number") from None
    if len(mean) != len(std):
        raise ValueError(f"{len(mean)} mean(s) and {len(std)} std(s)")
    if not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
        raise ValueError("every value must be finite and every std above 0")
    return mean, std


def spell_mean_std(mean: Sequence[float], std: Sequence[float]) -> str:
    """``imagenet`` for :data:`IMAGENET_STATS` (to float32 rounding), else ``M1,M2,M3/S1,S2,S3`` (``%g``): what
    :func:`parse_mean_std` reads back."""
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) == len(std) == 3 and all(abs(a - b) < 1e-6 for a, b in zip(mean + std, IMAGENET_STATS[0] + IMAGENET_STATS[1])):
        return "imagenet"
    return f"{','.join(f'{v:g}' for v in mean)}/{','.join(f'{v:g}' for v in std)}"


__all__ = ["IMAGENET_STATS", "parse_mean_std", "spell_mean_std"]
