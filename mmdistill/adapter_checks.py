"""An adapter run through the written contracts (:mod:`mmdistill.modality`) on a small config.

What ``tests/test_contracts.py`` runs for every adapter of this repository, and what a package that adds a
modality (:mod:`mmdistill.plugins`) calls in its own tests, as scikit-learn's ``check_estimator`` is for estimators::

    from mmdistill.adapter_checks import check_adapter

    def test_my_adapter_meets_the_contracts(tmp_path):
        check_adapter(MODALITY, RECIPE.config(dataset="tiny", ipc=1, eval_runs=1, eval_epochs=1), tmp_path,
                      trajectory_config=MTT_RECIPE.config(dataset="tiny", ipc=1, batch_syn=4))

Each unmet expectation raises :class:`ContractError` (an ``AssertionError``, so a test runner reports a failure, not
an error) naming the adapter, the hook and what was expected; an exception a hook raises is re-raised the same way,
chained to the original. The checks return the names of the hooks they exercised, in order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from mmdistill.buffer import ParamLayout
from mmdistill.data import ClassificationData
from mmdistill.evaluation import EvaluationPlan, run_plan
from mmdistill.io import load_synthetic, save_synthetic
from mmdistill.modality import ClassificationModality, Modality, TrajectoryModality, TrajectoryPart, protocol_members
from mmdistill.seeding import generator
from mmdistill.sharing import ShareableModality
from mmdistill.synthetic import SyntheticSet

log = logging.getLogger(__name__)


class ContractError(AssertionError):
    """An adapter does not do what a contract of :mod:`mmdistill.modality` says; the message names the hook."""


class _Checks:
    """Calls an adapter's hooks, turning what they break into :class:`ContractError` naming the hook."""

    def __init__(self, modality: Any) -> None:
        self.modality = modality
        self.name = str(getattr(modality, "name", type(modality).__name__))
        self.done: list[str] = []

    def fail(self, hook: str, expected: str, got: Any = None) -> ContractError:
        detail = "" if got is None else f"; got {got}"
        return ContractError(f"adapter {self.name!r} ({type(self.modality).__name__}): {hook} must {expected}{detail}")

    def call(self, hook: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            out = fn(*args, **kw)
        except ContractError:
            raise
        except Exception as exc:
            raise self.fail(hook, "run on the check's config", f"{type(exc).__name__}: {exc}") from exc
        self.done.append(hook)
        return out

    def expect(self, ok: bool, hook: str, expected: str, got: Any = None) -> None:
        if not ok:
            raise self.fail(hook, expected, got)

    def conforms(self, protocol: type) -> None:
        if isinstance(self.modality, protocol):  # the runtime_checkable protocol's own test
            return
        present = set(dir(self.modality))  # the message names what the protocol asks for and the adapter lacks
        missing = [n for n in protocol_members(protocol) if n not in present]
        raise self.fail(protocol.__name__, f"be implemented (see mmdistill.modality.{protocol.__name__})",
                        f"no {', '.join(missing)}")


def _shape(x: Any) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def _check_classification(c: _Checks, config: Any, data: Any, device: torch.device) -> None:
    """A classification adapter's data is a :class:`ClassificationData` and its networks, built by name, map two
    training samples (2, *sample_shape) to logits (2, C) and embeddings (2, D)."""
    m = c.modality
    c.expect(isinstance(data, ClassificationData), "load", "return a ClassificationData for a ClassificationModality",
             type(data).__name__)
    c.expect(isinstance(m.cross_arch_networks, tuple) and all(isinstance(n, str) for n in m.cross_arch_networks),
             "cross_arch_networks", "be a tuple of network names", repr(m.cross_arch_networks))
    net = c.call("build_network", m.build_network, config.network, tuple(data.sample_shape), data.num_classes)
    c.expect(isinstance(net, nn.Module), "build_network", "return a torch.nn.Module", type(net).__name__)
    x = data.train.x[:2].to(device).float()
    net = net.to(device)
    with torch.no_grad():
        logits = c.call("build_network(...).forward", net, x)
        emb = c.call("build_network(...).embed", lambda v: net.embed(v), x)  # a network without embed: named, not raised
    c.expect(isinstance(logits, Tensor) and tuple(logits.shape) == (2, data.num_classes), "build_network(...).forward",
             f"map (2, *sample_shape) to logits (2, {data.num_classes})", _shape(logits))
    c.expect(isinstance(emb, Tensor) and emb.dim() == 2 and emb.shape[0] == 2, "build_network(...).embed",
             "map (2, *sample_shape) to embeddings (2, D)", _shape(emb))


def _check_sharing(c: _Checks, syn: SyntheticSet) -> dict[str, Tensor]:
    """The sharing hooks (:mod:`mmdistill.sharing`): model inputs with one label per decoded sample and a Dataset;
    returns the inputs."""
    m = c.modality
    c.conforms(ShareableModality)
    inputs = c.call("inputs", m.inputs, syn)
    c.expect(isinstance(inputs, dict) and bool(inputs) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in inputs.items()),
             "inputs", "return a non-empty dict of named tensors", type(inputs).__name__)
    first, samples = next(iter(inputs.items()))
    labels = c.call("labels_of", m.labels_of, syn)
    c.expect(isinstance(labels, Tensor) and labels.dim() == 1, "labels_of", "return a (K,) tensor", _shape(labels))
    c.expect(len(labels) == len(samples), "labels_of", "give one label per decoded sample (as many as the first inputs() "
             "tensor has rows)", f"{len(labels)} labels for {first!r} of {_shape(samples)}")
    view = c.call("dataset_view", m.dataset_view, inputs, labels, None)
    c.expect(len(view) >= 1, "dataset_view", "hold at least one sample", len(view))
    return inputs


