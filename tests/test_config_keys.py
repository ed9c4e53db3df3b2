"""Declared keys: every value checked up front, only the keys that apply, help that teaches, resume per key."""

from __future__ import annotations

import math
import re

import pytest

from mmdistill.cli import main as cli_main
from mmdistill.errors import ConfigError
from mmdistill.keys import input_keys, optional_inner
from mmdistill.recipe_cli import argument_parser
from mmdistill.recipes import RECIPES, get_recipe

ALL = sorted(RECIPES)
#: free-text keys (names, paths, devices, op lists); every other str key is a typed choice
FREE_TEXT = {"dataset", "data_root", "out", "device", "budget", "network", "buffer", "dsa_strategy", "eval_networks", "image_root",
             "test_captions", "text_cache", "image_encoder", "image_weights", "text_encoder", "eval_network", "clip_model",
             "clip_pretrained", "syn_dir", "split_file", "cache_dir", "pretrain_cache_dir", "md_groups",
             "classes",  # class names are the data's: checked against it when it is loaded (validation.keep_classes)
             "group_by",  # a CSV column: checked against the CSV's header when it is loaded
             "user_column", "item_column", "time_column",  # an interaction log's columns: checked against its header
             "normalization"}  # data, imagenet or M1,M2,M3/S1,S2,S3: parsed by the image config's check
IMAGE_ONLY = ("--dsa", "--dsa-strategy", "--eval-dsa", "--herding-epochs", "--buffer", "--label-mode", "--label-expert-epoch",
              "--lr-labels", "--eval-batch", "--lr-data", "--compile")


def _numeric(info) -> bool:
    return optional_inner(info.type) in (int, float)


@pytest.mark.parametrize("name", ALL)
def test_every_numeric_key_is_checked_up_front(name):
    """nan, inf, -1 and 0 for every numeric key: refused with the key, the value and the accepted range wherever the
    declaration says invalid, accepted otherwise."""
    recipe = get_recipe(name)
    for info in input_keys(recipe.config_cls).values():
        if not _numeric(info):
            continue
        assert info.range is not None, f"{name}: {info.name} declares no range"
        for value in (math.nan, math.inf, -1, 0):
            valid = math.isfinite(value) and value in info.range
            if valid:
                assert getattr(recipe.config(**{info.name: value}), info.name) == value
                continue
            with pytest.raises(ConfigError) as err:
                recipe.config(**{info.name: value})
            text = str(err.value)
            named = rf"{info.name}=({re.escape(repr(value))}|{re.escape(repr(float(value)))})"
            assert re.search(named, text) and f"expected" in text and str(info.range) in text, text


@pytest.mark.parametrize("name", ALL)
def test_every_choice_key_is_typed_and_checked(name):
    recipe = get_recipe(name)
    for info in input_keys(recipe.config_cls).values():
        inner = optional_inner(info.type)
        if info.choices() is None and inner is str or getattr(inner, "__origin__", None) is list and info.choices() is None:
            assert info.name in FREE_TEXT, f"{name}: {info.name} is free text; type its choices with Literal"
            continue
        if info.choices() is None:
            continue
        with pytest.raises(ConfigError, match=rf"{info.name}=.*bogus.*expected .*one of {re.escape(str(info.choices()[0]))}"):
            recipe.config(**{info.name: ["bogus"] if "list" in str(info.type) else "bogus"})


def test_nan_learning_rates_are_refused_at_config_time():
    from mmdistill.recipes import image_dm

    for key in ("lr_data", "eval_lr"):
        with pytest.raises(ConfigError, match=rf"{key}=nan: expected a finite number > 0"):
            image_dm.RECIPE.config(**{key: "nan"})
        with pytest.raises(ConfigError, match=rf"{key}=nan"):
            image_dm.Config(**{key: math.nan})  # a config built directly is checked too


