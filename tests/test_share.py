"""Distilled sets as shareable datasets (issue 21): ``mmdistill.load``, the Hugging Face export round trip per
modality, the dataset card, the memorisation check, and the CLI (show, check, export --to hf)."""

from __future__ import annotations

import builtins
import re
import sys
from pathlib import Path

import pytest
import torch

import mmdistill
from mmdistill.cli import main
from mmdistill.errors import ConfigError
from mmdistill.io import load_synthetic
from mmdistill.memorisation import MemorisationViews, check, nearest
from mmdistill.modality import REGISTERED_MODALITIES, get_modality
from mmdistill.report import add_sharing_blocks, new_manifest, write_artifact
from mmdistill.seeding import generator
from mmdistill.share import export_hf, read_hf
from mmdistill.sharing import ShareableModality

pytest.importorskip("torchvision")

from test_contracts import CASES  # noqa: E402  (the contract tests' tiny configs, one per modality)

_SETS: dict[str, Path] = {}


def make_set(name: str, root: Path, *, soft: bool = False, step_size: bool = False) -> Path:
    """A saved set of modality ``name`` (initialised, not distilled) with its memorisation and storage blocks."""
    if name == "image_text":
        pytest.importorskip("open_clip")
    key = f"{name}-{soft}-{step_size}"
    if key in _SETS:
        return _SETS[key]
    root.mkdir(parents=True, exist_ok=True)
    cfg = CASES[name].config(root)
    modality = get_modality(name)
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    if soft:
        syn.soft_labels = torch.randn(len(syn), syn.num_classes, generator=generator(0, "soft"))
        syn.label_mode = "soft"
    if step_size:
        syn.data["syn_lr"] = torch.tensor([0.0123])
        syn.meta["step_sizes"] = ["syn_lr"]
    out = root / f"set-{key}"
    recipe = {"image": "image-dm", "audio": "audio-dm", "graph": "graph-gcond", "image_text": "image-text-bitrajectory",
              "video": "video-dm", "sequences": "sequences-td3",
              "audio_visual": "audio-visual-avdd"}[name]
    manifest = new_manifest(recipe=recipe, method="test", modality=modality, dataset=getattr(data, "name", cfg.dataset),
                            cfg=cfg, syn=syn, extra={"paper": "a test paper"})
    add_sharing_blocks(manifest, modality, cfg, syn, data, out)
    write_artifact(out, syn.detached(), manifest, modality)
    _SETS[key] = out
    return out


@pytest.fixture(scope="module")
def share_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("share")


def test_a_preview_that_cannot_be_drawn_leaves_the_set_written(tmp_path, monkeypatch, caplog):
    """Walk 39B D1: 2-channel clips made matplotlib refuse the preview after the whole run; the set and manifest,
    written after the pictures, were lost. A picture's failure is a warning; the set is written without it."""
    modality = get_modality("image")
    cfg = CASES["image"].config(tmp_path)
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))

    def broken(*args, **kwargs):
        raise TypeError("Invalid shape (8, 8, 2) for image data")

    monkeypatch.setattr(type(modality), "write_preview", broken)
    manifest = new_manifest(recipe="image-dm", method="test", modality=modality, dataset=data.name, cfg=cfg, syn=syn)
    (tmp_path / "out").mkdir()
    with caplog.at_level("WARNING"):
        write_artifact(tmp_path / "out", syn.detached(), manifest, modality)
    assert "preview.png was not drawn (TypeError: Invalid shape (8, 8, 2) for image data); the set is written without it" in caplog.text
    loaded, saved = load_synthetic(tmp_path / "out")
    assert torch.equal(loaded.x, syn.x) and "preview.png" not in saved["written_files"]


