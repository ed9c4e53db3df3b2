"""``mmdistill compare``: a sweep's runs side by side from their manifests, seeds pooled, best first, the split named."""

from __future__ import annotations

import json
from pathlib import Path

from mmdistill.cli import main as cli_main
from mmdistill.compare import compare_lines, run_folders


def _run(root: Path, name: str, *, lr: float, ipc: int, seed: int, distilled: list[float], validation: float = 0.1,
         metrics: bool = True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    config = {"dataset": "digits", "ipc": ipc, "lr_data": lr, "seed": seed, "validation": validation, "out": str(folder),
              "progress": False, "eval_runs": len(distilled)}
    manifest = {"recipe": "image-dm", "seed": seed, "ipc": ipc, "config": config}
    if metrics:
        split = "validation" if validation else "test"
        manifest["metrics"] = {"metric": "accuracy", "network": "convnet",
                               "distilled": {"mean": sum(distilled) / len(distilled), "std": 0.0, "runs": distilled},
                               "random_real": {"mean": 0.5, "std": 0.0, "runs": [0.5] * len(distilled)},
                               "protocol": {"scored_on": split, f"{split}_samples": 142}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def _sweep(root: Path) -> None:
    _run(root, "lr1-s0", lr=1.0, ipc=10, seed=0, distilled=[0.80, 0.82])
    _run(root, "lr1-s1", lr=1.0, ipc=10, seed=1, distilled=[0.78, 0.80])
    _run(root, "lr10-s0", lr=10.0, ipc=10, seed=0, distilled=[0.90, 0.90])
    _run(root, "lr10-s1", lr=10.0, ipc=10, seed=1, distilled=[0.88, 0.92])


def test_seeds_of_one_setting_pool_and_the_best_comes_first(tmp_path):
    _sweep(tmp_path)
    _run(tmp_path, "unscored", lr=5.0, ipc=10, seed=0, distilled=[0.0], metrics=False)
    lines = compare_lines([tmp_path])  # a sweep's parent folder stands for its runs
    assert lines[0].startswith("4 runs in 2 settings (differing in lr_data); scores in % on the validation (142 samples) split")
    head, best, other = lines[1].split(), lines[2].split(), lines[3].split()
    assert head[:2] == ["lr_data", "seeds"] and "distilled" in head
    assert best[:2] == ["10.0", "0,1"] and best[-1] == "2"
    # 4 evaluation runs of 2 seeds pooled: [0.90, 0.90, 0.88, 0.92], population std (the seeds' means alone: ± 0.00)
    assert " ".join(best[2:5]) == "90.00 ± 1.41" and " ".join(other[:5]) == "1.0 0,1 80.00 ± 1.41"
    named_out_of_order = compare_lines([tmp_path / "lr10-s1", tmp_path / "lr10-s0"])  # one setting: no key column
    assert named_out_of_order[0].startswith("2 runs in 1 setting (the same keys)")  # not "1 settings" (walk 53E)
    assert named_out_of_order[2].split()[:4] == ["0,1", "90.00", "±", "1.41"]  # its seeds listed in order
    assert any("unscored: no scores" in line for line in lines)
    going = tmp_path / "lr20-s0"
    going.mkdir()
    (going / "checkpoint.safetensors").write_bytes(b"")  # a run of the sweep not finished: named, not silently missing
    lines = compare_lines([tmp_path])
    assert lines[0].startswith("4 runs in 2 settings")
    assert any(line.startswith(f"  left out {going} holds the checkpoint.safetensors of an unfinished run") for line in lines)
    assert compare_lines([going])[0].startswith(f"{going} holds the checkpoint.safetensors of an unfinished run")
    assert not any("test split" in line for line in lines)  # nothing was scored on test


def test_runs_scored_on_test_are_named_and_flagged(tmp_path):
    _sweep(tmp_path)
    _run(tmp_path, "final", lr=10.0, ipc=10, seed=0, distilled=[0.95, 0.95], validation=0.0)
    lines = compare_lines(sorted(tmp_path.iterdir()))
    assert lines[1].split("  ")[1:4] == ["lr_data", "validation", "scored on"]
    assert lines[-2].split()[:4] == ["10.0", "0.0", "test", "0"]  # its own row, never pooled with the validation runs, last
    assert lines[2].split()[:3] == ["10.0", "0.1", "validation"]  # the tuning rows first, though the test row scored more
    assert lines[-1].startswith("note: rows scored on the test split")
    manifest = json.loads((tmp_path / "lr1-s1" / "manifest.json").read_text())
    manifest["metrics"]["protocol"]["validation_samples"] = 150  # the same keys, other data: said, not hidden
    (tmp_path / "lr1-s1" / "manifest.json").write_text(json.dumps(manifest))
    assert any(line.startswith("note: runs were scored on 142 and 150 validation samples") for line in compare_lines([tmp_path]))


def test_cli_compare_prints_the_table_and_refuses_a_folder_without_runs(tmp_path, capsys):
    _sweep(tmp_path / "sweep")
    assert cli_main(["compare", str(tmp_path / "sweep" / "lr1-s0"), str(tmp_path / "sweep" / "lr10-s1")]) == 0
    out = capsys.readouterr().out
    assert "2 runs in 2 settings" in out and "on the validation (142 samples) split," in out
    (tmp_path / "empty").mkdir()
    assert cli_main(["compare", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "is not a run folder" in err and "Traceback" not in err
    assert run_folders([tmp_path / "sweep" / "lr1-s0"] * 2) == ([tmp_path / "sweep" / "lr1-s0"], [])


def test_a_key_another_recipe_lacks_is_a_dash_not_null(tmp_path):
    """DM against DC: a DC key in a DM row is not applicable ("-"), not a value ``null`` it was run with."""
    _run(tmp_path, "dm", lr=1.0, ipc=10, seed=0, distilled=[0.8])
    dc = _run(tmp_path, "dc", lr=0.1, ipc=10, seed=0, distilled=[0.7])
    manifest = json.loads((dc / "manifest.json").read_text())
    manifest["recipe"], manifest["config"]["outer_loop"] = "image-dc", 10
    (dc / "manifest.json").write_text(json.dumps(manifest))
    lines = compare_lines([tmp_path])
    assert lines[1].split()[:3] == ["recipe", "lr_data", "outer_loop"]
    assert lines[2].split()[:3] == ["image-dm", "1.0", "-"] and lines[3].split()[:3] == ["image-dc", "0.1", "10"]


def test_a_setting_scored_once_shows_no_spread_in_compare_nor_in_the_runs_table(tmp_path):
    """Walk 52J: fe66952 made the summary lines and the card say "(one run)" for a set scored once, but `mmdistill
    compare` of a quick sweep (one seed, eval_runs=1) still printed "90.00 ± 0.00" in every cell, and the table a run
    prints at its end "90.00 ± 0.00" -- a spread never measured."""
    from mmdistill.evaluation import EvalResult, results_table

    _run(tmp_path, "lr1", lr=1.0, ipc=10, seed=0, distilled=[0.80])
    _run(tmp_path, "lr10", lr=10.0, ipc=10, seed=0, distilled=[0.90])
    lines = compare_lines([tmp_path])
    assert "90.00 (one run)" in lines[2] and "±" not in lines[2]
    one, two = EvalResult.of([0.9]), EvalResult.of([0.8, 0.9])
    table = results_table({"distilled": one, "random_real": two}).splitlines()
    assert "90.00 ± n/a" in table[1] and "± 0.00" not in table[1] and "85.00 ± 5.00" in table[2]
    assert str(one) == "90.00 % (one run)" and str(two) == "85.00 ± 5.00 % (2 runs)"


def _fold_run(root: Path, name: str, fold: int | None, held: int, distilled: list[float], samples: int, lr: float = 1.0) -> None:
    """A run on a set with official folds (ESC-50): ``test_fold`` as configured (None: the default), ``held`` as its
    load report records it."""
    folder = _run(root, name, lr=lr, ipc=1, seed=0, distilled=distilled, validation=0.0)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["test_fold"] = fold
    manifest["metrics"]["protocol"]["test_samples"] = samples
    manifest["synthetic"] = {"meta": {"load_report": {"facts": {"test_fold": held}}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_folds_pool_the_official_folds_and_a_default_fold_is_named(tmp_path, capsys):
    # walk 55E: cross-validation over ESC-50's folds was one row per fold (the default's fold shown as null), and no mean
    _fold_run(tmp_path, "f1", 1, 1, [0.5, 0.7], 400)
    _fold_run(tmp_path, "f2", 2, 2, [0.6, 0.6], 410)
    _fold_run(tmp_path, "f5", None, 5, [0.8, 0.8], 400)
    _fold_run(tmp_path, "f5-lr10", None, 5, [0.1, 0.1], 400, lr=10.0)
    plain = compare_lines([tmp_path])
    assert plain[1].split()[:2] == ["lr_data", "test_fold"] and any(r.split()[:2] == ["1.0", "5"] for r in plain[2:5])
    assert cli_main(["compare", "--folds", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("4 runs in 2 settings (differing in lr_data)")
    assert lines[1].split()[:3] == ["lr_data", "seeds", "folds"]
    assert lines[2].split()[:6] == ["1.0", "0", "1,2,5", "66.67", "±", "11.06"] and lines[2].split()[-1] == "3"
    assert any(line.startswith("note: --folds pools the runs of every official fold") for line in lines)
    assert any("the folds pooled hold 400 and 410 test samples" in line for line in lines)
    assert not any("not comparable" in line for line in lines)


def test_a_run_saved_before_a_key_existed_is_one_setting_with_a_newer_run_of_its_keys(tmp_path):
    """Walk 55O: a run of this morning (no ``resize`` nor ``split_number`` in its config) and tonight's run of the same
    keys (``resize: squeeze``, ``split_number: 1``, the values the older ran with) were two settings 'differing in
    resize, split_number', the older's cells dashes; another recipe, which has no such key, still shows a dash."""
    _run(tmp_path, "morning", lr=1.0, ipc=10, seed=0, distilled=[0.80])
    tonight = _run(tmp_path, "tonight", lr=1.0, ipc=10, seed=1, distilled=[0.82])
    manifest = json.loads((tonight / "manifest.json").read_text())
    manifest["config"].update(resize="squeeze", split_number=1)
    (tonight / "manifest.json").write_text(json.dumps(manifest))
    assert compare_lines([tmp_path])[0].startswith("2 runs in 1 setting (the same keys)")
    graph = _run(tmp_path, "graph", lr=1.0, ipc=10, seed=0, distilled=[0.70])
    manifest = json.loads((graph / "manifest.json").read_text())
    manifest["recipe"] = "graph-gcond"
    (graph / "manifest.json").write_text(json.dumps(manifest))
    lines = compare_lines([tmp_path])
    assert lines[0].startswith("3 runs in 2 settings (differing in recipe, resize, split_number)"), lines
    assert lines[2].split()[:4] == ["image-dm", "squeeze", "1", "0,1"]  # the morning's seed 0 and tonight's seed 1 pooled
    assert lines[3].split()[:4] == ["graph-gcond", "-", "-", "0"]


def _split_run(root: Path, name: str, seed: int, digest: str | None, split_seed: int = 0) -> None:
    """A validation run on 287 held-out samples whose protocol records the draw's digest (None: saved before it was)."""
    folder = _run(root, name, lr=1.0, ipc=10, seed=seed, distilled=[0.8 + 0.01 * seed])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["split_seed"] = split_seed
    manifest["metrics"]["protocol"].update({"validation_samples": 287, **({"validation_split": digest} if digest else {})})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_runs_of_two_validation_splits_of_one_size_are_never_pooled_nor_lined_up_as_one(tmp_path):
    """Mend 56K: digits at validation=0.2 holds out 287 samples at split_seed 0 and at split_seed 1 (other samples);
    compare said "scored on the validation (287 samples) split" over both rows, and pooled the seeds of one setting
    whose data had changed between them. The draw's digest (labels in order, held-out indices) tells them apart."""
    import torch

    from mmdistill.scored_on import scored_protocol
    from mmdistill.validation import draw_validation, validation_meta

    classes = [str(c) for c in range(10)]
    labels = torch.arange(1437) % 10
    shuffled = labels[torch.randperm(1437, generator=torch.Generator().manual_seed(1))]  # another drawn test split's order
    a, same, other = (draw_validation(y, classes, None, f, "digits") for y, f in ((labels, 0.2), (labels, 0.1995), (shuffled, 0.2)))
    assert a.held.numel() == other.held.numel() and a.digest != other.digest  # as many samples, other ones
    assert same.digest == a.digest  # a fraction that rounds to the same counts holds out the same samples
    meta = validation_meta({}, 0.2, a)
    assert meta["validation"]["split"] == a.digest and scored_protocol(meta, 287)["validation_split"] == a.digest

    _split_run(tmp_path, "ss0-s0", 0, a.digest)
    _split_run(tmp_path, "ss0-s1", 1, a.digest)
    _split_run(tmp_path, "ss1-s0", 0, other.digest, split_seed=1)
    lines = compare_lines([tmp_path])
    assert lines[0].startswith("3 runs in 2 settings (differing in split_seed); scores in % on the validation (287 samples, 2 splits) split")
    assert lines[1].split("  ")[1:3] == ["split_seed", "validation split"]
    assert sorted(line.split()[:3] for line in lines[2:4]) == [["0", "A", "0,1"], ["1", "B", "0"]]
    assert any(line.startswith("note: the validation rows were scored on 2 different splits") and "their keys split_seed differ" in line
               for line in lines), lines

    changed = tmp_path / "ss0-s1" / "manifest.json"  # the same keys, but the data folder changed between the seeds
    manifest = json.loads(changed.read_text())
    manifest["config"]["split_seed"], manifest["metrics"]["protocol"]["validation_split"] = 0, other.digest
    changed.write_text(json.dumps(manifest))
    (tmp_path / "ss1-s0" / "manifest.json").unlink()
    lines = compare_lines([tmp_path / "ss0-s0", tmp_path / "ss0-s1"])
    assert lines[0].startswith("2 runs in 2 settings (the same keys)"), lines  # not one row pooling two splits
    assert any("their keys agree, so their data differ" in line for line in lines)

    _split_run(tmp_path, "old", 2, None)  # saved before the digest: the split of the newer runs of its keys, if one
    assert compare_lines([tmp_path / "ss0-s0", tmp_path / "old"])[0].startswith("2 runs in 1 setting (the same keys)")
    lines = compare_lines([tmp_path])  # its keys' runs hold two splits: its own row, marked, not guessed into one
    assert lines[0].startswith("3 runs in 3 settings (the same keys); scores in % on the validation (287 samples, 2 splits) split"), lines
    assert any(line.split()[:2] == ["?", "2"] for line in lines)
    assert any(line.endswith("?: a run saved before runs recorded their validation split, which cannot be told (its keys and sample "
                             "count only)") for line in lines), lines
