"""A set from a stranger (walk 48C): run folders crafted to attack whoever runs ``show``, ``load`` or ``eval`` on them.
Each test is one crafted artifact and what the receiver must see: one line naming the file, never a traceback, an
escape sequence on the terminal or memory exhausted."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import torch

import mmdistill
from mmdistill.cli import main
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.json_text import MAX_JSON_BYTES

from test_share import make_set  # noqa: E402  (a tiny saved image set: initialised, not distilled)


@pytest.fixture(scope="module")
def image_set(tmp_path_factory) -> Path:
    return make_set("image", tmp_path_factory.mktemp("hostile"))


def _tensors_never_read(monkeypatch, why: str) -> None:
    """mmdistill.io's one open of a safetensors file (its header, then its tensors) fails the test with ``why`` when a
    tensor is read: what a header check must refuse is never allocated."""
    from safetensors import safe_open

    class HeaderOnly:
        def __init__(self, *args, **kwargs):
            self._fh = safe_open(*args, **kwargs)

        def __enter__(self):
            self._fh.__enter__()
            return self

        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def get_tensor(self, name):
            pytest.fail(why)

    monkeypatch.setattr("mmdistill.aligned_tensors.safe_open", HeaderOnly)


def _received(src: Path, dst: Path, **changes) -> Path:
    """A copy of the set at ``src`` whose manifest has ``changes`` (its tensor digest stays valid: the tensors are untouched)."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.update(changes)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_show_prints_no_line_break_or_escape_sequence_a_received_manifest_holds(image_set, tmp_path, capsys):
    """The manifest's text was printed as it was: an OSC sequence in ``storage.real_basis`` retitled the terminal, ``ESC
    [2J`` cleared it, and a line break in ``memorisation.input_space`` forged a line of the summary (walk 48C)."""
    manifest = json.loads((image_set / "manifest.json").read_text())
    storage = {**manifest["storage"], "real_basis": "\x1b]0;pwned\x07\x1b[2Jclear"}
    memorisation = {**manifest["memorisation"], "input_space": "inputs\n  integrity: forged\u202e"}
    out = _received(image_set, tmp_path / "run", storage=storage, memorisation=memorisation)
    assert main(["show", str(out)]) == 0
    said = capsys.readouterr().out
    assert "\x1b" not in said and "\x07" not in said and "\u202e" not in said
    assert not any(line.lstrip().startswith("integrity: forged") for line in said.splitlines())
    assert "\\x1b]0;pwned\\x07\\x1b[2Jclear" in said and "inputs\\n  integrity: forged\\u202e" in said  # shown, escaped
    assert said.splitlines()[-1].startswith("  integrity: ") and "matches the manifest" in said.splitlines()[-1]


def test_summary_returns_a_received_manifests_text_escaped_as_show_prints_it(image_set, tmp_path):
    """``DistilledSet.summary()`` returned the card summary of a received manifest unescaped (walk 48C left it; walk 49A):
    printed, as a notebook or script prints it, its ``storage.real_basis`` retitled and cleared the terminal. It escapes
    control characters as ``show`` does; the text is otherwise the card's."""
    manifest = json.loads((image_set / "manifest.json").read_text())
    storage = {**manifest["storage"], "real_basis": "\x1b]0;pwned\x07\x1b[2Jclear"}
    out = _received(image_set, tmp_path / "run", storage=storage)
    said = mmdistill.load(out).summary()
    assert "\x1b" not in said and "\x07" not in said and "\\x1b]0;pwned\\x07\\x1b[2Jclear" in said
    assert mmdistill.load(image_set).summary() == mmdistill.load(_received(image_set, tmp_path / "plain")).summary()


@pytest.mark.parametrize("field", ["paper", "sample_noun", "created"])
def test_a_line_break_or_escape_in_the_manifests_paper_noun_or_date_is_refused(field, image_set, tmp_path, capsys):
    """Like its recipe and dataset names, these one-line fields mmdistill writes itself hold no control character: a
    stranger's ``paper`` cleared the receiver's terminal in ``show`` (walk 48C)."""
    out = _received(image_set, tmp_path / "run", **{field: "x\x1b[2J\n---"})
    with pytest.raises(ArtifactError, match=rf"field '{field}' is .*a name holds no line break"):
        mmdistill.load(out)
    assert main(["show", str(out)]) == 4 and f"field '{field}'" in capsys.readouterr().err


def test_a_tensor_file_larger_than_the_memory_available_is_refused_before_it_is_read(image_set, tmp_path, monkeypatch, capsys):
    """A sparse ``synthetic.safetensors`` (a few KiB on disk, a tarball carries it as such) whose header claims 16 GiB
    was read into memory by safetensors: a MemoryError traceback, or the machine swapping (walk 48C)."""
    out = _received(image_set, tmp_path / "run")
    tensor_file = out / "synthetic.safetensors"
    with open(tensor_file, "r+b") as fh:
        fh.truncate(16 * 2**30)  # holes: nothing is written
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 8 * 2**30)
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors holds 16.0 GiB of tensors, more than the 8.0 GiB of memory available"):
        mmdistill.load(out)
    assert main(["show", str(out)]) == 4 and "16.0 GiB" in capsys.readouterr().err


