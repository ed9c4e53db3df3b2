"""What every log reader shares: the rows it gives (:class:`LogRows`), the header names of a log's columns, the
MovieLens ratings and titles file names, gzip's first bytes, and the field-count and header-name helpers; the readers
are :mod:`.log_readers`', :mod:`.movielens_log`'s and :mod:`.amazon_log`'s."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from mmdistill.words import quantity

from .log_columns import LogColumns, Row

#: header names (lower case, any ``:type`` suffix removed) of the user, item and timestamp columns of a CSV/TSV log
USER_NAMES = ("user", "user_id", "userid", "uid")
ITEM_NAMES = ("item", "item_id", "itemid", "iid", "movieid", "movie_id")
TIME_NAMES = ("timestamp", "time", "ts")
RATINGS_FILES = ("ratings.csv", "ratings.dat", "u.data")
TITLE_FILES = ("movies.csv", "movies.dat", "u.item")
#: the first bytes of a gzip file (Amazon's review releases come gzip-compressed; :mod:`.amazon_log` reads them)
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class LogRows:
    """What a reader got from a log: rows ``(user, item, timestamp)`` in file order (a list of tuples, or the
    :class:`LogColumns` :func:`.data.load_sequences` reads into), the file line of each row, the lines that are not
    rows of the format (``(line, why)``; blank lines are not counted), and what a row is."""

    rows: list[Row] | LogColumns
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
