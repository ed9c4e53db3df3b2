from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mmdistill.config import build_config, coerce, load_yaml, parse_overrides
from mmdistill.errors import ConfigError


@dataclass
class Cfg:
    ipc: int = 10
    lr: float = 0.1
    dsa: bool = False
    root: str | None = None
    nets: list[str] = field(default_factory=list)


def test_layers_apply_in_order_and_coerce_types():
    cfg = build_config(Cfg, ("a", {"ipc": "3", "dsa": "true"}), ("b", {"lr": "0.5", "nets": "mlp,convnet", "root": "none"}))
    assert cfg == Cfg(ipc=3, lr=0.5, dsa=True, root=None, nets=["mlp", "convnet"])


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'ipcc' in cli.*Did you mean ipc"):
        build_config(Cfg, ("cli", {"ipcc": 1}))


@pytest.mark.parametrize("value,tp", [("ten", int), ("maybe", bool), (1.5, int)])
def test_bad_values_name_the_key(value, tp):
    with pytest.raises(ConfigError, match="'k'"):
        coerce(value, tp, "k")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ipc: 2\nnets: [mlp]\n")
    cfg = build_config(Cfg, (str(path), load_yaml(path)), ("cli", parse_overrides(["lr=1e-3"])))
    assert (cfg.ipc, cfg.nets, cfg.lr) == (2, ["mlp"], 1e-3)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["ipc"])


def test_literal_choices_are_read_as_their_type():
    from typing import Literal

    assert coerce("3", Literal[1, 3], "channels") == 3 and coerce("real", Literal["real", "noise"], "init") == "real"
    assert coerce("random_real,herding", list[Literal["random_real", "herding"]], "baselines") == ["random_real", "herding"]


def test_a_buffer_no_label_reads_is_refused_naming_the_key():
    """image-dm with buffer=DIR and hard labels ignored the key silently; a trajectory recipe always reads it."""
    from mmdistill.recipes import image_dm, image_mtt

    with pytest.raises(ConfigError, match=r"buffer=/x is read for an expert's soft or learnable labels") as err:
        image_dm.RECIPE.config(buffer="/x")
    assert err.value.key == "buffer"
    assert image_dm.RECIPE.config(buffer="/x", label_mode="soft").buffer == "/x"
    assert image_mtt.RECIPE.config(buffer="/x").buffer == "/x"


def test_integers_written_as_floats_read_alike_and_a_tensor_is_named_briefly():
    """CLI seed=1.0 was refused while YAML's 1.0 and Python's 1.0 were read; dataset=<a tensor> printed the whole tensor."""
    import torch

    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.recipes import image_dm

    cfg = config_from_argv(image_dm.RECIPE, ["seed=1.0", "eval_epochs=1e3"], prog="mmdistill run image-dm")
    assert (cfg.seed, cfg.eval_epochs) == (1, 1000) and isinstance(cfg.seed, int)
    with pytest.raises(ConfigError, match=r"seed='1.5': expected an integer"):
        config_from_argv(image_dm.RECIPE, ["seed=1.5"], prog="mmdistill run image-dm")
    from pathlib import Path

    assert image_dm.RECIPE.config(out=Path("/tmp/x"), data_root=Path("d")).out == "/tmp/x"  # a path is a string key's value
    # walk 39B: the tensor by its shape and dtype, and where data in memory goes instead
    with pytest.raises(ConfigError, match=r"config key dataset=<Tensor of shape \(50, 1, 9, 7\), torch.float32>: expected a str; "
                                          r"data in memory is not a config value: .*register_tensors") as err:
        image_dm.RECIPE.config(dataset=torch.rand(50, 1, 9, 7))
    assert len(str(err.value)) < 300
    import numpy as np  # a numpy scalar (a sweep over np.arange) is shown as its value, without the in-memory note

    with pytest.raises(ConfigError, match=r"config key ipc=(np.int64\()?0\)?: expected an integer >= 1 \(samples per class\)$"):
        image_dm.RECIPE.config(ipc=np.int64(0))


def test_config_file_problems_are_config_errors_naming_the_file(tmp_path):
    """Walk 34C #4, #10: non-UTF-8 bytes raised UnicodeDecodeError, a key `1:` an AttributeError deep in resolve, a folder
    was said not to exist; each is a ConfigError naming the file (and the key)."""
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"ipc: 2\n\xff\xfe\x00bad\n")
    with pytest.raises(ConfigError, match=r"config file .*latin.yaml is not UTF-8 text \(byte 0xff at line 2\)"):
        load_yaml(latin)
    (tmp_path / "intkey.yaml").write_text("1: 2\n")
    with pytest.raises(ConfigError, match=r"config file .*intkey.yaml: key 1 is not a name"):
        load_yaml(tmp_path / "intkey.yaml")
    with pytest.raises(ConfigError, match=r"config file .* is a folder, not a YAML file"):
        load_yaml(tmp_path)
    with pytest.raises(ConfigError, match=r"layer: key 1 is not a config key name"):
        build_config(Cfg, ("layer", {1: 2}))
    (tmp_path / "bom.yaml").write_bytes("\ufeffipc: 3\nroot: café\n".encode())  # UTF-8 with a byte-order mark is UTF-8
    assert load_yaml(tmp_path / "bom.yaml") == {"ipc": 3, "root": "café"}


