"""Building a recipe's config: dataclass defaults, then the recipe's table rows, then the explicit layers.

The layers, later winning: the config class's defaults; the row each of the recipe's tables gives for the
run (:mod:`mmdistill.tables`; looked up from the run's ``dataset``, ``ipc``, ``budget`` ... as they stand
after the explicit layers); the explicit layers (YAML file, ``--key value`` flags, ``key=value`` overrides,
keyword arguments). A value set explicitly always wins over a table row.

The built config remembers which keys were explicit and where every non-default value came from
(:func:`config_sources`: ``{"syn_steps": "tables/mtt.yaml: dataset cifar10, ipc 10 (MTT ...)"}``), so
:func:`rebuild` can build it again with changed keys — the tables are looked up again, and a row of the old
IPC never survives a change of ``ipc`` — and the manifest can say where each value came from.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping, Sequence

from mmdistill.config import coerce
from mmdistill.errors import ConfigError
from mmdistill.keys import expected_error, input_keys
from mmdistill.tables import Table

Layer = tuple[str, Mapping[str, Any]]
#: the error for a key the config class does not have: (key, layer name) -> ConfigError
UnknownKey = Callable[[str, str], ConfigError]

_EXPLICIT = "_mmdistill_explicit"
_SOURCES = "_mmdistill_sources"


def unknown_key_error(cls: type, key: str, source: str) -> ConfigError:
    """A key ``cls`` does not have: the closest names and the valid keys."""
    names = list(input_keys(cls))
    close = difflib.get_close_matches(key, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown config key {key!r} in {source}.{hint} Valid keys: {', '.join(names)}", key=key)


def explicit_layers(cls: type, layers: Sequence[Layer], unknown: UnknownKey) -> dict[str, tuple[Any, str]]:
    """``{key: (value, layer name)}`` of the layers, later layers winning; values converted to the key's type."""
    keys = input_keys(cls)
    out: dict[str, tuple[Any, str]] = {}
    for source, mapping in layers:
        for name, value in mapping.items():
            name = name.replace("-", "_")
            if name not in keys:
                raise unknown(name, source)
            try:
                out[name] = (coerce(value, keys[name].type, name), source)
            except ConfigError:
                raise expected_error(keys[name], value) from None
    return out


def resolve(cls: type, *, tables: Sequence[Table] = (), layers: Sequence[Layer] = (),
            context: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
            unknown: UnknownKey | None = None) -> Any:
    """Build ``cls`` from its defaults, the rows of ``tables`` and the explicit ``layers`` (see the module).

    ``context`` adds names the table conditions may use besides the config's keys (``recipe``); a callable
    computes them from the values as they stand before each table (a name derived from several keys, such as
    the MovieLens release of a ``data_root``)."""
    unknown = unknown or (lambda k, s: unknown_key_error(cls, k, s))
    keys = input_keys(cls)
    explicit = explicit_layers(cls, layers, unknown)
    values = {name: info.default for name, info in keys.items()}
    values.update({name: value for name, (value, _) in explicit.items()})
    sources = {name: source for name, (_, source) in explicit.items()}
    for table in tables:
        extra = context(values) if callable(context) else (context or {})
        row = table.lookup({**values, **extra})
        if row is None:
            continue
        for name, value in row.values.items():
            if name not in keys:
                raise ConfigError(f"{table.name} ({row.label}) sets {name!r}, which {cls.__qualname__} does not have", key=name)
            if name in explicit:
                continue
            values[name] = coerce(value, keys[name].type, name)
            sources[name] = f"{table.name}: {row.label} ({row.source})"
    try:
        cfg = cls(**values)
    except ConfigError as exc:
        if exc.key in sources and exc.key not in explicit:
            raise ConfigError(f"{exc} [from {sources[exc.key]}]", key=exc.key) from None
        raise
    attach(cfg, {name: value for name, value in explicit.items()}, sources)
    return cfg


def attach(cfg: Any, explicit: Mapping[str, tuple[Any, str]], sources: Mapping[str, str]) -> None:
    """Record on ``cfg`` its explicit keys (value, layer) and the source of each non-default value."""
    object.__setattr__(cfg, _EXPLICIT, dict(explicit))
    object.__setattr__(cfg, _SOURCES, dict(sources))


def explicit_values(cfg: Any) -> dict[str, tuple[Any, str]] | None:
    """``{key: (value, layer name)}`` of the keys set explicitly, or None for a config built directly (not
    through :func:`resolve`)."""
    return getattr(cfg, _EXPLICIT, None)


def config_sources(cfg: Any) -> dict[str, str]:
    """Where each value that is not the class default came from: a layer name (``command-line flags``,
    ``arguments`` ...) or a table row with its citation."""
    return dict(getattr(cfg, _SOURCES, {}))


def rebuild_layers(cfg: Any, overrides: Mapping[str, Any], name: str = "arguments") -> list[Layer]:
    """The explicit layers of ``cfg`` followed by ``overrides``: what :func:`resolve` needs to build ``cfg``
    again with ``overrides`` applied. A config built directly counts the fields that differ from the class
    defaults as explicit."""
    explicit = explicit_values(cfg)
    if explicit is None:
        keys = input_keys(type(cfg))
        explicit = {k: (getattr(cfg, k), "config") for k, info in keys.items() if getattr(cfg, k) != info.default}
    by_layer: dict[str, dict[str, Any]] = {}
    for key, (value, layer) in explicit.items():
        by_layer.setdefault(layer, {})[key] = value
    return [*by_layer.items(), (name, dict(overrides))]


__all__ = ["Layer", "attach", "config_sources", "explicit_values", "rebuild_layers", "resolve", "unknown_key_error"]
