"""MLP, LeNet, AlexNet, VGG11 and ResNet18 as the dataset-condensation papers use them for
cross-architecture evaluation, sized for small inputs (8x8 to 64x64).

Layer sizes follow the reference code at 28x28 / 32x32. For other sizes, pooling (and ResNet's stride)
is skipped where the map is already 1x1, and with instance norm also where it would leave a 1x1 map for a
later norm (instance norm of a 1x1 map is constant); classifier widths come from a dummy forward at build
time. VGG11 defaults to instance norm (``GroupNorm(c, c)``) as in the reference; ResNet18 is the CIFAR
variant (3x3 stem, no stem pooling) with instance norm by default like the reference's plain ``ResNet18``
(``resnet18bn`` / ``norm="batchnorm"`` for ``ResNet18BN``).

Every network has ``embed``: (N, *in_shape) -> (N, D) and ``classifier`` = Linear(D, num_classes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network

NORMS = ("instancenorm", "batchnorm", "none")


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "instancenorm":
        return nn.GroupNorm(c, c, affine=True)
    if kind == "batchnorm":
        return nn.BatchNorm2d(c)
    return nn.Identity()


def _check(in_shape: tuple[int, ...], name: str, norm: str = "none") -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ConfigError(f"{name} takes (C, H, W) samples, got in_shape {tuple(in_shape)}")
    if norm not in NORMS:
        raise ConfigError(f"{name} norm must be one of {', '.join(NORMS)}; got {norm!r}")
    c, h, w = in_shape
    return c, h, w


def _halve(size: int, out: int, norm: str, last: bool) -> bool:
    """Whether to downsample a ``size`` map to ``out``: only maps of 2 or more pixels, and with instance
    norm not below 2x2 unless no norm follows (``last``)."""
    return size >= 2 and out >= (1 if last or norm != "instancenorm" else 2)


def _feature_dim(features: nn.Module, in_shape: tuple[int, ...]) -> int:
    """D of ``features(zeros(1, *in_shape)).flatten(1)``, computed in eval mode without gradients."""
    was = features.training
    features.eval()
    with torch.no_grad():
        dim = features(torch.zeros(1, *in_shape)).flatten(1).shape[1]
    features.train(was)
    return int(dim)


class FeatureClassifier(nn.Module):
    """``embed(x) = features(x).flatten(1)``: (N, *in_shape) -> (N, D); ``forward = classifier(embed(x))``
    -> (N, num_classes), with ``classifier`` = Linear(D, num_classes) and D found by a dummy forward."""

    def __init__(self, features: nn.Module, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(_feature_dim(features, in_shape), num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


@register_network("mlp")
def mlp(in_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> FeatureClassifier:
    """Reference MLP: flatten -> Linear(prod(in_shape), 128) -> ReLU -> Linear(128, 128) -> ReLU (``embed``,
    D = hidden) -> Linear(128, num_classes). Takes samples of any shape."""
    body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return FeatureClassifier(body, in_shape, num_classes)


@register_network("lenet")
def lenet(in_shape: tuple[int, ...], num_classes: int) -> FeatureClassifier:
    """LeNet-5: conv5(6) -> ReLU -> maxpool -> conv5(16) -> ReLU -> maxpool -> 120 -> ReLU -> 84 -> ReLU
    (``embed``, D = 84) -> num_classes. The first conv pads by 2 for single-channel input (reference);
    below 28 pixels both convs pad by 2 so small maps survive."""
    c, h, w = _check(in_shape, "LeNet")
    small = min(h, w) < 28
    layers: list[nn.Module] = []
    c_in, size = c, min(h, w)
    for i, c_out in enumerate((6, 16)):
        pad = 2 if small or (i == 0 and c == 1) else 0
        layers += [nn.Conv2d(c_in, c_out, 5, padding=pad), nn.ReLU()]
        size = size + 2 * pad - 4
        if _halve(size, size // 2, "none", True):
            layers.append(nn.MaxPool2d(2, 2))
            size //= 2
        c_in = c_out
    convs = nn.Sequential(*layers, nn.Flatten())
    d = _feature_dim(convs, in_shape)
    return FeatureClassifier(nn.Sequential(convs, nn.Linear(d, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()), in_shape, num_classes)


@register_network("alexnet")
def alexnet(in_shape: tuple[int, ...], num_classes: int) -> FeatureClassifier:
    """Reference 'AlexNet' for 32x32: convs 5x5(128), 5x5(192), 3x3(256), 3x3(192), 3x3(192) with ReLU and
    three 2x2 max pools (``embed``: flattened, D = 192 * 4 * 4 at 28x28 / 32x32) -> Linear."""
    c, h, w = _check(in_shape, "AlexNet")
    spec: list[tuple[int, int, int, bool]] = [  # (out channels, kernel, padding, pool after)
        (128, 5, 4 if c == 1 else 2, True), (192, 5, 2, True), (256, 3, 1, False), (192, 3, 1, False), (192, 3, 1, True),
    ]
    layers: list[nn.Module] = []
    c_in, size = c, min(h, w)
    for c_out, k, pad, pool in spec:
        layers += [nn.Conv2d(c_in, c_out, k, padding=pad), nn.ReLU()]
        size = size + 2 * pad - k + 1
        if pool and _halve(size, size // 2, "none", True):
            layers.append(nn.MaxPool2d(2, 2))
            size //= 2
        c_in = c_out
    return FeatureClassifier(nn.Sequential(*layers), in_shape, num_classes)


VGG11_CFG: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


@register_network("vgg11")
def vgg11(in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> FeatureClassifier:
    """Reference VGG11: (conv3x3 -> norm -> ReLU) per number of 64, M, 128, M, 256, 256, M, 512, 512, M,
    512, 512, M (M = 2x2 max pool; the first conv pads by 3 for single-channel input) -> flatten (``embed``,
    D = 512 at 28x28 / 32x32) -> Linear. ``norm``: 'instancenorm' (GroupNorm(c, c)), 'batchnorm', 'none'."""
    c, h, w = _check(in_shape, "VGG11", norm)
    layers: list[nn.Module] = []
    c_in, size = c, min(h, w)
    last_pool = max(i for i, v in enumerate(VGG11_CFG) if v == "M")
    for i, v in enumerate(VGG11_CFG):
        if v == "M":
            if _halve(size, size // 2, norm, i == last_pool):
                layers.append(nn.MaxPool2d(2, 2))
                size //= 2
        else:
            pad = 3 if c == 1 and i == 0 else 1
            layers += [nn.Conv2d(c_in, int(v), 3, padding=pad), _norm(norm, int(v)), nn.ReLU()]
            c_in, size = int(v), size + 2 * pad - 2
    return FeatureClassifier(nn.Sequential(*layers), in_shape, num_classes)


@register_network("vgg11bn")
def vgg11bn(in_shape: tuple[int, ...], num_classes: int) -> FeatureClassifier:
    """VGG11 with batch norm (reference ``VGG11BN``)."""
    return vgg11(in_shape, num_classes, norm="batchnorm")


class BasicBlock(nn.Module):
    """ResNet basic block (N, c_in, H, W) -> (N, c_out, H / stride, W / stride)."""

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
    """CIFAR-style ResNet-18: 3x3 stem (64), no stem pooling, [2, 2, 2, 2] basic blocks of 64, 128, 256,
    512 channels (stride 2 from the second stage, skipped on small maps), global average pool.

    ``embed``: (N, C, H, W) -> (N, 512); ``forward``: -> (N, num_classes) via ``classifier`` = Linear(512, .).
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> None:
        super().__init__()
        c, h, w = _check(in_shape, "ResNet18", norm)
        self.stem = nn.Sequential(nn.Conv2d(c, 64, 3, padding=1, bias=False), _norm(norm, 64), nn.ReLU())
        blocks: list[nn.Module] = []
        c_in, size = 64, min(h, w)
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            if stride == 2 and not _halve(size, (size + 1) // 2, norm, False):
                stride = 1
            size = (size + 1) // 2 if stride == 2 else size
            blocks += [BasicBlock(c_in, c_out, stride, norm), BasicBlock(c_out, c_out, 1, norm)]
            c_in = c_out
        self.layers = nn.Sequential(*blocks)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


@register_network("resnet18")
def resnet18(in_shape: tuple[int, ...], num_classes: int, norm: str = "instancenorm") -> ResNet18:
    """CIFAR ResNet-18; ``norm``: 'instancenorm' (GroupNorm(c, c), the reference's plain ``ResNet18``,
    default), 'batchnorm' or 'none'."""
    return ResNet18(in_shape, num_classes, norm=norm)


@register_network("resnet18bn")
def resnet18bn(in_shape: tuple[int, ...], num_classes: int) -> ResNet18:
    """ResNet-18 with batch norm (reference ``ResNet18BN``)."""
    return ResNet18(in_shape, num_classes, norm="batchnorm")


@register_network("resnet18in")
def resnet18in(in_shape: tuple[int, ...], num_classes: int) -> ResNet18:
    """ResNet-18 with instance norm, GroupNorm(c, c) (the reference's plain ``ResNet18``)."""
    return ResNet18(in_shape, num_classes, norm="instancenorm")
