"""Image-text loader memory (scale walk 41, finding 1): every image is decoded straight into its split's preallocated
tensor (before: one tensor per image in a dict, then ``torch.stack`` copying them all, ~2.9x the pixels), with the same
values bit for bit, and a set whose pixels cannot fit in the host's available memory is refused before anything is
decoded, as the image, audio and video loaders do (``memory_check=false`` skips it)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

import mmdistill.memory  # noqa: E402
from mmdistill.errors import DataError  # noqa: E402
from mmdistill.modalities.image_text.data import PairSplit, normalised_pixels  # noqa: E402
from mmdistill.modalities.image_text.loaders import (  # noqa: E402
    BYTES_PER_VALUE, BadInput, CaptionRecord, build_splits, file_opener, image_to_pixels, image_to_tensor,
)

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _kw(**kw) -> dict:
    base = dict(size=12, mean=MEAN, std=STD, source="test", test_fraction=0.25, split_order="sorted", seed=0, max_words=30,
                progress=False)
    base.update(kw)
    return base


def _write_images(root: Path, n: int = 12) -> list[str]:
    """``n`` small images of several sizes and modes (RGB, L, RGBA, P, 16-bit grey, CMYK JPEG) with random pixels."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        arr = rng.integers(0, 256, (9 + i % 5, 7 + i % 4, 3), dtype=np.uint8)
        im, ext = [(Image.fromarray(arr), "png"), (Image.fromarray(arr[..., 0]), "png"),
                   (Image.fromarray(np.dstack([arr, arr[..., :1]])), "png"), (Image.fromarray(arr).convert("P"), "png"),
                   (Image.fromarray(arr[..., 0].astype(np.uint16) * 257), "png"),
                   (Image.fromarray(arr).convert("CMYK"), "jpg")][i % 6]
        im.save(root / f"{i:02d}.{ext}")
        names.append(f"{i:02d}.{ext}")
    return names


def _per_image(img, size: int) -> torch.Tensor:
    """What the loader computed per image before (its own float array, then two out-of-place steps)."""
    from mmdistill.modalities.image.datasets import to_8bit

    img = to_8bit(img, Path("x"))
    rgb = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))


def _fake_available(monkeypatch, available: int) -> None:
    """The host's available memory as ``mmdistill.memory.host_shortfall`` sees it (the helper every loader checks with)."""
    monkeypatch.setattr(mmdistill.memory, "host_memory", lambda: available)


# --------------------------------------------------------------------------- memory check
def test_a_set_too_large_for_the_available_memory_is_refused_before_any_image_is_read(tmp_path, monkeypatch):
    names = _write_images(tmp_path, 8)
    records = [CaptionRecord(n, f"a photo {i}", None, f"row {i}") for i, n in enumerate(names)]
    opened = []
    opener = file_opener(tmp_path)

    def open_image(name: str):
        opened.append(name)
        return opener(name)

    need = 8 * 3 * 12 * 12 * BYTES_PER_VALUE
    _fake_available(monkeypatch, need - 1)
    with pytest.raises(DataError) as err:
        build_splits(records, open_image, bad=BadInput(), on_bad="error", **_kw())
    message = str(err.value)
    assert message.startswith("test: 8 images of 3x12x12 need about 0.0 GiB of memory as 8-bit pixels, more than the 0.0 GiB available")
    assert "pass a smaller image_size (--image-size N), or memory_check=false to try anyway" in message
    assert opened == []  # refused before decoding
    # a model-sized image (clip_finetune: no image_size key) names fewer images instead
    with pytest.raises(DataError, match=r"read fewer images \(the image size is the image encoder's input size\), or memory_check=false"):
        build_splits(records, open_image, bad=BadInput(), on_bad="error", memory_hint=None, **_kw())
    # memory_check=false skips it; an estimate that fits passes
    assert build_splits(records, open_image, bad=BadInput(), on_bad="error", check_memory=False, **_kw()).train.num_images == 6
    _fake_available(monkeypatch, need)
    assert build_splits(records, open_image, bad=BadInput(), on_bad="error", **_kw()).test.num_images == 2
    _fake_available(monkeypatch, 0)  # unknown: nothing to check against
    assert build_splits(records, open_image, bad=BadInput(), on_bad="error", **_kw()).train.num_images == 6


def test_val_images_are_read_but_not_counted_in_the_estimate(tmp_path, monkeypatch):
    names = _write_images(tmp_path, 6)
    records = [CaptionRecord(n, f"a photo {i}", ("train", "val", "test")[i % 3], f"row {i}") for i, n in enumerate(names)]
    _fake_available(monkeypatch, 4 * 3 * 12 * 12 * BYTES_PER_VALUE)  # the 4 train and test images fit, all 6 would not
    loaded = build_splits(records, file_opener(tmp_path), bad=BadInput(), on_bad="error", **_kw())
    assert (loaded.train.num_images, loaded.test.num_images, loaded.unused_val_images) == (2, 2, 2)


def test_the_recipes_pass_memory_check_and_the_key_to_lower(monkeypatch):
    from mmdistill.modalities.image_text import datasets as it_datasets
    from mmdistill.recipes.clip_finetune import Config as ClipConfig
    from mmdistill.modalities.image_text import ImageTextDistillConfig

    image = SimpleNamespace(image_size=224, mean=MEAN, std=STD, name="test")
    _fake_available(monkeypatch, 1 << 20)
    with pytest.raises(DataError, match=r"shapes \(generated\): 300 images of 3x224x224 need about 0\.0 GiB .* pass a smaller "
                                         r"image_size \(--image-size N\), or memory_check=false"):
        it_datasets.load_image_text(ImageTextDistillConfig(dataset="shapes", progress=False), image)
    seen = []

    class Stop(Exception):
        pass

    def fake_build_splits(records, opener, **kw):
        seen.append((kw["check_memory"], kw["memory_hint"]))
        raise Stop

    monkeypatch.setattr(it_datasets, "build_splits", fake_build_splits)
    for cfg in (ImageTextDistillConfig(dataset="shapes", memory_check=False), ClipConfig(dataset="shapes")):
        with pytest.raises(Stop):
            it_datasets.load_image_text(cfg, image)
    assert seen == [(False, "a smaller image_size (--image-size N)"), (True, None)]


