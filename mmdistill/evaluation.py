"""The evaluation skeleton every modality goes through: seeded runs, mean ± std, baselines, tables, manifest.

A modality describes *what* to evaluate as an :class:`EvaluationPlan` — for each evaluation network, a
``train_and_score(train_set, generator) -> {metric: value}`` function (train a fresh model on ``train_set``
from ``generator``, score it on the real held-out split) and the sets to train on (``distilled``, its
hard-label twin, ``random_real`` and its soft-label twin, ``herding``, the whole training split ...). The
skeleton does the rest the same way for every task (classification, node classification, retrieval,
next-item ranking):

* run ``r`` of every set draws its model from ``generator(seed, "eval", r)``, so every set sees the same
  initialisations and a re-evaluation gives the same numbers;
* a set may be a function of the run index (``random_real``: a new draw per run from
  ``generator(seed, "random_real", r)``);
* each set's runs become ``{"mean", "std", "runs"}`` of the plan's headline metric (values in [0, 1]), plus
  ``"scores"`` (mean, std, runs of every metric) when the task reports several;
* a table per network is logged; the metrics block of the manifest is built in one place;
* a plan may also give ``train_and_score_many(train_sets, generators)``: the K runs of a set at once (one
  vectorised ensemble, :mod:`mmdistill.ensemble`), each run from its own generator exactly as the one-run
  function would get it. The skeleton uses it, ``vectorize`` runs at a time, when present, and falls back to
  the per-run loop when it returns None (the networks cannot be vectorised);
* under ``torchrun``, a plan whose runs draw only from their generators (``seeded_runs``) is sharded by run:
  the groups of ``vectorize`` consecutive runs go to the ranks in turn (group ``g`` to rank ``g % K``), the
  scores are summed into one table on every rank (exact: each run's row is non-zero on one rank only), so
  the metrics block is the same as one process's. Set ``eval_vectorize`` to at most ``eval_runs / K`` to
  keep every rank busy;
* on a CPU, the runs of every set of a network whose runs draw nothing from the global RNG train
  ``threads`` at a time (:mod:`mmdistill.concurrency`: each with its share of the intra-op threads, its
  numbers those of a run alone with that share).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import torch

from mmdistill.concurrency import run_jobs
from mmdistill.distributed import Workers, all_reduce_sum, broadcast_json, current_workers
from mmdistill.errors import ConfigError
from mmdistill.logs import progress_bar
from mmdistill.scored_on import mean_spread
from mmdistill.seeding import draw_seed, generator

log = logging.getLogger(__name__)

TrainAndScore = Callable[[Any, torch.Generator], Mapping[str, float]]
"""``train_and_score(train_set, generator) -> {metric: value in [0, 1]}``: one fresh model trained on
``train_set`` with all its randomness from ``generator``, scored on the real held-out split."""


TrainAndScoreMany = Callable[[list[Any], list[torch.Generator]], "list[Mapping[str, float]] | None"]
"""``train_and_score_many(train_sets, generators) -> [scores of run k]`` or None (cannot vectorise these):
``train_and_score(train_sets[k], generators[k])`` for every k, computed together."""


def _stats(values: list[float]) -> dict[str, Any]:
    mean = float(statistics.fmean(values)) if values else float("nan")
    std = float(statistics.pstdev(values)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "runs": list(values)}


@dataclass
class EvalResult:
    """The scores of independently trained models on one set: ``scores[r]`` maps each metric to run ``r``'s
    value; ``headline`` names the metric of ``mean``/``std``/``runs`` (values in [0, 1]); ``std`` is the
    population standard deviation (numpy's ``np.std``, as the DC/DM/MTT reference code reports), 0 for one run;
    ``size``: how many samples, nodes or pairs the set holds, when reported.

    >>> r = EvalResult.of([0.8, 0.9])
    >>> round(r.mean, 4), round(r.std, 4), str(r)
    (0.85, 0.05, '85.00 ± 5.00 % (2 runs)')
    """

    scores: list[dict[str, float]] = field(default_factory=list)
    headline: str = "accuracy"
    size: int | None = None

    @classmethod
    def of(cls, values: list[float], headline: str = "accuracy") -> "EvalResult":
        """A result with one metric, from its per-run values."""
        return cls([{headline: float(v)} for v in values], headline)

    def series(self, metric: str | None = None) -> list[float]:
        """Every run's value of ``metric`` (default: the headline), in run order."""
        key = metric or self.headline
        return [float(s[key]) for s in self.scores]

    @property
    def runs(self) -> list[float]:
        """The headline metric of every run, in run order."""
        return self.series()

    @property
    def mean(self) -> float:
        """Mean of :attr:`runs` (NaN with none)."""
        return _stats(self.runs)["mean"]

    @property
    def std(self) -> float:
        """Population standard deviation of :attr:`runs` (0 for fewer than two)."""
        return _stats(self.runs)["std"]

    @property
    def metrics(self) -> list[str]:
        """The metric names every run scored (the headline alone when there are no runs)."""
        return list(self.scores[0]) if self.scores else [self.headline]

    def as_dict(self) -> dict[str, Any]:
        """``{"mean", "std", "runs"}`` of the headline, ``"scores"`` of every metric when there are several,
        ``"size"`` when known (the JSON the manifest stores)."""
        out = _stats(self.runs)
        if len(self.metrics) > 1:
            out["scores"] = {m: _stats(self.series(m)) for m in self.metrics}
        if self.size is not None:
            out["size"] = self.size
        return out

    def __str__(self) -> str:
        if len(self.runs) == 1:  # no spread measured (as :func:`set_cell`)
            return f"{100 * self.mean:.2f} % (one run)"
        return f"{100 * self.mean:.2f} ± {100 * self.std:.2f} % ({len(self.runs)} runs)"


@dataclass
class EvalSet:
    """One set to evaluate: a fixed training set, or ``data(r)`` giving run ``r``'s set (a new draw per run).
    ``train_and_score`` overrides the network's (e.g. the distilled set trained with its learned step size);
    ``size`` is how many samples, nodes or pairs it holds (reported, optional)."""

    data: Any
    train_and_score: TrainAndScore | None = None
    size: int | None = None
    per_run: bool = False
    runs: int | None = None
    """runs of this set when not the plan's (1 for a deterministic score, e.g. a pretrained model untouched)"""
    train_and_score_many: TrainAndScoreMany | None = None
    """the batched twin of this set's own ``train_and_score`` (only used with it)"""

    def for_run(self, r: int) -> Any:
        return self.data(r) if self.per_run else self.data


@dataclass
class NetworkPlan:
    """The sets trained with one evaluation network, in the order they are evaluated."""

    name: str
    train_and_score: TrainAndScore
    sets: dict[str, EvalSet]
    train_and_score_many: TrainAndScoreMany | None = None
    """optional: several runs of ``train_and_score`` at once (see the module's docstring)"""
    draws_no_global_rng: bool = False
    """its runs draw nothing from torch's global generator (no dropout; augmentation from the run's own
    generator), so they may train at the same time on threads"""


@dataclass
class EvaluationPlan:
    """What a modality evaluates; :func:`run_plan` turns it into the manifest's metrics block.

    ``metric`` is the headline metric's key in the scores (``"accuracy"``, ``"r10_mean"``, ``"hr@10"``) and
    ``label`` how the manifest and the summary name it (default: the key); ``networks[0]`` is the primary
    network (its rows are the headline rows);
    ``protocol`` and ``extra`` are stored in the manifest as they are."""

    metric: str
    networks: list[NetworkPlan]
    runs: int
    seed: int
    title: str = ""
    protocol: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    table: Callable[[dict[str, EvalResult]], str] | None = None
    label: str | None = None
    vectorize: int = 1
    """runs trained together where a network plan has ``train_and_score_many`` (1: one at a time)"""
    seeded_runs: bool = False
    """every run's result depends only on its generator (and its run's seeded global RNG): the runs can be
    spread over the processes of a torchrun run with the same result"""
    threads: int = 1
    """runs trained at the same time on threads (:mod:`mmdistill.concurrency`) for the networks whose plan
    says ``draws_no_global_rng`` in a ``seeded_runs`` plan; 1: one after the other"""

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ConfigError(f"eval_runs must be >= 1, got {self.runs}")
        if not self.networks:
            raise ConfigError("an evaluation plan needs at least one network")


def score_runs(eval_set: EvalSet, train_and_score: TrainAndScore, *, metric: str, runs: int, seed: int,
               desc: str = "evaluating", progress: bool = True, many: TrainAndScoreMany | None = None,
               vectorize: int = 1, workers: Workers = Workers(), threads: int = 1) -> EvalResult:
    """Train and score ``runs`` (or ``eval_set.runs``) fresh models on ``eval_set``; run ``r`` is seeded by
    ``(seed, "eval", r)``. With ``many`` and ``vectorize`` > 1, up to ``vectorize`` runs train together
    (``many``'s None for a group: that group runs one at a time). With several ``workers``, group ``g`` of
    runs is trained by rank ``g % world`` and every rank returns all the scores. With ``threads`` > 1 the
    groups train at the same time on that many threads (:func:`mmdistill.concurrency.run_jobs`; only for
    runs that draw nothing from torch's global generator)."""
    work = _SetWork.plan(eval_set, train_and_score, metric=metric, runs=runs, seed=seed, many=many, vectorize=vectorize,
                         workers=workers, own_global_rng=threads <= 1)
    bar = progress_bar(total=work.runs, desc=desc, disable=not progress or not workers.is_writer, leave=False)
    outputs = run_jobs(work.jobs, threads, on_done=lambda i: bar.update(len(work.groups[i])))
    bar.close()
    return work.result(outputs, workers)


@dataclass
class _SetWork:
    """The runs of one set this process trains, as jobs of ``groups[i]`` runs each, and how their scores
    become the set's :class:`EvalResult`."""

    eval_set: EvalSet
    metric: str
    runs: int
    groups: list[list[int]]
    jobs: list[Callable[[], list[dict[str, float]]]]

    @classmethod
    def plan(cls, eval_set: EvalSet, train_and_score: TrainAndScore, *, metric: str, runs: int, seed: int,
             many: TrainAndScoreMany | None, vectorize: int, workers: Workers, own_global_rng: bool) -> "_SetWork":
        runs = eval_set.runs or runs
        if runs <= 0:
            raise ConfigError(f"eval_runs must be > 0, got {runs}")
        group = max(1, vectorize) if many is not None else 1
        firsts = list(range(0, runs, group))
        groups = [list(range(firsts[g], min(firsts[g] + group, runs))) for g in workers.mine(range(len(firsts)))]
        jobs = [functools.partial(_train_group, eval_set, train_and_score, many, rs, seed, metric, own_global_rng)
                for rs in groups]
        return cls(eval_set, metric, runs, groups, jobs)

    def result(self, outputs: list[list[dict[str, float]]], workers: Workers) -> EvalResult:
        done = {r: scores for rs, batch in zip(self.groups, outputs) for r, scores in zip(rs, batch)}
        result = EvalResult(headline=self.metric, size=self.eval_set.size)
        result.scores = [done[r] for r in range(self.runs)] if workers.world <= 1 else _gather_scores(done, self.runs, workers)
        return result


def _train_group(eval_set: EvalSet, train_and_score: TrainAndScore, many: TrainAndScoreMany | None, rs: list[int],
                 seed: int, metric: str, own_global_rng: bool) -> list[dict[str, float]]:
    """The scores of runs ``rs`` of ``eval_set``: together through ``many`` when it takes them, else one at a
    time; each run (or group) with its own seeded global RNG when ``own_global_rng``."""
    def rng(r: int) -> contextlib.AbstractContextManager:
        return _global_rng_of_run(seed, r) if own_global_rng else contextlib.nullcontext()

    batch = None
    if len(rs) > 1 and many is not None:
        with rng(rs[0]):
            batch = many([eval_set.for_run(r) for r in rs], [generator(seed, "eval", r) for r in rs])
    if batch is None:  # one at a time (also the fallback of a group that cannot be vectorised)
        batch = []
        for r in rs:
            with rng(r):
                batch.append(train_and_score(eval_set.for_run(r), generator(seed, "eval", r)))
    out = []
    for scores in batch:
        scores = dict(scores)
        if metric not in scores:
            raise ConfigError(f"train_and_score returned {sorted(scores)} but the plan's metric is {metric!r}")
        out.append({k: float(v) for k, v in scores.items()})
    return out


@contextlib.contextmanager
def _global_rng_of_run(seed: int, run: int) -> Iterator[None]:
    """Torch's global RNG seeded from ``(seed, "eval", run, "global")`` for the run and restored after it: a
    trainer that draws from it (dropout of a GNN or a projection head) gets the same draws in ``mmdistill run``
    and ``mmdistill eval``, whatever ran before, and another run's draws never leak in."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(draw_seed(generator(seed, "eval", run, "global")))
        yield


def _gather_scores(done: dict[int, dict[str, float]], runs: int, workers: Workers) -> list[dict[str, float]]:
    """Every run's scores on every rank: a (runs, metrics) table summed over the ranks (rank 0 trained run 0,
    its metric names are the table's columns)."""
    names = broadcast_json(list(done[0]) if workers.rank == 0 else None, workers)
    assert isinstance(names, list)
    table = torch.zeros(runs, len(names), dtype=torch.float64)
    for r, scores in done.items():
        if sorted(scores) != sorted(names):
            raise ConfigError(f"evaluation run {r} returned the metrics {sorted(scores)}, run 0 returned {sorted(names)}")
        table[r] = torch.tensor([scores[n] for n in names], dtype=torch.float64)
    table = all_reduce_sum(table, workers)
    return [dict(zip(names, row)) for row in table.tolist()]


def results_table(rows: Mapping[str, EvalResult]) -> str:
    """A fixed-width table: one row per set, every metric's mean (percent), headline mean ± std and runs."""
    metrics = next(iter(rows.values())).metrics if rows else ["accuracy"]
    width = max([len(k) for k in rows] + [8])
    if len(metrics) == 1:
        lines = [f"{'set':<{width}}  {metrics[0] + ' (%)':>16}  runs"]
        for name, res in rows.items():
            lines.append(f"{name:<{width}}  {100 * res.mean:>7.2f} ± {_spread(res)}  {len(res.runs):>4}")
        return "\n".join(lines)
    head = next(iter(rows.values())).headline
    sized = any(res.size is not None for res in rows.values())  # no empty size column (classification's sets)
    lines = [f"{'set':<{width}}  " + (f"{'size':>5}  " if sized else "") + "  ".join(f"{m:>8}" for m in metrics)
             + f"  {head + ' (%)':>16}  runs"]
    for name, res in rows.items():
        cells = "  ".join(f"{100 * statistics.fmean(res.series(m)):>{max(8, len(m))}.2f}" for m in metrics)
        size = f"{'' if res.size is None else res.size:>5}  " if sized else ""
        lines.append(f"{name:<{width}}  {size}{cells}  {100 * res.mean:>7.2f} ± {_spread(res)}  {len(res.runs):>4}")
    return "\n".join(lines)


def _spread(res: EvalResult) -> str:
    """The std column of :func:`results_table` (percent, 6 wide): ``n/a`` for a set scored by one run, whose spread
    was never measured."""
    return f"{'n/a':<6}" if len(res.runs) == 1 else f"{100 * res.std:<6.2f}"


def evaluate_network(plan: EvaluationPlan, network: NetworkPlan) -> dict[str, EvalResult]:
    """Every set of ``network``, in order (its runs spread over the torchrun processes when ``seeded_runs``,
    and trained ``plan.threads`` at a time when the network also ``draws_no_global_rng``)."""
    workers = current_workers() if plan.seeded_runs else Workers()
    threads = plan.threads if plan.seeded_runs and network.draws_no_global_rng else 1
    work: dict[str, _SetWork] = {}
    for name, eval_set in network.sets.items():
        own = eval_set.train_and_score is not None  # a set's own trainer: only its own batched twin applies
        work[name] = _SetWork.plan(eval_set, eval_set.train_and_score or network.train_and_score, metric=plan.metric,
                                   runs=plan.runs, seed=plan.seed, vectorize=plan.vectorize,
                                   many=eval_set.train_and_score_many if own else network.train_and_score_many,
                                   workers=workers, own_global_rng=threads <= 1)
    jobs = [(name, i) for name, w in work.items() for i in range(len(w.jobs))]
    bar = progress_bar(total=sum(w.runs for w in work.values()), desc=f"eval [{network.name}]",
                       disable=not plan.progress or not workers.is_writer, leave=False)
    outputs = run_jobs([work[name].jobs[i] for name, i in jobs], threads,
                       on_done=lambda j: bar.update(len(work[jobs[j][0]].groups[jobs[j][1]])))
    bar.close()
    per_set: dict[str, list] = {name: [] for name in work}
    for (name, _), out in zip(jobs, outputs):
        per_set[name].append(out)
    return {name: w.result(per_set[name], workers) for name, w in work.items()}


def run_plan(plan: EvaluationPlan) -> dict[str, Any]:
    """Evaluate every set of every network of ``plan``; returns the manifest's metrics block::

        {"metric": plan.label or plan.metric, "network": primary, "<set>": {"mean", "std", "runs", ...}, ...,
         "cross_arch": {network: {"<set>": {...}}}   (with several networks),
         "protocol": plan.protocol, **plan.extra}
    """
    per_net: dict[str, dict[str, EvalResult]] = {}
    table = plan.table or results_table
    for network in plan.networks:
        rows = evaluate_network(plan, network)
        per_net[network.name] = rows
        log.info("\n[%s] %s:\n%s", network.name, plan.title or f"{plan.metric}, {plan.runs} runs each", table(rows))
    primary = plan.networks[0].name
    metrics: dict[str, Any] = {"metric": plan.label or plan.metric, "network": primary,
                               **{k: v.as_dict() for k, v in per_net[primary].items()}}
    if len(plan.networks) > 1:
        metrics["cross_arch"] = {n: {k: v.as_dict() for k, v in rows.items()} for n, rows in per_net.items()}
    metrics["protocol"] = dict(plan.protocol)
    metrics.update(plan.extra)
    return metrics


def evaluated_sets(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of a metrics block that are evaluated sets (``{"mean", "std", ...}``), in order."""
    return {k: v for k, v in metrics.items() if isinstance(v, dict) and "mean" in v and "std" in v}


def set_cell(name: str, result: Mapping[str, Any]) -> str:
    """``random real 93.11 ± 0.87 %``: an evaluated set's name and its mean ± std in percent (values in [0, 1]); a set
    scored by one run has no spread measured: ``popularity 18.10 % (one run)``."""
    runs = result.get("runs")
    return f"{name.replace('_', ' ')} {mean_spread(result)} %" + (" (one run)" if isinstance(runs, list) and len(runs) == 1 else "")


def rescored_metrics(saved: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics block that replaces ``saved`` after a set is scored again (``mmdistill eval --write``).

    ``new`` as it is, plus, under ``earlier``, every evaluated set of ``saved`` that ``new`` did not score again (the
    baselines after ``--no-baselines``) with the ``network`` and ``protocol`` they were scored under, and ``saved``'s own
    ``earlier`` nested inside it. When ``new`` was scored on other networks (``--networks``, ``--cross-arch``), every
    saved set and the saved ``cross_arch`` block go there. Nothing recorded is lost, and no table mixes two protocols or
    two networks: tables, cards and plots read only the top-level sets (``evaluated_sets``)."""
    same_networks = (saved.get("network") == new.get("network")
                     and list(saved.get("cross_arch") or []) == list(new.get("cross_arch") or []))
    kept = {k: v for k, v in evaluated_sets(saved).items() if k not in new or not same_networks}
    if saved.get("cross_arch") and not same_networks:
        kept["cross_arch"] = saved["cross_arch"]
    earlier = saved.get("earlier")
    if kept:
        earlier = {**kept, "network": saved.get("network"), "protocol": saved.get("protocol"),
                   **({"earlier": earlier} if earlier else {})}
    return {**new, "earlier": earlier} if earlier else dict(new)


__all__ = ["EvalResult", "EvalSet", "EvaluationPlan", "NetworkPlan", "TrainAndScore", "TrainAndScoreMany", "evaluate_network",
           "evaluated_sets", "rescored_metrics", "results_table", "run_plan", "score_runs", "set_cell"]
