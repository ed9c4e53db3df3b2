"""Interaction logs -> time-ordered user sequences with a leave-one-out split.

Readers (each gives rows of ``(user, item, timestamp)`` as strings, in file order):

- MovieLens: the GroupLens zips or folders — ``ratings.csv`` (ml-latest*, ``userId,movieId,rating,timestamp``),
  ``ratings.dat`` (ml-1m, ``::``) or ``u.data`` (ml-100k, tabs); read from inside the zip. Titles come from
  ``movies.csv`` / ``movies.dat`` / ``u.item`` beside that ratings file. A zip or folder holding more than one ratings
  file (two releases), or a zip storing one member twice, is refused naming them.
- RecBole atomic ``.inter`` files (a typed header ``user_id:token  item_id:token  ...  timestamp:float``).
- A plain CSV/TSV log ``user,item,timestamp`` (delimiter from the first line; a header naming the columns is
  read by name, in any order, with more columns allowed).

Timestamps are numbers or ISO 8601 date-times (seconds since 1970 UTC: :mod:`.timestamps`); a log mixing them is refused.
- SASRec's text format: ``user item`` per line, already time-ordered (file order is the time).
- ``generated[:USERS:ITEMS]``: a seeded Markov-ish log (no files), the default.

Preprocessing, as in TD3's reference (``data/preprocess.ipynb`` of USTC-StarTeam/TD3): users and items with
fewer than ``min_user_inter`` / ``min_item_inter`` (5) interactions are removed (one pass, as the reference;
``kcore="iterate"`` repeats until stable), each user's interactions are sorted by timestamp (stable: file order
breaks ties), users left with fewer than 3 interactions are removed (leave-one-out needs 3) and counted, item ids
are remapped to 0..N-1 in order of first appearance (the mapping is kept and saved with every set). The split is
leave-one-out: the last item of a user is the test target, the one before it the validation target, the rest
the training sequence. Inputs are the last ``max_len`` items before the target.

Bad input is named with counts and file lines: logs are read as UTF-8 (a line that is not stops the load);
lines that are not rows of the format (a wrong number of fields, an empty user or item) and non-numeric or
non-finite timestamps stop the load (``on_bad="error"``) or are dropped and counted (``"skip"``); rows that
repeat an earlier ``(user, item, timestamp)`` are dropped and counted (a copied last event would make a user's
test item their validation item); the k-core filter's removals are logged and
counted; users below 3 interactions are dropped and counted; test items never seen in training are kept and
counted; a log empty after filtering stops, with the count removed by each filter. The counts are
``SequenceData.stats``; they are also its ``report`` (:class:`mmdistill.load_report.LoadReport`: those of what was
dropped or removed as counts, the other stats as facts), which a set distilled from a log read from a file stores as
``load_report`` in the shape every adapter uses (a generated log's set stores the stats as ``data_stats``).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import logging
import math
import re
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor

from mmdistill.csv_lines import newline_lines, text_lines
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import decode_utf8
from mmdistill.keys import close_matches
from mmdistill.load_report import LoadReport
from mmdistill.words import id_list, quantity, shown, written_name

from .config import RELEASES
from .timestamps import ISO_NAIVE, timestamp_seconds

log = logging.getLogger(__name__)

Row = tuple[str, str, str]
MIN_LEAVE_ONE_OUT = 3
#: the stats that count what the loader dropped or removed: the load report's kinds (counts only) and what each says
REPORT_KINDS = {
    "malformed_lines": "lines that are not rows of the format dropped (on_bad=skip)",
    "non_numeric_timestamps": "rows with a non-numeric or non-finite timestamp dropped (on_bad=skip)",
    "duplicate_rows": "rows repeating an earlier row's (user, item, timestamp) dropped",
    "kcore_interactions_removed": "interactions removed by the k-core filter",
    "kcore_users_removed": "users removed by the k-core filter",
    "kcore_items_removed": "items removed by the k-core filter",
    "users_below_3_removed": f"users left with fewer than {MIN_LEAVE_ONE_OUT} interactions removed",
    "users_below_3_interactions_removed": f"interactions of users left with fewer than {MIN_LEAVE_ONE_OUT} removed",
}


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
    #: the counts of ``stats`` that say what was dropped or removed (:data:`REPORT_KINDS`), the rest as facts
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
#: header names (lower case, any ``:type`` suffix removed) of the user, item and timestamp columns of a CSV/TSV log
USER_NAMES = ("user", "user_id", "userid", "uid")
ITEM_NAMES = ("item", "item_id", "itemid", "iid", "movieid", "movie_id")
TIME_NAMES = ("timestamp", "time", "ts")
RATINGS_FILES = ("ratings.csv", "ratings.dat", "u.data")
TITLE_FILES = ("movies.csv", "movies.dat", "u.item")


@dataclass
class LogRows:
    """What a reader got from a log: rows ``(user, item, timestamp)`` in file order (a list of tuples, or the
    :class:`_Columns` :func:`load_sequences` reads into), the file line of each row, the lines that are not rows of the
    format (``(line, why)``; blank lines are not counted), and what a row is."""

    rows: list[Row] | _Columns
    lines: list[int] | array[int]
    malformed: list[tuple[int, str]]
    expected: str
    titles: dict[str, str] | None = None
    member: str | None = None
    header: bool = False


def _fields(n: int, kind: str = "") -> str:
    return quantity(n, kind + "field")


def _header_name(field: str) -> str:
    return field.strip().strip('"').split(":", 1)[0].strip().lower()


def _decode_titles(raw: bytes, where: str) -> str:
    """Titles are UTF-8 in ml-latest* and Latin-1 in ml-100k / ml-1m: either is read as what it is."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.info("%s is not UTF-8; its titles are read as Latin-1 (as GroupLens wrote ml-100k and ml-1m)", where)
        return raw.decode("latin-1")


