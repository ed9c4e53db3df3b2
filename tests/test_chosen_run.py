"""``mmdistill run RECIPE --config DIR``: the keys a chosen run was given, carried to the final run, its provenance recorded."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mmdistill.config import to_dict
from mmdistill.errors import ConfigError
from mmdistill.recipe_cli import config_from_argv
from mmdistill.recipes import get_recipe
from mmdistill.resolve import config_sources


def _saved_run(folder: Path, recipe: str = "image-dm", **given) -> Path:
    """A run folder whose manifest records the config a sweep's run of ``given`` keys had (as a run writes it)."""
    cfg = get_recipe("image-dm").config(("command-line flags", given))
    folder.mkdir(parents=True)
    manifest = {"recipe": recipe, "config": to_dict(cfg), "config_sources": config_sources(cfg),
                "metrics": {"protocol": {"scored_on": "validation" if cfg.validation else "test"}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_final_run_takes_the_given_keys_and_records_the_validation_run(tmp_path):
    chosen = _saved_run(tmp_path / "sweep" / "lr10", dataset="digits", budget="cpu", ipc=10, lr_data=10.0, seed=3,
                        validation=0.1, out=str(tmp_path / "sweep" / "lr10"), progress=False)
    cfg = config_from_argv(get_recipe("image-dm"), ["--config", str(chosen), "validation=0", "--out", str(tmp_path / "final")])
    assert (cfg.lr_data, cfg.ipc, cfg.budget, cfg.seed, cfg.validation) == (10.0, 10, "cpu", 3, 0.0)
    assert cfg.out == str(tmp_path / "final") and cfg.progress is True  # where and how the run goes is not carried
    sources = config_sources(cfg)
    assert sources["lr_data"] == f"run folder {chosen} (scored on validation, validation=0.1)"  # the manifest's record
    from mmdistill.scored_on import chosen_on_lines

    line, = chosen_on_lines({"config_sources": sources})  # and the card's: where the published keys were chosen
    assert line.startswith(f"- keys taken from the run in {chosen} (scored on validation, validation=0.1) (`--config`): `dataset`")
    assert "`lr_data`" in line and "`validation`" not in line and "`out`" not in line
    assert sources["validation"] == "key=value overrides"
    assert sources["batch_real"].startswith("tables/budgets.yaml")  # a table's value is derived again, not carried
    by_file = config_from_argv(get_recipe("image-dm"), ["--config", str(chosen / "manifest.json"), "--ipc", "1"])
    assert by_file.ipc == 1 and by_file.validation == 0.1  # a changed ipc takes its own rows; validation stays unless set


def test_a_value_that_changed_since_the_chosen_run_is_named(tmp_path, caplog):
    chosen = _saved_run(tmp_path / "run", dataset="digits", budget="cpu", ipc=1, validation=0.1)
    manifest = json.loads((chosen / "manifest.json").read_text())
    manifest["config"]["batch_real"] = 999  # as if the cpu budget's row said 999 when the run was made
    manifest["config"]["baselines"] = []  # as `mmdistill eval --no-baselines --write` leaves it: no warning, a line,
    manifest["config_sources"]["baselines"] = "mmdistill eval --write"  # and not taken though its source is now named
    (chosen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="mmdistill.chosen_run"):
        config_from_argv(get_recipe("image-dm"), ["--config", str(chosen)])
    text = caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "batch_real=" in warned[0] and "(the run had 999)" in warned[0]
    assert "not the run that was chosen" in warned[0] and "baselines" not in warned[0]
    assert "this run is scored with baselines=['random_real', 'herding'] (the run had [])" in text
    assert "pass validation=0 to score the chosen keys on the test split" in text


def test_another_recipe_or_a_folder_without_a_run_is_one_clear_error(tmp_path):
    other = _saved_run(tmp_path / "dc", recipe="image-dc", dataset="digits")
    with pytest.raises(ConfigError, match="a run of recipe 'image-dc', not image-dm"):
        config_from_argv(get_recipe("image-dm"), ["--config", str(other)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="a folder without manifest.json"):
        config_from_argv(get_recipe("image-dm"), ["--config", str(tmp_path / "empty")])


def test_eval_refusing_a_distillation_key_names_the_way_to_run_it_again():
    """``mmdistill eval DIR validation=0`` (a tuned set's test score) is refused; the line says how to run the run's keys
    again on the test split instead of leaving the user to retype them."""
    from mmdistill.saved_cli import evaluation_overrides

    with pytest.raises(ConfigError, match=r"`mmdistill run image-dm --config DIR validation=\.\.\.` runs it again with the saved run's other keys"):
        evaluation_overrides(get_recipe("image-dm").config_cls, ["validation=0"], "image-dm")
