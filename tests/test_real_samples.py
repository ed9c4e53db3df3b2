"""Exports without the real samples a set carries (walk 52M): an image-text set's manifest holds real training captions
(``synthetic.meta.init_captions``, ``nearest_captions``) and its exports write one real caption per pair (``captions.csv``,
the hf ``caption`` column). Walk 52D's card said so, but a publisher had no way to leave them out:
``mmdistill export DIR [--to hf] --without-real-samples`` (``export_hf(..., without_real_samples=True)``) now does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import mmdistill
from mmdistill.cli import main
from mmdistill.real_samples import LEFT_OUT_KEY, without_real_samples

pytest.importorskip("torchvision")
sys.path.insert(0, str(Path(__file__).parent))
from test_share import make_set  # noqa: E402  (the sharing tests' tiny saved sets)


def _real_captions(saved: Path) -> list[str]:
    meta = json.loads((saved / "manifest.json").read_text())["synthetic"]["meta"]
    return [*meta.get("init_captions", []), *meta.get("nearest_captions", [])]


def _files_holding(root: Path, texts: list[str]) -> list[str]:
    """The files under ``root`` whose bytes hold one of ``texts`` (UTF-8, or JSON-escaped)."""
    needles = {t.encode() for t in texts} | {json.dumps(t)[1:-1].encode() for t in texts}
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles))


def test_an_image_text_export_without_real_samples_holds_no_real_caption(tmp_path, capsys):
    saved = make_set("image_text", tmp_path / "it")
    captions = _real_captions(saved)
    assert captions and _files_holding(saved, captions) == ["manifest.json"]  # the run folder keeps them
    out = tmp_path / "pairs"
    assert main(["export", str(saved), "--to", str(out), "--without-real-samples"]) == 0
    assert _files_holding(out, captions) == []  # neither captions.csv nor the card
    rows = (out / "captions.csv").read_text().splitlines()
    assert rows[0] == "image,caption" and rows[1:] == [f"images/{i:05d}.png," for i in range(len(rows) - 1)]
    card = (out / "README.md").read_text()
    assert ("**Real samples left out:** exported with `--without-real-samples`: the record holds none of "
            "`synthetic.meta.init_captions`, `synthetic.meta.nearest_captions`; the exports' captions") in card
    assert "Real samples carried verbatim" not in card and "the captions of `captions.csv` are empty" in card
    assert mmdistill.load(saved).synthetic.meta["init_captions"]  # the run folder is left as it was


def test_an_image_text_hf_export_without_real_samples_still_loads_and_verifies(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    from mmdistill.share import export_hf, read_hf

    saved = make_set("image_text", tmp_path / "it")
    captions = _real_captions(saved)
    out = export_hf(saved, tmp_path / "hf", without_real_samples=True)
    assert _files_holding(out, captions) == []  # arrow, parquet, card and the carried manifest
    assert datasets.load_from_disk(str(out))["caption"] == [""] * 4
    loaded = mmdistill.load(out)  # the integrity record was made from the manifest without them
    assert "init_captions" not in loaded.synthetic.meta and "nearest_captions" not in loaded.synthetic.meta
    assert loaded.synthetic.meta[LEFT_OUT_KEY] == ["init_captions", "nearest_captions"]
    assert set(read_hf(out)) >= {"inputs.images", "inputs.text", "labels"}
    assert main(["show", str(out)]) == 0
    assert "real samples left out: exported with `--without-real-samples`" in capsys.readouterr().out
    assert loaded.modality.captions_for(loaded.synthetic, similarity=True) == ["(real caption left out)"] * 4  # a preview of it
    plain = export_hf(saved, tmp_path / "hf-plain")  # without the flag: as before
    assert _files_holding(plain, captions) and "Real samples carried verbatim" in (plain / "README.md").read_text()


def test_the_flag_changes_nothing_for_a_set_without_real_samples_carried_and_says_so(tmp_path, capsys):
    saved = make_set("image", tmp_path / "img")
    assert main(["export", str(saved), "--to", str(tmp_path / "with"), "--without-real-samples"]) == 0
    assert "the image adapter declares no real samples carried in a set's record or exports, so --without-real-samples " \
           "changes nothing" in capsys.readouterr().err  # one INFO line
    assert main(["export", str(saved), "--to", str(tmp_path / "without")]) == 0
    files = sorted(p.relative_to(tmp_path / "with") for p in (tmp_path / "with").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "without") for p in (tmp_path / "without").rglob("*") if p.is_file())
    assert all((tmp_path / "with" / f).read_bytes() == (tmp_path / "without" / f).read_bytes() for f in files)


def test_without_real_samples_leaves_the_set_it_is_given_unchanged():
    from mmdistill.modalities.image_text import MODALITY
    from mmdistill.synthetic import SyntheticSet
    import torch

    syn = SyntheticSet(data={"images": torch.zeros(2, 3, 4, 4), "text": torch.zeros(2, 8)}, labels=torch.zeros(2, dtype=torch.long),
                       num_classes=1, meta={"init_captions": ["alice", "bob"], "text_dim": 8})
    out = without_real_samples(syn, MODALITY, "the set")
    assert out.meta == {"text_dim": 8, LEFT_OUT_KEY: ["init_captions", "nearest_captions"]}
    assert syn.meta == {"init_captions": ["alice", "bob"], "text_dim": 8} and out.data is syn.data


def test_an_audio_visual_export_file_names_none_of_the_senders_data_files(tmp_path):
    """Walk 52M: ``pairs.safetensors`` of an audio-visual export recorded the set's whole meta, with the load report's names of
    the sender's data files (``a/notes_john_smith.txt`` under ``ignored``), which walk 52D left out of the export's card
    and carried manifest only. It now records the meta as an export publishes it (the counts stay)."""
    from safetensors import safe_open

    from mmdistill.io import load_synthetic
    from mmdistill.modalities.audio_visual import MODALITY as AV

    syn, _ = load_synthetic(make_set("audio_visual", tmp_path / "av"))
    report = {"format": 1, "root": "clips", "counts": {"ignored": 1}, "files": {"ignored": ["a/notes_john_smith.txt"]}, "facts": {}}
    syn.meta["load_report"] = report  # as a folder of clips with a stray file records it (tests/test_audio_visual.py)
    out = AV.export(syn, tmp_path / "pairs")
    with safe_open(str(out / "pairs.safetensors"), "pt") as fh:
        meta = json.loads(fh.metadata()["meta"])
    assert meta["load_report"]["counts"] == {"ignored": 1} and meta["load_report"]["files"] == {}
    assert "john_smith" not in (out / "pairs.safetensors").read_bytes().decode("latin-1")
    assert syn.meta["load_report"]["files"]  # the set's own meta is not changed


def test_the_flag_warns_when_the_sets_own_samples_are_exact_copies(caplog):
    """Walk 52M's question: --without-real-samples drops the carried captions, but a set whose own samples are exact
    copies (init=real at 0 iterations) publishes real samples whatever the flag; the export warns with the share."""
    import logging

    from mmdistill.real_samples import warn_own_copies

    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        warn_own_copies({"memorisation": {"input": {"exact_copies": 0.0}, "feature": {"exact_copies": 0.25}}}, "runs/x")
    assert "25 % of the set's own samples to be exact copies of real ones" in caplog.text and "runs/x" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        warn_own_copies({"memorisation": {"input": {"exact_copies": 0.0}}}, "runs/x")
        warn_own_copies({}, "runs/x")
    assert not caplog.text
