"""Video adapter: clip classification from video files (decord), folders of frame images, in-memory tensors
and the generated moving-digits benchmark; ConvNet3D and a frame-pooling network; DSA across the frames of a
clip; full-clip and static/dynamic (Wang et al., CVPR 2024) parameterizations with their stored bytes; a
frame-strip preview and GIF export. ``MODALITY`` is the object the core looks up by the name ``"video"``."""

from __future__ import annotations

from . import nets  # noqa: F401  (registers convnet3d, convnet3d-small, framepool, framegru, framelstm)
from .adapter import VideoModality, register_tensors
from .config import StaticDynamicKeys, VideoDistillConfig
from .datasets import FrameSampling, load_clip_folder
from .moving_digits import MovingDigitsSpec
from .prepare import clips_like
from .static_dynamic import render, stored_bytes

MODALITY = VideoModality()

__all__ = ["FrameSampling", "MODALITY", "clips_like", "MovingDigitsSpec", "StaticDynamicKeys", "VideoDistillConfig", "VideoModality", "load_clip_folder",
           "register_tensors", "render", "stored_bytes"]
