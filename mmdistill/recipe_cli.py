"""A recipe's command line: one flag per key, its help written from the key's declaration.

Each key's line says what it is, its unit, what it accepts and its default for the recipe — the class default,
or the table row it comes from (``default 1000 from tables/mtt.yaml: dataset cifar10/*, ipc 10``) —, the other table
rows that set it (``rows of tables/gcond.yaml set it for: dataset ogbn-arxiv | dataset flickr``: the default is a run's
with no ``--dataset``, ``--ipc`` ... given) and the CPU budget's value where that differs. Given after a run's arguments
(``--dataset cifar10 --ipc 1 --help``), the help gives instead the value that run would use and where it comes from,
and ``--print-config`` prints those values as a YAML file (:mod:`mmdistill.run_values`). Keys are grouped by the family that declares them. A flag the recipe
does not have is an error that says whether it does not apply to this recipe or has a replacement.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Collection, Mapping, Protocol, Sequence

from mmdistill.cli_parser import Parser, close_flags, unrecognized
from mmdistill.config import load_yaml, parse_overrides
from mmdistill.errors import ConfigError
from mmdistill.keys import KeyInfo, input_keys
from mmdistill.resolve import Layer, config_sources
from mmdistill.run_values import asks_help, config_text, given_arguments, origin_words, value_origin
from mmdistill.schema import DistillConfig
from mmdistill.tables import WILDCARD, load_table, normalize_name

log = logging.getLogger(__name__)


class Recipe(Protocol):
    """What the command line needs of a :class:`mmdistill.recipe.Recipe`."""

    name: str
    summary: str
    paper: str
    tables: tuple[Path, ...]

    @property
    def config_cls(self) -> type[DistillConfig]: ...  # read-only: a Recipe[Config]'s is a type[Config]

    def budgets(self) -> list[str]: ...

    def config(self, *layers: Layer, **overrides: Any) -> DistillConfig: ...

    def unknown_key(self, key: str, source: str, flag: str = "", close_flags: Sequence[str] = ()) -> ConfigError: ...


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(empty)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


#: at most this many rows are named in a key's help line; more are counted, with the names they are looked up by
ROWS_NAMED = 4


def table_rows(recipe: Recipe) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    """Key -> (``tables/X.yaml: <row label>``, the label without its ``recipe`` condition, the row's condition names) of
    every row of ``recipe``'s tables that sets the key and can apply to it: rows of another recipe are left out, and so
    are the budget rows (a key's line gives the cpu value itself)."""
    out: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for path in recipe.tables:
        table = load_table(path)
        for row in table.rows:
            conds = dict(row.names)
            mine = conds.get("recipe", (WILDCARD,))
            if "budget" in conds or (WILDCARD not in mine and normalize_name(recipe.name) not in mine):
                continue
            shown = ", ".join(part for part in row.label.split(", ") if not part.startswith("recipe ")) or "every run"
            names = tuple(c for c in conds if c != "recipe") + (("ipc",) if row.ipc is not None else ())
            for name in row.values:
                out.setdefault(name, []).append((f"{table.name}: {row.label}", shown, names))
    return out


def rows_note(rows: Sequence[tuple[str, str, tuple[str, ...]]], source: str | None) -> str:
    """What a key's help line says of the table rows that set it besides the one its default comes from (``source``):
    ``--help`` shows the defaults of a run with no ``--dataset``, ``--ipc`` ..., which those rows change."""
    others = [row for row in rows if not (source or "").startswith(row[0] + " (")]
    if not others:
        return ""
    where = " and ".join(sorted({row[0].split(":")[0] for row in others}))
    other = "other " if source is not None and len(others) < len(rows) else ""
    if len(others) <= ROWS_NAMED:
        return f"; {other}rows of {where} set it for: {' | '.join(row[1] for row in others)}"
    names = sorted({name for row in others for name in row[2]})
    return f"; {len(others)} {other}rows of {where} set it by {', '.join(names) or 'run'}"


def key_help(info: KeyInfo, default: DistillConfig, cpu: DistillConfig | None,
             rows: Sequence[tuple[str, str, tuple[str, ...]]] = (), run: bool = False) -> str:
    """The help line of one key (``%`` escaped for argparse); ``rows``: the table rows that set it (:func:`table_rows`),
    named after its default, which a run's ``--dataset``, ``--ipc`` ... can change. With ``run``, ``default`` is the
    config of the arguments given before ``--help`` and the line says its value for that run and where it comes from
    (:func:`mmdistill.run_values.origin_words`); ``cpu`` is then that run's with ``--budget cpu``."""
    text = info.help
    if info.name == "budget" and cpu is None:  # the generic help offers cpu, which this recipe's choices refuse
        text = "paper: the paper's settings, this recipe's only budget (no rows of tables/budgets.yaml)"
    accepted = info.describe_accepted()
    if accepted and info.type is not bool:
        text += f"; {accepted}"
    value = getattr(default, info.name)
    source = config_sources(default).get(info.name)
    if run:
        text += f"; this run: {_show(value)}, {origin_words(default, info.name)}" + rows_note(rows, source)
    else:
        origin = value_origin(default, info.name)[0]  # the table row without its citation, as a run's help says it
        text += f"; default {_show(value)}" + (f" from {origin}" if origin else "") + rows_note(rows, source)
    if cpu is not None and info.name != "budget" and getattr(cpu, info.name) != value:
        text += f"; --budget cpu: {_show(getattr(cpu, info.name))}"
    if not info.resume and info.name != "resume":
        text += f"; {info.resume_note or 'may differ on --resume'}"
    return text.replace("%", "%%")


def group_title(family: type) -> str:
    """The first sentence of a key family's docstring."""
    text = (family.__doc__ or family.__name__).strip().split("\n\n")[0]
    return " ".join(text.split()).split(". ")[0].rstrip(".")


def ordered_keys(cls: type) -> list[KeyInfo]:
    """The input keys of ``cls`` by family (``HELP_ORDER``, then the family's place in the class), in field order."""
    keys = list(input_keys(cls).values())
    mro = list(cls.__mro__)
    return sorted(keys, key=lambda k: (getattr(k.owner, "HELP_ORDER", 5), -mro.index(k.owner)))


def argument_parser(recipe: Recipe, prog: str | None = None, run: DistillConfig | None = None,
                    given: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The recipe's parser: ``--config FILE``, ``--print-config``, one flag per key (grouped by family), ``key=value``
    overrides. Its help gives each key's default, or with ``run`` (the config of the arguments ``given``) the value that
    run would use and where it comes from."""
    budgets = recipe.budgets()
    if run is None:
        values = ("A key's default below is a run's with no --dataset, --ipc ... given; the table rows that change it are "
                  "named beside it. ")
    else:
        values = (f"The values below are those of this run ({' '.join(given)}), each with the table row it comes from, or "
                  "'set by you', or 'the default'; --print-config prints them as a YAML file. ")
    parser = Parser(
        prog=prog or f"mmdistill run {recipe.name}",
        description=f"{recipe.summary}{' — ' + recipe.paper if recipe.paper else ''}. Defaults are the paper's (from the "
        f"config class and the recipe's tables: {', '.join('tables/' + p.name for p in recipe.tables) or 'none'})"
        + (f"; --budget {'/'.join(b for b in budgets if b != 'paper')} shrinks the run for a CPU. " if len(budgets) > 1 else
           " (no CPU budget: choose smaller keys yourself). ") +
        values + "Extra key=value pairs override any key; a value set explicitly always wins over a table row. --resume "
        "continues a checkpoint only with the same values of the keys that shape the distillation: those not marked "
        "'may differ on --resume'.",
    )
    parser.add_argument("--config", help="YAML file of key: value pairs, or a finished run's folder: the keys that run was "
                        "given (a sweep's chosen run; add validation=0 to score them on the test split)", default=None)
    parser.add_argument("--print-config", action="store_true", help="print the config this run would use as a YAML file "
                        "(each value with where it comes from: set by you, a table row, the default) and stop; the keys "
                        "you did not set are commented out, so --config reads back the keys you set and another --ipc "
                        "still takes its table row")
    default = recipe.config() if run is None else run
    cpu = None
    if "cpu" in budgets and getattr(default, "budget", None) != "cpu":
        try:
            cpu = recipe.config(budget="cpu") if run is None else recipe.rebuild(run, {"budget": "cpu"})
        except ConfigError as exc:  # a value the user set that the cpu budget's rows refuse: the help of this run is still given
            log.debug("no --budget cpu values in the help: %s", exc)
    rows = table_rows(recipe)
    groups: dict[type, argparse._ArgumentGroup] = {}
    for info in ordered_keys(recipe.config_cls):
        if info.owner not in groups:
            groups[info.owner] = parser.add_argument_group(group_title(info.owner))
        group = groups[info.owner]
        flag = "--" + info.name.replace("_", "-")
        help_text = key_help(info, default, cpu, rows.get(info.name, ()), run=run is not None)
        if info.type is bool:
            group.add_argument(flag, dest=info.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            choices = budgets if info.name == "budget" else None
            group.add_argument(flag, dest=info.name, default=None, metavar=info.name.upper(), choices=choices, help=help_text)
        if info.name == "baselines":  # as `mmdistill eval --no-baselines` says it
            group.add_argument("--no-baselines", dest=info.name, action="store_const", const="", help="evaluate the set alone (baselines= empty); default off")
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    return parser


def _warn_repeated_flags(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> None:
    """Log one warning per flag given more than once (``--ipc 3 ... --ipc 4``: argparse keeps the last, silently), as
    for a key given twice as ``key=value``."""
    seen: dict[str, list[str]] = {}
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("--"):
            continue
        action = parser._option_string_actions.get(token.split("=", 1)[0])  # noqa: SLF001 - argparse keeps no public map
        if action is not None and action.dest not in ("help", "overrides"):
            seen.setdefault(action.dest, []).append(token.split("=", 1)[0])
    for dest, given in seen.items():
        if len(given) > 1:
            log.warning("flag %s given %d times (%s); the last one is used", given[-1], len(given), ", ".join(given))


def hyphenated_flags(tokens: Sequence[str], flags: Collection[str]) -> list[str]:
    """``tokens`` with each flag spelled with a key's underscores (``--expert_train_epochs``, ``--data_root=x``) written
    as the flag of ``flags`` it spells (``--expert-train-epochs``); other tokens (values, ``key=value``, a misspelt
    flag: refused as it was given, never matched as an abbreviation), and everything after ``--``, unchanged. Every
    command reads its arguments through it."""
    out: list[str] = []
    for i, token in enumerate(tokens):
        if token == "--":
            return out + list(tokens[i:])
        name, eq, value = token.partition("=")
        flag = name.replace("_", "-")
        out.append(flag + eq + value if name.startswith("--") and "_" in name and flag in flags else token)
    return out


def config_from_argv(recipe: Recipe, argv: Sequence[str] | None, prog: str | None = None) -> DistillConfig:
    """The config of ``mmdistill run RECIPE ARGS``: YAML file, flags, then ``key=value`` overrides. ``prog`` names the
    command in the usage line (``mmdistill experts RECIPE``); with ``argv`` None (the recipe run as a script) it is
    ``python SCRIPT``."""
    if prog is None and argv is None:
        prog = f"python {sys.argv[0]}"
    parser = argument_parser(recipe, prog)
    tokens = hyphenated_flags(list(argv) if argv is not None else sys.argv[1:], parser._option_string_actions)  # noqa: SLF001
    given = given_arguments(tokens)
    if asks_help(tokens) and given:  # the help of this run: its config is built (and checked) as the run's is, by this parser
        run = _parsed_config(recipe, parser, given)
        described = argument_parser(recipe, parser.prog, run=run, given=given)
        described.print_help()
        described.exit()
    return _parsed_config(recipe, parser, tokens)


def _parsed_config(recipe: Recipe, parser: argparse.ArgumentParser, tokens: Sequence[str]) -> DistillConfig:
    """The config of ``tokens`` (flags spelt as ``parser``'s, :func:`hyphenated_flags`) read by ``parser`` (the recipe's
    :func:`argument_parser`, built once per command line), as :func:`config_from_argv` describes; ``--print-config``
    prints it and exits."""
    _warn_repeated_flags(parser, tokens)
    args, unknown = parser.parse_known_args(tokens)
    late = [t for t in unknown if not t.startswith("-") and "=" in t]  # key=value given after a flag
    unknown = [t for t in unknown if t not in late]
    for token in unknown:
        if set(close_flags(parser, token.split("=", 1)[0])) & {"--help", "--config", "--print-config"}:
            parser.error(unrecognized(parser, [token]))  # --hel, --conf: the command's own flags, not keys
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            name = flag[2:]
            name = (name[3:] if name.startswith("no-") and name[3:].replace("-", "_") not in input_keys(recipe.config_cls) else name).replace("-", "_")
            raise recipe.unknown_key(name, "command-line flags", flag, close_flags(parser, flag))
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    from mmdistill.chosen_run import manifest_path, run_layer, warn_unlike_run  # reads JSON through torch's io: not at import

    layers: list[Layer] = []
    chosen = manifest_path(args.config) if args.config else None  # --config DIR: a finished run's keys (mmdistill.chosen_run)
    if chosen is not None:
        layer, saved = run_layer(chosen, recipe.name)
        layers.append(layer)
    elif args.config:
        layers.append((args.config, load_yaml(args.config)))
    flags: Mapping[str, Any] = {k: v for k, v in vars(args).items() if k not in ("config", "overrides", "print_config") and v is not None}
    layers.append(("command-line flags", flags))
    layers.append(("key=value overrides", parse_overrides([*args.overrides, *late])))
    cfg = recipe.config(*layers)
    if chosen is not None:
        warn_unlike_run(cfg, saved, layer[0], {k.replace("-", "_") for _, later in layers[1:] for k in later})
    if args.print_config:
        shown = shlex.join(t for t in tokens if t != "--print-config")  # a command the shell takes back
        print(config_text(cfg, ordered_keys(recipe.config_cls), f"{parser.prog} {shown}".rstrip(),
                          lambda info: group_title(info.owner)), end="")
        parser.exit()
    return cfg


__all__ = ["argument_parser", "config_from_argv", "hyphenated_flags", "key_help"]