# --------------------------------------------------------------------------- the same tensors
def test_image_to_tensor_in_place_is_bit_identical_to_the_per_image_formula(tmp_path):
    names = _write_images(tmp_path, 6)
    opener = file_opener(tmp_path)
    for name in names:
        expected = _per_image(opener(name), 12)
        assert _same_bits(image_to_tensor(opener(name), 12, MEAN, STD), expected), name
        out = torch.full((2, 3, 12, 12), 7, dtype=torch.uint8)
        assert image_to_pixels(opener(name), 12, out=out[1]) is not None and _same_bits(normalised_pixels(out[1], MEAN, STD), expected), name
        assert bool((out[0] == 7).all())  # only its row is written


def test_a_split_takes_8_bit_pixels_with_their_normalisation_or_normalised_floats_and_nothing_else():
    ids, caps, cap_img = ["a", "b"], ["x", "y", "z"], torch.tensor([0, 1, 1])
    pixels = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    stored = PairSplit(pixels, ids, caps, cap_img, torch.zeros(3, 5), pixel_norm=(MEAN, STD))
    batch = stored.pairs(torch.tensor([2, 0]))
    assert batch.images.dtype == torch.float32 and _same_bits(batch.images, normalised_pixels(pixels[[1, 0]], MEAN, STD))
    floats = PairSplit(normalised_pixels(pixels, MEAN, STD), ids, caps, cap_img, torch.zeros(3, 5))
    assert _same_bits(floats.pairs(torch.tensor([2, 0])).images, batch.images)  # taken as normalised already
    assert _same_bits(stored.to("cpu").normalised_images(slice(None)), floats.images)  # .to keeps the normalisation
    with pytest.raises(DataError, match=r"uint8 images need pixel_norm=\(mean, std\) with 3 values each"):
        PairSplit(pixels, ids, caps, cap_img)
    with pytest.raises(DataError, match="every std > 0"):
        PairSplit(pixels, ids, caps, cap_img, pixel_norm=(MEAN, (0.2, 0.0, 0.2)))
    with pytest.raises(DataError, match="pixel_norm applies to uint8 images"):
        PairSplit(pixels.float(), ids, caps, cap_img, pixel_norm=(MEAN, STD))
    with pytest.raises(DataError, match="images must be uint8 .* or float .*, got torch.int64"):
        PairSplit(pixels.long(), ids, caps, cap_img)


@pytest.mark.parametrize("case", ["clean", "skip_sorted", "skip_sorted_moved", "skip_random", "split_column"])
def test_a_loaded_split_equals_the_stacked_per_image_tensors(tmp_path, case):
    """Each split is the stack of its images' per-image tensors, in its image_ids' order, bit for bit: when every image
    reads (the planned tensors as they are), and when some fail under on_bad=skip (a split compacted in place, or
    gathered anew when the held-out count or the random order moved images between splits)."""
    names = _write_images(tmp_path, 12)
    (tmp_path / "00_broken.png").write_bytes(b"not an image")
    (tmp_path / "+broken.png").write_bytes(b"not an image either")
    if case == "clean":
        records = [CaptionRecord(n, f"a photo {i}", None, f"row {i}") for i, n in enumerate(names)]
    elif case == "split_column":
        listed = names + ["00_broken.png", "missing.png"]
        records = [CaptionRecord(n, f"a photo {i}", ("train", "test", "val", "restval")[i % 4], f"row {i}") for i, n in enumerate(listed)]
    elif case == "skip_sorted_moved":  # 14 names plan 4 test images, the 12 that read hold out 3: one moves to train
        listed = ["+broken.png", "+missing.png", *names]
        records = [CaptionRecord(n, f"a photo {i}", None, f"row {i}") for i, n in enumerate(listed)]
    else:
        listed = ["00_broken.png", *names, "missing.png"]
        records = [CaptionRecord(n, f"a photo {i} {c}", None, f"row {i}") for i, n in enumerate(listed) for c in range(1 + i % 2)]
    kw = _kw(split_order="random", seed=3) if case == "skip_random" else _kw()
    loaded = build_splits(records, file_opener(tmp_path), bad=BadInput(), on_bad="skip", root=tmp_path, **kw)
    opener = file_opener(tmp_path)
    for split in (loaded.train, loaded.test):
        assert split.images.dtype == torch.uint8 and split.images.is_contiguous()  # 8-bit pixels: a quarter of float32
        expected = torch.stack([_per_image(opener(n), 12) for n in split.image_ids])
        assert _same_bits(split.normalised_images(slice(None)), expected)  # the float32 values the loader once kept
        assert _same_bits(split.normalised_images(torch.tensor([1, 0])), expected[[1, 0]])
        for j, caption in enumerate(split.captions):  # each caption still points at its own image
            assert split.image_ids[int(split.caption_image[j])] == next(r.image for r in records if r.caption == caption)
    if case == "clean":  # nothing failed: the planned tensors are the splits, no spare rows
        assert all(s.images.untyped_storage().nbytes() == s.images.numel() for s in (loaded.train, loaded.test))
        assert loaded.train.image_ids == names[:9] and loaded.test.image_ids == names[9:]
    else:
        assert loaded.dropped["unreadable_image"] == 1 and loaded.dropped["missing_image"] == 1
