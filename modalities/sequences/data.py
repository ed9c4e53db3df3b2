"""Interaction logs -> time-ordered user sequences with a leave-one-out split.

Readers (each gives rows of ``(user, item, timestamp)`` as strings, in file order):

- MovieLens: the GroupLens zips or folders — ``ratings.csv`` (ml-latest*, ``userId,movieId,rating,timestamp``),
  ``ratings.dat`` (ml-1m, ``::``) or ``u.data`` (ml-100k, tabs); read from inside the zip. Titles come from
  ``movies.csv`` / ``movies.dat`` / ``u.item``.
- RecBole atomic ``.inter`` files (a typed header ``user_id:token  item_id:token  ...  timestamp:float``).
- A plain CSV/TSV log ``user,item,timestamp`` (header optional, delimiter sniffed).
- SASRec's text format: ``user item`` per line, already time-ordered (file order is the time).
- ``generated[:USERS:ITEMS]``: a seeded Markov-ish log (no files), the default.

Preprocessing, as in TD3's reference (``data/preprocess.ipynb`` of USTC-StarTeam/TD3): users and items with
fewer than ``min_user_inter`` / ``min_item_inter`` (5) interactions are removed (one pass, as the reference;
``kcore="iterate"`` repeats until stable), each user's interactions are sorted by timestamp (stable: file order
breaks ties), users left with fewer than 3 interactions are removed (leave-one-out needs 3) and counted, item ids
are remapped to 0..N-1 in order of first appearance (the mapping is kept and saved with every set). The split is
leave-one-out: the last item of a user is the test target, the one before it the validation target, the rest
the training sequence. Inputs are the last ``max_len`` items before the target.

Bad input is named with counts: non-numeric timestamps (``on_bad="error"`` stops, ``"skip"`` drops and
records them), users below 3 interactions (dropped, counted), test items never seen in training (kept,
counted), a log empty after filtering (stops, with the count removed by each filter).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor

from mmdistill.errors import DataError

log = logging.getLogger(__name__)

Row = tuple[str, str, str]
MIN_LEAVE_ONE_OUT = 3


# ---------------------------------------------------------------------------------------------- data
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
        length = length or self.max_len
        out = torch.full((len(seqs), length), self.pad, dtype=torch.long)
        lens = torch.zeros(len(seqs), dtype=torch.long)
        for i, s in enumerate(seqs):
            s = s[-length:]
            out[i, : s.numel()] = s
            lens[i] = s.numel()
        return out, lens

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


# ---------------------------------------------------------------------------------------------- reading
def _zip_member(zf: zipfile.ZipFile, names: tuple[str, ...]) -> str | None:
    for member in zf.namelist():
        if member.rsplit("/", 1)[-1] in names:
            return member
    return None


def _read_text(path: Path, names: tuple[str, ...]) -> tuple[str, str] | None:
    """(member name, text) of the first file called one of ``names`` in a zip or a folder, or None."""
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            member = _zip_member(zf, names)
            if member is None:
                return None
            return member, zf.read(member).decode("utf-8", errors="replace")
    if path.is_dir():
        for name in names:
            hits = sorted(path.rglob(name))
            if hits:
                return str(hits[0]), hits[0].read_text(encoding="utf-8", errors="replace")
    if path.is_file() and path.name in names:
        return str(path), path.read_text(encoding="utf-8", errors="replace")
    return None


def read_movielens(path: Path) -> tuple[list[Row], dict[str, str], str]:
    """Rows, movie titles by id and the member read, from a MovieLens zip, folder or ratings file."""
    found = _read_text(path, ("ratings.csv", "ratings.dat", "u.data"))
    if found is None:
        raise DataError(f"{path}: no ratings.csv, ratings.dat or u.data in this MovieLens zip or folder")
    member, text = found
    rows: list[Row] = []
    if member.endswith(".csv"):
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["userId", "movieId"]:
            raise DataError(f"{path}:{member}: expected the header userId,movieId,rating,timestamp, got {header}")
        rows = [(r[0], r[1], r[3]) for r in reader if len(r) >= 4]
    else:
        sep = "::" if member.endswith(".dat") else "\t"
        for line in text.splitlines():
            parts = line.strip().split(sep)
            if len(parts) >= 4:
                rows.append((parts[0], parts[1], parts[3]))
    titles: dict[str, str] = {}
    movies = _read_text(path, ("movies.csv", "movies.dat", "u.item"))
    if movies is not None:
        mname, mtext = movies
        if mname.endswith(".csv"):
            reader = csv.reader(io.StringIO(mtext))
            next(reader, None)
            titles = {r[0]: r[1] for r in reader if len(r) >= 2}
        else:
            sep = "::" if mname.endswith(".dat") else "|"
            for line in mtext.splitlines():
                parts = line.split(sep)
                if len(parts) >= 2:
                    titles[parts[0]] = parts[1]
    return rows, titles, member


def read_recbole(path: Path) -> list[Row]:
    """Rows of a RecBole atomic ``.inter`` file (tab-separated, typed header ``name:type``)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines:
        raise DataError(f"{path}: empty .inter file")
    header = [h.split(":", 1)[0].strip() for h in lines[0].split("\t")]
    try:
        iu, ii = header.index("user_id"), header.index("item_id")
    except ValueError:
        raise DataError(f"{path}: a RecBole .inter header needs user_id and item_id fields, got {header}") from None
    it = header.index("timestamp") if "timestamp" in header else None
    rows = []
    for n, line in enumerate(lines[1:]):
        parts = line.split("\t")
        if len(parts) < len(header):
            continue
        rows.append((parts[iu], parts[ii], parts[it] if it is not None else str(n)))
    return rows


