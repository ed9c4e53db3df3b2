"""Pictures and files of a distilled audio set: a preview of the FD-MFCC maps (PNG) and an export to WAV
files per class plus the FD-MFCC tensors (safetensors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.io import save_tensors
from mmdistill.plots import save_figure

from ..artifacts import PREVIEW_FONT_PT, check_labels, class_grid, export_folder_names, new_tree, warn_absent_classes, write_class_index
from ..colour_bars import value_bar
from .features import CHANNELS, FDMFCCParams, denormalize, fdmfcc_to_waveform

FEATURES_FILE = "fdmfcc.safetensors"


def _check(x: Tensor, labels: Tensor, classes: list[str]) -> None:
    """DataError unless x is (N, 3, n_mfcc, frames) and labels (N,) lie in [0, len(classes))."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise DataError(f"expected FD-MFCC maps of shape (N, 3, n_mfcc, frames), got {tuple(x.shape)}")
    check_labels(labels, len(x), classes)


def _display_range(channel: Tensor) -> tuple[float, float]:
    """Colour limits of one channel over the whole set: its 1st and 99th percentiles (a symmetric range
    around 0 for the derivative channels, whose sign matters)."""
    v = torch.nan_to_num(channel.float()).flatten()
    lo, hi = (float(q) for q in torch.quantile(v[: 2_000_000], torch.tensor([0.01, 0.99])))
    if lo < 0 < hi:
        m = max(-lo, hi)
        return -m, m
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


#: per FD-MFCC channel: its colour map (lightness rising with the value), the name at its band and its colour bar's label
#: with the unit (the preview's maps are the model inputs, normalised as ``(raw - mean) / std``; the MFCC band again
#: per coefficient over the set)
CHANNEL_KEYS = (("viridis", "MFCC", "MFCC: z per coefficient"), ("cividis", "Δ", "Δ: normalised"),
                ("cividis", "ΔΔ", "ΔΔ: normalised"))
#: the preview's key to its colour bars, under its title
BARS_KEY = "colour bars: " + "; ".join(k[2] for k in CHANNEL_KEYS) + " (darker than 0: negative)"


def _colour_bars(ax: Any, images: list[Any], ranges: list[tuple[float, float]], n_mfcc: int) -> None:
    """One colour bar per channel right of ``ax`` (the first row's last map), beside the channel's band (their units:
    :data:`BARS_KEY`); a signed range (a delta's) is ticked at its ends and at 0, with a line across the bar at 0
    (:func:`~..colour_bars.value_bar`)."""
    height = 3 * n_mfcc + 2
    for ch, image in enumerate(images):
        value_bar(ax, image, (1.06, ((2 - ch) * (n_mfcc + 1) + 0.15 * n_mfcc) / height, 0.05, 0.7 * n_mfcc / height), *ranges[ch])


#: the preview's maps per class row
PREVIEW_PER_CLASS = 10


def save_fdmfcc_preview(x: Tensor, labels: Tensor, classes: list[str], path: str | Path, *, max_per_class: int = PREVIEW_PER_CLASS,
                        title: str | None = None, hop_ms: float | None = None) -> Path:
    """Write a PNG of FD-MFCC maps ``x`` (N, 3, n_mfcc, frames): one row per class present in ``labels``
    (N,), its name at the row start, up to ``max_per_class`` maps per row. Each map is drawn as its three
    channels stacked top to bottom (MFCC, delta, delta-delta; coefficient 0 at the bottom of each band),
    each channel with its own colour scale shared by the whole set, drawn as a colour bar beside the first row's
    last map (:data:`CHANNEL_KEYS`: its name, unit and, for the signed deltas, a marked zero). Every map's
    lightness rises with its value (viridis for MFCC, cividis for the deltas, both colour-blind safe), so a
    grey-scale print keeps a delta's sign: darker than the bar's zero is negative. The MFCC band shows every
    coefficient standardised over the set (coefficient 0, the loudness, would otherwise take the whole colour
    range). A class name the installed font cannot draw is
    labelled by its index, with one log line (:func:`~mmdistill.modalities.artifacts.class_grid`). Written
    atomically. Returns ``path``."""
    labels = labels.detach().cpu().long()
    x = torch.nan_to_num(x.detach().float().cpu())
    _check(x, labels, classes)
    x = x.clone()
    rows_mean = x[:, 0].mean(dim=(0, 2), keepdim=True)
    rows_std = x[:, 0].std(dim=(0, 2), keepdim=True).nan_to_num(1.0).clamp_min(1e-6)
    x[:, 0] = (x[:, 0] - rows_mean) / rows_std
    ranges = [_display_range(x[:, c]) for c in range(3)]
    n_mfcc, frames = x.shape[-2], x.shape[-1]
    height = 2.0
    width = min(height * frames / (3 * n_mfcc + 2), 3.0)
    fig, rows = class_grid(labels, classes, max_per_class=max_per_class, cell=(width, height),
                           title=f"{title}\n{BARS_KEY}" if title else BARS_KEY, where=Path(path).name)
    drawn = []
    for axes, indices in rows:
        for ax, i in zip(axes, indices):
            for ch in range(3):  # MFCC on top: band ch spans rows [offset, offset + n_mfcc)
                offset = (2 - ch) * (n_mfcc + 1)
                drawn.append(ax.imshow(x[i, ch].numpy(), cmap=CHANNEL_KEYS[ch][0], vmin=ranges[ch][0], vmax=ranges[ch][1],
                                       origin="lower", aspect="auto", interpolation="nearest",
                                       extent=(0, frames, offset, offset + n_mfcc)))
            ax.set_xlim(0, frames)
            ax.set_ylim(0, 3 * n_mfcc + 2)
    if rows:
        first = rows[0][0][0]
        first.set_yticks([(2 - ch) * (n_mfcc + 1) + n_mfcc / 2 for ch in range(3)], [k[1] for k in CHANNEL_KEYS],
                         fontsize=PREVIEW_FONT_PT)
        first.yaxis.labelpad = 14
        _colour_bars(rows[0][0][len(rows[0][1]) - 1], drawn[:3], ranges, n_mfcc)
        if hop_ms:
            rows[-1][0][0].set_xlabel(f"{frames} frames × {hop_ms:g} ms", fontsize=PREVIEW_FONT_PT)
    return save_figure(fig, path)  # class names were made drawable; save_figure names what a title still lacks