@pytest.mark.parametrize("name", REGISTERED_MODALITIES)
def test_load_gives_decoded_inputs_labels_and_a_dataset(name, share_root):
    out = make_set(name, share_root / name)
    ds = mmdistill.load(out)
    syn, manifest = load_synthetic(out)
    modality = get_modality(name)
    assert isinstance(modality, ShareableModality)
    for key, tensor in modality.inputs(syn).items():
        assert torch.equal(ds.inputs[key], tensor)
    assert torch.equal(ds.labels, modality.labels_of(syn)) and ds.soft_labels is None and ds.step_size is None
    view = ds.dataset()
    assert isinstance(view, torch.utils.data.Dataset) and len(view) >= 1
    item = view[0]
    assert item is not None
    assert ds.manifest["modality"] == name and ds.seconds < 5.0
    mem = ds.manifest["memorisation"]
    assert "skipped" not in mem and mem["input"]["synthetic"]["median"] >= 0 and mem["feature_space"]
    if name == "sequences":  # TD3's summary starts from noise (near-uniform item distributions), not from real users
        assert mem["input"]["synthetic"]["min"] > 0 and "item profiles" in mem["input_space"]
    elif name == "audio_visual":  # multi-formation: a decoded pair is a real pair shrunk into a tile and upsampled back
        assert 0 < mem["input"]["synthetic"]["min"] <= mem["input"]["synthetic"]["max"]
    else:
        assert mem["input"]["synthetic"]["max"] < 1e-4  # an initialised (undistilled) set is real samples
    assert ds.manifest["storage"]["synthetic_bytes"] > 0
    card = (out / "README.md").read_text()
    assert "Memorisation check" in card
    assert f"made by mmdistill {mmdistill.__version__} with the recipe" in card and "https://github.com/)" not in card  # no placeholder link


def test_load_reads_soft_labels_and_the_learned_step_size(share_root):
    out = make_set("image", share_root / "image-soft", soft=True, step_size=True)
    ds = mmdistill.load(out)
    assert ds.soft_labels is not None and ds.soft_labels.shape == (len(ds), ds.num_classes)
    assert ds.step_size == pytest.approx(0.0123)
    x, y, soft = ds.dataset()[0]
    assert x.shape == ds.x.shape[1:] and y.dim() == 0 and soft.shape == (ds.num_classes,)
    assert torch.allclose(ds.soft_targets.sum(1), torch.ones(len(ds)))


