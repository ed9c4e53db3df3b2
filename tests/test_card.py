"""The dataset card is rendered from a manifest, which is input (a set received from someone else): its strings
cannot change the card's YAML header, add HTML, links or headings to its body, or close the config's code fence."""

from __future__ import annotations

import json
import re

import yaml

from mmdistill.card import render_card


def _manifest(**changes) -> dict:
    base = {"recipe": "image-dm", "method": "dm", "modality": "image", "dataset": "digits", "ipc": 1, "seed": 0,
            "num_classes": 10, "sample_noun": "image", "config": {"budget": "cpu", "eval_runs": 2},
            "synthetic": {"tensors": {"labels": [10]}}}
    return {**base, **changes}


def _front_matter(card: str) -> dict:
    head = card.split("---\n", 2)[1]
    return yaml.safe_load(head)


def test_a_manifest_string_cannot_add_keys_to_the_cards_yaml_header():
    """Before: pretty_name: "{name}" unescaped: a dataset name with a quote and a newline added `license: mit`
    (overriding the loader's licence) and a gating prompt to the published card."""
    evil = 'digits"\nlicense: mit\nextra_gated_prompt: "pwn'
    card = render_card(_manifest(dataset=evil, modality='image"\n- injected'))
    meta = _front_matter(card)
    assert meta["license"] == "unknown" and "extra_gated_prompt" not in meta
    assert meta["tags"] == ["dataset-distillation", "mmdistill", 'image" - injected']
    assert meta["pretty_name"].startswith('image-dm · digits" license: mit')


def test_manifest_text_is_inert_in_the_card_body():
    card = render_card(_manifest(paper="x\n\n# Heading\n<script>alert(1)</script>\n[click](javascript:alert(1)) `x`",
                                 method="dm`code`"))
    body = card.split("---\n", 2)[2]
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "\n# Heading" not in body  # the newline that would start a heading is a space
    assert "\u2032x\u2032" in body  # outside a code span a backtick is a prime: no span opens
    assert "method `` dm`code` ``" in body  # in a code span (a fence longer than its backtick run) it shows as it is
    assert "[click](javascript" not in body and "\\[click\\](javascript" in body  # not a link any more
    card = render_card(_manifest(dataset="d ![x](https://e.example/p.png) | col"))
    body = card.split("---\n", 2)[2]  # the YAML header holds the value itself, as a quoted string
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", body)  # a code span shows its value as it is (test_card_code_spans)
    assert "![x](" not in outside and "\\!\\[x\\](" in outside
    assert not re.search(r"(?<!\\)\| col", outside)  # a table cell cannot end in a manifest value


def test_a_config_string_with_backticks_cannot_close_the_config_fence():
    config = {"budget": "cpu", "note": "```\n## Injected section\n```"}
    card = render_card(_manifest(config=config))
    block = card.split("## Config", 1)[1]
    fence = block.split("\n")[2]
    assert fence.startswith("````") and fence.endswith("json")  # longer than the value's run of three
    inner = block.split(fence, 1)[1].split("\n" + fence.rstrip("json"), 1)[0]
    assert json.loads(inner) == config  # the config is shown as it is, inside one fence


def test_the_export_card_of_a_soft_label_set_says_its_files_hold_hard_labels():
    """A TESLA set with soft labels exported as class folders: the card reported the soft-label score without saying
    the files carry hard labels only."""
    soft = _manifest(synthetic={"tensors": {"labels": [10]}, "label_mode": "soft"}, export_files=["0", "classes.json"])
    card = render_card(soft, where="export")
    assert "carry hard labels only" in card and "`distilled hard labels` row" in card
    assert "carry hard labels only" not in render_card(_manifest(export_files=["0"]), where="export")


