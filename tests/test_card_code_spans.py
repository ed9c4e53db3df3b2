"""The card's code spans show a manifest value as it is (a span interprets nothing but a closing backtick run), while
the text outside spans stays inert: no heading, HTML, link, image or table column can be injected either way."""

from __future__ import annotations

import pytest

from mmdistill.card import render_card
from mmdistill.load_report import LoadReport
from mmdistill.markdown_safe import code, inert


def _manifest(**changes) -> dict:
    base = {"recipe": "image-dm", "method": "dm", "modality": "image", "dataset": "digits", "ipc": 1, "seed": 0,
            "num_classes": 10, "sample_noun": "image", "config": {"budget": "cpu", "eval_runs": 2},
            "synthetic": {"tensors": {"labels": [10]}}}
    return {**base, **changes}


def _spans(markdown: str) -> list[str]:
    """The text of every code span a CommonMark renderer finds in ``markdown``."""
    md = pytest.importorskip("markdown_it").MarkdownIt("commonmark")
    spans = []
    for block in md.parse(markdown):
        for child in block.children or []:
            if child.type == "code_inline":
                spans.append(child.content)
    return spans


def test_code_spans_show_the_value_itself_not_its_escapes():
    """Before: the spans held the inert text, so a bracketed folder showed as `data\\[2024\\]` and a<b as a&lt;b."""
    card = render_card(_manifest(dataset="data[2024]", method="a<b", recipe="r|x!", merged_from=[{"dir": "runs/[1] <x>"}]))
    spans = _spans(card.split("---\n", 2)[2])
    assert "data[2024]" in spans and "a<b" in spans and "r|x!" in spans and "runs/[1] <x>" in spans
    assert not any("\\[" in s or "&lt;" in s for s in spans)


def test_a_group_by_pattern_and_held_groups_show_as_typed():
    report = LoadReport(root="r", facts={"group_by": r"^\d_([^_]+)_", "test_groups": ["[a](http://e.example)", "b"]})
    line = LoadReport.from_dict(inert(report.as_dict())).summary()  # the card reads the inert manifest
    assert _spans(line) == ["[a](http://e.example)", "b", r"^\d_([^_]+)_"]
    md = pytest.importorskip("markdown_it").MarkdownIt("commonmark")
    assert "<a " not in md.render(line)  # before: repr() doubled the escaping backslash, and the group was a link


def test_code_spans_stay_inert_with_hostile_values():
    md = pytest.importorskip("markdown_it").MarkdownIt("commonmark")
    hostile = "x`` <script>alert(1)</script>\n# H ![i](https://e.example/p.png) [l](javascript:alert(1)) ```"
    card = render_card(_manifest(method=hostile, dataset=hostile, network=hostile,
                                 merged_from=[{"dir": "`" + hostile + "`"}]))
    body = card.split("---\n", 2)[2]
    html = md.render(body)
    assert "<script>" not in html and "<img" not in html and "<a " not in html and "<h1>H" not in html
    flat = hostile.replace("\n", " ")
    assert flat in _spans(body) and "`" + flat + "`" in _spans(body)


def test_code_fences_are_longer_than_any_backtick_run_and_padded_at_the_ends():
    assert code("x") == "`x`" and code("a`b") == "``a`b``" and code("``a") == "``` ``a ```"
    assert code(inert("d[1]<x>")) == "`d[1]<x>`" and code(3) == "`3`" and code("") == '`""`'
    assert code("a\tb\nc") == "`a b c`"


def test_the_yaml_header_holds_the_values_not_their_markdown_escapes():
    """Before: pretty_name was built from the inert manifest, so the Hub's title read `data\\[2024\\] a&lt;b`."""
    import yaml

    card = render_card(_manifest(dataset="data[2024] a<b\nlicense: mit", modality="image[x]"))
    meta = yaml.safe_load(card.split("---\n", 2)[1])
    assert meta["pretty_name"] == "image-dm · data[2024] a<b license: mit · ipc 1" and meta["license"] == "unknown"
    assert meta["tags"][-1] == "image[x]"
