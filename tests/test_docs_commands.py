"""Every command line the documentation shows parses as written, and the CLI's help names what it takes.

The commands are read from README.md and docs/*.md (and any modality's or recipe's README): fenced shell blocks,
indented code blocks and inline code that start with ``mmdistill SUB``, ``-m mmdistill``, ``python recipes/X.py`` or
``python benchmarks/X.py``. Parsing only — argparse and the key declarations, nothing runs: the subcommand exists,
the recipe exists (and has experts for ``mmdistill experts``), every ``--flag`` is one the subcommand, recipe or
benchmark script accepts, and every ``key=value`` names a key of the recipe (for ``eval``: an evaluation key).
docs/results.md is left out: it records the commands that ran, so a flag renamed since gets a note there, not a
rewrite. ``...``, ``[optional]`` parts and upper-case placeholders (``DIR``, ``K``) are read as the docs mean them.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
from functools import lru_cache
from pathlib import Path

import pytest

from mmdistill.cli import build_parser, main as cli_main
from mmdistill.keys import input_keys, key_infos
from mmdistill.recipe_cli import argument_parser
from mmdistill.recipes import RECIPES, TRAJECTORY_RECIPES, get_recipe

ROOT = Path(__file__).resolve().parents[1]
RECORDS = {"docs/results.md"}  # what ran, with the flags of the day
DOCS = sorted(p for p in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("modalities/*/README.md"),
                          *ROOT.glob("recipes/*/README.md")] if p.relative_to(ROOT).as_posix() not in RECORDS)

COMMAND = re.compile(r"(?:(?<=\s)|^)((?:\S*/)?mmdistill\s+(?:--debug\s+)?(?:run|eval|experts|show|compare|merge|check|export|recipes|import|continual)\b"
                     r"|-m\s+mmdistill\b|python3?\s+(?:\S*/)?(?:benchmarks|recipes)/\w+\.py\b)")
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
PLACEHOLDER = re.compile(r"^(<[^>]*>.*|[A-Z][A-Z0-9_]*)$")  # <recipe>, RECIPE, DIR, K


def _comment_free(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _commands_in(text: str) -> list[str]:
    out = []
    for part in re.split(r"\s+&&\s+|;\s+|\s+\|\s+|, then\s+", _comment_free(text)):
        found = COMMAND.search(part)
        if found and not re.fullmatch(r"\S*mmdistill (run|eval|experts|show|compare|merge|check|export|import|continual)", part[found.start():].strip()):
            out.append(part[found.start():].strip())  # a bare "mmdistill show" names the subcommand in prose
    return out


def extract(path: Path) -> list[tuple[int, str]]:
    """(line, command) of every command line in a markdown file."""
    found: list[tuple[int, str]] = []
    prose: list[str] = []
    fence: str | None = None
    pending, start = "", 0
    for number, line in enumerate(path.read_text().split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip().lower() if fence is None else None
            prose.append("")
            continue
        code = (fence is not None and fence in SHELL_FENCES) or (fence is None and (
            pending or (line.startswith("    ") and COMMAND.match(stripped))))
        if fence is not None or code:
            prose.append("")
        else:
            prose.append(line)
        if not code:
            continue
        start = start if pending else number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        found += [(start, c) for c in _commands_in(pending + stripped)]
        pending = ""
    text = "\n".join(prose)
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        if "\n\n" not in span.group(1):
            line = text.count("\n", 0, span.start()) + 1
            found += [(line, c) for c in _commands_in(" ".join(span.group(1).split()))]
    return found


def tokens(command: str) -> list[str]:
    """The command's words with the docs' shorthand read: ``[--runs 10]`` -> ``--runs 10``, ``...`` dropped (a value
    after a flag), wrappers before the program (``OMP_NUM_THREADS=1``, ``torchrun ...``) dropped."""
    words = shlex.split(command.replace("…", "..."))
    out: list[str] = []
    for word in words:
        word = word.strip("[]") if re.fullmatch(r"\[?[^\[\]]*\]?", word) else word
        if word == "...":
            if out and out[-1].startswith("--") and "=" not in out[-1]:
                out.append("VALUE")
            elif out and out[-1] in ("run", "experts"):
                out.append("RECIPE")
            continue
        if word:
            out.append(word)
    return out


def _program(words: list[str]) -> tuple[str, list[str]]:
    """('mmdistill', args) or ('recipes/x.py' / 'benchmarks/x.py', args)."""
    for i, word in enumerate(words):
        if word == "-m" and words[i + 1:i + 2] == ["mmdistill"] or re.search(r"(^|/)mmdistill$", word) and word != "-m":
            rest = words[i + 2:] if word == "-m" else words[i + 1:]
            return "mmdistill", rest
        if re.search(r"(benchmarks|recipes)/\w+\.py$", word) and i and re.search(r"python3?$", words[i - 1]):
            return re.sub(r"^.*?((benchmarks|recipes)/)", r"\1", word), words[i + 1:]
    raise AssertionError(f"no program in {words}")


@lru_cache(maxsize=None)
def _recipe_parser(name: str) -> argparse.ArgumentParser:
    return argument_parser(get_recipe(name))


def _recipe_problems(name: str, args: list[str]) -> list[str]:
    parser = _recipe_parser(name)
    try:
        parsed, unknown = parser.parse_known_args(args)
    except SystemExit as exc:  # --help exits 0
        return [] if exc.code == 0 else [f"mmdistill run {name} refuses {args} (an invalid choice or a flag without its value)"]
    keys = input_keys(get_recipe(name).config_cls)
    problems = [f"{name} has no flag {t.split('=')[0]}" for t in unknown if t.startswith("-")]
    pairs = [*parsed.overrides, *[t for t in unknown if "=" in t and not t.startswith("-")]]
    for pair in pairs:
        key = pair.split("=", 1)[0].replace("-", "_")
        if "=" not in pair:
            problems.append(f"{pair!r} is neither a flag nor key=value")
        elif key not in keys and not PLACEHOLDER.match(key):
            problems.append(f"{name} has no key {key}")
    return problems


def _evaluation_keys() -> set[str]:
    out: set[str] = set()
    for name in RECIPES:
        out |= {info.name for info in key_infos(get_recipe(name).config_cls) if not info.resume}
    return out


def mmdistill_problems(args: list[str]) -> list[str]:
    args = args[1:] if args[:1] == ["--debug"] else args
    if args[:1] == ["import"] and len(args) > 1 and not args[1].startswith("-"):  # its own options, then the recipe's keys
        from mmdistill.reference_cli import import_parser

        own, rest = import_parser().parse_known_args(args[2:])
        return mmdistill_problems(["run", args[1], *rest])
    if args[:1] in (["run"], ["experts"]):
        if len(args) < 2 or args[1].startswith("-"):
            return [] if {"-h", "--help"} & set(args) else [f"mmdistill {args[0]} without a recipe"]
        name = args[1]
        if PLACEHOLDER.match(name):
            return []  # mmdistill run <recipe> ...: a pattern, not a command
        if name.replace("_", "-") not in RECIPES:
            return [f"no recipe {name}"]
        if args[0] == "experts" and name.replace("_", "-") not in TRAJECTORY_RECIPES:
            return [f"{name} has no experts"]
        return _recipe_problems(name.replace("_", "-"), args[2:])
    try:
        parsed, extra = build_parser().parse_known_args(args)
    except SystemExit:
        return [f"mmdistill refuses {args}"]
    if parsed.command == "eval":
        pairs = [*getattr(parsed, "key=value"), *[t for t in extra if "=" in t and not t.startswith("-")]]
        extra = [t for t in extra if t not in pairs]
        unknown = {p.split("=", 1)[0] for p in pairs} - _evaluation_keys()
        if unknown - {k for k in unknown if PLACEHOLDER.match(k)}:
            return [f"mmdistill eval takes no key {sorted(unknown)}"]
    if parsed.command == "continual":  # the recipe's keys, as for run
        pairs = [*getattr(parsed, "key=value"), *[t for t in extra if "=" in t and not t.startswith("-")]]
        extra = [t for t in extra if t not in pairs]
        if PLACEHOLDER.match(parsed.recipe):
            return []
        if parsed.recipe not in RECIPES:
            return [f"no recipe {parsed.recipe}"]
        unknown = {p.split("=", 1)[0].replace("-", "_") for p in pairs} - set(input_keys(get_recipe(parsed.recipe).config_cls))
        if unknown:
            return [f"mmdistill continual {parsed.recipe} takes no key {sorted(unknown)}"]
    return [f"mmdistill {parsed.command} has no argument {t}" for t in extra]


@lru_cache(maxsize=None)
def benchmark_options(script: str) -> set[str]:
    """The option strings a benchmark script's argparse declares (read from its source; nothing is imported)."""
    options: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / script).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            options |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")}
    return options | {"-h", "--help"}


