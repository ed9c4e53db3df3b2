"""The values a run will use and where each comes from, as ``--help`` and ``--print-config`` say them.

``mmdistill run RECIPE --dataset cifar10 --ipc 1 --help`` shows, beside each key, the value that run would use and its
origin (:func:`value_origin`: the table row, ``tables/mtt.yaml: dataset cifar10, ..., ipc 1``; or "set by you" with
the layer that gave it; or the config class's default). ``--print-config`` prints the same values and origins as a
YAML file (:func:`config_text`) that ``--config`` reads back: the keys the user set as values, the others as commented
lines, so the file read back sets only what the user set and a table row still follows another ``--ipc``. Both read
the origins here, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import yaml

from mmdistill.keys import KeyInfo, clipped, plain_value
from mmdistill.resolve import config_sources, explicit_values

#: the flags argparse prints the help for
HELP_FLAGS = ("-h", "--help")


def value_origin(cfg: Any, name: str) -> tuple[str, bool]:
    """Where the value of key ``name`` of ``cfg`` comes from, and whether the user set it: ``("command-line flags",
    True)``, ``("my.yaml", True)``; ``("tables/mtt.yaml: dataset cifar10, recipe image-mtt/image-tesla, ipc 1", False)``
    (the row, without its citation); ``("", False)`` for the config class's default."""
    explicit = explicit_values(cfg) or {}
    if name in explicit:
        return explicit[name][1], True
    source = config_sources(cfg).get(name)
    return (source.split(" (")[0], False) if source else ("", False)


def origin_words(cfg: Any, name: str) -> str:
    """:func:`value_origin` in words: ``set by you (command-line flags)``, ``from tables/mtt.yaml: ...``, ``the default``."""
    origin, given = value_origin(cfg, name)
    if given:
        return f"set by you ({origin})"
    return f"from {origin}" if origin else "the default"


def given_arguments(tokens: Sequence[str]) -> list[str]:
    """The command-line ``tokens`` without the help flags (those before ``--``): the arguments whose run ``--help``
    describes; empty when only ``--help`` was given."""
    end = tokens.index("--") if "--" in tokens else len(tokens)
    return [t for i, t in enumerate(tokens) if i >= end or t not in HELP_FLAGS]


def asks_help(tokens: Sequence[str]) -> bool:
    """Whether ``tokens`` ask for the help (``-h``/``--help`` before any ``--``)."""
    return len(given_arguments(tokens)) < len(tokens)


def config_text(cfg: Any, keys: Iterable[KeyInfo], command: str, title: Any = None) -> str:
    """The YAML file of ``cfg``'s ``keys`` (in that order) that ``--print-config`` prints for ``command`` (the command
    line it was given): a key the user set (flags, ``--config``, ``key=value``) as ``key: value  # set by you (...)``;
    any other as the comment ``# key: value  # from tables/X.yaml: <row>`` or ``# key: value  # the default``, so
    ``--config`` reads back only the keys the user set: the same config for the same arguments, and the table rows of
    another ``--dataset``, ``--ipc`` or ``--budget`` (a pinned row value would have outlived them). Taking the ``# ``
    off a line sets that key. ``title(info)``, when given, names a key's group; a comment line opens each group."""
    lines = ["# " + command.replace("\n", "\n# "),  # a value with a line break must not end the comment
             "# the config this run would use; after each value, where it comes from: set by you (on the command line or in",
             "# --config), a table row of recipes/tables/, or the default. Only the keys set by you are YAML lines; the others",
             "# are commented out, so --config FILE reads back the keys you set and the table rows of another --dataset, --ipc",
             "# or --budget still apply. Take the '# ' off a line to set that key too."]
    group = None
    for info in keys:
        if title is not None and title(info) != group:
            group = title(info)
            lines.append(f"# --- {clipped(group, 110)}")
        dumped = yaml.safe_dump(plain_value(getattr(cfg, info.name)), default_flow_style=True, width=10**9,
                                allow_unicode=True).rstrip("\n")
        dumped = dumped[: -len("\n...")] if dumped.endswith("\n...") else dumped  # a lone scalar's end-of-document mark
        mark = "" if value_origin(cfg, info.name)[1] else "# "
        dumped = dumped.replace("\n", "\n" + mark)  # a quoted string's later lines: commented out too
        lines.append(f"{mark}{info.name}: {dumped}  # {origin_words(cfg, info.name)}")
    return "\n".join(lines) + "\n"


__all__ = ["HELP_FLAGS", "asks_help", "config_text", "given_arguments", "origin_words", "value_origin"]
