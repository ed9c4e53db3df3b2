"""The audio-visual network: a ConvNet encoder per modality and AVDD's ``ensemble`` classifier (a linear head per
modality; the fused prediction averages the two softmaxes), and the pairs of core networks the cross-architecture
evaluation trains instead.

AVDD's encoders (``nets/audio_net.py``, ``nets/vision_net.py`` of sakshamsingh1/AVDD): ConvNets of width 128,
instance norm, ReLU, average pooling; the audio one 3 blocks whose last pooling is ``AdaptiveAvgPool2d((7, 7))``, the
frame one 5 blocks (224 / 2^5 = 7); the first convolution of a 1-channel input padded by 3 (DC's MNIST padding, kept
for every size); so both embeddings are 128 x 7 x 7 = 6,272. :class:`AVEncoderSpec` holds those choices as keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.schema import CROSS_ARCH_NETWORKS
from mmdistill.nets import build_network, network_key
from mmdistill.nets.convnet import ConvNet


@dataclass(frozen=True)
class AVEncoderSpec:
    """The two ConvNet encoders of :class:`AVNet`: ``depth`` blocks for the audio side and ``image_depth`` (None:
    ``depth``) for the frames, ``width`` channels; ``grid`` > 0: each encoder's last pooling is adaptive average pooling
    to ``grid`` x ``grid`` (AVDD's 7), 0: both pooled to the smaller of their two final maps (mmdistill before session
    37); ``one_channel_padding`` > 0: the padding of a 1-channel input's first convolution (AVDD's 3), 0: the core
    ConvNet's rule (3 for 28-pixel inputs, else 1)."""

    depth: int = 3
    width: int = 128
    image_depth: int | None = 5
    grid: int = 7
    one_channel_padding: int = 3

    @classmethod
    def of(cls, cfg: Any) -> "AVEncoderSpec":
        """The spec of an audio-visual config's keys (``depth``, ``width``, ``image_depth``, ``embed_grid``,
        ``one_channel_padding``)."""
        return cls(depth=cfg.depth, width=cfg.width, image_depth=cfg.image_depth, grid=cfg.embed_grid,
                   one_channel_padding=cfg.one_channel_padding)

    def depth_of(self, side: str) -> int:
        return self.depth if side == "audio" or self.image_depth is None else self.image_depth


def convnet_features(in_shape: tuple[int, ...], depth: int, width: int, first_padding: int | None = None) -> nn.Sequential:
    """The core ConvNet's feature blocks for samples ``in_shape`` (C, H, W), its first convolution padded by
    ``first_padding`` (None: the core's rule); the weights are drawn as the core draws them."""
    features = ConvNet(tuple(in_shape), 1, depth=depth, width=width).features
    if first_padding is not None:
        features[0].padding = (first_padding, first_padding)
    return features


class PooledConvNet(nn.Module):
    """The core ConvNet's feature blocks ending in adaptive average pooling to ``grid``: (N, C, H, W) -> (N, width * gh
    * gw). ``replace_last_pool``: the last block's pooling becomes the adaptive pooling (AVDD's audio encoder) instead
    of being followed by it; ``first_padding``: the first convolution's padding (None: the core ConvNet's)."""

    def __init__(self, in_shape: tuple[int, ...], depth: int, width: int, grid: tuple[int, int], *,
                 replace_last_pool: bool = False, first_padding: int | None = None) -> None:
        super().__init__()
        layers = list(convnet_features(in_shape, depth, width, first_padding))
        if replace_last_pool and isinstance(layers[-1], (nn.AvgPool2d, nn.MaxPool2d)):
            layers = layers[:-1]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid))

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)


def final_map(in_shape: tuple[int, ...], depth: int, first_padding: int | None = None) -> tuple[int, int]:
    """The (h, w) of the core ConvNet's last feature map for samples ``in_shape`` (C, H, W), its first convolution
    padded by ``first_padding`` (None: the core's)."""
    with torch.no_grad():
        out = convnet_features(in_shape, depth, 1, first_padding)(torch.zeros(1, *in_shape))
    return int(out.shape[-2]), int(out.shape[-1])


