"""Typed configuration: dataclasses loaded from YAML files and ``key=value`` overrides.

Unknown keys are refused with the closest valid names; values are converted to the field's declared type
(``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``, ``list[str]``, ``list[float]``).
Declarations and checks of the keys are :mod:`mmdistill.keys`; building a recipe's config from its
defaults, tables and explicit layers is :mod:`mmdistill.resolve`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

import yaml

from mmdistill.errors import ConfigError
from mmdistill.keys import short_repr

C = TypeVar("C")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _unknown(key: str, cls: type, source: str) -> ConfigError:
    names = field_names(cls)
    close = difflib.get_close_matches(key, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown config key {key!r} in {source}.{hint} Valid keys: {', '.join(names)}")


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or a command-line string) to type ``tp``; ConfigError names ``key``."""
    optional, inner = _is_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"config key {key!r} may not be empty", key=key)
    origin = typing.get_origin(inner)
    try:
        if inner is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if inner is int:
            if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
                value = float(value)  # "1.0", "1e3" on the command line, as YAML's 1.0 and 1e3 are read
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if inner is float:
            return float(value)
        if inner is str:
            if isinstance(value, os.PathLike):  # a pathlib.Path for out, data_root, buffer ...
                return os.fspath(value)
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):  # a tensor or a list is no name
                raise TypeError(value)
            return str(value)
        if origin is Literal:
            choices = typing.get_args(inner)
            if isinstance(value, str) and not all(isinstance(c, str) for c in choices):
                kind = type(next(c for c in choices if not isinstance(c, str)))
                return coerce(value, kind, key)
            return value
        if origin in (list, tuple):
            (elem,) = typing.get_args(inner)[:1] or (str,)
            items = value if isinstance(value, (list, tuple)) else [v for v in str(value).split(",") if v.strip()]
            return [coerce(v.strip() if isinstance(v, str) else v, elem, key) for v in items]
        if origin is dict or inner is dict:
            if isinstance(value, Mapping):
                return dict(value)
            loaded = yaml.safe_load(str(value))
            if not isinstance(loaded, Mapping):
                raise ValueError(value)
            return dict(loaded)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {key!r}: cannot read {short_repr(value)} as {getattr(inner, '__name__', inner)}",
                          key=key) from None
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; ConfigError names the file when it is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of key: value, got {type(data).__name__}")
    return data


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["ipc=10", "dsa=false"]`` -> ``{"ipc": "10", "dsa": "false"}``; dashes in keys become underscores."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} is not of the form key=value")
        key, value = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = value
    return out


def build_config(cls: type[C], *layers: tuple[str, Mapping[str, Any]]) -> C:
    """Build ``cls`` from its defaults updated by each ``(source name, mapping)`` layer in order."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for source, mapping in layers:
        for key, value in mapping.items():
            key = key.replace("-", "_")
            if key not in hints or key not in field_names(cls):
                raise _unknown(key, cls, source)
            values[key] = coerce(value, hints[key], key)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
