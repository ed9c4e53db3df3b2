"""The image-text loader's drawn split holds out as many images as every other drawn split (mmdistill.data.held_count,
R4.5): the same counts as its own former rule min(n - 1, max(1, round(n * fraction))), none for fewer than two images."""

from __future__ import annotations

import pytest

from mmdistill.modalities.image_text.loaders import _assign_splits


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.2, 0.25, 0.5, 0.75, 0.99, 1.0])
def test_the_drawn_image_text_split_counts_as_before(fraction):
    for n in range(0, 41):
        names = [f"{i:03d}.jpg" for i in range(n)]
        split = _assign_splits([], names, [], "sorted", fraction, 0)
        before = min(n - 1, max(1, int(round(n * fraction))))
        if before < 1:
            assert split is None, n
        else:
            assert sum(v == "test" for v in split.values()) == before and list(split.values())[-1] == "test", n
