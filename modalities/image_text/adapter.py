"""The image-text adapter object: the :class:`~mmdistill.modality.Modality` protocol for image-caption pairs.

The synthetic set (``SyntheticSet.data``) holds ``images`` (K, 3, S, S) normalised pixels and ``text``
(K, D_text) continuous embeddings in the frozen text encoder's space, initialised from K random real pairs;
with ``similarity="lowrank"`` also LoRS's ``sim_diag`` (K,) = 1, ``sim_left`` (K, r) ~ N(0, 1) and
``sim_right`` (K, r) = 0 (S = diag(a) + alpha / r * L R^T, the identity at the start), with ``"full"`` a
``sim_full`` (K, K) identity. ``labels`` are K zeros (one class); ``meta`` has the normalisation, the
encoders, the captions of the initial pairs and the caption bank the preview reads.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from mmdistill.errors import ConfigError, DataError
from mmdistill.export_record import public_name
from mmdistill.real_samples import LEFT_OUT_KEY
from mmdistill.evaluation import EvaluationPlan
from mmdistill.buffer import ParamLayout
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet
from mmdistill.modality import AdapterDefaults, TrajectoryPart

from .data import ImageTextData, PairBatch
from .encoders import ImageEncoderBuild, build_image_encoder
from .merge import MERGE_META_KEYS, SIMILARITY_KEYS, pair_count_fields
from .merge import merge_extras as _merge_extras
from .evaluation import image_text_plan, random_pairs, require_pairs
from .model import DualEncoder, DualEncoderFactory
from .task import ContrastiveTask
from .text_cache import load_caption_bank, nearest_captions
from .training import expert_optimizer, retrieval_on, train_epoch
from .share import DATASET_FACTS, pair_dataset, pair_from_hf, pair_hf_columns, pair_inputs, pair_memorisation_views
from .trajectory import PairStudent, dual_encoder_parts, resolve_expert_batch


#: the preview's caption of a pair exported without its real samples (its exports' captions are empty)
CAPTION_LEFT_OUT = "(real caption left out)"


@functools.lru_cache(maxsize=4)
def image_encoder_for(name: str, weights: str, size: int | None, download: bool) -> ImageEncoderBuild:
    """The (cached) image encoder build of a config: weights are read once per process."""
    return build_image_encoder(name, weights, size, download=download)


def image_encoder_of(cfg: Any) -> ImageEncoderBuild:
    """The image encoder build of ``cfg`` (``image_encoder``, ``image_weights``, ``image_size``, ``download``),
    cached per process: configs with the same four values share one build."""
    return image_encoder_for(cfg.image_encoder, cfg.image_weights, cfg.image_size, bool(cfg.download))


def text_side_offline_hint(cfg: Any) -> str:
    """``""``, or a sentence naming the text encoder when it is a Hugging Face hub name that is not in the local cache
    and download is off (it would be the next error of an offline run)."""
    source = str(cfg.text_encoder)
    if cfg.download or not source.startswith("hf:") or Path(source[3:]).expanduser().exists():
        return ""
    from huggingface_hub import try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(source[3:], "config.json"), str):
            return ""
    except ValueError:  # not a valid hub name either (huggingface_hub's validation): the text encoder names that itself
        return ""
    return (f"; the text side needs a download too (text_encoder={source} is not cached here): point it at a local folder "
            "(hf:/path/to/folder) or use text_encoder=minilm (the offline MiniLM package)")


def dual_encoder_factory(cfg: Any, data: ImageTextData) -> DualEncoderFactory:
    """Fresh dual encoders of ``cfg`` for ``data`` (``factory.make(gen, device)``)."""
    return DualEncoderFactory(image_encoder_of(cfg), int(data.meta["text_dim"]), cfg.temperature, cfg.learn_temperature,
                              cfg.projection_dropout, cfg.image_lora_rank, cfg.image_lora_alpha,
                              cfg.image_trainable_blocks)


def similarity_matrix(syn: SyntheticSet) -> Tensor | None:
    """The LoRS target similarity (K, K) of ``syn`` (differentiable in its factors), or None (identity)."""
    if "sim_full" in syn.data:
        return syn.data["sim_full"]
    if "sim_diag" in syn.data:
        rank = syn.data["sim_left"].shape[1]
        alpha = float(syn.meta.get("sim_alpha", 1.0))
        return torch.diag(syn.data["sim_diag"]) + syn.data["sim_left"] @ syn.data["sim_right"].T * (alpha / rank)
    return None


class ImageTextModality(AdapterDefaults):
    """Image-caption pairs; the synthetic set is images + text embeddings (+ LoRS similarity factors)."""

    name = "image_text"
    sample_noun = "pair"
    # mmdistill merge (.merge): the pairs of every part in order, no classes; LoRS's similarity block-diagonal
    merge_inputs = ("images", "text")
    merge_by_class = False
    merge_meta_keys = MERGE_META_KEYS
    merge_extra_keys = SIMILARITY_KEYS

    def merge_extras(self, meta: dict[str, Any], syns: list[SyntheticSet]) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return _merge_extras(meta, syns)

    def merged_config(self, syn: SyntheticSet) -> dict[str, Any]:
        """A merged LoRS set's ``sim_rank``: its factors' width, the sum of the parts' ranks (:mod:`.merge`)."""
        return {"sim_rank": int(syn.data["sim_left"].shape[1])} if "sim_left" in syn.data else {}

    # ------------------------------------------------------------------ data
    def load(self, config: Any) -> ImageTextData:
        from .datasets import load_image_text

        try:
            encoder = image_encoder_of(config)
        except ConfigError as exc:  # name the text side's download too, so an offline user fixes both at once
            raise ConfigError(f"{exc}{text_side_offline_hint(config)}", key=exc.key) from None
        data = load_image_text(config, encoder)
        resolve_expert_batch(config, data.train.num_pairs)  # expert_batch=None: sized from the training pairs
        return data

    def to_device(self, data: ImageTextData, device: torch.device) -> ImageTextData:
        return ImageTextData(data.name, data.train.to(device), data.test.to(device), data.meta)

    def describe(self, data: ImageTextData) -> str:
        size = data.meta.get("image_size")
        return (f"{data.name}: {data.train.num_images} train images / {data.train.num_pairs} pairs, {data.test.num_images} test images / "
                f"{data.test.num_pairs} pairs, {size}x{size} px for {data.meta.get('image_encoder')}, text {data.meta.get('text_encoder')} "
                f"({data.meta.get('text_dim')}-d)" + (f", dropped {data.meta['dropped']}" if data.meta.get("dropped") else ""))

    def task(self, config: Any) -> ContrastiveTask:
        return ContrastiveTask(soft_loss=config.soft_loss)

    # ------------------------------------------------------------------ synthetic set
    def init_synthetic(self, data: ImageTextData, config: Any, gen: torch.Generator) -> SyntheticSet:
        """``config.ipc`` pairs from distinct random real images (one caption each), or noise with the real
        data's statistics (``init="noise"``); LoRS factors per ``config.similarity``."""
        train = data.train
        k = int(config.ipc)
        require_pairs(train, k, "the distilled set")
        if getattr(config, "evaluate", False) and "herding" in (getattr(config, "baselines", None) or ()) and k > train.num_images:
            # checked here, before any distillation, rather than when evaluation reaches the herding baseline
            raise DataError(f"the herding baseline picks {k} distinct images, and the training split has {train.num_images} "
                            f"({train.num_pairs} pairs); lower ipc to at most {train.num_images}, or leave herding out of "
                            "baselines (baselines=random_real)")
        idx = random_pairs(train, k, gen).to(train.caption_image.device)
        images = train.normalised_images(train.caption_image[idx]).detach().clone().float().cpu()
        text = train.text[idx].detach().clone().float().cpu()  # type: ignore[index]
        if config.init == "noise":
            images = torch.randn(images.shape, generator=gen)
            t = train.text.float().cpu()  # type: ignore[union-attr]
            text = torch.randn(text.shape, generator=gen) * t.std() + t.mean()
        tensors: dict[str, Tensor] = {"images": images, "text": text}
        if config.similarity == "lowrank":
            r = int(config.sim_rank)
            tensors.update(sim_diag=torch.ones(k), sim_left=torch.randn(k, r, generator=gen), sim_right=torch.zeros(k, r))
        elif config.similarity == "full":
            tensors["sim_full"] = torch.eye(k)
        meta = {
            **pair_count_fields(k), "init": config.init, "dataset": data.name, "similarity": config.similarity,
            "sim_alpha": float(config.sim_alpha), "preview_max": int(config.preview_max), "init_captions": [train.captions[i] for i in idx.tolist()],
            **{key: data.meta[key] for key in ("mean", "std", "image_size", "image_encoder", "text_encoder", "text_dim", "caption_bank")},
            # the text embeddings' pooling (clip-finetune checks it against a CLIP text tower) and the image weights
            **{key: data.meta[key] for key in ("text_pooling", "image_weights", "caption_bank_dir", "text_space", "max_caption_words")
               if data.meta.get(key) is not None},
            # what on_bad=skip dropped (counts per kind, first names), so the manifest and the card state it
            **({"load_report": data.meta["load_report"]} if data.meta.get("load_report") else {}),
        }
        return SyntheticSet(data=tensors, labels=torch.zeros(k, dtype=torch.long), num_classes=1, meta=meta)

    def decode(self, syn: SyntheticSet) -> PairBatch:
        """The training pairs of ``syn``: images, text embeddings, and LoRS targets (None = identity)."""
        return PairBatch(syn.data["images"], syn.data["text"], similarity_matrix(syn))

    def matching_network(self, config: Any, data: ImageTextData) -> DualEncoder:
        """A dual encoder of ``config`` (image encoder + text projection), drawn from ``(seed, "network")``."""
        return dual_encoder_factory(config, data).make(generator(config.seed, "network"))

    def augmenter(self, strategy: str, dataset: str) -> None:
        """No augmentation while distilling: neither reference code augments the synthetic pairs."""
        return None

    # ------------------------------------------------------------------ evaluation and output
    def evaluation_plan(self, config: Any, syn: SyntheticSet | None, data: ImageTextData, device: torch.device) -> EvaluationPlan:
        """Retrieval of fresh dual encoders trained on ``syn`` next to the baselines (see
        :mod:`.evaluation`). Also records the nearest real caption of each distilled text embedding in
        ``syn.meta["nearest_captions"]`` for the preview and export."""
        factory = dual_encoder_factory(config, data)
        if syn is not None:
            syn.meta["nearest_captions"] = nearest_captions(syn.data["text"], (data.train.captions, data.train.text.cpu()))
        return image_text_plan(config, syn, data, lambda g: factory.make(g, device), self.task(config), self.decode, device)

    def captions_for(self, syn: SyntheticSet, similarity: bool = False) -> list[str]:
        """The nearest real training caption of each distilled text embedding: from the caption bank when it
        is on this machine (with ``similarity``, prefixed by its cosine: the preview's), else as recorded by
        :meth:`evaluate`, else the captions of the initial pairs. A set exported without its real samples has none: empty
        captions (the preview, ``similarity``: :data:`CAPTION_LEFT_OUT`)."""
        if syn.meta.get(LEFT_OUT_KEY) is not None:  # exported --without-real-samples: no caption text at all
            return [CAPTION_LEFT_OUT if similarity else ""] * len(syn)
        bank = load_caption_bank(syn.meta["caption_bank"], syn.meta.get("caption_bank_dir")) if syn.meta.get("caption_bank") else None
        if bank is not None and bank[1].shape[1] == syn.data["text"].shape[1]:
            return nearest_captions(syn.data["text"], bank, similarity=similarity)
        saved = syn.meta.get("nearest_captions")
        if isinstance(saved, list) and len(saved) == len(syn):
            return [str(c) for c in saved]
        return [f"(initial) {c}" for c in syn.meta.get("init_captions", [""] * len(syn))]

    inputs_like_recorded = {"max_words": ("max_caption_words", "max_caption_words")}  # a set made before walk 53B

    def inputs_like(self, syn: SyntheticSet, raw: Any, **options: Any) -> dict[str, Tensor]:
        """Your own images and captions as the set's ``images`` (N, 3, S, S) and ``text`` embeddings (M, D):
        :func:`~.prepare.pairs_like` (``{"images": files or PIL images, "captions": strings}``, either or both;
        ``max_words=``), the sharing hook behind ``DistilledSet.inputs_like``."""
        from .prepare import pairs_like

        return pairs_like(syn, raw, **options)

    def write_preview(self, syn: SyntheticSet, path: Path, title: str) -> Path:
        from .export import save_pair_preview

        return save_pair_preview(syn.data["images"].cpu(), self.captions_for(syn, similarity=True), path, mean=tuple(syn.meta["mean"]),
                                 std=tuple(syn.meta["std"]), title=title, max_pairs=int(syn.meta.get("preview_max", 40)))

    def preview_words(self, syn: SyntheticSet) -> str:
        """What :meth:`write_preview` draws: the first images of the set, each with its caption below."""
        n = int(syn.data["images"].shape[0])
        k = min(n, int(syn.meta.get("preview_max", 40)))
        return (f"a grid of the first {k} of {n} synthetic images, each with a caption below: the real training caption "
                "nearest to its text embedding, with their cosine similarity, when the caption bank is at hand")

    def export(self, syn: SyntheticSet, out_dir: Path) -> Path:
        from .export import export_metadata, export_pairs

        sim = similarity_matrix(syn)
        return export_pairs(syn.data["images"].cpu(), self.captions_for(syn), syn.data["text"].cpu(), out_dir,
                            mean=tuple(syn.meta["mean"]), std=tuple(syn.meta["std"]), similarity=None if sim is None else sim.detach(),
                            metadata=export_metadata(syn.meta))

    def real_sample_fields(self, meta: dict[str, Any]) -> list[str]:
        """The captions of the real pairs the set was initialised from and each pair's nearest real caption: an export made
        ``--without-real-samples`` drops them and writes empty captions (:meth:`captions_for`)."""
        return ["init_captions", "nearest_captions"]

    def real_samples_note(self, meta: dict[str, Any]) -> str | None:
        """That the set's record and exports hold real training captions as written, however far its learned text
        embeddings lie from them: ``init_captions`` (those of the real pairs it was initialised from), ``nearest_captions``
        (each pair's nearest real caption) and the exports' ``caption`` column / ``captions.csv``; for a set exported
        without them, that its captions are empty."""
        if meta.get(LEFT_OUT_KEY) is not None:
            return ("the exports' captions (`captions.csv`, a `--to hf` export's `caption` column) are empty: no caption "
                    "text; the set's text side is its learned embeddings (`text_embedding`, `embeddings.safetensors`), whose distance "
                    "to the real captions' embeddings the memorisation check measures (one equal to a real caption's names that "
                    "caption to whoever holds the data)")
        held = [f"`synthetic.meta.{key}` ({len(meta[key])} {what})" for key, what in
                (("init_captions", "captions of the real pairs the set was initialised from"),
                 ("nearest_captions", "the nearest real caption of each pair")) if isinstance(meta.get(key), list) and meta[key]]
        return (("the manifest holds real training captions as written: " + " and ".join(held) + "; and " if held else "")
                + "the exports' captions (`captions.csv`, a `--to hf` export's `caption` column) are each pair's nearest real "
                "training caption: real samples, whatever the memorisation check says (it measures the learned text embeddings, "
                "not captions). Publish them only where the data's captions may be published.")

    def export_note(self, syn: SyntheticSet) -> str | None:
        """That a caption of ``captions.csv`` is a real caption near the learned text embedding (the set's text side is
        ``embeddings.safetensors``), and how the PNGs relate to the set's images (8-bit, the share clamped)."""
        from mmdistill.modalities.image.export import clamped_share

        share = clamped_share(syn.data["images"].detach().float().cpu(), tuple(syn.meta["mean"]), tuple(syn.meta["std"]))
        encoder = public_name(syn.meta.get("text_encoder")) or "the text encoder"  # a local folder by its name, not the sender's path
        pooling = syn.meta.get("text_pooling")
        space = f"`{encoder}`" + (f" ({pooling} pooling of its token states, as the metadata of `embeddings.safetensors` records)" if pooling else "")
        captions = ("the captions of `captions.csv` are empty (exported without real samples)" if syn.meta.get(LEFT_OUT_KEY) is not None
                    else "a caption of `captions.csv` is the real caption whose embedding lies nearest, for reading")
        return ("The set's text side is `embeddings.safetensors`'s `text` (K, D): learned embeddings in the embedding space of "
                f"{space}, which no caption spells; {captions}. Each PNG holds the de-normalised pixels rounded to 8 bits ({100 * share:.1f} % of the "
                "set's values lay outside [0, 1] and were clamped); `(png / 255 - mean) / std` with the statistics above gives "
                "the set's images.")

    # ------------------------------------------------------------------ sharing (mmdistill.sharing, .share)
    DATASET_FACTS = DATASET_FACTS

    def inputs(self, syn: SyntheticSet) -> dict[str, Tensor]:
        """``images`` (K, 3, H, W), ``text`` (K, D) embeddings and, for LoRS, ``similarity`` (K, K) targets."""
        return pair_inputs(self.decode(syn))

    def dataset_view(self, inputs: dict[str, Tensor], labels: Tensor, soft_labels: Tensor | None):
        return pair_dataset(inputs, labels, soft_labels)

    #: the export column of each normalised input (pair_hf_columns writes them; named for the export's description)
    hf_input_names = {"images": "pixel_values"}

    def hf_columns(self, syn: SyntheticSet, inputs: dict, labels: Tensor, soft_labels: Tensor | None) -> tuple[dict, dict]:
        return pair_hf_columns(syn, inputs, self.captions_for(syn))

    def from_hf(self, ds: Any) -> dict[str, Tensor]:
        return pair_from_hf(ds)

    def normalization(self, meta: dict[str, Any]) -> dict[str, dict[str, Tensor]]:
        """The image encoder's per-channel ``mean``/``std`` (C,) for ``images`` ([0, 1] pixels at ``meta["image_size"]``);
        the text embeddings are the frozen encoder's, not normalised."""
        return {"images": stats} if (stats := super().normalization(meta).get("x")) else {}

    def memorisation_views(self, config: Any, syn: SyntheticSet, data: ImageTextData, max_real: int, gen: torch.Generator):
        return pair_memorisation_views(syn, data, max_real, gen)

    # ------------------------------------------------------------------ trajectory matching (see .trajectory)
    def fresh_network(self, config: Any, data: ImageTextData, gen: torch.Generator) -> DualEncoder:
        """An expert's initial dual encoder: a new projection head drawn from ``gen``, the pretrained image
        encoder copied (a random one drawn from ``gen`` when it is not pretrained). LoRA needs the pretrained
        one: its frozen base must be the same in every expert and in the student."""
        factory = dual_encoder_factory(config, data)
        if factory.lora_rank > 0 and not factory.image.pretrained:
            raise ConfigError(f"image_lora_rank={factory.lora_rank} trains low-rank factors on a frozen base, which needs a pretrained "
                              f"image encoder (image_weights); {config.image_encoder!r} is randomly initialised here")
        return factory.make(gen)

    def expert_optimizer(self, config: Any, net: torch.nn.Module) -> torch.optim.Optimizer:
        """Reference ``buffer.py``: plain SGD, ``expert_lr_image`` on the image encoder, ``expert_lr_text`` on the
        text projection. ``net`` is one of :meth:`fresh_network`'s dual encoders (the core passes it no other)."""
        return expert_optimizer(cast(DualEncoder, net), config.expert_lr_image, config.expert_lr_text)

    def train_epoch(self, config: Any, net: DualEncoder, optimizer: torch.optim.Optimizer, data: ImageTextData,
                    augment: Any, gen: torch.Generator) -> float:
        """One expert epoch over every real caption pair (batch ``expert_batch``, crop/flip with ``expert_augment``,
        hard InfoNCE targets)."""
        return train_epoch(net, data.train, optimizer, gen, batch_size=config.expert_batch, augment=config.expert_augment)

    def score(self, config: Any, net: DualEncoder, data: ImageTextData) -> float:
        """Mean R@10 of both directions on the test split, in [0, 1] (logged per expert epoch)."""
        was_training = net.training
        out = retrieval_on(net, data.test)["r10_mean"]
        net.train(was_training)
        return out

    def student(self, config: Any, net: DualEncoder, task: ContrastiveTask, augment: Any) -> PairStudent:
        """The contrastive student; with a frozen image prefix (``image_trainable_blocks``) and unrolled MTT
        gradients, the prefix runs once per outer iteration for the whole set (TESLA's reverse sweep frees
        each step's graph, so there it runs once per student step)."""
        return PairStudent(net=net, task=task, decode=self.decode, share_prefix=getattr(config, "method", "mtt") == "mtt")

    def trajectory_parts(self, config: Any, layout: ParamLayout) -> list[TrajectoryPart]:
        """Bi-trajectory matching: the image encoder and the text projection matched separately, each with its
        own learnable step size initialised to its expert learning rate."""
        return dual_encoder_parts(layout, {"image": config.expert_lr_image, "text": config.expert_lr_text})

    def versions(self) -> dict[str, str]:
        import importlib.metadata as md

        out = {}
        for pkg in ("torchvision", "transformers", "open_clip_torch", "timm", "pillow"):
            try:
                out[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
        return out


__all__ = ["ImageTextModality", "dual_encoder_factory", "image_encoder_for", "image_encoder_of", "similarity_matrix"]
