"""What a reader must know beside a score, said the same way by the card, ``mmdistill show``, the evaluation table,
the pictures and ``mmdistill compare``: the split it was scored on (validation samples held out of the training data,
or the test split), whether that split is imbalanced (the accuracy is plain: answering its most common class alone
scores that class's share), and which keys a run took from another run chosen on validation (``--config DIR``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from mmdistill.markdown_safe import code


#: how far (a share, 5 points) the scored split's most common class must exceed 1/K for the split to count as imbalanced
#: (the accuracy picture's line is then that class's share, the card and the evaluation table say so): a split a few
#: samples off balance (digits' test split: 10.3 % against 10 %) keeps the uniform guess
IMBALANCED = 0.05


def imbalanced_split(majority: Any, k: Any) -> bool:
    """Whether a scored split whose most common class holds the share ``majority`` (0-1) of its samples is imbalanced
    among ``k`` classes: that share is :data:`IMBALANCED` or more above 1 / k (False for missing or odd values)."""
    number = isinstance(majority, (int, float)) and not isinstance(majority, bool)
    return number and isinstance(k, int) and not isinstance(k, bool) and k >= 2 and majority >= 1.0 / k + IMBALANCED


def imbalance_heading(majority: Any, k: Any, split: str = "test") -> str:
    """What an evaluation table's heading adds on an imbalanced scored split (:func:`imbalanced_split`): that the
    accuracy is plain and what answering the most common class alone scores, and what the table's balanced accuracy
    column is (the plans score it there); ``""`` otherwise."""
    if not imbalanced_split(majority, k):
        return ""
    return (f" (plain accuracy on an imbalanced {split} split: its most common class holds {100 * majority:.1f} % of it, "
            "which answering that class alone scores; balanced_accuracy: the mean over classes of each one's share "
            "answered right)")


def imbalance_line(metrics: Mapping[str, Any], k: Any) -> str | None:
    """The card's line on an imbalanced scored split (:func:`imbalanced_split` of the protocol's ``majority_share``):
    the accuracy counts every sample once (plain, not averaged per class), so answering the most common class alone
    scores its share; None for a balanced split or another metric."""
    proto = metrics.get("protocol") if isinstance(metrics.get("protocol"), Mapping) else {}
    majority = proto.get("majority_share")
    if not str(metrics.get("metric", "accuracy")).endswith("accuracy") or not imbalanced_split(majority, k):
        return None
    split = scored_split(metrics)
    several = [v for v in metrics.values() if isinstance(v, Mapping) and isinstance(v.get("scores"), Mapping)]
    balanced = any("balanced_accuracy" in v["scores"] for v in several)
    scored_classes = proto.get("scored_classes")  # the classes the split holds: a class without samples is not averaged
    scored = scored_classes if isinstance(scored_classes, int) and not isinstance(scored_classes, bool) and 0 < scored_classes <= k else k
    return (f"- the {split} split is imbalanced: its most common class holds {100 * majority:.1f} % of its samples (against "
            f"{100 / k:.1f} % for {k} equal classes). The accuracy is plain accuracy (every {split} sample counts once, not a "
            f"mean over classes), so a network that always answers that class scores {100 * majority:.1f} %"
            + (f"; the balanced accuracy (the mean over classes of each class's share answered right) scores "
               f"{100 / scored:.1f} % for that network: {_balanced_cells(metrics)}" if balanced else ""))


def _balanced_cells(metrics: Mapping[str, Any]) -> str:
    """``distilled 41.20 ± 1.05 %, random real ...``: each set's balanced accuracy (its ``scores``), in percent."""
    cells = []
    for name, v in metrics.items():
        s = v.get("scores", {}).get("balanced_accuracy") if isinstance(v, Mapping) and isinstance(v.get("scores"), Mapping) else None
        if isinstance(s, Mapping) and isinstance(s.get("mean"), (int, float)):
            cells.append(f"{name.replace('_', ' ')} {mean_spread(s)} %")
    return ", ".join(cells)


