"""The held-out split of data that has none is drawn with ``split_seed``, not the run's ``seed``: every seed of a sweep
is scored on the same test samples (before, a seed-1 digits set was trained on 292 of the 360 images seed 0 is scored
on). Default ``split_seed`` 0 is the old seed-0 split; a set saved before the key existed keeps its seed's split."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmdistill.keys import input_keys
from mmdistill.loop import run_loop


def _recipe(name: str):
    return importlib.import_module(f"mmdistill.recipes.{name}").RECIPE


def _load(recipe: str, **kw):
    r = _recipe(recipe)
    return r.get_modality().load(r.config(**kw))


def _same(a, b) -> bool:
    return a.shape == b.shape and torch.equal(a, b)


def test_split_seed_is_a_resume_key_of_every_recipe_whose_data_may_be_split(caplog):
    for name in ("image_dm", "audio_dm", "video_dm", "audio_visual_dm", "image_text_lors", "graph_gcond"):
        info = input_keys(_recipe(name).config_cls)["split_seed"]
        assert info.default == 0 and info.resume and "the same for every --seed" in info.help


def test_digits_split_is_the_same_for_every_seed_and_follows_split_seed():
    from mmdistill.modalities.image.datasets import load_image_dataset

    d0, d1 = _load("image_dm", seed=0), _load("image_dm", seed=1)
    old0, old1 = load_image_dataset("digits", seed=0), load_image_dataset("digits", seed=1)  # what seeds 0 and 1 gave before
    assert _same(d0.test.x, old0.x_test) and _same(d0.train.y, old0.y_train)  # seed 0: bit-identical to the old split
    assert _same(d1.test.x, d0.test.x) and _same(d1.train.x, d0.train.x)
    other = _load("image_dm", seed=0, split_seed=1)
    assert _same(other.test.x, old1.x_test) and not _same(other.test.x, d0.test.x)


def _image_tree(root: Path, classes=("a", "b", "c"), per_class: int = 6) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_imagefolder_split_is_the_same_for_every_seed_and_follows_split_seed(tmp_path):
    from mmdistill.modalities.image.datasets import load_image_dataset

    root = str(_image_tree(tmp_path / "imgs"))
    kw = dict(dataset="imagefolder", data_root=root)
    d0, d1, other = _load("image_dm", seed=0, **kw), _load("image_dm", seed=1, **kw), _load("image_dm", seed=1, split_seed=1, **kw)
    assert _same(d0.test.x, load_image_dataset("imagefolder", root, seed=0).x_test)
    assert _same(d1.test.x, d0.test.x) and _same(d1.train.x, d0.train.x)
    assert _same(other.test.x, load_image_dataset("imagefolder", root, seed=1).x_test) and not _same(other.test.x, d0.test.x)


def test_audio_folder_split_is_the_same_for_every_seed_and_follows_split_seed(tmp_path):
    import soundfile as sf

    from mmdistill.modalities.audio.datasets import load_audio_dataset, tone_clip

    root = tmp_path / "clips"
    for c, kind in enumerate(("rising", "steady", "warble")):
        (root / kind).mkdir(parents=True)
        rng = np.random.default_rng(c)
        for i in range(6):
            sf.write(root / kind / f"{i}.wav", tone_clip(kind, rng, 8000, 0.4), 8000)
    kw = dict(dataset="folder", data_root=str(root), sample_rate=8000, duration=0.4)
    d0, d1, other = _load("audio_dm", seed=0, **kw), _load("audio_dm", seed=1, **kw), _load("audio_dm", seed=0, split_seed=1, **kw)
    cfg = _recipe("audio_dm").config(**kw)

    def old(seed: int):  # the adapter's call before split_seed: the run's seed drew the split
        return load_audio_dataset("folder", root, params=cfg.feature_params(8000), sample_rate=8000, duration=0.4, align=cfg.align,
                                  normalization=cfg.normalize, seed=seed)

    assert _same(d0.test.x, old(0).x_test) and _same(d1.test.x, d0.test.x) and _same(d1.train.x, d0.train.x)
    assert _same(other.test.x, old(1).x_test) and not _same(other.test.x, d0.test.x)


def test_video_class_folders_split_is_the_same_for_every_seed_and_follows_split_seed(tmp_path):
    from PIL import Image

    from mmdistill.modalities.video.adapter import load_video_set
    from mmdistill.modalities.video.datasets import load_clip_folder

    rng = np.random.default_rng(0)
    for cls in ("left", "right"):
        for i in range(5):
            d = tmp_path / "clips" / cls / f"clip{i}"
            d.mkdir(parents=True)
            for t in range(4):
                Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(d / f"frame_{t:02d}.png")
    # offset=center: the frames sampled do not depend on the seed, so only the split could
    kw = dict(dataset="frames", data_root=str(tmp_path / "clips"), num_frames=2, frame_gap=1, frame_size=16, offset="center",
              test_fraction=0.4, cache=False)
    d0, d1, other = (load_video_set(_recipe("video_dm").config(**kw, **extra))  # the adapter's clips, before normalising
                     for extra in ({"seed": 0}, {"seed": 1}, {"seed": 0, "split_seed": 1}))
    sampling = _recipe("video_dm").config(**kw).sampling()
    old1 = load_clip_folder(tmp_path / "clips", kind="frames", sampling=dataclasses.replace(sampling, seed=1), test_fraction=0.4,
                            use_cache=False)  # the call before split_seed: sampling.seed drew the split
    assert _same(d1.x_test, d0.x_test) and _same(d1.x_train, d0.x_train)
    assert _same(other.x_test, old1.x_test) and not _same(other.x_test, d0.x_test)


def _av_csv(root: Path, per_class: int = 5) -> Path:
    import soundfile as sf
    from PIL import Image

    root.mkdir(parents=True)
    rows = []
    for c in range(2):
        for i in range(per_class):
            t = np.arange(2000) / 8000
            sf.write(root / f"a{c}{i}.wav", (0.4 * np.sin(2 * np.pi * (300 * (c + 1) + 20 * i) * t)).astype(np.float32), 8000)
            Image.fromarray(np.full((8, 8), 20 * i + 100 * c, dtype=np.uint8), mode="L").save(root / f"i{c}{i}.png")
            rows.append((f"i{c}{i}.png", f"a{c}{i}.wav", str(c)))
    with open(root / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_path", "audio_path", "label"])  # no split column: the loader draws one
        w.writerows(rows)
    return root / "pairs.csv"


def test_audio_visual_csv_split_is_the_same_for_every_seed_and_follows_split_seed(tmp_path):
    tiny = dict(image_size=8, n_mels=8, audio_frames=8, sample_rate=8000, duration=0.25, progress=False, dataset="csv",
                data_root=str(_av_csv(tmp_path / "av")), test_fraction=0.4)
    d0, d1 = _load("audio_visual_dm", seed=0, **tiny), _load("audio_visual_dm", seed=1, **tiny)
    old1, other = _load("audio_visual_dm", seed=1, split_seed=1, **tiny), _load("audio_visual_dm", seed=0, split_seed=1, **tiny)
    assert d0.test.names == d1.test.names and _same(d0.test.image, d1.test.image)
    assert other.test.names == old1.test.names != d0.test.names


def test_audio_visual_video_folders_draw_with_split_seed(tmp_path, monkeypatch):
    """The clips-with-sound loader hands the video adapter's discovery the split seed, not the run's seed."""
    pytest.importorskip("decord")
    from mmdistill.modalities.audio_visual.loaders import read_video_pairs
    from mmdistill.modalities.video import datasets as video_datasets

    seen = []

    def discover(root, kind, split_file, test_fraction, seed, report=None, **kw):
        seen.append(seed)
        return []

    monkeypatch.setattr(video_datasets, "discover", discover)
    read_video_pairs(tmp_path, _recipe("audio_visual_dm").config(seed=3, split_seed=0))
    read_video_pairs(tmp_path, _recipe("audio_visual_dm").config(seed=3, split_seed=2))
    assert seen == [0, 2]


def test_image_text_random_split_order_draws_with_split_seed(monkeypatch):
    from mmdistill.modalities.image_text import datasets as it_datasets

    seen = []

    class Stop(Exception):
        pass

    def build_splits(records, opener, **kw):
        seen.append(kw["seed"])
        raise Stop

    monkeypatch.setattr(it_datasets, "build_splits", build_splits)
    image = SimpleNamespace(image_size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    for kw in ({"seed": 1}, {"seed": 0, "split_seed": 2}):
        with pytest.raises(Stop):
            it_datasets.load_image_text(_recipe("image_text_lors").config(dataset="shapes", split_order="random", **kw), image)
    assert seen == [0, 2]


def test_graph_random_split_follows_split_seed_not_seed():
    from mmdistill.modalities.graph.datasets import GraphLoadOptions, load_graph_dataset

    kw = dict(dataset="sbm", split="random", download=False)
    g1, g1s = _load("graph_gcond", seed=1, **kw), _load("graph_gcond", seed=1, split_seed=1, **kw)
    new = load_graph_dataset("sbm", None, GraphLoadOptions(split="random", seed=1, split_seed=0))
    old = load_graph_dataset("sbm", None, GraphLoadOptions(split="random", seed=1))  # before: the run's seed drew it
    assert _same(g1.test_idx, new.test_idx) and _same(g1s.test_idx, old.test_idx) and not _same(g1.test_idx, g1s.test_idx)


def test_a_set_saved_before_split_seed_keeps_the_split_of_its_seed(caplog):
    """A seed-1 digits set saved before ``split_seed`` was distilled from the seed-1 split: re-scoring it (``mmdistill
    eval``, ``check``) rebuilds its config without the key, and takes its seed, so it is not scored on its own training
    images; its recorded training-data identity matches the data loaded again."""
    from mmdistill.data_identity import _differences, training_data_identity
    from mmdistill.modalities.image.datasets import load_image_dataset

    recipe = _recipe("image_dm")
    saved = dataclasses.asdict(recipe.config(seed=1, ipc=1))
    saved.pop("split_seed")  # a manifest written before the key existed
    with caplog.at_level(logging.INFO, logger="mmdistill.recipe"):
        cfg = recipe.config_from_saved(saved, {"eval_runs": 1})
    assert cfg.split_seed == 1 and "split_seed=1 from seed" in caplog.text
    data = recipe.get_modality().load(cfg)
    assert _same(data.train.y, load_image_dataset("digits", seed=1).y_train)
    made_with = training_data_identity(_load("image_dm", seed=1, split_seed=1))  # what the old seed-1 run recorded
    assert _differences(made_with, training_data_identity(data)) == []
    # a set saved with the key keeps its value; a graph set (its own split_seed key) inherits the seed too
    assert recipe.config_from_saved({**saved, "split_seed": 0}, {}).split_seed == 0
    graph = _recipe("graph_gcond")
    old_graph = dataclasses.asdict(graph.config(dataset="sbm", seed=2))
    old_graph.pop("split_seed")
    assert graph.config_from_saved(old_graph, {}).split_seed == 2


def test_resuming_a_checkpoint_written_before_split_seed(tmp_path, blobs):
    """A checkpoint's resume keys from before ``split_seed``: the key counts as its seed's value, so a seed-0 run resumes
    with the default split and a seed-1 run is refused unless given split_seed=1 (its data's split)."""
    from mmdistill.errors import ConfigError
    from mmdistill.matchers.distribution import DistributionMatching
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet

    def setup():
        syn = SyntheticSet.from_real(blobs, 2, generator(0, "init")).requires_grad_(True)
        net = build_network("convnet", (1, 8, 8), 3, width=16)
        matcher = DistributionMatching(net=net, reinit=reinitialize, real=blobs, batch_real=6)
        return syn, matcher, torch.optim.SGD(syn.parameters(), lr=0.1)

    for seed in (0, 1):
        out = tmp_path / f"s{seed}"
        syn, m, opt = setup()
        run_loop(m, syn, opt, iterations=2, seed=seed, out_dir=out, resume_keys={"seed": seed}, progress=False)
        if seed:
            with pytest.raises(ConfigError, match=r"split_seed: 1 -> 0"):
                run_loop(m, syn, opt, iterations=3, seed=seed, out_dir=out, resume_keys={"seed": seed, "split_seed": 0},
                         resume=True, progress=False)
        res = run_loop(m, syn, opt, iterations=3, seed=seed, out_dir=out, resume_keys={"seed": seed, "split_seed": seed},
                       resume=True, progress=False)
        assert res.resumed_from == 2


def _forget_keys(checkpoint: Path, *names: str) -> None:
    """Rewrite ``checkpoint``'s recorded resume keys without ``names``: a checkpoint written before those keys existed."""
    import json

    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    with safe_open(str(checkpoint), framework="pt") as fh:
        meta = dict(fh.metadata())
    keys = json.loads(meta["resume_keys"])
    meta["resume_keys"] = json.dumps({k: v for k, v in keys.items() if k not in names})
    save_file(load_file(str(checkpoint)), str(checkpoint), metadata=meta)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_run_resumes_a_checkpoint_written_before_split_seed_from_the_command_path(tmp_path, seed):
    """Through recipe.run (run.prepare_out_dir compares the checkpoint's keys before the loop loads it): a seed-0
    checkpoint without split_seed resumes, a seed-2 one resumes with split_seed=2 and is refused without it."""
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    kw = dict(dataset="digits", ipc=1, batch_real=16, seed=seed, iterations=3, checkpoint_every=1, evaluate=False,
              progress=False, device="cpu", out=str(tmp_path / "run"))
    image_dm.run(**kw, split_seed=seed, stop_after=1)  # an old run drew its split with its seed
    _forget_keys(tmp_path / "run" / "checkpoint.safetensors", "split_seed")
    if seed:
        with pytest.raises(ConfigError, match=r"split_seed: 2 -> 0"):
            image_dm.run(**kw, resume=True)
    resumed = image_dm.run(**kw, resume=True, **({"split_seed": seed} if seed else {}))
    assert resumed.manifest["timing"]["resumed_from"] == 1


def test_keys_added_since_a_checkpoint_or_saved_config_take_the_value_they_ran_with():
    from mmdistill.loop import checkpoint_resume_keys  # noqa: F401 (the reader the run's resume check uses)
    from mmdistill.schema import values_before_keys

    old = {"seed": 3, "lr_lr": 1e-5}
    assert values_before_keys(old, {"split_seed", "momentum_lr", "eval_dc_augment", "seed"}) == \
        {"split_seed": 3, "momentum_lr": 0.5, "eval_dc_augment": "none"}
    assert values_before_keys(old, {"seed"}) == {}  # only keys the run has
    assert values_before_keys({**old, "momentum_lr": 0.9}, {"momentum_lr"}) == {}  # a recorded value stays


def test_an_image_dc_set_saved_before_eval_dc_augment_is_rescored_without_it():
    from mmdistill.recipes import image_dc

    saved = dataclasses.asdict(image_dc.RECIPE.config(dataset="mnist"))
    saved.pop("eval_dc_augment")
    assert image_dc.RECIPE.config_from_saved(saved, {}).eval_dc_augment == "none"
    assert image_dc.RECIPE.config(dataset="mnist").eval_dc_augment == "crop_scale_rotate"  # a new MNIST run: DC's
