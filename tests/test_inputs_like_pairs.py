"""Walk 53B: ``DistilledSet.inputs_like`` for the modalities that had no hook (sequences, image-text, audio-visual
pairs): a user's own data prepared as the set's loader prepared its real samples; the loader is the truth."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import mmdistill
from mmdistill.errors import ArtifactError, DataError
from test_inputs_like import _saved  # a set written as a run writes it


# ------------------------------------------------------------------------------------------------ sequences
def _interaction_log(path: Path) -> dict[str, list[tuple[float, str]]]:
    """A CSV log of 12 users x 9 interactions over 8 items named ``sku<k>`` (each item seen >= 5 times), rows shuffled
    (the loader orders each user's by time); returns each user's (timestamp, item) rows."""
    rng = np.random.default_rng(0)
    rows, by_user = [], {}
    for u in range(12):
        times = sorted(rng.choice(10_000, size=9, replace=False).tolist())
        items = [f"sku{(u + 3 * k) % 8}" for k in range(9)]
        by_user[f"user{u}"] = list(zip(times, items))
        rows += [(f"user{u}", i, t) for t, i in zip(times, items)]
    rng.shuffle(rows)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user", "item", "timestamp"])
        w.writerows(rows)
    return by_user


def test_your_users_histories_become_the_learners_inputs_as_the_loader_builds_them(tmp_path):
    """Before: ``ds.inputs_like`` on a sequence set stopped with 'the sequences adapter does not prepare your own data'.
    Now each user's item ids (oldest first, all but the item to predict) become the set's item indices, cut to the
    last max_len and right-padded exactly as the loader builds the test inputs."""
    from mmdistill.modalities.sequences import MODALITY
    from mmdistill.recipes.sequences_farzi import RECIPE

    log_path = tmp_path / "log.csv"
    rows = _interaction_log(log_path)
    cfg = RECIPE.config_cls(dataset="csv", data_root=str(log_path), max_len=4, seq_num=2, seq_len=3)
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved(MODALITY, data, cfg, tmp_path / "run", "sequences-farzi"))
    assert ds.synthetic.meta["max_len"] == 4
    histories = [[item for _, item in sorted(rows[u])][:-1] for u in data.users]  # the last item is the one to predict
    x = ds.inputs_like(histories)
    torch.testing.assert_close(x, data.eval_inputs("test")[0])
    lengths = (x != len(data.item_ids)).sum(1)
    torch.testing.assert_close(lengths, data.eval_inputs("test")[1])


def test_ids_the_set_never_saw_are_counted_and_named_or_refused(tmp_path, caplog):
    from mmdistill.modalities.sequences import items_like

    meta = {"item_ids": ["a", "b", "c"], "max_len": 3}
    with caplog.at_level(logging.WARNING):
        x = items_like(meta, [["a", "zz", "b", "c", "zz"], ["yy"]])
    torch.testing.assert_close(x, torch.tensor([[0, 1, 2], [3, 3, 3]]))
    assert "3 interaction(s) with 2 item id(s) the set never saw ('zz', 'yy'" in caplog.text
    assert "1 history(ies) kept no item" in caplog.text
    with pytest.raises(DataError, match=r"items_like: 3 interaction\(s\) with 2 item id\(s\) the set never saw \('zz', 'yy'"):
        items_like(meta, [["a", "zz", "b", "c", "zz"], ["yy"]], unknown="error")
    with pytest.raises(ArtifactError, match="no max_len .*pass max_len="):
        items_like({"item_ids": ["a"]}, [["a"]])
    torch.testing.assert_close(items_like({"item_ids": ["a"]}, [["a"]], max_len=2), torch.tensor([[0, 1]]))



def test_an_empty_history_is_named_without_unknown_ids(caplog):
    """A user with no history ([]) gives all padding, whose length - 1 is -1 (the last position, silently): it is named."""
    from mmdistill.modalities.sequences import items_like

    with caplog.at_level(logging.WARNING):
        x = items_like({"item_ids": ["a", "b"], "max_len": 2}, [["a"], [], ["b"]])
    torch.testing.assert_close(x, torch.tensor([[0, 2], [2, 2], [1, 2]]))
    assert "1 history(ies) of 3 hold no item (all padding; e.g. history 1)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        items_like({"item_ids": ["a", "b"], "max_len": 2}, [["a"], ["b"]])
    assert caplog.text == ""

# ------------------------------------------------------------------------------------------------ image-text
from test_image_text import write_pairs  # noqa: E402


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> str:
    """test_image_text's 1-layer BERT folder (``hf:<folder>``), built once for this module."""
    import test_image_text

    return test_image_text.tiny_bert.__wrapped__(tmp_path_factory)


def test_your_images_and_captions_become_the_sets_images_and_text_embeddings(tmp_path, bert):
    """Before: 'the image_text adapter does not prepare your own data'. Now image files are read and captions embedded
    as the loader did for the test split (same pixels, same embeddings), through the set's recorded text encoder."""
    from mmdistill.modalities.image_text import MODALITY, pairs_like
    from mmdistill.recipes.image_text_lors import RECIPE

    from test_image_text import cfg_for

    csv_path = write_pairs(tmp_path / "pairs")
    base = cfg_for(bert, tmp_path, data_root=str(csv_path), test_fraction=0.25, max_caption_words=4)
    cfg = RECIPE.config_cls(**{k: getattr(base, k) for k in ("dataset", "data_root", "image_encoder", "image_size", "text_encoder",
                                                            "text_cache", "test_fraction", "max_caption_words", "progress")}, ipc=2)
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved(MODALITY, data, cfg, tmp_path / "run", "image-text-lors"))
    files = [csv_path.parent / name for name in data.test.image_ids]
    long = [c.replace(" ", "\x1b ", 1) + " and more words" for c in data.test.captions]  # as a user writes them: cut and cleaned as the loader
    out = ds.inputs_like({"images": files, "captions": long})
    torch.testing.assert_close(out["images"], data.test.normalised_images(slice(None)))
    torch.testing.assert_close(out["text"], data.test.text, atol=1e-5, rtol=1e-4)
    assert set(ds.inputs_like(files)) == {"images"}
    from PIL import Image

    one = pairs_like(ds, {"images": Image.open(files[0])})["images"]  # one PIL image alone: one sample
    torch.testing.assert_close(one, data.test.normalised_images(slice(0, 1)))


