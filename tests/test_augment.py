"""Differentiable Siamese Augmentation: shapes, determinism, siamese/grouped draws, gradients, each op."""

from __future__ import annotations

import pytest
import torch

from mmdistill.augment import DSA, OPS, DSAParams, dsa_strategy_for
from mmdistill.errors import ConfigError

SEEDS = range(12)


def _img(n: int = 1, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_shape_preserved_4d_and_5d() -> None:
    dsa = DSA()
    x4, x5 = _img(4, 3, 12, 16), torch.rand(2, 3, 5, 12, 16)
    for seed in SEEDS:
        y4, y5 = dsa(x4, seed=seed), dsa(x5, seed=seed)
        assert y4.shape == x4.shape and y5.shape == x5.shape
        assert y4.dtype == x4.dtype and torch.isfinite(y4).all() and torch.isfinite(y5).all()


def test_same_seed_same_output_different_seed_differs() -> None:
    x = _img(3)
    dsa = DSA()
    outs = [dsa(x, seed=s) for s in SEEDS]
    for s, o in zip(SEEDS, outs):
        assert torch.equal(dsa(x, seed=s), o)
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])
    rot = DSA("rotate")
    assert not torch.allclose(rot(x, seed=1), rot(x, seed=2))


@pytest.mark.parametrize("strategy", ["color_crop_cutout_flip_scale_rotate", *OPS])
def test_siamese_same_transform_across_batch_sizes(strategy: str) -> None:
    dsa = DSA(strategy)
    img = _img(1)
    for seed in SEEDS:
        big = dsa(img.repeat(5, 1, 1, 1), seed=seed)
        one = dsa(img, seed=seed)
        for i in range(5):
            torch.testing.assert_close(big[i], one[0], rtol=0, atol=1e-6)


def test_groups_share_within_and_differ_across() -> None:
    img = _img(1)
    for strategy in ("rotate", "color", "scale"):
        dsa = DSA(strategy)
        y = dsa(img.repeat(4, 1, 1, 1), seed=3, groups=torch.tensor([0, 1, 0, 1]), num_groups=2)
        assert torch.equal(y[0], y[2]) and torch.equal(y[1], y[3])
        assert not torch.allclose(y[0], y[1])


def test_groups_match_real_and_synthetic_per_class() -> None:
    """DM batching: class c's real (3 per class) and synthetic (1 per class) samples get the same draw."""
    dsa = DSA()
    imgs = _img(3, seed=1)  # one image per class
    y_real, y_syn = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), torch.tensor([2, 0, 1])
    for seed in SEEDS:
        real = dsa(imgs[y_real], seed=seed, groups=y_real, num_groups=3)
        syn = dsa(imgs[y_syn], seed=seed, groups=y_syn, num_groups=3)
        for j, c in enumerate(y_syn.tolist()):
            for i in (y_real == c).nonzero().flatten().tolist():
                torch.testing.assert_close(real[i], syn[j], rtol=0, atol=1e-6)


def test_gradients_flow_to_input() -> None:
    for strategy in ["color_crop_cutout_flip_scale_rotate", *OPS]:
        dsa = DSA(strategy)
        for seed in range(4):
            x = _img(2).requires_grad_(True)
            dsa(x, seed=seed, groups=torch.tensor([0, 1]), num_groups=2).sum().backward()
            assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, (strategy, seed)


def test_global_rng_untouched() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    dsa = DSA()
    for seed in SEEDS:
        dsa(_img(2), seed=seed, groups=torch.tensor([0, 1]), num_groups=2)
        dsa(torch.rand(2, 3, 2, 8, 8, generator=torch.Generator().manual_seed(0)), seed=seed)
    assert torch.equal(torch.get_rng_state(), state)


def test_flip_forced_equals_torch_flip_and_never_is_identity() -> None:
    x = _img(3)
    assert torch.equal(DSA("flip", DSAParams(flip=1.0))(x, seed=0), torch.flip(x, dims=[3]))
    assert torch.equal(DSA("flip", DSAParams(flip=0.0))(x, seed=0), x)


def test_zero_magnitude_geometric_ops_are_identity() -> None:
    x = _img(2)
    torch.testing.assert_close(DSA("scale", DSAParams(scale=1.0))(x, seed=5), x, rtol=0, atol=1e-5)
    torch.testing.assert_close(DSA("rotate", DSAParams(rotate=0.0))(x, seed=5), x, rtol=0, atol=1e-5)
    assert torch.equal(DSA("crop", DSAParams(crop=0.0))(x, seed=5), x)


def test_each_op_changes_the_image() -> None:
    x = _img(1)
    for name in OPS:
        dsa = DSA(name)
        assert any(not torch.allclose(dsa(x, seed=s), x) for s in SEEDS), name


def test_crop_is_a_zero_filled_translation() -> None:
    x = _img(1, 1, 16, 16)
    for seed in SEEDS:
        y = DSA("crop")(x, seed=seed)[0, 0]
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros(18, 18)
                ref[1:17, 1:17] = x[0, 0]
                rows = (torch.arange(16) + dy + 1).clamp(0, 17)
                cols = (torch.arange(16) + dx + 1).clamp(0, 17)
                found |= torch.equal(y, ref[rows][:, cols])
        assert found, seed