@pytest.mark.parametrize("name", REGISTERED_MODALITIES)
def test_hf_export_round_trips_to_the_same_tensors(name, share_root, tmp_path):
    datasets = pytest.importorskip("datasets")
    soft = name == "image"
    out = make_set(name, share_root / f"{name}-hf", soft=soft)
    loaded = mmdistill.load(out)
    target = export_hf(out, tmp_path / "hf")
    back = read_hf(target)  # through datasets.load_from_disk
    for key, tensor in loaded.inputs.items():
        assert torch.equal(back[f"inputs.{key}"], tensor), key
    assert torch.equal(back["labels"], loaded.labels)
    if soft:
        assert torch.equal(back["soft_labels"], loaded.soft_labels)
    again = mmdistill.load(target)  # the export is itself a set
    for key, tensor in loaded.inputs.items():
        assert torch.equal(again.inputs[key], tensor)
    ds = datasets.load_from_disk(str(target))
    assert len(ds) == (1 if name == "graph" else len(loaded))
    natural = {"image": "image", "audio": "audio", "graph": "edge_index", "image_text": "caption", "video": "video",
               "sequences": "items", "audio_visual": "image"}[name]
    assert natural in ds.column_names
    assert (target / "data" / "train.parquet").is_file()
    card = (target / "README.md").read_text()
    assert card.startswith("---\nlicense:") and "data/train.parquet" in card and "How to load" in card
    if name == "audio":  # the Audio column holds playable WAV bytes (decoding them through datasets needs torchcodec)
        import io

        import soundfile as sf

        raw = ds.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]["bytes"]
        wave, rate = sf.read(io.BytesIO(raw))
        assert rate == loaded.synthetic.meta["features"]["sample_rate"] and len(wave) > 0
    if name == "image":
        img = ds[0]["image"]
        assert img.size == (loaded.x.shape[-1], loaded.x.shape[-2])
        assert main(["eval", str(target), "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0  # eval reads the export


def test_hf_export_without_datasets_names_the_extra(share_root, tmp_path, monkeypatch, capsys):
    out = make_set("image", share_root / "image")
    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets" or name.startswith("datasets."):
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "datasets", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ConfigError, match=r'pip install "mmdistill\[hf\]"'):
        export_hf(out, tmp_path / "hf")
    assert main(["export", str(out), "--to", "hf", str(tmp_path / "hf2")]) != 0
    assert 'pip install "mmdistill[hf]"' in capsys.readouterr().err
    assert not (tmp_path / "hf2").exists()


def test_readme_example_trains_a_model_on_a_loaded_set(share_root):
    """The README's ten lines: a plain PyTorch loop on a loaded digits set reaches well above chance."""
    from sklearn.datasets import load_digits

    from mmdistill.recipes import image_dm

    cfg = image_dm.RECIPE.config(dataset="digits", ipc=10, iterations=0, evaluate=False, progress=False, out=str(share_root / "digits10"))
    image_dm.RECIPE.run(cfg)
    torch.manual_seed(0)
    # --- README example ---
    ds = mmdistill.load(share_root / "digits10")
    loader = torch.utils.data.DataLoader(ds.dataset(), batch_size=32, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, ds.num_classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(100):
        for x, y, *_ in loader:  # the README line, for soft-label sets too
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    # --- end ---
    digits = load_digits()
    mean, std = ds.synthetic.meta["mean"][0], ds.synthetic.meta["std"][0]
    real = (torch.tensor(digits.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0 - mean) / std
    acc = (model(real).argmax(1) == torch.tensor(digits.target)).float().mean().item()
    assert acc > 0.7


def test_memorisation_flags_copies_and_not_distant_samples():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 20, generator=g)
    copies = real[:10] + 1e-4 * torch.randn(10, 20, generator=g)
    far = 3.0 * torch.randn(10, 20, generator=g)
    near = check(MemorisationViews(syn_input=copies, real_input=real))
    assert near["input"]["frac_below_real_min"] == 1.0 and near["input"]["ratio_median"] < 0.01
    assert near["closest"][0]["real_pool_index"] < 10
    distant = check(MemorisationViews(syn_input=far, real_input=real))
    assert distant["input"]["frac_below_real_min"] == 0.0 and distant["input"]["ratio_median"] > 1.0


def test_nearest_is_chunked_brute_force():
    g = torch.Generator().manual_seed(1)
    q, r = torch.randn(37, 5, generator=g), torch.randn(50, 5, generator=g)
    d, i = nearest(q, r, chunk=8)
    full = torch.cdist(q, r)
    assert torch.allclose(d, full.min(1).values) and torch.equal(i, full.argmin(1))
    self_d, self_i = nearest(r[:10], r, exclude=torch.arange(10), chunk=3)
    assert (self_i != torch.arange(10)).all() and (self_d > 0).all()


def test_cli_show_check_and_natural_export_write_the_card(share_root, tmp_path, capsys):
    out = make_set("image", share_root / "image")
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "card:" in shown and "memorisation" in shown and "source licence" in shown
    assert main(["check", str(out)]) == 0
    assert "input space" in capsys.readouterr().out and (out / "memorisation.png").is_file()
    assert main(["export", str(out), "--to", str(tmp_path / "pngs")]) == 0
    assert (tmp_path / "pngs" / "README.md").is_file()


def _copy_set(share_root, tmp_path) -> Path:
    import shutil

    out = tmp_path / "set"
    shutil.copytree(make_set("image", share_root / "image"), out)
    return out


def _edit_manifest(out: Path, **changes) -> None:
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("changes, said", [
    ({"modality": None}, "field 'modality' is None; expected the name of an adapter"),
    ({"modality": "../image"}, "field 'modality' is '../image'"),
    ({"modality": "nosuch"}, "modality 'nosuch' is not an adapter of this mmdistill"),
])
def test_load_names_a_manifest_without_a_known_adapter(share_root, tmp_path, changes, said):
    from mmdistill.errors import ArtifactError

    out = _copy_set(share_root, tmp_path)
    _edit_manifest(out, **changes)
    with pytest.raises(ArtifactError, match=said) as err:
        mmdistill.load(out)
    assert str(out / "manifest.json") in str(err.value)
    assert main(["export", str(out), "--to", "hf", str(tmp_path / "hf")]) == 4 and not (tmp_path / "hf").exists()


def test_load_names_tensors_the_adapter_cannot_use(share_root, tmp_path):
    """Tensors consistent with their (edited) manifest but not with each other: one label per sample, a raw ``x``."""
    import json

    from safetensors.torch import load_file, save_file

    from mmdistill.errors import ArtifactError

    out = _copy_set(share_root, tmp_path)
    tensors = load_file(str(out / "synthetic.safetensors"))
    tensors["labels"] = tensors["labels"][:3].clone()
    save_file(tensors, str(out / "synthetic.safetensors"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["synthetic"]["tensors"]["labels"] = [3]
    manifest.pop("synthetic_sha256")  # a manifest that agrees with its tensors: one of a set written before the digest
    manifest["versions"]["mmdistill"] = "0.1.0"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors: the set decodes to \d+ samples but has 3 labels"):
        mmdistill.load(out)
    tensors["data.y"] = tensors.pop("data.x")
    tensors["labels"] = load_file(str(make_set("image", share_root / "image") / "synthetic.safetensors"))["labels"]
    save_file(tensors, str(out / "synthetic.safetensors"))
    manifest["synthetic"]["tensors"] = {k: list(v.shape) for k, v in tensors.items()}
    manifest["synthetic"].pop("dtypes")
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="synthetic.safetensors: the synthetic set has no 'data.x' tensor"):
        mmdistill.load(out)


def test_load_of_a_file_says_to_pass_the_folder(share_root):
    from mmdistill.errors import ArtifactError

    out = make_set("image", share_root / "image")
    with pytest.raises(ArtifactError, match="manifest.json is a file; pass the folder"):
        mmdistill.load(out / "manifest.json")


def test_show_of_an_interrupted_run_says_to_resume_it(tmp_path, capsys):
    """`show` on a run stopped before it finished said only "holds no distilled set"."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.safetensors").write_bytes(b"")
    assert main(["show", str(tmp_path / "run")]) == 4
    assert "holds the checkpoint.safetensors of an unfinished run, no distilled set yet" in capsys.readouterr().err


def test_hf_export_never_touches_a_folder_beside_its_target(share_root, tmp_path):
    """The export is built in a temporary folder of its own: a user's ``.OUT.tmp`` (the name an earlier version built
    in, and removed) is left as it was, and no temporary folder is left behind."""
    pytest.importorskip("datasets")
    out = make_set("image", share_root / "image")
    mine = tmp_path / ".hf.tmp"
    mine.mkdir()
    (mine / "precious.txt").write_text("mine")
    export_hf(out, tmp_path / "hf")
    assert (mine / "precious.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hf.tmp", "hf"]


def test_read_hf_names_damaged_dataset_files(share_root, tmp_path, caplog):
    pytest.importorskip("datasets")
    from mmdistill.errors import ArtifactError

    target = export_hf(make_set("image", share_root / "image"), tmp_path / "hf")
    (target / "state.json").unlink()  # a partial copy: the set in mmdistill/ is intact and loads, the gap is named
    import logging

    with caplog.at_level(logging.WARNING):
        assert len(mmdistill.load(target)) > 0
    assert "1 data file(s) the export wrote are not here (state.json)" in caplog.text
    (target / "mmdistill" / "export_files.json").unlink()  # an export of an earlier version: no record
    with pytest.raises(ArtifactError, match="the Hugging Face dataset does not load"):
        read_hf(target)
    assert len(mmdistill.load(target)) > 0  # the set itself, in mmdistill/, is intact


def test_hf_data_edited_after_the_export_is_named(share_root, tmp_path, capsys, caplog):
    """The labels of the arrow data shifted by one class: eval, show and load read the untouched mmdistill/ copy and
    never said so. An export without the record (an earlier version's) loads, with one warning."""
    datasets = pytest.importorskip("datasets")
    import shutil

    from mmdistill.errors import ArtifactError

    target = export_hf(make_set("image", share_root / "image"), tmp_path / "hf")
    assert mmdistill.load(target).labels.tolist() == read_hf(target)["labels"].tolist()
    shifted = datasets.load_from_disk(str(target)).map(lambda r: {"label": (r["label"] + 1) % 3})
    assert list((tmp_path / "hf").glob("cache-*.arrow"))  # datasets' own cache files beside the data are not checked
    shifted.save_to_disk(str(tmp_path / "edited"))
    for name in ("mmdistill", "data", "README.md"):
        (shutil.copytree if name != "README.md" else shutil.copy2)(target / name, tmp_path / "edited" / name)
    with pytest.raises(ArtifactError, match=r"edited/data-00000-of-00001.arrow has other contents \(sha256\) than when it was "
                                            r"exported: the Hugging Face data no longer is the set in .*edited/mmdistill"):
        mmdistill.load(tmp_path / "edited")
    for command in (["show"], ["eval", "--runs", "1", "--epochs", "1", "--no-baselines"], ["check", "--no-write"]):
        assert main([command[0], str(tmp_path / "edited"), *command[1:]]) == 4
        assert "data-00000-of-00001.arrow has other contents" in capsys.readouterr().err
    tensors = target / "mmdistill" / "synthetic.safetensors"  # the set's own tensors: what load reads
    raw = bytearray(tensors.read_bytes())
    raw[-1] ^= 1
    tensors.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"mmdistill/synthetic.safetensors has other contents \(sha256\)"):
        mmdistill.load(target)
    (tmp_path / "edited" / "mmdistill" / "export_files.json").unlink()
    caplog.clear()
    with caplog.at_level("WARNING", logger="mmdistill"):  # the API logs to the caller's logging (the commands above give it back)
        mmdistill.load(tmp_path / "edited")
        mmdistill.load(tmp_path / "edited")
    assert caplog.text.count("recorded no digests of its data files") == 1


def test_summary_of_a_damaged_manifest_names_it(share_root, tmp_path):
    from mmdistill.errors import ArtifactError

    out = _copy_set(share_root, tmp_path)
    _edit_manifest(out, storage={"synthetic_bytes": "x", "samples": 10, "real_bytes": 2560, "ratio": 1.0})
    with pytest.raises(ArtifactError, match=f"{out / 'manifest.json'}: a field has an unexpected form"):
        mmdistill.load(out).summary()  # a bare TypeError


def test_a_manifest_that_is_no_file_is_named_not_an_unfinished_run(share_root, tmp_path, capsys):
    out = _copy_set(share_root, tmp_path)
    (out / "manifest.json").unlink()
    (out / "manifest.json").mkdir()
    assert main(["show", str(out)]) == 4
    assert f"{out / 'manifest.json'} is not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("ratio, said", [
    (1.20, "no closer to real samples than real samples are to each other"),
    (2846.5, "far from every real sample, no copy of one; a set this far from the data may have diverged"),  # was "no closer"
    (0.80, "somewhat closer to real samples than real samples are to each other"),  # was "no closer"
    (0.97, "about as close to real samples as real samples are to each other"),
    (0.30, "the set stays close to real samples"),
])
def test_memorisation_verdict_follows_its_ratio(ratio, said):
    from mmdistill.memorisation import verdict

    assert said in verdict({"ratio_median": ratio, "frac_below_real_min": 0.0})


