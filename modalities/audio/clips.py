"""Reading a set's clips: a folder's default duration (its longest readable clip, :func:`_longest_seconds`), files
decoded at one rate and length (:func:`decode_fitted`) and items turned into FD-MFCC maps chunk by chunk
(:func:`_featurize`), with the counts of what was resampled, downmixed, padded, cropped or silent."""

from __future__ import annotations

import io
import logging
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.logs import progress_bar

from .decode import BadFile, Clip, Crop, decode, decode_all, downmix_counts, fit_clip, length_counts, resample_clips
from .features import FDMFCC, FDMFCCParams, extract_fdmfcc
from .items import AudioItem

# these lines logged from the loader's module before it was split: they log under its name still
log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")

#: the lowest sample rate (Hz) a clip is read at: a file whose header declares less is skipped as unreadable (a damaged or
#: forged header: 1 Hz made a 3 KB file 1600 s long); low-rate recordings (ECG, EEG at 250-500 Hz) are read and resampled
MIN_SAMPLE_RATE = 100
#: a longest clip this many times the median clip length sets every clip's length: named in a warning
_OUTLIER_RATIO = 10.0


def _featurize(items: list[AudioItem], classes: list[str], params: FDMFCCParams, num_samples: int, align: str,
               strict: bool, batch_files: int, progress: bool, key: str) -> tuple[Tensor, Tensor, Tensor, list[BadFile], dict]:
    """FD-MFCC maps (K, 3, n_mfcc, frames), labels (K,), split (K,: 0 train, 1 test) of the readable items, the
    skipped ones, and counts of what was changed (``clips`` read, ``resampled`` per source rate, ``downmixed`` per source
    channel count, ``padded``, ``cropped`` (by the whole file's length), ``silent``: the names of clips whose every kept
    sample is 0, as the set holds them). Files are decoded with :data:`MIN_SAMPLE_RATE` as their floor and read in part for the clip kept."""
    index = {c: i for i, c in enumerate(classes)}
    transform = FDMFCC(params)
    maps, labels, splits, skipped = [], [], [], []
    counts: dict = {"clips": 0, "resampled": {}, "downmixed": {}, "padded": 0, "cropped": 0, "silent": []}
    chunks = range(0, len(items), batch_files)
    crop = Crop(num_samples, params.sample_rate, align)  # a file longer than the clip is read only for the samples kept
    for start in progress_bar(iterable=chunks, desc=f"FD-MFCC {key}", disable=not progress or len(chunks) < 4, leave=False):
        chunk = items[start : start + batch_files]
        clips, fitted, bad = decode_fitted([(it.name, it.open) for it in chunk], crop, strict)
        skipped += bad
        kept = [(it, c) for it, c in zip(chunk, clips) if c is not None]
        if not kept:
            continue
        for _, c in kept:
            if c.sample_rate != params.sample_rate:
                counts["resampled"][c.sample_rate] = counts["resampled"].get(c.sample_rate, 0) + 1
        for channels, n in downmix_counts(c for _, c in kept).items():
            counts["downmixed"][channels] = counts["downmixed"].get(channels, 0) + n
        padded, cropped = length_counts((n for _, n in fitted), num_samples)
        counts["clips"] += len(kept)
        counts["padded"] += padded
        counts["cropped"] += cropped
        counts["silent"] += [it.name for (it, _), (w, _) in zip(kept, fitted) if not bool(w.any())]  # what the set holds of it
        waves = torch.stack([w for w, _ in fitted])
        maps.append(extract_fdmfcc(waves, params, batch_size=batch_files, transform=transform))
        labels += [index[it.label] for it, _ in kept]
        splits += [0 if it.split == "train" else 1 for it, _ in kept]
    if not maps:
        raise DataError(f"dataset {key!r}: none of its {len(items)} audio files could be read; first: {skipped[0].name} ({skipped[0].reason})")
    return torch.cat(maps), torch.tensor(labels, dtype=torch.long), torch.tensor(splits), skipped, counts