def command_problems(command: str) -> list[str]:
    program, args = _program(tokens(command))
    if program == "mmdistill":
        return mmdistill_problems(args)
    if not (ROOT / program).is_file():
        return [f"{program} does not exist"]
    if program.startswith("recipes/"):
        names = [n for n, (module, _) in RECIPES.items() if module == Path(program).stem]
        return _recipe_problems(names[0], args) if names else [f"{program} is no recipe"]
    declared = benchmark_options(program)
    return [f"{program} has no flag {t.split('=')[0]}" for t in args if t.startswith("-") and t.split("=")[0] not in declared]


COMMANDS = [pytest.param(command, id=f"{path.relative_to(ROOT).as_posix()}:{line}") for path in DOCS
            for line, command in extract(path)]


def test_the_docs_show_commands():
    readme = [c for c in COMMANDS if c.id.startswith("README.md:")]
    assert len(readme) > 50  # the extraction still finds the README's command lines
    assert any(c.values[0].startswith("python benchmarks/") for c in readme)


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_parses(command):
    assert not command_problems(command), command


def test_a_drifted_command_is_caught():
    """The check itself: a renamed flag, an unknown key, a recipe that is gone, a benchmark flag that is not there."""
    assert command_problems("mmdistill run image-dm --dataset digits --ipcs 10")
    assert command_problems("mmdistill run image-dm --budget cpu lr_dataa=0.5")
    assert command_problems("mmdistill run graph-gcond --dsa")
    assert command_problems("mmdistill run image-dmx --ipc 1")
    assert command_problems("mmdistill experts image-dm --buffer b")
    assert command_problems("mmdistill eval runs/x --rnus 3")
    assert command_problems("mmdistill eval runs/x dsa_strategy=none")
    assert command_problems("python benchmarks/video_moving_digits.py --method dm")
    assert command_problems("python recipes/image_dm.py --bogus 1")
    assert not command_problems("torchrun --standalone --nproc_per_node 2 -m mmdistill eval runs/image-dm-... --runs 4 --vectorize 1")


