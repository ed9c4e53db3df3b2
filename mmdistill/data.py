"""The real data of a classification task, as the core sees it: tensors and labels.

Adapters (images, audio, video) load their files into a :class:`LabeledTensors`; the matchers, baselines
and evaluation only ever touch this type.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mmdistill.errors import DataError
from mmdistill.words import cleaned_names, id_list, is_text, shown

log = logging.getLogger(__name__)


@dataclass
class LabeledTensors:
    """Samples ``x`` of shape (N, *sample_shape) with integer labels ``y`` of shape (N,).

    ``classes`` names the classes (a list of str); labels are indices into it. ``x`` is taken as given (the
    adapters pass float model inputs, normalised); ``y`` is stored as int64 (an integer, bool or whole-valued float
    tensor). Raises :class:`DataError` for an ``x`` or ``y`` that is no tensor, a ``y`` not of shape (N,) (one-hot or
    soft labels: pass ``y.argmax(1)``), labels that are not whole numbers or lie outside [0, len(classes)), no
    samples, or ``classes`` given as one string.

    >>> import torch
    >>> data = LabeledTensors(torch.zeros(5, 1, 8, 8), torch.tensor([0, 1, 1, 2, 2]), ["a", "b", "c"])
    >>> data.num_classes, data.sample_shape, data.class_counts()
    (3, (1, 8, 8), [1, 2, 2])
    """

    x: Tensor
    y: Tensor
    classes: list[str]
    _index: list[Tensor] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in (("x", self.x), ("y", self.y)):
            if not isinstance(value, Tensor) or value.dim() == 0:
                raise DataError(f"{name} must be a torch.Tensor with a sample dimension first; got "
                                f"{type(value).__name__} {tuple(getattr(value, 'shape', ()))} (torch.as_tensor converts an array)")
        if isinstance(self.classes, str):
            raise DataError(f"classes must be a list of class names, not the single string {self.classes!r}")
        if self.y.dim() != 1:
            raise DataError(f"y must hold one class index per sample, shape (N,); got shape {tuple(self.y.shape)} "
                            "(one-hot or soft labels: pass y.argmax(1))")
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"x has {self.x.shape[0]} samples but y has {self.y.shape[0]} labels")
        if self.y.is_floating_point():
            odd = torch.nonzero(self.y != torch.round(self.y)).flatten()
            if odd.numel():  # .long() would truncate 1.7 to 1: a silent wrong label
                i = int(odd[0])
                raise DataError(f"y must hold whole class indices; y[{i}] is {self.y[i].item()} "
                                f"({odd.numel()} label(s) are not whole numbers)")
        if self.y.dtype != torch.long:
            self.y = self.y.long()
        if self.x.shape[0] == 0:
            raise DataError("the dataset has no samples")
        if int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes):
            raise DataError(
                f"labels must lie in [0, {len(self.classes)}) for {len(self.classes)} classes; "
                f"found range [{int(self.y.min())}, {int(self.y.max())}]"
            )

    @property
    def num_classes(self) -> int:
        """The number of classes C, ``len(classes)`` (a class may hold no sample)."""
        return len(self.classes)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's shape, ``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def class_indices(self) -> list[Tensor]:
        """Indices of the samples of each class, a list of ``num_classes`` LongTensors."""
        if self._index is None:
            order = torch.argsort(self.y, stable=True)
            counts = torch.bincount(self.y, minlength=self.num_classes).tolist()
            self._index = list(torch.split(order, counts))
        return self._index

    def class_counts(self) -> list[int]:
        """The number of samples of each class, ``num_classes`` ints in class order."""
        return [int(i.numel()) for i in self.class_indices()]

    def require_per_class(self, n: int, what: str = "ipc") -> None:
        """Raise :class:`DataError` naming every class with fewer than ``n`` samples, with its count (the classes
        with none first: for them lowering ``n`` is no remedy)."""
        short = [(c, int(idx.numel())) for c, idx in enumerate(self.class_indices()) if idx.numel() < n]
        if not short:
            return
        empty = [c for c, k in short if k == 0]
        if empty:  # no value of ipc helps (walk 51A: a class folder whose every clip was skipped as unreadable)
            named = ", ".join(f"{self.classes[c]!r} (index {c})" for c in empty[:20]) + (" ..." if len(empty) > 20 else "")
            raise DataError(f"class(es) {named} have no training samples (every file of theirs was skipped as unreadable, or "
                            f"none is labelled so); add readable samples to {'them' if len(empty) > 1 else 'it'} or remove "
                            f"{'those classes' if len(empty) > 1 else 'that class'} from the data")
        c, k = short[0]
        more = ", ".join(f"{self.classes[o]!r} ({m})" for o, m in short[1:21]) + (" ..." if len(short) > 21 else "")
        also = f", and {len(short) - 1} more class(es) too: {more}" if len(short) > 1 else ""
        raise DataError(f"class {self.classes[c]!r} (index {c}) has {k} training samples{also}, fewer than {what}={n}; "
                        f"lower {what} or add samples to {'those classes' if len(short) > 1 else 'that class'}")

    def sample_per_class(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Up to ``n`` random samples of every class without replacement.

        Returns ``(indices, labels)`` on the data's device; class ``c``'s block is contiguous and holds
        ``min(n, count_c)`` entries, so labels are sorted by class. One sort of random keys on the data's
        device (seeded by one draw of ``gen``) replaces a permutation per class.
        """
        device = self.y.device
        local = torch.Generator(device=device)
        local.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen).item()))
        keys = torch.rand(self.y.shape[0], generator=local, device=device, dtype=torch.float64)
        order = torch.argsort(self.y.double() * 2.0 + keys)  # by class, random within a class
        counts = torch.tensor(self.class_counts(), device=device)
        starts = torch.cumsum(counts, 0) - counts
        take = torch.clamp(counts, max=n)
        offsets = torch.arange(int(take.max()), device=device)
        mask = offsets[None, :] < take[:, None]  # (C, n)
        indices = order[(starts[:, None] + offsets[None, :])[mask]]
        return indices, self.y[indices]

    def subset(self, indices: Tensor) -> "LabeledTensors":
        """The samples at ``indices`` (a LongTensor (M,) or a bool mask (N,)), with the same ``classes``."""
        return LabeledTensors(self.x[indices], self.y[indices], list(self.classes))


