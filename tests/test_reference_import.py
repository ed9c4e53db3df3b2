"""``mmdistill import`` (walk 51D): sets and expert buffers written as the reference code writes them (DC's
``res_*.pt``, MTT's ``images_best.pt`` / ``labels_best.pt`` and ``replay_buffer_<n>.pt``), generated here with
``torch.save`` calls shaped as the reference's, brought into mmdistill and refused where they cannot be used honestly."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import mmdistill
from mmdistill.buffer import ExpertBuffer
from mmdistill.cli import main
from mmdistill.errors import ArtifactError, ConfigError
from mmdistill.nets import build_network
from mmdistill.reference import ImportOptions, mtt_whitened, pixel_stats, read_reference

#: the mean and std the tests' "fork" of the reference code normalised digits with (mmdistill's, to 4 digits)
DIGITS_STATS = "0.3054/0.3761"
K, IPC = 10, 2


def _dc_result(folder: Path, experiments: int = 2) -> Path:
    """DC's ``main.py`` save: one [images, labels] pair per experiment and numpy-float accuracies."""
    folder.mkdir(parents=True, exist_ok=True)
    label_syn = torch.tensor(np.array([np.ones(IPC) * i for i in range(K)]), dtype=torch.long).view(-1)
    data_save, accs_all_exps = [], {"ConvNet": []}
    for exp in range(experiments):
        image_syn = torch.randn(size=(K * IPC, 1, 8, 8), dtype=torch.float, generator=torch.Generator().manual_seed(exp))
        accs_all_exps["ConvNet"] += [np.float64(np.sum(np.equal([1, 2], [1, 3]))) / 2]  # utils.epoch's numpy accuracy
        data_save.append([copy.deepcopy(image_syn.detach().cpu()), copy.deepcopy(label_syn.detach().cpu())])
    path = folder / "res_DC_digits_ConvNet_2ipc.pt"
    torch.save({"data": data_save, "accs_all_exps": accs_all_exps, }, path)
    return path


def _run(*argv: str) -> int:
    return main(["import", *argv])


def _refused(capsys, *argv: str) -> str:
    """The one error line of ``mmdistill import ARGV`` (a nonzero exit, no traceback)."""
    capsys.readouterr()
    assert _run(*argv) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error: ")][-1]


def test_a_dc_result_file_imports_as_a_run_folder_scored_next_to_the_baselines(tmp_path, capsys):
    res = _dc_result(tmp_path / "result")
    out = tmp_path / "dc"
    assert _run("image-dc", str(res), "--stats", DIGITS_STATS, "--dataset", "digits", "--budget", "cpu", "--out", str(out),
                "eval_runs=1", "eval_epochs=2", "baselines=random_real", "--no-progress") == 0
    ds = mmdistill.load(out)
    stored = torch.load(res, weights_only=False)["data"][-1][0]  # the last experiment, by default
    mean, std = ds.normalization["x"]["mean"], ds.normalization["x"]["std"]
    assert torch.allclose(ds.x, (stored * 0.3761 + 0.3054 - mean) / std, atol=1e-6)
    assert ds.labels.tolist() == [c for c in range(K) for _ in range(IPC)]
    origin = ds.manifest["imported_from"]
    assert origin["experiment"] == 1 and origin["experiments"] == 2 and origin["method"] == "DC" and origin["reported"] == {"ConvNet": 0.5}
    assert {"distilled", "random_real"} <= set(ds.manifest["metrics"])
    assert "distilled" in capsys.readouterr().out
    card = (out / "README.md").read_text(encoding="utf-8")  # a receiver reads that the set was made elsewhere (session 51)
    assert "made by the reference code `DatasetCondensation` and imported into mmdistill" in card
    assert ("- imported from `res_DC_digits_ConvNet_2ipc.pt` (DatasetCondensation, experiment 1 of 2; pixels: 0.3054/0.3761): "
            "distilled by that code, not by mmdistill, so the config's distillation keys did not run") in card
    assert "the reference recorded ConvNet: 50.00 % (its own protocol)" in card
    again = ("image-dc", str(res), "--stats", DIGITS_STATS, "--dataset", "digits", "--out", str(out), "evaluate=false")
    assert _refused(capsys, *again).endswith(f"{out} already holds a run; pass --overwrite to replace it with the imported set, "
                                             "or choose another --out")  # not the run's 'pass --resume to continue it'
    assert "an import has nothing to resume" in _refused(capsys, *again, "--resume")


