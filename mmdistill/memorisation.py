"""Does a distilled set copy real training data? Nearest-real-neighbour distances, next to the real set's own.

For every synthetic sample the distance to its nearest real training sample is measured in two spaces: the
model **input** space (flattened model inputs, e.g. normalised pixels, FD-MFCC maps, node features) and a
fixed, deterministic **feature** space the adapter names (a ConvNet with a seeded random initialisation for
images and audio, a seeded random ReLU projection for node features, the frozen text encoder for captions).
The yardstick is the real set itself: for a random real subset, each sample's distance to its nearest *other*
real sample. A synthetic set whose distances sit far below that distribution is (close to) a copy of real
samples; one whose distances sit at or above it is no closer to any real sample than real samples are to
each other.

The adapter supplies the two views (:class:`MemorisationViews`) through its optional hook
``memorisation_views(config, syn, data, pool, gen)`` (:class:`mmdistill.modality.AdapterDefaults` has a
default for data with ``train.x``); the core does the rest: chunked ``cdist``, summary statistics, the
manifest block and ``memorisation.png`` (with the closest pairs when the adapter can draw them).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from mmdistill.seeding import generator

log = logging.getLogger(__name__)

MEMORISATION_FILE = "memorisation.png"
#: the real samples the synthetic set is compared with are at most this many (a seeded random pool)
MAX_REAL = 20_000
#: real samples whose own nearest-neighbour distance forms the yardstick
REAL_QUERIES = 500
#: closest pairs recorded in the manifest and drawn
CLOSEST = 8

Pictures = Callable[[Tensor], Tensor]
"""``pictures(idx) -> (n, H, W, C)`` float in [0, 1]: samples drawn as images."""


@dataclass
class MemorisationViews:
    """What the adapter hands the check.

    Attributes:
        syn_input, real_input: (K, D) and (N, D) flattened model inputs (N = the real pool).
        syn_feature, real_feature: the same samples in the fixed feature space, or None.
        feature_space: what the feature space is, in words (recorded in the manifest and the card).
        input_space: what the input space is, in words.
        real_bytes_per_sample: bytes of one real sample as a model input (the card's storage comparison).
        real_bytes_basis: what those bytes are, in words (default: float32 model inputs).
        syn_pictures, real_pictures: draw samples (by index into ``syn_input`` / ``real_input``) as images,
            for image-like modalities; None otherwise.
    """

    syn_input: Tensor
    real_input: Tensor
    syn_feature: Tensor | None = None
    real_feature: Tensor | None = None
    feature_space: str = ""
    input_space: str = "model inputs"
    real_bytes_per_sample: int | None = None
    real_bytes_basis: str | None = None
    syn_pictures: Pictures | None = None
    real_pictures: Pictures | None = None


def pool_indices(n: int, max_real: int, gen: torch.Generator) -> Tensor:
    """All of ``range(n)`` when ``n <= max_real``, else a seeded random ``max_real`` of them (sorted)."""
    if n <= max_real:
        return torch.arange(n)
    return torch.randperm(n, generator=gen)[:max_real].sort().values


def nearest(query: Tensor, ref: Tensor, *, exclude: Tensor | None = None, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """For each row of ``query`` (Q, D) its Euclidean distance to the nearest row of ``ref`` (N, D) and that
    row's index; ``exclude`` (Q,) names a row of ``ref`` each query must skip (itself). The distances are the direct
    float32 ones (not the ``|a|² + |b|² - 2ab`` matrix product's, whose cancellation leaves ~1e-2 of error where a
    copy should read 0): :func:`_candidate_distances` finds the few rows that can be nearest with a float64 matrix
    product and computes only theirs directly, with the same result as every row's (memory ``chunk * N`` float64)."""
    dists, idx = [], []
    for rows, d in _candidate_distances(query, ref, exclude, chunk, different=False):
        k = int(d.argmin())
        dists.append(d[k])
        idx.append(rows[k])
    if not dists:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.stack(dists), torch.stack(idx)


def nearest_different(query: Tensor, ref: Tensor, *, exclude: Tensor, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """Each query's distance to its nearest *different* row of ``ref`` (inf when every other row equals it) and
    whether some row equals it (a duplicate: distance 0); distances as :func:`nearest`'s."""
    dists, dup = [], []
    for _, d in _candidate_distances(query, ref, exclude, chunk, different=True):
        zero = d == 0
        dup.append(bool(zero.any()))
        dists.append(float(d[~zero].min()) if bool((~zero).any()) else math.inf)
    return torch.tensor(dists, dtype=torch.float32), torch.tensor(dup, dtype=torch.bool)


#: a row is a candidate when its float64 squared distance is within this share of the smallest one (the direct float32
#: distances err by at most ~D * 2**-24 of theirs: 1.8e-4 at D = 3,072; :func:`candidate_margins` widens it for wider rows)...
RELATIVE_MARGIN = 2e-3
#: ...or within this share of |q|² + |r|² of it (the float64 product's cancellation: ~D * 2**-53, 3e-13 at D = 3,072)
ABSOLUTE_MARGIN = 1e-9


def candidate_margins(dim: int) -> tuple[float, float]:
    """``(relative, absolute)`` margins for rows of ``dim`` values: at least twice the worst-case rounding of each
    computation, so no row that can be nearest is left out: the direct float32 squared distance errs by at most
    ``(dim + 2) * 2**-24`` of itself (a difference, a square, a sum of ``dim`` positive terms), the float64 product by
    ``dim * 2**-53`` of ``|q|² + |r|²``. Image-text's 224-pixel images (150,528 values) need 1.8e-2, not 2e-3."""
    return max(RELATIVE_MARGIN, 2.0 * (dim + 2) * 2.0**-24), max(ABSOLUTE_MARGIN, 2.0 * dim * 2.0**-53)
#: values of ``ref`` turned into float64 at a time (8 MiB of them: 64 MiB; wide rows, e.g. a sequence's item profile
#: over 25,000 items, make fewer rows a block; the whole pool in float64 would be twice its float32 size)
REF_BLOCK_VALUES = 1 << 23


def _candidate_distances(query: Tensor, ref: Tensor, exclude: Tensor | None, chunk: int,
                         different: bool) -> Iterator[tuple[Tensor, Tensor]]:
    """Per query row, ``(rows, distances)``: the rows of ``ref`` (ascending, the query's ``exclude`` row left out)
    that can hold its smallest direct float32 distance (with ``different``, also its smallest non-zero one, and every
    row that may equal it), and their direct distances (``torch.cdist``'s ``donot_use_mm_for_euclid_dist``, as every
    row's were computed before). Squared distances come from a float64 ``|q|² + |r|² - 2 q·r`` over ``chunk`` queries
    at a time; a row is a candidate within :func:`candidate_margins` of the smallest, which
    covers both computations' rounding, so the direct minimum over the candidates is the one over every row."""
    query, ref = query.float().flatten(1), ref.float().flatten(1)
    n = ref.shape[0]
    relative, absolute = candidate_margins(ref.shape[1])
    block = max(1, REF_BLOCK_VALUES // max(1, ref.shape[1]))
    ref_sq = torch.cat([ref[b:b + block].double().pow(2).sum(dim=1) for b in range(0, n, block)]) if n else ref.new_zeros(0).double()
    ref_sq_max = float(ref_sq.max()) if n else 0.0
    for s in range(0, query.shape[0], chunk):
        q = query[s:s + chunk]
        q64 = q.double()
        q_sq = q64.pow(2).sum(dim=1)
        d2 = torch.empty(q.shape[0], n, dtype=torch.float64)
        for b in range(0, n, block):
            d2[:, b:b + block] = q_sq[:, None] + ref_sq[None, b:b + block] - 2.0 * (q64 @ ref[b:b + block].double().T)
        d2.clamp_(min=0.0)
        if exclude is not None:
            d2[torch.arange(q.shape[0]), exclude[s:s + chunk]] = math.inf
        slack = absolute * (q_sq + ref_sq_max)  # (chunk,)
        for j in range(q.shape[0]):
            row = d2[j]
            if different:  # rows that may equal the query, and those that can be its nearest different one
                near_zero = row <= slack[j]
                rest = row[~near_zero & torch.isfinite(row)]
                base = float(rest.min()) if rest.numel() else math.inf
                keep = near_zero | (row <= base * (1 + relative) + slack[j])
            else:
                keep = row <= float(row.min()) * (1 + relative) + slack[j]
            rows = torch.nonzero(keep & torch.isfinite(row)).reshape(-1)
            if rows.numel() == 0:  # every row excluded: what the direct distances gave (inf, row 0)
                yield torch.zeros(1, dtype=torch.long), torch.full((1,), math.inf)
                continue
            d = torch.cdist(q[j:j + 1], ref[rows], compute_mode="donot_use_mm_for_euclid_dist")[0]
            yield rows, d


def summarise(values: Tensor) -> dict[str, float]:
    """min, 5th/25th percentile, median, mean, max of a 1-D tensor."""
    v = values.double()
    q = torch.quantile(v, torch.tensor([0.05, 0.25, 0.5], dtype=torch.float64)).tolist()
    return {"min": float(v.min()), "p5": q[0], "p25": q[1], "median": q[2], "mean": float(v.mean()), "max": float(v.max())}


def compare(syn: Tensor, real: Tensor, gen: torch.Generator, queries: int = REAL_QUERIES) -> dict[str, Any]:
    """The block of one space: the synthetic samples' nearest-real distances next to those of a random real
    subset (each real query's nearest *other, different* real sample: duplicate real samples, common in a user's
    folder, would set the yardstick to 0 and hide every copy), and how they compare. ``exact_copies``: the share of
    synthetic samples equal to a real one (distance 0), counted whatever the yardstick; ``real_duplicates``: the share
    of the real queries that have an identical real sample."""
    d_syn, j_syn = nearest(syn, real)
    q = torch.randperm(real.shape[0], generator=gen)[: min(queries, real.shape[0] - 1)]
    d_real, duplicated = nearest_different(real[q], real, exclude=q)
    d_real = d_real[torch.isfinite(d_real)]  # a query whose every other sample equals it has no different neighbour
    if d_real.numel() == 0:
        d_real = torch.zeros(int(q.numel()))  # every real sample is one of a few repeated ones: 0 is all there is
    s, r = summarise(d_syn), summarise(d_real)
    n = syn.shape[0]
    # each synthetic sample's distance to its nearest other synthetic sample: a set collapsed onto one point (the
    # data's centre) sits nearer to some real sample than real samples are to each other without copying any
    spread = float(nearest(syn, syn, exclude=torch.arange(n))[0].median()) if n > 1 else None
    return {
        "synthetic_spread": spread,
        "distinct_nearest_real": len(set(j_syn.tolist())),
        "synthetic": s,
        "random_real": r,
        "ratio_median": s["median"] / r["median"] if r["median"] > 0 else None,
        "frac_below_real_min": float((d_syn < r["min"]).float().mean()),
        "frac_below_real_p5": float((d_syn < r["p5"]).float().mean()),
        "exact_copies": float((d_syn == 0).float().mean()),
        "real_duplicates": float(duplicated.float().mean()),
        "distances": [round(float(x), 6) for x in d_syn],
        "nearest_real": [int(x) for x in j_syn],
        "real_distances": [round(float(x), 6) for x in d_real],
    }


def check(views: MemorisationViews, *, seed: int = 0, pool_size: int | None = None, out_png: Path | None = None,
          title: str = "") -> dict[str, Any]:
    """The manifest's ``memorisation`` block for ``views`` (and ``memorisation.png`` when ``out_png`` is given)."""
    spaces = {"input": compare(views.syn_input, views.real_input, generator(seed, "memorisation", "input"))}
    if views.syn_feature is not None and views.real_feature is not None:
        spaces["feature"] = compare(views.syn_feature, views.real_feature, generator(seed, "memorisation", "feature"))
    inp = spaces["input"]
    order = sorted(range(len(inp["distances"])), key=lambda i: inp["distances"][i])[:CLOSEST]
    block: dict[str, Any] = {
        "input_space": views.input_space,
        "feature_space": views.feature_space or None,
        "real_pool": int(views.real_input.shape[0]) if pool_size is None else int(pool_size),
        "synthetic_samples": int(views.syn_input.shape[0]),
        **spaces,
        "closest": [{"synthetic": i, "real_pool_index": inp["nearest_real"][i], "distance": inp["distances"][i]} for i in order],
    }
    if out_png is not None:
        try:
            block["picture"] = plot(block, views, out_png, title).name
        except Exception as exc:  # noqa: BLE001 - a picture that cannot be written (a full disk) never costs the numbers
            log.warning("%s was not drawn (%s: %s); the memorisation check is recorded without it", out_png, type(exc).__name__, exc)
            return block
        block["picture_pairs"] = views.syn_pictures is not None and views.real_pictures is not None  # the card says so
    return block


#: a median ratio from which the verdict says the set lies far from the data: a working Fashion-MNIST DM set at 1 image
#: per class measured 28.9 in pixel space (benchmarks/results/memorisation_finished_cpu.json), an image-text set whose
#: experts took one step per epoch and blew up 2,847
FAR_RATIO = 100.0


#: a median distance between synthetic samples below this share of the real set's own nearest-neighbour median: a
#: collapsed set (every summary the same near-uniform profile), not near copies
COLLAPSED = 0.05


def verdict(space: dict[str, Any]) -> str:
    """One phrase: how the synthetic distances compare with the real set's own."""
    ratio = space.get("ratio_median")
    copies = space.get("exact_copies", 0.0)
    if copies > 0:
        return f"{100 * copies:.0f} % of the synthetic samples are exact copies of real samples (distance 0)"
    if ratio is None:
        return "the real set has duplicate samples (median real nearest-neighbour distance 0)"
    below = space.get("frac_below_real_min", 0.0)
    spread, real_median = space.get("synthetic_spread"), space.get("random_real", {}).get("median", 0.0)
    syn_median = space.get("synthetic", {}).get("median", 0.0)
    if (isinstance(spread, (int, float)) and real_median > 0 and spread < COLLAPSED * real_median
            and syn_median > 4 * spread):  # copies of one real sample lie as near to it as to each other: not this
        return (f"the synthetic samples lie {spread:.3g} apart (median distance to the nearest other synthetic sample, "
                f"against {real_median:.4g} between real samples) and share {space.get('distinct_nearest_real', '?')} "
                f"nearest real sample(s): the set has collapsed to a few points, whose nearness to real samples is "
                f"nearness to the data's centre, not copies")
    if below > 0:
        return (f"{100 * below:.0f} % of the synthetic samples are closer to a real sample than any real sample is to "
                f"another: {'they are' if below >= 1.0 else 'those are'} near copies")
    if ratio < 0.5:
        return f"median {ratio:.2f}x the real set's own: the set stays close to real samples"
    if ratio < 0.9:
        return (f"median {ratio:.2f}x the real set's own: somewhat closer to real samples than real samples are to each "
                f"other, none nearer than the closest real pair")
    if ratio < 1.0:
        return f"median {ratio:.2f}x the real set's own: about as close to real samples as real samples are to each other"
    if ratio >= FAR_RATIO:
        return (f"median {ratio:.2f}x the real set's own: far from every real sample, no copy of one; a set this far from "
                f"the data may have diverged (loss.png, and the scores next to random real)")
    return f"median {ratio:.2f}x the real set's own: no closer to real samples than real samples are to each other"


def summary_lines(block: dict[str, Any]) -> list[str]:
    """Human lines for ``show`` and the card."""
    out = []
    for key in ("input", "feature"):
        space = block.get(key)
        if not space:
            continue
        s, r = space["synthetic"], space["random_real"]
        where = block.get("input_space") if key == "input" else block.get("feature_space")
        dup = space.get("real_duplicates", 0.0)
        note = (f" (the nearest different real sample: {100 * dup:.0f} % of the real samples checked have an identical copy "
                "in the real set)") if dup > 0 else ""
        out.append(f"{key} space ({where}): nearest-real distance median {s['median']:.4g} (min {s['min']:.4g}) vs real-real "
                   f"median {r['median']:.4g} (min {r['min']:.4g}){note}; {verdict(space)}")
    return out


def plot(block: dict[str, Any], views: MemorisationViews, path: Path, title: str = "") -> Path:
    """Histograms of the two distance distributions per space, and the closest pairs when they can be drawn."""
    from mmdistill.plots import SMALLEST_FONT_PT as PT, drawable_image, pyplot, save_figure
    from mmdistill.series_style import bar_style

    plt = pyplot()
    spaces = [k for k in ("input", "feature") if k in block]
    pairs = block["closest"] if views.syn_pictures is not None and views.real_pictures is not None else []
    rows = 1 + (2 if pairs else 0)
    fig = plt.figure(figsize=(4.2 * len(spaces) + 0.4, 3.0 + (2.2 if pairs else 0)), dpi=100)
    grid = fig.add_gridspec(rows, max(len(spaces), 1) * 4, height_ratios=[3] + [1] * (rows - 1))
    for k, key in enumerate(spaces):
        ax = fig.add_subplot(grid[0, 4 * k: 4 * k + 4])
        syn = torch.tensor(block[key]["distances"])
        real = torch.tensor(block[key]["real_distances"])
        hi = float(max(syn.max(), real.max())) or 1.0
        bins = torch.linspace(0, hi * 1.02, 31).tolist()
        # the real distances a hatched grey area, the synthetic ones an outline over it: told apart by shape, not
        # only colour (a grey print, any colour vision), and where they overlap both stay readable
        ax.hist(real.numpy(), bins=bins, density=True, alpha=0.6, label="random real → nearest other real",
                **{**bar_style(1), "linewidth": 0.4})
        ax.hist(syn.numpy(), bins=bins, density=True, histtype="step", linewidth=1.8, color=bar_style(0)["color"],
                label="synthetic → nearest real")
        where = block.get("input_space") if key == "input" else block.get("feature_space")
        ax.set_title(f"{key} space\n({where})", fontsize=PT)
        ax.set_xlabel("Euclidean distance", fontsize=PT)
        ax.tick_params(labelsize=PT)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room above the bars for the legend's two rows
        if k == 0:
            ax.legend(fontsize=PT, frameon=False, loc="upper right")  # "best" searched the bars: seconds on a busy CPU
            ax.set_ylabel("density (each histogram's area 1)", fontsize=PT)
    if pairs:
        cols = len(spaces) * 4
        n = min(len(pairs), cols)
        syn_pics = views.syn_pictures(torch.tensor([p["synthetic"] for p in pairs[:n]]))
        real_pics = views.real_pictures(torch.tensor([p["real_pool_index"] for p in pairs[:n]]))
        for c in range(n):
            for r, pics in ((1, syn_pics), (2, real_pics)):
                ax = fig.add_subplot(grid[r, c])
                img = drawable_image(pics[c].clamp(0, 1).numpy())
                h, w = img.shape[:2]
                # square pixels for a picture about as tall as wide (an image: a circle stays round); a long map
                # (an audio feature map, 13 x 51) fills its cell
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest",
                          aspect="equal" if max(h, w) <= 2 * min(h, w) else "auto")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel("synthetic" if r == 1 else "nearest\nreal", fontsize=PT)  # one line: taller than the cell
                if r == 1:
                    ax.set_title(f"d={pairs[c]['distance']:.3g}", fontsize=PT)
    fig.suptitle((title + ": " if title else "") + "distance to the nearest real training sample", fontsize=PT + 1)
    fig.tight_layout()
    return save_figure(fig, path)


def run_check(modality: Any, config: Any, syn: Any, data: Any, *, out_png: Path | None = None, title: str = "",
              max_real: int = MAX_REAL) -> dict[str, Any]:
    """The ``memorisation`` block of ``syn`` against ``data`` through the adapter's hook, or ``{"skipped": why}``
    when the adapter has none or it fails (a run never fails because of this check)."""
    hook = getattr(modality, "memorisation_views", None)
    if hook is None:
        return {"skipped": f"the {getattr(modality, 'name', '?')} adapter has no memorisation_views hook"}
    seed = int(getattr(config, "seed", 0))
    try:
        with torch.no_grad():
            views = hook(config, syn, data, max_real, generator(seed, "memorisation", "pool"))
        if views is None:
            return {"skipped": f"the {modality.name} adapter does not compare its sets with real samples"}
        log.info("memorisation check: %d synthetic against %d real samples (nearest neighbours in %s)",
                 views.syn_input.shape[0], views.real_input.shape[0],
                 "input and feature space" if views.real_feature is not None else "input space")
        block = check(views, seed=seed, out_png=out_png, title=title)
        block["real_bytes_per_sample"] = views.real_bytes_per_sample
        if views.real_bytes_basis:
            block["real_bytes_basis"] = views.real_bytes_basis
        return block
    except Exception as exc:  # noqa: BLE001 - the check reports, it never breaks a finished run
        log.warning("memorisation check skipped: %s: %s", type(exc).__name__, exc)
        return {"skipped": f"{type(exc).__name__}: {exc}"}


__all__ = ["CLOSEST", "MAX_REAL", "MEMORISATION_FILE", "MemorisationViews", "candidate_margins", "check", "compare", "nearest", "nearest_different", "plot", "pool_indices",
           "run_check", "summarise", "summary_lines", "verdict"]
