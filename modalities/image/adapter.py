"""The image adapter object: load, networks, augmentation, preview, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any



from mmdistill.augment import DSA, dsa_strategy_for
from mmdistill.data import LabeledTensors
from mmdistill.modality import ClassificationData
from mmdistill.synthetic import SyntheticSet
from ..base import TensorClassificationAdapter


class ImageModality(TensorClassificationAdapter):
    """Images of shape (C, H, W), normalised per channel; the synthetic set lives in normalised pixels."""

    name = "image"

    def load(self, config: Any) -> ClassificationData:
        from .datasets import load_image_dataset

        ds = load_image_dataset(
            config.dataset,
            config.data_root,
            image_size=config.image_size,
            channels=config.channels,
            download=config.download,
            test_fraction=config.test_fraction,
            seed=config.seed,
        )
        return ClassificationData(
            name=ds.name,
            train=LabeledTensors(ds.x_train, ds.y_train, list(ds.classes)),
            test=LabeledTensors(ds.x_test, ds.y_test, list(ds.classes)),
            meta={"mean": list(ds.mean), "std": list(ds.std), "classes": list(ds.classes)},
        )

    def augmenter(self, strategy: str, dataset: str) -> DSA | None:
        """DSA with ``strategy``; ``"auto"`` is the DSA authors' choice for ``dataset`` (no flip for
        digit datasets: MNIST, SVHN, digits)."""
        if strategy.lower() in ("", "none"):
            return None
        return DSA(dsa_strategy_for(dataset) if strategy == "auto" else strategy)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_preview_grid

        mean, std = _stats(syn)
        return save_preview_grid(self.decode(syn).detach().cpu(), syn.labels.cpu(), _classes(syn), path, mean=mean, std=std, title=title)

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_image_folder

        mean, std = _stats(syn)
        return export_image_folder(self.decode(syn).detach().cpu(), syn.labels.cpu(), _classes(syn), out_dir, mean=mean, std=std)

    def versions(self) -> dict[str, str]:
        import PIL
        import torchvision

        return {"torchvision": torchvision.__version__, "pillow": PIL.__version__}


def _stats(syn: SyntheticSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    c = int(syn.x.shape[1])
    return tuple(syn.meta.get("mean", [0.0] * c)), tuple(syn.meta.get("std", [1.0] * c))


def _classes(syn: SyntheticSet) -> list[str]:
    return list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))


