"""Extending the core's middle from another package (walk 50C): a parameterization of an existing modality (an image
adapter whose set stores low-resolution images and decodes them by upsampling), a matching objective of its own on
DM's machinery, and the one-line errors a broken matcher or adapter gets instead of a traceback."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdistill.modalities.image.adapter import ImageModality
from mmdistill.synthetic import SyntheticSet


class LowResImages(ImageModality):
    """Images stored at half resolution (``data["low"]``, (K, C, H/2, W/2)) and decoded by bilinear upsampling: what
    docs/adding-a-modality.md calls another parameterization (``init_synthetic`` and ``decode`` overridden)."""

    name = "lowres_images"

    def init_synthetic(self, data: Any, config: Any, gen: torch.Generator) -> SyntheticSet:
        syn = super().init_synthetic(data, config, gen)
        x = syn.data.pop("x")
        syn.data["low"] = F.avg_pool2d(x, 2, ceil_mode=True)
        syn.meta["full_size"] = list(x.shape[-2:])
        return syn

    def decode(self, syn: SyntheticSet) -> Tensor:
        return F.interpolate(syn.data["low"], size=tuple(syn.meta["full_size"]), mode="bilinear", align_corners=False)


def test_an_image_parameterization_without_x_is_previewed_exported_and_shared(tmp_path):
    """The image adapter read the set's channel count and sample shape off ``syn.x`` for its preview, export, Hugging
    Face column and memorisation pictures, so a set of another parameterization lost its preview, its memorisation
    block, and could not be exported ("the synthetic set has no 'data.x' tensor ... the file is damaged"); they read
    the decoded images now, and the public contract checks pass on such an adapter."""
    from mmdistill.adapter_checks import check_modality
    from mmdistill.recipes import get_recipe

    cfg = get_recipe("image-dm").config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)
    done = check_modality(LowResImages(), cfg, tmp_path / "check")
    assert "write_preview" in done and "export" in done
    modality = LowResImages()
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, torch.Generator().manual_seed(0))
    assert tuple(syn.data["low"].shape) == (10, 1, 4, 4)
    views = modality.memorisation_views(cfg, syn, data, 50, torch.Generator().manual_seed(0))
    assert tuple(views.syn_pictures([0]).shape) == (1, 8, 8, 1)


def _recipe(make_matcher, modality: str = "image"):
    from mmdistill.recipe import Recipe
    from mmdistill.recipes.image_dm import Config

    return Recipe(name="walk-ext", modality=modality, method="dm", summary="", config_cls=Config, make_matcher=make_matcher)


def _run(recipe, tmp_path, monkeypatch=None, modality=None):
    if modality is not None:  # the adapter a plugin's entry point would give
        monkeypatch.setattr("mmdistill.recipe.get_modality", lambda name: modality)
    return recipe.run(dataset="digits", ipc=1, iterations=1, evaluate=False, progress=False,
                      out=str(tmp_path / "run"))


def test_a_matcher_factory_that_returns_no_matcher_is_named(tmp_path):
    """A recipe's factory returning None (or an object without ``step``) was an AttributeError traceback from the loop's
    first iteration, after the data was loaded; it is a ConfigError naming the recipe and the factory."""
    from mmdistill.errors import ConfigError

    def make_nothing(ctx):
        return None

    with pytest.raises(ConfigError, match=r"recipe walk-ext: its make_matcher \(.*make_nothing\) returned NoneType, which has no "
                                          r"step\(syn, optimizer, generator\) method"):
        _run(_recipe(make_nothing), tmp_path)


def test_a_matcher_step_that_returns_no_mapping_is_named(tmp_path):
    """``step`` must return a dict of floats (the loop logs it); a float was an AttributeError traceback ('float' object
    has no attribute 'get'), now a ConfigError naming the matcher's class."""
    from mmdistill.errors import ConfigError
    from mmdistill.methods.distribution import make_dm_matcher

    class LossOnly:
        name = "loss-only"

        def __init__(self, inner):
            self.inner = inner

        def step(self, syn, optimizer, gen):
            return self.inner.step(syn, optimizer, gen)["loss"]

    with pytest.raises(ConfigError, match=r"LossOnly\.step returned float; a matcher's step returns a dict of floats"):
        _run(_recipe(lambda ctx: LossOnly(make_dm_matcher(ctx))), tmp_path)


