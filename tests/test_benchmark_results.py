"""benchmarks/_common.py's result files: a rerun never replaces a recorded result silently, and a result names the
code that measured it (walk 51G, a reviewer running the benchmarks)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _benchmark(monkeypatch, script: str):
    """``benchmarks/<script>`` imported as a module (its folder on ``sys.path`` for ``_common``; the excepthook
    ``_common`` installs restored after the test)."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "path", [str(BENCHMARKS), *sys.path])
    spec = importlib.util.spec_from_file_location(f"bench_{Path(script).stem}_under_test", BENCHMARKS / script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def common(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # importing _common installs its own; restored after
    spec = importlib.util.spec_from_file_location("bench_common_under_test", BENCHMARKS / "_common.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "RESULTS", tmp_path)
    monkeypatch.delenv("MMDISTILL_BENCH_REPLACE", raising=False)
    return mod


def test_an_earlier_result_is_kept_and_the_new_one_goes_beside_it(common, tmp_path, capsys):
    recorded = tmp_path / "speed.json"
    recorded.write_text('{"recorded": true}\n')
    first = common.write_result("speed", {"ratio": 0.5})
    assert json.loads(recorded.read_text()) == {"recorded": True}
    assert first != recorded and first.parent == tmp_path and first.name.startswith("speed.")
    assert json.loads(first.read_text())["ratio"] == 0.5
    assert "speed.json holds an earlier result" in capsys.readouterr().err
    # a script that writes its name again (after every rate, then with the summary) updates its own file
    again = common.write_result("speed", {"ratio": 0.6})
    assert again == first and json.loads(first.read_text())["ratio"] == 0.6
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["speed.json", first.name])


def test_a_new_name_and_an_asked_replacement_write_the_named_file(common, tmp_path, monkeypatch):
    assert common.write_result("fresh", {"a": 1}) == tmp_path / "fresh.json"
    (tmp_path / "index.json").write_text("{}")
    assert common.write_result("index", {"rows": []}, replace=True) == tmp_path / "index.json"
    (tmp_path / "asked.json").write_text("{}")
    monkeypatch.setenv("MMDISTILL_BENCH_REPLACE", "1")
    path = common.write_result("asked", {"b": 2})
    assert path == tmp_path / "asked.json" and json.loads(path.read_text())["b"] == 2


def test_a_result_names_the_code_that_measured_it(common, tmp_path):
    machine = json.loads(common.write_result("m", {}).read_text())["machine"]
    assert {"mmdistill", "commit", "dirty", "command", "torch", "cpu_model"} <= set(machine)
    assert machine["commit"] is None or len(machine["commit"]) == 40


@pytest.fixture
def bad_inputs(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("bench_bad_inputs_under_test", BENCHMARKS / "bad_inputs.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_the_bad_input_table_names_its_machine_and_code(bad_inputs, tmp_path):
    out = tmp_path / "t.json"
    assert bad_inputs.main(["--only", "no case has this word", "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["cases"] == [] and {"commit", "command", "torch"} <= set(table["machine"])


def test_the_readme_counts_the_bad_input_cases_there_are(bad_inputs):
    import re

    readme = (BENCHMARKS.parent / "README.md").read_text()
    stated = re.search(r"runs (\d+) such cases", readme)
    assert stated and int(stated.group(1)) == len(bad_inputs.cases())


def test_a_result_identifies_the_data_it_names(common, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "x.wav").write_bytes(b"abc")
    tar = tmp_path / "rec.tar"
    tar.write_bytes(b"tarbytes")
    monkeypatch.setattr(sys, "argv", ["bench.py", "--tar", str(tar), "--dataset", "digits"])
    record = json.loads(common.write_result("d", {"runs": [{"config": {"data_root": str(data)}}]}).read_text())
    ids = record["machine"]["data"]
    assert ids[str(tar.resolve())] == {"sha256": __import__("hashlib").sha256(b"tarbytes").hexdigest(), "bytes": 8}
    folder = ids[str(data.resolve())]
    assert folder["files"] == 1 and folder["bytes"] == 3 and len(folder["sha256"]) == 64
    (data / "a" / "x.wav").write_bytes(b"abd")  # same size, other content: another identity
    assert common.data_identity(data)["sha256"] != folder["sha256"]


def test_the_digits_benchmark_reports_each_run_as_it_ends_and_takes_overrides(monkeypatch, tmp_path, capsys):
    from types import SimpleNamespace

    mod = _benchmark(monkeypatch, "image_digits_dm.py")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})  # names written by earlier tests
    calls = []

    def fake_run(**keys):
        calls.append(keys)
        print("RUN", flush=True)
        score = {"mean": 0.9, "std": 0.01, "runs": [0.9]}
        return SimpleNamespace(manifest={"metrics": {"distilled": score, "random_real": score, "herding": score},
                                         "timing": {}, "config": keys})

    monkeypatch.setattr(mod.image_dm, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["image_digits_dm.py", "--ipcs", "1", "--seeds", "0,1", "--name", "smoke",
                                      "iterations=20"])
    mod.main()
    out = capsys.readouterr().out
    assert [c["iterations"] for c in calls] == ["20", "20"] and [c["seed"] for c in calls] == [0, 1]
    # each run is announced before it starts and reported when it ends, not only in the final table
    assert out.index("run 1/2: ipc 1, seed 0") < out.index("RUN") < out.index("run 1/2: distilled") < out.index("run 2/2: ipc 1")
    assert json.loads((tmp_path / "smoke.json").read_text())["overrides"] == {"iterations": "20"}
    monkeypatch.setattr(sys, "argv", ["image_digits_dm.py", "seed=7"])
    with pytest.raises(SystemExit) as stop:
        mod.main()
    assert stop.value.code == 2 and "seed: set by the benchmark" in capsys.readouterr().err and len(calls) == 2


def test_the_reference_timing_reports_each_round(monkeypatch, capsys):
    import torch

    mod = _benchmark(monkeypatch, "reference_speed.py")
    order = []
    times = mod.interleave({"reference": lambda: order.append("r"), "mmdistill": lambda: order.append("m")}, 2,
                           torch.device("cpu"))
    assert order == ["r", "m"] * 3 and [len(t) for t in times.values()] == [2, 2]  # one warm-up, then interleaved
    err = capsys.readouterr().err
    assert "round 1/2: reference" in err and "round 2/2: reference" in err and "mmdistill" in err


def test_the_code_version_is_the_one_the_benchmark_started_with(common, monkeypatch):
    def no_git(*a, **k):
        raise AssertionError("git asked again at write time")

    monkeypatch.setattr(common.subprocess, "run", no_git)
    assert {k: common.machine()[k] for k in ("mmdistill", "commit", "dirty")} == common.CODE_VERSION


def test_the_dm_floor_is_timed_interleaved_with_the_iteration(monkeypatch, capsys):
    """dm_speed times its iteration and floor with the reference timing's interleave (walk 53D: it had a twin of it),
    warm-ups first and no line per round."""
    import torch

    mod = _benchmark(monkeypatch, "dm_speed.py")
    assert mod.interleave is sys.modules["_common"].interleave and not hasattr(mod, "_time_pairs")
    order = []
    times = mod.interleave({"step": lambda: order.append("s"), "floor": lambda: order.append("f")}, 3, torch.device("cpu"),
                           warmup=3, progress=False)
    assert order == ["s", "f"] * 6 and [len(t) for t in times.values()] == [3, 3] and capsys.readouterr().err == ""


def test_a_video_rerun_without_a_tag_is_refused_before_it_runs(monkeypatch, tmp_path, capsys):
    import argparse

    monkeypatch.delenv("MMDISTILL_BENCH_REPLACE", raising=False)
    mod = _benchmark(monkeypatch, "video_moving_digits.py")
    monkeypatch.setattr(mod, "OUT", tmp_path)
    monkeypatch.setattr(mod, "run_recipe", lambda *a, **k: pytest.fail("a recorded result was about to be replaced"))
    (tmp_path / "moving-digits_dm_ipc1.json").write_text('{"recorded": true}')
    monkeypatch.setattr(sys, "argv", ["video_moving_digits.py", "--methods", "dm", "--ipc", "1"])
    with pytest.raises(SystemExit) as stop:
        mod.main()
    assert stop.value.code == 2 and "moving-digits_dm_ipc1.json" in capsys.readouterr().err
    assert (tmp_path / "moving-digits_dm_ipc1.json").read_text() == '{"recorded": true}'
    tagged = argparse.Namespace(methods="dm,whole,decode", dataset="moving-digits", ipc="1,5", tag="seed1")
    assert [p.name for p in mod.result_paths(tagged)] == ["moving-digits_dm_ipc1_seed1.json", "moving-digits_dm_ipc5_seed1.json",
                                                          "moving-digits_whole.json", "kinetics-tiny_decode.json"]


def test_the_cora_benchmark_reports_each_rate_and_identifies_its_data(monkeypatch, tmp_path, capsys):
    from types import SimpleNamespace

    from mmdistill.recipes import graph_gcond

    mod = _benchmark(monkeypatch, "graph_cora.py")
    results = tmp_path / "results"
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", results)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})  # names written by earlier tests
    raw = tmp_path / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    (raw / "ind.cora.x").write_bytes(b"x")
    score = {"mean": 0.8, "std": 0.01, "runs": [0.8]}

    def fake_run(**keys):
        print("RUN", flush=True)
        return SimpleNamespace(manifest={"metrics": {"distilled": score, "random_real": score, "synthetic": {"nodes": 35}},
                                         "timing": {"seconds": 1.0, "eval_seconds": 2.0}, "config": keys},
                               out_dir=tmp_path)

    monkeypatch.setattr(graph_gcond.RECIPE, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["graph_cora.py", "--data-root", str(tmp_path / "planetoid"), "--rates", "0.013,0.026",
                                      "--cross-arch-rate", "0", "--name", "smoke"])
    mod.main()
    out = capsys.readouterr().out
    assert out.index("gcond at 1.3 % (1/2) ...") < out.index("RUN") < out.index("gcond at 1.3 %: condensed 80.00") \
        < out.index("gcond at 2.6 % (2/2) ...")
    record = json.loads((results / "smoke.json").read_text())
    assert str((tmp_path / "planetoid" / "Cora").resolve()) in record["machine"]["data"]  # the source, not the temporary copy


def test_an_audio_visual_rerun_into_recorded_rows_is_refused_before_it_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MMDISTILL_BENCH_REPLACE", raising=False)
    mod = _benchmark(monkeypatch, "audio_visual_digits.py")
    monkeypatch.setattr(mod, "OUT", tmp_path)
    for name in ("run_method", "run_baselines", "run_whole"):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("a recorded row was about to be replaced"))
    (tmp_path / "digits_herding_ipc10.json").write_text('{"recorded": true}')
    monkeypatch.setattr(sys, "argv", ["audio_visual_digits.py", "--data-root", str(tmp_path), "--methods", "dm,baselines",
                                      "--ipc", "1,10"])
    with pytest.raises(SystemExit) as stop:
        mod.main()
    assert stop.value.code == 2 and "digits_herding_ipc10.json" in capsys.readouterr().err
    assert mod.planned_files(["whole", "avdd"], [1], [100, 200]) == ["digits_whole.json", "digits_avdd_ipc1_it100.json",
                                                                    "digits_avdd_ipc1_it200.json"]


def test_every_benchmark_writes_its_json_through_the_one_atomic_writer():
    """Walk 53D: five scripts had their own writer (a ``.tmp`` beside the file, then ``os.replace``: no fsync, a killed
    run's temporary left in benchmarks/results, two runs sharing one temporary); each calls mmdistill.io.write_json."""
    own = [path.name for path in sorted(BENCHMARKS.glob("*.py")) if "os.replace(" in path.read_text()]
    assert own == []


def test_a_video_row_is_written_whole_and_nothing_is_left_beside_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("MMDISTILL_BENCH_REPLACE", raising=False)
    mod = _benchmark(monkeypatch, "video_moving_digits.py")
    monkeypatch.setattr(mod, "OUT", tmp_path)
    monkeypatch.setattr(mod, "run_recipe", lambda *a, **k: {"method": "dm", "ipc": 1, "distilled": {"mean": 0.5}, "seconds": 3})
    monkeypatch.setattr(sys, "argv", ["video_moving_digits.py", "--methods", "dm", "--ipc", "1"])
    assert mod.main() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["moving-digits_dm_ipc1.json"]
    record = json.loads((tmp_path / "moving-digits_dm_ipc1.json").read_text())
    assert list(record) == ["method", "ipc", "distilled", "seconds", "dataset", "machine"] and record["distilled"] == {"mean": 0.5}
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"method": "dm", "ipc": 1, "distilled": {"mean": 0.5}, "seconds": 3}


def test_the_loader_memory_table_goes_beside_a_recorded_one(monkeypatch, tmp_path):
    monkeypatch.delenv("MMDISTILL_BENCH_REPLACE", raising=False)
    mod = _benchmark(monkeypatch, "loader_memory.py")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})
    (tmp_path / "loader_memory.json").write_text('{"recorded": true}')
    monkeypatch.setattr(sys, "argv", ["loader_memory.py", "--only", ""])
    mod.main()
    assert (tmp_path / "loader_memory.json").read_text() == '{"recorded": true}'
    new = [p for p in tmp_path.iterdir() if p.name != "loader_memory.json"]
    assert len(new) == 1 and json.loads(new[0].read_text())["rows"] == []


