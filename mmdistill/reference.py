"""Sets and expert buffers made by the field's reference code, brought into mmdistill (``mmdistill import``).

What each reference writes (read in their repositories; ``torch.save`` of plain tensors and lists):

* DC / DSA / DM (``VICO-UoE/DatasetCondensation``, ``main.py`` and ``main_DM.py``): ``res_<method>_<dataset>_<model>_<ipc>ipc.pt``,
  a dict ``{"data": [[images (N, C, H, W) float32, labels (N,) int64], ... one pair per experiment],
  "accs_all_exps": {network: [accuracies as numpy floats]}}``; images normalised with the code's fixed per-dataset
  mean and std (:data:`REFERENCE_STATS`), labels class-major ``[0]*ipc + [1]*ipc + ...``.
* MTT (``GeorgeCazenavette/mtt-distillation``, ``distill.py``): ``images_best.pt`` (N, C, H, W) and ``labels_best.pt`` (N,)
  (also ``images_<it>.pt`` / ``labels_<it>.pt``), normalised as :data:`REFERENCE_STATS` says, or ZCA-whitened [0, 1] pixels
  with ``--zca`` (then ``images_zca_<it>.pt`` holds them un-whitened: [0, 1] pixels). The learned step size ``syn_lr`` is
  logged to Weights & Biases only (``Synthetic_LR``), never written: the user gives it (``--syn-lr``).
* MTT's experts (``buffer.py``): ``<buffer_path>/<DATASET>[_NO_ZCA]/<model>/replay_buffer_<n>.pt``, each a list of
  ``save_interval`` (10) experts, each a list of ``train_epochs + 1`` lists of ``teacher_net.parameters()`` tensors; the
  CIFAR folders without ``_NO_ZCA`` hold experts trained on ZCA-whitened images.

Every file is read with ``torch.load(weights_only=True)`` (numpy scalars and dtypes admitted: DC's accuracies are numpy
floats); anything else is refused naming the file. Whitened sets and experts (MTT's ``--zca``) are imported by the recipes
with the ``zca`` key, the whitening refitted on the named dataset's training split (:mod:`mmdistill.modalities.image.zca`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.mean_std import IMAGENET_STATS, parse_mean_std
from mmdistill.reference_subsets import is_subset

log = logging.getLogger(__name__)

_C10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
#: (source, mmdistill dataset) -> the (mean, std) of [0, 1] pixels the reference code normalises that dataset with
#: (DatasetCondensation and mtt-distillation ``utils.get_dataset``; MTT normalises CIFAR-100 with CIFAR-10's statistics, and
#: Tiny ImageNet, read by torchvision's ImageFolder (labels in sorted wnid order, as mmdistill's), with ImageNet's: utils.py:68-81
#: at 50dccea. DC's Tiny ImageNet is its own tinyimagenet.pt, whose class order is not published: not here)
REFERENCE_STATS: dict[tuple[str, str], tuple[tuple[float, ...], tuple[float, ...]]] = {
    ("dc", "mnist"): ((0.1307,), (0.3081,)),
    ("dc", "fashion-mnist"): ((0.2861,), (0.3530,)),
    ("dc", "svhn"): ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    ("dc", "cifar10"): _C10,
    ("dc", "cifar100"): ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    ("mtt", "cifar10"): _C10,
    ("mtt", "cifar100"): _C10,
    ("mtt", "tinyimagenet"): IMAGENET_STATS,
    ("mtt", "imagefolder"): IMAGENET_STATS,  # ImageNet subsets (--subset): utils.py:91-92
}
#: datasets MTT may have ZCA-whitened (``--zca``; DC-BENCH methods/tm/readme.md:34 trains Tiny ImageNet experts with it)
ZCA_DATASETS = ("cifar10", "cifar100", "tinyimagenet")
#: MTT's buffer folder of each dataset (``<buffer_path>/<DATASET>[_NO_ZCA]/<model>``: utils.py's dataset names)
MTT_FOLDERS = ("CIFAR10", "CIFAR100", "Tiny")
_REFUSED = ("not loaded: mmdistill reads .pt files with torch.load(weights_only=True) only, which admits tensors, numbers "
            "and plain containers")


@dataclass
class ImportOptions:
    """What ``mmdistill import`` is told beside the file: ``labels`` (an MTT labels file; default: the images file's
    sibling), ``experiment`` (which of a DC result file's experiments), ``syn_lr`` (MTT's learned step size: a number
    or a .pt file holding one), ``stats`` (how the file's pixels are scaled: ``reference`` = the source code's mean and
    std, ``unit`` = [0, 1] pixels, ``imagenet`` (:data:`mmdistill.mean_std.IMAGENET_STATS`) or ``M1,M2,M3/S1,S2,S3``), ``zca`` (``no`` / ``yes``: whether MTT whitened them) and
    ``subset`` (which of MTT's ImageNet subsets: :mod:`mmdistill.reference_subsets`)."""

    labels: Path | None = None
    experiment: int | None = None
    syn_lr: str | None = None
    stats: str = "reference"
    zca: str | None = None
    subset: str | None = None


def read_reference(path: str | Path) -> Any:
    """The object ``torch.save`` wrote to ``path``, read with ``weights_only=True`` (numpy scalars and dtypes admitted,
    under numpy 1's and 2's names); :class:`ArtifactError` in one line naming the file for anything else."""
    import numpy as np
    import pickle

    from mmdistill.memory import host_shortfall
    from mmdistill.zip_members import declared_size

    path = Path(path).expanduser()
    if not path.is_file():
        raise ArtifactError(f"{path} is not a file")
    size = max(path.stat().st_size, declared_size(path) or 0)  # a deflated record of a few KiB can declare GiBs
    if available := host_shortfall(size):
        raise ArtifactError(f"{path} holds {size / 2**30:.1f} GiB (uncompressed), more than the {available / 2**30:.1f} GiB of memory "
                            "available here: it is not loaded")
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    allowed = [scalar, np.dtype, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: a dtype is rebuilt as an instance of its class (Float64DType)
    allowed += [t for t in vars(dtypes).values() if isinstance(t, type) and issubclass(t, np.dtype)] if dtypes else []
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        said = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln or "global" in ln), "").split(" Please", 1)[0]
        raise ArtifactError(f"{path}: {_REFUSED}" + (f" ({said})" if said else " (not a torch file, or a damaged one)")) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable torch file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                            "it may be truncated") from None


