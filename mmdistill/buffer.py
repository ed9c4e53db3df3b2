"""Expert buffers on disk: what a buffer holds and was made for, and lazy reading of its trajectories.

A buffer is a directory::

    index.json                  what the experts were trained for and how, and one entry per expert
    expert_0000.safetensors     tensor "trajectory": (epochs + 1, num_params) float32, one shard per expert
    expert_0001.safetensors     ...

Row 0 of a trajectory is the expert's initialisation, row ``e`` its flattened trainable parameters after
epoch ``e``. Loading reads two rows of one shard at a time through safetensors' memory map, so a buffer
never has to fit in memory. Training a buffer is :mod:`mmdistill.experts`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from mmdistill.atomic import remove_stale_temporaries
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.io import read_json
from mmdistill.json_text import parse_json
from mmdistill.nets import same_network

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
FORMAT = "mmdistill.experts/1"


# --------------------------------------------------------------------------- parameter layout
@dataclass(frozen=True)
class ParamLayout:
    """Names and shapes of a network's *trainable* parameters (``requires_grad``), in ``named_parameters()``
    order: the layout of a flattened parameter vector (P,) = the concatenation of those parameters, flattened.
    Frozen parameters (a pretrained backbone under LoRA, a frozen tower) are not part of a trajectory: the
    student reads them from the network itself."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, net: nn.Module) -> "ParamLayout":
        named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def numels(self) -> list[int]:
        out = []
        for shape in self.shapes:
            n = 1
            for s in shape:
                n *= s
            out.append(n)
        return out

    @property
    def num_params(self) -> int:
        return sum(self.numels)

    def flatten(self, net: nn.Module) -> Tensor:
        """The layout's parameters of ``net`` as one detached vector (P,)."""
        params = dict(net.named_parameters())
        return torch.cat([params[n].detach().reshape(-1) for n in self.names])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Views of ``flat`` (P,) by parameter name (for ``torch.func.functional_call``); differentiable."""
        if flat.dim() != 1 or flat.numel() != self.num_params:
            raise ConfigError(f"a flat parameter vector of {self.num_params} entries was expected, got shape {tuple(flat.shape)}")
        return {n: t.view(s) for n, t, s in zip(self.names, torch.split(flat, self.numels), self.shapes)}

    def load_into(self, net: nn.Module, flat: Tensor) -> None:
        """Copy ``flat`` (P,) into the parameters of ``net`` in place."""
        params = self.unflatten(flat.detach())
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name in params:
                    p.copy_(params[name].to(p.device, p.dtype))

    def as_json(self) -> list[list[Any]]:
        return [[n, list(s)] for n, s in zip(self.names, self.shapes)]

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json()).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- what a buffer is for
def content_digest(*parts: Any) -> str:
    """16 hex digits of a SHA-256 over ``parts``: tensors by dtype, shape and bytes (on the CPU), strings and
    lists of strings by their UTF-8 text, anything else by its JSON. Cheap enough for every label of a large
    training split (ImageNet's 1.3 M labels: ~10 MB hashed once per run)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"tensor {t.dtype} {list(t.shape)}|".encode())
            h.update(t.numpy().tobytes())
        elif isinstance(part, (list, tuple)) and all(isinstance(x, str) for x in part):
            h.update(f"strings {len(part)}|".encode())
            for x in part:
                h.update(x.encode("utf-8", "surrogatepass") + b"\0")
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode() + b"|")
    return h.hexdigest()[:16]


@dataclass
class ExpertSpec:
    """What a buffer's experts were trained on: a buffer made for another dataset, network, class count,
    parameter layout, sample shape or training data cannot drive a distillation and is refused with the
    difference named.

    ``data`` is a fingerprint of the training split the experts saw (:func:`mmdistill.expert_runs.data_fingerprint`:
    ``train_samples`` and a content digest); None when the data offers none. A buffer written before fingerprints
    were recorded has none in its index: it is accepted, and :meth:`ExpertBuffer.check` logs that its data could not
    be checked."""

    dataset: str
    network: str
    num_classes: int
    layout: ParamLayout
    sample_shape: list[int] | None = None
    data: dict[str, Any] | None = None
    #: the network's layout digest (:func:`mmdistill.network_identity.network_identity`: its modules' classes and all its
    #: parameters' names and shapes): a network edited under its name (an activation swapped) is not the experts'
    layers: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "network": self.network, "num_classes": self.num_classes,
            "sample_shape": self.sample_shape, "data": self.data, "num_params": self.layout.num_params,
            "params": self.layout.as_json(), "layers": self.layers,
        }


