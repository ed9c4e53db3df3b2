"""Networks for FD-MFCC maps (3, n_mfcc, frames), registered by name in the core registry.

* ``convnet`` (core): DDFAD distils with MTT's ConvNet-3 (width 128, instance norm, ReLU, average
  pooling). It takes the maps as they are: every convolution pads by 1 (the 28x28 padding rule is for
  single-channel images only) and pooling stops before a 1-pixel side, so a default map (3, 13, 101)
  becomes 6x50, 3x25 and 1x12 (D = 128 * 12); the other core networks (AlexNet, VGG11, ResNet18 ...) size
  themselves the same way, for cross-architecture evaluation.
* ``convnet1d`` (here): a temporal ConvNet in the keyword-spotting tradition: the 3 * n_mfcc rows of a map
  are the channels of a sequence over frames, and ``depth`` blocks of 1-D convolution (kernel 3) -> norm ->
  ReLU -> average pooling by 2 run along time only, so quefrency is never pooled. Cheaper than ConvNet-3 on
  these maps and a second architecture family for evaluation.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network

NORMS1D = ("instancenorm", "batchnorm", "none")


class TemporalConvNet(nn.Module):
    """Inputs (N, C, F, T) read as (N, C * F, T).

    ``embed(x)``: (N, C, F, T) -> (N, D), D = ``feature_dim`` = width * t (t the final number of frames);
    ``forward(x)``: -> (N, num_classes) = ``classifier(embed(x))``. Pooling is skipped where it would leave
    fewer than 2 frames for a later block's instance norm (or fewer than 1 after the last block).
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, depth: int = 3, width: int = 128, norm: str = "instancenorm") -> None:
        super().__init__()
        if len(in_shape) != 3:
            raise ConfigError(f"convnet1d takes (C, F, T) maps, got in_shape {tuple(in_shape)}")
        if not 1 <= depth <= 6 or width < 1:
            raise ConfigError(f"convnet1d needs depth in 1..6 and width >= 1, got depth {depth}, width {width}")
        if norm not in NORMS1D:
            raise ConfigError(f"convnet1d norm must be one of {', '.join(NORMS1D)}; got {norm!r}")
        c, f, t = in_shape
        self.in_channels = c * f
        layers: list[nn.Module] = []
        c_in = self.in_channels
        for d in range(depth):
            layers.append(nn.Conv1d(c_in, width, kernel_size=3, padding=1))
            if norm == "instancenorm":
                layers.append(nn.GroupNorm(width, width, affine=True))
            elif norm == "batchnorm":
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            keep = 1 if d == depth - 1 or norm != "instancenorm" else 2
            if t // 2 >= keep:
                layers.append(nn.AvgPool1d(2, 2))
                t //= 2
            c_in = width
        self.features = nn.Sequential(*layers)
        self.feature_dim = width * t
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened features (N, C, F, T) -> (N, feature_dim)."""
        return self.features(x.flatten(1, 2)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C, F, T) -> (N, num_classes)."""
        return self.classifier(self.embed(x))


register_network("convnet1d")(TemporalConvNet)

__all__ = ["TemporalConvNet"]
