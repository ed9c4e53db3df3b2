"""DC's evaluation augmentation (mmdistill.dc_augment): the reference's ops, seeded draws, and image-dc applying it as
DC's get_daparam does (MNIST: crop_scale_rotate, ConvNetBN: crop_noise, 1,000 epochs; else none and 300)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmdistill.dc_augment import DCAugment, crop_one, rotate_one, scale_one
from mmdistill.errors import ConfigError


def _batch(n: int = 6, c: int = 1, h: int = 12, w: int = 12) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(0))


def test_crop_shifts_within_a_border_of_the_channel_means():
    """crop(r, c): the image shifted by (4 - r, 4 - c) pixels, the uncovered border filled with each channel's mean."""
    x = _batch(4, 3, 28, 28)
    fill = x.mean(dim=(0, 2, 3))
    for r, c in [(0, 0), (0, 7), (3, 5), (7, 7), (4, 4)]:
        out = crop_one(x[0], fill, 4, r, c)
        padded = torch.stack([F.pad(x[0, ch], (4, 4, 4, 4), value=float(fill[ch])) for ch in range(3)])
        assert torch.equal(out, padded[:, r:r + 28, c:c + 28])
    assert torch.equal(crop_one(x[0], fill, 4, 4, 4), x[0])  # the centre window is the image


def test_scale_resizes_by_nearest_neighbour_about_the_centre():
    x = _batch(2, 1, 28, 28)
    assert torch.equal(scale_one(x[0], 28, 28), x[0])  # factor 1: unchanged
    big = scale_one(x[0], 34, 34)  # enlarged: the centre 28 x 28 of the nearest-neighbour resize
    resized = F.interpolate(x[0:1], size=(34, 34), mode="nearest")[0]
    assert torch.equal(big, resized[:, 3:31, 3:31])
    small = scale_one(x[0], 22, 22)  # shrunk: the resize centred on zeros
    assert torch.equal(small[:, 3:25, 3:25], F.interpolate(x[0:1], size=(22, 22), mode="nearest")[0])
    assert float(small[:, :3].abs().sum()) == 0.0 and float(small[:, 25:].abs().sum()) == 0.0


def test_rotate_is_scipy_s_enlarged_rotation_cropped_to_the_centre():
    from scipy.ndimage import rotate

    x = _batch(1, 1, 28, 28)
    assert torch.allclose(rotate_one(x[0], 0, 0.0), x[0], atol=1e-5)
    for angle in (-45, -7, 44):
        full = torch.from_numpy(rotate(x[0].numpy(), angle=angle, axes=(-2, -1), cval=0.25))
        r, q = (full.shape[-2] - 28) // 2, (full.shape[-1] - 28) // 2
        assert torch.equal(rotate_one(x[0], angle, 0.25), full[:, r:r + 28, q:q + 28].float())


@pytest.mark.parametrize("strategy", ["crop", "scale", "rotate", "noise", "crop_scale_rotate", "crop_noise"])
def test_shape_dtype_and_input_are_kept(strategy):
    x = _batch(5, 3, 10, 12)  # not square: every op keeps H x W
    before = x.clone()
    out = DCAugment(strategy)(x, seed=1, groups=torch.arange(5), num_groups=5)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device and not out.requires_grad
    assert torch.equal(x, before)  # a copy: the set being evaluated is never changed
    x64 = x.double()
    assert DCAugment(strategy)(x64, seed=1, groups=torch.arange(5), num_groups=5).dtype == torch.float64


def test_draws_follow_the_seed_only():
    aug, x = DCAugment("crop_scale_rotate"), _batch(8)
    groups = torch.arange(8)
    a = aug(x, seed=3, groups=groups, num_groups=8)
    torch.rand(3)  # the global RNG is neither read nor moved
    state = torch.get_rng_state()
    assert torch.equal(a, aug(x, seed=3, groups=groups, num_groups=8))
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a, aug(x, seed=4, groups=groups, num_groups=8))


def test_it_changes_a_batch_per_sample():
    x = _batch(16)
    out = DCAugment("crop_scale_rotate")(x, seed=0, groups=torch.arange(16), num_groups=16)
    changed = [not torch.equal(out[i], x[i]) for i in range(16)]
    assert sum(changed) >= 12  # an op per sample (a crop at offset 4, 4 or a scale of 1 leaves one unchanged)
    noisy = DCAugment("noise")(x, seed=0, groups=torch.arange(16), num_groups=16)
    assert 0.0005 < float((noisy - x).std()) < 0.002  # noise 0.001
    twins = torch.cat([x[:1], x[:1]])
    aug = DCAugment("crop_scale_rotate")
    for seed in range(5):  # no groups: one draw for the batch
        one = aug(twins, seed=seed)
        assert torch.equal(one[0], one[1])
    assert any(not torch.equal(*aug(twins, seed=s, groups=torch.arange(2), num_groups=2)) for s in range(5))
    assert torch.equal(DCAugment("none")(x, seed=0), x)


