"""The CPU-feasible image-text matching configuration (issue 19): a partly frozen image encoder
(``image_trainable_blocks``), its frozen prefix run once per outer iteration, the pixel gradient through it,
the ``cpu`` budget's row, and divergence messages that name existing keys."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("PIL")

from test_image_text import tiny_bert, write_pairs  # noqa: E402,F401  (fixture re-used)

from mmdistill.buffer import ParamLayout  # noqa: E402
from mmdistill.errors import ConfigError, DivergenceError  # noqa: E402
from mmdistill.matchers.trajectory import TrajectoryMatching, add_step_size, plan_steps  # noqa: E402
from mmdistill.modalities.image_text import MODALITY  # noqa: E402
from mmdistill.modalities.image_text.encoders import build_image_encoder  # noqa: E402
from mmdistill.modalities.image_text.model import DualEncoderFactory  # noqa: E402
from mmdistill.modalities.image_text.split import FrozenPrefix, SplitImageEncoder, split_image_encoder  # noqa: E402
from mmdistill.modalities.image_text.task import ContrastiveTask  # noqa: E402
from mmdistill.modalities.image_text.trajectory import PairStudent, dual_encoder_parts  # noqa: E402
from mmdistill.recipes import image_text_bitrajectory, image_text_lors  # noqa: E402
from mmdistill.synthetic import SyntheticSet  # noqa: E402


def _net(blocks: int, dtype: torch.dtype = torch.float32):
    torch.manual_seed(0)
    image = build_image_encoder("convnetw32", "none", 16)
    net = DualEncoderFactory(image, 8, trainable_blocks=blocks, dropout=0.0).make(torch.Generator().manual_seed(0))
    return net.to(dtype)


def test_split_encoder_is_the_same_function_with_a_frozen_eval_prefix():
    whole, split = _net(0), _net(2)
    assert isinstance(split.image_encoder, SplitImageEncoder) and isinstance(split.image_encoder.prefix, FrozenPrefix)
    split.train()
    assert not split.image_encoder.prefix.training and split.image_encoder.tail.training
    assert all(not p.requires_grad for p in split.image_encoder.prefix.parameters())
    assert all(n.startswith("image_encoder.tail.") for n in split.parameter_groups()["image"])
    whole.eval(), split.eval()
    x = torch.randn(3, 3, 16, 16)
    torch.testing.assert_close(split.encode_image(x), whole.encode_image(x))
    torch.testing.assert_close(split.encode_image(split.prefix_features(x), from_prefix=True), whole.encode_image(x))
    with pytest.raises(ConfigError, match="image_trainable_blocks"):
        split_image_encoder(build_image_encoder("convnetw32", "none", 16).module, 99)


def _matching(net, method: str, share: bool, pairs: int = 6, dtype: torch.dtype = torch.float64):
    layout = ParamLayout.of(net)
    w0 = torch.cat([p.detach().reshape(-1) for p in net.parameters() if p.requires_grad])
    target = w0 + 0.05 * torch.randn(w0.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    buffer = SimpleNamespace(epochs=2, num_params=layout.num_params, num_experts=1, path="(test)", rows=lambda e, i: torch.stack([w0, target]))
    gen = torch.Generator().manual_seed(2)
    syn = SyntheticSet(data={"images": torch.randn(pairs, 3, 16, 16, generator=gen, dtype=dtype),
                             "text": torch.randn(pairs, 8, generator=gen, dtype=dtype)},
                       labels=torch.zeros(pairs, dtype=torch.long), num_classes=1, meta={})
    parts = dual_encoder_parts(layout, {"image": 0.1, "text": 0.1})
    for part in parts:
        add_step_size(syn, part.initial_step, part.step_key)
    for t in syn.data.values():
        t.requires_grad_(True)
    matcher = TrajectoryMatching(student=PairStudent(net, ContrastiveTask(), MODALITY.decode, share_prefix=share), layout=layout,
                                 buffer=buffer, syn_steps=3, expert_epochs=1, max_start_epoch=1, batch_syn=4, method=method,  # type: ignore[arg-type]
                                 segments={p.name: p.params for p in parts}, step_sizes={p.name: p.step_key for p in parts})
    return matcher, syn, w0, target


def _pixel_grad(method: str, share: bool) -> torch.Tensor:
    net = _net(2, torch.float64)
    matcher, syn, w0, target = _matching(net, method, share)
    plan = plan_steps(len(syn), 3, 4, torch.Generator().manual_seed(3))
    if method == "mtt":
        matcher.unrolled_loss(syn, w0, target, plan).backward()
    else:
        matcher.tesla_backward(syn, w0, target, plan)
    return syn.data["images"].grad.clone()


def test_pixels_get_the_full_graph_gradient_through_the_frozen_prefix():
    full = _pixel_grad("mtt", share=False)  # the prefix inside every student step's graph
    shared = _pixel_grad("mtt", share=True)  # the prefix once per outer iteration
    tesla = _pixel_grad("tesla", share=False)
    assert full.abs().sum() > 0
    torch.testing.assert_close(shared, full, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(tesla, full, rtol=1e-6, atol=1e-9)


def test_shared_prefix_is_recomputed_after_an_optimizer_step():
    net = _net(2)
    student = PairStudent(net, ContrastiveTask(), MODALITY.decode, share_prefix=True)
    images = torch.randn(4, 3, 16, 16, requires_grad=True)
    first = student.prefix_features(images)
    assert student.prefix_features(images) is first
    with torch.no_grad():
        images.add_(1.0)
    assert student.prefix_features(images) is not first


def test_memory_estimate_counts_the_shared_prefix_once():
    """MTT with the frozen prefix shared by the student steps: the planner counts the prefix's graph once (an H200
    run of EfficientNet-Lite0's last 3 blocks peaked at a third of the estimate that counted it every step) and
    its graph terms come out near the bytes the iteration's graph really saves."""
    from mmdistill.memory import graph_bytes

    terms = {}
    for share in (False, True):
        matcher, syn, _, _ = _matching(_net(2, torch.float64), "mtt", share, pairs=8)
        parts = matcher.memory_estimate(syn, torch.optim.SGD(list(syn.data.values()), lr=0.1, momentum=0.5)).parts
        fresh, syn, w0, target = _matching(_net(2, torch.float64), "mtt", share, pairs=8)  # no prefix cached by the estimate
        plan = plan_steps(len(syn), 3, 4, torch.Generator().manual_seed(3))
        measured = graph_bytes(lambda: fresh.unrolled_loss(syn, w0, target, plan))
        terms[share] = (parts, measured)
    (unshared, measured_unshared), (shared, measured_shared) = terms[False], terms[True]
    assert "shared graph" not in unshared and shared["shared graph"] > 0
    assert shared["student graphs"] < unshared["student graphs"]  # the prefix left out of each step's probe
    assert measured_shared < measured_unshared
    for parts, measured in ((unshared, measured_unshared), (shared, measured_shared)):
        estimated = parts["student graphs"] + parts.get("shared graph", 0)
        assert 0.8 * measured <= estimated <= 1.5 * measured, (estimated, measured)


