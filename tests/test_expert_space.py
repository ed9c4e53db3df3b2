"""``mmdistill experts`` says which input space (``zca``) its experts train in, and which IPCs' rows ask for another
(a run there refuses the buffer), before any training."""

from __future__ import annotations

import logging

import pytest

import mmdistill.expert_runs
from mmdistill.cli import _cmd_experts
from mmdistill.expert_space import input_space_note
from mmdistill.recipes import audio_ddfad, image_mtt, image_tesla


def test_the_note_names_the_space_its_row_and_the_ipcs_whose_rows_differ():
    recipe = image_mtt.RECIPE
    note = input_space_note(recipe, recipe.config(dataset="cifar100"))  # no --ipc: the default 10, MTT's no-ZCA row
    assert note.startswith("the experts train in the input space zca=false") and "ipc 10, dataset cifar100" in note
    assert "zca=true at IPC 1, 50 (tables/mtt.yaml: dataset cifar100, recipe image-mtt/image-tesla, ipc 1; " in note
    assert "--ipc 1 (or zca=true)" in note
    one = input_space_note(recipe, recipe.config(dataset="cifar100", ipc=1))
    assert "zca=true (zca from tables/mtt.yaml: dataset cifar100" in one and "zca=false at IPC 10 " in one
    assert "differ" not in input_space_note(recipe, recipe.config(dataset="digits"))  # every digits row: no whitening
    assert "differ" not in input_space_note(recipe, recipe.config(dataset="cifar100", zca=True))  # explicit: every IPC alike
    assert "budget" not in input_space_note(recipe, recipe.config(dataset="cifar100", budget="cpu"))
    tesla = input_space_note(image_tesla.RECIPE, image_tesla.RECIPE.config(dataset="cifar10", ipc=10))
    assert "zca=false at IPC 1, 50 (tables/tesla.yaml: dataset cifar10, ipc 1; the recipe's default)" in tesla
    assert input_space_note(audio_ddfad.RECIPE, audio_ddfad.RECIPE.config()) is None  # no input-space key


def test_the_experts_command_logs_it_before_it_trains(monkeypatch, tmp_path, caplog):
    class Stop(Exception):
        pass

    def stop(recipe, cfg):
        raise Stop

    monkeypatch.setattr(mmdistill.expert_runs, "run_experts_command", stop)
    with caplog.at_level(logging.INFO, logger="mmdistill"), pytest.raises(Stop):
        _cmd_experts("image-mtt", ["--dataset", "cifar100", "--buffer", str(tmp_path / "b")])
    assert any("zca=true at IPC 1, 50" in r.getMessage() for r in caplog.records)


def test_the_ipcs_listed_are_those_the_lookup_would_match_with_the_recipes_own_names(tmp_path):
    """Review R4: listed_ipcs built its own context (the config's keys and ``recipe``) and read the table files again,
    so a row conditioned on a name of the recipe's ``table_context`` (image-text's ``release``) could not be told from
    one that can never match; it asks the recipe as its lookup does (``lookup_context``, ``loaded_tables``)."""
    from types import SimpleNamespace

    from mmdistill.expert_space import listed_ipcs
    from mmdistill.tables import load_table

    table = tmp_path / "t.yaml"
    table.write_text("title: t\nrows:\n  - when: {release: coco, ipc: 5}\n    set: {}\n    source: test\n"
                     "  - when: {release: flickr, ipc: 7}\n    set: {}\n    source: test\n")
    cfg = image_mtt.RECIPE.config(dataset="digits")
    recipe = SimpleNamespace(name="r", loaded_tables=lambda: (load_table(table),),
                             lookup_context=lambda values: {"release": "coco", "recipe": "r"})
    assert listed_ipcs(recipe, cfg) == [5]
