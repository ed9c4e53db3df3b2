"""Caption embeddings by a frozen text encoder, computed once and cached as safetensors.

The cache file is named by the encoder and a hash of (encoder fingerprint, captions in order); it holds the
(N, D) embeddings and, in its metadata, the captions themselves, so the preview and export can name the
nearest real caption of a distilled text embedding without reloading the dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import torch
from torch import Tensor

from mmdistill.cache_dir import cache_root
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.io import load_tensors_with_metadata, save_tensors
from mmdistill.json_text import parse_json

from .encoders import FrozenTextEncoder
from .token_limits import long_captions

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``<cache>/text`` (:func:`mmdistill.cache_dir.cache_root`): where caption embeddings are cached."""
    return cache_root() / "text"


def cache_path(encoder: FrozenTextEncoder, captions: list[str], cache_dir: Path) -> Path:
    """The cache file of ``captions`` under ``encoder`` in ``cache_dir``: ``<encoder name>-<hash>.safetensors``, the
    hash 24 hex digits of a SHA-256 over the encoder's fingerprint and the captions in order, each prefixed by its
    length in bytes (so ``["a\\nb"]`` and ``["a", "b"]`` get different files)."""
    h = hashlib.sha256(encoder.fingerprint().encode() + b"|captions-v2")
    for c in captions:
        raw = c.encode()
        h.update(f"\n{len(raw)}:".encode() + raw)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name)[-60:]
    return cache_dir / f"{slug}-{h.hexdigest()[:24]}.safetensors"


def _cached_long(meta: dict[str, str], encoder: FrozenTextEncoder, count: int) -> list[tuple[int, int]] | None:
    """The ``(index, tokens)`` of the long captions a cache file's metadata records (``long_captions``), or None when
    it records none (a file written before they were recorded), none for this encoder's context, or a damaged list."""
    try:
        recorded = parse_json(meta.get("long_captions", "null"))
    except json.JSONDecodeError:
        return None
    if not isinstance(recorded, dict) or recorded.get("context") != encoder.context or not isinstance(recorded.get("found"), list):
        return None
    found = [tuple(pair) for pair in recorded["found"] if isinstance(pair, list) and len(pair) == 2]
    ok = len(found) == len(recorded["found"]) and all(
        type(i) is int and type(n) is int and 0 <= i < count and n > (encoder.context or 0) for i, n in found)
    return found if ok else None  # type: ignore[return-value]


def embed_and_measure(
    encoder: FrozenTextEncoder, captions: list[str], cache_dir: str | Path | None = None, *, batch_size: int = 256, progress: bool = True,
) -> tuple[Tensor, Path, list[tuple[int, int]]]:
    """(N, D) float32 embeddings of ``captions``, read from the cache when present; the cache file (not written, with
    a warning, when ``cache_dir`` cannot be written: a read-only or full disk); and the ``(index, tokens)`` of each
    caption longer than ``encoder.context`` (:func:`~.token_limits.long_captions`): counted once when the captions are embedded and kept in the cache file's
    metadata (``long_captions``, with the context), so a load that reads the embeddings from the cache does not
    tokenize every caption again."""
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"text_cache={folder} is a file; it must be a folder for the cached caption embeddings", key="text_cache")
    path = cache_path(encoder, captions, folder)
    if path.is_file():
        why = ""
        try:
            tensors, meta = load_tensors_with_metadata(path)
            emb = tensors.get("text")
            width = encoder.dim or "D"  # the name is the key; the content is checked (walk 49A: a shared or damaged entry)
            if emb is None or emb.dim() != 2 or emb.shape[0] != len(captions) or (encoder.dim and emb.shape[1] != encoder.dim):
                why = f"it holds no ({len(captions)}, {width}) 'text' tensor"
            elif meta.get("fingerprint") != encoder.fingerprint():
                why = f"it was made by another encoder ({meta.get('encoder')!r})"
            elif not emb.is_floating_point() or not bool(torch.isfinite(emb).all()):
                why = "its embeddings hold NaN or infinite values" if emb.is_floating_point() else "its embeddings are not floats"
            elif parse_json(meta.get("captions", "null")) != captions:
                why = "it holds the embeddings of other captions (its 'captions' differ from these)"
            else:
                long = _cached_long(meta, encoder, len(captions))
                return emb.float(), path, long_captions(encoder, captions) if long is None else long
        except (ArtifactError, json.JSONDecodeError) as exc:
            why = str(exc)
        log.warning("text cache %s is not usable (%s); embedding the %d captions again and replacing it", path, why, len(captions))
    emb = encoder.encode(captions, batch_size, progress).float().contiguous()
    long = long_captions(encoder, captions)
    meta = {"format": "mmdistill.text-embeddings/1", "encoder": encoder.name, "fingerprint": encoder.fingerprint(),
            "count": str(len(captions)), "captions": json.dumps(captions),
            "long_captions": json.dumps({"context": encoder.context, "found": long})}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_tensors(path, {"text": emb}, metadata=meta)
    except OSError as exc:  # as the other caches: a warning, never the run's end (the embeddings are in hand)
        log.warning("text cache %s cannot be written (%s); the %d captions are used without caching them (the next run "
                    "embeds them again; set text_cache to a writable folder)", path, exc.strerror or exc, len(captions))
    return emb, path, long


