"""Image-text adapter on tiny generated data: loaders and bad input, encoders offline, the contrastive task and
its recall metric, training helpers, LoRA, and one run through ``mmdistill.pipeline.distill`` with a
test-only matcher (the seam the trajectory recipes use)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from mmdistill.card import loading_counts  # noqa: E402
from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.io import load_synthetic  # noqa: E402
from mmdistill.matchers import apply_update  # noqa: E402
from mmdistill.modalities.image_text import (  # noqa: E402
    MODALITY, ContrastiveTask, ImageTextDistillConfig, PairBatch, dual_encoder_factory, expert_optimizer, retrieval_recalls,
    student_loss, train_epoch, trainable_parameters,
)
from mmdistill.modalities.image_text.encoders import build_image_encoder, build_text_encoder  # noqa: E402
from mmdistill.modalities.image_text.lora import add_lora  # noqa: E402
from mmdistill.modalities.image_text.text_cache import embed_and_measure  # noqa: E402
from mmdistill.run import distill  # noqa: E402
from mmdistill.seeding import generator  # noqa: E402

WORDS = "a the red green blue dog cat ball runs sits on grass in park photo of small big".split()
COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 210), (220, 200, 40)]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A randomly initialised 1-layer BERT with a word vocabulary, saved as a local folder: ``hf:<folder>``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab.read_text().split()), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(folder)
    return f"hf:{folder}"


def write_pairs(root: Path, n_images: int = 12, captions_per_image: int = 2) -> Path:
    """``n_images`` 20x20 PNGs under root/img and root/captions.csv with several captions each."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        im = Image.new("RGB", (20 + i % 3, 20), COLOURS[i % 4])
        if i >= 12:  # the pattern repeats every 12 images: a pixel of its own keeps each file distinct (no byte-identical copy)
            im.putpixel((0, 0), (i, i, i))
        im.save(root / "img" / f"{i:03d}.png")
        for c in range(captions_per_image):
            rows.append((f"img/{i:03d}.png", f"a {WORDS[2 + i % 3]} {WORDS[5 + (i + c) % 4]} photo {i} {c}"))
    with open(root / "captions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return root / "captions.csv"


def cfg_for(tiny_bert: str, tmp_path: Path, **kw) -> ImageTextDistillConfig:
    base = dict(dataset="csv", image_encoder="convnetw32", image_size=16, text_encoder=tiny_bert, text_cache=str(tmp_path / "cache"),
                ipc=4, eval_runs=2, eval_epochs=2, eval_batch=4, whole_epochs=1, herding_epochs=1, expert_batch=8, progress=False,
                iterations=3, checkpoint_every=2)
    base.update(kw)
    return ImageTextDistillConfig(**base)


# --------------------------------------------------------------------------- loaders
def test_csv_keeps_every_caption_and_splits_sorted_images(tmp_path, tiny_bert):
    csv_path = write_pairs(tmp_path, n_images=10, captions_per_image=3)
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), test_fraction=0.2))
    assert (data.train.num_images, data.test.num_images) == (8, 2)
    assert (data.train.num_pairs, data.test.num_pairs) == (24, 6)
    assert data.test.image_ids == ["img/008.png", "img/009.png"]  # the last names in sorted order
    assert data.train.images.shape == (8, 3, 16, 16) and data.train.text.shape == (24, 16)
    assert torch.bincount(data.train.caption_image).tolist() == [3] * 8
    assert data.train.captions[0].startswith("a red") and data.meta["text_dim"] == 16
    # normalised with the encoder's statistics: a pure red image is far from 0 in channel 0
    assert float(data.train.normalised_images(slice(0, 1))[0, 0].mean()) > 1.0


def test_bad_input_is_named_with_counts_and_skip_reports_it(tmp_path, tiny_bert):
    csv_path = write_pairs(tmp_path, n_images=8)
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    with open(csv_path, "a", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([("img/missing.png", "a dog"), ("img/gone.png", "a cat"), ("img/broken.png", "a ball"),
                     ("img/000.png", "   "), ("img/001.png", "a green cat photo 1 0")])  # the last one repeats a row
    with pytest.raises(DataError) as err:
        MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path)))
    msg = str(err.value)
    for part in ("2 caption rows whose image file does not exist", "img/missing.png", "1 images that cannot be decoded",
                 "1 empty captions", "1 duplicate pairs", "on_bad=skip"):
        assert part in msg, part
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), on_bad="skip"))
    assert data.meta["dropped"] == {"empty_caption": 1, "duplicate": 1, "missing_image": 2, "unreadable_image": 1}
    assert data.train.num_pairs + data.test.num_pairs == 16 == 21 - sum(data.meta["dropped"].values())  # each row counted once
    from mmdistill.seeding import generator

    syn = MODALITY.init_synthetic(data, cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), on_bad="skip", ipc=2), generator(0))
    rep = syn.meta["load_report"]  # the manifest (and so the card) states what was dropped, in the one shape
    assert rep == data.meta["load_report"] and {k: n for k, n in rep["counts"].items() if n} == data.meta["dropped"]
    assert rep["root"] == tmp_path.name and rep["files"]["missing_image"] == ["img/gone.png", "img/missing.png"]
    assert rep["files"]["empty_caption"] == ["captions.csv line 21"] and str(tmp_path) not in str(rep)
    # names only, the reasons stay in the log (before: "img/broken.png (UnidentifiedImageError)", the caption too)
    assert rep["files"]["unreadable_image"] == ["img/broken.png"] and rep["files"]["duplicate"] == ["captions.csv line 22"]
    assert loading_counts({"synthetic": {"meta": syn.meta}}) == "missing image 2, unreadable image 1, empty caption 1, duplicate 1"


def test_skip_counts_each_dropped_row_once(tmp_path, tiny_bert):
    """The counts of on_bad=skip add up to the caption rows dropped, each under its first reason: an image that
    cannot be read counts one of its rows, its other captions count as captions of dropped images (before: the
    image's rows were counted twice, "missing image 1, unreadable image 1, ..., captions of dropped images 5" for 7
    rows dropped)."""
    csv_path = write_pairs(tmp_path, n_images=8, captions_per_image=3)
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    with open(csv_path, "a", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([("img/gone.png", "a dog 1"), ("img/gone.png", "a dog 2"), ("img/gone.png", "a dog 3"),
                     ("img/broken.png", "a ball 1"), ("img/broken.png", "a ball 2"),
                     ("img/000.png", ""), ("img/001.png", "a green cat photo 1 0"),  # an empty caption, a repeated row
                     ("img/gone.png", "a dog 1")])  # a repeated row of a missing image: counted as a duplicate only
    rows = 8 * 3 + 8
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), on_bad="skip"))
    dropped = data.meta["dropped"]
    assert dropped == {"missing_image": 1, "unreadable_image": 1, "empty_caption": 1, "duplicate": 2, "captions_of_dropped_images": 3}
    assert sum(dropped.values()) == rows - (data.train.num_pairs + data.test.num_pairs) == 8
    assert {k: n for k, n in data.meta["load_report"]["counts"].items() if n} == dropped


def test_one_image_written_two_ways_is_one_image(tmp_path, tiny_bert):
    """Image paths are compared after resolving them against the caption file's folder: a test image listed again
    as ``./img/X``, by its absolute path or through a symbolic link in the train split is refused as an image in two
    splits (before: accepted as three images, the test image leaking into train); one caption repeated under two
    spellings is a duplicate."""
    csv_path = write_pairs(tmp_path, n_images=6)
    rows = list(csv.reader(csv_path.read_text().splitlines()))
    body = [r + ["test" if r[0] == "img/005.png" else "train"] for r in rows[1:]]
    (tmp_path / "img" / "link.png").symlink_to(tmp_path / "img" / "005.png")
    for extra in ("./img/005.png", str(tmp_path / "img" / "005.png"), "img/../img/005.png", "img/link.png"):
        with open(tmp_path / "leak.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerows([["image", "caption", "split"], *body, [extra, "the same photo again", "train"]])
        with pytest.raises(DataError, match=r"1 image\(s\) have captions in different splits \(img/005.png \(test/train\)\)"):
            MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(tmp_path / "leak.csv")))
    with open(tmp_path / "twice.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([["image", "caption", "split"], *body, [str(tmp_path / "img" / "005.png"), body[-1][1], "test"],
                     ["./img/005.png", "one more caption of it", "test"]])
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(tmp_path / "twice.csv"), on_bad="skip"))
    assert data.meta["dropped"] == {"duplicate": 1}
    assert data.test.image_ids == ["img/005.png"] and data.test.num_pairs == 3 and data.train.num_images == 5


