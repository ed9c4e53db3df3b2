"""Generic networks shared by several modalities, registered by name.

Every network maps ``x`` of shape (N, *in_shape) to logits (N, num_classes) and exposes
``embed(x) -> (N, D)``, the flattened features the final ``classifier`` (an ``nn.Linear`` with
``in_features == D``) is applied to; distribution matching and herding use ``embed``.

Built-in families: :mod:`mmdistill.nets.convnet` (ConvNet and its reference aliases) and
:mod:`mmdistill.nets.classic` (MLP, LeNet, AlexNet, VGG11, ResNet18). Modalities register more with
:func:`register_network`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from mmdistill.errors import ConfigError
from mmdistill.seeding import seeded_global_rng

Builder = Callable[..., nn.Module]
"""``fn(in_shape: tuple[int, ...], num_classes: int, **kw) -> nn.Module``."""

_REGISTRY: dict[str, Builder] = {}
_B = TypeVar("_B", bound=Builder)  # a builder keeps its own signature (its return type) through the decorator


def network_key(name: str) -> str:
    """How the registry compares names: case, ``-`` and ``_`` ignored (``ResNet-18`` is ``resnet18``)."""
    return name.lower().replace("-", "").replace("_", "")


def same_network(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are names of one network by the registry's rule (:func:`network_key`: ``My_MLP`` and
    ``my-mlp``); False unless both are strings."""
    return isinstance(a, str) and isinstance(b, str) and network_key(a) == network_key(b)


def register_network(name: str) -> Callable[[_B], _B]:
    """Decorator registering ``fn(in_shape, num_classes, **kw) -> nn.Module`` under ``name``.

    Names are case-insensitive ('-' and '_' are ignored). Registering a different builder under a taken
    name raises :class:`ConfigError`; re-registering the same function (a module reload) is allowed.
    """

    def deco(fn: _B) -> _B:
        key = network_key(name)
        old = _REGISTRY.get(key)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ConfigError(f"network name {name!r} is already registered by {old.__module__}.{old.__qualname__}")
        _REGISTRY[key] = fn
        return fn

    return deco


def list_networks() -> list[str]:
    """Sorted names of every registered network (built-ins included) and of every network an installed package declares
    in the ``mmdistill.networks`` entry-point group (:func:`plugin_network`; nothing imported)."""
    from mmdistill.plugins import NETWORK_GROUP, plugin_names

    _load_builtin()
    return sorted(set(_REGISTRY) | {network_key(n) for n in plugin_names(NETWORK_GROUP)})


def plugin_network(name: str) -> bool:
    """Register the network an installed package declares as ``name`` in the ``mmdistill.networks`` entry-point group
    (``my-resnet = "my_pkg.nets:my_resnet"``: a builder ``fn(in_shape, num_classes, **kw) -> nn.Module``, or a module
    that defines ``NETWORK``), compared as :func:`network_key` compares names; False when no package declares it. So
    ``mmdistill run|eval --networks my-resnet`` and a saved set naming it find the network once its package is installed.
    A declared object that is not callable is a ConfigError naming the entry point."""
    from mmdistill.plugins import NETWORK_GROUP, load_plugin, plugin_names

    declared = [n for n in plugin_names(NETWORK_GROUP) if network_key(n) == network_key(name)]
    if not declared:
        return False
    fn = load_plugin(NETWORK_GROUP, declared[0], "NETWORK")
    if not callable(fn):
        raise ConfigError(f"{NETWORK_GROUP} entry point {declared[0]!r} names a {type(fn).__name__}, not a network builder "
                          "fn(in_shape, num_classes, **options) -> nn.Module")
    register_network(declared[0])(fn)
    return True


def check_network_name(name: str, *, key: str | None = None) -> None:
    """ConfigError, naming the configuration ``key`` when given, when ``name`` is no registered network (listing the
    known ones): a config checks its names when it is made, so a misspelt one stops a run before its data is loaded;
    :func:`build_network` checks with the same rule. A name an installed package declares is registered first
    (:func:`plugin_network`)."""
    _load_builtin()
    if network_key(name) not in _REGISTRY and not plugin_network(name):
        where = f"config key {key}: " if key else ""
        raise ConfigError(f"{where}unknown network {name!r}; known networks: {', '.join(list_networks())} (your own: "
                          "mmdistill.nets.register_network, or a package's mmdistill.networks entry point)", key=key)


