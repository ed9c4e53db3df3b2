"""A graph as a user holds one: a node table (``nodes.csv``) and an edge list naming nodes by the table's ids.

The ``dataset=files`` loader reads a folder this way when it holds ``nodes.csv`` (or ``nodes.tsv``):

- ``nodes.{csv,tsv}``: a first line of column names with ``id`` (any text, each id once) and ``label`` (class names
  or class ids; an empty cell, ``NA``, ``NaN``, ``null`` or ``None`` is a node without a label, ``-1``), optionally ``split`` (``train``, ``val``, ``test``;
  empty: in no split); every other column is a numeric node feature, used when the folder has no features file;
- ``features.{npy,npz,csv,txt}`` (optional): one row per node, in the node table's row order; ``.npz`` is a scipy
  sparse matrix (``scipy.sparse.save_npz``, read without pickle), e.g. a bag of words;
- ``edges.{csv,tsv,txt}``: two ids of the ``id`` column per line (a first line naming no id of the table is column
  names), optionally the edge's weight as a third column. An edge naming an id the node table lacks is dropped,
  counted in a warning and in the load report (``dangling_edges_dropped``);
- ``train.txt``/``val.txt``/``test.txt`` (optional, instead of a ``split`` column): ids of the ``id`` column, one a line.

Class names are the distinct labels, sorted (class ids 0..C-1 in that order; integer labels are class ids as given).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mmdistill.csv_lines import numbered_records, quote_error
from mmdistill.errors import DataError
from mmdistill.io import decode_utf8
from mmdistill.load_report import LoadReport
from mmdistill.words import id_list, quantity

logger = logging.getLogger(__name__)

NODE_TABLES = ("nodes.csv", "nodes.tsv")
SPLITS = ("train", "val", "test")
#: label cells that mean "no label" (lower-cased), besides an empty cell: R's NA, pandas' NaN, JSON's null
MISSING = frozenset({"na", "nan", "null", "none"})
#: the load report's words for the edges naming an id the node table lacks
DANGLING_WORDS = "edge(s) naming a node id not in the node table, dropped"


def node_table(root: Path) -> Path | None:
    """The node table of the folder ``root``, or None when it has none (then ids are feature row numbers)."""
    return next((root / n for n in NODE_TABLES if (root / n).is_file()), None)


def _records(path: Path) -> list[tuple[int, list[str]]]:
    """``(line, fields)`` of each record of the CSV/TSV (``.tsv``: tabs; ``.txt``: whitespace) file ``path``."""
    f = io.StringIO(decode_utf8(path.read_bytes(), path), newline="")  # not UTF-8 (a spreadsheet's Latin-1): named
    if path.suffix == ".txt":
        return [(i, line.split("#", 1)[0].split()) for i, line in enumerate(f, 1) if line.split("#", 1)[0].strip()]
    reader = csv.reader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
    return [(start, [v.strip() for v in fields])
            for start, _, fields in numbered_records(reader, lambda e, s, e_line: quote_error(path, e, s, e_line))
            if any(v.strip() for v in fields)]


def _integer(value: str) -> int | None:
    """``value`` as an integer class id (``3``, or ``3.0`` as pandas writes an integer column holding a missing value),
    None when it is no whole number."""
    try:
        f = float(value)
    except ValueError:
        return None
    return int(f) if f.is_integer() else None


def _class_ids(path: Path, labels: list[str]) -> tuple[list[int], list[str] | None]:
    """Class ids of the label cells ``labels`` (``-1`` for a missing label: an empty cell or :data:`MISSING`) and the
    class names (None: the labels are integer class ids, also written as floats)."""
    labels = ["" if v.lower() in MISSING else v for v in labels]
    given = sorted({v for v in labels if v})
    ints = {v: _integer(v) for v in given}
    if given and all(i is not None for i in ints.values()):
        return [ints[v] if v else -1 for v in labels], None
    if not given:
        raise DataError(f"{path}: the 'label' column is empty on every line; node classification needs labelled nodes")
    ids = {v: i for i, v in enumerate(given)}
    return [ids[v] if v else -1 for v in labels], given


def _features(path: Path, read_table: Callable[[Path, Any, int], np.ndarray]) -> np.ndarray:
    """The (N, F) float32 features file ``path``: a scipy sparse ``.npz`` made dense, else ``read_table``'s table."""
    if path.suffix != ".npz":
        return read_table(path, np.float32, 2)
    import scipy.sparse as sp

    try:
        return np.asarray(sp.load_npz(path).toarray(), dtype=np.float32)
    except (ValueError, OSError, KeyError) as exc:
        raise DataError(f"{path}: cannot read it as a scipy sparse matrix (scipy.sparse.save_npz; {exc})") from None