def _read_file(path: Path, dataset: str) -> bytes:
    if path.is_dir():
        raise DataError(f"data_root {path} is a folder; dataset {dataset!r} reads one log file (a folder is read only as "
                        "a MovieLens release: --dataset movielens)")
    return path.read_bytes()


#: a log file at least this large is named with its size before it is read (20 MB: about a million rows, several seconds
#: with no other output until the rows are counted)
ANNOUNCE_BYTES = 20_000_000


#: the titles file of each ratings file's release: read only from the folder that holds the ratings file (a folder or zip
#: holding two releases must not name one release's movies with the other's titles)
TITLES_OF = {"ratings.csv": "movies.csv", "ratings.dat": "movies.dat", "u.data": "u.item"}


def _base(member: str) -> str:
    return member.rsplit("/", 1)[-1]


def _folder_of(member: str) -> str:
    return member.rsplit("/", 1)[0] if "/" in member else ""


def _listed(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` of ``names`` shown escaped, and ``... (K in all)`` past them (:func:`mmdistill.words.id_list`)."""
    return id_list(map(shown, names), limit)


def _files_by_name(folder: Path, names: tuple[str, ...]) -> dict[str, list[Path]]:
    """The files under ``folder`` at any depth named one of ``names``, by name, each list sorted: what
    ``sorted(folder.rglob(name))`` finds of each (the same folders walked, links to folders not followed), from one
    walk of the folder instead of one per name."""
    found: dict[str, list[Path]] = {name: [] for name in names}
    for p in folder.rglob("*"):
        if p.name in found and p.is_file():
            found[p.name].append(p)
    return {name: sorted(hits) for name, hits in found.items()}


def _the_one(path: Path, hits: list[str], what: str) -> str | None:
    """The one candidate of ``hits`` (``what``: the kind of file); None without any. DataError naming them for a
    member a zip stores twice (its copies may differ, and which one is read would be the zip library's choice) or
    for more than one file: the loader does not pick one."""
    if len(hits) <= 1:
        return hits[0] if hits else None
    twice = [h for h in dict.fromkeys(hits) if hits.count(h) > 1]
    if twice:
        raise DataError(f"{shown(str(path))}: the zip stores the member {shown(twice[0])} {hits.count(twice[0])} times (its copies may "
                        "differ; none is read): rebuild the zip with one copy")
    raise DataError(f"{shown(str(path))} holds {len(hits)} {what} files ({_listed(hits)}): a MovieLens release has one, and the "
                    "loader does not choose; pass the release to read as data_root (--data-root): its folder (unzip the zip "
                    "first) or its ratings file")


def _read_member(zf: zipfile.ZipFile, member: str | None) -> tuple[str, bytes] | None:
    return None if member is None else (member, zf.read(member))


def _read_path(file: Path) -> tuple[str, bytes]:
    try:
        return str(file), file.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {shown(str(file))}: {exc.strerror or exc}") from None


@dataclass
class _Release:
    """What :func:`_find_release` found: the ratings file (its member or path, its bytes), the titles file beside it
    (or None) and the titles files elsewhere under the root, which are not read."""

    ratings: tuple[str, bytes]
    titles: tuple[str, bytes] | None
    elsewhere: list[str]


def _find_release(path: Path) -> _Release | None:
    """The MovieLens release at ``path`` (a zip, a folder or a ratings file itself): its one ratings file (``ratings.csv``,
    ``ratings.dat`` or ``u.data`` at any depth; more than one, or a zip member stored twice, is a DataError naming
    them) and the titles file of that release from the same folder (:data:`TITLES_OF`); None without a ratings file.
    A ratings file given itself has no titles read."""
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                member = _the_one(path, [m for m in names if _base(m) in RATINGS_FILES], "ratings")
                if member is None:
                    return None
                folder, paired = _folder_of(member), TITLES_OF[_base(member)]
                title = _the_one(path, [m for m in names if _base(m) == paired and _folder_of(m) == folder], "titles")
                elsewhere = [m for m in names if _base(m) in TITLE_FILES and m != title]
                return _Release((member, zf.read(member)), _read_member(zf, title), elsewhere)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DataError(f"{shown(str(path))}: the zip file is damaged ({exc}); download it again") from None
    if path.is_dir():
        by_name = _files_by_name(path, (*RATINGS_FILES, *TITLE_FILES))
        found = _the_one(path, [str(p) for name in RATINGS_FILES for p in by_name[name]], "ratings")
        if found is None:
            return None
        beside = Path(found).parent / TITLES_OF[Path(found).name]
        titles = _read_path(beside) if beside.is_file() else None
        elsewhere = [] if titles is not None else [str(p) for name in TITLE_FILES for p in by_name[name]]
        return _Release(_read_path(Path(found)), titles, elsewhere)
    if path.is_file() and path.name in RATINGS_FILES:
        return _Release(_read_path(path), None, [])
    return None


def read_movielens(path: Path) -> LogRows:
    """Rows, movie titles by id and the member read, from a MovieLens zip, folder or ratings file (:func:`_find_release`:
    one ratings file, its release's titles from the same folder)."""
    return _read_movielens(path, [], [])


def _read_movielens(path: Path, rows: list[Row] | _Columns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_movielens` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`_Columns` and line array :func:`load_sequences` reads into)."""
    found = _find_release(path)
    if found is None:
        if path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if not m.endswith("/")]
            raise DataError(f"{shown(str(path))}: no ratings.csv, ratings.dat or u.data in this zip (it holds {len(members)} files: "
                            f"{', '.join(shown(m) for m in members[:5])}{' ...' if len(members) > 5 else ''})")
        if path.is_dir():
            raise DataError(f"{shown(str(path))}: no ratings.csv, ratings.dat or u.data in this folder or below it")
        raise DataError(f"{shown(str(path))}: not a MovieLens release: expected the GroupLens zip, its folder or a file named ratings.csv, "
                        "ratings.dat or u.data (a plain user,item,timestamp log is --dataset csv)")
    member, raw = found.ratings
    where = shown(f"{path}:{member}" if member != str(path) else str(path))
    text = decode_utf8(raw, where)
    found.ratings = (member, b"")  # the file's bytes are not needed once decoded
    del raw
    bad: list[tuple[int, str]] = []
    if member.endswith(".csv"):
        expected = "userId,movieId,rating,timestamp"
        reader = csv.reader(newline_lines(text))  # not io.StringIO(text): a copy at 4 bytes a character
        header = next(reader, None)
        names = [_header_name(h) for h in header or []]
        if names[:2] != ["userid", "movieid"] or "timestamp" not in names:
            raise DataError(f"{where}: expected the header {expected}, got {header}")
        it = names.index("timestamp")
        for r in reader:
            if not r or (len(r) == 1 and not r[0].strip()):
                continue
            if len(r) != len(names):
                bad.append((reader.line_num, f"{_fields(len(r))}, expected {len(names)}"))
                continue
            rows.append((r[0].strip(), r[1].strip(), r[it].strip()))
            lines.append(reader.line_num)
    else:
        sep = "::" if member.endswith(".dat") else "\t"
        expected = "user::item::rating::timestamp" if sep == "::" else "user<TAB>item<TAB>rating<TAB>timestamp"
        for n, line in enumerate(text_lines(text), start=1):
            if not line.strip():
                continue
            parts = line.strip().split(sep)
            if len(parts) != 4 or not parts[0].strip() or not parts[1].strip():
                bad.append((n, f"{_fields(len(parts))}, expected 4" if len(parts) != 4 else "an empty user or item"))
                continue
            rows.append((parts[0].strip(), parts[1].strip(), parts[3].strip()))
            lines.append(n)
    titles: dict[str, str] = {}
    if found.titles is None and found.elsewhere:
        log.warning("%s: no %s beside %s; the titles file(s) %s are not read (they belong to another folder, maybe another "
                    "release, whose movie ids name other movies): items are named by their ids", shown(str(path)),
                    TITLES_OF[Path(member).name], shown(member), _listed(found.elsewhere))
    if found.titles is not None:
        mname, mraw = found.titles
        mtext = _decode_titles(mraw, shown(mname))
        if mname.endswith(".csv"):
            mreader = csv.reader(io.StringIO(mtext))
            next(mreader, None)
            titles = {r[0]: r[1] for r in mreader if len(r) >= 2}
        else:
            msep = "::" if mname.endswith(".dat") else "|"
            for line in mtext.splitlines():
                parts = line.split(msep)
                if len(parts) >= 2:
                    titles[parts[0]] = parts[1]
    return LogRows(rows, lines, bad, expected, titles, member, header=member.endswith(".csv"))


def read_recbole(path: Path) -> LogRows:
    """Rows of a RecBole atomic ``.inter`` file (tab-separated, typed header ``name:type``). Without a timestamp
    field the file order is the time order."""
    return _read_recbole(path, [], [])


def _read_recbole(path: Path, rows: list[Row] | _Columns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_recbole` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`_Columns` and line array :func:`load_sequences` reads into)."""
    text = decode_utf8(_read_file(path, "recbole"), str(path))
    numbered = enumerate(text_lines(text))  # the lines a block at a time, not a list of every line
    first, head_line = next(((n, line) for n, line in numbered if line.strip()), (None, ""))
    if first is None:
        raise DataError(f"{path}: empty .inter file")
    fields = head_line.split("\t")
    header = [_header_name(h) for h in fields]
    try:
        iu, ii = header.index("user_id"), header.index("item_id")
    except ValueError:
        raise DataError(f"{path}: a RecBole .inter file starts with a tab-separated typed header naming user_id and item_id "
                        f"(user_id:token<TAB>item_id:token<TAB>timestamp:float), got {fields}") from None
    it = header.index("timestamp") if "timestamp" in header else None
    if it is None:
        log.info("%s: no timestamp field; the file order is the time order", path)
    bad: list[tuple[int, str]] = []
    for n, line in numbered:
        if not line.strip():
            continue
        parts = line.split("\t")
        while len(parts) > len(header) and not parts[-1].strip():  # trailing tabs: empty fields past the header's
            parts.pop()
        if len(parts) != len(header):
            bad.append((n + 1, f"{_fields(len(parts), 'tab-separated ')}, expected {len(header)}"))
            continue
        if not parts[iu].strip() or not parts[ii].strip():
            bad.append((n + 1, "an empty user_id or item_id"))
            continue
        rows.append((parts[iu].strip(), parts[ii].strip(), parts[it].strip() if it is not None else str(n)))
        lines.append(n + 1)
    return LogRows(rows, lines, bad, f"tab-separated {' / '.join(fields)}", header=True)


