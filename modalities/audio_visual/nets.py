"""The audio-visual network: a ConvNet encoder per modality (the core ConvNet, pooled to one grid so both embeddings
have the same size, as AVDD's two 128 x 7 x 7 embeddings) and AVDD's ``ensemble`` classifier (a linear head per
modality; the fused prediction averages the two softmaxes)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

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


class AVNet(nn.Module):
    """Audio encoder on log-mel maps (1, n_mels, frames), frame encoder on images (C, H, W), both to D = width * gh * gw
    (the grid is the smaller of the two final maps per side), and one linear head per modality.

    ``embed_audio(a)``, ``embed_image(v)``: (N, D); ``forward(a, v)``: (logits_audio, logits_image), each (N, classes);
    :meth:`fused_probabilities`: the mean of the two softmaxes (N, classes)."""

    def __init__(self, audio_shape: tuple[int, ...], image_shape: tuple[int, ...], num_classes: int, depth: int = 3, width: int = 128) -> None:
        super().__init__()
        ha, wa = final_map(audio_shape, depth)
        hv, wv = final_map(image_shape, depth)
        grid = (min(ha, hv), min(wa, wv))
        self.audio = PooledConvNet(audio_shape, depth, width, grid)
        self.image = PooledConvNet(image_shape, depth, width, grid)
        self.embed_dim = width * grid[0] * grid[1]
        self.head_audio = nn.Linear(self.embed_dim, num_classes)
        self.head_image = nn.Linear(self.embed_dim, num_classes)

    def embed_audio(self, a: Tensor) -> Tensor:
        return self.audio(a)

    def embed_image(self, v: Tensor) -> Tensor:
        return self.image(v)

    def forward(self, a: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self.head_audio(self.audio(a)), self.head_image(self.image(v))

    @staticmethod
    def fused_probabilities(logits_audio: Tensor, logits_image: Tensor) -> Tensor:
        return 0.5 * (logits_audio.softmax(dim=1) + logits_image.softmax(dim=1))


__all__ = ["AVNet", "PooledConvNet", "final_map"]