def test_unknown_ops_and_non_images_are_refused():
    with pytest.raises(ConfigError, match="unknown DC augmentation op.*'flip'.*known ops: crop, scale, rotate, noise"):
        DCAugment("crop_flip")
    with pytest.raises(ConfigError, match=r"shape \(N, C, H, W\)"):
        DCAugment("crop")(torch.zeros(2, 1, 3, 4, 4), seed=0)
    with pytest.raises(ConfigError, match="groups must lie in"):
        DCAugment("crop")(_batch(2), seed=0, groups=torch.tensor([0, 2]), num_groups=2)


def test_the_config_key_is_checked_and_excludes_eval_dsa():
    from mmdistill.recipes import get_recipe

    recipe = get_recipe("image-dc")
    with pytest.raises(ConfigError, match="eval_dc_augment='crop_cutout'.*one of none, crop_scale_rotate, crop_noise") as err:
        recipe.config(eval_dc_augment="crop_cutout")
    assert err.value.key == "eval_dc_augment"
    with pytest.raises(ConfigError, match="both augment the evaluation networks' batches"):
        recipe.config(dataset="digits", eval_dc_augment="crop_noise", eval_dsa=True)


def test_image_dc_evaluates_as_dc_s_get_daparam():
    """utils.py get_daparam (lines 428-445) and main.py (117-123): MNIST only (not Fashion-MNIST), ConvNetBN on any
    dataset, 1,000 epochs when on; DSA mutes it; the cpu budget keeps its 300 epochs and digits resolves as before."""
    from mmdistill.recipes import get_recipe

    dc = get_recipe("image-dc")

    def got(**kw):
        cfg = dc.config(**kw)
        return cfg.eval_dc_augment, cfg.eval_epochs

    assert got(dataset="mnist") == got(dataset="MNIST") == ("crop_scale_rotate", 1000)
    assert got(dataset="mnist", ipc=50) == ("crop_scale_rotate", 1000)  # ipc does not enter
    for dataset in ("digits", "fashion-mnist", "cifar10", "svhn"):
        assert got(dataset=dataset) == ("none", 300), dataset
    assert got(dataset="mnist", network="convnetbn") == got(dataset="cifar10", network="convnetbn") == ("crop_noise", 1000)
    assert got(dataset="mnist", eval_dsa=True) == ("none", 300)
    assert got(dataset="mnist", budget="cpu") == ("crop_scale_rotate", 300)
    assert got(dataset="mnist", eval_dc_augment="none") == ("none", 1000)  # an explicit value wins over the row
    cpu = dc.config(dataset="digits", budget="cpu")
    assert (cpu.iterations, cpu.batch_real, cpu.eval_epochs, cpu.eval_runs, cpu.herding_epochs, cpu.checkpoint_every,
            cpu.eval_dc_augment, cpu.outer_loop, cpu.inner_loop) == (200, 64, 300, 5, 1, 25, "none", 10, 50)
    assert get_recipe("image-dsa").config(dataset="mnist").eval_dc_augment == "none"  # DSA's own protocol


def test_evaluation_applies_it_only_when_the_key_says_so_and_records_it():
    from types import SimpleNamespace

    from mmdistill.classification import evaluation_augment
    from mmdistill.concurrency import training_draws_global_rng
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import get_recipe

    data = SimpleNamespace(name="mnist", sample_shape=(1, 28, 28))
    dc = get_recipe("image-dc")
    assert evaluation_augment(dc.config(dataset="digits"), data, MODALITY) is None
    on = evaluation_augment(dc.config(dataset="mnist"), data, MODALITY)
    assert isinstance(on, DCAugment) and on.ops == ["crop", "scale", "rotate"]
    assert not training_draws_global_rng(lambda gen: torch.nn.Linear(2, 2), on)  # seeded from the run: threads may train


def test_a_run_records_the_augmentation_in_its_protocol(tmp_path):
    from mmdistill.classification import classification_plan
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dc

    common = dict(dataset="digits", ipc=1, iterations=1, outer_loop=1, inner_loop=1, batch_real=4, eval_runs=1, eval_epochs=2,
                  baselines=[], progress=False, memory_check=False)
    cfg = image_dc.RECIPE.config(**common)
    plain = classification_plan(cfg, None, MODALITY.load(cfg), MODALITY, device=torch.device("cpu")).protocol
    assert plain["dsa"] is False and "dc_augment" not in plain
    proto = image_dc.run(**common, eval_dc_augment="crop_scale_rotate", out=str(tmp_path / "dc")).manifest["metrics"]["protocol"]
    assert proto["dsa"] is False
    assert proto["dc_augment"] == {"strategy": "crop_scale_rotate", "crop": 4, "scale": 0.2, "rotate": 45, "noise": 0.001}