def read_csv_log(path: Path) -> LogRows:
    """Rows of a ``user,item,timestamp`` CSV/TSV log. The delimiter comes from the first line (tab, comma, else
    whitespace). A first line naming its columns (``user``/``user_id``/``userId``/``uid``, ``item``/``item_id``/
    ``movieId``/``iid``, ``timestamp``/``time``/``ts``; more columns are allowed) is a header and the columns are
    taken by name; without one every row is exactly ``user,item,timestamp``."""
    return _read_csv_log(path, [], [])


def _header_shown(head: list[str], delim: str | None) -> str:
    """A header as messages name the rows it expects: ``user,item,ts`` (a tab-separated one said so: a tab inside a
    message reads as spaces, and a terminal may expand it)."""
    if delim == "\t":
        return ",".join(head) + " (tab-separated)"
    return delim.join(head) if delim else " ".join(head)


def _read_csv_log(path: Path, rows: list[Row] | _Columns, lines: list[int] | array[int],
                  columns: tuple[str | None, str | None, str | None] = (None, None, None)) -> LogRows:
    """:func:`read_csv_log` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`_Columns` and line array :func:`load_sequences` reads into); ``columns``: the header's user, item and
    timestamp column names where given (:func:`_named_columns`)."""
    text = decode_utf8(_read_file(path, "csv"), str(path))
    numbered = enumerate(text_lines(text))  # the lines a block at a time, not a list of every line
    first, head_line = next(((n, line) for n, line in numbered if line.strip()), (None, ""))
    if first is None:
        return LogRows([], [], [], "user,item,timestamp")
    delim = "\t" if "\t" in head_line else ("," if "," in head_line else None)
    if delim is None and len(head_line.split()) == 1 and (other := next((c for c in ";|" if c in head_line), None)):
        raise DataError(f"{path}: line {first + 1} ({head_line.strip()[:60]}) is separated by {other!r}; the csv format reads "
                        "tab-, comma- or whitespace-separated user,item,timestamp rows: convert the file (a spreadsheet's "
                        "'CSV (comma delimited)', or replace the separator)")

    def split(line: str) -> list[str]:
        if delim is None:
            return line.split()
        return [p.strip() for p in next(csv.reader([line], delimiter=delim))]

    head = split(head_line)
    names = [_header_name(h) for h in head]
    known = set(USER_NAMES + ITEM_NAMES + TIME_NAMES)
    sep_name = {"\t": "tab", ",": "comma", None: "whitespace"}[delim]
    roles = [[k for k, n in enumerate(names) if n in options] for options in (USER_NAMES, ITEM_NAMES, TIME_NAMES)]
    if any(columns):
        cols = _named_columns(path, first + 1, head, names, columns)
        width, start = len(head), first + 1
        expected = _header_shown(head, delim)
    elif any(n in known for n in names) and len(head) == 3 and not all(roles) and all(len(r) <= 1 for r in roles):
        # a three-column header naming some columns otherwise (product_id,user_id,timestamp): the named ones are taken
        # by name, the others fill the remaining roles in their order
        free = iter(k for k in range(3) if not any(k in r for r in roles))
        cols = [r[0] if r else next(free) for r in roles]
        log.info("%s: line %d (%s) is a header; read as user = %s, item = %s, timestamp = %s (columns it does not name "
                 "take the remaining roles in order)", path, first + 1, ",".join(head), *(repr(head[c]) for c in cols))
        width, start = 3, first + 1
        expected = _header_shown(head, delim)
    elif any(n in known for n in names):
        cols = []
        for what, options in (("user", USER_NAMES), ("item", ITEM_NAMES), ("timestamp", TIME_NAMES)):
            hit = [k for k, n in enumerate(names) if n in options]
            if not hit:
                raise DataError(f"{path}: line {first + 1} is a header {head} without a {what} column; name the columns "
                                f"{', '.join(USER_NAMES)} / {', '.join(ITEM_NAMES)} / {', '.join(TIME_NAMES)}, or pass "
                                f"{dict(zip(ROLES, COLUMN_KEYS))[what]}=NAME ({' / '.join(COLUMN_KEYS)} name yours)")
            if len(hit) > 1:
                raise DataError(f"{path}: the header {head} names {len(hit)} {what} columns "
                                f"({', '.join(head[k] for k in hit)}); keep one")
            cols.append(hit[0])
        width, start = len(head), first + 1
        expected = _header_shown(head, delim)
    else:
        cols, width, start = [0, 1, 2], 3, first
        expected = "user,item,timestamp"
    bad: list[tuple[int, str]] = []
    for n, line in itertools.chain([(first, head_line)] if start == first else [], numbered):
        if not line.strip():
            continue
        try:
            parts = split(line)
        except csv.Error as exc:
            bad.append((n + 1, f"not a {sep_name}-separated row ({exc})"))
            continue
        if len(parts) != width:
            bad.append((n + 1, f"{_fields(len(parts), sep_name + '-separated ')}, expected {width}"))
            continue
        u, i, t = (parts[c] for c in cols)
        if not u or not i:
            bad.append((n + 1, "an empty user or item"))
            continue
        rows.append((u, i, t))
        lines.append(n + 1)
    return LogRows(rows, lines, bad, expected, header=start > first)


