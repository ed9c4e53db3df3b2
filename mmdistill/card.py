"""The dataset card (``README.md``) of a distilled set: written into every run folder and every export.

It says what the set is (method and paper, the source dataset and its licence as the loader knows it, the
config), how good it is (the metrics next to their baselines, and how they were measured), what it costs (the
stored bytes against the same number of real samples), what it leaks (the memorisation check) and how to load
it. The YAML header is the Hugging Face Hub's dataset-card metadata.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from mmdistill.consumer import input_note, normalization_line, normalization_of
from mmdistill.errors import ArtifactError
from mmdistill.evaluation import evaluated_sets, set_cell
from mmdistill.markdown_safe import code, fence, inert, plain, yaml_string
from mmdistill.load_report import FORMAT, NOTHING, LoadReport, summary_line
from mmdistill.export_record import LEFT_OUT, for_export
from mmdistill.real_samples import card_line
from mmdistill.memorisation import MEMORISATION_FILE, summary_lines
from mmdistill.memory import nbytes
from mmdistill.modality import registered_call
from mmdistill.scored_on import baseline_sizes, chosen_on_lines, imbalance_line, mean_spread, scored_split
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import quantity


def classes_phrase(num_classes: Any) -> str:
    """``10 classes, `` for a classification set; empty for a set without classes (image-text pairs and sequence
    summaries are stored as one placeholder class) or an unknown count."""
    return f"{num_classes} classes, " if isinstance(num_classes, int) and num_classes > 1 else ""


def storage_block(syn: SyntheticSet, real_bytes_per_sample: int | None, basis: str, decoded: int | None = None) -> dict[str, Any]:
    """Bytes of the stored tensors (labels included) against ``len(syn)`` real samples of ``real_bytes_per_sample``
    bytes, each with its class label stored as the set stores its hard labels (so a set of small samples is not shown
    larger than as many real ones only because the real side left its labels out; none for one-class sets).
    ``decoded``: how many samples the stored ones decode to (the memorisation check's count), recorded when it differs
    (a multi-formation set: each stored pair tiles f x f smaller ones). The set's ``fixed`` tensors (an image set's ZCA
    whitening: a property of the dataset, not of the samples) are counted apart, as ``fixed_bytes``, when it has any."""
    stored = syn.stored_bytes()
    out: dict[str, Any] = {"synthetic_bytes": stored, "samples": len(syn)}
    if syn.fixed:
        out["fixed_bytes"] = nbytes(list(syn.fixed.values()))
    if isinstance(decoded, int) and decoded != len(syn):
        out["decoded_samples"] = decoded
    if real_bytes_per_sample:
        label = syn.labels.element_size() if syn.num_classes > 1 else 0  # pairs and sequence summaries: no real label
        real = (int(real_bytes_per_sample) + label) * len(syn)
        out.update(real_bytes=real, real_basis=basis + (f", with a {label}-byte label each" if label else ""), ratio=stored / real)
    return out


def _facts(manifest: Mapping[str, Any], modality: Any) -> dict[str, str]:
    """The adapter's facts of the set's dataset; for data in memory (the set's meta ``registered_with``: the
    ``register_tensors`` call) the call as its source, its licence the user's."""
    try:
        facts = modality.dataset_facts(str(manifest.get("dataset", ""))) if modality is not None else {}
    except Exception:  # noqa: BLE001 - a card is written even for an adapter without facts
        facts = {}
    syn = manifest.get("synthetic")
    call = registered_call(syn.get("meta")) if isinstance(syn, Mapping) else None
    if not facts and call is not None:
        return {"licence": "the licence of the user's data (in memory: not known to the loader)", "licence_id": "unknown",
                "source": f"data in memory given to {call}"}
    return facts


def stored_count(manifest: Mapping[str, Any]) -> Any:
    """How many samples the set stores: its header's ``labels`` length, ``"?"`` when the manifest does not say."""
    return (((manifest.get("synthetic") or {}).get("tensors") or {}).get("labels") or ["?"])[0]