def test_eval_on_training_data_that_changed_since_the_distillation_warns(tmp_path, caplog):
    """Walk 35C #3: clips added to a class folder redraw its held-out split, and `eval` scored the set on samples it
    was distilled from without a word. The set records the identity of its training data; eval and check warn."""
    import logging

    import numpy as np
    from PIL import Image

    from mmdistill.data_identity import DATA_KEY
    from mmdistill.recipes import image_dm
    from mmdistill.share import check_fits_data, load, saved_modality, saved_run_data

    data = tmp_path / "data"
    for name, shade in {"a": 20, "b": 90, "c": 160}.items():
        (data / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), shade + 10 * i, dtype=np.uint8), mode="L").save(data / name / f"{i}.png")
    res = image_dm.run(dataset="imagefolder", data_root=str(data), ipc=1, iterations=1, batch_real=4, evaluate=False,
                       progress=False, memory_check=False, out=str(tmp_path / "run"))
    loaded = load(tmp_path / "run")
    assert loaded.synthetic.meta[DATA_KEY]["train_samples"] == 9
    modality = saved_modality(res.manifest, tmp_path / "run")
    cfg = image_dm.RECIPE.config(**res.manifest["config"])
    with caplog.at_level(logging.WARNING):
        check_fits_data(loaded.synthetic, modality, saved_run_data(modality, cfg, root_given=False), tmp_path / "run")
    assert "other real training data" not in caplog.text
    Image.fromarray(np.full((8, 8), 250, dtype=np.uint8), mode="L").save(data / "c" / "9.png")
    with caplog.at_level(logging.WARNING):
        check_fits_data(loaded.synthetic, modality, saved_run_data(modality, cfg, root_given=False), tmp_path / "run")
    assert "was distilled from other real training data than" in caplog.text and "training samples 9 -> 10" in caplog.text


