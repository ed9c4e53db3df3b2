"""open_clip models by ``<model>[@<tag or file>]`` (:func:`parse_openclip`): loaded once per process and copied
(:func:`load_open_clip`; tags fetched only with ``download``, files read as plain tensors), or randomly initialised
(:func:`random_open_clip`); ``EfficientNetLite0-MiniLM`` is assembled offline (:mod:`.offline_clip`)."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import torch
from torch import nn

from mmdistill.errors import ConfigError

from .encoder_weights import offline_message


def _copy_module(m: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(m)


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
