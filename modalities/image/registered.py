"""Images held in memory made loadable by name: :func:`register_tensors` checks and copies them; the loader
(:func:`~.datasets.load_image_dataset`) reads a registered name as it reads a named dataset's tensors (resized,
converted, normalised with the training split's statistics). A registration lives in its process: a saved set of it,
scored or loaded in another process, needs the same ``register_tensors`` call there first (the unknown-name error
says ``none registered``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from mmdistill.load_report import LoadReport
from mmdistill.modality import registration_name

from ..artifacts import classes_without_test
from ..in_memory import built_in_refusal, checked_splits, image_pixels
from .named import ALIASES, list_image_datasets


@dataclass
class TensorImages:
    """A registered set: pixels (N, C, H, W), uint8 0..255 or float32 in [0, 1] (:func:`~..in_memory.unit_pixels` reads
    either), class ids (N,) int64, the K class names, and the
    report naming a class the test split lacks (fact ``classes_without_test``)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    report: LoadReport


#: in-memory sets registered by API users (:func:`register_tensors`), by name as spelt
_TENSOR_SETS: dict[str, TensorImages] = {}


def register_tensors(name: str, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor,
                     classes: list[str] | None = None) -> str:
    """Make in-memory images loadable as ``dataset=name`` by the image recipes.

    Args:
        name: any non-empty name but a built-in dataset's or an alias's (``cifar-10``), in any spelling.
        x_train, x_test: images (N, C, H, W), C 1 (grey) or 3 (RGB), or grey (N, H, W); uint8 0..255 or float in [0, 1].
            Both splits the same (C, H, W) unless the recipe's ``image_size`` / ``channels`` make them so.
        y_train, y_test: integer class ids (N,) 0..K-1, every class in ``y_train`` (:func:`~..artifacts.check_class_ids`).
        classes: a list of the K class names (not a single string); None: ``'0'..'K-1'``.

    The tensors are checked and copied, detached from autograd: later edits of the caller's tensors do not change the
    registered set. Channels-last images (N, H, W, C) are refused, naming ``.permute(0, 3, 1, 2)``. A class of
    ``y_train`` that ``y_test`` lacks is named in a warning and in the set's load report (the card's fact). Returns ``name``.

    Raises:
        ConfigError: ``name`` empty, not a string, or a built-in dataset's.
        DataError: a value that is not a tensor, of another shape, dtype or range, or labels that are not class ids.
    """
    where = f"register_tensors({name!r})"
    registration_name("register_tensors", name, lambda n: built_in_refusal(n, list_image_datasets(), ALIASES))
    xs, ys, names = checked_splits(where, x_train, y_train, x_test, y_test, classes, image_pixels, "image")
    report = LoadReport()
    classes_without_test(name, names, ys["train"], ys["test"], "y_test holds no label of it; add test images of it to score it",
                         report, what="image")
    _TENSOR_SETS[name] = TensorImages(xs["train"], ys["train"], xs["test"], ys["test"], names, report)
    return name


def registered_images(name: str) -> TensorImages | None:
    """The set registered as ``name`` (as spelt), or None."""
    return _TENSOR_SETS.get(name)


def registered_names() -> list[str]:
    """The names given to :func:`register_tensors` in this process, in order."""
    return list(_TENSOR_SETS)


__all__ = ["TensorImages", "register_tensors", "registered_images", "registered_names"]
