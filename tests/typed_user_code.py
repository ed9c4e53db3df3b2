"""A strictly typed user's code against mmdistill's public API, as README.md and docs/adding-a-*.md show it.

Never run: tests/test_typed_api.py type-checks it with ``mypy --strict`` against the package laid out as pip
installs it. Each block is an example of the docs; ``assert_type`` pins what a type checker must see there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import assert_type

import mmdistill
from mmdistill import ArtifactError, ConfigError, DataError, LabeledTensors, MmdistillError, SyntheticSet
from mmdistill.adapter_checks import check_modality
from mmdistill.context import MatchContext
from mmdistill.data import ClassificationData
from mmdistill.io import load_synthetic
from mmdistill.keys import key
from mmdistill.loop import Matcher
from mmdistill.matchers import apply_update
from mmdistill.methods.distribution import DistributionMatchingConfig, make_dm_matcher
from mmdistill.modalities.base import TensorClassificationAdapter
from mmdistill.modalities.image.adapter import ImageModality
from mmdistill.modalities.image.config import ImageDistillConfig
from mmdistill.modalities.video import MODALITY as VIDEO
from mmdistill.modality import ClassificationModality, Modality, TrajectoryModality
from mmdistill.nets import build_network, register_network
from mmdistill.recipe import Recipe
from mmdistill.recipes import get_recipe, graph_gcond, image_dm, image_text_lors, sequences_td3, tables
from mmdistill.run import RunResult
from mmdistill.seeding import draw_seed
from mmdistill.share import DistilledSet, export_hf, read_hf
from mmdistill.synthetic import SyntheticSet as Syn


# README "Python API": a run, its config, the saved set
def python_api(out: str) -> None:
    result = image_dm.run(dataset="digits", ipc=10, budget="cpu", out=out)
    assert_type(result, RunResult)
    assert result.synthetic is not None  # None for a run that trains instead of distilling (clip-finetune)
    assert_type(result.synthetic, Syn)
    cfg = image_dm.RECIPE.config(dataset="digits", ipc=1, budget="cpu")  # the recipe's own Config, not DistillConfig
    assert_type(cfg, image_dm.Config)
    batch_real: int = cfg.batch_real
    assert_type(image_dm.run(image_dm.Config(dataset="digits", ipc=10), overwrite=True), RunResult)
    assert_type(graph_gcond.RECIPE.config(), graph_gcond.Config)  # recipes built by a factory keep their Config
    assert_type(sequences_td3.RECIPE.config(), sequences_td3.Config)
    assert_type(image_text_lors.RECIPE.config(), image_text_lors.Config)
    assert_type(get_recipe("image-dm"), Recipe[Any])
    syn, manifest = load_synthetic(out)
    assert_type(syn, SyntheticSet)
    assert_type(manifest, dict[str, Any])
    print(batch_real, syn.num_classes, mmdistill.__version__, LabeledTensors, (ArtifactError, ConfigError, DataError, MmdistillError))
    # a misspelt name is an error, not Any (the packages' lazy __getattr__ is hidden from type checkers); strict's
    # warn_unused_ignores fails the check if these ignores stop being needed
    mmdistill.lod(out)  # type: ignore[attr-defined]
    from mmdistill.recipes import image_dmm  # type: ignore[attr-defined]  # noqa: F401


# README "Share a distilled set"
def share(path: str, out: str) -> None:
    ds = mmdistill.load(path)
    assert_type(ds, DistilledSet)
    loader = torch.utils.data.DataLoader(ds.dataset(), batch_size=32, shuffle=True)
    step: float | dict[str, float] | None = ds.step_size
    soft: Tensor | None = ds.soft_targets
    norm: dict[str, dict[str, Tensor]] | None = ds.normalization
    classes: list[str] = ds.classes
    net = build_network(ds.manifest["config"]["network"], tuple(ds.x.shape[1:]), ds.num_classes)
    scores = mmdistill.evaluate(path, networks=["convnet"], runs=5)
    assert_type(scores, dict[str, Any])
    folder: Path = export_hf(path, out)
    columns: dict[str, Tensor] = read_hf(folder)
    print(loader, step, soft, norm, classes, net, columns, ds.summary())


# README "Your own network": the decorator keeps the builder's signature
@register_network("typed-mlp")
def typed_mlp(in_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))


assert_type(typed_mlp((1, 8, 8), 10), nn.Sequential)


# docs/adding-a-method.md: a new embedding distance on DM's factory, a parameterization, a recipe
def cov_loss(a: Tensor, b: Tensor, weight: float = 1.0) -> Tensor:
    return ((a.mean(0) - b.mean(0)) ** 2).sum() * weight


@dataclass
class CovConfig(DistributionMatchingConfig, ImageDistillConfig):
    cov_weight: float = key(1.0, help="weight of the covariance term", range="[0, inf)")
    lowres_factor: int = key(2, help="downsampling factor of the stored images", range="[1, 8]")


def make_cov_matcher(ctx: MatchContext) -> Matcher:
    cfg: CovConfig = ctx.config
    return make_dm_matcher(ctx, loss=partial(cov_loss, weight=cfg.cov_weight))


class LowResImages(ImageModality):
    name = "image_lowres"

    def init_synthetic(self, data: ClassificationData, config: Any, gen: torch.Generator) -> Syn:
        syn = super().init_synthetic(data, config, gen)
        syn.meta["full_size"] = list(data.train.x.shape[-2:])
        return syn

    def decode(self, syn: Syn) -> Tensor:
        return nn.functional.interpolate(syn.data["x"], size=tuple(syn.meta["full_size"]))


class MeanMatcher:
    """A matcher from the contract alone: ``step(syn, optimizer, gen) -> {"loss": float}``, nothing else."""

    def __init__(self, ctx: MatchContext) -> None:
        self.ctx = ctx

    def step(self, syn: Syn, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, float]:
        x = self.ctx.modality.decode(syn)
        if self.ctx.augment is not None:
            x = self.ctx.augment(x, seed=draw_seed(gen), groups=None, num_groups=1)
        return {"loss": apply_update(x.mean().abs(), optimizer)}


def make_mean_matcher(ctx: MatchContext) -> Matcher:
    return MeanMatcher(ctx)


COV = Recipe(name="image-lowres-covmatch", modality="image_lowres", method="covmatch", summary="CovMatch",
             config_cls=CovConfig, make_matcher=make_cov_matcher, tables=(*tables("dm"), Path("budgets.yaml")))
MEAN = Recipe(name="image-mean", modality="image", method="mean", summary="a toy", config_cls=CovConfig,
              make_matcher=make_mean_matcher, tables=tables("dm"))


def check_plugin(tmp: Path) -> list[str]:
    cfg = COV.config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, herding_epochs=1, progress=False)
    weight: float = cfg.cov_weight
    print(weight, MEAN.run(cfg))
    return check_modality(LowResImages(), cfg, tmp)


# docs/adding-a-modality.md: a classification adapter is a Modality, a ClassificationModality and (from the tensor
# base's hooks) a TrajectoryModality; so are the built-in classification adapters
class SeriesModality(TensorClassificationAdapter):
    name = "series"
    sample_noun = "series"
    cross_arch_networks = ("typed-mlp", "convnet")

    def load(self, config: Any) -> ClassificationData:
        x, y = torch.randn(8, 1, 32), torch.arange(8) % 2
        return ClassificationData("series", train=LabeledTensors(x, y, ["a", "b"]), test=LabeledTensors(x, y, ["a", "b"]), meta={})

    def augmenter(self, strategy: str, dataset: str) -> None:
        return None

    def write_preview(self, syn: Syn, path: Path, title: str) -> Path:
        return path

    def export(self, syn: Syn, out_dir: Path) -> Path:
        return out_dir

    def versions(self) -> dict[str, str]:
        return {}


SERIES = SeriesModality()
CONTRACTS: tuple[Modality, ClassificationModality, TrajectoryModality] = (SERIES, SERIES, SERIES)
BUILT_IN: tuple[ClassificationModality, TrajectoryModality] = (VIDEO, VIDEO)
