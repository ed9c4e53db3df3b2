"""Evaluation of paired sets on the core skeleton (:mod:`mmdistill.evaluation`): AVDD's protocol.

Each run trains a fresh :class:`~.nets.AVNet` (both encoders and both heads, weights from the run's generator) on a set
of pairs: Adam with a learning rate per part (audio encoder, frame encoder, heads), weight decay, the sum of the two
heads' cross-entropies, minibatches of ``eval_batch`` shuffled from the generator, DSA per sample when ``eval_dsa``,
learning rates x0.1 as ``eval_lr_schedule`` says (``avdd``, AVDD's ``evaluate_synset_av``: after the 0-based epochs
``eval_lr_step``, 2 x ``eval_lr_step``, ... below the epoch count, i.e. after epochs 11 and 21 of 30; ``every``: after
every ``eval_lr_step`` epochs, 10 and 20 of 30, the ``cpu`` rows' design with which every recorded number was measured).
Its heads' weights start from N(0, 1e-4) with ``eval_head_init=avdd`` (AVDD's ``weights_init`` of its classifier; the
biases and the encoders keep PyTorch's default), else from PyTorch's default like every other layer. It is scored on the real test pairs three ways from the one model:
``accuracy`` (fused: the argmax of the mean of the two softmaxes, the headline), ``audio_accuracy`` (the audio head
alone) and ``visual_accuracy`` (the frame head alone). Sets: ``distilled``, ``random_real`` (``ipc`` random real
pairs per class, a new draw per run), ``herding`` (herding pairs in the fused embedding of a network trained
``herding_epochs`` on the whole split), ``whole`` (with ``eval_whole``). With ``cross_arch`` every set is also trained
and scored, with the same protocol, on each pair of core networks of :data:`~.nets.CROSS_ARCH` (``mlp``, ``lenet``,
``alexnet``, ``vgg11``, ``resnet18`` as both encoders), or on the networks ``eval_networks`` names; herding always
selects in AVDD's network.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.baselines import herding_select
from mmdistill.classification import majority_share
from mmdistill.evaluation import EvalSet, EvaluationPlan, NetworkPlan
from mmdistill.nets import reinitialize
from mmdistill.schema import chosen_networks
from mmdistill.scored_on import scored_protocol
from mmdistill.seeding import draw_seed, generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.words import quantity

from .data import AVData, AVPairs
from .matching import AVAugment
from .nets import AV_NETWORK, CROSS_ARCH, AVEncoderSpec, AVPair, av_network_name, build_av_network

#: std of the evaluation heads' weights with ``eval_head_init=avdd`` (AVDD's ``nets/__init__.py`` ``weights_init``)
AVDD_HEAD_STD = 1e-4

Pairs = tuple[Tensor, Tensor, Tensor]
"""(audio (N, 1, n_mels, frames), image (N, C, H, W), labels (N,))"""


def evaluation_networks(cfg: Any) -> list[str]:
    """The networks a set is trained and scored on: ``cfg.eval_networks`` (default AVDD's), every one of
    :data:`~.nets.CROSS_ARCH` with ``cfg.cross_arch``."""
    return [av_network_name(n) for n in chosen_networks(cfg, CROSS_ARCH) or [AV_NETWORK]]


def make_net(cfg: Any, data: AVData, device: torch.device, gen: torch.Generator, network: str = AV_NETWORK) -> AVPair:
    """A fresh ``network`` (:func:`~.nets.build_av_network`; AVDD's with the config's encoder keys) for ``data``'s
    audio and frame shapes and classes on ``device``, its weights drawn from ``gen``."""
    net = build_av_network(network, data.audio_shape, data.image_shape, data.num_classes, AVEncoderSpec.of(cfg)).to(device)
    reinitialize(net, gen)
    if cfg.eval_head_init == "avdd":
        heads = torch.Generator(device=device).manual_seed(draw_seed(gen))
        with torch.no_grad():
            for head in (net.head_audio, net.head_image):
                head.weight.normal_(0.0, AVDD_HEAD_STD, generator=heads)
    return net


def decays_after(epoch: int, cfg: Any, epochs: int) -> bool:
    """Whether the evaluation's learning rates are x0.1 after 0-based ``epoch`` of ``epochs`` (``cfg.eval_lr_schedule``
    with ``cfg.eval_lr_step``; see the module docstring)."""
    step = cfg.eval_lr_step
    if cfg.eval_lr_schedule == "avdd":
        return epoch in range(step, epochs, step)
    return (epoch + 1) % step == 0 and epoch + 1 < epochs


def train_pairs(net: AVPair, pairs: Pairs, cfg: Any, gen: torch.Generator, augment: AVAugment | None, epochs: int) -> None:
    """AVDD's training of the fused network on ``pairs`` for ``epochs`` epochs (see the module docstring)."""
    audio, image, y = pairs
    opt = torch.optim.Adam([{"params": net.audio.parameters(), "lr": cfg.eval_lr_audio},
                            {"params": net.image.parameters(), "lr": cfg.eval_lr_image},
                            {"params": [*net.head_audio.parameters(), *net.head_image.parameters()], "lr": cfg.eval_lr_head}],
                           betas=(0.9, 0.999), weight_decay=cfg.eval_weight_decay)
    net.train()
    n = len(y)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen).to(y.device)
        for s in range(0, n, cfg.eval_batch):
            idx = perm[s:s + cfg.eval_batch]
            a, v, t = audio[idx], image[idx], y[idx]
            if augment is not None:
                per_sample = torch.arange(len(idx), device=t.device)
                seed_a, seed_v = draw_seed(gen), draw_seed(gen)
                if augment.audio is not None:
                    a = augment.audio(a, seed=seed_a, groups=per_sample, num_groups=len(idx))
                if augment.image is not None:
                    v = augment.image(v, seed=seed_v, groups=per_sample, num_groups=len(idx))
            out_a, out_v = net(a, v)
            loss = F.cross_entropy(out_a, t) + F.cross_entropy(out_v, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if decays_after(epoch, cfg, epochs):
            for g in opt.param_groups:
                g["lr"] *= 0.1


@torch.no_grad()
def score_pairs(net: AVPair, test: AVPairs, device: torch.device, chunk: int = 256) -> dict[str, float]:
    """Fused, audio-only and visual-only test accuracy in [0, 1]."""
    net.eval()
    hits = torch.zeros(3)
    for s in range(0, len(test), chunk):
        a, v, y = (t[s:s + chunk].to(device) for t in (test.audio, test.image, test.y))
        out_a, out_v = net(a, v)
        fused = AVPair.fused_probabilities(out_a, out_v)
        hits += torch.tensor([(fused.argmax(1) == y).sum().item(), (out_a.argmax(1) == y).sum().item(), (out_v.argmax(1) == y).sum().item()])
    acc = (hits / max(1, len(test))).tolist()
    return {"accuracy": acc[0], "audio_accuracy": acc[1], "visual_accuracy": acc[2]}


def herding_indices(cfg: Any, data: AVData, device: torch.device, augment: AVAugment | None) -> Tensor:
    """``cfg.ipc`` herding pairs per class (class-major indices into ``data.train``), selected in the concatenated
    (audio, frame) embedding of a fused network trained ``herding_epochs`` on the whole training split from
    ``generator(seed, "herding")``; cached on ``data`` per (seed, ipc, herding_epochs)."""
    key = ("herding", cfg.seed, cfg.ipc, cfg.herding_epochs)
    if key not in data.cache:
        data.require_per_class(cfg.ipc)
        gen = generator(cfg.seed, "herding")
        net = make_net(cfg, data, device, gen)
        train = data.train.to(device)
        train_pairs(net, (train.audio, train.image, train.y), cfg, gen, augment, cfg.herding_epochs)
        net.eval()
        picks = []
        with torch.no_grad():
            for idx in train.class_indices(data.num_classes):
                feats = torch.cat([torch.cat([net.embed_audio(train.audio[idx[s:s + 256]]), net.embed_image(train.image[idx[s:s + 256]])], 1)
                                   for s in range(0, idx.numel(), 256)])
                picks.append(idx[herding_select(feats.float().cpu(), cfg.ipc).to(idx.device)])
        data.cache[key] = torch.cat(picks).cpu()
    return data.cache[key]


def random_indices(data: AVData, ipc: int, gen: torch.Generator) -> Tensor:
    """``ipc`` random training pairs per class (class-major), drawn from ``gen``."""
    data.require_per_class(ipc)
    out = []
    for idx in data.train.class_indices(data.num_classes):
        out.append(idx.cpu()[torch.randperm(idx.numel(), generator=gen)[:ipc]])
    return torch.cat(out)


def av_plan(cfg: Any, syn: SyntheticSet | None, data: AVData, device: torch.device, decode: Callable[[SyntheticSet], tuple[Tensor, Tensor]],
            labels_of: Callable[[SyntheticSet], Tensor], augment: AVAugment | None) -> EvaluationPlan:
    """The distilled pairs (when given) next to random real pairs, herding pairs and (``eval_whole``) the whole split, on
    AVDD's network and (``cross_arch``) on every pair of :data:`~.nets.CROSS_ARCH`."""
    train = data.train.to(device)

    def trainer(network: str) -> Callable[[Pairs, torch.Generator], dict[str, float]]:
        def train_and_score(pairs: Pairs, gen: torch.Generator) -> dict[str, float]:
            net = make_net(cfg, data, device, gen, network)
            train_pairs(net, pairs, cfg, gen, augment if cfg.eval_dsa else None, cfg.eval_epochs)
            return score_pairs(net, data.test, device)

        return train_and_score

    def take(idx: Tensor) -> Pairs:
        idx = idx.to(device)
        return train.audio[idx], train.image[idx], train.y[idx]

    sets: dict[str, EvalSet] = {}
    scored = str(data.meta.get("scored_on", "test"))  # "validation": pairs held out of the training split (validation=)
    if syn is not None:
        a, v = decode(syn)
        sets["distilled"] = EvalSet((a.detach().to(device), v.detach().to(device), labels_of(syn).to(device)), size=len(syn.labels))
    if "random_real" in cfg.baselines:
        sets["random_real"] = EvalSet(lambda r: take(random_indices(data, cfg.ipc, generator(cfg.seed, "random_real", r))), per_run=True,
                                      size=cfg.ipc * data.num_classes)
    if "herding" in cfg.baselines:
        sets["herding"] = EvalSet(lambda r: take(herding_indices(cfg, data, device, augment)), per_run=True, size=cfg.ipc * data.num_classes)
    if cfg.eval_whole:
        sets["whole"] = EvalSet((train.audio, train.image, train.y), size=len(train))
    protocol = {"epochs": cfg.eval_epochs, "batch": cfg.eval_batch, "optimizer": "adam", "lr_audio": cfg.eval_lr_audio,
                "lr_image": cfg.eval_lr_image, "lr_heads": cfg.eval_lr_head, "weight_decay": cfg.eval_weight_decay,
                "lr_step": cfg.eval_lr_step, "lr_schedule": cfg.eval_lr_schedule, "head_init": cfg.eval_head_init, "runs": cfg.eval_runs, "dsa": augment is not None,
                **({"dsa_strategy": {side: getattr(getattr(augment, side), "strategy", "none") for side in ("audio", "image")}}
                   if augment is not None else {}),  # the resolved op lists: DistilledSet.augmentation()
                **scored_protocol(data.meta, len(data.test)),  # what the card, show and compare read
                **({"test_pairs": len(data.test)} if scored == "test" else {}),  # (the key before 55S, kept)
                "majority_share": majority_share(data.test.y),
                "classifier": "ensemble (linear head per modality, mean of softmaxes)"}
    networks = [NetworkPlan(name, trainer(name), sets) for name in evaluation_networks(cfg)]
    return EvaluationPlan(metric="accuracy", label="fused accuracy", networks=networks,
                          runs=cfg.eval_runs, seed=cfg.seed, progress=cfg.progress, protocol=protocol,
                          title=f"{scored} accuracy (fused, audio-only, visual-only), {quantity(cfg.eval_runs, 'run')} each, "
                                f"{quantity(cfg.ipc, 'pair')} per class")


__all__ = ["AVDD_HEAD_STD", "av_plan", "decays_after", "evaluation_networks", "herding_indices", "make_net", "random_indices", "score_pairs", "train_pairs"]
