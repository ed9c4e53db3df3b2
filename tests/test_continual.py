"""The class-incremental protocol (walk 56A, :mod:`mmdistill.continual`): steps of classes in the reference's seeded
order, each step distilled from its own classes' data only, memories of ipc per class seen scored from scratch on the
classes seen, a finished step kept on a second call, and the refusals in one line naming the argument."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill import continual
from mmdistill.continual import class_order, run_continual, split_steps
from mmdistill.errors import ConfigError, DataError
from mmdistill.io import read_json
from mmdistill.recipe import Recipe
from mmdistill.recipes import get_recipe, image_dm
from mmdistill.share import load

CLASSES = ["a", "b", "c", "d"]
FAST = {"iterations": 1, "batch_real": 4, "eval_epochs": 1, "herding_epochs": 0, "memory_check": False}


def _folder(root: Path, per_class: int = 5) -> Path:
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8), 30 + 50 * k + 5 * i, dtype=np.uint8), mode="L").save(root / name / f"{i}.png")
    return root


def _run(data: Path, out: Path, **kw):
    args = {"dataset": "imagefolder", "data_root": data, "steps": 2, "ipc": 2, "order_seed": 1, "eval_runs": 1, "keys": FAST, **kw}
    return run_continual(image_dm.RECIPE, out, **args)


#: the output counts of every network built during the module fixture's protocol (matching, herding, scoring)
BUILT: list[int] = []
#: the lines the module fixture's protocol said (its ``say``)
SAID: list[str] = []
#: the INFO lines mmdistill.validation logged during the module fixture's protocol
LOGGED: list[str] = []


class _Logged(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOGGED.append(record.getMessage())


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("continual")
    data = _folder(tmp / "data")
    modality = type(image_dm.RECIPE.get_modality())
    real = modality.build_network
    logger, handler = logging.getLogger("mmdistill.validation"), _Logged(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(modality, "build_network", lambda self, name, shape, k, *a, **kw: BUILT.append(k) or real(self, name, shape, k, *a, **kw))
            return data, tmp / "out", _run(data, tmp / "out", say=SAID.append)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_class_order_is_the_references_seeded_permutation():
    """CL_DM.py:61-62: np.random.seed(0); np.random.permutation(10) is 2, 8, 4, 9, 1, 6, 7, 3, 0, 5."""
    assert class_order([str(i) for i in range(10)], 0) == ["2", "8", "4", "9", "1", "6", "7", "3", "0", "5"]
    assert split_steps(class_order(list("abcdef"), 3), 3) == [class_order(list("abcdef"), 3)[i:i + 2] for i in (0, 2, 4)]


def test_steps_come_in_the_seeded_order_and_memories_hold_ipc_per_class_seen(done):
    data, out, res = done
    order = class_order(CLASSES, 1)
    assert res.class_order == order
    assert [s["new_classes"] for s in res.steps] == [order[:2], order[2:]]
    assert res.steps[0]["classes_seen"] == sorted(order[:2]) and res.steps[1]["classes_seen"] == CLASSES  # the data's order
    assert [s["memory_size"] for s in res.steps] == [{"distilled": 4, "random_real": 4, "herding": 4},
                                                      {"distilled": 8, "random_real": 8, "herding": 8}]
    for step in res.steps:
        assert set(step["accuracy"]) == {"distilled", "random_real", "herding"}
        assert all(len(v["runs"]) == 1 and 0 <= v["mean"] <= 1 for v in step["accuracy"].values())
    # each step's set and herded samples come from that step's classes only: past data is gone
    for t, new in enumerate((order[:2], order[2:])):
        assert load(out / f"step-0{t + 1}").classes == sorted(new)
        x, names = continual._herd_step(out / "herding" / f"step-0{t + 1}.safetensors", None, lambda: None, None, torch.device("cpu"))
        assert sorted(set(names)) == sorted(new) and len(x) == 4
    saved = read_json(out / "continual.json")
    assert saved["protocol"]["class_order"] == order and saved["steps"] == res.steps
    assert (out / "continual.png").stat().st_size > 0


def test_the_evaluation_network_has_an_output_per_class_of_the_dataset_as_the_references(done, tmp_path):
    """CL_DM.py:135: get_network(args.model, channel, num_classes, im_size), num_classes of the dataset: at step 1 (2 of
    the 4 classes seen) the scoring networks have 4 outputs, the step's own (matching, herding) 2; outputs="seen" is
    the option, and a folder written before the option (no outputs in its protocol) continues only as "seen"."""
    data, out, res = done
    assert [s["network_outputs"] for s in res.steps] == [4, 4] and set(BUILT) == {2, 4}
    assert read_json(out / "continual.json")["protocol"]["outputs"] == "dataset"
    with pytest.raises(ConfigError, match=r"outputs='every': .*\(\"dataset\", the reference's\) or per class seen"):
        _run(data, tmp_path / "x", outputs="every")
    saved = read_json(out / "continual.json")
    del saved["protocol"]["outputs"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "continual.json").write_text(__import__("json").dumps(saved))
    with pytest.raises(ConfigError, match=r"records another protocol \(outputs: 'seen' there, 'dataset' now"):
        _run(data, tmp_path / "old")


def test_a_second_call_keeps_finished_steps_and_an_interrupted_one_goes_on(done, tmp_path, monkeypatch):
    data, out, res = done
    runs: list[str] = []
    real_run = Recipe.run
    monkeypatch.setattr(Recipe, "run", lambda self, cfg=None, **kw: runs.append(cfg.out) or real_run(self, cfg, **kw))
    assert _run(data, out).steps == res.steps and runs == []  # nothing distilled or scored again

    calls = {"n": 0}
    real_score = continual._score_step

    def fail_second(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_score(*a, **kw)

    monkeypatch.setattr(continual, "_score_step", fail_second)
    with pytest.raises(KeyboardInterrupt):
        _run(data, tmp_path / "cut")
    assert len(read_json(tmp_path / "cut" / "continual.json")["steps"]) == 1
    runs.clear()
    again = _run(data, tmp_path / "cut")
    assert len(again.steps) == 2 and runs == []  # step 2's set was written before the cut: kept, only scored


def test_another_protocol_in_the_same_out_is_refused_naming_the_key(done):
    data, out, _ = done
    with pytest.raises(ConfigError, match=r"continual.json records another protocol \(ipc: 2 there, 1 now"):
        _run(data, out, ipc=1)


def test_steps_that_do_not_divide_the_classes_are_refused_naming_the_divisors(done, tmp_path):
    data = done[0]
    with pytest.raises(ConfigError, match=r"steps=3 does not divide imagefolder's 4 classes .* leave 1 class\(es\) out of every "
                                          r"step\); choose steps among 1, 2$"):
        _run(data, tmp_path / "x", steps=3)
    with pytest.raises(ConfigError, match=r"steps=4 gives steps of 1 class .* at least 2 classes"):
        _run(data, tmp_path / "x", steps=4)
    assert not (tmp_path / "x").exists()


def test_ipc_larger_than_a_class_is_refused_naming_the_class(done, tmp_path):
    with pytest.raises(DataError, match=r"'a'.*4"):  # 5 images, one held out for test: 4 training images per class
        _run(done[0], tmp_path / "x", ipc=5)


@pytest.mark.parametrize("recipe, words", [("sequences-td3", "recipe sequences-td3 has no classes key"),
                                           ("image-text-lors", "recipe image-text-lors has no classes key"),
                                           ("graph-dm", "recipe graph-dm has no classes key")])
def test_recipes_that_are_not_classification_of_classes_are_refused_naming_them(recipe, words, tmp_path):
    with pytest.raises(ConfigError, match=f"continual: {words}"):
        run_continual(get_recipe(recipe), tmp_path / "x", dataset="digits")


def test_keys_the_protocol_sets_itself_and_a_recipe_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="continual sets classes itself"):
        run_continual(image_dm.RECIPE, tmp_path / "x", dataset="digits", keys={"classes": ["1", "2"]})
    with pytest.raises(ConfigError, match=r"eval_runs is an argument of run_continual \(eval_runs=...\), not one of its keys"):
        run_continual(image_dm.RECIPE, tmp_path / "x", dataset="digits", keys={"eval_runs": 5})  # was a TypeError: two eval_runs
    with pytest.raises(ConfigError, match=r"recipe is a recipe object \(mmdistill.recipes.get_recipe\('image-dm'\).*got str 'image-dm'"):
        run_continual("image-dm", tmp_path / "x", dataset="digits")  # type: ignore[arg-type]


def test_the_command_goes_on_in_a_finished_folder_and_refuses_in_one_line(done, tmp_path, capsys):
    """mmdistill continual: key=value pairs are the recipe's keys (parsed from strings, recorded as the config reads them,
    so the protocol the Python call wrote is the command's); a refusal is one line and exit 2."""
    from mmdistill.cli import main

    data, out, res = done
    pairs = [f"{k}={str(v).lower()}" for k, v in FAST.items()]
    args = ["continual", "image-dm", "--dataset", "imagefolder", "--data-root", str(data), "--out", str(out), "--steps", "2",
            "--ipc", "2", "--order-seed", "1", "--runs", "1", *pairs]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-4].split() == ["step", "classes", "distilled", "random_real", "herding"]  # nothing redone
    assert f"wrote {out}" in printed
    assert main([*args[:9], "3", *args[10:]]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: steps=3 does not divide imagefolder's 4 classes")


def test_a_recipe_whose_step_sets_merge_refuses_is_refused_before_any_step_runs(done, tmp_path):
    """TESLA's soft labels: merge's own check (merge_parts) asked of the set step 1 would save, before distilling (the
    protocol used to distil step 1, then refuse when joining its memory)."""
    with pytest.raises(ConfigError, match=r"recipe image-tesla's step sets cannot be joined .*label_mode=soft\): .*its labels are "
                                          r"soft .*only sets with hard labels can be merged; nothing was distilled") as err:
        run_continual(get_recipe("image-tesla"), tmp_path / "x", dataset="imagefolder", data_root=done[0], steps=2, ipc=2,
                      keys={"label_mode": "soft", "iterations": 1})
    assert err.value.key == "label_mode" and not (tmp_path / "x").exists()


@pytest.mark.parametrize("key, value, words", [("buffer", "experts", "experts trained on every class would bring the classes of other steps back"),
                                               ("validation", 0.2, "a step's run carves its validation split from its own classes")])
def test_keys_the_steps_cannot_honour_as_the_protocol_scores_are_refused_with_the_reason(key, value, words, tmp_path):
    """A shared expert buffer (image-mtt) would leak other steps' classes or reuse step 1's experts; a step's validation
    split (drawn on its own classes) is not the scoring's (drawn on the whole data's)."""
    with pytest.raises(ConfigError, match=f"continual: {key}={value} is refused: .*{words}") as err:
        run_continual(get_recipe("image-mtt"), tmp_path / "x", dataset="digits", keys={key: value})
    assert err.value.key == key and not (tmp_path / "x").exists()


def test_progress_in_keys_is_the_steps_and_a_fresh_step_is_not_resumed(done, tmp_path, monkeypatch):
    """keys={"progress": False} (``mmdistill continual ... progress=false``) stopped with 'Recipe.config() got multiple
    values for keyword argument progress' (walk 56R); and every fresh step was run with resume=True, so each logged that
    its new folder had no checkpoint to resume from. The steps get the user's progress and resume only an existing folder."""
    class Stop(Exception):
        pass

    steps: list[tuple[bool, bool]] = []

    def first_step(self, cfg=None, **kw):
        steps.append((cfg.progress, cfg.resume))
        raise Stop

    monkeypatch.setattr(Recipe, "run", first_step)
    with pytest.raises(Stop):
        _run(done[0], tmp_path / "out", keys={**FAST, "progress": False})
    assert steps == [(False, False)]


def test_one_network_per_memory_reads_as_every_score_of_one_run_not_a_spread_of_zero(done):
    """With eval_runs=1 (``--runs 1``) the step lines and the table said ``50.00 ± 0.00 %`` where the evaluation table
    says ``± n/a`` (walk 56R): one network measures no spread. They now read as every summary line and card cell
    (scored_on.mean_spread, evaluation.set_cell): the mean alone, ``(one run)``; several networks keep their ± std."""
    _, _, res = done
    step_lines = [line for line in SAID if line.startswith("step ") and " classes): " in line]
    assert len(step_lines) == 2 and all("±" not in line and line.count("% (one run)") == 3 for line in step_lines)
    assert "random real" in step_lines[0]
    assert "±" not in res.table() and res.table().count(" %") == 6
    two = continual.ContinualResult(out=Path("x"), class_order=CLASSES, steps=[
        {"step": 1, "classes_seen": CLASSES[:2], "accuracy": {m: {"mean": 0.5, "std": 0.1, "runs": [0.4, 0.6]} for m in continual.MEMORIES}}])
    assert two.table().splitlines()[1].split() == ["1", "2"] + ["50.00", "±", "10.00", "%"] * 3


def test_each_step_says_the_classes_it_keeps_once(done):
    """Each step logged 'classes: 2 of imagefolder's 4 classes kept (...)' three times (its run's load, its herding, its
    scoring: walk 56R), step 1 once more before it began (the joinability check): the step's run says it, continual's
    own subsets are quiet (its step lines name the classes)."""
    order = class_order(CLASSES, 1)
    kept = [line for line in LOGGED if "classes kept" in line]
    assert kept == [f"classes: 2 of imagefolder's 4 classes kept ({', '.join(sorted(new))})" for new in (order[:2], order[2:])]
