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

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.buffer import ParamLayout
from mmdistill.synthetic import SyntheticSet
from mmdistill.modality import TrajectoryPart
from mmdistill.seeding import seeded_global_rng

from .data import PairBatch
from .task import ContrastiveTask
from .training import student_loss

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


def expert_training_keys(cfg: Any) -> dict[str, Any]:
    """The keys of the image-text experts' protocol (reference ``buffer.py``) in ``ExpertTraining``'s terms."""
    return {"lr": cfg.expert_lr_image, "group_lrs": {"image": cfg.expert_lr_image, "text": cfg.expert_lr_text},
            "batch_size": cfg.expert_batch, "augment": "crop_flip" if cfg.expert_augment else "none"}


__all__ = ["PairStudent", "STEP_KEYS", "dual_encoder_parts", "expert_training_keys"]