def test_budget_larger_than_the_split_is_refused_with_counts(tmp_path, tiny_bert):
    csv_path = write_pairs(tmp_path, n_images=5)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), ipc=50)
    data = MODALITY.load(cfg)
    with pytest.raises(DataError, match=r"has 8 pairs \(4 images\), fewer than the budget of 50 pairs"):
        MODALITY.init_synthetic(data, cfg, generator(0, "init"))


def test_caption_json_formats(tmp_path, tiny_bert):
    write_pairs(tmp_path, n_images=6)
    karpathy = {"images": [{"filename": f"{i:03d}.png", "filepath": "img", "split": ["train", "restval", "val", "test"][i % 4] if i < 4 else "train",
                            "sentences": [{"raw": f"a red dog {i}"}, {"raw": f"a cat {i}"}]} for i in range(6)]}
    (tmp_path / "dataset_x.json").write_text(json.dumps(karpathy))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="karpathy", data_root=str(tmp_path / "dataset_x.json"), ipc=2))
    assert (data.train.num_images, data.test.num_images, data.meta["unused_val_images"]) == (4, 1, 1)
    blip_train = [{"image": f"img/{i:03d}.png", "caption": f"a dog {i}", "image_id": i} for i in range(4)]
    blip_test = [{"image": f"img/{i:03d}.png", "caption": [f"a cat {i}", f"a ball {i}"]} for i in (4, 5)]
    (tmp_path / "tr.json").write_text(json.dumps(blip_train))
    (tmp_path / "te.json").write_text(json.dumps(blip_test))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="flickr30k", data_root=str(tmp_path / "tr.json"),
                                 test_captions=str(tmp_path / "te.json"), ipc=2))
    assert (data.train.num_pairs, data.test.num_pairs, data.test.num_images) == (4, 4, 2)
    coco = {"images": [{"id": i, "file_name": f"img/{i:03d}.png"} for i in range(6)],
            "annotations": [{"image_id": i, "caption": f"a dog {i} {c}"} for i in range(6) for c in range(2)]}
    (tmp_path / "captions_x.json").write_text(json.dumps(coco))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="coco", data_root=str(tmp_path / "captions_x.json"), ipc=2))
    assert data.train.num_pairs + data.test.num_pairs == 12


def test_folder_with_sidecar_captions(tmp_path, tiny_bert):
    for split, n in (("train", 4), ("test", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            colour = COLOURS[i] if split == "train" else tuple(255 - c for c in COLOURS[i])  # no test image a copy of a training one
            Image.new("RGB", (18, 18), colour).save(tmp_path / split / f"{i}.jpg")
            (tmp_path / split / f"{i}.txt").write_text(f"a red dog {i}\n\na cat {i}\n")
    Image.new("RGB", (18, 18)).save(tmp_path / "train" / "lonely.png")  # no caption file
    with pytest.raises(DataError, match="1 images without any caption"):
        MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="folder", data_root=str(tmp_path), ipc=2))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="folder", data_root=str(tmp_path), ipc=2, on_bad="skip"))
    assert (data.train.num_pairs, data.test.num_pairs) == (8, 4) and data.meta["dropped"] == {"no_caption": 1}


def test_caption_csv_encoding_and_layout_errors_name_the_file_and_line(tmp_path, tiny_bert):
    from mmdistill.modalities.image_text.loaders import read_csv_records

    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffimage,caption\nimg/000.png,a dog\n".encode("utf-8"))  # as Excel saves UTF-8 CSV
    assert [(r.image, r.caption) for r in read_csv_records(bom)] == [("img/000.png", "a dog")]
    cases = {
        "latin.csv": ("image,caption\nimg/000.png,a dog\nimg/001.png,caf\u00e9\n".encode("latin-1"), r"latin\.csv: line 3 is not UTF-8 \(byte 0xe9"),
        "empty.csv": (b"", "is empty; expected a header line naming the columns image,caption"),
        "tabs.csv": (b"img/000.png#0\ta dog\n", "the first line is tab-separated.*Flickr8k.token.txt"),
        "semi.csv": (b"image;caption\nimg/000.png;a dog\n", "semicolon-separated"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=message):
            read_csv_records(tmp_path / name)
    with pytest.raises(DataError, match="is a folder; data_root names the caption file itself"):
        read_csv_records(tmp_path)
    # through the loader, the latin-1 file is a DataError (the command line prints it), not a UnicodeDecodeError
    write_pairs(tmp_path, n_images=4)
    with pytest.raises(DataError, match="not UTF-8"):
        MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(tmp_path / "latin.csv")))


def test_malformed_caption_json_entries_are_named(tmp_path):
    from mmdistill.modalities.image_text.loaders import BadInput, read_json_records

    files = {
        "coco_no_name.json": ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a dog"}]},
                              r"images\[0\]: a COCO image entry needs 'id' and 'file_name'"),
        "coco_number.json": ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "caption": 5}]},
                             r"annotations\[0\]: 'caption' must be a string, got int"),
        "karpathy_str.json": ({"images": [{"filename": "a.png", "sentences": [{"raw": "a"}]}, "b.png"]},
                              r"images\[1\]: expected an object with 'filename' and 'sentences'"),
        "blip_null.json": ([{"image": None, "caption": "a dog"}], r"\[0\]: 'image' must be a string, got NoneType"),
        "blip_dict.json": ([{"image": "a.png", "caption": {"en": "a dog"}}], r"\[0\]: 'caption' must be a string, got dict"),
    }
    for name, (content, message) in files.items():
        (tmp_path / name).write_text(json.dumps(content))
        with pytest.raises(DataError, match=message):
            read_json_records(tmp_path / name)
    # an image listed without any caption is bad input (counted, named), not silently left out
    (tmp_path / "coco.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
                                                    "annotations": [{"image_id": 1, "caption": "a dog"}]}))
    (tmp_path / "blip.json").write_text(json.dumps([{"image": "a.png", "caption": ["a dog"]}, {"image": "c.png", "caption": []}]))
    for name, missing in (("coco.json", "b.png"), ("blip.json", "c.png")):
        bad = BadInput()
        records = read_json_records(tmp_path / name, bad=bad)
        assert [r.image for r in records] == ["a.png"] and bad.total() == bad.counts()["no_caption"] == 1 and missing in bad.problems()


