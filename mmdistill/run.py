"""One distillation run from configuration to artifact, for any modality.

``distill`` loads the real data through the adapter, initialises the synthetic set, builds the recipe's
matcher, drives it through the outer loop (checkpointing, resuming), has the evaluation skeleton evaluate the
result next to the baselines of the same size (:mod:`mmdistill.evaluation`) and writes the distilled-set
directory (:mod:`mmdistill.report`).

Under ``torchrun`` (:mod:`mmdistill.distributed`) every process holds the whole synthetic set; a matcher that
shards its work (DM, DC/DSA with ``shard_classes``; MTT/TESLA split each minibatch) spreads it over the ranks
and sums their gradients, the evaluation spreads its runs, and rank 0 alone writes the checkpoint, the log and
the artifact. A matcher that does not shard is refused with several processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from mmdistill.context import MatchContext
from mmdistill.atomic import remove_stale_temporaries
from mmdistill.cache_dir import home_folder
from mmdistill.data_identity import DATA_KEY, IDENTITY_KEYS, run_identities
from mmdistill.devices import resolve_device
from mmdistill.distributed import Workers, broadcast_json, close_workers, init_workers
from mmdistill.errors import AlreadyFinished, ConfigError
from mmdistill.integrity import written_as_recorded
from mmdistill.io import CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE, PREVIEW_FILE, RUN_RECORD, STATUS_FILE, SYNTHETIC_FILE, nearest_existing, require_writable
from mmdistill.json_text import json_file_text, parse_json
from mmdistill.keys import resume_values
from mmdistill.labels import apply_label_mode
from mmdistill.loop import Matcher, changed_keys, checked_matcher, checkpoint_iteration, checkpoint_resume_keys, run_loop
from mmdistill.memory import check_fits
from mmdistill.modality import Modality, checked_set
from mmdistill.optim import synthetic_optimizer
from mmdistill.report import add_sharing_blocks, new_manifest, write_artifact
from mmdistill.resolve import explicit_values
from mmdistill.run_lock import RunFolderLock
from mmdistill.run_status import RunStatus, recorded
from mmdistill.schema import DistillConfig
from mmdistill.seeding import generator, seeded_run
from mmdistill.stop_signals import GO_ON, stop_says
from mmdistill.synthetic import SyntheticSet
from mmdistill.validation import load_data
from mmdistill.words import quantity

log = logging.getLogger(__name__)

MatcherFactory = Callable[[MatchContext], Matcher]
OptimizerFactory = Callable[[SyntheticSet, Any], torch.optim.Optimizer]


@dataclass
class RunResult:
    """A finished (or stopped) run: its directory, the synthetic set (detached, on the CPU;
    None for a run that trains on a set instead of distilling one, such as clip-finetune) and its manifest."""

    out_dir: Path
    synthetic: SyntheticSet | None
    manifest: dict[str, Any]

    def __repr__(self) -> str:
        """One line: the folder, the set's shapes and the manifest's recipe and dataset, not the tensors' values."""
        m = self.manifest
        return (f"RunResult(out_dir={str(self.out_dir)!r}, synthetic={self.synthetic!r}, manifest=<recipe "
                f"{m.get('recipe', '?')!r}, dataset {m.get('dataset', '?')!r}, {len(m)} keys>)")


def check_writable(out: Path) -> None:
    """ConfigError naming ``out`` when it cannot hold a run: a file, under a file, or not writable — checked
    before any data is loaded."""
    parent = nearest_existing(out)
    if parent is None:
        return
    if not parent.is_dir():
        where = "is a file" if parent == out else f"lies under the file {parent}"
        raise ConfigError(f"output folder {out} {where}; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {out}: {parent} is not writable by this user; choose another --out")


#: files a run writes into its folder beside the checkpoint, manifest and log (a folder that holds no run but has
#: one of them is someone else's: a run would replace it)
RUN_FILES = ("README.md", PREVIEW_FILE, "loss.png", "accuracy.png", "memorisation.png", SYNTHETIC_FILE)


