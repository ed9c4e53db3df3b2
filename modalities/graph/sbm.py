"""The generated stochastic block model (``dataset=sbm`` / ``sbm:N:C:F``): its name parsed and bounded
(:func:`_sbm_spec`) and the graph drawn (:func:`make_sbm`), a raw dict :func:`.datasets.build_data` checks."""

from __future__ import annotations

import re
from typing import Any

import torch

from mmdistill.errors import ConfigError
from mmdistill.seeding import generator


#: the largest ``sbm:`` graph: PyG's generator holds every node pair (8 bytes x N^2: 3.2 GB at 20,000 nodes), and the
#: features are N x F float32 (plus one copy: 800 MB at the cap of N x F)
SBM_MAX_NODES = 20_000
SBM_MAX_FEATURES = 100_000
SBM_MAX_CELLS = 100_000_000  # N x F
_SBM_NUMBER = re.compile(r"-?[0-9]{1,30}")  # ASCII digits only: int() would also read "9_0" and full-width digits


def _sbm_spec(name: str) -> tuple[int, int, int]:
    """``(N, C, F)`` of ``sbm:N:C:F`` (``sbm``: 700, 7, 32); a one-line ConfigError naming the part out of its range
    (:data:`SBM_MAX_NODES`, :data:`SBM_MAX_FEATURES`, :data:`SBM_MAX_CELLS`) or a split that leaves no test node."""
    if name.lower() == "sbm":
        return 700, 7, 32
    parts = name.split(":")[1:]
    if len(parts) != 3 or not all(_SBM_NUMBER.fullmatch(p.strip()) for p in parts):
        raise ConfigError(f"dataset {name!r}: write sbm:NODES:CLASSES:FEATURES in decimal digits, e.g. sbm:700:7:32")
    n, c, f = (int(p) for p in parts)
    for part, value, low, high in (("CLASSES", c, 2, SBM_MAX_NODES // 10), ("NODES", n, 10 * max(c, 2), SBM_MAX_NODES),
                                   ("FEATURES", f, 1, max(1, min(SBM_MAX_FEATURES, SBM_MAX_CELLS // max(n, 1))))):
        if not low <= value <= high:
            why = {"CLASSES": "", "NODES": f" (>= 10 nodes per class; at most {SBM_MAX_NODES:,}: the generator holds "
                                           "every node pair)",
                   "FEATURES": f" (NODES x FEATURES at most {SBM_MAX_CELLS:,})"}[part]
            raise ConfigError(f"dataset {name!r}: {part} is {value}, expected {low}..{high:,}{why}; write "
                              "sbm:NODES:CLASSES:FEATURES, e.g. sbm:700:7:32")
    if not _sbm_split_fits(n, c):
        smallest = max(n + 1, 200 * c // 9 + 1)  # the split fits once ceil(0.9 m) > 20 C (m >= 20 C)
        while not _sbm_split_fits(smallest, c):  # a step or two at most: the closed form, checked
            smallest += 1
        raise ConfigError(f"dataset {name!r}: its Planetoid-style split takes 20 training nodes per class and 10 % of "
                          f"the nodes for validation, which leaves no test node; use >= {smallest} nodes for {c} classes")
    return n, c, f


def _sbm_split_fits(num_nodes: int, num_classes: int) -> bool:
    """Whether :func:`make_sbm`'s split of ``num_nodes`` nodes leaves >= 1 validation and >= 1 test node."""
    sizes = [num_nodes // num_classes + (1 if c < num_nodes % num_classes else 0) for c in range(num_classes)]
    rest = num_nodes - sum(min(20, s) for s in sizes)
    return num_nodes // 10 >= 1 and rest - num_nodes // 10 >= 1


def make_sbm(num_nodes: int = 700, num_classes: int = 7, num_features: int = 32, *, seed: int = 0,
             p_in: float = 0.03, p_out: float = 0.004, signal: float = 0.3) -> dict[str, Any]:
    """A stochastic block model whose class decides both the edges and the features.

    Nodes split evenly into ``num_classes`` blocks; an edge joins two nodes with probability ``p_in``
    inside a block and ``p_out`` across (undirected). Features: a class centre drawn from N(0, I) times
    ``signal`` plus N(0, I) noise, so features alone are ambiguous and neighbours help. Split like
    Planetoid: 20 training nodes per class, 10 % of the nodes for validation, the rest for testing.
    Returns the raw dict :func:`build_data` checks.
    """
    from torch_geometric.utils import stochastic_blockmodel_graph

    g = generator(seed, "sbm", num_nodes, num_classes, num_features)
    sizes = [num_nodes // num_classes + (1 if c < num_nodes % num_classes else 0) for c in range(num_classes)]
    probs = torch.full((num_classes, num_classes), p_out)
    probs.fill_diagonal_(p_in)
    with torch.random.fork_rng(devices=[]):  # PyG draws from the global generator; keep it untouched
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        try:
            edge_index = stochastic_blockmodel_graph(sizes, probs, directed=False)
        except (MemoryError, RuntimeError) as exc:  # PyG's generator holds every node pair: O(N^2) memory
            raise ConfigError(f"sbm:{num_nodes}:{num_classes}:{num_features}: generating the graph needs memory for all "
                              f"{num_nodes * (num_nodes - 1) // 2:,} node pairs and failed ({type(exc).__name__}); use "
                              "fewer nodes") from None
    y = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
    centres = torch.randn(num_classes, num_features, generator=g)
    x = signal * centres[y] + torch.randn(num_nodes, num_features, generator=g)
    perm = torch.randperm(num_nodes, generator=g)
    train = torch.cat([perm[y[perm] == c][:20] for c in range(num_classes)])
    rest = perm[~torch.isin(perm, train)]
    n_val = num_nodes // 10
    masks = {}
    for split, idx in (("train", train), ("val", rest[:n_val]), ("test", rest[n_val:])):
        m = torch.zeros(num_nodes, dtype=torch.bool)
        m[idx] = True
        masks[f"{split}_mask"] = m
    return {"x": x, "edge_index": edge_index, "y": y, **masks, "name": f"sbm:{num_nodes}:{num_classes}:{num_features}",
            "classes": [f"block{c}" for c in range(num_classes)], "source": "generated stochastic block model"}
