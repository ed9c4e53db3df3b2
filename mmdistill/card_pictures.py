"""The run card's *Pictures* section: every picture the run folder holds, embedded with alt text that says what it
shows and its numbers, so a reader with a screen reader or a text-only view of the card misses nothing that is
drawn (the card named ``memorisation.png`` only, and the loss curve's course was in no text at all)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mmdistill.card import comparable_sets, counted, stored_count
from mmdistill.evaluation import evaluated_sets, set_cell
from mmdistill.io import METRICS_FILE, PREVIEW_FILE, MetricsLog
from mmdistill.memorisation import MEMORISATION_FILE
from mmdistill.plots import loss_points
from mmdistill.scored_on import scored_split

#: a video's animated preview, beside its preview.png
PREVIEW_GIF = "preview.gif"


def alt_text(text: str) -> str:
    """``text`` as a Markdown image's alt text: on one line, ``<`` and ``>`` as HTML entities, ``[``, ``]`` and ``\\``
    escaped (none can end it or open a tag)."""
    flat = " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\[\]\\])", r"\\\1", flat)


def loss_words(records: list[dict[str, Any]], selection: Mapping[str, Any] | None = None) -> str | None:
    """The loss curve in words, from metrics.jsonl ``records``: its first, last and lowest logged value with their
    iterations, and the kept iteration of a run's ``selection``; None when no loss was logged."""
    pts = loss_points(records)
    if not pts:
        return None
    (first_it, first), (last_it, last) = pts[0], pts[-1]
    low_it, low = min(pts, key=lambda p: p[1])
    said = (f"matching loss against iteration, {len(pts)} logged points: {first:.4g} at iteration {first_it}, {last:.4g} at "
            f"iteration {last_it}, lowest {low:.4g} at iteration {low_it}")
    if selection and selection.get("selected_iteration") is not None:
        said += (f"; on a right axis the {selection.get('metric', 'selection score')} of the checkpoints scored, the set of "
                 f"iteration {selection['selected_iteration']} kept")
    return said


def accuracy_words(manifest: Mapping[str, Any], chance: tuple[str, float] | None = None) -> str | None:
    """The accuracy chart in words: its metric and every set's mean ± std (``chance``: the dashed line's name and
    level in [0, 1]); None when no set was evaluated."""
    metrics = manifest.get("metrics") or {}
    sets = evaluated_sets(comparable_sets(metrics))
    if not sets:
        return None
    runs = {len(v.get("runs") or []) for v in sets.values()}
    each = f", each set's {runs.pop()} runs as dots" if len(runs) == 1 and max(runs, default=0) > 1 else ""
    said = (f"bar chart of {scored_split(metrics)} {metrics.get('metric', 'accuracy')} (%) per set, mean ± std{each}: "
            + ", ".join(set_cell(k, v) for k, v in sets.items()))
    if len(metrics.get("cross_arch") or {}) > 1:
        said += f" (of {metrics.get('network')}; one group of bars per evaluation network, their numbers under Metrics)"
    if chance is not None:
        said += f"; dashed line: {chance[0]} {100 * chance[1]:.1f} %"
    return said


def picture_lines(folder: Path, manifest: Mapping[str, Any], chance: tuple[str, float] | None = None,
                  records: list[dict[str, Any]] | None = None) -> list[str]:
    """The *Pictures* section's lines (none when ``folder`` holds no picture): ``![what it shows](file)`` for each of
    the preview, the loss curve, the accuracy chart and the memorisation histograms that ``folder`` holds; a link, not
    an embedded image, for a memorisation picture that draws the closest pairs (real training samples: a card pasted
    or pushed somewhere would show them inline). ``records``: metrics.jsonl's, when the caller has read them (else it
    is read, only for a folder with ``loss.png``)."""
    name = f"{manifest.get('recipe')} on {manifest.get('dataset')}"
    n = stored_count(manifest)
    log = folder / METRICS_FILE
    said: dict[str, Callable[[], str | None]] = {  # built only for the pictures the folder holds
        PREVIEW_FILE: lambda: (f"preview of the {counted(n, manifest)} of {name}: {manifest['preview_words']}"
                               if isinstance(manifest.get("preview_words"), str) else
                               f"preview of the {counted(n, manifest)} of {name}, as the modality draws them"),
        PREVIEW_GIF: lambda: f"animated preview of the {counted(n, manifest)} of {name}",
        "loss.png": lambda: loss_words(records if records is not None else MetricsLog(log).read() if log.is_file() else [],
                                       manifest.get("selection")),
        "accuracy.png": lambda: accuracy_words(manifest, chance),
        MEMORISATION_FILE: lambda: ("histograms, per space, of each synthetic sample's distance to its nearest real training "
                                    "sample (an outline) and of random real samples' distance to their nearest other real one "
                                    "(a hatched area); their medians and minima are in the Memorisation check table"
                                    + (", and the closest pairs side by side" if (manifest.get("memorisation") or {}).get("picture_pairs") else "")),
    }
    texts = {file: words() for file, words in said.items() if (folder / file).is_file()}
    pairs = bool((manifest.get("memorisation") or {}).get("picture_pairs"))  # it draws real training samples themselves
    shown = [(f"[{alt_text(text)}]({file}) (a link, not shown inline: it draws real training samples)"
              if file == MEMORISATION_FILE and pairs else f"![{alt_text(text)}]({file})")
             for file, text in texts.items() if text]
    if not shown:
        return []
    return ["## Pictures", "", "The run folder's pictures; each one's alt text says what it shows, with its numbers.", "",
            *[line for pic in shown for line in (pic, "")]]


__all__ = ["PREVIEW_GIF", "accuracy_words", "alt_text", "loss_words", "picture_lines"]
