"""Pictures and files of a distilled set of pairs: a preview (frame and log-mel spectrogram side by side, a row per
class) and an export (per class ``<i>.png`` frame + ``<i>.wav`` sound, and ``pairs.safetensors``).

Frames are de-normalised with the image adapter's :func:`~mmdistill.modalities.image.export.to_pixels`; sound comes
from the audio adapter's inversion (:func:`~mmdistill.modalities.audio.features.fdmfcc_to_waveform`: the dB mel
spectrogram is the orthonormal inverse DCT of its full set of cepstra, so the log-mel map goes in as an MFCC map with
``n_mfcc = n_mels``; Griffin-Lim)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmdistill.errors import ArtifactError
from mmdistill.export_record import public_meta
from mmdistill.io import save_tensors
from mmdistill.plots import drawable_image, drawable_labels, pyplot, save_figure, shown_channels

from ..artifacts import (PREVIEW_FONT_PT, ROW_LABEL_CHARS, ROW_LABEL_LINES, check_labels, export_folder_names, fitted_label, new_tree,
                         warn_absent_classes, write_class_index)
from ..colour_bars import value_bar
from ..audio.decode import fix_length
from ..audio.features import FDMFCCParams, fdmfcc_to_waveform
from ..image.export import to_pixels

PAIRS_FILE = "pairs.safetensors"


def pair_meta(meta: dict[str, Any]) -> tuple[FDMFCCParams, float, float, tuple[float, ...], tuple[float, ...]]:
    """Front-end parameters, audio mean/std (dB) and frame mean/std (per channel) stored in a set's metadata."""
    missing = [k for k in ("features", "audio_mean", "audio_std", "image_mean", "image_std") if k not in meta]
    if missing:
        raise ArtifactError(f"the synthetic set's metadata lacks {missing}; it was not made by the audio_visual adapter")
    return (FDMFCCParams.from_dict(meta["features"]), float(meta["audio_mean"]), float(meta["audio_std"]), tuple(meta["image_mean"]),
            tuple(meta["image_std"]))


def mel_to_waves(mel_db: Tensor, params: FDMFCCParams, num_samples: int | None) -> Tensor:
    """dB log-mel maps (N, 1, n_mels, frames) -> waveforms (N, num_samples) through the audio adapter's inversion."""
    import torchaudio.functional as AF

    dct = AF.create_dct(params.n_mels, params.n_mels, "ortho")  # (n_mels, n_mfcc=n_mels), orthonormal
    cep = torch.einsum("mk,nmt->nkt", dct, mel_db[:, 0].float())
    maps = torch.stack([cep, torch.zeros_like(cep), torch.zeros_like(cep)], dim=1)
    waves = fdmfcc_to_waveform(maps, params)  # (frames - 1) * hop samples: the map's frames may be cropped or padded
    return waves if num_samples is None else fix_length(waves, int(num_samples), align="start")


#: pairs per class row in the preview (its alt text, the adapter's preview_words, says the same)
PREVIEW_PER_CLASS = 5
#: the spectrograms' colour map: its lightness rises with the level, so a grey print keeps loud lighter than quiet
MEL_CMAP = "magma"
#: the preview's key to its colour bar, under its title (and in the adapter's preview_words)
BAR_KEY = "colour bar: log-mel level in dB, the set's 1st to 99th percentile (lighter is louder)"


