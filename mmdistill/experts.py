"""Training expert trajectories for trajectory matching (MTT, TESLA) into a buffer (:mod:`mmdistill.buffer`).

An *expert* is a network trained on the real training set; its *trajectory* is its flattened parameter
vector after every epoch (row 0 is the initialisation).

Training is resumable per expert (a finished shard is kept and skipped; an unfinished expert continues from
its last completed epoch, kept in ``expert_NNNN.partial.safetensors``) and shards across processes: under
``torchrun --nproc_per_node K`` (``torch.distributed``: gloo on CPU, nccl on GPU) expert ``i`` is trained by
rank ``i % K``, so no expert is trained twice or lost, and every expert is seeded by its index alone: the
buffer is the same whatever the number of processes.

The modality supplies what an epoch of training is (``train_epoch``); the core supplies the loop, the files
and the checks. Nothing here knows about pixels, waveforms, graphs or captions.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mmdistill.buffer import (FORMAT, INDEX_FILE, UNRECORDED_OK, ExpertBuffer, ExpertSpec, ParamLayout, as_recorded, buffer_finished, read_shard_header,
                              partial_name, recorded_spec, remove_claimed_temporaries, remove_stale_buffer_temporaries, shard_name, spec_mismatch, unchecked_fields,
                              validate_index)
from mmdistill.concurrency import draws_global_randomness, run_jobs, stop_point
from mmdistill.distributed import Workers, close_workers, init_workers
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.expert_partial import checked_partial
from mmdistill.expert_seed import SEED_FILE, buffer_seed
from mmdistill.header_metadata import read_header_metadata
from mmdistill.io import atomic_path, load_tensors_with_metadata, read_json, save_tensors
from mmdistill.json_text import parse_json
from mmdistill.logs import progress_bar
from mmdistill.run_lock import FolderInUse, RunFolderLock
from mmdistill.seeding import derive_seed, generator, seeded_global_rng

log = logging.getLogger(__name__)


@dataclass
class ExpertTraining:
    """How each expert is trained (MTT's buffer.py defaults: 100 experts, 50 epochs, plain SGD with lr 0.01,
    no momentum, no weight decay, batch 256, DSA on the real images)."""

    num_experts: int = 100
    epochs: int = 50
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 256
    augment: str = "none"
    seed: int = 0
    group_lrs: dict[str, float] | None = None
    """learning rate per parameter group when a modality's optimizer has several (bi-trajectory: image
    encoder and text projection); recorded so a buffer trained otherwise is refused"""

    def __post_init__(self) -> None:
        if self.num_experts < 1:
            raise ConfigError(f"num_experts must be >= 1, got {self.num_experts}")
        if self.epochs < 1:
            raise ConfigError(f"expert training epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0 or self.batch_size < 1:
            raise ConfigError(f"lr_teacher must be > 0 and batch_train >= 1, got lr {self.lr}, batch {self.batch_size}")


# --------------------------------------------------------------------------- training
EpochFn = Callable[[nn.Module, torch.optim.Optimizer, torch.Generator], float]
"""``train_epoch(net, optimizer, gen) -> mean training loss``: one epoch on the real training set."""
OptimizerFn = Callable[[nn.Module], torch.optim.Optimizer]
"""``make_optimizer(net) -> optimizer`` of an expert (default: SGD over the trainable parameters)."""


def default_expert_optimizer(training: "ExpertTraining") -> OptimizerFn:
    """MTT's expert optimizer: SGD with ``training``'s lr, momentum and weight decay over the trainable parameters."""
    return lambda net: torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=training.lr,
                                       momentum=training.momentum, weight_decay=training.weight_decay)


def train_experts(
    out_dir: str | Path,
    spec: ExpertSpec,
    training: ExpertTraining,
    make_net: Callable[[torch.Generator], nn.Module],
    train_epoch: EpochFn,
    *,
    score: Callable[[nn.Module], float] | None = None,
    make_optimizer: OptimizerFn | None = None,
    workers: Workers = Workers(),
    progress: bool = True,
    threads: int = 1,
) -> "ExpertBuffer":
    """Train the experts of ``training`` that this rank owns, then (rank 0, after every rank is done) write
    the index; returns the finished buffer (on every rank).

    ``make_net(gen)`` builds a freshly initialised network on the training device; ``train_epoch`` trains it
    for one epoch with the optimizer of ``make_optimizer(net)`` (default: :func:`default_expert_optimizer`);
    ``score(net)`` (optional) is logged per epoch in the index (e.g. test accuracy).
    Expert ``i`` draws its initialisation from ``generator(seed, "expert", i)`` and epoch ``e`` its order
    and augmentation from ``generator(seed, "expert", i, "epoch", e)``, and a network that draws from torch's
    global generator (dropout) has it seeded for the epoch with ``(seed, "expert", i, "epoch", e, "global")``
    (restored after), so a resumed, re-sharded or grown buffer holds the same trajectories as one made in one go. Each
    expert is trained under its claim (:func:`_train_claimed`): processes training one buffer at once share its experts
    out, one waiting at the end for those another is still training. With ``threads`` > 1 that many experts train at the same time
    (:func:`mmdistill.concurrency.run_jobs`, each on its share of the intra-op threads; only for experts whose
    epochs draw nothing from torch's global generator, the caller's guarantee).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the expert buffer {out} is a file; expected a directory (new or made by `mmdistill experts`)")
    out.mkdir(parents=True, exist_ok=True)
    training = dataclasses.replace(training, seed=buffer_seed(out, training.seed))  # the first trainer's (several seeds share it)
    held, spec = _check_existing_index(out, spec, training)
    if held > training.num_experts:  # never shrink a finished buffer: its index keeps every expert it lists
        log.warning("%s already holds %d experts, more than num_experts=%d; it keeps all %d", out, held, training.num_experts, held)
        training = dataclasses.replace(training, num_experts=held)
    if workers.rank == 0:
        _log_plan(out, training, workers.world)
    header = _header(spec, training)
    mine = workers.mine(range(training.num_experts))
    remove_stale_buffer_temporaries(out, mine, index=workers.rank == 0)  # of a killed write; never another's running one
    bar = progress_bar(total=len(mine) * training.epochs, desc=f"experts (rank {workers.rank}/{workers.world})" if workers.world > 1 else "experts",
               disable=not progress)
    optimizer = make_optimizer or default_expert_optimizer(training)
    train = {i: functools.partial(_train_one, out, i, header, spec, training, make_net, train_epoch, score, optimizer, workers, bar)
             for i in mine}
    waiting: list[int] = []  # experts another process is training: taken up after this process's others
    try:
        run_jobs([functools.partial(_train_claimed, out, i, train[i], waiting) for i in mine], threads)
        for i in sorted(waiting):
            _train_claimed(out, i, train[i], None)
    finally:
        bar.close()
    _wait_for_shards(out, training.num_experts, workers)  # outside any collective: an expert may train for hours
    workers.barrier()
    if workers.rank == 0:
        write_index(out, spec, training)
    workers.barrier()
    return ExpertBuffer(out)


