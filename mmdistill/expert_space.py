"""What ``mmdistill experts`` says before it trains: the input space its experts will see, and the IPCs whose table rows
ask for another one.

A buffer's experts are tied to the input space of the data they trained on (an image recipe's ``zca`` whitening joins the
buffer's fingerprint, :data:`mmdistill.buffer.INPUT_SPACE`), and a run whose data are in another space refuses the buffer.
``mmdistill experts RECIPE --dataset D`` without ``--ipc`` resolves the recipe's default ``ipc`` and takes that row's
``zca``; MTT's table whitens CIFAR-100 at IPC 1 and 50 but not at 10, so a buffer trained at the default IPC serves only
some of the runs. :func:`input_space_note` names the space the command trains in, where it comes from, and the IPCs of
the recipe's rows that would refuse it, with the ``--ipc`` / ``zca=`` that trains theirs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from mmdistill.errors import ConfigError
from mmdistill.mean_std import spell_mean_std
from mmdistill.resolve import config_sources

log = logging.getLogger(__name__)

#: config keys that decide the input space experts train in (a buffer of another value is refused by a run)
INPUT_SPACE_KEYS = ("zca",)  # resize and normalization decide it too, but no table row sets them: no IPC differs by them


def listed_ipcs(recipe: Any, cfg: Any) -> list[int]:
    """The IPCs named by the rows of ``recipe``'s tables whose other conditions can match ``cfg`` (its dataset, budget,
    the recipe's name), ascending."""
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    context = {**values, **recipe.lookup_context(values)}  # as the lookup sees them: the recipe's own names too
    return sorted({row.ipc for table in recipe.loaded_tables() for row in table.rows
                   if row.ipc is not None and row.exact_matches(context) is not None})


def _space(cfg: Any, keys: list[str]) -> str:
    return ", ".join(f"{k}={str(getattr(cfg, k)).lower()}" for k in keys)


def row_of(cfg: Any, key: str) -> str:
    """The table row (``tables/mtt.yaml: dataset cifar100, ..., ipc 1``) that gave ``key``, 'the default' or 'arguments'."""
    source = config_sources(cfg).get(key, "the recipe's default")
    return source.split(" (", 1)[0]


def input_space_note(recipe: Any, cfg: Any) -> str | None:
    """One line for ``mmdistill experts``: the input space (:data:`INPUT_SPACE_KEYS`) ``cfg``'s experts train in and the
    row or argument that set it, then the other IPCs of the recipe's tables whose rows for this dataset set another space
    (a run there refuses this buffer), with the flags that train their experts. None when ``cfg`` has none of the keys."""
    keys = [k for k in INPUT_SPACE_KEYS if hasattr(cfg, k)]
    ipc = getattr(cfg, "ipc", None)
    if not keys or ipc is None:
        return None
    here = _space(cfg, keys)
    line = (f"the experts train in the input space {here} ({', '.join(f'{k} from {row_of(cfg, k)}' for k in keys)}; "
            f"ipc {ipc}, dataset {getattr(cfg, 'dataset', '?')})")
    others: dict[str, list[tuple[int, str]]] = {}
    for other_ipc in listed_ipcs(recipe, cfg):
        if other_ipc == ipc:
            continue
        try:
            other = recipe.rebuild(cfg, {"ipc": other_ipc})
        except ConfigError:  # an explicit key that IPC's rows refuse: that run would fail for its own reason
            continue
        if (space := _space(other, keys)) != here:
            others.setdefault(space, []).append((other_ipc, row_of(other, keys[0])))
    for space, rows in others.items():
        ipcs, names = ", ".join(str(i) for i, _ in rows), list(dict.fromkeys(r for _, r in rows))
        line += (f". {recipe.name}'s rows differ by IPC: {space} at IPC {ipcs} ({'; '.join(names)}), so a run "
                 f"at {'that IPC' if len(rows) == 1 else 'those IPCs'} refuses this buffer; train its experts into another "
                 f"--buffer with --ipc {rows[0][0]} (or {space})")
    return line


def _normalised(space: dict[str, Any]) -> str:
    """An input space's normalisation in words: the ``normalization`` entry's mean and std, or the data's own statistics."""
    norm = space.get("normalization")
    if not isinstance(norm, dict):
        return "normalised with the data's own statistics"
    return f"normalised with mean {norm.get('mean')}, std {norm.get('std')}"


def space_words(space: Any, normalisation: bool = False) -> str:
    """A buffer fingerprint's input space (``{'zca': {'eps': 0.1}}``, ``{'resize': 'center_crop'}``, ``{'normalization':
    {'mean': [...], 'std': [...]}}``; None or {}: none) in words; with ``normalisation`` (or a ``normalization`` entry) the
    images' statistics too."""
    space = space if isinstance(space, dict) else {}
    if set(space) - {"zca", "resize", "normalization"}:
        return f"the input space {space!r}"
    images = f"images cut by resize={space['resize']}" if "resize" in space else "images"
    if normalisation or "normalization" in space:
        images += f"{',' if 'resize' in space else ''} {_normalised(space)}"
    zca = space.get("zca")
    if zca is not None:
        return f"ZCA-whitened {images} (eps {zca.get('eps') if isinstance(zca, dict) else zca})"
    return f"{images}, not whitened" if images != "images" else "images not whitened"


def _normalization_value(space: dict[str, Any]) -> str:
    """The ``normalization=`` value that gives the input space ``space``'s statistics (``data`` where it records none)."""
    norm = space.get("normalization")
    return spell_mean_std(norm.get("mean") or (), norm.get("std") or ()) if isinstance(norm, dict) else "data"


def _flags(space: Any, other: Any) -> str:
    """The keys that give the input space ``space`` (``zca=``, and ``resize=`` / ``normalization=`` where either space
    sets one)."""
    space, other = (s if isinstance(s, dict) else {} for s in (space, other))
    flags = "zca=true" if "zca" in space else "zca=false"
    flags += f" resize={space.get('resize', 'squeeze')}" if "resize" in space or "resize" in other else ""
    return flags + (f" normalization={_normalization_value(space)}" if "normalization" in space or "normalization" in other else "")


def space_mismatch(held: Any, asked: Any) -> str:
    """What a run refusing a buffer of another input space says: the buffer's space and the run's in words, and the
    ``zca=`` (``resize=``, ``normalization=``) that uses the buffer or trains experts for the run (``held``, ``asked``:
    the fingerprints' input spaces)."""
    norm = any(isinstance(s, dict) and "normalization" in s for s in (held, asked))
    return (f"the buffer's experts trained on {space_words(held, norm)}, this run's data are {space_words(asked, norm)}; "
            f"experts and distillation must see the same input space: run with {_flags(held, asked)} to use this buffer, or "
            f"train experts with {_flags(asked, held)} into another --buffer (mmdistill experts)")


def log_input_space(recipe: Any, cfg: Any) -> None:
    """Log :func:`input_space_note` (INFO) when ``cfg`` has an input-space key."""
    note = input_space_note(recipe, cfg)
    if note:
        log.info("%s", note)


__all__ = ["INPUT_SPACE_KEYS", "input_space_note", "listed_ipcs", "log_input_space", "row_of", "space_mismatch", "space_words"]