def test_a_key_given_twice_in_one_layer_is_refused_naming_both_values(tmp_path, caplog):
    """Walk 34C #9: `ipc: 2` then `ipc: 3` in one file (refused: YAML keys are unique), and `ipc=3 ipc=4` (the later,
    with a warning), silently kept the last value."""
    (tmp_path / "dup.yaml").write_text("ipc: 2\nlr: 0.1\nipc: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml gives key 'ipc' twice: 2 \(line 1\) and 3 \(line 3\)") as err:
        load_yaml(tmp_path / "dup.yaml")
    assert err.value.key == "ipc"
    (tmp_path / "nested.yaml").write_text("a:\n  x: 1\n  x: 2\n")
    with pytest.raises(ConfigError, match=r"gives key 'x' twice"):
        load_yaml(tmp_path / "nested.yaml")
    (tmp_path / "merge.yaml").write_text("base: &b {ipc: 1}\nrun:\n  <<: *b\n  ipc: 2\n")  # a merge key may be overridden
    assert load_yaml(tmp_path / "merge.yaml")["run"] == {"ipc": 2}
    import logging

    with caplog.at_level(logging.WARNING):  # key=value twice: the later wins, as a repeated flag, and is named
        assert parse_overrides(["ipc=3", "lr=1", "ipc=4"]) == {"ipc": "4", "lr": "1"}
        assert parse_overrides(["eval-runs=2", "eval_runs=3"]) == {"eval_runs": "3"}
    assert "give 'ipc' twice: ipc=3 and ipc=4; the later one is used" in caplog.text
    assert "give 'eval_runs' twice: eval-runs=2 and eval_runs=3" in caplog.text


def test_key_value_reads_a_flow_list_and_tilde_as_yaml_does():
    """Walk 34C #14: `baselines=[herding]` was read as the name '[herding]', `image_size=~` was refused."""
    from typing import Literal

    baselines = list[Literal["random_real", "herding"]]
    assert coerce("[herding]", baselines, "baselines") == ["herding"]
    assert coerce(" [mlp, convnet] ", list[str], "nets") == ["mlp", "convnet"]
    assert coerce("[]", list[str], "nets") == []
    assert coerce("herding,random_real", baselines, "baselines") == ["herding", "random_real"]  # plain values as before
    assert coerce("~", int | None, "image_size") is None
    assert coerce("[x]", str, "name") == "[x]"  # only a list key reads YAML flow syntax
    with pytest.raises(ConfigError, match=r"'nets': cannot read '\[mlp' as a list"):
        coerce("[mlp", list[str], "nets")


def test_a_key_differing_only_in_case_gets_a_suggestion():
    """Walk 34C #11: `IPC=3` got no "Did you mean ipc?" (difflib compares case-sensitively)."""
    with pytest.raises(ConfigError, match=r"unknown config key 'IPC' in cli\. Did you mean ipc\?"):
        build_config(Cfg, ("cli", {"IPC": 3}))


def test_a_flag_given_twice_is_named(caplog):
    """`--ipc 3 ... --ipc 1`: argparse kept the last silently; one warning names it (as key=value given twice)."""
    import logging

    from mmdistill.recipes import image_dm

    with caplog.at_level(logging.WARNING):
        cfg = image_dm.RECIPE.config_from_argv(["--dataset", "digits", "--ipc", "3", "--ipc=1", "--budget", "cpu"])
    assert cfg.ipc == 1 and "flag --ipc given 2 times (--ipc, --ipc); the last one is used" in caplog.text


def test_a_flag_spelled_with_the_keys_underscores_is_read():
    """`--expert_train_epochs 2` (the key's own spelling) was refused as a key that "does not apply to recipe
    image-mtt", a key the recipe has; it is read as `--expert-train-epochs`, `=value` and `--no-` forms included."""
    from mmdistill.recipes import image_mtt

    cfg = image_mtt.RECIPE.config_from_argv(["--dataset", "digits", "--expert_train_epochs", "30", "--max_start_epoch=4",
                                             "--no-eval_dsa", "seed=2"])
    assert (cfg.expert_train_epochs, cfg.max_start_epoch, cfg.eval_dsa, cfg.seed) == (30, 4, False, 2)
    with pytest.raises(ConfigError, match=r"unknown flag --expert_train_epoch \(no config key 'expert_train_epoch' in recipe "
                                          r"image-mtt\); did you mean --expert-train-epochs, "):
        image_mtt.RECIPE.config_from_argv(["--expert_train_epoch", "30"])


def test_a_config_file_nested_too_deeply_is_named(tmp_path):
    """PyYAML recursed until RecursionError (a traceback) on a value nested 20,000 levels deep."""
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ConfigError, match=r"deep.yaml is not valid YAML \(nested too deeply\)"):
        load_yaml(tmp_path / "deep.yaml")