SHARD_POLL_SECONDS = 5.0
"""How often a rank done with its experts looks for the shards of the others (:func:`_wait_for_shards`)."""


def _wait_for_shards(out: Path, count: int, workers: Workers) -> None:
    """Under torchrun, wait until the shard of every expert below ``count`` is in ``out``, looking every
    :data:`SHARD_POLL_SECONDS`: the ranks own different experts (``count`` % K of them one more, and experts differ in
    time), and a rank that waited for the others in a barrier would fail when they take longer than the process
    group's timeout (:data:`mmdistill.distributed.GROUP_TIMEOUT`; in a group the caller created, torch's default of 10
    minutes under nccl). A rank that fails ends this one through torchrun (SIGTERM), so this wait does not outlive it."""
    if workers.world <= 1:
        return
    pending = [i for i in range(count) if not (out / shard_name(i)).exists()]
    if pending:
        log.info("rank %d: waiting for %d expert%s the other processes train (%s)", workers.rank, len(pending),
                 "s" * (len(pending) != 1), ", ".join(map(str, pending[:8])) + (" ..." if len(pending) > 8 else ""))
    while pending:
        time.sleep(SHARD_POLL_SECONDS)
        pending = [i for i in pending if not (out / shard_name(i)).exists()]


def claim_name(expert: int) -> str:
    """The lock file in a buffer folder of the process training expert ``expert``: ``.expert_0007.claim``."""
    return f".expert_{expert:04d}.claim"


