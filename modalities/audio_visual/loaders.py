"""Readers of paired audio-visual data into :class:`~.data.AVData`.

Sources (``dataset``):

* ``video``: clips with sound (``data_root`` laid out as the video adapter reads it: class folders, train/test
  folders, or a ``path,label,split`` CSV such as kinetics-tiny's ``clips.csv``); the middle frame through decord's
  ``VideoReader`` and the sound track through decord's ``AudioReader`` (mono), resampled with torchaudio;
* ``csv``: a CSV ``image_path,audio_path,label[,split]`` (paths relative to the CSV; optional ``image_label`` and
  ``audio_label`` columns must agree with each other);
* a name registered with :func:`register_tensors` (in-memory tensors);
* ``tones-digits``: generated, no files (tones of the audio adapter paired with scikit-learn digits).

Bad input is named with counts: a clip without an audio track is skipped (listed) or fails in ``strict`` mode;
audio at another sample rate is resampled and counted per source rate; a pair whose labels disagree fails naming
the rows. Every message names the file.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError

from ..audio.decode import BadFile, Clip, decode, describe_bad, fix_length, resample_clips
from .data import AVData, check_pair_labels, image_tensor, log_mel, normalise_pairs

log = logging.getLogger(__name__)

BUILT_IN = ("tones-digits", "csv", "video")

#: in-memory sets registered by API users (:func:`register_tensors`): name -> AVData-making arguments
_TENSOR_SETS: dict[str, dict[str, Any]] = {}


@dataclass
class RawPair:
    """One pair before featurising: its name, the decoded clip, the frame (C, h, w) in [0, 1], class, split."""

    name: str
    clip: Clip
    image: Tensor
    label: str
    split: str


def register_tensors(name: str, audio_train: Tensor, image_train: Tensor, y_train: Tensor, audio_test: Tensor, image_test: Tensor,
                     y_test: Tensor, classes: list[str] | None = None) -> str:
    """Make in-memory pairs loadable as ``dataset=name``: waveforms (N, T) at the config's ``sample_rate``, frames
    (N, C, h, w) in [0, 1] (or uint8), class ids (N,). Returns ``name``."""
    if name in BUILT_IN:
        raise ConfigError(f"{name!r} is a built-in dataset name; choose another")
    for what, a, i, y in (("train", audio_train, image_train, y_train), ("test", audio_test, image_test, y_test)):
        if a.dim() != 2 or i.dim() != 4 or y.dim() != 1 or not len(a) == len(i) == len(y):
            raise DataError(f"register_tensors({name!r}): {what} needs audio (N, T), frames (N, C, h, w) and labels (N,) of one N; got "
                            f"{tuple(a.shape)}, {tuple(i.shape)}, {tuple(y.shape)}")
    k = int(max(int(y_train.max()), int(y_test.max())) + 1)
    _TENSOR_SETS[name] = dict(audio=(audio_train, audio_test), image=(image_train, image_test), y=(y_train, y_test),
                              classes=list(classes) if classes is not None else [str(c) for c in range(k)])
    return name


def load_pairs(cfg: Any) -> AVData:
    """The dataset ``cfg.dataset`` as normalised :class:`AVData` (see the module docstring)."""
    name = cfg.dataset
    if name in _TENSOR_SETS:
        return _from_tensors(name, cfg)
    if name == "tones-digits":
        from .digits import tones_digits_pairs

        return featurise(name, tones_digits_pairs(cfg.seed, sample_rate=cfg.sample_rate, duration=cfg.duration), cfg)
    if name == "csv":
        return featurise(Path(_root(cfg)).stem, read_csv_pairs(Path(_root(cfg)), cfg.test_fraction, cfg.seed), cfg)
    if name == "video":
        return featurise(Path(_root(cfg)).name, read_video_pairs(Path(_root(cfg)), cfg), cfg)
    raise ConfigError(f"unknown audio-visual dataset {name!r}; choose from {', '.join(BUILT_IN)} or a name given to register_tensors "
                      f"({', '.join(sorted(_TENSOR_SETS)) or 'none registered'})")


def _root(cfg: Any) -> str:
    if not cfg.data_root:
        raise ConfigError(f"dataset {cfg.dataset!r} needs --data-root (a {'CSV file' if cfg.dataset == 'csv' else 'folder of clips'})")
    root = Path(cfg.data_root).expanduser()
    if not root.exists():
        raise DataError(f"data_root {root} does not exist")
    return str(root)


def _from_tensors(name: str, cfg: Any) -> AVData:
    spec = _TENSOR_SETS[name]
    params = cfg.feature_params()
    n = int(round(cfg.duration * cfg.sample_rate))
    parts = []
    for s in (0, 1):
        y = spec["y"][s].long()
        check_pair_labels(y, len(spec["classes"]), f"register_tensors({name!r})")
        img = spec["image"][s]
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        waves = fix_length(spec["audio"][s].float(), n)
        parts.append((log_mel(waves, params, cfg.audio_frames), image_tensor(img, cfg.image_size, cfg.image_channels), y, []))
    return normalise_pairs(name, spec["classes"], parts[0], parts[1], _meta(cfg, n))


def _meta(cfg: Any, num_samples: int) -> dict[str, Any]:
    return {"features": cfg.feature_params().to_dict(), "num_samples": num_samples, "audio_frames": cfg.audio_frames}


def featurise(name: str, pairs: list[RawPair], cfg: Any) -> AVData:
    """Resample every clip to ``cfg.sample_rate`` (counted per source rate, logged), fix its length, take the log-mel
    spectrogram; resize the frames; normalise with the training split's statistics."""
    if not pairs:
        raise DataError(f"{name}: no readable pairs")
    other = {}
    for p in pairs:
        if p.clip.sample_rate != cfg.sample_rate:
            other.setdefault(p.clip.sample_rate, []).append(p.name)
    for rate, names in sorted(other.items()):
        log.warning("%s: resampled %d audio file(s) from %d Hz to %d Hz: %s%s", name, len(names), rate, cfg.sample_rate,
                    ", ".join(names[:3]), " ..." if len(names) > 3 else "")
    classes = sorted({p.label for p in pairs}, key=_natural)
    n = int(round(cfg.duration * cfg.sample_rate))
    params = cfg.feature_params()
    parts = []
    for split in ("train", "test"):
        members = [p for p in pairs if p.split == split]
        if not members:
            raise DataError(f"{name}: the {split} split holds no pairs")
        waves = torch.stack([fix_length(w, n) for w in resample_clips([p.clip for p in members], cfg.sample_rate)])
        parts.append((log_mel(waves, params, cfg.audio_frames), image_tensor([p.image for p in members], cfg.image_size, cfg.image_channels),
                      torch.tensor([classes.index(p.label) for p in members]), [p.name for p in members]))
    meta = {**_meta(cfg, n), "resampled_files": {str(k): len(v) for k, v in other.items()}}
    return normalise_pairs(name, classes, parts[0], parts[1], meta)


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


