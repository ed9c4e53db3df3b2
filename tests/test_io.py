from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmdistill.errors import ArtifactError, ConfigError, DataError
from mmdistill.io import ALIGNMENT, atomic_path, load_synthetic, load_tensors, save_synthetic, save_tensors
from mmdistill.seeding import generator
from mmdistill.synthetic import SyntheticSet


def test_roundtrip_without_pickle(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 2, generator(0), meta={"mean": [0.0], "std": [1.0]})
    save_synthetic(tmp_path, syn, {"recipe": "x"})
    back, manifest = load_synthetic(tmp_path)
    assert torch.equal(back.x, syn.x) and torch.equal(back.labels, syn.labels)
    assert manifest["recipe"] == "x" and manifest["synthetic"]["tensors"]["data.x"] == [6, 1, 8, 8]
    assert back.meta["classes"] == ["a", "b", "c"]
    raw = (tmp_path / "synthetic.safetensors").read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle stream


def test_truncated_or_missing_files_are_named(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    save_synthetic(tmp_path, syn, {})
    path = tmp_path / "synthetic.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="synthetic.safetensors"):
        load_synthetic(tmp_path)
    path.unlink()
    with pytest.raises(ArtifactError, match="synthetic.safetensors does not exist"):
        load_synthetic(tmp_path)
    with pytest.raises(ArtifactError, match="not a directory"):
        load_synthetic(tmp_path / "nope")


def test_shape_mismatch_with_manifest_is_refused(tmp_path, blobs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    save_synthetic(tmp_path, syn, {})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["synthetic"]["tensors"]["data.x"] = [9, 1, 8, 8]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="shape"):
        load_synthetic(tmp_path)


def test_interrupted_write_leaves_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_ipc_larger_than_a_class_names_the_class(blobs):
    from mmdistill.errors import DataError

    with pytest.raises(DataError, match="class 'a'.*12 training samples.*ipc=13"):
        SyntheticSet.from_real(blobs, 13, generator(0))


def _saved(tmp_path, blobs, **syn_kwargs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0), meta={"mean": [0.0], "std": [1.0]})
    for key, value in syn_kwargs.items():
        setattr(syn, key, value)
    save_synthetic(tmp_path, syn, {"format": "mmdistill.set/1", "recipe": "image-dm", "modality": "image"})
    return json.loads((tmp_path / "manifest.json").read_text())


def _edit(manifest, path, value):
    *parents, last = path.split(".")
    node = manifest
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize("field, value, said", [
    ("format", "mmdistill.set/9", "written by a newer mmdistill"),
    ("format", "something-else", "not an mmdistill set"),
    ("format", "mmdistill.finetune/1", "fine-tuning run"),
    ("config", [1], "field 'config' is a list; expected an object"),
    ("metrics", "good", "field 'metrics' is a string"),
    ("recipe", 5, "field 'recipe' is a number; expected a string"),
    ("synthetic", [], "'synthetic' section"),
    ("synthetic.tensors", ["data.x"], "field 'tensors' must map each tensor name to its shape"),
    ("synthetic.meta", [1], "field 'meta' is list"),
    ("synthetic.label_mode", "bogus", "label_mode is 'bogus'"),
    ("synthetic.num_classes", "three", "no valid 'num_classes'"),
    ("synthetic.meta.classes", ["a"], "meta.classes must list num_classes=3"),
    ("synthetic.label_mode", "soft", "label_mode 'soft' but no 'soft_labels'"),
])
def test_manifest_of_the_wrong_shape_is_named(tmp_path, blobs, field, value, said):
    manifest = _saved(tmp_path, blobs)
    _edit(manifest, field, value)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=said) as err:
        load_synthetic(tmp_path)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("content, said", [(b"[1, 2]", "holds a list; expected a JSON object"),
                                           (b"\xff\xfe{}", "is not UTF-8 text"), (b"{", "is not valid JSON")])
def test_manifest_that_is_not_a_json_object_is_named(tmp_path, blobs, content, said):
    _saved(tmp_path, blobs)
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(ArtifactError, match=said):
        load_synthetic(tmp_path)


