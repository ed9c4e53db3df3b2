"""Audio-visual pairs (AVDD, Kushwaha et al., TMLR 2024): log-mel spectrogram + frame per sample, one class label.

``MODALITY`` is the adapter; :func:`register_tensors` makes in-memory pairs loadable; :func:`build_av_digits` writes the
paired spoken/handwritten digits set."""

from .adapter import AudioVisualModality
from .digits import build_av_digits
from .loaders import register_tensors
from .prepare import av_like

MODALITY = AudioVisualModality()

__all__ = ["MODALITY", "AudioVisualModality", "av_like", "build_av_digits", "register_tensors"]
