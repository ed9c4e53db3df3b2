"""The audio-visual adapter object: paired (log-mel spectrogram, frame) samples with one class label."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmdistill.augment import DSA
from mmdistill.evaluation import EvaluationPlan
from mmdistill.modality import AdapterDefaults
from mmdistill.synthetic import SyntheticSet
from mmdistill.task import ClassificationTask

from .data import AVData, hold_out_validation
from .evaluate import av_plan, herding_indices, random_indices
from .formation import check_divisible, repeat_labels, tile, untile
from .matching import AVAugment
from .nets import AVEncoderSpec, AVNet
from .releases import RELEASE_FACTS
from .share import HF_INPUT_NAMES

log = logging.getLogger(__name__)

#: DSA on log-mel maps for ``auto`` (mmdistill's per-side choice; the recipes' default is AVDD's strategy on both sides,
#: :data:`~.config.AVDD_DSA_STRATEGY`): a time/frequency shift and a masked patch (the audio adapter's; SpecAugment-like)
AUDIO_DSA_STRATEGY = "crop_cutout"
#: DSA on frames for ``auto``: AVDD's strategy without flip (a mirrored digit or sign is another picture)
IMAGE_DSA_STRATEGY = "color_crop_cutout_scale_rotate"

DATASET_FACTS = {
    "tones-digits": {"licence": "generated tones (Apache-2.0) with scikit-learn digits (UCI, CC BY 4.0)", "licence_id": "cc-by-4.0",
                     "source": "modalities/audio_visual/digits.py"},
    "csv": {"licence": "the licence of the user's files (not known to the loader)", "licence_id": "unknown", "source": "local CSV"},
    "video": {"licence": "the licence of the user's clips (not known to the loader)", "licence_id": "unknown", "source": "local folder"},
    **RELEASE_FACTS,  # ave, vggsound, vggsound-10k, music-21 read from their released layouts
}


class AudioVisualModality(AdapterDefaults):
    """Pairs of a log-mel spectrogram (1, n_mels, frames) and a frame (C, H, W) per sample; the synthetic set holds
    ``data["audio"]`` (K, 1, n_mels, frames) and ``data["image"]`` (K, C, H, W), both normalised, with class-major
    hard labels; ``meta`` carries what preview and export need (front end, normalisation)."""

    name = "audio_visual"
    sample_noun = "pair"
    DATASET_FACTS = DATASET_FACTS

    def load(self, config: Any) -> AVData:
        from .loaders import load_pairs

        return load_pairs(config)

    def to_device(self, data: AVData, device: torch.device) -> AVData:
        return dataclasses.replace(data, train=data.train.to(device))

    def hold_out_validation(self, data: AVData, fraction: float, by_groups: bool = True) -> AVData:
        """``validation=``: the pairs of :func:`.data.hold_out_validation` (whole groups where the loader knows them,
        unless ``by_groups`` is false: ``validation_groups=false``)."""
        return hold_out_validation(data, fraction, by_groups)

    def describe(self, data: AVData) -> str:
        return (f"{data.name}, {data.num_classes} classes, {len(data.train)} train / {len(data.test)} "
                f"{data.meta.get('scored_on', 'test')} pairs; audio {data.audio_shape} log-mel, frames {data.image_shape}")

    def task(self, config: Any) -> ClassificationTask:
        return ClassificationTask()

    def _eval_augment(self, config: Any, data: AVData) -> AVAugment | None:
        return self.augmenter(config.dsa_strategy, data.name) if config.eval_dsa else None

    def init_synthetic(self, data: AVData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """``config.ipc`` pairs per class: herding pairs (AVDD), random real pairs, or N(0, 1) noise (``config.init``).
        DataError naming every class with fewer pairs than ``ipc``."""
        factor = int(getattr(config, "multi_formation", 1))
        check_divisible(data.audio_shape, factor, "log-mel map (n_mels x audio_frames)")
        check_divisible(data.image_shape, factor, "frame (image_size x image_size)")
        per_class = config.ipc * factor**2  # real pairs per class the tiles are made of
        data.require_per_class(per_class, what="ipc" if factor == 1 else "ipc x multi_formation²")
        device = data.train.audio.device
        if config.init == "noise":
            labels = torch.arange(data.num_classes).repeat_interleave(config.ipc)
            audio = torch.randn((len(labels), *data.audio_shape), generator=gen)
            image = torch.randn((len(labels), *data.image_shape), generator=gen)
        else:
            if config.init == "herding":
                idx = herding_indices(dataclasses.replace(config, ipc=per_class) if factor > 1 else config, data, device,
                                      self._eval_augment(config, data))
            else:
                idx = random_indices(data, per_class, gen)
            # class-major (c0: per_class picks, c1: ...) -> decoding order (tile t of every class's ipc samples)
            idx = idx.view(data.num_classes, factor**2, config.ipc).transpose(0, 1).reshape(-1).to(device)
            audio = tile(data.train.audio[idx].detach().float().cpu(), factor)
            image = tile(data.train.image[idx].detach().float().cpu(), factor)
            labels = data.train.y[idx[: data.num_classes * config.ipc]].cpu()
        return SyntheticSet(data={"audio": audio.float(), "image": image.float()}, labels=labels.long(), num_classes=data.num_classes,
                            meta={**data.meta, "classes": list(data.classes), "ipc": config.ipc, "init": config.init, "dataset": data.name,
                                  "multi_formation": factor})

    def matching_network(self, config: Any, data: AVData) -> nn.Module:
        return AVNet(data.audio_shape, data.image_shape, data.num_classes, AVEncoderSpec.of(config))

    def augmenter(self, strategy: str | dict[str, str], dataset: str) -> AVAugment | None:
        """DSA per side; ``"auto"``: :data:`AUDIO_DSA_STRATEGY` on spectrograms, :data:`IMAGE_DSA_STRATEGY` on frames;
        another strategy applies to both (the reference's); ``{"audio": ..., "image": ...}`` (what the evaluation protocol
        records as ``dsa_strategy``) one per side."""
        if isinstance(strategy, dict):
            return AVAugment(*(DSA(str(strategy.get(side, "none"))) for side in ("audio", "image")))
        if strategy.lower() in ("", "none"):
            return None
        if strategy == "auto":
            return AVAugment(DSA(AUDIO_DSA_STRATEGY), DSA(IMAGE_DSA_STRATEGY))
        return AVAugment(DSA(strategy), DSA(strategy))

    def decode(self, syn: SyntheticSet) -> tuple[Tensor, Tensor]:
        """(audio (N, 1, n_mels, frames), image (N, C, H, W)): the learnable tensors themselves (N = K stored pairs),
        or with ``multi_formation`` f > 1 their f x f tiles upsampled (N = f² K, :mod:`.formation`; differentiable)."""
        factor = _factor(syn)
        return untile(syn.data["audio"], factor), untile(syn.data["image"], factor)

    def labels_of(self, syn: SyntheticSet) -> Tensor:
        """(N,) the label of each decoded pair."""
        return repeat_labels(syn.labels, _factor(syn))

    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: AVData, device: torch.device) -> EvaluationPlan:
        return av_plan(config, syn, data, device, self.decode, self.labels_of, self._eval_augment(config, data))

    def inputs(self, syn: SyntheticSet) -> dict[str, Tensor]:
        audio, image = self.decode(syn)
        return {"audio": audio.detach().cpu(), "image": image.detach().cpu()}

    merge_inputs = ("audio", "image")  # mmdistill merge: both sides of each pair, each with its own mean/std
    merge_meta_keys = ("features", "num_samples", "audio_frames", "multi_formation")  # the log-mel parameters, the tiling

    inputs_like_recorded = {"image_size": ("image_size", "image_size")}  # a set made before walk 53B: the frames' side

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> dict[str, Tensor]:
        """Your own pairs as the set's ``audio`` log-mel spectrograms and ``image`` frames: :func:`~.prepare.av_like`
        (``{"audio": files or waveforms, "image": files}``, either or both, or ``(audio, image)`` file pairs;
        ``sample_rate=``, ``image_size=``), the sharing hook behind ``DistilledSet.inputs_like``."""
        from .prepare import av_like

        return av_like(syn, raw, **options)

    # ---------------------------------------------------------------- sharing (mmdistill.sharing, .share)
    hf_input_names = HF_INPUT_NAMES

    def hf_columns(self, syn: SyntheticSet, inputs: dict, labels: Tensor, soft_labels: Tensor | None) -> tuple[dict, dict]:
        """``image`` and ``audio`` (playable WAV) before the exact ``log_mel``/``pixel_values`` tensors and ``label``."""
        from .share import natural_columns

        columns, features = super().hf_columns(syn, inputs, labels, soft_labels)
        nat_cols, nat_feats = natural_columns(syn, inputs)
        return {**nat_cols, **columns}, {**nat_feats, **features}

    def normalization(self, meta: dict[str, Any]) -> dict[str, dict[str, Tensor]]:
        """``audio``: one mean/std (scalars, dB of the log-mel spectrogram); ``image``: per channel (C,) of [0, 1] frames."""
        out = {}
        for side in ("audio", "image"):
            if meta.get(f"{side}_mean") is not None and meta.get(f"{side}_std") is not None:
                out[side] = {k: torch.tensor(meta[f"{side}_{k}"], dtype=torch.float32) for k in ("mean", "std")}
        return out

    def hf_cast(self, syn: SyntheticSet) -> dict:
        from .share import audio_cast

        return audio_cast(syn)

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: Any, max_real: int, gen: torch.Generator):
        from .share import pair_memorisation_views

        return pair_memorisation_views(self.inputs(syn), data, max_real, gen)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_pair_preview

        audio, image = self.decode(syn)
        return save_pair_preview(audio, image, self.labels_of(syn), _classes(syn), syn.meta, path, title=title)

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws: per class row up to PREVIEW_PER_CLASS pairs, each its frame and its log-mel
        spectrogram, with its colour bar's unit."""
        from ..artifacts import grid_words
        from .export import BAR_KEY, MEL_CMAP, PREVIEW_PER_CLASS

        return (f"{grid_words(self.labels_of(syn).cpu(), _classes(syn), PREVIEW_PER_CLASS, 'pair')}; each pair its image frame, then its "
                f"log-mel spectrogram in dB (time right, mel band up, {MEL_CMAP}); {BAR_KEY}")

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_pairs

        audio, image = self.decode(syn)
        return export_pairs(audio, image, self.labels_of(syn), _classes(syn), syn.meta, out_dir)

    def versions(self) -> dict[str, str]:
        import torchaudio

        out = {"torchaudio": torchaudio.__version__}
        try:
            import decord

            out["decord"] = decord.__version__
        except ImportError:
            pass
        return out


def _classes(syn: SyntheticSet) -> list[str]:
    return list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))


def _factor(syn: SyntheticSet) -> int:
    """The set's multi-formation factor (1 for sets saved before it existed)."""
    return int(syn.meta.get("multi_formation", 1))


__all__ = ["AUDIO_DSA_STRATEGY", "IMAGE_DSA_STRATEGY", "AudioVisualModality"]