# --------------------------------------------------------------------------- sets
@dataclass
class ReferenceSet:
    """A set read from a reference file: ``x`` (N, C, H, W) float32 as stored, ``labels`` (N,) int64 class-major,
    ``source`` (``dc`` / ``mtt``) and ``record`` (what the manifest's ``imported_from`` says about the files)."""

    x: Tensor
    labels: Tensor
    source: str
    record: dict[str, Any]

    @property
    def ipc(self) -> int:
        return int(torch.bincount(self.labels)[0])


def _labels_beside(images: Path) -> Path:
    """MTT's labels file written with ``images``: ``images_best.pt`` -> ``labels_best.pt``, ``images_zca_<it>.pt`` and
    ``images_<it>.pt`` -> ``labels_<it>.pt``."""
    return images.with_name(re.sub(r"^images_(zca_)?", "labels_", images.name))


def read_reference_set(path: str | Path, opts: ImportOptions) -> ReferenceSet:
    """The images and labels of a DC result file (``res_*.pt``) or of MTT's ``images_*.pt`` (with its labels file),
    checked: float images (N, C, H, W), integer labels (N,) with the same number of samples in each class."""
    path = Path(path).expanduser()
    obj = read_reference(path)
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        runs = obj["data"]
        if not runs:
            raise ArtifactError(f"{path}: its 'data' list is empty (DC saves one [images, labels] pair per finished experiment)")
        pick = len(runs) - 1 if opts.experiment is None else opts.experiment
        if not 0 <= pick < len(runs):
            raise ConfigError(f"--experiment {opts.experiment}: {path} holds experiments 0..{len(runs) - 1}", key="experiment")
        if opts.experiment is None and len(runs) > 1:
            log.warning("%s holds %d experiments (sets distilled from other seeds); importing the last, %d (--experiment N picks "
                        "another; DC reports the mean over all of them)", path, len(runs), pick)
        pair = runs[pick]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ArtifactError(f"{path}: data[{pick}] is not an [images, labels] pair")
        images, labels = pair
        method = re.match(r"res_([A-Za-z0-9]+)_", path.name)
        record = {"source": "DatasetCondensation", "file": path.name, "experiment": pick, "experiments": len(runs),
                  **({"method": method.group(1)} if method else {}), "reported": _reported(obj.get("accs_all_exps"))}
        source = "dc"
    elif isinstance(obj, Tensor):
        label_path = Path(opts.labels).expanduser() if opts.labels else _labels_beside(path)
        if label_path == path or not label_path.is_file():
            raise ConfigError(f"{path} holds images only; MTT writes their labels to {label_path.name} beside them: "
                              "pass --labels FILE", key="labels")
        images, labels = obj, read_reference(label_path)
        record = {"source": "mtt-distillation", "file": path.name, "labels_file": label_path.name}
        source = "mtt"
    else:
        raise ArtifactError(f"{path} holds {type(obj).__name__}; expected DC's result dict (res_*.pt: 'data' and "
                            "'accs_all_exps') or MTT's images tensor (images_best.pt)")
    x, y = _checked_pair(images, labels, path)
    order = torch.argsort(y, stable=True)  # class-major, as both references write it
    return ReferenceSet(x[order].contiguous(), y[order].contiguous(), source, record)