def _train_claimed(out: Path, i: int, train: Callable[[], None], waiting: list[int] | None) -> None:
    """Train expert ``i`` (``train``) holding its claim in buffer ``out`` (:func:`claim_name`), so processes training
    one buffer at once (a sweep sharing ``--buffer``, ``experts`` beside a ``run``) share its experts out instead of
    each training all of them. When another process holds the claim, ``i`` goes to ``waiting``; with ``waiting``
    None, this waits for that process, then finds its shard (or continues its partial expert, if it stopped). An
    expert whose shard is there is not claimed (a finished buffer in a folder this process cannot write)."""
    if (out / shard_name(i)).exists():
        train()
        return
    claim = RunFolderLock(out, f"training expert {i}", advice="", name=claim_name(i))
    try:
        claim.acquire(wait=waiting is None)
    except FolderInUse as exc:
        if waiting is None:  # not raised while waiting
            raise
        log.info("expert %d is being trained by %s; this process takes it up after its other experts", i, exc.holder)
        waiting.append(i)
        return
    try:  # the claim's holder alone writes expert i's files: a temporary of them is a killed write's, however fresh
        remove_claimed_temporaries(out, i)
        train()
    finally:
        claim.release()


def _log_plan(out: Path, training: ExpertTraining, world: int) -> None:
    """What this call trains, after the buffer was checked: the experts whose shards are missing, of how many."""
    n = training.num_experts
    there = sum((out / shard_name(i)).exists() for i in range(n))
    if there == n:
        log.info("%s holds all %d experts of %d epochs; nothing to train", out, n, training.epochs)
        return
    partial = sum((out / partial_name(i)).exists() and not (out / shard_name(i)).exists() for i in range(n))
    log.info("training %d of %d experts for %d epochs into %s%s%s%s", n - there, n, training.epochs, out,
             f" ({there} already there)" if there else "", f" ({partial} continuing from their finished epochs)" if partial else "",
             f" on {world} processes" if world > 1 else "")


def _header(spec: ExpertSpec, training: ExpertTraining) -> dict[str, Any]:
    return {"format": FORMAT, "spec": spec.as_json(), "training": dataclasses.asdict(training)}


def _same_setting(saved: dict[str, Any], header: dict[str, Any]) -> bool:
    """Whether the shard header ``saved`` describes the experts of ``header``, whatever the buffer's number of
    experts; spec fields ``saved`` does not record (:data:`~mmdistill.buffer.UNRECORDED_OK`, a shard written by an
    older mmdistill) are not compared."""
    saved_spec = recorded_spec(saved)
    unrecorded = {k for k in UNRECORDED_OK if saved_spec.get(k) is None}
    datas = [h.get("spec", {}).get("data") for h in (saved, header) if isinstance(h.get("spec"), dict)]
    common = set.intersection(*(set(d) for d in datas)) if len(datas) == 2 and all(isinstance(d, dict) for d in datas) else None

    def strip(h: dict[str, Any]) -> dict[str, Any]:
        spec = {k: v for k, v in (h.get("spec") or {}).items() if k not in unrecorded}
        if common is not None:  # fingerprint fields one side records and the other does not (added since): not compared
            spec["data"] = {k: v for k, v in spec["data"].items() if k in common}
        return {**h, "spec": spec, "training": {k: v for k, v in (h.get("training") or {}).items() if k != "num_experts"}}
    return strip(saved) == strip(header)


def _check_existing_index(out: Path, spec: ExpertSpec, training: ExpertTraining) -> tuple[int, ExpertSpec]:
    """Refuse to add experts to a buffer trained for something else; the number of experts it lists (0: none) and
    the spec to write: ``spec``, less the fields an older buffer does not record (its index never claims a training
    data fingerprint its first experts were not checked against)."""
    if not buffer_finished(out):
        return 0, spec
    index = validate_index(read_json(out / INDEX_FILE), out / INDEX_FILE)
    mismatch = spec_mismatch(index.get("spec", {}), spec)
    if mismatch:
        raise ConfigError(f"{out} holds experts for another setting ({mismatch}); choose another buffer directory")
    old = {k: v for k, v in index.get("training", {}).items() if k != "num_experts"}
    new = {k: v for k, v in dataclasses.asdict(training).items() if k != "num_experts"}
    if old != new:
        diff = ", ".join(f"{k}: buffer {old.get(k)!r} vs asked {new[k]!r}" for k in new if old.get(k) != new[k])
        raise ConfigError(f"{out} holds experts trained differently ({diff}); choose another buffer directory")
    return len(index["experts"]), as_recorded(spec, index.get("spec", {}))