def test_the_cora_benchmark_names_a_missing_data_root_as_an_error(monkeypatch, tmp_path):
    mod = _benchmark(monkeypatch, "graph_cora.py")
    monkeypatch.setattr(sys, "argv", ["graph_cora.py", "--data-root", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as stop:
        mod.main()
    assert str(stop.value.code).startswith(f"error: {tmp_path / 'nowhere' / 'Cora'}/raw not found")  # as every other script says it


def test_the_continual_benchmark_pools_every_network_of_every_order_through_eval_result(monkeypatch, tmp_path, capsys):
    """benchmarks/continual.py pooled and formatted mean ± std by hand (review 56 R5.7); it now pools with EvalResult and
    prints with _common.pct: on a generated record the JSON's numbers and the printed rows are the population mean and
    std of every network of every order, and the recorded result's summary is what its own per-order runs give."""
    import statistics
    from types import SimpleNamespace

    mod = _benchmark(monkeypatch, "continual.py")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})  # names written by earlier tests
    runs = {0: [[0.9, 0.8], [0.7, 0.6]], 1: [[1.0, 0.5], [0.4, 0.4]]}  # order seed -> per step, the two networks' scores

    def fake_continual(recipe, out, *, order_seed, **kw):
        steps = [{"step": t + 1, "classes_seen": ["c"] * (2 * t + 2),
                  "accuracy": {m: {"mean": statistics.fmean(r), "std": statistics.pstdev(r), "runs": list(r)} for m in mod.MEMORIES}}
                 for t, r in enumerate(runs[order_seed])]
        return SimpleNamespace(class_order=["a", "b"], steps=steps, table=lambda: "TABLE")

    monkeypatch.setattr(mod, "run_continual", fake_continual)
    monkeypatch.setattr(sys, "argv", ["continual.py", "--orders", "0,1", "--steps", "2", "--runs", "2", "--name", "smoke"])
    mod.main()
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "smoke.json").read_text())["summary"]
    for t, classes in enumerate((2, 4)):
        pooled = runs[0][t] + runs[1][t]
        cell = {"mean": statistics.fmean(pooled), "std": statistics.pstdev(pooled), "networks": 4}
        assert summary[t] == {"classes_seen": classes, **{m: cell for m in mod.MEMORIES}}
        row = f"{100 * cell['mean']:.2f} ± {100 * cell['std']:.2f}"
        assert any(line.split("  ")[0].strip() == str(classes) and line.count(row) == 3 for line in out.splitlines())
    recorded = json.loads((BENCHMARKS / "results" / "continual_digits.json").read_text())
    assert mod.pooled_summary(recorded["per_order"]) == recorded["summary"]