def _reported(accs: Any) -> dict[str, float] | None:
    """DC's ``accs_all_exps`` as {network: mean accuracy}, None when it holds none."""
    if not isinstance(accs, dict):
        return None
    try:
        out = {str(k): float(sum(map(float, v)) / len(v)) for k, v in accs.items() if isinstance(v, list) and v}
    except (TypeError, ValueError):  # not numbers: nothing to record
        return None
    return out or None


def _checked_pair(images: Any, labels: Any, path: Path) -> tuple[Tensor, Tensor]:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = f"shape {tuple(images.shape)} {images.dtype}" if isinstance(images, Tensor) else type(images).__name__
        raise ArtifactError(f"{path}: the images are {got}; expected a float tensor (N, C, H, W)")
    if isinstance(labels, Tensor) and labels.is_floating_point() and labels.dim() == 2:
        raise ArtifactError(f"{path}: the labels are soft (a float tensor {tuple(labels.shape)}); only hard class labels "
                            "(N,) are imported")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.numel() != images.shape[0]:
        got = f"shape {tuple(labels.shape)} {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
        raise ArtifactError(f"{path}: the labels are {got}; expected {images.shape[0]} integer class indices (N,)")
    if not torch.isfinite(images).all():
        raise ArtifactError(f"{path}: the images hold NaN or infinite values")
    if images.shape[0] == 0:
        raise ArtifactError(f"{path}: the set holds no images")
    labels = labels.long()
    if labels.min() < 0:
        raise ArtifactError(f"{path}: the labels hold a negative class index ({int(labels.min())})")
    counts = torch.bincount(labels)
    if (counts != counts[0]).any():
        raise ArtifactError(f"{path}: the classes hold {sorted(set(counts.tolist()))} samples; a set with the same number per "
                            "class (ipc) was expected")
    return images.detach().float(), labels


def mtt_whitened(opts: ImportOptions, source: str, dataset: str, where: Path) -> bool:
    """Whether the file ``where`` holds ZCA-whitened data (MTT's ``--zca``): as ``--zca`` says, else as MTT's buffer folder
    says (``<DATASET>_NO_ZCA``: no; ``CIFAR10``/``CIFAR100``/``Tiny`` above a ``replay_buffer_*.pt``: yes); False for other
    sources, datasets and ``--stats unit`` (an ``images_zca_*.pt``). ConfigError naming ``--zca`` for MTT's CIFAR, Tiny
    ImageNet and ImageNet-subset (``--subset``) files that do not say and whose whitening the user has not stated."""
    subset = is_subset(dataset, opts.subset)  # MTT's ImageNet path takes --zca too (utils.py:93)
    if source != "mtt" or not (dataset in ZCA_DATASETS or subset) or opts.stats == "unit":
        return False
    mtt_buffer = where.name.startswith("replay_buffer_")  # <buffer_path>/<DATASET>[_NO_ZCA]/<model>/replay_buffer_<n>.pt
    zca = opts.zca or ("no" if any(p.endswith("_NO_ZCA") for p in where.parts) else
                       "yes" if mtt_buffer and where.parent.parent.name in MTT_FOLDERS else None)
    if zca is None:
        raise ConfigError(f"{where}: MTT distils {'ImageNet subsets' if subset else dataset} with or without ZCA whitening (--zca) and its files do not say "
                          "which: pass --zca no or --zca yes", key="zca")
    return zca == "yes"