def test_an_image_export_says_how_many_pixel_values_it_clamped(tmp_path, caplog):
    import logging

    import torch

    from mmdistill.modalities.image.export import export_image_folder

    x = torch.zeros(2, 1, 4, 4)
    x[0, 0, 0, :2] = 5.0  # 2 of 32 values above 1 after de-normalising (mean 0, std 1)
    with caplog.at_level(logging.WARNING):
        export_image_folder(x, torch.tensor([0, 1]), ["a", "b"], tmp_path / "out", mean=(0.0,), std=(1.0,))
    assert "6.2 % of the pixel values lie outside [0, 1] and are clamped" in caplog.text


def test_a_manifest_name_with_a_line_break_or_quote_is_refused_on_load(tmp_path):
    """The card renders it inert, but a name with a control character (a line break) means an edited manifest: loading
    it is an ArtifactError naming the field. A double quote may be in a folder's name, which an image-text or graph
    set records as its dataset: loaded, and quoted safely in the card's header."""
    import pytest

    from mmdistill.errors import ArtifactError
    from mmdistill.io import check_manifest

    for field, value in (("dataset", 'digits"\nlicense: mit'), ("recipe", "image-dm\tx")):
        with pytest.raises(ArtifactError, match=rf"field '{field}' is .*a name holds no line break"):
            check_manifest({**_manifest(), field: value}, tmp_path / "manifest.json")
    assert check_manifest(_manifest(), tmp_path / "manifest.json")["dataset"] == "digits"
    quoted = check_manifest({**_manifest(), "dataset": 'my "best" photos'}, tmp_path / "manifest.json")  # a folder's name
    assert quoted["dataset"] == 'my "best" photos' and 'pretty_name: "image-dm · my \\"best\\" photos' in render_card(quoted)


def test_an_ampersand_stays_readable_in_the_cards_markdown():
    """The paper line read "Zhao &amp; Bilen" in the card's Markdown source; only < and > need to be entities."""
    card = render_card(_manifest(paper="Zhao & Bilen, Dataset Condensation with Distribution Matching"))
    assert "Zhao & Bilen" in card and "&amp;" not in card


def test_one_evaluation_run_shows_no_spread_and_baselines_scored_alike_stay_after_no_baselines():
    """Walk 44E: one run showed "± 0.00" (a spread it never measured), and `eval --write --no-baselines` dropped the
    random-real and herding rows though they were scored under the same protocol; they stay, marked (earlier)."""
    from mmdistill.card import comparable_sets, metric_rows

    proto = {"runs": 1, "epochs": 20}
    m = {"metric": "accuracy", "network": "convnet", "protocol": proto,
         "distilled": {"mean": 0.9, "std": 0.0, "runs": [0.9]},
         "earlier": {"network": "convnet", "protocol": proto, "distilled": {"mean": 0.8, "std": 0.0, "runs": [0.8]},
                     "random_real": {"mean": 0.7, "std": 0.0, "runs": [0.7]}}}
    assert list(comparable_sets(m)) == ["distilled", "random_real (earlier)"]
    assert metric_rows(m)[2] == "| distilled | 90.00 % | n/a | 1 |"
    other = {**m, "earlier": {**m["earlier"], "protocol": {"runs": 1, "epochs": 300}}}
    assert list(comparable_sets(other)) == ["distilled"]


def test_a_set_that_decodes_to_more_samples_than_it_stores_says_so():
    """Walk 44E: a multi-formation audio-visual set (50 stored pairs, each tiling 2 x 2 smaller ones) said "for the 50
    pairs they decode to"; the networks train on the 200 decoded ones."""
    import torch

    from mmdistill.card import storage_block
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.zeros(4, 3)}, torch.tensor([0, 0, 1, 1]), 2)
    assert "decoded_samples" not in storage_block(syn, 12, "float32", decoded=4)
    block = storage_block(syn, 12, "float32", decoded=16)
    assert block["decoded_samples"] == 16
    card = render_card({"recipe": "image-dm", "modality": "image", "num_classes": 2, "storage": block, "config": {}, "metrics": {}})
    assert "for 4 samples, which decode to 16 samples (the networks are trained on the decoded ones)" in card


