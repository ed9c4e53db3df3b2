"""Walk 52D: an export is published, so its card and the manifest a ``--to hf`` export carries hold no path of the sender's
machine (``/home/alice/patients``: a user name, a project's folder) and no name of a file of the sender's data folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mmdistill.cli import main
from mmdistill.export_record import for_export, is_local_path, last_part
from mmdistill.recipes import image_dm
from mmdistill.share import load


def test_for_export_keeps_the_last_folder_of_each_local_path_and_drops_unread_file_names():
    manifest = {"config": {"data_root": "/home/alice/patients/", "out": "~/runs/x", "buffer": None, "dataset": "imagefolder",
                           "eval_networks": ["convnet"], "win": "C:\\Users\\alice\\data"},
                "config_sources": {"ipc": "run folder /home/alice/runs/dm-lr10 (scored on test)",
                                   "lr_data": "tables/budgets.yaml: recipe image-dm/audio-dm (1/20 of ...; https://x.org/a)"},
                "merged_from": [{"dir": "/srv/clients/bob", "classes": ["a"]}], "imported_from": {"file": "/tmp/res.pt"},
                "synthetic": {"meta": {"caption_bank_dir": "/home/alice/.cache/text", "classes": ["/srv", "a"], "load_report": {"format": 1, "root": "patients", "counts": {"ignored": 1},
                                                       "files": {"ignored": ["a/john_smith.txt"]}, "facts": {}}}}}
    out = for_export(manifest)
    assert out["config"] == {"data_root": "patients", "out": "x", "buffer": None, "dataset": "imagefolder",
                             "eval_networks": ["convnet"], "win": "data"}
    assert out["config_sources"]["ipc"] == "run folder dm-lr10 (scored on test)"
    assert out["config_sources"]["lr_data"] == manifest["config_sources"]["lr_data"]  # no path in it: text as it was
    assert out["merged_from"][0]["dir"] == "bob" and out["imported_from"]["file"] == "res.pt"
    assert out["synthetic"]["meta"]["load_report"]["files"] == {} and out["synthetic"]["meta"]["load_report"]["counts"] == {"ignored": 1}
    assert out["synthetic"]["meta"]["caption_bank_dir"] == "text" and out["synthetic"]["meta"]["classes"] == ["/srv", "a"]
    assert manifest["config"]["data_root"] == "/home/alice/patients/"  # the run folder's own record is not changed
    assert not is_local_path("patients") and is_local_path("~") and last_part("/") == "/"


def test_a_local_folder_behind_a_scheme_is_named_by_its_last_folder_too():
    """text_encoder=hf:/home/alice/models/bert (a local Hugging Face folder) went into the export card's config, the
    carried manifest and the set's meta with the sender's path: is_local_path reads the whole string, scheme and all."""
    manifest = {"config": {"text_encoder": "hf:/home/alice/models/bert-ft", "image_encoder": "open_clip:ViT-B-32/openai",
                           "dataset": "pyg:Amazon/Photo", "url": "https://example.org/a/b", "win": "hf:C:\\Users\\al\\m"},
                "synthetic": {"meta": {"text_encoder": "hf:~/models/bert-ft"}}}
    out = for_export(manifest)
    assert out["config"] == {"text_encoder": "hf:bert-ft", "image_encoder": "open_clip:ViT-B-32/openai",
                             "dataset": "pyg:Amazon/Photo", "url": "https://example.org/a/b", "win": "hf:m"}
    assert out["synthetic"]["meta"]["text_encoder"] == "hf:bert-ft"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("private")
    data = tmp / "home" / "alice" / "patients"
    for name, shade in (("a", 30), ("b", 200)):
        (data / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), shade + 9 * i, dtype=np.uint8), mode="L").save(data / name / f"jane_doe_{i}.png")
    (data / "a" / "notes_john_smith.txt").write_text("not an image")
    image_dm.run(dataset="imagefolder", data_root=str(data), ipc=1, iterations=1, batch_real=3, evaluate=False, progress=False,
                 memory_check=False, out=str(tmp / "run"))
    return tmp, tmp / "run"


def _private(text: str, tmp) -> list[str]:
    return [word for word in (str(tmp), "alice", "john_smith") if word in text]


def test_a_natural_export_card_names_no_path_of_the_senders_machine(run_folder, capsys):
    tmp, run = run_folder
    assert _private((run / "README.md").read_text(encoding="utf-8"), tmp)  # the run folder's card keeps them (eval, check)
    assert main(["export", str(run), "--to", str(tmp / "png")]) == 0
    card = (tmp / "png" / "README.md").read_text(encoding="utf-8")
    assert _private(card, tmp) == [] and '"data_root": "patients"' in card and "Paths are given by their last folder only" in card


def test_an_hf_export_carries_a_manifest_without_the_senders_paths_and_still_loads(run_folder, capsys):
    pytest.importorskip("datasets")
    tmp, run = run_folder
    assert main(["export", str(run), "--to", "hf", str(tmp / "hf")]) == 0
    carried = (tmp / "hf" / "mmdistill" / "manifest.json").read_text(encoding="utf-8")
    assert _private(carried, tmp) == [] and _private((tmp / "hf" / "README.md").read_text(encoding="utf-8"), tmp) == []
    assert json.loads(carried)["synthetic"]["meta"]["load_report"]["counts"]["ignored"] == 1
    ds = load(tmp / "hf")  # the export's record of the manifest's synthetic fields was made from the redacted copy
    assert ds.manifest["config"]["data_root"] == "patients" and len(ds) == 2