def test_cutout_zeroes_one_rectangle_at_most_half_side() -> None:
    x = torch.ones(1, 2, 16, 16)
    for seed in SEEDS:
        y = DSA("cutout")(x, seed=seed)
        zero = y[0, 0] == 0
        assert torch.equal(zero, y[0, 1] == 0)  # same mask on every channel
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert int(zero.sum()) == len(rows) * len(cols)  # a full rectangle
        assert int(rows[-1] - rows[0]) + 1 == len(rows) and int(cols[-1] - cols[0]) + 1 == len(cols)


def test_color_formulas() -> None:
    """Saturation 0 greys every pixel; without brightness the per-sample mean is kept (contrast about it)."""
    x = _img(3)
    for seed in SEEDS:
        grey = DSA("color", DSAParams(brightness=0.0, saturation=0.0))(x, seed=seed)
        torch.testing.assert_close(grey[:, :1].expand_as(grey), grey)
        torch.testing.assert_close(grey.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
        y = DSA("color")(x, seed=seed)  # brightness shifts the mean by (u - 0.5) in [-0.5, 0.5)
        shift = y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))
        assert torch.allclose(shift, shift[0].expand(3), atol=1e-5) and shift.abs().max() <= 0.5 + 1e-5
        assert not torch.allclose(y, x)


def test_video_contrast_uses_the_clip_mean() -> None:
    clip = torch.rand(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    clip[:, :, 0] += 1.0  # frames of a clip with different means
    y = DSA("color", DSAParams(brightness=0.0))(clip, seed=1, groups=torch.tensor([0, 1]), num_groups=2)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3, 4)), clip.mean(dim=(1, 2, 3, 4)))
    assert not torch.allclose(y[:, :, 0].mean(dim=(1, 2, 3)), clip[:, :, 0].mean(dim=(1, 2, 3)))


def test_video_frames_share_their_clips_transform() -> None:
    frame = _img(1)  # (1, C, H, W)
    clip = frame.unsqueeze(2).repeat(1, 1, 4, 1, 1)  # (1, C, T=4, H, W), identical frames
    for strategy in ["color_crop_cutout_flip_scale_rotate", *OPS]:
        dsa = DSA(strategy)
        for seed in range(6):
            y = dsa(clip, seed=seed)
            ref = dsa(frame, seed=seed)[0]
            for t in range(4):
                torch.testing.assert_close(y[0, :, t], ref, rtol=0, atol=1e-6)


def test_video_geometric_draw_equals_per_frame_batch() -> None:
    clip = torch.rand(2, 3, 3, 12, 12, generator=torch.Generator().manual_seed(7))
    for strategy in ("crop", "cutout", "flip", "scale", "rotate"):
        dsa = DSA(strategy)
        y = dsa(clip, seed=2, groups=torch.tensor([0, 1]), num_groups=2)
        for i in range(2):
            frames = clip[i].permute(1, 0, 2, 3)  # (T, C, H, W), one group
            ref = dsa(frames, seed=2, groups=torch.full((3,), i), num_groups=2)
            torch.testing.assert_close(y[i].permute(1, 0, 2, 3), ref, rtol=0, atol=1e-6)


def test_none_strategy_is_identity() -> None:
    x = _img(2)
    for s in ("none", "None", ""):
        assert DSA(s)(x, seed=0) is x


def test_multi_op_mode_applies_all_ops() -> None:
    x = _img(2)
    assert torch.equal(DSA("flip_flip", DSAParams(flip=1.0), single_op=False)(x, seed=0), x)
    y = DSA("flip_cutout", DSAParams(flip=1.0), single_op=False)(torch.ones(1, 1, 8, 8) * torch.arange(8.0), seed=0)
    assert (y == 0).any() and torch.equal(y[y != 0], (torch.ones(1, 1, 8, 8) * torch.arange(7.0, -1.0, -1.0))[y != 0])


def test_unknown_op_raises_naming_it() -> None:
    with pytest.raises(ConfigError, match="blur") as e:
        DSA("color_blur_flip")
    assert "rotate" in str(e.value)  # lists the known ops


def test_invalid_groups_and_input_raise() -> None:
    dsa = DSA()
    x = _img(3)
    with pytest.raises(ConfigError, match="groups"):
        dsa(x, seed=0, groups=torch.tensor([0, 1]), num_groups=2)
    with pytest.raises(ConfigError, match="groups"):
        dsa(x, seed=0, groups=torch.tensor([0, 1, 2]), num_groups=2)
    with pytest.raises(ConfigError, match="groups"):
        dsa(x, seed=0, groups=torch.tensor([0, -1, 0]), num_groups=2)
    with pytest.raises(ConfigError, match="groups"):
        dsa(x, seed=0, groups=torch.tensor([0.0, 1.0, 0.0]), num_groups=2)
    with pytest.raises(ConfigError, match="num_groups"):
        dsa(x, seed=0, groups=torch.tensor([0, 0, 0]), num_groups=0)
    with pytest.raises(ConfigError, match="shape"):
        dsa(torch.rand(3, 16, 16), seed=0)


def test_dsa_strategy_for_drops_flip_for_digits() -> None:
    full = "color_crop_cutout_flip_scale_rotate"
    for name in ("MNIST", "svhn", "digits"):
        assert dsa_strategy_for(name) == "color_crop_cutout_scale_rotate"
    for name in ("fashion-mnist", "FashionMNIST", "cifar10", "cifar100"):
        assert dsa_strategy_for(name) == full
    assert dsa_strategy_for("mnist", "flip") == "none"
    assert dsa_strategy_for("mnist", "none") == "none"
