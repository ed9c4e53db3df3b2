"""MovieLens releases -> rows ``(user, item, timestamp)`` (:class:`~.log_rows.LogRows`): the GroupLens zip, its folder or
a ratings file (``ratings.csv`` of ml-latest*, ``ratings.dat`` of ml-1m, ``u.data`` of ml-100k; read from inside the zip),
the release's one ratings file found at any depth (two releases, or a zip storing one member twice, are refused naming
them) and the movie titles from the titles file beside it (``movies.csv`` / ``movies.dat`` / ``u.item``)."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path

from mmdistill.csv_lines import newline_lines, text_lines
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.words import id_list, shown
from mmdistill.zip_members import read_zip_member

from .log_columns import LogColumns, Row
from .log_rows import RATINGS_FILES, TITLE_FILES, LogRows, _fields, _header_name

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".log_readers")  # the readers' logger, as before the split


def _decode_titles(raw: bytes, where: str) -> str:
    """Titles are UTF-8 in ml-latest* and Latin-1 in ml-100k / ml-1m: either is read as what it is."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.info("%s is not UTF-8; its titles are read as Latin-1 (as GroupLens wrote ml-100k and ml-1m)", where)
        return raw.decode("latin-1")


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


def _read_member(zf: zipfile.ZipFile, member: str | None, path: Path) -> tuple[str, bytes] | None:
    """``(member, its bytes)`` of the zip at ``path`` (its declared size checked first: :func:`read_zip_member`), None for None."""
    return None if member is None else (member, read_zip_member(zf, member, path))


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
                return _Release((member, read_zip_member(zf, member, path)), _read_member(zf, title, path), elsewhere)
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
    return read_movielens_into(path, [], [])


def read_movielens_into(path: Path, rows: list[Row] | LogColumns, lines: list[int] | array[int]) -> LogRows:
    """:func:`read_movielens` appending the rows to ``rows`` and their file lines to ``lines`` (lists, or the
    :class:`LogColumns` and line array :func:`.data.load_sequences` reads into)."""
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