def counted(n: Any, manifest: Mapping[str, Any], modality: Any = None) -> str:
    """``"5 clips"``: ``n`` with the set's sample noun (the manifest's ``sample_noun``, else the adapter's, else
    "sample"), plural unless ``n`` is 1."""
    noun = manifest.get("sample_noun") or getattr(modality, "sample_noun", None) or "sample"  # an adapter from before the noun
    return quantity(n, noun)


def merged_part_words(part: Mapping[str, Any], manifest: Mapping[str, Any], modality: Any = None) -> str:
    """One ``merged_from`` record in words, as the card and ``mmdistill show`` say it: ``"classes cat, dog"``, or for a
    set without classes (image-text) its :func:`counted` total, ``"6 pairs"``; "" when the record names neither."""
    classes, per_class = part.get("classes"), part.get("per_class")
    return (f"classes {', '.join(map(str, classes))}" if isinstance(classes, list)
            else counted(sum(per_class), manifest, modality) if isinstance(per_class, list) else "")


def size_text(n: float) -> str:
    """``n`` bytes in binary units (``"125.5 KiB"``), as the card and ``mmdistill cache`` state sizes."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def budget(manifest: Mapping[str, Any]) -> str:
    """The set's size as the card, the summary line and the pictures' titles name it: the manifest's ``budget_label``
    when the modality wrote one (``"50 sequences x 20"``, ``"100 pairs"``), else ``"ipc <ipc>"``."""
    return str(manifest.get("budget_label") or f"ipc {manifest.get('ipc', '?')}")


def comparable_sets(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluated sets of ``metrics`` and, after them, those of ``metrics.earlier`` scored on the same network under
    the same protocol (:func:`_protocol`) that the new evaluation did not score again (the baselines after
    ``eval --no-baselines --write``), named ``<set> (earlier)``: what the picture and the table compare the set with."""
    sets = evaluated_sets(metrics)  # a new dict: the update below changes no part of metrics
    before = metrics.get("earlier") if isinstance(metrics.get("earlier"), Mapping) else {}
    proto, old = metrics.get("protocol"), before.get("protocol")
    if before and before.get("network") == metrics.get("network") and _protocol(old, proto) == _protocol(proto, old):
        sets.update({f"{k} (earlier)": v for k, v in evaluated_sets(before).items() if k not in sets})
    return sets


def metric_rows(metrics: Mapping[str, Any]) -> list[str]:
    """The Markdown table of the evaluated sets in ``metrics``: two header rows, then one row per set with the mean
    and standard deviation of its score (a fraction, shown x100; the mean with ``%``) and its number of runs."""
    rows = ["| set | mean | std | runs |", "| --- | ---: | ---: | ---: |"]
    for name, v in comparable_sets(metrics).items():
        std = "n/a" if len(v.get("runs", [])) == 1 else f"{100 * v['std']:.2f}"  # one run measures no spread
        rows.append(f"| {name.replace('_', ' ')} | {100 * v['mean']:.2f} % | {std} | {len(v.get('runs', []))} |")
    return rows


def score_rows(metrics: Mapping[str, Any]) -> list[str]:
    """The Markdown table of every score of the evaluated sets that record several (``"scores"``: fused, audio-only
    and visual-only accuracy; HR@K and NDCG@K; R@K per direction), one column per score as mean ± std (x100); no
    rows when no set records more than its headline."""
    sets = {k: v for k, v in evaluated_sets(metrics).items() if isinstance(v.get("scores"), Mapping) and v["scores"]}
    names = list(dict.fromkeys(n for v in sets.values() for n in v["scores"]))  # each score once, in first-seen order
    if len(names) < 2:
        return []

    def cell(v: Mapping[str, Any], n: str) -> str:
        s = v["scores"].get(n)
        return mean_spread(s) if isinstance(s, Mapping) and "mean" in s else "-"

    rows = ["| set | " + " | ".join(n.replace("_", " ") for n in names) + " |", "| --- |" + " ---: |" * len(names)]
    return rows + [f"| {k.replace('_', ' ')} | " + " | ".join(cell(v, n) for n in names) + " |" for k, v in sets.items()]