def test_the_storage_block_counts_the_live_tensors_without_copying_them(monkeypatch):
    """The storage block measured a set through ``tensors()``, a contiguous CPU copy of every tensor (a set of 500
    224-px image-text pairs on a GPU was copied to the host to be counted); the count is the same without the copy."""
    import torch

    from mmdistill.card import storage_block
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.zeros(4, 3, 5)[:, :, ::2]}, torch.tensor([0, 0, 1, 1]), 2, soft_labels=torch.zeros(4, 2))
    expected = sum(t.numel() * t.element_size() for t in syn.tensors().values())
    monkeypatch.setattr(SyntheticSet, "tensors", lambda self: (_ for _ in ()).throw(AssertionError("copied")))
    assert syn.stored_bytes() == expected == 4 * 3 * 3 * 4 + 4 * 8 + 4 * 2 * 4
    assert storage_block(syn, None, "float32")["synthetic_bytes"] == expected


def test_the_card_and_the_evaluation_table_say_an_imbalanced_split_is_scored_by_plain_accuracy():
    """Walk 51A: a user's long-tailed test split (90 % one class) was scored by plain accuracy and the card showed
    the numbers with only ``majority_share`` inside the protocol's JSON, so 20 % read as above chance (33 %-ish) when
    answering the common class alone scores 90 %. The card and the console table's heading now say it; a balanced
    split (digits: 10.3 % of 10 classes) says nothing."""
    import torch

    from mmdistill.classification import _title, majority_share

    scored = {"metric": "accuracy", "network": "convnet", "distilled": {"mean": 0.2, "std": 0.0, "runs": [0.2]},
              "protocol": {"runs": 1, "epochs": 5, "scored_on": "test", "majority_share": 0.9}}
    card = render_card(_manifest(num_classes=3, metrics=scored))
    assert "the test split is imbalanced: its most common class holds 90.0 % of its samples" in card
    assert "plain accuracy" in card and "always answers that class scores 90.0 %" in card
    balanced = {**scored, "protocol": {**scored["protocol"], "majority_share": 0.103}}
    assert "imbalanced" not in render_card(_manifest(num_classes=10, metrics=balanced))
    assert "imbalanced" not in render_card(_manifest(num_classes=3, metrics={**scored, "metric": "hr@10"}))
    from mmdistill.card import card_summary

    summary = card_summary(_manifest(num_classes=3, metrics=scored)).splitlines()  # mmdistill show's lines
    assert any(line.strip().startswith("the test split is imbalanced") for line in summary)
    heading = _title("test", 1, 1, "image", majority_share(torch.tensor([0] * 9 + [1])), 2)  # the protocol's share
    assert heading.startswith("test accuracy, 1 run each, 1 image per class (plain accuracy on an imbalanced test split")
    assert "90.0 %" in heading and _title("test", 1, 1, "image", majority_share(torch.tensor([0, 1])), 2) == "test accuracy, 1 run each, 1 image per class"


def _checked(pairs: bool) -> dict:
    space = {"synthetic": {"median": 3.0, "min": 2.0}, "random_real": {"median": 1.0, "min": 0.5}, "ratio_median": 3.0,
             "frac_below_real_min": 0.0}
    closest = [{"synthetic": i, "real_pool_index": i, "distance": 2.0} for i in range(8)]
    return {**_manifest(), "memorisation": {"input": space, "feature": space, "input_space": "x", "feature_space": "f",
                                            "picture": "memorisation.png", "picture_pairs": pairs, "closest": closest}}


def test_the_card_says_memorisation_png_shows_real_samples_and_that_the_check_is_no_privacy_guarantee():
    """Walk 52D: a reviewer signing off a release read the card's memorisation section as the release's privacy
    statement; it did not say that the check is no guarantee (distillation is not differential privacy), nor that the
    run folder's memorisation.png draws real training samples, the nearest real one of each closest pair."""
    card = render_card(_checked(True))
    assert "it is no privacy guarantee (dataset distillation is not differential privacy" in card
    assert "It shows 8 real training samples (each closest pair's real one): it is for whoever checks the set, not for publishing" in card
    assert "real training samples" not in render_card(_checked(False))  # histograms only (graphs, sequences, video)
    assert "real training samples" not in render_card(_checked(True), where="export")  # not copied into an export