def test_an_export_into_a_used_folder_is_refused_whatever_the_adapters_export_does(tmp_path):
    """Walk 35A D5: a plugin's export that writes into the folder it is given (not through new_tree) re-exported into
    a used folder: the new rows beside the old card (the card is written only when none exists). The core refuses a
    target that is not empty (or a file) before the adapter's export runs."""
    from types import SimpleNamespace

    from mmdistill.errors import ConfigError
    from mmdistill.share import export_natural

    calls = []
    stub = SimpleNamespace(name="stub", export=lambda syn, target: calls.append(target) or target)
    used = tmp_path / "used"
    used.mkdir()
    (used / "README.md").write_text("# another set")
    with pytest.raises(ConfigError, match=r"export target .*used exists and is not empty; choose another --to"):
        export_natural(stub, None, used, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"exists and is not a directory"):
        export_natural(stub, None, tmp_path / "file", tmp_path)
    assert calls == [] and export_natural(stub, None, tmp_path / "new", tmp_path) == tmp_path / "new"


def test_a_trajectory_card_names_the_expert_buffer_it_matched():
    """Walk 35B D5: the card's config said 100 experts x 50 epochs (the keys asked for) for a set matched against a
    2 x 4 buffer, and no line named the buffer."""
    from mmdistill.card import render_card

    manifest = {"recipe": "image-tesla", "method": "tesla", "dataset": "digits", "config": {"num_experts": 100},
                "synthetic": {"meta": {"expert_buffer": {"folder": "buf_d", "training": {"num_experts": 2, "epochs": 4}}}}}
    assert "- matched the expert buffer `buf_d`: 2 experts of 4 epochs" in render_card(manifest)


