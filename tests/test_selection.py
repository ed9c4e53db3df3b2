"""Model selection in the outer loop: the best-scoring set ends the run, survives a resume, and a score taken
at the end of an interrupted iteration is redone with it."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError
from mmdistill.loop import run_loop
from mmdistill.selection import BestSet
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet


class _AddOne:
    """Each iteration adds 1 to every value of the set (no randomness, no gradient)."""

    name = "add-one"

    def step(self, syn, optimizer, gen):
        with torch.no_grad():
            syn.x.add_(1.0)
        return {"loss": float(syn.x.detach().mean())}


class _PeakAt:
    """Scores a set by how close its mean drift from the start is to ``peak`` iterations (best: exactly there)."""

    metric = "closeness to the peak"

    def __init__(self, start: torch.Tensor, peak: int, every: int = 1):
        self.start, self.peak, self.every, self.calls = start.clone(), peak, every, []
        self.keys = {"peak": peak}

    def score(self, syn, iteration):
        self.calls.append(iteration)
        return -abs(float((syn.x.detach() - self.start).mean()) - self.peak)


def _set(blobs):
    return SyntheticSet.from_real(blobs, 2, generator(0, "init")).requires_grad_(True)


def _run(syn, out, select, iterations=6, **kw):
    """The loop on ``syn`` with the add-one matcher (a fresh optimizer: what a new process would build)."""
    return run_loop(_AddOne(), syn, torch.optim.SGD(syn.parameters(), lr=0.1), iterations=iterations, seed=0, out_dir=out,
                    progress=False, select=select, **kw)


def test_the_best_scored_set_ends_the_run(tmp_path, blobs):
    syn = _set(blobs)
    start = syn.x.detach().clone()
    sel = _PeakAt(start, peak=3)
    res = _run(syn, tmp_path, sel, checkpoint_every=2)
    assert sel.calls == [0, 1, 2, 3, 4, 5, 6]  # before the first iteration, then after each
    assert torch.allclose(syn.x, start + 3)  # the set of iteration 3, not of the last (6)
    assert res.selection is not None and res.selection["selected_iteration"] == 3 and res.selection["last_iteration"] == 6
    assert [it for it, _ in res.selection["scores"]] == [0, 1, 2, 3, 4, 5, 6]
    logged = __import__("mmdistill.io", fromlist=["MetricsLog"]).MetricsLog(tmp_path / "metrics.jsonl").read()
    assert [r["select"] for r in logged if "select" in r] == [s for it, s in res.selection["scores"] if it > 0]


def test_selection_is_every_k_iterations_and_after_the_last(tmp_path, blobs):
    syn = _set(blobs)
    sel = _PeakAt(syn.x.detach(), peak=100, every=3)
    res = _run(syn, tmp_path, sel, iterations=7)
    assert sel.calls == [0, 3, 6, 7] and res.selection["selected_iteration"] == 7


def test_resume_selects_among_the_same_candidates(tmp_path, blobs):
    a = _set(blobs)
    start = a.x.detach().clone()
    full = _run(a, tmp_path / "a", _PeakAt(start, peak=1), checkpoint_every=1)
    b = _set(blobs)
    _run(b, tmp_path / "b", _PeakAt(start, peak=1), checkpoint_every=1, stop_after=4)
    assert torch.allclose(b.x, start + 4)  # a run stopped early keeps its last set: it has not ended
    c = _set(blobs)  # a new process: the best set (iteration 1) comes back from the checkpoint
    sel = _PeakAt(start, peak=1)
    res = _run(c, tmp_path / "b", sel, checkpoint_every=1, resume=True)
    assert sel.calls == [5, 6]  # the scores of iterations 0-4 came from the checkpoint
    assert torch.allclose(c.x, start + 1) and torch.equal(c.x, a.x)
    assert res.selection["scores"] == full.selection["scores"]


def test_a_score_of_an_interrupted_iteration_is_dropped_with_it(blobs):
    syn = _set(blobs)
    best = BestSet("m")
    best.offer(syn, 1, 0.5)
    kept = syn.x.detach().clone()
    with torch.no_grad():
        syn.x.add_(1.0)
    best.offer(syn, 2, 0.9)  # the end of iteration 2, which is then interrupted
    best.forget_after(1)
    assert best.iteration == 1 and best.score == 0.5 and torch.equal(best.tensors["data.x"], kept)
    assert best.history == [(1, 0.5)]


def test_a_selector_needs_a_positive_interval(tmp_path, blobs):
    syn = _set(blobs)
    with pytest.raises(ConfigError, match="selector's interval must be > 0"):
        _run(syn, tmp_path, _PeakAt(syn.x.detach(), peak=1, every=0), iterations=2)


class _InterruptedScore(_PeakAt):
    """Raises KeyboardInterrupt (Ctrl-C) while scoring after ``at`` iterations, the first time only."""

    def __init__(self, start, peak, at):
        super().__init__(start, peak)
        self.at = at

    def score(self, syn, iteration):
        if iteration == self.at:
            self.at = -1
            raise KeyboardInterrupt
        return super().score(syn, iteration)


def test_ctrl_c_while_scoring_resumes_to_the_same_selection(tmp_path, blobs):
    from mmdistill.errors import InterruptedRun

    a = _set(blobs)
    start = a.x.detach().clone()
    full = _run(a, tmp_path / "a", _PeakAt(start, peak=4), checkpoint_every=5)
    b = _set(blobs)
    sel = _InterruptedScore(start, peak=4, at=4)
    with pytest.raises(InterruptedRun, match="interrupted at iteration 3"):
        _run(b, tmp_path / "b", sel, checkpoint_every=5)
    c = _set(blobs)
    res = _run(c, tmp_path / "b", sel, checkpoint_every=5, resume=True)
    assert res.resumed_from == 3 and torch.equal(c.x, a.x) and res.selection["scores"] == full.selection["scores"]


def test_a_tie_keeps_the_earlier_set(blobs):
    """Scores are higher-is-better and a later set that only equals the best does not replace it."""
    syn = _set(blobs)
    best, start = BestSet(metric="m"), syn.x.detach().clone()
    assert best.offer(syn, 0, 0.5)
    with torch.no_grad():
        syn.x.add_(1.0)
    assert not best.offer(syn, 1, 0.5)
    assert best.iteration == 0 and torch.equal(best.tensors["data.x"], start)
    assert best.history == [(0, 0.5), (1, 0.5)]


def test_the_loss_plot_shows_the_selection(tmp_path, monkeypatch):
    from mmdistill import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    records = [{"it": i, "loss": 1.0 / (i + 1)} for i in range(5)]
    sel = {"metric": "validation mrr@10 (full ranking, 1 learner(s))", "selected_iteration": 2, "selected_score": 0.3,
           "last_iteration": 5, "scores": [[0, 0.1], [2, 0.3], [5, 0.2]]}
    assert plots.plot_loss_curve(records, tmp_path / "loss.png", selection=sel) == tmp_path / "loss.png"
    loss_ax, score_ax = figures[0].axes  # the scores on a second y axis sharing the iterations
    assert [list(line.get_xdata()) for line in loss_ax.get_lines()] == [[0, 1, 2, 3, 4]]
    scores, kept = score_ax.get_lines()
    assert list(scores.get_xdata()) == [0, 2, 5] and list(scores.get_ydata()) == [0.1, 0.3, 0.2]
    assert scores.get_linestyle() == "--" and scores.get_marker() == "s"  # told from the loss by more than colour
    assert list(kept.get_xdata()) == [2, 2] and kept.get_linestyle() == ":"  # the kept iteration marked, dotted (walk 53G)
    assert score_ax.get_ylabel() == "validation mrr@10"
    plots.plot_loss_curve(records, tmp_path / "plain.png")  # no selection: one axis
    assert len(figures[1].axes) == 1


def test_resume_refuses_another_selection_metric(tmp_path, blobs):
    syn = _set(blobs)
    _run(syn, tmp_path, _PeakAt(syn.x.detach(), peak=1), stop_after=2)
    other = _PeakAt(syn.x.detach(), peak=1)
    other.metric = "another score"
    fresh = _set(blobs)
    before = fresh.x.detach().clone()
    other.keys = {"peak": 1}  # the same keys: the metric's name is all the refusal can give
    with pytest.raises(ConfigError, match="its sets were scored by closeness to the peak, this run would score by another score"):
        _run(fresh, tmp_path, other, resume=True)
    assert torch.equal(fresh.x, before)  # refused before the checkpoint's set was copied in


def test_resume_refusal_of_another_selection_names_the_changed_key(tmp_path, blobs):
    syn = _set(blobs)
    _run(syn, tmp_path, _PeakAt(syn.x.detach(), peak=1), stop_after=2)
    other = _PeakAt(syn.x.detach(), peak=4)
    other.metric = "closeness to the peak 4"
    with pytest.raises(ConfigError, match=r"keys that change how the sets are scored differ \(peak: 1 -> 4\)"):
        _run(_set(blobs), tmp_path, other, resume=True)


def test_a_selector_without_keys_still_runs(tmp_path, blobs):
    """A selector written before Selector.keys existed (a plugin's): the run selects as before (it failed with an
    AttributeError)."""
    syn = _set(blobs)
    old = _PeakAt(syn.x.detach(), peak=2)
    del old.keys
    res = _run(syn, tmp_path, old, iterations=3)
    assert res.selection["selected_iteration"] == 2
