"""The synthetic set: named learnable tensors, labels (hard, soft or learnable) and metadata.

The raw parameterization stores the model inputs directly in ``data["x"]`` of shape (K, *sample_shape),
K = num_classes * ipc, class-major (``labels`` = [0]*ipc + [1]*ipc + ...). Other parameterizations
(factorized, static/dynamic video, low-rank similarity, Tucker) add more entries to ``data`` and a decoder
in their modality; the core only optimises ``parameters()`` and asks the modality to decode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mmdistill.data import LabeledTensors
from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.keys import clipped
from mmdistill.memory import nbytes

LABEL_MODES = ("hard", "soft", "learnable")


@dataclass
class SyntheticSet:
    """A distilled set.

    Attributes:
        data: learnable tensors by name; the raw parameterization has ``"x"``: (K, *sample_shape).
        labels: (K,) int64 hard labels, class-major.
        num_classes: number of classes C.
        soft_labels: (K, C) float logits when ``label_mode`` is ``"soft"`` or ``"learnable"``.
        label_mode: ``"hard"``, ``"soft"`` (fixed soft targets) or ``"learnable"`` (optimised logits).
        meta: JSON-serialisable facts the modality needs to decode, preview or export the set
            (e.g. ``classes``, ``mean``, ``std``).
        fixed: tensors the modality needs beside the samples that are never optimised (an image set's ZCA whitening),
            stored as ``fixed.<name>``; none for most sets (their file is as before).

    ConfigError for an unknown ``label_mode`` or one without ``soft_labels``; DataError for ``labels`` that are not
    a 1-D integer tensor of indices in [0, num_classes), or ``soft_labels`` not of shape (K, C) (what loading refuses).
    """

    data: dict[str, Tensor]
    labels: Tensor
    num_classes: int
    soft_labels: Tensor | None = None
    label_mode: str = "hard"
    meta: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Tensor] = field(default_factory=dict)

    def __repr__(self) -> str:
        """One line of shapes and dtypes, not the tensors' values (a notebook shows a bare ``syn`` with it)."""
        parts = [f"{k}={tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}" for k, v in self.data.items()]
        soft = f", soft_labels={tuple(self.soft_labels.shape)}" if self.soft_labels is not None else ""
        return (f"SyntheticSet({', '.join(parts)}, labels={tuple(self.labels.shape)}, num_classes={self.num_classes}, "
                f"label_mode={self.label_mode!r}{soft})")

    def __post_init__(self) -> None:
        if self.label_mode not in LABEL_MODES:
            raise ConfigError(f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")
        if self.label_mode != "hard" and self.soft_labels is None:
            raise ConfigError(f"label_mode={self.label_mode!r} needs soft_labels of shape (K, C)")
        labels = self.labels  # from_tensors leaves these checks to this one: a set that builds can be saved and loaded
        if not isinstance(labels, Tensor) or labels.dim() != 1 or not _integer(labels):
            got = f"{dtype_name(labels.dtype)} {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
            raise DataError(f"SyntheticSet labels must be a 1-D integer tensor of class indices (K,); got {got}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise DataError(f"SyntheticSet labels must lie in [0, num_classes={self.num_classes}); found "
                            f"[{int(labels.min())}, {int(labels.max())}]")
        soft = self.soft_labels
        if soft is not None and (soft.dim() != 2 or soft.shape[1] != self.num_classes):
            raise DataError(f"SyntheticSet soft_labels must be (K, num_classes={self.num_classes}) logits; got "
                            f"{tuple(soft.shape)}")

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_real(
        cls,
        real: LabeledTensors,
        ipc: int,
        gen: torch.Generator,
        *,
        init: str = "real",
        meta: dict[str, Any] | None = None,
    ) -> "SyntheticSet":
        """``ipc`` samples per class initialised from random real samples (``init="real"``: copies of ``real.x``'s
        rows as float32, on its device, in its units) or N(0, 1) noise (``init="noise"``, on the CPU), as in the DC/DM
        reference code: ``x`` (C * ipc, *sample_shape), ``labels`` (C * ipc,) int64 class-major. ConfigError for an
        ``ipc`` or ``init`` out of range, DataError naming the classes with fewer than ``ipc`` samples.

        >>> import torch
        >>> from mmdistill import LabeledTensors
        >>> real = LabeledTensors(torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])
        >>> syn = SyntheticSet.from_real(real, 2, torch.Generator().manual_seed(0))
        >>> syn.x.shape, syn.labels.tolist(), syn.ipc
        (torch.Size([6, 1, 8, 8]), [0, 0, 1, 1, 2, 2], 2)
        """
        if not isinstance(ipc, int) or isinstance(ipc, bool) or ipc <= 0:
            raise ConfigError(f"ipc must be a positive integer, got {ipc!r}")
        if init not in ("real", "noise"):
            raise ConfigError(f"init must be 'real' or 'noise', got {init!r}")
        real.require_per_class(ipc)
        indices, labels = real.sample_per_class(ipc, gen)
        if init == "real":
            x = real.x[indices].detach().clone().float()
        else:
            x = torch.randn((len(indices), *real.sample_shape), generator=gen)
        return cls(
            data={"x": x},
            labels=labels.clone(),
            num_classes=real.num_classes,
            meta={"classes": list(real.classes), "ipc": ipc, "init": init, **(meta or {})},
        )

    # ----------------------------------------------------------------- access
    @property
    def ipc(self) -> int:
        """Samples per class (pairs, for an image-text set of one "class"): ``meta["ipc"]``, else K // C."""
        return int(self.meta.get("ipc", self.labels.numel() // max(self.num_classes, 1)))

    @property
    def x(self) -> Tensor:
        """The raw inputs (K, *sample_shape); ArtifactError when the set has none (a damaged or foreign file)."""
        try:
            return self.data["x"]
        except KeyError:
            held = ", ".join(f"data.{k}" for k in self.data) or "no data tensors"
            raise ArtifactError(f"the synthetic set has no 'data.x' tensor (it holds {held}); the raw parameterization "
                                "needs one: the file is damaged or was written for another parameterization") from None

    def __len__(self) -> int:
        return int(self.labels.numel())

    def parameters(self) -> list[Tensor]:
        """The tensors an optimizer updates (data, and logits when labels are learnable)."""
        params = list(self.data.values())
        if self.label_mode == "learnable" and self.soft_labels is not None:
            params.append(self.soft_labels)
        return params

    def requires_grad_(self, flag: bool = True) -> "SyntheticSet":
        """Turn gradients of :meth:`parameters` on (or off, ``flag=False``) in place; returns self."""
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def targets(self) -> Tensor:
        """Training targets: (K,) int64 hard labels, or (K, C) logits for soft / learnable labels."""
        return self.labels if self.label_mode == "hard" else self.soft_labels  # type: ignore[return-value]

    def class_slices(self) -> list[slice]:
        """Contiguous slice of each class in the class-major layout."""
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        starts = [sum(counts[:c]) for c in range(self.num_classes)]
        return [slice(s, s + n) for s, n in zip(starts, counts)]

    def detached(self) -> "SyntheticSet":
        """A copy with every sample tensor detached and cloned (for evaluation and saving); the ``fixed`` tensors, never
        optimised, are shared (an image set's ZCA fit: ~38 MB for CIFAR, not copied per TESLA iteration). Its labels are
        not checked again (this set's were when it was built; the range check would wait for a GPU per TESLA iteration)."""
        out = copy.copy(self)  # no __post_init__
        out.data = {k: v.detach().clone() for k, v in self.data.items()}
        out.labels = self.labels.clone()
        out.soft_labels = None if self.soft_labels is None else self.soft_labels.detach().clone()
        out.meta, out.fixed = dict(self.meta), dict(self.fixed)
        return out

    def to(self, device: torch.device | str) -> "SyntheticSet":
        """Move every tensor to ``device`` in place (keeps them leaf tensors) and return self."""
        for k, v in self.data.items():
            self.data[k] = v.detach().to(device).requires_grad_(v.requires_grad)
        self.labels = self.labels.to(device)
        if self.soft_labels is not None:
            self.soft_labels = self.soft_labels.detach().to(device).requires_grad_(self.soft_labels.requires_grad)
        return self

    # ----------------------------------------------------------------- (de)serialisation
    def _live(self) -> dict[str, Tensor]:
        """The sample tensors themselves (not copies), named as :meth:`tensors` names them."""
        live = {f"data.{k}": v for k, v in self.data.items()} | {"labels": self.labels}
        if self.soft_labels is not None:
            live["soft_labels"] = self.soft_labels
        return live

    def tensors(self) -> dict[str, Tensor]:
        """The samples' tensors by name (``data.<k>``, ``labels``, ``soft_labels``) as contiguous CPU copies: the live
        state a snapshot, checkpoint or best set copies. The ``fixed`` ones are not among them (see :meth:`fixed_tensors`)."""
        return {k: v.detach().cpu().contiguous() for k, v in self._live().items()}

    def stored_bytes(self) -> int:
        """Bytes of :meth:`tensors` as the set's file stores them, counted on the live tensors (no copy: a set on a GPU
        is not brought to the CPU to be measured). The ``fixed`` ones are not counted."""
        return nbytes(list(self._live().values()))

    def stored_parts(self) -> dict[str, int]:
        """:meth:`stored_bytes` by tensor, named as :meth:`tensors` names them (``data.<k>``, ``labels``,
        ``soft_labels``), counted on the live tensors (no copy)."""
        return {k: nbytes([v]) for k, v in self._live().items()}

    def step_sizes(self) -> dict[str, float]:
        """The step sizes a trajectory method learned with the set, by key: those ``meta["step_sizes"]`` lists that
        ``data`` holds, else MTT's ``syn_lr`` when held; empty for every other set."""
        keys = [k for k in self.meta.get("step_sizes") or [] if k in self.data] or [k for k in ("syn_lr",) if k in self.data]
        return {k: float(self.data[k].detach().reshape(-1)[0]) for k in keys}

    def fixed_tensors(self) -> dict[str, Tensor]:
        """The ``fixed`` tensors as the set's file stores them (``fixed.<name>``, contiguous on the CPU); none for most sets."""
        return {f"fixed.{k}": v.detach().cpu().contiguous() for k, v in self.fixed.items()}

    def copy_from(self, tensors: dict[str, Tensor]) -> None:
        """Overwrite this set's tensors in place, on their device, from a mapping named as :meth:`tensors` names
        them (a snapshot, a checkpoint's best set); names it does not hold are ignored."""
        live = self._live()
        with torch.no_grad():
            for name, value in tensors.items():
                if name in live:
                    live[name].copy_(value.to(live[name].device))

    def header(self, fixed: bool = True) -> dict[str, Any]:
        """JSON description of the set's file, :meth:`tensors` and :meth:`fixed_tensors` (shapes are checked on load);
        ``fixed=False``: of :meth:`tensors` alone (a checkpoint's, which does not hold the fixed ones)."""
        tensors = self._live() | ({f"fixed.{k}": v for k, v in self.fixed.items()} if fixed else {})
        return {
            "num_classes": self.num_classes,
            "label_mode": self.label_mode,
            "tensors": {k: list(v.shape) for k, v in tensors.items()},
            "dtypes": {k: dtype_name(v.dtype) for k, v in tensors.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], header: dict[str, Any], source: str = "",
                     header_source: str = "") -> "SyntheticSet":
        """Rebuild from :meth:`tensors` and :meth:`header`; raises :class:`ArtifactError` naming ``source`` on a
        mismatch: a tensor the header lists that is missing, of another shape or (when the header records dtypes)
        another dtype, a tensor the header does not list, no samples, labels that are not integer class indices, soft
        labels that are not (K, num_classes) floats, values that are NaN or infinite; a header without ``tensors`` or
        with a field of the wrong type is named as ``header_source`` (where the header was read, e.g. the manifest;
        default: ``source``)."""
        where = f" in {source}" if source else ""
        hwhere = f" in {header_source}" if header_source else where
        if not isinstance(header, dict):
            raise ArtifactError(f"the set's header{hwhere} is {type(header).__name__}; expected an object (the manifest's 'synthetic' section)")
        if "tensors" not in header:  # every header mmdistill writes lists them: without it no tensor would be checked
            raise ArtifactError(f"the set's header{hwhere} has no 'tensors' (the name and shape of each tensor); it is damaged")
        expected = header["tensors"]
        if not isinstance(expected, dict) or not all(
                isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                for shape in expected.values()):
            raise ArtifactError(f"the set's header{hwhere}: field 'tensors' must map each tensor name to its shape (a list of "
                                f"integers >= 0), got {_short(expected)}; the manifest's 'synthetic' section is damaged")
        dtypes = header.get("dtypes")
        if dtypes is not None and (not isinstance(dtypes, dict) or not all(isinstance(v, str) for v in dtypes.values())):
            raise ArtifactError(f"the set's header{hwhere}: field 'dtypes' must map tensor names to dtype names, got {_short(dtypes)}")
        for name, shape in expected.items():
            if name not in tensors:
                raise ArtifactError(f"tensor {name!r} listed in the manifest is missing{where}")
            if list(tensors[name].shape) != list(shape):
                raise ArtifactError(
                    f"tensor {name!r}{where} has shape {list(tensors[name].shape)}, manifest says {shape}"
                )
            if dtypes is not None and name in dtypes and dtype_name(tensors[name].dtype) != dtypes[name]:
                raise ArtifactError(f"tensor {name!r}{where} has dtype {dtype_name(tensors[name].dtype)}, manifest says {dtypes[name]}")
        extra = sorted(set(tensors) - set(expected))
        if extra:
            raise ArtifactError(f"{source or 'the set'} holds tensors the manifest does not list ({', '.join(extra)}); "
                                "the file does not belong to this manifest")
        if "labels" not in tensors:
            raise ArtifactError(f"no 'labels' tensor{where}")
        data = {k[len("data."):]: v for k, v in tensors.items() if k.startswith("data.")}
        if not data:
            raise ArtifactError(f"no 'data.*' tensors{where}")
        for name, value in [*((f"data.{k}", v) for k, v in data.items()), ("soft_labels", tensors.get("soft_labels"))]:
            if value is not None and not value.is_floating_point():
                raise ArtifactError(f"tensor {name!r}{where} has dtype {dtype_name(value.dtype)}; expected floating point values")
            if value is not None and not bool(torch.isfinite(value).all()):  # a set trained to NaN scores chance, silently
                bad = int((~torch.isfinite(value)).sum())
                raise ArtifactError(f"tensor {name!r}{where} holds {bad} value(s) that are NaN or infinite; a distilled set's "
                                    "values are finite (the file is damaged, or was written by a run that diverged)")
        num_classes = header.get("num_classes")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ArtifactError(f"the set's header{hwhere} has no valid 'num_classes' (got {num_classes!r}; expected an integer >= 1); "
                                "the manifest's 'synthetic' section is damaged")
        label_mode = header.get("label_mode", "hard")
        if label_mode not in LABEL_MODES:
            raise ArtifactError(f"the set's header{hwhere}: label_mode is {label_mode!r}; expected one of {', '.join(LABEL_MODES)}")
        meta = header.get("meta", {})
        if not isinstance(meta, dict):
            raise ArtifactError(f"the set's header{hwhere}: field 'meta' is {type(meta).__name__}; expected an object")
        ipc = meta.get("ipc", 1)
        if not isinstance(ipc, int) or isinstance(ipc, bool) or not 1 <= ipc < 2 ** 31:
            raise ArtifactError(f"the set's header{hwhere}: meta.ipc is {_short(ipc)}; expected an integer >= 1 (samples per class)")
        classes = meta.get("classes")
        if classes is not None and (not isinstance(classes, list) or len(classes) != num_classes):
            raise ArtifactError(f"the set's header{hwhere}: meta.classes must list num_classes={num_classes} class names, "
                                f"got {_short(classes)}")
        raw_labels = tensors["labels"]
        if raw_labels.numel() == 0:  # scored, it would divide by zero; shared, it is nothing
            raise ArtifactError(f"{source or 'the set'} holds no samples (its labels tensor is empty); a distilled set has at "
                                "least one, the file is damaged")
        soft = tensors.get("soft_labels")
        if label_mode != "hard" and soft is None:
            raise ArtifactError(f"the set{where} has label_mode {label_mode!r} but no 'soft_labels' tensor")
        try:  # the labels' dtype, shape and range and the soft labels' width are the constructor's checks
            return cls(
                data=data,
                labels=raw_labels.long() if _integer(raw_labels) else raw_labels,
                num_classes=num_classes,
                soft_labels=soft,
                label_mode=label_mode,
                meta=dict(meta),
                fixed={k[len("fixed."):]: v for k, v in tensors.items() if k.startswith("fixed.")},
            )
        except DataError as exc:
            raise ArtifactError(f"{source or 'the set'}: {exc}; the file is damaged") from None


def _integer(t: Tensor) -> bool:
    """Whether ``t`` holds integers (class indices): not floating point, complex or bool."""
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def dtype_name(dtype: torch.dtype) -> str:
    """``float32`` for ``torch.float32`` (as the header records it)."""
    return str(dtype).replace("torch.", "")


def _short(value: Any, limit: int = 80) -> str:
    return clipped(repr(value), limit)