def _check_round_trip(c: _Checks, syn: SyntheticSet, before: dict[str, Tensor], workdir: Path) -> None:
    """The set written as safetensors + JSON and read back decodes to ``before``, the model inputs of ``syn``."""
    folder = workdir / "saved"
    try:
        save_synthetic(folder, syn, {"modality": c.name})
        back, _ = load_synthetic(folder)
    except Exception as exc:
        raise c.fail("init_synthetic", "give a set that saves and loads (tensors and JSON-serialisable meta)",
                     f"{type(exc).__name__}: {exc}") from exc
    after = c.call("inputs", c.modality.inputs, back)
    same = before.keys() == after.keys() and all(torch.equal(before[k].cpu(), after[k].cpu()) for k in before)
    c.expect(same, "inputs", "decode a saved and re-loaded set to the same tensors (what decode needs belongs in the set's "
             "tensors or meta)", f"keys {sorted(before)} before, {sorted(after)} after")


def _check_evaluation(c: _Checks, config: Any, syn: SyntheticSet, data: Any, device: torch.device) -> None:
    """The evaluation plan scores the distilled set next to a random-real baseline; without a set, baselines only."""
    m = c.modality
    plan = c.call("evaluation_plan", m.evaluation_plan, config, syn, data, device)
    c.expect(isinstance(plan, EvaluationPlan), "evaluation_plan", "return a mmdistill.evaluation.EvaluationPlan", type(plan).__name__)
    sets = plan.networks[0].sets
    c.expect("distilled" in sets and "random_real" in sets, "evaluation_plan",
             "score 'distilled' next to 'random_real' on its primary network", sorted(sets))
    metrics = c.call("evaluation_plan(...) run", run_plan, plan)
    c.expect(metrics.get("metric") == (plan.label or plan.metric), "evaluation_plan", "name its metric", metrics.get("metric"))
    mean = metrics.get("distilled", {}).get("mean")
    c.expect(isinstance(mean, (int, float)) and 0.0 <= mean <= 1.0, "evaluation_plan", "score the distilled set in [0, 1]", mean)
    baselines = c.call("evaluation_plan", m.evaluation_plan, config, None, data, device)
    c.expect("distilled" not in baselines.networks[0].sets, "evaluation_plan",
             "leave 'distilled' out when called without a set (the baselines-only evaluation)", sorted(baselines.networks[0].sets))


def check_modality(modality: Any, config: Any, workdir: str | Path, *, device: str | torch.device = "cpu") -> list[str]:
    """Run ``modality`` through :class:`~mmdistill.modality.Modality` (and :class:`ClassificationModality` when it is
    one) and the sharing hooks on ``config`` — a small config of one of its recipes on data that loads in seconds.
    Loads the data, initialises, decodes, saves and re-loads a set, evaluates it next to the baselines (keep
    ``eval_runs`` and epochs at 1), writes its preview and export under ``workdir``. Returns the hooks exercised;
    raises :class:`ContractError` naming the first hook that breaks the contract."""
    workdir, device = Path(workdir), torch.device(device)
    workdir.mkdir(parents=True, exist_ok=True)
    c = _Checks(modality)
    c.conforms(Modality)
    c.expect(isinstance(modality.name, str) and modality.name.isidentifier(), "name", "be an identifier (the modality's "
             "registered name, stored in every saved set)", repr(modality.name))
    data = c.call("to_device", modality.to_device, c.call("load", modality.load, config), device)
    description = c.call("describe", modality.describe, data)
    c.expect(isinstance(description, str), "describe", "return one line of text", type(description).__name__)
    if isinstance(modality, ClassificationModality):
        _check_classification(c, config, data, device)
    c.call("check_evaluation", modality.check_evaluation, config, data)
    syn = c.call("init_synthetic", modality.init_synthetic, data, config, generator(0, "init"))
    c.expect(isinstance(syn, SyntheticSet) and bool(syn.parameters()), "init_synthetic",
             "return a SyntheticSet with learnable tensors", type(syn).__name__)
    c.expect(c.call("decode", modality.decode, syn) is not None, "decode", "return the set's model inputs", None)
    c.expect(isinstance(c.call("matching_network", modality.matching_network, config, data), nn.Module), "matching_network",
             "return a torch.nn.Module")
    c.expect(c.call("task", modality.task, config) is not None, "task", "return the loss the matchers differentiate")
    aug = c.call("augmenter", modality.augmenter, "auto", str(getattr(config, "dataset", "")))
    if isinstance(modality, ClassificationModality):  # the core's evaluation training calls it; others get it back
        c.expect(aug is None or callable(aug), "augmenter", "return aug(x, seed=, groups=, num_groups=) or None (the core's "
                 "evaluation calls it on a ClassificationModality's samples)", type(aug).__name__)
    versions = c.call("versions", modality.versions)
    c.expect(isinstance(versions, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()),
             "versions", "return a dict of library name -> version string", versions)
    frozen = syn.detached()
    _check_round_trip(c, frozen, _check_sharing(c, frozen), workdir)
    _check_evaluation(c, config, frozen, data, device)
    preview = c.call("write_preview", modality.write_preview, frozen, workdir / "preview.png", "contract check")
    c.expect(Path(preview).exists(), "write_preview", "write the file it returns", preview)
    exported = c.call("export", modality.export, frozen, workdir / "export")
    c.expect(Path(exported).exists(), "export", "write the path it returns", exported)
    log.info("adapter %r meets the modality contract (%d hooks exercised)", c.name, len(set(c.done)))
    return c.done