@pytest.mark.parametrize("change, said", [
    (lambda t: t.update(extra=torch.zeros(3)), r"holds tensors the manifest does not list \(extra\)"),
    (lambda t: t.update(labels=t["labels"].float()), "'labels'.* has dtype float32, manifest says int64"),
    (lambda t: t.update({"data.x": t["data.x"].double()}), "'data.x'.* has dtype float64, manifest says float32"),
    (lambda t: t["data.x"].view(-1)[:3].fill_(float("nan")), "'data.x'.* holds 3 value\\(s\\) that are NaN or infinite"),  # was scored at chance
])
def test_tensors_that_do_not_match_the_manifest_are_refused(tmp_path, blobs, change, said):
    from safetensors.torch import load_file, save_file

    _saved(tmp_path, blobs)
    tensors = load_file(str(tmp_path / "synthetic.safetensors"))
    change(tensors)
    save_file(tensors, str(tmp_path / "synthetic.safetensors"))
    with pytest.raises(ArtifactError, match=said):
        load_synthetic(tmp_path)


def test_sets_without_recorded_dtypes_still_load_but_not_integer_inputs(tmp_path, blobs):
    """Sets written before the header recorded dtypes load; their tensors must still be float inputs, integer labels."""
    from safetensors.torch import load_file, save_file

    manifest = _saved(tmp_path, blobs)
    del manifest["synthetic"]["dtypes"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert load_synthetic(tmp_path)[0].x.dtype == torch.float32
    tensors = load_file(str(tmp_path / "synthetic.safetensors"))
    tensors["data.x"] = tensors["data.x"].long()
    save_file(tensors, str(tmp_path / "synthetic.safetensors"))
    with pytest.raises(ArtifactError, match="'data.x'.* has dtype int64; expected floating point"):
        load_synthetic(tmp_path)


def test_soft_labels_must_have_one_column_per_class(tmp_path, blobs):
    manifest = _saved(tmp_path, blobs, soft_labels=torch.zeros(3, 2), label_mode="soft")
    assert manifest["synthetic"]["tensors"]["soft_labels"] == [3, 2]
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors: SyntheticSet soft_labels must be \(K, num_classes=3\) logits; "
                                            r"got \(3, 2\); the file is damaged"):
        load_synthetic(tmp_path)


def test_a_sets_labels_are_checked_by_its_constructor_alone(tmp_path, blobs, monkeypatch):
    """Review 53K4: a load checked the labels twice (from_tensors, then the constructor's walk-53F checks), and
    ``detached()`` checked them again per TESLA iteration (``labels.min()``: a wait for the GPU). A load's refusal is the
    constructor's, naming the file; a copy of a built set is not checked again."""
    from safetensors.torch import load_file, save_file

    _saved(tmp_path, blobs)
    tensors = load_file(str(tmp_path / "synthetic.safetensors"))
    tensors["labels"][-1] = 5
    save_file(tensors, str(tmp_path / "synthetic.safetensors"))
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors: SyntheticSet labels must lie in \[0, num_classes=3\); "
                                            r"found \[0, 5\]; the file is damaged"):
        load_synthetic(tmp_path)
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    monkeypatch.setattr(SyntheticSet, "__post_init__", lambda self: pytest.fail("checked again"))
    copy = syn.detached()
    assert copy.labels is not syn.labels and torch.equal(copy.labels, syn.labels) and copy.meta == syn.meta


def test_a_missing_raw_tensor_is_an_artifact_error(blobs):
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    syn.data = {"y": syn.data.pop("x")}
    with pytest.raises(ArtifactError, match="no 'data.x' tensor .*data.y"):
        syn.x


def test_a_folder_or_device_in_place_of_a_file_is_named(tmp_path, blobs):
    _saved(tmp_path, blobs)
    (tmp_path / "synthetic.safetensors").unlink()
    (tmp_path / "synthetic.safetensors").mkdir()
    with pytest.raises(ArtifactError, match="synthetic.safetensors is not a regular file"):
        load_synthetic(tmp_path)


def test_ipc_larger_than_several_classes_names_every_short_class():
    import torch

    from mmdistill.data import LabeledTensors
    from mmdistill.errors import DataError

    real = LabeledTensors(torch.zeros(10, 1, 2, 2), torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2]), ["a", "b", "c"])
    real.require_per_class(3 - 1)  # every class has 2 or more
    with pytest.raises(DataError, match=r"class 'b' \(index 1\) has 2 training samples, fewer than ipc=3; .*that class"):
        real.require_per_class(3)
    with pytest.raises(DataError, match=r"class 'a' \(index 0\) has 3 training samples, and 1 more class\(es\) too: 'b' \(2\), "
                                        r"fewer than ipc=4"):
        real.require_per_class(4)