def _train_one(out: Path, i: int, header: dict[str, Any], spec: ExpertSpec, training: ExpertTraining,
               make_net: Callable[[torch.Generator], nn.Module], train_epoch: EpochFn,
               score: Callable[[nn.Module], float] | None, make_optimizer: OptimizerFn, workers: Workers, bar: tqdm) -> None:
    final = out / shard_name(i)
    if _kept_shard(final, header, i, training.epochs, spec.layout.num_params):
        bar.update(training.epochs)
        return
    net = make_net(generator(training.seed, "expert", i))
    layout = ParamLayout.of(net)
    if layout != spec.layout:
        raise ConfigError(f"the network built for expert {i} does not have the layout of the buffer's spec")
    opt = make_optimizer(net)
    rows, scores, seconds = [layout.flatten(net).cpu()], [], 0.0
    partial = out / partial_name(i)
    if partial.exists():
        rows, scores, seconds, saved_spec = _resume_partial(partial, net, opt, layout, header, i)
        bar.update(len(rows) - 1)
        if unchecked := unchecked_fields(saved_spec, spec):  # an older mmdistill's partial expert: its shard claims no more
            log.warning("%s (an interrupted expert of an older mmdistill) does not record %s: it is continued, and its shard "
                        "and the buffer's index do not claim them", partial, ", ".join(unchecked))
            header = _header(as_recorded(spec, saved_spec), training)
    dropout = draws_global_randomness(net, spec.sample_shape)  # else the global generator is left alone (experts may train on threads)
    devices = list({p.device for p in net.parameters()})
    for epoch in range(len(rows) - 1, training.epochs):
        stop_point()  # on a thread of run_jobs: ends here once the command is interrupted (its partial file is kept)
        t0 = time.perf_counter()
        net.train()
        with (seeded_global_rng(derive_seed(training.seed, "expert", i, "epoch", epoch, "global"), devices) if dropout
              else nullcontext()):
            loss = train_epoch(net, opt, generator(training.seed, "expert", i, "epoch", epoch))
        if not torch.isfinite(torch.tensor(loss)):
            raise ConfigError(f"expert {i} diverged in epoch {epoch} (training loss {loss}); lower lr_teacher")
        rows.append(layout.flatten(net).cpu())
        scores.append(None if score is None else float(score(net)))
        seconds += time.perf_counter() - t0
        if scores[-1] is not None:  # before the update that draws it
            bar.set_postfix(expert=i, loss=f"{loss:.3f}", score=f"{scores[-1]:.3f}", refresh=False)
        bar.update(1)
        if epoch + 1 < training.epochs:
            _save_partial(partial, rows, opt, scores, seconds, header, i)
    if _kept_shard(final, header, i, training.epochs, spec.layout.num_params):  # another process (a run, `mmdistill
        partial.unlink(missing_ok=True)  # experts`) finished it meanwhile, seeded by its index: the same trajectory
        return
    meta = {"format": FORMAT, "expert": str(i), "epochs": str(training.epochs), "rank": str(workers.rank),
            "scores": json.dumps(scores), "seconds": repr(seconds), "header": json.dumps(header)}
    save_tensors(final, {"trajectory": torch.stack(rows)}, metadata=meta)
    partial.unlink(missing_ok=True)


def _kept_shard(final: Path, header: dict[str, Any], i: int, epochs: int, num_params: int) -> bool:
    """Whether ``final`` holds a readable expert ``i`` of this setting (kept as it is); ConfigError when it holds one
    trained otherwise (kept, never replaced); False when there is none, or a damaged one (a warning: this process's
    training of the expert replaces it, atomically)."""
    if not final.exists():
        return False
    _check_shard_setting(final, header)
    try:
        read_shard_header(final, i, epochs, num_params)
        return True
    except ArtifactError as exc:
        log.warning("%s; this process's training of expert %d replaces it", exc, i)
        return False


def _check_shard_setting(path: Path, header: dict[str, Any]) -> None:
    """ConfigError when the readable shard ``path`` was trained for another setting: it is kept, never replaced."""
    meta = read_header_metadata(path)
    if meta is None:
        return  # unreadable: damaged, trained again
    raw = meta.get("header")
    try:
        saved = parse_json(raw) if raw is not None else None
    except json.JSONDecodeError:
        saved = None
    if not isinstance(saved, dict) or not _same_setting(saved, header):
        what = _header_difference(saved, header)
        raise ConfigError(f"{path} holds an expert trained for another setting ({what}); it is kept: move it away or "
                          "choose another buffer directory")


def _header_difference(saved: Any, header: dict[str, Any]) -> str:
    if not isinstance(saved, dict):
        return "no mmdistill expert header"
    parts = []
    for k, v in header["training"].items():
        old = (saved.get("training") or {}).get(k)
        if k != "num_experts" and old != v:
            parts.append(f"{k}: shard {old!r} vs asked {v!r}")
    for k, v in header["spec"].items():
        old = (saved.get("spec") or {}).get(k)
        if old != v and not (k in UNRECORDED_OK and old is None):
            parts.append(f"{k}: shard {old!r} vs asked {v!r}" if k != "params" else "parameter names or shapes differ")
    return ", ".join(parts) or "header differs"