def _foreign_files(out: Path) -> list[str]:
    """The files of ``out`` (a folder that holds no run) that a run would replace: :data:`RUN_FILES`, and a
    ``metrics.jsonl`` that is not a run's log (the log a run killed before its first checkpoint leaves is its own)."""
    found = [name for name in RUN_FILES if os.path.lexists(out / name)]
    log_file = out / METRICS_FILE
    if os.path.lexists(log_file):
        try:
            with open(log_file, encoding="utf-8") as fh:
                first = fh.readline()
            ours = not first.strip() or first.startswith('{"it": ')  # MetricsLog's lines (a kill may cut one short)
        except (OSError, ValueError):
            ours = False
        if not ours:
            found.append(METRICS_FILE)
    return found


def _listed(manifest: Path) -> tuple[list[str], dict[str, Any]]:
    """The plain file names the ``manifest`` lists as written beside the set (``written_files``; nothing outside the
    folder) and their recorded SHA-256 (``written_file_sha256``); empty for a manifest that cannot be read or
    predates the list."""
    try:
        found = parse_json(json_file_text(manifest))
        names, hashes = found.get("written_files", []), found.get("written_file_sha256", {})
    except (OSError, ValueError, AttributeError):
        return [], {}
    if not isinstance(names, list) or not isinstance(hashes, dict):
        return [], {}
    return [n for n in names if isinstance(n, str) and n not in ("", ".", "..") and n == Path(n).name], hashes


def written_files(manifest: Path) -> list[str]:
    """The files beside the set, other than :data:`RUN_FILES` (a run's own names, removed by name: ``eval --write``
    rewrites the card and accuracy.png after the run), that the run of ``manifest`` wrote and that are still as it wrote them (its
    ``written_files``, the modality's own pictures and views too, a video's ``preview.gif``, whose content still has
    the SHA-256 the manifest recorded); plain names only, so nothing outside the folder is named. A listed file whose
    content differs, or that an older manifest lists without its hash, is left where it is, with a warning: a
    manifest is input, and ``--overwrite`` removes only what the run wrote. Empty for a manifest that cannot be read
    or predates the list (:data:`RUN_FILES` still applies)."""
    names, hashes = _listed(manifest)
    out, left = written_as_recorded(manifest.parent, [n for n in names if n not in RUN_FILES], hashes)
    if left:
        log.warning("%s lists %s as written by its run, but %s not the content it recorded: not removed (the new run replaces "
                    "a file of a name it writes; remove by hand what is the old run's)", manifest, ", ".join(left),
                    "that is" if len(left) == 1 else "those are")
    return out


def _set_iterations(manifest: Path) -> int | None:
    """The iterations the finished set of ``manifest`` was distilled for (its ``timing``); None when it does not say."""
    try:
        found = parse_json(json_file_text(manifest)).get("timing", {}).get("iterations")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def remove_stale_temporaries_of_run(out: Path, holds_run: bool = True) -> None:
    """Remove what writes of a killed run left in its folder ``out`` (locked: no other writer): the temporaries of
    :func:`mmdistill.atomic.atomic_path` (``.accuracy.png.k3j_x9a2.tmp``, a folder, or a file from an earlier
    mmdistill) of the run's own files (:data:`RUN_FILES`, the manifest, checkpoint and metrics log, and what its
    manifest lists as written), and, in a folder that holds a run, safetensors' own ``.tmpXXXXXX`` files; logged. A run,
    ``eval --write`` and ``check`` call it once they hold the folder's lock."""
    own = {*RUN_FILES, *RUN_RECORD, *_listed(out / MANIFEST_FILE)[0]}
    remove_stale_temporaries(out, own, loose_files=holds_run, held=True)


