"""The generic network family: registry, shapes, reference structure, deterministic re-initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmdistill import nets
from mmdistill.errors import ConfigError
from mmdistill.nets import build_network, list_networks, register_network, reinitialize

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
BUILTIN = (
    ["convnet", "convnetbn", "convnetln", "convnetgn", "convnetin", "convnetnn", "convnetmp", "convnetap", "convnetnp"]
    + ["convnetas", "convnetar", "convnetal"]
    + [f"convnetd{d}" for d in range(1, 6)]
    + [f"convnetw{w}" for w in (32, 64, 128, 256)]
    + ["mlp", "lenet", "alexnet", "vgg11", "vgg11bn", "resnet18", "resnet18bn", "resnet18in"]
)


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_builtins_registered() -> None:
    assert set(BUILTIN) <= set(list_networks())
    assert list_networks() == sorted(list_networks())


@pytest.mark.parametrize("name", BUILTIN)
def test_builds_runs_and_backprops(name: str) -> None:
    for shape in SHAPES:
        net = build_network(name, shape, 5)
        x = torch.randn(2, *shape)
        logits = net(x)
        feats = net.embed(x)
        assert logits.shape == (2, 5), (name, shape)
        assert isinstance(net.classifier, nn.Linear)
        assert feats.shape == (2, net.classifier.in_features), (name, shape)
        assert torch.isfinite(logits).all()
        assert torch.allclose(net.classifier(feats), logits, atol=1e-5)
        logits.square().sum().backward()
        first = next(p for p in net.parameters())
        assert first.grad is not None and torch.isfinite(first.grad).all(), (name, shape)


def test_name_is_case_insensitive() -> None:
    net = build_network("ConvNet", (1, 8, 8), 3, width=8)
    assert net(torch.randn(1, 1, 8, 8)).shape == (1, 3)
    assert isinstance(build_network("ConvNetBN", (1, 8, 8), 3).features[1], nn.BatchNorm2d)


def test_default_convnet_matches_reference() -> None:
    net = build_network("convnet", (3, 32, 32), 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.out_channels == 128 and c.padding == (1, 1) for c in convs)
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 3 and all((g.num_groups, g.num_channels, g.affine) == (128, 128, True) for g in norms)
    assert sum(isinstance(m, nn.AvgPool2d) for m in net.modules()) == 3
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 3
    assert net.classifier.in_features == 128 * 4 * 4
    mnist = build_network("convnet", (1, 28, 28), 10)  # first conv pads by 3: 28 -> 32 -> 16 -> 8 -> 4
    assert mnist.features[0].padding == (3, 3) and mnist.classifier.in_features == 128 * 4 * 4
    digits = build_network("convnet", (1, 8, 8), 10)  # 8 -> 4 -> 2 -> 1
    assert digits.features[0].padding == (1, 1) and digits.classifier.in_features == 128


def test_convnet_options_and_aliases() -> None:
    net = build_network("convnet", (3, 32, 32), 4, depth=2, width=16, norm="batchnorm", act="leakyrelu", pooling="maxpooling")
    assert sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 2
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, nn.LeakyReLU) for m in net.modules())
    assert net.classifier.in_features == 16 * 8 * 8
    assert not any(isinstance(m, (nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm)) for m in build_network("convnetnn", (3, 32, 32), 4).modules())
    assert any(isinstance(m, nn.MaxPool2d) for m in build_network("convnetmp", (3, 32, 32), 4).modules())
    assert build_network("convnetnp", (3, 32, 32), 4).classifier.in_features == 128 * 32 * 32
    assert build_network("convnetw32", (3, 32, 32), 4).classifier.in_features == 32 * 4 * 4
    assert sum(isinstance(m, nn.Conv2d) for m in build_network("convnetd5", (3, 32, 32), 4).modules()) == 5
    with pytest.raises(ConfigError, match="depth"):
        build_network("convnet", (3, 32, 32), 4, depth=0)
    with pytest.raises(ConfigError, match="norm"):
        build_network("convnet", (3, 32, 32), 4, norm="weird")


def test_instance_norm_never_sees_a_single_pixel() -> None:
    for name, kw in (("convnet", {"depth": 5}), ("vgg11", {}), ("resnet18", {"norm": "instancenorm"})):
        net = build_network(name, (1, 8, 8), 3, **kw)
        sizes: list[int] = []
        hooks = [m.register_forward_hook(lambda _m, inp, _o: sizes.append(inp[0].shape[-1]))
                 for m in net.modules() if isinstance(m, nn.GroupNorm)]
        net(torch.randn(2, 1, 8, 8))
        for h in hooks:
            h.remove()
        assert sizes and min(sizes) >= 2, (name, sizes)


def test_unknown_name_and_kwarg() -> None:
    with pytest.raises(ConfigError, match="nosuchnet") as err:
        build_network("nosuchnet", (1, 8, 8), 3)
    assert "convnet" in str(err.value)
    with pytest.raises(ConfigError, match="bogus") as err:
        build_network("convnet", (1, 8, 8), 3, bogus=1)
    assert "convnet" in str(err.value)
    with pytest.raises(ConfigError, match="width") as err:
        build_network("convnetbn", (1, 8, 8), 3, width=8)
    assert "convnetbn" in str(err.value)


def test_register_network() -> None:
    @register_network("Test_Tiny_Net")
    def tiny(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return nn.Linear(math.prod(in_shape), num_classes)

    try:
        assert "testtinynet" in list_networks()
        assert isinstance(build_network("TEST-TINY-NET", (4,), 2), nn.Linear)
        register_network("testtinynet")(tiny)  # the same builder again (a module reload) is fine
        with pytest.raises(ConfigError, match="already registered"):
            register_network("testtinynet")(lambda in_shape, num_classes: nn.Identity())
    finally:
        nets._REGISTRY.pop("testtinynet", None)


@pytest.mark.parametrize("name", ["convnet", "convnetbn", "convnetln", "resnet18", "vgg11", "lenet", "mlp"])
def test_reinitialize_is_deterministic_and_leaves_global_rng(name: str) -> None:
    net = build_network(name, (1, 8, 8), 3)
    state = torch.get_rng_state()
    reinitialize(net, torch.Generator().manual_seed(1))
    a = _params(net)
    reinitialize(net, torch.Generator().manual_seed(1))
    b = _params(net)
    reinitialize(net, torch.Generator().manual_seed(2))
    c = _params(net)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    random = [(x, z) for x, z in zip(a, c) if x.numel() > 1 and not (torch.all(x == 1) or torch.all(x == 0))]
    assert random and all(not torch.equal(x, z) for x, z in random)


def test_reinitialize_matches_default_distributions() -> None:
    net = build_network("convnetbn", (3, 32, 32), 10)
    net(torch.randn(4, 3, 32, 32))  # moves the running statistics
    for p in net.parameters():
        p.data.fill_(7.0)
    reinitialize(net, torch.Generator().manual_seed(0))
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            bound = 1 / math.sqrt(m.weight[0].numel())
            assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
            assert abs(m.weight.std().item() - bound / math.sqrt(3)) < 0.1 * bound
            assert m.bias.abs().max() <= bound
        elif isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
            assert torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)
            assert int(m.num_batches_tracked) == 0


def test_reinitialize_other_modules_use_their_reset() -> None:
    net = nn.Sequential(nn.Embedding(20, 8, padding_idx=0), nn.GRU(8, 8), nn.MultiheadAttention(8, 2))
    state = torch.get_rng_state()
    reinitialize(net, torch.Generator().manual_seed(3))
    a = _params(net)
    reinitialize(net, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, _params(net)))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.all(net[0].weight[0] == 0)
    assert torch.all(net[2].out_proj.bias == 0)  # the attention's reset wins over its child's, as at construction

    class Bare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

    with pytest.raises(ConfigError, match="scale"):
        reinitialize(Bare(), torch.Generator().manual_seed(0))
