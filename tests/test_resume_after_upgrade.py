"""A checkpoint written before a key existed resumes after the upgrade (walk 52E: a run stopped before audio's group_by
was added was refused ``group_by: (no such key) -> None``, though no grouping is what it ran with). Every key a recipe
records in its checkpoint now and did not record at the pinned commit must say in ``schema.ABSENT_BEFORE`` (a value) or
``schema.INHERITED_KEYS`` (another key's) or ``schema.ABSENT_BEFORE_FROM`` (read from the saved config) what a checkpoint without it ran with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmdistill.keys import resume_values
from mmdistill.recipes import RECIPES, get_recipe
from mmdistill.schema import ABSENT_BEFORE, ABSENT_BEFORE_FROM, INHERITED_KEYS, values_before_keys

PINNED = json.loads((Path(__file__).parent / "fixtures" / "resume_keys_4902b7b.json").read_text())["recipes"]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_key_added_since_the_pinned_release_says_what_older_checkpoints_ran_with(name):
    now = resume_values(get_recipe(name).config())
    added = sorted(set(now) - set(PINNED.get(name, now)))
    unknown = [k for k in added if k not in ABSENT_BEFORE and k not in ABSENT_BEFORE_FROM and k not in INHERITED_KEYS]
    assert not unknown, (f"{name}: {unknown} are recorded in checkpoints since the pinned release; add to ABSENT_BEFORE the "
                         "value a run without them behaved as, or mark them resume=False")


def test_keys_added_in_session_52_resume_as_the_runs_before_them_behaved():
    saved = {"seed": 0}
    keys = ["group_by", "user_column", "item_column", "time_column"]
    assert values_before_keys(saved, keys) == {k: None for k in keys}  # no grouping, the columns found by their names
    assert values_before_keys(saved, ["classes"]) == {"classes": []}  # session 51's key: every class was distilled


def test_the_upgrade_history_is_a_module_of_its_own_and_schema_still_exports_its_names():
    """schema.py reached the core's line cap with the history in it (no entry could be added): the history moved to
    key_history.py, one job, and the names are the same objects through schema."""
    from mmdistill import key_history, schema

    for name in ("ABSENT_BEFORE", "ABSENT_BEFORE_FROM", "INHERITED_KEYS", "values_before_keys"):
        assert getattr(schema, name) is getattr(key_history, name), name
    assert key_history.values_before_keys({"seed": 3}, ["split_seed", "zca"]) == {"split_seed": 3, "zca": False}
