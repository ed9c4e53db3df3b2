"""Walk 53M: ``mmdistill merge`` of two audio sets (e.g. this morning's and tonight's) stopped with TypeError 'float()
argument must be a string or a real number, not 'list'': an audio set's mean/std are per channel and MFCC
coefficient, (C, F), and merge read them as one number per channel. Now any leading-dims statistic converts exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.merge import merge_parts
from mmdistill.synthetic import SyntheticSet


def _set(x: torch.Tensor, classes: list[str], mean, std) -> SyntheticSet:
    labels = torch.arange(len(classes)).repeat_interleave(len(x) // len(classes))
    return SyntheticSet(data={"x": x}, labels=labels, num_classes=len(classes),
                        meta={"classes": classes, "mean": mean, "std": std})


def test_parts_with_per_coefficient_statistics_are_converted_exactly():
    g = torch.Generator().manual_seed(0)
    stats = [(torch.randn(3, 4, generator=g), torch.rand(3, 4, generator=g) + 0.5) for _ in range(3)]
    (m1, s1), (m2, s2), (m, s) = stats
    x1, x2 = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g)  # (K, C, F, T) FD-MFCC maps
    p1 = _set(x1, ["a", "b"], m1.tolist(), s1.tolist())
    p2 = _set(x2, ["c", "d"], m2.tolist(), s2.tolist())
    target = _set(torch.zeros(4, 3, 4, 5), ["a", "b", "c", "d"], m.tolist(), s.tolist())
    inputs, labels, records = merge_parts([(Path("p1"), p1, {}), (Path("p2"), p2, {})], target)
    x = inputs["x"]  # the joined inputs by name
    raw = torch.cat([x1 * s1[..., None] + m1[..., None], x2 * s2[..., None] + m2[..., None]])
    torch.testing.assert_close(x, (raw - m[..., None]) / s[..., None])
    assert labels.tolist() == [0, 1, 2, 3] and records[0]["mean"] == m1.tolist()


def test_statistics_of_another_shape_or_not_numbers_are_named():
    target = _set(torch.zeros(2, 3, 4, 5), ["a", "b"], [[0.0] * 4] * 3, [[1.0] * 4] * 3)
    part = _set(torch.zeros(2, 3, 4, 5), ["a", "b"], [0.0, 0.0], [1.0, 1.0])  # 2 numbers for 3 channels
    with pytest.raises(ConfigError, match=r"mean/std have shape \(2,\)"):
        merge_parts([(Path("p"), part, {})], target)
    part = _set(torch.zeros(2, 3, 4, 5), ["a", "b"], "zero", [1.0])
    with pytest.raises(ArtifactError, match=r"^p: field 'synthetic.meta.mean' is \"zero\", not numbers a tensor holds"):
        merge_parts([(Path("p"), part, {})], target)
    part = _set(torch.zeros(2, 3, 4, 5), ["a", "b"], [[0.0] * 4] * 3, [[1.0] * 4, [0.0] * 4, [1.0] * 4])  # a std of 0
    with pytest.raises(ArtifactError, match=r"^p: .*std"):  # (raw - mean) / std would be inf: refused as a consumer refuses it
        merge_parts([(Path("p"), part, {})], target)
