"""The generated ``tones`` set: five classes of synthetic sounds (steady tone, rising and falling chirps, warble,
two-tone chord) with random pitch, onset, length, level and noise, as WAV bytes (no files, no download)."""

from __future__ import annotations

import io

import numpy as np

from mmdistill.errors import ConfigError

from .items import AudioItem, _bytes_opener

TONE_CLASSES = ("steady", "rising", "falling", "warble", "chord")


def generated_data_seed(cfg: object) -> int:
    """The seed that draws a config's generated data (``tones``, ``tones-digits``): its ``split_seed`` (the data the same
    for every ``seed`` of a sweep, as a drawn split is), or its ``seed`` when ``generated_seed`` is ``"seed"`` (every set
    and checkpoint saved before the key existed: :data:`~mmdistill.key_history.ABSENT_BEFORE_FROM`)."""
    return int(getattr(cfg, "seed") if getattr(cfg, "generated_seed", "split_seed") == "seed" else getattr(cfg, "split_seed"))


def tone_clip(kind: str, rng: np.random.Generator, sample_rate: int = 8000, duration: float = 0.5) -> np.ndarray:
    """One synthetic clip of class ``kind`` (one of :data:`TONE_CLASSES`): float32 samples, ``duration``
    seconds at ``sample_rate``, with random pitch (about 250-900 Hz), onset, length (40-90 % of the clip),
    level and background noise drawn from ``rng``."""
    if kind not in TONE_CLASSES:
        raise ConfigError(f"unknown tone class {kind!r}; choose from {TONE_CLASSES}")
    n = int(round(sample_rate * duration))
    length = int(n * rng.uniform(0.4, 0.9))
    onset = int(rng.integers(0, n - length + 1))
    t = np.arange(length) / sample_rate
    f0 = rng.uniform(250.0, 600.0)
    if kind == "steady":
        freq = np.full(length, f0)
    elif kind == "rising":
        freq = f0 * np.exp(np.log(rng.uniform(1.6, 2.4)) * t / t[-1])
    elif kind == "falling":
        freq = f0 * 1.5 * np.exp(-np.log(rng.uniform(1.6, 2.4)) * t / t[-1])
    elif kind == "warble":
        freq = f0 * (1.0 + 0.12 * np.sin(2 * np.pi * rng.uniform(6.0, 12.0) * t))
    else:  # chord: a fifth above the root as well
        freq = np.full(length, f0)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    tone = np.sin(phase) + (0.8 * np.sin(1.5 * phase) if kind == "chord" else 0.0)
    envelope = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.01 * sample_rate))
    out = rng.normal(0.0, rng.uniform(0.005, 0.03), n)
    out[onset : onset + length] += rng.uniform(0.2, 0.6) * envelope * tone / (1.8 if kind == "chord" else 1.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _tones(seed: int, per_class: int = 40, sample_rate: int = 8000, duration: float = 0.5) -> tuple[list[AudioItem], list[str]]:
    """``per_class`` generated clips of each tone class; the last quarter of each class is the test split."""
    items: list[AudioItem] = []
    for c, kind in enumerate(TONE_CLASSES):
        rng = np.random.default_rng([seed, c])
        for i in range(per_class):
            wav = _wav_bytes(tone_clip(kind, rng, sample_rate, duration), sample_rate)
            items.append(AudioItem(f"tones/{kind}/{i}", _bytes_opener(wav), kind, "test" if i >= per_class * 3 // 4 else "train"))
    return items, list(TONE_CLASSES)


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()