def shard_name(expert: int) -> str:
    """The file name of expert ``expert``'s shard in a buffer folder: ``expert_0007.safetensors`` (index zero-padded
    to 4 digits)."""
    return f"expert_{expert:04d}.safetensors"


def partial_name(expert: int) -> str:
    """The file of expert ``expert``'s unfinished trajectory: ``expert_0007.partial.safetensors``."""
    return f"expert_{expert:04d}.partial.safetensors"


#: the files of a buffer folder: a shard, an unfinished trajectory, the index
_BUFFER_FILE = re.compile(r"^expert_\d{4,}(\.partial)?\.safetensors$|^index\.json$")


def remove_claimed_temporaries(folder: str | Path, expert: int) -> list[str]:
    """Remove the temporaries of expert ``expert``'s shard and unfinished trajectory in buffer ``folder``, however
    fresh (a restart seconds after a kill): the caller holds the expert's claim, and only its holder writes them."""
    return remove_stale_temporaries(Path(folder), {shard_name(expert), partial_name(expert)}, held=True)


def remove_stale_buffer_temporaries(folder: str | Path, experts: Iterable[int], index: bool) -> list[str]:
    """Remove what killed writes left in the buffer ``folder``; the names removed (logged). Several ranks (on several
    machines) and processes may write into one buffer at once, so at once only the temporaries of the files this
    rank alone writes (the shards and unfinished trajectories of ``experts``; with ``index``, rank 0, the index)
    whose write holds no lock any more (:func:`mmdistill.atomic.remove_stale_temporaries`); any other of the buffer's
    names, and safetensors' own ``.tmpXXXXXX`` files (an earlier mmdistill's), once an hour old."""
    mine = {name for i in experts for name in (shard_name(i), partial_name(i))} | ({INDEX_FILE} if index else set())
    return remove_stale_temporaries(Path(folder), mine, others=lambda name: bool(_BUFFER_FILE.match(name)), loose_files=True)


def read_shard_header(path: Path, expert: int, epochs: int, num_params: int) -> dict[str, str]:
    """Check a shard's tensor header without reading its data; returns its metadata."""
    if not path.is_file():
        raise ArtifactError(f"expert shard {path} is missing or not a file; train that expert again")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if "trajectory" not in fh.keys():
                raise ArtifactError(f"{path} has no 'trajectory' tensor")
            sl = fh.get_slice("trajectory")
            shape, dtype = list(sl.get_shape()), str(sl.get_dtype())
    except (SafetensorError, OSError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"expert shard {path} is unreadable or truncated ({exc}); train that expert again") from exc
    if dtype != "F32":
        raise ArtifactError(f"expert shard {path} holds a {dtype} trajectory; an mmdistill buffer holds float32 (F32)")
    if shape != [epochs + 1, num_params]:
        raise ArtifactError(f"expert shard {path} holds a trajectory of shape {shape}; the index expects {[epochs + 1, num_params]}")
    if meta.get("expert") not in (None, str(expert)):
        raise ArtifactError(f"{path} holds expert {meta.get('expert')}, not expert {expert}")
    expected_bytes = shape[0] * shape[1] * 4
    if path.stat().st_size < expected_bytes:
        raise ArtifactError(f"expert shard {path} is truncated ({path.stat().st_size} bytes < {expected_bytes}); train that expert again")
    return meta


#: spec fields a buffer written by an older mmdistill may lack (None or absent): not checked then
UNRECORDED_OK = ("sample_shape", "data", "layers")
#: the fingerprint field of the training inputs' transform (an image's ZCA), compared even where a buffer lacks it (it
#: trained without): un-whitened experts never drive a whitened run
INPUT_SPACE, ABSENT_MEANS_NONE = "input_space", ("input_space",)