def test_an_image_text_card_and_show_say_the_set_carries_real_captions_verbatim():
    """Walk 52D: an image-text set's manifest holds the real captions of its initial pairs (``init_captions``) and its
    exports' caption column holds each pair's nearest real caption, whatever the memorisation check says of the learned
    embeddings; neither the card nor ``show`` said that real samples are published with it."""
    from mmdistill.card import card_summary
    from mmdistill.modalities.image import MODALITY as IMAGE
    from mmdistill.modalities.image_text import MODALITY as IMAGE_TEXT

    manifest = {**_checked(False), "modality": "image-text",
                "synthetic": {"tensors": {"labels": [2]}, "meta": {"init_captions": ["alice on a red bike", "bob at home"]}}}
    card = render_card(manifest, IMAGE_TEXT, where="hf")
    assert ("**Real samples carried verbatim:** the manifest holds real training captions as written: "
            "`synthetic.meta.init_captions` (2 captions of the real pairs the set was initialised from); and the exports' "
            "captions (`captions.csv`, a `--to hf` export's `caption` column) are each pair's nearest real training caption") in card
    assert "real samples carried: the manifest holds real training captions" in card_summary(manifest, IMAGE_TEXT)
    assert "Real samples carried" not in render_card(_checked(False), IMAGE)  # an image set carries none verbatim


def test_show_says_when_a_set_has_no_memorisation_check():
    """Walk 52D: ``show`` of a set without a memorisation block (a merged set before walk 52D, a set made before the check)
    printed no memorisation line at all, which a reviewer could read as nothing found."""
    from mmdistill.card import card_summary

    assert "memorisation check: not run, nothing says whether the set copies real samples" in card_summary(_manifest())
    assert "not run" not in card_summary(_checked(False))


def test_a_set_scored_by_one_run_is_not_given_a_spread_in_the_summary_lines():
    """Walk 52B: `show` printed "popularity 18.10 ± 0.00 %" for a baseline scored once (it draws nothing) and the same for
    eval_runs=1, a spread never measured, where the card's table says n/a; the summary lines say "(one run)"."""
    from mmdistill.card import score_rows
    from mmdistill.evaluation import set_cell

    assert set_cell("random_real", {"mean": 0.9311, "std": 0.0087, "runs": [0.92, 0.94]}) == "random real 93.11 ± 0.87 %"
    assert set_cell("popularity", {"mean": 0.181, "std": 0.0, "runs": [0.181]}) == "popularity 18.10 % (one run)"
    once = {"mean": 0.5, "std": 0.0, "runs": [0.5], "scores": {"hr@10": {"mean": 0.5, "std": 0.0, "runs": [0.5]},
                                                           "ndcg@10": {"mean": 0.25, "std": 0.0, "runs": [0.25]}}}
    assert score_rows({"popularity": once})[2] == "| popularity | 50.00 | 25.00 |"