class AVPair(nn.Module):
    """Two encoders and one linear head per modality: ``audio`` maps log-mel maps (N, 1, n_mels, frames) to (N,
    ``audio_dim``), ``image`` maps frames (N, C, H, W) to (N, ``image_dim``).

    ``embed_audio(a)``, ``embed_image(v)``: the embeddings; ``forward(a, v)``: (logits_audio, logits_image), each (N,
    classes); :meth:`fused_probabilities`: the mean of the two softmaxes (N, classes), AVDD's ``ensemble`` classifier."""

    def __init__(self, audio: nn.Module, image: nn.Module, audio_dim: int, image_dim: int, num_classes: int) -> None:
        super().__init__()
        self.audio = audio
        self.image = image
        self.head_audio = nn.Linear(audio_dim, num_classes)
        self.head_image = nn.Linear(image_dim, num_classes)

    def embed_audio(self, a: Tensor) -> Tensor:
        return self.audio(a)

    def embed_image(self, v: Tensor) -> Tensor:
        return self.image(v)

    def forward(self, a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self.head_audio(self.audio(a)), self.head_image(self.image(v))

    @staticmethod
    def fused_probabilities(logits_audio: Tensor, logits_image: Tensor) -> Tensor:
        return 0.5 * (logits_audio.softmax(dim=1) + logits_image.softmax(dim=1))


class AVNet(AVPair):
    """AVDD's network (:class:`AVEncoderSpec`, its defaults AVDD's): a ConvNet per modality, both embeddings of D =
    width * g * g (``embed_dim``), which the cross-modal matching losses need, and a linear head per modality."""

    def __init__(self, audio_shape: tuple[int, ...], image_shape: tuple[int, ...], num_classes: int,
                 spec: AVEncoderSpec = AVEncoderSpec()) -> None:
        shapes = {"audio": tuple(audio_shape), "image": tuple(image_shape)}
        padding = {side: spec.one_channel_padding if shape[0] == 1 and spec.one_channel_padding else None for side, shape in shapes.items()}
        if spec.grid > 0:
            grid = (spec.grid, spec.grid)
        else:
            (ha, wa), (hv, wv) = (final_map(shapes[side], spec.depth_of(side), padding[side]) for side in ("audio", "image"))
            grid = (min(ha, hv), min(wa, wv))
        towers = {side: PooledConvNet(shape, spec.depth_of(side), spec.width, grid, replace_last_pool=spec.grid > 0,
                                      first_padding=padding[side]) for side, shape in shapes.items()}
        dim = spec.width * grid[0] * grid[1]
        super().__init__(towers["audio"], towers["image"], dim, dim, num_classes)
        self.embed_dim = dim


class CoreEmbedding(nn.Module):
    """A network of the core registry (:func:`mmdistill.nets.build_network`) read as an encoder: its ``embed``, (N, D);
    its own classifier is dropped (the pair's heads classify)."""

    def __init__(self, name: str, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net = build_network(name, tuple(in_shape), 1)
        self.dim = int(self.net.classifier.in_features)
        self.net.classifier = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """(N, *in_shape) -> (N, ``dim``)."""
        return self.net.embed(x)


AV_NETWORK = "av-convnet"
"""AVDD's network (:class:`AVNet`), the one the pairs are distilled and evaluated with."""
CROSS_ARCH = (AV_NETWORK, *(n for n in CROSS_ARCH_NETWORKS if n != "convnet"))
"""The audio-visual cross-architecture evaluation (``cross_arch``): AVDD's network, then each network of the image
cross-architecture list (without the ConvNet, which AVDD's network is) as both encoders of a pair."""


def av_network_name(name: str, key: str | None = None) -> str:
    """The name of :data:`CROSS_ARCH` that ``name`` spells (case, ``-`` and ``_`` ignored, as the core registry does:
    ``ResNet-18`` is ``resnet18``); ConfigError naming ``name`` (and the config ``key`` that gave it) and the choices."""
    found = {network_key(n): n for n in CROSS_ARCH}.get(network_key(name))
    if found is None:
        where = f"{key} " if key else ""
        raise ConfigError(f"audio-visual evaluation network {where}{name!r}: expected one of {', '.join(CROSS_ARCH)}", key=key)
    return found


def build_av_network(name: str, audio_shape: tuple[int, ...], image_shape: tuple[int, ...], num_classes: int,
                     spec: AVEncoderSpec = AVEncoderSpec()) -> AVPair:
    """``av-convnet`` (:class:`AVNet` with ``spec``) or a core registry network as both encoders of an
    :class:`AVPair`. ConfigError naming the choices for another name."""
    name = av_network_name(name)
    if name == AV_NETWORK:
        return AVNet(audio_shape, image_shape, num_classes, spec)
    audio, image = CoreEmbedding(name, audio_shape), CoreEmbedding(name, image_shape)
    return AVPair(audio, image, audio.dim, image.dim, num_classes)


__all__ = ["AVEncoderSpec", "AVNet", "AVPair", "AV_NETWORK", "CROSS_ARCH", "CoreEmbedding", "PooledConvNet", "av_network_name", "build_av_network",
           "convnet_features", "final_map"]
