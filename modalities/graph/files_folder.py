"""A ``dataset=files`` folder (:func:`_edge_list_files`): ``edges``, ``features`` and ``labels`` tables (``.npy``, ``.csv``
or whitespace-separated text, a first line of column names skipped, integers read exactly) and the optional split
files, or a node table (:mod:`.node_table`); each gives the raw dict :func:`.datasets.build_data` checks."""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mmdistill.errors import DataError

# these lines logged from the loader's module before it was split: they log under its name still
logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".datasets")


def _find(root: Path, stem: str, exts: tuple[str, ...], required: bool = True) -> Path | None:
    for ext in exts:
        p = root / f"{stem}.{ext}"
        if p.is_file():
            return p
    if required:
        raise DataError(f"{root}: no {stem}.{{{','.join(exts)}}} file (dataset=files needs edges, features and labels)")
    return None


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _text_rows(path: Path, delim: str | None, skip: int = 0) -> Iterator[tuple[int, list[str]]]:
    """``(0-based line number, fields)`` of each line of the text table ``path`` after its first ``skip`` lines that
    holds anything but a ``#`` comment, as ``np.loadtxt`` counts rows."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:  # a byte-order mark (Excel's CSV UTF-8) is no value
        for number, line in enumerate(f):
            text = line.split("#", 1)[0].strip()
            if number >= skip and text:
                yield number, [v.strip() for v in text.split(delim)]


def _is_header(first: list[str], second: list[str]) -> bool:
    """Whether ``first`` (the fields of a table's first line) are column names above the row ``second``: one of them
    is not a number and every field of ``second`` is, or none of them is and ``second`` has as many fields (string
    ids such as ``n16,n20`` under ``source,target``: the header is skipped, so an error names the first value line)."""
    if all(_is_number(v) for v in second):
        return not all(_is_number(v) for v in first)
    return len(first) == len(second) and not any(_is_number(v) for v in first)


def _header_rows(path: Path, delim: str | None, announce: bool = True) -> int:
    """Lines of the text table ``path`` to skip before its values: through its first line when that line is a header
    (:func:`_is_header`; logged unless not ``announce``), else 0; ``#`` comments are no lines."""
    lines = list(itertools.islice(_text_rows(path, delim), 2))  # the first two value lines
    if len(lines) < 2 or not _is_header(lines[0][1], lines[1][1]):
        return 0
    if announce:
        logger.info("%s: line %d (%s) is a header of column names; not read", path, lines[0][0] + 1,
                    (delim or " ").join(lines[0][1]))
    return lines[0][0] + 1


def _read_table(path: Path, dtype: Any, ndmin: int) -> np.ndarray:
    """A numeric table from ``.npy`` (no pickle), ``.csv`` (commas) or whitespace-separated text (a first line
    of column names is skipped: :func:`_header_rows`); integers are read exactly, also when written as floats (``1.0``,
    ``np.savetxt``'s ``1.000000000000000000e+00``); a non-integer value is a DataError naming it and its line, never
    truncated."""
    want = np.dtype(dtype)
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
                what = f"a {arr.dtype} array" if isinstance(arr, np.ndarray) else type(arr).__name__
                raise DataError(f"{path}: expected a numeric .npy array, got {what}")
            if want.kind in "iu" and arr.dtype.kind == "f":
                odd = ~np.isfinite(arr) | (arr != np.round(arr))
                if odd.any():
                    raise DataError(f"{path}: expected integers, found {int(odd.sum())} non-integer value(s) "
                                    f"(e.g. {arr[odd].reshape(-1)[0].item()!r})")
            return arr.astype(want)
        delim = "," if path.suffix == ".csv" else None
        with warnings.catch_warnings():  # numpy warns on an empty file; the callers name that case
            warnings.simplefilter("ignore", UserWarning)
            skip = _header_rows(path, delim)
            # numpy < 2.3 reads '1.5' into an integer dtype as 1 with only a DeprecationWarning: made an error here,
            # so every float-written value takes the checked path below on any numpy
            warnings.simplefilter("error", DeprecationWarning)
            try:
                return np.loadtxt(path, delimiter=delim, dtype=want, ndmin=ndmin, comments="#", skiprows=skip,
                                  encoding="utf-8-sig")
            except (ValueError, DeprecationWarning) as exc:
                if want.kind not in "iu":
                    raise _table_error(path, want, exc, skip, delim) from None
                try:  # integers written as floats ('1.0', np.savetxt's '1.000000000000000000e+00'): read, then checked
                    table = np.loadtxt(path, delimiter=delim, dtype=np.float64, ndmin=2, comments="#", skiprows=skip,
                                       encoding="utf-8-sig")
                except ValueError as float_exc:
                    raise _table_error(path, want, exc if isinstance(exc, ValueError) else float_exc, skip, delim) from None
        return _exact_integers(path, table, want, ndmin, skip, delim)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read it as a table of {want.name} ({exc})") from None


def _value_line(path: Path, skip: int, delim: str | None, row: int) -> tuple[int, list[str]]:
    """The 1-based line number and the fields of value row ``row`` (0-based, as numpy counts rows) of the text table
    ``path`` read after its first ``skip`` lines; ``#`` comments and blank lines are no rows. ``(0, [])`` past the end."""
    number, fields = next(itertools.islice(_text_rows(path, delim, skip), row, None), (-1, []))
    return number + 1, fields


def _table_error(path: Path, want: np.dtype, exc: ValueError, skip: int, delim: str | None) -> DataError:
    """numpy's error on a value it cannot convert ("could not convert string 'x' to int64 at row 0, column 1", the row
    0-based among the value rows) as a DataError naming the file's 1-based line; other errors as numpy words them."""
    m = re.search(r"^(.*) at row (\d+), column (\d+)\.?$", str(exc))
    line = _value_line(path, skip, delim, int(m.group(2)))[0] if m else 0
    if not m or not line:
        return DataError(f"{path}: cannot read it as a table of {want.name} ({exc})")
    return DataError(f"{path}: cannot read it as a table of {want.name}: line {line}, column {m.group(3)}: {m.group(1)}")


def _not_exact_integers(table: np.ndarray) -> np.ndarray:
    """Where the float values of ``table`` are no integer a float64 holds exactly: not finite, fractional, or beyond 2**53."""
    return ~np.isfinite(table) | (table != np.round(table)) | (np.abs(table) > 2**53)


def _exact_integers(path: Path, table: np.ndarray, want: np.dtype, ndmin: int, skip: int, delim: str | None) -> np.ndarray:
    """The float64 table ``table`` (rows x columns) of the text file ``path`` as integers ``want`` in the shape
    ``np.loadtxt(ndmin=ndmin)`` gives: each value integral and exact (|v| <= 2**53), else a DataError naming the
    file, the first such value and its 1-based line."""
    odd = _not_exact_integers(table)
    if odd.any():
        row, col = (int(v) for v in np.argwhere(odd)[0])
        line, fields = _value_line(path, skip, delim, row)
        value = fields[col] if col < len(fields) else repr(float(table[row, col]))
        raise DataError(f"{path}: expected integers, found {int(odd.sum())} non-integer value(s): line {line} holds "
                        f"{value!r} (column {col + 1}); write whole numbers (1 or 1.0, not 1.5)")
    if ndmin < 2:  # np.loadtxt's shape: a single row or column is 1-D
        table = np.atleast_1d(table.squeeze())
    return table.astype(want)


_EDGE_LINE = "one edge per line: two node ids (source target), optionally its weight as a third column"


def _first_bad_node_id(path: Path) -> str | None:
    """``line N: node id 'n16' is not an integer``: the first node id (the first two fields of a value line of the
    text edge list ``path``, after its header) that is not a number, and the header line skipped if any; None when
    every id is a number or ``path`` is ``.npy``."""
    if path.suffix == ".npy":
        return None
    delim = "," if path.suffix == ".csv" else None
    skip = _header_rows(path, delim, announce=False)  # _read_table logged it
    for number, fields in _text_rows(path, delim, skip):
        bad = next((v for v in fields[:2] if not _is_number(v)), None)
        if bad is not None:
            header = next(_text_rows(path, delim), (0, []))[1] if skip else []
            read_as = f" (line {skip}, {(delim or ' ').join(header)!r}, read as the header)" if skip else ""
            return f"line {number + 1}: node id {bad!r} is not an integer{read_as}"
    return None


def _read_edges(path: Path, features: Path | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The edge list ``path``: ``(edges (E, 2) int64, weights (E,) float32 or None)``, from lines ``u v`` or
    ``u v w`` (commas in ``.csv``; node ids are integers, checked exactly: the 0-based rows of ``features``).
    DataError naming the file and the line format otherwise; a node id that is not a number (``n16``) is named with
    its line."""
    try:
        table = _read_table(path, np.float64, 2)
    except DataError as exc:
        bad = _first_bad_node_id(path)
        if bad is not None:
            rows = features.name if features is not None else "the features file"
            raise DataError(f"{path}: {bad}: node ids are the 0-based row numbers of {rows} (0 for its first row); renumber "
                            f"the nodes and write {_EDGE_LINE}") from None
        raise DataError(f"{exc}; an edge list holds {_EDGE_LINE}, a first line of column names is skipped") from None
    if table.size == 0:
        raise DataError(f"{path}: holds no edges; write {_EDGE_LINE}")
    if table.shape[1] not in (2, 3):
        raise DataError(f"{path}: each line must hold two node ids (source target) and optionally a weight, got "
                        f"{table.shape[1]} columns; write {_EDGE_LINE}")
    ids = table[:, :2]
    odd = ~np.isfinite(ids) | (ids != np.round(ids))
    big = ~odd & (np.abs(ids) > 2**53)  # integers, but no node's row number (and beyond what float64 holds exactly)
    if big.any() and not odd.any():
        row, col = (int(v) for v in np.argwhere(big)[0])
        rows = features.name if features is not None else "the features file"
        raise DataError(f"{path}: edge {row} (0-based, in file order) has node id {float(ids[row, col]):.0f} in column "
                        f"{col + 1}, out of range ({int(big.any(axis=1).sum())} such edge(s)): node ids are the 0-based "
                        f"row numbers of {rows} (0 for its first row); write {_EDGE_LINE}")
    if odd.any():
        row, col = (int(v) for v in np.argwhere(odd)[0])
        raise DataError(f"{path}: node ids must be integers; edge {row} (0-based, in file order) has "
                        f"{float(ids[row, col])!r} in column {col + 1} ({int(odd.any(axis=1).sum())} such edge(s)); "
                        f"write {_EDGE_LINE}")
    weights = np.ascontiguousarray(table[:, 2], dtype=np.float32) if table.shape[1] == 3 else None
    return ids.astype(np.int64), weights


def _edge_list_files(root: Path) -> dict[str, Any]:
    """The raw dict of a ``dataset=files`` folder; ``files`` maps each field to the file it came from. A folder with a
    node table (``nodes.csv``: ids, labels, split; :mod:`.node_table`) is read by its ids instead of row numbers."""
    from .node_table import node_table, read_node_table

    table = node_table(root)
    if table is not None:
        return read_node_table(root, table, _find, _read_table)
    paths = {"edge_index": _find(root, "edges", ("csv", "tsv", "txt")), "x": _find(root, "features", ("npy", "csv", "txt")),
             "y": _find(root, "labels", ("npy", "csv", "txt"))}
    edges, weights = _read_edges(paths["edge_index"], paths["x"])  # type: ignore[arg-type]
    x = _read_table(paths["x"], np.float32, 2)  # type: ignore[arg-type]
    y = _read_table(paths["y"], np.int64, 1)  # type: ignore[arg-type]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.size == 0 or y.size == 0:
        raise DataError(f"{paths['x'] if x.size == 0 else paths['y']}: holds no values; give one row per node")
    if x.shape[0] != y.shape[0]:
        x_name, y_name = Path(str(paths["x"])).name, Path(str(paths["y"])).name
        raise DataError(f"{root}: {x_name} has {x.shape[0]} rows but {y_name} has {y.shape[0]} (one row per node in both)")
    raw: dict[str, Any] = {"x": torch.from_numpy(np.ascontiguousarray(x)), "y": torch.from_numpy(np.ascontiguousarray(y)),
                           "edge_index": torch.from_numpy(np.ascontiguousarray(edges.T)), "name": root.name, "source": f"local folder {root.name}"}
    if weights is not None:
        raw["edge_weight"] = torch.from_numpy(weights)
    for split in ("train", "val", "test"):
        p = _find(root, split, ("txt", "csv"), required=False)
        if p is not None:
            raw[f"{split}_mask"] = torch.from_numpy(_read_table(p, np.int64, 1).reshape(-1))
            paths[f"{split}_mask"] = p
    raw["files"] = {k: str(v) for k, v in paths.items()}
    logger.info("%s: read %s", root, ", ".join(v.name for v in paths.values() if v is not None))
    return raw
