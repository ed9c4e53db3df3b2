"""Audio adapter: clips as Fused Differential MFCC maps (DDFAD): loaders for generated tones (the embedded
default), the Free Spoken Digit Dataset, folder trees and CSV lists of audio files, and torchaudio's Speech
Commands and GTZAN classes, and waveforms in memory (:func:`register_tensors`); the FD-MFCC transform and its approximate inversion to sound; networks for the
maps; a preview of the maps and export to WAV files. ``MODALITY`` is the object the core looks up by the
name ``"audio"``."""

from __future__ import annotations

from . import nets  # noqa: F401  (registers the audio networks)
from .adapter import AudioModality
from .config import AudioDistillConfig, DDFADConfig
from .features import FDMFCC, FDMFCCParams, extract_fdmfcc, fdmfcc_from_mfcc, fdmfcc_to_waveform
from .prepare import maps_like
from .registered import register_tensors

MODALITY = AudioModality()

__all__ = ["AudioDistillConfig", "AudioModality", "DDFADConfig", "FDMFCC", "FDMFCCParams", "MODALITY", "extract_fdmfcc", "fdmfcc_from_mfcc",
           "fdmfcc_to_waveform", "maps_like", "register_tensors"]
