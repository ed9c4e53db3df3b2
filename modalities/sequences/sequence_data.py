"""User sequences split leave-one-out (:class:`SequenceData`, what every module of the package reads), the options a
log is loaded with (:class:`SequenceLoadOptions`) and right padding (:func:`right_padded`); :mod:`.build` makes the
sequences, :mod:`.data` loads a dataset by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor

from mmdistill.load_report import LoadReport


def right_padded(seqs: Sequence[Tensor | Sequence[int]], length: int, pad: int) -> tuple[Tensor, Tensor]:
    """The last ``length`` item indices of each sequence, right-padded with ``pad``: (B, length) long inputs and (B,)
    long lengths (a sequence of no item is all padding, length 0)."""
    out = torch.full((len(seqs), length), pad, dtype=torch.long)
    lens = torch.zeros(len(seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        kept = torch.as_tensor(s[-length:], dtype=torch.long)
        out[i, : kept.numel()] = kept
        lens[i] = kept.numel()
    return out, lens


@dataclass
class SequenceData:
    """User sequences split leave-one-out; items are 0..num_items-1, ``num_items`` is the padding id.

    ``train[u]`` is user u's training sequence (time order), ``valid_target[u]`` / ``test_target[u]`` the
    held-out items; the test input is ``train[u] + [valid_target[u]]``.
    """

    name: str
    num_items: int
    item_ids: list[str]
    users: list[str]
    train: list[Tensor]
    valid_target: Tensor
    test_target: Tensor
    max_len: int
    titles: list[str] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: the counts of ``stats`` that say what was dropped or removed (:data:`.build.REPORT_KINDS`), the rest as facts
    report: LoadReport = field(default_factory=LoadReport, repr=False)

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def pad(self) -> int:
        return self.num_items

    def describe(self) -> str:
        n = sum(int(s.numel()) for s in self.train) + 2 * self.num_users
        return (f"{self.name}: {self.num_users} users, {self.num_items} items, {n} interactions "
                f"(leave-one-out; inputs up to {self.max_len} items)")

    def to(self, device: torch.device) -> "SequenceData":
        return self  # kept on the CPU; batches are moved where they are used

    # ------------------------------------------------------------------ views
    def padded(self, seqs: list[Tensor], length: int | None = None) -> tuple[Tensor, Tensor]:
        """Right-padded (B, L) inputs of the last ``length`` (max_len) items of each sequence, and lengths."""
        return right_padded(seqs, length or self.max_len, self.pad)

    def eval_inputs(self, split: str) -> tuple[Tensor, Tensor, Tensor]:
        """(inputs (U, max_len), lengths (U,), targets (U,)) of the ``valid`` or ``test`` split."""
        key = ("eval_inputs", split)
        if key not in self.cache:
            if split == "valid":
                seqs, targets = self.train, self.valid_target
            else:
                seqs = [torch.cat([s, self.valid_target[u : u + 1]]) for u, s in enumerate(self.train)]
                targets = self.test_target
            x, lens = self.padded(seqs)
            self.cache[key] = (x, lens, targets)
        return self.cache[key]

    def history(self, split: str) -> list[Tensor]:
        """Items each user interacted with before the ``split`` target (excluded from full ranking)."""
        if split == "valid":
            return self.train
        return [torch.cat([s, self.valid_target[u : u + 1]]) for u, s in enumerate(self.train)]

    def windows(self, users: Iterable[int] | None = None, length: int | None = None) -> tuple[Tensor, Tensor]:
        """Training windows of ``length + 1`` items cut from the end of each user's training sequence
        (stride ``length``): every training transition appears once, with up to ``length`` items of context.
        Returns (inputs (W, length), targets (W, length)), both padded with ``pad``."""
        length = length or self.max_len
        xs, ys = [], []
        for u in (range(self.num_users) if users is None else users):
            s = self.train[u]
            end = s.numel()
            while end >= 2:
                start = max(0, end - length - 1)
                w = s[start:end]
                xs.append(w[:-1])
                ys.append(w[1:])
                end = start + 1 if start > 0 else 0
        x, _ = self.padded(xs, length) if xs else (torch.empty(0, length, dtype=torch.long), None)
        y, _ = self.padded(ys, length) if ys else (torch.empty(0, length, dtype=torch.long), None)
        return x, y

    def last_items(self, users: list[int], length: int) -> list[Tensor]:
        """Each user's last ``length`` training items."""
        return [self.train[u][-length:] for u in users]

    def activity(self) -> Tensor:
        """Training interactions per user."""
        return torch.tensor([int(s.numel()) for s in self.train])

    def mapping(self) -> dict[str, Any]:
        """The item and user id mappings (saved with every set)."""
        return {"items": list(self.item_ids), "users": list(self.users)}


@dataclass
class SequenceLoadOptions:
    """How a log becomes user sequences: the learner input length ``max_len`` (items), the k-core thresholds
    ``min_user_inter`` / ``min_item_inter`` (interactions) applied ``once`` or until stable (``kcore="iterate"``),
    ``on_bad`` (``error`` or ``skip`` bad rows), the file's ``log_format`` (``auto``: from the name and the file) and
    the ``seed`` of a generated log, and ``columns``: a csv header's user, item and timestamp column names
    (``user_column``, ``item_column``, ``time_column``)."""

    max_len: int = 50
    min_user_inter: int = 5
    min_item_inter: int = 5
    kcore: str = "once"
    on_bad: str = "error"
    log_format: str = "auto"
    seed: int = 0
    #: a csv log's header names of the user, item and timestamp columns (None: found by the usual names)
    columns: tuple[str | None, str | None, str | None] = (None, None, None)