def test_a_class_without_training_samples_is_not_told_to_lower_ipc():
    """Walk 51A: an audio class folder whose every clip was unreadable (skipped) was refused as "has 0 training samples,
    fewer than ipc=1; lower ipc or add samples": no ipc helps. It says the class has none and how to mend the data."""
    import torch

    from mmdistill.data import LabeledTensors
    from mmdistill.errors import DataError

    real = LabeledTensors(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 2, 2]), ["a", "broken", "c"])
    with pytest.raises(DataError, match=r"class\(es\) 'broken' \(index 1\) have no training samples \(every file of theirs "
                                        r"was skipped as unreadable.*remove that class from the data") as err:
        real.require_per_class(1)
    assert "lower ipc" not in str(err.value)


def test_new_tree_names_the_folder_asked_for_when_it_cannot_be_made(tmp_path, monkeypatch):
    """``export --to /proc/xx`` said "cannot access /proc/.xx.13135.c4e8dbbe.tmp": the temporary sibling, not the
    folder the user asked for. A non-empty target is the argument's fault (ConfigError, key 'to': exit 2)."""
    from pathlib import Path

    from mmdistill.errors import ConfigError
    from mmdistill.exits import describe
    from mmdistill.io import new_tree

    real_mkdir = Path.mkdir

    def refuse(self, *args, **kw):
        if self.name.endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kw)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OSError) as err:
        with new_tree(tmp_path / "xx"):
            pass
    assert describe(err.value) == f"cannot access {tmp_path / 'xx'}: Permission denied (creating a folder in {tmp_path})"
    monkeypatch.undo()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "a").write_text("a")
    with pytest.raises(ConfigError, match="exists and is not empty; choose another --to") as used:
        with new_tree(tmp_path / "used"):
            pass
    assert used.value.key == "to" and sorted(p.name for p in tmp_path.iterdir()) == ["used"]
    (tmp_path / "afile").write_text("x")  # said "cannot access afile: File exists"
    with pytest.raises(ConfigError, match=f"export target {tmp_path / 'afile' / 'x'} lies under the file {tmp_path / 'afile'}"):
        with new_tree(tmp_path / "afile" / "x"):
            pass


# ----------------------------------------------------------------------------- a received set's manifest (audit walk34B)
def test_a_manifest_without_its_tensor_list_is_refused(tmp_path, blobs):
    """Without ``synthetic.tensors`` the shape, dtype and extra-tensor checks were all skipped: a stranger's tensor
    (and one of another shape) loaded."""
    from safetensors.torch import load_file, save_file

    manifest = _saved(tmp_path, blobs)
    del manifest["synthetic"]["tensors"], manifest["synthetic"]["dtypes"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    tensors = load_file(str(tmp_path / "synthetic.safetensors"))
    save_file({**tensors, "data.evil": torch.zeros(3)}, str(tmp_path / "synthetic.safetensors"))
    with pytest.raises(ArtifactError, match=r"manifest.json: its 'synthetic' section has no 'tensors'"):
        load_synthetic(tmp_path)
    with pytest.raises(ArtifactError, match=r"header in ck.safetensors has no 'tensors'"):  # a checkpoint's header too
        SyntheticSet.from_tensors(tensors, manifest["synthetic"], source="ck.safetensors")


def test_json_nested_too_deeply_is_named_not_a_traceback(tmp_path, blobs):
    from mmdistill.io import MetricsLog

    _saved(tmp_path, blobs)
    text = (tmp_path / "manifest.json").read_text()
    (tmp_path / "manifest.json").write_text(text[:-2] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(ArtifactError, match=r"manifest.json is not valid JSON \(nested too deeply\)"):
        load_synthetic(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"it": 0}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    assert MetricsLog(tmp_path / "metrics.jsonl").read() == [{"it": 0}]


def test_a_set_with_no_samples_is_refused(tmp_path, blobs):
    """An empty set passed show, load and export, then eval divided by zero."""
    syn = SyntheticSet.from_real(blobs, 1, generator(0))
    syn.data["x"], syn.labels = syn.x[:0], syn.labels[:0]
    save_synthetic(tmp_path, syn, {})
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors holds no samples"):
        load_synthetic(tmp_path)


@pytest.mark.parametrize("field, raw, said", [
    ("ipc", "-5", "field 'ipc' is -5; expected an integer in \\[1, 2\\^31\\)"),
    ("ipc", '"ten"', "field 'ipc' is \"ten\""),
    ("ipc", "NaN", "field 'ipc' is NaN"),
    ("ipc", "1000000000000000000000000000000", "field 'ipc' is 1000000000000000000000000000000"),
    ("ipc", "1e30", "field 'ipc' is 1e\\+30"),
    ("num_classes", "0", "field 'num_classes' is 0"),
    ("num_classes", "5", "field 'num_classes' is 5, its 'synthetic' section says 3"),
    ("seed", '"x"', "field 'seed' is \"x\"; expected an integer\\."),
])
def test_manifest_counts_are_checked(tmp_path, blobs, field, raw, said):
    manifest = _saved(tmp_path, blobs)
    manifest.update(ipc=1, num_classes=3, seed=0)
    manifest[field] = "@@"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest).replace('"@@"', raw))
    with pytest.raises(ArtifactError, match=said) as err:
        load_synthetic(tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value)


