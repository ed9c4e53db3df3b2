"""Walk 53A: ZCA whitening as MTT whitens CIFAR-10/100 (``--zca``: kornia's ``ZCAWhitening(eps=0.1)`` fitted on the
training images). Before, mmdistill had none: MTT's CIFAR rows ran on merely normalised images."""

from __future__ import annotations

import functools

import pytest
import torch

from mmdistill.errors import ArtifactError, DataError


def _direct(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """kornia's zca_mean written out once more, with an SVD in float64: mean (D,), T (D, D), T_inv (D, D)."""
    flat = x.reshape(x.shape[0], -1).double()
    mean = flat.mean(0)
    c = flat - mean
    cov = c.T @ c / (flat.shape[0] - 1)
    u, s, _ = torch.linalg.svd(cov)
    return mean, u @ torch.diag((s + eps).rsqrt()) @ u.T, u @ torch.diag((s + eps).sqrt()) @ u.T


def test_fit_is_the_references_formula_and_whitens_the_training_data():
    from mmdistill.modalities.image.zca import ZCA_EPS, fit_zca

    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(12, 12, generator=gen)
    x = (torch.randn(200, 12, generator=gen) @ mix).reshape(200, 3, 2, 2) + 0.5  # correlated features
    fit = fit_zca(x, eps=1e-6)
    mean, t, t_inv = _direct(x, 1e-6)
    assert torch.allclose(fit.mean.double(), mean, atol=1e-5)
    assert torch.allclose(fit.matrix.double(), t, atol=1e-4 * t.abs().max())
    assert torch.allclose(fit.inverse.double(), t_inv, atol=1e-4 * t_inv.abs().max())
    z = fit.whiten(x)
    assert z.shape == x.shape and z.dtype == x.dtype
    flat = z.reshape(200, -1).double()
    cov = (flat - flat.mean(0)).T @ (flat - flat.mean(0)) / 199
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=1e-3)  # identity up to eps
    assert torch.allclose(fit.unwhiten(z), x, atol=1e-4)
    assert ZCA_EPS == 0.1  # MTT's K.enhance.ZCAWhitening(eps=0.1)
    reg = fit_zca(x)  # eps shrinks each eigen-direction's variance to S / (S + eps)
    s = torch.linalg.eigvalsh(torch.cov(x.reshape(200, -1).T.double()))
    zc = torch.linalg.eigvalsh(torch.cov(reg.whiten(x).reshape(200, -1).T.double()))
    assert torch.allclose(zc, s / (s + 0.1), atol=1e-4)


def test_fit_round_trips_its_tensors_and_refuses_other_shapes():
    from mmdistill.modalities.image.zca import ZCAWhitening, fit_zca

    x = torch.rand(10, 1, 2, 3, generator=torch.Generator().manual_seed(1))
    fit = fit_zca(x)
    back = ZCAWhitening.from_tensors(fit.tensors(), fit.eps, "set/zca.safetensors")
    assert torch.equal(back.whiten(x), fit.whiten(x))
    with pytest.raises(DataError, match="fitted on samples of 6 values"):
        fit.whiten(torch.rand(2, 1, 3, 3))
    with pytest.raises(ArtifactError, match="zca.safetensors: the ZCA whitening has no tensor zca_variances"):
        ZCAWhitening.from_tensors({k: v for k, v in fit.tensors().items() if k != "zca_variances"}, 0.1, "set/zca.safetensors")
    with pytest.raises(DataError, match="at least 2 training samples"):
        fit_zca(x[:1])


@functools.lru_cache(maxsize=2)
def _digits(zca: bool):
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_mtt import RECIPE

    cfg = RECIPE.config(dataset="digits", ipc=1, budget="cpu", zca=zca)
    return cfg, MODALITY.load(cfg)