def test_a_set_scored_before_majority_share_was_recorded_is_rescored_under_the_same_protocol():
    """Review 35: the protocol's new majority_share (what the scored data hold, not how networks train) made a set saved
    before it, rescored with the same settings, read "another protocol" on its card."""
    from mmdistill.card import render_card

    proto = {"epochs": 3, "lr": 0.01, "runs": 1}
    metrics = {"metric": "accuracy", "network": "convnet", "distilled": {"mean": 0.5, "std": 0.0, "runs": [0.5]},
               "protocol": {**proto, "majority_share": 0.1},
               "earlier": {"random_real": {"mean": 0.4, "std": 0.0, "runs": [0.4]}, "protocol": proto}}
    card = render_card({"recipe": "image-dm", "method": "dm", "dataset": "digits", "metrics": metrics})
    assert "(the same protocol)" in card


@pytest.mark.parametrize("changes, said, export", [
    ({"metrics": {"metric": "accuracy", "distilled": {"mean": "x", "std": None, "runs": "a"}}},
     "'metrics.distilled.mean' is \"x\", expected a number", True),
    ({"memorisation": {"input": [1, 2]}}, r"'memorisation.input' is \[1, 2\], expected an object", True),
    ({"timing": {"seconds": "long", "iterations": 2}}, "'timing.seconds' is \"long\", expected a number", False),  # show's only
])
def test_a_metrics_field_of_another_form_is_named(share_root, tmp_path, capsys, changes, said, export):
    """Walk 39A: show and export said "a field has an unexpected form (ValueError: Unknown format code 'f' ...)"."""
    out = _copy_set(share_root, tmp_path)
    _edit_manifest(out, **changes)
    for command in (["show", str(out)], ["export", str(out), "--to", str(tmp_path / "png")])[:2 if export else 1]:
        assert main(command) == 4
        err = capsys.readouterr().err
        assert f"{out / 'manifest.json'}: a field has an unexpected form: " in err and re.search(said, err), err