def save_pair_preview(audio: Tensor, image: Tensor, labels: Tensor, classes: list[str], meta: dict[str, Any], path: str | Path, *,
                      title: str = "", max_per_class: int = PREVIEW_PER_CLASS) -> Path:
    """A PNG: per class (row), up to ``max_per_class`` pairs, each its frame and its dB log-mel spectrogram (the
    columns named on the first row; every spectrogram on one colour scale, the set's 1st to 99th percentile in dB,
    so a quiet pair looks quiet, drawn with :data:`MEL_CMAP`, whose lightness rises with the level, and a colour bar in
    dB beside the first row's last spectrogram (:func:`~..colour_bars.value_bar`; :data:`BAR_KEY` under the title), so
    a grey print still tells loud from quiet). A class name the installed font cannot draw is labelled by its index, with one log
    line (:func:`mmdistill.plots.drawable_labels`) instead of matplotlib's warning per character. Frames (C, H, W) of
    C other than 1 (grey) or 3 (RGB) are drawn as channel 0 (C = 2) or channels 0-2 (C > 3), which the title says."""
    plt = pyplot()
    labels = labels.detach().cpu().long()
    check_labels(labels, len(audio), classes)
    _, a_mean, a_std, i_mean, i_std = pair_meta(meta)
    pixels = to_pixels(image.detach().float().cpu(), i_mean, i_std)
    mel = torch.nan_to_num(audio.detach().float().cpu() * a_std + a_mean)
    flat = mel.flatten()
    sample = flat[:: max(1, flat.numel() // 2_000_000)]  # every class, within torch.quantile's input size
    lo, hi = (float(q) for q in torch.quantile(sample, torch.tensor([0.01, 0.99])))
    hi = hi if hi > lo else lo + 1.0
    present = sorted(set(labels.tolist()))
    names = drawable_labels(classes, Path(path).name, shown=present)
    cols = min(max_per_class, max(int((labels == c).sum()) for c in present))
    first_row: tuple[Any, Any] | None = None  # the first row's last spectrogram axes and its image, for the colour bar
    fig, axes = plt.subplots(len(present), 2 * cols, figsize=(max(4.0, 1.5 * 2 * cols), 1.3 * len(present) + 0.6), squeeze=False)
    for r, c in enumerate(present):
        idx = torch.nonzero(labels == c).flatten()[:cols].tolist()
        for k in range(cols):
            ax_i, ax_a = axes[r][2 * k], axes[r][2 * k + 1]
            for ax in (ax_i, ax_a):
                ax.set_xticks([]), ax.set_yticks([])
            if k >= len(idx):
                ax_i.axis("off"), ax_a.axis("off")
                continue
            img = drawable_image(pixels[idx[k]].permute(1, 2, 0).numpy())
            ax_i.imshow(img, cmap="gray", vmin=0, vmax=1)
            drawn = ax_a.imshow(mel[idx[k], 0].numpy(), origin="lower", aspect="auto", cmap=MEL_CMAP, vmin=lo, vmax=hi)
            if r == 0:
                first_row = (ax_a, drawn)
            if r == 0:
                ax_i.set_title("frame", fontsize=PREVIEW_FONT_PT)
                ax_a.set_title("log-mel (dB)", fontsize=PREVIEW_FONT_PT)
        axes[r][0].set_ylabel(fitted_label(names[c], ROW_LABEL_CHARS, ROW_LABEL_LINES), rotation=0, ha="right", va="center",
                              fontsize=PREVIEW_FONT_PT)
    if first_row is not None:
        value_bar(*first_row, (1.06, 0.05, 0.08, 0.9), lo, hi, label="dB", tick="{:.0f}", zero=False)
    shown = shown_channels(pixels.shape[1])
    most = max(int((labels == c).sum()) for c in present)
    part = f"the first {cols} of {most} pairs per class" if cols < most else ""  # the title's size is the whole set's
    heading = " · ".join(t for t in (title, part, shown) if t)
    fig.suptitle(f"{heading}\n{BAR_KEY}" if heading else BAR_KEY)
    return save_figure(fig, path)  # class names were made drawable; save_figure names what a title still lacks


def export_pairs(audio: Tensor, image: Tensor, labels: Tensor, classes: list[str], meta: dict[str, Any], out_dir: str | Path) -> Path:
    """``<class>/<i:05d>.png`` (frame, 8-bit), ``<class>/<i:05d>.wav`` (16-bit PCM, Griffin-Lim) per pair ``i`` (class
    folder names as the image export's, unicode kept: :func:`~mmdistill.modalities.artifacts.export_folder_names`),
    ``classes.json`` (folder -> class name -> label index), and ``pairs.safetensors``: ``audio`` (N, 1, n_mels, frames)
    in dB, ``image`` (N, C, H, W) in [0, 1], ``labels`` (N,), string metadata ``classes`` and ``meta`` (JSON, as an export
    publishes it: without the data folder's file names, :func:`~mmdistill.export_record.public_meta`). Built in
    a temporary sibling and renamed into place. A frame PNG is drawn as the preview draws it (:func:`mmdistill.plots.drawable_image`:
    grey for C = 1, RGB for C = 3; channel 0 of 2, the first 3 of more; ``pairs.safetensors`` keeps every channel)."""
    import soundfile as sf
    from PIL import Image

    labels = labels.detach().cpu().long()
    check_labels(labels, len(audio), classes)
    params, a_mean, a_std, i_mean, i_std = pair_meta(meta)
    mel = torch.nan_to_num(audio.detach().float().cpu() * a_std + a_mean)
    pixels = to_pixels(image.detach().float().cpu(), i_mean, i_std)
    waves = mel_to_waves(mel, params, meta.get("num_samples"))
    names = export_folder_names(classes, labels)
    warn_absent_classes(out_dir, classes, labels)
    with new_tree(out_dir) as tmp:
        for i, label in enumerate(labels.tolist()):
            folder = tmp / names[label]
            folder.mkdir(exist_ok=True)
            arr = (pixels[i].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
            Image.fromarray(drawable_image(arr)).save(folder / f"{i:05d}.png")
            sf.write(folder / f"{i:05d}.wav", np.clip(waves[i].numpy(), -1.0, 1.0), params.sample_rate, subtype="PCM_16")
        save_tensors(tmp / PAIRS_FILE, {"audio": mel, "image": pixels, "labels": labels},
                     metadata={"classes": json.dumps(list(classes)), "meta": json.dumps(public_meta(meta), default=str)})
        write_class_index(tmp, classes, names, labels)
    return Path(out_dir)


__all__ = ["BAR_KEY", "MEL_CMAP", "PAIRS_FILE", "export_pairs", "mel_to_waves", "pair_meta", "save_pair_preview"]
