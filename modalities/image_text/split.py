"""A partly frozen image encoder: frozen early layers, a trainable tail (the CPU-feasible matching configuration).

Trajectory matching differentiates the student's training steps, which costs a double backward through every
trainable layer. With ``image_trainable_blocks=K`` only the image encoder's last ``K`` *units* (blocks, see
:func:`encoder_units`) are trained, by the experts, by the matching student and by the evaluation models
alike; the earlier units form a :class:`FrozenPrefix` (parameters frozen, always in eval mode, so batch-norm
uses its running statistics and the prefix is a fixed function of the pixels). The student then needs no
second-order graph through the prefix, and the distilled pixels still receive their gradient through it
(first order). :class:`~.trajectory.PairStudent` can run the prefix once per outer iteration for the whole
set (``share_prefix``) instead of once per student step.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmdistill.errors import ConfigError


class FrozenPrefix(nn.Module):
    """The frozen early units of an image encoder: (N, 3, S, S) pixels -> (N, C, h, w) feature maps.

    Its parameters never require gradients and it stays in eval mode whatever ``train()`` asks."""

    def __init__(self, units: list[nn.Module]) -> None:
        super().__init__()
        self.units = nn.Sequential(*units)
        for p in self.units.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenPrefix":
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.units(x)


class SplitImageEncoder(nn.Module):
    """``prefix`` (frozen) then ``tail`` (trainable): (N, 3, S, S) -> (N, D), the same function as the
    encoder it was cut from (with the prefix's batch-norm in eval mode)."""

    def __init__(self, prefix: FrozenPrefix, tail: nn.Sequential) -> None:
        super().__init__()
        self.prefix = prefix
        self.tail = tail

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.prefix(x))


class _Pool(nn.Module):
    """(N, C, h, w) -> (N, C) by the spatial mean (a no-op on (N, C))."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x


def encoder_units(module: nn.Module) -> list[nn.Module]:
    """The encoder as an ordered list of units whose composition is its forward pass: (N, 3, S, S) -> (N, D).

    * timm EfficientNet-style models (``conv_stem``, ``blocks``, ``conv_head``): the stem, each block of
      every stage (16 for EfficientNet-Lite0), the head (1x1 conv, batch-norm, global pool);
    * timm NFNets (``stem``, ``stages``, ``final_conv``; the papers' nfnet_l0: 14 units): the stem, each block,
      the final 1x1 conv with its activation and the pooling head;
    * torchvision ResNets: the stem, each residual block, the global pool;
    * :class:`~.encoders.PooledFeatures` over a ``nn.Sequential`` (the ConvNet): each layer, the pool.

    Raises ConfigError for other encoders (train them whole: ``image_trainable_blocks=0``)."""
    children = dict(module.named_children())
    if {"conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool"} <= set(children):
        if getattr(module, "drop_rate", 0.0):
            raise ConfigError("image_trainable_blocks cannot split a timm model with drop_rate > 0", key="image_trainable_blocks")
        blocks = [b for stage in module.blocks for b in (stage if isinstance(stage, nn.Sequential) else [stage])]
        return [nn.Sequential(module.conv_stem, module.bn1), *blocks, nn.Sequential(module.conv_head, module.bn2, module.global_pool)]
    if {"stem", "stages", "final_conv", "final_act", "head"} <= set(children):  # timm NFNets (nfnet_l0)
        blocks = [b for stage in module.stages for b in (stage if isinstance(stage, nn.Sequential) else [stage])]
        return [module.stem, *blocks, nn.Sequential(module.final_conv, module.final_act, module.head)]
    if {"conv1", "bn1", "relu", "maxpool", "layer1", "layer4", "avgpool"} <= set(children):
        blocks = [b for name in ("layer1", "layer2", "layer3", "layer4") for b in getattr(module, name)]
        return [nn.Sequential(module.conv1, module.bn1, module.relu, module.maxpool), *blocks, nn.Sequential(module.avgpool, nn.Flatten(1))]
    if set(children) == {"features"} and isinstance(module.features, nn.Sequential):
        return [*module.features, _Pool()]
    raise ConfigError(f"image_trainable_blocks does not know how to cut a {type(module).__name__} into blocks; use "
                      "image_trainable_blocks=0 (train the whole encoder)", key="image_trainable_blocks")


def split_image_encoder(module: nn.Module, trainable_blocks: int) -> SplitImageEncoder:
    """``module`` with all but its last ``trainable_blocks`` units (:func:`encoder_units`) frozen.

    Raises ConfigError when ``trainable_blocks`` is not in [1, number of units - 1]."""
    units = encoder_units(module)
    if not 1 <= trainable_blocks < len(units):
        raise ConfigError(f"image_trainable_blocks={trainable_blocks} must lie in [1, {len(units) - 1}] for this encoder "
                          f"({len(units)} blocks), or be 0 to train it whole", key="image_trainable_blocks")
    cut = len(units) - trainable_blocks
    return SplitImageEncoder(FrozenPrefix(units[:cut]), nn.Sequential(*units[cut:]))


__all__ = ["FrozenPrefix", "SplitImageEncoder", "encoder_units", "split_image_encoder"]