def prepare_out_dir(out: Path, cfg: Any, resume_keys: dict[str, Any] | None = None,
                    lock: RunFolderLock | None = None) -> Path | None:
    """Create ``out`` for a run; returns the outermost folder this call created (``out`` or one of its parents: an
    early failure removes it and what it made below, :func:`remove_if_unused`), None when ``out`` existed. With
    ``lock`` (:class:`~mmdistill.run_lock.RunFolderLock` of ``out``) the folder is locked before anything in it is
    looked at or removed (an existing one) or as soon as it exists (a new one); a folder another process holds is
    refused naming it, and a refusal here lets go of the lock again.

    A folder that holds a run is refused unless ``overwrite`` (start over) or ``resume``; ``resume`` is refused
    too when the folder holds a finished set and no checkpoint to continue from, a finished run whose checkpoint
    has all of ``cfg.iterations`` (nothing to continue), a checkpoint with more iterations than ``cfg.iterations``,
    or a checkpoint of another configuration (``resume_keys``, the values of the keys that change the
    distillation, differ from the checkpoint's; the changed keys are named). A folder that holds no run but files a
    run would replace (README.md, preview.png ...) is refused even with ``overwrite``: nothing is replaced silently."""
    check_writable(out)
    if lock is not None and out.is_dir():
        lock.acquire()
    created = None
    try:
        created = _prepare_out_dir(out, cfg, resume_keys)
        if lock is not None:
            lock.acquire()
    except BaseException:
        if lock is not None:
            lock.release()
        if created is not None:  # a lock that cannot be written (a full disk): no empty folder is left behind
            remove_if_unused(out, created)
        raise
    return created


def _prepare_out_dir(out: Path, cfg: Any, resume_keys: dict[str, Any] | None) -> Path | None:
    """:func:`prepare_out_dir`'s checks and folder creation."""
    ckpt, manifest = out / CHECKPOINT_FILE, out / MANIFEST_FILE
    holds_run = os.path.lexists(ckpt) or os.path.lexists(manifest)
    real, home = Path(os.path.realpath(out)), home_folder()  # None: a user id without one (a container's --user)
    shared = ("the filesystem root" if real == Path(real.anchor) else "your home folder" if home is not None and real == home.resolve()
              else "the working folder or one above it" if Path.cwd().resolve().is_relative_to(real) else "")
    if shared and not holds_run:  # walk 39D: --out / wrote the run's files into / among everything else
        raise ConfigError(f"--out {out} is {shared}: a run's files would lie loose among everything there; choose a folder "
                          "of its own (e.g. runs/NAME)")
    if out.is_dir() and not holds_run:
        foreign = _foreign_files(out)
        if foreign:
            raise ConfigError(f"output folder {out} holds no mmdistill run but has files a run would replace "
                              f"({', '.join(foreign)}); choose a new or empty --out (--overwrite only replaces a run)")
    if out.is_dir() and (cfg.resume or cfg.overwrite or not holds_run):  # a kill at the first checkpoint too
        remove_stale_temporaries_of_run(out, holds_run)
    if holds_run and not cfg.resume:
        if not cfg.overwrite:
            raise ConfigError(
                f"{out} already holds a run; pass resume=true (--resume) to continue it, overwrite=true "
                "(--overwrite) to start over, or choose another out"
            )
        for name in (*written_files(manifest), *RUN_RECORD, *RUN_FILES):  # none survives to mix in
            (out / name).unlink(missing_ok=True)
    if cfg.resume and not cfg.overwrite:
        if manifest.exists() and not ckpt.exists():
            raise ConfigError(f"{out} holds a finished set ({MANIFEST_FILE}) and no {CHECKPOINT_FILE} to resume from; "
                              "pass --overwrite to replace it, or choose another --out")
        if ckpt.exists() and resume_keys is not None:
            saved = checkpoint_resume_keys(ckpt, resume_keys)  # None: damaged or older; loading it names why
            saved = {k: v for k, v in saved.items() if k not in (*IDENTITY_KEYS, "data_root")} if saved is not None else None  # once loaded
            changed = changed_keys(saved, {k: v for k, v in resume_keys.items() if k != "data_root"}) if saved is not None else []
            if changed:
                raise ConfigError(f"cannot resume {ckpt}: keys that change the distillation differ from the run that wrote it "
                                  f"({'; '.join(changed)}); use the checkpoint's values, pass --overwrite to start over, "
                                  "or choose another --out")
        done = checkpoint_iteration(ckpt) if ckpt.exists() else None  # None: damaged; loading it names why
        total = getattr(cfg, "iterations", None)
        if done is not None and total is not None and done > total:
            raise ConfigError(f"cannot resume {ckpt}: it holds {done} iterations, more than iterations={total}; "
                              f"resume with iterations >= {done}, or pass --overwrite to start over")
        if done is not None and done == total and manifest.exists():
            written = _set_iterations(manifest)  # fewer than the checkpoint's: a continued run stopped before its set was written
            if written is None or written >= done:
                raise AlreadyFinished(f"{out} holds a finished run ({done} of {total} iterations): nothing to resume. Raise "
                                  f"iterations to continue distilling it, re-evaluate it with `mmdistill eval {out}`, or pass "
                                  "--overwrite to start over")
            log.info("%s holds the set of %d iterations and a checkpoint of %d: the checkpoint's set is evaluated and written in "
                     "its place (a continued run stopped before its set was written)", out, written, done)
    if cfg.resume and not os.path.lexists(ckpt):
        log.info("%s has no %s to resume from: the run starts at iteration 0", out, CHECKPOINT_FILE)
    created = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)  # the outermost missing folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output folder {out} cannot be written ({exc.strerror or exc}); choose another --out") from None
    # probed under a new name (mkstemp's O_EXCL): no link a received folder holds is followed, no two runs share a probe
    require_writable(out, why="choose another --out")
    return created