def _save_partial(path: Path, rows: list[Tensor], opt: torch.optim.Optimizer, scores: list[float | None], seconds: float,
                  header: dict[str, Any], expert: int) -> None:
    tensors = {"trajectory": torch.stack(rows)}
    for k, state in opt.state_dict()["state"].items():
        if isinstance(state.get("momentum_buffer"), Tensor):
            tensors[f"momentum.{k}"] = state["momentum_buffer"]
    meta = {"format": FORMAT + "+partial", "expert": str(expert), "scores": json.dumps(scores), "seconds": repr(seconds),
            "header": json.dumps(header)}
    save_tensors(path, tensors, metadata=meta)


def _resume_partial(path: Path, net: nn.Module, opt: torch.optim.Optimizer, layout: ParamLayout, header: dict[str, Any],
                    expert: int) -> tuple[list[Tensor], list[float | None], float, dict[str, Any]]:
    tensors, meta = load_tensors_with_metadata(path)
    saved = _header_json(path, meta, "header", "{}")
    if not isinstance(saved, dict) or not _same_setting(saved, header):
        raise ArtifactError(f"{path} was written for another expert setting ({_header_difference(saved, header)}); "
                            "another process may be training into this buffer with those keys (then give this one a "
                            "buffer of its own); else delete it to start that expert over")
    rows, momentum, scores, seconds = checked_partial(path, tensors, meta, _header_json(path, meta, "scores", "[]"), expert,
                                                      header["training"]["epochs"], layout.num_params,
                                                      [p.shape for g in opt.param_groups for p in g["params"]])
    layout.load_into(net, rows[-1])
    if momentum:
        state = opt.state_dict()
        state["state"] = {k: {"momentum_buffer": v.to(rows[-1].dtype)} for k, v in momentum.items()}
        opt.load_state_dict(state)
    return rows, scores, seconds, recorded_spec(saved)


def _header_json(path: Path, meta: Mapping[str, str], key: str, default: str) -> Any:
    """The JSON value of shard ``path``'s header field ``key`` (``default`` when absent); ArtifactError naming the file
    and field when it is not JSON (nested too deeply included)."""
    try:
        return parse_json(meta.get(key, default))
    except (json.JSONDecodeError, TypeError) as exc:
        why = f" ({exc})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ArtifactError(f"{path}: its header field {key!r} is not valid JSON{why}; the shard is damaged") from None


def write_index(out_dir: str | Path, spec: ExpertSpec, training: ExpertTraining) -> Path:
    """Write ``index.json`` from the shards on disk; :class:`ArtifactError` names every missing expert."""
    out = Path(out_dir)
    entries, missing, recorded = [], [], spec
    for i in range(training.num_experts):
        path = out / shard_name(i)
        if not path.exists():
            missing.append(shard_name(i))
            continue
        _check_shard_setting(path, _header(spec, training))  # an index never lists an expert trained otherwise
        meta = read_shard_header(path, i, training.epochs, spec.layout.num_params)
        saved_spec = recorded_spec(_header_json(path, meta, "header", "{}"))
        if unchecked := unchecked_fields(saved_spec, recorded):  # an older mmdistill's shard: the index claims what all record
            log.warning("%s was written by an older mmdistill that did not record %s: the buffer's index does not claim it, "
                        "and runs warn that it could not be checked", path, ", ".join(unchecked))
            recorded = as_recorded(recorded, saved_spec)
        entries.append({"expert": i, "file": shard_name(i), "bytes": path.stat().st_size, "rank": int(meta.get("rank", 0)),
                        "scores": _header_json(path, meta, "scores", "[]"), "seconds": float(meta.get("seconds", "0"))})
    if missing:
        raise ArtifactError(f"{out}: {len(missing)} expert shard(s) missing after training: {', '.join(missing[:5])}")
    index = {**_header(recorded, training), "experts": entries}
    with atomic_path(out / INDEX_FILE) as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    (out / SEED_FILE).unlink(missing_ok=True)  # the index records the experts' seed from now on (mmdistill.expert_seed)
    return out / INDEX_FILE


__all__ = [
    "ExpertTraining", "Workers", "claim_name", "close_workers", "default_expert_optimizer", "init_workers", "train_experts", "write_index",
]