def loading_counts(manifest: Mapping[str, Any]) -> str | None:
    """What the loader read and left out, from the report an adapter stores in the set's metadata
    (``synthetic.meta.load_report``, :class:`mmdistill.load_report.LoadReport`: unreadable, skipped, ignored,
    padded files ...), as one line of the non-zero counts; None when the set has no such record (in-memory or
    generated data). A report with a ``format`` this version does not read (another format, or format 1 in another
    shape) gets a line saying so, never counts read from the wrong shape. Sets saved before that shape (a flat dict
    of counts in ``load_report``, the sequences' ``data_stats`` of a log read from a file, which names its
    ``format``) give the line they gave then: every positive integer of both, in that order. The ``data_stats`` of a
    generated log (no ``format``; sequences sets store them beside no load report) give no line."""
    syn = manifest.get("synthetic")
    meta = syn.get("meta") if isinstance(syn, Mapping) else None
    if not isinstance(meta, Mapping):
        return None
    stored = meta.get("load_report")
    if isinstance(stored, Mapping) and "format" in stored:
        try:
            return LoadReport.from_dict(stored).summary()
        except ArtifactError:
            return (f"not shown: the load report (format {repr(stored['format'])[:40]}) is not in a shape this version of "
                    f"mmdistill reads (format {FORMAT})")
    stats = meta.get("data_stats")
    reports = ([stats] if isinstance(stats, Mapping) and "format" in stats else []) + ([stored] if isinstance(stored, Mapping) else [])
    if not reports:
        return None
    shown = [line for rep in reports if (line := summary_line(rep)) != NOTHING]
    return ", ".join(shown) if shown else NOTHING


def card_summary(manifest: Mapping[str, Any], modality: Any = None) -> str:
    """A few lines: what, how good, how big, how close to real data."""
    facts = _facts(manifest, modality)
    lines = [f"{manifest.get('recipe')} ({manifest.get('method')}) on {manifest.get('dataset')} at {budget(manifest)}"
             + (f" — {manifest['paper']}" if manifest.get("paper") else "")]
    if facts:
        lines.append(f"source licence: {facts.get('licence')}")
    if (loaded := loading_counts(manifest)) is not None:
        lines.append(f"loading: {loaded}")
    m = manifest.get("metrics") or {}
    sets = evaluated_sets(m)
    if sets:
        split = "validation " if scored_split(m) == "validation" else ""  # a tuning score read as a test score misleads
        lines.append(f"{split}{m.get('metric', 'accuracy')} ({m.get('network')}): " + ", ".join(set_cell(k, v) for k, v in sets.items()))
        if imbalanced := imbalance_line(m, manifest.get("num_classes")):
            lines.append(imbalanced.removeprefix("- "))
    st = manifest.get("storage") or {}
    if st.get("real_bytes"):
        lines.append(f"stored {size_text(st['synthetic_bytes'])} for {counted(st['samples'], manifest, modality)}; the same number of real ones: "
                     f"{size_text(st['real_bytes'])} ({st.get('real_basis')})")
    mem = manifest.get("memorisation") or {}
    if mem.get("skipped"):
        lines.append(f"memorisation check: skipped ({mem['skipped']})")
    elif not mem:  # a receiver reading show must not take silence for a clean check
        lines.append("memorisation check: not run, nothing says whether the set copies real samples (mmdistill check DIR "
                     "runs it, with the real data)")
    else:
        lines += [f"memorisation, {line}" for line in summary_lines(mem)]
    if said := card_line(modality, (manifest.get("synthetic") or {}).get("meta")):  # real samples carried, or left out
        lines.append(f"{said[0].replace(' verbatim', '').lower()}: {said[1]}")
    return "\n".join(lines)