def build_network(name: str, in_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    """The network registered as ``name`` for samples of shape ``in_shape`` (one sample, e.g. (1, 28, 28)).

    The result maps (N, *in_shape) -> (N, num_classes) and has ``embed``: (N, *in_shape) -> (N, D).
    Raises :class:`ConfigError` for an unknown name (listing the known ones), an option ``kw`` the
    network does not take (naming the option and the network), or a builder that returns no ``nn.Module``. A network with lazy modules (``nn.LazyLinear``) has
    them materialised by one forward of a zero sample (1, *in_shape) in eval mode, so its parameters have shapes
    (reinitialised, counted, matched) as a built-in network's do.

    >>> import torch
    >>> net = build_network("convnet", (1, 8, 8), 10)
    >>> net(torch.zeros(4, 1, 8, 8)).shape, net.embed(torch.zeros(4, 1, 8, 8)).shape
    (torch.Size([4, 10]), torch.Size([4, 128]))
    """
    check_network_name(name)
    fn = _REGISTRY[network_key(name)]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        allowed = [p for p in params if p not in ("in_shape", "num_classes")]
        for k in kw:
            if k not in allowed:
                raise ConfigError(f"network {name!r} has no option {k!r}; its options: {', '.join(allowed) or 'none'}")
    in_shape = tuple(int(s) for s in in_shape)
    net = fn(in_shape, int(num_classes), **kw)
    if not isinstance(net, nn.Module):
        raise ConfigError(f"network {name!r}: its builder {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)} "
                          f"returned a {type(net).__name__}, not an nn.Module")
    if any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in net.modules()):
        _materialize(net, in_shape)
    return net


def _materialize(net: nn.Module, in_shape: tuple[int, ...]) -> None:
    """Shape the lazy parameters of ``net`` by one forward of zeros (1, *in_shape) on its device and dtype, in eval mode
    (no dropout draw, no running statistics moved) and without gradients; its training mode is restored."""
    ref = next((p for p in net.parameters() if not isinstance(p, nn.parameter.UninitializedParameter)), None)
    was = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros((1, *in_shape), device=ref.device if ref is not None else None,
                        dtype=ref.dtype if ref is not None and ref.is_floating_point() else None))
    net.train(was)


_NORMS = (nn.GroupNorm, nn.LayerNorm, nn.modules.batchnorm._NormBase) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


@torch.no_grad()
def reinitialize(net: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter of ``net`` in place with PyTorch's default initialisation, from ``generator``.

    Conv and linear layers: kaiming-uniform(a=sqrt(5)) weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
    biases from the same range (``reset_parameters``); embeddings: N(0, 1); norm layers: weight 1, bias 0,
    running statistics reset. Any other module holding parameters is reset by its own ``reset_parameters``
    (or ``_reset_parameters``) under a forked, seeded RNG; one with neither raises :class:`ConfigError`.
    Modules are visited children first, as at construction, so a parent's reset wins over its children's.

    Values are drawn on each parameter's device from a generator seeded by one draw of ``generator``: the
    result is deterministic for a given generator state (per device type), cheap on a GPU, and torch's
    global RNG state is unchanged afterwards.
    """
    params = list(net.parameters())
    if not params:
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    gens: dict[torch.device, torch.Generator] = {}

    def gen_for(t: torch.Tensor) -> torch.Generator:
        if t.device not in gens:
            gens[t.device] = torch.Generator(device=t.device).manual_seed(seed)
        return gens[t.device]

    for m in _children_first(net):
        if not any(True for _ in m.parameters(recurse=False)):
            continue
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            fan_in = m.weight[0].numel()  # = weight.size(1) * receptive field, as torch computes it
            # kaiming_uniform_(a=sqrt(5)): bound = sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            m.weight.uniform_(-bound, bound, generator=gen_for(m.weight))
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=gen_for(m.bias))
        elif isinstance(m, _NORMS):
            m.reset_parameters()  # deterministic: ones / zeros, running statistics reset
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(0.0, 1.0, generator=gen_for(m.weight))
            if m.padding_idx is not None:
                m.weight[m.padding_idx].fill_(0.0)
        else:
            _reset_seeded(m, seed, m.__class__.__name__)


def _children_first(m: nn.Module) -> Iterator[nn.Module]:
    for child in m.children():
        yield from _children_first(child)
    yield m


def _redrawn_here(m: nn.Module) -> bool:
    return isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding) + _NORMS)


def reinitialize_fault(net: nn.Module) -> str | None:
    """Why :func:`reinitialize` cannot redraw ``net`` (a module holding parameters of its own that is no layer it
    redraws itself and has no ``reset_parameters``), as one phrase; None when it can. Reads no values (a network on
    the ``meta`` device is checked too)."""
    for m in _children_first(net):
        own = [n for n, _ in m.named_parameters(recurse=False)]
        if own and not _redrawn_here(m) and not callable(getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)):
            return (f"reinitialize cannot redraw parameters {own} of {m.__class__.__name__}: it has no reset_parameters() "
                    "(each evaluation run redraws every parameter from its own seed; give that module one)")
    return None


def _reset_seeded(m: nn.Module, seed: int, name: str) -> None:
    """``m.reset_parameters()`` with the default generators of its devices seeded by ``seed``, then restored."""
    reset = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
    if not callable(reset):
        raise ConfigError(reinitialize_fault(m) or f"reinitialize cannot redraw {name}")
    with seeded_global_rng(seed, [p.device for p in m.parameters(recurse=False)]):
        reset()


def _load_builtin() -> None:
    from mmdistill.nets import classic, convnet  # noqa: F401  (registration side effects)


__all__ = ["Builder", "build_network", "check_network_name", "list_networks", "network_key", "plugin_network", "register_network", "same_network", "reinitialize",
           "reinitialize_fault"]
