"""Building a recipe's config: dataclass defaults, then the recipe's table rows, then the explicit layers.

The layers, later winning: the config class's defaults; the row each of the recipe's tables gives for the
run (:mod:`mmdistill.tables`; looked up from the run's ``dataset``, ``ipc``, ``budget`` ... as they stand
after the explicit layers); the explicit layers (YAML file, ``--key value`` flags, ``key=value`` overrides,
keyword arguments). A value set explicitly always wins over a table row. A key spelled twice in one layer's
mapping (``eval-runs`` and ``eval_runs`` in a YAML file) is refused (``key=value`` pairs given twice keep the later,
with a warning, before they become a layer: :func:`mmdistill.config.parse_overrides`); a key a later layer gives
again with another value takes the later value, with a warning naming the value dropped.

The built config remembers which keys were explicit and where every non-default value came from
(:func:`config_sources`: ``{"syn_steps": "tables/mtt.yaml: dataset cifar10, ipc 10 (MTT ...)"}``), so
:func:`rebuild` can build it again with changed keys — the tables are looked up again, and a row of the old
IPC never survives a change of ``ipc`` — and the manifest can say where each value came from.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from mmdistill.config import coerce
from mmdistill.errors import ConfigError
from mmdistill.keys import GIVEN, expected_error, input_keys, short_repr
from mmdistill.keys import unknown_key_error as unknown_name_error
from mmdistill.tables import Table

Layer = tuple[str, Mapping[str, Any]]
#: the error for a key the config class does not have: (key, layer name) -> ConfigError
UnknownKey = Callable[[str, str], ConfigError]

log = logging.getLogger(__name__)

#: the layer a saved run's config is rebuilt from (:meth:`mmdistill.recipe.Recipe.config_from_saved`: ``eval``, ``check``,
#: ``export``): it lists every key the run had, ``ipc`` too, so a key from it alone is not one the user gives now
SAVED_LAYER = "saved manifest"
_EXPLICIT = "_mmdistill_explicit"
_SOURCES = "_mmdistill_sources"


def unknown_key_error(cls: type, key: str, source: str) -> ConfigError:
    """A key ``cls`` does not have: the closest names (case-insensitively) and the valid keys."""
    return unknown_name_error(key, input_keys(cls), source)


def explicit_layers(cls: type, layers: Sequence[Layer], unknown: UnknownKey) -> dict[str, tuple[Any, str]]:
    """``{key: (value, layer name)}`` of the layers, later layers winning; values converted to the key's type.

    A key given twice in one layer (``eval-runs`` and ``eval_runs``) and a key that is no string are ConfigErrors
    naming the layer; a key a later layer sets to another value is logged once, naming the values dropped."""
    keys = input_keys(cls)
    out: dict[str, tuple[Any, str]] = {}
    dropped: dict[str, list[tuple[Any, str]]] = {}
    for source, mapping in layers:
        spelled: dict[str, str] = {}  # key -> its spelling in this layer
        for raw, value in mapping.items():
            if not isinstance(raw, str):
                raise ConfigError(f"{source}: key {short_repr(raw)} is not a config key name (a string such as ipc)")
            name = raw.replace("-", "_")
            if name in spelled:
                first = spelled[name]
                raise ConfigError(f"{source} gives config key {name!r} twice: {first}={short_repr(mapping[first])} and "
                                  f"{raw}={short_repr(value)}; keep one", key=name)
            spelled[name] = raw
            if name not in keys:
                raise unknown(name, source)
            try:
                coerced = coerce(value, keys[name].type, name)
            except ConfigError:
                raise expected_error(keys[name], value) from None
            if name in out and _differs(out[name][0], coerced):
                dropped.setdefault(name, []).append(out[name])
            out[name] = (coerced, source)
    for name, lost in dropped.items():
        value, source = out[name]
        log.warning("config key %s=%s from %s replaces %s (a later layer wins: YAML file < flags < key=value overrides "
                    "< keyword arguments)", name, short_repr(value), source,
                    ", ".join(f"{short_repr(v)} from {s}" for v, s in lost))
    return out


def _differs(a: Any, b: Any) -> bool:
    """Whether two values of a key differ (True when they cannot be compared)."""
    try:
        return bool(a != b)
    except Exception:  # noqa: BLE001 - arrays and other values without a truth value: count as different
        return True


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


def given_now(cfg: Any, key: str) -> bool:
    """Whether the user gave ``key`` in this invocation (a flag, a YAML file, ``key=value``, a keyword argument): set
    explicitly by a layer other than :data:`SAVED_LAYER` (a saved run's manifest, read by ``eval``/``check``, is not
    given now), or, for a config built directly (not through :func:`resolve`), among the keywords its caller gave
    (:data:`~mmdistill.keys.GIVEN`). A default or a table row's value is not given."""
    explicit = explicit_values(cfg)
    if explicit is None:
        return key in getattr(cfg, GIVEN, frozenset())
    return key in explicit and explicit[key][1] != SAVED_LAYER


def from_saved(cfg: Any, key: str) -> bool:
    """Whether ``key``'s value came from a saved run's manifest (:data:`SAVED_LAYER`: ``eval``, ``check``, an export
    of a finished set), the other side of :func:`given_now`: a value set now, by a table row or by default is not."""
    return (explicit_values(cfg) or {}).get(key, (None, None))[1] == SAVED_LAYER


def config_sources(cfg: Any) -> dict[str, str]:
    """Where each value that is not the class default came from: a layer name (``command-line flags``,
    ``arguments`` ...) or a table row with its citation."""
    return dict(getattr(cfg, _SOURCES, {}))


def rebuild_layers(cfg: Any, overrides: Mapping[str, Any], name: str = "arguments") -> list[Layer]:
    """The explicit layers of ``cfg`` followed by ``overrides``: what :func:`resolve` needs to build ``cfg``
    again with ``overrides`` applied (a key they set is left out of the old layers). A config built directly counts
    the keys its caller gave as explicit (:data:`~mmdistill.keys.GIVEN`; ``dataclasses.replace`` gives them all), else
    the fields that differ from the class defaults."""
    explicit = explicit_values(cfg)
    if explicit is None:
        keys = input_keys(type(cfg))
        given = getattr(cfg, GIVEN, None)
        names = [k for k in keys if k in given] if given is not None else [k for k, info in keys.items() if getattr(cfg, k) != info.default]
        explicit = {k: (getattr(cfg, k), "config") for k in names}
    replaced = {str(k).replace("-", "_") for k in overrides}  # left out of the old layers: replaced on purpose, no warning
    by_layer: dict[str, dict[str, Any]] = {}
    for key, (value, layer) in explicit.items():
        if key not in replaced:
            by_layer.setdefault(layer, {})[key] = value
    return [*by_layer.items(), (name, dict(overrides))]


__all__ = ["SAVED_LAYER", "Layer", "attach", "config_sources", "explicit_values", "from_saved", "given_now", "rebuild_layers", "resolve", "unknown_key_error"]
