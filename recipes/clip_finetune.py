"""Fine-tune an open_clip model on image-text pairs: distilled pairs from a saved set, or random real pairs of
the same count; report retrieval on the real test pairs before and after (recipe ``clip-finetune``).

    python recipes/clip_finetune.py --dataset csv --data-root my/captions.csv --clip-model ViT-B-32 \
        --clip-pretrained openai --download --syn-dir runs/my-lors-set --finetune lora
    from mmdistill.recipes import clip_finetune; clip_finetune.run(dataset="csv", data_root=..., clip_pretrained="/path/ckpt.safetensors")

``clip_pretrained`` is an open_clip tag (fetched only with ``--download``), a local checkpoint file, or
``none`` (random init). The set in ``syn_dir`` must have been distilled with
``text_encoder=openclip:<clip_model>@<clip_pretrained>`` so its text embeddings live in this model's space.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError
from mmdistill.evaluation import evaluated_sets, run_plan
from mmdistill.io import MANIFEST_FILE, load_synthetic, write_json
from mmdistill.modalities.image_text.config import ImageTextDistillConfig
from mmdistill.plots import plot_accuracy_bars
from mmdistill.recipe import Recipe
from mmdistill.report import FINETUNE_FORMAT, versions
from mmdistill.run import RunResult, prepare_out_dir

log = logging.getLogger(__name__)


@dataclass
class Config(ImageTextDistillConfig):
    """Image-text data keys plus: ``clip_model`` / ``clip_pretrained`` (the open_clip model; image and text
    encoders follow from them), ``syn_dir`` (a distilled set; without it only random real pairs of ``ipc``
    pairs are fine-tuned on), ``finetune`` (``lora`` on the image tower's linear and attention layers, or
    ``full``), ``lora_rank``/``lora_alpha``, ``ft_epochs``, ``ft_batch``, ``ft_lr`` (None: 1e-5 full,
    1e-4 LoRA), ``ft_weight_decay``; ``eval_runs`` fine-tuning runs per set."""

    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    syn_dir: str | None = None
    finetune: str = "lora"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    ft_epochs: int = 10
    ft_batch: int = 128
    ft_lr: float | None = None
    ft_weight_decay: float = 0.1
    eval_runs: int = 3

    def __post_init__(self) -> None:
        spec = f"openclip:{self.clip_model}@{self.clip_pretrained}"
        self.image_encoder = self.text_encoder = spec
        self.image_size = None
        super().__post_init__()
        if self.finetune not in ("lora", "full"):
            raise ConfigError(f"finetune must be 'lora' or 'full', got {self.finetune!r}")
        if self.ft_epochs < 1 or self.ft_batch < 1 or self.lora_rank < 1:
            raise ConfigError("ft_epochs, ft_batch and lora_rank must be >= 1")


def _no_matcher(ctx: Any) -> Any:
    raise ConfigError("clip-finetune fine-tunes a CLIP model; it does not distil (run an image-text distillation recipe first)")


@dataclass
class FinetuneRecipe(Recipe):
    """A recipe whose run fine-tunes CLIP instead of distilling (same configuration and command line)."""

    make_matcher: Any = _no_matcher

    def run(self, config: Any = None, *, stop_after: int | None = None, **overrides: Any) -> RunResult:
        from mmdistill.modalities.image_text import MODALITY
        from mmdistill.modalities.image_text.clip_finetune import finetune_plan
        from mmdistill.modalities.image_text.encoders import load_open_clip, parse_openclip

        cfg: Config = self.config(**overrides) if config is None else (dataclasses.replace(config, **overrides) if overrides else config)
        started = time.perf_counter()
        device = resolve_device(cfg.device)
        out = cfg.out_dir(self.name)
        prepare_out_dir(out, cfg)
        syn = None
        if cfg.syn_dir:
            syn, _ = load_synthetic(cfg.syn_dir)
            cfg = dataclasses.replace(cfg, ipc=len(syn))
        data = MODALITY.to_device(MODALITY.load(cfg), device)
        model_name, pretrained = parse_openclip(cfg.image_encoder.split(":", 1)[1])
        clip = load_open_clip(model_name, pretrained, cfg.download)
        log.info("%s: %s, fine-tuning %s (%s) on %d pairs on %s", self.name, MODALITY.describe(data), cfg.clip_model, cfg.finetune, cfg.ipc, device)
        metrics = run_plan(finetune_plan(cfg, data, clip.visual, float(clip.logit_scale.detach().reshape(-1)[0]), syn, device))
        manifest = {
            "format": FINETUNE_FORMAT, "recipe": self.name, "modality": "image_text", "method": "clip-finetune",
            "dataset": data.name, "ipc": cfg.ipc, "budget_label": f"{cfg.ipc} pairs", "seed": cfg.seed, "syn_dir": cfg.syn_dir,
            "config": dataclasses.asdict(cfg), "versions": versions(MODALITY), "metrics": metrics,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "timing": {"total_seconds": time.perf_counter() - started},
        }
        plot_accuracy_bars(evaluated_sets(metrics), out / "accuracy.png", f"{cfg.clip_model} fine-tuned on {cfg.ipc} pairs",
                           ylabel="test R@10, mean of both directions (%)")
        write_json(out / MANIFEST_FILE, manifest)
        return RunResult(out, syn, manifest)


RECIPE = FinetuneRecipe(
    name="clip-finetune",
    modality="image_text",
    method="clip-finetune",
    summary="Fine-tune an open_clip image tower (LoRA or full) on distilled or random real pairs; retrieval before/after",
    config_cls=Config,
    paper="fine-tuning protocol of the issue; AdamW defaults of CLIP fine-tuning",
)
run = RECIPE.run
main = RECIPE.main

if __name__ == "__main__":
    sys.exit(main())
