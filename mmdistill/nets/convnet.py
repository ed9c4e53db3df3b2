"""The ConvNet family of the dataset-condensation papers (DC, DSA, DM, MTT).

Each of ``depth`` blocks is conv 3x3 (``width`` channels) -> norm -> activation -> 2x2 pooling; a linear
classifier follows. Defaults: depth 3, width 128, instance norm (``GroupNorm(width, width)`` as in the
reference code), ReLU, average pooling. As in the reference, the first convolution pads by 3 for
single-channel 28x28 input (MNIST-like images become 32x32 maps, the size the papers' features assume);
every other convolution pads by 1.

Small inputs: pooling is skipped where the map is already 1x1, and with instance norm also where it would
leave a 1x1 map for a later block's norm (instance norm of a 1x1 map is constant). At the reference sizes
(28x28, 32x32, 64x64) nothing is skipped; 8x8 digits at depth 3 give 8 -> 4 -> 2 -> 1.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network

NORMS = ("instancenorm", "batchnorm", "layernorm", "groupnorm", "none")
ACTS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),  # in place: its input (a norm's, conv's output) is not saved for backward
    "sigmoid": nn.Sigmoid,
    "leakyrelu": lambda: nn.LeakyReLU(0.01),
}
POOLS = ("avgpooling", "maxpooling", "none")
MAX_DEPTH = 5


def _norm_layer(norm: str, width: int, h: int, w: int) -> nn.Module | None:
    if norm == "instancenorm":
        return nn.GroupNorm(width, width, affine=True)
    if norm == "batchnorm":
        return nn.BatchNorm2d(width, affine=True)
    if norm == "layernorm":
        return nn.LayerNorm([width, h, w], elementwise_affine=True)
    if norm == "groupnorm":
        return nn.GroupNorm(4, width, affine=True)
    return None


class ConvNet(nn.Module):
    """ConvNet for inputs (N, C, H, W).

    ``embed(x)``: (N, C, H, W) -> (N, D) with D = ``feature_dim`` = width * h * w (h, w the final map size);
    ``forward(x)``: (N, C, H, W) -> (N, num_classes) = ``classifier(embed(x))``.
    """

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
            raise ConfigError(f"ConvNet takes (C, H, W) samples, got in_shape {tuple(in_shape)}")
        if not 1 <= depth <= MAX_DEPTH:
            raise ConfigError(f"ConvNet depth must be in 1..{MAX_DEPTH}, got {depth}")
        if width < 1 or (norm == "groupnorm" and width % 4):
            raise ConfigError(f"ConvNet width must be positive (a multiple of 4 with groupnorm), got {width}")
        for option, value, allowed in (("norm", norm, NORMS), ("act", act, tuple(ACTS)), ("pooling", pooling, POOLS)):
            if value not in allowed:
                raise ConfigError(f"ConvNet {option} must be one of {', '.join(allowed)}; got {value!r}")
        channels, h, w = in_shape
        layers: list[nn.Module] = []
        c_in = channels
        for d in range(depth):
            pad = 3 if channels == 1 and d == 0 and h == 28 else 1  # reference: channel == 1 and im_size[0] == 28
            layers.append(nn.Conv2d(c_in, width, kernel_size=3, padding=pad))
            h, w = h + 2 * pad - 2, w + 2 * pad - 2
            norm_layer = _norm_layer(norm, width, h, w)
            if norm_layer is not None:
                layers.append(norm_layer)
            layers.append(ACTS[act]())
            last = d == depth - 1
            keep = 1 if last or norm != "instancenorm" else 2  # smallest map a later block's norm may see
            if pooling != "none" and min(h, w) // 2 >= keep:
                layers.append(nn.AvgPool2d(2, 2) if pooling == "avgpooling" else nn.MaxPool2d(2, 2))
                h, w = h // 2, w // 2
            c_in = width
        self.features = nn.Sequential(*layers)
        self.feature_dim = width * h * w
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened features (N, C, H, W) -> (N, feature_dim)."""
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C, H, W) -> (N, num_classes)."""
        return self.classifier(self.embed(x))


# the class itself is the builder: its keyword arguments are the network's options
register_network("convnet")(ConvNet)


def _alias(name: str, **fixed: object) -> None:
    """Register ``name`` as the default ConvNet with ``fixed`` options (the reference ``ConvNetXX`` names)."""

    def build(in_shape: tuple[int, ...], num_classes: int) -> ConvNet:
        return ConvNet(in_shape, num_classes, **fixed)  # type: ignore[arg-type]

    build.__doc__ = f"ConvNet with {', '.join(f'{k}={v!r}' for k, v in fixed.items())}."
    register_network(name)(build)


for _d in range(1, MAX_DEPTH + 1):
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
