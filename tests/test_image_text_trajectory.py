"""Image-text trajectory recipes (bi-trajectory matching, LoRS) on tiny generated pairs: the experts of a dual
encoder through the core's buffer, two trajectories with their own learnable step sizes, TESLA equal to the
unrolled gradient with a learned similarity matrix, the CLI, and LoRA's frozen base refused without
pretrained weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("PIL")

from test_image_text import tiny_bert, write_pairs  # noqa: E402,F401  (fixture re-used)

from mmdistill.cli import main as cli_main  # noqa: E402
from mmdistill.errors import ConfigError  # noqa: E402
from mmdistill.buffer import ExpertBuffer, ParamLayout  # noqa: E402
from mmdistill.io import load_synthetic  # noqa: E402
from mmdistill.matchers.trajectory import TrajectoryMatching, plan_steps  # noqa: E402
from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.modalities.image_text.trajectory import STEP_KEYS, PairStudent, dual_encoder_parts  # noqa: E402
from mmdistill.recipes import get_recipe, image_text_bitrajectory, image_text_lors  # noqa: E402
from mmdistill.seeding import generator  # noqa: E402
from mmdistill.matchers.trajectory import add_step_size  # noqa: E402

#: a run that takes seconds: 2 experts x 2 epochs, 3 iterations of 2 student steps, small learning rates
TINY = dict(dataset="csv", image_encoder="convnetw32", image_size=16, ipc=4, num_experts=2, expert_train_epochs=2,
            max_start_epoch=1, expert_epochs=1, syn_steps=2, iterations=3, expert_batch=8, eval_runs=2, eval_epochs=2,
            eval_batch=4, whole_epochs=1, herding_epochs=1, lr_data=1e-4, lr_text=1e-4, lr_lr=1e-5, lr_sim=1e-4,
            checkpoint_every=2, progress=False)


def tiny(tmp_path: Path, bert: str, **kw) -> dict:
    csv_path = write_pairs(tmp_path / "data", n_images=12)
    return {**TINY, "data_root": str(csv_path), "text_encoder": bert, "text_cache": str(tmp_path / "cache"), **kw}


def test_recipes_keep_the_published_defaults():
    from mmdistill.modalities.image_text.trajectory import sized_expert_batch

    bt = image_text_bitrajectory.RECIPE.config()
    assert (bt.syn_steps, bt.expert_epochs, bt.max_start_epoch, bt.lr_data, bt.lr_text, bt.lr_lr) == (8, 1, 2, 1000.0, 1000.0, 1e-2)
    assert (bt.num_experts, bt.expert_train_epochs, bt.expert_lr_image, bt.expert_lr_text, bt.expert_batch) == (20, 10, 0.1, 0.1, None)
    assert sized_expert_batch(145_000, bt.syn_steps) == 128  # Flickr30K's caption pairs: the reference's batch
    assert bt.similarity == "identity" and bt.method == "mtt" and bt.batch_syn is None and bt.ipc == 100
    lors = image_text_lors.RECIPE.config()
    assert (lors.lr_data, lors.lr_sim, lors.sim_rank, lors.sim_alpha, lors.batch_syn, lors.method) == (100.0, 10.0, 10, 3.0, 20, "tesla")
    big = image_text_lors.RECIPE.config(ipc=500)
    assert (big.lr_data, big.lr_sim, big.sim_rank, big.sim_alpha, big.batch_syn, big.max_start_epoch) == (1000.0, 100.0, 20, 0.01, 40, 3)
    assert image_text_lors.RECIPE.config(ipc=100, sim_rank=4).sim_rank == 4  # an explicit key wins over the table


def test_bitrajectory_end_to_end_learns_two_step_sizes(tmp_path, tiny_bert):
    result = image_text_bitrajectory.run(**tiny(tmp_path, tiny_bert), out=str(tmp_path / "run"))
    syn, manifest = load_synthetic(tmp_path / "run")
    assert set(STEP_KEYS.values()) <= set(syn.data) and syn.meta["step_sizes"] == ["lr_image", "lr_text"]
    learned = [float(syn.data["lr_image"]), float(syn.data["lr_text"])]
    assert all(lr != 0.1 for lr in learned)  # moved by lr_lr
    assert manifest["metrics"]["protocol"]["distilled_learning_rates"] == pytest.approx(learned)
    assert 0.0 <= result.manifest["metrics"]["distilled"]["mean"] <= 1.0
    index = json.loads((tmp_path / "run" / "experts" / "index.json").read_text())
    assert index["training"]["group_lrs"] == {"image": 0.1, "text": 0.1} and index["training"]["batch_size"] == 8
    buf = ExpertBuffer(tmp_path / "run" / "experts")
    assert buf.num_experts == 2 and buf.epochs == 2 and all(s is not None for s in buf.scores()[0])
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"lr_image", "lr_text", "loss"} <= set(metrics[-1])


def test_an_eval_flag_the_recipe_has_no_key_for_is_named_as_the_flag(tmp_path, tiny_bert, capsys):
    """Before: "config key 'cross_arch' (in changes) does not apply to recipe image-text-lors"."""
    from mmdistill.cli import main as cli_main

    image_text_lors.run(**tiny(tmp_path, tiny_bert, evaluate=False, iterations=1), out=str(tmp_path / "run"))
    assert cli_main(["eval", str(tmp_path / "run"), "--cross-arch"]) == 2
    assert "--cross-arch does not apply to image-text-lors: its evaluation has no cross_arch" in capsys.readouterr().err


def test_lors_learns_the_similarity_and_resumes_to_the_same_set(tmp_path, tiny_bert):
    kw = tiny(tmp_path, tiny_bert, sim_rank=2, evaluate=False)
    full = image_text_lors.run(**kw, out=str(tmp_path / "full"), buffer=str(tmp_path / "buf"))
    assert float(full.synthetic.data["sim_right"].abs().sum()) > 0  # the low-rank factors moved off the identity
    image_text_lors.run(**kw, out=str(tmp_path / "part"), buffer=str(tmp_path / "buf"), stop_after=2)
    resumed = image_text_lors.run(**kw, out=str(tmp_path / "part"), buffer=str(tmp_path / "buf"), resume=True)
    for key, value in full.synthetic.data.items():
        assert torch.equal(resumed.synthetic.data[key], value), key


def test_a_buffer_is_checked_against_the_pairs_image_size_and_expert_keys(tmp_path, tiny_bert, caplog):
    """A buffer records what its experts trained on: another caption file of the same name (more pairs) or another
    image size is refused naming the difference; other expert-training keys are named in one warning and the
    manifest records the buffer's training next to the run's keys (before: all three were accepted without a word,
    the manifest stating only expert_lr_image=0.05 for experts trained at 0.1)."""
    import logging

    kw = tiny(tmp_path, tiny_bert, evaluate=False, iterations=1)
    buf = str(tmp_path / "buf")
    image_text_lors.run(**kw, out=str(tmp_path / "a"), buffer=buf)
    index = json.loads((tmp_path / "buf" / "index.json").read_text())
    assert index["spec"]["sample_shape"] == [3, 16, 16] and index["spec"]["data"]["train_samples"] == 20
    other = write_pairs(tmp_path / "v2", n_images=15)  # captions.csv too: the same dataset name, 12 train images
    with pytest.raises(ConfigError, match=r"training data's train samples: buffer 20, this run 24"):
        image_text_lors.run(**{**kw, "data_root": str(other)}, out=str(tmp_path / "b"), buffer=buf)
    with pytest.raises(ConfigError, match=r"sample shape: buffer \[3, 16, 16\], this run \[3, 24, 24\]"):
        image_text_lors.run(**{**kw, "image_size": 24}, out=str(tmp_path / "c"), buffer=buf)
    with caplog.at_level(logging.WARNING, logger="mmdistill.expert_runs"):
        image_text_lors.run(**{**kw, "expert_lr_image": 0.05, "expert_batch": 4}, out=str(tmp_path / "d"), buffer=buf)
    warnings = [r.getMessage() for r in caplog.records if "trained otherwise" in r.getMessage()]
    assert len(warnings) == 1, warnings
    for part in ("lr: buffer 0.1, this run's keys 0.05", "batch_size: buffer 8, this run's keys 4", "group_lrs: buffer"):
        assert part in warnings[0], warnings[0]
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    config, held = manifest["config"], manifest["synthetic"]["meta"]["expert_buffer"]
    assert (config["expert_lr_image"], config["expert_batch"]) == (0.05, 4)  # the run's own keys
    assert held["folder"] == "buf" and (held["training"]["group_lrs"]["image"], held["training"]["batch_size"]) == (0.1, 8)


def test_tesla_equals_unrolled_gradient_with_two_step_sizes_and_similarity(tmp_path, tiny_bert):
    recipe = get_recipe("image-text-lors")
    cfg = recipe.config(**tiny(tmp_path, tiny_bert, sim_rank=2, evaluate=False), out=str(tmp_path / "run"))
    recipe.run(cfg, stop_after=1)  # trains the buffer
    buffer = ExpertBuffer(tmp_path / "run" / "experts")
    data = MODALITY.load(cfg)
    net = MODALITY.matching_network(cfg, data).double()
    net.image_encoder.eval()  # no batch statistics: the comparison is about the matcher, not the encoder
    layout = ParamLayout.of(net)
    parts = dual_encoder_parts(layout, {"image": 0.05, "text": 0.08})
    grads = {}
    for method in ("mtt", "tesla"):
        syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
        syn.data = {k: v.double() for k, v in syn.data.items()}
        syn.data["sim_right"] = torch.randn(syn.data["sim_right"].shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        for p in parts:
            add_step_size(syn, p.initial_step, p.step_key)
        syn.requires_grad_(True)
        matcher = TrajectoryMatching(PairStudent(net, MODALITY.task(cfg), MODALITY.decode), layout, buffer, syn_steps=3, expert_epochs=1,
                                     max_start_epoch=1, batch_syn=2, method=method, segments={p.name: p.params for p in parts},
                                     step_sizes={p.name: p.step_key for p in parts})
        w0, target = buffer.rows(0, [0, 1]).double().unbind(0)
        plan = plan_steps(len(syn), 3, 2, torch.Generator().manual_seed(2))
        if method == "mtt":
            matcher.unrolled_loss(syn, w0, target, plan).backward()
        else:
            matcher.tesla_backward(syn, w0, target, plan)
        grads[method] = {k: v.grad.clone() for k, v in syn.data.items() if v.grad is not None}
    assert set(grads["mtt"]) == set(grads["tesla"]) >= {"images", "text", "sim_left", "sim_right", "sim_diag", "lr_image", "lr_text"}
    for key, g in grads["mtt"].items():
        rel = float((grads["tesla"][key] - g).norm() / g.norm().clamp_min(1e-30))
        assert rel <= 1e-4, (key, rel)


def test_cli_experts_then_run_with_the_shared_buffer(tmp_path, tiny_bert):
    kw = tiny(tmp_path, tiny_bert)
    args = [f"{k}={v}" for k, v in kw.items() if k not in ("progress",)]
    buf = tmp_path / "buf"
    assert cli_main(["experts", "image-text-bitrajectory", "--buffer", str(buf), "--no-progress", *args]) == 0
    assert (buf / "index.json").exists()
    out = tmp_path / "run"
    assert cli_main(["run", "image-text-bitrajectory", "--buffer", str(buf), "--out", str(out), "--no-progress", "evaluate=false", *args]) == 0
    assert (out / "preview.png").stat().st_size > 0
    # a buffer made for another image encoder is refused with the mismatch named
    other = [a for a in args if not a.startswith("image_encoder=")] + ["image_encoder=convnetw32d2"]
    code = cli_main(["run", "image-text-bitrajectory", "--buffer", str(buf), "--out", str(tmp_path / "r2"), "--no-progress", "evaluate=false", *other])
    assert code == 2


def test_lora_experts_need_a_pretrained_image_encoder(tmp_path, tiny_bert):
    cfg = get_recipe("image-text-bitrajectory").config(**tiny(tmp_path, tiny_bert, image_lora_rank=2))
    data = MODALITY.load(cfg)
    with pytest.raises(ConfigError, match="pretrained"):
        MODALITY.fresh_network(cfg, data, generator(0))
    net = MODALITY.matching_network(cfg, data)
    layout = ParamLayout.of(net)  # trainable parameters only: the LoRA factors and the text projection
    assert all("lora" in n or not n.startswith("image_encoder.") for n in layout.names)
    assert layout.num_params < sum(p.numel() for p in net.parameters())


def test_student_needs_two_pairs_per_step(tmp_path, tiny_bert):
    cfg = get_recipe("image-text-bitrajectory").config(**tiny(tmp_path, tiny_bert))
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    net = MODALITY.matching_network(cfg, data)
    student = PairStudent(net, MODALITY.task(cfg), MODALITY.decode)
    with pytest.raises(ConfigError, match="at least 2"):
        student.loss(dict(net.named_parameters()), syn, torch.tensor([0]), seed=0)


def test_expert_batch_is_sized_so_an_expert_epoch_keeps_the_students_steps(tmp_path, tiny_bert, caplog):
    """Before: expert_batch was 128 whatever the data, so a small caption file (101 pairs) gave experts one SGD step per
    epoch against the student's 8 and the set blew up (pixels |max| 22,376) without a word. Now expert_batch=None sizes
    it (the reference's 128, halved only while an epoch has fewer SGD steps than syn_steps), logs the
    numbers, records them in config_sources, and an explicit batch that leaves fewer steps than syn_steps is warned about
    (noted only, when it is a saved run's)."""
    import logging

    from mmdistill.modalities.image_text.trajectory import expert_epoch_steps, sized_expert_batch

    assert sized_expert_batch(101, 8) == 8 and expert_epoch_steps(101, 8) == 13 and expert_epoch_steps(101, 128) == 1
    assert sized_expert_batch(4000, 8) == 128 and expert_epoch_steps(4000, 128) == 32  # Flickr8k-1k: the recorded rows' 128
    kw = {k: v for k, v in tiny(tmp_path, tiny_bert, evaluate=False, iterations=1, syn_steps=4).items() if k != "expert_batch"}
    buf = str(tmp_path / "buf")
    with caplog.at_level(logging.INFO):
        image_text_bitrajectory.run(**kw, out=str(tmp_path / "a"), buffer=buf)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["expert_batch"] == 4  # 20 pairs: 16 and 8 give 2 and 3 steps, fewer than syn_steps=4
    # image-text sets are sized in pairs (they have no classes): "ipc 10" on the card and in the summary read as per class
    assert manifest["budget_label"] == f"{manifest['ipc']} pairs"
    assert f"· {manifest['ipc']} pairs\"" in (tmp_path / "a" / "README.md").read_text()  # the card's pretty_name
    source = manifest["config_sources"]["expert_batch"]
    assert "sized from the data: 20 training pairs at batch 4 make 5 SGD steps per expert epoch" in source, source
    assert "expert_batch=4: sized from the data" in caplog.text
    assert json.loads((tmp_path / "buf" / "index.json").read_text())["training"]["batch_size"] == 4
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the buffer reused: sized the same way, so checked without a difference
        image_text_bitrajectory.run(**kw, out=str(tmp_path / "b"), buffer=buf)
    assert "trained otherwise" not in caplog.text
    cfg = image_text_bitrajectory.RECIPE.config(**{**kw, "expert_batch": 16})
    with caplog.at_level(logging.WARNING):
        MODALITY.load(cfg)
    assert cfg.expert_batch == 16  # an explicit batch is kept, and named as the likely cause of a divergence
    assert "expert_batch=16 on 20 training pairs makes 2 SGD step(s) per expert epoch, fewer than the student's syn_steps=4" in caplog.text
    # the same value read back from a finished set's manifest (eval / check / export; sets of older versions recorded the
    # default 128) is a note: no distillation is starting (walk 44D: `check` of such a set warned it was likely to diverge)
    saved = json.loads((tmp_path / "a" / "manifest.json").read_text())["config"]
    caplog.clear()
    cfg = image_text_bitrajectory.RECIPE.config_from_saved({**saved, "expert_batch": 16}, {})
    with caplog.at_level(logging.INFO):
        MODALITY.load(cfg)
    note = [r for r in caplog.records if "expert_batch=16 on 20 training pairs" in r.getMessage()]
    assert [r.levelno for r in note] == [logging.INFO] and "the saved run's value" in note[0].getMessage()


def test_a_buffer_records_the_image_weights_and_the_text_space(tmp_path, tiny_bert):
    """Before: a buffer's spec recorded neither the image encoder's initial weights nor the text encoder's pooling, so a
    run with other weights or text_pooling reused it silently and `mmdistill experts` appended a differently trained
    expert. Now both are in the spec's training-data fingerprint and a difference is refused naming it."""
    from safetensors.torch import save_file

    from mmdistill.modalities.image_text.encoders import build_image_encoder

    kw = tiny(tmp_path, tiny_bert, evaluate=False, iterations=1)
    buf = tmp_path / "buf"
    image_text_bitrajectory.run(**kw, out=str(tmp_path / "a"), buffer=str(buf))
    data = json.loads((buf / "index.json").read_text())["spec"]["data"]
    bert = Path(tiny_bert[3:]).name
    assert data["image_weights"] == "none (random init)" and data["text_space"] == f"hf:{bert}, cls pooling"
    with pytest.raises(ConfigError, match=rf"text space: buffer 'hf:{bert}, cls pooling', this run 'hf:{bert}, mean pooling'"):
        image_text_bitrajectory.run(**{**kw, "text_pooling": "mean"}, out=str(tmp_path / "b"), buffer=str(buf))
    enc = build_image_encoder("convnetw32", "none", 16)
    save_file({k: v.contiguous() for k, v in enc.module.state_dict().items()}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ConfigError, match=r"image weights: buffer 'none \(random init\)', this run 'pretrained [0-9a-f]{16}'"):
        image_text_bitrajectory.run(**{**kw, "image_weights": str(tmp_path / "w.safetensors")}, out=str(tmp_path / "c"), buffer=str(buf))
    # `experts` adding to the buffer with another pooling is refused too, and adds nothing
    args = [f"{k}={v}" for k, v in kw.items() if k != "progress"]
    assert cli_main(["experts", "image-text-bitrajectory", "--buffer", str(buf), "--no-progress", *args, "num_experts=3",
                     "text_pooling=mean"]) == 2
    assert ExpertBuffer(buf).num_experts == 2


def test_a_buffer_without_the_weights_and_text_space_is_accepted_with_one_warning(tmp_path, tiny_bert, caplog):
    """A buffer written before image_weights / text_space were recorded is reused as before, with the one warning of
    an older buffer (mmdistill.buffer.UNRECORDED_OK), not refused."""
    import logging

    kw = tiny(tmp_path, tiny_bert, evaluate=False, iterations=1)
    buf = tmp_path / "buf"
    image_text_bitrajectory.run(**kw, out=str(tmp_path / "a"), buffer=str(buf))
    index = json.loads((buf / "index.json").read_text())
    for key in ("image_weights", "text_space"):
        index["spec"]["data"].pop(key)
    (buf / "index.json").write_text(json.dumps(index))
    with caplog.at_level(logging.WARNING):
        image_text_bitrajectory.run(**kw, out=str(tmp_path / "b"), buffer=str(buf))
    assert "does not record" in caplog.text
