"""The image adapter object: load, networks, augmentation, preview, export."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.augment import DSA, dsa_strategy_for
from mmdistill.data import LabeledTensors
from mmdistill.modality import ClassificationData
from mmdistill.synthetic import SyntheticSet
from mmdistill.validation import SPLIT_DRAWN_WITH, drawn_by
from ..artifacts import absent_classes
from ..base import TensorClassificationAdapter
from ..sources import warn_unused_split_config
from .zca import ZCAWhitening, meta_of, set_whitening, whiten_splits

log = logging.getLogger(__name__)

#: what the loader knows of each source dataset (the dataset card's "source" section)
DATASET_FACTS = {
    "digits": {"licence": "CC BY 4.0 (UCI Optical Recognition of Handwritten Digits; the copy bundled with scikit-learn)",
               "licence_id": "cc-by-4.0", "source": "https://archive.ics.uci.edu/dataset/80"},
    "mnist": {"licence": "no licence stated by its authors (LeCun, Cortes & Burges)", "licence_id": "unknown",
              "source": "http://yann.lecun.com/exdb/mnist/"},
    "fashion-mnist": {"licence": "MIT (Zalando Research)", "licence_id": "mit", "source": "https://github.com/zalandoresearch/fashion-mnist"},
    "cifar10": {"licence": "no licence stated by its authors (Krizhevsky, 2009)", "licence_id": "unknown",
                "source": "https://www.cs.toronto.edu/~kriz/cifar.html"},
    "cifar100": {"licence": "no licence stated by its authors (Krizhevsky, 2009)", "licence_id": "unknown",
                 "source": "https://www.cs.toronto.edu/~kriz/cifar.html"},
    "svhn": {"licence": "non-commercial use only (the SVHN page)", "licence_id": "other", "source": "http://ufldl.stanford.edu/housenumbers/"},
    "tinyimagenet": {"licence": "no licence stated by its makers (Stanford CS231N); its images are ImageNet's, which ImageNet's "
                     "terms of access allow for non-commercial research and educational use only, the copyright staying with "
                     "each image's owner", "licence_id": "other", "source": "http://cs231n.stanford.edu/tiny-imagenet-200.zip"},
    "imagefolder": {"licence": "the licence of the user's image folder (not known to the loader)", "licence_id": "unknown", "source": "local folder"},
}


@dataclass
class ImageData(ClassificationData):
    """Images with, under ``zca``, the ZCA whitening both splits are in (fitted on the training split)."""

    zca: ZCAWhitening | None = None


class ImageModality(TensorClassificationAdapter):
    """Images of shape (C, H, W), normalised per channel; the synthetic set lives in normalised pixels."""

    name = "image"
    sample_noun = "image"

    def load(self, config: Any) -> ClassificationData:
        from .config import normalization_stats
        from ..in_memory import registered_meta
        from .datasets import given_split, load_image_dataset
        from .registered import registered_images

        stats = normalization_stats(getattr(config, "normalization", "data"))  # None: the data's own (the loader's choice)
        ds = load_image_dataset(
            config.dataset,
            config.data_root,
            image_size=config.image_size,
            channels=config.channels,
            mean=stats[0] if stats else None,
            std=stats[1] if stats else None,
            resize=getattr(config, "resize", "squeeze"),
            download=config.download,
            test_fraction=config.test_fraction,
            seed=config.split_seed,  # the held-out split of digits and ImageFolder trees: the data's, not the run's seed
            check_memory=bool(getattr(config, "memory_check", True)),
            progress=bool(getattr(config, "progress", False)),
            use_cache=bool(getattr(config, "cache", True)),
            cache_dir=getattr(config, "cache_dir", None),
            stats_key="normalization",
        )
        if (own := given_split(ds.name, ds.report)) is not None:  # a fixed split: test_fraction / split_seed draw nothing
            warn_unused_split_config(config, str(config.dataset), own, log)
        # the keys that drew the test split (None: given), folded into a validation split's digest (mmdistill.validation)
        drawn_with = None if own is not None else drawn_by(config.test_fraction, config.split_seed)
        x_train, x_test, mean, std, fit, extra = ds.x_train, ds.x_test, list(ds.mean), list(ds.std), None, {}
        # images cut otherwise than squeezed are another input space: experts (and merged parts) of squeezed images are
        # refused, a set or buffer without the entry was squeezed, and images_like cuts alike
        space = {"resize": config.resize} if getattr(config, "resize", "squeeze") != "squeeze" else {}
        if stats:  # statistics other than the data's own: experts trained on the data's own are refused (merges convert)
            space["normalization"] = {"mean": list(ds.mean), "std": list(ds.std)}
        if getattr(config, "zca", False):  # MTT's --zca: [0, 1] pixels whitened; the set's pixels before whitening are unit
            fit, x_train, x_test = whiten_splits(x_train, x_test, mean, std, cache_as=ds.name,  # the fit: cached
                                          check_memory=bool(getattr(config, "memory_check", True)))
            mean, std = [0.0] * len(mean), [1.0] * len(std)
            extra = {"zca": meta_of(fit, int(x_train.shape[0]))}
            space["zca"] = {"eps": fit.eps}
        if space:
            extra["input_space"] = space
        return ImageData(
            name=ds.name,
            train=LabeledTensors(x_train, ds.y_train, list(ds.classes)),
            test=LabeledTensors(x_test, ds.y_test, list(ds.classes)),
            # load_report (entries not read, classes without test images...) lands in the manifest's synthetic.meta
            # sample_shape (C, H, W): what images_like resizes a consumer's own images to, without decoding the set
            meta={"mean": mean, "std": std, "classes": list(ds.classes), "sample_shape": list(ds.x_train.shape[1:]), **extra,
                  **({"class_ids": list(ds.class_ids)} if ds.class_ids else {}),  # Tiny ImageNet's wnids, in label order
                  **(registered_meta("mmdistill.modalities.image.register_tensors", ds.name)
                     if registered_images(ds.name) is not None else {}),  # in memory: eval elsewhere names the call
                  # read from files, or images in memory whose test split lacks a class (as video's): in the manifest
                  **({"load_report": ds.report.as_dict()} if ds.report.root or ds.report.facts else {}),
                  SPLIT_DRAWN_WITH: drawn_with},
            zca=fit,
        )

    def init_synthetic(self, data: ClassificationData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """The classification set; a whitened one carries its whitening (``fixed.zca_*``) for pictures and ``inputs_like``."""
        syn = super().init_synthetic(data, config, gen)
        fit = getattr(data, "zca", None)
        if fit is not None:
            syn.fixed = fit.tensors()
        return syn

    def align_to_set(self, syn: SyntheticSet, data: ClassificationData, folder: Path) -> None:
        """A saved ZCA-whitened set scored (``eval``) or checked (``check``) on data whose whitening is fitted otherwise
        (images added to or removed from its folder since): both splits of ``data`` are taken into the set's own space
        (un-whitened with the data's fit, whitened with the set's ``fixed.zca_*``, as ``inputs_like`` prepares images),
        with a warning; before, the set was scored on test images in another space than the one it was distilled in."""
        mine, theirs = set_whitening(syn), getattr(data, "zca", None)
        if mine is None or theirs is None or not isinstance(data, ImageData):
            return
        if mine.eps == theirs.eps and all(torch.equal(a, b) for a, b in zip(mine.tensors().values(), theirs.tensors().values())):
            return  # the same fit (the usual case: the data's is the cached one): no D x D product to compare
        probe = data.test.x[:64].detach().float().cpu()
        if torch.allclose(mine.whiten(theirs.unwhiten(probe)), probe, rtol=1e-3, atol=1e-3):
            return  # the same fit (to float rounding, or eigenvectors of another sign)
        log.warning("%s was distilled in a ZCA whitening fitted on other training images than %s holds now; its real "
                    "samples are whitened with the set's own fit (fixed.zca_*, as inputs_like prepares images) for this "
                    "score", folder, data.name)
        for split in (data.train, data.test):
            split.x = mine.whiten(theirs.unwhiten(split.x.float().cpu())).to(split.x)
        data.zca = mine

    def augmenter(self, strategy: str, dataset: str) -> DSA | None:
        """DSA with ``strategy``; ``"auto"`` is the DSA authors' choice for ``dataset`` (no flip for
        digit datasets: MNIST, SVHN, digits)."""
        if strategy.lower() in ("", "none"):
            return None
        return DSA(dsa_strategy_for(dataset) if strategy == "auto" else strategy)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_preview_grid

        x = _viewable(syn, self.decode(syn).detach().cpu())
        mean, std = _stats(syn, x)
        return save_preview_grid(x, syn.labels.cpu(), _classes(syn), path, mean=mean, std=std, title=title)

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws: its class rows of images, their size and colour, and how their pixels were
        made (de-normalised, un-whitened for a ZCA set, clamped to [0, 1])."""
        from ..artifacts import grid_words
        from .export import PREVIEW_PER_CLASS

        c, h, w = self.decode(syn).shape[1:]
        kind = "greyscale" if c == 1 else "colour"
        zca = ", un-whitened (the set is stored ZCA-whitened)" if set_whitening(syn) is not None else ""
        return (f"a grid of {h} x {w} px {kind} images in {grid_words(syn.labels.cpu(), _classes(syn), PREVIEW_PER_CLASS, 'image')}; "
                f"each image the set's pixels de-normalised{zca} and clamped to [0, 1], enlarged without smoothing")

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_image_folder

        x = _viewable(syn, self.decode(syn).detach().cpu())
        mean, std = _stats(syn, x)
        return export_image_folder(x, syn.labels.cpu(), _classes(syn), out_dir, mean=mean, std=std)

    def export_note(self, syn: SyntheticSet) -> str | None:
        """How the PNGs relate to the set (8-bit, the share of pixel values clamped to [0, 1]) and how torchvision reads
        them back as the set's model inputs (a greyscale set needs an "L" loader: ImageFolder's default reads RGB)."""
        from .export import clamped_share

        x = _viewable(syn, self.decode(syn).detach().float().cpu())  # the model inputs (another parameterization stores other shapes)
        mean, std = _stats(syn, x)
        c = int(x.shape[1])
        share = clamped_share(x, mean, std)
        clamped = (f" {100 * share:.1f} % of the set's pixel values lay outside [0, 1] and were clamped, so these images are not "
                   "exactly the set its metrics were measured on (the `--to hf` export's `pixel_values` are)." if share > 0 else "")
        loader = ', loader=lambda p: PIL.Image.open(p).convert("L")' if c == 1 else ""
        absent = absent_classes(_classes(syn), syn.labels)
        target, indices = "", "its class indices are the labels."
        if absent:  # no folder for them: ImageFolder numbers the present folders 0..k-1
            target = ", target_transform=labels.__getitem__"
            indices = (f"{len(absent)} of the {syn.num_classes} classes have no sample, so no folder, and ImageFolder's class indices "
                       "are not the labels: `labels = [r[\"label\"] for r in json.load(open(\"DIR/classes.json\"))[\"classes\"] if "
                       "r[\"folder\"]]` maps them back (the folders sort in label order, each named after its label index).")
        if set_whitening(syn) is not None:  # the PNGs are MTT's images_zca_*.pt: the model inputs are whitened
            return (f"Each PNG holds the set's un-whitened [0, 1] pixels (MTT's images_zca view) rounded to 8 bits ({'greyscale' if c == 1 else 'RGB'})."
                    f"{clamped} The set was distilled and scored on ZCA-whitened images: a network trained on these PNGs sees "
                    "other inputs than the set's. Train on the `--to hf` export's `pixel_values` (whitened), and prepare test "
                    "images with `mmdistill.load(RUN).inputs_like(files)` (the set's own whitening); "
                    f"{indices}")
        return (f"Each PNG holds the de-normalised pixels rounded to 8 bits ({'greyscale' if c == 1 else 'RGB'}).{clamped} To train "
                f"on them as the set was: `torchvision.datasets.ImageFolder(DIR{loader}, transform=Compose([ToTensor(), "
                f"Normalize({list(mean)}, {list(std)})]){target})`; {indices}")

    def input_note(self, meta: dict[str, Any]) -> str | None:
        """For a ZCA-whitened set (``meta["zca"]``): the whitening after the normalisation, and how to apply it to one's
        own images; None otherwise (the normalisation line says it all)."""
        info = meta.get("zca")
        if not isinstance(info, dict):
            return None
        return (f"then ZCA-whitened as MTT's --zca (eps {info.get('eps')}, fitted on {info.get('fitted_on', 'the training split')}; "
                "the fit is the tensor file's fixed.zca_mean, fixed.zca_basis (U) and fixed.zca_variances (S): whitened = "
                "(x - mean) @ U diag((S + eps)^-1/2) U^T per flattened sample); `mmdistill.load(RUN).inputs_like(images)` "
                "prepares your own images both ways, as the set's test split was")

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> Tensor:
        """Your own images as the set's normalised pixels, (N, C, H, W): :func:`~.prepare.images_like` (image files or PIL
        images, or uint8 pixels (N, C, H, W); for a ZCA-whitened set, whitened with the set's own fit, as its test split
        was); the sharing hook behind ``DistilledSet.inputs_like``."""
        from .prepare import images_like

        return images_like(syn, raw, **options)

    # ---------------------------------------------------------------- sharing (mmdistill.sharing)
    hf_input_names = {"x": "pixel_values"}
    DATASET_FACTS = DATASET_FACTS

    def hf_columns(self, syn: SyntheticSet, inputs: dict, labels: Tensor, soft_labels: Tensor | None) -> tuple[dict, dict]:
        """``image`` (a ``datasets.Image``: the de-normalised 8-bit PNG a person looks at) before the exact
        ``pixel_values`` (normalised float32, what a model trains on), ``label`` and soft labels."""
        from mmdistill.sharing import require_datasets

        from .export import to_pixels

        columns, features = super().hf_columns(syn, inputs, labels, soft_labels)
        mean, std = _stats(syn, inputs["x"])
        pixels = (to_pixels(_viewable(syn, inputs["x"]), mean, std) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        images = [p[:, :, 0] if p.shape[2] == 1 else p for p in pixels]
        return {"image": images, **columns}, {"image": require_datasets().Image(), **features}

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: Any, max_real: int, gen: torch.Generator):
        """The classification views (pixels; a seeded random ConvNet's embedding) and the closest pairs drawn."""
        from .export import to_pixels

        views = super().memorisation_views(config, syn, data, max_real, gen)
        if views is None:
            return None
        with torch.no_grad():  # the model inputs: the set may store another parameterization (decode's)
            shape = tuple(self.decode(syn).shape[1:])
        mean, std = _stats(syn, shape[0])
        views.syn_pictures = lambda idx: to_pixels(_viewable(syn, views.syn_input[idx].reshape(-1, *shape)), mean, std).permute(0, 2, 3, 1)
        views.real_pictures = lambda idx: to_pixels(_viewable(syn, views.real_input[idx].reshape(-1, *shape)), mean, std).permute(0, 2, 3, 1)
        return views

    def versions(self) -> dict[str, str]:
        import PIL
        import torchvision

        return {"torchvision": torchvision.__version__, "pillow": PIL.__version__}


def _stats(syn: SyntheticSet, images: Tensor | int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The set's normalisation (mean, std per channel) for its decoded ``images`` (N, C, H, W) or their channel count C,
    not its stored tensors: another parameterization's (a low-resolution one) have other shapes."""
    c = images if isinstance(images, int) else int(images.shape[1])
    return tuple(syn.meta.get("mean", [0.0] * c)), tuple(syn.meta.get("std", [1.0] * c))


def _viewable(syn: SyntheticSet, x: Tensor) -> Tensor:
    """The set's model inputs ``x`` (N, C, H, W) as normalised pixels a picture is drawn from: un-whitened (MTT's
    ``inverse_transform``, its ``images_zca_*.pt``) for a ZCA-whitened set, else ``x`` itself."""
    fit = set_whitening(syn)
    return x if fit is None else fit.unwhiten(x.detach().float().cpu())


def _classes(syn: SyntheticSet) -> list[str]:
    return list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))


