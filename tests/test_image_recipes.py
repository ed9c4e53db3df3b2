"""The image recipes on a generated ImageFolder tree: custom data end to end, and its bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from mmdistill.cli import main as cli_main


def _tree(root, sizes=None, per_class=6, classes=("cat", "dog", "owl")):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            size = (sizes or {}).get((name, i), (12, 12))
            arr = rng.integers(0, 60, size=(*size[::-1], 3), dtype=np.uint8)
            arr[:, :, c] += 150  # each class has its own dominant colour
            Image.fromarray(arr).save(root / name / f"{i}.png")
    return root


def test_imagefolder_run_end_to_end(tmp_path, capsys):
    root = _tree(tmp_path / "data")
    out = tmp_path / "run"
    code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(root), "--image-size", "8",
                     "--ipc", "2", "--iterations", "3", "--batch-real", "4", "--eval-runs", "1", "--eval-epochs", "2",
                     "--herding-epochs", "1", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert (out / "preview.png").exists() and (out / "manifest.json").exists()
    assert cli_main(["export", str(out), "--to", str(tmp_path / "exp")]) == 0
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["README.md", "cat", "classes.json", "dog", "owl"]  # + the card and the folder index


def test_class_smaller_than_ipc_is_named(tmp_path, capsys):
    root = _tree(tmp_path / "data", per_class=6)
    for p in list((root / "owl").iterdir())[2:]:
        p.unlink()
    code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(root), "--ipc", "3",
                     "--no-progress", "--out", str(tmp_path / "run"), "test_fraction=0.4"])
    err = capsys.readouterr().err
    assert code == 3 and "'owl'" in err and "ipc=3" in err, err


def test_mixed_sizes_are_named(tmp_path, capsys):
    root = _tree(tmp_path / "data", sizes={("dog", 1): (16, 10)})
    code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(root), "--ipc", "1",
                     "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 3 and re.search(r"1\.png", err) and "image_size" in err.replace("-", "_"), err


def test_empty_root_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(tmp_path / "empty"),
                     "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 3 and "empty" in err, err


@pytest.mark.parametrize("garbage", [b"", b"not a png at all"])
def test_corrupt_image_is_named(tmp_path, capsys, garbage):
    root = _tree(tmp_path / "data")
    (root / "cat" / "broken.png").write_bytes(garbage)
    code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(root), "--ipc", "1",
                     "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 3 and "broken.png" in err, err


def test_tensor_as_dataset_is_refused_in_a_short_message(tmp_path):
    """``image_dm.run(dataset=torch.rand(50, 1, 9, 7))`` raised a 2,690-character ConfigError holding the tensor's whole
    repr. Refused now in a few lines naming ``dataset`` (by the config's type check or the image adapter's)."""
    import torch

    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    with pytest.raises(ConfigError, match="dataset") as err:
        image_dm.run(dataset=torch.rand(50, 1, 9, 7), ipc=1, budget="cpu", iterations=2, eval_runs=1, eval_epochs=1,
                     out=str(tmp_path / "run"), progress=False)
    assert len(str(err.value)) < 400, str(err.value)


def test_the_evaluation_heading_counts_in_words():
    """"1 runs each, 1 per class" (no noun, no singular)."""
    from mmdistill.classification import _title

    assert _title("test", 1, 1, "image") == "test accuracy, 1 run each, 1 image per class"
    assert _title("validation", 5, 10, "clip") == "validation accuracy, 5 runs each, 10 clips per class"


def test_counts_in_words_are_singular_for_one():
    """Walk 38: "1 runs each" (image-text, sequences, graph headings), "3 nodes (1 nodes per class)"."""
    from mmdistill.words import quantity

    assert (quantity(1, "run"), quantity(0, "run"), quantity(3, "entry", "entries")) == ("1 run", "0 runs", "3 entries")
    from mmdistill.modalities.graph.budget import resolve_budget

    assert resolve_budget([5, 5, 5], 30, nodes_per_class=1).label() == "3 nodes (1 node per class)"
