"""Walk 55C: MTT's ImageNet subsets (ImageNette, ImageWoof, ...) are 128x128 ImageFolder trees distilled with ConvNetD5;
a run at ``image_size=128`` took ConvNet-3 (16x16 final maps) and CIFAR-10's no-ZCA rows. The network comes from
``tables/mtt_resolution.yaml`` and MTT's README command for its subsets is the IPC-1 row of ``tables/mtt.yaml``."""

from __future__ import annotations

import pytest

from mmdistill.recipes import image_mtt, image_tesla


@pytest.mark.parametrize("recipe", [image_mtt.RECIPE, image_tesla.RECIPE])
def test_128_pixel_images_take_convnetd5_and_mtts_imagenet_row(recipe):
    from mmdistill.resolve import config_sources

    cfg = recipe.config(dataset="imagefolder", data_root="x", image_size=128, ipc=1)
    assert cfg.network == "convnetd5"
    assert config_sources(cfg)["network"].startswith("tables/mtt_resolution.yaml: image_size 128 (MTT")
    assert (cfg.syn_steps, cfg.expert_epochs, cfg.max_start_epoch, cfg.lr_data, cfg.lr_lr, cfg.zca) == (20, 2, 10, 1000.0, 1e-6, False)
    assert "readme.md:106" in config_sources(cfg)["syn_steps"]


def test_other_ipcs_and_sizes_keep_the_rows_they_had():
    star = {ipc: image_mtt.RECIPE.config(dataset="imagefolder", data_root="x", image_size=32, ipc=ipc) for ipc in (10, 50)}
    for ipc, old in star.items():  # at 128 px IPC 10 and 50 are the "*" rows' values (MTT's are not readable), not IPC 1's
        new = image_mtt.RECIPE.config(dataset="imagefolder", data_root="x", image_size=128, ipc=ipc)
        keys = ("syn_steps", "expert_epochs", "max_start_epoch", "lr_data", "lr_lr", "batch_syn", "lr_student", "zca")
        assert [getattr(new, k) for k in keys] == [getattr(old, k) for k in keys]
        assert new.network == "convnetd5" and old.network == "convnet"
    assert image_mtt.RECIPE.config(dataset="digits", ipc=1).network == "convnetd2"  # mtt_datasets.yaml's row stands
    assert image_mtt.RECIPE.config(dataset="imagefolder", data_root="x", image_size=64, ipc=1).network == "convnet"  # no row
    explicit = image_mtt.RECIPE.config(dataset="imagefolder", data_root="x", image_size=128, ipc=1, network="convnet")
    assert explicit.network == "convnet"  # a network given wins over the table