# --------------------------------------------------------------------------- CSV
REQUIRED = ("image_path", "audio_path", "label")


def read_csv_pairs(path: Path, test_fraction: float = 0.2, seed: int = 0) -> list[RawPair]:
    """The rows of a CSV ``image_path,audio_path,label[,split][,image_label,audio_label]`` as pairs. DataError naming
    the file and rows for a missing column or file, an unknown split, or labels that disagree (``image_label`` vs
    ``audio_label`` on a row, or one file listed under two labels)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; expected a header image_path,audio_path,label[,split]")
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    disagree, seen = [], {}
    for n, r in enumerate(rows, 2):
        labels = {r["label"]} | {r[c] for c in ("image_label", "audio_label") if r.get(c)}
        if len(labels) > 1:
            disagree.append(f"row {n} ({r['image_path']}, {r['audio_path']}: {sorted(labels)})")
        for col in ("image_path", "audio_path"):
            first = seen.setdefault((col, r[col]), (n, r["label"]))
            if first[1] != r["label"]:
                disagree.append(f"row {n} ({r[col]} labelled {r['label']!r}, row {first[0]} {first[1]!r})")
    if disagree:
        raise DataError(f"{path}: {len(disagree)} pair(s) whose labels disagree: {'; '.join(disagree[:5])}{' ...' if len(disagree) > 5 else ''}")
    root = path.parent
    absent = [f"row {n}: {root / r[c]}" for n, r in enumerate(rows, 2) for c in ("image_path", "audio_path") if not (root / r[c]).is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} file(s) do not exist: {'; '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}")
    splits = [_split(r.get("split", ""), path, n) for n, r in enumerate(rows, 2)]
    if all(s is None for s in splits):
        gen = torch.Generator().manual_seed(seed)
        splits = ["test" if torch.rand((), generator=gen).item() < test_fraction else "train" for _ in rows]
    pairs = []
    for r, split in zip(rows, splits):
        pairs.append(RawPair(r["audio_path"], decode(str(root / r["audio_path"]), str(root / r["audio_path"])),
                             _read_image(root / r["image_path"]), r["label"], split or "train"))
    return pairs


def _split(value: str, path: Path, row: int) -> str | None:
    v = {"val": "test", "validation": "test", "valid": "test"}.get(value.lower(), value.lower())
    if v and v not in ("train", "test"):
        raise DataError(f"{path}, row {row}: split must be train, test or val, got {value!r}")
    return v or None


def _read_image(path: Path) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "1", "I", "I;16", "F") else im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image file {path}: {exc}") from None
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


# --------------------------------------------------------------------------- video files
def read_video_pairs(root: Path, cfg: Any) -> list[RawPair]:
    """Each clip's middle frame (decord ``VideoReader``) and its sound track (decord ``AudioReader``, mono, the
    file's own rate). A clip without an audio track or that cannot be decoded is skipped and listed (``strict``:
    DataError naming it)."""
    from ..video.datasets import discover

    try:
        import decord
    except ImportError:
        raise ConfigError("reading video files needs decord: pip install decord") from None
    items = discover(root, "files", None, cfg.test_fraction, cfg.seed)
    pairs, bad = [], []
    for it in items:
        try:
            vr = decord.VideoReader(str(it.path))
            frame = torch.from_numpy(vr[len(vr) // 2].asnumpy()).permute(2, 0, 1).float() / 255.0
        except Exception as exc:  # noqa: BLE001 - decord raises DECORDError and RuntimeError
            bad.append(BadFile(str(it.path), f"no readable video stream: {str(exc).splitlines()[0][:120]}"))
            continue
        try:
            ar = decord.AudioReader(str(it.path), sample_rate=-1, mono=True)
            samples = np.asarray(ar[:].asnumpy(), dtype=np.float32).reshape(-1)
            rate = _native_rate(samples.size, float(ar.duration()))
        except Exception:  # noqa: BLE001 - a file without an audio stream raises DECORDError
            bad.append(BadFile(str(it.path), "no audio track"))
            continue
        if samples.size == 0:
            bad.append(BadFile(str(it.path), "empty audio track"))
            continue
        pairs.append(RawPair(str(it.path), Clip(samples, rate), frame, it.label, it.split))
    if bad:
        msg = f"{root}: {describe_bad(bad)} (of {len(items)} clips)"
        if cfg.strict:
            raise DataError(f"{msg} (strict mode; leave strict off to skip them)")
        log.warning("%s", msg)
    return pairs


#: sample rates a container's audio stream is assumed to be stored at (decord reports samples and duration, not the rate)
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


def _native_rate(num_samples: int, duration: float) -> int:
    """The standard rate nearest samples / duration (decord's ``AudioReader`` with ``sample_rate=-1`` keeps the
    stream's rate but does not report it; a stream's duration is rounded to its container's frames)."""
    est = num_samples / max(duration, 1e-9)
    return min(STANDARD_RATES, key=lambda r: abs(r - est))


__all__ = ["BUILT_IN", "RawPair", "featurise", "load_pairs", "read_csv_pairs", "read_video_pairs", "register_tensors"]
