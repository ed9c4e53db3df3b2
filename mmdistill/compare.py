"""``mmdistill compare DIR ...``: the runs of a sweep side by side, read from their manifests (a tuning summary).

Tuning means looking at a dozen runs (``validation=0.1``, a few learning rates x IPCs x seeds) and picking the keys of
one; ``mmdistill show`` summarises one set. ``compare`` reads each run folder's ``manifest.json`` (a folder that holds
run folders stands for them: ``mmdistill compare runs/sweep``), groups the runs that differ only in ``seed`` into one
setting, and prints one row per setting: the config keys that differ between the settings, the seeds, and each
evaluated set's mean ± std over every evaluation network of every seed (accuracy in percent); the rows scored on
validation first, then those scored on test, each best distilled first.
With ``folds`` (``--folds``) the runs that differ only in ``seed`` and the official fold they held out (``test_fold``:
ESC-50, UrbanSound8K) pool too, a ``folds`` column listing the folds: k-fold cross-validation's mean, each fold's runs
counted alike when every fold has as many evaluation networks. A run's fold is the one its load report records, so a
run with the default ``test_fold`` (none) shows the fold it held out, with or without ``folds``.
Every row says the split it was scored on, so a validation score is never read as a test score, and a table whose
rows were scored on the test split says that keys chosen from it overstate what a user will see. Nothing is loaded
but JSON (the tensors are not read; ``mmdistill show DIR`` checks a set's files).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mmdistill.chosen_run import NOT_CARRIED
from mmdistill.compare_splits import COLUMN, apart_note, fill_unrecorded, saved_meta, split_labels, splits_said, validation_split
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.evaluation import evaluated_sets
from mmdistill.io import MANIFEST_FILE, read_json
from mmdistill.schema import values_before_keys
from mmdistill.scored_on import scored_split
from mmdistill.words import quantity, shown, shown_values


@dataclass
class Setting:
    """The runs of one setting (the same keys but ``seed``): their folders, seeds and every evaluation run's score."""

    keys: dict[str, Any]
    split: str
    folders: list[Path] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    scores: dict[str, list[float]] = field(default_factory=dict)  #: set name -> every evaluation run's score (fractions)
    samples: set[int] = field(default_factory=set)  #: how many samples its runs were scored on (the protocol's count)
    folds: list[int] = field(default_factory=list)  #: the official folds its runs held out (``folds``: pooled)
    held_out: str | None = None  #: its validation split (:func:`~mmdistill.compare_splits.validation_split`), None on test

    def cell(self, name: str) -> str:
        """``"93.11 ± 0.87"`` (percent) over every evaluation run of the setting's seeds; ``"93.11 (one run)"`` for a
        single score (one seed at ``eval_runs=1``: no spread was measured); ``"-"`` when none scored it."""
        runs = self.scores.get(name) or []
        if not runs:
            return "-"
        if len(runs) == 1:
            return f"{100 * runs[0]:.2f} (one run)"
        return f"{100 * statistics.fmean(runs):.2f} ± {100 * statistics.pstdev(runs):.2f}"

    def best_key(self) -> float:
        runs = self.scores.get("distilled") or []
        return statistics.fmean(runs) if runs else -float("inf")


def run_folders(paths: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """The run folders ``paths`` name, and a line for each one whose run is unfinished (a checkpoint or status record
    but no manifest yet: still going, stopped, failed or killed, as ``mmdistill show`` says it). A path that holds no
    ``manifest.json`` stands for its sub-folders (a sweep's parent folder). ConfigError names a path that is neither."""
    from mmdistill.io import CHECKPOINT_FILE, STATUS_FILE
    from mmdistill.run_status import unfinished_run

    def unfinished(folder: Path) -> bool:
        return not (folder / MANIFEST_FILE).is_file() and any((folder / f).is_file() for f in (CHECKPOINT_FILE, STATUS_FILE))

    out: list[Path] = []
    pending: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / MANIFEST_FILE).is_file() or unfinished(path):
            (out if (path / MANIFEST_FILE).is_file() else pending).append(path)
            continue
        inner = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
        done, going = [p for p in inner if (p / MANIFEST_FILE).is_file()], [p for p in inner if unfinished(p)]
        if not done and not going:
            raise ConfigError(f"mmdistill compare: {path} is not a run folder (no {MANIFEST_FILE}, checkpoint or status record) "
                              "and holds none")
        out.extend(done)
        pending.extend(going)
    return list(dict.fromkeys(out)), [unfinished_run(p) for p in dict.fromkeys(pending)]


