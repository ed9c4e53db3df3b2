"""Modalities and recipes of other packages, found through their entry points (``mmdistill.plugins``): a package
on the path with a dist-info declaring them is run, shown, evaluated and loaded like mmdistill's own, untouched."""

from __future__ import annotations

import json
import re
import sys
from fake_packages import write_package

import pytest

from mmdistill.cli import main as cli_main
from mmdistill.errors import ConfigError

PLUGIN = '''
from dataclasses import dataclass

from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher
from mmdistill.modalities.image.adapter import ImageModality
from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.recipe import Recipe
from mmdistill.recipes import tables


class ToyModality(ImageModality):
    """The image adapter under another name: what matters here is how it is found."""

    name = "toyplug"


MODALITY = ToyModality()


@dataclass
class Config(DistributionMatchingConfig, ImageDistillConfig):
    """DM on images."""


RECIPE = Recipe(name="toyplug-dm", modality="toyplug", method="dm", summary="a plugin's recipe", paper="",
                config_cls=Config, make_matcher=make_dm_matcher, tables=tables())
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A package ``toyplug_pkg`` with a dist-info declaring its modality and recipe, on ``sys.path``."""
    site = write_package(tmp_path / "site", "toyplug_pkg", PLUGIN,
                         "[mmdistill.modalities]\ntoyplug = toyplug_pkg:MODALITY\nnotanadapter = toyplug_pkg:Config\n"
                         "wrongname = toyplug_pkg:MODALITY\nbase = toyplug_pkg:MODALITY\ntwice = toyplug_pkg:MODALITY\n\n"
                         "[mmdistill.recipes]\ntoyplug-dm = toyplug_pkg:RECIPE\nbroken-dm = toyplug_pkg_missing:RECIPE\n"
                         "renamed-dm = toyplug_pkg:RECIPE\n", summary="toy signals, DM \x1b[2Jin one line")
    # a second package declaring a name the first declares
    write_package(site, "other_pkg", None, "[mmdistill.modalities]\ntwice = toyplug_pkg:ToyModality\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("toyplug_pkg", None)


def test_an_installed_plugin_runs_and_its_set_is_read_back(plugin, tmp_path, capsys):
    from mmdistill.modality import get_modality, registered_modalities
    from mmdistill.recipes import get_recipe
    from mmdistill.share import load

    assert get_recipe("toyplug-dm").name == "toyplug-dm" and get_modality("toyplug").name == "toyplug"
    assert "toyplug" in registered_modalities()
    assert cli_main(["recipes"]) == 0
    listing = capsys.readouterr().out  # the package's own summary, escaped, with its name and version; nothing imported
    assert re.search(r"^toyplug-dm +toy signals, DM \\x1b\[2Jin one line \(package toyplug-pkg 0\.1\)$", listing, re.M), listing
    from mmdistill.cli import recipe_listing

    listed = recipe_listing(trajectory_only=True)  # experts --help: the heading says it lists installed packages' too
    assert "toyplug-dm" in listed and "image-mtt" in listed and "image-dm " not in listed
    out = tmp_path / "run"
    assert cli_main(["run", "toyplug-dm", "--dataset", "digits", "--ipc", "1", "iterations=2", "eval_runs=1", "eval_epochs=1",
                     "herding_epochs=1", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["modality"] == "toyplug"
    capsys.readouterr()
    assert cli_main(["show", str(out)]) == 0 and "recipe toyplug-dm, modality toyplug" in capsys.readouterr().out
    assert cli_main(["eval", str(out), "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert tuple(load(out).labels.shape) == (10,)  # mmdistill.load finds the adapter by its name


def test_a_plugin_that_cannot_be_loaded_or_is_missing_is_named(plugin):
    from mmdistill.modality import get_modality
    from mmdistill.recipes import get_recipe

    with pytest.raises(ConfigError, match=r"mmdistill.recipes entry point 'broken-dm' of package toyplug-pkg .*cannot be loaded"):
        get_recipe("broken-dm")
    with pytest.raises(ConfigError, match=r"unknown recipe 'nosuch-dm'; known recipes: .*toyplug-dm"):
        get_recipe("nosuch-dm")
    with pytest.raises(ConfigError, match=r"unknown modality 'nosuch': no package mmdistill.modalities.nosuch, and no installed "
                                          r"package declares it \(entry point group mmdistill.modalities\)"):
        get_modality("nosuch")


def test_a_plugin_must_be_what_its_entry_point_says_and_declared_once(plugin):
    """An entry point naming something that is not an adapter, an adapter of another name (its saved sets could not be
    read back), a name two packages declare, or the name of one of mmdistill's helper modules (``base``): each a
    ConfigError naming it, never an arbitrary choice or a later failure."""
    from mmdistill.modality import get_modality
    from mmdistill.recipes import get_recipe

    with pytest.raises(ConfigError, match=r"entry point 'notanadapter' is not an adapter named 'notanadapter'.*got type.*which has no .*decode, "):  # what it lacks
        get_modality("notanadapter")
    with pytest.raises(ConfigError, match=r"entry point 'wrongname' is not an adapter named 'wrongname'.*named 'toyplug'"):
        get_modality("wrongname")
    with pytest.raises(ConfigError, match=r"entry point 'twice' is declared by several installed packages \(.*toyplug-pkg.*other-pkg"):
        get_modality("twice")
    with pytest.raises(ConfigError, match=r"entry point 'base' is not an adapter named 'base'"):  # not mmdistill.modalities.base
        get_modality("base")
    with pytest.raises(ConfigError, match=r"entry point 'renamed-dm' is not a Recipe named 'renamed-dm'.*named 'toyplug-dm'"):
        get_recipe("renamed-dm")


def test_a_plugin_checks_its_adapter_with_the_public_contract_checks(plugin, tmp_path):
    """What the plugin section of docs/adding-a-modality.md tells a package to put in its own tests: the checks this
    repository's contract test runs (:mod:`mmdistill.adapter_checks`), with no copy of that test."""
    from mmdistill.adapter_checks import check_modality
    from mmdistill.modality import get_modality
    from mmdistill.recipes import get_recipe

    cfg = get_recipe("toyplug-dm").config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)
    done = check_modality(get_modality("toyplug"), cfg, tmp_path / "check")
    assert "build_network" in done and "export" in done


def test_a_modality_whose_library_is_missing_names_an_install_that_exists(monkeypatch):
    """It said "install mmdistill with the 'image_text' extra": there is no such extra (image-text's is 'text')."""
    from mmdistill import modality

    def missing(name, *a, **kw):
        raise ModuleNotFoundError("No module named 'open_clip'", name="open_clip")

    monkeypatch.setattr(modality.importlib, "import_module", missing)
    with pytest.raises(ConfigError, match=r"modality 'image_text' needs the package open_clip, which is not installed: "
                                          r"pip install \"mmdistill\[text\]\""):
        modality.get_modality("image_text")


def test_a_library_missing_when_an_adapter_imports_it_late_names_its_extra_not_a_traceback(monkeypatch, tmp_path, capsys):
    """Walk 35D #1: with only the image extra, the audio, graph, image-text ... recipes ended in a ModuleNotFoundError
    traceback (their adapters import those libraries while loading, after the guard above). The command line names
    the package and the extra that installs it (exit 2)."""
    from mmdistill import run as run_module
    from mmdistill.cli import main

    def missing(*a, **kw):
        raise ModuleNotFoundError("No module named 'torch_geometric'", name="torch_geometric.data")

    monkeypatch.setattr(run_module, "load_data", missing)
    assert main(["run", "image-dm", "--dataset", "digits", "--ipc", "1", "--no-progress", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert 'needs the package torch_geometric, which is not installed: pip install "mmdistill[graph]"' in err
    assert "Traceback" not in err
