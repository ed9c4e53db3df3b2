"""The candidate networks of benchmarks/nas_proxy.py: DC's ConvNet grids (``--space``) or the user's own list
(``--candidates``) of registered networks with options, built by the saved set's adapter for its samples.

A candidate is written ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (``convnet:width=64,depth=2``, ``mlp``, a network of
your own registered with :func:`mmdistill.nets.register_network` in a module ``--import`` loads, or declared by an
installed package's ``mmdistill.networks`` entry point). A value reads as an int, else a float, else ``true``/``false``,
else a string (``norm=none``).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mmdistill.errors import ConfigError
from mmdistill.network_check import network_takes, untrainable

#: DC's search space (ICLR 2021, Sec. 4, as benchmarks/nas_proxy.py's docstring reads it): 4 widths x 4 depths x 3 activations x 5 normalisations x
#: 3 poolings = 720 ConvNets
PAPER_SPACE: dict[str, list[Any]] = {
    "width": [32, 64, 128, 256], "depth": [1, 2, 3, 4], "act": ["sigmoid", "relu", "leakyrelu"],
    "norm": ["none", "batchnorm", "layernorm", "instancenorm", "groupnorm"], "pooling": ["none", "maxpooling", "avgpooling"]}


def space_candidates(space: str) -> list[tuple[str, dict[str, Any]]]:
    """``(network, options)`` of every ConvNet of ``space`` (``paper``: DC's 720; ``cpu``: 12 of them)."""
    if space == "cpu":
        grid = [{"width": w, "depth": d, "act": "relu", "norm": n, "pooling": p}
                for w in (32, 128) for d in (1, 2, 3) for n, p in (("instancenorm", "avgpooling"), ("none", "maxpooling"))]
    elif space == "paper":
        grid = [dict(zip(PAPER_SPACE, values)) for values in itertools.product(*PAPER_SPACE.values())]
    else:
        raise ConfigError(f"--space {space!r}: expected cpu or paper")
    return [("convnet", options) for options in grid]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_candidate(spec: str) -> tuple[str, dict[str, Any]]:
    """``(network, options)`` of one ``--candidates`` entry, ``NAME`` or ``NAME:KEY=VALUE,...``; ConfigError naming
    the entry when a part is not ``KEY=VALUE`` or a key is given twice. The name is not checked here (see
    :func:`check_candidates`)."""
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ConfigError(f"--candidates entry {spec!r}: expected NAME or NAME:KEY=VALUE,... (convnet:width=64,depth=2)")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"--candidates entry {spec!r}: {part!r} is not KEY=VALUE (convnet:width=64,depth=2)")
        if key.strip() in options:
            raise ConfigError(f"--candidates entry {spec!r}: option {key.strip()!r} is given twice")
        options[key.strip()] = _value(value.strip())
    return name.strip(), options


def label(network: str, options: dict[str, Any]) -> str:
    """A candidate's row label: ``w32-d3-relu-instancenorm-avgpooling`` for a ConvNet of DC's grid (as recorded since
    walk 51E), else ``NAME`` or ``NAME:KEY=VALUE,...``."""
    if network == "convnet" and set(options) == set(PAPER_SPACE):
        return "w{width}-d{depth}-{act}-{norm}-{pooling}".format(**options)
    return network + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")


def import_networks(target: str) -> None:
    """Run the module that registers your networks (``@register_network``): a ``.py`` file's path, or a module name
    importable from the working directory. ConfigError naming ``--import`` when neither is found."""
    path = Path(target)
    if target.endswith(".py"):
        if not path.is_file():
            raise ConfigError(f"--import {target}: no such file (a .py file that registers networks, or a module name)")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return
    sys.path.insert(0, str(Path.cwd()))
    try:
        importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name != target.split(".")[0] and exc.name != target:
            raise
        raise ConfigError(f"--import {target}: no module {target!r} importable from {Path.cwd()} "
                          "(a module name, or the path of a .py file that registers networks)") from None
    finally:
        sys.path.remove(str(Path.cwd()))


def candidate_builder(modality: Any, network: str, options: dict[str, Any], sample_shape: tuple[int, ...],
                      num_classes: int) -> Callable[[], nn.Module]:
    """``build()``: a fresh candidate built by the set's adapter (``modality.build_network``), as its evaluation builds
    the networks it names."""
    return lambda: modality.build_network(network, tuple(sample_shape), num_classes, **options)


def check_candidates(candidates: list[tuple[str, dict[str, Any]]], modality: Any, x: torch.Tensor,
                     num_classes: int) -> None:
    """ConfigError naming the first candidate that cannot be built (an unknown network, an option it does not take),
    whose network does not map two samples of ``x``'s (N, *sample_shape) shape and dtype to logits (2, ``num_classes``)
    or cannot be trained (:func:`mmdistill.network_check.network_takes`: built on the meta device, so the 720 ConvNets
    of DC's space cost no memory), before any candidate trains; and naming a candidate listed twice."""
    seen: dict[str, int] = {}
    for i, (network, options) in enumerate(candidates):
        name = label(network, options)
        if name in seen:
            raise ConfigError(f"--candidates: {name!r} is listed twice (entries {seen[name] + 1} and {i + 1})")
        seen[name] = i
        shape = tuple(x.shape[1:])
        try:
            net = network_takes(candidate_builder(modality, network, options, shape, num_classes), shape, num_classes, x.dtype)
        except ConfigError as exc:
            raise ConfigError(f"candidate {name!r}: {exc}") from None
        except Exception as exc:  # whatever the network raised on two samples: named, not a traceback
            raise ConfigError(f"candidate {name!r} does not take the set's samples of shape {shape} "
                              f"({type(exc).__name__}: {exc})") from None
        fault = untrainable(net, x.dtype)
        if fault:
            raise ConfigError(f"candidate {name!r} cannot be trained: {fault}")