def test_a_decode_of_another_shape_is_named_before_a_network_meets_it(tmp_path, monkeypatch):
    """A parameterization whose ``decode`` gives samples of another shape than the real ones failed deep in a convolution
    ('Expected 3D (unbatched) or 4D (batched) input to conv2d'); the run names the adapter's decode and both shapes."""
    from mmdistill.errors import ConfigError
    from mmdistill.methods.distribution import make_dm_matcher

    class FlatImages(ImageModality):
        name = "flat_images"

        def decode(self, syn: SyntheticSet) -> Tensor:
            return syn.x.flatten(1)

    with pytest.raises(ConfigError, match=r"modality 'flat_images' \(.*FlatImages\): decode gives samples of shape \(64,\) for "
                                          r"the set init_synthetic made; the real samples of digits have shape \(1, 8, 8\)"):
        _run(_recipe(make_dm_matcher), tmp_path, monkeypatch, FlatImages())
    result = _run(_recipe(make_dm_matcher), tmp_path / "ok", monkeypatch, LowResImages())  # a decode of the real shape runs
    assert set(result.synthetic.data) == {"low"}


@pytest.mark.parametrize("shard_classes", [False, True])
def test_a_class_loss_of_another_package_runs_on_dm_machinery(tmp_path, shard_classes):
    """A new embedding distance (CovMatch, an MMD of one's own) had to subclass DistributionMatching and override its
    private ``_loss``, which the class-sharded path (``shard_classes=true``) never calls, so such a method silently
    became DM there; ``make_dm_matcher(ctx, loss=...)`` takes one class's distance and both paths use it (the mean
    distance given as a function gives DM's set)."""
    from mmdistill.methods.distribution import make_dm_matcher

    calls = []

    def mean_distance(emb_real: Tensor, emb_syn: Tensor) -> Tensor:
        calls.append((emb_real.shape[0], emb_syn.shape[0]))
        return ((emb_real.mean(0) - emb_syn.mean(0)) ** 2).sum()

    def run(make, name):
        return _recipe(make).run(dataset="digits", ipc=2, iterations=2, batch_real=8, evaluate=False, progress=False,
                                 shard_classes=shard_classes, out=str(tmp_path / name)).synthetic.data["x"]

    own = run(lambda ctx: make_dm_matcher(ctx, loss=mean_distance), "own")
    assert len(calls) == 2 * 10 and calls[0] == (8, 2)  # per class, every iteration
    torch.testing.assert_close(own, run(make_dm_matcher, "dm"), rtol=1e-4, atol=1e-5)