def _manifest(folder: Path) -> dict[str, Any]:
    manifest = read_json(folder / MANIFEST_FILE)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise ArtifactError(f"{folder / MANIFEST_FILE}: no 'config' object; expected the manifest of an mmdistill run")
    return shown_values(manifest)


#: the cell of a key a run's recipe does not have (comparing DM with DC: DC's ``outer_loop`` in a DM row)
ABSENT = "-"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


#: one run as :func:`settings_of` reads it: folder, keys, scored split, metrics, seed, fold held out, validation split
#: digest (None: not recorded) and the number of samples scored (None: not recorded)
Run = tuple[Path, dict[str, Any], str, Mapping[str, Any], int, int | None, str | None, int | None]


def held_fold(manifest: Mapping[str, Any]) -> int | None:
    """The official fold a run held out (its load report's fact ``test_fold``), None for data without folds."""
    meta = saved_meta(manifest)
    report = meta.get("load_report") if isinstance(meta.get("load_report"), Mapping) else {}
    fold = (report.get("facts") or {}).get("test_fold") if isinstance(report.get("facts") or {}, Mapping) else None
    return fold if isinstance(fold, int) and not isinstance(fold, bool) else None


def _fill_keys_added_since(runs: Sequence[Run],
                           configs: Sequence[Mapping[str, Any]]) -> None:
    """Give a run saved before a key of its recipe existed (a key another run of the same recipe records) the value it
    ran with (:func:`~mmdistill.schema.values_before_keys`: ``resize`` squeeze, ``split_number`` 1, ...), in place, so an
    older run and a newer one of the same keys are one setting, not two told apart by a key the older never had."""
    recipe_keys: dict[str, set[str]] = {}
    for _, keys, *_ in runs:
        recipe_keys.setdefault(str(keys.get("recipe")), set()).update(keys)
    for (_, keys, *_), config in zip(runs, configs):
        for k, v in values_before_keys(config, recipe_keys[str(keys.get("recipe"))]).items():
            if k not in keys:  # (with --folds test_fold left every run's keys: never among them)
                keys[k] = v


def settings_of(manifests: Iterable[tuple[Path, Mapping[str, Any]]], folds: bool = False) -> tuple[list[Setting], list[str], list[str]]:
    """The settings of the runs (``(folder, manifest)``), those scored on validation first, each best distilled first; the keys that differ between them
    (``recipe``, then config keys; ``seed`` and :data:`NOT_CARRIED` excluded; ``scored on`` when the runs were
    scored on different splits; ``test_fold`` too with ``folds``); and one line per folder left out (no metrics: run with
    ``--no-evaluate``)."""
    skipped: list[str] = []
    runs: list[Run] = []
    configs: list[Mapping[str, Any]] = []
    for folder, manifest in manifests:
        metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), Mapping) else {}
        if not evaluated_sets(metrics):
            skipped.append(f"{folder}: no scores (evaluated with --no-evaluate? `mmdistill eval {folder} --write` scores it)")
            continue
        config = manifest["config"]
        keys = {"recipe": manifest.get("recipe"), **{k: v for k, v in config.items() if k not in NOT_CARRIED and k != "seed"}}
        fold = held_fold(manifest)
        if folds:
            keys.pop("test_fold", None)
        elif fold is not None:
            keys["test_fold"] = fold  # the default (none) as the fold it was
        split = scored_split(metrics)
        count = (metrics.get("protocol") or {}).get(f"{split}_samples")
        runs.append((folder, keys, split, metrics, int(config.get("seed", manifest.get("seed", 0))), fold,
                     validation_split(manifest, split), count if isinstance(count, int) else None))
        configs.append(config)
    _fill_keys_added_since(runs, configs)
    held = fill_unrecorded([(json.dumps(r[1], sort_keys=True, default=str), r[7], r[6]) for r in runs])
    names = list(dict.fromkeys(k for _, keys, *_ in runs for k in keys))
    differ = [k for k in names if len({_text(keys.get(k, ABSENT)) for _, keys, *_ in runs}) > 1]
    groups: dict[str, Setting] = {}
    for (folder, keys, split, metrics, seed, fold, _, count), held_out in zip(runs, held):  # seeds pool on one split only
        ident = json.dumps([[k, _text(keys.get(k, ABSENT))] for k in differ] + [split, held_out])
        setting = groups.setdefault(ident, Setting({k: keys.get(k, ABSENT) for k in differ}, split, held_out=held_out))
        setting.folders.append(folder)
        setting.seeds.append(seed)
        setting.folds.extend([fold] if fold is not None else [])
        setting.samples.update([count] if count is not None else [])
        for name, result in evaluated_sets(metrics).items():
            setting.scores.setdefault(name, []).extend(float(s) for s in result.get("runs") or [result["mean"]])
    if len({s.split for s in groups.values()}) > 1:
        differ.append("scored on")
    ranked = sorted(groups.values(), key=Setting.best_key, reverse=True)
    return sorted(ranked, key=lambda s: s.split != "validation"), differ, skipped  # the tuning rows first