def remove_if_unused(out: Path, created: Path | None = None) -> None:
    """Remove a run folder this run created when it holds nothing worth keeping (no checkpoint, no manifest), and
    the empty parents it made for it up to ``created`` (:func:`prepare_out_dir`'s outermost new folder; default
    ``out``): ``--out new/sub`` that fails early leaves neither ``new/sub`` nor ``new``."""
    if (out / CHECKPOINT_FILE).exists() or (out / MANIFEST_FILE).exists():
        return
    for name in (METRICS_FILE, STATUS_FILE):
        (out / name).unlink(missing_ok=True)
    top = created if created is not None else out
    for folder in [out, *out.parents]:
        try:
            folder.rmdir()
        except OSError:
            return  # something else is in it: keep it and its parents
        if folder == top:
            return


def distill(
    recipe: str,
    method: str,
    cfg: DistillConfig,
    modality: Modality,
    make_matcher: MatcherFactory,
    make_optimizer: OptimizerFactory | None = None,
    *,
    stop_after: int | None = None,
    paper: str = "",
) -> RunResult:
    """Run recipe ``recipe`` (method ``method``) with ``cfg`` on ``modality`` and write its artifact.

    ``stop_after`` stops the loop after that many iterations (leaving a resumable checkpoint and no
    artifact), which is how tests interrupt a run.
    """
    started = time.perf_counter()
    workers = init_workers(resolve_device(cfg.device))
    out = cfg.out_dir(recipe)
    # the values as given, before the run derives any (an experts' batch_train=None sized from the data): the
    # checkpoint stores these and a resume compares these, before loading anything and again at the checkpoint
    resume_keys = resume_values(cfg)
    try:
        with seeded_run(cfg.seed):  # the caller's global generators and torch modes given back after (walk 42C)
            with locked_out_dir(out, f"mmdistill run {recipe}", cfg, resume_keys, workers), recorded(
                    RunStatus(out, f"mmdistill run {recipe}", cfg.iterations, workers.is_writer)) as status:
                workers.barrier()
                result = _distill(recipe, method, cfg, modality, make_matcher, make_optimizer, out=out, device=workers.device, started=started,
                                  stop_after=stop_after, paper=paper, workers=workers, resume_keys=resume_keys, status=status)
                workers.barrier()
                return result
    finally:
        close_workers(workers)


