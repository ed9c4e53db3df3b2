"""``--help`` after the arguments of a run gives that run's values, and ``--print-config`` prints them as a YAML file
(walk 54D): ``mmdistill run image-mtt --dataset cifar10 --ipc 1 --help`` said lr_data 1000 (the row for any dataset at
IPC 10), although that run takes 100 from the cifar10/IPC 1 row."""

from __future__ import annotations

import re

import pytest

from mmdistill.config import load_yaml
from mmdistill.errors import ConfigError
from mmdistill.keys import input_keys
from mmdistill import recipe_cli
from mmdistill.recipe_cli import config_from_argv
from mmdistill.recipes import get_recipe
from mmdistill.run_values import origin_words, value_origin


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps at the terminal's width, a path at its hyphens


def _output(recipe: str, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        config_from_argv(get_recipe(recipe), argv, prog=f"mmdistill run {recipe}")
    assert stop.value.code in (0, None)
    return capsys.readouterr().out


def _help_of(text: str, flag: str) -> str:
    """The help line of ``flag`` in ``text``, its wrapped lines joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(flag + " ") or line.strip() == flag)
    out = [lines[start]]
    for line in lines[start + 1:]:
        if line.startswith("  --") or not line.startswith("    "):
            break
        out.append(line)
    return " ".join(" ".join(out).split())


def test_help_after_dataset_and_ipc_gives_the_values_of_that_run(capsys):
    text = _output("image-mtt", ["--dataset", "cifar10", "--ipc", "1", "--help"], capsys)
    lr = _help_of(text, "--lr-data LR_DATA")
    assert "this run: 100, from tables/mtt.yaml: dataset cifar10, recipe image-mtt/image-tesla, ipc 1" in lr, lr
    assert "default 1000" not in lr
    assert "this run: true, from tables/mtt.yaml: dataset cifar10" in _help_of(text, "--zca, --no-zca")
    assert "this run: 1, set by you (command-line flags)" in _help_of(text, "--ipc IPC")
    assert "this run: 5000, the default; --budget cpu: 200" in _help_of(text, "--iterations ITERATIONS")
    assert "those of this run (--dataset cifar10 --ipc 1)" in " ".join(text.split())


def test_help_after_run_arguments_builds_the_recipe_parser_once(monkeypatch, capsys):
    # session 55: the run's config was read by a second, identical parser (config_from_argv called itself)
    built: list[bool] = []
    real = recipe_cli.argument_parser
    monkeypatch.setattr(recipe_cli, "argument_parser", lambda *a, **k: built.append(k.get("run") is not None) or real(*a, **k))
    text = _output("image-mtt", ["--dataset", "cifar10", "--ipc", "1", "--help"], capsys)
    assert "this run: 1, set by you (command-line flags)" in _help_of(text, "--ipc IPC")
    assert built == [False, True]  # the recipe's parser, then the one whose help describes this run


def test_help_alone_still_gives_the_defaults(capsys):
    text = _output("image-mtt", ["--help"], capsys)
    assert "default 1000 from tables/mtt.yaml: dataset *, ipc 10" in _help_of(text, "--lr-data LR_DATA")
    assert "this run:" not in text


def test_budget_a_config_file_and_overrides_select_the_rows_too(tmp_path, capsys):
    cpu = _output("image-mtt", ["--budget", "cpu", "--help"], capsys)
    iterations = _help_of(cpu, "--iterations ITERATIONS")
    assert "this run: 200, from tables/budgets.yaml: recipe image-mtt/image-tesla, budget cpu" in iterations
    assert "--budget cpu:" not in iterations  # the run is already the cpu budget's
    yaml_file = tmp_path / "my.yaml"
    yaml_file.write_text("dataset: cifar100\nipc: 50\n")
    text = _output("image-mtt", ["--config", str(yaml_file), "eval_runs=2", "--help"], capsys)
    assert f"this run: 50, set by you ({yaml_file})" in _help_of(text, "--ipc IPC")
    assert "this run: 125, from tables/mtt.yaml: dataset cifar100" in _help_of(text, "--batch-syn BATCH_SYN")
    assert "this run: 2, set by you (key=value overrides)" in _help_of(text, "--eval-runs EVAL_RUNS")
    graph = _output("graph-gcond", ["--dataset", "ogbn-arxiv", "--help"], capsys)
    assert "this run: sgc-multi, from tables/gcond.yaml: dataset ogbn-arxiv" in _help_of(graph, "--network NETWORK")


def test_the_help_of_a_run_the_cpu_budget_would_refuse_is_given(capsys):
    # max_start_epoch 40 fits the paper's experts (50 epochs), not the cpu budget's (10): the help left out the cpu note
    text = _output("image-mtt", ["--max-start-epoch", "40", "--help"], capsys)
    assert "this run: 40, set by you (command-line flags)" in _help_of(text, "--max-start-epoch MAX_START_EPOCH")
    assert "--budget cpu:" not in text


@pytest.mark.parametrize("argv, message", [(["--ipc", "0"], "ipc=0: expected an integer >= 1"),
                                            (["--config", "missing.yaml"], "config file missing.yaml does not exist"),
                                            (["--bogus", "1"], "unknown config key 'bogus'")])
def test_a_bad_value_before_help_is_the_error_a_run_gets(argv, message):
    with pytest.raises(ConfigError, match=message):
        config_from_argv(get_recipe("image-mtt"), [*argv, "--help"])
    with pytest.raises(ConfigError, match=message):
        config_from_argv(get_recipe("image-mtt"), argv)


@pytest.mark.parametrize("recipe, argv", [("image-mtt", ["--dataset", "cifar10", "--ipc", "1"]),
                                          ("sequences-td3", ["--dataset", "ml-1m", "--budget", "cpu"]),
                                          ("video-static-dynamic", ["--ipc", "5"])])
def test_print_config_is_read_back_by_config_and_agrees_with_the_help(recipe, argv, tmp_path, capsys):
    printed = _output(recipe, [*argv, "--print-config"], capsys)
    assert printed.startswith(f"# mmdistill run {recipe} {' '.join(argv)}\n")
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    want = get_recipe(recipe).config_from_argv(argv)
    back = get_recipe(recipe).config(("printed.yaml", load_yaml(path)))
    assert {k: getattr(back, k) for k in input_keys(type(want))} == {k: getattr(want, k) for k in input_keys(type(want))}
    helped = " ".join(_output(recipe, [*argv, "--help"], capsys).split())
    lines = _key_lines(printed)
    assert set(lines) == set(input_keys(type(want)))
    for key, (commented, comment) in lines.items():
        assert comment == origin_words(want, key)
        assert commented is not value_origin(want, key)[1], key  # a YAML line only for a key the user set
        assert f", {comment}" in helped, (key, comment)  # the help says the same origin


def _key_lines(printed: str) -> dict[str, tuple[bool, str]]:
    """Key -> (whether its line is commented out, the comment after its value) of a ``--print-config`` output."""
    out = {}
    for line in printed.splitlines():
        match = re.fullmatch(r"(# )?([a-z0-9_]+): (.*)  # (.*)", line)
        if match:
            out[match[2]] = (match[1] is not None, match[4])
    return out


@pytest.mark.parametrize("recipe, printed_with, then, changed", [
    ("image-mtt", ["--dataset", "cifar10", "--ipc", "1"], ["--ipc", "10"], {"syn_steps": 30, "max_start_epoch": 20}),
    ("sequences-td3", ["--dataset", "ml-1m", "--budget", "cpu"], ["--budget", "paper"], {"iterations"}),
])
def test_print_config_read_back_sets_only_the_keys_given_so_another_ipc_takes_its_row(recipe, printed_with, then, changed,
                                                                                      tmp_path, capsys):
    # session 55: every printed line was a YAML value, so --config pinned the cifar10/IPC 1 row's syn_steps 50 and
    # max_start_epoch 2 (and 'set by you' said it) into a run with --ipc 10, whose row gives 30 and 20
    path = tmp_path / "saved.yaml"
    path.write_text(_output(recipe, [*printed_with, "--print-config"], capsys))
    keys = input_keys(get_recipe(recipe).config_cls)
    same = config_from_argv(get_recipe(recipe), ["--config", str(path)])
    want = config_from_argv(get_recipe(recipe), printed_with)
    assert {k: getattr(same, k) for k in keys} == {k: getattr(want, k) for k in keys}
    other = config_from_argv(get_recipe(recipe), ["--config", str(path), *then])
    fresh = config_from_argv(get_recipe(recipe), [*printed_with[:2], *then])
    assert {k: getattr(other, k) for k in keys} == {k: getattr(fresh, k) for k in keys}
    for key in changed:
        assert getattr(other, key) != getattr(want, key), key
        assert value_origin(other, key)[1] is False, key  # from the table row (or the default), not from the file
    if isinstance(changed, dict):
        assert {k: getattr(other, k) for k in changed} == changed
    assert set(load_yaml(path)) == {"dataset", printed_with[2][2:]}  # the rest are comments


def test_print_config_of_a_value_with_a_line_break_or_a_space_is_read_back(tmp_path, capsys):
    # session 55: the first line repeated the arguments joined by spaces, so a --data-root with a line break ended the
    # comment ('b #c --print-config' became a YAML line: "not valid YAML") and one with a space was not a command to copy
    printed = _output("image-dm", ["--data-root", "a\nb #c", "--print-config"], capsys)
    path = tmp_path / "saved.yaml"
    path.write_text(printed)
    assert load_yaml(path) == {"data_root": "a\nb #c"}
    printed = _output("image-dm", ["--data-root", "/my data", "--ipc", "2", "--print-config"], capsys)
    assert printed.startswith("# mmdistill run image-dm --data-root '/my data' --ipc 2\n")
