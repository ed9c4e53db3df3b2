"""The audio adapter object: load, networks, augmentation, preview, export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.augment import DSA
from mmdistill.data import LabeledTensors
from mmdistill.errors import ArtifactError
from mmdistill.modality import ClassificationData
from mmdistill.synthetic import SyntheticSet

from ..base import TensorClassificationAdapter
from .features import FDMFCCParams, fdmfcc_from_mfcc

log = logging.getLogger(__name__)

#: the ``data`` entry of a set that learns only the MFCC channel (``derive_deltas``): (K, n_mfcc, frames)
MFCC_KEY = "mfcc"

#: DSA ops that keep an FD-MFCC map meaningful: translation (a time shift, and a shift of at most 12.5 %
#: of the coefficients) and cutout (a SpecAugment-like masked patch). Flip would reverse time, rotation
#: and scale mix time with quefrency, colour mixes the three channels.
AUDIO_DSA_STRATEGY = "crop_cutout"


class AudioModality(TensorClassificationAdapter):
    """Clips as normalised FD-MFCC maps (3, n_mfcc, frames); the synthetic set lives in that space.

    ``meta`` of the data (and so of every synthetic set) holds what decoding needs without the data:
    ``classes``, per-channel ``mean``/``std``, the FD-MFCC ``features`` parameters and ``num_samples``.

    Two parameterizations: the three channels as learnable pixels (``data["x"]``, DDFAD as published), or
    with ``derive_deltas`` the MFCC channel only (``data["mfcc"]``), whose deltas :meth:`decode` computes.
    """

    name = "audio"

    def load(self, config: Any) -> ClassificationData:
        from .datasets import load_audio_dataset
        from .decode import describe_bad

        ds = load_audio_dataset(
            config.dataset, config.data_root, params=config.feature_params(config.sample_rate or 16000),
            sample_rate=config.sample_rate, duration=config.duration, align=config.align, normalization=config.normalize,
            strict=config.strict,
            test_fraction=config.test_fraction, seed=config.seed, download=config.download, progress=config.progress,
        )
        if ds.skipped:
            log.warning("%s", describe_bad(ds.skipped))
        return ClassificationData(
            name=ds.name,
            train=LabeledTensors(ds.x_train, ds.y_train, list(ds.classes)),
            test=LabeledTensors(ds.x_test, ds.y_test, list(ds.classes)),
            meta={"classes": list(ds.classes), "mean": ds.mean, "std": ds.std, "features": ds.params.to_dict(),
                  "num_samples": ds.num_samples, "skipped_files": len(ds.skipped)},
        )

    def init_synthetic(self, data: ClassificationData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """``config.ipc`` maps per class from real clips or N(0, 1) noise; with ``config.derive_deltas`` only
        their MFCC channel is kept as the learnable tensor (:meth:`decode` tells the two apart by the key)."""
        syn = super().init_synthetic(data, config, gen)
        if config.derive_deltas:
            syn.data[MFCC_KEY] = syn.data.pop("x")[:, 0].clone()
        return syn

    def decode(self, syn: SyntheticSet) -> Tensor:
        """FD-MFCC maps (K, 3, n_mfcc, frames), differentiably: ``data["x"]``, or the maps derived from
        ``data["mfcc"]`` (normalised MFCC channel) with the stored normalisation and delta window."""
        if MFCC_KEY not in syn.data:
            return syn.x
        params, mean, std = feature_meta(syn)
        return fdmfcc_from_mfcc(syn.data[MFCC_KEY], mean, std, params.delta_win)

    def augmenter(self, strategy: str, dataset: str) -> DSA | None:
        """DSA with ``strategy``; ``"auto"`` is :data:`AUDIO_DSA_STRATEGY` for every audio dataset."""
        if strategy.lower() in ("", "none"):
            return None
        return DSA(AUDIO_DSA_STRATEGY if strategy == "auto" else strategy)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_fdmfcc_preview

        hop = syn.meta.get("features", {}).get("hop_ms")
        return save_fdmfcc_preview(self.decode(syn).detach().cpu(), syn.labels.cpu(), _classes(syn), path, title=title, hop_ms=hop)

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        """WAV files per class (Griffin-Lim from the MFCC channel) and ``fdmfcc.safetensors``."""
        from .export import export_audio_set

        params, mean, std = feature_meta(syn)
        return export_audio_set(self.decode(syn).detach().cpu(), syn.labels.cpu(), _classes(syn), out_dir, params=params,
                                mean=mean, std=std, num_samples=syn.meta.get("num_samples"),
                                meta={k: syn.meta[k] for k in ("dataset", "ipc", "init") if k in syn.meta})

    def versions(self) -> dict[str, str]:
        import librosa
        import soundfile
        import torchaudio

        return {"torchaudio": torchaudio.__version__, "librosa": librosa.__version__, "soundfile": soundfile.__version__}


def feature_meta(syn: SyntheticSet) -> tuple[FDMFCCParams, list, list]:
    """FD-MFCC parameters and the normalisation mean/std stored in a synthetic set's metadata."""
    missing = [k for k in ("features", "mean", "std") if k not in syn.meta]
    if missing:
        raise ArtifactError(f"the synthetic set's metadata lacks {missing}; it was not made by the audio adapter")
    return FDMFCCParams.from_dict(syn.meta["features"]), syn.meta["mean"], syn.meta["std"]


def _classes(syn: SyntheticSet) -> list[str]:
    return list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))
