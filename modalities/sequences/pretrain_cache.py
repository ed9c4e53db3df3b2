"""The pretrained learner kept on disk, so a resume, an ``eval`` or a second run on the same data does not pretrain
again (TD3's reference pretrains with RecBole once and loads the saved checkpoint for every distillation run).

One safetensors file per pretrained learner under ``<cache>/sequences`` (:func:`mmdistill.cache_dir.cache_root`,
or the config's ``pretrain_cache_dir``), named by a key that covers everything the weights depend on: the code
(:data:`CODE_VERSION` and mmdistill's version), the data (every
user's training sequence and held-out items, the item count, the input length), the learner's keys, the pretraining
keys, the seed, and the build, thread count and CPU kernels of torch (pretraining sums in floating point: another
build or thread count gives other last digits, so its weights are not the ones this run would compute). A file is
read without executing code (safetensors + JSON); a damaged or foreign one is a warning and the learner is
pretrained again; a folder that cannot be written is a warning, never the run's end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.cache_dir import cache_root
from mmdistill.io import load_tensors_with_metadata, save_tensors

from .sequence_data import SequenceData

log = logging.getLogger(__name__)

#: the cache file's format tag; a change of what the file holds changes it
FORMAT = "mmdistill.sequences.pretrained/1"
#: raise it with any change to the learners or to how they are pretrained (nets.py, train.py's pretraining and
#: selection): every cached learner is then pretrained again, never read stale
CODE_VERSION = 1
#: the config keys a pretrained learner depends on (the learner's shape and dropout, the pretraining schedule, the seed)
PRETRAIN_KEYS = ("hidden_size", "inner_size", "n_heads", "n_layers", "hidden_dropout", "attn_dropout", "gru_embedding",
                 "gru_hidden", "gru_layers", "gru_dropout", "pretrain_epochs", "pretrain_lr", "pretrain_batch", "seed")


def data_fingerprint(data: SequenceData) -> str:
    """A sha256 over the split the learner is pretrained and selected on: item count, input length, every user's
    training sequence and validation / test item (cached on ``data``)."""
    key = ("fingerprint",)
    if key not in data.cache:
        h = hashlib.sha256(f"{data.num_items}|{data.max_len}|{data.num_users}\n".encode())
        for s in data.train:
            h.update(s.to(torch.int64).numpy().tobytes() + b"|")
        h.update(data.valid_target.to(torch.int64).numpy().tobytes())
        h.update(data.test_target.to(torch.int64).numpy().tobytes())
        data.cache[key] = h.hexdigest()
    return data.cache[key]


def pretrain_key(data: SequenceData, cfg: Any, arch: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """What a pretrained ``arch`` learner on ``data`` under ``cfg`` depends on, as JSON-ready values; a learner trained
    on another device type than the CPU (a GPU sums in another order) is another entry (a CPU key is as before)."""
    from mmdistill import __version__

    kind = torch.device(device).type
    return {"format": FORMAT, "code": CODE_VERSION, "mmdistill": __version__, "arch": arch, "data": data_fingerprint(data),
            **{k: getattr(cfg, k) for k in PRETRAIN_KEYS}, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), **({"device": kind} if kind != "cpu" else {})}


def cache_file(data: SequenceData, cfg: Any, arch: str, device: torch.device | str = "cpu") -> Path:
    """``<folder>/<arch>-<sha256 of the key, 24 hex>.safetensors``; folder: ``pretrain_cache_dir`` or ``<cache>/sequences``."""
    folder = Path(cfg.pretrain_cache_dir).expanduser() if cfg.pretrain_cache_dir else cache_root() / "sequences"
    digest = hashlib.sha256(json.dumps(pretrain_key(data, cfg, arch, device), sort_keys=True).encode()).hexdigest()[:24]
    return folder / f"{arch}-{digest}.safetensors"


def check_written_for(meta: dict[str, str], fmt: str, key: dict[str, Any]) -> None:
    """ValueError unless a file's metadata ``meta`` says format ``fmt`` and pretraining key ``key`` (what a cached
    learner and a pretraining's kept epochs both record)."""
    if meta.get("format") != fmt:
        raise ValueError(f"format {meta.get('format')!r}, expected {fmt!r}")
    if json.loads(meta["key"]) != json.loads(json.dumps(key)):
        raise ValueError("written for other data or settings (its key differs)")


def _check_info(info: dict[str, Any]) -> None:
    """ValueError unless ``info`` has what the log line and the evaluation read of it: whole epochs, a validation score
    and seconds as numbers, the test metrics as an object (walk 49A: text there was a logging traceback, no 'test' a
    KeyError at evaluation)."""
    for name, kind in (("epochs", int), ("best_epoch", int), ("valid_hr@10", (int, float)), ("seconds", (int, float))):
        if name in info and (not isinstance(info[name], kind) or isinstance(info[name], bool)):
            raise ValueError(f"its info field {name!r} is {str(info[name])[:40]!r}; expected a number")
    if not isinstance(info.get("test"), dict):
        raise ValueError("its info has no 'test' metrics object")


def check_state_fits(state: dict[str, Tensor], own: dict[str, Tensor], what: str = "weights") -> None:
    """ValueError (naming ``what``) unless ``state`` holds the tensors of a learner whose state dict is ``own`` (names,
    shapes), finite."""
    if {k: tuple(v.shape) for k, v in state.items()} != {k: tuple(v.shape) for k, v in own.items()}:
        raise ValueError(f"its {what} are not this learner's (tensor names or shapes differ)")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"its {what} hold NaN or infinite values ({', '.join(bad[:3])})")


def read_pretrained(path: Path, key: dict[str, Any], own: dict[str, Tensor] | None = None) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """(state, info) from ``path``, or None when there is no such file, or (with a warning naming the file and
    why) when it cannot be read, was written for another key or (``own``: the state dict of the learner it is for) holds
    other tensors than the learner's or non-finite ones."""
    try:
        if not path.is_file():
            return None
        tensors, meta = load_tensors_with_metadata(path)
        check_written_for(meta, FORMAT, key)
        if own is not None:
            check_state_fits(tensors, own)
        info = json.loads(meta["info"])
        if not isinstance(info, dict):
            raise ValueError("its info is not an object")
        _check_info(info)
    except Exception as exc:  # noqa: BLE001 - a damaged cache costs a pretraining, never the run
        log.warning("pretrained-learner cache %s cannot be used (%s: %s); pretraining again and replacing it", path,
                    type(exc).__name__, str(exc)[:200])
        return None
    return tensors, info


def write_pretrained(path: Path, key: dict[str, Any], state: dict[str, Tensor], info: dict[str, Any]) -> None:
    """Write ``state`` and ``info`` atomically to ``path``; a folder that cannot be written is a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, state, metadata={"format": FORMAT, "key": json.dumps(key, sort_keys=True),
                                            "info": json.dumps(info, default=float)})
    except OSError as exc:
        log.warning("pretrained-learner cache %s cannot be written (%s); the next run pretrains again", path, exc)


__all__ = ["CODE_VERSION", "FORMAT", "PRETRAIN_KEYS", "cache_file", "check_state_fits", "check_written_for", "data_fingerprint", "pretrain_key", "read_pretrained", "write_pretrained"]
