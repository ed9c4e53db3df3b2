"""End to end on scikit-learn's digits with a tiny budget: the CLI contract, eval/show/export, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from mmdistill.cli import main as cli_main
from mmdistill.io import load_synthetic

FAST_DM = dict(
    dataset="digits", ipc=1, iterations=4, batch_real=16, eval_runs=2, eval_epochs=3, herding_epochs=1,
    checkpoint_every=2, progress=False,
)


def _flags(d: dict) -> list[str]:
    out = []
    for k, v in d.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            out.append(flag if v else "--no-" + flag[2:])
        else:
            out += [flag, str(v)]
    return out


@pytest.fixture(scope="module")
def dm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dm") / "run"
    code = cli_main(["run", "image-dm", *_flags({**FAST_DM, "out": out})])
    assert code == 0
    return out


def test_recipes_lists_the_image_recipes(capsys):
    assert cli_main(["recipes"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"image-dc", "image-dsa", "image-dm"} <= set(names)


def test_the_trajectory_recipe_list_is_the_recipes_with_trajectory_keys():
    """``mmdistill experts --help`` lists TRAJECTORY_RECIPES and ``experts`` accepts a recipe whose config has the
    trajectory keys: one set, so the help never leaves out a recipe the command takes."""
    from mmdistill.methods.trajectory_keys import TrajectoryKeys
    from mmdistill.recipes import RECIPES, TRAJECTORY_RECIPES, get_recipe

    assert sorted(TRAJECTORY_RECIPES) == sorted(n for n in RECIPES if issubclass(get_recipe(n).config_cls, TrajectoryKeys))


def test_run_writes_the_contract(dm_run):
    manifest = json.loads((dm_run / "manifest.json").read_text())
    for key in ("recipe", "modality", "method", "ipc", "seed", "config", "versions", "timing"):
        assert key in manifest, key
    assert (manifest["recipe"], manifest["modality"], manifest["method"], manifest["ipc"]) == ("image-dm", "image", "dm", 1)
    for name in ("distilled", "random_real", "herding"):
        m = manifest["metrics"][name]
        assert 0.0 <= m["mean"] <= 1.0 and len(m["runs"]) == FAST_DM["eval_runs"] and m["std"] >= 0
    assert manifest["timing"]["iterations"] == FAST_DM["iterations"] and manifest["timing"]["seconds"] > 0
    assert manifest["versions"]["torch"] == torch.__version__
    # the kernels float results depend on (hosts differ: AVX2, AVX512), so a number that moves between hosts can be traced
    assert manifest["versions"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert manifest["versions"]["torch_threads"] == str(torch.get_num_threads())  # the float sums follow the thread count too
    for name in ("synthetic.safetensors", "preview.png", "metrics.jsonl", "loss.png", "accuracy.png"):
        assert (dm_run / name).stat().st_size > 0, name
    syn, _ = load_synthetic(dm_run)
    assert syn.x.shape == (10, 1, 8, 8) and syn.labels.tolist() == list(range(10))


def test_eval_reproduces_the_saved_metrics(dm_run, capsys):
    saved = json.loads((dm_run / "manifest.json").read_text())["metrics"]["distilled"]
    assert cli_main(["eval", str(dm_run), "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert f"distilled {100 * saved['mean']:.2f}" in out  # same seeds, same protocol -> same accuracy


def test_eval_takes_evaluation_keys_and_names_the_others(dm_run, capsys):
    assert cli_main(["eval", str(dm_run), "--no-baselines", "eval_runs=1", "eval_epochs=2"]) == 0
    assert "distilled" in capsys.readouterr().out
    assert cli_main(["eval", str(dm_run), "--no-baselines", "lr_data=3"]) == 2
    assert "lr_data changes the distillation" in capsys.readouterr().err


def test_eval_write_keeps_what_it_did_not_score_again(dm_run, tmp_path, capsys):
    """``eval --write --no-baselines`` stores the new distilled numbers and moves the saved baselines, with the protocol
    they were scored under, to ``metrics.earlier``: nothing recorded is lost and no table mixes the two protocols."""
    import shutil

    from mmdistill.evaluation import evaluated_sets

    run = tmp_path / "run"
    shutil.copytree(dm_run, run)
    before = json.loads((run / "manifest.json").read_text())["metrics"]
    before_cfg = json.loads((run / "manifest.json").read_text())["config"]
    assert cli_main(["eval", str(run), "--no-baselines", "--runs", "1", "--write"]) == 0
    after = json.loads((run / "manifest.json").read_text())["metrics"]
    assert len(after["distilled"]["runs"]) == 1 and after["protocol"]["runs"] == 1
    assert set(evaluated_sets(after)) == {"distilled"}
    assert after["earlier"]["random_real"] == before["random_real"] and after["earlier"]["herding"] == before["herding"]
    assert after["earlier"]["protocol"] == before["protocol"] and "distilled" not in after["earlier"]
    card = (run / "README.md").read_text()  # the card shows what the manifest now holds, and only that
    assert f"| distilled | {100 * after['distilled']['mean']:.2f} % |" in card and "| random real |" not in card
    assert "- 1 network per set" in card and "earlier evaluation's random real, herding" in card
    assert "baselines have the same size" not in card and "draw a new subset" not in card  # none scored now (walk 35A)
    # walk 35B D7: the config's evaluation keys follow (the card's config block said the old eval_runs), and the
    # recorded hashes of the rewritten card and picture follow them (else --overwrite takes them for the user's edits)
    written = json.loads((run / "manifest.json").read_text())
    assert written["config"]["eval_runs"] == 1 and written["config"]["baselines"] == []
    from mmdistill.io import file_sha256

    assert all(written["written_file_sha256"][n] == file_sha256(run / n) for n in ("README.md", "accuracy.png"))
    # a second rescoring that scores the same sets keeps the first record as it was
    assert cli_main(["eval", str(run), "--no-baselines", "--runs", "1", "--write"]) == 0
    again = json.loads((run / "manifest.json").read_text())["metrics"]
    assert again["earlier"] == after["earlier"]
    # review 35: key=value changes are recorded typed, and only evaluation keys (not device, caches ...)
    assert cli_main(["eval", str(run), "--runs", "1", "eval_dsa=false", "eval_lr=0.05", "baselines=random_real", "device=cpu",
                     "--write"]) == 0
    rescored = json.loads((run / "manifest.json").read_text())
    cfg = rescored["config"]
    assert cfg["eval_dsa"] is False and cfg["eval_lr"] == 0.05 and cfg["baselines"] == ["random_real"]
    assert cfg["device"] == before_cfg["device"]
    # walk 51C: config_sources said where the old values came from ("command-line flags"); a value eval --write changed
    # names it, and a key it left as it was keeps its source
    sources = rescored["config_sources"]
    assert {sources[k] for k in ("eval_dsa", "eval_lr", "baselines", "eval_runs")} == {"mmdistill eval --write"}
    assert sources["ipc"] == json.loads((dm_run / "manifest.json").read_text())["config_sources"]["ipc"]
    capsys.readouterr()


def test_show_and_export(dm_run, tmp_path, capsys):
    assert cli_main(["show", str(dm_run)]) == 0
    assert "image-dm" in capsys.readouterr().out
    assert cli_main(["export", str(dm_run), "--to", str(tmp_path / "png")]) == 0
    pngs = sorted((tmp_path / "png").rglob("*.png"))
    assert len(pngs) == 10


def test_existing_run_is_not_overwritten_without_asking(dm_run, capsys):
    assert cli_main(["run", "image-dm", *_flags({**FAST_DM, "out": dm_run})]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    from mmdistill.recipes import image_dm

    cfg = dict(FAST_DM, iterations=6, evaluate=False, device="cpu")  # bit-exact on CPU (CUDA atomics round differently)
    full = image_dm.run(out=str(tmp_path / "full"), **cfg)
    image_dm.run(out=str(tmp_path / "cut"), stop_after=3, **cfg)
    assert not (tmp_path / "cut" / "manifest.json").exists()  # no half-finished artifact
    resumed = image_dm.run(out=str(tmp_path / "cut"), resume=True, **cfg)
    assert resumed.manifest["timing"]["resumed_from"] == 3
    assert torch.equal(full.synthetic.x, resumed.synthetic.x)


@pytest.mark.parametrize(
    "args,message,exit_code",
    [
        (["--ipc", "0"], r"ipc=0: expected an integer >= 1 \(samples per class\)", 2),
        (["ipcc=3"], "unknown config key 'ipcc'.*Did you mean ipc", 2),
        (["--budget", "cpu", "--dataset", "imagefolder", "--data-root", "/nonexistent/dir"], "/nonexistent/dir", 3),
        (["--ipc", "500"], "fewer than ipc=500", 3),
    ],
)
def test_bad_input_is_named_without_traceback(tmp_path, capsys, args, message, exit_code):
    import re

    code = cli_main(["run", "image-dm", "--out", str(tmp_path / "x"), "--no-progress", "iterations=1", *args])
    err = capsys.readouterr().err
    assert code == exit_code and re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()  # an early failure leaves no folder it created


def test_an_early_failure_removes_the_parent_folders_it_made_too(tmp_path, capsys):
    """``--out new/sub`` with a missing data root left an empty ``new/`` behind (only ``sub`` was removed)."""
    (tmp_path / "kept").mkdir()
    for out in (tmp_path / "new" / "sub", tmp_path / "kept" / "a" / "b"):
        code = cli_main(["run", "image-dm", "--dataset", "imagefolder", "--data-root", str(tmp_path / "nope"), "--out", str(out),
                         "--no-progress"])
        assert code == 3 and "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and not any((tmp_path / "kept").iterdir())


def test_a_tilde_in_out_is_the_home_folder_as_in_data_root(tmp_path, monkeypatch, capsys):
    """``out: ~/runs/t`` wrote into a folder literally named ``~`` under the current one (data_root expanded it)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", "image-dm", "--ipc", "1", "iterations=0", "--no-evaluate", "--no-progress", "--out", "~/runs/t"]) == 0
    assert (tmp_path / "home" / "runs" / "t" / "manifest.json").exists() and not (tmp_path / "~").exists()