def recorded_spec(header: Any) -> dict[str, Any]:
    """The ``spec`` a shard's, partial expert's or index's header records ({} when it records none)."""
    return header["spec"] if isinstance(header, dict) and isinstance(header.get("spec"), dict) else {}


def unchecked_fields(saved: dict[str, Any], spec: ExpertSpec) -> list[str]:
    """The fields of :data:`UNRECORDED_OK` this run can check but ``saved`` (an index's or shard's ``spec``) does
    not record: a buffer written before they were, accepted without checking them."""
    want = spec.as_json()
    out = [key for key in UNRECORDED_OK if want[key] is not None and saved.get(key) is None]
    if isinstance(want["data"], dict) and isinstance(saved.get("data"), dict):  # a fingerprint field added since
        out += [f"data.{key}" for key in want["data"] if key not in saved["data"] and key not in ABSENT_MEANS_NONE]
    return out


def as_recorded(spec: ExpertSpec, saved: dict[str, Any]) -> ExpertSpec:
    """``spec`` less what ``saved`` (an older index's or shard's ``spec``) does not record (:func:`unchecked_fields`):
    the fields of :data:`UNRECORDED_OK` it lacks set to None, and a training-data fingerprint cut to the fields it
    records; what a buffer adding experts to older ones writes, so its index never claims what they were not checked
    against."""
    unchecked = unchecked_fields(saved, spec)
    top = {k: None for k in unchecked if "." not in k}
    data = spec.data
    if isinstance(data, dict) and isinstance(saved.get("data"), dict) and "data" not in top:
        data = {k: v for k, v in data.items() if k in saved["data"]}
    return dataclasses.replace(spec, **{"data": data, **top})


def data_mismatch(saved: Any, want: Any) -> str:
    """How two training-data fingerprints differ, field by field (``train samples: buffer 48, this run 52``)."""
    if not isinstance(saved, dict) or not isinstance(want, dict):
        return f"training data: buffer {saved!r}, this run {want!r}"
    return "; ".join(f"training data's {key.replace('_', ' ')}: buffer {saved.get(key)!r}, this run {want.get(key)!r}"
                     for key in sorted(set(saved) | set(want)) if saved.get(key) != want.get(key))


def spec_mismatch(saved: dict[str, Any], spec: ExpertSpec) -> str:
    """A description of how ``saved`` (an index's ``spec``) differs from ``spec``; empty when they agree. The
    fields of :data:`UNRECORDED_OK` are compared only when both record them (see :func:`unchecked_fields`)."""
    from mmdistill.expert_space import space_mismatch  # it reads the recipe tables

    want, parts = spec.as_json(), []
    for key in ("dataset", "network", "num_classes", "sample_shape", "num_params"):
        if key in UNRECORDED_OK and (want[key] is None or saved.get(key) is None):
            continue
        if saved.get(key) != want[key] and not (key == "network" and same_network(saved.get(key), want[key])):  # registry's rule
            parts.append(f"{key.replace('_', ' ')}: buffer {saved.get(key)!r}, this run {want[key]!r}")
    held, asked = saved.get("data"), want["data"]
    if held is None and isinstance(asked, dict) and INPUT_SPACE in asked:  # no fingerprint (older, imported): un-whitened
        held = {}
    if isinstance(held, dict) and isinstance(asked, dict):  # fields an older buffer does not record: unchecked_fields
        asked = {key: value for key, value in asked.items() if key in held or key in ABSENT_MEANS_NONE}
    if asked is not None and held is not None and held != asked:
        samples = any(k.startswith("train_") for k in held if held.get(k) != asked.get(k))  # the samples' count or digest
        space = isinstance(held, dict) and isinstance(asked, dict) and held.get(INPUT_SPACE) != asked.get(INPUT_SPACE)
        parts.append(data_mismatch(held, asked) + (" (other training samples: another file, split or validation fraction)"
                                                   if samples else " (the experts saw the training data otherwise)")
                     + (f" -- {space_mismatch(held.get(INPUT_SPACE), asked.get(INPUT_SPACE))}" if space else ""))
    if not parts and saved.get("params") != want["params"]:
        parts.append("parameter names or shapes differ")
    if not parts and None not in (saved.get("layers"), want["layers"]) and saved.get("layers") != want["layers"]:
        parts.append(f"network layers: buffer {saved.get('layers')!r}, this run {want['layers']!r} (the same parameters, other "
                     "modules: the network's definition changed since its experts were trained, e.g. an activation swapped)")
    return "; ".join(parts)


