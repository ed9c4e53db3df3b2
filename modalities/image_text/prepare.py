"""Your own images and captions as an image-text set's inputs: :func:`pairs_like` reads image files (or takes PIL
images) as the loader read the set's real images -- turned upright by EXIF, RGB, resized to ``image_size`` (PIL
bicubic), scaled to [0, 1] and normalised with the image encoder's mean and std -- and embeds captions as the loader
did -- control characters replaced, cut to ``max_caption_words`` words, embedded by the frozen text encoder the set
records (``text_encoder``, ``text_pooling``; its ``text_space`` checked) -- so a dual encoder trained on the set can be
tested on pairs it never saw (retrieval), or its text side fed captions of your own.

Everything it reads is in the set's metadata: ``image_size``, ``mean``, ``std``, ``text_encoder``, ``text_pooling``,
``text_space`` and ``max_caption_words`` (the last two recorded since walk 53B; for an older set
``DistilledSet.inputs_like`` passes its run config's ``max_caption_words`` as ``max_words=``; given neither, captions
are cut at the config's default, 30 words, with a warning)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.inputs_like import as_items, is_pil, source_meta

from ..groups import some
from .config import ImageTextDistillConfig
from .data import normalised_pixels
from .loaders import clean_caption, file_opener, image_to_pixels, replace_controls

log = logging.getLogger(__name__)

WHAT = "a distilled image-text set"


def images_of(meta: Mapping[str, Any], images: Sequence[str | Path | Any]) -> Tensor:
    """Image files or PIL images as the set's normalised images, (N, 3, S, S) float32: each file read by the loader's
    own opener (upright by EXIF) and :func:`~.loaders.image_to_pixels`, then :func:`~.data.normalised_pixels`. DataError
    naming each file that cannot be read (nothing is skipped: a test set must be whole)."""
    from ..image.decode import upright

    size, mean, std = int(meta["image_size"]), tuple(meta["mean"]), tuple(meta["std"])
    out, bad = [], []
    for item in as_items(images):  # one path or image alone: one sample
        try:
            if is_pil(item):
                img = upright(item.copy())[0]
            elif isinstance(item, (str, Path)):
                path = Path(item).expanduser()
                img = file_opener(path.parent)(path.name)
            else:
                raise ConfigError(f"pairs_like: expected image files (paths) or PIL images, got a {type(item).__name__}")
            out.append(normalised_pixels(image_to_pixels(img, size), mean, std))
        except (OSError, ValueError) as exc:
            bad.append(f"{item} ({'no such file' if isinstance(exc, FileNotFoundError) else exc})")
    if bad:
        raise DataError(f"pairs_like: {len(bad)} image(s) not read: {some(bad)}")
    return torch.stack(out) if out else torch.empty(0, 3, size, size)


def _max_words(meta: Mapping[str, Any], max_words: int | None) -> int:
    if max_words is not None:
        return int(max_words)
    if isinstance(meta.get("max_caption_words"), int):
        return int(meta["max_caption_words"])
    default = ImageTextDistillConfig.__dataclass_fields__["max_caption_words"].default
    log.warning("pairs_like: the set records no max_caption_words (made before it was recorded); captions are cut at the "
                "default %s words (pass max_words= the run's config.max_caption_words if it set another)", default)
    return int(default)  # type: ignore[arg-type]


def built_pooling(meta: Mapping[str, Any]) -> str:
    """The ``pooling`` argument that rebuilds the set's text encoder as its run built it: the recorded ``text_pooling``
    when the set records a ``text_space`` that is not L2-normalised (``auto`` would resolve to that pooling without
    normalising); else ``auto`` -- no pooling recorded (an open_clip tower), an L2-normalised space (only ``auto``
    reads a sentence-transformers folder's Normalize module), or a set made before ``text_space`` was recorded (the
    run's default; :func:`text_encoder_of` rebuilds with the recorded pooling when ``auto`` resolves another)."""
    pooling, space = meta.get("text_pooling"), meta.get("text_space")
    if pooling and isinstance(space, str) and space and not space.endswith("L2-normalised"):
        return str(pooling)
    return "auto"


@functools.lru_cache(maxsize=2)
def _cached_text_encoder(name: str, pooling: str) -> Any:
    """The frozen text encoder ``name`` built with ``pooling``, loaded once per (name, pooling) in a process (a full
    model load; :func:`captions_of` is called once per batch of captions). Shared: it is only read."""
    from .encoders import build_text_encoder

    return build_text_encoder(name, pooling)


def text_encoder_of(meta: Mapping[str, Any]) -> Any:
    """The frozen text encoder the set's captions were embedded with, rebuilt from ``meta["text_encoder"]`` and its
    pooling (:func:`built_pooling`; loaded once per process); its ``text_space`` (encoder, pooling, normalisation) must
    be the recorded one. ArtifactError naming what the set lacks, or both spaces when they differ."""
    from .encoders import text_space

    name = meta.get("text_encoder")
    if not isinstance(name, str) or not name:
        raise ArtifactError("pairs_like: the set records no text_encoder, so its captions' embedding cannot be repeated; "
                            "embed your captions with the encoder its run used (the manifest's config.text_encoder)")
    enc = _cached_text_encoder(name, built_pooling(meta))
    pooling = meta.get("text_pooling")
    if pooling and getattr(enc, "pooling", pooling) != pooling:  # a set without text_space whose run set another pooling
        enc = _cached_text_encoder(name, str(pooling))
    recorded = meta.get("text_space")
    if recorded and text_space(enc) != recorded:
        raise ArtifactError(f"pairs_like: the set's captions were embedded in {recorded!r}; {name} rebuilt here embeds in "
                            f"{text_space(enc)!r}: the embeddings would not be the set's")
    return enc


def captions_of(meta: Mapping[str, Any], captions: Sequence[str], *, max_words: int | None = None, batch_size: int = 256) -> Tensor:
    """Captions as the set's text embeddings, (M, D) float32: cleaned as the loader cleans them (control characters
    replaced by spaces, whitespace collapsed, cut to ``max_caption_words``) and embedded by :func:`text_encoder_of`.
    ConfigError for a caption that is not a string or is empty after cleaning, naming its index."""
    if isinstance(captions, str):
        captions = [captions]
    words = _max_words(meta, max_words)
    cleaned = []
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise ConfigError(f"pairs_like: caption {i} is a {type(c).__name__}, expected a string")
        cap = clean_caption(replace_controls(c)[0], words)
        if not cap:
            raise ConfigError(f"pairs_like: caption {i} is empty (after whitespace and control characters are removed); the "
                              "loader drops such captions")
        cleaned.append(cap)
    enc = text_encoder_of(meta)
    if not cleaned:
        return torch.empty(0, int(meta.get("text_dim") or enc.dim))
    return enc.encode(cleaned, batch_size, progress=False).float()


def pairs_like(source: Any, raw: Mapping[str, Any] | Sequence[Any], *, max_words: int | None = None,
               batch_size: int = 256) -> dict[str, Tensor]:
    """Your images and captions as the set's inputs: ``{"images": (N, 3, S, S), "text": (M, D)}``, the keys of what you
    gave (``ds.inputs``' names).

    Args:
        source: the set (``mmdistill.load(RUN)``), its synthetic set or its ``meta``.
        raw: ``{"images": files or PIL images, "captions": strings}`` (either or both); a list is images only.
        max_words: the caption cut, for a set made before ``max_caption_words`` was recorded.
        batch_size: captions embedded per batch.

    Raises:
        DataError: an image that cannot be read, naming each. ConfigError: a key other than ``images``/``captions``,
            a caption that is not text or is empty. ArtifactError: the set records no text encoder (captions given) or
            its text space differs from the encoder rebuilt here.
    """
    meta = source_meta(source, "pairs_like", WHAT, ("image_size", "mean", "std"))
    parts = dict(raw) if isinstance(raw, Mapping) else {"images": raw}
    other = sorted(set(parts) - {"images", "captions"})
    if other or not parts:
        raise ConfigError(f"pairs_like: expected {{'images': [...], 'captions': [...]}} (either or both), got keys {other or '{}'}")
    out: dict[str, Tensor] = {}
    if "images" in parts:
        out["images"] = images_of(meta, parts["images"])
    if "captions" in parts:
        out["text"] = captions_of(meta, parts["captions"], max_words=max_words, batch_size=batch_size)
    return out


__all__ = ["captions_of", "images_of", "pairs_like", "text_encoder_of"]
