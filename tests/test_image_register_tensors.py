"""Walk 56H: images already in memory (tensors) were refused by the image adapter ("save them as an ImageFolder");
``mmdistill.modalities.image.register_tensors`` makes them loadable by name, with video's and audio-visual's contract."""

from __future__ import annotations

import logging

import pytest
import torch

from mmdistill.errors import ConfigError, DataError
from mmdistill.modalities.image import MODALITY, register_tensors
from mmdistill.modalities.image.datasets import canonical_name, load_image_dataset
from mmdistill.modalities.image.registered import _TENSOR_SETS
from registrations import forgotten_after  # tests/registrations.py


@pytest.fixture(autouse=True)
def _forget_registrations():
    yield from forgotten_after(_TENSOR_SETS)


def _images(n: int = 12, classes: int = 3, shape=(3, 8, 8), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = (torch.rand(n, *shape, generator=g) * 100 + y.view(-1, 1, 1, 1) * 50).to(torch.uint8)
    return x, y


def test_registered_uint8_images_load_normalised_with_the_training_split_statistics():
    x, y = _images()
    xt, yt = _images(6, seed=1)
    assert register_tensors("mine", x, y, xt, yt, ["cat", "dog", "owl"]) == "mine"
    ds = load_image_dataset("mine")
    assert ds.name == "mine" and ds.classes == ["cat", "dog", "owl"] and ds.in_shape == (3, 8, 8)
    px = x.float() / 255
    assert ds.mean == pytest.approx(tuple(px.mean(dim=(0, 2, 3)).tolist()), abs=1e-6)
    assert torch.allclose(ds.denormalize(ds.x_test), xt.float() / 255, atol=1e-5)
    assert torch.equal(ds.y_train, y) and ds.y_test.dtype == torch.int64
    again = load_image_dataset("mine")  # the load normalises its own copy, never the registered pixels
    assert torch.equal(again.x_train, ds.x_train)


def test_uint8_images_are_held_as_uint8_not_four_times_larger_as_float32():
    x, y = _images()
    register_tensors("small", x, y, x[:3], y[:3])
    held = _TENSOR_SETS["small"]
    assert held.x_train.dtype == torch.uint8 and torch.equal(held.x_train, x) and held.x_train.data_ptr() != x.data_ptr()
    assert torch.allclose(load_image_dataset("small").denormalize(load_image_dataset("small").x_train), x.float() / 255, atol=1e-5)


def test_registered_images_are_copies_detached_from_the_callers_tensors():
    w = torch.ones(1, requires_grad=True)
    x, y = torch.rand(4, 1, 8, 8) * w, torch.tensor([0, 0, 1, 1])
    xt, yt = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    register_tensors("snap", x, y, xt, yt)
    held = _TENSOR_SETS["snap"]
    assert not held.x_train.requires_grad and w.grad is None
    kept = (held.x_train.clone(), held.y_train.clone())
    with torch.no_grad():
        x.zero_()
    y[:] = 1 - y
    assert torch.equal(kept[0], held.x_train) and torch.equal(kept[1], held.y_train)


def test_grey_images_without_a_channel_axis_are_read_as_one_channel():
    x, y = torch.rand(6, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    register_tensors("grey", x, y, x[:3], y[:3])
    ds = load_image_dataset("grey", image_size=4, channels=3)
    assert ds.in_shape == (3, 4, 4) and ds.classes == ["0", "1", "2"]


@pytest.mark.parametrize("name", ["digits", "CIFAR-10", " fmnist ", "folder"])
def test_a_built_in_name_or_alias_is_refused_in_any_spelling(name):
    x, y = _images()
    with pytest.raises(ConfigError, match="is a built-in dataset name"):
        register_tensors(name, x, y, x, y)


def test_channels_last_images_are_refused_naming_the_permute():
    x, y = _images(shape=(8, 8, 3))
    with pytest.raises(DataError, match=r"register_tensors\('hwc'\): x_train has shape \(12, 8, 8, 3\).*"
                                         r"channels-last \(N, H, W, C\): pass x_train.permute\(0, 3, 1, 2\)"):
        register_tensors("hwc", x, y, x, y)


@pytest.mark.parametrize("x, match", [
    (torch.rand(12, 3, 8, 8).numpy(), r"x_train must be a torch.Tensor, got ndarray \(torch.from_numpy converts an array\)"),
    (torch.rand(12, 3, 8, 8) * 255, r"float x_train must lie in \[0, 1\], got values in \[.*\] \(divide 0-255 pixels by 255"),
    (torch.zeros(12, 3, 8, 8, dtype=torch.int16), "x_train must be float pixels in \\[0, 1\\] or uint8 0..255, got dtype torch.int16"),
    (torch.full((12, 3, 8, 8), float("nan")), r"x_train holds NaN or infinite values in 12 image\(s\)"),
])
def test_pixels_that_are_not_images_in_0_1_are_refused_naming_the_argument(x, match):
    y = torch.arange(12) % 3
    with pytest.raises(DataError, match=match):
        register_tensors("bad", x, y, torch.rand(3, 3, 8, 8), y[:3])
    assert "bad" not in _TENSOR_SETS


def test_labels_that_leave_a_class_without_training_images_are_refused():
    x, _ = _images()
    with pytest.raises(DataError, match=r"register_tensors\('sparse'\): y_train holds labels 0, 2 .*without a training sample"):
        register_tensors("sparse", x, torch.tensor([0, 2] * 6), x[:3], torch.tensor([0, 1, 2]))


def test_a_tensor_as_dataset_names_register_tensors_and_unknown_names_list_the_registered_ones():
    x, y = _images()
    with pytest.raises(ConfigError, match=r"register_tensors\('mine', x_train, y_train, x_test, y_test, classes\), then "
                                          r"dataset='mine'"):
        canonical_name(x)  # type: ignore[arg-type]
    register_tensors("pets", x, y, x, y)
    with pytest.raises(ConfigError, match=r"unknown image dataset 'pest'.* or a name given to register_tensors \(pets\)"):
        canonical_name("pest")
    assert canonical_name("pets") == "pets"


def test_the_adapter_records_a_class_the_test_split_lacks_and_warns_of_unused_split_keys(caplog):
    from mmdistill.recipes import image_dm

    x, y = _images()
    register_tensors("few", x, y, x[:2], y[:2], ["a", "b", "c"])
    cfg = image_dm.RECIPE.config(dataset="few", test_fraction=0.3, budget="cpu")
    with caplog.at_level(logging.WARNING):
        data = MODALITY.load(cfg)
    assert data.meta["load_report"]["facts"]["classes_without_test"] == ["c"]
    assert "the train and test tensors given to register_tensors" in caplog.text and "test_fraction" in caplog.text


def test_split_shapes_that_differ_need_image_size():
    x, y = _images()
    register_tensors("sizes", x, y, torch.rand(3, 3, 6, 6), y[:3])
    with pytest.raises(DataError, match=r"'sizes' \(register_tensors\): x_train holds images of \(3, 8, 8\) and x_test of "
                                        r"\(3, 6, 6\).*pass image_size"):
        load_image_dataset("sizes")
    assert load_image_dataset("sizes", image_size=8).x_test.shape == (3, 3, 8, 8)


def test_a_saved_set_of_registered_images_scored_in_a_process_without_them_names_the_call(tmp_path):
    """A recipe distils a registered set; ``mmdistill eval`` of it in a process without the registration said only
    "unknown image dataset 'run-me' ... (none registered)": the set records the call, and the error names it."""
    import mmdistill
    from mmdistill.recipes import image_dm

    x, y = _images()
    register_tensors("run-me", x, y, x[:6], y[:6])
    out = tmp_path / "run"
    res = image_dm.run(dataset="run-me", ipc=1, iterations=1, batch_real=8, herding_epochs=1, baselines=[], progress=False,
                       evaluate=False, out=str(out))
    assert res.synthetic.x.shape == (3, 3, 8, 8) and res.manifest["dataset"] == "run-me"
    assert res.synthetic.meta["registered_with"] == "mmdistill.modalities.image.register_tensors('run-me', ...)"
    _TENSOR_SETS.clear()  # another process
    with pytest.raises(ConfigError, match=r"unknown image dataset 'run-me'.*\(none registered\)\. This set was distilled "
                                          r"from data in memory, mmdistill.modalities.image.register_tensors\('run-me', ...\): "
                                          r"call it with the same tensors in this Python process first") as err:
        mmdistill.evaluate(out, runs=1, epochs=1, baselines=False)
    assert err.value.key == "dataset"
    register_tensors("run-me", x, y, x[:6], y[:6])
    assert 0.0 <= mmdistill.evaluate(out, runs=1, epochs=1, baselines=False)["distilled"]["mean"] <= 1.0


def test_the_card_of_a_registered_set_names_the_call_as_its_source():
    """The card said "source: not known to the loader" for images given to register_tensors."""
    from mmdistill.card import render_card

    call = "mmdistill.modalities.image.register_tensors('pets', ...)"
    manifest = {"recipe": "image-dm", "method": "dm", "dataset": "pets", "modality": "image", "ipc": 1,
                "synthetic": {"meta": {"registered_with": call, "classes": ["a", "b"]}}}
    lines = render_card(manifest, MODALITY).splitlines()
    source = [line for line in lines if line.startswith("- source: ")]
    assert source[0].startswith("- source: data in memory given to mmdistill.modalities.image.register") and "'pets'" in source[0]
    assert "- licence (as the loader knows it): the licence of the user's data (in memory: not known to the loader)" in lines
    manifest["synthetic"]["meta"].pop("registered_with")
    assert "- source: not known to the loader" in render_card(manifest, MODALITY).splitlines()


def test_images_like_takes_test_tensors_as_register_tensors_takes_them():
    """A grey set's own test tensors (N, H, W), registered as they were, were refused by ``inputs_like``; channels-last
    ones were refused without the permute that makes them (N, C, H, W)."""
    from mmdistill.modalities.image import images_like

    meta = {"sample_shape": [1, 8, 8], "mean": [0.5], "std": [0.25], "classes": ["a", "b"]}
    x = torch.rand(4, 8, 8)
    assert torch.allclose(images_like(meta, x), ((x - 0.5) / 0.25).unsqueeze(1))
    assert images_like(meta, (x * 255).to(torch.uint8)).shape == (4, 1, 8, 8)
    with pytest.raises(ConfigError, match=r"got \(4, 8, 8, 3\) torch.uint8; channels-last \(N, H, W, C\) images: "
                                          r"\.permute\(0, 3, 1, 2\)"):
        images_like(meta, torch.zeros(4, 8, 8, 3, dtype=torch.uint8))
