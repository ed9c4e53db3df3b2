"""The frozen text encoders' classes: :class:`FrozenTextEncoder` (captions -> (N, D) embeddings), a Hugging Face model
(:class:`HFTextEncoder`: a local folder with safetensors weights or a hub name; CLS or mean pooling) and an open_clip
text tower (:class:`OpenCLIPTextEncoder`), with what names their embedding space (:func:`text_space`). They are built by
name in :func:`.encoders.build_text_encoder`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import Tensor

from mmdistill.errors import ConfigError
from mmdistill.json_text import parse_json

from .encoder_weights import offline_message
from .open_clip_models import load_open_clip, looks_like_path, parse_openclip, short_error


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