def test_image_text_refuses_a_missing_file_an_unknown_key_and_a_set_without_its_text_encoder(tmp_path):
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.image_text import pairs_like

    meta = {"image_size": 8, "mean": [0.5] * 3, "std": [0.25] * 3}
    with pytest.raises(DataError, match=r"pairs_like: 1 image\(s\) not read: .*nothere\.png \(no such file\)"):
        pairs_like(meta, [tmp_path / "nothere.png"])
    with pytest.raises(ConfigError, match=r"got keys \['text'\]"):
        pairs_like(meta, {"text": ["a cat"]})
    with pytest.raises(ArtifactError, match="records no text_encoder"):
        pairs_like(meta, {"captions": ["a cat"]})
    with pytest.raises(ArtifactError, match=r"lacks \['image_size'\]"):
        pairs_like({"mean": [0.5] * 3, "std": [0.25] * 3}, {"captions": ["a cat"]})


# ------------------------------------------------------------------------------------------------ audio-visual
def test_your_audio_and_image_pairs_become_the_sets_log_mels_and_frames(tmp_path):
    """Before: 'the audio_visual adapter does not prepare your own data'. Now (audio, image) file pairs are decoded,
    resampled, cut, turned into log-mel spectrograms and resized as the CSV loader did for the test split."""
    pytest.importorskip("soundfile")
    from test_audio_visual import _cfg, _write_csv_set

    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set", rate_of=lambda i: 16000 if i == 3 else 8000)  # the test pairs resampled
    cfg = _cfg(dataset="csv", data_root=str(path), image_size=12, scaling="split", ipc=1, multi_formation=1, init="real")
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved(MODALITY, data, cfg, tmp_path / "run", "audio-visual-avdd"))
    pairs = [(path.parent / f"a{c}3.wav", path.parent / f"i{c}3.png") for c in range(2)]
    out = ds.inputs_like(pairs)
    torch.testing.assert_close(out["audio"], data.test.audio)
    torch.testing.assert_close(out["image"], data.test.image)
    only = ds.inputs_like({"image": [p for _, p in pairs]})
    assert set(only) == {"image"}


def test_audio_visual_refuses_a_missing_file_and_a_set_of_another_modality(tmp_path):
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.audio_visual import av_like

    pytest.importorskip("soundfile")
    from test_audio_visual import _cfg, _write_csv_set

    from mmdistill.modalities.audio_visual import MODALITY

    data = MODALITY.load(_cfg(dataset="csv", data_root=str(_write_csv_set(tmp_path / "set"))))
    with pytest.raises(DataError, match=r"av_like: 1 image file\(s\) do not exist: .*gone\.png"):
        av_like(data.meta, {"image": [tmp_path / "gone.png"]})
    with pytest.raises(ConfigError, match="av_like: waveforms need sample_rate="):
        av_like(data.meta, {"audio": torch.zeros(2, 100)})
    with pytest.raises(ConfigError, match=r"av_like: waveforms must be \(N, T\) floats .*\(2, 100\) torch.int64"):
        av_like(data.meta, {"audio": torch.zeros(2, 100, dtype=torch.long)}, sample_rate=8000)
    with pytest.raises(ConfigError, match=r"got \['video'\]"):
        av_like(data.meta, {"video": []})
    with pytest.raises(ArtifactError, match=r"av_like: the set's metadata lacks \['features'"):
        av_like({"mean": [0.5]}, {"image": []})


