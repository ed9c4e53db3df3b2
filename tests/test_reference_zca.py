"""Walk 53A: ``mmdistill import`` of MTT's ``--zca`` sets and experts. Before, they were refused ("mmdistill has no ZCA
whitening"); now a recipe with the ``zca`` key imports them as they are, the whitening refitted on the named dataset's
training split (the reference fits kornia's ZCAWhitening on the same pixels). MTT whitens only CIFAR: the tests let
digits stand in for it (``ZCA_DATASETS`` patched), as the project never needs CIFAR in its tests."""

from __future__ import annotations

import pytest
import torch

from mmdistill.buffer import ExpertBuffer, spec_mismatch
from mmdistill.cli import main


@pytest.fixture(autouse=True)
def _digits_whitened_by_mtt(monkeypatch):
    import mmdistill.reference as reference

    monkeypatch.setattr(reference, "ZCA_DATASETS", ("digits",))


def _refused(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(["import", *argv]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error: ")][-1]


def _whitened_set(tmp_path):
    """MTT's distill.py save of a --zca set: images in the whitened space (here whitened real digits), hard labels."""
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_mtt import RECIPE

    data = MODALITY.load(RECIPE.config(dataset="digits", ipc=2, budget="cpu", zca=True))
    idx = torch.cat([torch.nonzero(data.train.y == c).flatten()[:2] for c in range(10)])
    folder = tmp_path / "logged_files"
    folder.mkdir()
    torch.save(data.train.x[idx].clone(), folder / "images_best.pt")
    torch.save(data.train.y[idx].clone(), folder / "labels_best.pt")
    return folder / "images_best.pt", data.train.x[idx]


def test_an_mtt_zca_set_imports_whitened_with_its_fit(tmp_path, capsys, monkeypatch):
    import mmdistill.report

    monkeypatch.setattr(mmdistill.report, "add_sharing_blocks", lambda *a, **k: None)  # the memorisation plot: seconds
    images, x = _whitened_set(tmp_path)
    out = tmp_path / "run"
    assert main(["import", "image-mtt", str(images), "--zca", "yes", "--dataset", "digits", "--budget", "cpu", "--out", str(out),
                 "evaluate=false", "--no-progress"]) == 0
    ds = mmdistill.load(out)  # the package, bound by the import above
    assert torch.equal(ds.x, x)  # as the file holds them: no normalisation applied to whitened images
    assert ds.manifest["config"]["zca"] is True and sorted(ds.synthetic.fixed) == ["zca_basis", "zca_mean", "zca_variances"]
    assert "ZCA-whitened" in ds.manifest["imported_from"]["pixels"]
    assert ("which no mean and std describe; image-dm does not whiten: import it with a recipe that whitens (image-mtt, "
            "image-tesla: zca=true") in _refused(
        capsys, "image-dm", str(images), "--zca", "yes", "--dataset", "digits", "--out", str(tmp_path / "dm"))
    assert "is ZCA-whitened (--zca yes); zca=false was given: leave it out" in _refused(
        capsys, "image-mtt", str(images), "--zca", "yes", "--dataset", "digits", "--out", str(tmp_path / "x"), "zca=false")


def test_mtt_zca_experts_convert_to_a_buffer_only_a_whitened_run_matches(tmp_path, capsys):
    from test_reference_import import _replay_buffers

    from mmdistill.expert_runs import expert_spec
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_mtt import RECIPE

    _replay_buffers(tmp_path / "buffers" / "digits" / "ConvNetD2")
    out = tmp_path / "buf"
    assert main(["import", "image-mtt", str(tmp_path / "buffers" / "digits" / "ConvNetD2"), "--zca", "yes", "--dataset", "digits",
                 "--budget", "cpu", "--buffer", str(out), "batch_train=32"]) == 0
    saved = ExpertBuffer(out).index["spec"]
    assert saved["data"] == {"input_space": {"zca": {"eps": 0.1}}}

    def spec(zca: bool):
        cfg = RECIPE.config(dataset="digits", ipc=1, budget="cpu", zca=zca)
        data = MODALITY.load(cfg)
        return expert_spec(cfg, data, MODALITY.matching_network(cfg, data))

    white, plain = spec(True), spec(False)
    assert spec_mismatch(saved, white) == ""
    assert "training data's input space" in spec_mismatch(saved, plain)
    assert "training data's input space" in spec_mismatch({**saved, "data": None}, white)  # an un-whitened import, or older


def test_an_unwhitened_import_turns_off_the_tables_zca_and_a_contrary_zca_is_refused(tmp_path):
    """image-mtt whitens CIFAR-100 IPC 1 by default (MTT's README command): a ``--zca no`` file of it is imported with
    zca=false, or its normalised images would be scored on whitened test data."""
    from mmdistill.errors import ConfigError
    from mmdistill.recipes.image_mtt import RECIPE
    from mmdistill.reference_cli import _zca_as_files

    argv = ["--dataset", "cifar100", "ipc=1"]
    cfg = RECIPE.config_from_argv(argv)
    assert cfg.zca is True
    turned = _zca_as_files(RECIPE, cfg, False, tmp_path / "images_best.pt")
    assert turned.zca is False and (turned.dataset, turned.ipc) == (cfg.dataset, cfg.ipc)
    assert _zca_as_files(RECIPE, cfg, True, tmp_path / "images_best.pt") is cfg
    with pytest.raises(ConfigError, match="is not whitened .--zca no.; zca=true was given"):
        _zca_as_files(RECIPE, RECIPE.config_from_argv([*argv, "zca=true"]), False, tmp_path / "images_best.pt")


def test_a_zca_set_in_a_config_file_is_the_users_and_is_not_overridden(tmp_path):
    """Review 53K2: whether the user gave ``zca`` was a regex over argv, which missed ``--config FILE`` saying ``zca: true``:
    an un-whitened file's import then turned the user's own zca off without a word. It is now refused as a flag is."""
    from mmdistill.errors import ConfigError
    from mmdistill.recipes.image_mtt import RECIPE
    from mmdistill.reference_cli import _zca_as_files

    (tmp_path / "mine.yaml").write_text("zca: true\n", encoding="utf-8")
    cfg = RECIPE.config_from_argv(["--config", str(tmp_path / "mine.yaml"), "--dataset", "cifar10", "ipc=10"])
    assert cfg.zca is True
    with pytest.raises(ConfigError, match="is not whitened .--zca no.; zca=true was given"):
        _zca_as_files(RECIPE, cfg, False, tmp_path / "images_best.pt")


def test_an_imports_whitening_is_decided_once(tmp_path, monkeypatch):
    """Review 53K5: ``mtt_whitened`` ran twice per import (again inside ``pixel_stats``, whose own refusal of whitened
    files no import could reach: ``_zca_as_files`` refuses a recipe that cannot whiten first, with that refusal's hint)."""
    import mmdistill.reference as reference
    import mmdistill.reference_cli as reference_cli
    import mmdistill.report

    monkeypatch.setattr(mmdistill.report, "add_sharing_blocks", lambda *a, **k: None)  # the memorisation plot: seconds
    calls = []
    real = reference.mtt_whitened

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(reference, "mtt_whitened", counted)
    monkeypatch.setattr(reference_cli, "mtt_whitened", counted)
    images, _ = _whitened_set(tmp_path)
    assert main(["import", "image-dm", str(images), "--zca", "no", "--stats", "unit", "--dataset", "digits", "--budget", "cpu",
                 "--out", str(tmp_path / "run"), "evaluate=false", "--no-progress"]) == 0
    assert len(calls) == 1
