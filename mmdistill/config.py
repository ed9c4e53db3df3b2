"""Typed configuration: dataclasses loaded from YAML files and ``key=value`` overrides.

Unknown keys are refused with the closest valid names; values are converted to the field's declared type
(``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``X | None``, ``list[str]``, ``list[float]``).
Declarations and checks of the keys are :mod:`mmdistill.keys`; building a recipe's config from its
defaults, tables and explicit layers is :mod:`mmdistill.resolve`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

import yaml

from mmdistill.errors import ConfigError
from mmdistill.keys import short_repr, unknown_key_error

C = TypeVar("C")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

log = logging.getLogger(__name__)


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _unknown(key: str, cls: type, source: str) -> ConfigError:
    return unknown_key_error(key, field_names(cls), source)


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
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "~", "")):
        if optional:
            return None
        raise ConfigError(f"config key {key!r} may not be empty", key=key)
    origin = typing.get_origin(inner)
    if origin in (list, tuple) and isinstance(value, str) and value.strip().startswith("["):
        value = _flow_list(value, key)  # YAML flow syntax, as a YAML file reads it: [a, b]
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


def _flow_list(text: str, key: str) -> list[Any]:
    """A ``key=value`` value written as a YAML flow list (``[herding]``, ``[mlp, convnet]``), read as YAML reads it."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"config key {key!r}: cannot read {short_repr(text)} as a list (YAML flow syntax: [a, b])",
                          key=key) from None
    if not isinstance(loaded, list):
        raise ConfigError(f"config key {key!r}: cannot read {short_repr(text)} as a list (YAML flow syntax: [a, b])", key=key)
    return loaded


class _DuplicateKey(yaml.YAMLError):
    """A mapping of a YAML file that gives one key twice (YAML requires unique keys; PyYAML keeps the last)."""

    def __init__(self, key: Any, first: tuple[int, Any], second: tuple[int, Any]) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first, self.second = key, first, second


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice (``<<`` merge keys may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, tuple[int, Any]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = seen.get(key)
            except TypeError:  # an unhashable key: the safe loader names it
                continue
            here = (key_node.start_mark.line + 1, value_node)
            if earlier is not None:
                raise _DuplicateKey(key, (earlier[0], self.construct_object(earlier[1], deep=True)),
                                    (here[0], self.construct_object(value_node, deep=True)))
            seen[key] = here
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of config keys; ConfigError names the file when it is missing, a folder, not UTF-8, not
    YAML or not a mapping, and names the key when one is not a name or is given twice."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a YAML file: pass the YAML file of key: value pairs")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); save it as "
                          "UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except _DuplicateKey as exc:
        (line1, value1), (line2, value2) = exc.first, exc.second
        raise ConfigError(f"config file {path} gives key {exc.key!r} twice: {short_repr(value1)} (line {line1}) and "
                          f"{short_repr(value2)} (line {line2}); keep one", key=str(exc.key)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is not valid YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of key: value, got {type(data).__name__}")
    for name in data:
        if not isinstance(name, str):
            raise ConfigError(f"config file {path}: key {short_repr(name)} is not a name (keys are config key names such "
                              "as ipc)")
    return data


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["ipc=10", "dsa=false"]`` -> ``{"ipc": "10", "dsa": "false"}``; dashes in keys become underscores. A key
    given twice with different values (also as ``eval-runs`` and ``eval_runs``: an override appended to a command
    from the shell's history) keeps the later one, as a repeated flag does, with a warning naming both."""
    out: dict[str, str] = {}
    given: dict[str, str] = {}  # key -> the pair that gave it
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} is not of the form key=value")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key in out and out[key] != value:
            log.warning("key=value overrides give %r twice: %s and %s; the later one is used", key, given[key], pair)
        out[key], given[key] = value, pair
    return out


def build_config(cls: type[C], *layers: tuple[str, Mapping[str, Any]]) -> C:
    """Build ``cls`` from its defaults updated by each ``(source name, mapping)`` layer in order."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for source, mapping in layers:
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise ConfigError(f"{source}: key {short_repr(key)} is not a config key name (a string such as ipc)")
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