class MultiFormation(ImageModality):
    """IDC's multi-formation: each stored image holds 2 x 2 tiles, each decoded (upsampled) into an image of its own."""

    name = "multi_formation"
    label_per_decoded = False

    def init_synthetic(self, data: Any, config: Any, gen: torch.Generator) -> SyntheticSet:
        syn = super().init_synthetic(data, config, gen)
        if self.label_per_decoded:
            syn.labels = syn.labels.repeat_interleave(4)
        return syn

    def decode(self, syn: SyntheticSet) -> Tensor:
        x = syn.data["x"]
        k, c, h, w = x.shape
        tiles = x.unfold(2, h // 2, h // 2).unfold(3, w // 2, w // 2).permute(0, 2, 3, 1, 4, 5).reshape(4 * k, c, h // 2, w // 2)
        return F.interpolate(tiles, size=(h, w), mode="bilinear", align_corners=False)


def test_a_set_that_decodes_more_samples_than_it_has_labels_is_named(tmp_path, monkeypatch):
    """A multi-formation set with one label per stored image failed in the matcher ('DSA groups must have shape (40,)',
    without DSA an index_add_ size error); the run names the adapter's decode and the two counts, and says what the
    core expects: one label per decoded sample in syn.labels, with which the same set runs."""
    from mmdistill.errors import ConfigError
    from mmdistill.methods.distribution import make_dm_matcher

    with pytest.raises(ConfigError, match=r"modality 'multi_formation' \(.*MultiFormation\): decode gives 40 samples for the "
                                          r"set's 10 labels; .*one label per decoded sample in syn.labels"):
        _run(_recipe(make_dm_matcher), tmp_path, monkeypatch, MultiFormation())
    fixed = MultiFormation()
    fixed.label_per_decoded = True
    result = _run(_recipe(make_dm_matcher), tmp_path / "ok", monkeypatch, fixed)
    assert tuple(result.synthetic.data["x"].shape) == (10, 1, 8, 8) and len(result.synthetic.labels) == 40


def test_a_set_of_a_recipe_no_installed_package_declares_says_what_to_install(tmp_path):
    """A set made by a plugin's recipe, read where the plugin is not installed: `show` said to install the package that
    made it (its modality), `eval`, `check` and `export` (the recipe, looked up first) only 'unknown recipe ...; known
    recipes: ...'; they say it too now."""
    from mmdistill.errors import ArtifactError
    from mmdistill.recipes import get_recipe
    from mmdistill.share import saved_recipe

    with pytest.raises(ArtifactError, match=r"manifest.json: unknown recipe 'image-lowres-covmatch'; known recipes: .*; install "
                                            r"the package that made the set \(its recipe is an entry point of group mmdistill.recipes\)"):
        saved_recipe({"recipe": "image-lowres-covmatch", "modality": "image_lowres"}, tmp_path, get_recipe)


def test_dm_loss_asked_of_a_recipe_with_its_own_distance_is_refused(tmp_path):
    """A recipe that gives DM its own distance still has DM's dm_loss key (its config composes DM's family): a value
    asked for (--dm-loss mmd) was ignored, silently; it is refused naming the key and the recipe's function."""
    from functools import partial

    from mmdistill.errors import ConfigError
    from mmdistill.methods.distribution import make_dm_matcher

    def weighted_mean(a: Tensor, b: Tensor, weight: float) -> Tensor:
        return weight * ((a.mean(0) - b.mean(0)) ** 2).sum()

    recipe = _recipe(lambda ctx: make_dm_matcher(ctx, loss=partial(weighted_mean, weight=2.0)))
    with pytest.raises(ConfigError, match=r"dm_loss='mmd' does not apply: this recipe gives distribution matching its own "
                                          r"distance \(.*test_core_extensions.*weighted_mean\)") as refused:
        recipe.run(dataset="digits", ipc=1, iterations=1, evaluate=False, progress=False, dm_loss="mmd", out=str(tmp_path / "r"))
    assert refused.value.key == "dm_loss"


def test_a_plugin_recipe_whose_config_has_an_undeclared_key_is_named(monkeypatch):
    """A plugin's config with a field written as ``cov_weight: float = 1.0`` (no ``key()``), or a config class that is no
    DistillConfig, was a TypeError traceback from ``mmdistill run NAME`` and from its ``--help``; get_recipe names the
    entry point, the recipe's config and the key."""
    from dataclasses import dataclass

    from mmdistill.errors import ConfigError
    from mmdistill.recipe import Recipe
    from mmdistill.recipes import get_recipe
    from mmdistill.recipes.image_dm import Config as DMConfig

    @dataclass
    class Undeclared(DMConfig):
        cov_weight: float = 1.0

    @dataclass
    class Plain:
        ipc: int = 1

    def plugin(config_cls):
        recipe = Recipe(name="walk-plugin", modality="image", method="dm", summary="", config_cls=config_cls, make_matcher=print)
        monkeypatch.setattr("mmdistill.plugins.load_plugin", lambda group, name, attribute: recipe)

    plugin(Undeclared)
    with pytest.raises(ConfigError, match=r"^mmdistill.recipes entry point 'walk-plugin': recipe walk-plugin's config .*Undeclared: "
                                          r"Undeclared.cov_weight has no declaration \(declare it with mmdistill.keys.key\)$"):
        get_recipe("walk-plugin")
    plugin(Plain)
    with pytest.raises(ConfigError, match=r"recipe walk-plugin's config_cls .*Plain is not a mmdistill.schema.DistillConfig"):
        get_recipe("walk-plugin")
    plugin(DMConfig)
    assert get_recipe("walk-plugin").config_cls is DMConfig
