"""Expert buffers: files and index, lazy rows, resume per expert and within one, refusals that name the
problem, and sharding over two torchrun processes with no duplicate and no lost expert."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from mmdistill.data import LabeledTensors
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.training import train_epoch
from mmdistill.buffer import ExpertBuffer, ExpertSpec, ParamLayout, shard_name
from mmdistill.experts import ExpertTraining, train_experts
from mmdistill.nets import build_network, reinitialize

ROOT = Path(__file__).resolve().parents[1]


def _net(gen: torch.Generator | None = None) -> torch.nn.Module:
    net = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
    if gen is not None:
        reinitialize(net, gen)
    return net


def _spec(dataset: str = "blobs", network: str = "convnet", classes: int = 3) -> ExpertSpec:
    return ExpertSpec(dataset, network, classes, ParamLayout.of(_net()), [1, 8, 8])


def _train(path: Path, blobs: LabeledTensors, num: int = 3, epochs: int = 3, epoch_fn=None) -> ExpertBuffer:
    training = ExpertTraining(num_experts=num, epochs=epochs, lr=0.05, batch_size=12)
    fn = epoch_fn or (lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen))
    return train_experts(path, _spec(), training, _net, fn, progress=False)


def test_layout_round_trip():
    net = _net(torch.Generator().manual_seed(0))
    layout = ParamLayout.of(net)
    flat = layout.flatten(net)
    assert flat.shape == (layout.num_params,)
    other = _net(torch.Generator().manual_seed(1))
    layout.load_into(other, flat)
    assert torch.equal(layout.flatten(other), flat)
    views = layout.unflatten(flat)
    assert list(views) == [n for n, _ in net.named_parameters()]
    with pytest.raises(ConfigError, match="flat parameter vector"):
        layout.unflatten(flat[:-1])


def test_buffer_files_index_and_lazy_rows(tmp_path, blobs):
    buf = _train(tmp_path / "buf", blobs)
    assert buf.num_experts == 3 and buf.epochs == 3
    assert sorted(p.name for p in (tmp_path / "buf").iterdir()) == ["expert_0000.safetensors", "expert_0001.safetensors",
                                                                  "expert_0002.safetensors", "index.json"]
    index = json.loads((tmp_path / "buf" / "index.json").read_text())
    assert index["spec"]["dataset"] == "blobs" and len(index["experts"][0]["scores"]) == 3
    rows = buf.rows(1, [0, 3])
    assert rows.shape == (2, buf.num_params)
    assert not torch.equal(rows[0], rows[1])  # the expert moved
    # row 0 is the seeded initialisation of expert 1, whoever trained it
    from mmdistill.seeding import generator

    assert torch.equal(rows[0], ParamLayout.of(_net()).flatten(_net(generator(0, "expert", 1))))
    with pytest.raises(ConfigError, match="outside"):
        buf.rows(0, [4])


def test_finished_experts_are_kept_and_a_lost_one_is_retrained(tmp_path, blobs):
    path = tmp_path / "buf"
    first = _train(path, blobs)
    before = {i: first.rows(i, [3]) for i in range(3)}
    mtimes = {i: (path / shard_name(i)).stat().st_mtime_ns for i in range(3)}
    (path / shard_name(1)).unlink()
    calls = []
    again = _train(path, blobs, epoch_fn=lambda n, o, g: calls.append(1) or train_epoch(n, o, blobs.x, blobs.y, 12, g))
    assert len(calls) == 3  # only expert 1's three epochs
    assert (path / shard_name(0)).stat().st_mtime_ns == mtimes[0]
    for i in range(3):
        assert torch.equal(again.rows(i, [3]), before[i])


def _interrupted_at(call: int, blobs):
    """An epoch function that trains as usual but raises KeyboardInterrupt (a Ctrl-C) at its ``call``-th call, and
    the counter of its calls."""
    calls = {"n": 0}

    def flaky(net, opt, gen):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return train_epoch(net, opt, blobs.x, blobs.y, 12, gen)

    return calls, flaky


def test_an_interrupted_expert_resumes_from_its_last_epoch(tmp_path, blobs):
    reference = _train(tmp_path / "ref", blobs, num=1, epochs=4)
    calls, flaky = _interrupted_at(3, blobs)

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "buf", blobs, num=1, epochs=4, epoch_fn=flaky)
    assert (tmp_path / "buf" / "expert_0000.partial.safetensors").exists()
    resumed = _train(tmp_path / "buf", blobs, num=1, epochs=4, epoch_fn=flaky)  # epochs 2 and 3 only
    assert calls["n"] == 5
    assert torch.equal(resumed.rows(0, [0, 1, 2, 3, 4]), reference.rows(0, [0, 1, 2, 3, 4]))
    assert not (tmp_path / "buf" / "expert_0000.partial.safetensors").exists()


def _stopped_partial(tmp_path, blobs):
    """An expert (1 of 1, 4 epochs) stopped at its third epoch: its partial file, that file's header fields and the
    ``epoch_fn`` that stopped it (which lets a later call finish)."""
    from safetensors import safe_open

    calls, flaky = _interrupted_at(3, blobs)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "buf", blobs, num=1, epochs=4, epoch_fn=flaky)
    part = tmp_path / "buf" / "expert_0000.partial.safetensors"
    with safe_open(str(part), "pt") as fh:
        return part, dict(fh.metadata()), flaky


def test_a_partial_expert_with_a_damaged_header_is_named_not_a_traceback(tmp_path, blobs):
    """A partial shard whose header field is nested too deeply (or is not JSON) raised RecursionError /
    JSONDecodeError from json.loads; it is an ArtifactError naming the file and the field."""
    from safetensors.torch import load_file, save_file

    from mmdistill.errors import ArtifactError

    part, meta, flaky = _stopped_partial(tmp_path, blobs)
    for field, value in (("scores", "[" * 100000 + "]" * 100000), ("header", "{not json")):
        save_file(load_file(str(part)), str(part), metadata={**meta, field: value})
        with pytest.raises(ArtifactError, match=rf"expert_0000.partial.safetensors: its header field '{field}' is"):
            _train(tmp_path / "buf", blobs, num=1, epochs=4, epoch_fn=flaky)


def _momentum_bad(tensors):
    tensors["momentum.abc"] = torch.zeros(3)


@pytest.mark.parametrize("edit, said", [
    (lambda t, m: t.pop("trajectory"), "has no 'trajectory' tensor"),  # KeyError before
    (lambda t, m: _momentum_bad(t), r"tensor 'momentum.abc' names no parameter of the expert's optimizer"),  # ValueError before
    (lambda t, m: t.update(trajectory=torch.cat([t["trajectory"]] * 3)), r"its trajectory is float32 of shape \[9, "),
    (lambda t, m: t["trajectory"][1, :3].fill_(float("nan")), r"holds NaN or infinite parameters \(row\(s\) \[1\]\)"),
    (lambda t, m: t.update(trajectory=torch.zeros(2, 10)), r"its trajectory is float32 of shape \[2, 10\]; expected floats"),
    (lambda t, m: m.update(scores='{"a": 1}'), r"its header field 'scores' must list 2 finite numbers or nulls"),
    (lambda t, m: m.update(seconds="nan"), r"its header field 'seconds' is 'nan'"),
    (lambda t, m: m.update(expert="5"), r"its header says expert '5'; the file of expert 0 holds it"),
], ids=["no-trajectory", "momentum-name", "more-rows-than-epochs", "nan-rows", "another-network", "scores-object", "seconds-nan",
        "another-expert"])
def test_a_crafted_partial_expert_is_named_before_training_continues(tmp_path, blobs, edit, said):
    """Walk 49A: a buffer received while it was trained holds an unfinished expert's partial file; one without a
    trajectory or with a momentum tensor named for no parameter stopped `experts` with a traceback, one with NaN rows
    said 'lower lr_teacher', one of another network 'a flat parameter vector ... was expected' (no file named), one of
    more rows than epochs was written into the buffer as a shard it then refused. Each is named as the partial's damage."""
    from safetensors.torch import load_file, save_file

    from mmdistill.errors import ArtifactError

    part, meta, flaky = _stopped_partial(tmp_path, blobs)
    tensors = load_file(str(part))
    assert tensors["trajectory"].shape[0] == 3  # the initialisation and 2 finished epochs
    edit(tensors, meta)
    save_file(tensors, str(part), metadata=meta)
    with pytest.raises(ArtifactError, match=said) as err:
        _train(tmp_path / "buf", blobs, num=1, epochs=4, epoch_fn=flaky)
    assert str(part) in str(err.value) and "delete it to start that expert over" in str(err.value)
    assert not (tmp_path / "buf" / "expert_0000.safetensors").exists()


