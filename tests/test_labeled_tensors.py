"""LabeledTensors and SyntheticSet, the public types of a split and a set: what they refuse, naming the field (walk 53F)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmdistill import DataError, LabeledTensors

X = torch.zeros(6, 1, 4, 4)


def test_fractional_float_labels_are_refused_not_truncated() -> None:
    # .long() made 1.7 class 1 and 0.5 class 0: a silent wrong label
    with pytest.raises(DataError, match=r"whole class indices; y\[0\] is 0.5 \(3 label"):
        LabeledTensors(X, torch.tensor([0.5, 1.0, 0.0, 1.7, 0.0, 1.9]), ["a", "b"])


def test_whole_float_and_bool_labels_are_class_indices() -> None:
    data = LabeledTensors(X, torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]), ["a", "b"])
    assert data.y.dtype == torch.long and data.class_counts() == [3, 3]
    assert LabeledTensors(X, torch.tensor([True, False] * 3), ["a", "b"]).y.tolist() == [1, 0] * 3


@pytest.mark.parametrize("y", [torch.nn.functional.one_hot(torch.tensor([0, 1] * 3)), torch.tensor([0, 1] * 3).view(6, 1)])
def test_labels_not_of_shape_n_are_refused_at_construction(y: torch.Tensor) -> None:
    # accepted before, then torch's "bincount only supports 1-d" RuntimeError at the first class_counts()
    with pytest.raises(DataError, match=r"shape \(N,\); got shape \(6, "):
        LabeledTensors(X, y, ["a", "b"])


def test_a_numpy_array_or_one_string_of_classes_is_named() -> None:
    with pytest.raises(DataError, match="x must be a torch.Tensor .* got ndarray"):
        LabeledTensors(np.zeros((6, 1, 4, 4), np.float32), torch.tensor([0, 1] * 3), ["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="classes must be a list of class names, not the single string 'ab'"):
        LabeledTensors(X, torch.tensor([0, 1] * 3), "ab")  # type: ignore[arg-type]


@pytest.mark.parametrize(("labels", "soft", "message"), [
    (torch.tensor([0.0, 1.0]), None, r"1-D integer tensor of class indices \(K,\); got float32 \(2,\)"),
    (torch.tensor([[0], [1]]), None, r"1-D integer tensor of class indices \(K,\); got int64 \(2, 1\)"),
    (torch.tensor([0, 2]), None, r"lie in \[0, num_classes=2\); found \[0, 2\]"),
    (torch.tensor([0, 1]), torch.zeros(2, 3), r"soft_labels must be \(K, num_classes=2\) logits; got \(2, 3\)"),
])
def test_a_synthetic_set_that_could_not_be_loaded_back_is_refused_when_built(labels, soft, message) -> None:
    # before: built and saved, then the load refused it (ArtifactError 'labels ... have dtype float32'): work lost
    from mmdistill import SyntheticSet

    with pytest.raises(DataError, match=message):
        SyntheticSet({"x": torch.rand(2, 3)}, labels, 2, soft_labels=soft, label_mode="hard" if soft is None else "soft")
