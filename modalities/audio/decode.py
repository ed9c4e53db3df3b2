"""Reading audio files into fixed-length mono waveforms at one sample rate.

Decoding goes through soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3 with libsndfile >= 1.1, AIFF,
AU ...); files of a format libsndfile does not know (M4A, AAC ...) go through audioread (which needs ffmpeg or a
platform decoder; called directly: librosa >= 1.0, what Python >= 3.12 installs, no longer falls back to it).
torchaudio 2.9+ no longer decodes without torchcodec, so it is used only for resampling. A file that cannot be
decoded or holds no samples is a :class:`BadFile`: the loaders skip it and say so, or fail in strict mode (as is one below a loader's
``min_rate``). Given the loader's clip length (a :class:`Crop`), a PCM file (WAV, AIFF, AU ...) at the crop's rate and
longer than it is read only for the kept samples (a sample-exact seek), bit-identical to decoding the whole file and
cropping it with :func:`fix_length`; a file to be resampled, a compressed one (FLAC, Ogg, MP3: their header's length
may be unknown or wrong) and a shorter one are read whole.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.load_report import entry_text
from mmdistill.words import quantity

#: file endings the folder and CSV loaders treat as audio (any case)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".m4a", ".aac")
ALIGNMENTS = ("center", "start")


@dataclass
class BadFile:
    """A file that was skipped: its name and why."""

    name: str
    reason: str


@dataclass
class Clip:
    """One decoded clip: mono samples (float32 in [-1, 1]) at ``sample_rate`` Hz; ``channels``: how many the file
    held (more than 1: they were averaged to these mono samples, which the loaders count as ``downmixed``)."""

    samples: np.ndarray
    sample_rate: int
    channels: int = 1
    #: the file's first frame in ``samples`` (0 unless the file was read in part, see :class:`Crop`)
    offset: int = 0
    #: the file's length in frames when ``samples`` hold only part of it (read for a :class:`Crop`); None: all of it
    frames: int | None = None


@dataclass(frozen=True)
class Crop:
    """The clip a loader keeps of every file: ``num_samples`` samples at ``sample_rate`` Hz, cropped from a longer file
    as :func:`fix_length` does with ``align``. Given to :func:`decode`, a file at ``sample_rate`` longer than that is read
    only in part; :func:`fit_clip` then gives the same samples as the whole file cropped (a file at another rate is read
    whole: see :func:`_window`)."""

    num_samples: int
    sample_rate: int
    align: str = "center"


#: containers and encodings libsndfile seeks in sample-exactly and counts frames of exactly from the header: a file of
#: these longer than a :class:`Crop` is read in part; any other (Ogg, MP3, ADPCM ...) is read whole, as before
_PARTIAL_FORMATS = frozenset({"WAV", "WAVEX", "W64", "RF64", "AIFF", "AU", "CAF"})
_PARTIAL_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"})


Opener = Callable[[], "bytes | str | Clip"]
"""Returns the file's bytes (an archive member) or its path, or a clip already decoded (waveforms in memory)."""


def decode(name: str, source: bytes | str | Clip, *, min_rate: int = 0, crop: Crop | None = None) -> Clip:
    """Decode one file (its bytes or its path) to a mono clip (a :class:`Clip` given, waveforms held in memory and
    checked when registered, is returned as it is: whole, ``crop`` applied by :func:`fit_clip`); DataError naming ``name`` when it cannot be
    decoded, holds no samples or non-finite ones, or declares a sample rate (Hz) below ``min_rate`` (0: any rate).
    Channels are averaged; the clip's ``channels`` says how many the file held.

    ``crop``: the clip the caller keeps; a PCM file (:data:`_PARTIAL_FORMATS`) at the crop's rate and longer than it
    is read only for the frames kept (the clip's ``offset`` and ``frames`` say which; :func:`fit_clip` crops it), so
    only that part is checked for non-finite samples. A file at another rate or below ``min_rate`` is read whole, as
    without ``crop``."""
    import soundfile as sf

    if isinstance(source, Clip):
        return source
    if isinstance(source, str) and not Path(source).is_file():
        raise DataError(f"audio file {name} does not exist" if not Path(source).exists() else f"audio file {name} is not a file")
    if (len(source) if isinstance(source, bytes) else Path(source).stat().st_size) == 0:
        raise DataError(f"audio file {name} is empty (0 bytes)")
    offset, frames, data = 0, None, None
    try:
        if crop is not None:
            data, rate, offset, frames = _read_window(source, crop, min_rate)
        if data is None:
            data, rate = sf.read(io.BytesIO(source) if isinstance(source, bytes) else source, dtype="float32", always_2d=True)
    except Exception as sf_error:  # noqa: BLE001 - libsndfile raises LibsndfileError, RuntimeError, TypeError
        data, rate = _decode_with_audioread(name, source, sf_error)
    if data.shape[0] == 0:
        raise DataError(f"audio file {name} holds no samples (zero length)")
    mono = data.mean(axis=1) if data.ndim == 2 else data
    if not np.isfinite(mono).all():
        raise DataError(f"audio file {name} holds non-finite samples")
    if int(rate) < min_rate:
        raise DataError(f"audio file {name} declares a sample rate of {int(rate)} Hz, below the {min_rate} Hz the loader "
                             "reads (a damaged or forged header?)")
    if frames is None and Path(source if isinstance(source, str) else name).suffix.lower() == ".mp3":
        _check_mp3_stream(name, source, data.shape[0] / int(rate))
    channels = int(data.shape[1]) if data.ndim == 2 else 1
    return Clip(np.ascontiguousarray(mono, dtype=np.float32), int(rate), channels, offset, frames)


