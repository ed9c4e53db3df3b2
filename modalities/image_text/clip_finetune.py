"""Fine-tune an open_clip model's image tower on a few hundred pairs and measure retrieval before and after.

The text tower stays frozen: its ``encode_text`` embeddings of the real captions are precomputed (and cached)
and a distilled set made with ``text_encoder="openclip:<model>@<pretrained>"`` already lives in that space, so
a pair is (image, text embedding) on both sides. The image tower is fine-tuned fully or through LoRA factors
(:mod:`.lora`) with the CLIP loss (bidirectional InfoNCE at the model's own, frozen, logit scale; a LoRS set's
similarity matrix as soft targets). No paper fixes a protocol for fine-tuning on distilled pairs; the defaults
are mmdistill's: AdamW with weight decay 0.1, 10 epochs at batch 128 (WiSE-FT's ``src/args.py`` defaults, a common
CLIP fine-tuning recipe), lr 1e-5 (full) or 1e-4 (LoRA) and the learning rate x0.1 after half of the epochs (the
bi-trajectory evaluation's schedule; WiSE-FT and open_clip train with cosine decay after a warm-up, open_clip at AdamW
lr 5e-4, betas (0.9, 0.98), weight decay 0.2, a trained logit scale, none of which is taken here). Each of ``runs`` repetitions reshuffles (and redraws the LoRA factors
and, for ``random_real``, the pairs); retrieval before fine-tuning is deterministic (one run).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan, TrainAndScore
from mmdistill.seeding import draw_seed, generator
from mmdistill.synthetic import SyntheticSet

from .adapter import similarity_matrix
from .data import ImageTextData, PairBatch, PairSplit
from .encoders import parse_openclip
from .evaluation import random_pairs, require_pairs
from .lora import add_lora
from .offline_clip import IMAGENET_TAG, TEXT_POOLING, text_space_matches
from .task import HEADLINE, HEADLINE_KEY, RECALL_KEYS, ContrastiveTask, saturated_recalls_note
from .training import retrieval_on, train_on_pairs

log = logging.getLogger(__name__)


class ClipImageTower(nn.Module):
    """``forward(images, text embeddings) -> logits`` of an open_clip image tower against fixed text-tower
    embeddings, at the model's logit scale (a buffer: not trained)."""

    def __init__(self, visual: nn.Module, logit_scale: float) -> None:
        super().__init__()
        self.visual = visual
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))

    def encode_image(self, images: Tensor) -> Tensor:
        return F.normalize(self.visual(images).float(), dim=-1)

    def encode_text(self, text: Tensor) -> Tensor:
        return F.normalize(text.float(), dim=-1)

    def forward(self, images: Tensor, text: Tensor) -> Tensor:
        return self.logit_scale.exp() * self.encode_image(images) @ self.encode_text(text).T


def same_text_space(set_text_encoder: str | None, clip_text_encoder: str, set_text_pooling: str | None = None) -> bool:
    """Whether a set distilled with ``set_text_encoder`` (pooled with ``set_text_pooling``, None: not recorded) has its
    text embeddings in the space of the CLIP text tower ``clip_text_encoder`` (``openclip:<model>@<pretrained>``): the
    same encoder, or a frozen sentence encoder an offline model's text tower *is* (:data:`.offline_clip.TEXT_SPACES`,
    packaged weights only) pooled as that tower pools (:data:`.offline_clip.TEXT_POOLING`)."""
    if set_text_encoder == clip_text_encoder:
        return True
    tower = offline_tower_pooling(clip_text_encoder, set_text_encoder)
    return tower is not None and set_text_pooling in (None, tower)


def offline_tower_pooling(clip_text_encoder: str, set_text_encoder: str | None) -> str | None:
    """The pooling of the offline CLIP text tower ``clip_text_encoder`` when ``set_text_encoder`` is the sentence
    encoder it is built from (``"mean"`` for ``EfficientNetLite0-MiniLM@imagenet`` and ``minilm``), else None."""
    if not clip_text_encoder.startswith("openclip:"):
        return None
    model_name, pretrained = parse_openclip(clip_text_encoder.split(":", 1)[1])
    if (pretrained or "").lower() != IMAGENET_TAG or not text_space_matches(model_name, set_text_encoder):
        return None
    return TEXT_POOLING.get(model_name, "mean")


def text_space_problem(meta: dict, clip_text_encoder: str, *, warn: bool = True) -> str | None:
    """Why the text embeddings of a set with metadata ``meta`` (``text_encoder``, ``text_pooling``) do not live in the
    CLIP text tower ``clip_text_encoder``'s space, or None when they do (with ``warn``, a set of an offline tower's
    encoder that does not record its pooling, made before it was recorded, is accepted with a warning)."""
    encoder, pooling = meta.get("text_encoder"), meta.get("text_pooling")
    if same_text_space(encoder, clip_text_encoder, pooling):
        if warn and pooling is None and encoder != clip_text_encoder:
            log.warning("the distilled set does not record its text_pooling (made by an older mmdistill): it is taken to be "
                        "%s's %s pooling, which this CLIP model's text tower uses", encoder, offline_tower_pooling(clip_text_encoder, encoder))
        return None
    tower = offline_tower_pooling(clip_text_encoder, encoder)
    if tower is not None:
        return (f"the set's text embeddings are {encoder!r} with text_pooling={pooling}, and this CLIP model's text tower "
                f"({clip_text_encoder!r}) {tower}-pools {encoder!r}: they lie in another space; distil with "
                f"text_encoder={encoder} text_pooling={tower} (or auto) so they live in its space")
    also = [enc for enc in ("minilm",) if same_text_space(enc, clip_text_encoder)]
    return (f"the set's text embeddings come from {encoder!r}, not from this CLIP model's text tower ({clip_text_encoder!r}); "
            f"distil with text_encoder={clip_text_encoder}{''.join(f' (or text_encoder={a})' for a in also)} so they live in its space")