def test_a_config_built_directly_takes_its_budget_and_tables_when_run():
    """Walk 35B D1: run(image_dm.Config(dataset="digits", budget="cpu")) ran the paper's values (lr_data 1, 20
    evaluation networks) under a manifest and card saying budget cpu; run(cfg) and run(cfg, ipc=<same>) differed."""
    from mmdistill.recipes import image_dm
    from mmdistill.resolve import config_sources

    direct = image_dm.Config(dataset="digits", budget="cpu", ipc=1)
    ran = image_dm.RECIPE.run_config(direct, {})
    assert ran == image_dm.RECIPE.run_config(direct, {"ipc": 1}) == image_dm.RECIPE.config(dataset="digits", budget="cpu", ipc=1)
    assert ran.lr_data == 10.0 and ran.eval_runs == 5 and "tables/budgets.yaml" in config_sources(ran)["lr_data"]
    mine = image_dm.RECIPE.run_config(image_dm.Config(dataset="digits", budget="cpu", lr_data=3.0), {})
    assert mine.lr_data == 3.0 and mine.eval_runs == 5  # a value set on the config still wins over the table
    # review 35: a value the caller gave that equals the class default is kept too (it was taken for "not set")
    assert image_dm.RECIPE.run_config(image_dm.Config(dataset="digits", budget="cpu", iterations=20000), {}).iterations == 20000
    import dataclasses

    copied = dataclasses.replace(image_dm.RECIPE.config(dataset="digits", budget="cpu"), lr_data=1.0)  # every field given
    assert image_dm.RECIPE.run_config(copied, {}).lr_data == 1.0


def test_the_method_key_of_a_trajectory_recipe_is_the_method_recorded():
    """Walk 35B D2: image-mtt method=tesla was recorded (manifest, card, show) as mtt, image-tesla method=mtt as tesla."""
    from mmdistill.recipes import image_dm, image_mtt, image_tesla

    assert image_mtt.RECIPE.method_of(image_mtt.RECIPE.config(method="tesla")) == "tesla"
    assert image_tesla.RECIPE.method_of(image_tesla.RECIPE.config(method="mtt")) == "mtt"
    assert image_mtt.RECIPE.method_of(image_mtt.RECIPE.config()) == "mtt"
    assert image_dm.RECIPE.method_of(image_dm.RECIPE.config()) == "dm"


def _laughs(levels: int = 9) -> str:
    """A YAML "billion laughs": ``levels`` lists of 10 aliases of the one before (10**levels strings once expanded)."""
    lines = ["nets:", '  - &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  - &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_short_repr_is_bounded_for_a_billion_laughs_and_unchanged_for_short_values():
    """Walk 39A: a refused value was repr'd whole before being cut (a YAML bomb under a known key: MemoryError)."""
    import time

    import yaml

    from mmdistill.keys import short_repr

    bomb = yaml.safe_load(_laughs())
    start = time.perf_counter()
    said = short_repr(bomb)
    assert time.perf_counter() - start < 1.0 and said.startswith("<dict {'nets': [['lol', 'lol'") and len(said) <= 90
    for value in (1, "abc", [1, 2, (3,)], (), {}, {"a": [1, (2, 3)], "b": None}, [1.5, True, None], {1, 2}, "é\n"):
        assert short_repr(value) == repr(value)
    long = list(range(100))
    assert short_repr(long) == f"<list {repr(long)[:60]}...>"  # as before: type and first characters
    loop: list = [1]
    loop.append(loop)
    assert short_repr(loop) == repr(loop) == "[1, [...]]"
    assert short_repr(10 ** 5000) == f"<int of {(10 ** 5000).bit_length()} bits>"  # no ValueError past 4,300 digits
    deep: list = []
    tip = deep
    for _ in range(5000):
        tip.append([])
        tip = tip[0]
    assert short_repr(deep).startswith("<list [[[[")


def test_a_yaml_bomb_under_a_known_key_is_a_one_line_config_error(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_laughs())
    with pytest.raises(ConfigError, match=r"config key 'nets': cannot read <list \[\['lol', 'lol'.*\.\.\.> as list") as err:
        build_config(Cfg, (str(path), load_yaml(path)))
    assert len(str(err.value)) < 400


def test_numbers_torch_cannot_hold_are_refused_naming_the_key():
    """Walk 39D: seed=2**64 and lr_data=1e308 passed the keys' ranges and ended in tracebacks from torch (int64 seeds,
    float32 step sizes)."""
    from mmdistill.recipes import image_dm

    with pytest.raises(ConfigError, match=r"seed=18446744073709551616: expected an integer >= 0, at most 2\^63 - 1 \(int64\)"):
        image_dm.RECIPE.config(seed=2**64)
    with pytest.raises(ConfigError, match=r"lr_data=1e\+308: expected a number > 0 .*, at most 3.4e38 \(float32\)"):
        image_dm.RECIPE.config(lr_data=1e308)
    assert image_dm.RECIPE.config(seed=2**63 - 1, lr_data=1e30).seed == 2**63 - 1