def test_show_refuses_what_load_and_export_refuse(share_root, tmp_path, capsys):
    """Walk 39A: show (the README's check for a received set) passed an unknown recipe that export and eval refuse."""
    out = _copy_set(share_root, tmp_path)
    _edit_manifest(out, recipe="nope")
    for command in (["show", str(out)], ["export", str(out), "--to", str(tmp_path / "png")]):
        assert main(command) == 4 and "manifest.json: unknown recipe 'nope'" in capsys.readouterr().err


def test_show_and_eval_of_a_run_still_going_name_its_process_not_a_resume(tmp_path, capsys):
    """walk 43A: `eval --write` (and `show`, `eval`) on the folder of a run that was still distilling said to continue
    it with --resume, which the run's lock would refuse; it now says the run is still going and by which process."""
    from mmdistill.run_lock import RunFolderLock

    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"")
    lock = RunFolderLock(run, "mmdistill run image-dm")
    lock.acquire()
    try:
        for argv in (["show", str(run)], ["eval", str(run), "--write"]):
            assert main(argv) == 4
            err = capsys.readouterr().err
            assert "its run is still going (process" in err and "(mmdistill run image-dm))" in err and "--resume" not in err, err
    finally:
        lock.release()
    assert main(["show", str(run)]) == 4  # stopped: resume it, as before
    assert "holds the checkpoint.safetensors of an unfinished run" in capsys.readouterr().err


def test_export_counts_the_samples_it_writes(tmp_path, capsys):
    """A factorised audio-visual set stores 5 pairs that decode to 20, and its export writes 20 PNG/WAV pairs: the
    command's line counts those (before: 'exported 5 pairs' beside 20 pairs on disk)."""
    saved = make_set("audio_visual", tmp_path / "av")
    decoded = len(mmdistill.load(saved))
    assert main(["export", str(saved), "--to", str(tmp_path / "pairs")]) == 0
    pngs = list((tmp_path / "pairs").glob("*/*.png"))
    assert len(pngs) == decoded and f"exported {decoded} pairs to" in capsys.readouterr().out


def test_a_video_export_card_names_its_data_file_and_how_to_rebuild_the_inputs(tmp_path):
    """The GIFs of a video export are enlarged, palette viewing copies numbered per class; its card says that
    ``clips.safetensors`` is the data and how ``(clips / 255 - mean) / std`` gives the set's inputs (to 8-bit rounding
    of the values the export did not clamp)."""
    from safetensors.torch import load_file

    saved = make_set("video", tmp_path / "video")
    out = tmp_path / "clips"
    assert main(["export", str(saved), "--to", str(out)]) == 0
    card = (out / "README.md").read_text().split("## This folder", 1)[1].split("## How to load", 1)[0]
    assert "The GIFs are for viewing" in card and "`(clips / 255 - mean) / std`" in card and "% of the set's values lay outside" in card
    ds = mmdistill.load(saved)
    n = ds.normalization["x"]
    clips = load_file(str(out / "clips.safetensors"))["clips"]
    rebuilt = (clips.float() / 255 - n["mean"]) / n["std"]
    raw = ds.x * n["std"] + n["mean"]
    inside = (raw >= 0) & (raw <= 1)
    assert float(((rebuilt - ds.x) * n["std"]).abs()[inside].max()) <= 0.5 / 255 + 1e-6