def _run_folders(path: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """The folders the file's ``mmdistill run`` commands write (``--out`` or the recipe's default), and the
    ``runs/...`` folders its eval/show/check/export commands read."""
    written, read = set(), []
    for line, command in extract(path):
        program, args = _program(tokens(command))
        if program != "mmdistill" or not args:
            continue
        if args[0] == "run" and len(args) > 1 and args[1] in RECIPES and not {"-h", "--help"} & set(args):
            try:
                cfg = get_recipe(args[1]).config_from_argv([a for a in args[2:] if a != "--config" and not a.endswith(".yaml")])
            except (Exception, SystemExit):  # noqa: BLE001 - --help, or a command test_documented_command_parses judges
                continue
            written.add(str(cfg.out_dir(args[1])))
        elif args[0] in ("eval", "show", "check", "export") and len(args) > 1 and re.fullmatch(r"runs/[\w.-]+", args[1]) \
                and "..." not in args[1]:
            read.append((line, args[1]))
    return written, read


@pytest.mark.parametrize("path", [p for p in DOCS if p.name == "README.md"], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_saved_set_the_docs_read_is_one_their_run_commands_write(path):
    """``mmdistill export runs/NAME`` after ``mmdistill run RECIPE ...``: NAME is the folder that run writes."""
    written, read = _run_folders(path)
    assert not [(line, folder) for line, folder in read if folder not in written], sorted(written)


@pytest.mark.parametrize("command", ["eval", "show", "compare", "export", "check", "recipes"])
def test_every_argument_of_a_subcommand_says_what_it_is(command):
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    silent = [a.dest for a in sub._actions if not (a.help or "").strip()]
    assert not silent, f"mmdistill {command}: no help for {silent}"


def test_experts_help_names_the_experts_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["experts", "image-mtt", "--help"])
    assert exit_.value.code == 0
    assert "usage: mmdistill experts image-mtt" in capsys.readouterr().out
