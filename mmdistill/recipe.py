"""A recipe: one method on one modality, with the paper's defaults as a config class and tables.

A recipe module builds one :class:`Recipe` and exposes ``run`` and ``main`` from it, so it is importable
(``from mmdistill.recipes import image_dm; image_dm.run(ipc=1)``), runnable as a script
(``python recipes/image_dm.py --ipc 1``) and reachable from the CLI (``mmdistill run image-dm --ipc 1``).
Configuration layers, later winning (:mod:`mmdistill.resolve`): the config class's defaults, the rows of
the recipe's tables for the run's dataset, IPC and budget (:mod:`mmdistill.tables`; the budget table
last), then the explicit layers: a YAML file (``--config``), ``--key value`` flags, bare ``key=value``
overrides and keyword arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

import torch

from mmdistill.context import MatchContext
from mmdistill.errors import ConfigError
from mmdistill.exits import EXPECTED, expected, fail, progress_bars
from mmdistill.keys import input_keys, key_infos, short_repr
from mmdistill.log_state import logging_given_back
from mmdistill.logs import is_lead_process, start_entry_point
from mmdistill.loop import Matcher
from mmdistill.modality import Modality, get_modality
from mmdistill.report import summary_line
from mmdistill.resolve import SAVED_LAYER, Layer, explicit_values, rebuild_layers, resolve, unknown_key_error
from mmdistill.run import RunResult, distill
from mmdistill.schema import INHERITED_KEYS, DistillConfig, known_keys, values_before_keys
from mmdistill.stop_signals import terminate_as_interrupt
from mmdistill.synthetic import SyntheticSet
from mmdistill.tables import Table, load_table

log = logging.getLogger(__name__)
#: saved keys naming the networks a set is scored on: a refused value is an error in config_from_saved, not dropped
NETWORK_KEYS = ("network", "eval_networks")
#: a recipe's config class: ``Recipe[Config]``'s ``config()``, ``rebuild()`` and ``config_from_saved()`` return a ``Config``,
#: so a type checker sees the recipe's own keys (``image_dm.RECIPE.config(...).batch_real``), not DistillConfig's alone
ConfigT = TypeVar("ConfigT", bound=DistillConfig)


def inherited_values(saved: Mapping[str, Any], keys: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: saved[old]}`` for each key of :data:`~mmdistill.schema.INHERITED_KEYS` that the config has (``keys``) and
    the saved config lacks (written before the key existed, when its value was ``old``'s), unless ``changes`` set it."""
    out = {k: v for k, v in values_before_keys(saved, keys).items() if k not in changes}
    if out:
        log.info("saved config written before %s existed: %s (the values it was made with)", ", ".join(out),
                 ", ".join(f"{k}={v!r}" + (f" from {INHERITED_KEYS[k]}" if k in INHERITED_KEYS else "") for k, v in out.items()))
    return out


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _describe_config(cls: type) -> str:
    """``recipe image-dm's config (mmdistill.recipes.image_dm.Config)`` for a config class of a recipe module of this
    package (named after its recipe, ``_`` for ``-``), else the class alone (the core does not import the recipes)."""
    module, _, tail = cls.__module__.rpartition(".")
    if module in ("mmdistill.recipes", "recipes") and cls.__qualname__ == "Config":
        return f"recipe {tail.replace('_', '-')}'s config ({_qualified(cls)})"
    return f"a config of another class ({_qualified(cls)})"


