"""The ConvNet family of the dataset-condensation papers (DC, DSA, DM, MTT).

Each of ``depth`` blocks is conv 3x3 (width channels) -> norm -> activation -> 2x2 pooling; a linear
classifier follows. Defaults: depth 3, width 128, instance norm (``GroupNorm(width, width)`` as in the
reference code), ReLU, average pooling. As in the reference, the first convolution pads by 3 for
single-channel 28x28 input (MNIST-like images become 32x32 maps, the size the papers' features assume);
every other input pads by 1. Pooling stops once the feature map is 1x1, so 8x8 digits work at depth 3.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network

NORMS = ("instancenorm", "batchnorm", "layernorm", "groupnorm", "none")
ACTS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leakyrelu": lambda: nn.LeakyReLU(0.01)}
POOLS = ("avgpooling", "maxpooling", "none")


class ConvNet(nn.Module):
    """ConvNet for inputs (N, C, H, W); ``embed`` returns (N, width * h * w) with h, w the final map size."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        num_classes: int,
        depth: int = 3,
        width: int = 128,
        norm: str = "instancenorm",
        act: str = "relu",
        pooling: str = "avgpooling",
    ) -> None:
        super().__init__()
        if len(in_shape) != 3:
            raise ConfigError(f"ConvNet takes (C, H, W) samples, got in_shape {in_shape}")
        if not 1 <= depth <= 8:
            raise ConfigError(f"ConvNet depth must be in 1..8, got {depth}")
        if norm not in NORMS or act not in ACTS or pooling not in POOLS:
            raise ConfigError(f"ConvNet norm/act/pooling must be in {NORMS}/{tuple(ACTS)}/{POOLS}, got {norm}/{act}/{pooling}")
        channels, h, w = in_shape
        layers: list[nn.Module] = []
        c_in = channels
        for d in range(depth):
            pad = 3 if (channels, h, w) == (1, 28, 28) and d == 0 else 1
            layers.append(nn.Conv2d(c_in, width, kernel_size=3, padding=pad))
            h, w = h + 2 * pad - 2, w + 2 * pad - 2
            if norm == "instancenorm":
                layers.append(nn.GroupNorm(width, width, affine=True))
            elif norm == "batchnorm":
                layers.append(nn.BatchNorm2d(width))
            elif norm == "layernorm":
                layers.append(nn.LayerNorm([width, h, w], elementwise_affine=True))
            elif norm == "groupnorm":
                layers.append(nn.GroupNorm(4, width, affine=True))
            layers.append(ACTS[act]())
            if pooling != "none" and min(h, w) >= 2:
                layers.append(nn.AvgPool2d(2, 2) if pooling == "avgpooling" else nn.MaxPool2d(2, 2))
                h, w = h // 2, w // 2
            c_in = width
        self.features = nn.Sequential(*layers)
        self.feature_dim = width * h * w
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


@register_network("convnet")
def convnet(in_shape: tuple[int, ...], num_classes: int, depth: int = 3, width: int = 128, norm: str = "instancenorm",
            act: str = "relu", pooling: str = "avgpooling") -> ConvNet:
    return ConvNet(in_shape, num_classes, depth=depth, width=width, norm=norm, act=act, pooling=pooling)


def _alias(name: str, **fixed: object) -> None:
    def build(in_shape: tuple[int, ...], num_classes: int) -> ConvNet:
        return ConvNet(in_shape, num_classes, **fixed)  # type: ignore[arg-type]

    register_network(name)(build)


for _d in range(1, 6):
    _alias(f"convnetd{_d}", depth=_d)
for _w in (32, 64, 128, 256):
    _alias(f"convnetw{_w}", width=_w)
_alias("convnetbn", norm="batchnorm")
_alias("convnetln", norm="layernorm")
_alias("convnetgn", norm="groupnorm")
_alias("convnetin", norm="instancenorm")
_alias("convnetnn", norm="none")
_alias("convnetmp", pooling="maxpooling")
_alias("convnetap", pooling="avgpooling")
_alias("convnetnp", pooling="none")
_alias("convnetas", act="sigmoid")
_alias("convnetar", act="relu")
_alias("convnetal", act="leakyrelu")