# --------------------------------------------------------------------------- loading
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_index(index: Any, path: Path | str) -> dict[str, Any]:
    """``index`` (the JSON of ``path``) when it has the shape of an expert index, else :class:`ArtifactError`
    naming the field at fault and what was expected."""
    where = str(path)
    if not isinstance(index, dict):
        raise ArtifactError(f"{where} is not an mmdistill expert index: expected a JSON object, got {type(index).__name__}")
    if index.get("format") != FORMAT:
        raise ArtifactError(f"{where} is not an mmdistill expert index (format {index.get('format')!r}, expected {FORMAT!r})")
    spec, training, experts = index.get("spec"), index.get("training"), index.get("experts")
    if not isinstance(spec, dict):
        raise ArtifactError(f"{where}: field 'spec' must be an object naming dataset, network, num_classes and num_params")
    for key, ok, what in (("dataset", lambda v: isinstance(v, str), "a string"), ("network", lambda v: isinstance(v, str), "a string"),
                          ("num_classes", _is_int, "an integer"), ("num_params", lambda v: _is_int(v) and v > 0, "a positive integer"),
                          ("params", lambda v: isinstance(v, list), "a list of [name, shape]")):
        if not ok(spec.get(key)):
            raise ArtifactError(f"{where}: field 'spec.{key}' must be {what}, got {spec.get(key)!r}")
    if not isinstance(training, dict) or not (_is_int(training.get("epochs")) and training["epochs"] >= 1):
        got = training.get("epochs") if isinstance(training, dict) else training
        raise ArtifactError(f"{where}: field 'training.epochs' must be an integer >= 1, got {got!r}")
    if not isinstance(experts, list):
        raise ArtifactError(f"{where}: field 'experts' must be a list of {{\"expert\": i, \"file\": name}}, got {type(experts).__name__}")
    for n, entry in enumerate(experts):
        if not (isinstance(entry, dict) and _is_int(entry.get("expert")) and isinstance(entry.get("file"), str)
                and entry["file"] and Path(entry["file"]).name == entry["file"] and entry["file"] not in (".", "..")):
            raise ArtifactError(f"{where}: experts[{n}] must be {{\"expert\": integer, \"file\": a file name in the buffer}}, "
                                f"got {entry!r}")
    if twice := sorted(i for i, n in Counter(e["expert"] for e in experts).items() if n > 1):
        raise ArtifactError(f"{where}: field 'experts' lists expert(s) {twice[:5]} more than once (each would be drawn as "
                            "often as it is listed); the index is damaged")
    return index


def buffer_finished(path: Path | str) -> bool:
    """Whether ``path`` holds a finished buffer: its index is written last, once every expert is."""
    return (Path(path) / INDEX_FILE).exists()


