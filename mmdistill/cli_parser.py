"""The argument parser every ``mmdistill`` command line is read with: :class:`Parser`, argparse's without abbreviated
flags (argparse's default takes ``--iter 3`` as ``--iterations 3`` and ``--hel`` as ``--help``, so a typo sets another
key silently, and a new key makes a working abbreviation ambiguous later), and :func:`unrecognized`, the message for
flags no command has, naming the closest (argparse names none); and ``mmdistill import``'s usage lines."""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from mmdistill.keys import close_matches


class Parser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` with ``allow_abbrev=False`` unless asked; the subcommands' parsers made by its
    ``add_subparsers().add_parser`` are of this class too (argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, allow_abbrev: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)


def close_flags(parser: argparse.ArgumentParser, flag: str) -> list[str]:
    """The flags of ``parser`` closest to ``flag`` (``--iter`` -> ``--iterations``), compared without their leading
    dashes (which every flag shares: with them, ``--bogus`` would be close to ``--out``)."""
    flags = [f[2:] for f in parser._option_string_actions if f.startswith("--")]  # noqa: SLF001 - argparse keeps no public map
    return ["--" + f for f in close_matches(flag.lstrip("-"), flags)]


def unrecognized(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """argparse's ``unrecognized arguments: ...`` for the tokens ``extra`` that ``parser`` (the command's) did not take,
    followed, for each flag among them, by the closest flags of ``parser`` (``--run: did you mean --runs?``)."""
    hints = []
    for token in extra:
        name = token.split("=", 1)[0]
        if name.startswith("--") and (close := close_flags(parser, name)):
            hints.append(f"{name}: did you mean {', '.join(close)}?")
    return f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else "")


def import_usage() -> str:
    """``mmdistill import``'s usage lines (:data:`mmdistill.reference_cli.USAGE`, not imported here: it loads torch)."""
    return ("mmdistill import RECIPE FILE [--labels FILE] [--experiment N] [--syn-lr LR|FILE] [--stats reference|unit|M,../S,..]\n"
            "    [--zca no|yes] [--subset NAME] --dataset NAME [--data-root DIR] --out DIR [recipe keys]   DC's res_*.pt, MTT's images_*.pt\n"
            "mmdistill import RECIPE MTT_BUFFER_DIR [--zca no|yes] [--subset NAME] --dataset NAME --buffer NEW_DIR [recipe keys]   MTT's experts\n"
            "Files are read with torch.load(weights_only=True) only. README: 'Sets and experts from the reference code'.")


__all__ = ["Parser", "close_flags", "import_usage", "unrecognized"]