def test_zca_key_is_on_where_mtt_whitens_and_absent_elsewhere():
    """image-mtt/tesla take ``zca`` from MTT's table: on in the CIFAR rows that are MTT's --zca settings (DC-BENCH's
    author-provided commands: CIFAR-10 IPC 1 and 10, CIFAR-100 IPC 1 and 50), off in the rows published without it and for
    the datasets MTT did not distil; DC/DSA/DM have no such key; a checkpoint or config from before the key ran without it."""
    from mmdistill.recipes import image_dm, image_dsa, image_mtt, image_tesla
    from mmdistill.schema import ABSENT_BEFORE

    for recipe in (image_mtt.RECIPE, image_tesla.RECIPE):
        assert [recipe.config(dataset="cifar100", ipc=i).zca for i in (1, 10, 50)] == [True, False, True]
        assert recipe.config(dataset="cifar10", ipc=10).zca and not recipe.config(dataset="cifar10", ipc=50).zca
        assert not any(recipe.config(dataset=d, ipc=i).zca for d in ("digits", "mnist", "svhn") for i in (1, 10, 50))
        assert recipe.config(dataset="cifar100", ipc=10, zca=True).zca  # the user's value wins
    for recipe in (image_dm.RECIPE, image_dsa.RECIPE):
        assert not hasattr(recipe.config(dataset="cifar10"), "zca")
    assert ABSENT_BEFORE["zca"] is False


def test_cifar10_rows_are_the_authors_zca_commands_and_the_other_datasets_keep_the_no_zca_values():
    """DC-BENCH methods/tm/readme.md:48 and :52 (MTT's authors' CIFAR-10 commands, both --zca): IPC 1 syn_steps 50,
    expert_epochs 2, max_start 2, lr_img 100, lr_lr 1e-7, --lr_teacher 0.01; IPC 10 30, 2, 20, 100, 1e-5, --lr_teacher 0.001
    (the step size's start). Datasets MTT did not distil keep the no-ZCA values CIFAR-10 had before. image-tesla at CIFAR-10
    IPC 1 takes TESLA's README command (README.md:38: no --zca, max_start 5, lr_img 1000)."""
    from mmdistill.recipes import image_mtt, image_tesla
    from mmdistill.resolve import config_sources

    def row(cfg):
        return (cfg.syn_steps, cfg.expert_epochs, cfg.max_start_epoch, cfg.lr_data, cfg.lr_lr, cfg.lr_student, cfg.zca)

    one, ten = (image_mtt.RECIPE.config(dataset="cifar10", ipc=i) for i in (1, 10))
    assert row(one) == (50, 2, 2, 100.0, 1e-7, None, True) and one.lr_teacher == 0.01  # none: the step starts at lr_teacher
    assert row(ten) == (30, 2, 20, 100.0, 1e-5, 0.001, True)
    assert "dc_benchmark methods/tm/readme.md:52" in config_sources(ten)["zca"]
    for recipe in (image_mtt.RECIPE, image_tesla.RECIPE):
        assert row(recipe.config(dataset="digits", ipc=1)) == (50, 2, 5, 1000.0, 1e-7, None, False)
        assert row(recipe.config(dataset="mnist", ipc=10)) == (30, 2, 15, 1000.0, 1e-5, None, False)
    tesla_one = image_tesla.RECIPE.config(dataset="cifar10", ipc=1)
    assert row(tesla_one) == (50, 2, 5, 1000.0, 1e-7, None, False)
    assert config_sources(tesla_one)["max_start_epoch"].startswith("tables/tesla.yaml: dataset cifar10, ipc 1 (TESLA")
    for ipc in (10, 50):  # TESLA publishes nothing else for CIFAR-10: MTT's rows stand
        assert row(image_tesla.RECIPE.config(dataset="cifar10", ipc=ipc)) == row(image_mtt.RECIPE.config(dataset="cifar10", ipc=ipc))