@dataclass
class ExpertBuffer:
    """A finished buffer on disk, read lazily: :meth:`rows` reads only the requested epochs of one shard. ``path``: its
    folder; ``index``: its checked ``index.json`` (``spec``, ``training``, ``experts``); ArtifactError if absent or damaged."""

    path: Path
    index: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        index_path = self.path / INDEX_FILE
        if not index_path.exists():
            raise ArtifactError(f"{self.path} holds no expert buffer (no {INDEX_FILE}); train experts first with "
                                "`mmdistill experts RECIPE ... --buffer DIR`")
        self.index = validate_index(read_json(index_path), index_path)
        missing = [e["file"] for e in self.index["experts"] if not (self.path / e["file"]).exists()]
        if missing:
            raise ArtifactError(f"{self.path}: expert shard(s) listed in {INDEX_FILE} are missing: {', '.join(missing[:5])}")
        if not self.index["experts"]:
            raise ArtifactError(f"{index_path} lists no experts")
        trained = {k: v for k, v in self.index.get("training", {}).items() if k != "num_experts"}
        for entry in self.index["experts"]:  # headers only: a damaged shard is named now, not at iteration 3,000
            meta = read_shard_header(self.path / entry["file"], entry["expert"], self.epochs, self.num_params)
            try:  # a shard another process wrote with other expert keys (two trainings into one folder at once)
                shard = {k: v for k, v in parse_json(meta.get("header", "{}")).get("training", {}).items() if k != "num_experts"}
            except (ValueError, AttributeError):
                shard = {}
            differ = [f"{k}: shard {shard[k]!r} vs index {trained.get(k)!r}" for k in sorted(shard) if shard[k] != trained.get(k)]
            if differ:
                raise ArtifactError(f"expert shard {self.path / entry['file']} was trained otherwise than {INDEX_FILE} says "
                                    f"({', '.join(differ)}); train that expert again into a buffer of its own")

    @property
    def num_experts(self) -> int:
        """The number of expert trajectories; ``iter(buffer)`` yields their indices."""
        return len(self.index["experts"])

    @property
    def epochs(self) -> int:
        """Training epochs per expert; a trajectory has ``epochs + 1`` rows."""
        return int(self.index["training"]["epochs"])

    @property
    def num_params(self) -> int:
        """P, the length of one row (the network's parameters flattened in its layout's order)."""
        return int(self.index["spec"]["num_params"])

    @property
    def network(self) -> str:
        """The registered name of the network the experts trained."""
        return str(self.index["spec"]["network"])

    def check(self, spec: ExpertSpec) -> None:
        """Raise :class:`ConfigError` naming what differs when the buffer was made for another setting."""
        mismatch = spec_mismatch(self.index["spec"], spec)
        if mismatch:
            raise ConfigError(f"the expert buffer {self.path} was made for another setting ({mismatch}); "
                              "train experts for this dataset and network or point --buffer at matching ones")
        unchecked = unchecked_fields(self.index["spec"], spec)
        if unchecked:
            log.warning("the expert buffer %s does not record its experts' %s (%s): it could not be "
                        "checked against this run's, only dataset name, network, class count and parameter layout were",
                        self.path, " or ".join("training data" if k == "data" else f"training data's {k[5:].replace('_', ' ')}"
                                               if k.startswith("data.") else k.replace("_", " ") for k in unchecked),
                        "imported from the reference code's files, which record none" if "imported_from" in self.index
                        else "written by an older mmdistill")

    def rows(self, expert: int, epochs: list[int]) -> Tensor:
        """Rows ``epochs`` of expert ``expert``'s trajectory, shape (len(epochs), num_params), float32 on CPU.

        Reads only those rows (memory-mapped); a missing or truncated shard raises :class:`ArtifactError`."""
        entry = self.index["experts"][expert]
        path = self.path / entry["file"]
        for e in epochs:
            if not 0 <= e <= self.epochs:
                raise ConfigError(f"epoch {e} is outside expert {expert}'s trajectory (0..{self.epochs}); "
                                  "lower max_start_epoch or expert_epochs, or train longer experts")
        read_shard_header(path, int(entry["expert"]), self.epochs, self.num_params)
        try:
            with safe_open(str(path), framework="pt") as fh:
                sl = fh.get_slice("trajectory")
                rows = torch.stack([sl[e : e + 1][0] for e in epochs]).float()
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ArtifactError(f"expert shard {path} could not be read ({exc}); it may be truncated") from exc
        bad = [e for e, row in zip(epochs, rows) if not torch.isfinite(row).all()]
        if bad:
            raise ArtifactError(f"expert shard {path} holds non-finite parameters at epoch(s) {bad}; the shard is damaged, "
                                "train that expert again")
        return rows

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.num_experts))

    def scores(self) -> list[list[float | None]]:
        """Per expert, the score logged after each epoch (e.g. test accuracy)."""
        return [e.get("scores", []) for e in self.index["experts"]]


__all__ = ["FORMAT", "INDEX_FILE", "UNRECORDED_OK", "ExpertBuffer", "as_recorded", "buffer_finished", "content_digest", "data_mismatch", "ExpertSpec",
           "ParamLayout", "partial_name", "read_shard_header", "recorded_spec",
           "remove_claimed_temporaries", "remove_stale_buffer_temporaries", "shard_name", "spec_mismatch", "unchecked_fields", "validate_index"]