def test_header_faults_name_the_manifest_and_meta_ipc_is_checked(tmp_path, blobs):
    manifest = _saved(tmp_path, blobs)
    manifest["synthetic"]["meta"]["ipc"] = -3
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"header in .*manifest.json \(section 'synthetic'\): meta.ipc is -3"):
        load_synthetic(tmp_path)
    manifest["synthetic"]["meta"].update(ipc=1, classes=["a"])  # was reported against synthetic.safetensors
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"manifest.json \(section 'synthetic'\): meta.classes must list"):
        load_synthetic(tmp_path)


def test_a_nan_written_to_json_reads_back_as_a_number(tmp_path):
    """A NaN in a manifest was written as null by a change earlier today, and a set with a NaN metric then crashed
    `show` and the card (None where a number is formatted); it is written and read back as NaN, as before."""
    import math

    from mmdistill.io import read_json, write_json

    write_json(tmp_path / "m.json", {"seconds": float("nan"), "ratio": [float("inf"), 1.5]})
    back = read_json(tmp_path / "m.json")
    assert math.isnan(back["seconds"]) and back["ratio"] == [float("inf"), 1.5]


def test_links_are_named_as_links(tmp_path, blobs):
    """A dangling link as the tensor file said "does not exist"; an export into a link was built, then failed naming a
    temporary folder."""
    from mmdistill.errors import ConfigError
    from mmdistill.io import new_tree

    _saved(tmp_path, blobs)
    (tmp_path / "synthetic.safetensors").unlink()
    (tmp_path / "synthetic.safetensors").symlink_to(tmp_path / "gone")
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors is a symbolic link \(to .*gone\) that leads to no file"):
        load_synthetic(tmp_path)
    (tmp_path / "empty").mkdir()
    for name, to in (("link", tmp_path / "empty"), ("dangling", tmp_path / "nowhere")):
        (tmp_path / name).symlink_to(to)
        with pytest.raises(ConfigError, match=f"export target {tmp_path / name} is a symbolic link") as err:
            with new_tree(tmp_path / name):
                pytest.fail("built into a link")
        assert err.value.key == "to"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_parse_json_reports_text_nested_too_deeply_as_malformed_json():
    """Every reader of JSON mmdistill reads back catches one error: text nested past the recursion limit was a
    RecursionError that each of about ten readers caught on its own (or not)."""
    import json

    from mmdistill.json_text import parse_json

    assert parse_json('{"a": [1, 2]}') == {"a": [1, 2]} and parse_json(b"[3]") == [3]
    for text in ("[" * 100_000 + "]" * 100_000, b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(json.JSONDecodeError, match=r"^nested too deeply$"):
            parse_json(text)
    with pytest.raises(ValueError):
        parse_json("{not json")


def test_an_error_is_printed_after_the_progress_bar_it_left_is_closed(capsys):
    """Walk 38: "reading images:   0%|          | 0/3 [00:00<?, ?it/s]   error: ..." — a failure inside a loop left its
    bar open and the error started on the bar's line; the bar is closed (a leave=False one erased) first."""
    import sys

    from tqdm import tqdm

    from mmdistill.errors import DataError
    from mmdistill.exits import fail

    try:
        for _ in tqdm(range(3), desc="reading images", leave=False, file=sys.stderr, disable=False):
            raise DataError("data/it/lines.csv: 1 empty caption")
    except DataError as exc:
        assert fail(exc) == 3
    err = capsys.readouterr().err
    assert err.endswith("\rerror: data/it/lines.csv: 1 empty caption\n"), repr(err[-200:])
    assert not tqdm._instances
    from mmdistill.exits import progress_bars

    callers = tqdm(range(3), desc="the caller's own loop", file=sys.stderr)  # a program running commands in a loop
    keep = progress_bars()
    ours = tqdm(range(3), desc="reading", leave=False, file=sys.stderr)
    fail(DataError("again"), keep=keep)
    assert ours.disable or ours not in tqdm._instances
    assert callers in tqdm._instances
    callers.close()


def test_an_unclosed_quote_past_the_csv_field_limit_names_the_line_it_opened_on(tmp_path):
    """Review 38: past 128 KiB after an unclosed quote the csv module's field limit tripped first, and the message named
    the line it tripped on (or said the quote was "only closed" there)."""
    import csv
    import io

    from mmdistill.csv_lines import numbered_records, quote_error

    text = "a,b\nx,1\n" + 'y,"never closed\n' + "".join(f"z{i},{'w' * 40}\n" for i in range(5000))
    reader = csv.reader(io.StringIO(text, newline=""))
    with pytest.raises(DataError, match=r"t.csv line 3: a field starting in this row runs past line \d+ and over 131,072 "
                                        r"characters: an unclosed quote .* on line 3"):
        list(numbered_records(reader, lambda exc, start, line: quote_error(tmp_path / "t.csv", exc, start, line)))


def test_a_metrics_log_that_is_a_link_is_refused_never_followed(tmp_path):
    """Walk 39A: a dangling metrics.jsonl link in a run folder made --resume create the link's target outside it."""
    import os

    from mmdistill.io import MetricsLog

    run, outside = tmp_path / "run", tmp_path / "outside.txt"
    run.mkdir()
    os.symlink(outside, run / "metrics.jsonl")  # dangling
    log = MetricsLog(run / "metrics.jsonl")
    for call in (lambda: log.truncate_after(3), log.read):
        with pytest.raises(ArtifactError, match=r"run/metrics.jsonl is a symbolic link; a run writes its metrics log in place"):
            call()
    with pytest.raises(OSError):
        log.append({"it": 3})  # opened with O_NOFOLLOW
    assert not outside.exists() and not os.path.lexists(outside)
    outside.write_text("user data\n")  # a link to an existing file: refused too, the file untouched
    with pytest.raises(ArtifactError, match="symbolic link"):
        log.truncate_after(0)
    log.reset()  # a fresh run removes the link itself
    assert not os.path.lexists(run / "metrics.jsonl") and outside.read_text() == "user data\n"
    log.append({"it": 0, "loss": 1.0})
    assert log.read() == [{"it": 0, "loss": 1.0}] and outside.read_text() == "user data\n"
    (run / "dir.jsonl").mkdir()
    with pytest.raises(ArtifactError, match="dir.jsonl is not a regular file"):
        MetricsLog(run / "dir.jsonl").read()


def test_metrics_lines_that_are_no_records_of_the_run_are_dropped_on_resume(tmp_path):
    from mmdistill.io import MetricsLog

    path = tmp_path / "metrics.jsonl"
    lines = ['{"it": 0, "loss": 1}', '{"it": ' + "9" * 5000 + "}", "[1, 2]", '{"it": "x"}', '{"it": 1, "it": 0}', '{"it": 1',
             '{"note": "no it"}', '{"it": 5}']
    path.write_text("\n".join(lines) + "\n")
    log = MetricsLog(path)
    assert len(log.read()) == 5  # the over-long integer, the key given twice and the cut line are not JSON
    log.truncate_after(3)  # was a ValueError traceback (4,300 digits), or an AttributeError on a list
    assert path.read_text() == '{"it": 0, "loss": 1}\n{"note": "no it"}\n'


@pytest.mark.parametrize("text, said", [
    ('{"seed": ' + "9" * 5000 + "}", "an integer has more than 4300 digits"),
    ('{"a": 1, "synthetic": {}, "synthetic": {"x": 2}}', 'key "synthetic" is given twice in one object'),
    ('{"a": [{"k": 1, "k": 1}]}', 'key "k" is given twice'),
    ("[[[" * 100000, "nested too deeply"),
])
def test_parse_json_names_what_is_unreadable_as_malformed_json(tmp_path, text, said):
    """Walk 39A: an integer past Python's 4,300 digits was a ValueError traceback in show/export/load/--resume, and a key
    given twice was read as its last value (a reader that keeps the first sees another set)."""
    from mmdistill.io import read_json
    from mmdistill.json_text import parse_json

    with pytest.raises(json.JSONDecodeError, match=said):
        parse_json(text)
    (tmp_path / "f.json").write_text(text)
    with pytest.raises(ArtifactError, match=f"f.json is not valid JSON \\({said}"):
        read_json(tmp_path / "f.json")
    assert parse_json('{"a": {"b": [1, {"a": 2}]}, "b": NaN}')["a"] == {"b": [1, {"a": 2}]}  # the same key in other objects


def test_nothing_a_set_writes_names_a_key_twice(tmp_path, blobs):
    from mmdistill.io import read_json

    syn = SyntheticSet.from_real(blobs, 2, generator(0), meta={"mean": [0.0], "std": [1.0]})
    save_synthetic(tmp_path, syn, {"recipe": "x", "metrics": {"distilled": {"mean": 0.5, "std": 0.0, "runs": [0.5]}}})
    assert read_json(tmp_path / "manifest.json")["recipe"] == "x"  # read with parse_json, which refuses a key given twice
    assert load_synthetic(tmp_path)[1]["metrics"]["distilled"]["runs"] == [0.5]


def test_names_may_hold_joiners_but_no_bidi_controls_and_a_run_writes_them_cleaned(caplog):
    """Review 39: every Unicode format character was refused in a manifest's names, among them the zero-width non-joiner
    of everyday Persian spelling, while only the sequences adapter cleaned the names it wrote: a graph saved under such a
    name ran and its own ``show`` refused the set. The reader refuses control and bidi-reordering characters only, and
    every manifest a run writes holds its dataset name cleaned of them (``words.written_name``)."""
    from mmdistill.io import check_manifest
    from mmdistill.words import written_name as _written_name

    base = {"format": "mmdistill.set/1", "synthetic": {"tensors": {}}}
    check_manifest({**base, "dataset": "gr\u200cafs"}, "m.json")  # ZWNJ: kept
    for bad in ("digits\u202egnp.exe", "a\nb", "caf\udce9"):
        with pytest.raises(ArtifactError, match=r"field 'dataset' is .*; a name holds no line break, tab, other control or bidi"):
            check_manifest({**base, "dataset": bad}, "m.json")
    with caplog.at_level("WARNING"):
        assert _written_name("digits\u202egnp.exe") == "digits_gnp.exe" and _written_name("gr\u200cafs") == "gr\u200cafs"
    assert "holds control or bidi-reordering characters; the set records it as digits_gnp.exe" in caplog.text


def _age(path, seconds):
    """Set back the modification time of ``path`` and of what is directly in it by ``seconds``."""
    import os
    import time

    when = time.time() - seconds
    for p in [path, *(path.iterdir() if path.is_dir() and not path.is_symlink() else [])]:
        os.utime(p, (when, when), follow_symlinks=False)


def test_a_writers_own_temporary_goes_with_the_private_folder(tmp_path):
    """safetensors 0.8 writes through its own `.tmpXXXXXX` beside the path it is given; atomic_path hands it a path in
    a private folder, so nothing of it is left beside the target, on success or failure, and the file gets the umask."""
    import os

    def like_safetensors(tmp, data):  # its own temporary beside ``tmp``, renamed onto it
        own = tmp.parent / ".tmpD5BewT"
        own.write_bytes(data)
        os.replace(own, tmp)

    target = tmp_path / "w.safetensors"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            assert tmp.name == target.name and tmp.parent.parent == tmp_path and tmp.exists()
            like_safetensors(tmp, b"new")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o644
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            (tmp.parent / ".tmpAbC123").write_bytes(b"x" * 1000)  # safetensors' file, half written
            raise RuntimeError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"] and target.read_bytes() == b"new"


def test_a_write_killed_inside_safetensors_is_swept_and_a_running_one_is_not(tmp_path):
    """A SIGKILL while safetensors writes leaves the private folder with its full-size `.tmpXXXXXX` in it; a sweep
    removes it once its lock is free, never a folder whose writer still runs, a link or another name."""
    import subprocess
    import sys
    from pathlib import Path

    from mmdistill.atomic import TEMPORARY, remove_stale_temporaries

    target = tmp_path / "checkpoint.safetensors"
    script = ("import os, signal, sys\nfrom mmdistill.atomic import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    (tmp.parent / '.tmpD5BewT').write_bytes(b'x' * 4096)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == -9
    (left,) = tmp_path.iterdir()
    assert left.is_dir() and TEMPORARY.match(left.name) and sorted(p.name for p in left.iterdir()) == [".tmpD5BewT", target.name]
    assert remove_stale_temporaries(tmp_path, {target.name}) == []  # seconds old: a write may not have locked it yet
    _age(left, 10)
    (tmp_path / ".README.md.abcdefgh.tmp").symlink_to(left)  # named like a temporary: not ours to follow or remove
    with atomic_path(tmp_path / "README.md") as running:
        running.write_text("being written")
        _age(running.parent, 2 * 3600)
        removed = remove_stale_temporaries(tmp_path, {target.name, "README.md"})
        assert removed == [left.name] and running.exists() and (tmp_path / ".README.md.abcdefgh.tmp").is_symlink()
    assert (tmp_path / "README.md").read_text() == "being written"


def test_loaded_tensors_sit_at_allocation_alignment(tmp_path):
    """safetensors places tensors at 8-byte offsets in the file; loaded ones are given memory of their own at
    PyTorch's alignment (unaligned operands made some CPUs' BLAS round a loaded set's decode differently)."""
    tensors = {"a": torch.arange(3.0), "b": torch.randn(5, 5, generator=generator(0, "b")), "c": torch.arange(7, dtype=torch.int16)}
    save_tensors(tmp_path / "t.safetensors", tensors)
    back = load_tensors(tmp_path / "t.safetensors")
    assert all(v.data_ptr() % ALIGNMENT == 0 for v in back.values())
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)


def test_loaded_tensors_of_every_kind_keep_their_values_dtypes_and_shapes_at_alignment(tmp_path):
    """Tensors read from the file into their own memory: every dtype a set or checkpoint holds, a scalar, an empty one."""
    tensors = {"f16": torch.randn(3, 5, generator=generator(0, "f")).half(), "bf16": torch.randn(7, generator=generator(1, "g")).bfloat16(),
               "bool": torch.tensor([True, False, True]), "i64": torch.arange(11), "u8": torch.arange(9, dtype=torch.uint8).reshape(3, 3),
               "scalar": torch.tensor(0.01), "empty": torch.zeros(0, 4), "f64": torch.randn(2, 3, generator=generator(2, "h"), dtype=torch.float64)}
    save_tensors(tmp_path / "t.safetensors", tensors, metadata={"pad": "x" * 5})
    back = load_tensors(tmp_path / "t.safetensors")
    assert set(back) == set(tensors) and all(v.data_ptr() % ALIGNMENT == 0 for v in back.values())
    assert all(back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v) for k, v in tensors.items())


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def test_loading_a_set_unaligned_in_its_file_holds_it_once_not_twice(tmp_path):
    """A tensor not 64-byte aligned in its file was read through safetensors' memory map, then cloned: loading a
    197 MB set peaked at 388 MB over the process's size. It is now read from the file into its own memory: the peak
    (``VmHWM``, reset first through ``/proc/self/clear_refs``) grows by the set's size once."""
    from safetensors import safe_open

    path = tmp_path / "synthetic.safetensors"
    x = torch.ones(12 << 20)  # 48 MiB
    for pad in range(8):  # header sizes move in steps of 8: find one that leaves the tensor unaligned in the file
        save_tensors(path, {"data.x": x}, metadata={"pad": "x" * (8 * pad)})
        with safe_open(str(path), framework="pt") as fh:
            if fh.get_tensor("data.x").data_ptr() % ALIGNMENT:
                break
    else:
        pytest.fail("no header padding left the tensor unaligned")
    del x
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to VmRSS (Linux 4.0+)
    except OSError:
        pytest.skip("no /proc/self/clear_refs here to reset the peak resident size")
    before = _rss_kib("VmRSS")
    back = load_tensors(path)
    grown = (_rss_kib("VmHWM") - before) * 1024
    assert back["data.x"].data_ptr() % ALIGNMENT == 0 and float(back["data.x"][-1]) == 1.0
    assert grown < 1.5 * path.stat().st_size, f"loading {path.stat().st_size >> 20} MiB took {grown >> 20} MiB at the peak"


