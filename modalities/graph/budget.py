"""How many synthetic nodes, and of which class: GCond's budget.

GCond states the budget as a **reduction rate**: synthetic nodes / nodes of the graph seen while training
(the whole graph in the transductive setting, the training subgraph in the inductive one). Cora's rates
1.3 / 2.6 / 5.2 % are 35 / 70 / 140 synthetic nodes of 2,708, i.e. 0.25 / 0.5 / 1 × its 140 labelled
nodes; the reference code takes that fraction of the labelled nodes as its ``--reduction_rate`` (here
``label_rate``). Synthetic labels follow the class proportions of the training nodes: every class but the
largest gets ``max(int(n_c * r), 1)`` nodes and the largest takes the rest (``r`` = the label rate, or the
reduction rate times visible / training nodes), exactly as GCond's ``generate_labels_syn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmdistill.errors import ConfigError
from mmdistill.keys import input_keys
from mmdistill.resolve import explicit_values, from_saved, given_now
from mmdistill.words import quantity


@dataclass(frozen=True)
class GraphBudget:
    """Synthetic nodes per class and how the budget was stated."""

    per_class: tuple[int, ...]
    how: str  # "reduction rate 2.60 %", "label rate 0.5", "10 nodes per class"

    @property
    def total(self) -> int:
        return sum(self.per_class)

    def label(self) -> str:
        return f"{self.total} nodes ({self.how})"


def resolve_budget(train_counts: list[int], visible_nodes: int, *, reduction_rate: float | None = None,
                   label_rate: float | None = None, nodes_per_class: int | None = None) -> GraphBudget:
    """The per-class synthetic node counts for one of the three ways of stating a budget.

    ``reduction_rate`` wins over ``label_rate``, which wins over ``nodes_per_class`` (a config that gives two is
    refused before: :func:`check_budget_keys`). The total of a rate is
    ``floor(rate * visible_nodes)`` (reduction rate) or ``floor(rate * training nodes)`` (label rate), as
    GCond's ``int(...)``. Raises :class:`ConfigError` when the budget is smaller than the number of classes.
    """
    num_classes = len(train_counts)
    n_train = sum(train_counts)
    if reduction_rate is not None:
        if not 0 < reduction_rate <= 1:
            raise ConfigError(f"reduction_rate is a fraction of the graph's nodes in (0, 1], got {reduction_rate}")
        rate = reduction_rate * visible_nodes / n_train  # as a fraction of the training nodes
        how = f"reduction rate {100 * reduction_rate:.2f} %"
        smallest = f"reduction_rate >= {num_classes / visible_nodes:.4f} ({num_classes} / {visible_nodes} nodes)"
    elif label_rate is not None:
        if label_rate <= 0:
            raise ConfigError(f"label_rate must be > 0 (synthetic nodes per training node), got {label_rate}")
        rate = label_rate
        how = f"label rate {label_rate:g}"
        smallest = f"label_rate >= {num_classes / n_train:.4f} ({num_classes} / {n_train} training nodes)"
    else:
        if nodes_per_class is None or nodes_per_class < 1:
            raise ConfigError(f"ipc (synthetic nodes per class) must be >= 1, got {nodes_per_class}")
        return GraphBudget(tuple([nodes_per_class] * num_classes), f"{quantity(nodes_per_class, 'node')} per class")
    total = int(rate * n_train + 1e-9)
    if total < num_classes:
        raise ConfigError(
            f"the budget is {total} synthetic node(s) ({how}) but the graph has {num_classes} classes, and every "
            f"class needs at least one synthetic node; use {smallest}, or ipc=1 without a rate"
        )
    per_class = _proportional(train_counts, rate, total)
    return GraphBudget(tuple(per_class), how)


#: the budget keys, in the order :func:`resolve_budget` reads them, with their flags
BUDGET_KEYS = {"reduction_rate": "--reduction-rate", "label_rate": "--label-rate", "ipc": "--ipc"}


def _given_budget_keys(config: Any) -> dict[str, bool]:
    """``{key: given in this invocation}`` for each budget key that is set: a rate that is not None, ``ipc`` set
    explicitly (for a config built directly, not through the resolver: an ``ipc`` other than the default). A key
    from :data:`~mmdistill.resolve.SAVED_LAYER` is set but not given now (:func:`~mmdistill.resolve.given_now`); ``ipc`` from there is not set (a manifest always holds it)."""
    resolved = explicit_values(config) is not None
    out: dict[str, bool] = {}
    for name in BUDGET_KEYS:
        value = getattr(config, name, None)
        if name == "ipc":
            if given_now(config, name) if resolved else value != input_keys(type(config))["ipc"].default:
                out[name] = True
        elif value is not None:
            out[name] = not from_saved(config, name)
    return out


def check_budget_keys(config: Any) -> None:
    """ConfigError when the graph config states its budget twice (``reduction_rate``, ``label_rate`` and ``ipc``
    are three ways of giving it; the one not used would be dropped silently), naming both keys. A saved run's
    config that already held two (before this check) is left as it was unless a key given now joins them."""
    given = _given_budget_keys(config)
    if len(given) > 1 and any(given.values()):
        shown = " and ".join(f"{k}={getattr(config, k)} ({BUDGET_KEYS[k]})" for k in given)
        raise ConfigError(f"the graph budget is given {len(given)} times: {shown}; give one of reduction_rate (synthetic / "
                          "visible nodes), label_rate (synthetic / training nodes) or ipc (synthetic nodes per class)",
                          key=next(k for k in reversed(BUDGET_KEYS) if k in given))


def _proportional(train_counts: list[int], rate: float, total: int) -> list[int]:
    """GCond's allocation: classes in increasing order of their training count; each but the last gets
    ``max(floor(n_c * rate), 1)``, the last (largest) class gets the rest of ``total``."""
    order = sorted(range(len(train_counts)), key=lambda c: (train_counts[c], c))
    out = [0] * len(train_counts)
    for c in order[:-1]:
        out[c] = max(int(train_counts[c] * rate + 1e-9), 1)
    out[order[-1]] = total - sum(out)
    if out[order[-1]] < 1:
        raise ConfigError(
            f"a budget of {total} synthetic nodes cannot give each of {len(train_counts)} classes a node after the "
            "minimum of one per small class; raise the rate"
        )
    return out


__all__ = ["BUDGET_KEYS", "GraphBudget", "check_budget_keys", "resolve_budget"]
