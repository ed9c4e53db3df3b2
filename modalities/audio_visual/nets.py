"""The audio-visual network: a ConvNet encoder per modality (the core ConvNet, pooled to one grid so both embeddings
have the same size, as AVDD's two 128 x 7 x 7 embeddings) and AVDD's ``ensemble`` classifier (a linear head per
modality; the fused prediction averages the two softmaxes), and the pairs of core networks the cross-architecture
evaluation trains instead."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.schema import CROSS_ARCH_NETWORKS
from mmdistill.nets import build_network, network_key
from mmdistill.nets.convnet import ConvNet


class PooledConvNet(nn.Module):
    """The core ConvNet's feature blocks + adaptive average pooling to ``grid``: (N, C, H, W) -> (N, width * gh * gw)."""

    def __init__(self, in_shape: tuple[int, ...], depth: int, width: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.features = ConvNet(in_shape, 1, depth=depth, width=width).features
        self.pool = nn.AdaptiveAvgPool2d(grid)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.features(x)).flatten(1)


def final_map(in_shape: tuple[int, ...], depth: int) -> tuple[int, int]:
    """The (h, w) of the core ConvNet's last feature map for samples ``in_shape`` (C, H, W)."""
    net = ConvNet(tuple(in_shape), 1, depth=depth, width=1)
    with torch.no_grad():
        out = net.features(torch.zeros(1, *in_shape))
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
    """AVDD's network: the core ConvNet (``depth`` blocks, ``width`` channels) per modality, both pooled to one grid
    (the smaller of the two final maps per side) so both embeddings have D = width * gh * gw (``embed_dim``), which
    the cross-modal matching losses need."""

    def __init__(self, audio_shape: tuple[int, ...], image_shape: tuple[int, ...], num_classes: int, depth: int = 3, width: int = 128) -> None:
        ha, wa = final_map(audio_shape, depth)
        hv, wv = final_map(image_shape, depth)
        grid = (min(ha, hv), min(wa, wv))
        dim = width * grid[0] * grid[1]
        super().__init__(PooledConvNet(audio_shape, depth, width, grid), PooledConvNet(image_shape, depth, width, grid), dim, dim, num_classes)
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


def build_av_network(name: str, audio_shape: tuple[int, ...], image_shape: tuple[int, ...], num_classes: int, depth: int = 3,
                     width: int = 128) -> AVPair:
    """``av-convnet`` (:class:`AVNet` with ``depth`` and ``width``) or a core registry network as both encoders of an
    :class:`AVPair`. ConfigError naming the choices for another name."""
    name = av_network_name(name)
    if name == AV_NETWORK:
        return AVNet(audio_shape, image_shape, num_classes, depth=depth, width=width)
    audio, image = CoreEmbedding(name, audio_shape), CoreEmbedding(name, image_shape)
    return AVPair(audio, image, audio.dim, image.dim, num_classes)


__all__ = ["AVNet", "AVPair", "AV_NETWORK", "CROSS_ARCH", "CoreEmbedding", "PooledConvNet", "av_network_name", "build_av_network", "final_map"]
