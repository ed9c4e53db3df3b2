"""A person's view of a summary: the top items at each position of a few synthetic sequences (with titles
where the data has them), as a picture and as JSON; and the export directory.

``export`` writes, into a new folder (built beside it and renamed into place; a non-empty one is refused),
``factors.safetensors`` (the summary's tensors), ``distributions.safetensors`` (``x``: the decoded (S, L, N)
distributions the evaluation's learners train on, so a model of one's own trains on them without mmdistill's
decoder), ``items.json`` (internal index -> original
item id and title), ``decoded.json`` (top-5 items and probabilities at every position of every sequence) and
``sequences.txt`` (each sequence's most likely item per position in SASRec's ``user item`` text format, which
the ``sasrec`` loader reads back).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError
from mmdistill.io import save_tensors, write_json
from mmdistill.plots import pyplot, save_figure
from mmdistill.synthetic import SyntheticSet

from ..artifacts import PREVIEW_FONT_PT, fitted_label, new_tree
from .summary import decode_summary, summary_logits

FORMAT = "mmdistill.sequence-summary/1"
#: the export's file of the decoded summary, ``x`` (S, L, N) float32
DISTRIBUTIONS = "distributions.safetensors"


def export_note(syn: SyntheticSet) -> str:
    """The export card's words on training a model of one's own from this folder: which file holds what the
    evaluation's learners trained on, and with which item embeddings its metrics were measured."""
    pretrained = ("the item factor `data.V` in `factors.safetensors` is that embedding (its rows in items.json's order), "
                  if syn.meta.get("parameterization") == "tucker" else "")
    return (f"To train a next-item model of your own on this summary, read `x` of `{DISTRIBUTIONS}` (sequences × positions "
            "× items, each position a probability distribution over the items of `items.json`, in its order) and train on "
            "soft targets: read positions up to p, learn p + 1's distribution; `sequences.txt` keeps only each position's "
            "most probable item. The metrics above were measured with the learners the protocol above names: by default "
            f"their item embeddings pretrained on the whole training split and frozen; {pretrained}a model of yours started "
            "from fresh embeddings is not what those numbers measured (`eval_pretrained_embedding=false` scores that).")


def item_ids(syn: SyntheticSet, num_items: int | None = None) -> list[str]:
    """The original item id of every item index the summary ranks (``num_items``, from its tensors when not given):
    the set's ``item_ids``, else the index. ArtifactError when the set's metadata (``num_items``, ``item_ids``,
    ``titles``) counts other items than its tensors rank: the manifest and the tensors do not belong together."""
    if num_items is None:
        with torch.no_grad():
            num_items = int(summary_logits(syn.detached().to("cpu")).shape[-1])
    meta = syn.meta
    found = [f"num_items {meta['num_items']}"] if "num_items" in meta and meta["num_items"] != num_items else []
    found += [f"{len(meta[k])} {k}" for k in ("item_ids", "titles") if meta.get(k) and len(meta[k]) != num_items]
    if found:
        raise ArtifactError(f"the set's metadata (manifest.json, synthetic.meta) has {' and '.join(found)}, but its summary "
                            f"(synthetic.safetensors) ranks {num_items} items: the two files do not belong together, or one "
                            "was edited")
    return [str(i) for i in meta.get("item_ids") or range(num_items)]


def item_names(syn: SyntheticSet, num_items: int | None = None) -> list[str]:
    """A display name per item index: the set's ``titles`` when stored, else :func:`item_ids`."""
    ids = item_ids(syn, num_items)
    titles = syn.meta.get("titles")
    return [str(t) for t in titles] if titles else ids


def _decoded(syn: SyntheticSet) -> Tensor:
    """The summary's (S, L, N) item distributions on the CPU, without a graph."""
    with torch.no_grad():
        return decode_summary(syn.detached().to("cpu"))


