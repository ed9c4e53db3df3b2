"""Decoding one clip: a video file (decord; ``.gif`` with Pillow) or a folder of frame images, sampled and resized as
a :class:`FrameSampling` says, to uint8 frames (T, H, W, 3); :mod:`.datasets` finds the clips of a layout, splits and
caches them. The decoders' native stderr lines (decord's, ffmpeg's) are captured off the terminal and logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from mmdistill.errors import ConfigError, DataError

from .frame_fit import fit_frames, fit_image
from .sampling import OFFSETS, RESIZE_MODES, SHORT_POLICIES, FrameSampling

log = logging.getLogger(__name__)

#: file types read as video files (decord/ffmpeg's common containers); any other file in a class folder is named as
#: ``ignored`` (not read), never handed to the decoder
#: (``.gif``, which decord cannot read, is decoded with Pillow, so the export's own clip format reads back; Theora ``.ogv``
#: is not listed: decord's ffmpeg build has no decoder for it)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".3g2",
                    ".ts", ".mts", ".m2ts", ".vob", ".gif")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
def _decord():
    try:
        import decord
    except ImportError as exc:  # pragma: no cover - the video extra installs it
        raise ConfigError("reading video files needs decord: pip install 'mmdistill[video]'") from exc
    decord.bridge.set_bridge("native")
    return decord


def _why(exc: BaseException) -> str:
    """The first line of an error in plain words: without decord's ``[hh:mm:ss] /src/file.cc:NN:`` prefixes (wherever
    they stand), decord's "no video stream" said as such, cut to 160 characters from its start."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return plain_reason(text.splitlines()[0])


#: the reason for decord 0.6's failed buffer-size check (``Check failed: from_size == to_size (36864 vs. 27648)
#: DECORDArrayCopyFromTo``): its frames of some widths (16, 48 and 72 pixels among them) cannot be handed over, at the
#: clip's own size (resize center_crop or pad, frame_size 0, or the Pillow fallback of a frame_size it cannot scale to)
COPY_BUG = ("decord cannot hand over frames of this clip's width (a decord 0.6 bug with some widths, 16, 48 and 72 px "
            "among them); re-encode the clip to another width (ffmpeg -i IN -vf scale=W:-2 OUT), or decode it squeezed "
            "(resize=squeeze) at a frame_size decord's scaler produces, such as 112 or 64")


def plain_reason(line: str) -> str:
    """A decord/ffmpeg line as a reason: source-file prefixes dropped, "cannot find video stream with wanted index: -1"
    (an audio-only file, or a codec decord's ffmpeg cannot decode, AV1 among them) said so, decord's failed copy of some
    frame widths said so (:data:`COPY_BUG`), at most 160 characters."""
    if "wanted index: -1" in line or "cannot find video stream" in line:
        return "no video stream decord can decode (an audio-only file, or a codec its ffmpeg lacks, such as AV1)"
    if "DECORDArrayCopyFromTo" in line or "from_size == to_size" in line:
        return COPY_BUG
    text = re.sub(r"(\[[\d:]+\] )?\S*\.(cc|h|cpp):\d+: ", "", line).strip()
    return text if len(text) <= 160 else text[:157] + "..."


#: the prefix of decord's native log lines (``[13:54:33] /src/video/video_reader.cc:83: ``)
_NATIVE_LINE = re.compile(r"^(\[[\d:]+\] )?\S+\.(cc|h|cpp):\d+: ")
#: a line of ffmpeg's own log (``[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d3c18b6e80] moov atom not found``), which decord's
#: demuxer writes to descriptor 2 beside decord's lines
_FFMPEG_LINE = re.compile(r"^\[[^\]@]+ @ 0x[0-9a-fA-F]+\] ")