def check_class_list(where: str, classes: Sequence[str]) -> None:
    """A :class:`DataError` starting with ``where`` unless ``classes`` names two classes or more (with one class every
    model scores 100 % and there is nothing to distil between classes; batch norm over one synthetic sample fails), each
    a name that is Unicode text (a folder named in another encoding, such as Latin-1 ``caf\xe9`` on a UTF-8 system,
    reads as a lone surrogate, which no saved set, card or export can hold)."""
    if len(classes) < 2:
        held = f"only the class {str(classes[0])!r}" if classes else "no class"
        raise DataError(f"{where} holds {held}; classification needs at least 2 classes")
    for name in classes:
        if not is_text(str(name)):
            locale_read = _utf8_read_in_another_encoding(str(name))
            if locale_read is not None:  # renaming it as convmv says would garble a name that is fine
                raise DataError(f"{where}: the class name {locale_read!r} is UTF-8, but Python reads file names as "
                                f"{sys.getfilesystemencoding()} in this locale (LANG/LC_ALL=C or POSIX); run with PYTHONUTF8=1 "
                                "or a UTF-8 locale (LC_ALL=C.UTF-8)")
            raise DataError(f"{where}: the class name {ascii(str(name))} is not UTF-8 text (a folder or label named in another "
                            "encoding, e.g. Latin-1); rename it in UTF-8 (convmv -f latin1 -t utf8 --notest -r DIR renames "
                            "folders)")


def clean_class_names(where: str, classes: Sequence[Any]) -> list[Any]:
    """``classes`` as the run, its saved set and ``mmdistill merge --dataset`` name them: each name that is a string
    through :func:`mmdistill.words.clean_name` (a class folder or CSV label may hold a tab, a line break, an escape
    sequence or a bidi override such as U+202E, which no saved set may hold), a replacement logged once with both
    spellings escaped. A :class:`DataError` starting with ``where`` when two names clean to the same one, naming both
    (their samples would be one class in the saved set)."""
    cleaned, changes = cleaned_names(classes)
    changed = tuple((a, b) for _, a, b in changes)
    if not changed:
        return list(classes)
    first: dict[Any, Any] = {}
    for raw, name in zip(classes, cleaned):
        if first.setdefault(name, raw) != raw:
            raise DataError(f"{where}: the class names {shown(first[name])} and {shown(raw)} both read {shown(name)} once their "
                            "control or bidi-reordering characters are replaced by '_'; rename one of the folders (or labels)")
    _warn_cleaned(where, changed)
    return cleaned


@functools.lru_cache(maxsize=64)
def _warn_cleaned(where: str, changed: tuple[tuple[str, str], ...]) -> None:
    """Log the class names :func:`clean_class_names` replaced, once per dataset and names (train and test, reloads)."""
    log.warning("%s: %s class name(s) hold control or bidi-reordering characters; they are replaced by '_' (the run, its set "
                "and merge use the cleaned names): %s", where, len(changed), id_list((f"{shown(a)} -> {shown(b)}" for a, b in changed), 5))


