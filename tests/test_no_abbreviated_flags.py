"""Walk 54I: no mmdistill command line reads an abbreviated flag. argparse's default took ``--iter 3`` as ``--iterations 3``
and ``--hel`` as ``--help`` (the rest ignored), so a typo set another key silently, and a key added later would make a
working abbreviation ambiguous; ``mmdistill import`` alone refused them. An unknown flag's error names the closest."""

import argparse

import pytest

from mmdistill.errors import ConfigError


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_parser_refuses_abbreviations():
    from mmdistill.cli import build_parser
    from mmdistill.recipe_cli import argument_parser
    from mmdistill.recipes.image_dm import RECIPE
    from mmdistill.reference_cli import import_parser

    parsers = [*_parsers(build_parser()), argument_parser(RECIPE), import_parser()]
    assert len(parsers) > 10 and not [p.prog for p in parsers if p.allow_abbrev]


def test_an_abbreviated_recipe_flag_is_an_unknown_key_naming_the_one_it_abbreviates(capsys):
    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.recipes.image_dm import RECIPE

    with pytest.raises(ConfigError, match=r"unknown flag --iter \(no config key 'iter' in recipe image-dm\); did you mean --iterations\?"):
        config_from_argv(RECIPE, ["--iter", "3"])
    with pytest.raises(ConfigError, match=r"unknown flag --no-eval .*did you mean --no-evaluate, "):  # walk 54P: 'did you mean evaluate'
        config_from_argv(RECIPE, ["--no-eval"])
    with pytest.raises(ConfigError, match=r"unknown config key 'zzzqqq' in command-line flags"):  # nothing close: the keys listed
        config_from_argv(RECIPE, ["--zzzqqq", "1"])
    with pytest.raises(SystemExit) as stop:  # before: the help, exit 0, --ipc 2 ignored
        config_from_argv(RECIPE, ["--hel", "--ipc", "2"])
    assert stop.value.code == 2 and "unrecognized arguments: --hel (--hel: did you mean --help" in capsys.readouterr().err


def test_a_commands_unknown_flag_names_the_closest(tmp_path, capsys):
    from mmdistill.cli import main

    with pytest.raises(SystemExit) as stop:  # before: read as --runs 3
        main(["eval", str(tmp_path), "--run", "3"])
    assert stop.value.code == 2 and "unrecognized arguments: --run 3 (--run: did you mean --runs?)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # before: read as --all
        main(["cache", "list", "--al"])
    assert "did you mean --all" in capsys.readouterr().err