def _check_mp3_stream(name: str, source: bytes | str, decoded: float) -> None:
    """DataError when the MPEG frames of MP3 file ``source`` last clearly longer than the ``decoded`` seconds libsndfile
    gave (:func:`~modalities.audio.mp3.stream_seconds`): it trusts a Xing/Info header that does not describe the whole
    stream (files joined with ``cat``, VBR written without one) and stops early, silently."""
    from .mp3 import stream_seconds

    stream, frame_s = stream_seconds(source)
    # a decoder drops the Xing/Info frame and the encoder's delay and padding (LAME: ~2 frames): 4 frames and 2 % slack
    if stream is not None and stream > decoded * 1.02 + 4 * frame_s:
        raise DataError(f"audio file {name}: its MP3 stream lasts {stream:.3f} s but libsndfile decodes {decoded:.3f} s of it "
                        "(a Xing/Info header that does not describe the whole stream: MP3 files joined with cat, or a VBR "
                        f"file written without one); convert it to {CONVERTIBLE} with ffmpeg, which reads the whole stream")


def _read_window(source: bytes | str, crop: Crop, min_rate: int) -> tuple[np.ndarray | None, int, int, int | None]:
    """(data (frames, channels) float32, rate in Hz, first frame, the file's frames) of the part of ``source`` a ``crop``
    keeps, or (None, rate, 0, None) when the file is to be read whole: no longer than the crop, a format not read in part
    (:data:`_PARTIAL_FORMATS`), a rate below ``min_rate``, or a body shorter than its header says."""
    import soundfile as sf

    with sf.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else source) as f:
        rate = int(f.samplerate)
        window = (_window(f.frames, rate, crop) if rate >= min_rate and f.format in _PARTIAL_FORMATS and f.subtype in _PARTIAL_SUBTYPES
                  and f.seekable() else None)
        if window is None:
            return None, rate, 0, None
        f.seek(window[0])
        data = f.read(window[1], dtype="float32", always_2d=True)
        if data.shape[0] != window[1]:
            return None, rate, 0, None
        return data, rate, window[0], int(f.frames)


def _window(frames: int, rate: int, crop: Crop) -> tuple[int, int] | None:
    """(first frame, frame count) of a ``frames``-frame file at ``rate`` Hz to read for ``crop``: the frames it keeps, when
    the file is at the crop's rate and longer than it; None: read it whole.

    A file at another rate is read whole: torchaudio's resampler (a strided conv1d) rounds an output sample differently
    depending on where it falls in the convolution's tiling, which moves with the length and start of the input, so
    resampling only the frames a crop needs (even aligned to the resampler's blocks, with its whole kernel reach) differs
    from resampling the whole file in the last bits (up to ~1e-7 on samples in [-1, 1], a few float32 ulps)."""
    if rate != crop.sample_rate or frames <= crop.num_samples:
        return None
    return crop_start(frames, crop.num_samples, crop.align), crop.num_samples


