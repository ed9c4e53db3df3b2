"""An image-text export read by a training loop of the user's own (walk 52A): ``embeddings.safetensors`` named the text
encoder only (``hf:bert-base-uncased``), not the pooling the set's embeddings were made with (the card's config says
``text_pooling: auto``), so a loop embedding its own captions could pool them otherwise and train in another space
without a sign; nor the images' size and normalisation. Its metadata and the card's note now carry them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("PIL")
pytest.importorskip("safetensors")

sys.path.insert(0, str(Path(__file__).parent))
from test_image_text import cfg_for, tiny_bert, write_pairs  # noqa: E402,F401  (fixture re-used)

from safetensors import safe_open  # noqa: E402

from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.seeding import generator  # noqa: E402


def test_the_export_records_the_text_pooling_and_the_image_statistics(tmp_path, tiny_bert):
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(write_pairs(tmp_path, n_images=8)))
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0))
    out = MODALITY.export(syn, tmp_path / "export")
    with safe_open(str(out / "embeddings.safetensors"), "pt") as fh:
        meta = fh.metadata()
    # the encoder's local folder by its last folder, as a hub name reads: not the sender's path (hf:/home/alice/...)
    assert meta["text_encoder"] == f"hf:{Path(tiny_bert[3:]).name}" and meta["text_pooling"] == "cls" and meta["image_size"] == "16"
    assert json.loads(meta["mean"]) == pytest.approx(list(syn.meta["mean"])) and len(json.loads(meta["std"])) == 3
    assert f"`hf:{Path(tiny_bert[3:]).name}` (cls pooling of its token states" in MODALITY.export_note(syn)
    assert tiny_bert not in MODALITY.export_note(syn)  # the export card's note: no sender's path either