@contextlib.contextmanager
def locked_out_dir(out: Path, what: str, cfg: Any, resume_keys: dict[str, Any] | None = None,
                   workers: Workers = Workers()) -> Iterator[Path | None]:
    """``out`` prepared (:func:`prepare_out_dir`, by the writing rank of ``workers``) and locked for ``what``
    (``"mmdistill run image-dm"``) inside the block, which gets the outermost folder this created (None: ``out``
    existed). A refusal of the folder is the same ConfigError on every rank. When the preparation or the block
    fails, the lock is let go of first and then the folder it created removed unless it holds a checkpoint or a
    set (:func:`remove_if_unused`); the lock is let go of after the block in any case."""
    lock = RunFolderLock(out, what)
    created: Path | None = None
    try:
        refused: ConfigError | None = None
        if workers.is_writer:
            try:
                created = prepare_out_dir(out, cfg, resume_keys, lock)
            except ConfigError as exc:
                refused = exc
        said: Any = broadcast_json(None if refused is None else [isinstance(refused, AlreadyFinished), str(refused)], workers)  # every rank
        if refused is not None:
            raise refused
        if said is not None:  # rank 0 refused the folder: the same one line here, not a broken connection at the barrier
            raise (AlreadyFinished if said[0] else ConfigError)(str(said[1]))
        yield created
    except BaseException:
        lock.release()  # before the folder it made may be removed
        if created is not None:
            remove_if_unused(out, created)
        raise
    lock.release()


def not_sharded(recipe: str, cfg: Any) -> str:
    """The refusal of a run under torchrun whose matching does not shard."""
    experts = (" (an expert buffer it trained first is kept: `mmdistill experts` shards that)"
               if getattr(cfg, "num_experts", None) is not None else "")  # only trajectory recipes have experts
    return (f"{recipe} does not shard its matching over processes (DM, DC and DSA on images, audio and video do with "
            f"shard_classes=true, MTT and TESLA with a classification student); start it without torchrun{experts}")