def export_audio_set(x: Tensor, labels: Tensor, classes: list[str], out_dir: str | Path, *, params: FDMFCCParams,
                     mean: Sequence[float] | Sequence[Sequence[float]], std: Sequence[float] | Sequence[Sequence[float]],
                     num_samples: int | None = None, n_iter: int = 32, meta: dict[str, Any] | None = None,
                     align: str | None = None) -> Path:
    """Export normalised FD-MFCC maps ``x`` (N, 3, n_mfcc, frames) with ``labels`` (N,) to ``out_dir``:

    * ``<class>/<index:05d>.wav``: approximate waveforms (:func:`fdmfcc_to_waveform`, ``n_iter`` Griffin-Lim
      iterations), 16-bit PCM mono at ``params.sample_rate``, ``num_samples`` long; ``index`` is the
      sample's position in ``x``; class folder names keep the class names, unicode letters included
      (:func:`modalities.artifacts.export_folder_names`);
    * ``classes.json``: per class its label index, name, folder and sample count (the image export's index);
    * ``fdmfcc.safetensors``: ``fdmfcc`` (N, 3, n_mfcc, frames) in FD-MFCC units (de-normalised), ``labels``
      (N,), and string metadata ``classes``, ``mean``, ``std``, ``params``, ``meta`` and, given ``num_samples``,
      ``preprocessing`` (JSON): how a clip became a map's input -- ``sample_rate`` Hz, ``num_samples`` and
      ``duration_s`` of the padded or cropped clip, ``align`` (``center``/``start``), ``channels`` (averaged to mono) --
      so a consumer prepares its own test audio as the set's clips were (``maps_like`` does it from a loaded set).

    Built in a temporary sibling and renamed into place; ConfigError (key ``to``) if ``out_dir`` exists and is not empty.
    Returns ``out_dir``."""
    import soundfile as sf

    labels = labels.detach().cpu().long()
    _check(x, labels, classes)
    raw = denormalize(x.detach().float().cpu(), mean, std)
    waves = fdmfcc_to_waveform(raw, params, num_samples=num_samples, n_iter=n_iter)
    names = export_folder_names(classes, labels)
    warn_absent_classes(out_dir, classes, labels)
    metadata = {"classes": json.dumps(list(classes)), "mean": json.dumps(list(mean)), "std": json.dumps(list(std)),
                "params": json.dumps(params.to_dict()), "meta": json.dumps(meta or {}, default=str)}
    if num_samples is not None:
        metadata["preprocessing"] = json.dumps({"sample_rate": params.sample_rate, "num_samples": int(num_samples),
                                                "duration_s": round(int(num_samples) / params.sample_rate, 6), "align": align or "center",
                                                "channels": "averaged to mono"})
    with new_tree(out_dir) as tmp:
        for i, (wave, label) in enumerate(zip(waves, labels.tolist())):
            folder = tmp / names[label]
            folder.mkdir(exist_ok=True)
            sf.write(folder / f"{i:05d}.wav", np.clip(wave.numpy(), -1.0, 1.0), params.sample_rate, subtype="PCM_16")
        save_tensors(tmp / FEATURES_FILE, {"fdmfcc": raw, "labels": labels}, metadata=metadata)
        write_class_index(tmp, classes, names, labels)
    return Path(out_dir)


def wav_bytes_clips(waves: list[Tensor] | Tensor, sample_rate: int) -> list[dict[str, object]]:
    """Each waveform (samples,) in [-1, 1] (clipped) as 16-bit PCM mono WAV bytes at ``sample_rate`` Hz, in the
    ``{"bytes": ..., "path": None}`` form of a Hugging Face ``Audio``-like column."""
    import io

    import numpy as np
    import soundfile as sf

    clips: list[dict[str, object]] = []
    for wave in waves:
        buf = io.BytesIO()
        sf.write(buf, np.clip(wave.detach().cpu().numpy(), -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
        clips.append({"bytes": buf.getvalue(), "path": None})
    return clips


__all__ = ["CHANNELS", "FEATURES_FILE", "export_audio_set", "save_fdmfcc_preview", "wav_bytes_clips"]
