"""Which frames of a clip are taken and how each is shaped: :class:`FrameSampling`, the decode settings of the video
loader (every field joins the decoded-clip cache's key and the set's recorded ``decoding``).

Frames are picked by index (``num_frames`` frames ``frame_gap`` apart, the reference's rule), or, with ``sample_fps``,
by time: the clip is first resampled to ``sample_fps`` frames a second from the frame rate its file states (frame ``i``
of the resampled clip is the file's frame ``floor(i x fps / sample_fps)``, as torchvision's ``VideoClips(frame_rate=)``
resamples), then ``num_frames`` frames ``frame_gap`` apart are taken from it, so clips of every frame rate span
``(num_frames - 1) x frame_gap / sample_fps`` seconds. A frame is resized to ``frame_size`` x ``frame_size`` whole
(``resize="squeeze"``, the reference's), or keeping its aspect ratio (``center_crop``, ``pad``: :mod:`.frame_fit`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from mmdistill.errors import ConfigError

SHORT_POLICIES = ("gap", "pad", "skip")
OFFSETS = ("random", "center")
#: how a frame is made frame_size x frame_size: the whole frame squeezed (the reference's), the short side scaled to
#: frame_size and the long side cropped about the centre, or the long side scaled to frame_size and the short side
#: padded with black on both sides (letterbox)
RESIZE_MODES = ("squeeze", "center_crop", "pad")
#: the fields a load before them did not have, with the value it ran with: left out of :meth:`FrameSampling.settings`
#: at that value, so the decoded-clip cache's keys and a set's recorded settings stay what they were
ADDED_FIELDS: dict[str, Any] = {"resize": "squeeze", "sample_fps": None}


@dataclass(frozen=True)
class FrameSampling:
    """How frames are taken from a clip and resized. Every field is a decode setting: all of them make the decoded-clip
    cache's key and metadata (a load option that does not change the clips, such as ``check_memory``, is an argument of
    :func:`load_clip_folder`, not a field). ``sample_fps`` (frames a second, > 0; None: by index) and ``resize``
    (:data:`RESIZE_MODES`): the module docstring."""

    num_frames: int = 16
    frame_gap: int = 4
    offset: str = "random"
    short: str = "gap"
    frame_size: int | None = 112
    seed: int = 0
    resize: str = "squeeze"
    sample_fps: float | None = None

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_gap < 1:
            raise ConfigError(f"num_frames and frame_gap must be >= 1, got {self.num_frames}, {self.frame_gap}")
        if self.offset not in OFFSETS:
            raise ConfigError(f"offset must be one of {OFFSETS}, got {self.offset!r}")
        if self.short not in SHORT_POLICIES:
            raise ConfigError(f"short must be one of {SHORT_POLICIES}, got {self.short!r}")
        if self.frame_size is not None and self.frame_size < 4:
            raise ConfigError(f"frame_size must be >= 4 pixels, got {self.frame_size}")
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}", key="resize")
        if self.resize != "squeeze" and self.frame_size is None:
            raise ConfigError(f"resize={self.resize} shapes frames to a frame_size x frame_size square; frame_size 0 (the native "
                              "size) resizes nothing: give a frame_size, or leave resize at squeeze", key="resize")
        if self.sample_fps is not None and not (isinstance(self.sample_fps, (int, float)) and not isinstance(self.sample_fps, bool)
                                                and math.isfinite(self.sample_fps)
                                                and self.sample_fps > 0):
            raise ConfigError(f"sample_fps must be a frame rate > 0 (frames a second), or none (by index), got {self.sample_fps!r}",
                              key="sample_fps")
        if self.sample_fps is not None:  # one spelling of a rate (10 and 10.0) in the cache key and the recorded settings
            object.__setattr__(self, "sample_fps", float(self.sample_fps))

    @property
    def span(self) -> int:
        """Frames the sampled ones cover (of the resampled clip under ``sample_fps``)."""
        return (self.num_frames - 1) * self.frame_gap + 1

    def settings(self) -> dict[str, Any]:
        """The fields as a mapping, those of :data:`ADDED_FIELDS` left out at the value loads had before them: the
        decoded-clip cache's key and metadata and a set's recorded ``decoding`` (an entry or set made before them reads
        as made with them at that value)."""
        return {k: v for k, v in self.__dict__.items() if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}

    def seconds(self, frames: int) -> float:
        """The time ``frames`` frames of a clip resampled to ``sample_fps`` last (seconds); by index, NaN."""
        return frames / self.sample_fps if self.sample_fps else math.nan

    def short_reason(self, length: int) -> str:
        """Why a clip of ``length`` frames (of the resampled clip under ``sample_fps``) is short, for the load report."""
        if self.sample_fps:
            return (f"{self.seconds(length):.2f} s < {self.seconds(self.span):.2f} s ({length} frames < {self.span} at "
                    f"sample_fps {self.sample_fps:g})")
        return f"{length} frames < {self.span}"

    def resampled(self, length: int, fps: float) -> list[int]:
        """The file frames of a clip of ``length`` frames at ``fps`` resampled to ``sample_fps``: frame ``i`` of the
        resampled clip is frame ``floor(i x fps / sample_fps)`` (a clip of a lower rate repeats frames, a higher one
        drops them); by index, every frame."""
        if not self.sample_fps:
            return list(range(length))
        step = fps / self.sample_fps
        count = int(math.floor(length / step + 1e-9))
        return [min(length - 1, int(math.floor(i * step + 1e-9))) for i in range(count)]

    def indices(self, length: int, key: str) -> tuple[list[int] | None, str]:
        """Frame indices for a clip of ``length`` frames (None: skip it) and what was done (``ok``, ``gap``,
        ``pad`` or ``skip``). ``key`` (the clip's path under the data root: :func:`offset_key`) seeds its random
        offset. Under ``sample_fps``, ``length`` and the indices are the resampled clip's (:meth:`resampled`)."""
        if length <= 0:
            return None, "skip"
        gap, kind = self.frame_gap, "ok"
        if length < self.span:
            if self.short == "skip":
                return None, "skip"
            kind = self.short
            if self.short == "gap":
                gap = max(1, length // self.num_frames)
                if gap == self.frame_gap:  # frame_gap 1: no smaller gap exists, the clip is only padded
                    kind = "pad"
        span = (self.num_frames - 1) * gap + 1
        room = max(0, length - span)
        if self.offset == "center":
            start = room // 2
        else:
            digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
            start = int.from_bytes(digest[:8], "little") % (room + 1)
        idx = [min(start + i * gap, length - 1) for i in range(self.num_frames)]
        if kind == "gap" and length < self.num_frames:
            kind = "gap+pad"
        return idx, kind


__all__ = ["ADDED_FIELDS", "OFFSETS", "RESIZE_MODES", "SHORT_POLICIES", "FrameSampling"]
