"""Recipes: one importable, runnable module per method and modality (installed as ``mmdistill.recipes``).

``get_recipe("image-dm")`` returns the :class:`~mmdistill.recipe.Recipe`; ``RECIPES`` maps CLI names to
module names. Modules are imported lazily so listing recipes needs no modality dependency. The paper tables
the recipes look their defaults up in are ``tables/*.yaml`` (package data; the rule is
:mod:`mmdistill.tables`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmdistill.errors import ConfigError
from mmdistill.keys import close_matches

if TYPE_CHECKING:  # imported where a recipe is loaded: listing the recipes (`mmdistill recipes`, --help) loads no torch
    from mmdistill.recipe import Recipe

#: CLI name -> (module, one-line summary)
RECIPES: dict[str, tuple[str, str]] = {
    "image-dc": ("image_dc", "images, gradient matching (DC, Zhao et al. ICLR 2021)"),
    "image-dsa": ("image_dsa", "images, gradient matching + differentiable siamese augmentation (DSA, ICML 2021)"),
    "image-dm": ("image_dm", "images, distribution matching (DM, Zhao & Bilen WACV 2023)"),
    "image-mtt": ("image_mtt", "images, trajectory matching (MTT, Cazenavette et al. CVPR 2022)"),
    "image-tesla": ("image_tesla", "images, constant-memory trajectory matching, soft labels with --label-mode soft (TESLA, Cui et al. ICML 2023)"),
    "image-text-bitrajectory": ("image_text_bitrajectory", "image-text pairs, bi-trajectory matching (Wu et al. TMLR 2024)"),
    "image-text-lors": ("image_text_lors", "image-text pairs, trajectory matching + low-rank similarity mining (LoRS, Xu et al. ICML 2024)"),
    "clip-finetune": ("clip_finetune", "image-text: fine-tune an open_clip image tower on distilled or random real pairs"),
    "graph-gcond": ("graph_gcond", "graphs, gradient matching with a generated adjacency (GCond, ICLR 2022)"),
    "graph-gcond-x": ("graph_gcond_x", "graphs, structure-free gradient matching, A' = I (GCond-X)"),
    "graph-dm": ("graph_dm", "graphs, distribution matching on GNN embeddings"),
    "audio-dm": ("audio_dm", "audio as FD-MFCC maps, distribution matching (DM; features of DDFAD, Jiang et al. 2024)"),
    "audio-ddfad": ("audio_ddfad", "audio as FD-MFCC maps, trajectory matching (DDFAD, Jiang et al. 2024)"),
    "audio-visual-dm": ("audio_visual_dm", "audio-visual pairs, distribution matching per modality (AV-DM baseline of AVDD)"),
    "audio-visual-avdd": ("audio_visual_avdd", "audio-visual pairs, DM + implicit cross-matching + cross-modal gap matching (AVDD, TMLR 2024)"),
    "video-dm": ("video_dm", "video clips, distribution matching on full clips (video DM baseline)"),
    "video-mtt": ("video_mtt", "video clips, trajectory matching on full clips (video MTT baseline)"),
    "video-static-dynamic": ("video_static_dynamic", "video clips, static/dynamic disentanglement, stage 2 by DM or MTT (Wang et al. CVPR 2024)"),
    "sequences-td3": ("sequences_td3", "recommendation sequences, Tucker-decomposed summary by meta-learning (TD3, WWW 2025)"),
    "sequences-farzi": ("sequences_farzi", "recommendation sequences, latent summary + learned decoder (Farzi Data, 2023)"),
}


#: the recipes that match trajectories (they have expert buffers: ``mmdistill experts RECIPE``)
TRAJECTORY_RECIPES = ("image-mtt", "image-tesla", "audio-ddfad", "video-mtt", "video-static-dynamic", "image-text-bitrajectory", "image-text-lors")


#: the folder of the paper tables
TABLES_DIR = Path(__file__).resolve().parent / "tables"


def tables(*names: str) -> tuple[Path, ...]:
    """The table files ``names`` (``"mtt"`` -> ``tables/mtt.yaml``) in order, then the budget table."""
    return tuple(TABLES_DIR / f"{name}.yaml" for name in (*names, "budgets"))


def recipe_summaries() -> dict[str, str]:
    """CLI name -> one-line summary of every recipe: mmdistill's own (:data:`RECIPES`), then those installed packages
    declare in the ``mmdistill.recipes`` entry-point group (:mod:`mmdistill.plugins`; nothing is imported)."""
    from mmdistill.plugins import RECIPE_GROUP, plugin_summaries

    own = {name: summary for name, (_, summary) in RECIPES.items()}
    return {**own, **{n: s for n, s in plugin_summaries(RECIPE_GROUP).items() if n not in own}}


def get_recipe(name: str) -> Recipe[Any]:
    """The recipe registered as ``name`` (``image-dm`` or ``image_dm``), or one an installed package declares in the
    ``mmdistill.recipes`` entry-point group."""
    from mmdistill.plugins import RECIPE_GROUP, load_plugin
    from mmdistill.recipe import Recipe

    key = name.replace("_", "-").lower()
    if key in RECIPES:
        return importlib.import_module(f"mmdistill.recipes.{RECIPES[key][0]}").RECIPE
    plugin = load_plugin(RECIPE_GROUP, key, "RECIPE")
    if plugin is None:
        known = sorted(recipe_summaries())
        close = close_matches(key, known)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown recipe {name!r}{hint}; known recipes: {', '.join(known)}")
    if not isinstance(plugin, Recipe) or plugin.name != key:
        raise ConfigError(f"{RECIPE_GROUP} entry point {key!r} is not a Recipe named {key!r}: got {type(plugin).__name__} "
                          f"named {getattr(plugin, 'name', None)!r}")
    check_config_class(plugin, f"{RECIPE_GROUP} entry point {key!r}")
    return plugin


def check_config_class(recipe: Recipe[Any], where: str) -> None:
    """ConfigError naming ``where`` (a plugin's entry point) when ``recipe``'s config class is no
    :class:`~mmdistill.schema.DistillConfig` or has a key not declared with :func:`mmdistill.keys.key` (read by every
    command: its ``--help``, the run, the manifest), instead of a traceback from the first command that reads them."""
    from mmdistill.keys import key_infos
    from mmdistill.schema import DistillConfig

    cls = recipe.config_cls
    name = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    if not (isinstance(cls, type) and issubclass(cls, DistillConfig)):
        raise ConfigError(f"{where}: recipe {recipe.name}'s config_cls {name} is not a mmdistill.schema.DistillConfig; compose a "
                          "method family and a modality config: class Config(DistributionMatchingConfig, ImageDistillConfig)")
    try:
        key_infos(cls)
    except TypeError as exc:  # a field written as `x: float = 1.0`
        raise ConfigError(f"{where}: recipe {recipe.name}'s config {name}: {exc}") from None


if not TYPE_CHECKING:  # type checkers find the recipe modules as submodules; seen, this made any name Any to them
    def __getattr__(name: str) -> Any:  # from mmdistill.recipes import image_dm
        for module, _ in RECIPES.values():
            if name == module:
                return importlib.import_module(f"mmdistill.recipes.{module}")
        raise AttributeError(name)