def fit_clip(wave: Tensor, clip: Clip, sample_rate: int, num_samples: int, align: str = "center") -> tuple[Tensor, int]:
    """``wave`` (T,), the clip's samples at ``sample_rate`` Hz (:func:`resample_clips`), padded or cropped to
    (num_samples,) as :func:`fix_length` does to the whole file's, and the whole file's length in samples at
    ``sample_rate`` (what tells padded from cropped). A clip read in part for a :class:`Crop` (its ``frames`` set) holds
    just the samples that crop keeps; ConfigError when it was read for another crop than these arguments."""
    if clip.frames is None:
        return fix_length(wave, num_samples, align), int(wave.shape[-1])
    start = crop_start(clip.frames, num_samples, align)
    if clip.sample_rate != sample_rate or clip.frames <= num_samples or start != clip.offset or wave.shape[-1] != num_samples:
        raise ConfigError(f"a clip read for another crop (frames {clip.offset}-{clip.offset + len(clip.samples)} of {clip.frames} at "
                          f"{clip.sample_rate} Hz) was fitted to {num_samples} samples at {sample_rate} Hz (align={align!r}): pass "
                          "fit_clip the num_samples, sample_rate and align of the Crop it was decoded with")
    return wave, clip.frames


def _decode_with_audioread(name: str, source: bytes | str, sf_error: Exception) -> tuple[np.ndarray, int]:
    """Decode a file libsndfile cannot read through audioread (ffmpeg, GStreamer, Core Audio or MAD, whichever is
    there), as librosa < 1.0's ``load`` did: float32 samples of shape (frames, channels) in [-1, 1) from audioread's
    16-bit PCM, and the rate in Hz. librosa >= 1.0 reads only what libsndfile reads, so it is not asked."""
    import soundfile as sf

    if isinstance(source, bytes) or Path(source).suffix.lstrip(".").upper() in sf.available_formats():
        raise DataError(f"cannot decode audio file {name} (corrupt, or not audio?): {sf_error}") from None
    try:
        import audioread
    except ImportError:
        raise DataError(f"cannot decode audio file {name} (soundfile: {sf_error}); its format needs audioread, which is not "
                        f"installed (pip install audioread, or the audio extra), or convert the file to {CONVERTIBLE}") from None
    try:
        with warnings.catch_warnings():  # audioread's WAV/AIFF/AU reader imports modules Python 3.11-3.12 deprecate
            warnings.simplefilter("ignore", DeprecationWarning)
            with audioread.audio_open(source) as f:
                rate, channels = int(f.samplerate), max(int(f.channels), 1)
                pcm = b"".join(f)  # interleaved signed 16-bit little-endian
    except Exception as exc:  # noqa: BLE001 - audioread's backends raise their own error types
        reason = _audioread_reason(exc, Path(name).suffix)
        raise DataError(f"cannot decode audio file {name} (soundfile: {sf_error}; audioread: {reason})") from None
    whole = len(pcm) // (2 * channels) * 2 * channels  # a torn last frame is dropped
    y = np.frombuffer(pcm[:whole], dtype="<i2").astype(np.float32) / 32768.0
    return y.reshape(-1, channels), rate


#: the formats to convert a file into when libsndfile cannot read it and audioread has no decoder for it
CONVERTIBLE = "WAV or FLAC"


def _audioread_reason(exc: Exception, suffix: str) -> str:
    """Why audioread could not decode a file whose name ends in ``suffix``, in words: audioread's ``NoBackendError``
    carries no message, and means no decoder on this machine took the file (ffmpeg missing, or present but unable to
    read it, or the file is not audio at all)."""
    import shutil

    kind = type(exc).__name__
    if kind != "NoBackendError":
        return f"{kind}: {exc}" if str(exc).strip() else kind
    if suffix.lower() not in AUDIO_EXTENSIONS:
        return f"no audioread backend can decode it (a {suffix or 'suffix-less'} file: not audio?)"
    if shutil.which("ffmpeg") is None:
        return (f"no audioread backend can decode it: ffmpeg is not installed (not on PATH), and audioread needs it for this "
                f"format; install ffmpeg, or convert the file to {CONVERTIBLE}")
    return f"no audioread backend could decode it (ffmpeg is installed but could not read it: corrupt, or not audio?); convert it to {CONVERTIBLE}"


def decode_all(items: Sequence[tuple[str, Opener]], *, strict: bool, min_rate: int = 0,
               crop: Crop | None = None) -> tuple[list[Clip | None], list[BadFile]]:
    """Decode ``items`` (name, opener) in order (:func:`decode`, with ``min_rate`` in Hz and ``crop``). A bad file
    becomes None in the result and a :class:`BadFile` in the second list (item order), or raises (``strict``): the first
    in item order that cannot be read or is below ``min_rate``."""
    clips: list[Clip | None] = []
    bad: list[BadFile] = []
    for name, opener in items:
        try:
            clips.append(decode(name, opener(), min_rate=min_rate, crop=crop))
        except DataError as exc:
            if strict:
                raise DataError(f"{exc} (strict mode; leave strict off to skip unreadable files)") from None
            clips.append(None)
            bad.append(BadFile(name, str(exc)))
        except OSError as exc:
            if strict:
                raise DataError(f"cannot read audio file {name}: {exc}") from None
            clips.append(None)
            bad.append(BadFile(name, f"cannot read: {exc}"))
    return clips, bad


