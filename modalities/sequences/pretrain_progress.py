"""The pretrained learner's finished epochs, kept while it pretrains so a stop (Ctrl-C, SIGTERM) loses at most the
epoch it was in.

Pretraining is TD3's first step (``pretrain_epochs``, 100 by default: minutes on MovieLens latest-small, an hour or
more on MovieLens-1M on a CPU). Beside the cached learner ``<arch>-<hash>.safetensors``
(:mod:`.pretrain_cache`) a pretraining keeps ``<arch>-<hash>.partial.safetensors``: the learner, Adam's moments,
the epoch's shuffling generator and torch's global generator (dropout) at the end of its last finished epoch, the
best validation epoch so far and its weights. It is written at most every :data:`WRITE_EVERY_S` seconds and at a
stop; a run with the same key (the same hash: data, settings, seed, torch build and threads) continues from it, and
the learner it finishes is the one an uninterrupted pretraining gives, bit for bit. It is removed once the learner is
cached. A damaged or foreign file is a warning and pretraining starts from its first epoch; a folder that cannot be
written is a warning, never the run's end. Files are read without executing code (safetensors + JSON).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.io import load_tensors_with_metadata, save_tensors
from mmdistill.optimizer_state import check_state_entries

from .pretrain_cache import check_state_fits, check_written_for

log = logging.getLogger(__name__)

#: the partial file's format tag
FORMAT = "mmdistill.sequences.pretraining/1"
#: the shortest time between two writes of the partial file (a stop writes the last finished epoch at once)
WRITE_EVERY_S = 60.0


@dataclass
class EpochState:
    """Where a training on real windows stands after ``epoch`` finished epochs: the best validation HR@10 so far
    (``best``, -1 before any), its epoch (1-based; the last epoch while none) and its weights (None while none),
    and the seconds spent (``seconds``, over every process that trained it)."""

    epoch: int
    best: float
    best_epoch: int
    best_state: dict[str, Tensor] | None = None
    seconds: float = 0.0


def partial_file(cache_path: Path) -> Path:
    """``<arch>-<hash>.partial.safetensors`` beside the cached learner ``<arch>-<hash>.safetensors``."""
    return cache_path.with_name(cache_path.name.removesuffix(".safetensors") + ".partial.safetensors")


@dataclass
class PretrainingProgress:
    """Keeps a pretraining's finished epochs in ``path`` for the pretraining key ``key`` (a JSON object).

    :meth:`restore` puts a kept state into the learner, its optimizer and generators; :meth:`epoch_end` takes a
    copy after each epoch (written when :data:`WRITE_EVERY_S` passed since the last write); :meth:`flush` writes the
    last copy at a stop; :meth:`finish` removes the file. ``kept_epochs`` is the epoch count the file holds;
    ``refused``, why the last write failed (a full disk), None once one succeeds."""

    path: Path
    key: dict[str, Any]
    kept_epochs: int = 0
    refused: str | None = None
    _last: dict[str, Tensor] | None = field(default=None, repr=False)
    _last_meta: dict[str, str] | None = field(default=None, repr=False)
    _written_at: float = field(default_factory=time.monotonic, repr=False)

    def restore(self, learner: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                fresh: EpochState) -> EpochState:
        """The kept state put into ``learner``, ``opt``, ``gen`` and torch's global generators, or ``fresh`` when the
        file is absent, damaged or written for another key (a warning naming the file and why; whatever it had put
        in is taken back)."""
        before = None
        try:
            if not self.path.is_file():
                return fresh
            tensors, meta = load_tensors_with_metadata(self.path)
            check_written_for(meta, FORMAT, self.key)
            state = EpochState(epoch=int(meta["epoch"]), best=float(meta["best"]), best_epoch=int(meta["best_epoch"]),
                               seconds=float(meta["seconds"]))
            if not 0 < state.epoch:
                raise ValueError(f"its epoch count {state.epoch} is not positive")
            before = ({k: v.detach().clone() for k, v in learner.state_dict().items()}, opt.state_dict(), gen.get_state(),
                      torch.get_rng_state())
            weights, best = _prefixed(tensors, "learner."), _prefixed(tensors, "best.")
            learner.load_state_dict(weights)
            own = learner.state_dict()
            check_state_fits(weights, own)  # the best state becomes the pretrained learner at the end (walk 49A)
            if best:
                check_state_fits(best, own, "best weights")
            state.best_state = best or None
            opt_state = opt.state_dict()
            moments: dict[int, dict[str, Tensor]] = {}
            for name, value in _prefixed(tensors, "opt.").items():
                index, _, what = name.partition(".")
                moments.setdefault(int(index), {})[what] = value
            check_state_entries(opt, moments, str(self.path))  # else a moment of another shape fails at the next step
            opt_state["state"] = moments
            opt.load_state_dict(opt_state)
            gen.set_state(tensors["rng.generator"])
            torch.set_rng_state(tensors["rng.global"])
            if "rng.cuda" in tensors and torch.cuda.is_available():
                torch.cuda.set_rng_state(tensors["rng.cuda"])
        except Exception as exc:  # noqa: BLE001 - a damaged partial file costs its epochs, never the run
            if before is not None:
                learner.load_state_dict(before[0])
                opt.load_state_dict(before[1])
                gen.set_state(before[2])
                torch.set_rng_state(before[3])
            log.warning("pretraining progress %s cannot be used (%s: %s); pretraining from the first epoch", self.path,
                        type(exc).__name__, str(exc)[:200])
            return fresh
        self.kept_epochs = state.epoch
        log.info("pretraining continues from %s: %d epochs finished", self.path, state.epoch)
        return state

    def epoch_end(self, learner: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, state: EpochState,
                  device: torch.device) -> None:
        """Copy the state after ``state.epoch`` finished epochs; write it when :data:`WRITE_EVERY_S` has passed."""
        tensors = {f"learner.{k}": v.detach().cpu().clone() for k, v in learner.state_dict().items()}
        tensors |= {f"best.{k}": v.detach().cpu().clone() for k, v in (state.best_state or {}).items()}
        for index, moments in opt.state_dict()["state"].items():
            for what, value in moments.items():
                if not isinstance(value, Tensor):
                    raise TypeError(f"optimizer state {what!r} is not a tensor")
                tensors[f"opt.{index}.{what}"] = value.detach().cpu().clone()
        tensors["rng.generator"] = gen.get_state()
        tensors["rng.global"] = torch.get_rng_state()
        if device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
        self._last = tensors
        self._last_meta = {"format": FORMAT, "key": json.dumps(self.key, sort_keys=True), "epoch": str(state.epoch),
                           "best": repr(state.best), "best_epoch": str(state.best_epoch), "seconds": repr(state.seconds)}
        if time.monotonic() - self._written_at >= WRITE_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Write the last copy (if newer than the file); a folder that cannot be written is a warning."""
        if self._last is None or self._last_meta is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_tensors(self.path, self._last, metadata=self._last_meta)
        except OSError as exc:
            log.warning("pretraining progress %s cannot be written (%s); a stop loses the pretraining's epochs", self.path, exc)
            self.refused = exc.strerror or str(exc)
            return
        finally:
            self._written_at = time.monotonic()
        self.kept_epochs, self.refused = int(self._last_meta["epoch"]), None
        self._last = self._last_meta = None

    def finish(self) -> None:
        """Remove the file: the learner is cached (or the pretraining done)."""
        self.path.unlink(missing_ok=True)


def _prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


__all__ = ["FORMAT", "WRITE_EVERY_S", "EpochState", "PretrainingProgress", "partial_file"]
