"""Stage 1's iterations run through the core's loop, with its progress kept on disk, so a ``--resume`` of stage 2
(or a second stage-2 run on the same data, a stopped stage 1 run again) does not distil the static memories again.

The paper's stage 1 (DC, 1,000 iterations on one frame of every training clip) is long work on a real set; before
this module it ran in memory only, so every ``--resume`` of stage 2 repeated it and a stop inside it lost it. Now its
iterations run in :func:`mmdistill.loop.run_loop` with a folder of their own, ``<cache>/video/static/<key digest>``
(``cache_dir``'s folder, else :func:`~.datasets.default_cache_dir`; key ``static_cache``): the loop checkpoints every
``checkpoint_every`` iterations and at a stop, and a later run with the same key continues from the checkpoint
(a finished one: from its last iteration, none left). The key covers everything the static memories depend on: the
frames (one per training clip, their labels and classes), the images per class, the matcher and its settings, the
seed, and the build, thread count and CPU kernels of torch (another of these sums in another order: its images are
not the ones this run would compute; a stage 1 kept for the same run under such other sums is named in a warning when
this one distils it again: :func:`kept_on_other_machine`). A checkpoint is read without executing code (safetensors + JSON); one that
cannot be read, or was written for another key, is a warning and stage 1 starts over; a folder that cannot be
written, or one that another process is using, is a note and stage 1 runs without keeping anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch

from mmdistill.atomic import remove_stale_temporaries
from mmdistill.distributed import current_workers
from mmdistill.errors import ConfigError, InterruptedRun
from mmdistill.io import METRICS_FILE, MetricsLog
from mmdistill.loop import CHECKPOINT_FILE, LoopResult, checkpoint_iteration, checkpoint_resume_keys, load_checkpoint, run_loop
from mmdistill.run_lock import RunFolderLock
from mmdistill.seeding import generator
from mmdistill.stop_signals import stop_phrase, stop_signal_number
from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)

#: the stage-1 checkpoint's key format; a change of what the key covers changes it
FORMAT = "mmdistill.video.static/1"
#: raise it with any change to how stage 1 distils (static_dynamic.distil_static, its matchers' use): every kept
#: stage 1 is then run again, never read stale
CODE_VERSION = 1
#: the key's fields of the machine rather than of the run: a stage 1 kept under others is named, not continued
MACHINE_FIELDS = ("threads", "cpu_capability", "torch", "mmdistill", "device")


class StaticSteps:
    """A stage-1 matcher as the core loop calls it: iteration ``it`` draws from ``generator(seed, "static", it)``
    (stage 1's own stream, as before it ran in the loop), not from the loop's ``"iteration"`` stream."""

    def __init__(self, matcher: Any, seed: int) -> None:
        self.matcher, self.seed, self.iteration = matcher, seed, 0

    def start_iteration(self, it: int) -> None:
        self.iteration = it

    def step(self, syn: SyntheticSet, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        return self.matcher.step(syn, opt, generator(self.seed, "static", self.iteration))


def frames_digest(frames: Any) -> str:
    """A sha256 over the stage-1 frames: shape, values (float32), labels and class names."""
    h = hashlib.sha256(json.dumps([list(frames.x.shape), list(frames.classes)]).encode())
    h.update(frames.x.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update(frames.y.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def stage_key(frames: Any, count: int, settings: dict[str, Any], seed: int, device: torch.device | str) -> dict[str, Any]:
    """What stage 1's static memories depend on, as JSON-ready values: ``settings`` are the matcher's (method,
    iterations, learning rate, real batch, augmentation); a run on another device type than the CPU is another key."""
    from mmdistill import __version__

    kind = torch.device(device).type
    return {"format": FORMAT, "code": CODE_VERSION, "mmdistill": __version__, "frames": frames_digest(frames), "count": count,
            **settings, "seed": seed, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), **({"device": kind} if kind != "cpu" else {})}


def stage_folder(root: Path, key: dict[str, Any]) -> Path:
    """``<root>/static/<sha256 of the key, 24 hex>``."""
    return root / "static" / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def _usable_checkpoint(path: Path, img: SyntheticSet, opt: torch.optim.Optimizer, key: dict[str, Any]) -> bool:
    """Whether ``path`` is a stage-1 checkpoint of ``key`` that loads; one that does not is removed, with a warning
    naming it and why (``img`` and ``opt`` are left as they were)."""
    if not path.exists():
        return False
    tensors, state = {k: v.detach().clone() for k, v in img.tensors().items()}, copy.deepcopy(opt.state_dict())
    try:
        load_checkpoint(path, img, opt, key)
        return True
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign checkpoint costs stage 1, never the run
        img.copy_from(tensors)
        opt.load_state_dict(state)
        log.warning("stage-1 checkpoint %s cannot be used (%s: %s); the static memories are distilled again and it is "
                    "replaced", path, type(exc).__name__, str(exc)[:200])
        try:
            path.unlink()
        except OSError:
            pass
        return False


def kept_on_other_machine(root: Path, key: dict[str, Any]) -> str | None:
    """A note naming a stage 1 kept under ``root`` for the same frames, matcher and seed as ``key`` but another
    thread count, CPU kernels, torch or mmdistill (:data:`MACHINE_FIELDS`), which this run does not continue (its
    static memories would differ in float rounding) and how to continue it where only the threads differ; None
    when there is none (headers alone are read)."""
    run_part = {k: v for k, v in key.items() if k not in MACHINE_FIELDS}
    for ckpt in sorted((root / "static").glob(f"*/{CHECKPOINT_FILE}")):
        held = checkpoint_resume_keys(ckpt)
        if held is None or {k: v for k, v in held.items() if k not in MACHINE_FIELDS} != run_part:
            continue
        differ = [f"{k} {held.get(k)!r} (this run: {key.get(k)!r})" for k in MACHINE_FIELDS if held.get(k) != key.get(k)]
        how = (f"; to continue it instead, run with torch's {held['threads']} threads (OMP_NUM_THREADS={held['threads']})"
               if differ and all(k == "threads" for k in MACHINE_FIELDS if held.get(k) != key.get(k)) else "")
        return (f"stage 1 is distilled again: the static memories kept in {ckpt.parent} ({checkpoint_iteration(ckpt)} of its "
                f"iterations) are of the same data and settings with {', '.join(differ)}, whose sums round otherwise{how}")
    return None


def last_loss(result: LoopResult, folder: Path | None) -> float:
    """Stage 1's last loss: this process's, else (every iteration was done before) the last one ``folder``'s metrics
    log recorded; NaN when neither has one."""
    if result.last_loss is not None:
        return float(result.last_loss)
    try:
        records = MetricsLog(folder / METRICS_FILE).read() if folder is not None else []
    except Exception:  # noqa: BLE001 - a damaged log costs the number, never the run
        records = []
    losses = [r["loss"] for r in records if isinstance(r, dict) and isinstance(r.get("loss"), (int, float))]
    return float(losses[-1]) if losses else float("nan")


def _stopped(stop: InterruptedRun, iterations: int, folder: Path | None) -> InterruptedRun:
    """The stop of a run inside stage 1, saying what is kept (``folder``'s checkpoint, or nothing) and how to go on."""
    held = checkpoint_iteration(folder / CHECKPOINT_FILE) if folder is not None else None
    kept = (f"{folder} keeps the first {held} of its {iterations} iterations: run the same command again to continue from "
            "there" if held is not None else
            "nothing of it is kept (static_cache=false, or its folder could not be used): run the same command again")
    return InterruptedRun(f"{stop_phrase(stop)} in stage 1 (the static memories); {kept}", signum=stop_signal_number(stop))


def run_static_stage(steps: StaticSteps, img: SyntheticSet, opt: torch.optim.Optimizer, cfg: Any, key: dict[str, Any],
                     root: Path) -> tuple[LoopResult, Path | None]:
    """Run stage 1's ``cfg.static_iterations`` on ``img`` (in place), continuing a checkpoint of ``key`` under
    ``root`` when ``cfg.static_cache``; returns the loop's result and the folder that keeps it (None: nothing kept)."""
    iterations = cfg.static_iterations
    folder: Path | None = stage_folder(root, key) if getattr(cfg, "static_cache", True) and iterations > 0 else None
    lock: RunFolderLock | None = None
    workers = current_workers()
    if folder is not None and not workers.is_writer:
        folder = None  # under torchrun the lead process keeps stage 1; the others compute it as it does
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = RunFolderLock(folder, "stage 1 of mmdistill video-static-dynamic", advice="")  # never waits: runs in memory
            lock.acquire()
        except (OSError, ConfigError) as exc:
            log.info("stage 1 is not kept on disk (%s); it runs in memory", exc)
            folder, lock = None, None
    if folder is not None:  # locked: what a killed checkpoint or log write left here is no running write's
        remove_stale_temporaries(folder, {CHECKPOINT_FILE, METRICS_FILE}, loose_files=True, held=True)
    try:
        with tempfile.TemporaryDirectory(prefix="mmdistill-static-") as scratch:
            resumed = folder is not None and _usable_checkpoint(folder / CHECKPOINT_FILE, img, opt, key)
            if resumed:
                log.info("stage 1: continuing the static memories kept in %s", folder)
            elif folder is not None and (note := kept_on_other_machine(root, key)):
                log.warning(note)
            try:
                result = run_loop(steps, img, opt, iterations=iterations, seed=cfg.seed, out_dir=folder or Path(scratch),
                                  resume_keys=key, checkpoint_every=cfg.checkpoint_every, resume=resumed,
                                  checkpoint_minutes=getattr(cfg, "checkpoint_minutes", None),
                                  progress=cfg.progress and workers.is_writer, desc="stage 1: static memories",
                                  writer=folder is not None)
            except InterruptedRun as stop:
                raise _stopped(stop, iterations, folder) from None
    finally:
        if lock is not None:
            lock.release()
    return result, folder


__all__ = ["CODE_VERSION", "FORMAT", "MACHINE_FIELDS", "StaticSteps", "frames_digest", "kept_on_other_machine", "last_loss", "run_static_stage", "stage_folder", "stage_key"]