def pixel_stats(opts: ImportOptions, source: str, dataset: str, channels: int, where: Path) -> tuple[Tensor, Tensor] | None:
    """The (mean, std) (C, 1, 1) an un-whitened file's pixels are normalised with (whitened ones, :func:`mtt_whitened`,
    have none: a recipe with the ``zca`` key imports them as they are), None for [0, 1] pixels (``--stats unit``).
    ConfigError naming ``--stats`` for datasets the source code has no statistics for."""
    if opts.stats == "unit":
        return None
    if opts.stats == "reference":
        if (source, dataset) not in REFERENCE_STATS or (dataset == "imagefolder" and not is_subset(dataset, opts.subset)):
            known = ", ".join(d if d != "imagefolder" else "an ImageNet subset (--subset)" for s, d in REFERENCE_STATS if s == source)
            raise ConfigError(f"{where}: the {source.upper()} code normalises only {known} with fixed statistics; say how this "
                              f"{dataset} file's pixels are scaled: --stats M1,../S1,.. (the mean and std it used) or --stats unit", key="stats")
        mean, std = REFERENCE_STATS[(source, dataset)]
    else:
        try:
            mean, std = parse_mean_std(opts.stats, ("reference", "unit", "imagenet"))
        except ValueError as exc:
            raise ConfigError(f"--stats {opts.stats!r}: {exc}; expected reference, unit, imagenet or M1,M2,M3/S1,S2,S3", key="stats") from None
    if len(mean) != channels or len(std) != channels:
        raise ConfigError(f"--stats: {channels} mean(s) and {channels} std(s) were expected, got {mean} and {std}", key="stats")
    return torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)


def step_size(value: str | None) -> float | None:
    """MTT's learned step size from ``--syn-lr``: a number, or a .pt file holding one (a 0-d or 1-element tensor)."""
    if value is None:
        return None
    try:
        lr = float(value)
    except ValueError:
        held = read_reference(value)
        if not isinstance(held, (Tensor, float, int)) or (isinstance(held, Tensor) and held.numel() != 1):
            raise ArtifactError(f"--syn-lr {value}: expected one number, the file holds {type(held).__name__}") from None
        lr = float(held)
    if not lr > 0 or lr != lr or lr == float("inf"):
        raise ConfigError(f"--syn-lr {value}: a learned step size is a finite number > 0", key="syn_lr")
    return lr