def mean_spread(result: Mapping[str, Any]) -> str:
    """``"93.11 ± 0.87"``: a score's ``mean`` ± ``std`` in percent (values in [0, 1]); ``"93.11"`` when its ``runs`` are
    one (no spread was measured). The one rule of every cell that prints a score block (summary lines, the card)."""
    mean = f"{100 * result['mean']:.2f}"
    runs = result.get("runs")
    return mean if isinstance(runs, list) and len(runs) == 1 else f"{mean} ± {100 * (result.get('std') or 0.0):.2f}"


#: how a config layer of keys taken from a finished run is named (:mod:`mmdistill.chosen_run`: ``--config DIR``), in the
#: manifest's ``config_sources``: ``"run folder runs/lr10 (scored on validation, validation=0.1)"``
CHOSEN_RUN = "run folder "
#: the ``config_sources`` entry of an evaluation key whose value ``mmdistill eval --write`` changed (not taken by
#: ``--config DIR``: a rescoring's ``--no-baselines`` would leave the next run without baselines)
RESCORED_SOURCE = "mmdistill eval --write"


def chosen_on_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The card's lines naming the keys a run took from another run (``--config DIR``) and the split that run was scored
    on: where a published number's hyper-parameters were chosen."""
    by_run: dict[str, list[str]] = {}
    for key, source in (manifest.get("config_sources") or {}).items():
        if isinstance(source, str) and source.startswith(CHOSEN_RUN):
            by_run.setdefault(source[len(CHOSEN_RUN):], []).append(key)
    return [f"- keys taken from the run in {run} (`--config`): {', '.join(map(code, keys))}" for run, keys in by_run.items()]


def scored_split(metrics: Mapping[str, Any]) -> str:
    """``"validation"`` when the metrics block's protocol says its sets were scored on held-out training data
    (``scored_on``, or a ``scored`` phrase that starts with it: a run tuned with ``validation=`` / ``eval_split=valid``),
    else ``"test"``: every picture and card line names the split, so a tuning score is never read as a test score."""
    proto = metrics.get("protocol") if isinstance(metrics.get("protocol"), Mapping) else {}
    said = str(proto.get("scored_on") or proto.get("scored") or "test")
    return "validation" if said.startswith("validation") else "test"


def scored_protocol(meta: Mapping[str, Any], scored: int) -> dict[str, Any]:
    """The evaluation protocol's entries on the split a set was scored on, from the data's ``meta`` and the scored split's
    sample count ``scored``: ``scored_on`` (``"validation"`` when :mod:`mmdistill.validation` carved one, else ``"test"``)
    and ``{split}_samples``, which the card, ``mmdistill show`` and ``mmdistill compare`` read (:func:`scored_split`),
    and ``validation_split``: which validation split it was (the draw's digest, ``meta["validation"]["split"]``:
    :func:`~mmdistill.validation.split_digest`), so ``compare`` never pools or lines up runs of two splits of one size.
    Every adapter's evaluation plan (the core's classification one, the audio-visual pairs') builds them here."""
    split = str(meta.get("scored_on", "test"))
    drawn = meta.get("validation") if isinstance(meta.get("validation"), Mapping) else {}
    digest = drawn.get("split") if split == "validation" else None
    return {"scored_on": split, f"{split}_samples": int(scored), **({"validation_split": digest} if isinstance(digest, str) else {})}


def baseline_sizes(sets: Iterable[str]) -> str:
    """What the metrics heading says of the sizes of the evaluated ``sets`` (their names): the baselines have the
    distilled set's, except the whole training data (``whole``, ``whole_graph``, ``whole_train``: what the set stands in
    for); ``""`` without baselines."""
    others = [k for k in sets if k != "distilled" and not k.startswith("distilled_")]
    whole = [k.replace("_", " ") for k in others if k.startswith("whole")]
    said = ", ".join(whole) + (": the whole training data" if len(whole) == 1 else ": the whole training data each")
    if len(whole) == len(others):
        return f" ({said})" if whole else ""
    return " (the baselines have the same size as the distilled set" + (f"; {said}" if whole else "") + ")"


__all__ = ["CHOSEN_RUN", "IMBALANCED", "RESCORED_SOURCE", "baseline_sizes", "chosen_on_lines", "imbalance_heading", "imbalance_line", "imbalanced_split", "mean_spread", "scored_protocol", "scored_split"]