def _protocol(proto: Any, other: Any = None) -> Any:
    """An evaluation protocol without what describes the scored data rather than the training (``majority_share``,
    recorded since session 35, ``scored_classes`` since session 52, ``validation_split`` since mend 56K), and without
    ``dsa_strategy`` (recorded since session 36) when ``other`` lacks it: two protocols that train alike compare equal."""
    if not isinstance(proto, Mapping):
        return proto
    drop = {"majority_share", "scored_classes", "validation_split"} | ({"dsa_strategy"} if not (isinstance(other, Mapping) and "dsa_strategy" in other) else set())
    return {k: v for k, v in proto.items() if k not in drop}


def imported_line(record: Mapping[str, Any]) -> str:
    """The card's line on a set ``mmdistill import`` brought from the reference code (the manifest's ``imported_from``:
    source, file, experiment, the accuracies the reference recorded): not distilled here, so the config's distillation
    keys did not run; its scores below are mmdistill's protocol, the reference's own are quoted as it recorded them."""
    experiment = (f", experiment {record['experiment']} of {record.get('experiments', '?')}"
                  if isinstance(record.get("experiment"), int) else "")
    reported = record.get("reported") if isinstance(record.get("reported"), Mapping) else {}
    quoted = "; ".join(f"{net}: {100 * acc:.2f} %" if isinstance(acc, (int, float)) and acc <= 1 else f"{net}: {acc}"
                       for net, acc in reported.items())
    return (f"- imported from {code(record.get('file', '?'))} ({record.get('source', '?')}{experiment}; pixels: "
            f"{record.get('pixels', 'as stored')}): distilled by that code, not by mmdistill, so the config's distillation keys did "
            "not run; the metrics below are this evaluation's" + (f"; the reference recorded {quoted} (its own protocol)" if quoted else ""))