def test_an_mtt_set_takes_its_labels_file_and_the_step_size_it_learned(tmp_path, capsys):
    run = tmp_path / "logged_files" / "digits" / "run"
    run.mkdir(parents=True)
    labels = torch.tensor(np.array([np.ones(IPC, dtype=np.int_) * i for i in range(K)]), dtype=torch.long).view(-1)
    torch.save(torch.randn(K * IPC, 1, 8, 8).cpu(), run / "images_best.pt")
    torch.save(labels.cpu(), run / "labels_best.pt")
    torch.save(torch.tensor(0.02), tmp_path / "lr_best.pt")
    out = tmp_path / "mtt"
    assert _run("image-mtt", str(run / "images_best.pt"), "--syn-lr", str(tmp_path / "lr_best.pt"), "--stats", DIGITS_STATS,
                "--dataset", "digits", "--budget", "cpu", "--out", str(out), "evaluate=false", "--no-progress") == 0
    ds = mmdistill.load(out)
    assert ds.step_size == pytest.approx(0.02) and ds.manifest["imported_from"]["labels_file"] == "labels_best.pt"
    (run / "labels_best.pt").unlink()
    assert re.search(r"images only; MTT writes their labels to labels_best\.pt beside them: pass --labels",
                     _refused(capsys, "image-mtt", str(run / "images_best.pt"), "--dataset", "digits", "--out", str(tmp_path / "x")))


class Payload:
    """Any class a pickle names: what weights_only refuses."""


def test_a_file_holding_anything_but_tensors_and_plain_containers_is_refused_in_one_line(tmp_path):
    torch.save({"data": [[torch.zeros(2, 1, 8, 8), Payload()]]}, tmp_path / "res_DC_x.pt")
    with pytest.raises(ArtifactError, match=r"res_DC_x\.pt: not loaded: mmdistill reads \.pt files with torch\.load\(weights_only=True\) "
                                            r"only.*Payload") as err:
        read_reference(tmp_path / "res_DC_x.pt")
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
    (tmp_path / "cut.pt").write_bytes((tmp_path / "res_DC_x.pt").read_bytes()[:100])
    with pytest.raises(ArtifactError, match=r"cut\.pt"):
        read_reference(tmp_path / "cut.pt")


def test_soft_or_uneven_labels_are_refused_naming_the_file(tmp_path, capsys):
    torch.save(torch.randn(4, 1, 8, 8), tmp_path / "images_best.pt")
    torch.save(torch.randn(4, 10), tmp_path / "labels_best.pt")
    assert "images_best.pt: the labels are soft" in _refused(capsys, "image-mtt", str(tmp_path / "images_best.pt"), "--dataset", "digits")
    torch.save(torch.tensor([0, 0, 0, 1]), tmp_path / "labels_best.pt")
    assert "the classes hold [1, 3] samples" in _refused(capsys, "image-mtt", str(tmp_path / "images_best.pt"), "--dataset", "digits")