def decode_fitted(files: list[tuple[str, Callable]], crop: Crop, strict: bool
                  ) -> tuple[list[Clip | None], list[tuple[Tensor, int]], list[BadFile]]:
    """``files`` (``(name, opener)``) decoded as the loader reads a clip: :func:`~.decode.decode_all` with
    :data:`MIN_SAMPLE_RATE` as the floor, reading only the samples ``crop`` keeps (its length, rate and alignment),
    resampled to ``crop.sample_rate`` Hz and padded or cropped to ``crop.num_samples`` (:func:`~.decode.fit_clip`). Returns each
    file's clip (None: not read), the fitted ``(wave (T,), the file's length in samples)`` of the read ones, in order,
    and the files not read (with ``strict`` the first raises)."""
    clips, bad = decode_all(files, strict=strict, min_rate=MIN_SAMPLE_RATE, crop=crop)
    kept = [c for c in clips if c is not None]
    rate = crop.sample_rate
    fitted = [fit_clip(w, c, rate, crop.num_samples, crop.align) for w, c in zip(resample_clips(kept, rate), kept)]
    return clips, fitted, bad


def _header_seconds(item: AudioItem) -> float | None:
    """The length of ``item`` in seconds from its file header, or by decoding it when soundfile cannot describe it
    (:func:`_decoded_seconds`); None when its rate is below :data:`MIN_SAMPLE_RATE` or it cannot be decoded (judged
    when the set is decoded)."""
    import soundfile as sf

    source = item.open()  # a file's path or bytes: registered waveforms (a Clip) never reach here, their length is known
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        info = sf.info(source)
    except Exception:  # noqa: BLE001 - not a libsndfile format (M4A, AAC): measured by decoding it
        return _decoded_seconds(item)
    return info.frames / info.samplerate if info.samplerate >= MIN_SAMPLE_RATE else None


def _decoded_seconds(item: AudioItem) -> float | None:
    """The length in seconds of a clip whose header soundfile cannot read (a format decoded through audioread, such as
    M4A), by decoding it; None when it cannot be decoded (it is skipped and named when the set is decoded)."""
    try:
        clip = decode(item.name, item.open(), min_rate=MIN_SAMPLE_RATE)
    except (DataError, OSError):
        return None
    return len(clip.samples) / clip.sample_rate


def _longest_seconds(items: list[AudioItem], strict: bool = False) -> tuple[float, str, dict[str, str]]:
    """The length in seconds (from its file header) of the longest clip that decodes, and that clip's name: the headers
    are read, and the clips are tried longest first until one decodes, so a file skipped later as unreadable (a NaN
    sample, a corrupt body behind a good header, a sample rate below :data:`MIN_SAMPLE_RATE`) never sets every clip's
    length. Logs the clip that set it and the longer ones passed over; a warning when it is more than
    :data:`_OUTLIER_RATIO` times the median clip (every clip is padded to it). In ``strict`` mode an unreadable file
    tried here is the error it is when decoded. Returns (seconds, the clip's name, {name: reason} of the longer clips passed
    over as unreadable)."""
    lengths = [(s, n, it) for n, it in enumerate(items) if (s := _header_seconds(it)) is not None and s > 0]
    passed: list[tuple[str, float]] = []
    unreadable: dict[str, str] = {}
    for seconds, _, it in sorted(lengths, key=lambda t: (-t[0], t[1])):  # longest first, ties in item order
        clips, bad = decode_all([(it.name, it.open)], strict=strict, min_rate=MIN_SAMPLE_RATE)
        if clips[0] is None:
            unreadable[it.name] = bad[0].reason
            passed.append((it.name, seconds))
            continue
        over = "; ".join(f"{name} ({s:.4g} s)" for name, s in passed[:3]) + (f" and {len(passed) - 3} more" if len(passed) > 3 else "")
        log.info("duration %.4g s: the longest readable clip, %s%s; pass duration= (--duration) to choose another", seconds, it.name,
                 f" (longer but unreadable, skipped: {over})" if passed else "")
        median = float(np.median([s for s, _, _ in lengths]))
        if len(lengths) >= 3 and seconds > _OUTLIER_RATIO * median:
            log.warning("duration %.4g s, set by the longest readable clip %s, is %.0f times the median clip's %.4g s: every "
                        "clip is padded to it (memory and time grow with it); pass duration= (--duration) to choose another",
                        seconds, it.name, seconds / median, median)
        return seconds, it.name, unreadable
    raise DataError("could not read the length of any readable clip to choose a duration; pass duration=SECONDS (--duration)")

