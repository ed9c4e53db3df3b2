"""What image-text pairs plug into the core's trajectory matcher (bi-trajectory matching, Wu et al.; LoRS,
Xu et al.): the student objective on synthetic pairs and the two trajectories of a dual encoder.

* :class:`PairStudent` — the contrastive loss of a dual encoder, with the student's parameters, on a
  minibatch of synthetic pairs: images (B, 3, S, S), text embeddings (B, D_text) and, for LoRS, the (B, B)
  block of the learned similarity matrix as soft targets. The projection head's dropout is seeded by the
  step's seed, so TESLA's reverse sweep replays exactly the loss of the forward sweep. With a partly frozen
  image encoder (``image_trainable_blocks``, :mod:`.split`) only the trainable tail is in the student's
  parameters, so the double backward stops at the tail; with ``share_prefix`` the frozen prefix runs once per
  outer iteration on the whole set (N, 3, S, S) -> (N, C, h, w) and every student step indexes its features,
  so the pixels' gradient crosses the prefix once, first order.
* :func:`dual_encoder_parts` — the image encoder's and the text projection's slices of the flat parameter
  vector, each matched by its own normalised distance and moved by its own learnable step size
  (``lr_image`` / ``lr_text`` in the synthetic set, which evaluation then trains with), as the reference
  code's ``syn_lr_img`` / ``syn_lr_txt``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.buffer import ParamLayout
from mmdistill.synthetic import SyntheticSet
from mmdistill.modality import TrajectoryPart
from mmdistill.resolve import attach, config_sources, explicit_values, from_saved
from mmdistill.seeding import seeded_global_rng

from .data import PairBatch
from .task import ContrastiveTask
from .training import student_loss

log = logging.getLogger(__name__)

#: keys of the learnable student step sizes in ``SyntheticSet.data`` (read back by evaluation)
STEP_KEYS = {"image": "lr_image", "text": "lr_text"}


@dataclass
class PairStudent:
    """The student objective of image-text trajectory matching (see the module docstring).

    ``share_prefix``: compute a split image encoder's frozen prefix once per state of the synthetic images
    (keyed by the tensor and its version, so an optimizer step recomputes it) and reuse its graph in every
    student step. Only for gradients taken by one backward over all steps (MTT); TESLA frees each step's
    graph. Without a split encoder it changes nothing."""

    net: nn.Module
    task: ContrastiveTask
    decode: Callable[[SyntheticSet], PairBatch]
    share_prefix: bool = False
    _cache: tuple[int, int, bool, Tensor] | None = field(default=None, init=False, repr=False)

    def prefix_features(self, images: Tensor) -> Tensor | None:
        """The frozen prefix's features (K, C, h, w) of all synthetic images (K, 3, S, S) (cached when
        ``share_prefix``), or None when the whole image encoder is trained."""
        prefix = getattr(self.net, "prefix_features", None)
        if prefix is None:
            return None
        stamp = (id(images), images._version, torch.is_grad_enabled() and images.requires_grad)
        if self.share_prefix and self._cache is not None and self._cache[:3] == stamp:
            return self._cache[3]
        feats = prefix(images)
        if self.share_prefix and feats is not None:
            self._cache = (*stamp, feats)
        return feats

    def shared_graph(self, syn: SyntheticSet) -> Tensor | None:
        """The frozen prefix's features of all synthetic images when ``share_prefix`` (built once per iteration and
        reused by every student step, so the memory planner counts it once); None otherwise."""
        return self.prefix_features(self.decode(syn).images) if self.share_prefix else None

    def loss(self, params: dict[str, Tensor], syn: SyntheticSet, idx: Tensor, seed: int) -> Tensor:
        whole = self.decode(syn)
        feats = self.prefix_features(whole.images) if self.share_prefix else None
        batch = (whole if feats is None else PairBatch(feats, whole.text, whole.targets)).subset(idx)
        if len(batch) < 2:
            raise ConfigError("a contrastive student step needs at least 2 synthetic pairs; raise batch_syn")
        with seeded_global_rng(seed, [batch.images.device]):
            return student_loss(self.net, batch, self.task, params, from_prefix=feats is not None)


def dual_encoder_parts(layout: ParamLayout, initial_steps: dict[str, float]) -> list[TrajectoryPart]:
    """The ``image`` part (parameters under ``image_encoder.``) and the ``text`` part (the projection head and
    a learnable logit scale) of ``layout``; each must be one contiguous run of the flat vector."""
    spans: dict[str, list[int]] = {"image": [], "text": []}
    offset = 0
    for name, numel in zip(layout.names, layout.numels):
        part = "image" if name.startswith("image_encoder.") else "text"
        spans[part] += [offset, offset + numel]
        offset += numel
    parts = []
    for name, bounds in spans.items():
        if not bounds:
            continue
        start, stop = bounds[0], bounds[-1]
        if sum(b - a for a, b in zip(bounds[::2], bounds[1::2])) != stop - start:
            raise ConfigError(f"the {name} parameters of the dual encoder are not contiguous in its parameter order")
        parts.append(TrajectoryPart(name, slice(start, stop), STEP_KEYS[name], float(initial_steps[name])))
    if not parts:
        raise ConfigError("the dual encoder has no trainable parameter to match")
    return parts


#: the reference experts' batch (``buffer.py``): on Flickr30K's ~145,000 caption pairs an epoch is over 1,000 SGD steps
REFERENCE_EXPERT_BATCH = 128


def expert_epoch_steps(num_pairs: int, batch: int) -> int:
    """SGD steps of one expert epoch over ``num_pairs`` pairs at ``batch`` (:func:`.training.train_epoch` keeps a last,
    smaller batch when it holds at least 2 pairs)."""
    return num_pairs // batch + (1 if num_pairs % batch >= 2 else 0)


def sized_expert_batch(num_pairs: int, syn_steps: int = 1) -> int:
    """The experts' batch of ``expert_batch=None``: the reference's 128, halved (down to 2, the smallest contrastive
    batch) only while an expert epoch over ``num_pairs`` would have fewer SGD steps than the student's ``syn_steps``: a
    student that moves further than an expert epoch cannot match it (101 pairs at 128 are one step per epoch against
    the student's 8, and the set blew up). Every split of 128 x ``syn_steps`` pairs or more keeps 128 (Flickr8k-1k's
    4,000 training pairs: 32 steps)."""
    size = REFERENCE_EXPERT_BATCH
    while size > 2 and expert_epoch_steps(num_pairs, size) < syn_steps:
        size //= 2
    return size


def resolve_expert_batch(cfg: Any, num_pairs: int) -> None:
    """Size ``cfg.expert_batch=None`` from the training split's ``num_pairs`` (:func:`sized_expert_batch`), log the
    numbers and record where the value came from in the config's sources (the manifest's ``config_sources``), as the
    audio experts' ``batch_train=None``; an explicit ``expert_batch`` whose epoch has fewer SGD steps than the
    student's ``syn_steps`` is kept and named in a warning (the likely cause of a divergence). Configs without
    ``expert_batch`` (clip-finetune) are left alone."""
    if not hasattr(cfg, "expert_batch"):
        return
    syn_steps = int(getattr(cfg, "syn_steps", None) or 1)
    if cfg.expert_batch is None:
        size = sized_expert_batch(num_pairs, syn_steps)
        steps = expert_epoch_steps(num_pairs, size)
        why = (f"sized from the data: {num_pairs} training pairs at batch {size} make {steps} SGD steps per expert epoch (the "
               f"student takes syn_steps={syn_steps}"
               + (")" if size == REFERENCE_EXPERT_BATCH else
                  f"; the reference's batch {REFERENCE_EXPERT_BATCH} would make {expert_epoch_steps(num_pairs, REFERENCE_EXPERT_BATCH)})"))
        cfg.expert_batch = size
        _record_source(cfg, "expert_batch", why)
        log.info("expert_batch=%d: %s%s", size, why, "" if size == REFERENCE_EXPERT_BATCH else " (--expert-batch N chooses another)")
        return
    steps = expert_epoch_steps(num_pairs, int(cfg.expert_batch))
    if hasattr(cfg, "syn_steps") and steps < syn_steps:
        # a saved run's value (eval, check, export of a finished set: older versions recorded the default 128) is advice
        # for a distillation no one is starting: a note, not a warning
        saved = from_saved(cfg, "expert_batch")
        log.log(logging.INFO if saved else logging.WARNING,
                "expert_batch=%d on %d training pairs makes %d SGD step(s) per expert epoch, fewer than the student's "
                "syn_steps=%d: an expert epoch moves less than the student's steps, the normalised distance starts far above "
                "1 and the set is likely to diverge (its pixels blow up) whatever its learning rates. Lower expert_batch to at "
                "most %d, or leave it unset to size it from the data (%d here)%s", cfg.expert_batch, num_pairs, steps,
                syn_steps, max(2, num_pairs // max(syn_steps, 1)), sized_expert_batch(num_pairs, syn_steps),
                " (the saved run's value: it matters to a distillation, not to scoring the set)" if saved else "")


def _record_source(cfg: Any, name: str, source: str) -> None:
    """Add ``name: source`` to the config's recorded sources (a config built through :func:`mmdistill.resolve.resolve`;
    one built directly records none)."""
    explicit = explicit_values(cfg)
    if explicit is not None:
        attach(cfg, explicit, {**config_sources(cfg), name: source})


def expert_training_keys(cfg: Any) -> dict[str, Any]:
    """The keys of the image-text experts' protocol (reference ``buffer.py``) in ``ExpertTraining``'s terms."""
    if cfg.expert_batch is None:
        raise ConfigError("expert_batch is not sized yet (the image-text adapter's load sizes it from the training pairs)",
                          key="expert_batch")
    return {"lr": cfg.expert_lr_image, "group_lrs": {"image": cfg.expert_lr_image, "text": cfg.expert_lr_text},
            "batch_size": cfg.expert_batch, "augment": "crop_flip" if cfg.expert_augment else "none"}


__all__ = ["PairStudent", "REFERENCE_EXPERT_BATCH", "STEP_KEYS", "dual_encoder_parts", "expert_epoch_steps",
           "expert_training_keys", "resolve_expert_batch", "sized_expert_batch"]