def _utf8_read_in_another_encoding(name: str) -> str | None:
    """``name`` as the UTF-8 text it is where it is a file name whose UTF-8 bytes Python decoded with a file-system
    encoding that is not UTF-8 (the C locale with UTF-8 mode off: ASCII, each byte above 127 a lone surrogate); else
    None (a name in another encoding, such as Latin-1, is what it says)."""
    if sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return None
    try:
        return os.fsencode(name).decode("utf-8")
    except (UnicodeError, ValueError):
        return None


@dataclass
class ClassificationData:
    """A classification dataset split into train and test, with what the modality needs to decode, preview
    and export samples (``meta``: JSON-serialisable, e.g. normalisation statistics). A :class:`DataError` for fewer
    than 2 classes (:func:`check_class_list`). Every adapter's class names (folder names, CSV labels) are cleaned here,
    in ``train``, ``test`` and ``meta["classes"]`` alike (:func:`clean_class_names`): the run, the set it saves and
    ``mmdistill merge --dataset`` name the classes one way. ``train_groups``: the group of each training sample (a source
    recording, a speaker: N names, in ``train``'s order) when the loader knows them, so a validation split holds out
    whole groups (:func:`mmdistill.validation.hold_out_validation`); never stored. A :class:`DataError` for groups whose
    count is not ``train``'s (a loader's bug: groups that match no sample would split a group over both sides)."""

    name: str
    train: LabeledTensors
    test: LabeledTensors
    meta: dict[str, Any] = field(default_factory=dict)
    train_groups: list[str] | None = None

    def __post_init__(self) -> None:
        check_class_list(f"dataset {self.name!r}", self.train.classes)
        if self.train_groups is not None and len(self.train_groups) != len(self.train):
            raise DataError(f"dataset {self.name!r}: train_groups names {len(self.train_groups)} group(s) for "
                            f"{len(self.train)} training samples; expected one group per training sample, in train's order")
        for part in (self.train, self.test):  # the same cleaning for both: their labels index the same names
            part.classes = clean_class_names(f"dataset {self.name!r}", part.classes)
        if isinstance(self.meta.get("classes"), list):  # what a set made from this data records (meta.classes)
            self.meta["classes"] = clean_class_names(f"dataset {self.name!r}", self.meta["classes"])

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.train.sample_shape


def held_count(n: int, fraction: float, *, at_least_one: bool = True) -> int:
    """How many of ``n`` items (a class's samples, or groups) a ``fraction`` holds out: ``round(n * fraction)``; with
    ``at_least_one`` clamped to ``[1, n - 1]`` for ``n >= 2`` (something held out, something kept); 0 for ``n < 2``
    (one item stays in training). The one rule of :func:`held_out_flags`, the validation split
    (:mod:`mmdistill.validation`) and the group splits (:func:`modalities.groups.group_test_flags`)."""
    if n < 2:
        return 0
    k = int(round(n * float(fraction)))
    return min(max(k, 1), n - 1) if at_least_one else k


def emptied_classes(labels: Sequence[Any], held: Sequence[bool]) -> list[Any]:
    """The classes of ``labels`` (each entry's class: a name, a label index) whose entries ``held`` (each entry's flag)
    holds out every one of, sorted: classes a split left without training entries (whole groups held out that hold all
    of a class). Used by :func:`mmdistill.validation.hold_out_validation` and
    :func:`modalities.groups.check_group_classes`."""
    kept = {lab for lab, h in zip(labels, held) if not h}
    return sorted(set(labels) - kept)


def held_out_flags(labels: list[str], classes: list[str], fraction: float, seed: int, *, at_least_one: bool = True) -> list[bool]:
    """Whether each item is held out as test, for data that comes without a split: a seeded ``fraction`` of
    every class, drawn class by class in the order of ``classes`` from one generator seeded with ``seed`` (the adapters
    pass a recipe's ``split_seed``, never its distillation ``seed``: the split is the data's, the same for every run).

    ``labels`` (one per item) must be in class-major order (all items of ``classes[0]``, then ``classes[1]`` ...).
    A class of ``n`` items holds out ``round(n * fraction)``; with ``at_least_one`` that is clamped to
    ``[1, n - 1]`` for ``n >= 2`` (every class is scored and keeps a training item; the audio adapters' rule),
    without it a class whose share rounds to zero holds out nothing (the video adapter's rule). A class of one
    item stays in training."""
    gen = torch.Generator().manual_seed(seed)
    flags: list[bool] = []
    for c in classes:
        n = sum(1 for lab in labels if lab == c)
        order = torch.randperm(n, generator=gen).tolist()
        test = set(order[:held_count(n, fraction, at_least_one=at_least_one)])
        flags += [i in test for i in range(n)]
    return flags