def decoded_view(syn: SyntheticSet, sequences: int | None = None, top: int = 5,
                 dist: Tensor | None = None) -> list[list[list[dict[str, Any]]]]:
    """``view[s][p]`` = the ``top`` items (id, name, probability) at position p of synthetic sequence s; ``dist``: the
    summary already decoded (S, L, N), when the caller has it."""
    dist = _decoded(syn) if dist is None else dist
    if sequences is not None:
        dist = dist[:sequences]
    names, ids = item_names(syn, dist.shape[-1]), item_ids(syn, dist.shape[-1])
    probs, idx = dist.topk(min(top, dist.shape[-1]), dim=-1)
    return [[[{"item": str(ids[int(i)]), "name": names[int(i)], "p": round(float(q), 4)} for q, i in zip(probs[s, p], idx[s, p])]
             for p in range(dist.shape[1])] for s in range(dist.shape[0])]


#: the preview table's columns (synthetic sequences) and rows (positions); the adapter's preview_words says the same
PREVIEW_SEQUENCES, PREVIEW_POSITIONS = 4, 12


def draw_summary(syn: SyntheticSet, path: Path, title: str, sequences: int = PREVIEW_SEQUENCES,
                 positions: int = PREVIEW_POSITIONS) -> Path:
    """A table: one column per synthetic sequence, one row per position, the top item's name (a long one cut with an
    ellipsis) and probability, in :data:`~mmdistill.modalities.artifacts.PREVIEW_FONT_PT` point text."""
    dist = _decoded(syn)
    view = decoded_view(syn, sequences, top=1, dist=dist)
    positions = min(positions, len(view[0]) if view else 0)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.2 * max(1, len(view)) + 0.6, 0.32 * positions + 0.9), dpi=110)
    ax.axis("off")
    cells = [[f"{fitted_label(v[p][0]['name'], 34, 1)} ({v[p][0]['p']:.3g})" for v in view] for p in range(positions)]  # 1/60: 0.0167
    table = ax.table(cellText=cells, colLabels=[f"synthetic sequence {s}" for s in range(len(view))],
                     rowLabels=[f"pos {p}" for p in range(positions)], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(PREVIEW_FONT_PT)
    table.scale(1, 1.2)
    total = len(syn.labels)
    shown = f"the first {len(view)} of {total} sequences, " if len(view) < total else ""
    ax.set_title(f"{title}\ntop item (probability): {shown}the first {positions} positions", fontsize=9)
    out = save_figure(fig, path)
    # every sequence in the JSON (the picture shows a few): the README's "top items at each position of the summary"
    write_json(Path(path).parent / "decoded.json", {"format": FORMAT, "sequences": decoded_view(syn, top=5, dist=dist)})
    return out


def export_summary(syn: SyntheticSet, out_dir: Path) -> Path:
    """Built in a temporary sibling and renamed into place; ConfigError (key ``to``) if ``out_dir`` exists and is not empty."""
    with new_tree(out_dir) as tmp:
        _write_export(syn, tmp)
    return Path(out_dir)


def _write_export(syn: SyntheticSet, out_dir: Path) -> None:
    save_tensors(out_dir / "factors.safetensors", {k: v for k, v in syn.tensors().items() if k.startswith("data.")},
                 metadata={"format": FORMAT, "parameterization": str(syn.meta.get("parameterization"))})
    dist = _decoded(syn)  # once, for the item check, the JSON and the text file
    names, ids = item_names(syn, dist.shape[-1]), item_ids(syn, dist.shape[-1])
    write_json(out_dir / "items.json", {"format": FORMAT, "items": [{"index": i, "item": str(ids[i]), "name": names[i]}
                                                                    for i in range(len(ids))]})
    write_json(out_dir / "decoded.json", {"format": FORMAT, "sequences": decoded_view(syn, top=5, dist=dist)})
    save_tensors(out_dir / DISTRIBUTIONS, {"x": dist.float()},
                 metadata={"format": FORMAT, "x": "(sequences, positions, items): each position's probability over the items "
                                                   "in items.json's order; a model reads positions up to p and learns p + 1's"})
    top = dist.argmax(-1)
    lines = [f"s{s} {ids[int(i)]}" for s in range(top.shape[0]) for i in top[s]]
    (out_dir / "sequences.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")  # inside new_tree's temporary folder


__all__ = ["DISTRIBUTIONS", "FORMAT", "decoded_view", "draw_summary", "export_note", "export_summary", "item_ids", "item_names"]
