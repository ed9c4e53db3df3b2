"""Pictures and files of a distilled video set: a frame strip per class (PNG) with the static memory, an
animated GIF of one clip per class, and export of every clip as a GIF per class.

MP4 is not written: the installed video stack (decord) only decodes, and no encoder (PyAV, ffmpeg) is a
dependency; GIF needs only Pillow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mmdistill.card import size_text
from mmdistill.errors import DataError
from mmdistill.io import atomic_path, save_tensors
from mmdistill.plots import drawable_image, save_figure, shown_channels
from mmdistill.synthetic import SyntheticSet

from ..artifacts import PREVIEW_FONT_PT, check_labels, export_folder_names, fitted_label, new_tree, warn_absent_classes, write_class_index
from .static_dynamic import KEY, STATIC, is_static_dynamic, stored_bytes

if TYPE_CHECKING:
    from PIL import Image


def to_pixels(x: Tensor, syn: SyntheticSet) -> Tensor:
    """Normalised clips (N, C, T, H, W) (or images (N, C, H, W)) back to [0, 1] pixels, clamped."""
    mean, std = syn.meta.get("mean"), syn.meta.get("std")
    if mean is None or std is None:
        raise DataError("the set's metadata has no mean/std; it was not made by the video adapter")
    shape = (1, -1) + (1,) * (x.dim() - 2)
    m = torch.tensor(mean, dtype=torch.float32).view(shape)
    s = torch.tensor(std, dtype=torch.float32).view(shape)
    return torch.nan_to_num(x.float() * s + m, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


def _frame_image(p: Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) grey or (H, W, 3) RGB uint8, as :func:`mmdistill.plots.drawable_image` draws a
    frame of C channels (C = 2, optical flow x/y: channel 0 as grey; C > 3: the first 3 as RGB)."""
    return drawable_image((p.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def _first_per_class(labels: Tensor, num_classes: int) -> list[int | None]:
    return [int(i[0]) if len(i := (labels == c).nonzero().flatten()) else None for c in range(num_classes)]


def save_video_preview(syn: SyntheticSet, clips: Tensor, path: str | Path, *, title: str | None = None) -> Path:
    """``path`` (PNG): one row per class, the frames of its first synthetic clip and, for a static/dynamic set,
    its static memory in the first column; beside it ``<stem>.gif``: the same clips animated side by side. Labels are
    :data:`PREVIEW_FONT_PT` points; a long class name is wrapped and cut (:func:`fitted_label`), a class
    name the installed font cannot draw is labelled by its index (:func:`mmdistill.plots.drawable_labels`). Clips
    (N, C, T, H, W) of C other than 1 (grey) or 3 (RGB) are drawn as :func:`_frame_image` draws them, which the
    title then says (:func:`mmdistill.plots.shown_channels`)."""
    from mmdistill.plots import drawable_labels, pyplot

    classes = list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))
    labels = syn.labels.cpu()
    check_labels(labels, len(clips), classes)
    pix = to_pixels(clips, syn)
    first = _first_per_class(labels, len(classes))
    rows = [c for c in range(len(classes)) if first[c] is not None]
    names = drawable_labels(classes, Path(path).name, shown=rows)
    t = pix.shape[2]
    sd = is_static_dynamic(syn)
    cols = t + (1 if sd else 0)
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), cols, squeeze=False, figsize=(cols * 0.9 + 1.4, len(rows) * 0.9 + 0.5), dpi=100)
    static = to_pixels(syn.data[STATIC].detach().cpu(), syn) if sd else None
    m = int(syn.meta.get(KEY, {}).get("memories", 1))
    for r, c in enumerate(rows):
        i = first[c]
        assert i is not None
        for k in range(cols):
            ax = axes[r][k]
            ax.set_xticks([])
            ax.set_yticks([])
            if sd and k == 0:
                img = _frame_image(static[(i // (m * m)) * m])  # type: ignore[index]
                ax.set_title("static" if r == 0 else "", fontsize=PREVIEW_FONT_PT)
            else:
                img = _frame_image(pix[i, :, k - (1 if sd else 0)])
                if r == 0:
                    ax.set_title(f"t={k - (1 if sd else 0)}", fontsize=PREVIEW_FONT_PT)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        axes[r][0].set_ylabel(fitted_label(names[c], 16, 3), rotation=0, ha="right", va="center", fontsize=PREVIEW_FONT_PT)
    shown = shown_channels(pix.shape[1])
    most = max(int((labels == c).sum()) for c in rows)
    part = f"the first of {most} clips per class" if most > 1 else ""  # one row per class: the title's size is the set's
    if title:
        info = stored_bytes(syn)
        title = title if "stored" in title else f"{title} · {size_text(info['stored_bytes'])} stored"
    if title or shown or part:
        fig.suptitle(" · ".join(t for t in (title, part, shown) if t), fontsize=10)
    out = save_figure(fig, path)
    _save_gif([pix[first[c]] for c in rows], Path(path).with_suffix(".gif"), gif_frame_ms(syn), labels=[names[c] for c in rows])
    return out


#: a GIF frame's display time (ms) of clips picked by index, whose frame rate the set does not know
GIF_FRAME_MS = 120


def gif_frame_ms(syn: SyntheticSet) -> int:
    """How long a GIF of ``syn``'s clips shows each frame (ms): :func:`timed_frame_ms` for a set picked by time, so its
    clips play at the speed of the real ones; else :data:`GIF_FRAME_MS`."""
    ms = timed_frame_ms(syn)
    return GIF_FRAME_MS if ms is None else ms


def timed_frame_ms(syn: SyntheticSet) -> int | None:
    """The time between two sampled frames of a set picked by time (ms): ``meta.decoding``'s ``frame_gap /
    sample_fps``, to the GIF's 10 ms, at least 20 ms (viewers show shorter frames slower); None for a set picked by
    frame index (no ``sample_fps``)."""
    dec = syn.meta.get("decoding")
    fps = dec.get("sample_fps") if isinstance(dec, dict) else None
    return max(20, 10 * round(100 * int(dec.get("frame_gap", 1)) / float(fps))) if fps else None


def _save_gif(clips: list[Tensor], path: Path, duration_ms: int = GIF_FRAME_MS, labels: list[str] | None = None) -> Path:
    """Clips (C, T, H, W) in [0, 1] side by side, animated over T (every frame kept: :func:`_write_gif`), upscaled
    to at least 64 px high; with ``labels`` (one per clip), each clip's label drawn under it (:func:`_label_strip`)."""
    from PIL import Image

    t = clips[0].shape[1]
    scale = max(1, 64 // clips[0].shape[2])
    strip = None
    frames = []
    for k in range(t):
        row = np.concatenate([_frame_image(c[:, k]) for c in clips], axis=1)
        im = Image.fromarray(row)
        if scale > 1:
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
        if labels is not None:
            strip = strip or _label_strip(labels, im.width // len(clips), im.mode)
            framed = Image.new(im.mode, (im.width, im.height + strip.height), "white")
            framed.paste(im, (0, 0))
            framed.paste(strip, (0, im.height))
            im = framed
        frames.append(im.convert("P") if im.mode != "L" else im)
    return _write_gif(frames, path, duration_ms)


def _label_strip(labels: list[str], width: int, mode: str) -> Image.Image:
    """A white strip of ``len(labels)`` columns ``width`` px wide, each label centred in black in the font the
    preview's PNG uses (matplotlib's default, so a name :func:`mmdistill.plots.drawable_labels` kept is drawable),
    cut with "…" to its column."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_manager.findfont(font_manager.FontProperties()), 11)
    strip = Image.new(mode, (width * len(labels), 16), "white")
    draw = ImageDraw.Draw(strip)
    for j, label in enumerate(labels):
        text = label
        while len(text) > 1 and draw.textlength(text, font=font) > width - 4:
            text = text[:-2] + "…"
        draw.text((j * width + width / 2, 8), text, fill="black", font=font, anchor="mm")
    return strip


def _write_gif(frames: list, path: Path, duration_ms: int) -> Path:
    """An endless animated GIF of ``frames`` (PIL images of one size, mode ``L``, or ``P`` with the web palette
    ``convert("P")`` gives every frame), one GIF frame per frame, each ``duration_ms`` long.

    Pillow's ``save_all`` merges a frame identical to the one before into it (adding up their durations; no save
    option turns that off, Pillow 13 included), so a clip that holds still would come out with fewer frames than it
    has. Each frame is written whole with Pillow's GIF helpers instead: the header (the first frame's palette as the
    global one, looping), then every frame (a frame whose palette differs carries its own)."""
    from PIL import GifImagePlugin

    first = frames[0]
    header, _ = GifImagePlugin.getheader(first, info={"loop": 0, "duration": duration_ms})
    palette = first.getpalette()
    chunks = list(header)
    for im in frames:
        own = im.mode == "P" and im.getpalette() != palette
        chunks += GifImagePlugin.getdata(im, duration=duration_ms, **({"include_color_table": True} if own else {}))
    with atomic_path(path) as tmp:  # renamed into place: a link already at ``path`` is replaced, never written through
        tmp.write_bytes(b"".join(chunks) + b";")
    return Path(path)


def export_video_set(syn: SyntheticSet, clips: Tensor, out_dir: str | Path) -> Path:
    """``<class>/<index>.gif`` per rendered clip (folders named as :func:`~modalities.artifacts.export_folder_names`
    names them, ``classes.json`` mapping them to the classes), ``clips.safetensors`` (uint8 pixels (N, C, T, H, W) and
    labels; its metadata ``classes`` is the JSON list of class names), and for a static/dynamic set ``static/<class>_<index>.png`` (the static memories) and
    ``memories.safetensors`` (static, dynamic, integrator: the stored set itself). The GIFs and PNGs show grey (C = 1)
    or RGB (C = 3) frames; of other C what :func:`_frame_image` draws (C = 2: channel 0; C > 3: channels 0-2), every
    channel kept in ``clips.safetensors``."""
    from PIL import Image

    classes = list(syn.meta.get("classes", [str(i) for i in range(syn.num_classes)]))
    labels = syn.labels.cpu()
    check_labels(labels, len(clips), classes)
    pix = to_pixels(clips, syn)
    names = export_folder_names(classes, labels)
    warn_absent_classes(out_dir, classes, labels)
    frame_ms = gif_frame_ms(syn)
    with new_tree(out_dir) as tmp:
        counts = [0] * len(classes)
        for i in range(len(pix)):
            c = int(labels[i])
            folder = tmp / names[c]
            folder.mkdir(exist_ok=True)
            _save_gif([pix[i]], folder / f"{counts[c]:03d}.gif", frame_ms)
            counts[c] += 1
        write_class_index(tmp, classes, names, labels)
        u8 = (pix * 255).round().to(torch.uint8).contiguous()
        save_tensors(tmp / "clips.safetensors", {"clips": u8, "labels": labels},  # the user's file mode, as the rest of the export
                     metadata={"classes": json.dumps(classes, ensure_ascii=False), "layout": "N,C,T,H,W uint8"})
        if is_static_dynamic(syn):
            st = to_pixels(syn.data[STATIC].detach().cpu(), syn)
            (tmp / "static").mkdir()
            m = int(syn.meta[KEY]["memories"])
            for j in range(len(st)):
                c = int(labels[(j // m) * m * m])
                Image.fromarray(_frame_image(st[j])).save(tmp / "static" / f"{names[c]}_{j:03d}.png")
            save_tensors(tmp / "memories.safetensors", syn.data)
    return Path(out_dir)


__all__ = ["GIF_FRAME_MS", "export_video_set", "gif_frame_ms", "save_video_preview", "timed_frame_ms", "to_pixels"]