def test_the_continual_benchmark_chooses_the_outputs_and_records_them(monkeypatch, tmp_path):
    """benchmarks/continual.py passed no outputs to run_continual (review 56 R6.1), so after the default became one output
    per class of the dataset its documented command for the recorded table (one per class seen) measured another
    protocol and its --keep folders were refused; --outputs now chooses (default run_continual's), reaches every order's
    run and is written into the JSON, and the recorded result, written before the flag, reads as "seen"."""
    from types import SimpleNamespace

    from mmdistill.continual import DEFAULT_OUTPUTS

    mod = _benchmark(monkeypatch, "continual.py")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})
    given = []

    def fake_continual(recipe, out, *, order_seed, outputs, **kw):
        given.append(outputs)
        step = {"step": 1, "classes_seen": ["a", "b"], "accuracy": {m: {"mean": 0.5, "std": 0.0, "runs": [0.5]} for m in mod.MEMORIES}}
        return SimpleNamespace(class_order=["a", "b"], steps=[step], table=lambda: "TABLE")

    monkeypatch.setattr(mod, "run_continual", fake_continual)
    for flags, expected in (([], DEFAULT_OUTPUTS), (["--outputs", "seen"], "seen")):
        given.clear()
        monkeypatch.setattr(sys, "argv", ["continual.py", "--orders", "0,1", "--steps", "1", "--runs", "1", "--name", f"o-{expected}",
                                          *flags])
        mod.main()
        assert given == [expected, expected]
        assert mod.outputs_of(json.loads((tmp_path / f"o-{expected}.json").read_text())) == expected
    assert mod.outputs_of(json.loads((BENCHMARKS / "results" / "continual_digits.json").read_text())) == "seen"


