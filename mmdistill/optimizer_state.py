"""The optimizer state a checkpoint holds, split into tensors (safetensors) and JSON (the rest), and its checked
restore into a run's optimizer.

A checkpoint may come from a stranger (a run folder shared to be continued) or be damaged, and
``torch.optim.Optimizer.load_state_dict`` checks little: a state tensor of another shape, a value that is no tensor or
a learning rate that is text loads, and the run fails with a traceback at its first step (or, a learning rate of
1e6, goes on silently with it). :func:`restore_optimizer` therefore checks each state entry against what this run's
optimizer keeps per parameter (found by one step of the same optimizer on a probe tensor), and keeps the run's own
hyper-parameters: they follow from its keys, which the resume already compared with the checkpoint's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError
from mmdistill.json_text import parse_json

_DAMAGED = "the checkpoint is damaged or of another run"


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], str]:
    """Split ``opt``'s state dict into tensors named ``opt.{param index}.{key}`` and the JSON of everything else
    (its parameter groups, the state's plain values, the tensor names)."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        plain[str(pid)] = {}
        for key, val in entry.items():
            if isinstance(val, Tensor):
                tensors[f"opt.{pid}.{key}"] = val
            else:
                plain[str(pid)][key] = val
    return tensors, json.dumps({"param_groups": sd["param_groups"], "state": plain, "tensors": sorted(tensors)})


def _kept_per_parameter(opt: torch.optim.Optimizer, group: dict[str, Any]) -> dict[str, bool | None] | None:
    """What ``opt``'s kind of optimizer keeps for a parameter of ``group`` after one step: each key, and whether its
    value is a scalar tensor (True), a tensor of the parameter's shape (False) or a plain value (None); None when a
    probe optimizer cannot be built (an optimizer of a recipe's own that takes other arguments)."""
    probe = torch.zeros(2, requires_grad=True)
    probe.grad = torch.zeros(2)
    try:
        one = type(opt)([{**{k: v for k, v in group.items() if k != "params"}, "params": [probe]}])
        one.step()
    except Exception:  # noqa: BLE001 - no probe: the entries are checked without it
        return None
    return {k: (v.dim() == 0 if isinstance(v, Tensor) else None) for k, v in one.state[probe].items()}


def _check_entry(where: str, pid: int, entry: dict[str, Any], param: Tensor, kept: dict[str, bool | None] | None) -> None:
    """ArtifactError naming ``where`` when the state of parameter ``pid`` is not what this run's optimizer keeps."""
    if kept is not None and entry and set(entry) != set(kept):
        raise ArtifactError(f"{where}: the optimizer state of parameter {pid} holds {sorted(entry)}, this run's optimizer keeps "
                            f"{sorted(kept)}; {_DAMAGED}")
    for key, val in entry.items():
        scalar = kept.get(key) if kept is not None else (val.dim() == 0 if isinstance(val, Tensor) else None)
        if scalar is None:
            if not (val is None or isinstance(val, (bool, int, float))):
                raise ArtifactError(f"{where}: the optimizer state value {pid}.{key} is {type(val).__name__}; expected a "
                                    f"number, {_DAMAGED}")
            continue
        if not isinstance(val, Tensor):
            raise ArtifactError(f"{where}: the optimizer state value {pid}.{key} is {type(val).__name__}; expected a tensor, {_DAMAGED}")
        shape = [] if scalar else list(param.shape)
        if list(val.shape) != shape:
            raise ArtifactError(f"{where}: optimizer tensor opt.{pid}.{key} has shape {list(val.shape)}, expected {shape} "
                                f"(its parameter's {list(param.shape)}); {_DAMAGED}")
        if (val.is_floating_point() or val.is_complex()) and not bool(torch.isfinite(val).all()):
            raise ArtifactError(f"{where}: optimizer tensor opt.{pid}.{key} holds values that are NaN or infinite; the "
                                "checkpoint is damaged (a run that diverged writes none)")


def check_state_entries(opt: torch.optim.Optimizer, entries: dict[int, dict[str, Any]], where: str) -> None:
    """ArtifactError naming ``where`` unless each ``entries[i]`` (the state of ``opt``'s parameter ``i``, in the order of
    its groups) holds what ``opt`` keeps per parameter: the same keys, tensors of the parameter's shape (scalars where
    ``opt`` keeps scalars), finite values; plain values are numbers."""
    params = [p for group in opt.param_groups for p in group["params"]]
    group_of = [n for n, g in enumerate(opt.param_groups) for _ in g["params"]]
    kept: dict[int, dict[str, bool | None] | None] = {}  # per group: one probe step serves all of its parameters
    for pid, entry in entries.items():
        if not 0 <= pid < len(params):
            raise ArtifactError(f"{where}: optimizer state for parameter {pid}; the optimizer has {len(params)}, {_DAMAGED}")
        g = group_of[pid]
        if g not in kept:
            kept[g] = _kept_per_parameter(opt, opt.param_groups[g])
        _check_entry(where, pid, entry, params[pid], kept[g])


def _saved_groups(where: str, info: Any, own: list[dict[str, Any]]) -> dict[str, Any]:
    """The state of ``info`` (the checkpoint's optimizer JSON) once its groups are seen to hold as many parameters as
    this run's ``own`` groups; ArtifactError naming ``where`` otherwise."""
    groups = info.get("param_groups") if isinstance(info, dict) else None
    state = info.get("state") if isinstance(info, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups) \
            or not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
        raise ArtifactError(f"{where}: header field 'optimizer' must hold 'param_groups' (a list of groups with their "
                            f"'params') and 'state' (an object per parameter); {_DAMAGED}")
    sizes, own_sizes = [len(g["params"]) for g in groups], [len(g["params"]) for g in own]
    if sizes != own_sizes:
        raise ArtifactError(f"{where}: its optimizer has parameter groups of {sizes} tensors, this run's {own_sizes}; {_DAMAGED}")
    return state


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], blob: str, path: Path | str = "the checkpoint") -> None:
    """Load the state of :func:`optimizer_state` (``tensors``: those named ``opt.*``; ``blob``: its JSON) into ``opt``,
    keeping ``opt``'s own hyper-parameters. ArtifactError naming ``path`` when the state is not one of this run's
    optimizer: a tensor the JSON lists is missing, other groups, a state entry of other keys, a tensor of another shape,
    a non-finite value, a value that is neither number nor tensor; ``opt`` is then left as it was."""
    where = str(path)
    try:
        info = parse_json(blob)
    except ValueError as exc:
        raise ArtifactError(f"{where}: header field 'optimizer' is not valid JSON ({exc}); {_DAMAGED}") from None
    own = opt.state_dict()["param_groups"]
    state = _saved_groups(where, info, own)
    listed = info.get("tensors", [])
    missing = sorted(set(listed if isinstance(listed, list) else []) - set(tensors))
    if missing:
        raise ArtifactError(f"{where} lacks the optimizer tensors {', '.join(map(str, missing))}; the checkpoint is damaged")
    params = [p for group in opt.param_groups for p in group["params"]]
    entries: dict[int, dict[str, Any]] = {}
    for name, val in [*((f"opt.{pid}.{k}", v) for pid, e in state.items() for k, v in e.items()), *tensors.items()]:
        pid, _, key = name[len("opt."):].partition(".")
        if not (pid.isdecimal() and pid.isascii() and key and int(pid) < len(params)):
            raise ArtifactError(f"{where}: optimizer state {name!r} names no parameter of this run's optimizer (it has "
                                f"{len(params)}: opt.0 to opt.{len(params) - 1}); {_DAMAGED}")
        if val is not None:  # what an older torch kept for nothing (SGD without momentum: momentum_buffer None)
            entries.setdefault(int(pid), {})[key] = val
    check_state_entries(opt, entries, where)
    before = copy.deepcopy(opt.state_dict())
    try:
        opt.load_state_dict({"state": entries, "param_groups": own})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        opt.load_state_dict(before)
        raise ArtifactError(f"{where}: its optimizer state does not load into this run's optimizer ({type(exc).__name__}: "
                            f"{exc}); {_DAMAGED}") from None


__all__ = ["check_state_entries", "optimizer_state", "restore_optimizer"]
