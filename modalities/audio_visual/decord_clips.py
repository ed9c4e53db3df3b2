"""decord's side of reading a clip with sound: one clip's video and sound track opened (:func:`open_clip`, what the
folder of clips, :mod:`.video_pairs`, and the released layouts, :mod:`.release_clips`, read a clip with), why decord
failed, in words (:func:`_decord_why`), and the sample rate of a sound track, which decord does not report
(:func:`_stream_rate`, :func:`_native_rate`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ClipTracks:
    """A clip with sound that decord opened (:func:`open_clip`): ``video`` its ``VideoReader`` (``len(video)`` frames,
    ``fps`` a second, 0 when the file gives no rate), ``samples`` its sound track (mono float32, finite, not empty) at
    ``rate`` Hz, ``middle`` its middle frame (C, h, w) in [0, 1] when asked for, and ``native`` decord's C++ lines
    captured while reading it (:func:`~..video.decode._native_stderr`)."""

    video: Any
    fps: float
    samples: np.ndarray
    rate: int
    middle: Tensor | None
    native: list[str]

    def frame(self, index: int) -> Tensor:
        """Frame ``index`` as (C, h, w) float in [0, 1], decord's lines captured; raises decord's error (a download cut
        short opens, and its later frames do not decode)."""
        from ..video.decode import _native_stderr

        with _native_stderr(self.native):
            return _frame(self.video, index)

    def log_native(self, path: Path) -> None:
        """Log decord's lines captured while reading ``path`` at DEBUG (ffmpeg's too; another thread's written back)."""
        from ..video.decode import _native_lines

        for line in _native_lines(self.native, path):
            log.debug("decord on %s: %s", path, line)


def _frame(video: Any, index: int) -> Tensor:
    """Frame ``index`` of decord's ``video`` as (C, h, w) float in [0, 1]."""
    return torch.from_numpy(video[index].asnumpy()).permute(2, 0, 1).float() / 255.0


def open_clip(decord: Any, path: Path, middle: bool = False) -> tuple[ClipTracks | None, str]:
    """Clip ``path`` opened with ``decord`` (the module): ``(tracks, "")``, or ``(None, why)`` when it has no readable
    video stream (its ``middle`` frame decoded with it when asked for), no audio track, an empty one or one holding NaN
    or infinite samples, or a sound track whose sample rate cannot be measured (:func:`_stream_rate`). The sound track
    is read mono at its own rate; decord's C++ lines are kept off the terminal (the reason of a clip that does not open
    is its last line: :func:`_decord_why`)."""
    from ..video.decode import _native_lines, _native_stderr

    native: list[str] = []  # decord's C++ lines while it reads this clip
    try:
        with _native_stderr(native):
            vr = decord.VideoReader(str(path))
            frame = _frame(vr, len(vr) // 2) if middle else None
            fps = float(vr.get_avg_fps())
    except Exception as exc:  # noqa: BLE001 - decord raises DECORDError and RuntimeError
        return None, f"no readable video stream: {_decord_why(native, exc, path)}"
    try:
        with _native_stderr(native):
            ar = decord.AudioReader(str(path), sample_rate=-1, mono=True)
            samples = np.asarray(ar[:].asnumpy(), dtype=np.float32).reshape(-1)
    except Exception:  # noqa: BLE001 - a file without an audio stream raises DECORDError
        _native_lines(native, path)
        return None, "no audio track"
    if samples.size == 0:
        return None, "empty audio track"
    if not np.isfinite(samples).all():
        return None, "audio track holds NaN or infinite samples"
    try:
        with _native_stderr(native):
            rate = _stream_rate(decord, str(path), samples.size)
    except Exception as exc:  # noqa: BLE001 - decord's resampler failed on this stream
        return None, f"cannot tell the audio track's sample rate: {_decord_why(native, exc, path)}"
    return ClipTracks(vr, fps, samples, rate, frame, native), ""


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


__all__ = ["ClipTracks", "PROBE_RATE", "STANDARD_RATES", "open_clip"]