def _tiny(tmp_path: Path, bert: str, **kw) -> dict:
    csv_path = write_pairs(tmp_path / "data", n_images=12)
    return dict(dataset="csv", data_root=str(csv_path), text_encoder=bert, text_cache=str(tmp_path / "cache"), image_encoder="convnetw32",
                image_size=16, ipc=4, num_experts=2, expert_train_epochs=2, max_start_epoch=1, expert_epochs=1, syn_steps=2,
                iterations=2, expert_batch=8, eval_runs=1, eval_epochs=1, eval_batch=4, whole_epochs=1, herding_epochs=1,
                lr_data=1e-4, lr_text=1e-4, lr_lr=1e-5, lr_sim=1e-4, checkpoint_every=2, progress=False, image_trainable_blocks=2,
                baselines=[], eval_whole_split=False, out=str(tmp_path / "run"), **kw)


def test_partial_matching_end_to_end(tmp_path, tiny_bert):
    result = image_text_bitrajectory.run(**_tiny(tmp_path, tiny_bert))
    assert result.manifest["config"]["image_trainable_blocks"] == 2
    assert 0.0 <= result.manifest["metrics"]["distilled"]["mean"] <= 1.0


def test_a_divergence_names_keys_that_exist(tmp_path, tiny_bert):
    kw = _tiny(tmp_path, tiny_bert)
    kw.update(lr_data=1e30, lr_text=1e30, iterations=3)
    with pytest.raises(DivergenceError) as err:
        image_text_bitrajectory.run(**kw)
    named = set(re.findall(r"\b(lr_\w+|syn_steps|divergence)\b", str(err.value)))
    cfg = image_text_bitrajectory.RECIPE.config()
    assert named and all(hasattr(cfg, k) for k in named), named


def test_cpu_budget_trains_the_last_blocks_and_the_default_the_whole_encoder():
    for recipe in (image_text_bitrajectory, image_text_lors):
        assert recipe.RECIPE.config().image_trainable_blocks == 0
        cpu = recipe.RECIPE.config(budget="cpu")
        assert cpu.image_trainable_blocks > 0