def test_buffer_for_another_setting_is_refused_with_the_mismatch_named(tmp_path, blobs):
    buf = _train(tmp_path / "buf", blobs, num=1, epochs=1)
    with pytest.raises(ConfigError, match=r"dataset: buffer 'blobs', this run 'digits'"):
        buf.check(_spec(dataset="digits"))
    with pytest.raises(ConfigError, match="network: buffer 'convnet', this run 'mlp'"):
        buf.check(_spec(network="mlp"))
    with pytest.raises(ConfigError, match="num classes: buffer 3, this run 10"):
        buf.check(_spec(classes=10))
    with pytest.raises(ConfigError, match="trained differently"):
        train_experts(tmp_path / "buf", _spec(), ExpertTraining(num_experts=1, epochs=1, lr=0.1, batch_size=12), _net,
                      lambda n, o, g: 0.0, progress=False)


def test_missing_or_truncated_shard_is_named(tmp_path, blobs):
    path = tmp_path / "buf"
    _train(path, blobs, num=2, epochs=2)
    shard = path / shard_name(1)
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="expert_0001.safetensors.*(truncated|unreadable)"):
        ExpertBuffer(path).rows(1, [0, 1])
    shard.unlink()
    with pytest.raises(ArtifactError, match="expert_0001.safetensors"):
        ExpertBuffer(path)
    with pytest.raises(ArtifactError, match="no index.json"):
        ExpertBuffer(tmp_path / "nothing")