def test_images_of_any_mode_and_undecodable_ones(tmp_path):
    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener, image_to_tensor

    for mode, value, expected in (("L", 100, 100 / 255), ("I;16", 40000, 40000 / 65535), ("RGBA", (200, 0, 0, 0), 200 / 255),
                                  ("CMYK", (0, 0, 0, 0), 1.0), ("1", 1, 1.0)):
        x = image_to_tensor(Image.new(mode, (6, 6), value), 4, (0.0,) * 3, (1.0,) * 3)
        assert x.shape == (3, 4, 4) and abs(float(x[0].mean()) - expected) < 3e-3, mode  # 16-bit grey is scaled, not saturated
    with pytest.raises(ValueError, match="mode F"):
        image_to_tensor(Image.new("F", (6, 6), 0.5), 4, (0.0,) * 3, (1.0,) * 3)
    for i in range(4):
        Image.new("RGB", (6, 6), COLOURS[i]).save(tmp_path / f"{i}.png")
    Image.new("F", (6, 6), 0.5).save(tmp_path / "float.tif")
    opener = file_opener(tmp_path)

    def open_image(name: str):
        if name == "bomb.png":  # what PIL raises on an image too large to decode safely (not an OSError)
            raise Image.DecompressionBombError("Image size (900000000 pixels) exceeds limit")
        return opener(name)

    records = [CaptionRecord(n, f"caption of {n}", None, n) for n in ("0.png", "1.png", "2.png", "3.png", "bomb.png", "float.tif")]
    kw = dict(size=4, mean=(0.0,) * 3, std=(1.0,) * 3, source="test", test_fraction=0.25, split_order="sorted", seed=0, max_words=30,
              progress=False)
    with pytest.raises(DataError, match=r"2 images that cannot be decoded \(bomb.png \(DecompressionBombError.*float.tif \(ValueError"):
        build_splits(records, open_image, bad=BadInput(), on_bad="error", **kw)
    loaded = build_splits(records, open_image, bad=BadInput(), on_bad="skip", **kw)
    assert loaded.dropped == {"unreadable_image": 2} and loaded.train.num_images == 3  # one row each: counted once
    # captions of one image that name different splits are refused, not resolved by whichever comes last
    mixed = [CaptionRecord("0.png", "a", "test", "l2"), CaptionRecord("0.png", "b", "train", "l3"), CaptionRecord("1.png", "c", "train", "l4")]
    with pytest.raises(DataError, match=r"1 image\(s\) have captions in different splits \(0.png \(test/train\)\)"):
        build_splits(mixed, opener, bad=BadInput(), on_bad="error", **kw)


def test_the_load_report_names_an_unreadable_image_without_the_reason(tmp_path, caplog):
    """The reason of an image that cannot be opened can name the machine's folders (an OSError's path): the message
    and the log keep it, the load report stores the name relative to the image root only (before: the whole text,
    "img/3.png (PermissionError: ... '/home/.../img/3.png')", went into the manifest)."""
    import logging

    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener

    (tmp_path / "img").mkdir()
    for i in range(4):
        Image.new("RGB", (6, 6), COLOURS[i]).save(tmp_path / "img" / f"{i}.png")
    opener = file_opener(tmp_path)
    private = str(tmp_path / "img" / "3.png")

    def open_image(name: str):
        if name == "img/3.png":
            raise PermissionError(13, "Permission denied", private)
        return opener(name)

    records = [CaptionRecord(f"img/{i}.png", f"caption of {i}", None, f"captions.csv line {i + 2}") for i in range(4)]
    kw = dict(size=4, mean=(0.0,) * 3, std=(1.0,) * 3, source="test", test_fraction=0.34, split_order="sorted", seed=0, max_words=30,
              progress=False)
    with pytest.raises(DataError, match=r"1 images that cannot be decoded \(img/3.png \(PermissionError: \[Errno 13\] Permission denied: "):
        build_splits(records, open_image, bad=BadInput(), on_bad="error", **kw)
    with caplog.at_level(logging.WARNING):
        loaded = build_splits(records, open_image, bad=BadInput(), on_bad="skip", **kw)
    assert f"img/3.png (PermissionError: [Errno 13] Permission denied: '{private[:30]}" in caplog.text  # (cut at 80 characters)
    loaded.report.root = str(tmp_path)
    rep = loaded.report.as_dict()
    assert rep["files"] == {"unreadable_image": ["img/3.png"]} and str(tmp_path) not in json.dumps(rep)
    assert rep["counts"]["unreadable_image"] == 1 and rep["counts"]["captions_of_dropped_images"] == 0  # its one row


def test_folder_caption_file_that_is_not_utf8_is_counted(tmp_path, tiny_bert):
    for i in range(5):
        Image.new("RGB", (18, 18), COLOURS[i % 4]).save(tmp_path / f"{i}.png")
        (tmp_path / f"{i}.txt").write_text(f"a red dog {i}\n")
    (tmp_path / "4.txt").write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"1 caption files that are not UTF-8 text \(4.txt"):
        MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="folder", data_root=str(tmp_path), ipc=2))
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, dataset="folder", data_root=str(tmp_path), ipc=2, on_bad="skip"))
    assert data.meta["dropped"] == {"unreadable_caption": 1} and data.train.num_pairs + data.test.num_pairs == 4


def test_herding_baseline_evaluated_directly_sizes_an_unset_expert_batch(tmp_path, tiny_bert):
    """modality.evaluate on data loaded elsewhere (the Flickr benchmark, API users) with expert_batch=None: the herding
    model trains at the batch the adapter's load would size (it raised a TypeError on range(..., None))."""
    from mmdistill.modalities.image_text.trajectory import sized_expert_batch

    csv_path = write_pairs(tmp_path, n_images=10)
    data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path)))
    kw = dict(data_root=str(csv_path), baselines=["herding"], eval_runs=1, eval_whole_split=False)
    unset = MODALITY.evaluate(cfg_for(tiny_bert, tmp_path, expert_batch=None, **kw), None, data, torch.device("cpu"))
    sized = sized_expert_batch(data.train.num_pairs)  # this config has no syn_steps: 1
    given = MODALITY.evaluate(cfg_for(tiny_bert, tmp_path, expert_batch=sized, **kw), None, data, torch.device("cpu"))
    assert unset["herding"]["runs"] == given["herding"]["runs"]


def test_herding_budget_above_the_images_is_refused_before_distilling(tmp_path, tiny_bert):
    csv_path = write_pairs(tmp_path, n_images=5)  # 4 train images, 8 train pairs
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), ipc=6)
    data = MODALITY.load(cfg)
    with pytest.raises(DataError, match=r"herding baseline picks 6 distinct images, and the training split has 4.*baselines=random_real"):
        MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert len(MODALITY.init_synthetic(data, cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), ipc=6, baselines=["random_real"]),
                                       generator(0, "init"))) == 6


# --------------------------------------------------------------------------- encoders and cache
def test_hub_names_fail_offline_with_a_way_to_point_at_local_files():
    with pytest.raises(ConfigError, match=r"image_weights=/path/to"):
        build_image_encoder("nfnet_l0", "default")
    with pytest.raises(ConfigError, match=r"text_encoder=hf:/path/to/folder"):
        build_text_encoder("hf:no-such-org/no-such-model-xyz")
    with pytest.raises(ConfigError, match=r"openclip:RN50@/path/to"):
        build_text_encoder("openclip:RN50@openai")
    with pytest.raises(ConfigError, match="unknown image encoder"):
        build_image_encoder("vgg99")


def test_an_offline_image_encoder_error_names_the_text_sides_download_too(tmp_path, tiny_bert):
    """The published defaults (nfnet_l0 weights, hf:bert-base-uncased) offline: one error names both downloads (the
    text one was the next error after fixing the first); a local or offline text encoder is not mentioned."""
    csv_path = write_pairs(tmp_path)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), image_encoder="nfnet_l0", image_weights="default",
                  text_encoder="hf:no-such-org/no-such-model-xyz")
    with pytest.raises(ConfigError, match=r"image_weights=/path/to.*text_encoder=hf:no-such-org/no-such-model-xyz is not cached.*minilm"):
        MODALITY.load(cfg)
    with pytest.raises(ConfigError) as exc:
        MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), image_encoder="nfnet_l0", image_weights="default"))
    assert "text side" not in str(exc.value)  # the tiny local BERT folder needs nothing


def test_a_registered_image_encoder_is_built_by_name():
    from mmdistill.modalities.image_text.encoders import CLIP_MEAN, CLIP_STD, ImageEncoderBuild, register_image_encoder

    def fresh() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 6))

    register_image_encoder("test-flat")(lambda weights, size, download: ImageEncoderBuild("test-flat", fresh(), 6, CLIP_MEAN, CLIP_STD, 8, False, fresh))
    built = build_image_encoder("TEST_flat")
    assert built.out_dim == 6 and built.module(torch.zeros(2, 3, 8, 8)).shape == (2, 6)


