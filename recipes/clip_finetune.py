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
from typing import Any, ClassVar, Literal

if __name__ == "__main__":  # started as `mmdistill run` starts: a stop while torch loads is one line, not a traceback
    from mmdistill.cli import script_main

    sys.exit(script_main(__file__))

from mmdistill.devices import resolve_device
from mmdistill.errors import ConfigError
from mmdistill.evaluation import evaluated_sets, run_plan
from mmdistill.io import MANIFEST_FILE, load_synthetic, write_json
from mmdistill.keys import derived, key
from mmdistill.modalities.image_text.config import ImageTextDataKeys, ImageTextEncoderKeys, ImageTextModelKeys
from mmdistill.plots import plot_accuracy_bars
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables
from mmdistill.report import FINETUNE_FORMAT, versions
from mmdistill.resolve import config_sources
from mmdistill.run import RunResult, locked_out_dir
from mmdistill.schema import DistillConfig, SplitKeys

log = logging.getLogger(__name__)


@dataclass
class Config(ImageTextDataKeys, ImageTextEncoderKeys, ImageTextModelKeys, SplitKeys, DistillConfig):
    """CLIP fine-tuning: the open_clip model, the set, LoRA or full fine-tuning and its AdamW protocol.

    The image-text data keys (no distillation keys: nothing is distilled) plus: ``clip_model`` / ``clip_pretrained`` (the open_clip model; the image and text
    encoders follow from them), ``syn_dir`` (a distilled set; without it only random real pairs of ``ipc``
    pairs are fine-tuned on), ``finetune`` (``lora`` on the image tower's linear and attention layers, or
    ``full``), ``lora_rank``/``lora_alpha``, ``ft_epochs``, ``ft_batch``, ``ft_lr`` (by ``finetune``:
    ``tables/clip_finetune.yaml``), ``ft_weight_decay``; ``eval_runs`` fine-tuning runs per set."""

    REPLACED_KEYS: ClassVar[dict[str, str]] = {
        "image_encoder": "clip_model and clip_pretrained (the image encoder is CLIP's image tower)",
        "text_encoder": "clip_model and clip_pretrained (the text embeddings are CLIP's text tower's)",
        "image_size": "nothing (images are resized to the CLIP model's input size)",
        "eval_lr_image": "ft_lr", "eval_lr_text": "ft_lr (the text tower stays frozen)", "eval_batch": "ft_batch",
        "eval_weight_decay": "ft_weight_decay",
    }

    clip_model: str = key("ViT-B-32", help="the open_clip model name")
    clip_pretrained: str = key("openai", help="open_clip weights: a tag (fetched only with --download), a local checkpoint, or none")
    syn_dir: str | None = key(None, help="a distilled set to fine-tune on; none: only random real pairs of ipc pairs")
    finetune: Literal["lora", "full"] = key("lora", help="lora: LoRA factors of the image tower's linear and attention layers; "
                                            "full: every weight")
    lora_rank: int = key(8, help="rank of the LoRA factors", range="[1, inf)")
    lora_alpha: float = key(16.0, help="LoRA scale alpha (factors scaled by alpha / rank)", range="(0, inf)")
    ft_epochs: int = key(10, help="fine-tuning epochs", unit="epochs", range="[1, inf)", resume=False)
    ft_batch: int = key(128, help="fine-tuning minibatch", unit="pairs", range="[1, inf)", resume=False)
    ft_lr: float = key(1e-4, help="AdamW learning rate of the fine-tuning", unit="step size", range="(0, inf)", resume=False)
    ft_weight_decay: float = key(0.1, help="AdamW weight decay of the fine-tuning", range="[0, inf)", resume=False)
    image_encoder: str = derived("", help="openclip:<clip_model>@<clip_pretrained>")
    text_encoder: str = derived("", help="openclip:<clip_model>@<clip_pretrained>")
    image_size: int | None = derived(None, help="none: the CLIP model's input size")
    dataset: str = "shapes"
    ipc: int = 100
    network: str = "dual_encoder"
    eval_runs: int = 3
    eval_epochs: int = 100

    def out_dir(self, recipe: str) -> Path:
        return Path(self.out).expanduser() if self.out else Path("runs") / f"{recipe}-{self.dataset}-{self.ipc}pairs-seed{self.seed}"

    def derive(self) -> None:
        self.image_encoder = self.text_encoder = f"openclip:{self.clip_model}@{self.clip_pretrained}"
        self.image_size = None


