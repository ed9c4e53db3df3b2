"""Walk 55T: the image key ``normalization`` (data | imagenet | M1,M2,M3/S1,S2,S3). An ImageFolder tree is normalised with
statistics computed on its training split; MTT reads its ImageNet subsets with ImageNet's (utils.py:91-92 at 50dccea), so
its subset experts imported over the user's tree (``mmdistill import --subset``) were refused with no key to say which
statistics to use. The key joins the experts' input space (a buffer of other statistics is refused), not a merge's (it
re-normalises) and not the decoded-image cache (uint8)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mmdistill.cli import main
from mmdistill.errors import ConfigError
from mmdistill.mean_std import IMAGENET_STATS

sys.path.insert(0, str(Path(__file__).parent))
from test_reference_subsets import _error, _tree  # noqa: E402  (the ImageWoof tree MTT's subset experts are imported over)

WOOF = (193, 182, 258, 162, 155, 167, 159, 273, 207, 229)  # MTT's utils.py:19, imagewoof


def _small_tree(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(root / name / f"{k}.png")
    return root


def _load(root: Path, **keys):
    from mmdistill.modalities.image import MODALITY

    base = dict(dataset="imagefolder", data_root=str(root), image_size=None, channels=None, download=False, test_fraction=0.25,
                split_seed=0, memory_check=True, progress=False, resize="squeeze", cache=False)
    return MODALITY.load(SimpleNamespace(**{**base, **keys}))


def test_data_is_todays_normalisation_and_imagenet_or_numbers_replace_it(tmp_path):
    root = _small_tree(tmp_path / "tree")
    before, own = _load(root), _load(root, normalization="data")  # a config without the key (an older caller) and the default
    assert torch.equal(before.train.x, own.train.x) and before.meta == own.meta and "input_space" not in own.meta
    pixels = own.train.x * torch.tensor(own.meta["std"]).view(1, 3, 1, 1) + torch.tensor(own.meta["mean"]).view(1, 3, 1, 1)
    for value, (mean, std) in (("imagenet", IMAGENET_STATS), ("0.5,0.5,0.5/0.25,0.25,0.25", ((0.5,) * 3, (0.25,) * 3))):
        data = _load(root, normalization=value)
        assert data.meta["mean"] == list(mean) and data.meta["std"] == list(std)
        assert data.meta["input_space"] == {"normalization": {"mean": list(mean), "std": list(std)}}
        want = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        assert torch.allclose(data.train.x, want, atol=1e-5)


def test_a_bad_normalization_is_refused_naming_the_key():
    from mmdistill.recipes import get_recipe
    from mmdistill.schema import values_before_keys

    recipe = get_recipe("image-mtt")
    assert recipe.config(dataset="imagefolder", data_root="x").normalization == "data"
    for value, why in (("imagenett", "no such name .names are lower case; did you mean imagenet."), ("0.5,0.5/0.2", "2 mean.s. and 1 std"), ("0.5/0", "every value must be finite and every std above 0"),
                       ("a/b", "a value is not a number")):
        with pytest.raises(ConfigError, match=f"normalization=.{value}.: {why}.*; expected data, imagenet or M1,M2,M3/S1,S2,S3") as err:
            recipe.config(dataset="imagefolder", data_root="x", normalization=value)
        assert err.value.key == "normalization"
    # review 56 R1.6: the loader's wording (mend 56D) with its advice, from one helper; it said only "needs one per channel"
    with pytest.raises(ConfigError, match="^normalization=imagenet gives 3 mean.s. and std.s. but channels=1 reads the images as 1 "
                       "channel .greyscale.: give normalization=data .the images' own statistics., normalization=M/S .one mean "
                       "and std per channel, .0, 1. pixel units., or channels=3 to read them as 3 channels .RGB.$"):
        recipe.config(dataset="imagefolder", data_root="x", normalization="imagenet", channels=1)
    assert values_before_keys({}, ["normalization"]) == {"normalization": "data"}  # a checkpoint saved before the key


@pytest.mark.parametrize("value, given, has, convert", [
    ("imagenet", "3 mean.s. and std.s.", "1 channel .greyscale.", "channels=3 to read them as 3 channels .RGB."),
    ("0.5/0.25", "1 mean.s. and std.s.", "3 channels .RGB.", "channels=1 to read them as 1 channel .greyscale.")])
def test_normalization_of_another_channel_count_than_the_images_names_the_key(tmp_path, value, given, has, convert):
    """Mend 56D (item 1): ``normalization=imagenet`` over greyscale images (channels not set: as stored) was refused by
    the loader as 'mean (0.485, ...) and std (...) need one value per channel (1 channels)', naming no key and giving no
    way out. It now names the key, the count given, the images' channels and what to give instead."""
    root = _small_tree(tmp_path / "tree")
    if value == "imagenet":  # the same tree in greyscale
        for f in root.rglob("*.png"):
            Image.open(f).convert("L").save(f)
    with pytest.raises(ConfigError, match=f"^normalization={value} gives {given} but the images have {has}: give "
                       "normalization=data .the images' own statistics., normalization=(M|M,M,M)/(S|S,S,S) .one mean and "
                       f"std per channel, .0, 1. pixel units., or {convert}$") as err:
        _load(root, normalization=value)
    assert err.value.key == "normalization"