def test_whitened_data_is_fitted_on_the_training_split_and_keys_the_experts():
    """zca=true: both splits are the training fit's whitening of [0, 1] pixels (as MTT's ToTensor-only --zca data); the
    fingerprint a buffer records differs, so experts trained on the other space are refused (not reused silently)."""
    from mmdistill.buffer import spec_mismatch
    from mmdistill.expert_runs import data_fingerprint
    from mmdistill.modalities.image.zca import fit_zca

    _, plain = _digits(False)
    _, white = _digits(True)
    m = torch.tensor(plain.meta["mean"]).view(1, -1, 1, 1)
    s = torch.tensor(plain.meta["std"]).view(1, -1, 1, 1)
    fit = fit_zca(plain.train.x * s + m)
    torch.testing.assert_close(white.train.x, fit.whiten(plain.train.x * s + m))
    torch.testing.assert_close(white.test.x, fit.whiten(plain.test.x * s + m))  # the SAME fit, not the test split's
    assert white.meta["mean"] == [0.0] and white.meta["std"] == [1.0]  # the set's pixels before whitening: [0, 1]
    assert white.meta["zca"]["eps"] == 0.1 and white.meta["zca"]["train_samples"] == plain.train.x.shape[0]
    assert torch.equal(white.train.y, plain.train.y)
    a, b = data_fingerprint(plain), data_fingerprint(white)
    assert a != b and "input_space" not in a and b["input_space"] == {"zca": {"eps": 0.1}}  # without ZCA: keyed as before
    from mmdistill.buffer import ExpertSpec, ParamLayout

    spec = lambda data: ExpertSpec("digits", "convnetd2", 10, ParamLayout(("w",), ((2,),)), [1, 8, 8], data_fingerprint(data))  # noqa: E731
    # a plain buffer records no input space: it is un-whitened. Walk 53I: the refusal said 'buffer {'zca': {'eps': 0.1}},
    # this run None' and 'zca=true or zca=false'; it names both spaces in words and the zca= of each way out
    for buffer, run, words, use, train in ((white, plain, "ZCA-whitened images (eps 0.1), this run's data are images not whitened", "true", "false"),
                                           (plain, white, "images not whitened, this run's data are ZCA-whitened images (eps 0.1)", "false", "true")):
        said = spec_mismatch(spec(buffer).as_json(), spec(run))
        assert "training data's input space" in said and f"the buffer's experts trained on {words}" in said, said
        assert f"run with zca={use} to use this buffer, or train experts with zca={train} into another --buffer" in said, said
    assert spec_mismatch(spec(white).as_json(), spec(white)) == spec_mismatch(spec(plain).as_json(), spec(plain)) == ""


def _saved(tmp_path, zca: bool, step_size: float | None = None):
    """A saved image-mtt set of digits (whitened with ``zca``), with MTT's learned ``syn_lr`` when ``step_size`` is given."""
    import mmdistill
    from mmdistill.modalities.image import MODALITY
    from mmdistill.report import new_manifest, write_artifact
    from mmdistill.seeding import generator

    cfg, data = _digits(zca)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    if step_size is not None:  # as the trajectory matcher adds it to every image-mtt / image-tesla set
        syn.data["syn_lr"] = torch.tensor(step_size)
        syn.meta["step_sizes"] = ["syn_lr"]
    out = tmp_path / ("zca" if zca else "plain")
    out.mkdir()
    write_artifact(out, syn.detached(), new_manifest(recipe="image-mtt", method="test", modality=MODALITY, dataset=data.name,
                                                     cfg=cfg, syn=syn), MODALITY)
    return mmdistill.load(out), data, out