def crop_start(length: int, num_samples: int, align: str = "center") -> int:
    """The first of the ``num_samples`` samples a crop keeps of a longer ``length``-sample clip: the middle ones for
    ``align="center"`` (the extra sample at the end), else the first ones. One rule for :func:`fix_length` and a file
    read in part (:class:`Crop`), so both keep the same samples."""
    return (length - num_samples) // 2 if align == "center" else 0


def fix_length(x: Tensor, num_samples: int, align: str = "center") -> Tensor:
    """A (…, T) waveform zero-padded or cropped to (…, num_samples): ``align="center"`` keeps the middle
    (padding both sides equally, the extra sample at the end), ``"start"`` keeps the beginning (padding at
    the end)."""
    if align not in ALIGNMENTS:
        raise ConfigError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    t = x.shape[-1]
    if t == num_samples:
        return x
    if t > num_samples:
        start = crop_start(t, num_samples, align)
        return x[..., start : start + num_samples]
    before = (num_samples - t) // 2 if align == "center" else 0
    return torch.nn.functional.pad(x, (before, num_samples - t - before))


def resample_clips(clips: Iterable[Clip], sample_rate: int) -> list[Tensor]:
    """Each clip as a float32 tensor (T',) at ``sample_rate`` (torchaudio's windowed-sinc resampler; clips
    already at that rate are not touched). Clips of one source rate are resampled as one zero-padded batch,
    which gives the same samples as one at a time."""
    import torchaudio.functional as AF

    clips = list(clips)
    out: list[Tensor | None] = [None] * len(clips)
    by_rate: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        by_rate.setdefault(clip.sample_rate, []).append(i)
    for rate, idx in by_rate.items():
        if rate == sample_rate:
            for i in idx:
                out[i] = torch.from_numpy(clips[i].samples)
            continue
        longest = max(len(clips[i].samples) for i in idx)
        batch = torch.zeros(len(idx), longest)
        for row, i in enumerate(idx):
            batch[row, : len(clips[i].samples)] = torch.from_numpy(clips[i].samples)
        resampled = AF.resample(batch, rate, sample_rate)
        for row, i in enumerate(idx):
            n = int(np.ceil(len(clips[i].samples) * sample_rate / rate))
            out[i] = resampled[row, :n].contiguous()
    return out  # type: ignore[return-value]


def to_fixed_batch(clips: Sequence[Clip], sample_rate: int, num_samples: int, align: str) -> Tensor:
    """Clips resampled to ``sample_rate`` and padded/cropped to ``num_samples``: (N, num_samples) float32."""
    waves = resample_clips(clips, sample_rate)
    if not waves:
        return torch.empty(0, num_samples)
    return torch.stack([fix_length(w, num_samples, align) for w in waves])


def describe_bad(bad: Sequence[BadFile], limit: int = 5, what: str = "unreadable or empty audio file", verb: str = "skipped",
                 note: str = "") -> str:
    """``skipped 3 unreadable or empty audio files: a.wav (reason); ...`` naming up to ``limit`` files (a reason
    that already names its file is given alone). ``what``: the noun (singular; an ``s`` is added), ``note``: words
    after it."""
    head = "; ".join(entry_text(b.name, b.reason) for b in bad[:limit])
    more = f"; and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{verb} {quantity(len(bad), what)}{note}: {head}{more}"


def downmix_counts(clips: Iterable[Clip]) -> dict[int, int]:
    """Source channel count -> how many of ``clips`` were averaged to mono from that many channels (multi-channel only)."""
    counts: dict[int, int] = {}
    for clip in clips:
        if clip.channels > 1:
            counts[clip.channels] = counts.get(clip.channels, 0) + 1
    return counts


def length_counts(lengths: Iterable[int], num_samples: int) -> tuple[int, int]:
    """(padded, cropped): how many of ``lengths`` (samples) are shorter / longer than ``num_samples``."""
    lengths = list(lengths)
    return sum(n < num_samples for n in lengths), sum(n > num_samples for n in lengths)


__all__ = [
    "ALIGNMENTS", "AUDIO_EXTENSIONS", "BadFile", "Clip", "Crop", "decode", "decode_all", "crop_start", "describe_bad", "downmix_counts", "fit_clip",
    "fix_length", "length_counts", "resample_clips", "to_fixed_batch",
]
