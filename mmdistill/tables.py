"""Paper tables as data: YAML files of rows, each citing its source, looked up by one rule.

A table file holds a ``title`` and ``rows``; a row is::

    - when: {dataset: [cifar10, "*"], ipc: 10}      # the conditions
      set: {syn_steps: 30, lr_data: 1000.0}          # the values it gives
      source: "MTT (Cazenavette et al., CVPR 2022), ..."   # where they come from

**The lookup rule** (one table gives at most one row):

1. A row is a candidate when each of its categorical conditions matches the run: the run's value (of a
   config key such as ``dataset``, ``budget``, ``similarity``, or ``recipe``: the recipe's name) is one of the
   listed names, or the list holds ``"*"`` (any value). Names are compared lower-case, without ``-`` and ``_``
   (``Fashion-MNIST`` = ``fashion_mnist`` = ``fashionmnist``). A condition on a key the run does not have
   never matches.
2. The candidates with the most conditions matched by name (not by ``"*"``) are kept: a dataset's own rows
   win over the rows for any dataset.
3. If they list ``ipc``, the row whose ``ipc`` is nearest the run's ``ipc`` is taken (a tie goes to the
   smaller IPC: IPC 30 between rows 10 and 50 takes 10). Otherwise the first of them in the file is taken.

A recipe applies its tables in order; a later table's row overrides an earlier one's values (the budget
table comes last), and a value the user set explicitly always wins over every table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from mmdistill.errors import ConfigError

WILDCARD = "*"


def normalize_name(value: Any) -> str:
    """How categorical values are compared: lower-case, without ``-`` and ``_``."""
    return str(value).strip().lower().replace("-", "").replace("_", "")


@dataclass(frozen=True)
class Row:
    """One row: its categorical conditions (normalised names), its IPC (or None), its values, its source."""

    names: tuple[tuple[str, tuple[str, ...]], ...]
    ipc: int | None
    values: Mapping[str, Any]
    source: str
    label: str

    def exact_matches(self, context: Mapping[str, Any]) -> int | None:
        """The number of conditions matched by name, or None when a condition fails."""
        exact = 0
        for cond, names in self.names:
            if cond not in context:
                return None
            value = normalize_name(context[cond])
            if value in names:
                exact += 1
            elif WILDCARD not in names:
                return None
        return exact


@dataclass(frozen=True)
class Table:
    """A table file: its name (``tables/mtt.yaml``), title and rows."""

    name: str
    title: str
    rows: tuple[Row, ...]

    def lookup(self, context: Mapping[str, Any]) -> Row | None:
        """The row for ``context`` (config values plus ``recipe``) by the module's rule, or None."""
        scored = [(row.exact_matches(context), i, row) for i, row in enumerate(self.rows)]
        candidates = [(score, i, row) for score, i, row in scored if score is not None]
        if not candidates:
            return None
        best = max(score for score, _, _ in candidates)
        rows = [row for score, _, row in candidates if score == best]
        with_ipc = [row for row in rows if row.ipc is not None]
        if with_ipc and "ipc" in context:
            ipc = int(context["ipc"])
            return min(with_ipc, key=lambda r: (abs(r.ipc - ipc), r.ipc))  # type: ignore[operator]
        return rows[0]

    def keys(self) -> set[str]:
        """Every key some row sets."""
        return {k for row in self.rows for k in row.values}

    def condition_values(self, condition: str, context: Mapping[str, Any]) -> list[str]:
        """The names listed for ``condition`` in the rows whose other conditions can match ``context``
        (e.g. the budgets a recipe has)."""
        out: list[str] = []
        for row in self.rows:
            conds = dict(row.names)
            if condition not in conds:
                continue
            others = Row(tuple((c, n) for c, n in row.names if c != condition and c in context), None, {}, "", "")
            if others.exact_matches(context) is not None:
                out += [n for n in conds[condition] if n != WILDCARD and n not in out]
        return out


def _row(raw: Any, where: str) -> Row:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("set"), Mapping) or not raw.get("source"):
        raise ConfigError(f"{where}: a row needs 'set' (a mapping of key: value) and 'source' (where the values come from)")
    when = dict(raw.get("when") or {})
    ipc = when.pop("ipc", None)
    names = []
    for cond, value in when.items():
        listed = value if isinstance(value, list) else [value]
        names.append((str(cond), tuple(WILDCARD if str(v) == WILDCARD else normalize_name(v) for v in listed)))
    parts = [f"{c} {'/'.join(str(v) for v in (when[c] if isinstance(when[c], list) else [when[c]]))}" for c in when]
    if ipc is not None:
        parts.append(f"ipc {int(ipc)}")
    return Row(tuple(names), None if ipc is None else int(ipc), dict(raw["set"]), str(raw["source"]).strip(), ", ".join(parts) or "every run")


@functools.lru_cache(maxsize=None)
def load_table(path: Path) -> Table:
    """Read a table file (cached); ConfigError names the file and the row at fault."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read table {path}: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("rows"), list):
        raise ConfigError(f"table {path} must hold 'title' and a list of 'rows'")
    name = f"tables/{path.name}"
    rows = tuple(_row(raw, f"{name} row {i + 1}") for i, raw in enumerate(data["rows"]))
    return Table(name=name, title=str(data.get("title", "")), rows=rows)


__all__ = ["Row", "Table", "WILDCARD", "load_table", "normalize_name"]