def _column_features(path: Path, header: list[str], rows: list[tuple[int, list[str]]], used: set[str]) -> np.ndarray:
    """The node table's numeric columns other than ``used`` as (N, F) float32; DataError naming a cell that is not a number."""
    cols = [i for i, name in enumerate(header) if name not in used]
    if not cols:
        raise DataError(f"{path}: no feature columns besides {', '.join(sorted(used))} and no features.{{npy,npz,csv,txt}} "
                        "file; give node features as further numeric columns or as a features file in the table's row order")
    out = np.zeros((len(rows), len(cols)), dtype=np.float32)
    for r, (line, fields) in enumerate(rows):
        for j, c in enumerate(cols):
            try:
                out[r, j] = float(fields[c])
            except ValueError:
                raise DataError(f"{path} line {line}: column {header[c]!r} holds {fields[c]!r}, not a number; feature "
                                "columns are numeric (or give a features file, then other columns are not read)") from None
    return out


def _split_masks(root: Path, ids: dict[str, int], header: list[str], rows: list[tuple[int, list[str]]],
                 path: Path) -> dict[str, Any]:
    """``{split}_mask`` node-id tensors of the ``split`` column or of the split files (ids of the id column) and
    ``files`` entries naming where each came from."""
    out: dict[str, Any] = {}
    if "split" in header:
        col = header.index("split")
        picks: dict[str, list[int]] = {s: [] for s in SPLITS}
        for r, (line, fields) in enumerate(rows):
            value = fields[col].lower()
            if value and value not in picks:
                raise DataError(f"{path} line {line}: split {fields[col]!r}; the 'split' column holds train, val, test "
                                "or nothing (a node in no split)")
            if value:
                picks[value].append(r)
        return {**{f"{s}_mask": torch.tensor(v, dtype=torch.long) for s, v in picks.items()},
                "files": {f"{s}_mask": f"{path} (column 'split')" for s in SPLITS}}
    for s in SPLITS:
        f = next((root / f"{s}.{e}" for e in ("txt", "csv") if (root / f"{s}.{e}").is_file()), None)
        if f is None:
            continue
        listed = [(line, fields[0]) for line, fields in _records(f)]
        if listed and listed[0][1] not in ids and listed[0][1].lower() in ("id", "node", "node_id"):
            listed = listed[1:]
        unknown = [(line, v) for line, v in listed if v not in ids]
        if unknown:
            raise DataError(f"{f} line {unknown[0][0]}: id {unknown[0][1]!r} is not in {path.name}'s 'id' column "
                            f"({quantity(len(unknown), 'such line')}); list ids of the node table, one a line")
        out[f"{s}_mask"] = torch.tensor([ids[v] for _, v in listed], dtype=torch.long)
        out.setdefault("files", {})[f"{s}_mask"] = str(f)
    return out


