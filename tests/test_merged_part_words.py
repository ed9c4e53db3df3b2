"""Review R1 (finding 2): a merged set's parts were described three ways: the card wrote ``"3 samples"`` for a part of
image-text pairs (the set's noun ignored, ``"1 samples"`` for one), ``mmdistill show`` built ``"3 pairs"`` itself and
merge's log line ``"1 pairs"``. card.merged_part_words says it once, with the set's noun and its plural."""

from __future__ import annotations

import argparse

import torch

from mmdistill.card import merged_part_words, render_card
from mmdistill.synthetic import SyntheticSet

PARTS = [{"dir": "c1", "per_class": [3]}, {"dir": "c2", "per_class": [1]}, {"dir": "c3", "classes": ["a", "b"]}, {"dir": "c4"}]
MANIFEST = {"recipe": "image-text-lors", "method": "merged", "dataset": "toy", "sample_noun": "pair", "merged_from": PARTS}


def test_merged_parts_are_counted_in_the_sets_noun():
    assert [merged_part_words(p, MANIFEST) for p in PARTS] == ["3 pairs", "1 pair", "classes a, b", ""]
    line = next(line for line in render_card(MANIFEST).splitlines() if "merged by `mmdistill merge`" in line)
    assert line.endswith("`c1` (3 pairs); `c2` (1 pair); `c3` (classes a, b); `c4`"), line


def test_show_names_each_merged_part_as_the_card_does(tmp_path, capsys):
    from mmdistill.cli import _show
    from mmdistill.modalities.image_text import MODALITY

    syn = SyntheticSet(data={"images": torch.zeros(4, 3, 2, 2), "text": torch.zeros(4, 5)}, labels=torch.zeros(4, dtype=torch.long),
                       num_classes=1, meta={})
    _show(argparse.Namespace(dir=str(tmp_path)), syn, {**MANIFEST, "sample_noun": None}, MODALITY)  # the adapter's noun
    out = capsys.readouterr().out
    assert "merged from c2: 1 pair\n" in out and "merged from c1: 3 pairs\n" in out and "merged from c3: classes a, b\n" in out
