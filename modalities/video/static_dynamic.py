"""The static/dynamic parameterization of a synthetic video set (Wang et al., "Dancing with Still Images:
Video Distillation via Static-Dynamic Disentanglement", CVPR 2024; reference ``distill_s2d_ms.py`` and
``utils.py`` ``Conv3DNet`` / ``MultiStaticSharedDataset`` of ``yuz1wan/video_distillation``).

A set of ``S = classes x vpc`` clip slots stores, per slot, ``m`` static memories (still images (C, H, W)) and
``m`` dynamic memories (``dc`` x ``T'`` x ``H'`` x ``W'``), plus one integrator shared by the whole set: a
3x3x3 convolution from C + dc channels to C channels applied to the static image repeated over the T frames
concatenated with the dynamic memory upsampled (trilinear) to T x H x W. Every static memory of a slot is
paired with every dynamic memory of the slot, so the set renders ``S x m^2`` clips (the reference draws one
pair per slot at every step and epoch; rendering all pairs is the same data, deterministically).

``syn.data`` holds ``static`` (S*m, C, H, W), ``dynamic`` (S*m, dc, T', H', W'), ``integrator.weight``
(C, C + dc, 3, 3, 3) and ``integrator.bias`` (C,); ``syn.labels`` the labels of the rendered clips;
``syn.meta["static_dynamic"]`` the clip shape and ``m``.

Stage 1 (:func:`distil_static`) learns the static memories from single frames with the core's image matchers
(DM or DC) and freezes them; stage 2 learns the dynamic memories and the integrator with a video matcher
(the core's DM or trajectory matcher) through :func:`render`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.augment import DSA
from mmdistill.card import size_text
from mmdistill.data import LabeledTensors
from mmdistill.errors import ArtifactError
from mmdistill.nets import build_network, reinitialize
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import quantity

log = logging.getLogger(__name__)

KEY = "static_dynamic"
STATIC, DYNAMIC, WEIGHT, BIAS = "static", "dynamic", "integrator.weight", "integrator.bias"
FLOAT_BYTES = 4


def is_static_dynamic(syn: SyntheticSet) -> bool:
    """Whether ``syn`` has the static/dynamic parameterization (its data holds ``static`` and ``dynamic``)."""
    return STATIC in syn.data and DYNAMIC in syn.data


def _layout(syn: SyntheticSet) -> dict[str, Any]:
    """``syn.meta['static_dynamic']``: the clip shape and the memories per slot."""
    info = syn.meta.get(KEY)
    if info is None:
        raise ArtifactError("the set has static/dynamic tensors but no meta['static_dynamic'] (clip shape, memories)")
    return info


def render(syn: SyntheticSet) -> Tensor:
    """The clips (S*m^2, C, T, H, W) of a static/dynamic set, differentiable w.r.t. the dynamic memories and the
    integrator (the static memories are frozen: detached, as the reference's ``--no_train_static``)."""
    info = _layout(syn)
    m = int(info["memories"])
    c, t, h, w = info["clip_shape"]
    static = syn.data[STATIC]
    static = static.detach() if info.get("frozen_static", True) else static
    dynamic = syn.data[DYNAMIC]
    slots = static.shape[0] // m
    a = torch.arange(m, device=static.device).repeat_interleave(m)  # static index within the slot
    b = torch.arange(m, device=static.device).repeat(m)  # dynamic index within the slot
    s_idx = (torch.arange(slots, device=static.device)[:, None] * m + a[None]).flatten()
    d_idx = (torch.arange(slots, device=static.device)[:, None] * m + b[None]).flatten()
    dyn = dynamic
    if tuple(dyn.shape[2:]) != (t, h, w):
        dyn = F.interpolate(dyn, size=(t, h, w), mode="trilinear", align_corners=False)
    x = torch.cat([static[s_idx].unsqueeze(2).expand(-1, -1, t, -1, -1), dyn[d_idx]], dim=1)
    return F.conv3d(x, syn.data[WEIGHT], syn.data[BIAS], padding=1)


def rendered_labels(slot_labels: Tensor, m: int) -> Tensor:
    """Labels (S*m^2,) of the rendered clips: each slot's label in ``slot_labels`` (S,) repeated m^2 times."""
    return slot_labels.repeat_interleave(m * m)


def rendered_slots(syn: SyntheticSet) -> Tensor:
    """(S*m^2,) the slot of every clip :func:`render` gives (slot ``s`` renders clips ``s*m^2 .. (s+1)*m^2 - 1``,
    one per static x dynamic memory pair of the slot)."""
    m = int(_layout(syn)["memories"])
    return rendered_labels(torch.arange(syn.data[STATIC].shape[0] // m), m)


def init_integrator(c: int, dc: int, how: str, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """The integrator's weight (c, c + dc, 3, 3, 3) and bias: PyTorch's Conv3d default (U(+-1/sqrt(fan_in)),
    the reference) or ``identity`` (the static channels passed through at the centre tap, the dynamic
    channels' weights drawn as by default, bias 0)."""
    fan_in = (c + dc) * 27
    bound = 1.0 / math.sqrt(fan_in)
    weight = (torch.rand((c, c + dc, 3, 3, 3), generator=gen) * 2 - 1) * bound
    bias = (torch.rand((c,), generator=gen) * 2 - 1) * bound
    if how == "identity":
        weight[:, :c] = 0.0
        for i in range(c):
            weight[i, i, 1, 1, 1] = 1.0
        bias.zero_()
    return weight, bias


#: stage 1's image learning rate when ``static_lr`` is none: DC's ``lr_img`` 0.1 (main.py) and DM's 1 (main_DM.py)
STATIC_LR = {"dc": 0.1, "dm": 1.0}


def distil_static(frames: LabeledTensors, count: int, cfg: Any, gen: torch.Generator, augment: DSA | None) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Stage 1: ``count`` still images per class distilled from ``frames`` (one frame per real clip) by the
    core's image DM (``cfg.static_method="dm"``) or DC (``"dc"``) on a 2-D ConvNet-3 for
    ``cfg.static_iterations`` at ``cfg.static_lr`` (None: :data:`STATIC_LR` of the method), through the core's loop
    with its progress kept on disk (:mod:`.static_stage`: a resume or a second run continues it). Returns (images
    (classes*count, C, H, W), labels, info)."""
    from mmdistill.matchers.distribution import DistributionMatching
    from mmdistill.matchers.gradient import GradientMatching
    from mmdistill.recipes import TABLES_DIR
    from mmdistill.tables import load_table
    from mmdistill.task import ClassificationTask

    from .datasets import default_cache_dir
    from .static_stage import StaticSteps, last_loss, run_static_stage, stage_key

    img = SyntheticSet.from_real(frames, count, gen, init="real")
    img.requires_grad_(True)
    c, h, w = frames.sample_shape
    net = build_network("convnet", (c, h, w), frames.num_classes, depth=max(1, min(3, int(math.log2(max(min(h, w), 4))) - 2))).to(frames.x.device)
    lr = STATIC_LR[cfg.static_method] if cfg.static_lr is None else cfg.static_lr
    settings: dict[str, Any] = {"method": cfg.static_method, "iterations": cfg.static_iterations, "lr": lr, "momentum": 0.5,
                                "batch_real": cfg.batch_real, "augment": None if augment is None else repr(augment)}
    if cfg.static_method == "dm":
        matcher: Any = DistributionMatching(net=net, reinit=reinitialize, real=frames, batch_real=cfg.batch_real, augment=augment)
    else:
        loops = load_table(TABLES_DIR / "dc.yaml").lookup({"ipc": count}).values  # DC's loops for the IPC (nearest row)
        dc = {"outer_loop": int(loops["outer_loop"]), "inner_loop": int(loops["inner_loop"]), "lr_net": 0.01, "batch_train": 256}
        settings |= dc
        matcher = GradientMatching(net=net, reinit=reinitialize, real=frames, task=ClassificationTask(), batch_real=cfg.batch_real,
                                   augment=augment, **dc)
    opt = torch.optim.SGD(img.parameters(), lr=lr, momentum=0.5)
    key = stage_key(frames, count, settings, cfg.seed, frames.x.device)
    root = Path(cfg.cache_dir).expanduser() if getattr(cfg, "cache_dir", None) else default_cache_dir()
    result, folder = run_static_stage(StaticSteps(matcher, cfg.seed), img, opt, cfg, key, root)
    info = {"method": cfg.static_method, "iterations": cfg.static_iterations, "lr": lr,
            "last_loss": last_loss(result, folder),
            "seconds": round(result.seconds, 2), "frames": "one random frame per real training clip",
            "kept": folder is not None, "continued_from": result.resumed_from}  # the folder only in the log: no local path in a set
    log.info("static memory: %d images per class by image %s, %d iterations, %.1f s%s", count, cfg.static_method.upper(),
             cfg.static_iterations, info["seconds"], "" if result.resumed_from is None else
             f" (continued from iteration {result.resumed_from}, kept in {folder})")
    return img.x.detach(), img.labels, info


def init_static_dynamic(train: LabeledTensors, cfg: Any, gen: torch.Generator, augment: DSA | None, meta: dict[str, Any]) -> SyntheticSet:
    """The initial static/dynamic set: stage 1 run (static memories distilled, frozen), dynamic memories
    N(0, 1) (the reference's ``torch.randn``), the integrator initialised by ``cfg.integrator_init``."""
    c, t, h, w = train.sample_shape
    m, vpc = cfg.memories, cfg.ipc
    train.require_per_class(vpc * m, "ipc x memories")  # stage 1 starts each static memory from a distinct real clip
    pick = torch.randint(t, (len(train),), generator=gen).to(train.x.device)
    frames = LabeledTensors(train.x[torch.arange(len(train), device=train.x.device), :, pick], train.y, list(train.classes))
    static, static_labels, info = distil_static(frames, vpc * m, cfg, gen, augment)
    tt = min(cfg.dynamic_frames or t, t)  # a dynamic memory is a compressed clip: never larger than the clips it renders
    size = cfg.dynamic_size
    hh, ww = (h, w) if size is None else (min(size, h), min(size, w))
    if (tt, hh, ww) != (cfg.dynamic_frames or t, *((h, w) if size is None else (size, size))):
        log.warning("dynamic memories of %s frames x %s would be larger than the %d x %dx%d clips they are upsampled to "
                    "(dynamic_frames, dynamic_size); they take %d x %dx%d", cfg.dynamic_frames or t,
                    f"{size}x{size}" if size else f"{h}x{w}", t, h, w, tt, hh, ww)
    slots = train.num_classes * vpc
    dynamic = torch.randn((slots * m, cfg.dynamic_channels, tt, hh, ww), generator=gen)
    weight, bias = init_integrator(c, cfg.dynamic_channels, cfg.integrator_init, gen)
    slot_labels = static_labels.view(slots, m)[:, 0].cpu()
    syn = SyntheticSet(
        data={STATIC: static.cpu(), DYNAMIC: dynamic, WEIGHT: weight, BIAS: bias},
        labels=rendered_labels(slot_labels, m),
        num_classes=train.num_classes,
        meta={"classes": list(train.classes), "ipc": vpc, "init": "static-dynamic", **meta,
              KEY: {"memories": m, "clip_shape": [c, t, h, w], "frozen_static": True, "stage1": info,
                    "dynamic_shape": [cfg.dynamic_channels, tt, hh, ww], "integrator_init": cfg.integrator_init}},
    )
    return syn


def stored_bytes(syn: SyntheticSet) -> dict[str, Any]:
    """What the set stores, as the card's Storage section counts it, next to two references.

    ``stored_bytes``: every tensor of the set's file (memories and integrator, or clips, a learned step size, the
    labels), by part in ``parts`` (bytes, :meth:`SyntheticSet.stored_parts`: counted on the live tensors, no copy);
    the card's ``synthetic_bytes``.
    ``full_clip_bytes``: a full-clip set of ``classes x ipc`` clips (C, T, H, W) float32 with their labels, what the
    full-clip baselines store at the same clips per class; ``ratio`` = stored / that (the summary line's "% of full
    clips"). ``rendered_clip_bytes``: ``rendered_clips`` real clips (float32 model inputs, one per clip the set
    decodes to: S x m^2 for static/dynamic, the clips for full clips), each with a label of the set's label dtype, as
    the card compares ("the same number of real samples", :func:`mmdistill.card.storage_block`); ``rendered_ratio`` =
    stored / that (1 for a full-clip set with hard labels)."""
    parts = {(k[len("data."):] if k.startswith("data.") else k): n for k, n in syn.stored_parts().items()}
    stored = sum(parts.values())
    c, t, h, w = syn.meta[KEY]["clip_shape"] if is_static_dynamic(syn) else syn.data["x"].shape[1:]
    clip = c * t * h * w * FLOAT_BYTES
    rendered = len(syn)
    label_bytes = sum(parts.get(k, 0) for k in ("labels", "soft_labels")) / max(rendered, 1)  # per clip
    clips = syn.num_classes * syn.ipc
    full = int(round(clips * (clip + label_bytes)))
    return {"stored_bytes": stored, "full_clip_bytes": full, "ratio": round(stored / full, 4), "full_clips": clips, "parts": parts,
            "rendered_clips": rendered, "rendered_clip_bytes": rendered * (clip + syn.labels.element_size()),
            "rendered_ratio": round(stored / (rendered * (clip + syn.labels.element_size())), 4),
            "clips_per_class": syn.ipc}


def storage_label(info: dict[str, Any], ipc: int) -> str:
    """The set's size in words, from :func:`stored_bytes` in :func:`mmdistill.card.size_text`'s units: ``"1 clip/class,
    125.5 KiB stored (39 % of 10 full clips)"``,
    with ``"; 9.8 % of 40 real clips, as many as it renders"`` when the set renders more clips than it has slots (the
    card's comparison)."""
    text = (f"{quantity(ipc, 'clip')}/class, {size_text(info['stored_bytes'])} stored "  # the card's unit (MiB past 1 MiB)
            f"({100 * info['ratio']:.0f} % of {info['full_clips']} full clips")
    if info["rendered_clips"] != info["full_clips"]:
        text += f"; {100 * info['rendered_ratio']:.1f} % of {info['rendered_clips']} real clips, as many as it renders"
    return text + ")"


__all__ = ["BIAS", "DYNAMIC", "KEY", "STATIC", "WEIGHT", "distil_static", "init_integrator", "init_static_dynamic", "is_static_dynamic",
           "render", "rendered_labels", "storage_label", "stored_bytes"]
