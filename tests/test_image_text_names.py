"""A user's own pairs in COCO's (or Flickr30K's) file format are not COCO (walk 52A): a set of
``--dataset coco --data-root my/captions_train.json`` was named ``coco`` and its card gave COCO's licence ("annotations
CC BY 4.0; images under Flickr's terms of use (COCO Consortium)") and https://cocodataset.org as the source of the
user's images. Only files named as the public releases name them take the dataset's name and facts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("PIL")

sys.path.insert(0, str(Path(__file__).parent))
from test_image_text import cfg_for, tiny_bert, write_pairs  # noqa: E402,F401  (fixture re-used)

from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.modalities.image_text.datasets import json_dataset_name  # noqa: E402


def test_own_pairs_in_cocos_format_are_named_by_their_file_and_carry_no_coco_licence(tmp_path, tiny_bert):
    write_pairs(tmp_path, n_images=8)
    coco = {"images": [{"id": i, "file_name": f"img/{i:03d}.png"} for i in range(8)],
            "annotations": [{"image_id": i, "caption": f"a dog {i} {c}"} for i in range(8) for c in range(2)]}
    (tmp_path / "captions_train.json").write_text(json.dumps(coco))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="coco", data_root=str(tmp_path / "captions_train.json"), ipc=2))
    assert data.name == "captions_train"
    assert "cocodataset" not in json.dumps(MODALITY.dataset_facts(data.name))


@pytest.mark.parametrize("kind, file, name", [
    ("coco", "captions_train2017.json", "coco"), ("coco", "captions_val2014.json", "coco"),
    ("coco", "coco_karpathy_train.json", "coco"), ("coco", "captions_train.json", "captions_train"),
    ("coco", "my_pairs.json", "my_pairs"), ("flickr30k", "flickr30k_train.json", "flickr30k"),
    ("flickr30k", "dataset_flickr30k.json", "flickr30k"), ("flickr30k", "shop_photos.json", "shop_photos"),
    ("karpathy", "dataset_coco.json", "dataset_coco"),
])
def test_the_public_releases_keep_their_name(kind, file, name):
    assert json_dataset_name(kind, Path("/data") / file) == name
    if name in ("coco", "flickr30k"):
        assert MODALITY.dataset_facts(name)["source"].startswith("https://")
