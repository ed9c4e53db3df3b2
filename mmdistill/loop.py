"""The outer optimisation loop shared by every matcher and modality.

Iteration ``it`` draws all its randomness from ``generator(seed, "iteration", it)``; the loop writes an
atomic checkpoint (synthetic tensors + optimizer state + iteration counter, one safetensors file) every
``checkpoint_every`` iterations, so ``resume=True`` continues exactly where the last checkpoint stopped and
ends in the same synthetic set as an uninterrupted run. The checkpoint records the values of the keys that
change the distillation (``resume_keys``); a resume with other values is refused naming each changed key. A
non-finite loss stops the run with
:class:`~mmdistill.errors.DivergenceError`; the last good checkpoint stays on disk. A matcher with a
``selector`` (:mod:`mmdistill.selection`) has its set scored on held-out data every ``selector.every``
iterations; the best-scoring set is kept in the checkpoint and ends the run in place of the last one.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

import torch
from torch import Tensor

from mmdistill.data_identity import DATA_KEY, IDENTITY_KEYS, check_same_data
from mmdistill.network_identity import NETWORK_KEY, check_same_network
from mmdistill.errors import ArtifactError, ConfigError, DivergenceError, PeerLost
from mmdistill.header_metadata import read_header_metadata, values_at_most
from mmdistill.io import CHECKPOINT_FILE, METRICS_FILE, MetricsLog, load_tensors_with_metadata, save_tensors
from mmdistill.json_text import parse_json
from mmdistill.logs import progress_bar
from mmdistill.nets import same_network
from mmdistill.optim import rate_keys
from mmdistill.optimizer_state import optimizer_state, restore_optimizer
from mmdistill.run_status import RunStatus
from mmdistill.schema import values_before_keys
from mmdistill.seeding import generator
from mmdistill.selection import BestSet, Selector
from mmdistill.stop_signals import stopped_in_loop
from mmdistill.synthetic import SyntheticSet

CHECKPOINT_FORMAT = "mmdistill.checkpoint/2"
_log = logging.getLogger(__name__)


class Matcher(Protocol):
    """What the loop drives: one outer iteration that updates ``syn`` through ``optimizer``.

    A matcher whose schedule depends on the iteration index (GCond alternates which tensors of the set it
    updates) may also define ``start_iteration(it)``; the loop calls it before each ``step``, on resume too.
    The run reads its other optional attributes with getattr (docs/adding-a-method.md), so ``step`` is all it must have.
    """

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]: ...


def checked_matcher(matcher: Any, factory: Callable[..., Any], recipe: str) -> Matcher:
    """``matcher``, what recipe ``recipe``'s ``factory`` returned, when it has a ``step`` method; else a ConfigError
    naming the recipe, its factory and what it returned (a plugin's factory that returns None or another object)."""
    if callable(getattr(matcher, "step", None)):
        return matcher
    where = f"{getattr(factory, '__module__', None) or '?'}.{getattr(factory, '__qualname__', type(factory).__qualname__)}"
    raise ConfigError(f"recipe {recipe}: its make_matcher ({where}) returned {type(matcher).__qualname__}, which has no "
                      "step(syn, optimizer, generator) method; a matcher is what mmdistill.loop.Matcher describes")


@dataclass
class LoopResult:
    iterations: int
    seconds: float
    resumed_from: int | None
    last_loss: float | None
    selection: dict[str, Any] | None = None  #: BestSet.summary() when a selector chose the returned set
    seconds_before: float = 0.0  #: of ``seconds``, those spent before this process resumed the run (the checkpoint's)


def save_checkpoint(path: Path, syn: SyntheticSet, opt: torch.optim.Optimizer, next_iteration: int, elapsed: float,
                    resume_keys: Mapping[str, Any], best: BestSet | None = None) -> None:
    """Atomically write the loop state after ``next_iteration`` iterations have been completed, with the values
    of the keys that must not change on resume (and the best set so far when a selector scores the run)."""
    opt_tensors, opt_json = optimizer_state(opt)
    tensors = {f"syn.{k}": v for k, v in syn.tensors().items()} | opt_tensors
    if best is not None:
        tensors |= best.checkpoint_tensors()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "iteration": str(next_iteration),
        "elapsed": repr(elapsed),
        "resume_keys": json.dumps(dict(resume_keys), sort_keys=True),
        "optimizer": opt_json,
        "synthetic": json.dumps(syn.header(fixed=False)),  # the fixed tensors are the data's, not the state's
    }
    if best is not None:
        meta["selection"] = best.checkpoint_meta()
    save_tensors(path, tensors, metadata=meta)


