"""A recipe: one method on one modality, with the paper's defaults as a config dataclass.

A recipe module builds one :class:`Recipe` and exposes ``run`` and ``main`` from it, so it is importable
(``from mmdistill.recipes import image_dm; image_dm.run(ipc=1)``), runnable as a script
(``python recipes/image_dm.py --ipc 1``) and reachable from the CLI (``mmdistill run image-dm --ipc 1``).
Configuration layers, later winning: the dataclass defaults (the paper), the ``budget`` preset, a YAML
file (``--config``), ``--key value`` flags and bare ``key=value`` overrides.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from mmdistill.config import build_config, load_yaml, parse_overrides
from mmdistill.errors import ConfigError
from mmdistill.exits import EXPECTED, fail
from mmdistill.logs import configure_logging
from mmdistill.loop import Matcher
from mmdistill.modality import Modality, get_modality
from mmdistill.schema import DistillConfig
from mmdistill.context import MatchContext
from mmdistill.run import RunResult, distill
from mmdistill.report import summary_line
from mmdistill.synthetic import SyntheticSet


@dataclass
class Recipe:
    """Binds a config class (paper defaults), budget presets and a matcher factory to a modality."""

    name: str
    modality: str
    method: str
    summary: str
    config_cls: type[DistillConfig]
    make_matcher: Callable[[MatchContext], Matcher]
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    make_optimizer: Callable[[SyntheticSet, DistillConfig], torch.optim.Optimizer] | None = None
    paper: str = ""

    # ------------------------------------------------------------------ configuration
    def config(self, *layers: tuple[str, Mapping[str, Any]], **overrides: Any) -> DistillConfig:
        """The config from defaults, the budget preset (named in any layer) and the given layers."""
        all_layers = [*layers, ("arguments", overrides)] if overrides else list(layers)
        budget = "paper"
        for _, mapping in all_layers:
            budget = str(mapping.get("budget", budget))
        if budget != "paper" and budget not in self.budgets:
            raise ConfigError(f"recipe {self.name} has no budget {budget!r}; choose from {['paper', *self.budgets]}")
        preset = self.budgets.get(budget, {})
        return build_config(self.config_cls, (f"budget {budget!r}", preset), *all_layers)

    # ------------------------------------------------------------------ running
    def get_modality(self) -> Modality:
        return get_modality(self.modality)

    def run(self, config: DistillConfig | None = None, *, stop_after: int | None = None, **overrides: Any) -> RunResult:
        """Run the recipe with ``config`` (or defaults updated by ``overrides``); returns the result."""
        if config is None:
            config = self.config(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        return distill(self.name, self.method, config, self.get_modality(), self.make_matcher, self.make_optimizer, stop_after=stop_after,
                       paper=self.paper)

    # ------------------------------------------------------------------ command line
    def argument_parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=prog or f"mmdistill run {self.name}",
            description=f"{self.summary}{' — ' + self.paper if self.paper else ''}. Defaults are the paper's; "
            f"--budget {'/'.join(self.budgets) or 'cpu'} shrinks the run for a CPU. Extra key=value pairs override any key.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        parser.add_argument("--config", help="YAML file of key: value pairs", default=None)
        hints = typing.get_type_hints(self.config_cls)
        defaults = self.config_cls()
        for f in dataclasses.fields(self.config_cls):
            flag = "--" + f.name.replace("_", "-")
            tp = hints[f.name]
            default = getattr(defaults, f.name)
            if tp is bool:
                parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=f"(default {default})")
            else:
                choices = None
                if f.name == "budget":
                    choices = ["paper", *self.budgets]
                parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), choices=choices, help=f"(default {default})")
        parser.add_argument("overrides", nargs="*", help="key=value overrides")
        return parser

    def config_from_argv(self, argv: Sequence[str] | None) -> DistillConfig:
        args = self.argument_parser().parse_intermixed_args(list(argv) if argv is not None else None)  # key=value anywhere
        layers: list[tuple[str, Mapping[str, Any]]] = []
        if args.config:
            layers.append((args.config, load_yaml(args.config)))
        flags = {k: v for k, v in vars(args).items() if k not in ("config", "overrides") and v is not None}
        layers.append(("command-line flags", flags))
        layers.append(("key=value overrides", parse_overrides(args.overrides)))
        return self.config(*layers)

    def main(self, argv: Sequence[str] | None = None, *, debug: bool = False) -> int:
        """Command-line entry point: an expected failure is one line and an exit code (:mod:`mmdistill.exits`),
        a traceback only with ``debug``."""
        configure_logging(debug)
        try:
            cfg = self.config_from_argv(argv)
            result = self.run(cfg)
        except EXPECTED as exc:
            if debug:
                raise
            return fail(exc)
        if "metrics" in result.manifest:
            print("\n" + summary_line(result.manifest))
        print(f"wrote {result.out_dir}")
        return 0
