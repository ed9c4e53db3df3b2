"""From a config to an :class:`ImageTextData`: read the captions, read and normalise the images for the
chosen image encoder, split, and embed every caption once with the frozen text encoder (cached)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Mapping

from mmdistill.errors import ConfigError, DataError

from .config import DATASETS, canonical_dataset
from .data import ImageTextData
from .encoders import ImageEncoderBuild, build_text_encoder, text_space
from .loaders import BadInput, build_splits, canonical_image_paths, file_opener, read_csv_records, read_folder_records, read_json_records, shapes_records
from .text_cache import bank_ref, embed_and_measure
from .token_limits import report_long_captions
from ..sources import warn_unused_split_config

log = logging.getLogger(__name__)

SHAPES_IMAGES = 300


def _need_root(cfg: Any) -> Path:
    if not cfg.data_root:
        raise ConfigError(f"dataset={cfg.dataset} reads its captions from data_root (--data-root PATH); none was given")
    return Path(cfg.data_root).expanduser()


#: caption files named as their public release names them: a set of ``dataset=coco`` / ``flickr30k`` is called so (and its
#: card carries that dataset's licence and source) only for these; those values name a file *format* as well
RELEASE_FILES = {"coco": re.compile(r"captions_(train|val)20\d\d|coco_karpathy_(train|val|test)|dataset_coco"),
                 "flickr30k": re.compile(r"(dataset_)?flickr30k(_(train|val|test))?")}


def json_dataset_name(kind: str, path: Path) -> str:
    """The name of the data of a ``karpathy`` / ``coco`` / ``flickr30k`` caption file ``path``: ``coco`` or ``flickr30k``
    when the file bears the public release's name (:data:`RELEASE_FILES`), else the file's stem, as for ``karpathy`` (a
    user's own pairs in COCO's format are not COCO: the card would give them COCO's licence and source)."""
    pattern = RELEASE_FILES.get(kind)
    return kind if pattern is not None and pattern.fullmatch(path.stem.lower()) else path.stem


def release_of(dataset: str, data_root: str | None) -> str:
    """The public release a run's pairs are, for the tables' ``release`` condition: ``coco`` / ``flickr30k`` when a
    ``karpathy`` / ``coco`` / ``flickr30k`` caption file bears that release's name (:data:`RELEASE_FILES`:
    ``coco_karpathy_train.json``, ``dataset_flickr30k.json``), else the dataset name lower-cased."""
    kind = dataset.lower()
    if kind in ("karpathy", *RELEASE_FILES) and data_root:
        stem = Path(data_root).expanduser().stem.lower()
        for release, pattern in RELEASE_FILES.items():
            if pattern.fullmatch(stem):
                return release
    return kind


def table_context(values: Mapping[str, Any]) -> dict[str, str]:
    """The names the image-text tables look rows up by besides the config's keys: ``release`` (:func:`release_of`)."""
    return {"release": release_of(str(values.get("dataset", "")), values.get("data_root"))}


def load_image_text(cfg: Any, image: ImageEncoderBuild) -> ImageTextData:
    """The dataset ``cfg.dataset`` (see :class:`~.config.ImageTextDistillConfig`) with images sized and
    normalised for ``image`` and captions embedded by ``cfg.text_encoder``. Before any image is decoded, a set whose
    float32 pixels cannot fit in the host's available memory is refused (a DataError naming the image count, the size,
    the estimate and ``image_size``); ``memory_check=false`` skips that check."""
    kind = canonical_dataset(cfg.dataset)
    bad = BadInput()
    if kind == "csv":
        path = _need_root(cfg)
        records = read_csv_records(path)
        root = Path(cfg.image_root).expanduser() if cfg.image_root else path.parent
        opener, source, name = file_opener(root), str(path), path.stem
    elif kind in ("karpathy", "coco", "flickr30k"):
        path = _need_root(cfg)
        records = read_json_records(path, Path(cfg.test_captions).expanduser() if cfg.test_captions else None, bad)
        root = Path(cfg.image_root).expanduser() if cfg.image_root else path.parent
        opener, source, name = file_opener(root), str(path), json_dataset_name(kind, path)
    elif kind == "folder":
        root = _need_root(cfg)
        records = read_folder_records(root, bad)
        opener, source, name = file_opener(root), str(root), root.name
    else:  # shapes: canonical_dataset refused any other name
        records, pictures = shapes_records(SHAPES_IMAGES, cfg.seed)
        opener, source, name = pictures.__getitem__, "shapes (generated)", "shapes"
    if kind in ("csv", "karpathy", "coco", "flickr30k") and not root.is_dir():
        raise DataError(f"image root {root} does not exist (set image_root to the folder the image paths are relative to)")
    if any(r.split is not None for r in records):  # a split column, Karpathy's split field, a test_captions file
        warn_unused_split_config(cfg, name, "the split its captions name", log, ("test_fraction", "split_order", "split_seed"),
                                 defaults={"split_order": "sorted"})
    if kind != "shapes":  # one image written two ways (images/x.jpg, ./images/x.jpg, /abs/images/x.jpg) is one image
        records = canonical_image_paths(records, root)
    loaded = build_splits(
        records, opener, size=image.image_size, mean=image.mean, std=image.std, bad=bad, on_bad=cfg.on_bad, source=source,
        test_fraction=cfg.test_fraction, split_order=cfg.split_order, seed=cfg.split_seed, max_words=cfg.max_caption_words,
        progress=cfg.progress, root=root if kind != "shapes" else None, check_memory=bool(getattr(cfg, "memory_check", True)),
        # a recipe whose image size follows its model (REPLACED_KEYS: clip_finetune) has no image_size to lower
        memory_hint=None if "image_size" in getattr(type(cfg), "REPLACED_KEYS", {}) else "a smaller image_size (--image-size N)",
    )
    encoder = build_text_encoder(cfg.text_encoder, cfg.text_pooling, download=cfg.download)
    long: dict[str, list[tuple[int, int]]] = {}  # counted where the captions are embedded (kept in the text cache)
    loaded.train.text, bank, long["train"] = embed_and_measure(encoder, loaded.train.captions, cfg.text_cache,
                                                               batch_size=cfg.text_batch, progress=cfg.progress)
    loaded.test.text, _, long["test"] = embed_and_measure(encoder, loaded.test.captions, cfg.text_cache,
                                                          batch_size=cfg.text_batch, progress=cfg.progress)
    report_long_captions(encoder, {"train": loaded.train, "test": loaded.test}, loaded.report, source, long)
    meta = {
        "mean": list(image.mean), "std": list(image.std), "image_size": image.image_size, "image_encoder": image.name,
        "text_encoder": encoder.name, "text_dim": encoder.dim, "caption_bank": bank_ref(bank), "dropped": loaded.dropped,
        # a custom text_cache (already in the manifest's config): where a later export or preview finds the bank
        **({"caption_bank_dir": str(Path(cfg.text_cache).expanduser())} if cfg.text_cache else {}),
        "unused_val_images": loaded.unused_val_images, "source": source,
        # what the experts start from and the space their text lies in: in an expert buffer's spec (fingerprint())
        "image_weights": image.weights_identity(), "text_space": text_space(encoder), "text_pooling": getattr(encoder, "pooling", None),
        "max_caption_words": int(cfg.max_caption_words),  # the caption cut, which pairs_like repeats on a consumer's captions
    }
    if kind != "shapes":  # read from files: what on_bad=skip dropped (zeros too) goes into the set's manifest
        loaded.report.root = str(root)
        if rotated := getattr(opener, "rotated", None):  # photos turned upright by EXIF, as the image loader does
            loaded.report.extend("exif_rotated", rotated)
            log.info("%s: %d image(s) turned upright by their EXIF orientation tag, e.g. %s (%s)", source, len(rotated),
                     *rotated[0])
        meta["load_report"] = loaded.report.as_dict()
    return ImageTextData(name=name, train=loaded.train, test=loaded.test, meta=meta)


__all__ = ["DATASETS", "load_image_text"]