_WORKER = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from mmdistill.data import LabeledTensors
    from mmdistill.training import train_epoch
    from mmdistill.buffer import ExpertSpec, ParamLayout
    from mmdistill.experts import ExpertTraining, init_workers, close_workers, train_experts
    from mmdistill.nets import build_network, reinitialize

    g = torch.Generator().manual_seed(0)
    x = torch.randn(36, 1, 8, 8, generator=g); y = torch.arange(36) % 3
    def net(gen=None):
        n = build_network("convnet", (1, 8, 8), 3, width=8, depth=2)
        if gen is not None: reinitialize(n, gen)
        return n
    workers = init_workers(torch.device("cpu"))
    spec = ExpertSpec("blobs", "convnet", 3, ParamLayout.of(net()), [1, 8, 8])
    train_experts(sys.argv[1], spec, ExpertTraining(num_experts=5, epochs=2, lr=0.05, batch_size=12), net,
                  lambda n, o, gen: train_epoch(n, o, x, y, 12, gen), workers=workers, progress=False)
    open(f"{sys.argv[1]}.rank{workers.rank}-of-{workers.world}", "w").close()  # ranks print concurrently; mark with files
    close_workers(workers)
    """
)


def test_two_torchrun_processes_split_the_experts(tmp_path, run_process_group):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    two = run_process_group([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path / "two")])
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    assert (tmp_path / "two.rank0-of-2").exists() and (tmp_path / "two.rank1-of-2").exists()
    one = run_process_group([sys.executable, str(script), str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-2000:]
    index = json.loads((tmp_path / "two" / "index.json").read_text())
    assert [e["expert"] for e in index["experts"]] == [0, 1, 2, 3, 4]  # none lost, none twice
    assert [e["rank"] for e in index["experts"]] == [0, 1, 0, 1, 0]
    a, b = ExpertBuffer(tmp_path / "one"), ExpertBuffer(tmp_path / "two")
    for i in range(5):
        assert torch.equal(a.rows(i, [0, 2]), b.rows(i, [0, 2]))  # the same buffer as one process makes


def test_experts_on_threads_equal_experts_alone(tmp_path, blobs):
    """Two experts at a time on threads (one intra-op thread each) give, bit for bit, the trajectories of the
    same experts trained one after the other on one intra-op thread."""
    from mmdistill.augment import DSA

    aug = DSA("color_crop_cutout_scale_rotate")
    training = ExpertTraining(num_experts=3, epochs=2, lr=0.05, batch_size=12)
    fn = lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen, augment=aug)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = train_experts(tmp_path / "alone", _spec(), training, _net, fn, progress=False)
        torch.set_num_threads(2)
        together = train_experts(tmp_path / "together", _spec(), training, _net, fn, progress=False, threads=2)
    finally:
        torch.set_num_threads(before)
    for i in range(3):
        assert torch.equal(alone.rows(i, [0, 1, 2]), together.rows(i, [0, 1, 2]))


def test_expert_threads_default_by_adapter_and_network():
    from types import SimpleNamespace

    from mmdistill.expert_runs import expert_threads
    from mmdistill.concurrency import default_threads

    cfg = SimpleNamespace(expert_threads=None)
    seeded, unseeded = SimpleNamespace(seeded_experts=True), SimpleNamespace(seeded_experts=False)
    cpu = torch.device("cpu")
    assert expert_threads(cfg, seeded, _net, None, cpu) == default_threads(cpu)
    assert expert_threads(cfg, unseeded, _net, None, cpu) == 1
    dropout = lambda gen: torch.nn.Sequential(_net(gen), torch.nn.Dropout(0.1))
    assert expert_threads(cfg, seeded, dropout, None, cpu) == 1
    assert expert_threads(SimpleNamespace(expert_threads=3), unseeded, _net, None, cpu) == 3
    # review 40: a dropout network's experts on threads would draw from one global generator in scheduling order
    assert expert_threads(SimpleNamespace(expert_threads=3), unseeded, dropout, None, cpu) == 1


def _rewrite_index(path: Path, change) -> None:
    index = json.loads((path / "index.json").read_text())
    (path / "index.json").write_text(json.dumps(change(index)))


@pytest.mark.parametrize("change, message", [
    (lambda d: [1, 2], "expected a JSON object, got list"),
    (lambda d: {k: v for k, v in d.items() if k != "experts"}, "field 'experts' must be a list"),
    (lambda d: {k: v for k, v in d.items() if k != "spec"}, "field 'spec' must be an object"),
    (lambda d: {**d, "training": {**d["training"], "epochs": "abc"}}, r"field 'training.epochs' must be an integer >= 1, got 'abc'"),
    (lambda d: {**d, "experts": [{"x": 1}]}, r"experts\[0\] must be"),
    (lambda d: {**d, "experts": [{"expert": 0, "file": "../elsewhere.safetensors"}]}, r"experts\[0\] must be"),
    # walk 49A: an index listing an expert twice was accepted and that expert drawn twice as often (a received buffer)
    (lambda d: {**d, "experts": d["experts"] * 3}, r"field 'experts' lists expert\(s\) \[0\] more than once"),
])
def test_a_malformed_index_is_named_not_a_traceback(tmp_path, blobs, change, message):
    path = tmp_path / "buf"
    _train(path, blobs, num=1, epochs=1)
    _rewrite_index(path, change)
    with pytest.raises(ArtifactError, match=message):
        ExpertBuffer(path)
    with pytest.raises(ArtifactError, match=message):  # adding experts reads the same index
        _train(path, blobs, num=2, epochs=1)


def test_damaged_shards_are_named_when_the_buffer_opens(tmp_path, blobs):
    from safetensors.torch import save_file

    path = tmp_path / "buf"
    buf = _train(path, blobs, num=2, epochs=1)
    shard = path / shard_name(1)
    save_file({"trajectory": torch.zeros(2, buf.num_params, dtype=torch.float16)}, str(shard), metadata={"expert": "1"})
    with pytest.raises(ArtifactError, match="expert_0001.safetensors holds a F16 trajectory"):
        ExpertBuffer(path)  # at opening, not at the iteration that draws expert 1
    save_file({"trajectory": torch.full((2, buf.num_params), float("nan"))}, str(shard), metadata={"expert": "1"})
    with pytest.raises(ArtifactError, match="expert_0001.safetensors holds non-finite parameters"):
        ExpertBuffer(path).rows(1, [0, 1])


def test_a_buffer_path_that_is_a_file_is_refused(tmp_path, blobs):
    (tmp_path / "buf").write_text("notes")
    with pytest.raises(ConfigError, match="is a file; expected a directory"):
        _train(tmp_path / "buf", blobs, num=1, epochs=1)
    assert (tmp_path / "buf").read_text() == "notes"


def test_shards_of_another_setting_are_kept_and_refused_not_replaced(tmp_path, blobs):
    path = tmp_path / "buf"
    _train(path, blobs, num=2, epochs=2)
    (path / "index.json").unlink()  # an unfinished buffer: its shards are reused only when trained the same way
    before = (path / shard_name(0)).read_bytes()
    with pytest.raises(ConfigError, match=r"expert_0000.safetensors holds an expert trained for another setting \(epochs: shard 2 vs asked 3\)"):
        _train(path, blobs, num=2, epochs=3)
    assert (path / shard_name(0)).read_bytes() == before
    other = ExpertTraining(num_experts=2, epochs=2, lr=0.5, batch_size=12)
    with pytest.raises(ConfigError, match=r"lr: shard 0.05 vs asked 0.5"):
        train_experts(path, _spec(), other, _net, lambda n, o, g: 0.0, progress=False)
    assert (path / shard_name(0)).read_bytes() == before
    assert _train(path, blobs, num=2, epochs=2).num_experts == 2  # the same keys finish it


def test_asking_for_fewer_experts_never_shrinks_a_buffer(tmp_path, blobs, caplog):
    path = tmp_path / "buf"
    _train(path, blobs, num=3, epochs=1)
    with caplog.at_level("INFO", logger="mmdistill.experts"):
        assert _train(path, blobs, num=1, epochs=1).num_experts == 3
    assert json.loads((path / "index.json").read_text())["training"]["num_experts"] == 3
    assert "holds all 3 experts of 1 epochs; nothing to train" in caplog.text and "training 1 " not in caplog.text


def test_the_log_says_how_many_experts_it_trains_after_checking_the_buffer(tmp_path, blobs, caplog):
    """Before: 'training 6 experts' when 4 were there and 2 were trained, and 'training 2 experts' for a buffer of another
    setting, just before refusing it."""
    path = tmp_path / "buf"
    _train(path, blobs, num=2, epochs=1)
    with caplog.at_level("INFO", logger="mmdistill.experts"):
        _train(path, blobs, num=3, epochs=1)
    assert f"training 1 of 3 experts for 1 epochs into {path} (2 already there)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="mmdistill.experts"), pytest.raises(ConfigError):
        _train(path, blobs, num=4, epochs=2)
    assert "training" not in caplog.text


def test_an_interrupted_expert_resumes_when_experts_are_added(tmp_path, blobs):
    calls, flaky = _interrupted_at(2, blobs)

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "buf", blobs, num=1, epochs=3, epoch_fn=flaky)
    buf = _train(tmp_path / "buf", blobs, num=2, epochs=3, epoch_fn=flaky)  # the partial of expert 0 is still used
    assert buf.num_experts == 2 and calls["n"] == 2 + 2 + 3


def test_a_buffer_trained_on_other_data_is_refused_naming_it(tmp_path, blobs):
    """The spec records a fingerprint of the training split (sample count and a digest of the labels): a buffer
    trained on another split of the same dataset name and shape is refused naming what differs (before: only the
    name, network, class count and layout were compared, and it was accepted)."""
    from types import SimpleNamespace

    from mmdistill.expert_runs import data_fingerprint

    fingerprint = data_fingerprint(SimpleNamespace(train=blobs))
    assert fingerprint is not None and fingerprint["train_samples"] == 36
    training = ExpertTraining(num_experts=1, epochs=1, lr=0.05, batch_size=12)
    spec = ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 8, 8], fingerprint)
    buf = train_experts(tmp_path / "buf", spec, training, _net, lambda n, o, g: 0.0, progress=False)
    assert json.loads((tmp_path / "buf" / "index.json").read_text())["spec"]["data"] == fingerprint
    buf.check(spec)
    fewer = LabeledTensors(blobs.x[:30], blobs.y[:30], blobs.classes)
    with pytest.raises(ConfigError, match=r"training data's train samples: buffer 36, this run 30"):
        buf.check(ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 8, 8], data_fingerprint(SimpleNamespace(train=fewer))))
    relabelled = LabeledTensors(blobs.x, blobs.y.flip(0), blobs.classes)
    other = ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 8, 8], data_fingerprint(SimpleNamespace(train=relabelled)))
    with pytest.raises(ConfigError, match=r"training data's train labels: buffer '[0-9a-f]{16}', this run '[0-9a-f]{16}'"):
        buf.check(other)
    with pytest.raises(ConfigError, match=r"holds experts for another setting \(training data's train labels"):
        train_experts(tmp_path / "buf", other, training, _net, lambda n, o, g: 0.0, progress=False)
    with pytest.raises(ConfigError, match=r"sample shape: buffer \[1, 8, 8\], this run \[1, 16, 16\]"):
        buf.check(ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 16, 16], fingerprint))


def test_a_buffer_written_before_data_fingerprints_is_accepted_with_one_line(tmp_path, blobs, caplog):
    """An index (and shards) without ``spec.data`` nor ``sample_shape`` (an older mmdistill) is accepted with one
    warning that its data could not be checked; adding experts to it keeps it so (its index claims no fingerprint
    its first experts were not checked against)."""
    import logging

    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path / "buf"
    _train(path, blobs, num=1, epochs=1)

    def old(spec: dict) -> dict:
        return {k: v for k, v in spec.items() if k != "data"} | {"sample_shape": None}

    _rewrite_index(path, lambda d: {**d, "spec": old(d["spec"])})
    with safe_open(str(path / shard_name(0)), framework="pt") as fh:
        meta, rows = fh.metadata(), fh.get_tensor("trajectory")
    header = json.loads(meta["header"])
    save_file({"trajectory": rows}, str(path / shard_name(0)), metadata={**meta, "header": json.dumps({**header, "spec": old(header["spec"])})})
    spec = ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 8, 8], {"train_samples": 36, "train_labels": "0" * 16})
    with caplog.at_level(logging.WARNING, logger="mmdistill.buffer"):
        ExpertBuffer(path).check(spec)
    lines = [r.getMessage() for r in caplog.records if "could not be checked" in r.getMessage()]
    assert len(lines) == 1 and "training data" in lines[0] and "sample shape" in lines[0], lines
    training = ExpertTraining(num_experts=2, epochs=1, lr=0.05, batch_size=12)
    buf = train_experts(path, spec, training, _net, lambda n, o, g: 0.0, progress=False)  # the old shard is kept, one added
    assert buf.num_experts == 2 and buf.index["spec"].get("data") is None and buf.index["spec"]["sample_shape"] is None


def test_an_older_unfinished_buffer_is_finished_without_claiming_what_it_never_recorded(tmp_path, blobs, caplog):
    """An older mmdistill's buffer stopped before its index (a finished shard and an interrupted expert, neither
    recording the training-data fingerprint) was finished with an index claiming this run's fingerprint: runs then took
    it as checked against data its first experts never saw (walk 44A). Its index and the continued expert's shard
    claim only what the old files recorded, with a warning naming each."""
    import logging

    from safetensors import safe_open
    from safetensors.torch import save_file

    from mmdistill import experts
    from mmdistill.buffer import INDEX_FILE, partial_name

    path = tmp_path / "buf"
    _train(path, blobs, num=2, epochs=2)

    def old(header: dict) -> dict:
        return {**header, "spec": {k: v for k, v in header["spec"].items() if k != "data"} | {"sample_shape": None}}

    (path / INDEX_FILE).unlink()
    with safe_open(str(path / shard_name(0)), framework="pt") as fh:
        meta, rows = fh.metadata(), fh.get_tensor("trajectory")
    save_file({"trajectory": rows}, str(path / shard_name(0)), metadata={**meta, "header": json.dumps(old(json.loads(meta["header"])))})
    with safe_open(str(path / shard_name(1)), framework="pt") as fh:
        meta, rows = fh.metadata(), fh.get_tensor("trajectory")
    (path / shard_name(1)).unlink()  # expert 1 stopped after its first epoch, by the older version
    net = _net()
    experts._save_partial(path / partial_name(1), list(rows[:2].unbind(0)), torch.optim.SGD(net.parameters(), lr=0.05),
                          [None], 1.0, old(json.loads(meta["header"])), 1)
    spec = ExpertSpec("blobs", "convnet", 3, ParamLayout.of(_net()), [1, 8, 8], {"train_samples": 36, "train_labels": "0" * 16})
    with caplog.at_level(logging.WARNING, logger="mmdistill.experts"):
        buf = train_experts(path, spec, ExpertTraining(num_experts=2, epochs=2, lr=0.05, batch_size=12), _net,
                            lambda n, o, g: 0.0, progress=False)
    assert buf.index["spec"].get("data") is None and buf.index["spec"]["sample_shape"] is None
    assert f"{path / partial_name(1)} (an interrupted expert of an older mmdistill) does not record" in caplog.text
    assert f"{path / shard_name(0)} was written by an older mmdistill" in caplog.text
    with safe_open(str(path / shard_name(1)), framework="pt") as fh:
        assert json.loads(fh.metadata()["header"])["spec"].get("data") is None


def test_an_interrupted_experts_command_says_to_run_it_again_not_to_resume(tmp_path, monkeypatch, capsys):
    """Ctrl-C in `mmdistill experts` said "continue with the same command and --resume (the last checkpoint is kept)":
    the command has no --resume and no checkpoint; its buffer keeps finished experts and epochs."""
    from mmdistill import expert_runs
    from mmdistill.cli import main as cli_main

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(expert_runs, "train_buffer", interrupted)
    code = cli_main(["experts", "image-mtt", "--dataset", "digits", "--buffer", str(tmp_path / "buf"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130 and f"interrupted; {tmp_path / 'buf'} keeps every finished expert" in err
    assert "run the same command again to continue (no --resume needed)" in err and "last checkpoint" not in err


def test_experts_added_to_a_buffer_whose_fingerprint_has_fewer_fields(tmp_path, blobs):
    """A buffer written before a fingerprint field existed (image-text's image_weights): adding experts raised a
    TypeError (dataclasses.replace got 'data.image_weights'), and its shards were refused as another setting. They are
    compared on the fields both record, and the index keeps claiming only those."""
    fn = lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen)  # noqa: E731
    training = ExpertTraining(num_experts=1, epochs=1, lr=0.05, batch_size=12)
    old = dataclasses.replace(_spec(), data={"train_samples": 48})
    train_experts(tmp_path / "buf", old, training, _net, fn, progress=False)
    new = dataclasses.replace(_spec(), data={"train_samples": 48, "image_weights": "none (random init)"})
    grown = train_experts(tmp_path / "buf", new, dataclasses.replace(training, num_experts=2), _net, fn, progress=False)
    assert grown.num_experts == 2
    assert json.loads((tmp_path / "buf" / "index.json").read_text())["spec"]["data"] == {"train_samples": 48}
    other = dataclasses.replace(_spec(), data={"train_samples": 50, "image_weights": "none (random init)"})
    with pytest.raises(ConfigError, match="train samples: buffer 48, this run 50"):
        train_experts(tmp_path / "buf", other, dataclasses.replace(training, num_experts=3), _net, fn, progress=False)


def test_a_run_folder_given_as_buffer_is_refused_pointing_at_its_experts(tmp_path):
    """Walk 35B D3: `--buffer RUN` (a run that keeps its buffer in RUN/experts) trained a new buffer beside the run's
    manifest and set, silently passing over the finished one."""
    from types import SimpleNamespace

    from mmdistill.expert_runs import buffer_dir

    run = tmp_path / "run"
    (run / "experts").mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"buffer=.*run is a run's folder, not an expert buffer: .* in .*run/experts; pass that"):
        buffer_dir(SimpleNamespace(buffer=str(run)), None)
    assert buffer_dir(SimpleNamespace(buffer=str(run / "experts")), None) == run / "experts"
    assert buffer_dir(SimpleNamespace(buffer=str(tmp_path / "new")), None) == tmp_path / "new"


def test_a_folder_of_mtt_replay_buffers_given_as_buffer_is_refused_not_trained_into(tmp_path):
    """Walk 51D: `run image-mtt --buffer DIR` with DIR holding MTT's replay_buffer_*.pt (the reference's buffer.py
    layout) warned that DIR "holds no finished expert buffer" and trained five new experts into it, beside the user's
    files; the folder is refused, naming the conversion."""
    from types import SimpleNamespace

    from mmdistill.expert_runs import buffer_dir

    mtt = tmp_path / "CIFAR10_NO_ZCA" / "ConvNet"
    mtt.mkdir(parents=True)
    torch.save([[[torch.zeros(2)]]], mtt / "replay_buffer_0.pt")
    with pytest.raises(ConfigError, match=r"holds MTT's replay_buffer_\*\.pt files, not an mmdistill buffer .*mmdistill import"):
        buffer_dir(SimpleNamespace(buffer=str(mtt)), None)
    assert sorted(p.name for p in mtt.iterdir()) == ["replay_buffer_0.pt"]


def test_the_experts_command_names_the_validation_split_it_scored_on(tmp_path, capsys):
    """Walk 35B D4: `mmdistill experts ... validation=0.1` printed a "final test score" measured on the validation part."""
    from mmdistill.cli import main

    args = ["experts", "image-mtt", "--dataset", "digits", "--buffer", str(tmp_path / "b"), "num_experts=1",
            "expert_train_epochs=1", "max_start_epoch=1", "expert_epochs=1", "validation=0.1", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "final validation score" in out and "test score" not in out, out


def test_a_buffer_of_inputs_prepared_otherwise_is_refused_naming_the_settings(tmp_path):
    """Walk 35A D2: a buffer trained on standardised features was reused by a run without standardisation (the
    fingerprint held counts and labels only; the run then diverged blaming its step sizes). A loader's
    meta["preprocessing"] joins the fingerprint; audio records its normalisation, video files their frame sampling."""
    from mmdistill.buffer import spec_mismatch
    from mmdistill.data import ClassificationData, LabeledTensors
    from mmdistill.expert_runs import data_fingerprint

    def data(prep):
        split = LabeledTensors(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]), ["a", "b"])
        return ClassificationData("t", train=split, test=split, meta={"preprocessing": prep})

    a, b = data_fingerprint(data({"normalize": "coefficient"})), data_fingerprint(data({"normalize": "channel"}))
    assert a["preprocessing"] == {"normalize": "coefficient"} and a != b
    from mmdistill.buffer import ExpertSpec, ParamLayout

    layout = ParamLayout.of(torch.nn.Linear(2, 2))
    saved = ExpertSpec("t", "mlp", 2, layout, [2], a).as_json()
    said = spec_mismatch(saved, ExpertSpec("t", "mlp", 2, layout, [2], b))
    assert "training data's preprocessing: buffer {'normalize': 'coefficient'}, this run {'normalize': 'channel'}" in said
    older = {**saved, "data": {k: v for k, v in a.items() if k != "preprocessing"}}  # a buffer from before: accepted
    assert spec_mismatch(older, ExpertSpec("t", "mlp", 2, layout, [2], b)) == ""


def test_experts_of_a_dropout_network_are_the_same_however_the_buffer_is_made(tmp_path, blobs):
    """Walk 40B: a network with dropout drew from torch's global generator, whose state at expert 1 depended on what
    ran before it in the process (expert 0 in one go; nothing under torchrun or when a buffer grew), so expert 1 of one
    buffer differed from expert 1 of another. Each epoch now has a global seed of its own."""
    def net_with_dropout(gen: torch.Generator | None = None) -> torch.nn.Module:
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                  torch.nn.Linear(16, 3))
        if gen is not None:
            reinitialize(net, gen)
        return net

    spec = ExpertSpec("blobs", "mlp-dropout", 3, ParamLayout.of(net_with_dropout()), [1, 8, 8])
    fn = lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen)
    two = ExpertTraining(num_experts=2, epochs=3, lr=0.05, batch_size=12)
    torch.manual_seed(0)
    at_once = train_experts(tmp_path / "once", spec, two, net_with_dropout, fn, progress=False)
    torch.manual_seed(0)
    train_experts(tmp_path / "grown", spec, dataclasses.replace(two, num_experts=1), net_with_dropout, fn, progress=False)
    torch.manual_seed(123)  # another process, or other work before the buffer grows
    grown = train_experts(tmp_path / "grown", spec, two, net_with_dropout, fn, progress=False)
    for i in range(2):
        assert torch.equal(at_once.rows(i, [0, 1, 2, 3]), grown.rows(i, [0, 1, 2, 3]))
    assert not torch.equal(at_once.rows(0, [3]), at_once.rows(1, [3]))


def _aged(path: Path, seconds: float) -> Path:
    import os
    import time

    when = time.time() - seconds
    for p in [path, *(path.iterdir() if path.is_dir() and not path.is_symlink() else [])]:
        os.utime(p, (when, when), follow_symlinks=False)
    return path


def _killed_write(folder: Path, name: str, random: str, age_s: float) -> Path:
    """A private temporary folder of an atomic write of ``name`` killed inside safetensors (its `.tmpXXXXXX` in it)."""
    tmp = folder / f".{name}.{random}.tmp"
    tmp.mkdir(parents=True)
    (tmp / name).write_bytes(b"")
    (tmp / ".tmpITSohV").write_bytes(b"x" * 4096)
    return _aged(tmp, age_s)


def test_stale_temporaries_of_a_buffer_are_swept_but_never_another_ranks_running_write(tmp_path):
    """Killed expert writes left their temporaries in the buffer forever. Ranks write into one buffer at once, so a
    rank removes at once only dead temporaries of its own experts' files (and rank 0 the index's); those of other
    names only once an hour old, and never one whose write still holds its lock."""
    from mmdistill.buffer import partial_name, remove_stale_buffer_temporaries
    from mmdistill.io import atomic_path

    buf = tmp_path / "buf"
    mine = _killed_write(buf, partial_name(0), "abcd1234", 10)
    index = _killed_write(buf, "index.json", "abcd1234", 10)
    other_rank = _killed_write(buf, shard_name(1), "efgh5678", 10)  # rank 1's expert: its own sweep removes it
    old_other = _killed_write(buf, partial_name(3), "efgh5678", 2 * 3600)
    for loose in (".tmpAbC123", ".tmpXyZ789"):  # safetensors' own, from a kill in an earlier mmdistill's write
        (buf / loose).write_bytes(b"x")
    young_loose, old_loose = buf / ".tmpAbC123", _aged(buf / ".tmpXyZ789", 2 * 3600)
    notes = _killed_write(buf, "notes.txt", "abcdefgh", 2 * 3600)  # not a buffer file
    (buf / f".{shard_name(2)}.zzzz9999.tmp").symlink_to(tmp_path)  # a link is not followed nor removed
    with atomic_path(buf / shard_name(2)) as running:  # another process writing expert 2 for an hour and more
        _aged(running.parent, 2 * 3600)
        removed = remove_stale_buffer_temporaries(buf, [0, 2], index=False)
        assert removed == sorted([mine.name, old_other.name, old_loose.name])
        assert running.exists() and index.exists() and other_rank.exists() and young_loose.exists() and notes.exists()
        assert remove_stale_buffer_temporaries(buf, [1], index=True) == sorted([index.name, other_rank.name])
    assert sorted(p.name for p in buf.iterdir()) == sorted([notes.name, young_loose.name, f".{shard_name(2)}.zzzz9999.tmp",
                                                            shard_name(2)])


def test_train_experts_sweeps_the_temporaries_of_a_killed_write(tmp_path, blobs):
    from mmdistill.buffer import partial_name

    path = tmp_path / "buf"
    _killed_write(path, partial_name(1), "abcd1234", 10)
    _train(path, blobs, num=2, epochs=1)
    assert sorted(p.name for p in path.iterdir()) == ["expert_0000.safetensors", "expert_0001.safetensors", "index.json"]


def test_an_expert_another_process_finished_with_other_keys_meanwhile_is_refused_not_replaced(tmp_path, blobs):
    """walk 43A: two trainings into one new buffer at once (a sweep over lr_teacher that shares --buffer) both trained
    expert 0; the one finishing last replaced the other's shard without a check and its index named its own keys, so
    the buffer listed an expert trained with lr 0.5 under lr 0.05 and a run matched it silently."""
    path = tmp_path / "buf"
    other = ExpertTraining(num_experts=1, epochs=2, lr=0.5, batch_size=12)
    fn = lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen)  # noqa: E731
    train_experts(tmp_path / "theirs", _spec(), other, _net, fn, progress=False)
    started = []

    def first_epoch_lets_the_other_process_finish(net, opt, gen):
        if not started:  # the other process (lr 0.5; one that took no claim on the expert) finishes expert 0 meanwhile
            started.append(1)
            for name in (shard_name(0), "index.json"):
                shutil.copy2(tmp_path / "theirs" / name, path / name)
        return fn(net, opt, gen)

    theirs = path / shard_name(0)
    with pytest.raises(ConfigError, match=r"expert_0000.safetensors holds an expert trained for another setting \(lr: shard 0.5 vs asked 0.05\)"):
        _train(path, blobs, num=2, epochs=2, epoch_fn=first_epoch_lets_the_other_process_finish)
    buffer = ExpertBuffer(path)  # the other process's buffer, as it wrote it
    assert buffer.index["training"]["lr"] == 0.5 and buffer.num_experts == 1 and theirs.exists()


def test_a_buffer_whose_shard_was_trained_otherwise_than_its_index_says_is_named(tmp_path, blobs):
    path = tmp_path / "buf"
    _train(path, blobs, num=2, epochs=2)
    index = json.loads((path / "index.json").read_text())
    index["training"]["lr"] = 0.5  # what a race between two trainings with other keys could leave
    (path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ArtifactError, match=r"expert_0000.safetensors was trained otherwise than index.json says \(lr: shard 0.05 vs index 0.5\)"):
        ExpertBuffer(path)


def _while_another_process_holds_expert_0(path, blobs, other_process):
    """Train a 2-expert buffer on a thread while this test holds expert 0's claim as another process would; once the
    thread has trained expert 1 and waits, ``other_process()`` runs and the claim is let go. Returns (the thread's
    buffer, the experts it trained, its log)."""
    import logging
    import threading

    from mmdistill.experts import claim_name
    from mmdistill.run_lock import RunFolderLock

    path.mkdir()
    claim = RunFolderLock(path, "training expert 0", name=claim_name(0))
    claim.acquire()
    trained, done, records = [], {}, []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mmdistill")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)

    def fn(net, opt, gen):
        trained.append(float(next(net.parameters()).detach().sum()))
        return train_epoch(net, opt, blobs.x, blobs.y, 12, gen)

    thread = threading.Thread(target=lambda: done.setdefault("buffer", _train(path, blobs, num=2, epochs=2, epoch_fn=fn)))
    try:
        thread.start()
        deadline = time.time() + 60
        while not any("waiting for process" in r.getMessage() for r in records) and time.time() < deadline:
            time.sleep(0.05)
        assert (path / shard_name(1)).exists() and not (path / shard_name(0)).exists()
        other_process()
    finally:
        claim.release()
        thread.join(60)
        logger.removeHandler(handler)
        logger.setLevel(level)
    return done["buffer"], trained, " ".join(r.getMessage() for r in records)


def test_processes_training_one_buffer_share_its_experts_out(tmp_path, blobs):
    """Walk 43A's note: two trainings into one buffer with the same keys both trained every expert. An expert another
    process is training is taken up last: its shard, once that process finishes it, is kept, not trained again."""
    alone = _train(tmp_path / "alone", blobs, num=2, epochs=2)
    buffer, trained, said = _while_another_process_holds_expert_0(
        tmp_path / "shared", blobs, lambda: shutil.copy2(tmp_path / "alone" / shard_name(0), tmp_path / "shared" / shard_name(0)))
    assert "expert 0 is being trained by process" in said and "(training expert 0)" in said
    assert len(trained) == 2  # expert 1's two epochs only
    for i in range(2):
        assert torch.equal(buffer.rows(i, [0, 1, 2]), alone.rows(i, [0, 1, 2]))
    assert not list((tmp_path / "shared").glob(".expert_*.claim"))


def test_an_expert_whose_other_process_stopped_is_trained_after_waiting(tmp_path, blobs):
    alone = _train(tmp_path / "alone", blobs, num=2, epochs=2)
    buffer, trained, _ = _while_another_process_holds_expert_0(tmp_path / "shared", blobs, lambda: None)
    assert len(trained) == 4  # the other process let go without a shard: expert 0 trained here after all
    for i in range(2):
        assert torch.equal(buffer.rows(i, [0, 1, 2]), alone.rows(i, [0, 1, 2]))


def test_a_process_waiting_for_an_expert_trained_with_other_keys_is_refused_by_name(tmp_path, blobs):
    """Two trainings with other keys at once (walk 43A D1) under claims: the second waits for the expert the first is
    training, then finds its shard trained otherwise and stops naming the key; the shard is kept."""
    import threading

    from mmdistill.experts import claim_name
    from mmdistill.run_lock import RunFolderLock

    _train(tmp_path / "first", blobs, num=1, epochs=2)  # what the first process (lr 0.05) writes
    path = tmp_path / "shared"
    path.mkdir()
    claim = RunFolderLock(path, "training expert 0", name=claim_name(0))
    claim.acquire()
    caught = {}
    other = ExpertTraining(num_experts=1, epochs=2, lr=0.5, batch_size=12)
    fn = lambda net, opt, gen: train_epoch(net, opt, blobs.x, blobs.y, 12, gen)  # noqa: E731

    def second_process():
        try:
            train_experts(path, _spec(), other, _net, fn, progress=False)
        except ConfigError as exc:
            caught["error"] = str(exc)

    thread = threading.Thread(target=second_process)
    thread.start()
    time.sleep(0.5)
    shutil.copy2(tmp_path / "first" / shard_name(0), path / shard_name(0))
    claim.release()
    thread.join(60)
    assert "holds an expert trained for another setting (lr: shard 0.05 vs asked 0.5)" in caught.get("error", ""), caught
    assert (path / shard_name(0)).exists()


def test_a_killed_experts_fresh_temporary_is_swept_by_a_restart_at_once(tmp_path, blobs):
    """Walk 45B: SIGKILL inside the write of expert 1's partial trajectory, then `--resume` at once (a scheduler's
    requeue): the sweep at the start left the temporary (younger than the 5 s a write may take to lock its folder)
    and the finished buffer kept it for good. The claim's holder removes its expert's temporaries however fresh."""
    from mmdistill.buffer import partial_name

    path = tmp_path / "buf"
    _killed_write(path, partial_name(1), "abcd1234", 0)
    _train(path, blobs, num=2, epochs=1)
    assert sorted(p.name for p in path.iterdir()) == ["expert_0000.safetensors", "expert_0001.safetensors", "index.json"]


def test_a_buffer_of_a_network_edited_under_its_name_is_refused():
    """Session 51: a buffer's spec compared the network's name and its trainable parameters' names and shapes, so a
    network of one's own with an activation swapped (the same parameters) reused the experts of the old definition
    silently. The spec records the layers' digest (modules' classes, all parameters' shapes); a buffer without it (an
    older mmdistill's) is accepted, naming it unchecked."""
    from torch import nn

    from mmdistill.buffer import ExpertSpec, ParamLayout, spec_mismatch, unchecked_fields
    from mmdistill.network_identity import network_identity

    def spec(act: type[nn.Module]) -> ExpertSpec:
        net = nn.Sequential(nn.Linear(2, 4), act(), nn.Linear(4, 2))
        return ExpertSpec("t", "mine", 2, ParamLayout.of(net), [2], None, network_identity(net)["layout"])

    relu, gelu = spec(nn.ReLU), spec(nn.GELU)
    assert relu.layout == gelu.layout and spec_mismatch(relu.as_json(), spec(nn.ReLU)) == ""
    said = spec_mismatch(relu.as_json(), gelu)
    assert said.startswith(f"network layers: buffer {relu.layers!r}, this run {gelu.layers!r} (the same parameters, other modules")
    older = {k: v for k, v in relu.as_json().items() if k != "layers"}
    assert spec_mismatch(older, gelu) == "" and unchecked_fields(older, gelu) == ["layers"]
