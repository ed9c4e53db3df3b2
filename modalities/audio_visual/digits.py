"""Paired digit sets built from real data at hand, and the generated default.

* :func:`build_av_digits`: audio-visual digits, the AV-MNIST-style construction of multimodal-learning papers: every
  Free Spoken Digit Dataset recording (``recordings.tar``: 3,000 8 kHz takes, 6 speakers x 50 per digit) is paired with
  a scikit-learn ``digits`` image (1,797 8x8 handwritten digits) of the same class. The test split pairs the takes
  of held-out speakers (unseen voices) with the images of the image adapter's held-out split (unseen writers' digits);
  the training split pairs the other speakers' takes with the training images. There are fewer images than takes per
  class, so each image appears in several pairs (a seeded shuffle, cycled). Written as WAV + PNG files and a CSV
  ``image_path,audio_path,label,split`` the ``csv`` loader reads (``benchmarks/make_audio_visual_digits.py``).
* :func:`tones_digits_pairs`: the generated default (no files): the audio adapter's five tone classes paired with
  digits 0-4, 12 training and 4 test pairs per class, drawn with the recipe's ``split_seed`` (``generated_seed``).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mmdistill.errors import DataError

from ..audio.decode import Clip, decode
from ..audio.fsdd import _fsdd_tar
from ..audio.tones import TONE_CLASSES, tone_clip
from ..image.named import _digits
from .raw_pairs import RawPair

FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def build_av_digits(fsdd: str | Path, out_dir: str | Path, *, test_speakers: Sequence[str] = ("yweweler",),
                    exclude_speakers: Sequence[str] = (), image_test_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write the paired digits set to ``out_dir`` (``audio/*.wav``, ``images/*.png``, ``pairs.csv``); returns the CSV.

    ``test_speakers``' takes form the test split with the held-out images; ``exclude_speakers`` are left out (a
    validation set carved from training data: ``test_speakers=("theo",), exclude_speakers=("yweweler",)``). The set is
    built in a temporary sibling and renamed into place; DataError if ``out_dir`` exists and is not empty (a second
    build with other settings would otherwise mix its pairs with the first's images)."""
    from PIL import Image

    from ..artifacts import new_tree

    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise DataError(f"{final} exists and is not an empty folder; build_av_digits writes a new folder (choose another --out)")
    fsdd = Path(fsdd)
    tar = fsdd if fsdd.is_file() else fsdd / "recordings.tar"
    if not tar.is_file():
        raise DataError(f"FSDD recordings.tar not found at {fsdd}")
    takes = []
    for base, name, opener in _fsdd_tar(tar):
        m = FSDD_NAME.match(base)
        if m is None:
            raise DataError(f"{name} is not named {{digit}}_{{speaker}}_{{index}}.wav")
        if m.group(2) not in exclude_speakers:
            takes.append((base, int(m.group(1)), "test" if m.group(2) in test_speakers else "train", opener))
    speakers = {FSDD_NAME.match(t[0]).group(2) for t in takes}  # type: ignore[union-attr]
    unknown = sorted(set(test_speakers) - speakers)
    if unknown:
        raise DataError(f"test speaker(s) {unknown} not in {tar} (speakers: {sorted(speakers)})")
    x_tr, y_tr, x_te, y_te, _ = _digits(image_test_fraction, seed)
    images = {"train": (x_tr, y_tr), "test": (x_te, y_te)}
    with new_tree(final) as out:
        (out / "audio").mkdir()
        (out / "images").mkdir()
        rng = np.random.default_rng(seed)
        rows = []
        for split in ("train", "test"):
            x, y = images[split]
            for digit in range(10):
                pool = torch.nonzero(y == digit).flatten().numpy()
                pool = pool[rng.permutation(len(pool))]
                mine = [t for t in takes if t[2] == split and t[1] == digit]
                for k, (base, _, _, opener) in enumerate(mine):
                    idx = int(pool[k % len(pool)])
                    img_name = f"images/{split}_{idx:04d}.png"
                    if not (out / img_name).exists():
                        Image.fromarray((x[idx, 0].numpy() * 255.0 + 0.5).astype(np.uint8), mode="L").save(out / img_name)
                    (out / "audio" / base).write_bytes(opener())
                    rows.append((img_name, f"audio/{base}", str(digit), split))
        with open(out / "pairs.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image_path", "audio_path", "label", "split"])
            w.writerows(rows)
    return final / "pairs.csv"


#: generated pairs per class of ``tones-digits`` when a set needs no more (12 training, 4 test)
TONES_DIGITS_PER_CLASS = 16


def tones_digits_per_class(train_needed: int) -> int:
    """Generated pairs per class for a set that draws ``train_needed`` real training pairs per class (``ipc`` x
    ``multi_formation``²): :data:`TONES_DIGITS_PER_CLASS`, or the next multiple of 4 whose training three quarters hold
    them (the paper default, 10 pairs per class of 2 x 2 tiles, needs 40: 56 generated, 42 training)."""
    return max(TONES_DIGITS_PER_CLASS, 4 * -(-int(train_needed) // 3))


def tones_digits_pairs(seed: int, per_class: int = TONES_DIGITS_PER_CLASS, sample_rate: int = 8000, duration: float = 0.5) -> list[RawPair]:
    """Generated pairs: tone class ``k`` (the audio adapter's :data:`TONE_CLASSES`) with a digit-``k`` image; the last
    quarter of each class is the test split (its images from the digits' held-out split). ``seed`` draws the tones (a
    recipe passes its ``split_seed``: :func:`~..audio.tones.generated_data_seed`, so every ``--seed`` sees the same pairs)."""
    import soundfile as sf

    x_tr, y_tr, x_te, y_te, _ = _digits(0.25, 0)
    rng = np.random.default_rng(seed)
    pairs = []
    for k, kind in enumerate(TONE_CLASSES):
        for i in range(per_class):
            split = "test" if i >= per_class * 3 // 4 else "train"
            x, y = (x_te, y_te) if split == "test" else (x_tr, y_tr)
            pool = torch.nonzero(y == k).flatten()
            buf = io.BytesIO()
            sf.write(buf, tone_clip(kind, rng, sample_rate, duration), sample_rate, format="WAV", subtype="FLOAT")
            name = f"tones-digits/{kind}/{i}"
            clip: Clip = decode(name, buf.getvalue())
            pairs.append(RawPair(name, clip, x[int(pool[i % len(pool)])].clone(), f"{k}-{kind}", split))
    return pairs


__all__ = ["TONES_DIGITS_PER_CLASS", "build_av_digits", "tones_digits_pairs", "tones_digits_per_class"]
