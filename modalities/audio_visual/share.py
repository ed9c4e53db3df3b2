"""Distilled pairs as a shareable dataset (:mod:`mmdistill.sharing`): Hugging Face columns and the memorisation views.

Columns: ``image`` (a ``datasets.Image``: the frame as 8-bit pixels), ``audio`` (16-bit WAV bytes from the audio
adapter's Griffin-Lim inversion, cast to ``datasets.Audio`` after building), the exact normalised tensors ``log_mel``
(1, n_mels, frames) and ``pixel_values`` (C, H, W), and ``label``. The memorisation check compares a pair as the
concatenation of both flattened inputs, against the real training pairs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mmdistill.memorisation import MemorisationViews, pool_indices
from mmdistill.sharing import random_features, require_datasets
from mmdistill.synthetic import SyntheticSet

from .export import mel_to_waves, pair_meta
from ..audio.export import wav_bytes_clips
from ..image.export import to_pixels

HF_INPUT_NAMES = {"audio": "log_mel", "image": "pixel_values"}


def natural_columns(syn: SyntheticSet, inputs: dict[str, Tensor]) -> tuple[dict[str, list], dict[str, Any]]:
    """``image`` (uint8 H x W (x C) arrays) and ``audio`` ({"bytes": WAV, "path": None}) columns and their features."""
    params, a_mean, a_std, i_mean, i_std = pair_meta(syn.meta)
    pixels = (to_pixels(inputs["image"].float(), i_mean, i_std) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    images = [p[..., 0] if p.shape[-1] == 1 else p for p in pixels]
    waves = mel_to_waves(inputs["audio"].float() * a_std + a_mean, params, syn.meta.get("num_samples"))
    clips = wav_bytes_clips(waves, params.sample_rate)
    datasets = require_datasets()
    return ({"image": images, "audio": clips},
            {"image": datasets.Image(), "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}})


def audio_cast(syn: SyntheticSet) -> dict[str, Any]:
    """The cast applied once the Hugging Face dataset is built: ``audio`` as ``datasets.Audio`` at the set's sample
    rate (Hz). ArtifactError if ``syn.meta`` lacks the pair metadata; ConfigError without ``datasets``."""
    params = pair_meta(syn.meta)[0]
    return {"audio": require_datasets().Audio(sampling_rate=params.sample_rate)}


def pair_memorisation_views(inputs: dict[str, Tensor], data: Any, max_real: int, gen: torch.Generator) -> MemorisationViews | None:
    """Flattened (log-mel, frame) pairs against a pool of at most ``max_real`` real training pairs; features: the
    core's seeded random projection."""
    train = getattr(data, "train", None)
    if train is None or not hasattr(train, "audio"):
        return None
    pool = pool_indices(len(train), max_real, gen).to(train.audio.device)
    real = torch.cat([train.audio[pool].flatten(1), train.image[pool].flatten(1)], 1).detach().float().cpu()
    syn = torch.cat([inputs["audio"].flatten(1), inputs["image"].flatten(1)], 1).float()
    return MemorisationViews(syn_input=syn, real_input=real, syn_feature=random_features(syn), real_feature=random_features(real),
                             feature_space="ReLU(seeded Gaussian projection to 256-d) of the concatenated pair",
                             input_space="flattened (log-mel, frame) pairs", real_bytes_per_sample=int(real.shape[1] * 4))


__all__ = ["HF_INPUT_NAMES", "audio_cast", "natural_columns", "pair_memorisation_views"]
