"""Keep the best synthetic set seen during a run, scored on held-out data (model selection).

Several reference implementations do not return the set of the last outer iteration: TD3 (``src/trainer.py``
of USTC-StarTeam/TD3) scores the summary on the validation split before training and after every epoch and
returns the best one. A matcher that wants this exposes a :class:`Selector` as its ``selector`` attribute;
:func:`mmdistill.loop.run_loop` then scores the set before the first iteration and every ``selector.every``
iterations (and after the last), keeps a copy of the best set, stores it in the checkpoint (so a resumed run
selects among the same candidates) and puts it in place of the last set at the end. Scores are higher-is-better;
ties keep the earlier set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from torch import Tensor

from mmdistill.json_text import parse_json
from mmdistill.synthetic import SyntheticSet

BEST_PREFIX = "best."


class Selector(Protocol):
    """Scores a synthetic set on data the run does not report on (a validation split)."""

    every: int  #: outer iterations between scores (> 0)
    metric: str  #: what ``score`` returns, for logs and the manifest (e.g. "validation mrr@10")
    keys: Mapping[str, Any]  #: the config keys (name -> value) the score depends on: a resume that changes one is refused by name

    def score(self, syn: SyntheticSet, iteration: int) -> float:
        """Higher is better. ``iteration``: outer iterations done when the score is taken (0: the initial set).
        Must not change ``syn``."""
        ...


@dataclass
class BestSet:
    """The best-scoring copy of a set's tensors so far, with every score taken (iteration, score)."""

    metric: str
    keys: dict[str, Any] = field(default_factory=dict)  #: the selector's keys when the scores were taken
    score: float = -float("inf")
    iteration: int = -1
    tensors: dict[str, Tensor] = field(default_factory=dict)
    history: list[tuple[int, float]] = field(default_factory=list)
    _previous: tuple[float, int, dict[str, Tensor]] | None = field(default=None, repr=False)

    def offer(self, syn: SyntheticSet, iteration: int, score: float) -> bool:
        """Record ``score`` of ``syn`` after ``iteration`` iterations; keep a copy when it beats the best."""
        self.history.append((iteration, float(score)))
        if score > self.score:
            self._previous = (self.score, self.iteration, self.tensors)
            self.score, self.iteration = float(score), iteration
            self.tensors = {k: v.detach().clone() for k, v in syn.tensors().items()}
            return True
        return False

    def forget_after(self, iteration: int) -> None:
        """Drop the score taken after ``iteration + 1`` iterations, if any (the last one, taken at the end of
        an iteration that was then interrupted: the resumed run redoes that iteration and scores it again)."""
        if self.history and self.history[-1][0] > iteration:
            dropped, _ = self.history.pop()
            if self.iteration == dropped and self._previous is not None:
                self.score, self.iteration, self.tensors = self._previous
                self._previous = None

    def restore_into(self, syn: SyntheticSet) -> None:
        """Copy the best tensors into ``syn`` (in place, on whatever device ``syn`` lives)."""
        syn.copy_from(self.tensors)

    def scored(self, iteration: int) -> bool:
        return any(it == iteration for it, _ in self.history)

    # ------------------------------------------------------------------ checkpoint round trip
    def checkpoint_tensors(self) -> dict[str, Tensor]:
        return {BEST_PREFIX + k: v for k, v in self.tensors.items()}

    def checkpoint_meta(self) -> str:
        return json.dumps({"metric": self.metric, "keys": self.keys, "score": self.score, "iteration": self.iteration,
                           "history": [[it, s] for it, s in self.history]})

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], blob: str) -> "BestSet":
        info = parse_json(blob)
        best = cls(metric=str(info["metric"]), keys=dict(info.get("keys") or {}), score=float(info["score"]), iteration=int(info["iteration"]),
                   history=[(int(it), float(s)) for it, s in info["history"]])
        best.tensors = {k[len(BEST_PREFIX):]: v for k, v in tensors.items() if k.startswith(BEST_PREFIX)}
        return best

    def summary(self, last_iteration: int) -> dict[str, Any]:
        """What the manifest records: the metric, the kept iteration and score, every score taken."""
        return {"metric": self.metric, "selected_iteration": self.iteration, "selected_score": self.score,
                "last_iteration": last_iteration, "scores": [[it, s] for it, s in self.history]}


__all__ = ["BEST_PREFIX", "BestSet", "Selector"]
