"""Networks for clips (N, C, T, H, W), registered in the core network registry.

* ``convnet3d``: the evaluation network of the static/dynamic reference code (``networks.py``,
  ``ConvNet3D`` with ``get_default_convnet_setting``: width 128, depth 3, ReLU, no normalisation, max pooling;
  the first block is a (3, 7, 7) convolution with stride (1, 2, 2) to 64 channels followed by a (1, 2, 2) max
  pool, later blocks go to ``width`` channels and pool (2, 2, 2); dropout 0.5; logits by a 1x1x1 convolution,
  max over time). ``embed`` is the flattened last feature map, as distribution matching reads it there.
  Differences, so that small clips work: the depth shrinks to the largest that keeps a spatial map (3 at
  64x64 and 112x112, 2 at 32x32), and the map left after the blocks is averaged over space (at 112x112 and
  64x64 this equals the reference's (2, 2, 2) / (2, 1, 1) average pool) before the logits; time is
  averaged over windows of 2 frames as in the reference.
* ``framepool``: a cheap motion-blind baseline network: the core's 2-D ConvNet (instance norm, depth from the
  frame size) on every frame, features averaged over time, a linear classifier (the reference's
  ``VideoConvNetMean``).
* ``framegru`` / ``framelstm``: the same per-frame ConvNet read in frame order by a one-layer GRU (hidden size an
  eighth of the frame features) or LSTM (hidden size the frame features), its outputs averaged over time, a linear
  classifier: the layout of the reference's ``VideoConvNetGRU`` / ``VideoConvNetLSTM``. With ConvNet3D and framepool
  they are the video cross-architecture evaluation (``cross_arch``).
  The per-frame ConvNet of all three is framepool's (width 64, depth from the frame size: 2 at 16 px, 3 at 32 px, 4 at
  64 px and more), not the reference's width 128 and depth 3: at 32x32 frames the GRU's hidden size is 128 and the
  LSTM's 1,024 (the reference's 256 and 2,048).
"""

from __future__ import annotations

import math
from typing import Literal

from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.nets import register_network
from mmdistill.nets.convnet import ConvNet


def _check(in_shape: tuple[int, ...], name: str) -> tuple[int, int, int, int]:
    if len(in_shape) != 4:
        raise ConfigError(f"{name} takes clips (C, T, H, W), got a sample shape {tuple(in_shape)}")
    c, t, h, w = in_shape
    return c, t, h, w


class ConvNet3D(nn.Module):
    """The reference's ConvNet3D for clips (N, C, T, H, W) (see the module docstring)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, width: int = 128, depth: int = 0, dropout: float = 0.5) -> None:
        super().__init__()
        c, t, h, w = _check(in_shape, "convnet3d")
        if depth <= 0:  # largest depth <= 3 that leaves a map of at least 1x1 (each block divides by 4)
            depth = max(1, min(3, int(math.log(max(min(h, w), 4), 4))))
        layers: list[nn.Module] = []
        c_in, tt, hh, ww = c, t, h, w
        for d in range(depth):
            c_out = 64 if d == 0 else width
            layers += [nn.Conv3d(c_in, c_out, kernel_size=(3, 7, 7), padding=(1, 3, 3), stride=(1, 2, 2)), nn.ReLU(inplace=True)]
            hh, ww = (hh + 1) // 2, (ww + 1) // 2
            if d == 0 or tt < 2:
                layers.append(nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2)))
            else:
                layers.append(nn.MaxPool3d(kernel_size=2, stride=2))
                tt //= 2
            hh, ww = hh // 2, ww // 2
            if hh < 1 or ww < 1:
                raise ConfigError(f"convnet3d depth {depth} is too deep for {h}x{w} frames")
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.temporal_pool = nn.AvgPool3d(kernel_size=(2, 1, 1), stride=1) if tt >= 2 else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.logit = nn.Conv3d(c_in, num_classes, kernel_size=1)
        self.feature_dim = c_in * tt * hh * ww

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.temporal_pool(self.features(x)).mean(dim=(3, 4), keepdim=True)
        return self.logit(self.dropout(out)).flatten(2).amax(dim=2)


class FramePool(nn.Module):
    """Per-frame 2-D ConvNet, features averaged over time, linear classifier (blind to frame order)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, width: int = 64, depth: int = 0) -> None:
        super().__init__()
        c, t, h, w = _check(in_shape, "framepool")
        if depth <= 0:
            depth = max(1, min(4, int(math.log2(max(min(h, w), 4))) - 2))
        self.frame_net = ConvNet((c, h, w), num_classes, depth=depth, width=width)
        self.feature_dim = self.frame_net.feature_dim
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        n, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
        return self.frame_net.embed(frames).reshape(n, t, -1).mean(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


class FrameRecurrent(FramePool):
    """Per-frame 2-D ConvNet, a one-layer GRU or LSTM over the frames in order, its outputs averaged over time, a
    linear classifier (sees frame order, unlike :class:`FramePool`)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, cell: Literal["gru", "lstm"] = "gru", width: int = 64,
                 depth: int = 0) -> None:
        super().__init__(in_shape, num_classes, width=width, depth=depth)
        frame_dim = self.frame_net.feature_dim
        if cell == "gru":  # the reference's VideoConvNetGRU: hidden size an eighth of the frame features
            self.temporal: nn.Module = nn.GRU(frame_dim, max(1, frame_dim // 8), batch_first=True)
            self.feature_dim = max(1, frame_dim // 8)
        elif cell == "lstm":  # VideoConvNetLSTM: hidden size the frame features
            self.temporal = nn.LSTM(frame_dim, frame_dim, batch_first=True)
            self.feature_dim = frame_dim
        else:
            raise ConfigError(f"unknown recurrent cell {cell!r}; choose gru or lstm")
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """(N, C, T, H, W) -> (N, feature_dim): the recurrent layer's outputs over the T frames, averaged."""
        n, c, t, h, w = x.shape
        frames = self.frame_net.embed(x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)).reshape(n, t, -1)
        out, _ = self.temporal(frames)
        return out.mean(1)


def frame_gru(in_shape: tuple[int, ...], num_classes: int) -> FrameRecurrent:
    """:class:`FrameRecurrent` with a GRU (the reference's ``VideoConvNetGRU``)."""
    return FrameRecurrent(in_shape, num_classes, cell="gru")


def frame_lstm(in_shape: tuple[int, ...], num_classes: int) -> FrameRecurrent:
    """:class:`FrameRecurrent` with an LSTM (the reference's ``VideoConvNetLSTM``)."""
    return FrameRecurrent(in_shape, num_classes, cell="lstm")


#: the video cross-architecture evaluation (``cross_arch``): the reference's clip networks
CROSS_ARCH = ("convnet3d", "framepool", "framegru", "framelstm")

register_network("convnet3d")(ConvNet3D)
register_network("framepool")(FramePool)
register_network("framegru")(frame_gru)
register_network("framelstm")(frame_lstm)


def convnet3d_small(in_shape: tuple[int, ...], num_classes: int) -> ConvNet3D:
    """ConvNet3D with 32 channels (CPU-sized; the layout of ``convnet3d`` otherwise)."""
    return ConvNet3D(in_shape, num_classes, width=32)


register_network("convnet3d-small")(convnet3d_small)

__all__ = ["CROSS_ARCH", "ConvNet3D", "FramePool", "FrameRecurrent", "convnet3d_small", "frame_gru", "frame_lstm"]