def _edges(path: Path, ids: dict[str, int], report: LoadReport) -> tuple[np.ndarray, np.ndarray | None]:
    """``(edges (E, 2) int64 row numbers, weights (E,) float32 or None)`` of the edge list ``path`` naming ids of the
    node table; a first line naming no id of the table is skipped as column names (one naming a single id is an edge to
    a node the table lacks); dangling edges dropped, counted."""
    records = _records(path)
    if records and not any(v in ids for v in records[0][1][:2]):  # one id of the table: an edge (dangling, counted)
        logger.info("%s: line %d (%s) is a header of column names; not read", path, records[0][0], ",".join(records[0][1]))
        records = records[1:]
    if not records:
        raise DataError(f"{path}: holds no edges; write one edge per line: two ids of the node table's 'id' column")
    width = {len(f) for _, f in records}
    if not width <= {2, 3} or len(width) != 1:
        line, fields = next((ln, f) for ln, f in records if len(f) not in (2, 3) or len(f) != len(records[0][1]))
        raise DataError(f"{path} line {line}: {len(fields)} fields; each line holds two node ids and optionally a weight, "
                        "every line alike")
    edges, weights, dangling = [], [], []
    for line, fields in records:
        if fields[0] in ids and fields[1] in ids:
            edges.append((ids[fields[0]], ids[fields[1]]))
            if len(fields) == 3:
                try:
                    weights.append(float(fields[2]))
                except ValueError:
                    raise DataError(f"{path} line {line}: weight {fields[2]!r} is not a number") from None
        else:
            dangling.append((line, fields[0] if fields[0] not in ids else fields[1]))
    report.descriptions = {**report.descriptions, "dangling_edges_dropped": DANGLING_WORDS}
    report.count("dangling_edges_dropped", len(dangling))
    if dangling:
        logger.warning("%s: %s naming a node id not in the node table dropped (first on line %d; ids %s); add those "
                       "nodes to the node table to keep the edges", path, quantity(len(dangling), "edge"), dangling[0][0],
                       id_list(dict.fromkeys(repr(v) for _, v in dangling), 5))
    if not edges:
        raise DataError(f"{path}: none of its {len(records)} edges names two ids of the node table's 'id' column")
    return np.asarray(edges, dtype=np.int64), (np.asarray(weights, dtype=np.float32) if weights else None)


def read_node_table(root: Path, table: Path, find: Callable[..., Path | None],
                    read_table: Callable[[Path, Any, int], np.ndarray]) -> dict[str, Any]:
    """The raw dict (``x``, ``y``, ``edge_index``, ``classes``, masks, ``files``, ``load_report``) of the folder
    ``root`` holding the node table ``table``; ``find`` and ``read_table`` are the files loader's."""
    records = _records(table)
    if len(records) < 2:
        raise DataError(f"{table}: expected a line of column names (id, label ...) and one line per node")
    (_, header), rows = records[0], records[1:]
    header = [h.lower() for h in header]
    for need in ("id", "label"):
        if need not in header:
            raise DataError(f"{table}: no {need!r} column (its first line names {', '.join(header)}); a node table's "
                            "first line names its columns: id, label, optionally split, then numeric features")
    bad = next(((ln, f) for ln, f in rows if len(f) != len(header)), None)
    if bad:
        raise DataError(f"{table} line {bad[0]}: {len(bad[1])} fields under {len(header)} column names")
    ids: dict[str, int] = {}
    for r, (line, fields) in enumerate(rows):
        v = fields[header.index("id")]
        if v in ids:
            raise DataError(f"{table} line {line}: id {v!r} is listed again (first on line {rows[ids[v]][0]}); each node once")
        ids[v] = r
    y, classes = _class_ids(table, [f[header.index("label")] for _, f in rows])
    used = {"id", "label", "split"}
    feats = find(root, "features", ("npy", "npz", "csv", "txt"), required=False)
    if feats is not None:
        x = _features(feats, read_table)
        if x.shape[0] != len(rows):
            raise DataError(f"{feats}: {x.shape[0]} rows for the {len(rows)} nodes of {table.name} (one row per node, "
                            "in the node table's order)")
        extra = [h for h in header if h not in used]
        if extra:
            logger.warning("%s: column(s) %s not read: the node features come from %s", table, ", ".join(extra), feats.name)
    else:
        x = _column_features(table, header, rows, used)
    report = LoadReport()
    edges_path = find(root, "edges", ("csv", "tsv", "txt"))
    edges, weights = _edges(edges_path, ids, report)
    split = _split_masks(root, ids, header, rows, table)
    files = {"x": str(feats or table), "y": str(table), "edge_index": str(edges_path), "classes": str(table),
             **split.pop("files", {})}
    raw: dict[str, Any] = {"x": torch.from_numpy(np.ascontiguousarray(x)), "y": torch.tensor(y, dtype=torch.long),
                           "edge_index": torch.from_numpy(np.ascontiguousarray(edges.T)), "classes": classes,
                           "name": root.name, "source": f"local folder {root.name}", "files": files,
                           "load_report": report, "node_ids": list(ids), **split}
    if weights is not None:
        raw["edge_weight"] = torch.from_numpy(weights)
    logger.info("%s: read %s (%s)", root, ", ".join(Path(p).name for p in {files["x"], files["y"], files["edge_index"]}),
                quantity(len(rows), "node"))
    return raw


__all__ = ["DANGLING_WORDS", "NODE_TABLES", "node_table", "read_node_table"]
