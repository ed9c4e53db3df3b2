"""decord's side of reading a clip with sound: why it failed, in words (:func:`_decord_why`), and the sample rate of
a sound track, which decord does not report (:func:`_stream_rate`, :func:`_native_rate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdistill.errors import DataError


def _decord_why(native: list[str], exc: BaseException, path: Path) -> str:
    """Why decord failed on ``path``, in at most 160 characters: its own last C++ line captured in ``native``
    (``ERROR opening: PATH, Invalid data ...``, the path shortened to the file's name: the message names it), else the
    first line of its error, as the video loader says it."""
    from ..video.decode import _native_lines, _why

    said = _native_lines(native, path)
    text = (said[-1] if said else _why(exc)).replace(str(path), path.name)
    return text if len(text) <= 160 else "..." + text[-157:]


#: sample rates a container's audio stream is assumed to be stored at (decord reports samples and duration, not the rate)
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


#: the rate a track is decoded at a second time to measure its own rate (see :func:`_stream_rate`)
PROBE_RATE = 48000


def _stream_rate(decord: Any, path: str, num_samples: int) -> int:
    """The sample rate of ``path``'s audio stream, which held ``num_samples`` samples per channel at that rate.

    decord's ``AudioReader(sample_rate=-1)`` keeps the stream's rate without reporting it, and its ``duration()`` is
    truncated to whole seconds (0 for a clip under a second, 1 for 1.9 s), so samples / duration is no measure of it.
    The track is decoded again resampled to :data:`PROBE_RATE` Hz: rate = samples x PROBE_RATE / resampled samples,
    the nearest standard rate when within 0.5 % of one."""
    probe = decord.AudioReader(path, sample_rate=PROBE_RATE, mono=True)
    resampled = int(probe.shape[-1])
    if resampled <= 0:
        raise DataError(f"{path}: the audio track resampled to {PROBE_RATE} Hz holds no samples")
    return _native_rate(num_samples, resampled / PROBE_RATE)


def _native_rate(num_samples: int, duration: float) -> int:
    """The rate of a track holding ``num_samples`` samples over ``duration`` seconds: the nearest standard rate when
    within 0.5 % of one, else the estimate rounded to a whole Hz."""
    est = num_samples / max(duration, 1e-9)
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - est))
    return nearest if abs(nearest - est) <= 0.005 * nearest else int(round(est))


__all__ = ["PROBE_RATE", "STANDARD_RATES"]