def test_a_run_card_embeds_each_picture_with_alt_text_that_says_its_numbers(tmp_path):
    """The run card embedded no picture and said nothing of loss.png (a screen reader or a text view of the card had
    no way to the loss's course): each picture the folder holds is embedded with alt text saying what it shows, its
    numbers in it; a picture the folder lacks is not linked, and an export's card has no such section."""
    from mmdistill.io import MetricsLog
    from mmdistill.report import write_card

    for name in ("preview.png", "loss.png", "accuracy.png"):
        (tmp_path / name).write_bytes(b"\x89PNG")
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for it, loss in ((0, 2.0), (10, 0.5), (20, 0.75)):
        log.append({"it": it, "loss": loss})
    metrics = {"metric": "accuracy", "network": "convnet", "distilled": {"mean": 0.9, "std": 0.01, "runs": [0.89, 0.91]},
               "random_real": {"mean": 0.8, "std": 0.02, "runs": [0.78, 0.82]}}
    card = write_card(tmp_path, _manifest(metrics=metrics, dataset="digits]x"), None).read_text()
    pictures = {file: alt for alt, file in re.findall(r"^!\[(.+)\]\(([\w.]+)\)$", card, re.M)}
    assert list(pictures) == ["preview.png", "loss.png", "accuracy.png"]  # no memorisation.png: not in the folder
    assert "preview of the 10 images of image-dm on digits\\]x" in pictures["preview.png"]
    assert "2 at iteration 0, 0.75 at iteration 20, lowest 0.5 at iteration 10" in pictures["loss.png"]
    assert "distilled 90.00 ± 1.00 %, random real 80.00 ± 2.00 %; dashed line: chance 10.0 %" in pictures["accuracy.png"]
    assert "## Pictures" not in render_card(_manifest(metrics=metrics), where="export")


def test_a_memorisation_picture_of_real_samples_is_linked_not_embedded(tmp_path):
    """Walk 53G's question: the card embedded memorisation.png, which draws the closest pairs' real training samples,
    so a card pasted or pushed somewhere would show them inline; it is a link then (with its alt text), and embedded
    only when it draws the distance histograms alone."""
    from mmdistill.card_pictures import picture_lines

    (tmp_path / "memorisation.png").write_bytes(b"\x89PNG")
    linked = picture_lines(tmp_path, _manifest(memorisation={"picture_pairs": True}))
    assert any(re.match(r"^\[histograms, .+, and the closest pairs side by side\]\(memorisation\.png\) \(a link, not shown "
                        r"inline: it draws real training samples\)$", line) for line in linked)
    assert not any(line.startswith("![") for line in linked)
    embedded = picture_lines(tmp_path, _manifest(memorisation={"picture_pairs": False}))
    assert any(re.match(r"^!\[histograms, .+\]\(memorisation\.png\)$", line) for line in embedded)


def test_metrics_are_read_once_and_only_for_a_loss_curve(tmp_path, monkeypatch):
    """Review 53K3: write_artifact read metrics.jsonl for loss.png and picture_lines read it again, even for a folder
    without loss.png (every alt text was built before the folder was looked at). The records are passed through."""
    from mmdistill.card_pictures import picture_lines
    from mmdistill.io import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"it": 0, "loss": 2.0})
    reads = []
    real = MetricsLog.read
    monkeypatch.setattr(MetricsLog, "read", lambda self: reads.append(self) or real(self))
    assert picture_lines(tmp_path, _manifest()) == [] and reads == []  # no picture: nothing read
    (tmp_path / "loss.png").write_bytes(b"\x89PNG")
    lines = picture_lines(tmp_path, _manifest(), records=[{"it": 5, "loss": 1.5}])
    assert reads == [] and any("1.5 at iteration 5" in line for line in lines)
    assert any("2 at iteration 0" in line for line in picture_lines(tmp_path, _manifest())) and len(reads) == 1


def test_the_card_reads_the_manifest_in_place_and_changes_none_of_it():
    # session 55: render_card kept its own references to the raw config and synthetic section beside the raw manifest
    import copy

    from mmdistill.modality import get_modality

    for synthetic in ({"meta": {"mean": [0.5] * 3, "std": [0.25] * 3}}, {"tensors": {"labels": [10]}}, None):
        manifest = _manifest(config={"ipc": 1, "note": "a`b <i>"}, synthetic=synthetic)
        before = copy.deepcopy(manifest)
        card = render_card(manifest, get_modality("image"), where="export", export_note="")
        assert manifest == before
        assert '"note": "a`b <i>"' in card  # the config fence shows the value as it is, not made inert
        assert ("inputs normalised as (raw - mean) / std with" in card) == bool(synthetic and "meta" in synthetic)