ROLES = ("user", "item", "timestamp")
#: the keys that name a csv header's columns, in the order of :data:`ROLES`
COLUMN_KEYS = ("user_column", "item_column", "time_column")


def _named_columns(path: Path, line: int, head: list[str], names: list[str],
                   columns: tuple[str | None, str | None, str | None]) -> list[int]:
    """The user, item and timestamp column indices of the header ``head`` (on file line ``line``; ``names``: its
    normalised names) where ``columns`` names some of them (case-insensitive; a role not named is found by the usual
    names). DataError naming the key of a column the header lacks, holds twice, or that two roles share."""
    cols = []
    for what, options, key_name, given in zip(ROLES, (USER_NAMES, ITEM_NAMES, TIME_NAMES), COLUMN_KEYS, columns):
        hit = [k for k, n in enumerate(names) if (n == _header_name(given) if given else n in options)]
        if not hit and given:
            raise DataError(f"{path}: {key_name}={given!r}, but the header on line {line} has no such column (its columns: "
                            f"{', '.join(head)})")
        if not hit:
            raise DataError(f"{path}: the header on line {line} ({', '.join(head)}) has no {what} column by the usual names "
                            f"({', '.join(options)}); pass {key_name}=NAME")
        if len(hit) > 1:
            raise DataError(f"{path}: the header on line {line} has {len(hit)} {what} columns ({', '.join(head[k] for k in hit)})"
                            f"; name one with {key_name}")
        cols.append(hit[0])
    if len(set(cols)) < 3:
        raise DataError(f"{path}: {', '.join(f'{k}={head[c]!r}' for k, c in zip(COLUMN_KEYS, cols))} name one column for "
                        "two roles; the user, item and timestamp columns must differ")
    return cols