def test_the_pixels_scale_follows_the_source_code_and_zca_must_be_stated(tmp_path):
    c10 = ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
    mean, std = pixel_stats(ImportOptions(), "mtt", "cifar100", 3, tmp_path / "CIFAR100_NO_ZCA" / "ConvNet" / "replay_buffer_0.pt")
    assert torch.allclose(mean.flatten(), torch.tensor(c10[0])) and torch.allclose(std.flatten(), torch.tensor(c10[1]))  # MTT's own
    mean, _ = pixel_stats(ImportOptions(), "dc", "cifar100", 3, tmp_path / "res.pt")
    assert torch.allclose(mean.flatten(), torch.tensor([0.5071, 0.4866, 0.4409]))
    with pytest.raises(ConfigError, match=r"with or without ZCA whitening \(--zca\) and its files do not say which: pass --zca no"):
        mtt_whitened(ImportOptions(), "mtt", "cifar10", tmp_path / "images_best.pt")
    assert mtt_whitened(ImportOptions(zca="yes"), "mtt", "cifar10", tmp_path / "images_best.pt")
    # buffer.py's folder for --zca experts: <buffer_path>/CIFAR10/<model>
    assert mtt_whitened(ImportOptions(), "mtt", "cifar10", tmp_path / "CIFAR10" / "ConvNet" / "replay_buffer_0.pt")
    assert not mtt_whitened(ImportOptions(stats="unit", zca="yes"), "mtt", "cifar10", tmp_path / "images_zca_5000.pt")
    assert pixel_stats(ImportOptions(stats="unit", zca="yes"), "mtt", "cifar10", 3, tmp_path / "images_zca_5000.pt") is None
    with pytest.raises(ConfigError, match=r"normalises only mnist, .*: --stats M1"):
        pixel_stats(ImportOptions(), "dc", "digits", 1, tmp_path / "res.pt")


def _replay_buffers(folder: Path, experts: int = 3, per_file: int = 2, epochs: int = 3, alias: bool = False) -> list[list[torch.Tensor]]:
    """MTT's ``buffer.py`` save of ConvNetD2 experts on 8x8 digits (its parameters() order is mmdistill's); a random
    walk stands in for training. ``alias``: ``p.detach().cpu()`` on a CPU, a view of the live parameters."""
    folder.mkdir(parents=True, exist_ok=True)
    trajectories, flat, n = [], [], 0
    for it in range(experts):
        torch.manual_seed(it)
        teacher_net = build_network("convnetd2", (1, 8, 8), K)
        snap = (lambda: [p.detach().cpu() for p in teacher_net.parameters()]) if alias else \
            (lambda: [p.detach().cpu().clone() for p in teacher_net.parameters()])  # the GPU's device-to-host copy
        timestamps = [snap()]
        for _ in range(epochs):
            with torch.no_grad():
                for p in teacher_net.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            timestamps.append(snap())
        trajectories.append(timestamps)
        flat.append(torch.stack([torch.cat([p.reshape(-1) for p in ps]) for ps in timestamps]))
        if len(trajectories) == per_file or it == experts - 1:
            torch.save(trajectories, os.path.join(folder, "replay_buffer_{}.pt".format(n)))
            trajectories, n = [], n + 1
    return flat


def test_an_mtt_buffer_converts_to_an_mmdistill_buffer_a_run_matches(tmp_path, capsys):
    flat = _replay_buffers(tmp_path / "buffers" / "digits" / "ConvNetD2")
    out = tmp_path / "buf"
    assert _run("image-mtt", str(tmp_path / "buffers" / "digits" / "ConvNetD2"), "--stats", DIGITS_STATS, "--dataset", "digits",
                "--budget", "cpu", "--buffer", str(out), "batch_train=32") == 0
    buffer = ExpertBuffer(out)
    assert buffer.num_experts == 3 and buffer.epochs == 3 and buffer.index["imported_from"]["files"] == ["replay_buffer_0.pt", "replay_buffer_1.pt"]
    for i in range(3):
        assert torch.equal(buffer.rows(i, [0, 1, 2, 3]), flat[i])
    assert main(["run", "image-mtt", "--dataset", "digits", "--budget", "cpu", "--ipc", "1", "--buffer", str(out), "--out",
                 str(tmp_path / "run"), "iterations=1", "max_start_epoch=1", "expert_epochs=2", "syn_steps=2", "evaluate=false",
                 "--no-progress"]) == 0
    assert "imported from the reference code's files, which record none" in capsys.readouterr().err
    assert mmdistill.load(tmp_path / "run").manifest["synthetic"]["meta"]["expert_buffer"]["folder"] == "buf"


def test_a_cpu_made_mtt_buffer_of_one_repeated_epoch_is_refused_and_leaves_no_folder(tmp_path, capsys):
    _replay_buffers(tmp_path / "mtt", alias=True)
    assert "replay_buffer_0.pt: expert 0 holds the same parameters at every epoch" in _refused(
        capsys, "image-mtt", str(tmp_path / "mtt"), "--stats", DIGITS_STATS, "--dataset", "digits", "--buffer", str(tmp_path / "buf"))
    assert not (tmp_path / "buf").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["mtt"]


