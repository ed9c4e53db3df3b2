"""Modalities and recipes from other installed packages, found through their entry points.

A package adds a modality without touching mmdistill by declaring, in its ``pyproject.toml``::

    [project.entry-points."mmdistill.modalities"]
    tabular = "mmdistill_tabular:MODALITY"          # the adapter object (or a module defining MODALITY)

    [project.entry-points."mmdistill.recipes"]
    tabular-dm = "mmdistill_tabular.recipes:RECIPE"  # a mmdistill.recipe.Recipe (or a module defining RECIPE)

    [project.entry-points."mmdistill.networks"]
    my-resnet = "my_nets:my_resnet"                  # a network builder fn(in_shape, num_classes, **kw) -> nn.Module

``mmdistill.modality.get_modality`` and ``mmdistill.recipes.get_recipe`` look a name up here when it is not one of
mmdistill's own, so ``mmdistill run tabular-dm``, ``show``, ``eval``, ``export`` and ``mmdistill.load`` of its sets
work once the package is installed. Nothing is imported until a name is asked for (listing reads the metadata only).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from mmdistill.errors import ConfigError

#: the entry-point group of modality adapters: name -> the adapter object (or a module with ``MODALITY``)
MODALITY_GROUP = "mmdistill.modalities"
#: the entry-point group of recipes: CLI name -> a :class:`~mmdistill.recipe.Recipe` (or a module with ``RECIPE``)
RECIPE_GROUP = "mmdistill.recipes"
#: the entry-point group of networks: name -> a builder ``fn(in_shape, num_classes, **kw)`` (or a module with ``NETWORK``)
NETWORK_GROUP = "mmdistill.networks"


def _key(name: str) -> str:
    return name.replace("_", "-").lower()


def _package(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ep.value


def _declared(group: str) -> dict[str, list[EntryPoint]]:
    """Every installed entry point of ``group`` by name (``_`` and ``-`` alike, lower case), one per (package, value)."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=group):
        same = found.setdefault(_key(ep.name), [])
        if all((_package(o), o.value) != (_package(ep), ep.value) for o in same):
            same.append(ep)
    return found


def plugin_entry_points(group: str) -> dict[str, EntryPoint]:
    """The installed entry points of ``group`` by name (``_`` and ``-`` alike, lower case); a name two packages declare
    is a ConfigError when it is loaded (:func:`load_plugin`), listed here by its first."""
    return {name: eps[0] for name, eps in _declared(group).items()}


def load_plugin(group: str, name: str, attribute: str) -> Any | None:
    """The object entry point ``name`` of ``group`` names (a module's ``attribute`` when it names a module); None when
    no installed package declares ``name``. A plugin that fails to import, or a name two packages declare, is a
    ConfigError naming the packages."""
    eps = _declared(group).get(_key(name), [])
    if not eps:
        return None
    if len(eps) > 1:
        raise ConfigError(f"{group} entry point {name!r} is declared by several installed packages "
                          f"({', '.join(f'{_package(e)}: {e.value}' for e in eps)}); uninstall all but one")
    ep = eps[0]
    package = _package(ep)
    try:
        obj = ep.load()
    except Exception as exc:  # the plugin's own import error: named, not a traceback
        raise ConfigError(f"{group} entry point {ep.name!r} of package {package} ({ep.value}) cannot be loaded: "
                          f"{type(exc).__name__}: {exc}") from None
    if isinstance(obj, ModuleType):
        obj = getattr(obj, attribute, None)
        if obj is None:
            raise ConfigError(f"{group} entry point {ep.name!r} of package {package} names the module {ep.value}, which "
                              f"defines no {attribute}")
    return obj


def plugin_names(group: str) -> list[str]:
    """The names the installed packages declare in ``group``, as they declare them, sorted."""
    return sorted(ep.name for ep in plugin_entry_points(group).values())


def is_plugin(group: str, name: str) -> bool:
    """Whether an installed package declares ``name`` in ``group`` (nothing imported)."""
    return _key(name) in plugin_entry_points(group)


def plugin_summaries(group: str) -> dict[str, str]:
    """Name -> ``<package's Summary> (package <distribution> <version>)`` for the listing of ``mmdistill recipes``, read
    from the installed package's metadata (nothing imported; a package without a summary: ``from package <name>
    <version>``). The summary is the package author's text: one line, its control characters escaped."""
    from mmdistill.words import shown

    out = {}
    for name, ep in sorted(plugin_entry_points(group).items()):
        meta = ep.dist.metadata if ep.dist is not None else None
        summary = " ".join(str(((meta.get_all("Summary") if meta is not None else None) or [""])[0]).split())
        version = f" {ep.dist.version}" if ep.dist is not None and ep.dist.version else ""
        where = f"package {_package(ep)}{version}"
        out[name] = shown(f"{summary[:120]} ({where})" if summary and summary != "UNKNOWN" else f"from {where}")
    return out


__all__ = ["MODALITY_GROUP", "NETWORK_GROUP", "RECIPE_GROUP", "is_plugin", "load_plugin", "plugin_entry_points", "plugin_names", "plugin_summaries"]