def test_a_tensor_the_manifest_lists_smaller_is_refused_from_the_header_before_it_is_read(image_set, tmp_path, monkeypatch, capsys):
    """A sparse ``synthetic.safetensors`` whose header declares ``data.x`` as 1 GiB (the manifest: a few images) was read
    whole, the shape compared afterwards: ``show`` peaked at 2.4 GB before its refusal (walk 56C, ``/usr/bin/time -v``),
    and a claim under the memory available but over twice it killed the process. The header's shapes are compared with
    the manifest's before any tensor is read; a tensor the manifest does not list is refused the same way."""
    from safetensors.torch import save_file

    for name, tensors in (("huge", {"data.x": (2**28,), "labels": (10,)}), ("extra", {"data.x": None, "labels": (10,), "junk": (2**28,)})):
        out = _received(image_set, tmp_path / name)
        listed = json.loads((out / "manifest.json").read_text())["synthetic"]["tensors"]
        declared = {k: list(v) if v is not None else listed[k] for k, v in tensors.items()}
        small = {k: torch.zeros(1) for k in declared}  # written small, then the header rewritten to declare the big shape
        save_file(small, str(out / "synthetic.safetensors"))
        entries, offset = {}, 0
        for k, shape in declared.items():
            size = 4 * math.prod(shape) if k.startswith(("data.", "junk")) else 8 * math.prod(shape)
            entries[k] = {"dtype": "F32" if k != "labels" else "I64", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        header = json.dumps(entries).encode()
        header += b" " * (-len(header) % 8)
        with open(out / "synthetic.safetensors", "wb") as fh:
            fh.write(len(header).to_bytes(8, "little") + header)
            fh.truncate(8 + len(header) + offset)  # holes: nothing is written
        _tensors_never_read(monkeypatch, "the tensors were read before the shapes were compared")
        expected = r"has shape \[268435456\], .*manifest.json says \[\d+, 1, 8, 8\]" if name == "huge" else r"holds tensors the manifest does not list \(junk\); the file does not belong to .*manifest.json"
        with pytest.raises(ArtifactError, match=expected):
            mmdistill.load(out)
        assert main(["show", str(out)]) == 4 and "not loaded" in capsys.readouterr().err


def test_tensors_that_do_not_fit_the_address_space_are_one_line_not_a_traceback(image_set, tmp_path, monkeypatch):
    """Under ``ulimit -v`` safetensors' map of a file whose header claims GiBs raised MemoryError (walk 48C)."""
    out = _received(image_set, tmp_path / "run")

    def no_room(*args, **kwargs):
        raise MemoryError("Cannot allocate memory (os error 12)")

    monkeypatch.setattr("mmdistill.io.read_aligned", no_room)
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors: its 0.0 GiB of tensors do not fit in this process's memory"):
        mmdistill.load(out)


def test_a_manifest_larger_than_json_files_mmdistill_writes_is_refused_unparsed(image_set, tmp_path, monkeypatch, capsys):
    """A 300 MB manifest of ``[{},{},...]`` took 6.6 GB to parse (json builds a dict per 3 bytes); a received set's
    ``show`` ran the machine out of memory (walk 48C). Over :data:`MAX_JSON_BYTES` it is named by its size, unread."""
    out = _received(image_set, tmp_path / "run")
    with open(out / "manifest.json", "a") as fh:
        fh.write(" " * (MAX_JSON_BYTES + 1))  # still valid JSON: the size alone refuses it
    parsed = []
    monkeypatch.setattr("mmdistill.json_text.json.loads", lambda *a, **k: parsed.append(1))
    with pytest.raises(ArtifactError, match=r"manifest.json is not valid JSON \(64 MiB, more than the 64 MiB mmdistill reads of a JSON file"):
        mmdistill.load(out)
    assert main(["show", str(out)]) == 4 and "more than the 64 MiB" in capsys.readouterr().err and not parsed


def test_a_received_configs_evaluation_of_a_hundred_million_runs_is_not_taken(caplog):
    """``mmdistill eval`` of a set whose manifest's config asked for ``eval_runs`` 10^8 planned 10^8 runs: a MemoryError
    traceback after 19 s; ``eval_epochs`` 10^9 trained silently for ever (walk 48C). Both keys have an upper bound now,
    so the saved values are dropped, named in one line, and the defaults are used."""
    from mmdistill.recipes import get_recipe

    recipe = get_recipe("image-dm")
    with caplog.at_level(logging.INFO, logger="mmdistill"):
        cfg = recipe.config_from_saved({"dataset": "digits", "eval_runs": 10**8, "eval_epochs": 10**9}, {})
    default = recipe.config_from_saved({"dataset": "digits"}, {})
    assert (cfg.eval_runs, cfg.eval_epochs) == (default.eval_runs, default.eval_epochs)
    assert "eval_runs=100000000" in caplog.text and "eval_epochs=1000000000" in caplog.text
    with pytest.raises(ConfigError, match=r"eval_runs=100000: expected an integer in \[1, 10000\]"):
        recipe.config(eval_runs=100000)


@pytest.mark.parametrize("name", ["image", "audio", "graph", "video", "sequences", "audio_visual"])
def test_the_storage_a_genuine_set_records_is_what_its_tensors_hold(name, tmp_path_factory, caplog):
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        mmdistill.load(make_set(name, tmp_path_factory.mktemp(name)))
    assert "'storage' block" not in caplog.text


def test_a_manifest_stating_a_smaller_set_than_its_tensors_is_named(image_set, tmp_path, caplog, capsys):
    """The card and ``show`` stated the manifest's ``storage`` as it was: a stranger's set claimed 1 byte against 931,323
    GiB of real data, unchecked, though the loaded tensors give the true figures (walk 48C)."""
    storage = json.loads((image_set / "manifest.json").read_text())["storage"]
    out = _received(image_set, tmp_path / "run", storage={**storage, "synthetic_bytes": 1, "ratio": 1e-15})
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        mmdistill.load(out)
    assert f"{out / 'manifest.json'}: its 'storage' block says 1 bytes for {storage['samples']} samples (ratio 1e-15), the tensors hold " \
           f"{storage['synthetic_bytes']} bytes" in caplog.text


@pytest.mark.parametrize("command", [["eval", "--write"], ["check"]])
def test_a_received_folders_linked_metrics_log_is_refused_before_the_evaluation_not_after(command, image_set, tmp_path, monkeypatch, capsys):
    """``eval --write`` and ``check`` of a folder whose ``metrics.jsonl`` links out of it evaluated (minutes) and then
    refused the link when the card read the log, the result lost (walk 56C). The link is refused before any work."""
    out = _received(image_set, tmp_path / "run")
    (tmp_path / "elsewhere.txt").write_text("not the set's\n")
    (out / "metrics.jsonl").unlink(missing_ok=True)
    (out / "metrics.jsonl").symlink_to(tmp_path / "elsewhere.txt")
    for work in ("_rescore", "_check"):
        monkeypatch.setattr(f"mmdistill.saved_cli.{work}", lambda *a, **k: pytest.fail("the work ran before the link was refused"))
    assert main([command[0], str(out), *command[1:]]) == 4
    assert "metrics.jsonl is a symbolic link" in capsys.readouterr().err
    assert (tmp_path / "elsewhere.txt").read_text() == "not the set's\n" and (out / "metrics.jsonl").is_symlink()


def _declaring(path: Path, name: str, shape: list[int]) -> None:
    """Rewrite safetensors file ``path``'s header so that tensor ``name`` declares ``shape`` (float32), the file a sparse
    one of the length that header implies (its data holes: nothing written)."""
    raw = path.read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    header[name] = {**header[name], "dtype": "F32", "shape": shape}
    offset = 0
    for key, entry in header.items():
        if key != "__metadata__":
            size = math.prod(entry["shape"]) * {"F32": 4, "I64": 8}.get(entry["dtype"], 4)
            entry["data_offsets"], offset = [offset, offset + size], offset + size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little") + text)
        fh.truncate(8 + len(text) + offset)


def test_a_checkpoint_declaring_a_tensor_larger_than_the_runs_set_is_refused_before_it_is_read(image_set, tmp_path, monkeypatch):
    """``--resume`` of a received run folder read its whole checkpoint before comparing it with the run: a sparse file
    declaring a 1 GiB tensor was allocated (walk 56C). A tensor larger than the run's synthetic set's largest is refused
    from the header."""
    from mmdistill.io import load_synthetic
    from mmdistill.loop import load_checkpoint, save_checkpoint

    syn, _ = load_synthetic(image_set)
    opt = torch.optim.SGD([p.requires_grad_(True) for p in syn.parameters()], lr=0.1, momentum=0.5)
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, syn, opt, 1, 1.0, {})
    assert load_checkpoint(path, syn, opt, {})[0] == 1  # as written: read
    _declaring(path, "syn.data.x", [2**28])
    _tensors_never_read(monkeypatch, "the checkpoint was read first")
    with pytest.raises(ArtifactError, match=r"tensor 'syn.data.x' in .*checkpoint.safetensors declares shape \[268435456\] \(268435456 "
                                            r"values\), more than the \d+ of the largest tensor of this run's synthetic set"):
        load_checkpoint(path, syn, opt, {})