def check_pair_set(syn: Any, syn_dir: str, clip_text_encoder: str) -> None:
    """The set in ``syn_dir`` is an image-text set (images and text embeddings) whose text lives in the CLIP
    model's text space; a ConfigError names the folder and what is wrong."""
    from mmdistill.modalities.image_text.clip_finetune import text_space_problem

    images, text = syn.data.get("images"), syn.data.get("text")
    if images is None or text is None or images.dim() != 4 or images.shape[1] != 3 or text.dim() != 2:
        raise ConfigError(f"syn_dir={syn_dir} is not a distilled image-text set: it holds {sorted(syn.data)}, expected 'images' "
                          "(K, 3, H, W) and 'text' (K, D) (made by image-text-bitrajectory or image-text-lors)", key="syn_dir")
    missing = [k for k in ("mean", "std", "text_encoder") if k not in syn.meta]
    if missing:
        raise ConfigError(f"syn_dir={syn_dir}: the set's metadata lacks {missing}; it was not made by an image-text recipe", key="syn_dir")
    problem = text_space_problem(syn.meta, clip_text_encoder)
    if problem:
        raise ConfigError(f"syn_dir={syn_dir}: {problem}", key="syn_dir")


def syn_folder(syn_dir: str) -> Path:
    """The folder holding the set of ``syn_dir``: a run folder, or an export made with ``--to hf`` (its set is in
    its ``mmdistill/`` subfolder), found as ``mmdistill.load`` finds it; an ArtifactError naming ``syn_dir`` and
    what it holds otherwise (a ``--to DIR`` export of PNGs and captions is not a set)."""
    from mmdistill.errors import ArtifactError
    from mmdistill.share import set_dir

    try:
        return set_dir(syn_dir)
    except ArtifactError as exc:
        raise ArtifactError(f"syn_dir={syn_dir}: {exc}") from None


def _no_matcher(ctx: Any) -> Any:
    raise ConfigError("clip-finetune fine-tunes a CLIP model; it does not distil (run an image-text distillation recipe first)")


@dataclass
class FinetuneRecipe(Recipe[Config]):
    """A recipe whose run fine-tunes CLIP instead of distilling (same configuration and command line)."""

    make_matcher: Any = _no_matcher

    def run(self, config: Any = None, *, stop_after: int | None = None, **overrides: Any) -> RunResult:
        cfg = self.run_config(config, overrides)
        started = time.perf_counter()
        device = resolve_device(cfg.device)
        out = cfg.out_dir(self.name)
        with locked_out_dir(out, f"mmdistill run {self.name}", cfg):  # a run that fails before writing anything leaves no empty folder behind
            return self._finetune(cfg, out, device, started)

    def _finetune(self, cfg: Any, out: Path, device: Any, started: float) -> RunResult:
        from mmdistill.modalities.image_text import MODALITY
        from mmdistill.modalities.image_text.clip_finetune import finetune_plan
        from mmdistill.modalities.image_text.encoders import load_open_clip, parse_openclip

        syn = None
        if cfg.syn_dir:
            syn, _ = load_synthetic(syn_folder(cfg.syn_dir))
            check_pair_set(syn, cfg.syn_dir, cfg.text_encoder)  # before the data and the model are loaded
            explicit = config_sources(cfg).get("ipc")
            if explicit is not None and int(cfg.ipc) != len(syn):
                log.warning("ipc=%d (%s) is replaced by the %d pairs of the set in syn_dir %s: the random real pairs match the set",
                            cfg.ipc, explicit, len(syn), cfg.syn_dir)
            cfg = self.rebuild(cfg, {"ipc": len(syn)}, layer="the set in syn_dir")
        data = MODALITY.to_device(MODALITY.load(cfg), device)
        model_name, pretrained = parse_openclip(cfg.image_encoder.split(":", 1)[1])
        clip = load_open_clip(model_name, pretrained, cfg.download)
        log.info("%s: %s, fine-tuning %s (%s) on %d pairs on %s", self.name, MODALITY.describe(data), cfg.clip_model, cfg.finetune, cfg.ipc, device)
        metrics = run_plan(finetune_plan(cfg, data, clip.visual, float(clip.logit_scale.detach().reshape(-1)[0]), syn, device))
        manifest = {
            "format": FINETUNE_FORMAT, "recipe": self.name, "modality": "image_text", "method": "clip-finetune",
            "dataset": data.name, "ipc": cfg.ipc, "budget_label": f"{cfg.ipc} pairs", "seed": cfg.seed, "syn_dir": cfg.syn_dir,
            "config": dataclasses.asdict(cfg), "config_sources": config_sources(cfg), "versions": versions(MODALITY), "metrics": metrics,
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
    tables=tables("clip_finetune"),
    paper="no published protocol: mmdistill's (AdamW, weight decay 0.1, 10 epochs at batch 128 as WiSE-FT's src/args.py)",
)
run = RECIPE.run
main = RECIPE.main