def test_image_encoder_weights_from_a_local_file(tmp_path):
    from safetensors.torch import save_file

    enc = build_image_encoder("convnetw32", "none", 16)
    save_file({k: v.contiguous() for k, v in enc.module.state_dict().items()}, str(tmp_path / "w.safetensors"))
    again = build_image_encoder("convnetw32", str(tmp_path / "w.safetensors"), 16)
    assert again.pretrained and all(torch.equal(a, b) for a, b in zip(enc.module.state_dict().values(), again.module.state_dict().values()))
    save_file({"nonsense": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ConfigError, match="does not fit the encoder"):
        build_image_encoder("convnetw32", str(tmp_path / "bad.safetensors"), 16)


def test_text_embeddings_are_cached_by_encoder_and_captions(tmp_path, tiny_bert):
    enc = build_text_encoder(tiny_bert)
    calls = []
    original = enc._encode
    enc._encode = lambda caps: calls.append(len(caps)) or original(caps)  # type: ignore[method-assign]
    first, path, _ = embed_and_measure(enc, ["a red dog", "a cat"], tmp_path, progress=False)
    second, path2, _ = embed_and_measure(enc, ["a red dog", "a cat"], tmp_path, progress=False)
    assert path == path2 and path.is_file() and calls == [2] and torch.equal(first, second)
    _, other, _ = embed_and_measure(enc, ["a cat", "a red dog"], tmp_path, progress=False)
    assert other != path and calls == [2, 2]
    # captions are hashed with their lengths: a caption holding a newline is not two captions (before: one file)
    from mmdistill.modalities.image_text.text_cache import cache_path

    assert cache_path(enc, ["a\nb"], tmp_path) != cache_path(enc, ["a", "b"], tmp_path)


def test_weights_files_that_are_damaged_or_pickled_are_named(tmp_path):
    from mmdistill.modalities.image_text.encoders import load_state_dict_file

    (tmp_path / "garbage.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ConfigError, match="garbage.safetensors is not a readable safetensors file"):
        load_state_dict_file(tmp_path / "garbage.safetensors")
    (tmp_path / "notes.pt").write_text("image,caption\n")
    with pytest.raises(ConfigError, match="not a torch state dict of plain tensors") as err:
        load_state_dict_file(tmp_path / "notes.pt")
    assert "weights_only` set to `False`" not in str(err.value)  # torch's advice to unpickle is not passed on
    with pytest.raises(ConfigError, match="is a folder"):
        build_image_encoder("convnetw32", str(tmp_path), 16)


def test_text_encoder_folders_are_checked_and_never_read_from_pickles(tmp_path, tiny_bert):
    import shutil

    from safetensors.torch import load_file

    pickled = tmp_path / "bert_bin"
    shutil.copytree(tiny_bert[3:], pickled)
    torch.save(load_file(str(pickled / "model.safetensors")), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"no \.safetensors weights; it holds pickled checkpoints \(pytorch_model.bin\)"):
        build_text_encoder(f"hf:{pickled}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="the folder has no config.json"):
        build_text_encoder(f"hf:{tmp_path / 'empty'}")
    with pytest.raises(ConfigError, match="the folder does not exist"):
        build_text_encoder(f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match=r"weights file /no/such/clip.safetensors for RN50 does not exist"):
        build_text_encoder("openclip:RN50@/no/such/clip.safetensors")


def test_unusable_text_cache_is_logged_and_replaced(tmp_path, tiny_bert, caplog):
    from mmdistill.modalities.image_text.text_cache import cache_path

    enc = build_text_encoder(tiny_bert)
    caps = ["a red dog", "a cat"]
    path = cache_path(enc, caps, tmp_path)
    path.write_bytes(b"garbage")
    with caplog.at_level("WARNING"):
        emb, written, _ = embed_and_measure(enc, caps, tmp_path, progress=False)
    assert written == path and emb.shape == (2, 16) and "is not usable" in caplog.text and path.name in caplog.text
    assert torch.equal(embed_and_measure(enc, caps, tmp_path, progress=False)[0], emb)  # the replacement is read back
    with pytest.raises(ConfigError, match="text_cache=.* is a file"):
        embed_and_measure(enc, caps, path, progress=False)


def test_a_text_cache_that_cannot_be_written_is_a_warning_and_the_embeddings_are_used(tmp_path, tiny_bert, caplog):
    """The other caches (decoded clips, pretrained learners) warn and go on when their folder cannot be written; the
    caption embeddings ended the run after computing them (a ConfigError). A folder under a file cannot be made, even
    by root."""
    enc = build_text_encoder(tiny_bert)
    (tmp_path / "afile").write_text("x")
    folder = tmp_path / "afile" / "text"
    with caplog.at_level("WARNING"):
        emb, path, _ = embed_and_measure(enc, ["a red dog", "a cat"], folder, progress=False)
    assert emb.shape == (2, 16) and not path.exists()
    assert f"text cache {path} cannot be written" in caplog.text and "used without caching them" in caplog.text
    assert torch.equal(emb, embed_and_measure(enc, ["a red dog", "a cat"], tmp_path, progress=False)[0])


@pytest.mark.parametrize("edit, said", [
    (lambda t, m: t.update(text=torch.zeros(2, 3)), r"it holds no \(2, 16\) 'text' tensor"),
    (lambda t, m: t["text"].__setitem__((0, 0), float("nan")), r"its embeddings hold NaN or infinite values"),
    (lambda t, m: m.update(captions=json.dumps(["a blue dog", "a cat"])), r"it holds the embeddings of other captions"),
], ids=["another-width", "nan", "other-captions"])
def test_a_text_cache_entry_under_the_right_name_with_other_content_is_embedded_again(tmp_path, tiny_bert, caplog, edit, said):
    """Walk 49A: a caption-embedding cache entry (a shared or damaged cache) was checked for its row count and
    encoder, not its content: embeddings of another width went on to fail in the model, NaN ones were trained on, and
    the captions it records (what previews and exports name as a distilled embedding's nearest caption) could be any.
    Such an entry is embedded again and replaced, with a warning."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    enc = build_text_encoder(tiny_bert)
    caps = ["a red dog", "a cat"]
    first, path, _ = embed_and_measure(enc, caps, tmp_path, progress=False)
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as fh:
        meta = dict(fh.metadata())
    edit(tensors, meta)
    save_file(tensors, str(path), metadata=meta)
    with caplog.at_level("WARNING"):
        again, _, _ = embed_and_measure(enc, caps, tmp_path, progress=False)
    assert re.search(said, caplog.text) and "embedding the 2 captions again and replacing it" in caplog.text, caplog.text
    assert torch.equal(again, first)
    with safe_open(str(path), "pt") as fh:
        assert json.loads(fh.metadata()["captions"]) == caps


# --------------------------------------------------------------------------- task and metric
def test_recalls_count_any_caption_of_an_image():
    # 3 images; captions 0,1 -> image 0, caption 2 -> image 1, captions 3,4 -> image 2
    cap_img = torch.tensor([0, 0, 1, 2, 2])
    sims = torch.tensor([[0.1, 0.9, 0.0, 0.5, 0.2],   # image 0: its caption 1 is first -> i2t rank 0
                         [0.8, 0.1, 0.3, 0.2, 0.7],   # image 1: its caption 2 ranks 3rd -> rank 2
                         [0.6, 0.0, 0.1, 0.2, 0.3]])  # image 2: best own caption (0.3) ranks 2nd -> rank 1
    r = retrieval_recalls(sims, cap_img, ks=(1, 2, 10))
    assert r["i2t_r1"] == pytest.approx(1 / 3) and r["i2t_r2"] == pytest.approx(2 / 3) and r["i2t_r10"] == 1.0
    # caption columns: c0 own (0.1) 3rd, c1 own first, c2 own (0.3) first, c3 own (0.2) 2nd or 3rd (image 1's 0.2 ties
    # with it: a random order puts it 2nd half the time), c4 own 0.3 ranks 2nd
    assert r["t2i_r1"] == pytest.approx(2 / 5) and r["t2i_r2"] == pytest.approx(3.5 / 5)
    assert r["r10_mean"] == 1.0


def test_contrastive_loss_hard_and_lors_soft_targets():
    torch.manual_seed(0)
    logits = torch.randn(5, 5)
    task = ContrastiveTask()
    ce = torch.nn.functional.cross_entropy
    expected = 0.5 * (ce(logits, torch.arange(5)) + ce(logits.T, torch.arange(5)))
    assert torch.allclose(task.loss(logits), expected) and torch.allclose(task.loss(logits, torch.arange(5)), expected)
    assert torch.allclose(ContrastiveTask("infonce").loss(logits, torch.eye(5)), expected, atol=1e-6)
    left = torch.randn(5, 2, requires_grad=True)
    right = torch.zeros(5, 2, requires_grad=True)
    sim = torch.eye(5) + left @ right.T
    wbce = task.loss(logits, sim)
    probs = torch.sigmoid(logits)
    bce = -(torch.eye(5) * torch.log(probs) + (1 - torch.eye(5)) * torch.log(1 - probs))
    ref = 0.5 * (bce.diagonal().mean() + (bce.sum() - bce.diagonal().sum()) / 20)
    assert torch.allclose(wbce, ref, atol=1e-5)
    wbce.backward()
    assert right.grad is not None and right.grad.abs().sum() > 0  # the low-rank factors receive gradients


# --------------------------------------------------------------------------- model, training, LoRA
def test_student_loss_through_functional_call_reaches_pairs_and_similarity(tmp_path, tiny_bert):
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(write_pairs(tmp_path)), similarity="lowrank", sim_rank=2)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init")).requires_grad_(True)
    assert set(syn.data) == {"images", "text", "sim_diag", "sim_left", "sim_right"}
    net = MODALITY.matching_network(cfg, data)
    net.text_projection.dropout.p = 0.0
    params = {n: p.detach().clone().requires_grad_(True) for n, p in trainable_parameters(net).items()}
    batch = MODALITY.decode(syn).subset(torch.tensor([0, 2, 3]))
    assert torch.allclose(batch.targets, torch.eye(3))  # identity at the start (right factor is zero)
    loss = student_loss(net, batch, MODALITY.task(cfg), params)
    assert torch.allclose(loss, student_loss(net, batch, MODALITY.task(cfg)))
    grads = torch.autograd.grad(loss, [params["image_encoder.features.0.weight"], syn.data["images"], syn.data["text"], syn.data["sim_right"]])
    assert all(g.abs().sum() > 0 for g in grads)
    groups = net.parameter_groups()
    assert groups["image"] and all(n.startswith("text_projection.") for n in groups["text"])


def test_expert_epoch_is_reproducible_from_its_generator(tmp_path, tiny_bert):
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(write_pairs(tmp_path)))
    data = MODALITY.load(cfg)
    factory = dual_encoder_factory(cfg, data)
    states = []
    for _ in range(2):
        net = factory.make(generator(1, "expert"))
        torch.manual_seed(3)  # dropout draws from the global RNG
        loss = train_epoch(net, data.train, expert_optimizer(net), generator(1, "epoch", 0), batch_size=8)
        states.append((loss, [p.detach().clone() for p in net.parameters()]))
    assert states[0][0] == states[1][0] and all(torch.equal(a, b) for a, b in zip(states[0][1], states[1][1]))
    assert not all(torch.equal(a, b) for a, b in zip(states[0][1], factory.make(generator(1, "expert")).parameters()))


def test_lora_trains_only_low_rank_factors_and_starts_at_the_original():
    from torch.func import functional_call

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    x = torch.randn(2, 3, 8, 8)
    before = net(x)
    names = add_lora(net, rank=2)
    assert len(names) == 4 and all("lora_" in n for n in names)
    assert torch.allclose(net(x), before)
    params = dict(net.named_parameters())
    moved = {n: params[n] + 0.5 for n in names}
    assert not torch.allclose(functional_call(net, moved, (x,)), before)


# --------------------------------------------------------------------------- the seam, end to end
class ContrastiveStep:
    """Test-only matcher: one gradient step of the student loss on 4 random synthetic pairs."""

    name = "test-contrastive"

    def __init__(self, ctx) -> None:
        self.net, self.task, self.decode = ctx.net, ctx.task, ctx.modality.decode
        self.net.text_projection.dropout.p = 0.0  # bit-exact resume: no global-RNG draws

    def step(self, syn, optimizer, gen):
        idx = torch.randperm(len(syn), generator=gen)[:4]
        return {"loss": apply_update(student_loss(self.net, self.decode(syn).subset(idx), self.task), optimizer)}


def test_distill_runs_the_adapter_end_to_end_and_exports(tmp_path, tiny_bert):
    csv_path = write_pairs(tmp_path / "data", n_images=12)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), similarity="lowrank", sim_rank=2, out=str(tmp_path / "run"))
    result = distill("image-text-test", "test", cfg, MODALITY, ContrastiveStep)
    m = result.manifest["metrics"]
    assert m["metric"].startswith("R@10")
    for name in ("distilled", "random_real", "herding", "whole_train"):
        assert 0.0 <= m[name]["mean"] <= 1.0 and len(m[name]["runs"]) == 2
        assert set(m[name]["scores"]) == {"r10_mean", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"}
    assert m["distilled"]["size"] == 4 and m["whole_train"]["size"] == 20
    for f in ("synthetic.safetensors", "manifest.json", "preview.png", "loss.png", "accuracy.png"):
        assert (tmp_path / "run" / f).stat().st_size > 0
    syn, manifest = load_synthetic(tmp_path / "run")
    assert syn.data["images"].shape == (4, 3, 16, 16) and syn.data["sim_left"].shape == (4, 2)
    assert len(syn.meta["nearest_captions"]) == 4
    out = MODALITY.export(syn, tmp_path / "export")
    assert len(list((out / "images").glob("*.png"))) == 4
    with open(out / "captions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["caption"] for r in rows] == MODALITY.captions_for(syn) and all(r["caption"] in manifest_captions(tmp_path) for r in rows)
    # the export reads back through the CSV loader
    back = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(out / "captions.csv"), ipc=2, test_fraction=0.25))
    assert back.train.num_pairs + back.test.num_pairs == 4
    # resume from the mid-run checkpoint ends in the same set
    cfg2 = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), similarity="lowrank", sim_rank=2, out=str(tmp_path / "run2"), evaluate=False)
    distill("image-text-test", "test", cfg2, MODALITY, ContrastiveStep, stop_after=2)
    cfg2.resume = True
    resumed = distill("image-text-test", "test", cfg2, MODALITY, ContrastiveStep)
    assert all(torch.equal(resumed.synthetic.data[k], result.synthetic.data[k]) for k in result.synthetic.data)


def manifest_captions(tmp_path: Path) -> set[str]:
    with open(tmp_path / "data" / "captions.csv") as fh:
        return {r["caption"] for r in csv.DictReader(fh)}


def test_pair_batch_checks_shapes():
    with pytest.raises(DataError, match="soft targets must be"):
        PairBatch(torch.zeros(3, 3, 4, 4), torch.zeros(3, 2), torch.zeros(2, 2))


def test_mode_i_images_are_16_bit_only_as_pngs():
    import numpy as np
    from PIL import Image

    from mmdistill.modalities.image_text.loaders import image_to_tensor

    def mode_i(value: int, fmt: str | None):
        img = Image.fromarray(np.full((4, 4), value, dtype=np.int32), mode="I")
        img.format = fmt
        return image_to_tensor(img, 4, (0.0,) * 3, (1.0,) * 3)

    assert abs(float(mode_i(40000, "PNG")[0, 0, 0]) - 40000 / 65535) < 0.01  # older Pillow's 16-bit PNG
    assert abs(float(mode_i(200, "TIFF")[0, 0, 0]) - 200 / 255) < 0.01  # 8-bit values: read as before
    with pytest.raises(ValueError, match="no stated scale"):
        mode_i(40000, "TIFF")


def test_small_test_split_note_and_the_recorded_text_space(tmp_path, tiny_bert, caplog):
    """Before: a test split of <= 10 images made text->image R@10 100 % for any set without a word; now a warning and
    metrics.protocol.note say so. The data and the set record the text pooling and image weights (clip-finetune and
    the expert buffer check them)."""
    csv_path = write_pairs(tmp_path, n_images=10)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path))
    data = MODALITY.load(cfg)
    assert data.meta["text_pooling"] == "cls" and data.meta["image_weights"] == "none (random init)"
    syn = MODALITY.init_synthetic(data, cfg, generator(0))
    assert syn.meta["text_pooling"] == "cls"
    with caplog.at_level("WARNING"):
        plan = MODALITY.evaluation_plan(cfg, None, data, torch.device("cpu"))
    assert plan.protocol["note"].startswith("the test split has 2 images / 4 captions: text->image R@5/10 and image->text R@5/10 "
                                            "are 100 % for any model") and plan.protocol["note"] in caplog.text


def test_cut_captions_are_counted_and_named_when_they_become_duplicates(tmp_path, tiny_bert, caplog):
    """Before: captions were cut to max_caption_words silently, and two captions that agreed in those words were
    dropped as plain duplicates."""
    csv_path = write_pairs(tmp_path, n_images=8)
    long = " ".join(["a red dog runs on the grass in the park"] * 4)  # 40 words
    with open(csv_path, "a", newline="") as fh:
        csv.writer(fh).writerows([("img/000.png", long), ("img/001.png", long + " photo"), ("img/001.png", long + " ball")])
    with pytest.raises(DataError, match="a duplicate once cut to max_caption_words=30"):
        MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path)))
    with caplog.at_level("INFO"):
        data = MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), on_bad="skip"))
    assert data.meta["load_report"]["counts"]["cut_captions"] == 2 and data.meta["dropped"] == {"duplicate": 1}
    assert "2 caption(s) longer than max_caption_words=30 words were cut to 30; 1 further caption(s) became duplicates" in caplog.text


def test_the_caption_bank_is_recorded_without_a_machine_path(tmp_path, tiny_bert, monkeypatch):
    """Before: synthetic.meta.caption_bank was the absolute path of the cache file (~/.cache/...), in every manifest
    and shared export. Now it is the file's hash, found in this process or in the default cache; an older set's path
    is still read."""
    from mmdistill.modalities.image_text import text_cache

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "mc"))
    csv_path = write_pairs(tmp_path, n_images=8)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), text_cache=None)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0))
    ref = syn.meta["caption_bank"]
    assert "/" not in ref and str(tmp_path) not in json.dumps(syn.meta)
    monkeypatch.setattr(text_cache, "_BANKS", {})  # another process: found in the default cache
    path = text_cache.caption_bank_file(ref)
    assert path is not None and path.parent == tmp_path / "mc" / "text"
    assert all(c in data.train.captions for c in MODALITY.captions_for(syn))  # nearest real captions, not "(initial) ..."
    shown = MODALITY.captions_for(syn, similarity=True)  # the preview's: a far embedding's caption says little, so say how far
    assert all(re.fullmatch(r"\[cos -?\d\.\d\d\] .+", c) for c in shown) and [c.split("] ", 1)[1] for c in shown] == MODALITY.captions_for(syn)
    assert text_cache.load_caption_bank(str(path))[0] == data.train.captions  # an older set's absolute path


def test_a_caption_bank_in_a_custom_text_cache_is_found_by_a_later_process(tmp_path, tiny_bert, monkeypatch):
    """A set made with text_cache=DIR: a later export or preview (another process) found no bank, because only the
    default cache was searched, and showed the initial captions ("(initial) ..."). Now the set records the folder."""
    from mmdistill.modalities.image_text import text_cache

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "default"))
    csv_path = write_pairs(tmp_path, n_images=8)
    cfg = cfg_for(tiny_bert, tmp_path, data_root=str(csv_path), text_cache=str(tmp_path / "mine"))
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0))
    assert syn.meta["caption_bank_dir"] == str(tmp_path / "mine")
    monkeypatch.setattr(text_cache, "_BANKS", {})  # another process
    found = text_cache.caption_bank_file(syn.meta["caption_bank"], syn.meta["caption_bank_dir"])
    assert found is not None and found.parent == tmp_path / "mine"
    shown = MODALITY.captions_for(syn)
    assert all(c in data.train.captions for c in shown) and not any(c.startswith("(initial)") for c in shown)


def test_transformers_load_report_of_unused_weights_is_silenced_but_not_missing_ones():
    """Before: every offline-CLIP load printed transformers' "BertModel LOAD REPORT ... UNEXPECTED pooler.dense.*"."""
    import logging

    from mmdistill.modalities.image_text.text_encoders import expected_load_report_silenced

    logger = logging.getLogger("transformers.modeling_utils")  # where transformers logs the report

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.seen.append(record.getMessage())

    keep = Keep()
    logger.addHandler(keep)
    try:
        with expected_load_report_silenced():
            logger.warning("BertModel LOAD REPORT from: x\npooler.dense.weight | UNEXPECTED")
            logger.warning("BertModel LOAD REPORT from: x\nencoder.layer.0.weight | MISSING\npooler.dense.weight | UNEXPECTED")
        logger.warning("BertModel LOAD REPORT from: y\npooler.dense.weight | UNEXPECTED")  # outside a load of ours: kept
    finally:
        logger.removeHandler(keep)
    assert len(keep.seen) == 2 and "MISSING" in keep.seen[0] and "from: y" in keep.seen[1]


def test_preview_of_captions_the_font_lacks_logs_once_instead_of_a_warning_per_glyph(tmp_path, caplog):
    """Before: Chinese captions flooded stderr with matplotlib's "Glyph ... missing from font(s)" warnings."""
    import warnings

    from mmdistill.modalities.image_text.export import save_pair_preview

    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        save_pair_preview(torch.zeros(2, 3, 8, 8), ["上海的一只狗在草地上", "собака бежит"], tmp_path / "p.png", mean=(0.5,) * 3, std=(0.5,) * 3)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert (tmp_path / "p.png").stat().st_size > 0
    if "show as boxes" in caplog.text:  # the installed font lacks them (matplotlib's DejaVu Sans has no CJK)
        assert "caption character(s) are not in the installed font" in caplog.text


def test_a_caption_json_nested_too_deeply_is_named(tmp_path):
    """json.loads raised RecursionError (a traceback) on a caption file nested too deeply."""
    from mmdistill.modalities.image_text.caption_sources import _load_json

    (tmp_path / "captions.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DataError, match=r"captions.json is not valid JSON \(nested too deeply\)"):
        _load_json(tmp_path / "captions.json")


def test_a_set_with_a_learned_step_size_not_positive_names_eval_lr_from_set():
    """Review 35: the classification evaluation names eval_lr_from_set for such a set; image-text's trained with it."""
    from types import SimpleNamespace

    from mmdistill.errors import ConfigError
    from mmdistill.modalities.image_text.evaluation import image_text_plan
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet(data={"x": torch.zeros(2, 3), "lr_image": torch.tensor(-0.01), "lr_text": torch.tensor(0.1)},
                       labels=torch.zeros(2, dtype=torch.long), num_classes=1)
    cfg = SimpleNamespace(learned_lr_evaluation=lambda: True, eval_epochs=1, eval_lr_image=0.1, eval_lr_text=0.1, eval_batch=2,
                          eval_runs=1, baselines=[], seed=0, ipc=2, eval_whole_split=False, eval_momentum=0.9,
                          eval_weight_decay=0.0)
    with pytest.raises(ConfigError, match=r"learned step sizes are -0.01 \(image\) and 0.1 \(text\).*eval_lr_from_set=false"):
        image_text_plan(cfg, syn, SimpleNamespace(test=None, train=None), None, None, None, torch.device("cpu"))


# --------------------------------------------------------------------------- walk38: quotes, line numbers, empty image
def test_caption_csv_quote_left_open_is_refused_naming_the_line(tmp_path):
    """Walk 38: `images/img30.png,"an unterminated caption` took the 60 rows after it into one caption (30 images
    gone; the load report said only "1 caption cut"). A quote open at the end of the file, or one closed on a later
    row with text after it, is refused naming the line the row starts on; a path holding a line break too."""
    from mmdistill.modalities.image_text.loaders import read_csv_records

    ok = "".join(f"img/{i:03d}.png,a dog {i}\n" for i in range(3, 6))
    cases = {
        "open.csv": ("image,caption\nimg/000.png,a dog\nimg/001.png,\"an unterminated caption\n" + ok,
                     r"open.csv line 3: a quote \(\"\) opened in this row is never closed: it runs to the end of the file \(line 6\)"),
        "later.csv": ("image,caption\nimg/000.png,\"a stray quote\nimg/001.png,a \"big\" dog\n" + ok,
                      r"later.csv line 2: a quote \(\"\) opened in this row is only closed on line 3, where text follows it"),
        "after.csv": ("image,caption\nimg/000.png,\"a \"big\" dog\"\n" + ok,
                      r"after.csv line 2: text follows the closing quote of a quoted field .*two quotes \(\"\"\)$"),
        "path.csv": ("image,caption,split\n\"img/000.png\nimg/001.png\",a dog,train\n",
                     r"path.csv line 2: the 'image' field holds a line break \('img/000.png\\nimg/001.png'\): an unclosed quote"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(DataError, match=message):
            read_csv_records(tmp_path / name)


def test_caption_csv_closed_multiline_caption_is_kept_and_later_lines_keep_their_numbers(tmp_path, caplog):
    """A caption quoted over two lines is read (warned about, as a stray quote joins rows the same way); the records
    after it are named by their physical line (before: "line 5" for the empty caption on line 6)."""
    import logging

    from mmdistill.modalities.image_text.loaders import read_csv_records

    path = tmp_path / "lines.csv"
    path.write_text('image,caption\nimg/000.png,a red dog\nimg/001.png,"a caption\nwith two lines"\n\nimg/002.png,ok\nimg/003.png,\n')
    with caplog.at_level(logging.WARNING):
        records = read_csv_records(path)
    assert [(r.image, r.caption, r.where) for r in records] == [
        ("img/000.png", "a red dog", "lines.csv line 2"), ("img/001.png", "a caption\nwith two lines", "lines.csv line 3"),
        ("img/002.png", "ok", "lines.csv line 6"), ("img/003.png", "", "lines.csv line 7")]
    assert "1 caption(s) run over several lines inside quotes" in caplog.text and "line 3 (to line 4)" in caplog.text


def test_caption_csv_empty_image_field_is_named_not_reported_as_folder_dot(tmp_path, tiny_bert):
    """Walk 38: a row `,a caption with no image` was reported as a missing image file named `.`."""
    from mmdistill.modalities.image_text.loaders import read_csv_records

    write_pairs(tmp_path, n_images=4)
    path = tmp_path / "captions.csv"
    path.write_text(path.read_text() + ",a caption with no image\n")
    with pytest.raises(DataError, match=r"captions.csv line 10: empty 'image' field; every row names its image file") as err:
        MODALITY.load(cfg_for(tiny_bert, tmp_path, data_root=str(path)))
    assert "(.)" not in str(err.value)
    path.write_text(path.read_text() + "  ,another\n")
    with pytest.raises(DataError, match=r"captions.csv line 10: empty 'image' field \(2 rows: lines 10, 11\)"):
        read_csv_records(path)


# --------------------------------------------------------------------------- fix39E: ids, copies, long fields, odd files, odd text
def _split_kw(**kw) -> dict:
    base = dict(size=4, mean=(0.0,) * 3, std=(1.0,) * 3, source="test", test_fraction=0.25, split_order="sorted", seed=0,
                max_words=30, progress=False)
    base.update(kw)
    return base


def test_a_coco_image_id_listed_for_two_files_is_refused_naming_both(tmp_path):
    """Before: the second file name replaced the first, so the first image's captions were trained as the second's."""
    from mmdistill.modalities.image_text.loaders import BadInput, read_json_records

    coco = {"images": [{"id": 0, "file_name": "img/000.png"}, {"id": 1, "file_name": "img/001.png"},
                       {"id": 0, "file_name": "img/005.png"}],
            "annotations": [{"image_id": 0, "caption": "a dog"}, {"image_id": 1, "caption": "a cat"}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(DataError, match=r"c.json images\[2\]: image id 0 is listed twice, for 'img/000.png' \(images\[0\]\) and "
                                        r"'img/005.png' \(images\[2\]\)"):
        read_json_records(tmp_path / "c.json")
    coco["images"][2]["file_name"] = "img/000.png"  # the same file listed twice: one image, its captions once
    (tmp_path / "c.json").write_text(json.dumps(coco))
    bad = BadInput()
    records = read_json_records(tmp_path / "c.json", bad=bad)
    assert [(r.image, r.caption) for r in records] == [("img/000.png", "a dog"), ("img/001.png", "a cat")] and not bad.total()
    coco["images"][2] = {"id": [0], "file_name": "img/009.png"}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(DataError, match=r"images\[2\]: 'id' must be an integer or a string, got list"):
        read_json_records(tmp_path / "c.json")


def _images(root: Path, n: int = 6) -> list[str]:
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (6, 6), (40 * i, 10, 200 - 20 * i)).save(root / "img" / f"{i}.png")
    return [f"img/{i}.png" for i in range(n)]


@pytest.mark.parametrize("how", ["copy", "hardlink"])
def test_one_image_under_two_names_in_train_and_test_is_refused(tmp_path, how, caplog):
    import logging
    import os
    import shutil

    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener

    names = _images(tmp_path)
    (shutil.copyfile if how == "copy" else os.link)(tmp_path / "img" / "0.png", tmp_path / "img" / "zz_copy.png")
    records = [CaptionRecord(n, f"caption {n}", "test" if n in ("img/5.png", "img/zz_copy.png") else "train", n)
               for n in names + ["img/zz_copy.png"]]
    what = "byte-identical files" if how == "copy" else r"the same file \(a hard link\)"
    with pytest.raises(DataError, match=rf"1 test image\(s\) are a training image under another name, e.g. 'img/zz_copy.png' "
                                        rf"\(test\) and 'img/0.png' \(train\): {what}; a test recall would count training images"):
        build_splits(records, file_opener(tmp_path), bad=BadInput(), on_bad="skip", root=tmp_path, **_split_kw())
    # within one split: kept, named and counted
    records[-1] = CaptionRecord("img/zz_copy.png", "caption of the copy", "train", "zz")
    with caplog.at_level(logging.WARNING):
        loaded = build_splits(records, file_opener(tmp_path), bad=BadInput(), on_bad="error", root=tmp_path, **_split_kw())
    assert "img/zz_copy.png" in loaded.train.image_ids and loaded.report.counts()["same_image"] == 1
    assert "1 image(s) are another image of their split under another name" in caplog.text and "'img/zz_copy.png'" in caplog.text
    # images that only share a size are read and told apart; none is flagged
    clean = [r for r in records if r.image != "img/zz_copy.png"]
    loaded = build_splits(clean, file_opener(tmp_path), bad=BadInput(), on_bad="error", root=tmp_path, **_split_kw())
    assert loaded.report.counts()["same_image"] == 0


def test_same_images_are_found_from_what_the_opener_recorded_each_file_read_once(tmp_path, monkeypatch):
    """Review 40C: same_image_groups looked at every image again after build_splits had read it, and read every file
    whose size another shares a second time for its SHA-256. The opener records device, inode, size and digest from
    the one read (decoded from those bytes): each file is opened once, nothing is looked at again, the groups and the
    images are as before."""
    import os
    import shutil
    from pathlib import Path

    from mmdistill import integrity
    from mmdistill.modalities.image_text import image_files
    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener, same_image_groups

    names = _images(tmp_path, 6)
    shutil.copyfile(tmp_path / "img" / "0.png", tmp_path / "img" / "copy.png")  # byte-identical, train
    os.link(tmp_path / "img" / "1.png", tmp_path / "img" / "link.png")  # one file, train
    Image.new("RGB", (6, 6), (1, 10, 200)).save(tmp_path / "img" / "same_size.png")  # 0.png's size, other bytes
    assert (tmp_path / "img" / "same_size.png").stat().st_size == (tmp_path / "img" / "0.png").stat().st_size
    names += ["img/copy.png", "img/link.png", "img/same_size.png"]
    records = [CaptionRecord(n, f"caption {n}", "test" if n == "img/5.png" else "train", n) for n in names]
    expected = same_image_groups(tmp_path, sorted(names))  # no records: looked at and read here, as before
    assert expected == [(["img/0.png", "img/copy.png"], "byte-identical files"), (["img/1.png", "img/link.png"], "the same file (a hard link)")]
    opened, looked_at = [], []
    real_open, real_stat = open, Path.stat
    for module in (image_files, integrity):  # the opener's reads and a digest's (image_files._file_sha256)
        monkeypatch.setattr(module, "open", lambda path, *a, **k: opened.append(Path(path).name) or real_open(path, *a, **k),
                            raising=False)
    # a stat that follows links (what the grouping did; the opener's own lstat of what a name is stays)
    monkeypatch.setattr(Path, "stat", lambda self, **k: (k.get("follow_symlinks", True) and looked_at.append(self.name))
                        or real_stat(self, **k))
    opener = file_opener(tmp_path)
    loaded = build_splits(records, opener, bad=BadInput(), on_bad="error", root=tmp_path, **_split_kw())
    assert sorted(opened) == sorted(n.split("/")[1] for n in names) and looked_at == []  # each file read once, none looked at again
    assert same_image_groups(tmp_path, sorted(names), opener.files) == expected and looked_at == [] and len(opened) == len(names)
    assert loaded.report.counts()["same_image"] == 2
    shown_pixels = opener("img/3.png")
    with Image.open(tmp_path / "img" / "3.png") as im:
        assert shown_pixels.tobytes() == im.convert(shown_pixels.mode).tobytes() and shown_pixels.size == im.size


def test_an_image_file_over_the_hashed_read_limit_is_decoded_from_disk_and_still_grouped(tmp_path, monkeypatch):
    """Session 40: reading each image whole to hash it must not read a huge file (a mislabelled video) into memory;
    over HASHED_READ_LIMIT it is decoded from disk as before, recorded without a digest, and a byte-identical copy of it
    is still found (hashed in chunks because another file has its size)."""
    import shutil

    from mmdistill.modalities.image_text import image_files
    from mmdistill.modalities.image_text.loaders import file_opener, same_image_groups

    names = _images(tmp_path, 3)
    shutil.copyfile(tmp_path / "img" / "0.png", tmp_path / "img" / "copy.png")
    names.append("img/copy.png")
    monkeypatch.setattr(image_files, "HASHED_READ_LIMIT", 10)  # every test image is larger
    opener = file_opener(tmp_path)
    for n in names:
        with Image.open(tmp_path / n) as im:
            assert opener(n).tobytes() == im.convert("RGB").tobytes()
    assert all(opener.files[n].sha256 is None for n in names)
    assert same_image_groups(tmp_path, sorted(names), opener.files) == [(["img/0.png", "img/copy.png"], "byte-identical files")]


def test_an_image_path_that_is_not_a_regular_file_is_named_for_what_it_is(tmp_path):
    import os

    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener

    names = _images(tmp_path)
    (tmp_path / "img" / "folder.png").mkdir()
    os.mkfifo(tmp_path / "img" / "fifo.png")
    os.symlink("loop.png", tmp_path / "img" / "loop.png")
    os.symlink("/dev/zero", tmp_path / "img" / "zero.png")
    odd = ["img/folder.png", "img/fifo.png", "img/loop.png", "img/zero.png", "img/gone.png"]
    records = [CaptionRecord(n, f"caption {n}", None, n) for n in names + odd]
    bad = BadInput()
    loaded = build_splits(records, file_opener(tmp_path), bad=bad, on_bad="skip", root=tmp_path, **_split_kw())
    reasons = dict(bad.items("unreadable_image"))
    assert reasons == {"img/folder.png": "a folder, not an image file", "img/fifo.png": "a FIFO (named pipe), not an image file",
                       "img/loop.png": "a symbolic link loop, not an image file",
                       "img/zero.png": "a symbolic link to a character device (/dev/zero), not an image file"}
    assert [n for n, _ in bad.items("missing_image")] == ["img/gone.png"] and loaded.dropped["unreadable_image"] == 4


def test_a_long_unquoted_caption_is_named_as_a_long_field_not_a_quote(tmp_path):
    from mmdistill.modalities.image_text.loaders import read_csv_records

    path = tmp_path / "c.csv"
    path.write_text("image,caption\na.png,short\nb.png," + "word " * 40000 + "\nc.png,ok\n")
    with pytest.raises(DataError) as err:
        read_csv_records(path)
    assert re.search(r"c.csv line 3: a field on this line is longer than [\d,]+ characters", str(err.value))
    assert "quote" not in str(err.value).split(" line 3: ")[1]
    path.write_text('image,caption\na.png,short\nb.png,"open\n' + "word " * 40000 + "\nc.png,ok\n")  # an open quote: as before
    with pytest.raises(DataError, match=r"line 3: a field starting in this row runs past line 4 .* an unclosed quote"):
        read_csv_records(path)


def test_control_and_bidi_characters_in_captions_are_replaced_counted_and_named(tmp_path, caplog):
    import logging

    from mmdistill.modalities.image_text.loaders import BadInput, CaptionRecord, build_splits, file_opener

    names = _images(tmp_path, 4)
    caps = ["a dog\x00 running", "\x1b[31mred\x1b[0m car", "a cat \u202eyppah", "a \u2066plain\u2069 bird"]
    records = [CaptionRecord(n, c, None, f"c.csv line {i + 2}") for i, (n, c) in enumerate(zip(names, caps))]
    records.append(CaptionRecord(names[0], "tabs\tand  spaces are\nwhitespace", None, "c.csv line 6"))
    with caplog.at_level(logging.WARNING):
        loaded = build_splits(records, file_opener(tmp_path), bad=BadInput(), on_bad="error", root=tmp_path, **_split_kw())
    captions = loaded.train.captions + loaded.test.captions
    assert sorted(captions) == sorted(["a dog running", "tabs and spaces are whitespace", "[31mred [0m car", "a cat yppah",
                                       "a plain bird"])
    assert loaded.report.counts()["cleaned_captions"] == 4 and not loaded.dropped
    assert dict(loaded.report.items("cleaned_captions"))["c.csv line 3"] == "\\x1b"
    assert "4 caption(s) hold control or bidi characters" in caplog.text and "c.csv line 2 (\\x00)" in caplog.text