@contextlib.contextmanager
def _native_stderr(captured: list[str]) -> Iterator[None]:
    """Route file descriptor 2 to a temporary file while decord opens a file, so its C++ log lines (``ERROR
    opening: ...``, which ``decord.logging.set_level`` does not reach) stay off the terminal: the loader names the
    file itself. The text written meanwhile is appended to ``captured``. Nothing is redirected where descriptor 2
    cannot be duplicated."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


def _native_lines(captured: list[str], path: str | Path = "") -> list[str]:
    """decord's lines of ``captured`` (:func:`_native_stderr`), without their prefix; ffmpeg's own lines (its
    demuxer's, ``moov atom not found``) are logged at DEBUG naming ``path``; any other text written to descriptor 2
    meanwhile (another thread's) is written back to stderr."""
    ours, other = [], []
    for line in "".join(captured).splitlines():
        if _NATIVE_LINE.match(line):
            ours.append(_NATIVE_LINE.sub("", line).strip())
        elif _FFMPEG_LINE.match(line):
            log.debug("ffmpeg on %s: %s", path, line)
        elif line.strip():
            other.append(line)
    if other:
        sys.stderr.write("\n".join(other) + "\n")
    return ours


def _decode_file(path: Path, sampling: FrameSampling, key: str, info: dict[str, float] | None = None) -> tuple[np.ndarray | None, int, str]:
    """(T, H, W, 3) uint8 frames, the clip's length, and what was done (or the error); ``key`` seeds the random
    offset (:func:`offset_key`).

    Squeezed frames (``resize="squeeze"``) are resized by decord's scaler; for the output sizes it cannot produce
    (decord 0.6 fails a buffer-size check for some widths, 4, 6, 8, 12, 16, 24 and 48 pixels among them) the clip is
    decoded at its native size and resized with Pillow, as frame images are; ``center_crop`` and ``pad`` decode the
    sampled frames at their native size and fit them with Pillow (:mod:`.frame_fit`). Under ``sample_fps`` the length
    is the resampled clip's (:meth:`FrameSampling.resampled`, from the rate decord reads; a file without one is
    unreadable). A GIF (which decord cannot read) is decoded with Pillow. decord's and ffmpeg's own lines are kept off
    the terminal for every call (logged at DEBUG naming the file). ``info``, when given, receives ``fps``: the file's
    average frame rate as decord reads it (not for a GIF)."""
    if path.suffix.lower() == ".gif" and path.is_file():
        return _decode_gif(path, sampling, key)
    decord = _decord()
    hint = "" if path.suffix.lower() in VIDEO_EXTENSIONS else (
        "a folder, not a video file; " if path.is_dir() else f"not a video file ({path.suffix or 'no suffix'}); ")
    squeeze = sampling.frame_size is not None and sampling.resize == "squeeze"
    size = {"width": sampling.frame_size, "height": sampling.frame_size} if squeeze else {}
    native: list[str] = []
    try:
        with _native_stderr(native):
            vr = decord.VideoReader(str(path), num_threads=1, **size)
            length = len(vr)
    except Exception as exc:  # decord raises its own error type for corrupt or unknown files
        said = _native_lines(native, path)  # decord's own line says why ("ERROR opening: PATH, Invalid data ..."); its error does not
        return None, 0, f"unreadable: {hint}{plain_reason(said[-1]) if said else _why(exc)}"
    for line in _native_lines(native, path):
        log.debug("decord on %s: %s", path, line)
    fps = 0.0
    with contextlib.suppress(Exception):  # a stream without a rate: none recorded
        fps = float(vr.get_avg_fps())
    if info is not None and fps:
        info["fps"] = fps
    if sampling.sample_fps and not fps > 0:
        return None, 0, f"unreadable: {hint}no frame rate decord can read (sample_fps picks frames by time)"
    frame_of = sampling.resampled(length, fps)
    idx, kind = sampling.indices(len(frame_of), key)
    if idx is None:
        return None, len(frame_of), "skip" if length else f"unreadable: {hint}no frames"
    idx = [frame_of[i] for i in idx]
    native = []
    try:
        with _native_stderr(native):
            try:
                frames = vr.get_batch(idx).asnumpy()
            except Exception:
                if not size:
                    raise
                # decord's scaler refused this size: decode natively, resize with Pillow
                frames = fit_frames(decord.VideoReader(str(path), num_threads=1).get_batch(idx).asnumpy(), sampling.frame_size)
            if sampling.frame_size is not None and not squeeze:
                frames = fit_frames(frames, sampling.frame_size, sampling.resize)
    except Exception as exc:  # noqa: BLE001 - decord raises its own error type for a stream it cannot decode
        said = _native_lines(native, path)
        return None, length, f"unreadable: {hint}{plain_reason(said[-1]) if said else _why(exc)}"
    for line in _native_lines(native, path):
        log.debug("decord on %s: %s", path, line)
    return frames, len(frame_of), kind


def _decode_gif(path: Path, sampling: FrameSampling, key: str) -> tuple[np.ndarray | None, int, str]:
    """:func:`_decode_file` for an animated GIF, read with Pillow (every frame as RGB, then sampled and resized as
    a video's). A frame shown k times as long as the shortest is k frames (:func:`_gif_repeats`), so the clip's rate
    is 1000 / the shortest display time (ms); under ``sample_fps`` a GIF without display times is unreadable."""
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as im:
            shown = [(np.asarray(f.convert("RGB")), f.info.get("duration")) for f in ImageSequence.Iterator(im)]
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for a damaged or foreign file
        return None, 0, f"unreadable: {_why(exc)}"
    times = [d for _, d in shown]
    every = [frame for (frame, _), k in zip(shown, _gif_repeats(times)) for _ in range(k)]
    shortest = _shortest_time(times)
    fps = 1000.0 / shortest if shortest else 0.0
    if sampling.sample_fps and not fps:
        return None, 0, "unreadable: a GIF without frame display times has no frame rate (sample_fps picks frames by time)"
    frame_of = sampling.resampled(len(every), fps)
    idx, kind = sampling.indices(len(frame_of), key)
    if idx is None:
        return None, len(frame_of), "skip" if every else "unreadable: no frames"
    frames = np.stack([every[frame_of[i]] for i in idx])
    return (frames if sampling.frame_size is None else fit_frames(frames, sampling.frame_size, sampling.resize)), len(frame_of), kind


def _gif_repeats(durations: list[int | float | None], most: int = 100) -> list[int]:
    """How many frames each GIF frame stands for: its display time over the shortest one's, rounded (at most
    ``most``). Encoders (Pillow's ``save_all`` among them) merge a frame equal to the one before into it and add up
    their times, so a clip that holds still for a moment comes back with fewer, longer frames; a GIF without times,
    or with a frame of time 0, is read one frame per frame."""
    shortest = _shortest_time(durations)
    if shortest is None:
        return [1] * len(durations)
    return [max(1, min(most, round(d / shortest))) for d in durations]  # type: ignore[operator]


def _shortest_time(durations: list[int | float | None]) -> float | None:
    """The shortest of a GIF's frame display times (ms), or None when it has no frame or a frame without a time or
    with time 0 (no usable times: no frame rate, one frame per frame)."""
    if not durations or any(not d or d <= 0 for d in durations):  # type: ignore[operator]
        return None
    return float(min(durations))  # type: ignore[type-var]


#: the name prefixes of a clip folder's RGB frames taken when it holds several image sequences: mmaction2's rawframes
#: layout (``img_00001.jpg`` beside the optical flow ``x_00001.jpg``/``y_00001.jpg`` or ``flow_x_``/``flow_y_``), and
#: ``image_00001.jpg`` as other extraction scripts name them; compared without case and separators (``img``, ``img_``,
#: ``IMG-``)
RGB_PREFIXES = ("img", "image")


def _natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key of a frame name in natural order: runs of digits compare as numbers (``frame_2`` before
    ``frame_10``, as frame-extraction tools number frames without zero padding), the rest without case; the name
    itself breaks ties (``frame_01``, ``frame_1``)."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(t) if i % 2 else t.lower() for i, t in enumerate(parts)), name


def _sequence_prefix(name: str) -> str:
    """The part of a frame file's stem before its final number (``img_`` of ``img_00001.jpg``, ``flow_x_`` of
    ``flow_x_00001.jpg``, ``frame_`` of ``frame_1.5.png``, empty for ``00001.jpg``); a stem whose last number is
    followed by a fixed suffix gives the stem with ``*`` for that number (``*_rgb`` of ``0001_rgb.jpg``); a stem without a
    number, the whole stem."""
    stem = Path(name).stem
    if re.search(r"\d[\d.:_-]*$", stem):
        return re.sub(r"\d[\d.:_-]*$", "", stem)
    # the frame number is followed by a fixed suffix (0001_rgb.jpg, frame_0001_small.png): the sequence is the stem
    # with its last number left out, written with * where the number stands
    return re.sub(r"\d+(?=\D*$)", "*", stem, count=1)


def _sequence_key(name: str) -> str:
    """The image sequence a frame belongs to: :func:`_sequence_prefix` without case and trailing separators
    (``img_00001.jpg`` and ``IMG-00002.jpg`` are one sequence, ``img``)."""
    return _sequence_prefix(name).rstrip("._- ").lower()


def _frame_files(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The frame images of the clip folder ``path`` in natural order (:func:`_natural_key`) and the image sequences
    it leaves out, as ``(path/<prefix>*, reason)`` entries of ``unused``.

    A clip is one image sequence: the frames whose names share the part before their number
    (:func:`_sequence_key`). A folder of several (mmaction2's rawframes layout keeps ``img_*`` RGB frames beside
    ``x_*``/``y_*`` optical flow) gives its RGB one (:data:`RGB_PREFIXES`) and names the others; several without an
    RGB one is a :class:`DataError` naming them. Hidden files are passed over; not a folder: no frames."""
    if not path.is_dir():
        return [], []
    with os.scandir(path) as it:
        files = [path / e.name for e in it if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
                 and e.is_file()]
    groups: dict[str, list[Path]] = {}
    for f in sorted(files, key=lambda f: _natural_key(f.name)):
        groups.setdefault(_sequence_key(f.name), []).append(f)
    if len(groups) <= 1:
        return _one_file_per_frame(path, next(iter(groups.values()), [])), []
    shown = {p: _sequence_prefix(fs[0].name) for p, fs in groups.items()}  # as the files spell them
    rgb = next((p for p in RGB_PREFIXES if p in groups), None)
    if rgb is None:
        desc = ", ".join(f"{shown[p] or '(none)'}* ({len(fs)})" for p, fs in list(groups.items())[:6])
        raise DataError(f"clip folder {path} holds {len(groups)} image sequences (frame names with different prefixes before "
                        f"their number: {desc}{' ...' if len(groups) > 6 else ''}); dataset=frames reads one sequence per clip "
                        f"and takes the RGB one ({', '.join(p + '_*' for p in RGB_PREFIXES)}) beside optical flow: keep one "
                        "sequence per folder, or name the RGB frames img_00001.jpg ...")
    left = [(str(path / f"{shown[p]}*"), f"{len(fs)} image(s) of another sequence; the clip is its {shown[rgb]}* frames "
             "(mmaction2's rawframes layout)") for p, fs in groups.items() if p != rgb]
    return _one_file_per_frame(path, groups[rgb]), left


def _one_file_per_frame(path: Path, files: list[Path]) -> list[Path]:
    """``files`` (one image sequence, in natural order) when no two of them are the same frame: names equal but for
    zero padding, case or the image type (``frame_1.png`` and ``frame_01.png``, ``img_00001.jpg`` and
    ``img_00001.png``, as a second extraction into the same folder leaves them); else a :class:`DataError` naming
    them (read both, every frame would count twice and the frame gap would halve)."""
    seen: dict[tuple, Path] = {}
    twice: list[tuple[Path, Path]] = []
    for f in files:
        key = _natural_key(Path(f.name).stem)[0]
        if key in seen:
            twice.append((seen[key], f))
        else:
            seen[key] = f
    if twice:
        pairs = "; ".join(f"{a.name} and {b.name}" for a, b in twice[:3]) + (" ..." if len(twice) > 3 else "")
        raise DataError(f"clip folder {path} holds {len(twice)} frame(s) twice under two names ({pairs}): each would be "
                        "read as a frame of its own; keep one file per frame (one image type, one numbering)")
    return files


def _open_frame(file: Path, size: int | None, native: list[tuple[int, int]] | None = None,
                modes: list[str] | None = None, turned: list[str] | None = None, resize: str = "squeeze") -> np.ndarray:
    """One frame image as (H, W, 3) uint8, made ``size`` x ``size`` when given (by ``resize``: :func:`~.frame_fit.fit_image`): 16-bit grayscale scaled to 8
    bits (value / 257, rounded: :func:`~modalities.image.decode.to_8bit`, the image loaders' rule; RGB would
    saturate it to white), grayscale, palette and alpha images made RGB, turned upright by its EXIF orientation tag
    (:func:`~modalities.image.decode.upright`: how is appended to ``turned``). Its stored (width, height) is appended
    to ``native`` and its stored Pillow mode (``RGB``, ``L``, ``P``, ``RGBA``, ``I;16`` ...) to ``modes`` when given."""
    from PIL import Image

    from ..image.decode import to_8bit, upright

    with Image.open(file) as im:
        if native is not None:
            native.append(im.size)
        if modes is not None:
            modes.append(im.mode)
        im, how = upright(im)  # as the image loader reads photos
        if how is not None and turned is not None:
            turned.append(how)
        im = to_8bit(im, file).convert("RGB")
        if size is not None and im.size != (size, size):
            return fit_image(im, size, resize)
        return np.asarray(im)


def _frame_error(file: Path, exc: BaseException) -> str:
    """Why a frame image cannot be read, naming it by file name (the clip's path goes before it in the report):
    ``frame_5.png: cannot identify image file``."""
    text = _why(exc).replace(str(file), file.name).replace(f"'{file.name}'", "").replace(f" {file.name} ", " ").strip()
    return f"{file.name}: {text}"


def _decode_frame_dir(path: Path, sampling: FrameSampling, key: str,
                      notes: dict[str, str] | None = None) -> tuple[np.ndarray | None, int, str]:
    """(T, H, W, 3) uint8 frames of a clip folder (its image sequence in natural order: :func:`_frame_files`), the
    clip's length, and what was done (or the error); ``key`` seeds the random offset (:func:`offset_key`).

    ``notes``, when given, receives for a decoded clip read otherwise than as stored the :class:`LoadReport` kind and
    why: ``mixed_sizes`` (frames of different sizes, each resized to ``frame_size``: the stored sizes, width x
    height), ``converted_rgb`` (sampled frames not stored as RGB: their Pillow modes and how many) and
    ``exif_rotated`` (sampled frames turned upright by their EXIF orientation tag)."""
    if not path.is_dir():
        return None, 0, "unreadable: not a folder of frame images (dataset=frames takes one folder per clip)"
    if sampling.sample_fps:
        return None, 0, "unreadable: a folder of frame images has no frame rate (sample_fps picks frames by time: video files only)"
    files, _ = _frame_files(path)
    idx, kind = sampling.indices(len(files), key)
    if idx is None:
        return None, len(files), "skip" if files else f"unreadable: no frame images ({', '.join(IMAGE_EXTENSIONS)})"
    frames: list[np.ndarray] = []
    native: list[tuple[int, int]] = []
    modes: list[str] = []
    turned: list[str] = []
    for i in idx:
        try:
            frames.append(_open_frame(files[i], sampling.frame_size, native, modes, turned, sampling.resize))
        except Exception as exc:  # Pillow raises several types for a damaged or foreign file
            return None, len(files), f"unreadable: {_frame_error(files[i], exc)}"
    shapes = {f.shape[:2]: files[i].name for f, i in zip(frames, idx)}
    if len(shapes) > 1:
        desc = ", ".join(f"{w}x{h} ({name})" for (h, w), name in shapes.items())
        raise DataError(f"clip {path} has frames of different sizes: {desc}; pass --frame-size N to resize every frame to NxN")
    if notes is not None:  # read otherwise than as stored: named in the load report, not silently
        stored = list(dict.fromkeys(native))
        if len(stored) > 1:  # resized to frame_size
            sizes = ", ".join(f"{w}x{h}" for w, h in stored[:6]) + (" ..." if len(stored) > 6 else "")
            notes["mixed_sizes"] = f"frames of {sizes} resized to {sampling.frame_size}x{sampling.frame_size}"
        if turned:
            notes["exif_rotated"] = f"{len(turned)} of {len(modes)} sampled frame(s) turned upright by EXIF ({turned[0]})"
        if converted := [m for m in modes if m != "RGB"]:
            notes["converted_rgb"] = (f"{len(converted)} of {len(modes)} sampled frame(s) of mode "
                                      f"{', '.join(dict.fromkeys(converted))} read as RGB")
    return np.stack(frames), len(files), kind


def _other_files(path: Path) -> list[tuple[str, str]]:
    """What a frame folder holds besides its frame images (named in the report, not silently passed over)."""
    if not path.is_dir():
        return []
    return [(str(f), "not a frame image" if f.is_file() else "a folder inside a clip folder") for f in sorted(path.iterdir())
            if not f.name.startswith(".") and not (f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)]


#: importable from here as before FrameSampling moved to :mod:`.sampling`
__all__ = ["FrameSampling", "IMAGE_EXTENSIONS", "OFFSETS", "RESIZE_MODES", "RGB_PREFIXES", "SHORT_POLICIES", "VIDEO_EXTENSIONS", "COPY_BUG",
           "plain_reason"]