def checkpoint_resume_keys(path: Path, run_keys: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The values of the keys that change the distillation recorded in checkpoint ``path`` (its header alone
    is read), or None when the file is not a readable checkpoint of this version (loading it names why); a key of
    ``run_keys`` added since it was written has the value it ran with (:func:`~mmdistill.schema.values_before_keys`)."""
    blob = (read_header_metadata(path) or {}).get("resume_keys")
    try:
        keys = parse_json(blob) if blob else None
    except ValueError:
        return None
    if not isinstance(keys, dict):
        return None
    return {**keys, **values_before_keys(keys, run_keys or ())}  # a key the run has that was added since: its old value


def checkpoint_iteration(path: Path) -> int | None:
    """The number of iterations checkpoint ``path`` holds (its header alone is read), or None when it is not a
    readable checkpoint (loading it names why)."""
    try:
        return int((read_header_metadata(path) or {}).get("iteration", ""))
    except ValueError:
        return None


def _snapshot(syn: SyntheticSet, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A copy of the set's tensors and the optimizer's state at the start of an iteration (for Ctrl-C)."""
    return {k: v.detach().clone() for k, v in syn.tensors().items()}, copy.deepcopy(opt.state_dict())


def _save_interrupted(path: Path, syn: SyntheticSet, opt: torch.optim.Optimizer, snapshot: tuple[dict[str, Tensor], dict[str, Any]],
                      iteration: int, elapsed: float, resume_keys: Mapping[str, Any], best: BestSet | None = None) -> str | None:
    """Checkpoint the state of the start of ``iteration`` (restored from ``snapshot``: DC half-updates the set in an iteration);
    None, or why the system refused the write (a full or read-only disk: the last checkpoint is kept)."""
    syn.copy_from(snapshot[0])  # syn.tensors() are CPU copies for a set on a GPU: write into the live tensors
    opt.load_state_dict(snapshot[1])
    if best is not None:  # a score taken at the end of the interrupted iteration goes with it: resume redoes both
        best.forget_after(iteration)
    try:
        save_checkpoint(path, syn, opt, iteration, elapsed, resume_keys, best)
    except OSError as exc:  # the stop still stops, saying what is kept
        return f"{exc.filename or path}: {exc.strerror or exc}"
    return None


def changed_keys(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``key: saved -> now`` for each key whose value differs (a key only one side has counts as changed)."""
    now = json.loads(json.dumps(dict(now), sort_keys=True))  # the values as the checkpoint stores them
    missing = object()

    def show(values: Mapping[str, Any], k: str) -> str:
        return repr(values[k]) if k in values else "(no such key)"

    def same(k: str, was: Any, is_: Any) -> bool:  # a path key an earlier mmdistill recorded as given: the folder it names
        text = isinstance(was, str) and isinstance(is_, str)  # from here; a network spelt otherwise (nets.network_key): the same
        return was == is_ or text and (os.path.isabs(is_) and bool(was) and os.path.realpath(os.path.expanduser(was)) == is_
                                       or k == "network" and same_network(was, is_))
    return [f"{k}: {show(saved, k)} -> {show(now, k)}" for k in sorted(set(saved) | set(now)) if not same(k, saved.get(k, missing), now.get(k, missing))]


def load_checkpoint(path: Path, syn: SyntheticSet, opt: torch.optim.Optimizer, resume_keys: Mapping[str, Any],
                    select: Selector | None = None) -> tuple[int, float, BestSet | None]:
    """Restore ``syn`` (in place) and ``opt`` from ``path``; returns (next iteration, elapsed seconds, the
    selection state when ``select`` is given: the checkpoint's, or a fresh one when it has none).

    ConfigError naming each changed key (checkpoint value -> this run's) when ``resume_keys`` differ from the
    values the checkpoint recorded, or when the checkpoint's sets were scored by another metric than ``select``'s
    (the selector's changed keys, or both metrics when the checkpoint recorded no keys); both are refused before
    ``syn`` or ``opt`` is touched."""
    meta = read_header_metadata(path)  # the keys first: a run of other keys is named as such, not as an oversized tensor
    if meta is None:  # not readable as safetensors: loading it names why
        meta = load_tensors_with_metadata(path)[1]
    if meta.get("format") not in (CHECKPOINT_FORMAT, "mmdistill.checkpoint/1"):
        raise ArtifactError(f"{path} is not an mmdistill checkpoint")
    if "resume_keys" not in meta:
        raise ConfigError(f"{path} was written by an earlier mmdistill that did not record its keys one by one; finish it with that "
                          "version, or start over (--overwrite) or choose another --out")
    saved_keys = _meta_json(path, meta, "resume_keys", dict)
    saved_keys.update(values_before_keys(saved_keys, resume_keys))  # written before a key existed: the value it ran with
    identity = saved_keys.pop(DATA_KEY, None)
    check_same_data(path, identity, resume_keys.get(DATA_KEY))
    if identity is not None and resume_keys.get(DATA_KEY) is not None and changed_keys(
            {"data_root": saved_keys.get("data_root")}, {"data_root": resume_keys.get("data_root")}):  # walk 49D
        _log.warning("%s: resumed on data read from %s, not %s where the run started: its classes, sample count and labels "
                     "are the same, the samples' values are not compared (a copy staged elsewhere is fine; another dataset "
                     "of the same layout, e.g. a corrupted variant, would mix two datasets in one set)",
                     path, resume_keys.get("data_root"), saved_keys.get("data_root"))  # staged to a node's scratch, another machine
        saved_keys["data_root"] = resume_keys.get("data_root")
    network = saved_keys.pop(NETWORK_KEY, None)  # after the keys: a network named otherwise is said as a key
    if changed := changed_keys(saved_keys, {k: v for k, v in resume_keys.items() if k not in IDENTITY_KEYS}):
        raise ConfigError(f"cannot resume {path}: keys that change the distillation differ from the run that wrote it "
                          f"({'; '.join(changed)}); use the checkpoint's values, or start over (--overwrite) or choose another --out")
    check_same_network(path, network, resume_keys.get(NETWORK_KEY), resume_keys.get("network"))
    try:
        iteration, elapsed = int(meta["iteration"]), float(meta["elapsed"])
    except (KeyError, ValueError):
        raise ArtifactError(f"{path}: its header has no valid 'iteration' and 'elapsed' (got {meta.get('iteration')!r}, "
                            f"{meta.get('elapsed')!r}); the checkpoint is damaged") from None
    if iteration < 0:
        raise ArtifactError(f"{path}: its header says iteration {iteration}; expected a count >= 0, the checkpoint is damaged")
    if not math.isfinite(elapsed) or elapsed < 0:  # else the run's timing would be NaN in its manifest
        raise ArtifactError(f"{path}: its header says elapsed {meta['elapsed']!r}; expected seconds >= 0, the checkpoint is damaged")
    tensors = load_tensors_with_metadata(path, values_at_most(max(math.prod(shape) for shape in syn.header(fixed=False)["tensors"].values()),
                                                          "this run's synthetic set"))[0]
    best = None
    if select is not None:
        blob = meta.get("selection")
        try:
            best = BestSet.from_checkpoint(tensors, blob) if blob else BestSet(select.metric, _plain_keys(_selector_keys(select)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"{path}: its selection state is damaged ({type(exc).__name__}: {exc})") from None
        _check_same_selection(path, best, select)
    saved = SyntheticSet.from_tensors(
        {k[len("syn."):]: v for k, v in tensors.items() if k.startswith("syn.")}, _meta_json(path, meta, "synthetic", dict),
        source=str(path)
    )
    for name, val in saved.data.items():
        if name not in syn.data or syn.data[name].shape != val.shape:
            raise ArtifactError(f"{path}: tensor data.{name} does not match the synthetic set of this run")
    lacks = [f"data.{k}" for k in sorted(set(syn.data) - set(saved.data))] + (
        ["soft_labels"] if syn.soft_labels is not None and syn.label_mode == "learnable" and saved.soft_labels is None else [])
    if lacks:  # else they would go on from their initial values beside the checkpoint's (walk 49A)
        raise ArtifactError(f"{path} lacks {', '.join(lacks)} of this run's synthetic set; the checkpoint is damaged or of another run")
    _meta_json(path, meta, "optimizer", dict)
    restore_optimizer(opt, {k: v.to(syn.labels.device) for k, v in tensors.items() if k.startswith("opt.")}, meta["optimizer"], path)
    learned = {f"data.{k}": v for k, v in saved.data.items()}  # the labels are the run's own; soft labels when both have them
    syn.copy_from(learned | ({"soft_labels": saved.soft_labels} if saved.soft_labels is not None else {}))
    if "soft_label_source" in saved.meta:  # the teacher of those soft labels (relabelled every iteration: the last one's)
        syn.meta["soft_label_source"] = saved.meta["soft_label_source"]
    return iteration, elapsed, best


def _check_same_selection(path: Path, best: BestSet, select: Selector) -> None:
    """ConfigError when the checkpoint's sets were scored otherwise than ``select`` would score: it names the
    selector's keys that changed (checkpoint value -> this run's), or both metrics for a checkpoint that recorded
    no keys."""
    if not best.history or best.metric == select.metric:
        return
    changed = changed_keys(best.keys, _plain_keys(_selector_keys(select))) if best.keys else []
    what = (f"keys that change how the sets are scored differ ({'; '.join(changed)})" if changed else
            f"its sets were scored by {best.metric}, this run would score by {select.metric}")
    raise ConfigError(f"cannot resume {path}: {what}; resume with the settings of the first run, or start over (--overwrite)")


def _selector_keys(select: Selector) -> Mapping[str, Any]:
    """``select.keys``, or none for a selector written before :class:`~mmdistill.selection.Selector` had them."""
    return getattr(select, "keys", None) or {}


def _plain_keys(keys: Mapping[str, Any]) -> dict[str, Any]:
    """``keys`` as their JSON round trip gives them back (tuples as lists), for comparing with a checkpoint's."""
    return json.loads(json.dumps(dict(keys), default=str))


def _meta_json(path: Path, meta: Mapping[str, str], key: str, kind: type) -> Any:
    """The JSON value of header field ``key`` of checkpoint ``path``; ArtifactError naming both when it is missing,
    not JSON or not a ``kind``."""
    try:
        value = parse_json(meta[key])
    except KeyError:
        raise ArtifactError(f"{path}: its header lacks '{key}'; the checkpoint is damaged") from None
    except ValueError as exc:
        raise ArtifactError(f"{path}: header field '{key}' is not valid JSON ({exc}); the checkpoint is damaged") from None
    if not isinstance(value, kind):
        raise ArtifactError(f"{path}: header field '{key}' is a {type(value).__name__}; expected a JSON "
                            f"{'object' if kind is dict else kind.__name__}. The checkpoint is damaged")
    return value


#: what can make a matching diverge on its initial set, unless the matcher names its own (``initial_divergence``)
INITIAL_DIVERGENCE = "the real data's scale: non-finite or very large inputs, e.g. features left unnormalised"


def divergence_advice(it: int, what: str, keys: list[str], ckpt: Path, by_rates: bool = False, causes: str = INITIAL_DIVERGENCE) -> str:
    """The message of a divergence at iteration ``it`` (``what``: the matcher's words): what can have caused it and a
    way on that works. At iteration 0 the set is still its initialisation, so its learning rates (``keys``) are not
    the cause (unless the matcher says they are: ``by_rates``; ``causes``: the matcher's suspects); later they are the first suspects. Resuming the last good checkpoint with the same rates draws the same
    steps and diverges again, and the rates are keys a resume must keep, so the way on is to start over."""
    kept = f"the last good checkpoint ({ckpt}) is kept for inspection" if ckpt.exists() else "no checkpoint was written yet"
    if it == 0 and not by_rates:
        return (f"iteration 0: {what}. Nothing was distilled yet, so the synthetic set's learning rates are not the cause: the "
                f"matching diverged on the initial set ({causes}); change those and start again with --overwrite ({kept})")
    lower = f"a learning rate of the synthetic set ({', '.join(keys)})" if keys else "the synthetic set's learning rate"
    return (f"iteration {it}: {what}. Lower {lower} and start again with --overwrite: resuming would draw the same steps "
            f"with the same rates, and a resume must keep them ({kept})")


def run_loop(
    matcher: Matcher,
    syn: SyntheticSet,
    optimizer: torch.optim.Optimizer,
    *,
    iterations: int,
    seed: int,
    out_dir: str | Path,
    resume_keys: Mapping[str, Any] | None = None,
    checkpoint_every: int = 100,
    checkpoint_minutes: float | None = None,
    resume: bool = False,
    progress: bool = True,
    log_every: int = 10,
    desc: str = "distilling",
    stop_after: int | None = None,
    on_iteration: Callable[[int, dict[str, float]], None] | None = None,
    writer: bool = True,
    select: Selector | None = None,
    status: RunStatus | None = None,
) -> LoopResult:
    """Run ``iterations`` outer iterations of ``matcher`` on ``syn``.

    Args:
        iterations: total number of outer iterations of the run (not of this call).
        seed: base seed; iteration ``it`` uses ``generator(seed, "iteration", it)``.
        out_dir: run directory for ``checkpoint.safetensors`` and ``metrics.jsonl``.
        resume_keys: the values of the keys that change the distillation; a checkpoint written with other
            values is refused on resume, naming each changed key.
        checkpoint_every: iterations between checkpoints (the last iteration always checkpoints).
        checkpoint_minutes: also checkpoint after an iteration that ends this many minutes (wall time) after the last
            checkpoint was written or the loop started (slow iterations: a hard kill loses at most about this much).
        resume: continue from ``out_dir/checkpoint.safetensors`` when it exists.
        stop_after: stop (after checkpointing) once this many iterations are done (tests, time slicing).
        writer: whether this process writes the checkpoint and the log (False on the ranks > 0 of a torchrun
            run: they hold the same set and read the checkpoint on resume, rank 0 writes it).
        select: score the set before the first iteration, every ``select.every`` iterations and after the last;
            the best-scoring set (kept in the checkpoint) replaces the last one when the run completes, and
            ``LoopResult.selection`` says which iteration it came from. Scores go to the metrics log as ``select``.
        status: the run folder's status record (:mod:`mmdistill.run_status`), told where the loop starts, each
            iteration's loss and each checkpoint.
    """
    if iterations < 0:
        raise ConfigError(f"iterations must be >= 0, got {iterations}")
    if checkpoint_every <= 0:
        raise ConfigError(f"checkpoint_every must be > 0, got {checkpoint_every}")
    if checkpoint_minutes is not None and not checkpoint_minutes > 0:
        raise ConfigError(f"checkpoint_minutes must be > 0 (or none), got {checkpoint_minutes}")
    if select is not None and select.every <= 0:
        raise ConfigError(f"the selector's interval must be > 0 iterations, got {select.every}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / CHECKPOINT_FILE
    log = MetricsLog(out_dir / METRICS_FILE)
    start, elapsed, resumed_from = 0, 0.0, None
    best = BestSet(select.metric, _plain_keys(_selector_keys(select))) if select is not None else None
    ckpt_at = None  # the iteration the checkpoint on disk starts from (an interruption needs no snapshot there)
    if resume and ckpt.exists():
        start, elapsed, best = load_checkpoint(ckpt, syn, optimizer, resume_keys or {}, select)
        resumed_from = ckpt_at = start
        if writer:
            log.truncate_after(start)
            _log.info("resumed from %s at iteration %d of %d (%.1f s spent before)", ckpt, start, iterations, elapsed)
    elif writer:
        log.reset()
    if best is not None and select is not None and not best.scored(0) and start == 0:
        _offer(best, select, syn, 0)
    end = iterations if stop_after is None else min(iterations, stop_after)
    last_loss = None
    start_iteration = getattr(matcher, "start_iteration", None)
    bar = progress_bar(total=iterations, initial=start, desc=desc, disable=not progress)
    if status is not None:
        status.begin(start, start if resumed_from is not None else None)
    t0 = written = time.perf_counter()
    it, snapshot = start, None
    try:
        for it in range(start, end):
            snapshot = None  # the previous one freed first (not two copies at once); none: the checkpoint holds this start
            snapshot = _snapshot(syn, optimizer) if writer and ckpt_at != it else None
            gen = generator(seed, "iteration", it)
            if start_iteration is not None:
                start_iteration(it)
            try:
                stats = matcher.step(syn, optimizer, gen)
            except DivergenceError as exc:
                raise DivergenceError(divergence_advice(it, str(exc), rate_keys(optimizer), ckpt, exc.by_rates,
                                                        getattr(matcher, "initial_divergence", INITIAL_DIVERGENCE))) from None
            if not isinstance(stats, Mapping):  # a plugin's matcher: named here, not an AttributeError of the loop's
                raise ConfigError(f"{type(matcher).__module__}.{type(matcher).__qualname__}.step returned {type(stats).__qualname__}; a matcher's step "
                                  "returns a dict of floats ({'loss': ...}, logged per iteration)")
            last_loss = stats.get("loss")
            done = it + 1
            scored = best is not None and select is not None and (done % select.every == 0 or done == iterations)
            if scored:
                stats = {**stats, "select": _offer(best, select, syn, done)}  # type: ignore[arg-type]
            if on_iteration is not None:
                on_iteration(it, stats)
            if writer and (it % log_every == 0 or it == iterations - 1 or scored):
                log.append({"it": it, **stats, "seconds": elapsed + time.perf_counter() - t0})
            if last_loss is not None:  # before the update that draws it (else the last line showed the previous loss)
                bar.set_postfix(loss=f"{last_loss:.4g}", refresh=False)
            bar.update(1)
            late = checkpoint_minutes is not None and time.perf_counter() - written >= 60.0 * checkpoint_minutes
            if writer and (done % checkpoint_every == 0 or done == end or late):
                save_checkpoint(ckpt, syn, optimizer, done, elapsed + time.perf_counter() - t0, resume_keys or {}, best)
                ckpt_at, written = done, time.perf_counter()
            if status is not None:
                status.progress(done, last_loss, checkpointed=ckpt_at == done)
    except (PeerLost, KeyboardInterrupt) as stop:  # another torchrun process lost; Ctrl-C, or SIGTERM (terminate_as_interrupt)
        refused = (_save_interrupted(ckpt, syn, optimizer, snapshot, it, elapsed + time.perf_counter() - t0, resume_keys or {}, best)
                   if writer and snapshot is not None else None)  # the start of the interrupted iteration, unless the checkpoint is that
        held = it if snapshot is not None and not refused else checkpoint_iteration(ckpt) if writer else -1  # (-1: another rank's)
        raise stopped_in_loop(stop, it, iterations, held, ckpt, refused) from None
    finally:
        bar.close()
    if status is not None:  # distilled: the run evaluates and writes the set next (run_status.recorded: finished after)
        status.set_state(*(("distilled", None) if end == iterations else ("stopped", f"stopped after {end} of {iterations} iterations (stop_after)")))
    selection = None
    if best is not None and end == iterations:
        best.restore_into(syn)
        selection = best.summary(iterations)
        _log.info("selection: kept the set of iteration %d of %d (%s %.4f)", best.iteration, iterations, best.metric, best.score)
    return LoopResult(iterations=end, seconds=elapsed + time.perf_counter() - t0, resumed_from=resumed_from, last_loss=last_loss,
                      selection=selection, seconds_before=elapsed if resumed_from is not None else 0.0)


def _offer(best: BestSet, select: Selector, syn: SyntheticSet, done: int) -> float:
    """Score ``syn`` after ``done`` iterations and keep it when it is the best so far; returns the score."""
    score = float(select.score(syn, done))
    if best.offer(syn, done, score):
        _log.info("selection: %s %.4f after %d iterations (best so far)", select.metric, score, done)
    return score