def test_an_export_killed_before_its_rename_leaves_nothing_after_the_next_export(tmp_path):
    """Walk 45B: SIGKILL between filling an export's temporary sibling and renaming it left `.export.<...>.tmp`
    (a whole copy of the export) beside the set for good. The next export to that target removes it (its lock free,
    seconds old). It never removes the temporary of an export still running (locked), nor a fresh one (a write
    between making its folder and locking it)."""
    import fcntl
    import os

    from mmdistill.io import new_tree

    killed = tmp_path / ".export.k3j_x9a2.tmp"
    (killed / "0").mkdir(parents=True)
    (killed / "0" / "img.png").write_bytes(b"a killed export's image")
    running = tmp_path / ".export.abcdefgh.tmp"
    (running / "0").mkdir(parents=True)
    starting = tmp_path / ".export.zyxwvuts.tmp"
    starting.mkdir()
    _age(killed, 10)
    _age(running, 10)
    fd = os.open(running, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with new_tree(tmp_path / "export") as tree:
            (tree / "README.md").write_text("set")
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".export.abcdefgh.tmp", ".export.zyxwvuts.tmp", "export"]


@pytest.mark.parametrize("target", ["used", "afile", "link"])
def test_an_export_target_refused_names_the_python_argument_too(tmp_path: Path, target: str) -> None:
    # export_hf(path, out) from Python said only "choose another --to", a flag a Python user never passed (walk 53F)
    from mmdistill.io import check_export_target

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "a").write_text("a")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "used")
    with pytest.raises(ConfigError, match=r"choose another --to \(out= from Python\)"):
        check_export_target(tmp_path / target)