def test_every_recipe_expands_a_tilde_in_out(tmp_path, monkeypatch):
    """The graph, image-text, sequences and clip-finetune configs name their own default folder and kept ``~`` literal."""
    from mmdistill.recipes import RECIPES, get_recipe

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in RECIPES:
        recipe = get_recipe(name)
        assert recipe.config(out="~/runs/t").out_dir(recipe.name) == tmp_path / "runs" / "t", name


def test_gradient_matching_recipes_run(tmp_path):
    from mmdistill.recipes import image_dc, image_dsa

    for recipe in (image_dc, image_dsa):
        res = recipe.run(dataset="digits", ipc=1, iterations=2, batch_real=8, eval_runs=1, eval_epochs=2, baselines=[],
                         progress=False, out=str(tmp_path / recipe.RECIPE.name))
        assert 0.0 <= res.manifest["metrics"]["distilled"]["mean"] <= 1.0


def test_recipe_runs_as_a_script(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mmdistill.recipes.image_dm", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "--ipc" in proc.stdout and "--budget" in proc.stdout


def test_cross_architecture_eval_covers_the_papers_networks(dm_run, capsys):
    assert cli_main(["eval", str(dm_run), "--cross-arch", "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err  # the summary on stdout, the per-network tables logged on stderr
    for net in ("convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18"):
        assert f"[{net}] test accuracy" in out, net


def test_named_networks_and_the_cross_architecture_list_are_one_choice(dm_run, capsys):
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    with pytest.raises(ConfigError, match="eval_networks=mlp and cross_arch=true both choose"):
        image_dm.RECIPE.config(**FAST_DM, eval_networks=["mlp"], cross_arch=True)
    assert cli_main(["eval", str(dm_run), "--networks", "mlp", "--cross-arch"]) == 2
    assert "--networks and --cross-arch both choose the evaluation networks" in capsys.readouterr().err


def test_a_network_named_twice_is_refused_before_anything_trains(dm_run, capsys):
    """Walk 51E (a search space of evaluation networks typed as names): ``--networks mlp,mlp,MLP`` trained MLP's runs
    three times, said "scored on mlp (and 1 more network)" and kept a row per spelling; one network named twice (the
    registry's rule: case, '-' and '_' ignored) is a ConfigError naming eval_networks and both spellings, before the
    data is loaded."""
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    with pytest.raises(ConfigError, match=r"eval_networks names one network twice: 'mlp' and 'MLP'") as err:
        image_dm.RECIPE.config(**FAST_DM, eval_networks=["mlp", "lenet", "MLP"])
    assert err.value.key == "eval_networks"
    assert image_dm.RECIPE.config(**FAST_DM, eval_networks=["mlp", "lenet"]).eval_networks == ["mlp", "lenet"]
    assert cli_main(["eval", str(dm_run), "--networks", "conv_net,ConvNet"]) == 2
    assert "names one network twice: 'conv_net' and 'ConvNet'" in capsys.readouterr().err


def test_an_unknown_network_name_stops_the_run_before_its_data_is_loaded(dm_run, tmp_path, capsys):
    """A misspelt ``network`` or ``eval_networks`` name is a ConfigError naming the key when the config is made
    (before: the distillation ran to its end and the evaluation failed when it built the network, without the key)."""
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import audio_dm, image_dm, video_dm

    with pytest.raises(ConfigError, match=r"config key eval_networks: unknown network 'convnett'; known networks: .*convnet,") as err:
        image_dm.RECIPE.config(**FAST_DM, eval_networks=["mlp", "convnett"])
    assert err.value.key == "eval_networks"
    with pytest.raises(ConfigError, match=r"config key network: unknown network 'convnet3'") as err:
        video_dm.RECIPE.config(network="convnet3")
    assert err.value.key == "network"
    # the registry's spelling rule (case, '-' and '_' ignored) and every modality's networks are accepted
    assert video_dm.RECIPE.config(eval_networks=["ConvNet3D-small", "framepool"]).eval_networks == ["ConvNet3D-small", "framepool"]
    assert audio_dm.RECIPE.config(eval_networks=["ConvNet1D", "MLP"]).network
    out = tmp_path / "never-made"
    assert cli_main(["run", "image-dm", "--dataset", "digits", "--ipc", "1", "--eval-networks", "convnett", "--out", str(out)]) == 2
    assert "unknown network 'convnett'" in capsys.readouterr().err and not out.exists()
    assert cli_main(["eval", str(dm_run), "--networks", "vgg-11x"]) == 2
    assert "config key eval_networks: unknown network 'vgg-11x'" in capsys.readouterr().err


def test_another_choice_of_networks_replaces_the_saved_one_and_keeps_its_record(dm_run, tmp_path, capsys):
    """A set scored on every cross-architecture network, then scored again on named networks (flag or key=value):
    only the named ones run (before: the saved cross_arch ran the whole list and the names were unused), and --write
    keeps the saved sets and their cross_arch block, with the network they were scored on, under metrics.earlier."""
    import shutil

    from mmdistill.io import read_json

    run = tmp_path / "run"
    shutil.copytree(dm_run, run)
    assert cli_main(["eval", str(run), "--cross-arch", "--runs", "1", "--epochs", "1", "--no-baselines", "--write"]) == 0
    crossed = read_json(run / "manifest.json")["metrics"]
    assert list(crossed["cross_arch"]) == ["convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18"]
    manifest = read_json(run / "manifest.json")
    manifest["config"]["cross_arch"] = True  # as a set made with `mmdistill run ... --cross-arch` holds it
    (run / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    for choice in (["--networks", "mlp"], ["eval_networks=mlp"]):
        assert cli_main(["eval", str(run), *choice, "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0, choice
        err = capsys.readouterr().err
        assert "[mlp] test accuracy" in err and "[lenet]" not in err and "[convnet]" not in err, choice
    assert cli_main(["eval", str(run), "--networks", "mlp", "--runs", "1", "--epochs", "1", "--no-baselines", "--write"]) == 0
    after = read_json(run / "manifest.json")["metrics"]
    assert after["network"] == "mlp" and "cross_arch" not in after
    assert after["earlier"]["cross_arch"] == crossed["cross_arch"] and after["earlier"]["network"] == "convnet"
    assert after["earlier"]["distilled"] == crossed["distilled"]


def test_baselines_alone_equal_the_runs_baselines(dm_run):
    """Baselines computed on their own (another process, shared by methods) are the run's numbers exactly."""
    from mmdistill.modalities.image import MODALITY
    from mmdistill.classification import evaluate_baselines
    from mmdistill.recipes import image_dm

    saved = json.loads((dm_run / "manifest.json").read_text())["metrics"]
    cfg = image_dm.RECIPE.config(**FAST_DM)
    rows = evaluate_baselines(cfg, MODALITY.load(cfg), MODALITY, device=torch.device("cpu"))
    assert list(rows) == ["convnet"] and list(rows["convnet"]) == ["random_real", "herding"]
    for name, res in rows["convnet"].items():
        assert res.runs == saved[name]["runs"], name


def _damaged_copy(dm_run, tmp_path, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(dm_run, run)
    damage(run)
    return run


def _manifest_edit(**fields):
    def damage(run):
        manifest = json.loads((run / "manifest.json").read_text())
        for key, value in fields.items():
            manifest.pop(key) if value is None else manifest.__setitem__(key, value)
        (run / "manifest.json").write_text(json.dumps(manifest))
    return damage


def _meta_edit(**fields):
    def damage(run):
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["synthetic"]["meta"].update(fields)
        (run / "manifest.json").write_text(json.dumps(manifest))
    return damage


def _shape_edit(run):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(run / "synthetic.safetensors"))
    tensors["data.x"] = torch.zeros(10, 1, 4, 4)
    save_file(tensors, str(run / "synthetic.safetensors"))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["synthetic"]["tensors"]["data.x"] = [10, 1, 4, 4]
    manifest.pop("synthetic_sha256")  # a manifest that agrees with its tensors: one of a set written before the digest
    manifest["versions"]["mmdistill"] = "0.1.0"
    (run / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, said, commands", [
    (lambda run: (run / "manifest.json").write_bytes(b"\xff\xfe"), "manifest.json is not UTF-8 text", ("show", "eval", "export")),
    (_manifest_edit(timing={"seconds": "long"}), "manifest.json: a field has an unexpected form", ("show",)),
    (_manifest_edit(recipe=None), "manifest.json has no 'recipe'", ("eval", "check", "export")),
    (_manifest_edit(recipe="image-nosuch"), "manifest.json: unknown recipe 'image-nosuch'", ("eval", "check", "export")),
    (_manifest_edit(format="mmdistill.set/2"), "written by a newer mmdistill", ("show", "eval", "export")),
    (_shape_edit, r"synthetic.safetensors: its samples have shape \(1, 4, 4\), the real samples of digits \(1, 8, 8\)",
     ("eval", "check")),
    (_manifest_edit(modality="graph"), "manifest.json: recipe image-dm is a recipe of modality image, the set's modality is graph",
     ("show", "eval", "check", "export")),  # loaded as a graph set; eval crashed in the graph adapter
    (_manifest_edit(recipe="graph-dm"), "manifest.json: recipe graph-dm is a recipe of modality graph, the set's modality is image",
     ("show", "eval", "check", "export")),  # eval said "unknown graph network 'convnet'"
    (_manifest_edit(ipc=-5), "manifest.json: field 'ipc' is -5", ("show", "eval", "export")),  # the card said "at ipc -5"
    (_meta_edit(mean=["a", "b", "c"]), r"manifest.json: field 'synthetic.meta.mean' is \[\"a\", \"b\", \"c\"\], not numbers",
     ("show", "export")),  # a DataError naming no file, exit 3; then (walk 39A) refused by the statistics check load runs
    (_manifest_edit(dataset="digits\u202egnp.exe"), r"manifest.json: field 'dataset' is .*; a name holds no line break, tab, other "
     r"control or bidi-reordering character", ("show", "export")),  # walk 39A: a bidi override passed (only C0 and DEL were refused)
], ids=["not-utf8", "timing-strings", "no-recipe", "unknown-recipe", "newer-format", "shape-not-the-datasets",
        "modality-not-the-recipes", "recipe-of-another-modality", "negative-ipc", "meta-mean-strings", "bidi-dataset-name"])
def test_damaged_sets_are_named_without_traceback(dm_run, tmp_path, capsys, damage, said, commands):
    import re

    run = _damaged_copy(dm_run, tmp_path, damage)
    for command in commands:
        extra = {"eval": ["--runs", "1", "--epochs", "1", "--no-baselines"], "check": ["--no-write"],
                 "export": ["--to", str(tmp_path / "png")]}.get(command, [])
        code = cli_main([command, str(run), *extra])
        err = capsys.readouterr().err
        assert code == 4 and re.search(said, err) and str(run) in err, (command, err)
    assert not (tmp_path / "png").exists()


def test_eval_write_and_check_refuse_a_folder_they_cannot_write_before_working(dm_run, tmp_path, capsys, monkeypatch):
    """A read-only folder (simulated: root may write anywhere) is named before any network is trained."""
    import tempfile

    from mmdistill.modalities.image import MODALITY

    run = _damaged_copy(dm_run, tmp_path, lambda run: None)
    real_mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == str(run):
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated a set whose results cannot be written")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(type(MODALITY), "evaluate", must_not_run)
    assert cli_main(["eval", str(run), "--runs", "1", "--no-baselines", "--write"]) == 2
    assert f"{run} cannot be written (Permission denied); --write" in capsys.readouterr().err
    assert cli_main(["check", str(run)]) == 2
    assert "pass --no-write to print only" in capsys.readouterr().err


def test_a_run_folder_named_mmdistill_keeps_its_card(dm_run, tmp_path, capsys):
    """Only an export made with --to hf has its card one level up; a run folder called mmdistill is a run."""
    import shutil

    run = tmp_path / "parent" / "mmdistill"
    shutil.copytree(dm_run, run)
    (tmp_path / "parent" / "README.md").write_text("the user's own README")
    assert cli_main(["check", str(run)]) == 0
    assert (tmp_path / "parent" / "README.md").read_text() == "the user's own README"
    assert "Memorisation check" in (run / "README.md").read_text()


def test_eval_takes_a_change_over_a_saved_value_it_replaces(dm_run, tmp_path, capsys):
    """A saved value the checks refuse (hand-edited) does not block eval when the command replaces it."""
    def damage(run):
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["config"]["eval_epochs"] = "many"
        (run / "manifest.json").write_text(json.dumps(manifest))

    run = _damaged_copy(dm_run, tmp_path, damage)
    assert cli_main(["eval", str(run), "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert "eval_epochs" not in capsys.readouterr().err


def test_show_into_a_reader_that_stops_early_ends_quietly(dm_run):
    """``mmdistill show RUN | head -1``: the reader closes the pipe; the command stops with 141 (128 + SIGPIPE) and
    no message (before: 'error: cannot access: Broken pipe', exit 6)."""
    proc = subprocess.Popen([sys.executable, "-m", "mmdistill", "show", str(dm_run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert "error" not in err and "Traceback" not in err and "Broken pipe" not in err


def test_the_headline_names_the_network_its_numbers_are_of(dm_run, capsys):
    """After ``eval --networks`` the headline's numbers are of the named network, not the recipe's own: the line says
    so (before: worded as the run's own headline); with several networks it says the others follow."""
    assert cli_main(["eval", str(dm_run), "--networks", "mlp", "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert "image-dm on digits at ipc 1, scored on mlp: distilled" in capsys.readouterr().out
    assert cli_main(["eval", str(dm_run), "--networks", "lenet,mlp", "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert "image-dm on digits at ipc 1, scored on lenet (and 1 more network, below): distilled" in out and "  mlp: distilled" in out
    assert cli_main(["eval", str(dm_run), "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert "image-dm on digits at ipc 1: distilled" in capsys.readouterr().out  # the recipe's own network: as before


def test_a_set_without_classes_is_not_described_as_one_class(dm_run, capsys):
    """Image-text pairs and sequence summaries are stored as one placeholder class: the card and ``show`` leave the
    class count out for them (before: '10 samples, 1 classes'); a classification set keeps it."""
    from mmdistill.card import classes_phrase, render_card

    manifest = json.loads((dm_run / "manifest.json").read_text())
    assert "10 classes, seed" in render_card(manifest)
    pairs = {**manifest, "recipe": "image-text-lors", "modality": "image_text", "num_classes": 1, "sample_noun": "pair"}
    card = render_card(pairs)
    assert "1 classes" not in card and "10 pairs, seed" in card  # the adapter's noun (before: "samples" for every set)
    assert "10 images, 10 classes" in render_card(manifest) and "for the 10 images they decode to" in render_card(manifest)
    older = {k: v for k, v in manifest.items() if k != "sample_noun"}  # a set made before the noun was recorded
    assert "10 samples, 10 classes" in render_card(older)
    assert (classes_phrase(7), classes_phrase(1), classes_phrase(None)) == ("7 classes, ", "", "")
    assert cli_main(["show", str(dm_run)]) == 0
    assert "dataset digits, 10 classes, ipc 1" in capsys.readouterr().out


def test_the_card_shows_every_score_the_evaluation_took(dm_run):
    """A set scored by several metrics (audio-visual: fused, audio-only and visual-only accuracy) gets a table of all
    of them on its card (before: only the headline; the others were in the manifest alone); one metric: no table."""
    from mmdistill.card import render_card

    manifest = json.loads((dm_run / "manifest.json").read_text())
    assert "Every score the evaluation took" not in render_card(manifest)

    def row(fused: float, audio: float) -> dict:
        one = lambda v: {"mean": v, "std": 0.01, "runs": [v - 0.01, v + 0.01]}  # noqa: E731
        return {**one(fused), "scores": {"accuracy": one(fused), "audio_accuracy": one(audio)}}

    metrics = {**manifest["metrics"], "metric": "fused accuracy", "distilled": row(0.5, 0.4), "random_real": row(0.3, 0.2)}
    metrics.pop("herding", None)
    card = render_card({**manifest, "metrics": metrics})
    assert "| set | accuracy | audio accuracy |" in card
    assert "| distilled | 50.00 ± 1.00 | 40.00 ± 1.00 |" in card and "| random real | 30.00 ± 1.00 | 20.00 ± 1.00 |" in card


def test_a_set_is_not_scored_on_data_with_other_classes(dm_run):
    """``eval`` / ``check`` against data whose classes are not the set's, in its label order (other data with the same
    shapes, or class folders renamed or reordered): a DataError naming both lists and where they part, not a score
    of label i as another class (before: scored silently)."""
    from mmdistill.data import ClassificationData, LabeledTensors
    from mmdistill.errors import DataError
    from mmdistill.io import load_synthetic
    from mmdistill.modality import get_modality
    from mmdistill.share import check_fits_data

    syn, _ = load_synthetic(dm_run)
    modality = get_modality("image")
    x, y = torch.zeros(20, 1, 8, 8), torch.arange(20) % 10

    def data(classes: list[str]) -> ClassificationData:
        return ClassificationData("other", LabeledTensors(x, y, classes), LabeledTensors(x, y, classes))

    check_fits_data(syn, modality, data([str(i) for i in range(10)]), dm_run)  # the digits' own classes
    with pytest.raises(DataError, match=r"distilled for 10 classes \('0', '1', .*the data of other has 10 \('a', 'b'.*differ from label 0 on"):
        check_fits_data(syn, modality, data(list("abcdefghij")), dm_run)
    with pytest.raises(DataError, match="differ from label 8 on"):
        check_fits_data(syn, modality, data([*map(str, range(8)), "9", "8"]), dm_run)


def test_an_evaluation_network_that_cannot_take_the_samples_stops_the_run_before_distilling(tmp_path):
    """A registered network of another modality (ConvNet3D for 8x8 digits): a ConfigError naming eval_networks, the
    data's sample shape and the modality's networks, raised after loading the data and before the first iteration
    (before: the whole distillation ran and the evaluation failed building the network)."""
    import mmdistill.modalities.video  # noqa: F401  (registers convnet3d)
    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"config key eval_networks: network 'convnet3d' does not take digits's samples of shape "
                                          r"\(1, 8, 8\) .*convnet, mlp, lenet") as err:
        image_dm.RECIPE.run(**FAST_DM, eval_networks=["mlp", "convnet3d"], out=str(out))
    assert err.value.key == "eval_networks"
    assert not (out / "checkpoint.safetensors").exists() and not (out / "metrics.jsonl").exists()
    # the networks that take the samples pass the check (built on the meta device: nothing allocated)
    cfg = image_dm.RECIPE.config(**FAST_DM, cross_arch=True)
    from mmdistill.modality import get_modality
    from mmdistill.validation import load_data

    modality = get_modality("image")
    modality.check_evaluation(cfg, load_data(modality, cfg))


def test_a_file_export_says_where_its_set_is_read_from(dm_run, tmp_path):
    """The card of a PNG/WAV export does not tell the user to ``mmdistill.load(".")`` it (that reads a run folder or a
    --to hf export, and failed on the export), and indexes its class folders in classes.json."""
    out = tmp_path / "pngs"
    assert cli_main(["export", str(dm_run), "--to", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert 'mmdistill.load(".")' not in card and 'mmdistill.load("PATH/TO/THE/RUN")' in card and "## This folder" in card
    assert "It holds `0`, `1`," in card and "`classes.json` maps each class folder" in card
    index = json.loads((out / "classes.json").read_text())["classes"]
    assert [(r["label"], r["class"], r["folder"]) for r in index[:2]] == [(0, "0", "0"), (1, "1", "1")]


def test_a_png_export_card_says_how_to_read_it_without_mmdistill(dm_run, tmp_path):
    """A consumer who receives only the PNG folder learns from its card how far the PNGs are from the set (the share of
    pixel values clamped to [0, 1]) and the torchvision lines that rebuild the set's inputs: an "L" loader (ImageFolder
    reads every PNG as RGB), ToTensor and Normalize with the set's statistics; those lines give the set back to 8 bits."""
    from pathlib import Path

    import mmdistill
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    out = tmp_path / "pngs"
    assert cli_main(["export", str(dm_run), "--to", str(out)]) == 0
    card = (out / "README.md").read_text().split("## This folder", 1)[1].split("## How to load", 1)[0]
    ds = mmdistill.load(dm_run)
    n = ds.normalization["x"]
    raw = ds.x * n["std"] + n["mean"]
    share = float(((raw < 0) | (raw > 1)).float().mean())
    assert f"{100 * share:.1f} % of the set's pixel values lay outside [0, 1] and were clamped" in card or share == 0
    mean, std = n["mean"].flatten().tolist(), n["std"].flatten().tolist()
    assert 'loader=lambda p: PIL.Image.open(p).convert("L")' in card and f"Normalize({mean}, {std})" in card
    folder = ImageFolder(str(out), loader=lambda p: Image.open(p).convert("L"), transform=T.Compose([T.ToTensor(), T.Normalize(mean, std)]))
    for path, y in folder.samples:
        i = int(Path(path).stem)
        x, _ = folder[folder.samples.index((path, y))]
        assert y == int(ds.labels[i]) and x.shape == ds.x[i].shape
        assert float(((x - (raw[i].clamp(0, 1) - n["mean"]) / n["std"]) * n["std"]).abs().max()) <= 0.5 / 255 + 1e-6  # 8-bit rounding


def test_a_relative_data_root_that_is_not_here_is_explained(tmp_path, monkeypatch):
    """``eval`` / ``check`` of a run made with ``--data-root data/x`` from another folder: the error says the path is
    relative to where the run was started and names --data-root (before: only 'data root data/x does not exist')."""
    from types import SimpleNamespace

    from mmdistill.share import saved_run_data
    from mmdistill.errors import DataError

    class Missing:
        def load(self, cfg):
            raise DataError(f"data root {cfg.data_root} does not exist")

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"data root data/x does not exist \(the run recorded data_root='data/x', relative to the "
                                        r"folder it was started from, not .*pass --data-root\)"):
        saved_run_data(Missing(), SimpleNamespace(data_root="data/x"), root_given=False)
    for cfg, given in ((SimpleNamespace(data_root="data/x"), True), (SimpleNamespace(data_root=str(tmp_path / "abs")), False)):
        with pytest.raises(DataError, match=r"does not exist$"):  # a root given now, or an absolute one: the loader's words
            saved_run_data(Missing(), cfg, root_given=given)


def test_the_evaluation_network_check_takes_a_network_the_meta_device_cannot_run():
    """A registered network that reads a value while it builds (``int(tensor.prod())``) fails on the meta device but
    works: the check runs it on the CPU then, and accepts it; a network that really cannot take the samples is refused."""
    from torch import nn

    from mmdistill.errors import ConfigError
    from mmdistill.modality import get_modality
    from mmdistill.nets import register_network
    from mmdistill.recipes import image_dm
    from mmdistill.validation import load_data

    class ReadsAValue(nn.Module):
        def __init__(self, in_shape, num_classes):
            super().__init__()
            self.fc = nn.Linear(int(torch.tensor(in_shape).prod()), num_classes)

        def forward(self, x):
            return self.fc(x.flatten(1))

    class WantsEightChannels(nn.Module):
        def __init__(self, in_shape, num_classes):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(8, 4, 3), nn.LazyLinear(num_classes)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    register_network("test-reads-a-value")(ReadsAValue)
    register_network("test-eight-channels")(WantsEightChannels)
    modality = get_modality("image")
    cfg = image_dm.RECIPE.config(**FAST_DM, eval_networks=["test-reads-a-value"])
    data = load_data(modality, cfg)
    modality.check_evaluation(cfg, data)
    with pytest.raises(ConfigError, match="network 'test-eight-channels' does not take digits's samples"):
        modality.check_evaluation(image_dm.RECIPE.config(**FAST_DM, eval_networks=["test-eight-channels"]), data)


def test_a_received_sets_download_is_not_followed_unless_asked(dm_run, tmp_path, capsys, monkeypatch):
    """``eval`` and ``check`` took the sender's ``download: true`` and ``data_root`` and downloaded into that path."""
    import mmdistill.validation
    from mmdistill.errors import DataError

    run = _damaged_copy(dm_run, tmp_path, lambda run: None)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"].update(download=True, data_root=str(tmp_path / "senders-root"))
    (run / "manifest.json").write_text(json.dumps(manifest))
    asked: list[bool] = []

    def no_data(modality, cfg):
        asked.append(cfg.download)
        raise DataError("no data here")

    monkeypatch.setattr(mmdistill.validation, "load_data", no_data)
    for command, extra, allow in (("eval", ["--no-baselines"], "pass download=true"), ("check", ["--no-write"], "pass --download")):
        assert cli_main([command, str(run), *extra]) == 3
        assert (f"{run / 'manifest.json'}: the manifest's config asks for download=True (into data_root="
                f"'{tmp_path / 'senders-root'}'); it is off for this command ({allow} to allow it)") in capsys.readouterr().err
    assert cli_main(["eval", str(run), "--no-baselines", "download=true"]) == 3
    assert cli_main(["check", str(run), "--no-write", "--download"]) == 3
    assert asked == [False, False, True, True] and "asks for download" not in capsys.readouterr().err


def test_eval_without_arguments_names_only_the_folder_as_required(capsys):
    """`mmdistill eval` alone said "the following arguments are required: dir, key=value"; key=value is optional."""
    with pytest.raises(SystemExit) as exit_:
        cli_main(["eval"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "required: dir" in err and "key=value" not in err.split("required:")[1]


def test_eval_reads_flags_spelled_with_underscores(dm_run, capsys):
    """Review 35: `--expert_train_epochs` became readable for run and experts, `eval --no_baselines` stayed refused."""
    assert cli_main(["eval", str(dm_run), "--runs", "1", "--epochs", "1", "--no_baselines"]) == 0
    assert "random_real" not in capsys.readouterr().out


def test_eval_names_a_flag_a_key_value_replaces_and_suggests_a_mistyped_key(dm_run, capsys):
    """Walk 38 #3: `eval RUN eval_runs=1 --runs 2` trained 1 run without a word (run warns), and `eval RUN eval_epoch=1`
    said "Config has no key 'eval_epoch'" (no suggestion, a class name)."""
    assert cli_main(["eval", str(dm_run), "--runs", "2", "--epochs", "1", "--no-baselines", "eval_runs=1"]) == 0
    out = capsys.readouterr()
    assert "config key eval_runs=1 from key=value overrides replaces 2 from --runs" in out.err and "1 run each" in out.err
    assert cli_main(["eval", str(dm_run), "--runs", "1", "--epochs", "1", "--no-baselines", "baselines=random_real"]) == 0
    out = capsys.readouterr()
    assert "config key baselines=random_real from key=value overrides replaces [] from --no-baselines" in out.err
    assert "random_real" in out.err.split("overrides replaces")[1]  # the key=value won
    assert cli_main(["eval", str(dm_run), "eval_epoch=1"]) == 2
    err = capsys.readouterr().err
    assert "image-dm has no evaluation key 'eval_epoch'. Did you mean eval_epochs" in err and "Config" not in err


def test_check_under_torchrun_writes_from_rank_0_only(dm_run, monkeypatch, capsys):
    """torchrun 38 D1: `check` wrote the manifest, card and picture from every rank while only rank 0 held the folder's
    lock; a rank other than 0 now leaves the check and the writing to rank 0."""
    before = {p.name: p.read_bytes() for p in dm_run.iterdir() if p.is_file()}
    monkeypatch.setenv("RANK", "1")
    assert cli_main(["check", str(dm_run)]) == 0
    assert {p.name: p.read_bytes() for p in dm_run.iterdir() if p.is_file()} == before
    assert "memorisation check" not in capsys.readouterr().out


def test_an_out_that_is_the_working_folder_root_or_home_is_refused(tmp_path, monkeypatch, capsys):
    """Walk 39D: ``--out /`` wrote the run's nine files into / among everything else (``.`` and ``..`` alike)."""
    from mmdistill.cli import main

    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for out, said in ((".", "the working folder or one above it"), ("..", "the working folder or one above it"), ("/", "the filesystem root")):
        assert main(["run", "image-dm", "--dataset", "digits", "--ipc", "1", "iterations=1", "--no-progress", "--out", out]) == 2
        assert f"--out {out} is {said}: a run's files would lie loose" in capsys.readouterr().err
    assert list((tmp_path / "work").iterdir()) == []


def test_budget_help_offers_only_the_budgets_a_recipe_has():
    """Walk 43B: clip-finetune's --help offered "cpu: a CPU-sized run" (the generic text) while its choices refuse cpu."""
    from mmdistill.recipe_cli import argument_parser
    from mmdistill.recipes import get_recipe

    def budget_help(name: str) -> str:
        parser = argument_parser(get_recipe(name))
        return next(a.help for a in parser._actions if a.dest == "budget")  # noqa: SLF001

    assert "cpu" not in budget_help("clip-finetune") and "this recipe's only budget" in budget_help("clip-finetune")
    assert "cpu: a CPU-sized run" in budget_help("image-dm")


def test_key_help_names_the_table_rows_that_change_its_default():
    """Walk 52I: `mmdistill run graph-gcond --help` said "default sgc" for --network, although tables/gcond.yaml matches
    ogbn-arxiv and Flickr with sgc-multi; a user reading the help could not know. Each key's line now names the rows
    that set it (counts them, with their lookup names, past four), leaves out the row its default comes from, rows of
    other recipes and the budget rows (the cpu value is given on its own)."""
    from mmdistill.recipe_cli import argument_parser
    from mmdistill.recipes import get_recipe

    def key_help(recipe: str, dest: str) -> str:
        parser = argument_parser(get_recipe(recipe))
        return " ".join(next(a.help for a in parser._actions if a.dest == dest).split())  # noqa: SLF001

    assert key_help("graph-gcond", "network").endswith("default sgc; rows of tables/gcond.yaml set it for: dataset ogbn-arxiv | "
                                                       "dataset flickr")
    iterations = key_help("graph-gcond", "iterations")
    assert "default 2000 from tables/gcond.yaml: dataset *; 5 other rows of tables/gcond.yaml set it by dataset, setting;" in iterations
    assert "budgets.yaml" not in iterations and "--budget cpu: 200" in iterations
    batch = key_help("video-static-dynamic", "batch_train")  # video.yaml's video-dm/video-mtt rows are not this recipe's
    assert "rows of tables/video.yaml set it for: method mtt/tesla, ipc 1 | method mtt/tesla, ipc 5;" in batch
    assert "video-mtt" not in batch and "recipe " not in batch
    assert "rows of" not in key_help("image-dm", "network")  # no row sets it: the class default alone


def test_run_takes_no_baselines_as_eval_does():
    """Walk 52C: `mmdistill eval --no-baselines` exists, `mmdistill run ... --no-baselines` was an unknown key."""
    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.resolve import config_sources
    from mmdistill.recipes import get_recipe

    for name in ("image-dm", "graph-gcond", "sequences-td3"):
        cfg = config_from_argv(get_recipe(name), ["--no-baselines"])
        assert cfg.baselines == [] and config_sources(cfg)["baselines"] == "command-line flags", name