def test_mtt_experts_that_saw_other_normalised_pixels_are_refused(tmp_path):
    from mmdistill.reference_cli import _check_expert_pixels

    cifar100 = SimpleNamespace(name="cifar100", sample_shape=(3, 32, 32),
                               meta={"mean": [0.5071, 0.4866, 0.4409], "std": [0.2673, 0.2564, 0.2762]})
    with pytest.raises(ConfigError, match=r"MTT's experts saw images normalised with mean \[0\.4914.*mmdistill normalises cifar100 "
                                          r"with mean \[0\.5071"):
        _check_expert_pixels(ImportOptions(zca="no"), cifar100, tmp_path / "replay_buffer_0.pt")
    cifar10 = SimpleNamespace(name="cifar10", sample_shape=(3, 32, 32), meta={"mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]})
    _check_expert_pixels(ImportOptions(), cifar10, tmp_path / "CIFAR10_NO_ZCA" / "ConvNet" / "replay_buffer_0.pt")


def test_the_readme_lines_write_an_mmdistill_buffer_back_in_mtts_layout(tmp_path, monkeypatch):
    """README, *Back to the reference code*: the converted buffer written back is MTT's list of experts, each a list of
    epochs of parameter tensors, equal to the files it was converted from."""
    source = tmp_path / "mtt"
    _replay_buffers(source, experts=2, per_file=2)
    assert _run("image-mtt", str(source), "--stats", DIGITS_STATS, "--dataset", "digits", "--budget", "cpu",
                "--buffer", str(tmp_path / "buffers" / "c10-from-mtt")) == 0
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("**Back to the reference code.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    back, original = torch.load("replay_buffer_0.pt", weights_only=True), torch.load(source / "replay_buffer_0.pt", weights_only=True)
    assert len(back) == len(original) == 2 and all(len(b) == len(o) == 4 for b, o in zip(back, original))
    assert all(torch.equal(p, q) for b, o in zip(back, original) for pb, po in zip(b, o) for p, q in zip(pb, po))


def test_import_help_lists_its_options_and_points_at_the_recipe_keys(capsys):
    with pytest.raises(SystemExit) as done:
        _run("image-dc", "--help")
    out = capsys.readouterr().out
    assert done.value.code == 0 and "--syn-lr" in out and "--zca {no,yes}" in out and "mmdistill run RECIPE --help" in out


def test_an_empty_set_or_accuracies_that_are_no_numbers_are_named_not_a_traceback(tmp_path, capsys):
    labels = torch.zeros(0, dtype=torch.long)
    torch.save({"data": [[torch.zeros(0, 1, 8, 8), labels]], "accs_all_exps": {"ConvNet": ["n/a"]}}, tmp_path / "res_DC_x.pt")
    assert "res_DC_x.pt: the set holds no images" in _refused(capsys, "image-dc", str(tmp_path / "res_DC_x.pt"), "--dataset", "digits")
    from mmdistill.reference import read_reference_set  # the accuracies alone
    torch.save({"data": [[torch.zeros(20, 1, 8, 8), torch.arange(10).repeat_interleave(2)]], "accs_all_exps": {"ConvNet": ["n/a"]}},
               tmp_path / "res_DC_y.pt")
    assert read_reference_set(tmp_path / "res_DC_y.pt", ImportOptions()).record["reported"] is None


def test_numpy_floats_pickled_under_numpy_1s_module_names_are_read(tmp_path):
    """DC's result files of 2021 name numpy.core.multiarray.scalar (numpy 2: numpy._core): both spellings load."""
    import zipfile

    torch.save({"accs_all_exps": {"ConvNet": [np.float64(0.5)]}}, tmp_path / "np2.pt")
    with zipfile.ZipFile(tmp_path / "np2.pt") as src, zipfile.ZipFile(tmp_path / "np1.pt", "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") if name.endswith("data.pkl") else data)
    assert read_reference(tmp_path / "np1.pt") == read_reference(tmp_path / "np2.pt") == {"accs_all_exps": {"ConvNet": [0.5]}}