def render_card(manifest: Mapping[str, Any], modality: Any = None, *, where: str = "run", export_note: str | None = None,
                pictures: Sequence[str] = ()) -> str:
    """The card's markdown. ``where``: ``"run"`` (a run folder), ``"hf"`` (a ``--to hf`` export: the Hub's
    ``configs`` point at ``data/train.parquet``) or ``"export"`` (a natural-format export, whose *This folder* adds
    ``export_note``, the adapter's markdown on reading it elsewhere: its ``export_note(syn)``). Every string taken from
    the manifest is made inert first (:func:`mmdistill.markdown_safe.inert`; a code span shows the value itself: :func:`~mmdistill.markdown_safe.code`); the YAML header's values are quoted scalars and the config is
    in a fence it cannot close. ``pictures``: a run card's *Pictures* lines (:func:`mmdistill.card_pictures.picture_lines`)."""
    if where != "run":  # an export is published: without the sender's paths and data file names
        manifest = for_export(manifest)
    raw, manifest = manifest, inert(manifest)  # raw: the values as they are, read in place (nothing here changes them)
    raw_meta = raw["synthetic"].get("meta") if isinstance(raw.get("synthetic"), Mapping) else None
    facts = _facts(manifest, modality)
    name = f"{manifest.get('recipe')} · {manifest.get('dataset')} · {budget(manifest)}"
    modality_name = manifest.get("modality", "")
    pretty = f"{raw.get('recipe')} · {raw.get('dataset')} · {budget(raw)}"  # YAML, not Markdown: the values as they are
    head = ["---", f"license: {yaml_string(facts.get('licence_id', 'unknown'))}", "tags:", "- dataset-distillation", "- mmdistill",
            f"- {yaml_string(modality_name)}", f"pretty_name: {yaml_string(pretty)}", "size_categories:", "- n<1K"]
    if where == "hf":
        head += ["configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: data/train.parquet"]
    head.append("---")
    version = f"mmdistill {manifest.get('versions', {}).get('mmdistill', '')}".rstrip()
    imported = manifest.get("imported_from") if isinstance(manifest.get("imported_from"), Mapping) else None
    made = (f"A synthetic training set made by the reference code {code(imported.get('source', '?'))} and imported into {version} for "
            f"the recipe {code(manifest.get('recipe'))}'s evaluation " if imported else f"A synthetic training set made by {version} with "
            f"the recipe {code(manifest.get('recipe'))} ")
    out = head + ["", f"# Distilled {manifest.get('dataset')}: {name}", "", made
                  + f"(method {code(manifest.get('method'))}, modality {code(modality_name)}), "
                  f"{counted(stored_count(manifest), manifest, modality)}, "
                  f"{classes_phrase(manifest.get('num_classes'))}seed {manifest.get('seed')}, made {manifest.get('created')}.", ""]
    out += ["## Method and paper", "", f"- method: {code(manifest.get('method'))} (recipe {code(manifest.get('recipe'))})",
            f"- paper: {manifest.get('paper') or 'not recorded in this manifest'}"]
    if imported:
        out += [imported_line(imported)]
    parts = [p for p in manifest.get("merged_from") or [] if isinstance(p, Mapping)]
    if parts:  # mmdistill merge: the sets it joined, each with the classes it gave
        out += [f"- merged by `mmdistill merge` from {len(parts)} sets (the config is the first part's, its sizes the merged set's): "
                + "; ".join(code(p.get('dir', '?')) + (f" ({w})" if (w := merged_part_words(p, manifest, modality)) else "") for p in parts)]
    if isinstance(buf := ((manifest.get("synthetic") or {}).get("meta") or {}).get("expert_buffer"), Mapping):
        held = buf.get("training") if isinstance(buf.get("training"), Mapping) else {}
        out += [f"- matched the expert buffer {code(buf.get('folder'))}: {held.get('num_experts', '?')} experts of "
                f"{held.get('epochs', '?')} epochs (its training: `synthetic.meta.expert_buffer`; the config's expert keys "
                "are what the run asked for)"]
    if sel := manifest.get("selection"):
        out += [f"- kept the set of iteration {sel['selected_iteration']} of {sel['last_iteration']}, the best of "
                f"{len(sel.get('scores', []))} scores by {sel['metric']} ({sel['selected_score']:.4f}); the metrics below "
                "are of that set"]
    out += [""]
    out += ["## Source dataset", "", f"- dataset: {code(manifest.get('dataset'))}",
            f"- licence (as the loader knows it): {facts.get('licence', 'not known to the loader')}",
            f"- source: {facts.get('source', 'not known to the loader')}",
            "- the synthetic samples are derived from the real training split; check the licence before publishing"]
    try:
        stats = normalization_of(modality, raw_meta)
    except ArtifactError:  # damaged statistics: the loader or the export names them with the file, not the card
        stats = {}
    if said := normalization_line(stats):
        out.append(f"- {said}; normalise your own real data alike before mixing it with this set or scoring on it")
    if note := input_note(modality, raw_meta):  # a graph's row-normalised features; a ZCA whitening
        out.append(f"- {note}")
    if (loaded := loading_counts(manifest)) is not None:
        report = ((manifest.get("synthetic") or {}).get("meta") or {}).get("load_report")
        named = isinstance(report, Mapping) and any(report.get("files") or {})
        out.append(f"- what loading read and left out: {loaded} ("
                   + ("the files are named in" if named else "recorded in") + " the manifest's `synthetic.meta.load_report`)")
    out += [""]
    m = manifest.get("metrics") or {}
    out += ["## Metrics", ""]
    if evaluated_sets(m):
        proto = m.get("protocol") or {}  # a set scored again (mmdistill eval --write) keeps its run's config
        trained = proto.get("trained_as") or "networks trained from scratch on each set" + baseline_sizes(comparable_sets(m))
        out += [f"{scored_split(m).capitalize()} {m.get('metric', 'accuracy')} of {code(m.get('network'))} {trained}:", ""] + metric_rows(m) + [""]
        if every := score_rows(m):
            out += ["Every score the evaluation took (%, mean ± std over the same runs):", "", *every, ""]
        for net, rows in (m.get("cross_arch") or {}).items():
            out += [f"{code(net)}: " + ", ".join(set_cell(k, v) for k, v in evaluated_sets(rows).items())]
        out += ["", "### How it was evaluated", ""]
        cfg = manifest.get("config", {})
        runs, epochs = proto.get("runs", cfg.get("eval_runs", "?")), proto.get("epochs", cfg.get("eval_epochs", "?"))
        each = proto.get("training") or f"{epochs} epochs each"  # a plan that trains otherwise than by epochs says how
        out += [f"- {runs} network{'' if runs == 1 else 's'} per set, {each}, seeded from the run's seed; "
                + ("one network: no spread measured (std n/a)" if runs == 1 else "mean ± std over the networks")
                + ("; random-real baselines draw a new subset per network" if any(k.startswith("random_real") for k in comparable_sets(m)) else ""),
                f"- budget: {code(cfg.get('budget', '?'))}" + (" (a CPU-sized run, not the paper's setting)" if cfg.get("budget") not in (None, "paper") else ""),
                f"- protocol: {code(json.dumps(plain(proto), default=str))}", *chosen_on_lines(manifest)]
        if line := imbalance_line(m, manifest.get("num_classes")):
            out.append(line)
        earlier = list(evaluated_sets(m.get("earlier") or {}))
        if earlier:
            before = (m.get("earlier") or {}).get("protocol")
            same = _protocol(before, proto) == _protocol(proto, before)
            out += [f"- scored again after the run; the earlier evaluation's {', '.join(k.replace('_', ' ') for k in earlier)} "
                    f"({'the same protocol' if same else 'another protocol'}) are in the manifest under `metrics.earlier`"]
        out += [""]
    else:
        out += ["Not evaluated (`mmdistill eval DIR --write` adds the metrics).", ""]
    st = manifest.get("storage") or {}
    out += ["## Storage", ""]
    if st:
        stored = counted(st["samples"], manifest, modality)
        decoded = (f"{stored}, which decode to {counted(st['decoded_samples'], manifest, modality)} (the networks are trained on "
                   "the decoded ones)" if st.get("decoded_samples") else f"the {stored} they decode to")
        out.append(f"- stored tensors: {size_text(st['synthetic_bytes'])} ({st['synthetic_bytes']} bytes) for {decoded}")
        if st.get("fixed_bytes"):
            out.append(f"- beside them, what they are distilled in (the data's ZCA whitening): {size_text(st['fixed_bytes'])} "
                       f"({st['fixed_bytes']} bytes, `fixed.*` in the tensor file), not counted in the ratio")
        if st.get("real_bytes"):
            out.append(f"- the same number of real ones: {size_text(st['real_bytes'])} ({st['real_bytes']} bytes; {st.get('real_basis')}); "
                       f"ratio {st['ratio']:.3f}")
    else:
        out.append("- not recorded (a set made before mmdistill recorded storage)")
    out += ["", "## Memorisation check", ""]
    if said := card_line(modality, raw_meta):  # the adapter's sentence, as input_note's
        out += [f"**{said[0]}:** {said[1]}", ""]
    mem = manifest.get("memorisation") or {}
    if not mem or mem.get("skipped"):
        out += [f"Not run ({mem.get('skipped', 'a set made before the check existed')}); `mmdistill check DIR` runs it.", ""]
    else:
        out += [f"For each synthetic sample, the Euclidean distance to its nearest real training sample (pool of {mem.get('real_pool')} "
                "real samples), next to the same distance for a random real subset (each sample's nearest *other* real sample). "
                "Synthetic distances far below the real ones mean the set copies real samples. The check finds near copies "
                "in these spaces only; it is no privacy guarantee (dataset distillation is not differential privacy: a set "
                "far from every real sample can still reveal what its classes' samples share), so judge a release on the "
                "data's terms, not on this table alone.", ""]
        out += ["| space | synthetic median (min) | random real median (min) | ratio of medians | synthetic closer than any real pair |",
                "| --- | ---: | ---: | ---: | ---: |"]
        for key in ("input", "feature"):
            sp = mem.get(key)
            if sp:
                where_ = mem.get("input_space") if key == "input" else mem.get("feature_space")
                ratio = "n/a" if sp.get("ratio_median") is None else f"{sp['ratio_median']:.2f}"
                out.append(f"| {key}: {where_} | {sp['synthetic']['median']:.4g} ({sp['synthetic']['min']:.4g}) | "
                           f"{sp['random_real']['median']:.4g} ({sp['random_real']['min']:.4g}) | {ratio} | "
                           f"{100 * sp['frac_below_real_min']:.0f} % |")
        out += ["", *[f"- {line}" for line in summary_lines(mem)]]
        if mem.get("picture"):
            drawn = {True: "Distributions and the closest pairs", False: "The two distance distributions"}.get(
                mem.get("picture_pairs"), "Distributions (and, for image-like sets, the closest pairs)")
            out += ["", f"{drawn}: `{MEMORISATION_FILE}` in the run folder"
                    + (" this export was made from (not copied here)." if where == "export" else ".")]
            if mem.get("picture_pairs") and where == "run":  # the picture draws the nearest real samples themselves
                shown = min(len(mem.get("closest") or []), 4 * sum(k in mem for k in ("input", "feature")))  # plot()'s columns
                out[-1] += (f" It shows {shown} real training samples (each closest pair's "
                            "real one): it is for whoever checks the set, not for publishing; the exports leave it out.")
        out.append("")
    path = {"run": "PATH/TO/THIS/FOLDER", "hf": "."}.get(where, "PATH/TO/THE/RUN")
    if where == "export":
        files = manifest.get("export_files") or []
        held = f" It holds {', '.join(code(f) for f in files)}." if files else ""
        index = (" `classes.json` maps each class folder to its class name and label index." if "classes.json" in files or not files
                 else "")
        mode = (manifest.get("synthetic") or {}).get("label_mode", "hard")
        soft = (f" Its files carry hard labels only: the set's {mode} labels (and a learned step size) stay in the run folder, so "
                "the `distilled hard labels` row above is the score of what this folder holds." if mode != "hard" else "")
        note = f" {export_note}" if export_note else ""  # written by the adapter, not read from the manifest: not made inert
        out += ["## This folder", "", f"The set in the modality's own file format.{held}{index}{soft}{note} `mmdistill.load`, `show`, "
                "`eval` and `check` read the run folder it was exported from (or an export made with `--to hf`), not this folder:", ""]
    out += [*(pictures if where == "run" else []), "## How to load", "", "```python", "import torch, mmdistill", f"ds = mmdistill.load(\"{path}\")   # no pickle: safetensors + JSON",
            "ds.inputs, ds.labels, ds.soft_labels, ds.step_size   # decoded model inputs, hard/soft labels, learned step size",
            "ds.normalization, ds.augmentation()   # {input: {mean, std}}: (raw - mean) / std; the evaluation's augmenter",
            "loader = torch.utils.data.DataLoader(ds.dataset(), batch_size=64, shuffle=True)", "```", ""]
    if where == "hf":
        out += ["```python", "import datasets", "ds = datasets.load_from_disk(\".\")          # or load_dataset(\"parquet\", data_files=\"data/train.parquet\")",
                "```", ""]
    out += ["```bash", f"mmdistill show {path}     # this card's summary", f"mmdistill eval {path}     # re-evaluate (needs the source dataset)",
            "```", "", "## Config", "", *fence(json.dumps(raw.get("config", {}), indent=1, default=str), "json"), "",
            *([LEFT_OUT, ""] if where != "run" else []),
            "Library versions (and the CPU kernels torch dispatched to): "
            + ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items()), ""]
    return "\n".join(out)


__all__ = ["budget", "card_summary", "classes_phrase", "comparable_sets", "counted", "imported_line", "loading_counts", "merged_part_words", "metric_rows", "score_rows", "render_card", "storage_block"]