@dataclass
class Recipe(Generic[ConfigT]):
    """Binds a config class (paper defaults), its tables and a matcher factory to a modality.

    ``tables`` are table files applied in order (a recipe module lists them with
    :func:`mmdistill.recipes.tables`, which appends the budget table)."""

    name: str
    modality: str
    method: str
    summary: str
    config_cls: type[ConfigT]
    make_matcher: Callable[[MatchContext], Matcher]
    tables: tuple[Path, ...] = ()
    make_optimizer: Callable[[SyntheticSet, Any], torch.optim.Optimizer] | None = None
    paper: str = ""
    #: names the tables may look rows up by, computed from the config's values (beside ``recipe``)
    table_context: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    _tables: tuple[Table, ...] | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ configuration
    def loaded_tables(self) -> tuple[Table, ...]:
        if self._tables is None:
            self._tables = tuple(load_table(path) for path in self.tables)
        return self._tables

    def budgets(self) -> list[str]:
        """``paper`` and the budgets the recipe's tables have rows for (``cpu``)."""
        out = ["paper"]
        for table in self.loaded_tables():
            out += [b for b in table.condition_values("budget", {"recipe": self.name}) if b not in out]
        return out

    def unknown_key(self, key: str, source: str, flag: str = "", close_flags: Sequence[str] = ()) -> ConfigError:
        """The error for a key this recipe's config does not have: its replacement, or that it does not apply
        here, or -- for a command-line ``flag`` with ``close_flags`` (the recipe's flags close to it) -- those flags,
        else the closest valid names."""
        replaced = self.config_cls.REPLACED_KEYS
        if key in replaced:
            return ConfigError(f"config key {key!r} (in {source}) does not apply to recipe {self.name}: use {replaced[key]}", key=key)
        if key in known_keys():
            return ConfigError(f"config key {key!r} (in {source}) does not apply to recipe {self.name}; "
                               f"`mmdistill run {self.name} --help` lists its keys", key=key)
        if flag and close_flags:  # a flag mistyped: answered in flags
            return ConfigError(f"unknown flag {flag} (no config key {key!r} in recipe {self.name}); did you mean "
                               f"{', '.join(close_flags)}? `mmdistill run {self.name} --help` lists the flags", key=key)
        return unknown_key_error(self.config_cls, key, source)

    def config(self, *layers: Layer, **overrides: Any) -> ConfigT:
        """The config from the class defaults, the recipe's table rows and the given layers (later winning),
        then keyword arguments."""
        all_layers = [*layers, ("arguments", overrides)] if overrides else list(layers)
        budget = "paper"
        for _, mapping in all_layers:
            budget = str(mapping.get("budget", budget))
        if budget not in self.budgets():
            raise ConfigError(f"config key budget={budget!r}: expected one of {', '.join(self.budgets())} (recipe {self.name})", key="budget")
        return resolve(self.config_cls, tables=self.loaded_tables(), layers=all_layers, context=self.lookup_context,
                       unknown=self.unknown_key)

    def lookup_context(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The names the table conditions use besides the config's keys: ``recipe`` and the recipe's own."""
        extra = dict(self.table_context(values)) if self.table_context is not None else {}
        return {**extra, "recipe": self.name}

    def rebuild(self, config: DistillConfig, overrides: Mapping[str, Any], layer: str = "arguments") -> ConfigT:
        """``config`` built again from its explicit keys plus ``overrides``: the tables are looked up again, so
        a changed ``ipc``, ``dataset`` or ``budget`` takes its own rows."""
        return self.config(*rebuild_layers(config, overrides, layer))

    def config_from_saved(self, saved: Mapping[str, Any], changes: Mapping[str, Any]) -> ConfigT:
        """The config of a saved run (its manifest's ``config``) with ``changes``. Saved keys this recipe no
        longer has, and saved values its declarations no longer accept, are dropped (logged); a saved network name
        that is refused (:data:`NETWORK_KEYS`: one no module of this process registers) is an error, never replaced
        by the default network. A key added since the run was saved that took another key's value before
        (:data:`~mmdistill.schema.INHERITED_KEYS`: ``split_seed`` was the run's ``seed``) takes that value, so the set is
        scored on the held-out split it was made with."""
        keys = input_keys(self.config_cls)
        kept = {k: v for k, v in saved.items() if k in keys and k not in changes}  # a change replaces the saved value
        kept.update(inherited_values(saved, keys, changes))
        gone = sorted(set(saved) - {info.name for info in key_infos(self.config_cls)})  # a derived key is not gone
        refused: list[str] = []
        while True:
            try:
                cfg = self.config((SAVED_LAYER, kept), ("changes", changes))
                break
            except ConfigError as exc:
                if exc.key is None or exc.key not in kept or exc.key in changes:
                    raise
                chosen_now = bool(changes.get("eval_networks") or changes.get("cross_arch"))  # the saved network is not scored
                if exc.key in NETWORK_KEYS and "unknown network" in str(exc) and not (exc.key == "network" and chosen_now):
                    # else the set would be scored on another network than it names, unnoticed
                    raise ConfigError(f"{exc} (the saved run's {exc.key}: import the package that registers it first, or "
                                      "score the set on other networks with --networks)", key=exc.key) from None
                refused.append(f"{exc.key}={kept.pop(exc.key)!r} ({exc})")
        if gone:
            log.info("saved keys recipe %s no longer has (ignored): %s", self.name, ", ".join(gone))
        if refused:
            log.info("saved values not taken with this configuration (their defaults are used): %s", "; ".join(refused))
        return cfg

    # ------------------------------------------------------------------ running
    def get_modality(self) -> Modality:
        return get_modality(self.modality)

    def run(self, config: DistillConfig | Mapping[str, Any] | None = None, *, stop_after: int | None = None,
            **overrides: Any) -> RunResult:
        """Run the recipe with ``config`` (or defaults updated by ``overrides``); returns the result.

        ``config`` is this recipe's config class (``RECIPE.config_cls``, the module's ``Config``), or a mapping of
        keys (read as keyword arguments are, before them: ``run({"ipc": 1}, budget="cpu")`` is
        ``run(ipc=1, budget="cpu")``), or None. With a config and ``overrides``, the config is rebuilt from its
        explicit keys plus ``overrides`` (:meth:`rebuild`), as is a config built directly (``Config(budget="cpu")``: its
        values that differ from the class defaults are explicit, the budget's and the tables' rows apply to the rest);
        another recipe's config is rebuilt the same way (so a key
        of its own that this recipe does not have is refused, naming both recipes). Anything else is a ConfigError.
        The keys, their types and defaults: ``help(<recipe module>.Config)``; the result's ``manifest["metrics"]`` holds
        the scores (accuracy, recall@k, HR@k ...) as fractions in [0, 1] (:class:`~mmdistill.run.RunResult`)."""
        config = self.run_config(config, overrides)
        return distill(self.name, self.method_of(config), config, self.get_modality(), self.make_matcher, self.make_optimizer,
                       stop_after=stop_after, paper=self.paper)

    def method_of(self, config: DistillConfig) -> str:
        """The method a run of ``config`` records: the recipe's, or the config's ``method`` when the recipe's method is
        one of that key's choices (``image-mtt method=tesla`` is TESLA, ``image-tesla method=mtt`` MTT)."""
        info = input_keys(self.config_cls).get("method")
        chosen = getattr(config, "method", None)
        choices = info.choices() if info is not None else None
        return str(chosen) if choices and self.method in choices and chosen in choices else self.method

    def run_config(self, config: Any, overrides: Mapping[str, Any]) -> ConfigT:
        """The config :meth:`run` runs for its arguments ``config`` and ``overrides`` (see there)."""
        if config is None:
            return self.config(**overrides)
        if isinstance(config, Mapping):
            return self.config(("the mapping passed to run", dict(config)), **overrides)
        if isinstance(config, self.config_cls):  # built directly (Config(budget="cpu")): rebuilt, so the tables apply
            return self.rebuild(config, overrides) if overrides or explicit_values(config) is None else config
        if isinstance(config, DistillConfig):
            try:
                return self.rebuild(config, overrides)
            except ConfigError as exc:
                raise ConfigError(f"recipe {self.name} was given {_describe_config(type(config))}, rebuilt as {self.name}'s "
                                  f"config ({_qualified(self.config_cls)}): {exc}", key=exc.key) from None
        if isinstance(config, str):
            got = f"the string {short_repr(config)} (a dataset name? run(dataset={short_repr(config)}, ...))"
        else:
            got = f"a {type(config).__qualname__} ({short_repr(config, 60)})"
        raise ConfigError(f"recipe {self.name}: run() takes its config ({_qualified(self.config_cls)}), a mapping of config "
                          f"keys, or keyword arguments (run(dataset='digits', ipc=1)); got {got}")

    # ------------------------------------------------------------------ command line
    def config_from_argv(self, argv: Sequence[str] | None) -> DistillConfig:
        from mmdistill.recipe_cli import config_from_argv

        return config_from_argv(self, argv)

    def main(self, argv: Sequence[str] | None = None, *, debug: bool = False) -> int:
        """Command-line entry point: an expected failure is one line and an exit code (:mod:`mmdistill.exits`),
        a traceback only with ``debug``; the ``mmdistill`` logger is given back as it was after (a kernel's ``%run``)."""
        with logging_given_back():
            start_entry_point(debug)
            callers_bars = progress_bars()
            try:
                with terminate_as_interrupt():  # SIGTERM checkpoints and stops as Ctrl-C does (exit 143)
                    cfg = self.config_from_argv(argv)
                    result = self.run(cfg)
            except EXPECTED as exc:
                if debug or not expected(exc):
                    raise
                return fail(exc, keep=callers_bars)
        if not is_lead_process():  # rank 0 of a torchrun run speaks for it
            return 0
        if "metrics" in result.manifest:
            print("\n" + summary_line(result.manifest))
        print(f"wrote {result.out_dir}")
        return 0


__all__ = ["ConfigT", "Recipe", "inherited_values", "known_keys"]
