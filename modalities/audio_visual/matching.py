"""Audio-visual distribution matching: AV-DM (each modality matched on its own) and AVDD.

Every iteration draws freshly initialised encoders (frozen; only the synthetic pairs learn), ``batch_real`` real
pairs per class, one DSA draw per class shared by that class's real and synthetic samples (per modality), and
matches per class c, with m(.) the class mean of a batch's embeddings:

* DM per modality: ``||m(a_real) - m(a_syn)||^2 + ||m(v_real) - m(v_syn)||^2``;
* implicit cross-matching (AVDD, weight ``lam_icm``): ``||(m(a_real) + m(v_real)) - (m(a_syn) + m(v_syn))||^2``,
  whose cross terms pull the synthetic audio towards the real visual mean and the synthetic frames towards the real
  audio mean;
* cross-modal gap matching (AVDD, weight ``lam_cgm``): ``||(m(a_real) + m(v_syn)) - (m(v_real) + m(a_syn))||^2``, i.e.
  the synthetic gap ``m(v_syn) - m(a_syn)`` kept at the real gap ``m(v_real) - m(a_real)``.

The terms and their weights follow the reference code (sakshamsingh1/AVDD ``main_DM_AV.py``). Departure: the
reference steps its SGD (momentum 0.5) once per class, on one tensor per modality that holds every class, so each
step also moves every other class by its momentum buffer and a class's update is spent within the iteration it was
computed in (lr x (1 + 0.5 + 0.25 + ...)); here the classes' losses (independent: each class's synthetic pairs appear
only in its own term) are summed and stepped once per iteration, as the core DM matcher does, so the same update
is spread over the following iterations: the same total displacement for a steady gradient, other timing. The
reference also draws one DSA seed per iteration for every class; here one per class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.chunking import chunked_embed
from mmdistill.matchers import apply_update
from mmdistill.matchers.distribution import class_means
from mmdistill.seeding import draw_seed
from mmdistill.synthetic import SyntheticSet

from .data import AVPairs


def av_matching_loss(real_a: Tensor, real_v: Tensor, y_real: Tensor, syn_a: Tensor, syn_v: Tensor, y_syn: Tensor, num_classes: int,
                     lam_icm: float = 0.0, lam_cgm: float = 0.0) -> tuple[Tensor, dict[str, float]]:
    """The summed loss over classes (a scalar) and its parts (``dm_audio``, ``dm_image``, ``icm``, ``cgm``, unweighted
    sums over classes). Embeddings (N, D) of the two modalities share D; class ids (N,)."""
    ra, rv = class_means(real_a, y_real, num_classes), class_means(real_v, y_real, num_classes)
    sa, sv = class_means(syn_a, y_syn, num_classes), class_means(syn_v, y_syn, num_classes)
    parts = {"dm_audio": ((ra - sa) ** 2).sum(), "dm_image": ((rv - sv) ** 2).sum(),
             "icm": (((ra + rv) - (sa + sv)) ** 2).sum(), "cgm": (((ra + sv) - (rv + sa)) ** 2).sum()}
    total = parts["dm_audio"] + parts["dm_image"]
    if lam_icm:
        total = total + lam_icm * parts["icm"]
    if lam_cgm:
        total = total + lam_cgm * parts["cgm"]
    return total, {k: float(v.detach()) / num_classes for k, v in parts.items()}


@dataclass
class AVAugment:
    """DSA for each side of a pair: ``audio`` and ``image`` are ``aug(x, seed=, groups=, num_groups=)`` or None."""

    audio: Callable[..., Tensor] | None
    image: Callable[..., Tensor] | None


@dataclass
class AVDistributionMatching:
    """One AV-DM / AVDD iteration per :meth:`step` (see the module docstring).

    Args:
        net: an :class:`~.nets.AVNet` (``embed_audio``, ``embed_image``), re-initialised every iteration by ``reinit``.
        reinit: ``reinit(net, generator)``.
        real: the real training pairs on the compute device.
        num_classes: C.
        batch_real: real pairs per class per iteration (AVDD: 128).
        augment: DSA per modality (or None).
        lam_icm, lam_cgm: weights of implicit cross-matching and cross-modal gap matching (0, 0: AV-DM).
        decode: the synthetic set's (audio, image) tensors.
        labels_of: the label of each decoded pair (the stored labels, or repeated under multi-formation).
        real_chunk: samples per forward of the real side (0: one batch).
    """

    net: nn.Module
    reinit: Callable[[nn.Module, torch.Generator], None]
    real: AVPairs
    num_classes: int
    decode: Callable[[SyntheticSet], Any]
    labels_of: Callable[[SyntheticSet], Tensor] = lambda syn: syn.labels
    batch_real: int = 128
    augment: AVAugment | None = None
    lam_icm: float = 0.0
    lam_cgm: float = 0.0
    real_chunk: int = 256
    _classes: list[Tensor] = field(default_factory=list, repr=False)

    name = "audio_visual_distribution"

    def __post_init__(self) -> None:
        for p in self.net.parameters():
            p.requires_grad_(False)
        self._classes = self.real.class_indices(self.num_classes)

    def _sample(self, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        picks, labels = [], []
        for c, idx in enumerate(self._classes):
            perm = torch.randperm(idx.numel(), generator=gen)[: self.batch_real]
            picks.append(idx.cpu()[perm])
            labels.append(torch.full((perm.numel(),), c, dtype=torch.long))
        return torch.cat(picks), torch.cat(labels)

    def step(self, syn: SyntheticSet, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        self.reinit(self.net, gen)
        self.net.train()
        idx, y_real = self._sample(gen)
        device = self.real.audio.device
        idx, y_real = idx.to(device), y_real.to(device)
        a_real, v_real = self.real.audio[idx], self.real.image[idx]
        a_syn, v_syn = self.decode(syn)
        y_syn = self.labels_of(syn)
        C = self.num_classes
        if self.augment is not None:
            seed_a, seed_v = draw_seed(gen), draw_seed(gen)
            if self.augment.audio is not None:
                a_real = self.augment.audio(a_real, seed=seed_a, groups=y_real, num_groups=C)
                a_syn = self.augment.audio(a_syn, seed=seed_a, groups=y_syn, num_groups=C)
            if self.augment.image is not None:
                v_real = self.augment.image(v_real, seed=seed_v, groups=y_real, num_groups=C)
                v_syn = self.augment.image(v_syn, seed=seed_v, groups=y_syn, num_groups=C)
        with torch.inference_mode():
            ea_real = chunked_embed(self.net.embed_audio, a_real, self.real_chunk)
            ev_real = chunked_embed(self.net.embed_image, v_real, self.real_chunk)
        ea_real, ev_real = ea_real.clone(), ev_real.clone()
        loss, parts = av_matching_loss(ea_real, ev_real, y_real, self.net.embed_audio(a_syn), self.net.embed_image(v_syn), y_syn, C,
                                       self.lam_icm, self.lam_cgm)
        return {"loss": apply_update(loss, optimizer) / C, **parts}


__all__ = ["AVAugment", "AVDistributionMatching", "av_matching_loss"]
