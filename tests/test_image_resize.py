"""Walk 55C: ``resize=center_crop``, MTT's way of making an ImageNet photo 128x128 (torchvision ``Resize(128)`` then
``CenterCrop(128)``: the aspect ratio kept, the long side cut about the centre), next to the default ``squeeze`` (the whole
image, unchanged byte for byte).

Every image is generated in tmp_path; nothing is downloaded and ../shared is never read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402

from mmdistill.errors import ConfigError  # noqa: E402
from mmdistill.modalities.image.datasets import load_image_dataset  # noqa: E402
from mmdistill.modalities.image.decode import covering_size, to_size  # noqa: E402

#: (width, height) of photos as fast.ai's imagenette2-160 holds them (short side 160), a portrait one, one to enlarge,
#: and odd sizes whose centre offsets round
SIZES = [(213, 160), (160, 213), (100, 300), (131, 129), (301, 160)]


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("side", [128, 32])
def test_center_crop_is_torchvisions_resize_then_center_crop_exactly(side):
    from torchvision import transforms

    reference = transforms.Compose([transforms.Resize(side, interpolation=transforms.InterpolationMode.BILINEAR),
                                    transforms.CenterCrop(side)])
    for i, size in enumerate(SIZES):
        img = _photo(size, i)
        ours = to_size(img, Path("p.png"), (side, side), {}, "center_crop")
        assert ours.size == (side, side)
        assert np.array_equal(np.asarray(ours), np.asarray(reference(img))), size


def test_covering_size_keeps_the_aspect_ratio_and_covers():
    assert covering_size(213, 160, (128, 128)) == (170, 128)  # torchvision: int(128 * 213 / 160) = 170
    assert covering_size(160, 213, (128, 128)) == (128, 170)
    assert covering_size(64, 64, (32, 32)) == (32, 32)
    assert covering_size(200, 100, (10, 40)) == (40, 20)  # (H, W) = (10, 40): the width needs the larger scale


def _striped_tree(root: Path) -> Path:
    """Two classes of landscape 4:3 photos, grey with a white band down the outer 20 px of each side."""
    for c in ("a", "b"):
        for i in range(3):
            arr = np.full((60, 80, 3), 100 + 40 * (c == "b"), dtype=np.uint8)
            arr[:, :10] = arr[:, -10:] = 255
            (root / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


def test_imagefolder_center_crop_cuts_the_sides_squeeze_keeps_them_and_stays_the_default(tmp_path):
    root = _striped_tree(tmp_path / "tree")
    unit = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), test_fraction=0.34)
    default = load_image_dataset("imagefolder", root, image_size=30, **unit)
    squeezed = load_image_dataset("imagefolder", root, image_size=30, resize="squeeze", **unit)
    cropped = load_image_dataset("imagefolder", root, image_size=30, resize="center_crop", **unit)
    assert torch.equal(default.x_train, squeezed.x_train) and torch.equal(default.x_test, squeezed.x_test)
    assert squeezed.x_train[:, :, :, 0].min() > 0.9  # the white band squeezed into the first column
    assert cropped.x_train.shape == squeezed.x_train.shape == (4, 3, 30, 30)
    assert cropped.x_train[:, :, :, 0].max() < 0.7  # cut: 80x60 -> 40x30, 5 columns off each side, the band was 5 wide


def test_center_crop_needs_an_image_size(tmp_path):
    root = _striped_tree(tmp_path / "tree")
    with pytest.raises(ConfigError, match="resize=center_crop .*give an image_size") as err:
        load_image_dataset("imagefolder", root, resize="center_crop")
    assert err.value.key == "resize"
    with pytest.raises(ConfigError, match="resize must be one of squeeze, center_crop"):
        load_image_dataset("imagefolder", root, image_size=8, resize="crop")


def test_recipe_config_refuses_center_crop_without_image_size():
    from mmdistill.recipes import get_recipe

    recipe = get_recipe("image-dm")
    with pytest.raises(ConfigError, match="resize=center_crop"):
        recipe.config(dataset="imagefolder", data_root="x", resize="center_crop")
    assert recipe.config(dataset="imagefolder", data_root="x").resize == "squeeze"


def test_center_crop_is_recorded_and_images_like_crops_alike(tmp_path):
    from mmdistill.modalities.image import MODALITY, images_like

    root = _striped_tree(tmp_path / "tree")
    base = dict(dataset="imagefolder", data_root=str(root), image_size=30, channels=None, download=False, test_fraction=0.34,
                split_seed=0, memory_check=True, progress=False)
    squeezed = MODALITY.load(SimpleNamespace(**base, resize="squeeze"))
    data = MODALITY.load(SimpleNamespace(**base, resize="center_crop"))
    assert "input_space" not in squeezed.meta  # a squeezed set's metadata (and its buffers' fingerprint) as before
    assert data.meta["input_space"] == {"resize": "center_crop"}  # joins the experts' data fingerprint
    one = sorted((root / "a").iterdir())[0]
    got = images_like(data.meta, [one])
    index = [i for i in range(len(data.train.x)) if torch.equal(data.train.x[i], got[0])]
    assert index, "images_like read the file otherwise than the loader did"


def test_experts_of_squeezed_images_are_refused_for_center_crop_naming_both_ways_out(tmp_path):
    """A buffer trained on squeezed images (it records no input space, as every buffer before this key) drove a
    center_crop run silently: the same class folders, labels and sample shape. It is refused now, in words."""
    from mmdistill.buffer import ExpertSpec, ParamLayout, spec_mismatch
    from mmdistill.expert_runs import data_fingerprint
    from mmdistill.modalities.image import MODALITY

    root = _striped_tree(tmp_path / "tree")
    base = dict(dataset="imagefolder", data_root=str(root), image_size=16, channels=None, download=False, test_fraction=0.34,
                split_seed=0, memory_check=True, progress=False)
    squeezed, cropped = (MODALITY.load(SimpleNamespace(**base, resize=r)) for r in ("squeeze", "center_crop"))

    def spec(data):
        return ExpertSpec("imagefolder", "convnet", 2, ParamLayout(("w",), ((2,),)), [3, 16, 16], data_fingerprint(data))

    said = spec_mismatch(spec(squeezed).as_json(), spec(cropped))
    assert "the buffer's experts trained on images not whitened, this run's data are images cut by resize=center_crop, " \
           "not whitened" in said, said
    assert "run with zca=false resize=squeeze to use this buffer, or train experts with zca=false resize=center_crop" in said
    assert spec_mismatch(spec(cropped).as_json(), spec(squeezed)) != ""
    assert spec_mismatch(spec(squeezed).as_json(), spec(squeezed)) == ""


def test_images_like_refuses_a_resize_mode_it_does_not_know_naming_it(tmp_path):
    from mmdistill.errors import ArtifactError
    from mmdistill.modalities.image import images_like

    meta = {"mean": [0.5], "std": [0.5], "classes": ["a", "b"], "sample_shape": [1, 8, 8], "input_space": {"resize": "stretch"}}
    with pytest.raises(ArtifactError, match="resize 'stretch'"):
        images_like(meta, [torch.zeros(1, 8, 8)])