def test_keys_that_do_not_apply_are_named():
    from mmdistill.recipes import graph_gcond, image_text_lors

    with pytest.raises(ConfigError, match="'dsa' .*does not apply to recipe graph-gcond"):
        graph_gcond.RECIPE.config(dsa=True)
    with pytest.raises(ConfigError, match="'lr_data' .*does not apply to recipe graph-gcond: use lr_feat"):
        graph_gcond.RECIPE.config(lr_data=0.1)
    with pytest.raises(ConfigError, match="'lr_teacher' .*does not apply to recipe image-text-lors: use expert_lr_image"):
        image_text_lors.RECIPE.config(lr_teacher=0.1)
    with pytest.raises(ConfigError, match="unknown config key 'ipcc'.*Did you mean ipc"):
        graph_gcond.RECIPE.config(ipcc=1)


def test_a_removed_flag_on_the_command_line_says_it_does_not_apply(capsys):
    assert cli_main(["run", "graph-gcond", "--dsa", "--no-progress"]) == 2
    assert "'dsa' (in command-line flags) does not apply to recipe graph-gcond" in capsys.readouterr().err
    assert cli_main(["run", "graph-gcond", "--herding-epochs", "2"]) == 2
    assert "'herding_epochs' (in command-line flags) does not apply" in capsys.readouterr().err