def read_csv_log(path: Path) -> list[Row]:
    """Rows of a ``user,item,timestamp`` CSV/TSV log (header optional; delimiter from the first line)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    delim = "\t" if "\t" in first else ("," if "," in first else None)
    rows = []
    for n, line in enumerate(text.splitlines()):
        parts = [p.strip() for p in (line.split(delim) if delim else line.split())]
        if len(parts) < 3 or not parts[0]:
            continue
        if n == 0 and parts[0].lower() in ("user", "user_id", "userid", "uid"):
            continue
        rows.append((parts[0], parts[1], parts[2]))
    return rows


def read_sasrec_text(path: Path) -> list[Row]:
    """Rows of SASRec's ``user item`` text format; the file order is the time order."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        parts = line.split()
        if len(parts) >= 2:
            rows.append((parts[0], parts[1], str(n)))
    return rows


def generated_log(num_users: int = 300, num_items: int = 200, seed: int = 0) -> list[Row]:
    """A seeded Markov-ish log: items form clusters of 20; each user prefers two clusters and mostly walks
    to the next item of its cluster (70 %), else jumps within its clusters (20 %) or anywhere (10 %);
    sequence lengths 15-60. A sequential model learns it far better than popularity."""
    gen = torch.Generator().manual_seed(seed)
    cluster = 20
    n_clusters = max(1, num_items // cluster)
    rows: list[Row] = []
    t = 0
    for u in range(num_users):
        prefs = torch.randint(0, n_clusters, (2,), generator=gen).tolist()
        length = int(torch.randint(15, 61, (1,), generator=gen))
        c = prefs[0]
        item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
        for _ in range(length):
            rows.append((f"u{u}", f"i{item}", str(t)))
            t += 1
            r = float(torch.rand(1, generator=gen))
            if r < 0.7:
                item = (item // cluster) * cluster + (item % cluster + 1) % cluster
            elif r < 0.9:
                c = prefs[int(torch.randint(0, 2, (1,), generator=gen))]
                item = c * cluster + int(torch.randint(0, cluster, (1,), generator=gen))
            else:
                item = int(torch.randint(0, n_clusters * cluster, (1,), generator=gen))
    return rows


# ---------------------------------------------------------------------------------------------- building
@dataclass
class SequenceLoadOptions:
    max_len: int = 50
    min_user_inter: int = 5
    min_item_inter: int = 5
    kcore: str = "once"
    on_bad: str = "error"
    log_format: str = "auto"
    seed: int = 0


def _parse_time(rows: list[Row], source: str, on_bad: str, stats: dict[str, Any]) -> list[tuple[str, str, float, int]]:
    out, bad = [], []
    for n, (u, i, ts) in enumerate(rows):
        try:
            t = float(ts)
            if math.isnan(t):
                raise ValueError(ts)
        except ValueError:
            bad.append((n, ts))
            continue
        out.append((u, i, t, n))
    if bad:
        examples = ", ".join(f"row {n + 1}: {ts!r}" for n, ts in bad[:3])
        if on_bad != "skip":
            raise DataError(f"{source}: {len(bad)} of {len(rows)} rows have a non-numeric timestamp ({examples}); "
                            "fix the log or pass on_bad=skip to drop them (they are then counted in the manifest)")
        log.warning("%s: dropped %d rows with a non-numeric timestamp (%s)", source, len(bad), examples)
        stats["non_numeric_timestamps"] = len(bad)
    return out


def _filter(rows: list[tuple[str, str, float, int]], opts: SequenceLoadOptions, stats: dict[str, Any], source: str):
    before = len(rows)
    rounds = 0
    while True:
        rounds += 1
        ucount: dict[str, int] = {}
        icount: dict[str, int] = {}
        for u, i, _, _ in rows:
            ucount[u] = ucount.get(u, 0) + 1
            icount[i] = icount.get(i, 0) + 1
        kept = [r for r in rows if ucount[r[0]] >= opts.min_user_inter and icount[r[1]] >= opts.min_item_inter]
        if rounds == 1:
            stats["kcore_users_removed"] = sum(1 for c in ucount.values() if c < opts.min_user_inter)
            stats["kcore_items_removed"] = sum(1 for c in icount.values() if c < opts.min_item_inter)
        changed = len(kept) != len(rows)
        rows = kept
        if opts.kcore != "iterate" or not changed:
            break
    stats["kcore_rounds"] = rounds
    stats["kcore_interactions_removed"] = before - len(rows)
    counts: dict[str, int] = {}
    for u, *_ in rows:
        counts[u] = counts.get(u, 0) + 1
    short = {u for u, c in counts.items() if c < MIN_LEAVE_ONE_OUT}
    if short:
        log.warning("%s: %d users have fewer than %d interactions after filtering and are removed (%d interactions)",
                    source, len(short), MIN_LEAVE_ONE_OUT, sum(counts[u] for u in short))
    stats["users_below_3_removed"] = len(short)
    rows = [r for r in rows if r[0] not in short]
    if not rows:
        raise DataError(
            f"{source}: the log is empty after filtering ({before} interactions read; k-core with min_user_inter="
            f"{opts.min_user_inter}, min_item_inter={opts.min_item_inter} removed {stats['kcore_interactions_removed']} "
            f"interactions, {stats['kcore_users_removed']} users and {stats['kcore_items_removed']} items; "
            f"{len(short)} users had fewer than {MIN_LEAVE_ONE_OUT} interactions left); lower min_user_inter / min_item_inter")
    return rows


def build_sequences(name: str, rows: list[Row], opts: SequenceLoadOptions, titles: dict[str, str] | None = None,
                    source: str | None = None) -> SequenceData:
    """Time-ordered user sequences split leave-one-out from raw ``(user, item, timestamp)`` rows."""
    source = source or name
    stats: dict[str, Any] = {"rows_read": len(rows)}
    if not rows:
        raise DataError(f"{source}: no interactions could be read")
    parsed = _parse_time(rows, source, opts.on_bad, stats)
    parsed = _filter(parsed, opts, stats, source)
    by_user: dict[str, list[tuple[float, int, str]]] = {}
    for u, i, t, n in parsed:
        by_user.setdefault(u, []).append((t, n, i))
    users = list(by_user)
    item_index: dict[str, int] = {}
    seqs: list[list[int]] = []
    for u in users:
        events = sorted(by_user[u])
        seq = []
        for _, _, i in events:
            if i not in item_index:
                item_index[i] = len(item_index)
            seq.append(item_index[i])
        seqs.append(seq)
    train = [torch.tensor(s[:-2], dtype=torch.long) for s in seqs]
    valid = torch.tensor([s[-2] for s in seqs], dtype=torch.long)
    test = torch.tensor([s[-1] for s in seqs], dtype=torch.long)
    seen = torch.zeros(len(item_index), dtype=torch.bool)
    for s in train:
        seen[s] = True
    unseen_test = int((~seen[test]).sum())
    unseen_valid = int((~seen[valid]).sum())
    if unseen_test or unseen_valid:
        log.warning("%s: %d test and %d validation targets are items never seen in training; they are kept "
                    "(only their initial embedding can rank them)", source, unseen_test, unseen_valid)
    stats.update({"users": len(users), "items": len(item_index), "interactions": len(parsed),
                  "unseen_test_items": unseen_test, "unseen_valid_items": unseen_valid})
    item_ids = list(item_index)
    title_list = [titles.get(i, i) for i in item_ids] if titles else None
    return SequenceData(name=name, num_items=len(item_ids), item_ids=item_ids, users=users, train=train,
                        valid_target=valid, test_target=test, max_len=opts.max_len, titles=title_list, stats=stats)


def _sniff_format(path: Path) -> str:
    if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
        return "movielens"
    if path.suffix == ".inter":
        return "recbole"
    if path.name in ("ratings.csv", "ratings.dat", "u.data"):
        return "movielens"
    first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    if len(first.split()) == 2 and "," not in first:
        return "sasrec"
    return "csv"


def load_sequences(dataset: str, data_root: str | None, opts: SequenceLoadOptions) -> SequenceData:
    """``dataset``: ``generated[:USERS:ITEMS]`` (no files), ``movielens`` / ``ml-latest-small`` / ``ml-100k``
    / ``ml-1m`` (a GroupLens zip or folder at ``data_root``), ``recbole`` (a ``.inter`` file), ``csv``
    (``user,item,timestamp``), ``sasrec`` (``user item`` lines) or ``file`` (format sniffed)."""
    key = dataset.lower()
    if key.startswith("generated"):
        parts = key.split(":")
        try:
            users = int(parts[1]) if len(parts) > 1 else 300
            items = int(parts[2]) if len(parts) > 2 else 200
        except ValueError:
            raise DataError(f"generated log spec is generated[:USERS:ITEMS], got {dataset!r}") from None
        return build_sequences(dataset, generated_log(users, items, opts.seed), opts)
    if not data_root:
        raise DataError(f"dataset {dataset!r} reads a file: pass --data-root (a MovieLens zip or folder, a RecBole "
                        ".inter file, a user,item,timestamp CSV/TSV or a SASRec 'user item' text file)")
    path = Path(data_root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {path} does not exist")
    fmt = opts.log_format
    if fmt == "auto":
        fmt = {"recbole": "recbole", "csv": "csv", "sasrec": "sasrec"}.get(key) or (
            "movielens" if key.startswith(("movielens", "ml-")) else _sniff_format(path))
    titles = None
    if fmt == "movielens":
        rows, titles, member = read_movielens(path)
        source = f"{path}:{member}"
    elif fmt == "recbole":
        rows, source = read_recbole(path), str(path)
    elif fmt == "csv":
        rows, source = read_csv_log(path), str(path)
    elif fmt == "sasrec":
        rows, source = read_sasrec_text(path), str(path)
    else:
        raise DataError(f"log_format must be auto, movielens, recbole, csv or sasrec, got {fmt!r}")
    name = dataset if key not in ("file", "csv", "recbole", "sasrec", "movielens") else re.sub(r"\.(zip|inter|csv|tsv|txt)$", "", path.name)
    return build_sequences(name, rows, opts, titles, source)


__all__ = ["SequenceData", "SequenceLoadOptions", "build_sequences", "generated_log", "load_sequences", "read_csv_log",
           "read_movielens", "read_recbole", "read_sasrec_text"]