def syn_pairs_for_clip(syn: SyntheticSet, clip_text_encoder: str, mean: tuple[float, ...], std: tuple[float, ...], size: int) -> PairBatch:
    """The distilled pairs as CLIP inputs: its text must live in ``clip_text_encoder``'s space
    (:func:`same_text_space`); its images are
    re-normalised with CLIP's statistics and resized (bilinear) to ``size`` when they differ."""
    problem = text_space_problem(syn.meta, clip_text_encoder, warn=False)  # the recipe's check_pair_set warned
    if problem:
        raise ConfigError(problem)
    images = syn.data["images"].detach().float()
    s_mean, s_std = torch.tensor(syn.meta["mean"])[:, None, None], torch.tensor(syn.meta["std"])[:, None, None]
    pixels = images * s_std + s_mean
    if tuple(pixels.shape[-2:]) != (size, size):  # said: a set distilled at 32 px trains CLIP at its own size
        log.info("the distilled images (%d x %d px) are resized (bilinear) to the CLIP model's %d x %d px input",
                 pixels.shape[-2], pixels.shape[-1], size, size)
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)
    images = (pixels - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    sim = similarity_matrix(syn)
    return PairBatch(images, syn.data["text"].detach().float(), None if sim is None else sim.detach())


def finetune_tower(visual: nn.Module, logit_scale: float, pairs: PairBatch, cfg: Any, gen: torch.Generator, task: ContrastiveTask) -> ClipImageTower:
    """A copy of ``visual`` fine-tuned on ``pairs`` (fully, or LoRA with ``cfg.finetune == "lora"``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(draw_seed(gen))
        tower = ClipImageTower(copy.deepcopy(visual), logit_scale)
        if cfg.finetune == "lora":
            add_lora(tower.visual, cfg.lora_rank, cfg.lora_alpha)
    lr = cfg.ft_lr
    params = [p for p in tower.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.ft_weight_decay)
    train_on_pairs(tower, pairs, epochs=cfg.ft_epochs, batch_size=cfg.ft_batch, gen=gen, task=task, optimizer=opt)
    return tower


def finetune_trainer(visual: nn.Module, logit_scale: float, cfg: Any, test: PairSplit, task: ContrastiveTask) -> TrainAndScore:
    """``train_and_score(pairs, gen)``: a copy of the image tower fine-tuned on ``pairs`` (the repetition's
    shuffles and LoRA draw from ``gen``), scored by retrieval on ``test``."""

    def train_and_score(pairs: PairBatch, gen: torch.Generator) -> dict[str, float]:
        scores = retrieval_on(finetune_tower(visual, logit_scale, pairs, cfg, gen, task), test)
        return {HEADLINE_KEY: scores[HEADLINE_KEY], **{k: scores[k] for k in RECALL_KEYS}}

    return train_and_score


def finetune_plan(cfg: Any, data: ImageTextData, visual: nn.Module, logit_scale: float, syn: SyntheticSet | None,
                  device: torch.device) -> EvaluationPlan:
    """Retrieval on the real test split ``before`` fine-tuning (one score), after fine-tuning on the
    ``distilled`` pairs (when ``syn`` is given) and on ``random_real`` pairs of the same count (a new draw per
    run), ``cfg.eval_runs`` fine-tuning runs each, through the core evaluation skeleton."""
    task = ContrastiveTask(soft_loss=cfg.soft_loss)
    visual = visual.to(device)

    def untouched(pairs: Any, gen: torch.Generator) -> dict[str, float]:
        scores = retrieval_on(ClipImageTower(visual, logit_scale).to(device), data.test)
        return {HEADLINE_KEY: scores[HEADLINE_KEY], **{k: scores[k] for k in RECALL_KEYS}}

    k = len(syn) if syn is not None else cfg.ipc
    sets: dict[str, EvalSet] = {"before": EvalSet(None, untouched, size=0, runs=1)}
    if syn is not None:
        pairs = syn_pairs_for_clip(syn, data.meta["text_encoder"], tuple(data.meta["mean"]), tuple(data.meta["std"]), int(data.meta["image_size"]))
        sets["distilled"] = EvalSet(pairs.to(device), size=k)
    require_pairs(data.train, k, "random real pairs")
    sets["random_real"] = EvalSet(lambda r: data.train.pairs(random_pairs(data.train, k, generator(cfg.seed, "random_real", r))),
                                  per_run=True, size=k)
    protocol = {"finetune": cfg.finetune, "epochs": cfg.ft_epochs, "batch_size": cfg.ft_batch, "lr": cfg.ft_lr,
                "weight_decay": cfg.ft_weight_decay, "optimizer": "AdamW, lr x0.1 after half", "runs": cfg.eval_runs,
                "lora_rank": cfg.lora_rank if cfg.finetune == "lora" else None, "logit_scale": "frozen"}
    note = saturated_recalls_note(data.test.num_images, data.test.num_pairs)
    if note:  # in the log and in the manifest's metrics.protocol
        log.warning("%s", note)
        protocol["note"] = note
    return EvaluationPlan(metric=HEADLINE_KEY, label=HEADLINE, networks=[NetworkPlan(cfg.clip_model, finetune_trainer(visual, logit_scale, cfg, data.test, task), sets)],
                          runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress, protocol=protocol,
                          title=f"CLIP retrieval on {data.test.num_images} test images / {data.test.num_pairs} captions (recall %)")


__all__ = ["ClipImageTower", "finetune_plan", "finetune_tower", "finetune_trainer", "offline_tower_pooling", "same_text_space",
           "syn_pairs_for_clip", "text_space_problem"]