def test_an_image_text_export_card_says_its_captions_are_the_nearest_real_ones(tmp_path):
    """captions.csv holds, per pair, the real caption nearest the learned text embedding; the card says the set's text
    side is embeddings.safetensors (in the named encoder's space) and the clamped share of the PNGs' pixel values."""
    saved = make_set("image_text", tmp_path / "it")
    out = tmp_path / "pairs"
    assert main(["export", str(saved), "--to", str(out)]) == 0
    card = (out / "README.md").read_text().split("## This folder", 1)[1].split("## How to load", 1)[0]
    encoder = mmdistill.load(saved).synthetic.meta["text_encoder"]
    assert f"learned embeddings in the embedding space of `{encoder}`" in card and "the real caption whose embedding lies nearest" in card
    assert "% of the set's values lay outside [0, 1]" in card


def test_the_hf_description_says_how_soft_labels_and_a_learned_step_size_were_trained_on(tmp_path):
    """A datasets-only consumer sees a soft_label_logits column: the description says they are logits trained on with a
    soft cross-entropy and, when the evaluation used the set's learned step size, that rate; a hard set says neither."""
    import json
    import shutil

    datasets = pytest.importorskip("datasets")
    soft = tmp_path / "soft"
    shutil.copytree(make_set("image", tmp_path / "img", soft=True, step_size=True), soft)
    manifest = json.loads((soft / "manifest.json").read_text())
    manifest["metrics"] = {"protocol": {"lr": 0.01, "distilled_lr": 0.0123, "labels": "soft"}}  # as an evaluation records it
    (soft / "manifest.json").write_text(json.dumps(manifest))
    said = datasets.load_from_disk(str(export_hf(soft, tmp_path / "hf"))).info.description
    assert "`soft_label_logits` holds the set's soft labels as logits: its metrics trained on softmax(logits / 1)" in said
    assert "learned step size 0.0123 as the learning rate (not the protocol's 0.01)" in said
    assert json.loads(said.split("normalization (JSON): ", 1)[1])  # still parses: the statistics stay last
    hard = datasets.load_from_disk(str(export_hf(make_set("image", tmp_path / "img"), tmp_path / "hf-hard"))).info.description
    assert "soft_label_logits" not in hard and "learned step size" not in hard
    from mmdistill.consumer import training_line  # label learning (label_mode=learnable) records "learnable"

    assert training_line({"synthetic": {"label_mode": "learnable"}}).startswith("`soft_label_logits` holds the set's learned labels")



def test_an_image_export_of_a_set_missing_a_class_says_how_to_map_imagefolder_indices(tmp_path):
    """Walk 51A: a set with a class that holds no sample exports no folder for it, so torchvision's ImageFolder numbers
    the present folders 0..k-1; the card said 'its class indices are the labels'. It now gives the target_transform
    built from classes.json, which maps ImageFolder's indices back to the set's labels."""
    import json

    from torchvision.datasets import ImageFolder

    modality = get_modality("image")
    cfg = CASES["image"].config(tmp_path)
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    keep = syn.labels != 1
    syn.data = {k: v[keep] for k, v in syn.data.items()}
    syn.labels = syn.labels[keep]
    out = tmp_path / "set"
    manifest = new_manifest(recipe="image-dm", method="test", modality=modality, dataset=cfg.dataset, cfg=cfg, syn=syn,
                            extra={"paper": "a test paper"})
    add_sharing_blocks(manifest, modality, cfg, syn, data, out)
    write_artifact(out, syn.detached(), manifest, modality)
    assert main(["export", str(out), "--to", str(tmp_path / "png")]) == 0
    card = (tmp_path / "png" / "README.md").read_text().split("## This folder", 1)[1].split("## How to load", 1)[0]
    assert "ImageFolder's class indices are not the labels" in card and "target_transform=labels.__getitem__" in card
    assert "its class indices are the labels" not in card
    rows = json.loads((tmp_path / "png" / "classes.json").read_text(encoding="utf-8"))["classes"]
    labels = [r["label"] for r in rows if r["folder"]]  # the card's line
    read = ImageFolder(str(tmp_path / "png"), target_transform=labels.__getitem__)
    assert sorted(y for _, y in read) == sorted(syn.labels.tolist()) and 1 not in [y for _, y in read]
