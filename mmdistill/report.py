"""What a finished run leaves behind: the manifest, the pictures, the summary line.

The artifact directory is written preview and plots first, tensors and manifest last (the manifest's presence
marks a complete set; see :func:`mmdistill.io.save_synthetic`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import stat
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from mmdistill import __version__
from mmdistill.config import to_dict
from mmdistill.evaluation import evaluated_sets, set_cell
from mmdistill.card import budget, comparable_sets, render_card, storage_block
from mmdistill.card_pictures import picture_lines
from mmdistill.scored_on import RESCORED_SOURCE, imbalanced_split, scored_split
from mmdistill.io import (MANIFEST_FILE, METRICS_FILE, PREVIEW_FILE, RUN_RECORD, SYNTHETIC_FILE, MetricsLog, atomic_path,
                          file_sha256, save_synthetic, write_json)
from mmdistill.memorisation import MEMORISATION_FILE, run_check
from mmdistill.modality import Modality
from mmdistill.plots import plot_accuracy_bars, plot_loss_curve
from mmdistill.resolve import config_sources
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import clean_name, quantity, written_name

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "mmdistill.set/1"
#: a run that trains on a set instead of distilling one (clip-finetune): a manifest and pictures, no tensors
FINETUNE_FORMAT = "mmdistill.finetune/1"


def versions(modality: Modality | None = None) -> dict[str, str]:
    """mmdistill's, torch's and Python's versions, the CPU kernels torch dispatches to (``AVX2``, ``AVX512`` ...: float
    results differ between them in the last bits, which SGD over many epochs grows into different accuracies), and
    the adapter's libraries' versions, and torch's intra-op thread count (float sums on the CPU follow it too)."""
    out = {"mmdistill": __version__, "torch": torch.__version__, "python": platform.python_version(),
           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": str(torch.get_num_threads())}
    if modality is not None:
        out.update(modality.versions())
    return out


def new_manifest(*, recipe: str, method: str, modality: Modality, dataset: str, cfg: Any, syn: SyntheticSet,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a run before its metrics: what made the set (recipe, method, config, versions).

    ``config_sources`` says where each value that is not the config class's default came from: an explicit
    layer (``command-line flags``, ``arguments`` ...) or a table row with its citation."""
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "recipe": recipe,
        "modality": modality.name,
        "method": method,
        "dataset": written_name(dataset),
        "ipc": cfg.ipc,
        "seed": cfg.seed,
        "num_classes": syn.num_classes,
        "sample_noun": getattr(modality, "sample_noun", "sample"),  # a plugin adapter written before the noun existed
        "config": to_dict(cfg),
        "config_sources": config_sources(cfg),
        "versions": versions(modality),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if syn.meta.get("budget_label"):  # a set whose size is not "ipc per class" (e.g. a graph's reduction rate)
        manifest["budget_label"] = syn.meta["budget_label"]
    manifest.update(extra or {})
    return manifest


def add_sharing_blocks(manifest: dict[str, Any], modality: Modality, cfg: Any, syn: SyntheticSet, data: Any, out: Path) -> None:
    """The manifest's ``memorisation`` block (and ``memorisation.png``) and ``storage`` block of a finished set."""
    title = artifact_title(manifest)
    mem = run_check(modality, cfg, syn, data, out_png=out / MEMORISATION_FILE, title=title)
    manifest["memorisation"] = mem
    manifest["storage"] = storage_block(syn, mem.get("real_bytes_per_sample"),
                                        mem.get("real_bytes_basis") or "float32 model inputs of the real training data",
                                        decoded=mem.get("synthetic_samples"))


def write_card(out: Path, manifest: dict[str, Any], modality: Any, syn: SyntheticSet | None = None, where: str = "run",
               export_note: str | None = None, records: list[dict[str, Any]] | None = None) -> Path:
    """``README.md``: the set's dataset card (:mod:`mmdistill.card`; ``export_note``: :func:`~mmdistill.card.render_card`'s;
    ``records``: metrics.jsonl's when the caller has read them, for the loss curve's alt text)."""
    full = {**manifest, "synthetic": syn.header()} if syn is not None else manifest
    pictures = picture_lines(out, full, chance_line(full), records) if where == "run" else []
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(render_card(full, modality, where=where, export_note=export_note, pictures=pictures), encoding="utf-8")
    return out / "README.md"


def artifact_title(manifest: Mapping[str, Any]) -> str:
    """``recipe · dataset · size``, the title of a run's pictures (the size's short form: the card and the summary
    line carry the whole one)."""
    return f"{manifest['recipe']} · {manifest.get('dataset', '')} · {budget_label(manifest, short=True)}"


def write_accuracy_plot(out: Path, manifest: Mapping[str, Any]) -> Path | None:
    """``accuracy.png``: mean ± std and the runs of every evaluated set of the manifest's metrics, one group of
    bars per evaluation network when the set was scored on several (``cross_arch``), a dashed line at chance for
    accuracy (:func:`chance_level`); None when there is no evaluated set."""
    metrics, (label, level) = manifest.get("metrics", {}), chance_line(manifest) or ("chance", None)
    return plot_accuracy_bars(comparable_sets(metrics), out / "accuracy.png", artifact_title(manifest),
                              ylabel=f"{scored_split(metrics)} {metrics.get('metric', 'accuracy')} (%)", networks=metrics.get("cross_arch"),
                              chance=level, chance_label=label)


def chance_level(manifest: Mapping[str, Any]) -> float | None:
    """What a model that learned nothing scores, for a set scored by an accuracy (audio-visual: "fused accuracy") over
    two or more classes: 1 / ``num_classes``, or, on a scored split imbalanced (:func:`~mmdistill.scored_on.imbalanced_split`), the share
    of its most common class (the protocol's ``majority_share``: always answering it beats uniform guessing there);
    None for other metrics (a ranking metric's chance depends on its candidate list)."""
    k = manifest.get("num_classes")
    metrics = manifest.get("metrics", {})
    if (retrieval := retrieval_chance(metrics)) is not None:
        return retrieval
    if not (str(metrics.get("metric", "accuracy")).endswith("accuracy") and isinstance(k, int) and not isinstance(k, bool) and k >= 2):
        return None
    majority = (metrics.get("protocol") or {}).get("majority_share")
    if imbalanced_split(majority, k):
        return float(majority)
    return 1.0 / k


def retrieval_chance(metrics: Mapping[str, Any]) -> float | None:
    """The R@10 mean (image->text and text->image) of a model that ranks at random, from the protocol's test images and
    captions (each caption one image's; the captions spread evenly over the images): text->image 10 / images, image->text
    the chance that one of an image's own captions is among 10 drawn from all; None for another metric or a protocol
    without the counts."""
    from math import comb

    proto = metrics.get("protocol") or {}
    n_img, n_cap = proto.get("test_images"), proto.get("test_captions")
    if not (str(metrics.get("metric", "")).startswith("R@10 (mean") and isinstance(n_img, int) and isinstance(n_cap, int)
            and 0 < n_img <= n_cap):
        return None
    own = max(1, round(n_cap / n_img))
    i2t = 1.0 - comb(n_cap - own, 10) / comb(n_cap, 10) if n_cap > 10 else 1.0
    return 0.5 * (min(1.0, 10 / n_img) + i2t)


def chance_label(manifest: Mapping[str, Any], level: float | None = None) -> str:
    """The name of :func:`chance_level`'s line (``level``: its value when the caller has it): ``chance``, ``majority
    class`` when that is what it is, or ``random ranking``."""
    if retrieval_chance(manifest.get("metrics", {})) is not None:
        return "random ranking"
    level, k = chance_level(manifest) if level is None else level, manifest.get("num_classes")
    return "majority class" if level is not None and isinstance(k, int) and level > 1.0 / k else "chance"


def chance_line(manifest: Mapping[str, Any]) -> tuple[str, float] | None:
    """(:func:`chance_label`, :func:`chance_level`) of the accuracy chart's dashed line, the level computed once; None
    when there is none."""
    level = chance_level(manifest)
    return None if level is None else (chance_label(manifest, level), level)


def _draw(name: str, draw: Callable[[], Any]) -> None:
    """Run ``draw`` (a picture of the set, ``name``); a failure is logged, not raised: the set and its manifest, written
    after the pictures, are worth more than a picture (an unusual set, such as 2-channel frames, may not draw)."""
    try:
        draw()
    except Exception as exc:  # noqa: BLE001 - any plotting error; the set is written whatever it was
        log.warning("%s was not drawn (%s: %s); the set is written without it", name, type(exc).__name__, exc)


def _preview_words(manifest: dict[str, Any], modality: Modality, syn: SyntheticSet) -> None:
    """The manifest's ``preview_words``: the adapter's ``preview_words(syn)`` (:mod:`mmdistill.sharing`), kept so that
    a card written again later (``eval --write``) still says what preview.png shows; nothing for an adapter without it.
    On one line and cleaned of control characters (:func:`mmdistill.words.clean_name`: a class name may hold one), as
    :func:`mmdistill.manifest_check.check_manifest` reads it back."""
    words = getattr(modality, "preview_words", None)
    said = words(syn) if callable(words) else None
    if isinstance(said, str) and said.strip():
        manifest["preview_words"] = clean_name(" ".join(said.split()))


def write_artifact(out: Path, syn: SyntheticSet, manifest: dict[str, Any], modality: Modality) -> None:
    """Preview, plots, the card, then tensors and manifest (manifest last: its presence marks a complete set). The
    manifest's ``written_files`` names the files this wrote beside the set (a modality's own, such as a video's
    ``preview.gif``), with each one's SHA-256 (``written_file_sha256``), so that ``--overwrite`` removes every one of
    them, and no other file of the folder (a name a manifest lists whose content is not what the run wrote stays)."""
    before = _file_states(out)
    title = artifact_title(manifest)
    _draw(PREVIEW_FILE, lambda: modality.write_preview(syn, out / PREVIEW_FILE, title))
    _draw("preview's words", lambda: _preview_words(manifest, modality, syn))
    records = MetricsLog(out / METRICS_FILE).read()  # read once: the loss curve and its alt text
    _draw("loss.png", lambda: plot_loss_curve(records, out / "loss.png", title=f"{title}: matching loss",
                                              selection=manifest.get("selection")))
    _draw("accuracy.png", lambda: write_accuracy_plot(out, manifest))
    write_card(out, manifest, modality, syn, records=records)
    own = {*RUN_RECORD, SYNTHETIC_FILE}  # the run's own record, removed by name
    after = _file_states(out)
    manifest["written_files"] = sorted(n for n, state in after.items() if before.get(n) != state and n not in own)
    manifest["written_file_sha256"] = {n: file_sha256(out / n) for n in manifest["written_files"]}
    save_synthetic(out, syn, manifest)


#: keys ``mmdistill eval`` may change that only say how it runs (recorded nowhere): device, progress, caches
EVAL_EXECUTION_KEYS = ("device", "progress", "download", "cache", "cache_dir", "pretrain_cache", "pretrain_cache_dir", "text_batch",
                       "text_cache")


def is_evaluation_key(name: str) -> bool:
    """Whether config key ``name`` shapes how a set is scored (``eval_*``, ``ft_*``, ``whole_*``, the baselines, ...):
    the keys ``mmdistill eval`` changes, and ``--write`` records in the manifest's config."""
    return name.startswith(("eval_", "ft_", "whole_")) or name in ("adj_threshold", "baselines", "cross_arch", "herding_epochs")


def write_rescored(folder: Path, manifest: dict[str, Any], metrics: Mapping[str, Any], cfg: Any, changes: Mapping[str, Any],
                   modality: Any, card_dir: Path, where: str) -> None:
    """``mmdistill eval --write``: the manifest's metrics (the earlier ones kept, :func:`rescored_metrics`) and its config's
    evaluation keys that ``changes`` names (:func:`is_evaluation_key`; their values as ``cfg`` holds them, typed) become
    the new evaluation's (a changed one's ``config_sources`` entry :data:`RESCORED_SOURCE`), the card (in ``card_dir``) and, in a run folder, ``accuracy.png`` are written again, and the
    recorded SHA-256 of the files rewritten follow them (:func:`follow_rewritten`), the manifest last."""
    from mmdistill.evaluation import rescored_metrics

    manifest["metrics"] = rescored_metrics(manifest.get("metrics", {}), metrics)
    plain, before = to_dict(cfg), manifest.get("config", {})
    rescored = {k: json.loads(json.dumps(plain[k], default=str)) for k in changes if is_evaluation_key(k) and k in plain}
    manifest["config"] = {**before, **rescored}
    if isinstance(sources := manifest.get("config_sources"), dict):  # a value this command changed came from it (walk 51C)
        sources.update({k: RESCORED_SOURCE for k, v in rescored.items() if before.get(k) != v})
    write_card(card_dir, manifest, modality, where=where)
    if where == "run":
        write_accuracy_plot(folder, manifest)
        follow_rewritten(folder, manifest, ("README.md", "accuracy.png"))
    write_json(folder / MANIFEST_FILE, manifest)


def follow_rewritten(folder: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> None:
    """The manifest's recorded SHA-256 (``written_file_sha256``) of ``names`` that a command wrote again in the run
    folder ``folder`` (``eval --write``, ``check``) set to their new contents, before the manifest is written (last: a
    stop between leaves the card newer than the manifest, which ``show`` names), so that ``--overwrite`` does not take
    them for the user's edits."""
    hashes = manifest.get("written_file_sha256")
    for name in names:
        if isinstance(hashes, dict) and name in hashes and (folder / name).is_file():
            hashes[name] = file_sha256(folder / name)


def _file_states(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Name -> (inode, size, modification time in ns) of each plain file directly in ``folder``: a file whose state
    changed across a write was written by it (an atomic replace gives a new inode), whatever the clocks say."""
    states = {}
    for p in Path(folder).iterdir():
        try:
            st = p.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            states[p.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return states


def budget_label(manifest: Mapping[str, Any], short: bool = False) -> str:
    """How big the set is: the manifest's ``budget_label`` when the modality wrote one, else ``ipc K``. ``short``:
    without its parenthesis (a picture's title: ``"1 clip/class, 58.3 KiB stored"``, not the comparison with full
    clips that follows it; ``"140 nodes"``, not how the budget was stated)."""
    label = budget(manifest)
    return label.split(" (", 1)[0] if short else label


def summary_line(manifest: Mapping[str, Any]) -> str:
    """``recipe on dataset at ipc K: distilled m ± s %, random real m ± s %, ...`` (the metric is named
    unless it is accuracy; the network the numbers are of is named, ``, scored on mlp``, when the set was scored on
    networks chosen by ``eval_networks`` / ``cross_arch`` rather than the recipe's own one)."""
    m = manifest.get("metrics", {})
    metric = m.get("metric", "accuracy")
    head = f"{manifest.get('recipe', '?')} on {manifest.get('dataset')} at {budget_label(manifest)}"
    config = manifest.get("config") or {}
    if m.get("network") and (m.get("cross_arch") or config.get("eval_networks") or config.get("cross_arch")):
        others = len(m.get("cross_arch") or {}) - 1
        head += f", scored on {m['network']}" + (f" (and {quantity(others, 'more network')}, below)" if others > 0 else "")
    if scored_split(m) == "validation":
        metric = f"{metric} on validation samples held out of the training split"
    head += ":" if metric == "accuracy" else f" ({metric}):"
    parts = [set_cell(key, v) for key, v in evaluated_sets(m).items()]
    return head + " " + ", ".join(parts)


def cross_arch_lines(metrics: Mapping[str, Any], indent: str = "    ") -> list[str]:
    """One line per evaluation network of a metrics block's ``cross_arch`` (``net: distilled m ± s, random real ...``, in
    percent); empty when the set was scored on one network."""
    return [indent + f"{net}: " + ", ".join(set_cell(k, v) for k, v in evaluated_sets(rows).items())
            for net, rows in (metrics.get("cross_arch") or {}).items()]


__all__ = ["FINETUNE_FORMAT", "MANIFEST_FORMAT", "add_sharing_blocks", "budget_label", "chance_level", "cross_arch_lines", "follow_rewritten", "write_card", "new_manifest", "summary_line", "versions", "write_artifact"]