def test_experts_of_other_statistics_are_refused_naming_the_key_both_ways(tmp_path):
    from mmdistill.buffer import ExpertSpec, ParamLayout, spec_mismatch
    from mmdistill.expert_runs import data_fingerprint

    root = _small_tree(tmp_path / "tree")
    own, imagenet = _load(root), _load(root, normalization="imagenet")

    def spec(data):
        return ExpertSpec("imagefolder", "convnet", 2, ParamLayout(("w",), ((2,),)), [3, 6, 6], data_fingerprint(data))

    said = spec_mismatch(spec(own).as_json(), spec(imagenet))  # a buffer of the data's own statistics (no input space)
    assert ("the buffer's experts trained on images normalised with the data's own statistics, not whitened, this run's data "
            "are images normalised with mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], not whitened") in said, said
    assert "run with zca=false normalization=data to use this buffer, or train experts with zca=false normalization=imagenet" in said
    assert "run with zca=false normalization=imagenet to use this buffer" in spec_mismatch(spec(imagenet).as_json(), spec(own))
    assert spec_mismatch(spec(imagenet).as_json(), spec(imagenet)) == ""


def test_a_merge_converts_another_normalization_but_still_refuses_another_resize():
    from mmdistill.merge import _space_differs
    from mmdistill.synthetic import SyntheticSet

    def syn(space):
        return SyntheticSet(data={"x": torch.zeros(1, 3, 2, 2)}, labels=torch.zeros(1, dtype=torch.long), num_classes=1,
                            meta={} if space is None else {"input_space": space})

    imagenet = {"normalization": {"mean": list(IMAGENET_STATS[0]), "std": list(IMAGENET_STATS[1])}}
    assert _space_differs(syn(imagenet), syn(None)) == "" and _space_differs(syn(None), syn(imagenet)) == ""
    assert _space_differs(syn({**imagenet, "resize": "center_crop"}), syn(imagenet)) != ""


def test_mtts_subset_experts_drive_a_run_over_the_tree_with_imagenet_statistics(tmp_path, capsys):
    """End to end: MTT's ImageWoof buffer (buffer.py's ImageNet/<subset>/<res>/<model> folder) imported over the user's
    ImageFolder with normalization=imagenet; image-mtt over the folder with it uses the buffer (trains no expert), a run
    with the data's own statistics is refused, naming the key."""
    from mmdistill.nets import build_network

    tree = _tree(tmp_path / "tree", WOOF)
    folder = tmp_path / "buffers" / "ImageNet" / "imagewoof" / "128" / "ConvNetD2"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    net = build_network("convnetd2", (3, 8, 8), 10)
    torch.save([[[p.detach() + 0.01 * e for p in net.parameters()] for e in range(3)]], folder / "replay_buffer_0.pt")
    data = ["--dataset", "imagefolder", "--data-root", str(tree), "--image-size", "8", "--network", "convnetd2", "--no-progress",
            "batch_train=8"]
    buf = tmp_path / "buf"
    assert main(["import", "image-mtt", str(folder), *data, "--zca", "no", "--buffer", str(buf)]) != 0
    assert "import them (and run with them) with normalization=imagenet" in _error(capsys)
    assert main(["import", "image-mtt", str(folder), *data, "--zca", "no", "--buffer", str(buf), "normalization=imagenet"]) == 0
    index = json.loads((buf / "index.json").read_text())
    assert index["spec"]["data"] == {"input_space": {"normalization": {"mean": list(IMAGENET_STATS[0]), "std": list(IMAGENET_STATS[1])}}}
    run = [*data, "--buffer", str(buf), "--ipc", "1", "--iterations", "1", "evaluate=false", "num_experts=1", "expert_epochs=1",
           "max_start_epoch=1", "syn_steps=1", "--budget", "cpu"]
    assert main(["run", "image-mtt", *run, "--out", str(tmp_path / "own")]) != 0
    assert "run with zca=false normalization=imagenet to use this buffer" in _error(capsys)
    assert main(["run", "image-mtt", *run, "--out", str(tmp_path / "run"), "normalization=imagenet"]) == 0
    assert sorted(p.name for p in buf.iterdir()) == ["expert_0000.safetensors", "index.json"]  # the imported expert, no other
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["synthetic"]["meta"]["mean"] == list(IMAGENET_STATS[0])


@pytest.mark.parametrize("word", ["ImageNet", "imagnet"])
def test_a_misspelt_normalization_or_stats_name_is_told_as_a_name_not_a_count_of_slashes(word):
    """Walk 55W: ``normalization=ImageNet`` (``--subset`` reads names in any case) was told "0 '/' where one separates
    the means from the stds", as if numbers were meant; ``--stats ImageNet`` alike. A word is told as a name, with the closest."""
    from mmdistill.mean_std import parse_mean_std
    from mmdistill.modalities.image.config import normalization_stats

    with pytest.raises(ConfigError) as err:
        normalization_stats(word)
    assert "did you mean imagenet" in str(err.value) and "'/'" not in str(err.value) and err.value.key == "normalization"
    with pytest.raises(ValueError, match="did you mean imagenet"):
        parse_mean_std(word, ("reference", "unit", "imagenet"))
    with pytest.raises(ValueError, match="2 '/'"):
        parse_mean_std("0.5/0.2/0.1")  # numbers keep their own message