# --------------------------------------------------------------------------- expert buffers
def replay_files(path: str | Path) -> list[Path]:
    """MTT's buffer files in the order its ``distill.py`` reads them: ``replay_buffer_0.pt``, ``_1`` ... up to the first
    missing number (``path`` a folder), or ``path`` itself (one file)."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    files, n = [], 0
    while (path / f"replay_buffer_{n}.pt").is_file():
        files.append(path / f"replay_buffer_{n}.pt")
        n += 1
    if not files:
        raise ArtifactError(f"{path} holds no replay_buffer_0.pt (MTT's buffer.py writes replay_buffer_<n>.pt from 0)")
    if left := sorted(set(path.glob("replay_buffer_*.pt")) - set(files)):
        log.warning("%s: %s not read (MTT's distill.py reads replay_buffer_0.pt, _1, ... up to the first missing number)",
                    path, ", ".join(p.name for p in left[:5]))
    return files


def expert_rows(experts: Any, shapes: Sequence[tuple[int, ...]], where: Path, rows_of: dict[int, Tensor] | None = None) -> list[Tensor]:
    """Each expert of one MTT buffer file as its trajectory (epochs + 1, P) float32, its parameters flattened in the
    order of ``shapes`` (the network's ``parameters()``, which MTT saved); ``rows_of`` {parameter position: (K,) index}
    reorders those parameters' first dimension (the last layer's class rows, :func:`class_rows`). ArtifactError naming
    the file, expert, epoch and parameter that does not fit."""
    if not isinstance(experts, list) or not experts:
        raise ArtifactError(f"{where} holds {type(experts).__name__}; expected MTT's list of experts (buffer.py's trajectories)")
    out = []
    for i, epochs in enumerate(experts):
        if not isinstance(epochs, list) or len(epochs) < 2:
            raise ArtifactError(f"{where}: expert {i} is not a list of at least 2 epochs of parameters")
        rows = []
        for e, params in enumerate(epochs):
            got = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in params] if isinstance(params, list) else params
            if got != [tuple(s) for s in shapes]:
                raise ArtifactError(f"{where}: expert {i}, epoch {e} holds parameters {str(got)[:200]}; the network asks for "
                                    f"{[tuple(s) for s in shapes]} (another network, dataset or class count: check --network)")
            rows.append(torch.cat([(p[rows_of[k]] if rows_of and k in rows_of else p).detach().float().reshape(-1)
                                   for k, p in enumerate(params)]))
        if torch.equal(rows[0], rows[-1]):
            raise ArtifactError(f"{where}: expert {i} holds the same parameters at every epoch (buffer.py run on a CPU saves "
                                "p.detach().cpu(), a view of the live parameters, so each epoch holds the last): not a trajectory")
        out.append(torch.stack(rows))
    return out


def class_rows(names: Sequence[str], shapes: Sequence[tuple[int, ...]], order: Tensor) -> dict[int, Tensor]:
    """{parameter position: (K,) index} that puts the last layer's rows (the parameters of the module owning the last
    parameter, first dimension K) in mmdistill's class order, ``order`` (K,) being mmdistill's class of each of the
    file's classes: row ``order[j]`` of the result is the file's row ``j``."""
    last = names[-1].rpartition(".")[0]
    inverse = torch.argsort(order)
    return {k: inverse for k, (n, shape) in enumerate(zip(names, shapes))
            if n.rpartition(".")[0] == last and shape and shape[0] == len(order)}


def write_imported_buffer(out: Path, files: list[Path], spec: Any, training: Any, order: Tensor | None = None) -> int:
    """Convert MTT's buffer ``files`` into an mmdistill buffer in ``out`` (one safetensors shard per expert, then the
    index, which records ``imported_from``); returns the number of experts. ``spec`` (an ExpertSpec: its ``data``
    fingerprint None, the files record none), ``training`` (its ``epochs`` and ``num_experts`` set here from the files)
    and ``order`` (mmdistill's class of each of the files' classes, an ImageNet subset's: the last layer's rows moved)."""
    from mmdistill.buffer import FORMAT, INDEX_FILE, shard_name
    from mmdistill.experts import write_index
    from mmdistill.io import read_json, save_tensors, write_json

    count, epochs = 0, None
    rows_of = class_rows(spec.layout.names, spec.layout.shapes, order) if order is not None else None
    for path in files:
        for rows in expert_rows(read_reference(path), spec.layout.shapes, path, rows_of):
            if epochs is None:
                epochs = rows.shape[0] - 1
                training = replace(training, epochs=epochs)
            if rows.shape[0] - 1 != epochs:
                raise ArtifactError(f"{path}: an expert of {rows.shape[0] - 1} epochs among experts of {epochs}")
            if not torch.isfinite(rows).all():
                raise ArtifactError(f"{path}: expert {count} holds non-finite parameters")
            header = {"format": FORMAT, "spec": spec.as_json(), "training": asdict(training)}
            save_tensors(out / shard_name(count), {"trajectory": rows}, metadata={
                "format": FORMAT, "expert": str(count), "epochs": str(epochs), "rank": "0", "scores": "[]", "seconds": "0.0",
                "header": json.dumps(header)})
            count += 1
    write_index(out, spec, replace(training, num_experts=count))
    index = read_json(out / INDEX_FILE)
    moved = {"mtt_label_to_class": order.tolist()} if order is not None else {}
    write_json(out / INDEX_FILE, {**index, "imported_from": {"source": "mtt-distillation", "files": [p.name for p in files],
                                                             "folder": files[0].parent.name, **moved}})
    return count


__all__ = ["ImportOptions", "REFERENCE_STATS", "ReferenceSet", "ZCA_DATASETS", "class_rows", "expert_rows", "mtt_whitened", "pixel_stats", "read_reference",
           "read_reference_set", "replay_files", "step_size", "write_imported_buffer"]
