"""The unfinished trajectory of an expert (``expert_NNNN.partial.safetensors``), checked before training continues
from it.

A buffer folder travels between people and machines while it is being trained (training experts is the expensive
part), so the partial file an interrupted expert left may be damaged or crafted. :func:`checked_partial` refuses,
naming the file and the field, whatever would otherwise stop the training with a traceback (no trajectory, a momentum
tensor named or shaped for no parameter), mislead it (NaN parameters: "lower lr_teacher"; a row of another network:
"a flat parameter vector was expected", naming no file) or end in a shard that does not fit the buffer (more epochs than
it trains, scores that are not numbers).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError

_OVER = "delete it to start that expert over"


def _finite(t: Tensor) -> bool:
    return bool(torch.isfinite(t).all())


def checked_partial(path: Path, tensors: Mapping[str, Tensor], meta: Mapping[str, str], scores: Any, expert: int, epochs: int,
                    num_params: int, shapes: Sequence[torch.Size]) -> tuple[list[Tensor], dict[int, Tensor], list[float | None], float]:
    """The rows (each ``(num_params,)``; row 0 the initialisation), momentum buffers by optimizer parameter index,
    per-epoch scores and seconds of partial file ``path`` of expert ``expert`` (``tensors``, its header ``meta``,
    ``scores`` its parsed 'scores' field) for a buffer of ``epochs`` epochs whose network has ``num_params`` parameters
    in tensors of ``shapes`` (the optimizer's order); ArtifactError naming the file and what is wrong."""
    if meta.get("expert", str(expert)) != str(expert):
        raise ArtifactError(f"{path}: its header says expert {meta.get('expert')!r}; the file of expert {expert} holds it, {_OVER}")
    traj = tensors.get("trajectory")
    if traj is None:
        raise ArtifactError(f"{path} has no 'trajectory' tensor; {_OVER}")
    if not traj.is_floating_point() or traj.dim() != 2 or traj.shape[1] != num_params or not 1 <= traj.shape[0] <= epochs:
        raise ArtifactError(f"{path}: its trajectory is {str(traj.dtype).replace('torch.', '')} of shape {list(traj.shape)}; "
                            f"expected floats of shape [1 to {epochs} finished epochs + 1, {num_params}] (this buffer's network "
                            f"and {epochs} epochs), {_OVER}")
    if not _finite(traj):
        bad = sorted({int(r) for r in (~torch.isfinite(traj)).nonzero()[:, 0].tolist()})[:5]
        raise ArtifactError(f"{path}: its trajectory holds NaN or infinite parameters (row(s) {bad}); training would diverge "
                            f"from them, {_OVER}")
    momentum: dict[int, Tensor] = {}
    for name, value in tensors.items():
        if not name.startswith("momentum."):
            continue
        index = name[len("momentum."):]
        if not (index.isascii() and index.isdecimal() and int(index) < len(shapes)):
            raise ArtifactError(f"{path}: tensor {name!r} names no parameter of the expert's optimizer (it has {len(shapes)}: "
                                f"momentum.0 to momentum.{len(shapes) - 1}); {_OVER}")
        if value.shape != shapes[int(index)] or not value.is_floating_point() or not _finite(value):
            raise ArtifactError(f"{path}: tensor {name!r} is {str(value.dtype).replace('torch.', '')} of shape {list(value.shape)}"
                                f"{'' if _finite(value) else ' with NaN or infinite values'}; expected finite floats of shape "
                                f"{list(shapes[int(index)])}, {_OVER}")
        momentum[int(index)] = value
    rows = list(traj.unbind(0))
    ok_score = lambda s: s is None or (isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s))  # noqa: E731
    if not isinstance(scores, list) or len(scores) != len(rows) - 1 or not all(ok_score(s) for s in scores):
        raise ArtifactError(f"{path}: its header field 'scores' must list {len(rows) - 1} finite numbers or nulls (one per "
                            f"finished epoch), got {str(scores)[:80]}; {_OVER}")
    try:
        seconds = float(meta["seconds"])
    except (KeyError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ArtifactError(f"{path}: its header field 'seconds' is {meta.get('seconds')!r}; expected seconds >= 0, {_OVER}")
    return rows, momentum, [None if s is None else float(s) for s in scores], seconds


__all__ = ["checked_partial"]