def test_the_membership_benchmark_takes_the_checks_steps(monkeypatch, tmp_path, capsys):
    """benchmarks/membership_digits.py repeated cmd_membership's steps without check_fits_data (review 56 R6.3): a set
    made for other data (classes, shape, a ZCA space) was attacked unchecked; it now takes membership_cli's steps, so
    --epochs 0 is refused before the set is loaded, the data is checked against the set, and the check's own table is
    printed."""
    from types import SimpleNamespace

    from mmdistill.errors import ConfigError
    from mmdistill.recipes import image_dm

    mod = _benchmark(monkeypatch, "membership_digits.py")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["_common"], "_DESTINATIONS", {})
    loaded, checked = [], []
    modality = __import__("mmdistill.modalities.image", fromlist=["MODALITY"]).MODALITY
    monkeypatch.setattr(mod, "load_saved", lambda d: loaded.append(d) or ("SYN", {"recipe": "image-dm"}, None, modality))
    monkeypatch.setattr(mod, "set_dir", lambda d: tmp_path)
    cfg = image_dm.RECIPE.config(dataset="digits", device="cpu")
    monkeypatch.setattr(mod, "saved_real_data", lambda *a: (cfg, "DATA"))
    monkeypatch.setattr("mmdistill.share.check_fits_data", lambda syn, mod_, data, folder: checked.append((syn, data, folder)))
    seen = {}

    def fake_check(cfg, syn, data, modality, **kw):
        seen["epochs"] = cfg.eval_epochs
        return SimpleNamespace(table=lambda: "THE CHECK'S TABLE", as_json=lambda: {"protocol": {}, "models": {}})

    monkeypatch.setattr(mod, "membership_check", fake_check)
    monkeypatch.setattr(sys, "argv", ["membership_digits.py", "some-set", "--epochs", "0", "--name", "m"])
    with pytest.raises(ConfigError, match="--epochs 0"):
        mod.main()
    assert loaded == []
    monkeypatch.setattr(sys, "argv", ["membership_digits.py", "some-set", "--epochs", "3", "--name", "m"])
    mod.main()
    assert checked == [("SYN", "DATA", tmp_path)] and seen == {"epochs": 3}
    assert "THE CHECK'S TABLE" in capsys.readouterr().out and (tmp_path / "m.json").exists()
