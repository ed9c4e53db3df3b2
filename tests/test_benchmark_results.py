"""benchmarks/_common.py's result files: a rerun never replaces a recorded result silently, and a result names the
code that measured it (walk 51G, a reviewer running the benchmarks)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


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
