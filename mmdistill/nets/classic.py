"""MLP, LeNet, AlexNet, VGG11 and ResNet18 as the dataset-condensation papers use them for
cross-architecture evaluation, sized for small inputs (8x8 to 64x64): convolutions pad to keep tiny maps
alive, pooling stops at 1x1, and classifier widths come from a dummy forward at build time.

VGG11 and ResNet18 default to instance norm (``GroupNorm(c, c)``) like the reference ``VGG11`` and
``ResNet18``; ``norm="batchnorm"`` gives the ``*BN`` variants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "instancenorm":
        return nn.GroupNorm(c, c, affine=True)
    if kind == "batchnorm":
        return nn.BatchNorm2d(c)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be 'instancenorm', 'batchnorm' or 'none', got {kind!r}")


def _check_image_shape(in_shape: tuple[int, ...], name: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ConfigError(f"{name} takes (C, H, W) samples, got in_shape {in_shape}")
    return in_shape  # type: ignore[return-value]


class _Pool(nn.Module):
    """2x2 max pooling that leaves maps smaller than 2 pixels untouched."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, 2, 2) if min(x.shape[-2:]) >= 2 else x


class _FeatureClassifier(nn.Module):
    """``features`` then flatten (``embed``), then ``head`` (an MLP or a linear layer)."""

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


def _feature_dim(features: nn.Module, in_shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        was = features.training
        features.eval()
        dim = features(torch.zeros(1, *in_shape)).flatten(1).shape[1]
        features.train(was)
    return int(dim)


class MLP(nn.Module):
    """Flatten -> 128 -> ReLU -> 128 -> ReLU (``embed``) -> classes, as the reference MLP."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        d = 1
        for s in in_shape:
            d *= s
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


@register_network("mlp")
def mlp(in_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> MLP:
    return MLP(in_shape, num_classes, hidden)


@register_network("lenet")
def lenet(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """LeNet-5: conv5(6) -> pool -> conv5(16) -> pool -> 120 -> 84 -> classes (ReLU).

    The first conv pads by 2 for single-channel input (reference); below 28 pixels both convs pad by 2."""
    c, h, _ = _check_image_shape(in_shape, "LeNet")
    small = h < 28
    features = nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2 if (c == 1 or small) else 0), nn.ReLU(), _Pool(),
        nn.Conv2d(6, 16, 5, padding=2 if small else 0), nn.ReLU(), _Pool(),
    )
    d = _feature_dim(features, in_shape)
    head = nn.Sequential(nn.Linear(d, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))
    return _FeatureClassifier(features, head)


@register_network("alexnet")
def alexnet(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The reference 'AlexNet' for 32x32 inputs: five convs (128, 192, 256, 192, 192), three max pools."""
    c, _, _ = _check_image_shape(in_shape, "AlexNet")
    features = nn.Sequential(
        nn.Conv2d(c, 128, 5, padding=4 if c == 1 else 2), nn.ReLU(), _Pool(),
        nn.Conv2d(128, 192, 5, padding=2), nn.ReLU(), _Pool(),
        nn.Conv2d(192, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 192, 3, padding=1), nn.ReLU(),
        nn.Conv2d(192, 192, 3, padding=1), nn.ReLU(), _Pool(),
    )
    return _FeatureClassifier(features, nn.Linear(_feature_dim(features, in_shape), num_classes))


@register_network("vgg11")
def vgg11(in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> nn.Module:
    """VGG11 (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M) with a linear classifier."""
    c, _, _ = _check_image_shape(in_shape, "VGG11")
    layers: list[nn.Module] = []
    c_in = c
    for i, v in enumerate([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]):
        if v == "M":
            layers.append(_Pool())
        else:
            layers += [nn.Conv2d(c_in, int(v), 3, padding=3 if (c == 1 and i == 0) else 1), _norm(norm, int(v)), nn.ReLU()]
            c_in = int(v)
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
    return _FeatureClassifier(features, nn.Linear(512, num_classes))


@register_network("vgg11bn")
def vgg11bn(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return vgg11(in_shape, num_classes, norm="batchnorm")


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _norm(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = _norm(norm, c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), _norm(norm, c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: 3x3 stem, no stem pooling, [2, 2, 2, 2] basic blocks, global average pool."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> None:
        super().__init__()
        c, _, _ = _check_image_shape(in_shape, "ResNet18")
        self.stem = nn.Sequential(nn.Conv2d(c, 64, 3, padding=1, bias=False), _norm(norm, 64), nn.ReLU())
        blocks: list[nn.Module] = []
        c_in = 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_BasicBlock(c_in, c_out, stride, norm), _BasicBlock(c_out, c_out, 1, norm)]
            c_in = c_out
        self.layers = nn.Sequential(*blocks)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


@register_network("resnet18")
def resnet18(in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> ResNet18:
    return ResNet18(in_shape, num_classes, norm=norm)


@register_network("resnet18bn")
def resnet18bn(in_shape: tuple[int, ...], num_classes: int) -> ResNet18:
    return ResNet18(in_shape, num_classes, norm="batchnorm")