#: caption bank reference -> its cache file, for the banks this process embedded or read (a custom ``text_cache``)
_BANKS: dict[str, Path] = {}


def bank_ref(path: Path) -> str:
    """What a set's ``meta["caption_bank"]`` records of the cache file ``path``: the 24 hex digits of its name (a hash
    of the encoder and the captions, :func:`cache_path`), no folder of this machine (a manifest is shared)."""
    ref = path.stem.rsplit("-", 1)[-1]
    _BANKS[ref] = path
    return ref


def caption_bank_file(ref: str | Path, folder: str | Path | None = None) -> Path | None:
    """The cache file of a caption bank reference: a path as older sets recorded it, else (:func:`bank_ref`) the file
    this process embedded or read, else ``<encoder>-<ref>.safetensors`` in ``folder`` (the set's custom
    ``text_cache``, recorded as ``caption_bank_dir``) or the default text cache; None when none is found on this
    machine."""
    ref = str(ref)
    if "/" in ref or "\\" in ref or ref.endswith(".safetensors"):
        return Path(ref)
    if ref in _BANKS:
        return _BANKS[ref]
    if not re.fullmatch(r"[0-9a-f]{8,64}", ref):
        return None
    for place in ([Path(folder).expanduser()] if folder else []) + [default_cache_dir()]:
        found = sorted(place.glob(f"*-{ref}.safetensors")) if place.is_dir() else []
        if found:
            return found[0]
    return None


def load_caption_bank(path: str | Path, folder: str | Path | None = None) -> tuple[list[str], Tensor] | None:
    """The captions and their embeddings of a cache file (a path, or a set's reference looked up in ``folder`` and the
    default cache: :func:`caption_bank_file`), or None when it is gone or unreadable."""
    path = caption_bank_file(path, folder)  # type: ignore[assignment]
    if path is None:
        return None
    try:
        tensors, meta = load_tensors_with_metadata(path)
        captions = parse_json(meta["captions"])
    except (ArtifactError, KeyError, json.JSONDecodeError, OSError):
        return None
    emb = tensors.get("text")
    if emb is None or emb.shape[0] != len(captions):
        return None
    return captions, emb.float()


def nearest_captions(text: Tensor, bank: tuple[list[str], Tensor], *, similarity: bool = False) -> list[str]:
    """For each row of ``text`` (K, D), the caption of the bank with the highest cosine similarity; with
    ``similarity``, prefixed by that cosine (``"[cos 0.41] a dog ..."``: a distilled embedding may lie far from every
    real caption, and its nearest one then says little about it)."""
    captions, emb = bank
    sims = torch.nn.functional.normalize(text.detach().float().cpu(), dim=-1) @ torch.nn.functional.normalize(emb, dim=-1).T
    best, idx = sims.max(dim=1)
    if similarity:
        return [f"[cos {float(c):.2f}] {captions[i]}" for c, i in zip(best, idx.tolist())]
    return [captions[i] for i in idx.tolist()]


__all__ = ["bank_ref", "cache_path", "caption_bank_file", "default_cache_dir", "embed_and_measure", "load_caption_bank",
           "nearest_captions"]