# ------------------------------------------------------------------------------------------------ one reader of the set
@pytest.mark.parametrize("module, function, raw", [
    ("audio", "maps_like", []), ("video", "clips_like", []), ("graph", "features_like", torch.zeros(1, 2)),
    ("sequences", "items_like", []), ("image_text", "pairs_like", []), ("audio_visual", "av_like", {}),
])
def test_every_like_function_names_itself_and_what_it_was_given(module, function, raw):
    """Each adapter's reader of the set's metadata (audio's and video's set_meta, graph's inline one) is
    :func:`mmdistill.inputs_like.source_meta`: a wrong source is named the same way by each (before: audio's message
    did not say which function refused it)."""
    import importlib

    from mmdistill.errors import ConfigError

    fn = getattr(importlib.import_module(f"mmdistill.modalities.{module}"), function)
    with pytest.raises(ConfigError, match=rf"^{function}: expected a .*\(mmdistill.load\), its synthetic set or its meta mapping, got int"):
        fn(42, raw)


def test_audio_visual_frames_given_as_tensors_are_the_sets_frames():
    """Walk 53J: a user of ``register_tensors`` holds frames (N, C, h, w) as tensors; ``{"image": frames}`` failed with
    torch's 'expected str, bytes or os.PathLike object, not Tensor'. Frames (uint8, or floats in [0, 1]) are prepared as
    the tensor loader did (the test split's frames); another layout or range is a ConfigError naming it."""
    from test_audio_visual import _cfg, _images, _waves

    from mmdistill.errors import ConfigError
    from mmdistill.modalities.audio_visual import MODALITY, av_like, register_tensors

    y_tr, y_te = torch.arange(3).repeat_interleave(4), torch.arange(3).repeat_interleave(2)
    name = register_tensors("av-like-frames", _waves(y_tr), _images(y_tr), y_tr, _waves(y_te), _images(y_te), y_te, ["a", "b", "c"])
    data = MODALITY.load(_cfg(dataset=name, scaling="split"))
    torch.testing.assert_close(av_like(data.meta, {"image": _images(y_te)})["image"], data.test.image)
    as_bytes = (_images(y_te) * 255).round().to(torch.uint8)
    torch.testing.assert_close(av_like(data.meta, {"image": as_bytes})["image"], data.test.image, atol=0.02, rtol=0)
    assert av_like(data.meta, {"image": _images(y_te)[:0]})["image"].shape == (0, *data.test.image.shape[1:])
    with pytest.raises(ConfigError, match=r"\(N, C, h, w\) with C 1 or 3 .*got \(6, 8, 8, 1\) \(channels last"):
        av_like(data.meta, {"image": _images(y_te).permute(0, 2, 3, 1)})
    with pytest.raises(ConfigError, match=r"float image frames must lie in \[0, 1\].*got values in \[[0-9.]+, 255\]"):
        av_like(data.meta, {"image": _images(y_te) * 255})


def test_captions_of_loads_the_text_encoder_once_with_the_recorded_pooling(monkeypatch):
    """Review 53: text_encoder_of loaded the model with pooling 'auto' and again when the recorded pooling differed,
    and captions_of rebuilt it (a full model load) on every call. Now one load per (encoder, pooling) in a process,
    with the pooling the set's text_space says its run used ('auto' for an L2-normalised space)."""
    from mmdistill.modalities.image_text import encoders
    from mmdistill.modalities.image_text import prepare as it_prepare

    class Fake:
        name, dim, context = "fake", 4, None

        def __init__(self, pooling: str) -> None:
            self.normalize = pooling == "auto"
            self.pooling = "mean" if pooling == "auto" else pooling

        def encode(self, captions, batch_size, progress=False):
            return torch.ones(len(captions), self.dim)

    built = []
    monkeypatch.setattr(encoders, "build_text_encoder", lambda name, pooling="auto", **_: built.append(pooling) or Fake(pooling))
    it_prepare._cached_text_encoder.cache_clear()
    meta = {"text_encoder": "fake", "text_pooling": "cls", "text_space": "fake, cls pooling", "max_caption_words": 5}
    for _ in range(3):
        assert it_prepare.captions_of(meta, ["a cat", "a dog"]).shape == (2, 4)
    assert built == ["cls"]
    normalised = dict(meta, text_pooling="mean", text_space="fake, mean pooling, L2-normalised")
    it_prepare.captions_of(normalised, ["a cat"])
    assert built == ["cls", "auto"]
    older = {k: v for k, v in meta.items() if k != "text_space"}  # before text_space: auto, then the recorded pooling
    assert it_prepare.text_encoder_of(older).pooling == "cls" and built == ["cls", "auto"]  # both already loaded
    it_prepare._cached_text_encoder.cache_clear()
