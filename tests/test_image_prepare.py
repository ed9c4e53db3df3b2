"""Walk 52K: one's own test images as a distilled image set's inputs (``images_like``, ``ds.inputs_like``), prepared as
the ImageFolder loader prepared the set's real images (before: nothing did; a user rebuilt the resize, the channel
conversion, the EXIF turn, the 8-bit scaling and the normalisation from the README's words)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import mmdistill
from mmdistill.errors import ConfigError, DataError
from mmdistill.report import new_manifest, write_artifact
from mmdistill.seeding import generator

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402


def _tree(root: Path) -> Path:
    """root/{train,test}/<class>/*.png|jpg: RGB images of several sizes, a palette one and a 16-bit greyscale one."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for c in ("cat", "dog"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                h, w = (24, 20) if i % 2 else (10, 13)  # shrunk and enlarged to 16 x 16
                Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(d / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (18, 18, 3), dtype=np.uint8)).convert("P").save(root / "test" / "cat" / "p.png")
    Image.fromarray(rng.integers(0, 65535, (16, 16), dtype=np.uint16)).save(root / "test" / "dog" / "grey16.png")
    return root


def _set(tmp_path: Path):
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_dm import RECIPE

    root = _tree(tmp_path / "data")
    cfg = RECIPE.config_cls(dataset="imagefolder", data_root=str(root), image_size=16, channels=3, ipc=1)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    out = tmp_path / "run"
    out.mkdir()
    write_artifact(out, syn.detached(), new_manifest(recipe="image-dm", method="test", modality=MODALITY, dataset=data.name,
                                                     cfg=cfg, syn=syn), MODALITY)
    test = sorted((root / "test").glob("*/*"))  # the loader's order: classes sorted, files sorted in each
    return mmdistill.load(out), data, test


def test_own_image_files_become_the_tensors_the_loader_made(tmp_path):
    ds, data, test = _set(tmp_path)
    x = ds.inputs_like(test)
    assert x.shape == data.test.x.shape == (6, 3, 16, 16)
    torch.testing.assert_close(x, data.test.x, rtol=0, atol=0)  # the same pixels: resized, converted, 16-bit scaled
    from mmdistill.modalities.image import images_like

    for one in (test[0], str(test[0]), Image.open(test[0])):  # one image, not in a list: one sample
        torch.testing.assert_close(images_like(ds, one), data.test.x[:1], rtol=0, atol=0)
    opened = [Image.open(p) for p in test[:2]]  # PIL images and uint8 pixels go the same way
    torch.testing.assert_close(images_like(ds, opened), data.test.x[:2], rtol=0, atol=0)
    pixels = torch.from_numpy(np.array(Image.open(test[1]))).permute(2, 0, 1)[None]  # (1, 3, 24, 20)
    torch.testing.assert_close(ds.inputs_like(pixels), data.test.x[1:2], rtol=0, atol=0)
    unit = data.test.x[:2] * torch.tensor(ds.synthetic.meta["std"]).view(1, 3, 1, 1) + torch.tensor(ds.synthetic.meta["mean"]).view(1, 3, 1, 1)
    torch.testing.assert_close(ds.inputs_like(unit), data.test.x[:2])  # floats of the set's shape: only normalised


def test_what_images_like_cannot_prepare_is_named(tmp_path):
    ds, _, test = _set(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot read image .*broken.png"):
        ds.inputs_like([test[0], tmp_path / "broken.png"])
    with pytest.raises(ConfigError, match=r"uint8 pixels \(N, 1 or 3, H, W\).*\(N, 3, 16, 16\); got \(2, 3, 8, 8\) torch.float32"):
        ds.inputs_like(torch.rand(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="expected image files .* got a int"):
        ds.inputs_like([3])


def test_images_like_reads_the_sets_shape_from_its_meta_not_by_decoding_it(tmp_path, monkeypatch):
    """Walk 53B: given the synthetic set, images_like decoded every sample only to learn (C, H, W); the loader now
    records ``sample_shape`` and the set is not decoded (a set made before it still is)."""
    from mmdistill.modalities.image import MODALITY, images_like

    ds, data, test = _set(tmp_path)
    assert ds.synthetic.meta["sample_shape"] == [3, 16, 16]

    def refuse(syn):
        raise AssertionError("decoded")

    monkeypatch.setattr(type(MODALITY), "decode", lambda self, syn: refuse(syn))
    torch.testing.assert_close(images_like(ds.synthetic, test[:2]), data.test.x[:2], rtol=0, atol=0)
    monkeypatch.undo()
    del ds.synthetic.meta["sample_shape"]
    torch.testing.assert_close(images_like(ds.synthetic, test[:2]), data.test.x[:2], rtol=0, atol=0)


def test_images_like_takes_the_sets_meta_and_reads_its_shape_there(tmp_path):
    """Review 53: set_shape read the metadata its own way (not inputs_like.source_meta), so a set's ``meta`` mapping
    -- what every other adapter's *_like function takes -- was refused; a DistilledSet's shape came from its samples
    even when the metadata recorded it."""
    from mmdistill.errors import ArtifactError
    from mmdistill.modalities.image import images_like
    from mmdistill.modalities.image.prepare import set_shape

    ds, data, test = _set(tmp_path)
    torch.testing.assert_close(images_like(ds.synthetic.meta, test[:2]), data.test.x[:2], rtol=0, atol=0)
    assert set_shape(ds)[0] == (3, 16, 16)
    ds.inputs = {"x": ds.x[:, :1]}  # a shape the samples would give, not the recorded one
    assert set_shape(ds)[0] == (3, 16, 16)
    older = {k: v for k, v in ds.synthetic.meta.items() if k != "sample_shape"}
    with pytest.raises(ArtifactError, match="images_like: the set's metadata has no sample_shape"):
        images_like(older, test[:2])
    with pytest.raises(ConfigError, match="images_like: expected a distilled image set .*got int"):
        images_like(3, test[:2])