def compare_lines(paths: Sequence[str | Path], folds: bool = False) -> list[str]:
    """What ``mmdistill compare PATHS`` prints: a header naming what the runs share, one row per setting (see the module
    docstring; ``folds``: the official folds pooled, listed in a ``folds`` column), the folders left out, and a line on
    the split the scores came from."""
    folders, unfinished = run_folders(paths)
    settings, differ, skipped = settings_of(((f, _manifest(f)) for f in folders), folds)
    skipped += unfinished
    if not settings:
        return skipped + ["no run to compare: none of these folders records scores"]
    sets = list(dict.fromkeys(name for s in settings for name in s.scores))
    splits = sorted({s.split for s in settings})
    counts = {split: sorted({n for s in settings if s.split == split for n in s.samples}) for split in splits}
    labels = split_labels([s.held_out for s in settings])  # several validation splits: each row's named
    on = " and ".join(f"{split}" + (f" ({counts[split][0]} samples{splits_said(labels) if split == 'validation' else ''})"
                                    if len(counts[split]) == 1 else "") for split in splits)
    head = [*(k for k in differ if k != "scored on"), *(["scored on"] if "scored on" in differ else []), *([COLUMN] if labels else []), "seeds"]
    head += (["folds"] if folds else []) + [name.replace("_", " ") for name in sets] + ["runs"]
    rows = [[*(shown(_text(s.keys.get(k))) for k in differ if k != "scored on"), *([s.split] if "scored on" in differ else []),
             *([labels.get(s.held_out or "", "-")] if labels else []),
             ",".join(map(str, sorted(set(s.seeds) if folds else s.seeds))), *([",".join(map(str, sorted(set(s.folds)))) or "-"] if folds else []),
             *(s.cell(name) for name in sets), str(len(s.folders))] for s in settings]
    widths = [max(len(c) for c in col) for col in zip(head, *rows)]
    shared = f"differing in {', '.join(differ)}" if differ else "the same keys"
    lines = [f"{quantity(sum(len(s.folders) for s in settings), 'run')} in {quantity(len(settings), 'setting')} ({shared}); scores in % on the "
             f"{on} split{'s' if len(splits) > 1 else ''}, mean ± std over every evaluation network of every seed, validation rows first, best distilled first:"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines += [f"  left out {line}" for line in skipped]  # unscored sets, and runs not finished
    apart = apart_note([(s.held_out, s.keys) for s in settings], labels)
    lines += [apart] if apart else []
    for split, ns in counts.items():
        if len(ns) > 1 and folds:
            lines.append(f"note: the folds pooled hold {' and '.join(map(str, ns))} {split} samples: a row's mean weighs each "
                         "run alike, not each sample")
        elif len(ns) > 1:
            lines.append(f"note: runs were scored on {' and '.join(map(str, ns))} {split} samples: their data or split differ "
                         "(another dataset copy, split_seed or validation fraction), so their scores are not comparable")
    if folds:
        lines.append("note: --folds pools the runs of every official fold a row lists (its mean: k-fold cross-validation "
                     "when the row lists all of the dataset's folds, each with the same seeds and eval_runs)"
                     if any(s.folds for s in settings) else "note: --folds: no run records an official fold (test_fold)")
    if "test" in splits:
        lines.append("note: rows scored on the test split: keys chosen from them overstate what a user will see; tune on "
                     "runs with validation=0.1 (held-out training samples), then run the chosen keys once without it")
    return lines


__all__ = ["Setting", "compare_lines", "held_fold", "run_folders", "settings_of"]
