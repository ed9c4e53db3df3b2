"""The dual encoder the image-text methods train: a trainable image encoder and a trainable projection of
frozen text embeddings into the image feature space, compared by cosine similarity / temperature.

As in the reference code (Wu et al.; Xu et al.), there is no image projection: the text projection head maps
the text embedding (D_text) to the image feature size (D_img); both sides are L2-normalised and the logits
are ``exp(logit_scale) * img @ txt.T`` with ``logit_scale = log(1 / 0.07)``, fixed unless
``learn_temperature``. All trainable parameters live in one module (``image_encoder.*``,
``text_projection.*`` and, when learnable, ``logit_scale``), so ``torch.func.functional_call`` runs it
with any parameter set.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.seeding import draw_seed

from .encoders import ImageEncoderBuild
from .lora import add_lora
from .split import SplitImageEncoder, split_image_encoder


class ProjectionHead(nn.Module):
    """Linear -> GELU -> linear -> dropout, residual to the first linear, LayerNorm (the reference head)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.projection = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        projected = self.projection(x)
        return self.layer_norm(self.dropout(self.fc(F.gelu(projected))) + projected)


def _at_least_float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class DualEncoder(nn.Module):
    """``forward(images (B, 3, S, S), text (B', D_text)) -> logits (B, B')`` (image rows, text columns)."""

    def __init__(self, image_encoder: nn.Module, image_dim: int, text_dim: int, *, temperature: float = 0.07,
                 learn_temperature: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_projection = ProjectionHead(text_dim, image_dim, dropout)
        scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("logit_scale", scale)

    def encode_image(self, images: Tensor, from_prefix: bool = False) -> Tensor:
        """(B, 3, S, S) -> (B, D_img), unit length (half-precision towers give float32). ``from_prefix``:
        ``images`` are already the frozen prefix's feature maps (B, C, h, w) of a :class:`SplitImageEncoder`
        (see :meth:`prefix_features`), and only its trainable tail runs."""
        enc = self.image_encoder
        if from_prefix:
            if not isinstance(enc, SplitImageEncoder):
                raise TypeError("from_prefix needs an image encoder split by image_trainable_blocks")
            return F.normalize(_at_least_float32(enc.tail(images)), dim=-1)
        return F.normalize(_at_least_float32(enc(images)), dim=-1)

    def prefix_features(self, images: Tensor) -> Tensor | None:
        """(B, 3, S, S) pixels -> the frozen prefix's (B, C, h, w) feature maps, differentiable in the pixels
        (first order); None when the whole image encoder is trained."""
        enc = self.image_encoder
        return enc.prefix(images) if isinstance(enc, SplitImageEncoder) else None

    def encode_text(self, text: Tensor) -> Tensor:
        """(B, D_text) frozen-encoder embeddings -> (B, D_img), unit length."""
        return F.normalize(self.text_projection(text.to(self.text_projection.projection.weight.dtype)), dim=-1)

    def forward(self, images: Tensor, text: Tensor, from_prefix: bool = False) -> Tensor:
        return self.logit_scale.exp() * self.encode_image(images, from_prefix) @ self.encode_text(text).T

    def parameter_groups(self) -> dict[str, list[str]]:
        """Names of the trainable parameters of each trajectory: ``image`` (the image encoder, or its LoRA
        factors) and ``text`` (the projection head, and the logit scale when learnable)."""
        groups: dict[str, list[str]] = {"image": [], "text": []}
        for name, p in self.named_parameters():
            if p.requires_grad:
                groups["image" if name.startswith("image_encoder.") else "text"].append(name)
        return groups


def trainable_parameters(net: nn.Module) -> dict[str, Tensor]:
    """The parameters that require gradients, by name (what a trajectory stores and a student updates)."""
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


@dataclass
class DualEncoderFactory:
    """Fresh dual encoders for evaluation, experts and matching: ``make(gen)`` draws a new projection head
    (and a new image encoder unless it is pretrained, which is copied) from ``gen``; the same generator state
    gives the same model. ``trainable_blocks`` > 0 freezes all but the image encoder's last blocks
    (:mod:`.split`); LoRA then adapts the trainable tail only."""

    image: ImageEncoderBuild
    text_dim: int
    temperature: float = 0.07
    learn_temperature: bool = False
    dropout: float = 0.1
    lora_rank: int = 0
    lora_alpha: float = 1.0
    trainable_blocks: int = 0

    def make(self, gen: torch.Generator | None = None, device: torch.device | str = "cpu") -> DualEncoder:
        seed = draw_seed(gen) if gen is not None else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = copy.deepcopy(self.image.module) if self.image.pretrained else self.image.fresh()
            if self.trainable_blocks > 0:
                encoder = split_image_encoder(encoder, self.trainable_blocks)
            net = DualEncoder(encoder, self.image.out_dim, self.text_dim, temperature=self.temperature,
                              learn_temperature=self.learn_temperature, dropout=self.dropout)
            if self.lora_rank > 0:
                add_lora(net.image_encoder.tail if self.trainable_blocks > 0 else net.image_encoder, self.lora_rank, self.lora_alpha)
        return net.to(device)


__all__ = ["DualEncoder", "DualEncoderFactory", "ProjectionHead", "trainable_parameters"]