def read_sasrec_text(path: Path) -> LogRows:
    """Rows of SASRec's ``user item`` text format; the file order is the time order. A first line naming the
    columns (``user item``) is skipped as a header."""
    return _read_sasrec_text(path, [], [])


def _read_sasrec_text(path: Path, rows: list[Row] | _Columns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_sasrec_text` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`_Columns` and line array :func:`load_sequences` reads into)."""
    bad: list[tuple[int, str]] = []
    seen_first = False
    for n, line in enumerate(text_lines(decode_utf8(_read_file(path, "sasrec"), str(path))), start=1):
        parts = line.split()
        if not parts:
            continue
        if not seen_first:
            seen_first = True
            if len(parts) == 2 and _header_name(parts[0]) in USER_NAMES and _header_name(parts[1]) in ITEM_NAMES:
                log.info("%s: line %d (%s) is a header; skipped", path, n, line.strip())
                continue
        if len(parts) != 2:
            bad.append((n, f"{_fields(len(parts), 'whitespace-separated ')}, expected 2"))
            continue
        rows.append((parts[0], parts[1], str(n)))
        lines.append(n)
    return LogRows(rows, lines, bad, "'user item'")


def generated_log(num_users: int = 300, num_items: int = 200, seed: int = 0) -> list[Row]:
    """A seeded Markov-ish log: items form clusters of 20; each user prefers two clusters and mostly walks
    to the next item of its cluster (70 %), else jumps within its clusters (20 %) or anywhere (10 %);
    sequence lengths 15-60. A sequential model learns it far better than popularity."""
    gen = torch.Generator().manual_seed(seed)
    cluster = min(20, num_items)  # fewer than 20 items: one cluster of all of them
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


SKIP_HINT = "fix the log or pass on_bad=skip to drop them (they are then counted in the log and the manifest)"


def _where(n: int, lines: list[int] | array[int] | None) -> str:
    return f"line {lines[n]}" if lines is not None else f"row {n + 1}"


class _Columns:
    """Rows ``(user, item, timestamp)`` kept as columns: user and item codes (indices into :attr:`user_ids` /
    :attr:`item_ids`, the distinct ids in order of first appearance) and the timestamps as float64, read with
    ``float`` as they are appended, or an ISO 8601 date-time's seconds since 1970 UTC
    (:func:`.timestamps.timestamp_seconds`; counted in :attr:`iso`, those without an offset also in :attr:`iso_naive`,
    the first such row and the first numeric one kept to name a mix); a timestamp that is neither is kept as NaN and
    listed in :attr:`bad` (``(row, text)``). About 24 bytes a row instead of a tuple of three strings (≈ 230)."""

    def __init__(self) -> None:
        self.user_index: dict[str, int] = {}
        self.item_index: dict[str, int] = {}
        self.users = array("q")
        self.items = array("q")
        self.times = array("d")
        self.bad: list[tuple[int, str]] = []
        self.iso = self.iso_naive = 0
        self.first_iso: tuple[int, str] | None = None
        self.first_number: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self.times)

    def append(self, row: Row) -> None:
        u, i, ts = row
        users, items = self.user_index, self.item_index
        self.users.append(users.setdefault(u, len(users)))
        self.items.append(items.setdefault(i, len(items)))
        try:
            t = float(ts)
            if not math.isfinite(t):
                raise ValueError(ts)
            if self.first_number is None:
                self.first_number = (len(self.times), ts)
        except ValueError:
            t = self._not_a_number(ts)
        self.times.append(t)

    def _not_a_number(self, ts: str) -> float:
        """Seconds of an ISO 8601 timestamp (counted), else NaN (listed in :attr:`bad`)."""
        got = timestamp_seconds(ts)
        if got is None:
            self.bad.append((len(self.times), ts))
            return math.nan
        if self.first_iso is None:
            self.first_iso = (len(self.times), ts)
        self.iso += 1
        self.iso_naive += got[1] == ISO_NAIVE
        return got[0]

    @property
    def user_ids(self) -> list[str]:
        return list(self.user_index)

    @property
    def item_ids(self) -> list[str]:
        return list(self.item_index)


def _parse_time(rows: list[Row] | _Columns, source: str, on_bad: str, stats: dict[str, Any],
                lines: list[int] | array[int] | None = None) -> _Columns:
    if not isinstance(rows, _Columns):
        columns = _Columns()
        for row in rows:
            columns.append(row)
        rows = columns
    bad = rows.bad
    if rows.iso and rows.first_number is not None:
        (n_iso, iso), (n_num, num) = rows.first_iso or (0, ""), rows.first_number
        raise DataError(f"{source}: the timestamps mix ISO 8601 date-times ({rows.iso} rows, {_where(n_iso, lines)}: {iso!r}) "
                        f"and numbers ({len(rows) - rows.iso - len(bad)} rows, {_where(n_num, lines)}: {num!r}), which do "
                        "not order against each other (a number's unit is unknown); write one kind in the log")
    if rows.iso:
        stats["timestamp_format"] = "iso8601"
        if rows.iso_naive:
            stats["timestamps_without_offset"] = rows.iso_naive
        log.info("%s: read %d ISO 8601 timestamps as seconds since 1970-01-01 UTC%s", source, rows.iso,
                 f" ({rows.iso_naive} without an offset, read as UTC)" if rows.iso_naive else "")
    if bad:
        examples = ", ".join(f"{_where(n, lines)}: {ts!r}" for n, ts in bad[:3])
        if on_bad != "skip":
            hint = ""
            if bad[0][0] == 0 and lines is not None and lines[0] == 1:
                hint = ("; if line 1 is a header, name its columns (user / user_id / userId, item / item_id / movieId, "
                        "timestamp / time / ts)")
            # skipping every row leaves nothing: then the message says what a timestamp may be, and no more
            what = "fix the log" if len(bad) == len(rows) else SKIP_HINT
            raise DataError(f"{source}: {len(bad)} of {len(rows)} rows have a non-numeric or non-finite timestamp "
                            f"({examples}){hint}; a timestamp is a number (epoch seconds) or an ISO 8601 date-time "
                            f"(2024-03-25T11:01:15Z, 2024-03-25 11:01:15+02:00): {what}")
        log.warning("%s: dropped %d of %d rows with a non-numeric or non-finite timestamp (%s)", source, len(bad), len(rows),
                    examples)
        stats["non_numeric_timestamps"] = len(bad)
    return rows


@dataclass
class _Events:
    """Interactions as arrays in file order: user and item codes, timestamps and row numbers (the row's index in
    what the reader gave, which breaks ties of equal timestamps)."""

    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def take(self, keep: np.ndarray) -> "_Events":
        return _Events(self.user[keep], self.item[keep], self.time[keep], self.row[keep])


def _events(columns: _Columns) -> _Events:
    """The rows with a numeric timestamp; ``-0.0`` is read as ``0.0`` (they are equal, as Python compares them)."""
    time = np.frombuffer(columns.times, dtype=np.float64)
    ok = ~np.isnan(time)
    row = np.flatnonzero(ok)
    return _Events(np.frombuffer(columns.users, dtype=np.int64)[row], np.frombuffer(columns.items, dtype=np.int64)[row],
                   time[row] + 0.0, row)


def _first_of_each(ev: _Events) -> np.ndarray:
    """Mask of the rows that do not repeat an earlier row's (user, item, timestamp)."""
    if len(ev) == 0:
        return np.ones(0, dtype=bool)
    _, tcode = np.unique(ev.time, return_inverse=True)
    order = np.lexsort((ev.row, tcode.reshape(-1), ev.item, ev.user))
    u, i, t = ev.user[order], ev.item[order], tcode.reshape(-1)[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1]) | (t[1:] != t[:-1])
    keep = np.zeros(len(order), dtype=bool)
    keep[order[first]] = True
    return keep


def _distinct(codes: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _filter(ev: _Events, opts: SequenceLoadOptions, stats: dict[str, Any], source: str) -> _Events:
    before = len(ev)
    users_before = _distinct(ev.user)
    items_before = _distinct(ev.item)
    rounds = 0
    while True:
        rounds += 1
        ucount = np.bincount(ev.user)
        icount = np.bincount(ev.item)
        keep = (ucount[ev.user] >= opts.min_user_inter) & (icount[ev.item] >= opts.min_item_inter)
        changed = not bool(keep.all())
        if changed:
            ev = ev.take(keep)
        if opts.kcore != "iterate" or not changed:
            break
    # users / items with no interaction left (below the threshold themselves, or left without rows by the other filter)
    stats["kcore_users_removed"] = users_before - _distinct(ev.user)
    stats["kcore_items_removed"] = items_before - _distinct(ev.item)
    stats["kcore_rounds"] = rounds
    stats["kcore_interactions_removed"] = before - len(ev)
    if before - len(ev):
        log.info("%s: k-core filter (min_user_inter=%d, min_item_inter=%d, kcore=%s, %d round%s) removed %d of %d "
                 "interactions, %d of %d users and %d of %d items", source, opts.min_user_inter, opts.min_item_inter,
                 opts.kcore, rounds, "" if rounds == 1 else "s", before - len(ev), before, stats["kcore_users_removed"],
                 users_before, stats["kcore_items_removed"], items_before)
    counts = np.bincount(ev.user) if len(ev) else np.zeros(0, dtype=np.int64)
    short = (counts > 0) & (counts < MIN_LEAVE_ONE_OUT)
    n_short, n_short_rows = int(np.count_nonzero(short)), int(counts[short].sum())
    if n_short:
        log.warning("%s: %d users have fewer than %d interactions after filtering and are removed (%d interactions)",
                    source, n_short, MIN_LEAVE_ONE_OUT, n_short_rows)
    stats["users_below_3_removed"] = n_short
    stats["users_below_3_interactions_removed"] = n_short_rows
    if n_short:
        ev = ev.take(~short[ev.user])
    if not len(ev):
        raise DataError(
            f"{source}: the log is empty after filtering ({before} interactions of {users_before} users and {items_before} "
            f"items read; k-core with min_user_inter={opts.min_user_inter}, min_item_inter={opts.min_item_inter} removed "
            f"{stats['kcore_interactions_removed']} interactions, {stats['kcore_users_removed']} users and "
            f"{stats['kcore_items_removed']} items; {n_short} users had fewer than {MIN_LEAVE_ONE_OUT} interactions "
            "left); lower min_user_inter / min_item_inter")
    return ev


def _in_order_of_first(codes: np.ndarray) -> np.ndarray:
    """The distinct values of ``codes`` in order of first appearance."""
    distinct, first = np.unique(codes, return_index=True)
    return distinct[np.argsort(first, kind="stable")]


def _count_ties(times: np.ndarray, ends: np.ndarray, stats: dict[str, Any], source: str) -> None:
    """Count (``tied_test_targets``, ``tied_valid_targets``) and log the users whose held-out item shares its timestamp
    with the event before it (a basket bought at once): the file order, not the time, chose which one is held out.
    ``times``: every user's timestamps in sequence order; ``ends``: each user's end in it (users hold >= 3 events)."""
    tied_test = int(np.count_nonzero(times[ends - 1] == times[ends - 2]))
    tied_valid = int(np.count_nonzero(times[ends - 2] == times[ends - 3]))
    stats.update({"tied_test_targets": tied_test, "tied_valid_targets": tied_valid})
    if tied_test or tied_valid:
        log.info("%s: %d users' test item and %d users' validation item share their timestamp with the event before "
                 "(logged at the same time: a basket, a batch of ratings); the log's line order decides which is held out", source, tied_test,
                 tied_valid)


def build_sequences(name: str, rows: list[Row] | _Columns, opts: SequenceLoadOptions, titles: dict[str, str] | None = None,
                    source: str | None = None, lines: list[int] | array[int] | None = None,
                    stats: dict[str, Any] | None = None) -> SequenceData:
    """Time-ordered user sequences split leave-one-out from raw ``(user, item, timestamp)`` rows. ``lines``: the
    file line of each row (errors name lines, else rows); ``stats``: counts a reader already made."""
    source = source or name
    stats = {"rows_read": len(rows), **(stats or {})}
    if not rows:
        raise DataError(f"{source}: no interactions could be read")
    columns = _parse_time(rows, source, opts.on_bad, stats, lines)
    user_ids, item_ids_read = columns.user_ids, columns.item_ids
    ev = _events(columns)
    del columns
    # a row repeating an earlier (user, item, timestamp) is a copy of the same event: kept, it can make a user's
    # test item their validation item (a leak the ranking rewards), so it is dropped and counted
    keep = _first_of_each(ev)
    if not keep.all():
        log.warning("%s: dropped %d rows that repeat an earlier row's (user, item, timestamp)", source,
                    len(ev) - int(keep.sum()))
        stats["duplicate_rows"] = len(ev) - int(keep.sum())
        ev = ev.take(keep)
    del keep
    ev = _filter(ev, opts, stats, source)
    # users in order of their first row left; each user's events by (timestamp, row); items numbered in order of
    # first appearance in those sequences
    user_order = _in_order_of_first(ev.user)
    rank = np.empty(len(user_ids), dtype=np.int64)
    rank[user_order] = np.arange(len(user_order))
    user_rank = rank[ev.user]
    order = np.lexsort((ev.row, ev.time, user_rank))
    seq = ev.item[order]
    sizes = np.bincount(user_rank, minlength=len(user_order))
    ends = np.cumsum(sizes)
    _count_ties(ev.time[order], ends, stats, source)
    del order, user_rank, rank
    item_order = _in_order_of_first(seq)
    new_id = np.empty(len(item_ids_read), dtype=np.int64)
    new_id[item_order] = np.arange(len(item_order))
    seq = new_id[seq]
    in_train = np.ones(len(seq), dtype=bool)
    in_train[ends - 1] = False
    in_train[ends - 2] = False
    train_items = torch.from_numpy(seq[in_train])
    train = [s.clone() for s in train_items.split((sizes - 2).tolist())]
    valid = torch.tensor(seq[ends - 2], dtype=torch.long)
    test = torch.tensor(seq[ends - 1], dtype=torch.long)
    users = [user_ids[c] for c in user_order.tolist()]
    item_ids = [item_ids_read[c] for c in item_order.tolist()]
    seen = torch.zeros(len(item_ids), dtype=torch.bool)
    seen[train_items] = True
    del train_items, seq, in_train
    unseen_test = int((~seen[test]).sum())
    unseen_valid = int((~seen[valid]).sum())
    if unseen_test or unseen_valid:
        log.warning("%s: %d test and %d validation targets are items never seen in training; they are kept "
                    "(only their initial embedding can rank them)", source, unseen_test, unseen_valid)
    stats.update({"users": len(users), "items": len(item_ids), "interactions": len(ev),
                  "unseen_test_items": unseen_test, "unseen_valid_items": unseen_valid})
    title_list = [titles.get(i, i) for i in item_ids] if titles else None
    return SequenceData(name=name, num_items=len(item_ids), item_ids=item_ids, users=users, train=train,
                        valid_target=valid, test_target=test, max_len=opts.max_len, titles=title_list, stats=stats,
                        report=stats_report(stats))


def stats_report(stats: dict[str, Any]) -> LoadReport:
    """The load report of a log's ``stats``: the counts of what was dropped or removed (every kind of
    :data:`REPORT_KINDS`, zeros too), the other stats (format, rows read, users, items ...) as facts. Its root is
    set by :func:`load_sequences` for a log read from a file (a generated log has none, and no stored report)."""
    report = LoadReport(descriptions=dict(REPORT_KINDS), facts={k: v for k, v in stats.items() if k not in REPORT_KINDS})
    for kind in REPORT_KINDS:
        report.count(kind, int(stats.get(kind, 0)))
    return report


def _sniff_format(path: Path) -> str:
    if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
        return "movielens"
    if path.suffix == ".inter":
        return "recbole"
    if path.name in RATINGS_FILES:
        return "movielens"
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")  # only to choose a reader; it decodes strictly
    first = next((line for line in head.splitlines() if line.strip()), "")
    if len(first.split()) == 2 and "," not in first:
        return "sasrec"
    return "csv"


def _check_malformed(read: LogRows, source: str, on_bad: str, stats: dict[str, Any]) -> None:
    if not read.malformed:
        return
    n, total = len(read.malformed), len(read.malformed) + len(read.rows)
    examples = "; ".join(f"line {line}: {why}" for line, why in read.malformed[:3])
    if not read.rows:
        raise DataError(f"{source}: none of the {n} lines is a {read.expected} row ({examples}); check the format "
                        "(log_format, --dataset) and the delimiter (tab, comma or whitespace)"
                        + ("; a log with more than three columns needs a header line naming its user, item and timestamp "
                           "columns" if read.expected == "user,item,timestamp" else ""))
    if on_bad != "skip":
        raise DataError(f"{source}: {n} of {total} lines are not {read.expected} rows ({examples}); {SKIP_HINT}")
    log.warning("%s: dropped %d of %d lines that are not %s rows (%s)", source, n, total, read.expected, examples)
    stats["malformed_lines"] = n


#: the dataset names a log file is read by (besides ``generated[:USERS:ITEMS]``): the MovieLens releases with rows of
#: their own in ``tables/td3.yaml``, ``movielens`` (any other release; its row from data_root's name) and the formats
FILE_DATASETS = (*RELEASES, "movielens", "recbole", "csv", "sasrec", "file")


def check_dataset_name(dataset: str) -> None:
    """ConfigError (key ``dataset``) for a name outside ``generated[:USERS:ITEMS]`` and :data:`FILE_DATASETS`
    (case-insensitive), with the close matches: an unknown name was sniffed and became the set's label, and a
    typo'd release (``ml-1n``) read MovieLens with another release's hyper-parameters."""
    key = dataset.lower()
    if key.startswith("generated") or key in FILE_DATASETS:
        return
    close = close_matches(key, [*FILE_DATASETS, "generated"])
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    if key.startswith(("ml-", "movielens")):
        what = (f"is not a MovieLens release with hyper-parameters of its own (tables/td3.yaml has {', '.join(RELEASES)}); "
                "for another release's zip or folder pass --dataset movielens")
    else:
        what = ("is not a sequences dataset; for your own log pass its format (csv, recbole, sasrec, or file to sniff "
                "it: the set is named after the file)")
    raise ConfigError(f"dataset {dataset!r} {what}{hint} (valid: generated[:USERS:ITEMS], {', '.join(FILE_DATASETS)})",
                      key="dataset")


def _file_set_name(path: Path) -> str:
    """The name of a set read from ``path``: its file name without ``.zip``/``.inter``/``.csv``/``.tsv``/``.txt``, as a
    manifest holds it (:func:`mmdistill.words.written_name`: a saved set's name holds no control or bidi-reordering
    character, so a file called ``ev\\nil.zip`` would give a set its own ``show`` refuses; a replacement is logged)."""
    return written_name(re.sub(r"\.(zip|inter|csv|tsv|txt)$", "", path.name), str(path))


def load_sequences(dataset: str, data_root: str | None, opts: SequenceLoadOptions) -> SequenceData:
    """``dataset``: ``generated[:USERS:ITEMS]`` (no files), ``movielens`` / ``ml-latest-small`` / ``ml-100k``
    / ``ml-1m`` (a GroupLens zip or folder at ``data_root``), ``recbole`` (a ``.inter`` file), ``csv``
    (``user,item,timestamp``), ``sasrec`` (``user item`` lines) or ``file`` (format sniffed); another name is sniffed
    as ``file`` (a new run refuses it first: :func:`check_dataset_name`; a set saved under it still loads)."""
    key = dataset.lower()
    if key.startswith("generated"):
        parts = key.split(":")
        try:
            if len(parts) > 3 or (key != "generated" and parts[0] != "generated"):
                raise ValueError(dataset)
            users = int(parts[1]) if len(parts) > 1 else 300
            items = int(parts[2]) if len(parts) > 2 else 200
            if users < 1 or items < 1:
                raise ValueError(dataset)
        except ValueError:
            raise DataError(f"generated log spec is generated[:USERS:ITEMS] with USERS, ITEMS >= 1, got {dataset!r}") from None
        return build_sequences(dataset, generated_log(users, items, opts.seed), opts)
    if not data_root:
        raise DataError(f"dataset {dataset!r} reads a file: pass --data-root (a MovieLens zip or folder, a RecBole "
                        ".inter file, a user,item,timestamp CSV/TSV or a SASRec 'user item' text file)")
    path = Path(data_root).expanduser()
    if not path.exists():
        raise DataError(f"data_root {shown(str(path))} does not exist")
    fmt = opts.log_format
    if fmt == "auto":
        fmt = {"recbole": "recbole", "csv": "csv", "sasrec": "sasrec"}.get(key) or (
            "movielens" if key.startswith(("movielens", "ml-")) else _sniff_format(path))
    reader = {"movielens": _read_movielens, "recbole": _read_recbole, "csv": _read_csv_log, "sasrec": _read_sasrec_text}.get(fmt)
    if reader is None:
        raise DataError(f"log_format must be auto, movielens, recbole, csv or sasrec, got {fmt!r}")
    if any(opts.columns):
        if fmt != "csv":
            named = next(k for k, c in zip(COLUMN_KEYS, opts.columns) if c)
            raise ConfigError(f"{named} names a column of a csv log's header, but {shown(str(path))} is read as {fmt}; pass "
                              "--dataset csv (or log_format=csv) for a csv log", key=named)
        reader = functools.partial(_read_csv_log, columns=opts.columns)
    size = path.stat().st_size if path.is_file() else 0
    if size >= ANNOUNCE_BYTES:  # ~6 s of CPU a million rows here, with nothing else shown until the count
        log.info("%s: reading %.0f MB (%s format)", shown(str(path)), size / 1e6, fmt)
    # rows read straight into columns (codes and float timestamps) and lines into an array: a few bytes a row
    read = reader(path, _Columns(), array("q"))
    source = shown(f"{path}:{read.member}" if fmt == "movielens" and read.member != str(path) else str(path))
    stats: dict[str, Any] = {"format": fmt}
    _check_malformed(read, source, opts.on_bad, stats)
    if not read.rows:
        why = "the file has a header and no rows" if read.header else "the file is empty"
        raise DataError(f"{source}: no interactions could be read (the {fmt} reader expects {read.expected} rows; {why})")
    log.info("%s: read %d interactions (%s format)", source, len(read.rows), fmt)
    name = dataset if key not in ("file", "csv", "recbole", "sasrec", "movielens") else _file_set_name(path)
    data = build_sequences(name, read.rows, opts, read.titles, source, read.lines, stats)
    data.report.root = str(path)
    return data


__all__ = ["FILE_DATASETS", "LogRows", "REPORT_KINDS", "SequenceData", "SequenceLoadOptions", "build_sequences", "check_dataset_name",
           "generated_log", "load_sequences", "read_csv_log", "read_movielens", "read_recbole", "read_sasrec_text", "stats_report"]