def _distill(recipe: str, method: str, cfg: Any, modality: Modality, make_matcher: MatcherFactory, make_optimizer: OptimizerFactory | None,
             *, out: Path, device: torch.device, started: float, stop_after: int | None, resume_keys: dict[str, Any], paper: str = "",
             workers: Workers = Workers(), status: RunStatus | None = None) -> RunResult:
    if workers.world > 1 and getattr(modality, "shards_matching", True) is False:  # before loading and pretraining
        raise ConfigError(not_sharded(recipe, cfg))
    data = modality.to_device(load_data(modality, cfg), device)
    if cfg.evaluate:
        modality.check_evaluation(cfg, data)  # a network that cannot take the samples stops the run before distilling
    task = modality.task(cfg)
    syn = checked_set(modality, modality.init_synthetic(data, cfg, generator(cfg.seed, "init")), data)
    syn.to(device).requires_grad_(True)
    net = modality.matching_network(cfg, data).to(device)
    resume_keys = {**resume_keys, **run_identities(data, net)}  # a resume on other data or an edited network: refused at the checkpoint
    if DATA_KEY in resume_keys:  # saved with the set: eval/check warn when the data changed since (data_identity.warn_other_data)
        syn.meta[DATA_KEY] = resume_keys[DATA_KEY]
    strategy = cfg.matching_augmentation()
    augment = modality.augmenter(strategy, getattr(data, "name", cfg.dataset)) if strategy else None
    if strategy and augment is None and strategy.lower() != "none":  # a modality without augmentation (the contract allows it): nothing claims it ran
        log.warning("dsa (strategy %r) has no effect: modality %s has no augmentation; the set is matched without it",
                    strategy, modality.name)
    ctx = MatchContext(config=cfg, data=data, modality=modality, net=net, augment=augment, task=task, device=device,
                       syn=syn, out_dir=out, workers=workers)
    matcher = checked_matcher(make_matcher(ctx), make_matcher, recipe)
    if workers.world > 1 and not getattr(matcher, "sharded", False):
        raise ConfigError(not_sharded(recipe, cfg))
    if cfg.label_spec().mode != "hard" and syn.label_mode == "hard":  # the factory did not assign labels itself
        apply_label_mode(ctx)
    syn.requires_grad_(True)  # labels may have become learnable
    optimizer = (make_optimizer or synthetic_optimizer)(syn, cfg)
    estimate = getattr(matcher, "memory_estimate", None)  # matchers that can estimate their iteration say so
    if estimate is not None and (plan := estimate(syn, optimizer)) is not None:
        check_fits(plan, device, enforce=getattr(cfg, "memory_check", True))
    log.info("%s: %s, %s, %s on %s%s", recipe, modality.describe(data),
             quantity(len(syn), "synthetic " + getattr(modality, "sample_noun", "sample")), quantity(cfg.iterations, "iteration"), device, f" (rank {workers.rank} of {workers.world})" if workers.world > 1 else "")
    if device.type == "cpu" and cfg.budget == "paper" and workers.is_writer and "iterations" not in (explicit_values(cfg) or {}):
        log.warning("these are the paper's settings, sized for a GPU; on a CPU the run can take hours. "
                    "--budget cpu shrinks it (the progress bar shows the estimate).")
    loop = run_loop(
        matcher, syn, optimizer, iterations=cfg.iterations, seed=cfg.seed, out_dir=out,
        resume_keys=resume_keys, checkpoint_every=cfg.checkpoint_every, checkpoint_minutes=getattr(cfg, "checkpoint_minutes", None),
        resume=cfg.resume, progress=cfg.progress and workers.is_writer, desc=f"{recipe}, {len(syn)} synthetic",
        stop_after=stop_after, writer=workers.is_writer, select=getattr(matcher, "selector", None), status=status)
    manifest = new_manifest(recipe=recipe, method=method, modality=modality, dataset=getattr(data, "name", cfg.dataset),
                            cfg=cfg, syn=syn, extra={"paper": paper} if paper else None)
    # seconds: distillation over every process that ran it; seconds_before_resume: its part before this process resumed;
    # total_seconds (below): this process's wall time plus that part, so it is never less than the distillation's
    manifest["timing"] = {"seconds": loop.seconds, "iterations": loop.iterations, "resumed_from": loop.resumed_from,
                          "seconds_before_resume": loop.seconds_before}
    if loop.selection is not None:
        manifest["selection"] = loop.selection
    if loop.iterations < cfg.iterations:
        log.info("stopped after %d of %d iterations; resume with --resume --out %s (from Python: resume=True, out=%r)",
                 loop.iterations, cfg.iterations, out, str(out))
        return RunResult(out, syn.detached().to("cpu"), manifest)  # on the CPU, as a finished run's set
    final = syn.detached().to("cpu")
    # a stop from here on (a notebook's stop button while evaluating) says that the distillation is kept, not a bare Ctrl-C
    with stop_says(f"the distillation had finished: the checkpoint {out / CHECKPOINT_FILE} holds all {cfg.iterations} "
                   f"iterations: {GO_ON}; it evaluates and writes the set without distilling again"):
        if cfg.evaluate:
            t_eval = time.perf_counter()
            manifest["metrics"] = modality.evaluate(cfg, final, data, device)
            manifest["timing"]["eval_seconds"] = time.perf_counter() - t_eval
        if not workers.is_writer:  # rank 0 writes the artifact
            return RunResult(out, final, manifest)
        if getattr(cfg, "memorisation", True):
            t_mem = time.perf_counter()
            add_sharing_blocks(manifest, modality, cfg, final, data, out)
            manifest["timing"]["memorisation_seconds"] = time.perf_counter() - t_mem
        manifest["timing"]["total_seconds"] = time.perf_counter() - started + loop.seconds_before
        write_artifact(out, final, manifest, modality)
    return RunResult(out, final, manifest)


__all__ = ["MatcherFactory", "OptimizerFactory", "RunResult", "check_writable", "distill", "locked_out_dir", "prepare_out_dir",
           "remove_if_unused", "remove_stale_temporaries_of_run", "written_files"]