def test_graph_help_lists_no_image_key(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(["run", "graph-gcond", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in IMAGE_ONLY:
        assert not re.search(rf"{flag}\b(?!-)", out), flag
    assert "--lr-feat" in out and "default 0.01 from tables/gcond.yaml: dataset *" in " ".join(out.split())


@pytest.mark.parametrize("name", ALL)
def test_every_help_line_teaches(name):
    parser = argument_parser(get_recipe(name))
    for action in parser._actions:
        if action.dest in ("help", "config", "print_config", "overrides"):
            continue
        text = action.help or ""
        assert text and not text.startswith("(default") and "; default " in text, (name, action.dest, text)
        assert len(text.split(";")[0].split()) >= 2, (name, action.dest, text)  # what the key is, not just its default


@pytest.mark.parametrize("name", ALL)
def test_evaluation_keys_never_block_resume(name):
    for info in input_keys(get_recipe(name).config_cls).values():
        if info.name.startswith(("eval_", "ft_")) or info.name in ("cross_arch", "baselines", "herding_epochs", "whole_graph",
                                                                     "whole_epochs", "adj_threshold", "out", "progress", "device",
                                                                     "iterations", "checkpoint_every", "evaluate", "budget"):
            assert not info.resume, (name, info.name)
        if info.name in ("lr_data", "ipc", "seed", "dataset", "syn_steps", "lr_feat", "init", "network"):
            assert info.resume, (name, info.name)


def test_help_marks_the_keys_that_may_differ_on_resume():
    """--help did not say which keys a --resume may change; those that do not shape the distillation say so."""
    from mmdistill.recipe_cli import argument_parser as parser_of

    helps = {a.dest: " ".join((a.help or "").split()) for a in parser_of(get_recipe("image-dm"))._actions}
    assert helps["eval_runs"].endswith("; may differ on --resume") and helps["out"].endswith("; may differ on --resume")
    assert "may differ" not in helps["lr_data"] and "may differ" not in helps["seed"] and "may differ" not in helps["resume"]


FAST_DM = dict(dataset="digits", ipc=1, iterations=4, batch_real=16, eval_runs=1, eval_epochs=2, herding_epochs=1, baselines=[],
               checkpoint_every=2, progress=False, evaluate=False)


def test_resume_allows_evaluation_changes_and_names_matching_changes(tmp_path):
    from mmdistill.recipes import image_dm

    out = str(tmp_path / "run")
    image_dm.run(out=out, stop_after=2, **FAST_DM)
    with pytest.raises(ConfigError, match=r"cannot resume .*lr_data: 1\.0 -> 2\.0") as err:
        image_dm.run(out=out, resume=True, **{**FAST_DM, "lr_data": 2.0})
    assert "eval_" not in str(err.value)
    resumed = image_dm.run(out=out, resume=True, **{**FAST_DM, "eval_epochs": 3, "eval_lr": 0.05, "eval_dsa": False,
                                                    "cross_arch": True, "herding_epochs": 0})
    timing = resumed.manifest["timing"]
    assert timing["resumed_from"] == 2 and timing["iterations"] == 4
    # the first process's part is counted in the total too (before: total_seconds < seconds after a resume)
    assert 0 < timing["seconds_before_resume"] < timing["seconds"] <= timing["total_seconds"]
    assert resumed.manifest["config_sources"]["eval_epochs"] == "arguments"


def test_resume_allows_graph_evaluation_changes(tmp_path):
    pytest.importorskip("torch_geometric")
    from mmdistill.recipes import graph_gcond

    fast = dict(dataset="sbm:90:3:8", ipc=3, iterations=4, outer_loop=2, inner_loop=2, structure_period=2, structure_steps=1,
                checkpoint_every=2, progress=False, evaluate=False, hidden=16, pge_hidden=8, out=str(tmp_path / "run"))
    graph_gcond.run(**fast, stop_after=2)
    resumed = graph_gcond.run(**fast, resume=True, eval_weight_decay=0.0, eval_dropout=0.1, whole_graph=False, adj_threshold=0.2,
                              eval_network="sgc", eval_lr=0.05)
    assert resumed.manifest["timing"]["resumed_from"] == 2
    graph_gcond.run(**{**fast, "iterations": 6}, stop_after=4, resume=True)
    with pytest.raises(ConfigError, match=r"lr_feat: 0\.01 -> 0\.02"):
        graph_gcond.run(**{**fast, "iterations": 6}, resume=True, lr_feat=0.02)


def test_run_refuses_a_wrong_first_argument_and_reads_a_mapping_as_keywords():
    """Walk 34C #7: `image_dm.run("digits")` raised "must be called with a dataclass type or instance", a dict an
    AttributeError on `.device`, another recipe's Config an AttributeError on `outer_loop`."""
    from mmdistill.recipes import image_dc, image_dm
    from mmdistill.resolve import config_sources

    with pytest.raises(ConfigError, match=r"recipe image-dm: run\(\) takes its config \(mmdistill.recipes.image_dm.Config\), "
                                          r"a mapping of config keys, or keyword arguments .*got the string 'digits' "
                                          r"\(a dataset name\? run\(dataset='digits', \.\.\.\)\)"):
        image_dm.run("digits", budget="cpu")
    with pytest.raises(ConfigError, match=r"got a list \(\[1\]\)"):
        image_dm.run([1])
    cfg = image_dm.RECIPE.run_config({"ipc": 2, "budget": "cpu"}, {"ipc": 3})  # a mapping is read before the keywords
    assert (cfg.ipc, cfg.iterations) == (3, image_dm.RECIPE.config(budget="cpu").iterations)
    assert config_sources(image_dm.RECIPE.run_config({"ipc": 2}, {}))["ipc"] == "the mapping passed to run"
    with pytest.raises(ConfigError, match=r"unknown config key 'ipcc' in the mapping passed to run\. Did you mean ipc"):
        image_dm.run({"ipcc": 2})
    # another recipe's config is rebuilt as with keyword overrides: its common keys kept, its own keys refused
    dc = image_dc.RECIPE.run_config(image_dm.Config(dataset="digits", ipc=1), {})
    assert type(dc) is image_dc.Config and (dc.dataset, dc.ipc) == ("digits", 1)
    with pytest.raises(ConfigError, match=r"recipe image-dc was given recipe image-dm's config \(mmdistill.recipes.image_dm.Config\), "
                                          r"rebuilt as image-dc's config .*'dm_loss' .*does not apply to recipe image-dc") as err:
        image_dc.run(image_dm.Config(dataset="digits", ipc=1, dm_loss="mmd"))
    assert err.value.key == "dm_loss"
    built = image_dm.RECIPE.config(ipc=2)  # a config the recipe built runs as it is; one built directly is rebuilt
    assert image_dm.RECIPE.run_config(built, {}) is built
    assert image_dm.RECIPE.run_config(image_dm.Config(ipc=2), {}) == built


def test_a_config_class_given_an_unknown_keyword_suggests_the_key():
    """Walk 34C #7: `Config(ipcc=2)` gave a plain TypeError without the "Did you mean" that `run(ipcc=2)` gives."""
    import dataclasses
    import pickle

    from mmdistill.keys import UnknownKeywordError
    from mmdistill.recipes import image_dm

    for wrong in ("ipcc", "IPC"):
        with pytest.raises(ConfigError, match=rf"unknown config key '{wrong}' in the arguments of mmdistill.recipes.image_dm.Config\. "
                                              r"Did you mean ipc\? Valid keys: .*dataset") as err:
            image_dm.Config(dataset="digits", **{wrong: 2})
        assert isinstance(err.value, TypeError) and isinstance(err.value, UnknownKeywordError) and err.value.key == wrong
    cfg = image_dm.Config(dataset="digits", ipc=2)  # the dataclass as it was
    assert dataclasses.replace(cfg, ipc=3).ipc == 3 and pickle.loads(pickle.dumps(cfg)) == cfg and type(image_dm.Config) is type

    from mmdistill.keys import Keys, derived, key

    @dataclasses.dataclass
    class Small(Keys):
        a: int = key(1, help="a number", range="[0, inf)")
        b: int = derived(0, help="computed from a")

    assert Small(2).a == 2
    with pytest.raises(ConfigError, match=r"config key 'b' of .*Small is computed from other keys \(derived\), not set"):
        Small(a=1, b=2)


def test_a_key_two_layers_give_keeps_the_later_and_warns_naming_the_dropped_value(tmp_path, caplog):
    """Walk 34C #9: `--config` (ipc 2), `--ipc 3` and `ipc=4` kept 4 without a word; the order is YAML < flags < key=value.
    A key given twice in one layer is refused; `run(cfg, ipc=...)` replaces on purpose, without a warning."""
    import logging

    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.recipes import image_dm

    (tmp_path / "prec.yaml").write_text("ipc: 2\nseed: 5\n")
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        cfg = config_from_argv(image_dm.RECIPE, ["--config", str(tmp_path / "prec.yaml"), "--ipc", "3", "ipc=4", "--seed", "5"],
                               prog="mmdistill run image-dm")
    assert cfg.ipc == 4 and cfg.seed == 5
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned  # seed: the same value twice, nothing dropped
    assert re.search(r"config key ipc=4 from key=value overrides replaces 2 from .*prec.yaml, 3 from command-line flags", warned[0])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        assert image_dm.RECIPE.rebuild(cfg, {"ipc": 5}).ipc == 5
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    with pytest.raises(ConfigError, match=r"layer gives config key 'eval_runs' twice: eval-runs=2 and eval_runs=3"):
        image_dm.RECIPE.config(("layer", {"eval-runs": 2, "eval_runs": 3}))


def test_an_unknown_recipe_or_image_dataset_gets_the_close_names():
    """Walk 34C #11: `image-dn` and `digit` were refused with the whole list and no suggestion."""
    from mmdistill.modalities.image.datasets import canonical_name
    from mmdistill.recipes import get_recipe

    with pytest.raises(ConfigError, match=r"unknown recipe 'image-dn' \(did you mean image-dm\b.*\?\); known recipes: "):
        get_recipe("image-dn")
    with pytest.raises(ConfigError, match=r"unknown image dataset 'digit' \(did you mean digits\?\); choose from digits"):
        canonical_name("digit")
    with pytest.raises(ConfigError, match=r"unknown config key 'IPC' .*Did you mean ipc\?"):
        get_recipe("image-dm").config(IPC=3)


def test_eval_refuses_run_keys_that_would_do_nothing():
    """Walk 35B D6: `mmdistill eval RUN iterations=3 budget=paper out=x` exited 0 having ignored them (they are
    resume=False keys, the filter's test), while lr_data=3 was refused."""
    from mmdistill.saved_cli import evaluation_overrides
    from mmdistill.recipes import image_dm

    for pair in ("iterations=3", "checkpoint_every=1", "budget=paper", "out=elsewhere", "real_chunk=4", "expert_threads=2"):
        with pytest.raises(ConfigError, match=r"has no effect on evaluating a saved set"):
            evaluation_overrides(image_dm.Config, [pair])
    assert evaluation_overrides(image_dm.Config, ["eval_epochs=5", "progress=false"]) == {"eval_epochs": "5", "progress": "false"}