def test_a_whitened_set_carries_its_fit_shows_pixels_and_prepares_images_as_its_test_split(tmp_path):
    """The saved set holds its whitening (``fixed.zca_*``, bytes on the card apart from the samples'); its preview and
    ImageFolder export are the un-whitened pixels (MTT's images_zca view, the same PNGs as the set without ZCA), and
    ``inputs_like`` whitens a user's images with the set's own fit, as the test split was; a set without ZCA is as before."""
    import json

    import numpy as np
    from PIL import Image

    white, wdata, wout = _saved(tmp_path, True)
    plain, pdata, pout = _saved(tmp_path, False)
    assert sorted(white.synthetic.fixed) == ["zca_basis", "zca_mean", "zca_variances"]
    assert not plain.synthetic.fixed and not any(k.startswith("fixed.") for k in plain.manifest["synthetic"]["tensors"])
    from mmdistill.card import storage_block

    st, pst = storage_block(white.synthetic, 256, "pixels"), storage_block(plain.synthetic, 256, "pixels")
    assert st["fixed_bytes"] == (64 + 64 * 64 + 64) * 4 == white.manifest["synthetic"]["meta"]["zca"]["bytes"]
    assert st["synthetic_bytes"] == pst["synthetic_bytes"] and "fixed_bytes" not in pst  # the samples' bytes alone
    assert white.manifest["synthetic"]["meta"]["input_space"] == {"zca": {"eps": 0.1}}
    m = torch.tensor(pdata.meta["mean"]).view(1, -1, 1, 1)
    s = torch.tensor(pdata.meta["std"]).view(1, -1, 1, 1)
    unit = pdata.test.x[:5] * s + m  # a user's own images: [0, 1] pixels of the set's shape
    torch.testing.assert_close(white.inputs_like(unit), wdata.test.x[:5], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(plain.inputs_like(unit), pdata.test.x[:5])
    from mmdistill.modalities.image import MODALITY

    MODALITY.export(white.synthetic, tmp_path / "wexp")
    MODALITY.export(plain.synthetic, tmp_path / "pexp")
    pngs = sorted(p.relative_to(tmp_path / "pexp") for p in (tmp_path / "pexp").rglob("*.png"))
    assert pngs and pngs == sorted(p.relative_to(tmp_path / "wexp") for p in (tmp_path / "wexp").rglob("*.png"))
    for p in pngs:  # un-whitened: the pixels the set was initialised from, to the 8-bit level
        a, b = (np.asarray(Image.open(root / p), dtype=np.int16) for root in (tmp_path / "wexp", tmp_path / "pexp"))
        assert np.abs(a - b).max() <= 1
    assert "whitened" in MODALITY.export_note(white.synthetic) and "whitened" not in MODALITY.export_note(plain.synthetic)
    assert json.loads((wout / "manifest.json").read_text())["synthetic"]["meta"]["zca"]["tensors"] == [
        "fixed.zca_mean", "fixed.zca_basis", "fixed.zca_variances"]


def test_images_like_the_readmes_function_whitens_as_inputs_like_does(tmp_path):
    """Walk 53J: README's table names ``images_like`` as the image adapter's function behind ``ds.inputs_like``, but
    only the hook whitened: ``images_like(ds, images)`` of a ZCA set gave un-whitened inputs, silently. It whitens for
    a whitened set (given the set or its synthetic set, files or tensors) and is unchanged for a plain one."""
    from PIL import Image

    from mmdistill.modalities.image import images_like

    white, wdata, _ = _saved(tmp_path, True)
    plain, pdata, _ = _saved(tmp_path, False)
    m = torch.tensor(pdata.meta["mean"]).view(1, -1, 1, 1)
    s = torch.tensor(pdata.meta["std"]).view(1, -1, 1, 1)
    unit = pdata.test.x[:3] * s + m
    for source in (white, white.synthetic):
        torch.testing.assert_close(images_like(source, unit), wdata.test.x[:3], atol=1e-4, rtol=1e-4)
    pixels = (unit * 255).round().to(torch.uint8)
    Image.fromarray(pixels[0, 0].numpy()).save(tmp_path / "mine.png")
    torch.testing.assert_close(images_like(white, [tmp_path / "mine.png"]), white.inputs_like(pixels[:1]))
    torch.testing.assert_close(images_like(white, pixels), white.inputs_like(pixels))
    torch.testing.assert_close(images_like(plain, unit), pdata.test.x[:3])

def test_the_card_and_the_export_description_say_the_inputs_are_whitened(tmp_path):
    """The card's "normalise your own real data alike" line was all a consumer of a whitened set read (mean 0, std 1):
    a network trained on the set, tested on images only normalised so, scores on other inputs. The card and the ``--to
    hf`` description now say the whitening follows, where its fit is, and that ``inputs_like`` applies both."""
    from mmdistill.consumer import export_description, input_note, normalization_of
    from mmdistill.modalities.image import MODALITY

    white, _, wout = _saved(tmp_path, True)
    plain, _, pout = _saved(tmp_path, False)
    card = (wout / "README.md").read_text()
    assert "then ZCA-whitened as MTT's --zca (eps 0.1" in card and "inputs_like(images)" in card
    assert "ZCA" not in (pout / "README.md").read_text()
    meta = white.synthetic.meta
    said = export_description(white.manifest, normalization_of(MODALITY, meta), note=input_note(MODALITY, meta))
    assert "Inputs normalised as" in said and "then ZCA-whitened" in said
    assert input_note(MODALITY, plain.synthetic.meta) is None


def test_merge_keeps_a_whitened_sets_fit_and_refuses_a_part_of_another_space(tmp_path):
    """``mmdistill merge``'s joined set was built without the parts' whitening (its preview then failed on a set that
    says it is whitened and holds no fit), and a plain part joined whitened data by its mean 0 / std 1 as if unit pixels."""
    from mmdistill.errors import ConfigError
    from mmdistill.merge import merge_parts
    from mmdistill.modalities.image import MODALITY
    from mmdistill.seeding import generator

    cfg, white = _digits(True)
    pcfg, plain = _digits(False)
    target = MODALITY.init_synthetic(white, cfg, generator(1, "init"))
    part = MODALITY.init_synthetic(white, cfg, generator(0, "init"))
    inputs, labels, _ = merge_parts([(tmp_path / "p", part, {})], target)
    assert torch.equal(inputs["x"], part.x) and torch.equal(labels, part.labels)  # the same space: nothing converted
    other = MODALITY.init_synthetic(plain, pcfg, generator(0, "init"))
    with pytest.raises(ConfigError, match="its inputs are in the space of no transform, the data's in {'zca'"):
        merge_parts([(tmp_path / "p", other, {})], target)
    stepped = MODALITY.init_synthetic(white, cfg, generator(2, "init"))
    stepped.data["syn_lr"], stepped.meta["step_sizes"] = torch.tensor(0.01), ["syn_lr"]
    with pytest.raises(ConfigError, match=r"q: it learned the step size\(s\) none, .*p \['syn_lr'\]; merge parts distilled with "
                                          "the same method"):
        merge_parts([(tmp_path / "p", stepped, {}), (tmp_path / "q", part, {})], target)
    part.fixed = {**part.fixed, "zca_mean": part.fixed["zca_mean"] + 0.1}
    with pytest.raises(ConfigError, match="its zca_mean .* is not the data's"):
        merge_parts([(tmp_path / "p", part, {})], target)


def test_the_merge_command_writes_a_whitened_set_with_its_fit(tmp_path):
    import mmdistill
    from mmdistill.merge import merge

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    # two sets of every class (2 per class merged), each with the step size MTT learned with it (walk 53I: every image-mtt
    # and image-tesla set holds one, the only recipes with zca, and merge refused them all: 'stored as syn_lr, x')
    parts = [_saved(tmp_path / n, True, lr)[2] for n, lr in (("a", 0.01), ("b", 0.03))]
    said: list[str] = []
    out = merge(parts, tmp_path / "merged", dataset="digits", evaluate=False, say=said.append)
    merged = mmdistill.load(out)
    assert sorted(merged.synthetic.fixed) == ["zca_basis", "zca_mean", "zca_variances"]
    assert (out / "preview.png").is_file()
    assert merged.step_size == pytest.approx(0.02) and merged.synthetic.meta["step_sizes"] == ["syn_lr"]
    assert [p["step_sizes"] for p in merged.manifest["merged_from"]] == [{"syn_lr": pytest.approx(0.01)}, {"syn_lr": pytest.approx(0.03)}]
    assert "learned step size is the mean of its parts': syn_lr 0.02 (parts 0.01, 0.03)" in said[0]


def test_a_sets_fit_is_checked_and_its_matrices_computed_once_for_its_pictures():
    """Review 53R2: every preview, export column and memorisation picture rebuilt the set's fit (a finiteness check of
    the D x D basis) and its inverse (a D x D product in float64); the same set's tensors give the same fit back, and
    other tensors a new one."""
    from mmdistill.modalities.image.zca import fit_zca, meta_of, set_whitening
    from mmdistill.synthetic import SyntheticSet

    fit = fit_zca(torch.rand(20, 1, 3, 3, generator=torch.Generator().manual_seed(0)))
    syn = SyntheticSet(data={"x": torch.zeros(2, 1, 3, 3)}, labels=torch.tensor([0, 1]), num_classes=2,
                       meta={"zca": meta_of(fit, 20)}, fixed=fit.tensors())
    first = set_whitening(syn)
    assert first is not None and set_whitening(syn) is first
    inverse = first.inverse
    assert set_whitening(syn).inverse is inverse  # cached_property of the one object
    other = SyntheticSet(data={"x": torch.zeros(2, 1, 3, 3)}, labels=torch.tensor([0, 1]), num_classes=2,
                         meta={"zca": meta_of(fit, 20)}, fixed={k: v.clone() for k, v in fit.tensors().items()})
    assert set_whitening(other) is not first and torch.equal(set_whitening(other).basis, first.basis)


def test_the_readmes_way_back_from_a_whitened_set_is_its_pixels(tmp_path):
    """README (*Using a set with your own real data*): ``set_whitening(ds.synthetic).unwhiten(ds.x) * std + mean`` takes a
    ``zca=true`` set back to [0, 1] pixels, and ``ds.inputs_like`` of them is ``ds.x`` again (``* std + mean`` alone
    is not: the set is whitened after the normalisation)."""
    from mmdistill.modalities.image.zca import set_whitening

    white, _, _ = _saved(tmp_path, True)
    n = white.normalization["x"]
    back = set_whitening(white.synthetic).unwhiten(white.x) * n["std"] + n["mean"]
    assert -1e-4 <= float(back.min()) and float(back.max()) <= 1 + 1e-4  # initialised from real [0, 1] pixels
    torch.testing.assert_close(white.inputs_like(back), white.x, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(white.x * n["std"] + n["mean"], back, atol=1e-2)


def test_the_fit_is_saved_with_the_set_but_not_copied_as_its_live_state(tmp_path):
    """Review 53K1: ``fixed.*`` (the ZCA fit, ~38 MB for CIFAR) was in ``tensors()``, the live-state copy: each Ctrl-C
    snapshot, checkpoint, best set and TESLA ``detached()`` copied it. It is written only with the set's file."""
    from mmdistill.io import load_synthetic, load_tensors, save_synthetic
    from mmdistill.loop import save_checkpoint
    from mmdistill.modalities.image.zca import fit_zca, meta_of
    from mmdistill.synthetic import SyntheticSet

    fit = fit_zca(torch.rand(20, 1, 3, 3, generator=torch.Generator().manual_seed(0)))
    syn = SyntheticSet(data={"x": torch.rand(2, 1, 3, 3)}, labels=torch.tensor([0, 1]), num_classes=2,
                       meta={"zca": meta_of(fit, 20)}, fixed=fit.tensors())
    assert sorted(syn.tensors()) == ["data.x", "labels"]
    assert all(syn.detached().fixed[k] is v for k, v in syn.fixed.items())  # shared, not cloned
    ckpt = tmp_path / "ckpt.safetensors"
    save_checkpoint(ckpt, syn, torch.optim.SGD([syn.data["x"]], lr=0.1), 1, 0.0, {})
    assert not [k for k in load_tensors(ckpt) if "fixed." in k]
    save_synthetic(tmp_path / "set", syn, {})
    back, manifest = load_synthetic(tmp_path / "set")
    assert sorted(k for k in manifest["synthetic"]["tensors"] if k.startswith("fixed.")) == sorted(syn.fixed_tensors())
    assert all(torch.equal(back.fixed[k], v) for k, v in syn.fixed.items())


def test_images_like_given_a_whitened_sets_meta_alone_says_the_fit_is_in_its_tensors(tmp_path):
    """Walks 53J and 53L met: images_like whitens for a ZCA set (53J) and takes a set's meta mapping (53L); the meta
    alone does not hold the fit, so it is refused naming what to pass (not an AttributeError), and an un-whitened
    set's meta still works."""
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.image import images_like

    white, _, _ = _saved(tmp_path, True)
    pixels = torch.zeros(2, *white.x.shape[1:])
    with pytest.raises(ConfigError, match=r"^images_like: the set was distilled on ZCA-whitened images .* pass the set"):
        images_like(white.synthetic.meta, pixels)
    plain, _, _ = _saved(tmp_path, False)
    assert images_like(plain.synthetic.meta, pixels).shape == pixels.shape


def test_a_fit_too_large_for_the_host_is_refused_before_it_is_made(monkeypatch):
    """Walk 53I: zca=true on 3x128x128 images (D = 49,152) went straight to a 19 GB float64 covariance and its eigh (an
    out-of-memory kill after the data was read); the fit's D x D memory is estimated and refused first, naming zca."""
    import mmdistill.memory
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.image import MODALITY, zca
    from mmdistill.recipes.image_mtt import RECIPE

    asked: list[int] = []
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: asked.append(need) or (2 * 1024**3 if need > 1024**3 else 0))
    with pytest.raises(ConfigError, match=r"zca=true: the ZCA whitening of images of 3x128x128 \(D = 49,152 values\).*"
                                          r"more than the 2.0 GiB available.*--image-size N.*zca=false.*memory_check=false"):
        zca.check_fit_memory((3, 128, 128))
    assert asked == [zca.FIT_BYTES_PER_ENTRY * 49152**2]
    monkeypatch.setattr(zca, "fit_zca", lambda *a, **k: pytest.fail("fitted before the memory check"))
    cfg = RECIPE.config(dataset="digits", ipc=1, budget="cpu", zca=True)  # 1x8x8: D = 64
    fit_need = zca.FIT_BYTES_PER_ENTRY * 64**2  # the images fit, their whitening does not
    monkeypatch.setattr(mmdistill.memory, "host_shortfall", lambda need: 1000 if need == fit_need else 0)
    with pytest.raises(ConfigError, match=r"images of 1x8x8 \(D = 64 values\)"):
        MODALITY.load(cfg)


def test_eval_on_data_whitened_otherwise_takes_it_into_the_sets_space(tmp_path, caplog):
    """Walk 53I: ``mmdistill eval`` of a whitened set on its folder after images were added whitened the test images
    with the new data's fit, not the one the set was distilled in (its fixed.zca_*), and said only that the data
    differ; the real samples are taken into the set's own space (as inputs_like prepares images), with a warning."""
    import dataclasses
    import logging

    from mmdistill.data import LabeledTensors
    from mmdistill.modalities.image import MODALITY
    from mmdistill.modalities.image.zca import fit_zca
    from mmdistill.seeding import generator
    from mmdistill.share import check_fits_data

    cfg, white = _digits(True)
    syn = MODALITY.init_synthetic(white, cfg, generator(0, "init"))
    pixels = {s: white.zca.unwhiten(getattr(white, s).x) for s in ("train", "test")}
    other = fit_zca(pixels["train"][:-100])  # the folder's training images changed since the set was distilled
    moved = dataclasses.replace(white, zca=other, **{s: LabeledTensors(other.whiten(pixels[s]), getattr(white, s).y,
                                                                       list(white.train.classes)) for s in ("train", "test")})
    assert not torch.allclose(moved.test.x, white.test.x, atol=1e-2)
    with caplog.at_level(logging.WARNING):
        check_fits_data(syn, MODALITY, moved, tmp_path / "run")
    assert "run was distilled in a ZCA whitening fitted on other training images than digits holds now" in caplog.text
    assert torch.allclose(moved.test.x, white.test.x, atol=1e-3) and torch.allclose(moved.train.x, white.train.x, atol=1e-3)
    assert moved.zca is not other
    caplog.clear()
    same = dataclasses.replace(white, train=LabeledTensors(white.train.x.clone(), white.train.y, list(white.train.classes)))
    check_fits_data(syn, MODALITY, same, tmp_path / "run")  # the set's own space: nothing moved, nothing said
    assert "ZCA" not in caplog.text and torch.equal(same.train.x, white.train.x)


def test_zca_given_where_the_rates_are_published_for_unwhitened_images_is_warned():
    """Walks 53I and 53J: zca=true on digits (or any dataset MTT did not whiten) keeps lr_data 1,000 of a row published
    for un-whitened pixels; the set's values blew up in 2 iterations with no word. The run warns, naming the row and
    lr_data; a whitened row (CIFAR-10 IPC 1) and zca=false say nothing."""
    from mmdistill.recipes import image_mtt, image_tesla
    from mmdistill.recipes._trajectory import unwhitened_rates_note

    note = unwhitened_rates_note(image_mtt.RECIPE.config(dataset="digits", ipc=1, zca=True))
    assert note is not None and note.startswith("zca=true, but lr_data=1000 and the other matching rates come from "
                                                "tables/mtt.yaml: dataset *, ipc 1, a setting published for images that")
    assert unwhitened_rates_note(image_mtt.RECIPE.config(dataset="cifar10", ipc=1)) is None
    assert unwhitened_rates_note(image_mtt.RECIPE.config(dataset="digits", ipc=1)) is None
    assert image_mtt.RECIPE.make_matcher.__name__ == image_tesla.RECIPE.make_matcher.__name__ == "make_mtt_matcher"
