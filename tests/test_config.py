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
    with pytest.raises(ConfigError, match=r"config key dataset=<Tensor tensor\(.*\.\.\.>: expected a str") as err:
        image_dm.RECIPE.config(dataset=torch.rand(50, 1, 9, 7))
    assert len(str(err.value)) < 160