def test_a_header_checks_own_refusal_of_any_project_kind_reaches_the_caller(tmp_path):
    """Review 56 R5.2: load_tensors let only an ArtifactError of its check through; a cache's memory check raises a
    DataError (a ValueError), which was rewrapped as "not a readable safetensors file ... truncated"."""
    path = save_tensors(tmp_path / "t.safetensors", {"pixels": torch.zeros(2, 3, dtype=torch.uint8)})

    def short(where: Path, declared: dict[str, list[int]]) -> None:
        raise DataError(f"{declared['pixels']} pixels of {where.name} do not fit in memory")

    with pytest.raises(DataError, match=r"^\[2, 3\] pixels of t.safetensors do not fit in memory$"):
        load_tensors(path, check=short)

    def broken(where: Path, declared: dict[str, list[int]]) -> None:
        raise ValueError("not the project's")

    with pytest.raises(ArtifactError, match="not a readable safetensors file"):  # anything else is still the file's
        load_tensors(path, check=broken)


def test_a_file_replaced_while_it_loads_gives_one_files_tensors_not_a_mix(tmp_path, monkeypatch):
    """read_aligned reads the unaligned tensors' bytes through a second open of the path: a file replaced between
    safe_open's open and that read gave the old header's shapes with the new file's bytes (final read R7, reproduced by
    swapping a set of zeros for one of ones mid-load). The second open now reads only the file safe_open read; another
    is left alone and the views of the first are copied."""
    import os

    import mmdistill.aligned_tensors as aligned

    path, replacement = tmp_path / "set.safetensors", tmp_path / "new.safetensors"
    save_tensors(path, {"a": torch.zeros(3, dtype=torch.uint8), "b": torch.zeros(16), "c": torch.zeros(16)})
    save_tensors(replacement, {"a": torch.ones(3, dtype=torch.uint8), "b": torch.ones(16), "c": torch.ones(16)})
    real = aligned.safe_open

    class ReplacedAfterOpen:
        def __init__(self, *a, **k):
            self._fh = real(*a, **k)

        def __enter__(self):
            return self._fh.__enter__()

        def __exit__(self, *exc):
            out = self._fh.__exit__(*exc)
            os.replace(replacement, path)
            return out

    monkeypatch.setattr(aligned, "safe_open", ReplacedAfterOpen)
    tensors = load_tensors(path)
    assert all(v.data_ptr() % ALIGNMENT == 0 for v in tensors.values())
    assert all(float(v.float().sum()) == 0.0 for v in tensors.values()), {k: v.tolist() for k, v in tensors.items()}