def check_trajectory(modality: Any, config: Any, *, device: str | torch.device = "cpu") -> list[str]:
    """Run ``modality`` through :class:`~mmdistill.modality.TrajectoryModality` on ``config`` (a small config of a
    trajectory recipe): an expert network, its parts covering every parameter once, one expert epoch with a finite
    loss, a score in [0, 1], and a student loss whose gradient reaches the synthetic set. Writes nothing. Raises
    :class:`ContractError` naming the hook."""
    device = torch.device(device)
    c = _Checks(modality)
    c.conforms(TrajectoryModality)
    data = c.call("to_device", modality.to_device, c.call("load", modality.load, config), device)
    net = c.call("fresh_network", modality.fresh_network, config, data, generator(0, "expert", 0))
    c.expect(isinstance(net, nn.Module), "fresh_network", "return a torch.nn.Module", type(net).__name__)
    layout = ParamLayout.of(net)
    parts = c.call("trajectory_parts", modality.trajectory_parts, config, layout)
    c.expect(bool(parts) and all(isinstance(p, TrajectoryPart) for p in parts), "trajectory_parts",
             "return a non-empty list of TrajectoryPart", parts)
    covered = sorted((p.params.start, p.params.stop) for p in parts)
    contiguous = covered[0][0] == 0 and covered[-1][1] == layout.num_params and all(
        a[1] == b[0] for a, b in zip(covered, covered[1:]))
    c.expect(contiguous, "trajectory_parts", f"cover the {layout.num_params} trainable parameters once, without gaps or "
             "overlaps", covered)
    opt = c.call("expert_optimizer", modality.expert_optimizer, config, net)
    c.expect(isinstance(opt, torch.optim.Optimizer), "expert_optimizer", "return a torch.optim.Optimizer", type(opt).__name__)
    loss = c.call("train_epoch", modality.train_epoch, config, net, opt, data, None, generator(0, "epoch"))
    c.expect(isinstance(loss, (int, float)) and bool(torch.isfinite(torch.tensor(float(loss)))), "train_epoch",
             "return a finite mean loss (a float)", loss)
    score = c.call("score", modality.score, config, net, data)
    c.expect(isinstance(score, (int, float)) and 0.0 <= score <= 1.0, "score", "return a float in [0, 1]", score)
    syn = c.call("init_synthetic", modality.init_synthetic, data, config, generator(0, "init")).requires_grad_(True)
    student = c.call("student", modality.student, config, net, c.call("task", modality.task, config), None)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters() if p.requires_grad}
    out = c.call("student(...).loss", student.loss, params, syn, torch.arange(min(2, len(syn))), seed=0)
    c.expect(isinstance(out, Tensor) and out.dim() == 0, "student(...).loss", "return a scalar tensor", _shape(out))
    c.call("student(...).loss backward", out.backward)
    c.expect(any(t.grad is not None for t in syn.parameters()), "student(...).loss",
             "be differentiable in the synthetic set (no gradient reached it)")
    log.info("adapter %r meets the trajectory contract", c.name)
    return c.done


def check_adapter(modality: Any, config: Any, workdir: str | Path, *, trajectory_config: Any = None,
                  device: str | torch.device = "cpu") -> list[str]:
    """:func:`check_modality` on ``config``, then :func:`check_trajectory` on ``trajectory_config`` when given (an
    adapter whose sets are distilled by trajectory matching); the hooks exercised, in order."""
    done = check_modality(modality, config, Path(workdir) / "modality", device=device)
    if trajectory_config is not None:
        done += check_trajectory(modality, trajectory_config, device=device)
    return done


__all__ = ["ContractError", "check_adapter", "check_modality", "check_trajectory", "protocol_members"]
